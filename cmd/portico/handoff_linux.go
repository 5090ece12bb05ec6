package main

import (
	"context"
	bin "encoding/binary" // not binary, the name of the tests' portico executable
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The hand-off protocol, over a SOCK_SEQPACKET unix socket, whose
// messages keep their boundaries:
//
//	new → old  handoffRequest
//	old → new  an offer (JSON) carrying one descriptor per socket (SCM_RIGHTS)
//	new → old  handoffTaken, once it holds every listener it needs
//	new → old  handoffServing, once it serves; or it closes the connection
//	           (it failed to start), and the old process serves again
//
// Each side deals only with a peer of its own user ID. Version 1 of the
// protocol offered TCP listeners only and ended at handoffTaken.
const (
	handoffRequest = "portico-handoff 2"
	handoffTimeout = 10 * time.Second // for each step of the exchange
	maxHandoffFDs  = 16
)

// offerMessage describes the descriptors of an offer, in order.
type offerMessage struct {
	PID       int             `json:"pid"` // for the logs; the receiver logs the one its peer's credentials say
	Listeners []offeredSocket `json:"listeners"`
}

// offeredSocket describes one descriptor of an offer.
type offeredSocket struct {
	Name    string `json:"name"`
	Network string `json:"network"` // "tcp" (a listener) or "udp"
	Addr    string `json:"addr"`
}

// requestHandOff asks the process serving on the hand-off socket at path
// for its listeners. It returns nil and no error when no process listens
// there (none runs, or a stale socket file is left from one that was
// killed). It refuses, before asking, a process of another user: sockets
// received from it could be anything, bound by anyone.
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
	// The credentials of the process that listens on path, as of its
	// listen(2).
	pid, err := checkPeer(conn, os.Getuid())
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: refused: %w", path, err)
	}
	h, err := receiveOffer(conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	h.pid = pid
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
	// The kernel installed every descriptor that fit in oob, received
	// with close-on-exec: from here each is closed unless it is kept.
	fds, err := unixRights(oob[:oobn])
	if err != nil {
		closeFDs(fds)
		return nil, err
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
		send: func(message string) error {
			conn.SetDeadline(time.Now().Add(handoffTimeout))
			_, err := conn.Write([]byte(message))
			return err
		},
		close: sync.OnceValue(conn.Close),
	}
	for i, fd := range fds {
		o := msg.Listeners[i]
		f := os.NewFile(uintptr(fd), "handoff-"+o.Name+"-"+o.Network)
		// Each a duplicate of fd, non-blocking.
		nl := namedListener{name: o.Name}
		switch o.Network {
		case "tcp":
			nl.ln, err = net.FileListener(f)
		case "udp":
			nl.pc, err = net.FilePacketConn(f)
		default:
			err = fmt.Errorf("unknown network %q", o.Network)
		}
		f.Close()
		if err != nil {
			closeFDs(fds[i+1:])
			h.finish(false)
			return nil, fmt.Errorf("socket %s/%s: %w", o.Name, o.Network, err)
		}
		h.offered = append(h.offered, nl)
	}
	return h, nil
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// unixRights returns the descriptors that the SCM_RIGHTS messages in oob,
// a control buffer as received, carry; other messages are skipped. If a
// message is malformed it returns an error, and the descriptors of the
// messages before it, for the caller to close.
func unixRights(oob []byte) (fds []int, err error) {
	// As unix.ParseSocketControlMessage, which returns nothing on an
	// error, and unix.ParseUnixRights, which reads past a partial
	// descriptor.
	for len(oob) >= unix.CmsgLen(0) {
		hdr, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return fds, fmt.Errorf("control message: %w", err)
		}
		if hdr.Level == unix.SOL_SOCKET && hdr.Type == unix.SCM_RIGHTS {
			for ; len(data) >= 4; data = data[4:] {
				fds = append(fds, int(int32(bin.NativeEndian.Uint32(data))))
			}
		}
		oob = rest
	}
	return fds, nil
}

// handOffServer offers a serving process's listeners to the next process,
// until one takes them.
type handOffServer struct {
	ln      *net.UnixListener
	lns     []namedListener
	log     *slog.Logger
	timeout time.Duration // for each step of an exchange
	taken   chan struct{}
	done    chan struct{} // closed when serve returns

	// stop stops offering: it closes ln and removes its socket file.
	// Idempotent.
	stop func() error

	// successor is the connection of the process that took the listeners,
	// set before taken is closed; it says there when it serves.
	successor *net.UnixConn

	mu      sync.Mutex
	closed  bool          // Close was called
	pending *net.UnixConn // the exchange under way, which Close ends
}

// offerListeners listens on the hand-off socket at path (mode 0600),
// replacing a stale one, and offers lns to the next process that asks.
func offerListeners(path string, lns []namedListener, log *slog.Logger) (*handOffServer, error) {
	return offerListenersTimeout(path, lns, log, handoffTimeout)
}

// offerListenersTimeout is offerListeners with timeout for each step of
// an exchange instead of handoffTimeout.
func offerListenersTimeout(path string, lns []namedListener, log *slog.Logger, timeout time.Duration) (*handOffServer, error) {
	if len(lns) > maxHandoffFDs {
		return nil, fmt.Errorf("%d listeners to offer, at most %d", len(lns), maxHandoffFDs)
	}
	ln, file, err := listenPrivately(path)
	if err != nil {
		return nil, err
	}
	s := &handOffServer{ln: ln, lns: lns, log: log, timeout: timeout, taken: make(chan struct{}), done: make(chan struct{})}
	s.stop = sync.OnceValue(func() error {
		err := ln.Close()
		// Unless another process has put its own socket there since.
		if fi, lerr := os.Lstat(path); lerr == nil && os.SameFile(fi, file) {
			os.Remove(path)
		}
		return err
	})
	go s.serve()
	return s, nil
}

