package httpcache

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPurgeTags checks purge by tag: an origin names tags in Cache-Tag
// (comma-separated), PurgeTag removes every entry carrying the tag, in its
// scope only, and the field never reaches viewers.
func TestPurgeTags(t *testing.T) {
	tags := map[string]string{"/a": "product-1, list", "/b": "product-2,list", "/c": "", "/d": "list"}
	h := newHarness(t, 64<<20, defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=600")
		if tg := tags[r.URL.Path]; tg != "" {
			w.Header().Set("Cache-Tag", tg)
		}
		io.WriteString(w, r.URL.Path)
	})
	other := h.serve(legacyHandler(h.cache, "OTHERDIST", defaults(), h.proxy(defaults())))
	fill := func() {
		for p := range tags {
			if resp, _ := h.get(p); resp.Header.Get("Cache-Tag") != "" {
				t.Errorf("Cache-Tag reached the viewer: %q", resp.Header.Get("Cache-Tag"))
			}
		}
		h.do("GET", other, "/a")
	}
	cached := func() string {
		var out []string
		for _, p := range []string{"/a", "/b", "/c", "/d"} {
			if resp, _ := h.get(p); resp.Header.Get("X-Cache") == hit {
				out = append(out, p)
			}
		}
		return strings.Join(out, " ")
	}
	for _, tt := range []struct {
		tag  string
		kept string
	}{
		{"product-1", "/b /c /d"},
		{"list", "/c"},
		{"product", "/a /b /c /d"},
		{"List", "/a /b /c /d"},
	} {
		fill()
		h.cache.PurgeTag(testScope, tt.tag)
		if got := cached(); got != tt.kept {
			t.Errorf("after PurgeTag(%q) cached %q, want %q", tt.tag, got, tt.kept)
		}
		if resp, _ := h.do("GET", other, "/a"); resp.Header.Get("X-Cache") != hit {
			t.Errorf("PurgeTag(%q) removed another scope's entry", tt.tag)
		}
	}
}

// TestSoftPurgeTag checks that a soft purge by tag marks entries stale:
// served once more while revalidated.
func TestSoftPurgeTag(t *testing.T) {
	o := &versioned{}
	o.set(1, 0, map[string]string{"Cache-Control": "max-age=600", "Cache-Tag": "t"})
	h := newHarness(t, 64<<20, defaults(), o.serve)
	h.expect("/s", miss, "v1")
	o.set(2, 0, map[string]string{"Cache-Control": "max-age=600", "Cache-Tag": "t"})
	h.cache.SoftPurgeTag(testScope, "t")
	h.expect("/s", hit, "v1") // stale, while revalidating
	h.cache.Close()
	h.expect("/s", hit, "v2")
}

// TestPurgeEveryVariant checks that an invalidation purges every variant of
// a path (Vary'd fields, cookies, encodings) and stale copies too (DG
// Invalidation: "all cached variants").
func TestPurgeEveryVariant(t *testing.T) {
	h := newHarness(t, 64<<20, behavior(0, 600, 6000, forwarded(true, "all")), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=10, stale-while-revalidate=600, stale-if-error=600")
		w.Header().Set("Vary", "X-Tenant")
		io.WriteString(w, "x")
	})
	variants := [][]string{
		nil,
		{"X-Tenant: a"},
		{"X-Tenant: b", "Cookie: s=1"},
		{"Accept-Encoding: gzip"},
	}
	for _, v := range variants {
		h.get("/v", v...)
	}
	h.get("/v?q=1")
	h.clock.advance(30 * time.Second) // all stale, all still servable
	if n := h.cache.Len(); n != 5 {
		t.Fatalf("cache holds %d entries, want 5", n)
	}
	h.cache.Purge(testScope, "/v*")
	for i, v := range variants {
		resp, _ := h.get("/v", v...)
		if resp.Header.Get("X-Cache") != miss {
			t.Errorf("variant %q survived the purge: X-Cache %q, Cache-Status %q", v, resp.Header.Get("X-Cache"), resp.Header.Get("Cache-Status"))
		}
		// The first request after the purge finds nothing under the key
		// (RFC 9211 §2.2: uri-miss); the later ones find the variants
		// stored since.
		if st := resp.Header.Get("Cache-Status"); i == 0 && !strings.Contains(st, "fwd=uri-miss") {
			t.Errorf("first request after the purge: Cache-Status %q, want fwd=uri-miss", st)
		}
	}
	h.cache.Close()
}

