package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The hand-off protocol, over a SOCK_SEQPACKET unix socket, whose
// messages keep their boundaries:
//
//	new → old  handoffRequest
//	old → new  an offer (JSON) carrying one descriptor per listener (SCM_RIGHTS)
//	new → old  handoffTaken, once it holds every listener it needs
//
// The serving process answers only a peer of its own user ID.
const (
	handoffRequest = "portico-handoff 1"
	handoffTaken   = "taken"
	handoffTimeout = 10 * time.Second // for each step of the exchange
	maxHandoffFDs  = 16
)

// offerMessage describes the descriptors of an offer, in order.
type offerMessage struct {
	PID       int `json:"pid"`
	Listeners []struct {
		Name string `json:"name"`
		Addr string `json:"addr"`
	} `json:"listeners"`
}

// requestHandOff asks the process serving on the hand-off socket at path
// for its listeners. It returns nil and no error when no process listens
// there (none runs, or a stale socket file is left from one that was
// killed).
func requestHandOff(ctx context.Context, path string) (*handOff, error) {
	d := net.Dialer{Timeout: handoffTimeout}
	c, err := d.DialContext(ctx, "unixpacket", path)
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	conn := c.(*net.UnixConn)
	h, err := receiveOffer(conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}

func receiveOffer(conn *net.UnixConn) (*handOff, error) {
	conn.SetDeadline(time.Now().Add(handoffTimeout))
	if _, err := conn.Write([]byte(handoffRequest)); err != nil {
		return nil, err
	}
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*maxHandoffFDs))
	n, oobn, flags, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, fmt.Errorf("control message: %w", err)
		}
		for _, m := range msgs {
			more, err := unix.ParseUnixRights(&m)
			if err != nil {
				closeFDs(fds)
				return nil, fmt.Errorf("control message: %w", err)
			}
			fds = append(fds, more...)
		}
	}
	var msg offerMessage
	switch err := json.Unmarshal(buf[:n], &msg); {
	case flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0:
		closeFDs(fds)
		return nil, errors.New("the offer was truncated")
	case err != nil:
		closeFDs(fds)
		return nil, fmt.Errorf("the offer: %w", err)
	case len(msg.Listeners) != len(fds):
		closeFDs(fds)
		return nil, fmt.Errorf("the offer names %d listeners but carries %d descriptors", len(msg.Listeners), len(fds))
	}
	h := &handOff{
		pid: msg.PID,
		confirm: func() error {
			conn.SetDeadline(time.Now().Add(handoffTimeout))
			_, err := conn.Write([]byte(handoffTaken))
			return err
		},
		close: conn.Close,
	}
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "handoff-"+msg.Listeners[i].Name)
		ln, err := net.FileListener(f) // a duplicate of fd, non-blocking
		f.Close()
		if err != nil {
			closeFDs(fds[i+1:])
			h.finish(false)
			return nil, fmt.Errorf("listener %s: %w", msg.Listeners[i].Name, err)
		}
		h.offered = append(h.offered, namedListener{msg.Listeners[i].Name, ln})
	}
	return h, nil
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// handOffServer offers a serving process's listeners to the next process,
// until one takes them.
type handOffServer struct {
	ln    *net.UnixListener
	lns   []namedListener
	log   *slog.Logger
	taken chan struct{}
	done  chan struct{} // closed when serve returns

	closeOnce sync.Once
}

// offerListeners listens on the hand-off socket at path (mode 0600),
// replacing a stale one, and offers lns to the next process that asks.
func offerListeners(path string, lns []namedListener, log *slog.Logger) (*handOffServer, error) {
	if len(lns) > maxHandoffFDs {
		return nil, fmt.Errorf("%d listeners to offer, at most %d", len(lns), maxHandoffFDs)
	}
	// The process serving before this one has exited (this one has the
	// store), so a socket file left at path is stale.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	s := &handOffServer{ln: ln, lns: lns, log: log, taken: make(chan struct{}), done: make(chan struct{})}
	go s.serve()
	return s, nil
}

// Taken is closed once a new process has taken the listeners. It is nil,
// and so never ready, for a nil server.
func (s *handOffServer) Taken() <-chan struct{} {
	if s == nil {
		return nil
	}
	return s.taken
}

// Close stops offering the listeners and removes the socket file.
func (s *handOffServer) Close() error {
	if s == nil {
		return nil
	}
	var err error
	s.closeOnce.Do(func() { err = s.ln.Close() })
	<-s.done
	return err
}

func (s *handOffServer) serve() {
	defer close(s.done)
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Warn("listener hand-off is off: accepting on its socket failed", "err", err)
			}
			return
		}
		taken, err := s.handle(conn)
		conn.Close()
		switch {
		case err != nil:
			s.log.Warn("listener hand-off: refused or failed", "err", err)
		case taken:
			close(s.taken)
			s.closeOnce.Do(func() { s.ln.Close() })
			return
		}
	}
}

// handle answers one request; taken reports that the peer took the
// listeners.
func (s *handOffServer) handle(conn *net.UnixConn) (taken bool, err error) {
	if err := checkPeer(conn); err != nil {
		return false, err
	}
	conn.SetDeadline(time.Now().Add(handoffTimeout))
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil {
		return false, err
	}
	if string(buf[:n]) != handoffRequest {
		return false, fmt.Errorf("unexpected request %q", buf[:n])
	}
	msg := offerMessage{PID: os.Getpid()}
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	fds := make([]int, 0, len(s.lns))
	for _, nl := range s.lns {
		fl, ok := nl.ln.(interface{ File() (*os.File, error) })
		if !ok {
			return false, fmt.Errorf("listener %s: %T has no descriptor", nl.name, nl.ln)
		}
		f, err := fl.File() // a duplicate, open until sent
		if err != nil {
			return false, fmt.Errorf("listener %s: %w", nl.name, err)
		}
		files = append(files, f)
		// Not f.Fd(), which would put the socket, shared with this
		// process's listener, into blocking mode.
		rc, err := f.SyscallConn()
		if err != nil {
			return false, fmt.Errorf("listener %s: %w", nl.name, err)
		}
		rc.Control(func(fd uintptr) { fds = append(fds, int(fd)) })
		msg.Listeners = append(msg.Listeners, struct {
			Name string `json:"name"`
			Addr string `json:"addr"`
		}{nl.name, nl.ln.Addr().String()})
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return false, err
	}
	if _, _, err := conn.WriteMsgUnix(b, unix.UnixRights(fds...), nil); err != nil {
		return false, err
	}
	// The peer now holds the sockets; it says whether it keeps them.
	n, err = conn.Read(buf)
	if err != nil || string(buf[:n]) != handoffTaken {
		return false, nil // it went away, or binds elsewhere: keep serving
	}
	return true, nil
}

// checkPeer refuses a peer of another user: the socket's mode already
// keeps others out, but the listeners must not leak through a permissive
// data directory.
func checkPeer(conn *net.UnixConn) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var credErr error
	if err := rc.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if credErr != nil {
		return credErr
	}
	if int(cred.Uid) != os.Getuid() {
		return fmt.Errorf("peer process %d runs as user %d, not %d", cred.Pid, cred.Uid, os.Getuid())
	}
	return nil
}
