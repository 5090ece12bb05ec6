package httpcache

import (
	"strconv"
	"time"
)

// cacheName is Portico's name in Cache-Status.
const cacheName = "portico"

// Why a request went forward, the "fwd" parameter of Cache-Status (RFC 9211
// §2.2).
const (
	fwdBypass   = "bypass"    // the behaviour does not cache this request
	fwdURIMiss  = "uri-miss"  // nothing stored under the key
	fwdVaryMiss = "vary-miss" // stored responses under the key, none for this request's Vary'd headers
	fwdStale    = "stale"     // the stored response was stale
	fwdRequest  = "request"   // a fresh response was stored, but the request did not allow its use
)

// Details of Cache-Status: why a request bypassed the cache, or why a
// response was not stored. Each is an sf-token.
const (
	detailMethod        = "method"        // the method is not cached
	detailPolicy        = "policy"        // the behaviour does not cache
	detailAuthorization = "authorization" // Authorization is not in the key
	detailUpgrade       = "upgrade"       // a protocol upgrade (WebSocket)
	detailBody          = "body"          // the request has a body
	detailHead          = "head"          // a HEAD miss: no body to store

	detailSetCookie     = "set-cookie"
	detailPrivate       = "private"
	detailNoStore       = "no-store"
	detailNoCache       = "no-cache"       // no-cache without validators to revalidate with
	detailStatus        = "status"         // the status code is not cached
	detailPartial       = "partial"        // a 206: only whole responses are stored
	detailNoFreshness   = "no-freshness"   // a status cached only with explicit freshness, without it
	detailTTLZero       = "ttl-zero"       // a lifetime of zero
	detailVaryStar      = "vary-star"      // Vary: *
	detailVaryEdge      = "vary-edge"      // Vary on a field the edge sets per request
	detailTrailers      = "trailers"       // trailers are not stored
	detailIncomplete    = "incomplete"     // the body did not arrive whole
	detailTooLarge      = "too-large"      // over the object size limit
	detailPurged        = "purged"         // invalidated while it was fetched
	detailOriginError   = "origin-error"   // Portico could not reach the origin
	detailOriginTimeout = "origin-timeout" // the origin did not answer in time

	detailStaleWhileRevalidate = "stale-while-revalidate"
	detailStaleIfError         = "stale-if-error"
)

// collapsed values of Cache-Status.
const (
	collapsedNone = iota // not collapsed: no parameter
	collapsedUsed        // waited for another request's response and used it
	collapsedNot         // waited, then had to go forward itself (collapsed=?0)
)

// cacheStatus is Portico's member of the Cache-Status response field (RFC
// 9211), which says how the cache handled a request: a hit, or why the
// request went forward and whether the response was stored.
type cacheStatus struct {
	hit       bool
	fwd       string
	fwdStatus int // the origin's status, when it differs from the viewer's (0: none)
	ttl       time.Duration
	hasTTL    bool
	stored    bool
	collapsed int
	detail    string
}

// String renders the member, e.g. "portico; hit; ttl=42" or
// "portico; fwd=uri-miss; stored".
func (s *cacheStatus) String() string {
	return string(s.appendTo(make([]byte, 0, 64)))
}

// appendTo appends the member to b.
func (s *cacheStatus) appendTo(b []byte) []byte {
	b = append(b, cacheName...)
	if s.hit {
		b = append(b, "; hit"...)
	}
	if s.fwd != "" {
		b = append(b, "; fwd="...)
		b = append(b, s.fwd...)
	}
	if s.fwdStatus != 0 {
		b = append(b, "; fwd-status="...)
		b = strconv.AppendInt(b, int64(s.fwdStatus), 10)
	}
	if s.hasTTL {
		b = append(b, "; ttl="...)
		b = strconv.AppendInt(b, ttlSeconds(s.ttl), 10)
	}
	if s.stored {
		b = append(b, "; stored"...)
	}
	switch s.collapsed {
	case collapsedUsed:
		b = append(b, "; collapsed"...)
	case collapsedNot:
		b = append(b, "; collapsed=?0"...)
	}
	if s.detail != "" {
		b = append(b, "; detail="...)
		b = append(b, s.detail...)
	}
	return b
}

// ttlSeconds rounds a remaining freshness lifetime down to whole seconds,
// towards minus infinity, so that a response stale by half a second has a
// ttl of -1, not 0.
func ttlSeconds(d time.Duration) int64 {
	s := int64(d / time.Second)
	if d < 0 && d%time.Second != 0 {
		s--
	}
	return s
}

// withCacheStatus returns the Cache-Status field values of a response whose
// next hop sent prev, with Portico's member last (RFC 9211 §2: each cache
// adds its member after those of the caches closer to the origin). It
// never modifies prev, which may be shared with a stored response.
func withCacheStatus(prev []string, member string) []string {
	out := make([]string, len(prev)+1)
	copy(out, prev)
	out[len(prev)] = member
	return out
}