// TestPurgeCompaction checks that purge records, once they outnumber the
// cached objects enough to be swept away, keep their effect: the entries
// they purged stay purged, soft-purged ones stay stale, the others stay,
// and a response fetched before the sweep is not stored after it.
func TestPurgeCompaction(t *testing.T) {
	h := newHarness(t, 64<<20, defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Etag", `"x"`)
		if r.Header.Get("If-None-Match") == `"x"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, r.URL.Path)
	})
	for _, p := range []string{"/keep", "/gone", "/soft"} {
		h.get(p)
	}
	h.cache.Purge(testScope, "/gone")
	h.cache.SoftPurge(testScope, "/soft")
	for i := range minRecords + 10 {
		h.cache.Purge(testScope, "/noise/"+strconv.Itoa(i))
	}
	if ix := h.cache.scope(testScope).idx.Load(); ix.records > minRecords {
		t.Fatalf("%d purge records kept, want them compacted", ix.records)
	}
	h.expect("/keep", hit, "/keep")
	h.expect("/gone", miss, "/gone")
	resp := h.expect("/soft", hit, "/soft")
	if !strings.HasSuffix(resp.Header.Get("Cache-Status"), "detail=stale-while-revalidate") {
		t.Errorf("soft-purged entry after compaction: Cache-Status %q", resp.Header.Get("Cache-Status"))
	}
	h.cache.Close()
	h.expect("/soft", hit, "/soft")
}

// TestPurgeTrie checks the purge records against paths: exact paths,
// prefixes, nested prefixes, edges that split, and generations.
func TestPurgeTrie(t *testing.T) {
	var root *trieNode
	root = root.with("/images/a.png", true, hard, 5)
	root = root.with("/img", false, soft, 6)
	root = root.with("/images/", false, hard, 3)
	root = root.with("/imag", false, soft, 9)
	root = root.with("/x?v=1", true, hard, 7)
	tests := []struct {
		path string
		gen  uint64
		want int
	}{
		{"/images/a.png", 4, purged},
		{"/images/a.png", 5, stale}, // the soft "/imag*" at 9
		{"/images/a.png", 9, valid},
		{"/images/b.png", 2, purged}, // "/images/*" at 3
		{"/images/b.png", 3, stale},
		{"/imag", 8, stale},
		{"/ima", 1, valid},
		{"/img.jpg", 5, stale},
		{"/img.jpg", 6, valid},
		{"/im", 0, valid},
		{"/x?v=1", 6, purged},
		{"/x?v=10", 6, valid},
		{"/x", 6, valid},
		{"/", 0, valid},
		{"", 0, valid},
	}
	for _, tt := range tests {
		if got := root.verdict(tt.path, tt.gen); got != tt.want {
			t.Errorf("verdict(%q, gen %d) = %d, want %d", tt.path, tt.gen, got, tt.want)
		}
	}
}

// FuzzPurgeTrie checks the purge trie against a plain list of records.
func FuzzPurgeTrie(f *testing.F) {
	f.Add("/a/b*\n/a\n/ab*\n/c", "/a/bc")
	f.Add("/images/*\n/img.jpg\n/i*", "/img.jpg?x")
	f.Add("/x\n/x*\n/xy", "/xy")
	f.Fuzz(func(t *testing.T, patterns, path string) {
		type record struct {
			prefix string
			exact  bool
			kind   int
			gen    uint64
		}
		var root *trieNode
		var records []record
		for i, p := range strings.Split(patterns, "\n") {
			if i >= 32 || p == "" {
				break
			}
			prefix, wildcard := strings.CutSuffix(p, "*")
			if prefix == "" {
				continue
			}
			rec := record{prefix: prefix, exact: !wildcard, kind: i % 2, gen: uint64(i%5 + 1)}
			records = append(records, rec)
			root = root.with(rec.prefix, rec.exact, rec.kind, rec.gen)
		}
		if root == nil {
			return
		}
		for gen := uint64(0); gen <= 6; gen++ {
			want := valid
			for _, r := range records {
				matches := path == r.prefix || (!r.exact && strings.HasPrefix(path, r.prefix))
				if !matches || r.gen <= gen {
					continue
				}
				if r.kind == hard {
					want = purged
				} else if want == valid {
					want = stale
				}
			}
			if got := root.verdict(path, gen); got != want {
				t.Fatalf("records %+v: verdict(%q, %d) = %d, want %d", records, path, gen, got, want)
			}
		}
	})
}

// TestPurgeDuringFetch checks that a purge of any kind that matches a
// response being fetched keeps it from being stored, and that one that
// does not match lets it be stored.
func TestPurgeDuringFetch(t *testing.T) {
	tests := []struct {
		purge  func(c *Cache)
		stored bool
	}{
		{func(c *Cache) { c.Purge(testScope, "/f/slow") }, false},
		{func(c *Cache) { c.Purge(testScope, "/f/*") }, false},
		{func(c *Cache) { c.Purge(testScope, "/*") }, false},
		{func(c *Cache) { c.PurgeTag(testScope, "t") }, false},
		{func(c *Cache) { c.Purge(testScope, "/other") }, true},
		{func(c *Cache) { c.Purge("OTHERDIST", "/*") }, true},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			g := newGate()
			h := newHarness(t, 64<<20, defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
				if r.Header.Get("X-Test-Id") == "first" {
					g.hold(r)
				}
				w.Header().Set("Cache-Control", "max-age=600")
				w.Header().Set("Cache-Tag", "t")
				io.WriteString(w, "x")
			})
			done := h.getAsync(t.Context(), "/f/slow", "X-Test-Id: first")
			g.await(t)
			tt.purge(h.cache)
			g.open()
			receive(t, done)
			want := miss
			if tt.stored {
				want = hit
			}
			h.expect("/f/slow", want, "x")
		})
	}
}
