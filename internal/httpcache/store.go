package httpcache

import (
	"hash/maphash"
	"net/http"
	"sync"
)

// Storage. Entries are indexed by the hash of their key in shards, each a
// map under its own read-write lock, so that lookups on different keys do
// not contend. The variants of a key (one per set of Vary'd request values)
// hang off the map's value, newest first, with those of any other key of
// the same hash.
//
// Eviction is S3-FIFO (Yang et al., "FIFO queues are all you need for cache
// eviction", SOSP 2023), by bytes: new entries go to a small FIFO queue
// holding a tenth of the budget; one that was hit while there moves to the
// main queue when it reaches the tail, the others leave, their key hash
// kept in a ghost queue, and an entry whose key is in the ghost queue goes
// straight to the main queue. The main queue reinserts an entry that was
// hit since it was last considered (counting its hits down) and evicts one
// that was not. A hit only increments a counter, without a lock, and one
// scan through the cache leaves the main queue alone: its objects pass
// through the small queue only.

const (
	numShards = 64
	// maxVariants bounds the variants of one key, so that a Vary on a
	// header with many values cannot grow a key without limit; the
	// oldest go.
	maxVariants = 32
	// maxFreq caps an entry's hit count.
	maxFreq = 3
	// promoteFreq is the hit count at which an entry leaving the small
	// queue moves to the main queue.
	promoteFreq = 1
	// smallShare is the divisor of the budget that the small queue may
	// hold.
	smallShare = 10
)

// Queues an entry is in.
const (
	queueNone = iota // not stored, or removed
	queueSmall
	queueMain
)

type shard struct {
	mu sync.RWMutex
	m  map[uint64]*entry // key hash → newest variant
}

// fifo is an intrusive queue of entries: pushed at the head, taken at the
// tail, removed from anywhere.
type fifo struct {
	root  entry // sentinel: root.next is the head, root.prev the tail
	bytes int64
	n     int
}

func (q *fifo) init() { q.root.next, q.root.prev = &q.root, &q.root }

func (q *fifo) push(e *entry) {
	e.prev, e.next = &q.root, q.root.next
	q.root.next.prev = e
	q.root.next = e
	q.bytes += int64(e.size)
	q.n++
}

func (q *fifo) unlink(e *entry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
	q.bytes -= int64(e.size)
	q.n--
}

func (q *fifo) tail() *entry {
	if q.root.prev == &q.root {
		return nil
	}
	return q.root.prev
}

// ghost remembers the key hashes of entries evicted from the small queue
// without a hit, as many as the cache holds entries. It keeps 32 bits of
// each: a key taken for another of the same 32 bits only goes to the main
// queue when it should not have.
type ghost struct {
	q     []uint32
	start int
	set   map[uint32]struct{}
}

func (g *ghost) add(hash uint64, capacity int) {
	h := fingerprint(hash)
	if g.set == nil {
		g.set = make(map[uint32]struct{})
	}
	if _, ok := g.set[h]; ok {
		return
	}
	g.set[h] = struct{}{}
	g.q = append(g.q, h)
	for len(g.q)-g.start > max(capacity, 1) {
		delete(g.set, g.q[g.start])
		g.start++
	}
	if g.start > 1024 && g.start > len(g.q)/2 {
		g.q = append(g.q[:0], g.q[g.start:]...)
		g.start = 0
	}
}

// take reports whether hash is in the ghost queue, and forgets it.
func (g *ghost) take(hash uint64) bool {
	h := fingerprint(hash)
	if _, ok := g.set[h]; ok {
		delete(g.set, h)
		return true
	}
	return false
}

func fingerprint(hash uint64) uint32 { return uint32(hash ^ hash>>32) }

func (c *Cache) shard(hash uint64) *shard { return &c.shards[hash%numShards] }

func (c *Cache) hashKey(key string) uint64 { return maphash.String(c.seed, key) }

// entryHash returns the hash of e's primary key, as hashKey does.
func (c *Cache) entryHash(e *entry) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteString(e.pre.s)
	h.WriteString(e.key)
	return h.Sum64()
}

// lookup returns the newest variant stored under key that r selects (see
// entry.selectedBy), and whether any variant is stored under key. It counts
// a hit on the variant for eviction. It does not allocate.
func (c *Cache) lookup(key []byte, r *http.Request) (e *entry, found bool) {
	hash := maphash.Bytes(c.seed, key)
	sh := c.shard(hash)
	sh.mu.RLock()
	e, found = pick(sh.m[hash], key, r)
	sh.mu.RUnlock()
	return e, found
}

// lookupString is lookup for a key held as a string.
func (c *Cache) lookupString(key string, r *http.Request) (e *entry, found bool) {
	hash := c.hashKey(key)
	sh := c.shard(hash)
	sh.mu.RLock()
	e, found = pick(sh.m[hash], key, r)
	sh.mu.RUnlock()
	return e, found
}

// pick returns the newest variant of key from head on that r selects,
// counting a hit on it, and whether any variant of key is there.
func pick[K string | []byte](head *entry, key K, r *http.Request) (e *entry, found bool) {
	for v := head; v != nil; v = v.nextVariant {
		if !keyIs(v, key) {
			continue
		}
		found = true
		if v.selectedBy(r) {
			if v.freq.Load() < maxFreq {
				v.freq.Add(1)
			}
			return v, true
		}
	}
	return nil, found
}

