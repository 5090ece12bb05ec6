package edgeserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawConn is a viewer connection written and read by hand.
type rawConn struct {
	t testing.TB
	net.Conn
	br *bufio.Reader
}

// dialRaw connects to addr from the loopback address src ("" for any).
func dialRaw(t testing.TB, src, addr string) *rawConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, Conn: c, br: bufio.NewReader(c)}
}

// roundTrip writes raw and reads one answer, returning its status and
// body, or the read error.
func (c *rawConn) roundTrip(raw string) (int, string, error) {
	if _, err := io.WriteString(c, raw); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), err
}

// waitClosed reads until the edge ends the connection, failing the test if
// it sends anything or keeps the connection for 10 seconds.
func (c *rawConn) waitClosed() {
	c.t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("the connection is still open after 10s")
	}
	if len(b) > 0 {
		c.t.Fatalf("the edge sent %q before closing", b)
	}
}

func get(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: " + rawHost + "\r\n\r\n"
}

// headOfSize returns a GET head of exactly n bytes, up to and including
// its empty line.
func headOfSize(path string, n int) string {
	base := "GET " + path + " HTTP/1.1\r\nHost: " + rawHost + "\r\nX-Fill: \r\n\r\n"
	return strings.Replace(base, "X-Fill: ", "X-Fill: "+strings.Repeat("f", n-len(base)), 1)
}

// TestHeadSizeLimitIsExact sends heads of 20,479, 20,480 and 20,481 bytes,
// and targets of 8,192 and 8,193 bytes, over HTTP/1.1 and HTTP/2: those
// within CloudFront's quotas are served, the others refused (413, 414).
func TestHeadSizeLimitIsExact(t *testing.T) {
	e := newRawEdge(t)
	tests := []struct {
		name   string
		raw    string
		status int
		closed bool
	}{
		{"head one byte under", headOfSize("/size-under", MaxHeaderBytes-1), 200, false},
		{"head at the limit", headOfSize("/size-at", MaxHeaderBytes), 200, false},
		{"head one byte over", headOfSize("/size-over", MaxHeaderBytes+1), 413, true},
		{"head far over", headOfSize("/size-far", 3*MaxHeaderBytes), 413, true},
		{"URL at the limit", get("/" + strings.Repeat("u", MaxURLBytes-1)), 200, false},
		{"URL one byte over", get("/" + strings.Repeat("v", MaxURLBytes)), 414, true},
		{"URL far over", get("/" + strings.Repeat("w", 4*MaxURLBytes)), 414, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, "", e.httpAddr)
			status, _, err := c.roundTrip(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			if status != tt.status {
				t.Errorf("status %d, want %d", status, tt.status)
			}
			if tt.closed {
				c.waitClosed()
			}
		})
	}

	// HTTP/2: the same quotas, measured as HTTP/1.1 would carry the
	// request.
	client := e.client(rawHost, true)
	for _, tt := range []struct {
		name   string
		fill   int // bytes of the filler header beyond a head at the limit
		path   string
		status int
	}{
		{"HTTP/2 head at the limit", 0, "/h2-size-at", 200},
		{"HTTP/2 head one byte over", 1, "/h2-size-over", 413},
		{"HTTP/2 URL one byte over", 0, "/" + strings.Repeat("x", MaxURLBytes), 414},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "https://"+rawHost+tt.path, nil)
			// Size the filler so that the request, as the edge sees it
			// (with the fields Go's client adds), is at the limit plus fill.
			seen := &http.Request{Method: "GET", RequestURI: tt.path, Host: rawHost, Header: http.Header{
				"X-Fill": {""}, "Accept-Encoding": {"gzip"}, "User-Agent": {"Go-http-client/2.0"}}}
			req.Header.Set("X-Fill", strings.Repeat("f", MaxHeaderBytes-headSize(seen)+tt.fill))
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.ProtoMajor != 2 || resp.StatusCode != tt.status {
				t.Errorf("%s %d, want HTTP/2 %d", resp.Proto, resp.StatusCode, tt.status)
			}
		})
	}
}

