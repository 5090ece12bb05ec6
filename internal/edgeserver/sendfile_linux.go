package edgeserver

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sendfileSupported reports whether fastConn.sendFile works here.
const sendfileSupported = true

// sendfileState is a sendFile in progress: what is left to write, kept
// in the connection so that the step function passed to the raw
// connection allocates nothing.
type sendfileState struct {
	step func(fd uintptr) bool // c.sendStep, bound once
	head []byte
	src  int   // the file's descriptor
	off  int64 // in it
	n    int64 // bytes of the body left
	err  error
}

// sendFile writes the response at now: head, then n bytes of f from off
// with sendfile(2), which sends the file's pages without copying them. The
// head goes with MSG_MORE, so that it leaves in the same segment as the
// body's start. The deadlines are write's.
func (c *fastConn) sendFile(head []byte, f *os.File, off, n int64, now time.Time) error {
	exact := now.Add(c.f.p.lim.writeTimeout)
	if c.wd.IsZero() || c.wd.After(exact) || exact.Sub(c.wd) >= deadlineSlack {
		if err := c.w.SetWriteDeadline(exact); err != nil {
			return err
		}
		c.wd = exact
	}
	s := &c.sf
	if s.step == nil {
		s.step = c.sendStep
	}
	s.head, s.src, s.off, s.n, s.err = head, int(f.Fd()), off, n, nil
	defer func() {
		s.head = nil
		runtime.KeepAlive(f)
	}()
	for {
		err := c.rc.Write(s.step)
		if err == nil {
			return s.err
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !time.Now().Before(exact) {
			return err
		}
		if err := c.w.SetWriteDeadline(exact); err != nil {
			return err
		}
		c.wd = exact
	}
}

// sendStep writes what is left of c.sf on the socket fd, as far as it
// takes it: it reports false when the socket is full (the raw connection
// then waits for room and calls it again), true when done or failed.
func (c *fastConn) sendStep(fd uintptr) bool {
	s := &c.sf
	for len(s.head) > 0 {
		m, _, errno := syscall.Syscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&s.head[0])), uintptr(len(s.head)), unix.MSG_MORE, 0, 0)
		switch errno {
		case 0:
			s.head = s.head[m:]
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			s.err = errno
			return true
		}
	}
	for s.n > 0 {
		m, err := unix.Sendfile(int(fd), s.src, &s.off, int(min(s.n, 1<<30)))
		switch {
		case errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EAGAIN):
			return false
		case err != nil:
			s.err = err
			return true
		case m == 0:
			s.err = io.ErrUnexpectedEOF // the file is shorter than the body
			return true
		default:
			s.n -= int64(m)
		}
	}
	return true
}
