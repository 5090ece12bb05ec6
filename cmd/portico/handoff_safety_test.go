//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portico-edge/portico/internal/testlog"
)

// nobody is the user ID that the tests of another user's processes act
// as.
const nobody = 65534

// asUser runs f on an OS thread of its own whose effective user ID is
// uid, and skips the test when this process may not take it (it is not
// root). A socket remembers the credentials of the thread that listened,
// or connected, with it: its peer sees them as SO_PEERCRED.
func asUser(t *testing.T, uid int, f func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with the goroutine.
		runtime.LockOSThread()
		// setresuid(2) for this thread alone, not syscall.Setresuid,
		// which changes every thread of the process.
		const keep = ^uintptr(0)
		if _, _, errno := unix.RawSyscall(unix.SYS_SETRESUID, keep, uintptr(uid), keep); errno != 0 {
			errc <- errno
			return
		}
		f()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Skipf("cannot act as user %d: %v", uid, err)
	}
}

// sharedDir returns a new directory that other users may enter, with
// mode: unlike t.TempDir's, its parent is /tmp.
func sharedDir(t *testing.T, mode os.FileMode) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "portico-handoff")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestHandOffRefusesOtherUsers has a process of another user (a thread of
// this one with another effective user ID, which its sockets remember)
// offer listeners, and ask for them: neither side deals with it.
func TestHandOffRefusesOtherUsers(t *testing.T) {
	t.Run("offering", func(t *testing.T) {
		// What a user who can write to the data directory could do: put
		// a socket of their own at handoff.sock.
		path := filepath.Join(sharedDir(t, 0o777), handoffFile)
		var ln *net.UnixListener
		var err error
		asUser(t, nobody, func() {
			ln, err = net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
		})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		asked := make(chan string, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				asked <- err.Error()
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			b, err := io.ReadAll(c)
			asked <- fmt.Sprintf("%q, %v", b, err)
		}()

		h, err := requestHandOff(context.Background(), path)
		if h != nil || err == nil || !strings.Contains(err.Error(), fmt.Sprintf("runs as user %d", nobody)) {
			t.Fatalf("requestHandOff from another user's process = %v, %v; want an error naming user %d", h, err, nobody)
		}
		if got := <-asked; got != `"", <nil>` {
			t.Errorf("the other user's process was sent %s; want nothing", got)
		}
	})

	t.Run("asking", func(t *testing.T) {
		// A data directory and a socket that let other users in, as a
		// careless chmod could.
		dir := sharedDir(t, 0o700)
		logs := &testlog.Buffer{}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		path := filepath.Join(dir, handoffFile)
		srv, err := offerListeners(path, []namedListener{{name: "http", ln: ln}}, slog.New(slog.NewTextHandler(logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		if err := errors.Join(os.Chmod(dir, 0o711), os.Chmod(path, 0o666)); err != nil {
			t.Fatal(err)
		}
		var c net.Conn
		asUser(t, nobody, func() { c, err = net.Dial("unixpacket", path) })
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if h, err := receiveOffer(c.(*net.UnixConn)); err == nil {
			h.finish(false)
			t.Fatalf("another user's process was offered %d sockets", len(h.offered))
		}
		select {
		case <-srv.Taken():
			t.Error("the listeners are said to be taken")
		default:
		}
		want := fmt.Sprintf("runs as user %d", nobody)
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), want); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the log does not say %q:\n%s", want, logs)
			}
		}
	})
}

