package snapshot

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// discardWriter is a ResponseWriter that keeps only the status and the
// header, so that a measurement counts the handler, not a recorder.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// deviceKeyedHit returns the handler of a behaviour whose cache key holds
// CloudFront-Is-Mobile-Viewer, and a request from a phone that claims to
// be a desktop and that the cache holds a response for.
func deviceKeyedHit(tb testing.TB) (http.Handler, *http.Request, *discardWriter) {
	tb.Helper()
	o := newOrigin(tb)
	st := deviceState("origin", originHost)
	snap, err := Build(st, o.deps(tb, nil))
	if err != nil {
		tb.Fatal(err)
	}
	site, ok := snap.Site(st.Distributions[0].DomainName)
	if !ok {
		tb.Fatalf("the distribution is not served: %v", snap.Skipped())
	}
	h := site.Behavior("/page").Handler
	r := httptest.NewRequest("GET", "http://"+site.DomainName+"/page", nil)
	r.Header.Set("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148 Safari/604.1")
	r.Header.Set("CloudFront-Is-Mobile-Viewer", "false")
	w := &discardWriter{h: http.Header{}}
	for _, want := range []string{"Miss from portico", "Hit from portico"} {
		clear(w.h)
		h.ServeHTTP(w, r)
		if w.code != http.StatusOK || w.h.Get("X-Cache") != want {
			tb.Fatalf("status %d, X-Cache %q; want 200, %s", w.code, w.h.Get("X-Cache"), want)
		}
	}
	if n := o.requests("/page"); n != 1 {
		tb.Fatalf("the origin got %d requests, want 1", n)
	}
	return h, r, w
}

// TestViewerKeyedHitAllocs pins a cache hit on a behaviour whose key holds
// a CloudFront-* header at zero allocations: the key takes the value the
// edge computes without copying the viewer's request or its header.
func TestViewerKeyedHitAllocs(t *testing.T) {
	h, r, w := deviceKeyedHit(t)
	allocs := testing.AllocsPerRun(1000, func() {
		clear(w.h)
		h.ServeHTTP(w, r)
		if w.h.Get("X-Cache") != "Hit from portico" {
			t.Fatalf("X-Cache %q, want a hit", w.h.Get("X-Cache"))
		}
	})
	if allocs != 0 {
		t.Errorf("a hit keyed on CloudFront-Is-Mobile-Viewer allocated %v times per run, want 0", allocs)
	}
	if r.Header.Get("CloudFront-Is-Mobile-Viewer") != "false" {
		t.Error("the viewer's request was changed")
	}
}

// BenchmarkViewerKeyedHit measures a cache hit on a behaviour whose key
// holds CloudFront-Is-Mobile-Viewer.
func BenchmarkViewerKeyedHit(b *testing.B) {
	h, r, w := deviceKeyedHit(b)
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}
