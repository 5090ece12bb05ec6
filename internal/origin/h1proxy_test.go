package origin_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/origin"
)

// TestViewerGoneClosesOriginRequest checks that a viewer going away while
// the origin is silent, before or after the response headers, ends the
// origin request and closes its connection at once: not after the
// origin's read timeout (30 s), nor after the body.
func TestViewerGoneClosesOriginRequest(t *testing.T) {
	tests := []struct {
		name   string
		answer func(o *scriptedOrigin, c *tls.Conn) bool
	}{
		{"before the response", func(o *scriptedOrigin, c *tls.Conn) bool {
			o.stall()
			return false
		}},
		{"in the body", func(o *scriptedOrigin, c *tls.Conn) bool {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("a", partLen))
			o.stall()
			return false
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca := newTestCA(t)
			var closed atomic.Bool
			o := answering(tt.answer)(t, ca)
			var dials atomic.Int32
			tr := origin.NewTransports(ca.pool, nil)
			tr.Resolve = func(string) string { dials.Add(1); return o.addr }
			p, err := newProxy(originConfig(), behavior(forwarded(false, nil)), tr, nil)
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan struct{})
			edge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(served)
				defer func() {
					// The viewer going away unwinds the handler with
					// ErrAbortHandler in the body; net/http recovers it.
					if v := recover(); v != nil && v != http.ErrAbortHandler {
						panic(v)
					}
					closed.Store(true)
				}()
				p.ServeHTTP(w, r)
			}))
			edge.Config.ErrorLog = quiet
			t.Cleanup(edge.Close)

			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, "GET", edge.URL+"/", nil)
			go func() {
				resp, err := viewer.RoundTrip(req)
				if err == nil {
					// All the origin sent: the Proxy now waits on the
					// origin for more.
					io.CopyN(io.Discard, resp.Body, partLen)
					cancel()
					resp.Body.Close()
				}
			}()
			if tt.name == "before the response" {
				time.Sleep(50 * time.Millisecond) // most likely waiting on the origin by now; the outcome is the same if not
				cancel()
			}
			select {
			case <-served:
			case <-time.After(20 * time.Second): // a watchdog, not a speed check: the read timeout is 30 s
				t.Fatal("the Proxy still waits on the origin 20 s after the viewer went away")
			}
			cancel()
			if !closed.Load() {
				t.Error("the handler did not return")
			}
			if n := dials.Load(); n != 1 {
				t.Errorf("%d origin connections, want 1: a request whose viewer went away is not sent again", n)
			}
		})
	}
}

// TestUnwritableFieldRefused checks that an origin request with a field
// value that would break the request (a handler in front of the Proxy set
// it) gets a 502 of Portico's, and that nothing reaches the origin.
func TestUnwritableFieldRefused(t *testing.T) {
	ca := newTestCA(t)
	o := newTestOrigin(t, ca, nil)
	p, err := newProxy(originConfig(), behavior(forwarded(false, nil, "X-Forwarded-Thing")), newTransports(ca, o.addr(), nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"GET", "HEAD", "POST"} {
		r := httptest.NewRequest(method, "https://login.example.com/", nil)
		r.Header["X-Forwarded-Thing"] = []string{"1\r\nX-Smuggled: " + secret}
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r.WithContext(origin.WithRequestInfo(r.Context(), &origin.RequestInfo{ID: requestID})))
		if w.Code != http.StatusBadGateway || w.Header().Get("X-Cache") != "Error from portico" {
			t.Errorf("%s: %d, X-Cache %q; want Portico's 502", method, w.Code, w.Header().Get("X-Cache"))
		}
		if strings.Contains(w.Body.String(), secret) {
			t.Errorf("%s: the error page shows the value", method)
		}
	}
	if n := o.count(); n != 0 {
		t.Errorf("the origin got %d requests", n)
	}
}

// TestMissPathOverH1 checks, through an edge, that GET and HEAD requests
// share one origin connection with one another, and that requests with a
// body are still forwarded, over the http.Transport.
func TestMissPathOverH1(t *testing.T) {
	ca := newTestCA(t)
	o := newTestOrigin(t, ca, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Method)
	})
	var dials atomic.Int32
	tr := origin.NewTransports(ca.pool, nil)
	tr.Resolve = func(string) string { dials.Add(1); return o.addr() }
	cfg := originConfig()
	cfg.ConnectionAttempts = portico.Ptr(1)
	p, err := newProxy(cfg, behavior(forwarded(true, []string{"all"})), tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newEdge(t, p)
	for _, method := range []string{"GET", "HEAD", "GET", "HEAD"} {
		resp, body := do(t, newRequest(t, method, e.URL+"/x?a=1", nil))
		want := method
		if method == "HEAD" {
			want = ""
		}
		if resp.StatusCode != 200 || string(body) != want {
			t.Errorf("%s: %d %q", method, resp.StatusCode, body)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("4 GET and HEAD requests took %d origin connections, want 1", n)
	}
	resp, body := do(t, newRequest(t, "POST", e.URL+"/x", []byte("form=1")))
	if resp.StatusCode != 200 || string(body) != "POST" || string(o.last(t).Body) != "form=1" {
		t.Errorf("POST: %d %q, origin got %q", resp.StatusCode, body, o.last(t).Body)
	}
	if got := o.last(t); got.RequestURI != "/x" || got.Host != originDomain || got.Header.Get("Accept-Encoding") != "" {
		t.Errorf("origin got %s for Host %s, Accept-Encoding %q", got.RequestURI, got.Host, got.Header.Get("Accept-Encoding"))
	}
}