// listenPrivately listens on a unixpacket socket at path, mode 0600,
// without its ever being reachable with a wider mode: it is bound in a new
// directory beside path that only this user may enter (mode 0700), set to
// 0600 there, and then renamed to path, replacing a socket file left by a
// process that was killed (the process serving before this one has
// exited, since this one has the store). Closing the listener does not
// remove path. It also returns the socket file's FileInfo.
func listenPrivately(path string) (*net.UnixListener, os.FileInfo, error) {
	dir, err := os.MkdirTemp(filepath.Dir(path), ".h") // short: a socket's path has at most 107 bytes
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: tmp, Net: "unixpacket"})
	if err != nil {
		return nil, nil, err
	}
	ln.SetUnlinkOnClose(false)
	// No one else can enter dir, so tmp is still the socket: no link
	// planted there redirects the chmod.
	err = os.Chmod(tmp, 0o600)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	var fi os.FileInfo
	if err == nil {
		fi, err = os.Lstat(path)
	}
	if err != nil {
		ln.Close()
		return nil, nil, err
	}
	return ln, fi, nil
}

// Taken is closed once a new process has taken the listeners. It is nil,
// and so never ready, for a nil server.
func (s *handOffServer) Taken() <-chan struct{} {
	if s == nil {
		return nil
	}
	return s.taken
}

// WaitServing waits until the process that took the listeners says that
// it serves, and returns nil. It returns an error if that process goes
// away first (it failed to start), or is still silent after limit, or if
// ctx is done, or if the listeners were not taken. It ends the exchange.
func (s *handOffServer) WaitServing(ctx context.Context, limit time.Duration) error {
	if s == nil {
		return errors.New("no listeners were offered")
	}
	select {
	case <-s.taken:
	default:
		return errors.New("the listeners were not taken")
	}
	conn := s.successor
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(limit))
	defer context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })()
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, io.EOF):
		return errors.New("the new process went away")
	case err != nil:
		return err
	case string(buf[:n]) != handoffServing:
		return fmt.Errorf("unexpected message %q", buf[:n])
	}
	return nil
}

// Close stops offering the listeners and removes the socket file. It
// ends an exchange under way, whose listeners are then not taken, rather
// than wait for a peer that may be slow to answer; it leaves the
// successor's connection, once they are, to WaitServing.
func (s *handOffServer) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	s.closed = true
	if s.pending != nil {
		s.pending.Close()
	}
	s.mu.Unlock()
	err := s.stop()
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
		if !s.begin(conn) {
			conn.Close()
			return
		}
		taken, err := s.handle(conn)
		switch closed := s.end(); {
		case closed:
			conn.Close()
			return
		case err != nil:
			conn.Close()
			s.log.Warn("listener hand-off: refused or failed", "err", err)
		case taken:
			s.successor = conn // closed by WaitServing
			// The socket file is gone by the time the listeners are
			// said to be taken: no other process can ask any more.
			s.stop()
			close(s.taken)
			return
		default:
			conn.Close()
		}
	}
}

// begin records conn as the exchange under way, unless Close was called.
func (s *handOffServer) begin(conn *net.UnixConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.pending = conn
	return true
}

// end records the end of the exchange under way, and reports whether
// Close was called meanwhile.
func (s *handOffServer) end() (closed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = nil
	return s.closed
}

// handle answers one request; taken reports that the peer took the
// listeners, and then it keeps conn open for the peer to say that it
// serves.
func (s *handOffServer) handle(conn *net.UnixConn) (taken bool, err error) {
	if _, err := checkPeer(conn, os.Getuid()); err != nil {
		return false, err
	}
	conn.SetDeadline(time.Now().Add(s.timeout))
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
		var sock any = nl.ln
		if nl.pc != nil {
			sock = nl.pc
		}
		o := offeredSocket{Name: nl.name, Network: nl.addr().Network(), Addr: nl.addr().String()}
		fl, ok := sock.(interface{ File() (*os.File, error) })
		if !ok {
			return false, fmt.Errorf("socket %s/%s: %T has no descriptor", o.Name, o.Network, sock)
		}
		f, err := fl.File() // a duplicate, open until sent
		if err != nil {
			return false, fmt.Errorf("socket %s/%s: %w", o.Name, o.Network, err)
		}
		files = append(files, f)
		// Not f.Fd(), which would put the socket, shared with this
		// process's listener, into blocking mode.
		rc, err := f.SyscallConn()
		if err != nil {
			return false, fmt.Errorf("socket %s/%s: %w", o.Name, o.Network, err)
		}
		rc.Control(func(fd uintptr) { fds = append(fds, int(fd)) })
		msg.Listeners = append(msg.Listeners, o)
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

// checkPeer returns the process ID of conn's peer, and an error if that
// process runs as another user than uid. Both sides check: the socket's
// mode and the data directory's keep other users out, but the listeners
// must neither leak to another user nor be taken from one (who could hand
// over anything) should either be too permissive.
func checkPeer(conn *net.UnixConn, uid int) (pid int, err error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := rc.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if credErr != nil {
		return 0, credErr
	}
	if int(cred.Uid) != uid {
		return 0, fmt.Errorf("peer process %d runs as user %d, not %d", cred.Pid, cred.Uid, uid)
	}
	return int(cred.Pid), nil
}