// TestBodyLimitPerMethod configures per-method body limits: a declared
// length over its method's limit gets 413 and a closed connection before
// the origin sees anything; a chunked body over it never reaches the
// origin in full.
func TestBodyLimitPerMethod(t *testing.T) {
	e := newRawEdgeWith(t, Limits{MaxBodyBytes: map[string]int64{"POST": 10, "*": 5}})
	body := func(n int) string { return strings.Repeat("b", n) }
	tests := []struct {
		name   string
		raw    string
		status int
		origin bool
	}{
		{"POST at its limit", "POST /b1 HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length: 10\r\n\r\n" + body(10), 200, true},
		{"POST over its limit", "POST /b2 HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length: 11\r\n\r\n" + body(11), 413, false},
		{"PUT at the default limit", "PUT /b3 HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length: 5\r\n\r\n" + body(5), 200, true},
		{"DELETE over the default limit", "DELETE /b4 HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length: 6\r\n\r\n" + body(6), 413, false},
		{"chunked POST over its limit", "POST /b5 HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n" + body(11) + "\r\n0\r\n\r\n", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.origin.reset()
			c := dialRaw(t, "", e.httpAddr)
			status, _, err := c.roundTrip(tt.raw)
			switch {
			case tt.status == 0:
				// The origin request fails; the status is the origin
				// proxy's, whatever it is, as long as it is no success.
				if err == nil && status < 400 {
					t.Errorf("status %d, want an error", status)
				}
			case err != nil:
				t.Fatal(err)
			case status != tt.status:
				t.Errorf("status %d, want %d", status, tt.status)
			}
			if got := e.origin.complete(""); (len(got) > 0) != tt.origin {
				t.Errorf("the origin received %q, want a request: %v", got, tt.origin)
			}
			if tt.status != 200 {
				c.waitClosed()
			}
		})
	}
	lim := (&Server{}).limits()
	for method, want := range map[string]int64{"POST": MaxUploadBytes, "PUT": MaxUploadBytes, "PATCH": MaxUploadBytes,
		"DELETE": MaxOtherBodyBytes, "OPTIONS": MaxOtherBodyBytes, "get": MaxOtherBodyBytes} {
		if got := lim.maxBody(method); got != want {
			t.Errorf("default limit for %s = %d, want %d", method, got, want)
		}
	}
}

// TestSlowClientsAreCutOff dribbles request heads (slowloris, on a new
// connection and on a keep-alive one) and bodies, over HTTP/1.1 and
// HTTP/2, with short timeouts: each slow connection or stream is ended,
// the origin never gets the slow request, and another viewer is served all
// along.
func TestSlowClientsAreCutOff(t *testing.T) {
	e := newRawEdgeWith(t, Limits{ReadHeaderTimeout: 300 * time.Millisecond, BodyReadTimeout: 300 * time.Millisecond})
	dribble := func(c *rawConn, s string, stop <-chan struct{}) {
		for i := range len(s) {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := c.Write([]byte{s[i]}); err != nil {
				return
			}
		}
	}
	served := func() {
		t.Helper()
		c := dialRaw(t, "", e.httpAddr)
		if status, body, err := c.roundTrip(get("/meanwhile")); err != nil || status != 200 {
			t.Errorf("another viewer got %d %q, %v; want 200", status, body, err)
		}
	}
	slowHead := "GET /slowloris HTTP/1.1\r\nHost: raw.example.com\r\n" + strings.Repeat("X-Slow: 1\r\n", 100) + "\r\n"

	t.Run("slowloris on a new connection", func(t *testing.T) {
		stop := make(chan struct{})
		defer close(stop)
		c := dialRaw(t, "", e.httpAddr)
		go dribble(c, slowHead, stop)
		served()
		c.waitClosed()
	})
	t.Run("slowloris on a keep-alive connection", func(t *testing.T) {
		stop := make(chan struct{})
		defer close(stop)
		c := dialRaw(t, "", e.httpAddr)
		if status, _, err := c.roundTrip(get("/first")); err != nil || status != 200 {
			t.Fatalf("first request: %d, %v", status, err)
		}
		go dribble(c, slowHead, stop)
		served()
		c.waitClosed()
	})
	t.Run("slow body", func(t *testing.T) {
		c := dialRaw(t, "", e.httpAddr)
		io.WriteString(c, "POST /slow-body HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length: 100\r\n\r\n0123456789")
		served()
		// Whatever the origin answers to the broken upload passes on;
		// then the connection closes.
		if resp, err := http.ReadResponse(c.br, nil); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		c.waitClosed()
	})
	t.Run("slow body over HTTP/2", func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close()
		go pw.Write([]byte("0123456789")) // then nothing
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", "https://"+rawHost+"/slow-body-h2", pr)
		req.ContentLength = 100
		client := e.client(rawHost, true)
		client.Timeout = 0
		resp, err := client.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if ctx.Err() != nil {
			t.Fatalf("the stream was not ended within 10s: %v", err)
		}
		served()
	})
	if got := e.origin.complete("/meanwhile"); len(got) > 1 || len(got) == 1 && got[0] != "GET /first" {
		t.Errorf("the origin received %q in full", got)
	}
}

