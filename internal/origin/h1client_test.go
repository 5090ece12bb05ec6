package origin

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-edge/portico"
)

// rawOrigin is a TLS origin on loopback for the h1Client's tests: each
// request it reads is answered by a script on the raw connection, so that
// it can send what no well-behaved server sends.
type rawOrigin struct {
	addr  string
	roots *x509.CertPool

	accepted atomic.Int32 // connections accepted
	gone     atomic.Int32 // connections the client closed or reset
	closed   atomic.Int32 // connections the origin closed (an answer returned false)
	requests atomic.Int32 // requests read
	got      chan string  // the request lines read, when not nil
}

// answer answers the n-th request (from 1) read on connection c. It
// returns false to close c.
type answer func(o *rawOrigin, c *tls.Conn, n int, req *http.Request) bool

// newRawOrigin serves connections with a certificate for origin.test
// until the test ends, answering each request with a.
func newRawOrigin(tb testing.TB, a answer) *rawOrigin {
	tb.Helper()
	o := &rawOrigin{}
	done := make(chan struct{})
	o.addr, o.roots = serveTLS(tb, "origin.test", func(c *tls.Conn) {
		o.accepted.Add(1)
		br := bufio.NewReader(c)
		for n := 1; ; n++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				o.gone.Add(1)
				return
			}
			o.requests.Add(1)
			if o.got != nil {
				select {
				case o.got <- req.Method + " " + req.RequestURI:
				case <-done:
					return
				}
			}
			if !a(o, c, n, req) {
				c.Close()
				o.closed.Add(1)
				return
			}
		}
	})
	// Registered after serveTLS's, so run before it: a connection blocked
	// handing a request line over returns before serveTLS waits for it.
	tb.Cleanup(func() { close(done) })
	return o
}

// write is an answer that writes raw and keeps the connection open.
func write(raw string) answer {
	return func(_ *rawOrigin, c *tls.Conn, _ int, _ *http.Request) bool {
		io.WriteString(c, raw)
		return true
	}
}

// testKey is the transportKey of the tests' origin, with CloudFront's
// default timeouts.
func testKey() transportKey {
	return transportKey{
		domain: "origin.test", port: 443, minTLS: tls.VersionTLS12, maxTLS: tls.VersionTLS13,
		connect: 10 * time.Second, read: 30 * time.Second, keepalive: 5 * time.Second,
	}
}

// testClient is an h1Client for o, and the number of connections it
// dialed.
func testClient(tb testing.TB, o *rawOrigin, k transportKey) (*h1Client, *atomic.Int32) {
	tb.Helper()
	ts := NewTransports(o.roots, nil)
	dials := new(atomic.Int32)
	ts.Resolve = func(string) string { dials.Add(1); return o.addr }
	tr := ts.get(k)
	tb.Cleanup(ts.CloseIdleConnections)
	return tr.h1, dials
}

// get sends a GET (or method) for path through c and returns the response
// with its body read, or the error.
func get(ctx context.Context, c *h1Client, method, path string) (*http.Response, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, "https://origin.test"+path, nil)
	if err != nil {
		return nil, "", err
	}
	resp, err := c.RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

