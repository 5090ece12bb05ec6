package httpcache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// TestHitValues checks the values a hitTable hands out, for pairs of age
// and ttl that share its slots and pairs met again, and the values of an
// entry with a Cache-Status of its own, against those rendered afresh.
func TestHitValues(t *testing.T) {
	want := func(age, ttl int64, prev []string) (ageValue, statusValue []string) {
		st := cacheStatus{hit: true, hasTTL: true, ttl: time.Duration(ttl) * time.Second}
		return []string{strconv.FormatInt(age, 10)}, append(slices.Clone(prev), st.String())
	}
	check := func(t *testing.T, v *hitValues, age, ttl int64, prev []string) {
		t.Helper()
		wantAge, wantStatus := want(age, ttl, prev)
		if v.age != age || v.ttl != ttl || !slices.Equal(v.ageValue, wantAge) || !slices.Equal(v.statusValue, wantStatus) {
			t.Fatalf("(%d, %d): values %d %d %q %q, want %q %q", age, ttl, v.age, v.ttl, v.ageValue, v.statusValue, wantAge, wantStatus)
		}
	}
	tests := []struct {
		name           string
		ages, ttls     []int64
		prev           []string
		shareThemTwice bool
	}{
		{"a day's ages and ttls", span(0, 86400, 997), span(0, 86400, 1009), nil, true},
		{"one ttl, every age of an hour", span(0, 3600, 1), []int64{31536000}, nil, true},
		{"large", []int64{0, 1<<31 - 1, 1 << 32, 9223372036}, []int64{0, 9223372036}, nil, true},
		{"with the origin's Cache-Status", span(0, 100, 7), span(0, 100, 11), []string{"upstream; hit", "other; fwd=uri-miss"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := newHitTable(1 << 30)
			for pass := range 2 {
				for _, age := range tt.ages {
					for _, ttl := range tt.ttls {
						var v *hitValues
						if tt.prev == nil {
							v = tab.get(age, ttl)
						} else {
							v = newHitValues(age, ttl, tt.prev)
						}
						check(t, v, age, ttl, tt.prev)
						if tt.shareThemTwice && pass == 1 && tab.get(age, ttl) != v {
							t.Fatalf("(%d, %d) met twice in a row: two values", age, ttl)
						}
					}
				}
			}
			if tab.bytes() > tab.limit {
				t.Errorf("the table takes %d bytes, more than %d", tab.bytes(), tab.limit)
			}
		})
	}

	// The values are shared: appending to one must copy it.
	v := newHitValues(5, 10, nil)
	_ = append(v.ageValue, "x")
	_ = append(v.statusValue, "x")
	check(t, v, 5, 10, nil)
}

// get returns the values of a plain hit at age and ttl, kept or made.
func (t *hitTable) get(age, ttl int64) *hitValues {
	if v := t.lookup(age, ttl); v != nil {
		return v
	}
	return t.put(age, ttl)
}

func span(lo, hi, step int64) []int64 {
	var s []int64
	for v := lo; v < hi; v += step {
		s = append(s, v)
	}
	return s
}

// TestHitTableBound checks that a small cache's table keeps no more values
// than its share of the budget allows, and still hands out right ones.
func TestHitTableBound(t *testing.T) {
	tab := newHitTable(64 << 10)
	for age := range int64(5000) {
		if v := tab.get(age, 100); v.age != age || v.ageValue[0] != strconv.FormatInt(age, 10) {
			t.Fatalf("age %d: values %q", age, v.ageValue)
		}
	}
	if tab.bytes() == 0 || tab.bytes() > tab.limit || tab.limit > 64<<10/64 {
		t.Errorf("the table takes %d bytes, limit %d", tab.bytes(), tab.limit)
	}
}

// stampedCache returns a cache whose clock the test sets, holding n
// responses (/0 … /n-1) of a handler, and requests for them.
func stampedCache(t *testing.T, n int, header http.Header) (*Cache, *clock, http.Handler, []*http.Request) {
	t.Helper()
	clk := newClock()
	c := New(16<<20, nil)
	c.now = clk.now
	h := legacyHandler(c, testScope, behavior(0, 86400, 31536000, forwarded(true, "none")), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Cache-Control", "max-age=300")
		io.WriteString(w, "x")
	}))
	rs := make([]*http.Request, n)
	for i := range rs {
		rs[i] = httptest.NewRequest("GET", "https://h.example/"+strconv.Itoa(i), nil)
		h.ServeHTTP(httptest.NewRecorder(), rs[i])
	}
	if c.Len() != n {
		t.Fatalf("the cache holds %d responses, want %d", c.Len(), n)
	}
	return c, clk, h, rs
}

