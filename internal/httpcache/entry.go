package httpcache

import (
	"strconv"
	"sync/atomic"
	"time"
)

// entry is one stored response: one variant of one key. Everything but
// the fields marked otherwise is immutable once the entry is stored; a
// refresh stores a new entry.
type entry struct {
	key  string // the primary key (see keySpec)
	hash uint64 // maphash of key
	sc   *scope
	path string // purge path: escaped path, plus "?" and the keyed query if any
	gen  uint64 // sc's purge generation when the origin request started

	// vary holds the request fields the response varies on beyond the
	// key, as pairs of canonical name and normalised value (absentField
	// when the request had none): the secondary key (RFC 9111 §4.1).
	vary []string
	tags []string // Cache-Tag values, for purge by tag

	status int
	header fields // as sent to viewers, without X-Cache, Age and Portico's Cache-Status
	body   []byte

	responseTime int64         // Unix nanoseconds
	age          time.Duration // corrected initial age (RFC 9111 §4.2.3)
	policy       storePolicy
	etag         string
	lastModified string
	size         int64 // what the entry counts against the byte budget
	// compressed is true when Portico compressed the body: the origin's
	// validators then describe another representation.
	compressed bool

	// freq counts hits, up to maxFreq, for eviction. Atomic: hits do not
	// take the cache's lock.
	freq atomic.Int32
	// graceUntil (Unix nanoseconds) is when a stale entry served in place
	// of an origin error stops being served without asking the origin
	// again (CloudFront's ErrorCachingMinTTL for 5xx, DG HTTPStatusCodes).
	graceUntil atomic.Int64
	// softStale is set when a soft purge marked the entry stale after its
	// purge record was compacted away.
	softStale atomic.Bool
	// stamp holds the Age and Cache-Status values of a plain hit, rendered
	// for the last age and ttl served, so that hits in the same second
	// share them.
	stamp atomic.Pointer[hitStamp]
	// file is the entry's disk copy, open for Hit.BodyFile.
	file atomic.Pointer[bodyFile]

	// Guarded by Cache.mu: the eviction queue links.
	prev, next *entry
	queue      uint8
	// Guarded by the shard's lock: the next older variant of key.
	nextVariant *entry
}

// hitStamp is the Age and Cache-Status field values of a plain hit on an
// entry at one age and remaining freshness, in whole seconds.
type hitStamp struct {
	age, ttl    int64
	ageValue    []string
	statusValue []string
	// rendered is what a server made of the hit's response head (see
	// Hit.Rendered).
	rendered atomic.Value
}

// stampFor returns the Age and Cache-Status values of a plain hit on e at
// now, reusing the last ones when they still apply.
func (e *entry) stampFor(now time.Time) *hitStamp {
	cur := e.currentAge(now)
	age, ttl := int64(max(cur, 0)/time.Second), ttlSeconds(e.policy.ttl-cur)
	if s := e.stamp.Load(); s != nil && s.age == age && s.ttl == ttl {
		return s
	}
	st := cacheStatus{hit: true, hasTTL: true, ttl: time.Duration(ttl) * time.Second}
	s := &hitStamp{
		age:         age,
		ttl:         ttl,
		ageValue:    []string{strconv.FormatInt(age, 10)},
		statusValue: withCacheStatus(e.header.values("Cache-Status"), st.String()),
	}
	e.stamp.Store(s)
	return s
}

// currentAge is the entry's age at now (RFC 9111 §4.2.3).
func (e *entry) currentAge(now time.Time) time.Duration {
	return e.age + time.Duration(now.UnixNano()-e.responseTime)
}

// remaining is the entry's remaining freshness at now: negative once stale.
func (e *entry) remaining(now time.Time) time.Duration {
	return e.policy.ttl - e.currentAge(now)
}

func (e *entry) fresh(now time.Time) bool { return e.remaining(now) > 0 }

// hasValidator reports whether the entry can be revalidated.
func (e *entry) hasValidator() bool { return e.etag != "" || e.lastModified != "" }

// servableStale reports whether a stale entry may be served while it is
// revalidated in the background (RFC 5861 §3).
func (e *entry) servableStale(now time.Time) bool {
	return !e.policy.mustRevalidate && e.policy.swr > 0 && -e.remaining(now) < e.policy.swr
}

// servableOnError reports whether a stale entry may be served in place of
// an origin error (RFC 5861 §4): within its stale-if-error window, or at any
// age when Portico could not reach the origin at all (disconnected: RFC
// 9111 §4.2.4, and CloudFront's "origin unavailable" rule). Never once
// must-revalidate, proxy-revalidate, s-maxage or no-cache forbid it.
func (e *entry) servableOnError(now time.Time, disconnected bool) bool {
	if e.policy.mustRevalidate {
		return false
	}
	return disconnected || (e.policy.sie > 0 && -e.remaining(now) < e.policy.sie)
}

// inGrace reports whether a stale entry served in place of an origin error
// is still served without asking the origin.
func (e *entry) inGrace(now time.Time) bool { return now.UnixNano() < e.graceUntil.Load() }