func TestCheckPeer(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: filepath.Join(dir, "s"), Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("unixpacket", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tt := range []struct {
		uid     int
		wantErr bool
	}{{os.Getuid(), false}, {os.Getuid() + 1, true}} {
		pid, err := checkPeer(c.(*net.UnixConn), tt.uid)
		switch {
		case tt.wantErr && err == nil:
			t.Errorf("checkPeer(conn, %d) = %d, nil; want an error: the peer runs as %d", tt.uid, pid, os.Getuid())
		case !tt.wantErr && (err != nil || pid != os.Getpid()):
			t.Errorf("checkPeer(conn, %d) = %d, %v; want %d (this process)", tt.uid, pid, err, os.Getpid())
		}
	}
}

// TestHandOffSocketIsPrivate: the hand-off socket is created with mode
// 0600 and moved into place, replacing whatever is at its path without
// following it, and nothing else is left in the data directory.
func TestHandOffSocketIsPrivate(t *testing.T) {
	for _, planted := range []string{"nothing", "a stale socket", "a link to a file"} {
		t.Run(planted, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, handoffFile)
			target := filepath.Join(t.TempDir(), "target")
			switch planted {
			case "a stale socket":
				ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
				if err != nil {
					t.Fatal(err)
				}
				ln.SetUnlinkOnClose(false)
				ln.Close()
			case "a link to a file":
				if err := errors.Join(os.WriteFile(target, []byte("x"), 0o644), os.Symlink(target, path)); err != nil {
					t.Fatal(err)
				}
			}
			srv, err := offerListeners(path, nil, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(path)
			if err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v, %v; want a socket with mode 0600", path, fi.Mode(), err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("the data directory holds %v; want only %s", entries, handoffFile)
			}
			if planted == "a link to a file" {
				if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o644 {
					t.Errorf("the link's target: %v, %v; want it left alone, mode 0644", fi.Mode(), err)
				}
			}
			srv.Close()
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s after Close: %v; want it removed", path, err)
			}
		})
	}
}

// TestHandOffCloseEndsStalledExchange: Close does not wait for a peer
// that asks for the listeners and then says nothing, even with a time
// limit for each step of the exchange far longer than the test.
func TestHandOffCloseEndsStalledExchange(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv, err := offerListenersTimeout(filepath.Join(dir, handoffFile), []namedListener{{name: "http", ln: ln}}, slog.New(slog.DiscardHandler), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := net.Dial("unixpacket", filepath.Join(dir, handoffFile))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		srv.mu.Lock()
		begun := srv.pending != nil
		srv.mu.Unlock()
		if begun {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not take up the exchange")
		}
	}

	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close waits for the stalled peer")
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 64)); err != io.EOF {
		t.Errorf("the stalled peer read %d bytes, %v; want the end of the exchange", n, err)
	}
	select {
	case <-srv.Taken():
		t.Error("the listeners are said to be taken")
	default:
	}
}

