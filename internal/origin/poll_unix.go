//go:build unix

package origin

import (
	"io"
	"net"
	"os"
	"syscall"
)

// poller reads what a connection's socket holds, without waiting for
// more: how an idle connection is checked before it carries a request
// (see h1Conn.stale). The socket is non-blocking, as all of Go's are.
type poller struct {
	rc     syscall.RawConn
	readFn func(fd uintptr) // readNow, made once

	// The read in progress.
	buf []byte
	n   int
	err error

	saw bool // a read returned bytes since the last reset
}

// newPoller returns the poller of c, or nil when c is not a socket.
func newPoller(c net.Conn) *poller {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	p := &poller{rc: rc}
	p.readFn = p.readNow
	return p
}

func (p *poller) readNow(fd uintptr) {
	for {
		p.n, p.err = syscall.Read(int(fd), p.buf)
		if p.err != syscall.EINTR {
			return
		}
	}
}

// read reads into b what the socket holds. It returns os.ErrDeadlineExceeded
// when the socket holds nothing, and io.EOF when the peer closed it.
//
// It goes through Control, not Read, of the raw connection: Read would
// first check the read deadline, which an idle connection may well have
// passed.
func (p *poller) read(b []byte) (int, error) {
	p.buf = b
	err := p.rc.Control(p.readFn)
	n, rerr := p.n, p.err
	p.buf, p.err = nil, nil
	switch {
	case err != nil:
		return 0, err
	case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK:
		// A timeout, Temporary to crypto/tls: the TLS connection stays
		// usable.
		return 0, os.ErrDeadlineExceeded
	case rerr != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", rerr)}
	case n <= 0:
		return 0, io.EOF
	}
	p.saw = true
	return n, nil
}

// sawBytes reports whether a read returned bytes since the last call.
func (p *poller) sawBytes() bool {
	saw := p.saw
	p.saw = false
	return saw
}
