package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/portico-edge/portico/internal/edgeserver"
	"github.com/portico-edge/portico/internal/snapshot"
	"github.com/portico-edge/portico/internal/testpki"
)

// TestDrainAnswersAcceptedConnections stops a server while connections it
// has accepted have not sent their request yet: each request sent then is
// answered. (http.Server.Shutdown alone, as of Go 1.26, closes such a
// connection without an answer if its request arrives once Shutdown has
// begun: it treats a connection that has sent nothing as idle. That is
// why connDrain exists, but what this test holds to is connDrain's
// promise, not net/http's behaviour, which may change.)
func TestDrainAnswersAcceptedConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "answered")
	})}
	var d connDrain
	d.hook(srv)
	served := make(chan struct{})
	go func() { srv.Serve(ln); close(served) }()

	const n = 4
	var conns []net.Conn
	for range n {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	waitTracked(t, &d, n)

	ln.Close()
	<-served
	stopped := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		d.quiesce(ctx, srv)
		srv.Shutdown(ctx)
		close(stopped)
	}()
	answered := 0
	for _, c := range conns {
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil && resp.StatusCode == 200 {
			answered++
			resp.Body.Close()
		}
	}
	<-stopped
	if answered != n {
		t.Errorf("%d of %d requests answered, want all", answered, n)
	}
}

// waitTracked waits until d tracks n connections.
func waitTracked(t *testing.T, d *connDrain, n int) {
	t.Helper()
	tracked := func() int {
		d.mu.Lock()
		defer d.mu.Unlock()
		return len(d.conns)
	}
	for deadline := time.Now().Add(10 * time.Second); tracked() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections tracked, want %d", tracked(), n)
		}
	}
}

// TestDrainSkipsHTTP2 serves the edge's HTTPS server as serve does, over
// edgeserver's TLS listener: an HTTP/2 connection is not tracked (it is
// ended by Shutdown's GOAWAY), an HTTP/1.1 one is. connDrain tells them
// apart by the protocol negotiated, which it can read only because that
// listener completes the TLS handshake before Accept returns.
func TestDrainSkipsHTTP2(t *testing.T) {
	ca := testpki.NewCA(t, "edge CA")
	edge := &edgeserver.Server{
		Snapshot:           func() *snapshot.Snapshot { return nil },
		DefaultCertificate: ca.Issue(t, []string{"edge.test"}).TLSCertificate(t),
		Log:                slog.New(slog.DiscardHandler),
	}
	srv := edge.HTTPSServer()
	var d connDrain
	d.hook(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(edge.TLSListener(ln))
	defer srv.Close()

	// An HTTP/2 request answered: the connection has been through
	// StateNew and StateActive.
	h2 := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: ca.Pool(), ServerName: "edge.test"},
		ForceAttemptHTTP2: true,
	}}
	defer h2.CloseIdleConnections()
	resp, err := h2.Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("the HTTP/2 client spoke %s", resp.Proto)
	}
	// An HTTP/1.1 connection with a request that the edge's fast path for
	// cache hits leaves to net/http (nothing is served here), which then
	// holds the connection: connections the fast path keeps are not
	// net/http's to drain (the fast path stops them itself when the
	// listener closes).
	h1, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "edge.test", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer h1.Close()
	if _, err := io.WriteString(h1, "GET / HTTP/1.1\r\nHost: edge.test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}

	waitTracked(t, &d, 1)
	d.mu.Lock()
	defer d.mu.Unlock()
	for c, cs := range d.conns {
		if tc, ok := c.(*tls.Conn); ok && tc.ConnectionState().NegotiatedProtocol == "h2" {
			t.Errorf("an HTTP/2 connection is tracked, in %v", cs.state)
		}
	}
	if len(d.conns) != 1 {
		t.Errorf("%d connections tracked, want only the HTTP/1.1 one", len(d.conns))
	}
}
