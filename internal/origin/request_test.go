package origin_test

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"testing"

	"github.com/portico-edge/portico/internal/origin"
)

// TestHopByHopRequestFields checks that the fields of the viewer's
// connection never reach the origin, even when the behaviour forwards all
// headers: the hop-by-hop fields and those that Connection lists.
func TestHopByHopRequestFields(t *testing.T) {
	ca := newTestCA(t)
	o := newTestOrigin(t, ca, nil)
	e := newProxyEdge(t, ca, o.addr(), originConfig(), behavior(forwarded(false, nil, "*")))

	req := newRequest(t, "GET", e.URL+"/", nil)
	req.Header["Connection"] = []string{"keep-alive, X-Hop"}
	req.Header["X-Hop"] = []string{"1"}
	req.Header["Keep-Alive"] = []string{"timeout=5"}
	req.Header["Proxy-Connection"] = []string{"keep-alive"}
	req.Header["X-Kept"] = []string{"2"}
	if resp, _ := do(t, req); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := o.last(t).Header
	for _, name := range []string{"Connection", "X-Hop", "Keep-Alive", "Proxy-Connection"} {
		if v, ok := got[name]; ok {
			t.Errorf("origin got %s: %q", name, v)
		}
	}
	if v := got["X-Kept"]; !slices.Equal(v, []string{"2"}) {
		t.Errorf("origin got X-Kept %q, want 2", v)
	}
}

