// Package deploy tracks how far configuration has propagated to the data
// plane, which is what turns a distribution from InProgress to Deployed and
// an invalidation from InProgress to Completed.
//
// Each edge reports the newest store revision it serves (after it has also
// purged the invalidations up to that revision). A change is deployed once
// every live edge has reported a revision at or past the one that wrote it.
package deploy

import (
	"sync"
	"sync/atomic"
)

// Tracker records the revisions that the edges of this process serve. The
// zero value is ready to use and reports revision 0 until the first edge
// reports.
type Tracker struct {
	mu      sync.Mutex
	edges   map[string]int64
	applied atomic.Int64
	changed chan struct{} // closed and replaced on every advance
}

// Applied records that the named edge serves rev.
func (t *Tracker) Applied(edge string, rev int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.edges == nil {
		t.edges = make(map[string]int64)
	}
	if rev <= t.edges[edge] {
		return
	}
	t.edges[edge] = rev
	low := rev
	for _, r := range t.edges {
		low = min(low, r)
	}
	if low > t.applied.Load() {
		t.applied.Store(low)
		if t.changed != nil {
			close(t.changed)
			t.changed = nil
		}
	}
}

// AppliedRev returns the newest revision that every edge serves.
func (t *Tracker) AppliedRev() int64 { return t.applied.Load() }

// Changed returns a channel that is closed the next time AppliedRev
// advances.
func (t *Tracker) Changed() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.changed == nil {
		t.changed = make(chan struct{})
	}
	return t.changed
}
