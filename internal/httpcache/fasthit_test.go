package httpcache

import (
	"encoding/binary"
	"hash/crc32"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFreshHitMatchesHandler asks FreshHit and then the handler about the
// same requests: when FreshHit reports a hit, the handler answers with
// exactly its status, header fields and body; when it does not, the
// handler does something else than a plain hit.
func TestFreshHitMatchesHandler(t *testing.T) {
	clk := newClock()
	c := New(16<<20, nil)
	c.now = clk.now
	origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Date", clk.now().UTC().Format(http.TimeFormat))
		h.Set("Content-Type", "text/plain")
		switch r.URL.Path {
		case "/short":
			h.Set("Cache-Control", "max-age=10")
		case "/nostore":
			h.Set("Cache-Control", "no-store")
		case "/vary":
			h.Set("Cache-Control", "max-age=300")
			h.Set("Vary", "X-Device")
		default:
			h.Set("Cache-Control", "max-age=300")
			h.Set("Etag", `"v1"`)
			h.Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		}
		io.WriteString(w, "body of "+r.URL.Path+" for "+r.Header.Get("X-Device"))
	})
	handlers := map[string]http.Handler{
		"no cookies":  legacyHandler(c, testScope, behavior(0, 86400, 31536000, forwarded(true, "none")), origin),
		"all cookies": legacyHandler(c, "E2OTHERSCOPE", behavior(0, 86400, 31536000, forwarded(true, "all")), origin),
	}
	req := func(method, target string, fields ...string) *http.Request {
		r := httptest.NewRequest(method, "https://h.example"+target, nil)
		for i := 0; i+1 < len(fields); i += 2 {
			r.Header.Add(fields[i], fields[i+1])
		}
		return r
	}
	tests := []struct {
		name    string
		handler string
		warm    *http.Request // sent to the handler first; nil for none
		r       *http.Request
		status  int // 0: no hit
	}{
		{"miss", "no cookies", nil, req("GET", "/cold"), 0},
		{"hit", "no cookies", req("GET", "/a"), req("GET", "/a"), 200},
		{"HEAD hit", "no cookies", nil, req("HEAD", "/a"), 200},
		{"If-None-Match: 304", "no cookies", nil, req("GET", "/a", "If-None-Match", `"v1"`), 304},
		{"HEAD If-Modified-Since: 304", "no cookies", nil, req("HEAD", "/a", "If-Modified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"), 304},
		{"If-None-Match other", "no cookies", nil, req("GET", "/a", "If-None-Match", `"v0"`), 200},
		{"If-Match fails: 412", "no cookies", nil, req("GET", "/a", "If-Match", `"v0"`), 0},
		{"If-Match passes", "no cookies", nil, req("GET", "/a", "If-Match", `"v1"`), 200},
		{"Range", "no cookies", nil, req("GET", "/a", "Range", "bytes=0-1"), 0},
		{"Range of another unit, ignored", "no cookies", nil, req("GET", "/a", "Range", "items=0-1"), 200},
		{"preconditions ignored", "all cookies", req("GET", "/a"), req("GET", "/a", "If-None-Match", `"v1"`), 200},
		{"Authorization", "no cookies", nil, req("GET", "/a", "Authorization", "Basic eDp5"), 0},
		{"POST", "no cookies", nil, req("POST", "/a"), 0},
		{"OPTIONS", "no cookies", nil, req("OPTIONS", "/a"), 0},
		{"Upgrade", "no cookies", nil, req("GET", "/a", "Upgrade", "websocket"), 0},
		{"not stored", "no cookies", req("GET", "/nostore"), req("GET", "/nostore"), 0},
		{"Vary, stored variant", "no cookies", req("GET", "/vary", "X-Device", "a"), req("GET", "/vary", "X-Device", "a"), 200},
		{"Vary, other variant", "no cookies", nil, req("GET", "/vary", "X-Device", "b"), 0},
		{"fresh", "no cookies", req("GET", "/short"), req("GET", "/short"), 200},
		{"stale", "no cookies", nil, req("GET", "/short"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := handlers[tt.handler]
			if tt.name == "stale" {
				clk.advance(11 * time.Second)
			}
			if tt.warm != nil {
				h.ServeHTTP(httptest.NewRecorder(), tt.warm)
			}
			hit, ok := FreshHit(h, tt.r)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, tt.r)
			if !ok {
				if tt.status != 0 {
					t.Fatalf("FreshHit found no hit; the handler answered %d, X-Cache %q", w.Code, w.Header().Get("X-Cache"))
				}
				if w.Code == 200 && w.Header().Get("X-Cache") == "Hit from portico" && tt.r.Header.Get("Range") == "" {
					t.Errorf("FreshHit found no hit, but the handler answered with one")
				}
				return
			}
			if tt.status == 0 {
				t.Fatalf("FreshHit found a %d hit; the handler answered %d, X-Cache %q", hit.Status(), w.Code, w.Header().Get("X-Cache"))
			}
			if hit.Status() != tt.status || w.Code != tt.status {
				t.Errorf("status: hit %d, handler %d, want %d", hit.Status(), w.Code, tt.status)
			}
			hd := http.Header{}
			hit.Header(hd)
			if !maps.EqualFunc(hd, w.Header(), slices.Equal) {
				t.Errorf("header:\nhit     %v\nhandler %v", hd, w.Header())
			}
			body := hit.Body()
			if tt.r.Method == http.MethodHead {
				body = nil
			}
			if string(body) != w.Body.String() {
				t.Errorf("body: hit %q, handler %q", body, w.Body.String())
			}
		})
	}
}