// TestViewerRequestUnchanged checks that forwarding leaves the viewer's
// request as it was, though the origin request shares its header values:
// the cache above reads it afterwards.
func TestViewerRequestUnchanged(t *testing.T) {
	ca := newTestCA(t)
	o := newTestOrigin(t, ca, nil)
	p, err := newProxy(originConfig(), behavior(forwarded(true, []string{"all"}, "*")), newTransports(ca, o.addr(), nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	via := make([]string, 1, 4) // room to append in place
	via[0] = "1.1 upstream"
	r := httptest.NewRequest("GET", "https://login.example.com/a?b=c", nil)
	r.Header = http.Header{
		"Via":           via,
		"User-Agent":    {"Mozilla/5.0"},
		"Cookie":        {"b=2; a=1"},
		"Cname-Api-Key": {"viewer-guess"},
		"X-Custom":      {"x"},
	}
	before := r.Header.Clone()
	w := httptest.NewRecorder()
	p.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	if !maps.EqualFunc(r.Header, before, slices.Equal) || via[:2][1] != "" {
		t.Errorf("viewer request header after forwarding: %q, want %q", r.Header, before)
	}
	got := o.last(t)
	if v := got.Header["Via"]; !slices.Equal(v, []string{"1.1 upstream", "1.1 portico (Portico)"}) {
		t.Errorf("origin got Via %q", v)
	}
	if v := got.Header["Cname-Api-Key"]; !slices.Equal(v, []string{secret}) {
		t.Error("origin did not get the custom header's value")
	}
	if r.URL.String() != "https://login.example.com/a?b=c" {
		t.Errorf("viewer URL became %s", r.URL)
	}
}

// TestResponseForwarding checks what the viewer gets of an origin's
// response beyond its status, fields and body: hop-by-hop fields removed,
// informational responses passed on, trailers passed on.
func TestResponseForwarding(t *testing.T) {
	ca := newTestCA(t)
	tests := []struct {
		name        string
		respond     http.HandlerFunc
		want        http.Header // fields of the final response; nil values: absent
		wantTrailer http.Header
		want1xx     []int
	}{
		{
			name: "hop-by-hop fields removed",
			respond: func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Connection"] = []string{"X-Hop"}
				w.Header().Set("X-Hop", "1")
				w.Header().Set("Keep-Alive", "timeout=5")
				w.Header().Set("X-Kept", "2")
				io.WriteString(w, "ok")
			},
			want: http.Header{"X-Hop": nil, "Keep-Alive": nil, "X-Kept": {"2"}},
		},
		{
			name: "103 Early Hints passed on, its fields kept out of the 200",
			respond: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Link", "</app.css>; rel=preload")
				w.WriteHeader(http.StatusEarlyHints)
				w.Header().Del("Link")
				w.Header().Set("X-Final", "1")
				io.WriteString(w, "ok")
			},
			want:    http.Header{"Link": nil, "X-Final": {"1"}},
			want1xx: []int{http.StatusEarlyHints},
		},
		{
			name: "declared trailer passed on",
			respond: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Trailer", "X-Checksum")
				io.WriteString(w, "ok")
				w.Header().Set("X-Checksum", "abc")
			},
			wantTrailer: http.Header{"X-Checksum": {"abc"}},
		},
		{
			name: "undeclared trailer passed on",
			respond: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "ok")
				w.(http.Flusher).Flush()
				w.Header().Set(http.TrailerPrefix+"X-Late", "def")
			},
			wantTrailer: http.Header{"X-Late": {"def"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newTestOrigin(t, ca, tt.respond)
			e := newProxyEdge(t, ca, o.addr(), originConfig(), behavior(forwarded(false, nil)))
			var got1xx []int
			var hints http.Header
			trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
				got1xx = append(got1xx, code)
				hints = http.Header(h)
				return nil
			}}
			req := newRequest(t, "GET", e.URL+"/", nil)
			req = req.WithContext(httptrace.WithClientTrace(context.Background(), trace))
			resp, body := do(t, req)
			if resp.StatusCode != http.StatusOK || string(body) != "ok" {
				t.Fatalf("viewer got %d %q, want 200 ok", resp.StatusCode, body)
			}
			for name, want := range tt.want {
				if have := resp.Header[name]; !slices.Equal(have, want) {
					t.Errorf("%s = %q, want %q", name, have, want)
				}
			}
			for name, want := range tt.wantTrailer {
				if have := resp.Trailer[name]; !slices.Equal(have, want) {
					t.Errorf("trailer %s = %q, want %q (trailers %q)", name, have, want, resp.Trailer)
				}
			}
			if !slices.Equal(got1xx, tt.want1xx) {
				t.Errorf("informational responses %v, want %v", got1xx, tt.want1xx)
			}
			if tt.want1xx != nil && hints.Get("Link") != "</app.css>; rel=preload" {
				t.Errorf("103 fields %q, want its Link", hints)
			}
		})
	}
}

// TestProxyAllocs pins the allocations of forwarding a GET to a kept-alive
// origin connection, with the origin in the same process: a ceiling, so
// that an allocation that creeps back into the path shows.
func TestProxyAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	ca := newTestCA(t)
	o := newTestOrigin(t, ca, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	p, err := newProxy(originConfig(), behavior(forwarded(true, []string{"all"}, "User-Agent")), newTransports(ca, o.addr(), nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "https://login.example.com/a?u=1", nil)
	req.RemoteAddr = "192.0.2.10:51000"
	req.Header.Set("User-Agent", "Mozilla/5.0")
	req = req.WithContext(origin.WithRequestInfo(req.Context(), &origin.RequestInfo{ID: requestID}))
	w := &discardWriter{header: make(http.Header)}
	serve := func() {
		clear(w.header)
		p.ServeHTTP(w, req)
	}
	serve() // the connection
	allocs := testing.AllocsPerRun(200, serve)
	// The test origin's own allocations are counted too (about half):
	// 75 in all when GET went over http.Transport, 49 over the HTTP/1.1
	// client.
	const ceiling = 55
	if allocs > ceiling {
		t.Errorf("a forwarded GET allocated %v times, want at most %d", allocs, ceiling)
	}
	t.Logf("%v allocations per forwarded GET, origin included", allocs)
}

// discardWriter is a ResponseWriter that keeps nothing.
type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
