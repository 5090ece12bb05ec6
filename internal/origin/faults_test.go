package origin_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/origin"
	"github.com/portico-edge/portico/internal/testlog"
)

// scriptedOrigin is a TLS origin for fault injection. It reads each request
// and lets a script answer on the raw connection, so that it can send what
// no well-behaved server sends: garbage, broken framing, resets, silence.
type scriptedOrigin struct {
	addr string
	// viewerHasHeaders is closed by the test once the viewer has the
	// response headers. A script waits for it before it breaks the body
	// off, so that the break cannot overtake the headers.
	viewerHasHeaders chan struct{}
	done             chan struct{} // closed when the test ends

	mu    sync.Mutex
	conns []net.Conn
}

// script answers one request on c. It returns false to stop reading
// requests from c.
type script func(o *scriptedOrigin, c *tls.Conn) bool

func newFaultOrigin(t testing.TB) *scriptedOrigin {
	return &scriptedOrigin{viewerHasHeaders: make(chan struct{}), done: make(chan struct{})}
}

// serve accepts connections on ln and has each served by serveConn, until
// the test ends.
func (o *scriptedOrigin) serve(t testing.TB, ln net.Listener, serveConn func(net.Conn)) {
	o.addr = ln.Addr().String()
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(o.done)
		ln.Close()
		o.mu.Lock()
		for _, c := range o.conns {
			c.Close()
		}
		o.mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			o.mu.Lock()
			o.conns = append(o.conns, c)
			o.mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				serveConn(c)
			})
		}
	})
}

// answering is an origin with a valid certificate whose requests s answers.
func answering(s script) func(t testing.TB, ca *testCA) *scriptedOrigin {
	return func(t testing.TB, ca *testCA) *scriptedOrigin {
		cert := ca.leaf(t, originDomain)
		return presenting(func(testing.TB, *testCA) tls.Certificate { return cert }, 0, s)(t, ca)
	}
}

// presenting is an origin with the certificate cert returns, speaking TLS
// up to maxVersion (0: 1.3), whose requests s answers.
func presenting(cert func(testing.TB, *testCA) tls.Certificate, maxVersion uint16, s script) func(t testing.TB, ca *testCA) *scriptedOrigin {
	return func(t testing.TB, ca *testCA) *scriptedOrigin {
		o := newFaultOrigin(t)
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert(t, ca)}, MaxVersion: maxVersion})
		if err != nil {
			t.Fatal(err)
		}
		o.serve(t, ln, func(c net.Conn) {
			tc := c.(*tls.Conn)
			br := bufio.NewReader(tc)
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				if !s(o, tc) {
					return
				}
			}
		})
		return o
	}
}

// refusing is an address where nothing listens.
func refusing(t testing.TB, _ *testCA) *scriptedOrigin {
	o := newFaultOrigin(t)
	o.addr = deadAddr(t)
	t.Cleanup(func() { close(o.done) })
	return o
}

