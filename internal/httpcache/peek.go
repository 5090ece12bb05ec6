package httpcache

import (
	"net/http"
	"slices"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/origin"
)

// Peek is what the cache holds for a request and what it would do with it,
// as Cache.Peek tells without doing it.
type Peek struct {
	// Forward is why the request would go to the origin, as Cache-Status
	// says it (RFC 9211 fwd): "bypass", "uri-miss", "vary-miss" or
	// "stale"; "" when a fresh stored response would answer it (a hit).
	Forward string
	// Detail says why a request bypasses the cache: "policy", "method",
	// "authorization", "body" or "upgrade", as in Cache-Status.
	Detail string
	// Key is what the request's cache key is made of. It is set even for
	// a request that bypasses the cache.
	Key KeyParts
	// Variants is the number of responses stored in memory under the key,
	// one for each set of values of the request fields they vary on,
	// leaving out purged ones.
	Variants int
	// Stored is the response in memory that the request would be answered
	// from, or revalidate; nil when there is none (a purged response is
	// none).
	Stored *StoredResponse
	// OnDisk reports whether the disk tier holds responses under the key.
	// One that memory does not hold is loaded on the next request.
	OnDisk bool
}

// KeyParts are the components of a cache key, as the cache computes them for
// one request (see Cache.Handler). The key holds them all, each framed by
// its length.
type KeyParts struct {
	// Scope is the distribution ID.
	Scope string
	// Method is GET for GET and HEAD (a HEAD is answered from the GET's
	// response), or OPTIONS when OPTIONS responses are cached.
	Method string
	// Host is the request's host, lower-cased.
	Host string
	// Path is the path as the viewer sent it, escaped.
	Path string
	// Query is the part of the query string in the key: the keyed
	// parameters in the order sent, or all of it; "" for none.
	Query string
	// Cookies is the Cookie header value the origin receives, which is the
	// part of the viewer's cookies in the key; "" for none.
	Cookies string
	// Headers are the keyed headers, names canonical and sorted, with the
	// values the request carries (nil when it does not carry one).
	// Host and Cookie are keyed above.
	Headers []KeyHeader
	// NormalizedAcceptEncoding is true when Accept-Encoding is keyed (and
	// forwarded) in its normalised form, AcceptEncoding: "br,gzip",
	// "gzip", "br" or "".
	NormalizedAcceptEncoding bool
	AcceptEncoding           string
	// PurgePath is the path invalidations match responses to this request
	// by: Path, then "?" and Query when Query is not empty.
	PurgePath string
}

// KeyHeader is a header field in a cache key, or one a stored response
// varies on.
type KeyHeader struct {
	Name   string
	Values []string
}

// StoredResponse describes a response the cache holds.
type StoredResponse struct {
	// Status is the response's status code.
	Status int
	// Stored is when the response was received from the origin, or last
	// revalidated.
	Stored time.Time
	// Age is the response's current age (RFC 9111 §4.2.3), counting the
	// Age the origin sent and the time it took to arrive.
	Age time.Duration
	// Lifetime is its freshness lifetime: the TTL that applied when it was
	// stored, s-maxage, max-age or Expires clamped to [MinTTL, MaxTTL], or
	// DefaultTTL when the origin said nothing (or ErrorCachingMinTTL for
	// an error). 0 means it is revalidated before every use.
	Lifetime time.Duration
	// TTL is the freshness it has left, Lifetime minus Age: negative once
	// it is stale.
	TTL time.Duration
	// StaleWhileRevalidate and StaleIfError are its RFC 5861 windows past
	// Lifetime; MustRevalidate forbids any stale use (must-revalidate,
	// proxy-revalidate, s-maxage or no-cache).
	StaleWhileRevalidate, StaleIfError time.Duration
	MustRevalidate                     bool
	// SoftPurged is true when a soft purge marked it stale: it is
	// revalidated before it is served fresh again.
	SoftPurged bool
	// Tags are the Cache-Tag values it is purged by.
	Tags []string
	// Vary lists the request fields it was selected by beyond the key,
	// with the normalised values it was stored for (no value: the request
	// had none).
	Vary []KeyHeader
	// ETag and LastModified are its validators.
	ETag, LastModified string
	// ContentEncoding is the coding Portico compressed it with, "" if it
	// did not.
	ContentEncoding string
	// BodyBytes is the size of its body as stored.
	BodyBytes int
}