// TestH1Reuse sends requests in a row through an h1Client and checks what
// each got and which connections carried them: kept-alive ones are used
// again, while a response that does not let its connection be reused, or
// leaves bytes in it, closes it.
func TestH1Reuse(t *testing.T) {
	const ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	tests := []struct {
		name     string
		answer   answer
		method   string // GET when empty
		requests int
		status   int    // of every response
		body     string // of every response
		err      string // every request fails with an error containing it
		conns    int    // connections dialed
		idle     int    // idle connections in the end
	}{
		{name: "Content-Length", answer: write(ok), requests: 5, status: 200, body: "ok", conns: 1, idle: 1},
		{name: "chunked", answer: write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"), requests: 5, status: 200, body: "ok", conns: 1, idle: 1},
		{name: "chunked with trailers", answer: write("HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Sum: 1\r\n\r\n"), requests: 3, status: 200, body: "ok", conns: 1, idle: 1},
		{name: "empty body", answer: write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), requests: 3, status: 200, conns: 1, idle: 1},
		{name: "204", answer: write("HTTP/1.1 204 No Content\r\n\r\n"), requests: 3, status: 204, conns: 1, idle: 1},
		{name: "304", answer: write("HTTP/1.1 304 Not Modified\r\nETag: \"1\"\r\n\r\n"), requests: 3, status: 304, conns: 1, idle: 1},
		{name: "HEAD", method: "HEAD", answer: write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"), requests: 3, status: 200, conns: 1, idle: 1},
		{name: "1xx, then 200", answer: write("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n" + ok), requests: 3, status: 200, body: "ok", conns: 1, idle: 1},

		{name: "Connection: close", answer: write("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"), requests: 3, status: 200, body: "ok", conns: 3},
		{name: "HTTP/1.0", answer: write("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"), requests: 3, status: 200, body: "ok", conns: 3},
		{name: "HTTP/1.0 keep-alive", answer: write("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"), requests: 3, status: 200, body: "ok", conns: 3},
		{name: "body delimited by the close", answer: func(_ *rawOrigin, c *tls.Conn, _ int, _ *http.Request) bool {
			io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nok")
			return false
		}, requests: 3, status: 200, body: "ok", conns: 3},
		{name: "Content-Length and chunked: chunked framing, not reused", answer: write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"), requests: 3, status: 200, body: "ok", conns: 3},
		{name: "bytes past the Content-Length", answer: write(ok + "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"), requests: 3, status: 200, body: "ok", conns: 3},
		{name: "bytes past the last chunk", answer: write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"), requests: 3, status: 200, body: "ok", conns: 3},
		{name: "HEAD answered with a body", method: "HEAD", answer: write(ok), requests: 3, status: 200, conns: 3},

		{name: "duplicate Content-Length with different values", answer: write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!"), requests: 2, err: "multiple Content-Length", conns: 2},
		{name: "status line and fields over 20,480 bytes", answer: write(headerBlock(20481)), requests: 2, err: "exceed 20,480 bytes", conns: 2},
		{name: "more than 5 informational responses", answer: write(strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", 6) + ok), requests: 2, err: "informational", conns: 2},
		{name: "unknown Transfer-Encoding", answer: write("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nok"), requests: 2, err: "unsupported transfer encoding", conns: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newRawOrigin(t, tt.answer)
			c, dials := testClient(t, o, testKey())
			method := tt.method
			if method == "" {
				method = "GET"
			}
			var informational []int
			trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
				informational = append(informational, code)
				return nil
			}}
			ctx := httptrace.WithClientTrace(context.Background(), trace)
			for i := range tt.requests {
				resp, body, err := get(ctx, c, method, "/")
				switch {
				case tt.err != "":
					if err == nil || !strings.Contains(err.Error(), tt.err) {
						t.Fatalf("request %d: %v, want an error with %q", i+1, err, tt.err)
					}
					if transient(err) {
						t.Errorf("request %d: %v is transient: the request would be sent again", i+1, err)
					}
				case err != nil:
					t.Fatalf("request %d: %v", i+1, err)
				case resp.StatusCode != tt.status || body != tt.body:
					t.Fatalf("request %d: %d %q, want %d %q", i+1, resp.StatusCode, body, tt.status, tt.body)
				}
			}
			if got := int(dials.Load()); got != tt.conns {
				t.Errorf("%d requests dialed %d connections, want %d", tt.requests, got, tt.conns)
			}
			if got := c.idleCount(); got != tt.idle {
				t.Errorf("%d idle connections, want %d", got, tt.idle)
			}
			if tt.name == "1xx, then 200" && len(informational) != 2*tt.requests {
				t.Errorf("Got1xxResponse saw %v, want 103 and 100 for each request", informational)
			}
		})
	}
}

// headerBlock returns a 200 response head (status line, fields, blank
// line) of exactly n bytes, with a 2-byte body "ok".
func headerBlock(n int) string {
	head := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: "
	pad := n - len(head) - len("\r\n\r\n")
	return head + strings.Repeat("p", pad) + "\r\n\r\n" + "ok"
}

// TestH1OneHandshake checks, on a real net/http origin, that requests in a
// row share one connection and its one TLS handshake, with either TLS
// version, and that the connection resumes its TLS session once reopened.
func TestH1OneHandshake(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			cert, roots := selfSigned(t, "origin.test")
			var conns, handshakes atomic.Int32
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.TLS.DidResume {
					w.Header().Set("X-Resumed", "1")
				}
				io.WriteString(w, strings.Repeat("x", 1024))
			}))
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: version, VerifyConnection: func(tls.ConnectionState) error {
				handshakes.Add(1)
				return nil
			}}
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.StartTLS()
			t.Cleanup(srv.Close)
			o := &rawOrigin{addr: srv.Listener.Addr().String(), roots: roots}
			c, _ := testClient(t, o, testKey())

			const n = 20
			for i := range n {
				resp, body, err := get(context.Background(), c, "GET", "/")
				if err != nil || resp.StatusCode != 200 || len(body) != 1024 {
					t.Fatalf("request %d: %v %v, %d bytes", i+1, resp, err, len(body))
				}
			}
			if got, hs := conns.Load(), handshakes.Load(); got != 1 || hs != 1 {
				t.Errorf("%d requests: %d connections, %d TLS handshakes; want 1 and 1", n, got, hs)
			}
			c.closeIdle()
			resp, _, err := get(context.Background(), c, "GET", "/")
			if err != nil {
				t.Fatal(err)
			}
			if conns.Load() != 2 || resp.Header.Get("X-Resumed") != "1" || resp.TLS == nil || !resp.TLS.DidResume {
				t.Errorf("after closeIdle: %d connections, resumed %q; want 2 and a resumed TLS session", conns.Load(), resp.Header.Get("X-Resumed"))
			}
		})
	}
}