// store adds e in front of the variants of its key, replacing the variant
// that the same request values select, unless e does not fit the budget or
// a purge since its origin request started matches it. It reports whether
// e was stored.
func (c *Cache) store(e *entry) bool {
	if int64(e.size) > c.maxBytes {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !e.sc().storable(e) {
		return false
	}
	var buf [4]*entry
	dropped := buf[:0]
	var replaced *entry
	hash := c.entryHash(e)
	sh := c.shard(hash)
	sh.mu.Lock()
	last, n := e, 1
	for v := sh.m[hash]; v != nil; {
		next := v.nextVariant
		switch {
		case !sameKey(v, e):
			// Another key of the same hash.
			last.nextVariant = v
			last = v
		case replaced == nil && sameVariant(v, e):
			replaced = v
			dropped = append(dropped, v)
		case n >= maxVariants:
			dropped = append(dropped, v)
		default:
			last.nextVariant = v
			last = v
			n++
		}
		v = next
	}
	last.nextVariant = nil
	sh.m[hash] = e
	sh.mu.Unlock()
	for _, v := range dropped {
		c.dequeue(v)
	}
	// A refreshed response keeps the standing of the one it replaces.
	q := &c.small
	if replaced != nil {
		e.freq.Store(replaced.freq.Load())
		if replaced.queue == queueMain {
			q = &c.main
		}
	} else if c.ghost.take(hash) {
		q = &c.main
	}
	c.enqueue(e, q)
	c.evict()
	c.stamps.sweep(c.now(), int64(c.count))
	return true
}

// persist queues a copy of a stored entry for the disk tier.
func (c *Cache) persist(e *entry) {
	if c.disk != nil {
		c.disk.save(e)
	}
}

// discard takes e out of the cache and deletes its disk copy: it is
// obsolete.
func (c *Cache) discard(e *entry) {
	c.remove(e)
	if c.disk != nil {
		c.disk.drop(fileName(e))
	}
}

// remove takes e out of the cache, if it is still there.
func (c *Cache) remove(e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(e)
}

// removeLocked takes e out of the index and its queue. c.mu is held.
func (c *Cache) removeLocked(e *entry) {
	if e.queue == queueNone {
		return
	}
	hash := c.entryHash(e)
	sh := c.shard(hash)
	sh.mu.Lock()
	if head := sh.m[hash]; head == e {
		if e.nextVariant == nil {
			delete(sh.m, hash)
		} else {
			sh.m[hash] = e.nextVariant
		}
	} else {
		for v := head; v != nil; v = v.nextVariant {
			if v.nextVariant == e {
				v.nextVariant = e.nextVariant
				break
			}
		}
	}
	sh.mu.Unlock()
	c.dequeue(e)
}

func (c *Cache) enqueue(e *entry, q *fifo) {
	e.queue = queueSmall
	if q == &c.main {
		e.queue = queueMain
	}
	q.push(e)
	c.size += int64(e.size)
	c.count++
	c.entries.Store(int64(c.count))
	c.sizeNow.Store(c.size)
}

// dequeue takes e out of its queue. c.mu is held.
func (c *Cache) dequeue(e *entry) {
	switch e.queue {
	case queueSmall:
		c.small.unlink(e)
	case queueMain:
		c.main.unlink(e)
	default:
		return
	}
	e.queue = queueNone
	c.size -= int64(e.size)
	c.count--
	c.entries.Store(int64(c.count))
	c.sizeNow.Store(c.size)
	c.stamps.remove(e, int64(c.count))
}

// shares returns the bytes that count against the budget besides the
// entries: the copies of field values and the hit values they share, and
// their hit stamps.
func (c *Cache) shares() int64 {
	return c.shared.bytes() + c.hits.bytes() + c.stamps.bytes()
}

// over reports whether the cache is over its budget. It takes no lock.
func (c *Cache) over() bool { return c.sizeNow.Load()+c.shares() > c.maxBytes }

// evict removes entries until the cache fits its budget. c.mu is held.
func (c *Cache) evict() {
	for c.size+c.shares() > c.maxBytes && c.count > 0 {
		if c.small.bytes > c.maxBytes/smallShare || c.main.n == 0 {
			c.evictSmall()
		} else {
			c.evictMain()
		}
	}
}

// evictSmall considers the tail of the small queue: promoted to the main
// queue if it was hit, else evicted and remembered in the ghost queue.
func (c *Cache) evictSmall() {
	t := c.small.tail()
	if t == nil {
		return
	}
	if t.freq.Load() >= promoteFreq && t.sc().verdict(t) != purged {
		c.small.unlink(t)
		t.freq.Store(0)
		t.queue = queueMain
		c.main.push(t)
		return
	}
	c.removeLocked(t)
	c.ghost.add(c.entryHash(t), c.count)
}

// evictMain considers the tail of the main queue: reinserted with one hit
// less if it was hit, else evicted.
func (c *Cache) evictMain() {
	t := c.main.tail()
	if f := t.freq.Load(); f > 0 && t.sc().verdict(t) != purged {
		t.freq.Store(f - 1)
		c.main.unlink(t)
		c.main.push(t)
		return
	}
	c.removeLocked(t)
}

// Len returns the number of stored responses, counting variants apart, and
// purged responses that no lookup or eviction has met yet.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}

// Size returns the bytes the stored responses count against the budget,
// with the copies of field values and the hit values they share, and
// their hit stamps.
func (c *Cache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size + c.shares()
}

// scope returns the state of the named scope, creating it.
func (c *Cache) scope(name string) *scope {
	c.scopesMu.Lock()
	defer c.scopesMu.Unlock()
	sc := c.scopes[name]
	if sc == nil {
		sc = newScope(name)
		c.scopes[name] = sc
	}
	return sc
}
