// Package httpcache is Portico's response cache: CloudFront's cache keys and
// TTL rules (DG Expiration, header-caching, Cookies, QueryStringParameters)
// over an in-memory store, with safety rules stricter than CloudFront's.
//
// What is cached: responses to the behaviour's cached methods (GET and HEAD,
// and OPTIONS when listed), keyed on the distribution (scope), host, path,
// the forwarded query string or its QueryStringCacheKeys, the forwarded
// cookies as the origin receives them, the whitelisted header values (names
// case-insensitive, values case-sensitive) and the normalised
// Accept-Encoding. A HEAD is answered from the GET's entry. Viewer
// Cache-Control and Pragma are ignored, as CloudFront ignores them.
//
// How long: s-maxage, then max-age, then Expires relative to Date, clamped
// to [MinTTL, MaxTTL]; DefaultTTL when the origin says nothing; no-cache is
// not stored at MinTTL 0 and stored for MinTTL otherwise; a 404 or 414 with
// no freshness information is kept 10 s (CloudFront's ErrorCachingMinTTL
// default); the origin's Age counts against freshness (RFC 9111 §4.2.3).
// Stale entries with an ETag or Last-Modified are revalidated with
// If-None-Match / If-Modified-Since; a 304 refreshes them ("RefreshHit").
//
// What is never stored, by deliberate choice and unlike CloudFront: a
// response with Set-Cookie, no-store or private (even when MinTTL > 0); one
// with Vary: * or varying on a header that is not in the key; 5xx responses
// (no error caching yet); 206; a response to a request carrying
// Authorization unless Authorization is whitelisted (and so in the key);
// anything when the behaviour forwards all headers ("*"), which CloudFront
// treats as caching disabled; and any body that did not arrive whole
// (Content-Length mismatch, a broken chunked body, the viewer gone) or is
// larger than the object size limit.
//
// Responses carry X-Cache ("Hit", "Miss" or "RefreshHit from portico") and,
// when served from the cache, Age. Memory is bounded by the byte budget
// given to New, with least-recently-used eviction.
package httpcache

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultMaxObjectBytes is the largest body the cache stores; it is smaller
// when the budget is: one object never takes more than 1/16 of it.
const DefaultMaxObjectBytes = 8 << 20

// entryOverhead is the memory an entry costs besides its key, headers and
// body, for the byte budget.
const entryOverhead = 256

// Cache is an in-memory HTTP cache shared by every behaviour of every
// distribution; each Handler works in a scope (the distribution ID). It is
// safe for concurrent use. No lock is held while a handler talks to the
// origin or writes to a viewer.
type Cache struct {
	maxBytes  int64
	maxObject int64
	log       *slog.Logger
	now       func() time.Time
	keys      sync.Pool // *[]byte key buffers

	mu      sync.Mutex
	entries map[string]*entry
	lru     entry // sentinel of the recency list: lru.next is the newest
	size    int64
	scopes  map[string]*scopeIndex
}

// scopeIndex lists a scope's entries by path, for Purge.
type scopeIndex struct {
	// gen counts purges, so that a response fetched before a purge is not
	// stored after it.
	gen   uint64
	paths map[string]map[*entry]struct{}
}

// entry is one stored response. Everything but the recency links is
// immutable once the entry is in the cache; a refresh stores a new entry.
type entry struct {
	key   string
	scope string
	path  string // escaped path, plus "?" and the keyed query if any

	status       int
	header       http.Header // as sent to viewers, without X-Cache and Age
	body         []byte
	responseTime time.Time
	age          time.Duration // corrected initial age
	ttl          time.Duration
	etag         string
	lastModified string
	size         int64

	prev, next *entry
}

// currentAge is the entry's age at now (RFC 9111 §4.2.3).
func (e *entry) currentAge(now time.Time) time.Duration {
	return e.age + now.Sub(e.responseTime)
}

func (e *entry) fresh(now time.Time) bool { return e.ttl > e.currentAge(now) }

