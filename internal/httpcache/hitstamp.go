package httpcache

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Plain hits. A plain hit answers with the stored fields plus X-Cache, Age
// and Cache-Status ("portico; hit; ttl=…"), whose values depend only on the
// entry's age and remaining freshness in whole seconds, and on the
// Cache-Status values the origin sent, which few responses have. Every hit
// of a second is handed the same []string values, so that it allocates
// nothing:
//
//   - hitValues are the Age and Cache-Status values for one age and ttl. A
//     small table on the Cache (hitTable) keeps those that hits met last,
//     for every entry without a Cache-Status of its own to share.
//   - A hitStamp is an entry's for one second: the view of its fields that
//     a header map refers to (see fields), its own Age and Cache-Status
//     values when it has a Cache-Status of its own, and what a server
//     rendered of the hit's response head (Hit.Rendered). The first hit of
//     a second makes it.
//
// The stamps are kept in a ring, oldest first, of no more stamps than the
// cache holds entries. Each new stamp, and each response stored, takes a
// few old ones off their entries, those that no longer apply (a past
// second's, or a removed or restamped entry's) and, past the bound, the
// oldest: an entry holds a stamp for about a second after a hit, not until
// its next hit, and most entries of a large cache hold none. The stamps in
// the ring count against the cache's budget as they come and go (see
// stampRing.bytes); when they take it over, the next stamp or store
// evicts entries.

// hitValues are the Age and Cache-Status field values of a plain hit at one
// age and remaining freshness, in whole seconds.
type hitValues struct {
	age, ttl    int64
	ageValue    []string
	statusValue []string // the origin's values, then Portico's member
	// one backs ageValue and, when the origin sent none, statusValue.
	one [2]string
}

// maxHitText bounds the bytes of a hitValues' text: an Age and a
// Cache-Status member "portico; hit; ttl=" of up to 19 digits and a sign
// each.
const maxHitText = 2*20 + len("portico; hit; ttl=")

// newHitValues returns the values of a plain hit at age and ttl on a
// response whose origin sent the Cache-Status values prev.
func newHitValues(age, ttl int64, prev []string) *hitValues {
	st := cacheStatus{hit: true, hasTTL: true, ttl: time.Duration(ttl) * time.Second}
	b := strconv.AppendInt(make([]byte, 0, maxHitText), age, 10)
	n := len(b)
	text := string(st.appendTo(b))
	v := &hitValues{age: age, ttl: ttl}
	v.one = [2]string{text[:n], text[n:]}
	v.ageValue = v.one[0:1:1]
	if len(prev) == 0 {
		v.statusValue = v.one[1:2:2]
	} else {
		v.statusValue = withCacheStatus(prev, v.one[1])
	}
	return v
}

// hitValuesBytes bounds what one hitValues takes: itself and its text (and,
// for an entry with a Cache-Status of its own, its statusValue: see
// entrySize).
var hitValuesBytes = allocSize(int(unsafe.Sizeof(hitValues{})), true) + allocSize(maxHitText, false)

// hitSlots is the number of hitValues a hitTable keeps.
const hitSlots = 1024

// hitTable keeps the hitValues that hits met last, one per slot, chosen
// by age and ttl, for entries to share. Its bytes, up to a limit, count
// against the cache's budget; once at the limit, values for an empty slot
// are made for the one hit only.
type hitTable struct {
	slots [hitSlots]atomic.Pointer[hitValues]
	limit int64
	size  atomic.Int64
}

func newHitTable(budget int64) *hitTable {
	return &hitTable{limit: min(int64(hitSlots*hitValuesBytes), budget/64)}
}

// slot returns the slot of the values for age and ttl.
func (t *hitTable) slot(age, ttl int64) *atomic.Pointer[hitValues] {
	return &t.slots[(uint64(age)<<32^uint64(ttl))*0x9e3779b97f4a7c15>>(64-10)]
}

