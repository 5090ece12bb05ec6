package httpcache

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
)

// sharedValues holds one copy of header field values that many responses
// carry (a Content-Type, a Cache-Control, a Content-Security-Policy), so
// that entries refer to it rather than each holding its own. It takes a
// value, of a field whose values are shared (see commonNames), the second
// time it sees it (within the last sharedSeen values seen once), as long as
// there is room; it never lets one go. The
// bytes it holds count against the cache's budget once.
type sharedValues struct {
	seed  maphash.Seed
	limit int64 // the bytes it may hold

	mu sync.RWMutex
	m  map[string]string
	// seen holds the hashes of values seen once, up to sharedSeen of
	// them; then it starts again.
	seen map[uint64]struct{}
	size atomic.Int64 // the bytes it holds, counting the map's slots
}

const (
	// sharedSeen is the number of values seen once that sharedValues
	// remembers.
	sharedSeen = 4096
	// sharedMaxValue is the longest value shared.
	sharedMaxValue = 16 << 10
	// sharedMaxBytes bounds the bytes of the copies, as does a 64th of the
	// cache's budget.
	sharedMaxBytes = 1 << 20
	// sharedSlotBytes bounds a copy's share of the map.
	sharedSlotBytes = (2*16 + 1) * 16 / 7
)

func newSharedValues(budget int64) *sharedValues {
	return &sharedValues{
		seed:  maphash.MakeSeed(),
		limit: min(sharedMaxBytes, budget/64),
		m:     make(map[string]string),
		seen:  make(map[uint64]struct{}),
	}
}

// get returns the copy of v to refer to, if there is one or it takes one
// now. sv may be nil: there is none.
func (sv *sharedValues) get(v string) (string, bool) {
	if sv == nil || v == "" || len(v) > sharedMaxValue {
		return "", false
	}
	sv.mu.RLock()
	c, ok := sv.m[v]
	sv.mu.RUnlock()
	if ok {
		return c, true
	}
	h := maphash.String(sv.seed, v)
	cost := int64(allocSize(len(v), false) + sharedSlotBytes)
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if c, ok := sv.m[v]; ok {
		return c, true
	}
	if _, ok := sv.seen[h]; !ok {
		if len(sv.seen) >= sharedSeen {
			clear(sv.seen)
		}
		sv.seen[h] = struct{}{}
		return "", false
	}
	delete(sv.seen, h)
	if sv.size.Load()+cost > sv.limit {
		return "", false
	}
	c = strings.Clone(v)
	sv.m[c] = c
	sv.size.Add(cost)
	return c, true
}

// bytes returns the bytes the copies take. sv may be nil.
func (sv *sharedValues) bytes() int64 {
	if sv == nil {
		return 0
	}
	return sv.size.Load()
}
