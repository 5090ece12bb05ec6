package httpcache

import (
	"container/list"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sort"
	"testing"
)

// zipf draws ranks 0..n-1 with probability proportional to 1/(rank+1)^s;
// unlike math/rand's, s may be below 1.
type zipf struct {
	cdf []float64
	rng *rand.Rand
}

func newZipf(n int, s float64, rng *rand.Rand) *zipf {
	z := &zipf{cdf: make([]float64, n), rng: rng}
	sum := 0.0
	for i := range n {
		sum += 1 / math.Pow(float64(i+1), s)
		z.cdf[i] = sum
	}
	for i := range z.cdf {
		z.cdf[i] /= sum
	}
	return z
}

func (z *zipf) next() int { return sort.SearchFloat64s(z.cdf, z.rng.Float64()) }

// scanTrace is a request trace over objects popular by Zipf(0.9), broken
// every burst requests by a scan of scan objects requested once and never
// again: the load that flushes an LRU cache.
func scanTrace(objects, length, burst, scan int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	z := newZipf(objects, 0.9, rng)
	keys := make([]string, objects)
	for i := range keys {
		keys[i] = fmt.Sprintf("obj-%d", i)
	}
	trace := make([]string, 0, length)
	scans := 0
	for len(trace) < length {
		for range burst {
			trace = append(trace, keys[z.next()])
		}
		for range scan {
			trace = append(trace, fmt.Sprintf("scan-%d", scans))
			scans++
		}
	}
	return trace[:length]
}

// hitRatioS3FIFO plays trace against the cache's own storage and eviction,
// with objects of one size, and returns the hit ratio.
func hitRatioS3FIFO(trace []string, capacity int) float64 {
	const size = 1024
	c := New(int64(capacity*size), nil)
	sc := c.scope("TRACE")
	r := &http.Request{Header: http.Header{}}
	hits := 0
	for _, k := range trace {
		if e, _ := c.lookupString(k, r); e != nil {
			hits++
			continue
		}
		c.store(sizedEntry(sc, k, "", size))
	}
	return float64(hits) / float64(len(trace))
}

// hitRatioLRU plays trace against a plain least-recently-used cache of the
// same capacity.
func hitRatioLRU(trace []string, capacity int) float64 {
	l := list.New()
	m := make(map[string]*list.Element, capacity)
	hits := 0
	for _, k := range trace {
		if el, ok := m[k]; ok {
			hits++
			l.MoveToFront(el)
			continue
		}
		m[k] = l.PushFront(k)
		if l.Len() > capacity {
			delete(m, l.Remove(l.Back()).(string))
		}
	}
	return float64(hits) / float64(len(trace))
}

// TestEvictionBeatsLRU checks that S3-FIFO keeps more of a scan-heavy
// Zipf(0.9) load than LRU does, at several cache sizes.
func TestEvictionBeatsLRU(t *testing.T) {
	trace := scanTrace(20_000, 300_000, 20_000, 5_000, 1)
	for _, capacity := range []int{500, 2_000} {
		s3, lru := hitRatioS3FIFO(trace, capacity), hitRatioLRU(trace, capacity)
		t.Logf("capacity %d of 20,000 objects: S3-FIFO %.4f, LRU %.4f", capacity, s3, lru)
		if s3 <= lru {
			t.Errorf("capacity %d: S3-FIFO hit ratio %.4f, not above LRU's %.4f", capacity, s3, lru)
		}
	}
}

// BenchmarkHitRatio reports the hit ratios of S3-FIFO and LRU on a
// Zipf(0.9) plus scan trace of a million requests over 100,000 objects,
// for cache sizes of 1%, 5% and 10% of the objects. (The time per op is
// one whole trace; the metrics are what matters.)
func BenchmarkHitRatio(b *testing.B) {
	trace := scanTrace(100_000, 1_000_000, 50_000, 20_000, 42)
	for _, capacity := range []int{1_000, 5_000, 10_000} {
		b.Run(fmt.Sprintf("capacity=%d", capacity), func(b *testing.B) {
			var s3, lru float64
			for b.Loop() {
				s3, lru = hitRatioS3FIFO(trace, capacity), hitRatioLRU(trace, capacity)
			}
			b.ReportMetric(s3, "s3fifo-hit-ratio")
			b.ReportMetric(lru, "lru-hit-ratio")
		})
	}
}

// TestEvictionPurgedFirst checks that purged entries leave before any live
// one when the budget is reached.
func TestEvictionPurgedFirst(t *testing.T) {
	const size = 100
	c := New(10*size, nil)
	sc := c.scope("P")
	r := &http.Request{Header: http.Header{}}
	add := func(k string) {
		c.store(sizedEntry(sc, k, "/"+k, size))
	}
	for i := range 10 {
		add(fmt.Sprint("live", i))
		c.lookupString(fmt.Sprint("live", i), r) // one hit each
	}
	c.Purge("P", "/live0")
	add("new")
	if e, _ := c.lookupString("live1", r); e == nil {
		t.Error("a live entry was evicted while a purged one was there")
	}
	if c.Len() != 10 {
		t.Errorf("cache holds %d entries, want 10", c.Len())
	}
}
