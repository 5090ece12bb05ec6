package httpcache

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portico-edge/portico"
)

// X-Cache values. The slices are shared by every response and never
// modified; their capacity equals their length, so an Add copies them.
var (
	xCacheHit        = []string{"Hit from portico"}
	xCacheMiss       = []string{"Miss from portico"}
	xCacheRefreshHit = []string{"RefreshHit from portico"}
)

// handler caches the responses of one behaviour of one scope.
type handler struct {
	c       *Cache
	next    http.Handler
	spec    keySpec
	ttl     ttlRules
	enabled bool // false: every request goes to next
	head    bool // HEAD is a cached method
	options bool // OPTIONS is a cached method
	// authKeyed is true when Authorization is whitelisted, so a request
	// that carries it may be cached: the value is in the key.
	authKeyed bool
}

// Handler returns a handler that answers requests of behaviour b in scope
// (a distribution ID) from the cache when it can and passes them to next
// (the origin) otherwise, storing what may be stored. Behaviours that
// forward all headers ("*") or use a cache policy instead of
// ForwardedValues are not cached; their requests pass through with X-Cache
// "Miss from portico".
func (c *Cache) Handler(scope string, b *portico.CacheBehavior, next http.Handler) http.Handler {
	h := &handler{c: c, next: next, spec: newKeySpec(scope, b.ForwardedValues)}
	minTTL, defTTL, maxTTL := b.TTLs()
	h.ttl = ttlRules{min: time.Duration(minTTL) * time.Second, def: time.Duration(defTTL) * time.Second, max: time.Duration(maxTTL) * time.Second}
	_, cached := b.Methods()
	h.head = slices.Contains(cached, http.MethodHead)
	h.options = slices.Contains(cached, http.MethodOptions)
	h.authKeyed = h.spec.keyed("Authorization")
	fv := b.ForwardedValues
	h.enabled = c.maxBytes > 0 && fv != nil && slices.Contains(cached, http.MethodGet) &&
		(fv.Headers == nil || !slices.Contains(fv.Headers.Items, "*"))
	return h
}

// class returns the key class of r, or false when r must not be answered
// from or stored in the cache.
func (h *handler) class(r *http.Request) (byte, bool) {
	if !h.enabled {
		return 0, false
	}
	var class byte
	switch r.Method {
	case http.MethodGet:
		class = classGet
	case http.MethodHead:
		if !h.head {
			return 0, false
		}
		class = classGet
	case http.MethodOptions:
		if !h.options {
			return 0, false
		}
		class = classOptions
	default:
		return 0, false
	}
	hd := r.Header
	switch {
	case len(hd["Upgrade"]) > 0, // WebSocket: never cached
		len(hd["Range"]) > 0, // partial responses are not stored yet
		len(hd["Authorization"]) > 0 && !h.authKeyed,
		r.ContentLength != 0 && r.Method != http.MethodHead:
		return 0, false
	}
	return class, true
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	class, ok := h.class(r)
	if !ok {
		w.Header()["X-Cache"] = xCacheMiss
		h.next.ServeHTTP(w, r)
		return
	}
	buf := h.c.getKeyBuf()
	*buf = h.spec.appendKey((*buf)[:0], r, class)
	now := h.c.now()
	e, gen := h.c.lookup(h.spec.scope, *buf)
	if e != nil && e.fresh(now) {
		h.c.putKeyBuf(buf)
		h.serve(w, r, e, now, xCacheHit)
		return
	}
	key := string(*buf)
	h.c.putKeyBuf(buf)

	switch {
	case r.Method == http.MethodHead:
		// A HEAD response has no body to store: pass it through.
		w.Header()["X-Cache"] = xCacheMiss
		h.next.ServeHTTP(w, r)
	case e != nil && (e.etag != "" || e.lastModified != ""):
		h.revalidate(w, r, e, key, gen, now)
	default:
		h.fill(w, r, key, gen, now, e)
	}
}