// New returns a cache that keeps at most maxBytes of responses (bodies,
// headers and keys). A budget of 0 or less disables storing.
func New(maxBytes int64, log *slog.Logger) *Cache {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cache{
		maxBytes:  maxBytes,
		maxObject: min(DefaultMaxObjectBytes, maxBytes/16),
		log:       log,
		now:       time.Now,
		keys:      sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }},
		entries:   make(map[string]*entry),
		scopes:    make(map[string]*scopeIndex),
	}
	c.lru.next, c.lru.prev = &c.lru, &c.lru
	return c
}

// lookup returns the entry stored under key, marking it recently used, and
// the scope's purge generation. It does not allocate.
func (c *Cache) lookup(scope string, key []byte) (*entry, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var gen uint64
	if si := c.scopes[scope]; si != nil {
		gen = si.gen
	}
	e := c.entries[string(key)]
	if e != nil {
		c.unlink(e)
		c.pushFront(e)
	}
	return e, gen
}

// store adds e, replacing the entry with the same key, unless the scope was
// purged since generation gen or e does not fit the budget.
func (c *Cache) store(e *entry, gen uint64) bool {
	if e.size > c.maxBytes {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	si := c.scope(e.scope)
	if si.gen != gen {
		return false
	}
	if old := c.entries[e.key]; old != nil {
		c.remove(old)
	}
	c.entries[e.key] = e
	c.pushFront(e)
	c.size += e.size
	set := si.paths[e.path]
	if set == nil {
		set = make(map[*entry]struct{})
		si.paths[e.path] = set
	}
	set[e] = struct{}{}
	for c.size > c.maxBytes {
		c.remove(c.lru.prev)
	}
	return true
}

// drop removes e if it is still the entry stored under its key.
func (c *Cache) drop(e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[e.key] == e {
		c.remove(e)
	}
}

// Purge removes from scope every entry whose path matches pattern, in every
// variant (host, query, cookies, headers). pattern is an invalidation path:
// "/img.jpg" matches that path without a query string, "/img.jpg?v=2" that
// query exactly, and a pattern ending in "*" every path (query included)
// that starts with what precedes the "*", so "/img.jpg*" covers every query
// variant and "/*" the whole scope, as CloudFront's invalidations do.
// Paths are compared as the viewer sent them (URL-escaped), case-sensitively.
// A response being fetched while Purge runs is not stored.
//
// An exact path costs O(variants); a prefix scans every path of the scope,
// O(paths), under the cache's lock.
func (c *Cache) Purge(scope, pattern string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	si := c.scope(scope)
	si.gen++
	prefix, wildcard := strings.CutSuffix(pattern, "*")
	if !wildcard {
		for e := range si.paths[pattern] {
			c.remove(e)
		}
		return
	}
	for path, set := range si.paths {
		if strings.HasPrefix(path, prefix) {
			for e := range set {
				c.remove(e)
			}
		}
	}
}

// Len returns the number of stored responses.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Size returns the bytes the stored responses count against the budget.
func (c *Cache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}

// scope returns the index of a scope, creating it. c.mu is held.
func (c *Cache) scope(name string) *scopeIndex {
	si := c.scopes[name]
	if si == nil {
		si = &scopeIndex{paths: make(map[string]map[*entry]struct{})}
		c.scopes[name] = si
	}
	return si
}

// remove takes e out of the map, the recency list and the path index.
// c.mu is held.
func (c *Cache) remove(e *entry) {
	delete(c.entries, e.key)
	c.unlink(e)
	c.size -= e.size
	if si := c.scopes[e.scope]; si != nil {
		if set := si.paths[e.path]; set != nil {
			delete(set, e)
			if len(set) == 0 {
				delete(si.paths, e.path)
			}
		}
	}
}

func (c *Cache) unlink(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
		e.next.prev = e.prev
		e.prev, e.next = nil, nil
	}
}

func (c *Cache) pushFront(e *entry) {
	e.prev, e.next = &c.lru, c.lru.next
	c.lru.next.prev = e
	c.lru.next = e
}

func (c *Cache) getKeyBuf() *[]byte { return c.keys.Get().(*[]byte) }

func (c *Cache) putKeyBuf(b *[]byte) {
	if cap(*b) <= 64<<10 {
		*b = (*b)[:0]
		c.keys.Put(b)
	}
}
