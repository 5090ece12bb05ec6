package httpcache

import (
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// entry is one stored response: one variant of one key, in a compact
// form, for there may be millions. Everything but the fields marked
// otherwise is immutable once the entry is stored; a refresh stores a new
// entry. newEntry makes one.
//
// An entry's strings (its key, header fields, and what it keeps in more)
// are substrings of one string, which it alone refers to, but for the key's
// prefix and values of fields that many entries share.
type entry struct {
	// key is the primary key (see keySpec) but for its prefix, which
	// pre holds, with the scope.
	key    string
	pre    *keyPrefix
	gen    uint64 // the scope's purge generation when the origin request started
	header fields // as sent to viewers, without X-Cache, Age and Portico's Cache-Status
	body   []byte

	responseTime int64         // Unix nanoseconds
	age          time.Duration // corrected initial age (RFC 9111 §4.2.3)
	// ttl, swr and sie are the storePolicy's (see policy), the windows in
	// seconds.
	ttl      time.Duration
	swr, sie uint32
	// more holds what few entries have; nil when an entry has none of it.
	more *entryMore

	// freq counts hits, up to maxFreq, for eviction. Atomic: hits do not
	// take the cache's lock.
	freq atomic.Int32
	// softStale is set when a soft purge marked the entry stale after its
	// purge record was compacted away.
	softStale atomic.Bool
	// later holds what few entries come to have once stored; nil until
	// one does (see lately).
	later atomic.Pointer[entryLater]
	// stamp is the entry's for the plain hits of a second, if it had one
	// lately (see Cache.stampFor); nil otherwise.
	stamp atomic.Pointer[hitStamp]

	// Guarded by Cache.mu: the eviction queue links.
	prev, next *entry
	// Guarded by the shard's lock: the next older variant of key.
	nextVariant *entry

	size   int32  // what the entry counts against the byte budget (see entrySize)
	status uint16 // the status code
	queue  uint8  // guarded by Cache.mu: the queue the entry is in
	flags  uint8  // entryCompressed, entryMustRevalidate, entryCacheStatus
}

// Flags of an entry.
const (
	// entryCompressed is set when Portico compressed the body: the
	// origin's validators then describe another representation.
	entryCompressed = 1 << iota
	// entryMustRevalidate is the storePolicy's mustRevalidate.
	entryMustRevalidate
	// entryCacheStatus is set when the stored fields hold Cache-Status
	// values, which a hit's Cache-Status keeps before Portico's member.
	entryCacheStatus
)

// entryMore is what only some entries have, apart so that the others stay
// small.
type entryMore struct {
	// path is the purge path, when ownPath: when the key does not hold it
	// as it is (part of the query string is keyed).
	path    string
	ownPath bool
	// vary holds the request fields the response varies on beyond the
	// key, as pairs of canonical name and normalised value (absentField
	// when the request had none): the secondary key (RFC 9111 §4.1).
	vary []string
	tags []string // Cache-Tag values, for purge by tag
	// validators is true when etag and lastModified are the response's
	// validators rather than the ETag and Last-Modified header fields
	// stored (when the origin named them in a qualified no-cache or
	// private: they are not sent, yet they revalidate).
	validators         bool
	etag, lastModified string
}

// entryLater is what few entries come to have once stored, apart so that
// the others stay small.
type entryLater struct {
	// graceUntil (Unix nanoseconds) is when a stale entry served in place
	// of an origin error stops being served without asking the origin
	// again (CloudFront's ErrorCachingMinTTL for 5xx, DG HTTPStatusCodes).
	graceUntil atomic.Int64
	// file is the entry's disk copy, open for Hit.BodyFile.
	file atomic.Pointer[bodyFile]
}

// lately returns e's entryLater, making it if need be.
func (e *entry) lately() *entryLater {
	if l := e.later.Load(); l != nil {
		return l
	}
	e.later.CompareAndSwap(nil, new(entryLater))
	return e.later.Load()
}

// response is a response to store, as the handler, a refresh or the disk
// tier has it; newEntry makes the entry that the cache keeps of it.
type response struct {
	key  string
	sc   *scope
	path string // the purge path: escaped path, plus "?" and the keyed query if any
	gen  uint64
	vary []string // see entryMore.vary
	tags []string

	status int
	header http.Header
	// skip reports the fields of header not to store; nil stores them
	// all.
	skip func(name string) bool
	// shared holds the copies of common field values that the entry may
	// refer to; nil for none.
	shared *sharedValues
	body   []byte

	responseTime       int64
	age                time.Duration
	policy             storePolicy
	etag, lastModified string
	compressed         bool
}

// newEntry returns the entry of r. The entry keeps r's body and none of its
// strings, but for the shared copies of values it refers to.
func newEntry(r *response) *entry {
	e := &entry{
		pre:          r.shared.prefix(r.sc, r.key),
		gen:          r.gen,
		body:         r.body,
		responseTime: r.responseTime,
		age:          r.age,
		ttl:          r.policy.ttl,
		swr:          windowSeconds(r.policy.swr),
		sie:          windowSeconds(r.policy.sie),
		status:       uint16(r.status),
	}
	if r.compressed {
		e.flags |= entryCompressed
	}
	if r.policy.mustRevalidate {
		e.flags |= entryMustRevalidate
	}
	stored := func(name string) string {
		if r.skip != nil && r.skip(name) {
			return ""
		}
		return headerValue(r.header, name)
	}
	kp, _ := keyPath(r.key)
	m := entryMore{
		vary:       r.vary,
		tags:       r.tags,
		validators: r.etag != stored("Etag") || r.lastModified != stored("Last-Modified"),
	}
	if kp != r.path {
		m.path, m.ownPath = r.path, true
	}
	if m.validators {
		m.etag, m.lastModified = r.etag, r.lastModified
	}
	hasMore := m.ownPath || m.validators || len(m.vary) > 0 || len(m.tags) > 0

	// One string holds the key, what goes in more, and the fields.
	key := r.key[len(e.pre.s):]
	p := planFields(r.header, r.skip, r.shared)
	n := len(key) + p.textLen()
	if hasMore {
		n += len(m.path) + len(m.etag) + len(m.lastModified)
		for _, s := range m.vary {
			n += len(s)
		}
		for _, s := range m.tags {
			n += len(s)
		}
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(key)
	if hasMore {
		b.WriteString(m.path)
		b.WriteString(m.etag)
		b.WriteString(m.lastModified)
		for _, s := range m.vary {
			b.WriteString(s)
		}
		for _, s := range m.tags {
			b.WriteString(s)
		}
	}
	p.write(&b)
	t := substrings{s: b.String()}
	e.key = t.take(len(key))
	if hasMore {
		m.path = t.take(len(m.path))
		m.etag = t.take(len(m.etag))
		m.lastModified = t.take(len(m.lastModified))
		m.vary = t.takeAll(m.vary)
		m.tags = t.takeAll(m.tags)
		e.more = new(entryMore)
		*e.more = m
	}
	e.header = p.fields(t.s[t.off:])
	if e.header.count("Cache-Status") > 0 {
		e.flags |= entryCacheStatus
	}
	e.size = int32(entrySize(e, len(t.s)))
	return e
}

// textLen returns the length of the string that holds e's key, what it
// keeps in more, and its fields (see newEntry).
func (e *entry) textLen() int {
	n := len(e.key) + len(e.header.t)
	if m := e.more; m != nil {
		n += len(m.path) + len(m.etag) + len(m.lastModified)
		for _, s := range m.vary {
			n += len(s)
		}
		for _, s := range m.tags {
			n += len(s)
		}
	}
	return n
}

// substrings hands out the consecutive substrings of a string.
type substrings struct {
	s   string
	off int
}

func (t *substrings) take(n int) string {
	s := t.s[t.off : t.off+n]
	t.off += n
	return s
}

// takeAll returns substrings of the lengths of the strings in ss, or nil
// when ss is empty.
func (t *substrings) takeAll(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = t.take(len(s))
	}
	return out
}

// keyPath returns the escaped path that key holds (see keySpec.appendKey).
func keyPath(key string) (string, bool) {
	_, rest, ok := keyField(key) // the scope
	if !ok || rest == "" {
		return "", false
	}
	if _, rest, ok = keyField(rest[1:]); !ok { // the method class, the host
		return "", false
	}
	path, _, ok := keyField(rest)
	return path, ok
}

// keyField returns the length-prefixed field at the start of key, and what
// follows it.
func keyField(key string) (field, rest string, ok bool) {
	if len(key) < 4 {
		return "", "", false
	}
	n := uint64(key[0])<<24 | uint64(key[1])<<16 | uint64(key[2])<<8 | uint64(key[3])
	if n > uint64(len(key)-4) {
		return "", "", false
	}
	return key[4 : 4+n], key[4+n:], true
}

// windowSeconds returns a stale-while-revalidate or stale-if-error window
// (whole seconds, see ttlRules.policy) in seconds, rounded up, at most
// 2³²-1 (136 years).
func windowSeconds(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	return uint32(min((d+time.Second-1)/time.Second, math.MaxUint32))
}

// policy returns how the entry may be used (see storePolicy).
func (e *entry) policy() storePolicy {
	return storePolicy{
		ttl:            e.ttl,
		swr:            time.Duration(e.swr) * time.Second,
		sie:            time.Duration(e.sie) * time.Second,
		mustRevalidate: e.flags&entryMustRevalidate != 0,
	}
}

// compressed reports whether Portico compressed the body (see
// entryCompressed).
func (e *entry) compressed() bool { return e.flags&entryCompressed != 0 }

// path returns the entry's purge path: its escaped path, plus "?" and the
// keyed query if any.
func (e *entry) path() string {
	if e.more != nil && e.more.ownPath {
		return e.more.path
	}
	if e.pre.s == "" {
		p, _ := keyPath(e.key)
		return p
	}
	p, _, _ := keyField(e.key)
	return p
}

// sc returns the entry's scope.
func (e *entry) sc() *scope { return e.pre.sc }

// fullKey returns the entry's primary key, in a new string when it has a
// prefix.
func (e *entry) fullKey() string {
	if e.pre.s == "" {
		return e.key
	}
	return e.pre.s + e.key
}

// keyIs reports whether key is e's primary key.
func keyIs[K string | []byte](e *entry, key K) bool {
	p := e.pre.s
	if p == "" {
		return string(key) == e.key
	}
	return len(key) == len(p)+len(e.key) && string(key[len(p):]) == e.key && string(key[:len(p)]) == p
}

// sameKey reports whether a and b have the same primary key.
func sameKey(a, b *entry) bool {
	if a.pre == b.pre {
		return a.key == b.key
	}
	return concatEqual(a.pre.s, a.key, b.pre.s, b.key)
}

// concatEqual reports whether a1+a2 == b1+b2.
func concatEqual(a1, a2, b1, b2 string) bool {
	if len(a1)+len(a2) != len(b1)+len(b2) {
		return false
	}
	if len(a1) > len(b1) {
		a1, a2, b1, b2 = b1, b2, a1, a2
	}
	n := len(b1) - len(a1)
	return a1 == b1[:len(a1)] && a2[:n] == b1[len(a1):] && a2[n:] == b2
}

// vary returns the entry's secondary key (see entryMore.vary).
func (e *entry) vary() []string {
	if e.more == nil {
		return nil
	}
	return e.more.vary
}

// tags returns the entry's Cache-Tag values.
func (e *entry) tags() []string {
	if e.more == nil {
		return nil
	}
	return e.more.tags
}

// etag returns the entry's entity-tag, or "".
func (e *entry) etag() string {
	if e.more != nil && e.more.validators {
		return e.more.etag
	}
	return e.header.get("Etag")
}

// lastModified returns the entry's Last-Modified date, or "".
func (e *entry) lastModified() string {
	if e.more != nil && e.more.validators {
		return e.more.lastModified
	}
	return e.header.get("Last-Modified")
}

// currentAge is the entry's age at now (RFC 9111 §4.2.3).
func (e *entry) currentAge(now time.Time) time.Duration {
	return e.age + time.Duration(now.UnixNano()-e.responseTime)
}

// remaining is the entry's remaining freshness at now: negative once stale.
func (e *entry) remaining(now time.Time) time.Duration {
	return e.ttl - e.currentAge(now)
}

func (e *entry) fresh(now time.Time) bool { return e.remaining(now) > 0 }

// hasValidator reports whether the entry can be revalidated.
func (e *entry) hasValidator() bool { return e.etag() != "" || e.lastModified() != "" }

// servableStale reports whether a stale entry may be served while it is
// revalidated in the background (RFC 5861 §3).
func (e *entry) servableStale(now time.Time) bool {
	p := e.policy()
	return !p.mustRevalidate && p.swr > 0 && -e.remaining(now) < p.swr
}

// servableOnError reports whether a stale entry may be served in place of
// an origin error (RFC 5861 §4): within its stale-if-error window, or at any
// age when Portico could not reach the origin at all (disconnected: RFC
// 9111 §4.2.4, and CloudFront's "origin unavailable" rule). Never once
// must-revalidate, proxy-revalidate, s-maxage or no-cache forbid it.
func (e *entry) servableOnError(now time.Time, disconnected bool) bool {
	p := e.policy()
	if p.mustRevalidate {
		return false
	}
	return disconnected || (p.sie > 0 && -e.remaining(now) < p.sie)
}

// inGrace reports whether a stale entry served in place of an origin error
// is still served without asking the origin.
func (e *entry) inGrace(now time.Time) bool {
	l := e.later.Load()
	return l != nil && now.UnixNano() < l.graceUntil.Load()
}
