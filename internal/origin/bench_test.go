package origin

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/testpki"
)

// cannedOrigin is a TLS origin on loopback that answers every request
// with the same response, read and written without allocating, so that a
// benchmark's allocation count is the client's.
type cannedOrigin struct {
	addr  string
	roots *x509.CertPool

	mu    sync.Mutex
	conns int // connections accepted
}

// newCannedOrigin serves response, for the certificate name domain, until
// the test ends.
func newCannedOrigin(tb testing.TB, domain string, response []byte) *cannedOrigin {
	tb.Helper()
	o := &cannedOrigin{}
	o.addr, o.roots = serveTLS(tb, domain, func(c *tls.Conn) {
		o.mu.Lock()
		o.conns++
		o.mu.Unlock()
		br := bufio.NewReader(c)
		for {
			// A request head: lines up to an empty one.
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					break
				}
			}
			if _, err := c.Write(response); err != nil {
				return
			}
		}
	})
	return o
}

// serveTLS accepts TLS connections with a certificate for name on a
// loopback port, each served by serve on a goroutine of its own and closed
// when serve returns, until the test ends: then it closes the listener and
// every connection, and waits for the goroutines. It returns the address
// and a pool that trusts the certificate.
func serveTLS(tb testing.TB, name string, serve func(c *tls.Conn)) (string, *x509.CertPool) {
	tb.Helper()
	cert, roots := selfSigned(tb, name)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				serve(c.(*tls.Conn))
			})
		}
	})
	return ln.Addr().String(), roots
}

// accepted reports how many connections the origin accepted.
func (o *cannedOrigin) accepted() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.conns
}

// selfSigned returns a certificate for name, issued by a CA of its own,
// and a pool that trusts that CA.
func selfSigned(tb testing.TB, name string) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	ca := testpki.NewCA(tb, "origin test CA")
	return *ca.Issue(tb, []string{name}).TLSCertificate(tb), ca.Pool()
}

// cannedResponse is a 200 with a body of n bytes and the fields a typical
// origin sends.
func cannedResponse(n int) []byte {
	head := "HTTP/1.1 200 OK\r\n" +
		"Content-Type: application/octet-stream\r\n" +
		"Cache-Control: no-store\r\n" +
		"Date: Wed, 25 Nov 2026 16:00:00 GMT\r\n" +
		"Content-Length: " + strconv.Itoa(n) + "\r\n\r\n"
	return append([]byte(head), bytes.Repeat([]byte("a"), n)...)
}

// benchProxy is a Proxy for origin.test at o's address, over ts (nil: a
// registry of its own), with the origin's settings changed by modify when
// not nil.
func benchProxy(tb testing.TB, o *cannedOrigin, ts *Transports, modify func(*portico.Origin)) *Proxy {
	tb.Helper()
	if ts == nil {
		ts = NewTransports(o.roots, nil)
		ts.Resolve = func(string) string { return o.addr }
	}
	cfg := &portico.Origin{ID: "o", DomainName: "origin.test", CustomOriginConfig: &portico.CustomOriginConfig{
		HTTPSPort: 443, OriginProtocolPolicy: "https-only"}}
	if modify != nil {
		modify(cfg)
	}
	b := &portico.CacheBehavior{ForwardedValues: &portico.ForwardedValues{QueryString: portico.Ptr(true),
		Cookies: &portico.CookiePreference{Forward: "none"}}}
	pol, err := portico.ResolveBehavior(b, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := New(cfg, b, pol, ts, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// sinkWriter is a ResponseWriter that keeps nothing but the status.
type sinkWriter struct {
	header http.Header
	status int
	n      int
}

func (w *sinkWriter) Header() http.Header         { return w.header }
func (w *sinkWriter) WriteHeader(code int)        { w.status = code }
func (w *sinkWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// BenchmarkOriginGET forwards a GET for a 1 KiB body to an origin over
// loopback TLS, on a kept-alive connection: the MISS path's origin round
// trip, from the origin request's building to the last body byte. The
// origin's allocations are nil, so that the count is the Proxy's.
func BenchmarkOriginGET(b *testing.B) {
	o := newCannedOrigin(b, "origin.test", cannedResponse(1024))
	p := benchProxy(b, o, nil, nil)
	req := httptest.NewRequest("GET", "https://www.example.com/a/b.css?v=1", nil)
	req.RemoteAddr = "192.0.2.10:51000"
	req.Header.Set("User-Agent", "Mozilla/5.0")
	req.Header.Set("Accept", "*/*")
	w := &sinkWriter{header: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.header)
		w.status, w.n = 0, 0
		p.ServeHTTP(w, req)
		if w.status != http.StatusOK || w.n != 1024 {
			b.Fatalf("got %d with %d bytes, want 200 with 1024", w.status, w.n)
		}
	}
	if n := o.accepted(); n != 1 {
		b.Errorf("%d origin connections, want 1 kept alive", n)
	}
}

// BenchmarkOriginRoundTrip compares the origin clients alone, on the same
// request as BenchmarkOriginGET's: the HTTP/1.1 client that GET and HEAD
// requests take, and the http.Transport that the others take.
func BenchmarkOriginRoundTrip(b *testing.B) {
	o := newCannedOrigin(b, "origin.test", cannedResponse(1024))
	p := benchProxy(b, o, nil, nil)
	in := httptest.NewRequest("GET", "https://www.example.com/a/b.css?v=1", nil)
	in.RemoteAddr = "192.0.2.10:51000"
	in.Header.Set("User-Agent", "Mozilla/5.0")
	req := p.originRequest(in, in.Context())
	buf := make([]byte, copyBufferSize)
	for _, bb := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"client=h1", p.transport.h1},
		{"client=http.Transport", p.transport.rt},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				resp, err := bb.rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for {
					m, err := resp.Body.Read(buf)
					n += m
					if err != nil {
						break
					}
				}
				resp.Body.Close()
				if n != 1024 {
					b.Fatalf("%d bytes", n)
				}
			}
		})
	}
}