// lookup returns the kept values of a plain hit at age and ttl, for a
// response without a Cache-Status of its own, or nil: then put makes them.
func (t *hitTable) lookup(age, ttl int64) *hitValues {
	if v := t.slot(age, ttl).Load(); v != nil && v.age == age && v.ttl == ttl {
		return v
	}
	return nil
}

// put makes the values for age and ttl, and keeps them in their slot if it
// can.
func (t *hitTable) put(age, ttl int64) *hitValues {
	slot := t.slot(age, ttl)
	old := slot.Load()
	v := newHitValues(age, ttl, nil)
	switch {
	case old != nil:
		slot.CompareAndSwap(old, v)
	case t.size.Add(int64(hitValuesBytes)) > t.limit:
		t.size.Add(-int64(hitValuesBytes))
	case !slot.CompareAndSwap(nil, v):
		t.size.Add(-int64(hitValuesBytes))
	}
	return v
}

// bytes returns the bytes the kept values take.
func (t *hitTable) bytes() int64 { return t.size.Load() }

// hitStamp is an entry's for the plain hits of one second: at one age and
// remaining freshness, in whole seconds.
type hitStamp struct {
	// e is the stamped entry while the stamp is on it; nil once the
	// entry is removed, stamped again, or the stamp is taken off it.
	// Guarded by stampRing.mu.
	e        *entry
	age, ttl int64
	// own holds the values of an entry with a Cache-Status of its own;
	// nil for the others, whose values are the hitTable's.
	own *hitValues
	// view holds the entry's field values (see fields.view).
	view []string
	// rendered is what a server made of the hit's response head (see
	// Hit.Rendered).
	rendered atomic.Value
	// kept is the bytes of the string the view refers to, once the entry
	// is removed while the stamp is in the ring (see stampRing.remove).
	// Guarded by stampRing.mu.
	kept int64
}

// removedStamp stands for the stamp of an entry removed from the cache: a
// hit on it makes a stamp of its own, which no entry keeps.
var removedStamp = &hitStamp{age: -1}

// size returns what s takes, with the string its view keeps.
func (s *hitStamp) size() int64 {
	n := allocSize(int(unsafe.Sizeof(hitStamp{})), true) + allocSize(len(s.view)*int(unsafe.Sizeof("")), true)
	if s.own != nil {
		n += hitValuesBytes + allocSize(len(s.own.statusValue)*int(unsafe.Sizeof("")), true)
	}
	return int64(n) + s.kept
}

// applies reports whether s is still its entry's, for its hits at now.
// stampRing.mu is held.
func (s *hitStamp) applies(now time.Time) bool {
	if s.e == nil {
		return false
	}
	age, ttl := s.e.hitSeconds(now)
	return age == s.age && ttl == s.ttl
}

// takeOff takes s off its entry, if it is still on it. stampRing.mu is
// held.
func (s *hitStamp) takeOff() {
	if s.e != nil {
		s.e.stamp.CompareAndSwap(s, nil)
		s.e = nil
	}
}

// hitSeconds returns the age and the remaining freshness of e at now, in
// whole seconds, as a hit's Age and Cache-Status give them.
func (e *entry) hitSeconds(now time.Time) (age, ttl int64) {
	cur := e.currentAge(now)
	return int64(max(cur, 0) / time.Second), ttlSeconds(e.ttl - cur)
}

// stampFor returns e's stamp for its plain hits at now, made if need be.
func (c *Cache) stampFor(e *entry, now time.Time) *hitStamp {
	cur := e.currentAge(now)
	age, ttl := int64(max(cur, 0)/time.Second), ttlSeconds(e.ttl-cur)
	if s := e.stamp.Load(); s != nil && s.age == age && s.ttl == ttl {
		return s
	}
	return c.stamp(e, age, ttl, now)
}