// serve answers r from e. A viewer's If-None-Match or If-Modified-Since
// that matches the entry gets a 304.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, e *entry, now time.Time, xcache []string) {
	hd := w.Header()
	for k, v := range e.header {
		hd[k] = v
	}
	hd["X-Cache"] = xcache
	hd["Age"] = []string{strconv.FormatInt(int64(max(e.currentAge(now), 0)/time.Second), 10)}
	if e.status == http.StatusOK && notModified(r, e) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(e.status)
	if r.Method != http.MethodHead {
		w.Write(e.body)
	}
}

// notModified evaluates the viewer's conditional headers against e (RFC 9110
// §13.1.2, §13.1.3): If-None-Match with a weak comparison, else
// If-Modified-Since against Last-Modified.
func notModified(r *http.Request, e *entry) bool {
	if inm := r.Header["If-None-Match"]; len(inm) > 0 {
		if e.etag == "" {
			return false
		}
		for _, line := range inm {
			for line != "" {
				var tag string
				tag, line, _ = strings.Cut(line, ",")
				tag = strings.TrimSpace(tag)
				if tag == "*" || strings.TrimPrefix(tag, "W/") == strings.TrimPrefix(e.etag, "W/") {
					return true
				}
			}
		}
		return false
	}
	ims := r.Header.Get("If-Modified-Since")
	if ims == "" || e.lastModified == "" {
		return false
	}
	since, err := http.ParseTime(ims)
	if err != nil {
		return false
	}
	modified, err := http.ParseTime(e.lastModified)
	return err == nil && !modified.After(since)
}

// fill passes r to the origin, streams the answer to the viewer and stores
// it when it may be stored and arrived whole, in place of stale (nil when
// there was no entry).
func (h *handler) fill(w http.ResponseWriter, r *http.Request, key string, gen uint64, requestTime time.Time, stale *entry) {
	cw := newCaptureWriter(w, false, h.c.maxObject)
	h.next.ServeHTTP(cw, r)
	cw.finish()
	h.keep(r, cw, key, gen, requestTime, stale)
}

// revalidate asks the origin whether the stale entry e is still current,
// with the entry's validators in place of the viewer's. On 304 the entry is
// refreshed and served ("RefreshHit"); any other answer goes to the viewer
// as a miss and replaces the entry if it may be stored.
func (h *handler) revalidate(w http.ResponseWriter, r *http.Request, e *entry, key string, gen uint64, requestTime time.Time) {
	cond := r.Clone(r.Context())
	for _, name := range [...]string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range"} {
		delete(cond.Header, name)
	}
	if e.etag != "" {
		cond.Header.Set("If-None-Match", e.etag)
	}
	if e.lastModified != "" {
		cond.Header.Set("If-Modified-Since", e.lastModified)
	}
	cw := newCaptureWriter(w, true, h.c.maxObject)
	h.next.ServeHTTP(cw, cond)
	cw.finish()
	if !cw.notModified {
		h.keep(r, cw, key, gen, requestTime, e)
		return
	}

	now := h.c.now()
	// A new entry: e's fields are immutable, but its recency links are the
	// cache's, and may not even be read here.
	refreshed := &entry{
		key:    e.key,
		scope:  e.scope,
		path:   e.path,
		status: e.status,
		header: e.header.Clone(),
		body:   e.body,
		size:   e.size,
	}
	for k, v := range cw.header {
		switch k {
		case "Content-Length", "Content-Encoding", "Content-Range", "Transfer-Encoding", "X-Cache", "Set-Cookie":
			continue
		}
		refreshed.header[k] = slices.Clip(v)
	}
	refreshed.etag = refreshed.header.Get("Etag")
	refreshed.lastModified = refreshed.header.Get("Last-Modified")
	refreshed.responseTime = now
	refreshed.age = initialAge(cw.header, requestTime, now)
	ttl, why := h.ttl.lifetime(e.status, refreshed.header, now)
	if why == "" {
		why = h.varyProblem(refreshed.header)
	}
	if setCookie := cw.header["Set-Cookie"]; len(setCookie) > 0 {
		// For this viewer only; a response with Set-Cookie is not stored.
		why = "set-cookie"
		refreshed.header["Set-Cookie"] = setCookie
	}
	refreshed.ttl = ttl
	if why == "" {
		h.c.store(refreshed, gen)
	} else {
		h.c.drop(e)
	}
	h.serve(w, r, refreshed, now, xCacheRefreshHit)
}