// TestFreshHitRendered checks that a value stored with SetRendered is kept
// while Age and Cache-Status hold, and dropped when they change.
func TestFreshHitRendered(t *testing.T) {
	clk := newClock()
	c := New(16<<20, nil)
	c.now = clk.now
	h := legacyHandler(c, testScope, behavior(0, 86400, 31536000, forwarded(true, "none")), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		io.WriteString(w, "x")
	}))
	r := httptest.NewRequest("GET", "https://h.example/r", nil)
	h.ServeHTTP(httptest.NewRecorder(), r)
	clk.advance(100 * time.Millisecond) // within the second after the response
	hit, ok := FreshHit(h, r)
	if !ok || hit.Rendered() != nil {
		t.Fatalf("FreshHit: %v, rendered %v; want a hit, nothing rendered", ok, hit.Rendered())
	}
	hit.SetRendered("head")
	clk.advance(100 * time.Millisecond)
	if hit, _ = FreshHit(h, r); hit.Rendered() != "head" {
		t.Errorf("in the same second: rendered %v, want head", hit.Rendered())
	}
	clk.advance(time.Second)
	if hit, _ = FreshHit(h, r); hit.Rendered() != nil {
		t.Errorf("a second later: rendered %v, want nothing", hit.Rendered())
	}
}

// TestFreshHitAllocs pins a hit found by FreshHit at zero allocations.
func TestFreshHitAllocs(t *testing.T) {
	c := New(64<<20, nil)
	h := legacyHandler(c, testScope, auth0Behavior(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		io.WriteString(w, `{"keys":[]}`)
	}))
	r := auth0Request()
	h.ServeHTTP(httptest.NewRecorder(), r)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, ok := FreshHit(h, r); !ok {
			t.Fatal("no hit")
		}
	})
	if allocs != 0 {
		t.Errorf("FreshHit allocated %v times per run, want 0", allocs)
	}
}

// TestHitBodyFile checks that a hit's body file, once the disk tier has
// written it, holds the body at the offset given; and that there is none
// for small bodies, 304s, a memory-only cache, or a file that does not
// hold the entry's response.
func TestHitBodyFile(t *testing.T) {
	body := strings.Repeat("0123456789abcdef", 8<<10) // 128 KiB
	origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Etag", `"v1"`)
		io.WriteString(w, body)
	})
	fileOf := func(t *testing.T, h http.Handler, r *http.Request, minSize int) (*os.File, int64, bool) {
		t.Helper()
		hit, ok := FreshHit(h, r)
		if !ok {
			t.Fatal("no hit")
		}
		return hit.BodyFile(minSize)
	}
	// written waits until the disk tier has r's response.
	written := func(t *testing.T, h http.Handler, r *http.Request) (*os.File, int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if f, off, ok := fileOf(t, h, r, 1); ok {
				return f, off
			}
			if time.Now().After(deadline) {
				t.Fatal("no body file within 10s")
			}
			time.Sleep(bodyFileRetry / 10)
		}
	}

	t.Run("disk tier", func(t *testing.T) {
		dir := t.TempDir()
		c := openDiskCache(t, dir, 1<<30)
		h := legacyHandler(c, testScope, behavior(0, 86400, 31536000, forwarded(true, "none")), origin)
		r := httptest.NewRequest("GET", "https://h.example/big", nil)
		h.ServeHTTP(httptest.NewRecorder(), r)
		f, off := written(t, h, r)
		got := make([]byte, len(body))
		if _, err := f.ReadAt(got, off); err != nil || string(got) != body {
			t.Errorf("the file at %d holds %.20q…, %v; want the body", off, got, err)
		}
		if _, _, ok := fileOf(t, h, r, len(body)+1); ok {
			t.Error("a body file for a body under the minimum size")
		}
		if _, _, ok := fileOf(t, h, httptest.NewRequest("GET", "https://h.example/big", nil), len(body)); !ok {
			t.Error("no body file for a body of exactly the minimum size")
		}
		inm := httptest.NewRequest("GET", "https://h.example/big", nil)
		inm.Header.Set("If-None-Match", `"v1"`)
		if _, _, ok := fileOf(t, h, inm, 1); ok {
			t.Error("a body file for a 304")
		}
	})
	t.Run("file of another response", func(t *testing.T) {
		dir := t.TempDir()
		c := openDiskCache(t, dir, 1<<30)
		h := legacyHandler(c, testScope, behavior(0, 86400, 31536000, forwarded(true, "none")), origin)
		r := httptest.NewRequest("GET", "https://h.example/big", nil)
		h.ServeHTTP(httptest.NewRecorder(), r)
		deadline := time.Now().Add(10 * time.Second)
		for len(diskFiles(t, dir)) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("no file within 10s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Another body of the same length, checksummed as the disk tier
		// checksums its files: only the comparison with the entry tells.
		name := diskFiles(t, dir)[0]
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)-5] ^= 1
		binary.BigEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, ok := fileOf(t, h, r, 1); ok {
			t.Error("a body file that holds another body")
		}
	})
	t.Run("memory only", func(t *testing.T) {
		h := legacyHandler(New(16<<20, nil), testScope, behavior(0, 86400, 31536000, forwarded(true, "none")), origin)
		r := httptest.NewRequest("GET", "https://h.example/big", nil)
		h.ServeHTTP(httptest.NewRecorder(), r)
		if _, _, ok := fileOf(t, h, r, 1); ok {
			t.Error("a body file without a disk tier")
		}
	})
}