// mute accepts TCP connections and never says a word: no TLS handshake.
func mute(t testing.TB, _ *testCA) *scriptedOrigin {
	o := newFaultOrigin(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.serve(t, ln, func(net.Conn) { <-o.done })
	return o
}

// awaitViewer waits until the viewer has the response headers.
func (o *scriptedOrigin) awaitViewer() {
	select {
	case <-o.viewerHasHeaders:
	case <-o.done:
	}
}

// stall keeps the connection open and silent until the test ends.
func (o *scriptedOrigin) stall() { <-o.done }

// reset closes c with a TCP reset (no TLS close_notify, no FIN).
func reset(c *tls.Conn) {
	tcp := c.NetConn().(*net.TCPConn)
	tcp.SetLinger(0)
	tcp.Close()
}

// reply answers with raw bytes and keeps the connection open.
func reply(raw string) script {
	return func(_ *scriptedOrigin, c *tls.Conn) bool {
		io.WriteString(c, raw)
		return true
	}
}

// breakBody sends head (status line and headers) and part of a body, waits
// until the viewer has the headers, then breaks off with end.
func breakBody(head, part string, end func(o *scriptedOrigin, c *tls.Conn)) script {
	return func(o *scriptedOrigin, c *tls.Conn) bool {
		io.WriteString(c, head+part)
		o.awaitViewer()
		end(o, c)
		return false
	}
}

func resetConn(_ *scriptedOrigin, c *tls.Conn) { reset(c) }
func closeConn(_ *scriptedOrigin, c *tls.Conn) { c.Close() }
func stallConn(o *scriptedOrigin, _ *tls.Conn) { o.stall() }

// headerBlock returns a 200 response head (status line, fields, blank line)
// of exactly n bytes, with a 2-byte body "ok".
func headerBlock(n int) string {
	head := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: "
	pad := n - len(head) - len("\r\n\r\n")
	return head + strings.Repeat("p", pad) + "\r\n\r\n" + "ok"
}

// errorRecorder is a ResponseWriter that implements origin.ErrorWriter as
// a cache without a stale copy does: it notes the failure and lets the
// Proxy answer.
type errorRecorder struct {
	http.ResponseWriter
	got *atomic.Pointer[origin.Error]
}

func (w *errorRecorder) OriginError(err *origin.Error) bool {
	w.got.Store(err)
	return false
}

func (w *errorRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Sizes for broken bodies: more than the edge buffers before it sends the
// headers, less than the promised length.
const (
	partLen    = 16 << 10
	promiseLen = 100000
)

// TestOriginFaults injects each kind of origin failure and checks what the
// viewer gets (the status, or an aborted response once the headers have
// gone out), whether Portico marked the answer as its own (X-Cache "Error
// from portico" and a call to ErrorWriter), and how many times it tried
// the origin: GET and HEAD up to ConnectionAttempts times when the failure
// is transient, other methods once. The table is the one in the package
// documentation.
func TestOriginFaults(t *testing.T) {
	okHead := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	lengthHead := okHead + "Content-Length: " + strconv.Itoa(promiseLen) + "\r\n\r\n"
	chunkedHead := okHead + "Transfer-Encoding: chunked\r\n\r\n"
	part := strings.Repeat("a", partLen)
	chunk := strconv.FormatInt(partLen, 16) + "\r\n" + part + "\r\n"
	fromOtherCA := func(t testing.TB, _ *testCA) tls.Certificate { return newTestCA(t).leaf(t, originDomain) }
	forOtherName := func(t testing.TB, ca *testCA) tls.Certificate { return ca.leaf(t, "other.test") }
	expired := func(t testing.TB, ca *testCA) tls.Certificate {
		return ca.leafValid(t, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour), originDomain)
	}
	valid := func(t testing.TB, ca *testCA) tls.Certificate { return ca.leaf(t, originDomain) }
	// Rows keep CloudFront's default timeouts (10 s to connect, 30 s to
	// read), so that a loaded machine cannot turn a fault into a timeout,
	// except those that test a timeout.
	shortConnect := func(o *portico.Origin) { o.ConnectionTimeout = portico.Ptr(1) }
	shortRead := func(o *portico.Origin) { o.CustomOriginConfig.OriginReadTimeout = portico.Ptr(1) }
	completion := func(o *portico.Origin) {
		// The completion timeout strikes first, and ends the retries.
		o.CustomOriginConfig.OriginReadTimeout = portico.Ptr(3)
		o.ConnectionAttempts = portico.Ptr(3)
		o.ResponseCompletionTimeout = portico.Ptr(1)
	}

	tests := []struct {
		name     string
		origin   func(testing.TB, *testCA) *scriptedOrigin
		method   string // GET when empty
		config   func(*portico.Origin)
		status   int
		aborted  bool   // the body breaks off after the headers
		body     string // the whole body, for an origin response passed on
		attempts int    // connections the Proxy opened to the origin
	}{
		// Reaching the origin.
		{name: "connection refused", origin: refusing, status: 502, attempts: 2},
		{name: "connection refused, POST not retried", origin: refusing, method: "POST", status: 502, attempts: 1},
		{name: "certificate from an unknown CA", origin: presenting(fromOtherCA, 0, reply("HTTP/1.1 200 OK\r\n\r\n")), status: 502, attempts: 1},
		{name: "certificate for another name", origin: presenting(forOtherName, 0, reply("HTTP/1.1 200 OK\r\n\r\n")), status: 502, attempts: 1},
		{name: "expired certificate", origin: presenting(expired, 0, reply("HTTP/1.1 200 OK\r\n\r\n")), status: 502, attempts: 1},
		{name: "origin below TLS 1.2", origin: presenting(valid, tls.VersionTLS11, reply("HTTP/1.1 200 OK\r\n\r\n")), status: 502, attempts: 1},
		{name: "no TLS handshake within the connection timeout", origin: mute, config: shortConnect, status: 504, attempts: 2},
		{name: "no TLS handshake within the connection timeout, POST not retried", origin: mute, config: shortConnect, method: "POST", status: 504, attempts: 1},

		// Before the response headers are complete.
		{name: "closed before any response", origin: answering(func(_ *scriptedOrigin, c *tls.Conn) bool { c.Close(); return false }), status: 502, attempts: 2},
		{name: "reset before any response", origin: answering(func(_ *scriptedOrigin, c *tls.Conn) bool { reset(c); return false }), status: 502, attempts: 2},
		{name: "reset before any response, HEAD retried", origin: answering(func(_ *scriptedOrigin, c *tls.Conn) bool { reset(c); return false }), method: "HEAD", status: 502, attempts: 2},
		{name: "reset before any response, POST not retried", origin: answering(func(_ *scriptedOrigin, c *tls.Conn) bool { reset(c); return false }), method: "POST", status: 502, attempts: 1},
		{name: "reset after whole header lines", origin: answering(func(_ *scriptedOrigin, c *tls.Conn) bool { io.WriteString(c, okHead); reset(c); return false }), status: 502, attempts: 2},
		{name: "reset inside the status line, not retried", origin: answering(func(_ *scriptedOrigin, c *tls.Conn) bool { io.WriteString(c, "HTTP/1."); reset(c); return false }), status: 502, attempts: 1},
		{name: "reset inside a header line, not retried", origin: answering(func(_ *scriptedOrigin, c *tls.Conn) bool {
			io.WriteString(c, okHead+"Content-Le")
			reset(c)
			return false
		}), status: 502, attempts: 1},
		{name: "no response headers within the read timeout", origin: answering(func(o *scriptedOrigin, _ *tls.Conn) bool { o.stall(); return false }), config: shortRead, status: 504, attempts: 2},
		{name: "half the headers, then silence past the read timeout", origin: answering(func(o *scriptedOrigin, c *tls.Conn) bool { io.WriteString(c, okHead); o.stall(); return false }), config: shortRead, status: 504, attempts: 2},
		{name: "no response headers within the read timeout, POST not retried", origin: answering(func(o *scriptedOrigin, _ *tls.Conn) bool { o.stall(); return false }), method: "POST", config: shortRead, status: 504, attempts: 1},
		{name: "no response headers within the response completion timeout", origin: answering(func(o *scriptedOrigin, _ *tls.Conn) bool { o.stall(); return false }), config: completion, status: 504, attempts: 1},

		// Invalid responses.
		{name: "garbage status line", origin: answering(reply("SMTP ready\r\n\r\n")), status: 502, attempts: 1},
		{name: "status code not a number", origin: answering(reply("HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n")), status: 502, attempts: 1},
		{name: "invalid Content-Length", origin: answering(reply(okHead + "Content-Length: 5x\r\n\r\nhello")), status: 502, attempts: 1},
		{name: "negative Content-Length", origin: answering(reply(okHead + "Content-Length: -5\r\n\r\nhello")), status: 502, attempts: 1},
		{name: "conflicting Content-Length fields", origin: answering(reply(okHead + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")), status: 502, attempts: 1},
		{name: "conflicting Content-Length values in one field", origin: answering(reply(okHead + "Content-Length: 5, 6\r\n\r\nhello!")), status: 502, attempts: 1},
		{name: "unknown Transfer-Encoding", origin: answering(reply(okHead + "Transfer-Encoding: gzip\r\n\r\nhello")), status: 502, attempts: 1},
		{name: "header line without a colon", origin: answering(reply(okHead + "Content-Length 0\r\n\r\n")), status: 502, attempts: 1},
		{name: "status line and headers of 20,480 bytes", origin: answering(reply(headerBlock(20480))), status: 200, body: "ok", attempts: 1},
		{name: "status line and headers of 20,481 bytes", origin: answering(reply(headerBlock(20481))), status: 502, attempts: 1},
		{name: "101 to a request that asked for no upgrade", origin: answering(reply("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")), status: 502, attempts: 1},

		// Responses, passed on as they are.
		{name: "origin 500 passed on", origin: answering(reply("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 12\r\n\r\norigin error")), status: 500, body: "origin error", attempts: 1},
		{name: "origin 502 passed on, not marked as Portico's", origin: answering(reply("HTTP/1.1 502 Bad Gateway\r\nX-Cache: Error from portico\r\nContent-Length: 10\r\n\r\norigin 502")), status: 502, body: "origin 502", attempts: 1},
		{name: "origin 504 passed on, not marked as Portico's", origin: answering(reply("HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 10\r\n\r\norigin 504")), status: 504, body: "origin 504", attempts: 1},
		{name: "body longer than its Content-Length: the promised bytes only", origin: answering(reply(okHead + "Content-Length: 5\r\n\r\nhello, and more")), status: 200, body: "hello", attempts: 1},
		{name: "chunked framing wins over Content-Length", origin: answering(reply(okHead + "Transfer-Encoding: chunked\r\nContent-Length: 100\r\n\r\n5\r\nhello\r\n0\r\n\r\n")), status: 200, body: "hello", attempts: 1},

		// The body breaks off after the headers went out.
		{name: "reset in the body (Content-Length)", origin: answering(breakBody(lengthHead, part, resetConn)), status: 200, aborted: true, attempts: 1},
		{name: "reset in the body (chunked)", origin: answering(breakBody(chunkedHead, chunk, resetConn)), status: 200, aborted: true, attempts: 1},
		{name: "closed short of the Content-Length", origin: answering(breakBody(lengthHead, part, closeConn)), status: 200, aborted: true, attempts: 1},
		{name: "closed before the last chunk", origin: answering(breakBody(chunkedHead, chunk, closeConn)), status: 200, aborted: true, attempts: 1},
		{name: "invalid chunk size", origin: answering(breakBody(chunkedHead, chunk, func(_ *scriptedOrigin, c *tls.Conn) { io.WriteString(c, "zz\r\nhello\r\n") })), status: 200, aborted: true, attempts: 1},
		{name: "gap in the body past the read timeout (Content-Length)", origin: answering(breakBody(lengthHead, part, stallConn)), config: shortRead, status: 200, aborted: true, attempts: 1},
		{name: "gap in the body past the read timeout (chunked)", origin: answering(breakBody(chunkedHead, chunk, stallConn)), config: shortRead, status: 200, aborted: true, attempts: 1},
		{name: "body past the response completion timeout", origin: answering(breakBody(chunkedHead, chunk, stallConn)), config: completion, status: 200, aborted: true, attempts: 1},
	}
	// Set every fault up, then inject them all at once (most rows wait
	// out a timeout), then judge each row.
	ca := newTestCA(t)
	runs := make([]*faultRun, len(tests))
	for i, tt := range tests {
		cfg := originConfig()
		cfg.ConnectionAttempts = portico.Ptr(2)
		if tt.config != nil {
			tt.config(cfg)
		}
		runs[i] = newFaultRun(t, ca, tt.origin(t, ca), cfg, cmp.Or(tt.method, "GET"))
	}
	var wg sync.WaitGroup
	slots := make(chan struct{}, 8) // enough to overlap the waits, not so many that TLS handshakes starve
	for _, run := range runs {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			run.inject()
		})
	}
	wg.Wait()

	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := runs[i]
			if run.err != nil {
				t.Fatalf("the viewer got no response: %v", run.err)
			}
			resp, body := run.resp, run.body
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			switch {
			case tt.aborted && run.readErr == nil:
				t.Errorf("the viewer read %d bytes and a clean end, want the response aborted", len(body))
			case tt.aborted && len(body) >= promiseLen:
				t.Errorf("the viewer read %d bytes of an aborted response", len(body))
			case !tt.aborted && run.readErr != nil:
				t.Errorf("reading the body: %v, want a complete response", run.readErr)
			}
			if got := int(run.dials.Load()); got != tt.attempts {
				t.Errorf("the Proxy connected to the origin %d times, want %d", got, tt.attempts)
			}

			logs := run.logs.String()
			generated := !tt.aborted && tt.body == ""
			e := run.marked.Load()
			if generated {
				if got := resp.Header.Get("X-Cache"); got != "Error from portico" {
					t.Errorf("X-Cache = %q, want Error from portico", got)
				}
				if e == nil || e.Status != tt.status {
					t.Errorf("ErrorWriter got %v, want an *origin.Error with status %d", e, tt.status)
				} else if e.Timeout() != (tt.status == 504) {
					t.Errorf("Error.Timeout() = %v for status %d", e.Timeout(), tt.status)
				}
				if run.method != "HEAD" && (!bytes.Contains(body, []byte("The request could not be satisfied")) || !bytes.Contains(body, []byte(requestID))) {
					t.Errorf("the error page lacks CloudFront's text or the request ID:\n%s", body)
				}
				if !strings.Contains(logs, "origin request failed") {
					t.Errorf("the failure was not logged:\n%s", logs)
				}
			} else {
				if e != nil {
					t.Errorf("ErrorWriter was told of %v for a response the origin sent", e)
				}
				if got := resp.Header.Get("X-Cache"); got != "" {
					t.Errorf("X-Cache = %q on the origin's own response", got)
				}
				if !tt.aborted && string(body) != tt.body {
					t.Errorf("body = %q, want %q", body, tt.body)
				}
			}
			if bytes.Contains(body, []byte(secret)) || strings.Contains(logs, secret) {
				t.Error("the custom header's secret value leaked into the page or the log")
			}
		})
	}
}

