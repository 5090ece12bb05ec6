package httpcache

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-edge/portico"
)

// TestAllocSize checks the size classes allocSize rounds to against the
// runtime's: append rounds a new slice's capacity up to its size class.
func TestAllocSize(t *testing.T) {
	var sizes []int
	for _, c := range sizeClasses {
		sizes = append(sizes, c-1, c, c+1)
	}
	sizes = append(sizes, 40000, 65536, 100001)
	for _, n := range sizes {
		if got, want := allocSize(n, false), cap(append([]byte(nil), make([]byte, n)...)); got != want {
			t.Errorf("allocSize(%d, false) = %d, the runtime allocates %d", n, got, want)
		}
	}
	for _, n := range []int{1, 2, 31, 32, 33, 63, 64, 65, 400, 2000, 4096} {
		// A pointer-holding object larger than 512 bytes has a header
		// beyond its capacity.
		want := 8 * cap(append([]*int(nil), make([]*int, n)...))
		if 8*n > mallocHeaderMin && 8*n <= maxSmallSize-mallocHeader {
			want += mallocHeader
		}
		if got := allocSize(8*n, true); got != want {
			t.Errorf("allocSize(%d, true) = %d, the runtime allocates %d", 8*n, got, want)
		}
	}
	if allocSize(0, false) != 0 {
		t.Errorf("allocSize(0) = %d, want 0", allocSize(0, false))
	}
}

// TestAccountingCovers stores responses of several shapes through the
// handler, then hits each once, and checks that what the cache counts
// against its budget is at least the heap the responses take.
func TestAccountingCovers(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what the heap holds")
	}
	staticHeader := func(h http.Header) {
		for _, f := range [...][2]string{
			{"Content-Type", "application/javascript"},
			{"Cache-Control", "public, max-age=31536000, immutable"},
			{"Etag", `"5d8c72a5edda8d6a"`},
			{"Last-Modified", "Tue, 15 Nov 2022 08:12:31 GMT"},
			{"Date", time.Now().UTC().Format(http.TimeFormat)},
			{"Server", "nginx"},
		} {
			h[f[0]] = []string{strings.Clone(f[1])}
		}
	}
	tests := []struct {
		name      string
		behaviour *portico.CacheBehavior
		query     string
		body      int
		header    func(h http.Header)
	}{
		{"static 1 KiB", defaults(), "", 1024, staticHeader},
		{"tiny, no fields", defaults(), "", 3, func(h http.Header) {}},
		{"keyed query", behavior(0, 86400, 31536000, forwarded(true, "none")), "v=123&w=4", 700, staticHeader},
		{"vary, tags and a stripped validator", defaults(), "", 2000, func(h http.Header) {
			staticHeader(h)
			h["Cache-Control"] = []string{strings.Clone(`max-age=600, no-cache="Etag", stale-while-revalidate=60`)}
			h["Vary"] = []string{strings.Clone("Origin, Accept-Encoding")}
			h["Cache-Tag"] = []string{strings.Clone("product-17, catalogue, front")}
			h["X-Amz-Meta-Owner"] = []string{strings.Clone("team-web")}
			h["Link"] = []string{strings.Clone("</a.css>; rel=preload"), strings.Clone("</b.js>; rel=preload")}
		}},
		{"compressed", compressing(forwarded(false, "none")), "", 3000, func(h http.Header) {
			staticHeader(h)
			h["Content-Type"] = []string{strings.Clone("text/html; charset=utf-8")}
		}},
	}
	const n = 4000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Text that compresses to about half.
			body := make([]byte, tt.body)
			rnd := rand.New(rand.NewPCG(1, 2))
			for i := range body {
				body[i] = "0123456789abcdef"[rnd.IntN(16)]
			}
			origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tt.header(w.Header())
				w.Header()["Content-Length"] = []string{strconv.Itoa(len(body))}
				w.Write(body)
			})
			c := New(1<<40, nil)
			h := legacyHandler(c, testScope, tt.behaviour, origin)
			targets := make([]string, n)
			for i := range targets {
				targets[i] = fmt.Sprintf("https://static.example.com/assets/%08d.js?%s", i, tt.query)
			}
			w := &benchWriter{h: http.Header{}}
			var coding string
			serve := func(target string) {
				r := httptest.NewRequest("GET", target, nil)
				r.Header["Accept-Encoding"] = []string{"gzip, br"}
				r.Header["Origin"] = []string{"https://www.example.com"}
				clear(w.h)
				h.ServeHTTP(w, r)
				coding = w.h.Get("Content-Encoding")
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for _, target := range targets {
				serve(target)
			}
			for _, target := range targets {
				serve(target)
				if w.h.Get("X-Cache") != hit {
					t.Fatalf("%s: X-Cache %q, Cache-Status %q, want a hit", target, w.h.Get("X-Cache"), w.h.Get("Cache-Status"))
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			if compressed := tt.behaviour.Compress != nil; (coding != "") != compressed {
				t.Fatalf("Content-Encoding %q, want compression %v", coding, compressed)
			}
			if c.Len() != n {
				t.Fatalf("the cache holds %d responses, want %d", c.Len(), n)
			}
			heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			if accounted := c.Size(); accounted < heap {
				t.Errorf("the cache counts %d bytes a response; they take %d", accounted/n, heap/n)
			} else {
				t.Logf("the cache counts %d bytes a response; they take %d", accounted/n, heap/n)
			}
			runtime.KeepAlive(c)
		})
	}
}