// TestH1IdleClosedByOrigin checks that a request on an idle connection
// that the origin closed goes over a new connection, whether the close is
// seen before the request is sent or only once it was: the caller never
// sees the failure, even with one connection attempt.
func TestH1IdleClosedByOrigin(t *testing.T) {
	const ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	tests := []struct {
		name   string
		answer answer
	}{
		{"closed after the response", func(_ *rawOrigin, c *tls.Conn, _ int, _ *http.Request) bool {
			io.WriteString(c, ok)
			return false // keep-alive announced, and yet closed
		}},
		{"reset after the response", func(_ *rawOrigin, c *tls.Conn, _ int, _ *http.Request) bool {
			io.WriteString(c, ok)
			c.NetConn().(*net.TCPConn).SetLinger(0)
			c.NetConn().Close()
			return false
		}},
		{"closed on the next request", func(_ *rawOrigin, c *tls.Conn, n int, _ *http.Request) bool {
			if n > 1 {
				return false // the request is read, and never answered
			}
			io.WriteString(c, ok)
			return true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newRawOrigin(t, tt.answer)
			c, dials := testClient(t, o, testKey())
			for i := range 3 {
				// The origin closed the connection of the last request
				// (except in the last row): seen before the request is
				// sent, or only once it was, the caller never knows.
				waitFor(t, func() bool { return o.closed.Load() == o.requests.Load() || tt.name == "closed on the next request" })
				resp, body, err := get(context.Background(), c, "GET", "/")
				if err != nil || resp.StatusCode != 200 || body != "ok" {
					t.Fatalf("request %d: %v, %q", i+1, err, body)
				}
			}
			if got := dials.Load(); got != 3 {
				t.Errorf("3 requests dialed %d connections, want 3", got)
			}
		})
	}
}