// faultRun is one viewer request through a Proxy to a faulty origin, and
// what came of it.
type faultRun struct {
	origin *scriptedOrigin
	edge   string
	method string

	dials  atomic.Int32                 // connections to the origin
	marked atomic.Pointer[origin.Error] // what ErrorWriter was told
	logs   testlog.Buffer               // the Proxy's log

	resp    *http.Response
	body    []byte
	err     error // no response at all
	readErr error // reading the body
}

// newFaultRun wires a Proxy for cfg to o behind an edge that hands it an
// ErrorWriter.
func newFaultRun(t *testing.T, ca *testCA, o *scriptedOrigin, cfg *portico.Origin, method string) *faultRun {
	t.Helper()
	run := &faultRun{origin: o, method: method}
	log := slog.New(slog.NewTextHandler(&run.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tr := origin.NewTransports(ca.pool, log)
	tr.Resolve = func(string) string { run.dials.Add(1); return o.addr }
	p, err := newProxy(cfg, behavior(forwarded(true, []string{"all"})), tr, log)
	if err != nil {
		t.Fatal(err)
	}
	edge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.ServeHTTP(&errorRecorder{ResponseWriter: w, got: &run.marked}, r.WithContext(origin.WithRequestInfo(r.Context(), &origin.RequestInfo{ID: requestID})))
	}))
	edge.Config.ErrorLog = quiet
	t.Cleanup(edge.Close)
	run.edge = edge.URL
	return run
}

