package httpcache

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestSharedValues checks that entries share a value of a shared field
// from its second sighting on, never one of another field, and that the
// copies stay within their bound and count against the budget.
func TestSharedValues(t *testing.T) {
	c := New(64<<20, nil)
	sc := c.scope(testScope)
	store := func(i int, ct, etag string) *entry {
		e := newEntry(&response{key: "k" + strconv.Itoa(i), sc: sc, path: "/", shared: c.shared,
			header: http.Header{"Content-Type": {clone(ct)}, "Etag": {clone(etag)}}})
		if !c.store(e) {
			t.Fatal("not stored")
		}
		return e
	}
	first, second, third := store(1, "text/css", `"a"`), store(2, "text/css", `"a"`), store(3, "text/css", `"a"`)
	if unsafeSameData(first.header.get("Content-Type"), second.header.get("Content-Type")) {
		t.Error("a value seen once is shared")
	}
	if !unsafeSameData(second.header.get("Content-Type"), third.header.get("Content-Type")) {
		t.Error("a value seen thrice is not shared")
	}
	if unsafeSameData(second.header.get("Etag"), third.header.get("Etag")) {
		t.Error("an ETag is shared")
	}
	for _, e := range []*entry{first, second, third} {
		if e.header.get("Content-Type") != "text/css" || e.header.get("Etag") != `"a"` {
			t.Errorf("fields %v", e.header.header())
		}
	}
	if c.shared.bytes() == 0 || c.Size() != c.size+c.shared.bytes() {
		t.Errorf("the shared copies take %d bytes; Size %d, entries %d", c.shared.bytes(), c.Size(), c.size)
	}

	// Within the bound, whatever comes.
	long := strings.Repeat("x", 4000)
	for i := range 2000 {
		v := strconv.Itoa(i) + long
		c.shared.get(v)
		c.shared.get(v)
	}
	if c.shared.bytes() > c.shared.limit || c.shared.limit > sharedMaxBytes {
		t.Errorf("the shared copies take %d bytes, more than %d", c.shared.bytes(), c.shared.limit)
	}
	if _, ok := c.shared.get(strings.Repeat("y", sharedMaxValue+1)); ok {
		t.Error("a value longer than the limit is shared")
	}
	var none *sharedValues
	if _, ok := none.get("text/css"); ok || none.bytes() != 0 {
		t.Error("no sharedValues shares")
	}
}

// TestSharedValuesConcurrent runs lookups of the same values from several
// goroutines, for the race detector.
func TestSharedValuesConcurrent(t *testing.T) {
	sv := newSharedValues(1 << 30)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				v := "value-" + strconv.Itoa((i+g)%50)
				if i, ok := sv.get(v); ok && sv.at(i) != v {
					t.Errorf("get(%q): %q", v, sv.at(i))
				}
			}
		})
	}
	wg.Wait()
	if n := len(sv.m); n != 50 {
		t.Errorf("%d values shared, want 50", n)
	}
}
