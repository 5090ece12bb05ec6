package edgeserver

import (
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"
)

// acceptSignal reports each connection its listener accepts.
type acceptSignal struct {
	net.Listener
	accepted chan struct{}
}

func (l *acceptSignal) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted <- struct{}{}
	}
	return c, err
}

// TestTLSListenerClosingUnderlyingFinishesHandshakes checks the graceful
// stop of a restart: when the underlying listener is closed, a connection
// already accepted but still before its TLS handshake is handed over and
// served, and only then does Accept report net.ErrClosed.
func TestTLSListenerClosingUnderlyingFinishesHandshakes(t *testing.T) {
	e := newEdge(t)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	under := &acceptSignal{Listener: raw, accepted: make(chan struct{}, 1)}
	ln := e.server.TLSListener(under)
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	results := make(chan accepted, 2)
	go func() {
		for range 2 {
			c, err := ln.Accept()
			results <- accepted{c, err}
		}
	}()

	conn, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	select {
	case <-under.accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection was not accepted")
	}
	raw.Close() // the graceful stop: before the viewer's ClientHello

	client := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	client.SetDeadline(time.Now().Add(10 * time.Second))
	handshake := make(chan error, 1)
	go func() { handshake <- client.Handshake() }()

	first := <-results
	if first.err != nil {
		t.Fatalf("first Accept after closing the underlying listener: %v, want the connection in its handshake", first.err)
	}
	defer first.c.Close()
	if err := <-handshake; err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if second := <-results; !errors.Is(second.err, net.ErrClosed) {
		t.Errorf("second Accept: %v, %v; want net.ErrClosed", second.c, second.err)
	}
}
