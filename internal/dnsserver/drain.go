package dnsserver

import (
	"context"
	"net"
	"sync"
)

// drainListener is the TCP listener as the dns.Server sees it, so that
// Shutdown can drain it first. dns.Server's own shutdown sets a past read
// deadline on every connection it has accepted, which closes a connection
// accepted an instant before without answering the query its client has
// sent or is about to send: the client sees its connection closed, and a
// stub resolver gives up. drain instead stops accepting, then waits until
// every connection accepted has written an answer or closed; only then is
// the dns.Server shut down, which closes the connections that are idle
// between queries, as RFC 7766 lets a server do.
type drainListener struct {
	net.Listener

	mu         sync.Mutex
	draining   bool
	accepting  int           // Accept calls under way on the socket
	unanswered int           // accepted connections, open, that have written nothing
	settled    chan struct{} // closed once draining with neither of them left
	isSettled  bool

	closed    chan struct{} // closed by Close
	closeOnce sync.Once
}

func newDrainListener(ln net.Listener) *drainListener {
	return &drainListener{Listener: ln, settled: make(chan struct{}), closed: make(chan struct{})}
}

// Accept accepts a connection on the socket until drain is called. From
// then on it blocks until Close, and then returns net.ErrClosed, so that
// the dns.Server, which is stopped by then, does not report the socket
// closed under it as a failure.
func (l *drainListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.draining {
		l.mu.Unlock()
		<-l.closed
		return nil, net.ErrClosed
	}
	l.accepting++
	l.mu.Unlock()

	c, err := l.Listener.Accept()

	l.mu.Lock()
	l.accepting--
	if err == nil {
		l.unanswered++ // even if drain began meanwhile: it was accepted
	}
	draining := l.draining
	l.settle()
	l.mu.Unlock()
	switch {
	case err == nil:
		return &drainConn{Conn: c, l: l}, nil
	case draining:
		<-l.closed
		return nil, net.ErrClosed
	}
	return nil, err
}

// Close closes the socket and ends an Accept blocked by drain.
func (l *drainListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.closed) })
	return err
}

// drain stops accepting: it closes the socket, which leaves connections
// still queued on it to another process holding the same socket. Then it
// waits until every connection accepted has written an answer or closed,
// or until ctx is done. A client that sends nothing is cut off by the read
// timeout of the dns.Server.
func (l *drainListener) drain(ctx context.Context) error {
	l.mu.Lock()
	l.draining = true
	l.settle()
	l.mu.Unlock()
	l.Listener.Close() // ends an Accept under way
	select {
	case <-l.settled:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// answered counts a connection that has written an answer, or closed.
func (l *drainListener) answered() {
	l.mu.Lock()
	l.unanswered--
	l.settle()
	l.mu.Unlock()
}

// settle closes settled once draining with no Accept under way and no
// connection left to answer. l.mu is held.
func (l *drainListener) settle() {
	if l.draining && l.accepting == 0 && l.unanswered == 0 && !l.isSettled {
		l.isSettled = true
		close(l.settled)
	}
}

// drainConn is a connection accepted by a drainListener, which it tells
// when it has written its first answer or closed.
type drainConn struct {
	net.Conn
	l    *drainListener
	once sync.Once
}

func (c *drainConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.once.Do(c.l.answered)
	return n, err
}

func (c *drainConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.l.answered)
	return err
}