// TestRequestsPerConnectionCap serves MaxRequestsPerConn requests on one
// keep-alive connection, the last with "Connection: close", then closes it.
func TestRequestsPerConnectionCap(t *testing.T) {
	e := newRawEdgeWith(t, Limits{MaxRequestsPerConn: 3})
	c := dialRaw(t, "", e.httpAddr)
	for i := range 3 {
		io.WriteString(c, get("/keep-"+strconv.Itoa(i)))
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close != (i == 2) {
			t.Errorf("request %d: status %d, Connection: close %v", i+1, resp.StatusCode, resp.Close)
		}
	}
	io.WriteString(c, get("/keep-3"))
	c.waitClosed()
}

// TestPerIPConnectionCap opens the cap's worth of connections from one
// address to each listener: the next one from that address is closed
// unanswered, another address is served, and a slot freed by a close is
// taken again.
func TestPerIPConnectionCap(t *testing.T) {
	const limit = 3
	e := newRawEdgeWith(t, Limits{MaxConnsPerIP: limit})
	for _, listener := range []string{"http", "https"} {
		t.Run(listener, func(t *testing.T) {
			dial := func(src string) *rawConn { return dialRaw(t, src, e.httpAddr) }
			if listener == "https" {
				dial = func(src string) *rawConn {
					c := dialRaw(t, src, e.httpsAddr)
					tc := tls.Client(c.Conn, &tls.Config{ServerName: rawHost, RootCAs: e.viewerCA.pool, NextProtos: []string{"http/1.1"}})
					tc.Handshake() // fails on a refused connection
					return &rawConn{t: t, Conn: tc, br: bufio.NewReader(tc)}
				}
			}
			var open []*rawConn
			for i := range limit {
				c := dial("127.0.0.2")
				if status, _, err := c.roundTrip(get("/cap-" + listener + strconv.Itoa(i))); err != nil || status != 200 {
					t.Fatalf("connection %d: %d, %v", i+1, status, err)
				}
				open = append(open, c)
			}
			over := dial("127.0.0.2")
			if status, _, err := over.roundTrip(get("/cap-over")); err == nil {
				t.Errorf("connection over the cap answered %d", status)
			}
			other := dial("127.0.0.3")
			if status, _, err := other.roundTrip(get("/cap-other")); err != nil || status != 200 {
				t.Errorf("another address: %d, %v; want 200", status, err)
			}
			open[0].Close()
			deadline := time.Now().Add(10 * time.Second)
			for {
				c := dial("127.0.0.2")
				status, _, err := c.roundTrip(get("/cap-again"))
				c.Close()
				if err == nil && status == 200 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no connection from 127.0.0.2 served within 10s of closing one: %d, %v", status, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
