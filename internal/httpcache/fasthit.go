package httpcache

import (
	"net/http"
	"strings"
)

// Hit is a fresh stored response that a Handler would answer a request
// with as a plain hit (X-Cache "Hit from portico", Cache-Status
// "portico; hit; ttl=…"), found by FreshHit. It lets a server that writes
// responses itself, as the edge's HTTP/1.1 fast path does, answer the
// request without running the handler, with the same status, header fields
// and body.
type Hit struct {
	c      *Cache
	e      *entry
	stamp  *hitStamp
	status int
}

// FreshHit reports whether h, a handler made by Cache.Handler, would
// answer r with a plain hit, and returns that hit. It is false whenever the
// handler would do anything else: for a request it does not look up
// (unsafe or uncached methods, upgrades, Authorization it does not key, a
// body), a miss, a stale or soft-purged entry, a Range request, or
// preconditions that fail (412). A GET or HEAD whose If-None-Match or
// If-Modified-Since the stored response satisfies gets a Hit whose Status
// is 304.
//
// The lookup has the handler's side effects: it counts the hit for
// eviction and brings a response found on disk into memory. FreshHit does
// not keep r or anything it refers to.
func FreshHit(h http.Handler, r *http.Request) (Hit, bool) {
	ch, ok := h.(*handler)
	if !ok || r.Method != http.MethodGet && r.Method != http.MethodHead || len(r.Header["Upgrade"]) > 0 {
		return Hit{}, false
	}
	if class, bypass := ch.classify(r); bypass != "" || class != classGet {
		return Hit{}, false
	}
	if isRange(r) {
		// Served from a stored 200 with its ranges, and otherwise
		// ignored: left to the handler either way, before the lookup
		// counts a hit.
		return Hit{}, false
	}
	buf := ch.c.getKeyBuf()
	*buf = ch.spec.appendKey((*buf)[:0], r, classGet)
	now := ch.c.now()
	e, soft, _ := ch.find(*buf, r)
	ch.c.putKeyBuf(buf)
	if e == nil || soft || !e.fresh(now) {
		return Hit{}, false
	}
	hit := Hit{c: ch.c, e: e, stamp: ch.c.stampFor(e, now), status: int(e.status)}
	if e.status == http.StatusOK && ch.conditionals && isConditional(r) {
		switch preconditions(r, e.etag(), e.lastModified(), e.header.get("Date")) {
		case 0:
		case http.StatusNotModified:
			hit.status = http.StatusNotModified
		default:
			return Hit{}, false
		}
	}
	return hit, true
}

// isRange reports whether r has a Range field that a stored 200 would be
// answered with ranges for (see handler.serve).
func isRange(r *http.Request) bool {
	v := r.Header["Range"]
	return len(v) == 1 && len(v[0]) > len("bytes=") && strings.EqualFold(v[0][:len("bytes=")], "bytes=")
}

// Status returns the status code to answer with: the stored one, or 304.
func (h Hit) Status() int { return h.status }

// Body returns the body to send in answer to a GET: the stored body, or
// nil for a 304. It must not be modified.
func (h Hit) Body() []byte {
	if h.status != int(h.e.status) {
		return nil
	}
	return h.e.body
}

// Header sets in hd the header fields that the Handler sets for the hit,
// before the ResponseWriter it writes to adds its own: the stored fields,
// X-Cache, Age and Cache-Status, without the fields that describe a body
// in a 304. The values are shared with the cache and must not be
// modified.
func (h Hit) Header(hd http.Header) {
	h.e.setPlainHit(hd, h.c.valuesOf(h.stamp), h.stamp.view)
	if h.status != int(h.e.status) {
		withoutBody(hd, h.status)
	}
}

// setPlainHit sets the header fields of a plain hit on e with the Age and
// Cache-Status values v, and the field values of view (see fields.view).
func (e *entry) setPlainHit(hd http.Header, v *hitValues, view []string) {
	e.header.copyTo(hd, view)
	hd["X-Cache"] = xCacheHit
	hd["Age"], hd["Cache-Status"] = v.ageValue, v.statusValue
}

// Rendered returns the value last stored with SetRendered for this hit's
// entry while its Age and Cache-Status stay the same (for up to a second),
// or nil. A server keeps its wire form of the response head there, so that
// the hits of a second share it. The cache lets the value go about a
// second after the last hit that could use it (see stampRing).
func (h Hit) Rendered() any { return h.stamp.rendered.Load() }

// SetRendered stores v for Rendered. Every value stored must be of the
// same type.
func (h Hit) SetRendered(v any) { h.stamp.rendered.Store(v) }
