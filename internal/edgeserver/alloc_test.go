package edgeserver

import (
	"net"
	"net/http"
	"testing"
)

// TestRouteDoesNotAllocate runs the pipeline's steps for requests that
// pass them all, over HTTP/1.1 and HTTP/2: none allocates.
func TestRouteDoesNotAllocate(t *testing.T) {
	e := newRawEdge(t)
	p := e.server.newPipeline(true)
	for _, proto := range []int{1, 2} {
		r, _ := http.NewRequest("GET", "https://"+rawHost+"/static/app.js?v=1", nil)
		r.RequestURI = "/static/app.js?v=1"
		r.ProtoMajor = proto
		r.Header.Set("Accept", "*/*")
		if h, err := p.route(r); err != nil || h == nil {
			t.Fatalf("HTTP/%d: route: %v", proto, err)
		}
		if allocs := testing.AllocsPerRun(100, func() { p.route(r) }); allocs != 0 {
			t.Errorf("HTTP/%d: route allocated %v times per run, want 0", proto, allocs)
		}
	}
}

// TestGuardDoesNotAllocatePerRequest checks a keep-alive request head and
// its chunked body: the guard parses them without allocating.
func TestGuardDoesNotAllocatePerRequest(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	g := newGuardConn(b, (&Server{}).limits())
	req := []byte("POST /api/login?x=1 HTTP/1.1\r\nHost: login.example.com\r\nUser-Agent: test\r\n" +
		"Cookie: a=b; c=d\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n")
	g.buf = make([]byte, 0, guardBufSize)
	run := func() {
		g.buf = append(g.buf[:0], req...)
		g.out, g.ok, g.st = 0, 0, stHead
		g.advance()
	}
	run()
	if g.ok != len(req) || g.st != stHead || g.requests != 1 {
		t.Fatalf("the guard took %d of %d bytes, state %d, %d requests", g.ok, len(req), g.st, g.requests)
	}
	if allocs := testing.AllocsPerRun(100, run); allocs != 0 {
		t.Errorf("the guard allocated %v times per request, want 0", allocs)
	}
}

func BenchmarkGuardRequest(b *testing.B) {
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	g := newGuardConn(c2, (&Server{}).limits())
	req := []byte("GET /static/app.js?v=1 HTTP/1.1\r\nHost: login.example.com\r\nUser-Agent: Mozilla/5.0\r\n" +
		"Accept: */*\r\nAccept-Encoding: gzip, br\r\nCookie: session=abc\r\n\r\n")
	g.buf = make([]byte, 0, guardBufSize)
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		g.buf = append(g.buf[:0], req...)
		g.out, g.ok, g.st = 0, 0, stHead
		g.advance()
	}
}