// stamped returns the number of entries of c with a hit stamp.
func stamped(c *Cache) int {
	n := 0
	for i := range c.shards {
		for _, e := range c.shards[i].m {
			for v := e; v != nil; v = v.nextVariant {
				if v.stamp.Load() != nil {
					n++
				}
			}
		}
	}
	return n
}

// TestStampsTakenOff checks that entries hold their hit stamps (and what
// a server rendered of them) only for about a second: a later stamp takes
// off those that no longer apply, and a removed entry loses its own. The
// stamps count against the budget as they come and go.
func TestStampsTakenOff(t *testing.T) {
	const n = 20
	c, clk, h, rs := stampedCache(t, n, nil)
	entries := c.Size() - c.shared.bytes() - c.hits.bytes()
	if got := stamped(c); got != 0 || c.stamps.bytes() != 0 {
		t.Fatalf("before any hit, %d entries hold a stamp, of %d bytes", got, c.stamps.bytes())
	}
	clk.advance(100 * time.Millisecond) // within the second after the responses
	for _, r := range rs {
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	if got := stamped(c); got != n {
		t.Fatalf("after hits through the handler, %d entries hold a stamp, want %d", got, n)
	}
	stamps := func() int64 { return c.Size() - entries - c.hits.bytes() - c.shared.bytes() }
	if got := stamps(); got <= 0 || got != c.stamps.bytes() {
		t.Errorf("the stamps count %d bytes, hold %d", got, c.stamps.bytes())
	}
	for _, r := range rs {
		hit, ok := FreshHit(h, r)
		if !ok {
			t.Fatalf("%s: no hit", r.URL)
		}
		hit.SetRendered("head")
	}
	if got := stamped(c); got != n {
		t.Fatalf("after FreshHit on each, %d entries hold a stamp, want %d", got, n)
	}
	// Within the second, the stamps apply: a new one takes none off.
	clk.advance(500 * time.Millisecond)
	for _, r := range rs[:3] {
		if hit, _ := FreshHit(h, r); hit.Rendered() != "head" {
			t.Fatalf("%s: rendered %v within the second, want head", r.URL, hit.Rendered())
		}
	}
	// A second later, each new stamp takes up to sweepBatch old ones off.
	clk.advance(time.Second)
	for _, r := range rs[:n/sweepBatch] {
		if hit, _ := FreshHit(h, r); hit.Rendered() != nil {
			t.Fatalf("%s: rendered %v a second later, want nothing", r.URL, hit.Rendered())
		}
	}
	if got, want := stamped(c), n/sweepBatch; got != want {
		t.Errorf("a second later, %d entries hold a stamp, want %d (those hit again)", got, want)
	}
	if got := c.stamps.len(); got != n/sweepBatch {
		t.Errorf("the ring holds %d stamps, want %d", got, n/sweepBatch)
	}
	if got, want := stamps(), c.stamps.bytes(); got != want || want >= int64(n)*int64(unsafe.Sizeof(hitStamp{})) {
		t.Errorf("the stamps count %d bytes, hold %d", got, want)
	}

	// A removed entry loses its stamp, which lets go of the entry but
	// counts the string its view refers to; a hit on the removed entry
	// (one in flight) makes a stamp that no entry or ring keeps.
	e, _ := c.lookupString(c.keyOf(t, h, rs[0]), rs[0])
	s := e.stamp.Load()
	if s == nil {
		t.Fatal("no stamp on an entry just hit")
	}
	before := c.stamps.bytes()
	c.remove(e)
	if e.stamp.Load() != removedStamp || s.e != nil {
		t.Error("a removed entry keeps its stamp")
	}
	if got, want := c.stamps.bytes()-before, int64(allocSize(e.textLen(), false)); got != want {
		t.Errorf("the removed entry's stamp counts %d more bytes, want %d", got, want)
	}
	clk.advance(time.Second)
	held := c.stamps.len()
	if s := c.stampFor(e, clk.now()); s == nil || c.valuesOf(s) == nil || s.e != nil || e.stamp.Load() != removedStamp || c.stamps.len() != held {
		t.Error("a hit on a removed entry stamped it")
	}
}

// keyOf returns the key the handler h files r under.
func (c *Cache) keyOf(t *testing.T, h http.Handler, r *http.Request) string {
	t.Helper()
	return string(h.(*handler).spec.appendKey(nil, r, classGet))
}

// TestStampsBounded checks that there are never more hit stamps than
// entries, even when a stamp that still applies stands before stamps that
// no longer do.
func TestStampsBounded(t *testing.T) {
	const n = 8
	c, clk, h, rs := stampedCache(t, n, nil)
	// A response stored half a second after the others is stamped first:
	// its stamp applies half a second longer than theirs.
	clk.advance(500 * time.Millisecond)
	late := httptest.NewRequest("GET", "https://h.example/late", nil)
	h.ServeHTTP(httptest.NewRecorder(), late)
	clk.advance(400 * time.Millisecond)
	for _, r := range append([]*http.Request{late}, rs...) {
		FreshHit(h, r)
	}
	clk.advance(200 * time.Millisecond)
	for _, r := range rs {
		FreshHit(h, r) // a new second for these
	}
	if got := c.stamps.len(); got > c.Len() {
		t.Errorf("the ring holds %d stamps for %d entries", got, c.Len())
	}

	// Removals take stamps off, down to none.
	for _, r := range append([]*http.Request{late}, rs...) {
		e, _ := c.lookupString(c.keyOf(t, h, r), r)
		c.remove(e)
		if got, slots := c.stamps.len(), len(c.stamps.buf); got > c.Len() || slots > 4*(got+1) {
			t.Fatalf("the ring holds %d stamps in %d slots for %d entries", got, slots, c.Len())
		}
	}
	if got := c.stamps.len(); got != 0 {
		t.Errorf("the ring holds %d stamps for no entry", got)
	}
}

// TestOwnCacheStatusStamped checks that the handler stamps an entry with a
// Cache-Status of its own, whose hits keep the origin's members, and then
// allocates nothing for its hits.
func TestOwnCacheStatusStamped(t *testing.T) {
	const n = 3
	c, clk, h, rs := stampedCache(t, n, http.Header{"Cache-Status": {"upstream; hit"}})
	clk.advance(100 * time.Millisecond)
	w := &benchWriter{h: http.Header{}}
	for round := range 4 {
		for _, r := range rs {
			clear(w.h)
			h.ServeHTTP(w, r)
			if got := w.h["Cache-Status"]; len(got) != 2 || got[0] != "upstream; hit" || got[1] != hitStatusMember(t, c, r, h) {
				t.Fatalf("round %d: Cache-Status %q", round, got)
			}
		}
		clk.advance(700 * time.Millisecond)
	}
	if got := stamped(c); got != n {
		t.Errorf("%d entries hold a stamp, want all %d", got, n)
	}
	if raceEnabled {
		return
	}
	allocs := testing.AllocsPerRun(100, func() {
		clear(w.h)
		h.ServeHTTP(w, rs[0])
	})
	if allocs != 0 {
		t.Errorf("a hit allocated %v times per run, want 0", allocs)
	}
}

// hitStatusMember returns Portico's Cache-Status member for a plain hit on
// r's entry now.
func hitStatusMember(t *testing.T, c *Cache, r *http.Request, h http.Handler) string {
	t.Helper()
	e, _ := c.lookupString(c.keyOf(t, h, r), r)
	_, ttl := e.hitSeconds(c.now())
	st := cacheStatus{hit: true, hasTTL: true, ttl: time.Duration(ttl) * time.Second}
	return st.String()
}

// TestStampsConcurrent makes hits through FreshHit and the handler, new
// seconds, removals and stores at once, for the race detector, and checks
// the bound and the values served.
func TestStampsConcurrent(t *testing.T) {
	const n = 16
	c, clk, h, rs := stampedCache(t, n, nil)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &benchWriter{h: http.Header{}}
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				r := rs[(i*7+g)%n].Clone(t.Context())
				if g%2 == 0 {
					if hit, ok := FreshHit(h, r); ok {
						hd := http.Header{}
						hit.Header(hd)
						if len(hd["Age"]) != 1 || len(hd["Cache-Status"]) != 1 {
							t.Errorf("Age %q, Cache-Status %q", hd["Age"], hd["Cache-Status"])
						}
						hit.SetRendered(i)
					}
					continue
				}
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		}()
	}
	for round := range 200 {
		clk.advance(97 * time.Millisecond)
		if round%10 == 0 {
			e, _ := c.lookupString(c.keyOf(t, h, rs[round%n]), rs[round%n])
			if e != nil {
				c.remove(e) // the handler stores it again
			}
		}
		if got, limit := c.stamps.len(), c.Len()+sweepBatch; got > limit {
			t.Errorf("round %d: %d stamps for %d entries", round, got, c.Len())
		}
		time.Sleep(100 * time.Microsecond)
	}
	close(done)
	wg.Wait()
}