// waitFor waits until cond holds, for up to 10 s: a watchdog, not a speed
// check.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met after 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestH1BytesWhileIdle checks that bytes an origin sends on a connection
// while it is idle, answering no request, are never taken for the
// response to the next one.
func TestH1BytesWhileIdle(t *testing.T) {
	sent := make(chan struct{}, 1)
	o := newRawOrigin(t, func(_ *rawOrigin, c *tls.Conn, n int, _ *http.Request) bool {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
		if n == 1 {
			time.Sleep(10 * time.Millisecond) // so that the client reads the first response alone
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled")
			sent <- struct{}{}
		}
		return true
	})
	c, dials := testClient(t, o, testKey())
	if _, body, err := get(context.Background(), c, "GET", "/1"); err != nil || body != "first" {
		t.Fatalf("first request: %v %q", err, body)
	}
	<-sent
	time.Sleep(10 * time.Millisecond) // for the bytes to cross loopback
	_, body, err := get(context.Background(), c, "GET", "/2")
	if err != nil || body != "first" {
		t.Errorf("second request: %v %q, want the origin's answer to it", err, body)
	}
	if got := dials.Load(); got != 2 {
		t.Errorf("%d connections, want 2: the one with stray bytes is not used again", got)
	}
}

// TestH1AbandonedBody checks that a body closed before its end closes its
// connection, which then carries no other request.
func TestH1AbandonedBody(t *testing.T) {
	o := newRawOrigin(t, write("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("a", 100000)))
	c, dials := testClient(t, o, testKey())
	req, _ := http.NewRequest("GET", "https://origin.test/", nil)
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n, err := resp.Body.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("read after Close: %d, %v; want an error", n, err)
	}
	if got := c.idleCount(); got != 0 {
		t.Errorf("%d idle connections after an abandoned body, want 0", got)
	}
	waitFor(t, func() bool { return o.gone.Load() == 1 })
	if _, body, err := get(context.Background(), c, "GET", "/"); err != nil || len(body) != 100000 {
		t.Fatalf("next request: %v, %d bytes", err, len(body))
	}
	if got := dials.Load(); got != 2 {
		t.Errorf("%d connections, want 2", got)
	}
}

// TestH1PoolBounds checks that at most maxIdleConnsPerHost connections
// stay idle, the others closed, and that idle ones are closed after the
// keep-alive timeout.
func TestH1PoolBounds(t *testing.T) {
	const parallel = maxIdleConnsPerHost + 6
	var arrived atomic.Int32
	all := make(chan struct{})
	o := newRawOrigin(t, func(_ *rawOrigin, c *tls.Conn, _ int, _ *http.Request) bool {
		if arrived.Add(1) == parallel {
			close(all)
		}
		<-all
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	k := testKey()
	k.keepalive = 300 * time.Millisecond
	c, dials := testClient(t, o, k)
	var wg sync.WaitGroup
	errs := make(chan error, parallel)
	for range parallel {
		wg.Go(func() {
			if _, body, err := get(context.Background(), c, "GET", "/"); err != nil || body != "ok" {
				errs <- errors.Join(err, errors.New("body "+body))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := dials.Load(); got != parallel {
		t.Fatalf("%d parallel requests dialed %d connections", parallel, got)
	}
	if got := c.idleCount(); got != maxIdleConnsPerHost {
		t.Errorf("%d idle connections, want %d", got, maxIdleConnsPerHost)
	}
	waitFor(t, func() bool { return o.gone.Load() == parallel-maxIdleConnsPerHost })

	// After the keep-alive timeout, the reaper closes them all.
	waitFor(t, func() bool { return c.idleCount() == 0 && o.gone.Load() == parallel })
}

// TestH1ContextEnds checks that the request's context ending aborts a
// request blocked on a silent origin, before and after the response head,
// long before the read timeout, and that the caller gets the context's
// error.
func TestH1ContextEnds(t *testing.T) {
	const head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart"
	tests := []struct {
		name   string
		answer answer
		cause  error
		inBody bool
	}{
		{"silent origin, canceled", func(*rawOrigin, *tls.Conn, int, *http.Request) bool { return true }, context.Canceled, false},
		{"silent origin, deadline", func(*rawOrigin, *tls.Conn, int, *http.Request) bool { return true }, context.DeadlineExceeded, false},
		{"body stalls, canceled", write(head), context.Canceled, true},
		{"body stalls, deadline", write(head), context.DeadlineExceeded, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // the deadline rows wait a second each
			o := newRawOrigin(t, tt.answer)
			o.got = make(chan string, 1)
			k := testKey()
			k.read = time.Hour // only the context can end the wait
			c, _ := testClient(t, o, k)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cause == context.DeadlineExceeded {
				// Ample for the head to come, in the body rows.
				var cancelTimeout context.CancelFunc
				ctx, cancelTimeout = context.WithTimeout(ctx, time.Second)
				defer cancelTimeout()
			}
			req, _ := http.NewRequestWithContext(ctx, "GET", "https://origin.test/", nil)
			if !tt.inBody && tt.cause == context.Canceled {
				go func() {
					<-o.got
					time.Sleep(20 * time.Millisecond) // the client is most likely blocked by now; if not, the outcome is the same
					cancel()
				}()
			}
			done := make(chan error, 1)
			go func() {
				resp, err := c.RoundTrip(req)
				if tt.inBody {
					if err != nil {
						done <- fmt.Errorf("no response head: %w", err)
						return
					}
					if tt.cause == context.Canceled {
						time.AfterFunc(20*time.Millisecond, cancel)
					}
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second): // a watchdog, not a speed check: the read timeout is an hour
				t.Fatal("the request is still blocked 20 s after its context ended")
			}
			if !errors.Is(err, tt.cause) {
				t.Errorf("got %v, want %v", err, tt.cause)
			}
			if got := c.idleCount(); got != 0 {
				t.Errorf("%d idle connections, want the aborted one closed", got)
			}
		})
	}
}

// TestH1RefusesToWrite checks that a request with a field, Host or target
// that would break the message is refused before anything is sent, with
// an error that is not transient and carries no value.
func TestH1RefusesToWrite(t *testing.T) {
	tests := []struct {
		name   string
		modify func(r *http.Request)
	}{
		{"CRLF in a value", func(r *http.Request) { r.Header["X-A"] = []string{"1\r\nX-Injected: s3cr3t"} }},
		{"LF in a value", func(r *http.Request) { r.Header["X-A"] = []string{"1\nX-Injected: s3cr3t"} }},
		{"CR in a value", func(r *http.Request) { r.Header["X-A"] = []string{"1\rs3cr3t"} }},
		{"NUL in a value", func(r *http.Request) { r.Header["X-A"] = []string{"s3cr3t\x00"} }},
		{"CRLF in a name", func(r *http.Request) { r.Header["X-A\r\nX-Injected"] = []string{"1"} }},
		{"colon in a name", func(r *http.Request) { r.Header["X-A: 1\r\nX"] = []string{"1"} }},
		{"empty name", func(r *http.Request) { r.Header[""] = []string{"1"} }},
		{"CRLF in User-Agent", func(r *http.Request) { r.Header["User-Agent"] = []string{"a\r\nX-Injected: s3cr3t"} }},
		{"CRLF in Host", func(r *http.Request) { r.Host = "origin.test\r\nX-Injected: 1" }},
		{"space in Host", func(r *http.Request) { r.Host = "origin.test x" }},
		{"CRLF in the query", func(r *http.Request) { r.URL.RawQuery = "a=1\r\nX-Injected: 1" }},
		{"space in the query", func(r *http.Request) { r.URL.RawQuery = "a=1 HTTP/1.1" }},
	}
	o := newRawOrigin(t, write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	c, dials := testClient(t, o, testKey())
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", "https://origin.test/", nil)
		tt.modify(req)
		_, err := c.RoundTrip(req)
		if err == nil {
			t.Errorf("%s: sent", tt.name)
			continue
		}
		if transient(err) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: %v: transient, or carries the value", tt.name, err)
		}
	}
	if n := dials.Load(); n != 0 {
		t.Errorf("the client dialed %d connections for requests it refused", n)
	}
}

// TestH1Trace checks the httptrace hooks the client calls, in order, for
// a new and for a reused connection.
func TestH1Trace(t *testing.T) {
	o := newRawOrigin(t, write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	c, _ := testClient(t, o, testKey())
	for _, reused := range []bool{false, true} {
		var events []string
		var info httptrace.GotConnInfo
		trace := &httptrace.ClientTrace{
			ConnectStart:         func(string, string) { events = append(events, "ConnectStart") },
			ConnectDone:          func(string, string, error) { events = append(events, "ConnectDone") },
			TLSHandshakeStart:    func() { events = append(events, "TLSHandshakeStart") },
			TLSHandshakeDone:     func(tls.ConnectionState, error) { events = append(events, "TLSHandshakeDone") },
			GotConn:              func(i httptrace.GotConnInfo) { info = i; events = append(events, "GotConn") },
			WroteRequest:         func(httptrace.WroteRequestInfo) { events = append(events, "WroteRequest") },
			GotFirstResponseByte: func() { events = append(events, "GotFirstResponseByte") },
		}
		if _, _, err := get(httptrace.WithClientTrace(context.Background(), trace), c, "GET", "/"); err != nil {
			t.Fatal(err)
		}
		want := "GotConn WroteRequest GotFirstResponseByte"
		if !reused {
			want = "ConnectStart ConnectDone TLSHandshakeStart TLSHandshakeDone " + want
		}
		if got := strings.Join(events, " "); got != want {
			t.Errorf("reused %v: hooks %s, want %s", reused, got, want)
		}
		if info.Reused != reused || info.WasIdle != reused || asIdleTimeoutConn(info.Conn) == nil {
			t.Errorf("GotConn %+v, want Reused and WasIdle %v, and the connection", info, reused)
		}
	}
}

// TestH1ConnectionsKeepTransport checks that the registry keeps the clients
// of an origin setting that no Proxy uses while they hold an idle
// connection, so that a Proxy built meanwhile uses that connection, and
// forgets them once it closed.
func TestH1ConnectionsKeepTransport(t *testing.T) {
	o := newCannedOrigin(t, "origin.test", cannedResponse(2))
	ts := NewTransports(o.roots, nil)
	ts.Resolve = func(string) string { return o.addr }
	serve := func() {
		// A new Proxy each time, as a new configuration snapshot builds
		// one, and dropped at once.
		p := benchProxy(t, o, ts, func(cfg *portico.Origin) { cfg.CustomOriginConfig.OriginKeepaliveTimeout = portico.Ptr(1) })
		w := &sinkWriter{header: make(http.Header)}
		p.ServeHTTP(w, httptest.NewRequest("GET", "https://www.example.com/", nil))
		if w.status != 200 {
			t.Fatalf("status %d", w.status)
		}
	}
	serve()
	for range 3 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // cleanups run on their own goroutine
	}
	if ts.len() != 1 {
		t.Fatal("the registry forgot an origin's clients while they held an idle connection")
	}
	serve()
	if n := o.accepted(); n != 1 {
		t.Errorf("%d origin connections, want the idle one used by the new Proxy", n)
	}
	waitFor(t, func() bool {
		runtime.GC()
		return ts.len() == 0
	})
}