// keep stores the response cw captured for r, if it may be stored and
// arrived whole. stale is the entry it replaces, if any: it is dropped when
// the new response is not stored.
func (h *handler) keep(r *http.Request, cw *captureWriter, key string, gen uint64, requestTime time.Time, stale *entry) {
	e, why := h.entryFor(r, cw, key, requestTime)
	if why == "" && !h.c.store(e, gen) {
		why = "purged or too large"
	}
	if why != "" {
		if stale != nil {
			h.c.drop(stale)
		}
		h.c.log.Debug("response not stored", "scope", h.spec.scope, "path", r.URL.Path, "status", cw.status, "reason", why)
	}
}

// entryFor builds the entry for a captured response, or says why there is
// none.
func (h *handler) entryFor(r *http.Request, cw *captureWriter, key string, requestTime time.Time) (*entry, string) {
	switch {
	case !cw.wroteHeader:
		return nil, "no response"
	case cw.err != nil:
		return nil, "viewer write failed"
	case cw.overflow:
		return nil, "too large"
	}
	hd := cw.stored
	if cl, ok := hd["Content-Length"]; ok && len(cl) > 0 {
		if n, err := strconv.ParseInt(cl[0], 10, 64); err != nil || n != int64(len(cw.body)) {
			return nil, "incomplete body"
		}
	}
	if len(hd["Trailer"]) > 0 {
		return nil, "trailers"
	}
	now := h.c.now()
	ttl, why := h.ttl.lifetime(cw.status, hd, now)
	if why == "" {
		why = h.varyProblem(hd)
	}
	if why != "" {
		return nil, why
	}
	header := make(http.Header, len(hd)+1)
	size := int64(entryOverhead + len(key) + len(cw.body))
	for k, v := range hd {
		switch k {
		case "X-Cache", "Age":
			continue
		}
		header[k] = slices.Clip(v)
		size += int64(len(k))
		for _, s := range v {
			size += int64(len(s)) + 16
		}
	}
	if cw.status != http.StatusNoContent && cw.status != http.StatusNotModified {
		header["Content-Length"] = []string{strconv.Itoa(len(cw.body))}
	}
	e := &entry{
		key:          key,
		scope:        h.spec.scope,
		path:         h.path(r),
		status:       cw.status,
		header:       header,
		body:         slices.Clip(cw.body),
		responseTime: now,
		age:          initialAge(hd, requestTime, now),
		ttl:          ttl,
		etag:         hd.Get("Etag"),
		lastModified: hd.Get("Last-Modified"),
		size:         size,
	}
	return e, ""
}

// varyProblem says why a response's Vary forbids storing it, or "". The
// key must already tell apart every request the response varies on: a
// whitelisted header, Accept-Encoding (always keyed) or Cookie (keyed as
// forwarded, and not sent to the origin otherwise) are fine; "*" and any
// other header are not.
func (h *handler) varyProblem(hd http.Header) string {
	for _, line := range hd["Vary"] {
		for line != "" {
			var name string
			name, line, _ = strings.Cut(line, ",")
			name = strings.TrimSpace(name)
			switch {
			case name == "":
			case name == "*":
				return "vary *"
			case strings.EqualFold(name, "Accept-Encoding"), strings.EqualFold(name, "Cookie"), strings.EqualFold(name, "Host"):
			case !h.spec.keyed(http.CanonicalHeaderKey(name)):
				return "vary on a header outside the key"
			}
		}
	}
	return ""
}

// path returns the purge path of r: the escaped path, with "?" and the
// keyed part of the query string when there is one.
func (h *handler) path(r *http.Request) string {
	p := r.URL.EscapedPath()
	q := h.spec.appendQuery(nil, r.URL.RawQuery)
	if len(q) == 0 {
		return p
	}
	return p + "?" + string(q)
}