// valuesOf returns the Age and Cache-Status values of the plain hits that
// s is for.
func (c *Cache) valuesOf(s *hitStamp) *hitValues {
	if s.own != nil {
		return s.own
	}
	if v := c.hits.lookup(s.age, s.ttl); v != nil {
		return v
	}
	return c.hits.put(s.age, s.ttl)
}

// stamp stamps e for its plain hits at age and ttl, now. When the stamps
// take the cache over its budget, it evicts entries, unless another
// goroutine holds the cache's lock (the next store evicts them then).
func (c *Cache) stamp(e *entry, age, ttl int64, now time.Time) *hitStamp {
	s := &hitStamp{age: age, ttl: ttl, view: e.header.view()}
	if e.flags&entryCacheStatus != 0 {
		s.own = newHitValues(age, ttl, e.header.values("Cache-Status"))
	}
	c.stamps.add(e, s, now, c.entries.Load())
	if c.over() && c.mu.TryLock() {
		c.evict()
		c.mu.Unlock()
	}
	return s
}

// stampRing holds the hit stamps on entries, oldest first, and those taken
// off them since, so that it can take them off and count them.
type stampRing struct {
	mu   sync.Mutex
	buf  []*hitStamp // circular
	head int         // the oldest
	n    int
	// size is what the stamps held and buf take.
	size atomic.Int64
}

// sweepBatch is the most old stamps a new one takes off.
const sweepBatch = 4

// add puts s, made at now, on e, unless e is removed, and keeps it; then it
// sweeps.
func (r *stampRing) add(e *entry, s *hitStamp, now time.Time, limit int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := e.stamp.Load()
	if old == removedStamp {
		return
	}
	s.e = e
	e.stamp.Store(s)
	if old != nil {
		old.e = nil
	}
	if r.n == len(r.buf) {
		r.resize(max(4, 2*len(r.buf)))
	}
	r.buf[(r.head+r.n)%len(r.buf)] = s
	r.n++
	r.size.Add(s.size())
	r.sweepLocked(now, limit)
}

// sweep takes off up to sweepBatch of the oldest stamps: those that no
// longer apply at now, and those beyond limit, the number of entries.
func (r *stampRing) sweep(now time.Time, limit int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweepLocked(now, limit)
}

func (r *stampRing) sweepLocked(now time.Time, limit int64) {
	for i := 0; i < sweepBatch && r.n > 0; i++ {
		if int64(r.n) <= limit && r.buf[r.head].applies(now) {
			break
		}
		r.pop()
	}
}

// remove takes e's stamp off it for good: e is removed from the cache. The
// stamp's view refers to e's string until the stamp leaves the ring (after
// any older stamp of e), which counts it from now on. Then remove takes
// off up to sweepBatch of the oldest stamps beyond limit, the number of
// entries.
func (r *stampRing) remove(e *entry, limit int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := e.stamp.Swap(removedStamp); s != nil {
		s.e = nil
		s.kept = int64(allocSize(e.textLen(), false))
		r.size.Add(s.kept)
	}
	for i := 0; i < sweepBatch && int64(r.n) > limit; i++ {
		r.pop()
	}
}

// pop takes the oldest stamp off its entry and out of the ring, which
// holds one at least. The ring is never more than four times as long as
// the stamps it holds, plus one.
func (r *stampRing) pop() {
	old := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	r.size.Add(-old.size())
	old.takeOff()
	if len(r.buf) > 4 && r.n < len(r.buf)/4 {
		r.resize(len(r.buf) / 2)
	}
}

// resize moves the stamps to a buffer of n slots.
func (r *stampRing) resize(n int) {
	buf := make([]*hitStamp, n)
	for i := range r.n {
		buf[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	r.size.Add(int64(allocSize(8*len(buf), true) - allocSize(8*len(r.buf), true)))
	r.buf, r.head = buf, 0
}

// bytes returns what the stamps held and the ring take.
func (r *stampRing) bytes() int64 { return r.size.Load() }

// len returns the number of stamps held.
func (r *stampRing) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}
