package edgeserver

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// discardConn is a connection whose writes go nowhere, for the fast
// path's benchmarks and allocation tests.
type discardConn struct{ written int64 }

func (c *discardConn) Read([]byte) (int, error)    { return 0, io.EOF }
func (c *discardConn) Write(p []byte) (int, error) { c.written += int64(len(p)); return len(p), nil }
func (c *discardConn) Close() error                { return nil }
func (c *discardConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }
func (c *discardConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *discardConn) SetDeadline(time.Time) error      { return nil }
func (c *discardConn) SetReadDeadline(time.Time) error  { return nil }
func (c *discardConn) SetWriteDeadline(time.Time) error { return nil }

// fastHitConn returns a fast connection, writing nowhere, of an edge whose
// cache holds path, and the head of a GET for it (as wrk sends it).
func fastHitConn(tb testing.TB, path string, accessLog bool) (*fastConn, []byte) {
	tb.Helper()
	e := newDiffEdge(tb, Limits{})
	e.exchangeRaw(tb, e.slowHTTP, false, request("GET", path, diffHost, "Accept-Language: en-US"), []string{"GET"}, false)
	s := &Server{Snapshot: e.fast.Snapshot, Log: slog.New(slog.DiscardHandler)}
	if accessLog {
		s.AccessLog = io.Discard
	}
	fp := &fastPath{p: s.newPipeline(false), stats: &s.fast}
	dc := &discardConn{}
	g := newGuardConn(dc, s.limits())
	c := fp.newConn(g, g)
	head := []byte("GET " + path + " HTTP/1.1\r\nHost: " + diffHost + ":8080\r\nAccept-Language: en-US\r\n\r\n")
	if res := c.serveHead(head); res != fastServed {
		tb.Fatalf("serveHead: %v, want fastServed", res)
	}
	return c, head
}

// tcpHitConn returns a fast connection over loopback TCP, whose viewer
// reads and drops everything, of an edge whose cache holds path, and the
// head of a GET for it. With sendfile, it waits until the cache has the
// response on disk and the body goes out with sendfile.
func tcpHitConn(tb testing.TB, path string, sendfile bool) (*fastConn, []byte) {
	tb.Helper()
	c, head := fastHitConn(tb, path, false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	viewer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { viewer.Close() })
	go io.Copy(io.Discard, viewer)
	server, err := ln.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { server.Close() })
	g := newGuardConn(&ipConn{Conn: server}, c.f.p.lim)
	c = c.f.newConn(g, g)
	deadline := time.Now().Add(10 * time.Second)
	for before := c.f.stats.sendfiles.Load(); sendfile && c.f.stats.sendfiles.Load() == before; {
		if time.Now().After(deadline) {
			tb.Fatal("no body went out with sendfile within 10s")
		}
		if res := c.serveHead(head); res != fastServed {
			tb.Fatalf("serveHead: %v, want fastServed", res)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c, head
}

// TestFastPathHitAllocs pins a hit on the fast path, from the parsed head
// to the written response, at zero allocations (amortised: request heads
// and IDs are copied into 4 KiB arenas), with and without the access log,
// and with sendfile.
func TestFastPathHitAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing with the race detector")
	}
	for _, accessLog := range []bool{false, true} {
		c, head := fastHitConn(t, "/plain", accessLog)
		allocs := testing.AllocsPerRun(1000, func() {
			if c.serveHead(head) != fastServed {
				t.Fatal("not served")
			}
		})
		if allocs > 0 {
			t.Errorf("access log %v: a hit allocated %v times, want 0", accessLog, allocs)
		}
	}
	c, head := tcpHitConn(t, "/big", true)
	allocs := testing.AllocsPerRun(200, func() {
		if c.serveHead(head) != fastServed {
			t.Fatal("not served")
		}
	})
	if allocs > 0 {
		t.Errorf("a hit sent with sendfile allocated %v times, want 0", allocs)
	}
}

func BenchmarkFastPathHit(b *testing.B) {
	for _, bc := range []struct {
		name      string
		path      string
		accessLog bool
	}{
		{"1KiB", "/plain", false},
		{"1KiB-accesslog", "/plain", true},
		{"100KiB", "/big", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, head := fastHitConn(b, bc.path, bc.accessLog)
			b.ReportAllocs()
			for b.Loop() {
				c.serveHead(head)
			}
		})
	}
	// Over loopback TCP, with a viewer that reads: the kernel's work
	// included.
	for _, path := range []string{"/plain", "/big"} {
		b.Run("TCP"+path, func(b *testing.B) {
			c, head := tcpHitConn(b, path, path == "/big")
			b.ReportAllocs()
			for b.Loop() {
				c.serveHead(head)
			}
		})
	}
}
