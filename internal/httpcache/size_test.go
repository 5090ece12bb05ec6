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
	"unsafe"

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
// handler in a cache whose budget holds just that many and their hit
// stamps, then hits each once, then once more through FreshHit, then
// makes as many misses again, and checks that what the cache counts
// against its budget is at least the heap it takes.
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
	const n = 3000
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
			targets := make([]string, 2*n)
			for i := range targets {
				targets[i] = fmt.Sprintf("https://static.example.com/assets/%08d.js?%s", i, tt.query)
			}
			w := &benchWriter{h: http.Header{}}
			request := func(target string) *http.Request {
				r := httptest.NewRequest("GET", target, nil)
				r.Header["Accept-Encoding"] = []string{"gzip, br"}
				r.Header["Origin"] = []string{"https://www.example.com"}
				return r
			}
			serve := func(h http.Handler, target string) {
				clear(w.h)
				h.ServeHTTP(w, request(target))
			}
			// A budget for n responses and their hit stamps: they all
			// count the same.
			one := New(1<<40, nil)
			serve(legacyHandler(one, testScope, tt.behaviour, origin), targets[0])
			serve(legacyHandler(one, testScope, tt.behaviour, origin), targets[0])
			if compressed := tt.behaviour.Compress != nil; (w.h.Get("Content-Encoding") != "") != compressed {
				t.Fatalf("Content-Encoding %q, want compression %v", w.h.Get("Content-Encoding"), compressed)
			}
			c := New(n*one.Size(), nil)
			// One second throughout: every entry keeps the hit stamp
			// its hit makes, as when they are all hit in a second.
			start := time.Now()
			c.now = func() time.Time { return start }
			h := legacyHandler(c, testScope, tt.behaviour, origin)

			var before, after runtime.MemStats
			runtime.GC()
			runtime.GC()
			runtime.ReadMemStats(&before)
			check := func(phase string) {
				// Twice: pooled compressors, which are no response's,
				// survive one collection.
				runtime.GC()
				runtime.GC()
				runtime.ReadMemStats(&after)
				heap, accounted := int64(after.HeapAlloc)-int64(before.HeapAlloc), c.Size()
				if accounted < heap {
					t.Errorf("%s: the cache counts %d bytes for %d responses; they take %d", phase, accounted, c.Len(), heap)
				} else {
					t.Logf("%s: the cache counts %d bytes a response; they take %d", phase, accounted/int64(c.Len()), heap/int64(c.Len()))
				}
			}
			for _, target := range targets[:n] {
				serve(h, target)
			}
			if c.Len() != n {
				t.Fatalf("the cache holds %d responses, want %d", c.Len(), n)
			}
			check("stored")
			for _, target := range targets[:n] {
				serve(h, target)
				if w.h.Get("X-Cache") != hit {
					t.Fatalf("%s: X-Cache %q, Cache-Status %q, want a hit", target, w.h.Get("X-Cache"), w.h.Get("Cache-Status"))
				}
			}
			check("hit")
			if got := c.stamps.len(); got != n {
				t.Fatalf("%d hit stamps, want %d", got, n)
			}
			// Hits as a server that writes them itself finds them.
			for _, target := range targets[:n] {
				if _, ok := FreshHit(h, request(target)); !ok {
					t.Fatalf("%s: FreshHit found no hit", target)
				}
			}
			check("fresh hit")
			// As many misses again, evicting as many: their hashes fill
			// the ghost queue.
			for _, target := range targets[n:] {
				serve(h, target)
			}
			check("evicting")
			runtime.KeepAlive(c)
		})
	}
}

// TestEntrySize pins the size of an entry, of which there may be millions:
// what few entries need goes in entryMore (set when stored) or entryLater
// (set later), not in entry.
func TestEntrySize(t *testing.T) {
	const want = 176 // a size class
	if got := unsafe.Sizeof(entry{}); got > want {
		t.Errorf("an entry takes %d bytes, more than %d", got, want)
	}
	if got := allocSize(int(unsafe.Sizeof(entry{})), true); got != want {
		t.Errorf("an entry is allocated %d bytes, want %d", got, want)
	}
}