// Peek tells what the cache holds for request r under cache behaviour b of
// scope (a distribution ID), resolved to pol as for Handler, and what the
// behaviour's handler would do with r now: which key it computes, whether
// r bypasses the cache, and which stored response, if any, would answer
// it or be revalidated.
//
// Peek is read-only: it goes to no origin, stores, removes and loads
// nothing, counts no hit for eviction, and does not apply purges to what
// it finds (it only reads their verdict). r's body is not read. It keys
// the CloudFront-* headers on the values r carries, as a Handler without
// WithViewerHeaders does.
func (c *Cache) Peek(scope string, b *portico.CacheBehavior, pol portico.ResolvedPolicy, r *http.Request) Peek {
	// The scope exists for every distribution the edge serves (the
	// snapshot made its handlers), so Handler adds nothing.
	h := c.Handler(scope, b, pol, nil).(*handler)
	var p Peek
	class, bypass := byte(classGet), ""
	switch {
	case r.Method == http.MethodConnect || len(r.Header["Upgrade"]) > 0:
		bypass = detailUpgrade
	case unsafeMethod(r.Method):
		bypass = detailMethod
	default:
		class, bypass = h.classify(r)
	}
	if class == 0 {
		class = classGet
	}
	p.Key = h.spec.parts(r, class, h.path(r.URL))
	if bypass != "" {
		p.Forward, p.Detail = fwdBypass, bypass
		return p
	}

	key := string(h.spec.appendKey(nil, r, class))
	if c.disk != nil {
		c.disk.mu.Lock()
		p.OnDisk = len(c.disk.byKey[primaryHash(scope, key)]) > 0
		c.disk.mu.Unlock()
	}
	// Purged variants that no request has removed yet do not count.
	var e *entry
	verdict := valid
	hash := c.hashKey(key)
	sh := c.shard(hash)
	sh.mu.RLock()
	for v := sh.m[hash]; v != nil; v = v.nextVariant {
		if !keyIs(v, key) {
			continue // another key of the same hash
		}
		vv := h.sc.verdict(v)
		if vv == purged {
			continue
		}
		p.Variants++
		if e == nil && v.selectedBy(r) {
			e, verdict = v, vv
		}
	}
	sh.mu.RUnlock()

	now := c.now()
	switch {
	case e == nil && p.Variants > 0:
		p.Forward = fwdVaryMiss
	case e == nil:
		p.Forward = fwdURIMiss
	default:
		p.Stored = describe(e, now, verdict == stale)
		if p.Stored.SoftPurged || !e.fresh(now) {
			p.Forward = fwdStale
		}
	}
	return p
}

// parts returns the components of r's key, whose class is class and whose
// purge path is purgePath.
func (s *keySpec) parts(r *http.Request, class byte, purgePath string) KeyParts {
	k := KeyParts{
		Scope:                    s.scope,
		Method:                   http.MethodGet,
		Path:                     r.URL.EscapedPath(),
		Query:                    string(s.appendQuery(nil, r.URL.RawQuery)),
		Cookies:                  string(origin.AppendCookies(nil, r.Header, s.cookies)),
		NormalizedAcceptEncoding: s.normalizeAE,
		PurgePath:                purgePath,
	}
	if class == classOptions {
		k.Method = http.MethodOptions
	}
	host := []byte(r.Host)
	for i, c := range host {
		if 'A' <= c && c <= 'Z' {
			host[i] = c + 'a' - 'A'
		}
	}
	k.Host = string(host)
	for _, name := range s.headers {
		values := r.Header[name]
		if s.computed(name) {
			values = nil
			if v, ok := origin.ViewerValue(name, r); ok {
				values = []string{v}
			}
		}
		k.Headers = append(k.Headers, KeyHeader{Name: name, Values: values})
	}
	if s.normalizeAE {
		k.AcceptEncoding = s.acceptEncoding(r.Header)
	}
	return k
}

// describe returns what a stored entry is at now.
func describe(e *entry, now time.Time, softPurged bool) *StoredResponse {
	age, p := e.currentAge(now), e.policy()
	s := &StoredResponse{
		Status:               int(e.status),
		Stored:               time.Unix(0, e.responseTime),
		Age:                  age,
		Lifetime:             p.ttl,
		TTL:                  p.ttl - age,
		StaleWhileRevalidate: p.swr,
		StaleIfError:         p.sie,
		MustRevalidate:       p.mustRevalidate,
		SoftPurged:           softPurged,
		Tags:                 slices.Clone(e.tags()),
		ETag:                 e.etag(),
		LastModified:         e.lastModified(),
		BodyBytes:            len(e.body),
	}
	if e.compressed() {
		s.ContentEncoding = e.header.get("Content-Encoding")
	}
	vary := e.vary()
	for i := 0; i+1 < len(vary); i += 2 {
		f := KeyHeader{Name: vary[i]}
		if v := vary[i+1]; v != absentField {
			f.Values = []string{v}
		}
		s.Vary = append(s.Vary, f)
	}
	return s
}