// inject sends the viewer's request and reads the answer. It runs on a
// goroutine of its own, and so reports rather than fails.
func (run *faultRun) inject() {
	var body io.Reader
	if run.method == "POST" {
		body = strings.NewReader("form=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a watchdog, not a speed check
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, run.method, run.edge+"/authorize?client_id=c", body)
	if err != nil {
		run.err = err
		return
	}
	run.resp, run.err = viewer.RoundTrip(req)
	close(run.origin.viewerHasHeaders)
	if run.err != nil {
		return
	}
	run.body, run.readErr = io.ReadAll(run.resp.Body)
	run.resp.Body.Close()
}

// TestExcessBodyNotForwarded checks that bytes an origin sends past its
// Content-Length never reach a viewer, neither with the response they
// follow nor as the response to a later request: the origin below follows
// every response with a second, unrequested one, and each of many requests
// in a row must get a response of its own. (net/http discards such a
// connection when it notices the bytes while the connection is idle, but
// a request may take the connection first: a race, run here many times.)
func TestExcessBodyNotForwarded(t *testing.T) {
	const requests = 100
	ca := newTestCA(t)
	o := answering(reply("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"+
		"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"))(t, ca)
	var dials atomic.Int32
	tr := origin.NewTransports(ca.pool, nil)
	tr.Resolve = func(string) string { dials.Add(1); return o.addr }
	p, err := newProxy(originConfig(), behavior(forwarded(false, nil)), tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newEdge(t, p)
	for i := range requests {
		resp, body := do(t, newRequest(t, "GET", e.URL+"/", nil))
		if resp.StatusCode != 200 || string(body) != "hello" {
			t.Fatalf("request %d: %d %q, want 200 hello", i+1, resp.StatusCode, body)
		}
	}
	if got := dials.Load(); got != requests {
		t.Errorf("%d origin connections for %d requests: a connection with bytes past a response was used again", got, requests)
	}
}

// TestErrorWriterAnswers checks that an ErrorWriter that answers for a
// failed origin itself, as a cache with a stale copy does, gets the
// failure and the last word: the Proxy writes nothing.
func TestErrorWriterAnswers(t *testing.T) {
	ca := newTestCA(t)
	for _, tt := range []struct {
		name   string
		addr   string
		status int
	}{
		{"origin down", deadAddr(t), 502},
		{"origin silent", answering(func(o *scriptedOrigin, _ *tls.Conn) bool { o.stall(); return false })(t, ca).addr, 504},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := impatient()
			cfg.ConnectionAttempts = portico.Ptr(1)
			p, err := newProxy(cfg, behavior(forwarded(false, nil)), newTransports(ca, tt.addr, nil), nil)
			if err != nil {
				t.Fatal(err)
			}
			var got *origin.Error
			stale := &staleWriter{ResponseWriter: httptest.NewRecorder(), got: &got}
			p.ServeHTTP(stale, httptest.NewRequest("GET", "https://login.example.com/logo.png", nil))
			rec := stale.ResponseWriter.(*httptest.ResponseRecorder)
			if got == nil || got.Status != tt.status {
				t.Fatalf("OriginError got %v, want status %d", got, tt.status)
			}
			if rec.Code != 200 || rec.Body.String() != "stale copy" || rec.Header().Get("X-Cache") != "Hit from portico" {
				t.Errorf("viewer got %d %q X-Cache %q, want the stale copy alone", rec.Code, rec.Body, rec.Header().Get("X-Cache"))
			}
			if errors.Unwrap(got) == nil || !strings.HasPrefix(got.Error(), "origin: "+strconv.Itoa(tt.status)+": ") {
				t.Errorf("the *origin.Error does not carry its cause: %q", got)
			}
		})
	}
}

// staleWriter answers for a failed origin with a stale copy, as the cache
// does under stale-if-error.
type staleWriter struct {
	http.ResponseWriter
	got **origin.Error
}

func (w *staleWriter) OriginError(err *origin.Error) bool {
	*w.got = err
	w.Header().Set("X-Cache", "Hit from portico")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "stale copy")
	return true
}

// TestBrokenBodyPanicsWithoutServer checks that a body breaking off aborts
// the response with http.ErrAbortHandler even when no http.Server runs the
// Proxy (a cache calling it directly), so that no caller takes the
// truncated body for a whole one.
func TestBrokenBodyPanicsWithoutServer(t *testing.T) {
	ca := newTestCA(t)
	o := answering(breakBody("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", "only part", resetConn))(t, ca)
	close(o.viewerHasHeaders)
	p, err := newProxy(originConfig(), behavior(forwarded(false, nil)), newTransports(ca, o.addr, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r != http.ErrAbortHandler {
			t.Errorf("ServeHTTP recovered %v, want http.ErrAbortHandler", r)
		}
	}()
	p.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "https://login.example.com/", nil))
	t.Error("ServeHTTP returned normally after the body broke off")
}
