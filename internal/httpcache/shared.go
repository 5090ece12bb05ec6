package httpcache

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// sharedValues holds one copy of header field values that many responses
// carry (a Content-Type, a Cache-Control, a Content-Security-Policy), so
// that entries refer to it by its index rather than each holding its own.
// It takes a value, of a field whose values are shared (see commonNames),
// the second time it sees it (within the last sharedSeen values seen once),
// as long as there is room; it never lets one go. It holds the key
// prefixes that entries share the same way (see prefix). The bytes it
// holds count against the cache's budget once.
type sharedValues struct {
	seed  maphash.Seed
	limit int64 // the bytes it may hold

	mu sync.RWMutex
	m  map[string]uint32 // a copy's value → its index in list
	// list holds the copies, by index; appended to under mu, read
	// without it.
	list atomic.Pointer[[]string]
	// prefixes holds the key prefixes that entries share.
	prefixes map[string]*keyPrefix
	// seen holds the hashes of values and key prefixes seen once, up to
	// sharedSeen of them; then it starts again.
	seen map[uint64]struct{}
	size atomic.Int64 // the bytes it holds, counting the map's and list's slots
}

const (
	// sharedSeen is the number of values seen once that sharedValues
	// remembers.
	sharedSeen = 4096
	// sharedMaxValue is the longest value shared.
	sharedMaxValue = 16 << 10
	// sharedMaxBytes bounds the bytes of the copies, as does a 64th of the
	// cache's budget. It keeps an index under 2^15 (see fields).
	sharedMaxBytes = 1 << 20
	// sharedSlotBytes bounds a copy's share of the map (a string and an
	// index, and a control byte, in a table as little as 7/16 full) and
	// of the list (a string, in a slice up to twice as long).
	sharedSlotBytes = (16+8+1)*16/7 + 2*16
)

func newSharedValues(budget int64) *sharedValues {
	sv := &sharedValues{
		seed:     maphash.MakeSeed(),
		limit:    min(sharedMaxBytes, budget/64),
		m:        make(map[string]uint32),
		prefixes: make(map[string]*keyPrefix),
		seen:     make(map[uint64]struct{}),
	}
	sv.list.Store(new([]string))
	return sv
}

// get returns the index of the copy of v to refer to, if there is one or
// it takes one now. sv may be nil: there is none.
func (sv *sharedValues) get(v string) (uint32, bool) {
	if sv == nil || v == "" || len(v) > sharedMaxValue {
		return 0, false
	}
	sv.mu.RLock()
	i, ok := sv.m[v]
	sv.mu.RUnlock()
	if ok {
		return i, true
	}
	h := maphash.String(sv.seed, v)
	cost := int64(allocSize(len(v), false) + sharedSlotBytes)
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if i, ok := sv.m[v]; ok {
		return i, true
	}
	if _, ok := sv.seen[h]; !ok {
		if len(sv.seen) >= sharedSeen {
			clear(sv.seen)
		}
		sv.seen[h] = struct{}{}
		return 0, false
	}
	delete(sv.seen, h)
	if sv.size.Load()+cost > sv.limit {
		return 0, false
	}
	c := strings.Clone(v)
	list := append(*sv.list.Load(), c)
	i = uint32(len(list) - 1)
	sv.list.Store(&list)
	sv.m[c] = i
	sv.size.Add(cost)
	return i, true
}

// prefixSlotBytes bounds a key prefix's share of the prefixes map, and
// the prefix itself.
var prefixSlotBytes = (16+8+1)*16/7 + allocSize(int(unsafe.Sizeof(keyPrefix{})), true)

// prefix returns the prefix (see keyPrefix) of key, a key of scope sc, to
// refer to: the one it holds, or takes now when it sees it the second
// time, or else sc's empty prefix. sv may be nil: it holds none.
func (sv *sharedValues) prefix(sc *scope, key string) *keyPrefix {
	n := keyPrefixLen(key)
	if sv == nil || n == 0 {
		return sc.whole
	}
	p := key[:n]
	sv.mu.RLock()
	kp := sv.prefixes[p]
	sv.mu.RUnlock()
	if kp != nil && kp.sc == sc {
		return kp
	}
	h := maphash.String(sv.seed, p)
	cost := int64(allocSize(len(p), false) + prefixSlotBytes)
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if kp := sv.prefixes[p]; kp != nil {
		if kp.sc == sc {
			return kp
		}
		return sc.whole // a scope made again, as tests do
	}
	if _, ok := sv.seen[h]; !ok {
		if len(sv.seen) >= sharedSeen {
			clear(sv.seen)
		}
		sv.seen[h] = struct{}{}
		return sc.whole
	}
	delete(sv.seen, h)
	if sv.size.Load()+cost > sv.limit {
		return sc.whole
	}
	kp = &keyPrefix{sc: sc, s: strings.Clone(p)}
	sv.prefixes[kp.s] = kp
	sv.size.Add(cost)
	return kp
}

// at returns the copy at index i, which get returned.
func (sv *sharedValues) at(i uint32) string { return (*sv.list.Load())[i] }

// bytes returns the bytes the copies take. sv may be nil.
func (sv *sharedValues) bytes() int64 {
	if sv == nil {
		return 0
	}
	return sv.size.Load()
}