// TestHandOffClosesDescriptorsOfBadOffers receives offers that carry real
// listening sockets but are not valid: each descriptor received is closed
// (once the offering side closes its own, nothing listens any more).
func TestHandOffClosesDescriptorsOfBadOffers(t *testing.T) {
	tcp := offeredSocket{Name: "http", Network: "tcp"}
	tests := []struct {
		name    string
		offer   func(n int) []byte // for n descriptors
		wantErr string
	}{
		{"fewer names than descriptors", func(n int) []byte {
			b, _ := json.Marshal(offerMessage{Listeners: slices.Repeat([]offeredSocket{tcp}, n-1)})
			return b
		}, "names 1 listeners but carries 2"},
		{"not JSON", func(int) []byte { return []byte("listeners") }, "the offer"},
		{"an unknown network second", func(int) []byte {
			b, _ := json.Marshal(offerMessage{Listeners: []offeredSocket{tcp, {Name: "http", Network: "sctp"}}})
			return b
		}, `unknown network "sctp"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 2
			var (
				addrs []string
				files []*os.File // the offering side's descriptors
				fds   []int
			)
			closeFiles := func() {
				for _, f := range files {
					f.Close()
				}
			}
			defer closeFiles()
			for range n {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				f, err := ln.(*net.TCPListener).File()
				ln.Close() // f keeps the socket listening
				if err != nil {
					t.Fatal(err)
				}
				files = append(files, f)
				rc, err := f.SyscallConn()
				if err != nil {
					t.Fatal(err)
				}
				rc.Control(func(fd uintptr) { fds = append(fds, int(fd)) })
				addrs = append(addrs, ln.Addr().String())
			}
			offering, asking, err := unixPacketPair()
			if err != nil {
				t.Fatal(err)
			}
			defer offering.Close()
			defer asking.Close()
			if _, _, err := offering.WriteMsgUnix(tt.offer(n), unix.UnixRights(fds...), nil); err != nil {
				t.Fatal(err)
			}

			h, err := receiveOffer(asking)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				h.finish(false)
				t.Fatalf("receiveOffer = %v; want an error saying %q", err, tt.wantErr)
			}
			closeFiles()
			for _, addr := range addrs {
				if c, err := net.DialTimeout("tcp", addr, 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
					if c != nil {
						c.Close()
					}
					t.Errorf("connecting to %s, offered and refused: %v; want the connection refused: a received descriptor was kept", addr, err)
				}
			}
		})
	}
}

// unixPacketPair returns the two ends of a connected unixpacket socket
// pair.
func unixPacketPair() (*net.UnixConn, *net.UnixConn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	var conns [2]*net.UnixConn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			if i == 1 {
				conns[0].Close()
			}
			return nil, nil, err
		}
		conns[i] = c.(*net.UnixConn)
	}
	return conns[0], conns[1], nil
}

func TestUnixRights(t *testing.T) {
	creds := unix.UnixCredentials(&unix.Ucred{Pid: 1, Uid: 2, Gid: 3})
	// A header claiming more data than the buffer holds.
	bad := unix.UnixRights(9)
	bad[0] = 0xff
	tests := []struct {
		name    string
		oob     []byte
		want    []int
		wantErr bool
	}{
		{"none", nil, nil, false},
		{"one message", unix.UnixRights(3, 4, 5), []int{3, 4, 5}, false},
		{"two messages", slices.Concat(unix.UnixRights(3), unix.UnixRights(4, 5)), []int{3, 4, 5}, false},
		{"credentials skipped", slices.Concat(creds, unix.UnixRights(7)), []int{7}, false},
		{"malformed after one", slices.Concat(unix.UnixRights(3, 4), bad), []int{3, 4}, true},
		{"malformed first", slices.Concat(bad, unix.UnixRights(3)), nil, true},
		{"short tail ignored", append(unix.UnixRights(6), 1, 2, 3), []int{6}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := unixRights(tt.oob)
			if !slices.Equal(got, tt.want) || (err != nil) != tt.wantErr {
				t.Errorf("unixRights = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// FuzzUnixRights checks unixRights against x/sys/unix's parsers on any
// control buffer: the same descriptors where those succeed, an error
// where they fail, and never a panic.
func FuzzUnixRights(f *testing.F) {
	f.Add(unix.UnixRights(3, 4, 5))
	f.Add(slices.Concat(unix.UnixCredentials(&unix.Ucred{Pid: 1}), unix.UnixRights(7)))
	f.Add(append(unix.UnixRights(6), 1, 2, 3))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, oob []byte) {
		got, err := unixRights(oob)
		msgs, refErr := unix.ParseSocketControlMessage(oob)
		if (err != nil) != (refErr != nil) {
			t.Fatalf("unixRights error %v, ParseSocketControlMessage error %v", err, refErr)
		}
		if refErr != nil {
			return
		}
		var want []int
		for _, m := range msgs {
			if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_RIGHTS {
				continue
			}
			data := m.Data[:len(m.Data)/4*4] // ParseUnixRights reads past a partial descriptor
			fds, err := unix.ParseUnixRights(&unix.SocketControlMessage{Header: m.Header, Data: data})
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, fds...)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("unixRights = %v, want %v", got, want)
		}
	})
}

// TestCheckDataDir: a data directory that others may write to is refused.
func TestCheckDataDir(t *testing.T) {
	for _, tt := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o700, true}, {0o750, true}, {0o755, true}, {0o711, true},
		{0o770, false}, {0o720, false}, {0o702, false}, {0o777, false}, {0o777 | os.ModeSticky, false},
	} {
		dir := t.TempDir()
		if err := os.Chmod(dir, tt.mode); err != nil {
			t.Fatal(err)
		}
		err := checkDataDir(dir)
		if (err == nil) != tt.ok {
			t.Errorf("mode %v: checkDataDir = %v, want ok %v", tt.mode, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "chmod go-w") {
			t.Errorf("mode %v: %v does not say what to do", tt.mode, err)
		}
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkDataDir(file); err == nil {
		t.Errorf("checkDataDir(a file) = nil")
	}
}
