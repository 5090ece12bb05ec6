package httpcache

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/origin"
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
	sc      *scope
	next    http.Handler
	spec    keySpec
	ttl     ttlRules
	enabled bool // false: every request goes to next
	head    bool // HEAD is a cached method
	options bool // OPTIONS is a cached method
	// authKeyed is true when Authorization is whitelisted, so a request
	// that carries it may be cached: the value is in the key.
	authKeyed bool
	// compress is true when the behaviour compresses (Compress) and does
	// not key on Accept-Encoding as sent (CloudFront then does not
	// compress, DG ServingCompressedFiles); under policies, only when
	// the cache policy normalises Accept-Encoding.
	compress bool
	// conditionals is false when the behaviour forwards cookies:
	// CloudFront then does not answer viewers' conditional requests from
	// the cache (DG Cookies), and neither does Portico.
	conditionals bool
}

// Handler returns a handler that answers requests of behaviour b in scope
// (a distribution ID) from the cache when it can and passes them to next
// (the origin) otherwise, storing what may be stored. pol is what b keys
// its cache on and forwards, and its TTLs, as portico.ResolveBehavior
// resolves them from b's legacy ForwardedValues and TTLs or from its cache
// and origin request policies; next must forward what pol says (see
// origin.New). Behaviours that key on all headers (legacy "*") or whose
// cache policy disables caching (MaxTTL 0) are not cached; their requests
// pass through with X-Cache "Miss from portico".
//
// Concurrent misses for one key make one origin request (CloudFront's
// request collapsing): the others wait for it, at most the collapse
// timeout, then use what it stored, never a response it did not store,
// which may be private to its requester. Keys tell apart every cookie and
// header value the origin is sent that can change its answer, so requests
// of different users are collapsed only when the origin cannot tell them
// apart either.
//
// When next is the origin proxy, it reports an origin it cannot reach, or
// that does not answer in time, through origin.ErrorWriter, which the
// cache's ResponseWriter implements: the cache then answers with a stale
// response when it has one, and the proxy writes nothing.
func (c *Cache) Handler(scope string, b *portico.CacheBehavior, pol portico.ResolvedPolicy, next http.Handler, opts ...HandlerOption) http.Handler {
	h := &handler{c: c, sc: c.scope(scope), next: next, spec: newKeySpec(scope, &pol)}
	h.ttl = ttlRules{min: time.Duration(pol.MinTTL) * time.Second, def: time.Duration(pol.DefaultTTL) * time.Second, max: time.Duration(pol.MaxTTL) * time.Second}
	for _, opt := range opts {
		opt(h)
	}
	_, cached := b.Methods()
	h.head = slices.Contains(cached, http.MethodHead)
	h.options = slices.Contains(cached, http.MethodOptions)
	h.authKeyed = h.spec.keyed("Authorization")
	h.enabled = c.maxBytes > 0 && slices.Contains(cached, http.MethodGet) && pol.Key.Caches() &&
		(pol.Legacy || pol.MaxTTL > 0)
	h.conditionals = pol.Forward.Cookies.Mode == portico.SelectNone
	if fv := b.ForwardedValues; pol.Legacy && fv != nil && fv.Cookies != nil {
		// A whitelist of no names selects none, yet counts as forwarding.
		h.conditionals = fv.Cookies.Forward != "all" && fv.Cookies.Forward != "whitelist"
	}
	h.compress = b.Compress != nil && *b.Compress && !h.spec.keyed("Accept-Encoding") &&
		(pol.Legacy || h.spec.normalizeAE)
	return h
}

// A HandlerOption configures a Handler with settings of the distribution
// beyond its cache behaviour.
type HandlerOption func(*handler)

// WithCustomErrorResponses applies a distribution's CustomErrorResponses:
// each ErrorCachingMinTTL replaces the 10-second default for its error
// code (DG custom-error-pages-expiration). ResponsePagePath and
// ResponseCode are not applied by the cache.
func WithCustomErrorResponses(cer *portico.CustomErrorResponses) HandlerOption {
	return func(h *handler) {
		if cer == nil {
			return
		}
		for _, e := range cer.Items {
			if e.ErrorCachingMinTTL == nil {
				continue
			}
			if h.ttl.errMin == nil {
				h.ttl.errMin = make(map[int]time.Duration)
			}
			h.ttl.errMin[e.ErrorCode] = time.Duration(max(*e.ErrorCachingMinTTL, 0)) * time.Second
		}
	}
}

// classify returns the key class of r, or why r bypasses the cache: it
// is then neither answered from nor stored in it.
func (h *handler) classify(r *http.Request) (class byte, bypass string) {
	if !h.enabled {
		return 0, detailPolicy
	}
	switch r.Method {
	case http.MethodGet:
		class = classGet
	case http.MethodHead:
		if !h.head {
			return 0, detailMethod
		}
		class = classGet
	case http.MethodOptions:
		if !h.options {
			return 0, detailMethod
		}
		class = classOptions
	default:
		return 0, detailMethod
	}
	hd := r.Header
	switch {
	case len(hd["Authorization"]) > 0 && !h.authKeyed:
		return 0, detailAuthorization
	case r.ContentLength != 0 && r.Method != http.MethodHead:
		return 0, detailBody
	}
	return class, ""
}

// exchange is the state of one request that the cache could not answer
// from a fresh stored response.
type exchange struct {
	h           *handler
	r           *http.Request
	key         string
	gen         uint64 // the scope's purge generation before the lookup
	requestTime time.Time
	// stale is the stored response being revalidated or replaced, if any.
	stale *entry
	// revalidating is true when the origin request is conditional on
	// stale's validators.
	revalidating bool
	// partial is true for a Range request that nothing is stored for: it
	// goes to the origin as sent, and only a whole response is stored.
	partial bool
	// status is what Cache-Status says; fwd and collapsed are set before
	// the origin request, stored and detail when its response comes.
	status cacheStatus

	// Decided when the origin's response headers come: how the response
	// may be stored (policy and the Vary'd request fields), or why it may
	// not.
	policy storePolicy
	strip  []string
	vary   []string
	why    string
	// originErr is set when the origin proxy reported that the origin
	// could not be reached or did not answer in time.
	originErr *origin.Error
}

// unsafeMethod reports whether a method is not safe (RFC 9110 §9.2.1).
func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodConnect || len(r.Header["Upgrade"]) > 0:
		// A WebSocket, over HTTP/1.1 (Upgrade) or HTTP/2 (extended
		// CONNECT): never cached, never wrapped.
		h.pass(w, r, cacheStatus{fwd: fwdBypass, detail: detailUpgrade})
		return
	case unsafeMethod(r.Method):
		h.passUnsafe(w, r)
		return
	}
	class, bypass := h.classify(r)
	if bypass != "" {
		h.pass(w, r, cacheStatus{fwd: fwdBypass, detail: bypass})
		return
	}
	buf := h.c.getKeyBuf()
	*buf = h.spec.appendKey((*buf)[:0], r, class)
	now := h.c.now()
	gen := h.sc.gen.Load()
	e, soft, found := h.find(*buf, r)
	if e != nil && !soft && e.fresh(now) {
		h.c.putKeyBuf(buf)
		h.serve(w, r, e, now, xCacheHit, hitStatus(e, now, ""))
		return
	}
	x := &exchange{h: h, r: r, key: string(*buf), gen: gen, requestTime: now, stale: e}
	h.c.putKeyBuf(buf)
	switch {
	case e != nil:
		x.status.fwd = fwdStale
	case found:
		x.status.fwd = fwdVaryMiss
	default:
		x.status.fwd = fwdURIMiss
	}
	if e != nil {
		switch {
		case e.inGrace(now):
			// The origin failed a moment ago: CloudFront serves the
			// stale object for ErrorCachingMinTTL without asking again.
			h.serve(w, r, e, now, xCacheHit, hitStatus(e, now, detailStaleIfError))
			return
		case e.servableStale(now) || (soft && !e.policy().mustRevalidate):
			// RFC 5861 §3, and soft purges: serve stale, revalidate
			// in the background.
			h.serve(w, r, e, now, xCacheHit, hitStatus(e, now, detailStaleWhileRevalidate))
			h.revalidateInBackground(x)
			return
		}
	}
	if r.Method == http.MethodHead {
		// A HEAD response has no body to store: pass it through.
		x.status.detail = detailHead
		h.pass(w, r, x.status)
		return
	}
	if e == nil && len(r.Header["Range"]) > 0 {
		// The object may be large: ask the origin for the range alone.
		// A partial response is not stored, and not worth waiting for.
		x.partial = true
		h.fetch(w, x)
		return
	}
	h.collapse(w, x)
}

// find looks up the response stored under key that r selects, in memory
// and then on disk, and applies the scope's purges to it: soft is set when
// a soft purge made it stale. found reports whether anything at all is
// stored under key in memory.
func (h *handler) find(key []byte, r *http.Request) (e *entry, soft, found bool) {
	e, found = h.c.lookup(key, r)
	if e == nil && h.c.disk != nil {
		e = h.fromDisk(string(key), r)
	}
	picked := e != nil
	e, soft = h.judge(e)
	// A variant purged since it was stored went with every variant of its
	// path: nothing is stored under the key any more.
	return e, soft, found && !(picked && e == nil)
}

// fromDisk looks key up in the disk tier and brings what it finds into
// memory.
//
// A file is judged by the purges of this run like any entry, by the
// generation it was fetched at; a file of an earlier run counts as fetched
// before them all. When no purge is waiting to be applied to the files,
// any file still there survived every purge so far, and so counts as
// fetched now. Otherwise a file that purge records since forgotten
// (compacted) might have matched is not used.
func (h *handler) fromDisk(key string, r *http.Request) *entry {
	h.sc.mu.Lock()
	gen, settled := h.sc.gen.Load(), h.c.disk.settled()
	h.sc.mu.Unlock()
	e := h.c.disk.load(h.c, h.sc, key, r)
	switch {
	case e == nil:
		return nil
	case settled:
		e.gen = gen
	case e.gen < h.sc.idx.Load().floor:
		return nil
	}
	if h.sc.verdict(e) == purged {
		h.c.discard(e)
		return nil
	}
	h.c.store(e)
	return e
}

// judge applies the scope's purges to a looked-up entry: a purged entry
// is removed and not returned; a soft-purged one is returned with soft set.
func (h *handler) judge(e *entry) (_ *entry, soft bool) {
	if e == nil {
		return nil, false
	}
	switch h.sc.verdict(e) {
	case purged:
		h.c.discard(e)
		return nil, false
	case stale:
		return e, true
	}
	return e, false
}

// hitStatus is the Cache-Status of a response served from e without going
// to the origin: a hit, with its remaining freshness (negative when stale).
func hitStatus(e *entry, now time.Time, detail string) cacheStatus {
	return cacheStatus{hit: true, hasTTL: true, ttl: e.remaining(now), detail: detail}
}

// pass sends r to the origin without the cache: nothing is looked up or
// stored. st is the Cache-Status to answer with.
func (h *handler) pass(w http.ResponseWriter, r *http.Request, st cacheStatus) {
	w.Header()["X-Cache"] = xCacheMiss
	if st.detail == detailUpgrade {
		// The origin proxy writes a 101 itself, on the hijacked
		// connection, with the headers set so far.
		w.Header()["Cache-Status"] = []string{st.String()}
		h.next.ServeHTTP(w, r)
		return
	}
	pw := &passWriter{ResponseWriter: w, h: h, r: r, member: st.String()}
	h.next.ServeHTTP(pw, r)
	pw.finish()
}

// passUnsafe sends a request with an unsafe method to the origin and, when
// the origin answers with a success or a redirect, invalidates what the
// cache holds for the request's URI and for the same-host URIs in the
// response's Location and Content-Location (RFC 9111 §4.4), every variant.
func (h *handler) passUnsafe(w http.ResponseWriter, r *http.Request) {
	w.Header()["X-Cache"] = xCacheMiss
	pw := &passWriter{ResponseWriter: w, h: h, r: r, member: (&cacheStatus{fwd: fwdBypass, detail: detailMethod}).String()}
	h.next.ServeHTTP(pw, r)
	pw.finish()
	if pw.status < 200 || pw.status >= 400 {
		return
	}
	h.c.invalidate(h.sc.name, h.path(r.URL), false, false, false)
	for _, name := range [...]string{"Location", "Content-Location"} {
		v := pw.Header().Get(name)
		if v == "" {
			continue
		}
		ref, err := url.Parse(v)
		if err != nil {
			continue
		}
		u := (&url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath}).ResolveReference(ref)
		if strings.EqualFold(u.Host, r.Host) {
			h.c.invalidate(h.sc.name, h.path(u), false, false, false)
		}
	}
}

// collapse makes one origin request for concurrent misses with the same
// key (CloudFront's request collapsing, DG
// RequestAndResponseBehaviorCustomOrigin): the first request (the leader)
// goes to the origin, the others wait for it and then look the key up
// again. So they are answered only with what the leader stored, never with
// a response private to its requester (Set-Cookie, private, no-store, or
// anything else that keeps it out of the cache). When nothing usable was
// stored (that, or the leader failed: its viewer went away, the origin
// broke off, a panic), or the leader takes longer than the collapse
// timeout, each waiter goes to the origin itself, independently.
func (h *handler) collapse(w http.ResponseWriter, x *exchange) {
	fl, leader := h.c.flights.join(x.key)
	if leader {
		// land runs also when next panics (http.ErrAbortHandler for a
		// body that broke off): the waiters must not wait for the
		// timeout.
		defer h.c.flights.land(x.key, fl)
		h.fetch(w, x)
		return
	}
	ctx := x.r.Context()
	if h.c.flights.wait(ctx, fl, h.c.collapseTimeout) {
		now := h.c.now()
		e, _ := h.c.lookupString(x.key, x.r)
		e, soft := h.judge(e)
		switch {
		case e != nil && !soft && e.fresh(now):
			h.serve(w, x.r, e, now, xCacheHit, cacheStatus{fwd: x.status.fwd, collapsed: collapsedUsed})
			return
		case e != nil && e.inGrace(now):
			h.serve(w, x.r, e, now, xCacheHit, cacheStatus{fwd: x.status.fwd, collapsed: collapsedUsed, hasTTL: true, ttl: e.remaining(now), detail: detailStaleIfError})
			return
		}
	} else if ctx.Err() != nil {
		return // the viewer went away: nobody reads an answer
	}
	x.status.collapsed = collapsedNot
	h.fetch(w, x)
}

// revalidateInBackground refreshes x's stale entry with one origin request
// in the background, unless one is in progress for the key already.
func (h *handler) revalidateInBackground(x *exchange) {
	fl, leader := h.c.flights.join(x.key)
	if !leader {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(x.r.Context()), h.c.collapseTimeout)
	bx := *x
	bx.r = x.r.Clone(ctx)
	h.c.bg.Add(1)
	go func() {
		defer h.c.bg.Done()
		defer cancel()
		defer func() {
			if p := recover(); p != nil && p != http.ErrAbortHandler {
				h.c.log.Error("httpcache: background revalidation failed", "scope", h.sc.name, "path", bx.r.URL.Path, "panic", p)
			}
			h.c.flights.land(bx.key, fl)
		}()
		h.fetch(&discardWriter{header: make(http.Header)}, &bx)
	}()
}

// fetch gets x's response from the origin: conditional on the stale
// entry's validators when it has them, and otherwise without the viewer's
// preconditions, which the cache evaluates itself against the full response
// it stores.
func (h *handler) fetch(w http.ResponseWriter, x *exchange) {
	out := x.r
	switch st := x.stale; {
	case x.partial:
	case st != nil && st.hasValidator():
		x.revalidating = true
		out = withoutConditionals(x.r.WithContext(origin.WithCacheValidators(x.r.Context())))
		if etag := st.etag(); etag != "" {
			out.Header["If-None-Match"] = []string{etag}
		}
		if lastModified := st.lastModified(); lastModified != "" {
			out.Header["If-Modified-Since"] = []string{lastModified}
		}
	case isConditional(x.r) || len(x.r.Header["Range"]) > 0 || len(x.r.Header["If-Range"]) > 0:
		out = withoutConditionals(x.r)
	}
	cw := newCaptureWriter(w, x, h.c.maxObject)
	h.next.ServeHTTP(cw, out)
	cw.finish()
	switch {
	case cw.notModified:
		h.refresh(w, x, cw)
	case cw.errorHeld:
		h.serveStaleOnError(w, x, cw)
	default:
		h.keep(x, cw)
	}
}

// withoutConditionals returns a copy of r without its conditional fields
// and Range: a request for the whole representation, to store.
func withoutConditionals(r *http.Request) *http.Request {
	out := r.Clone(r.Context())
	for _, name := range conditionalFields {
		delete(out.Header, name)
	}
	delete(out.Header, "Range")
	return out
}

// decide is called when the origin's response headers come: it decides
// whether and how the response can be stored, for Cache-Status and keep.
func (x *exchange) decide(status int, hd http.Header) {
	switch {
	case x.originErr != nil || porticoError(hd):
		// Portico's own page for an origin it could not reach; it is
		// never stored.
		x.why = detailOriginError
		if status == http.StatusGatewayTimeout {
			x.why = detailOriginTimeout
		}
	case len(hd["Trailer"]) > 0:
		x.why = detailTrailers
	case status == http.StatusPartialContent:
		x.why = detailPartial
	default:
		x.policy, x.strip, x.why = x.h.ttl.policy(status, hd, x.h.c.now())
		if x.why == "" {
			x.vary, x.why = x.h.spec.varyNames(hd["Vary"])
		}
	}
	x.status.stored = x.why == ""
	x.status.detail = x.why
}

// porticoError reports whether a response is Portico's own error page for
// an origin that could not be reached or did not answer in time: the
// origin proxy labels it X-Cache "Error from portico", and removes X-Cache
// from every response the origin sends. (The proxy also says so through
// captureWriter.OriginError; this catches any other next handler that
// writes Portico's error page.)
func porticoError(hd http.Header) bool {
	v := hd["X-Cache"]
	return len(v) > 0 && v[0] == "Error from portico"
}

// originFailed reports whether an origin response is an error that a
// stale response may stand in for (RFC 5861 §4: 500, 502, 503, 504),
// and whether Portico could not reach the origin at all.
func originFailed(status int, hd http.Header) (failed, disconnected bool) {
	if porticoError(hd) {
		return true, true
	}
	switch status {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true, false
	}
	return false, false
}

// staleOnError reports whether the origin's error response (status, hd) is
// to be replaced by the stale entry: the viewer then never sees it.
func (x *exchange) staleOnError(status int, hd http.Header) bool {
	if x.stale == nil {
		return false
	}
	failed, disconnected := originFailed(status, hd)
	return failed && x.stale.servableOnError(x.h.c.now(), disconnected)
}

// serve answers r from e. GET and HEAD requests with preconditions that e
// fails or satisfies get a 412 or a 304 (RFC 9111 §4.3.2, RFC 9110 §13.2),
// unless the behaviour forwards cookies; a Range request for a stored 200
// gets its ranges (RFC 9110 §14).
func (h *handler) serve(w http.ResponseWriter, r *http.Request, e *entry, now time.Time, xcache []string, st cacheStatus) {
	hd := w.Header()
	if st.hit && st.fwd == "" && st.detail == "" {
		// A plain hit (xcache is xCacheHit): the values are shared by
		// the hits of a second.
		s := h.c.stampFor(e, now)
		e.setPlainHit(hd, h.c.valuesOf(s), s.view)
	} else {
		e.header.copyTo(hd, e.header.view())
		hd["X-Cache"] = xcache
		hd["Age"] = []string{strconv.FormatInt(int64(max(e.currentAge(now), 0)/time.Second), 10)}
		hd["Cache-Status"] = withCacheStatus(e.header.values("Cache-Status"), st.String())
	}
	if e.status == http.StatusOK && r.Method != http.MethodOptions {
		if h.conditionals && isConditional(r) {
			if code := preconditions(r, e.etag(), e.lastModified(), e.header.get("Date")); code != 0 {
				withoutBody(hd, code)
				w.WriteHeader(code)
				return
			}
		}
		if v := r.Header["Range"]; len(v) == 1 && len(v[0]) > len("bytes=") && strings.EqualFold(v[0][:len("bytes=")], "bytes=") {
			serveRanges(w, r, e)
			return
		}
	}
	w.WriteHeader(int(e.status))
	if r.Method != http.MethodHead {
		w.Write(e.body)
	}
}

// serveRanges answers a Range request from a stored 200 with
// http.ServeContent: one range gets a 206 with Content-Range, several a
// 206 multipart/byteranges, none satisfiable a 416; an If-Range that does
// not match the stored validator (strong comparison), or ranges that
// overlap too much, get the whole 200. The preconditions are the cache's
// to judge, already judged: ServeContent sees only If-Range. (A range unit
// other than bytes is ignored before this, as RFC 9110 §14.2 requires.)
func serveRanges(w http.ResponseWriter, r *http.Request, e *entry) {
	hd := w.Header()
	if _, ok := hd["Content-Type"]; !ok {
		hd["Content-Type"] = nil // no sniffing: the origin sent none
	}
	rr := r.Clone(r.Context())
	for _, name := range conditionalFields {
		if name != "If-Range" {
			delete(rr.Header, name)
		}
	}
	// Range units are case-insensitive (RFC 9110 §14.1); ServeContent
	// knows "bytes=" only.
	rr.Header["Range"] = []string{"bytes=" + r.Header["Range"][0][len("bytes="):]}
	modified, _ := http.ParseTime(e.lastModified())
	http.ServeContent(w, rr, "", modified, bytes.NewReader(e.body))
}

func headerValue(hd http.Header, name string) string {
	if v := hd[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// refresh updates the stale entry with the header fields of the origin's
// 304 (RFC 9111 §4.3.4), stores the result and serves it ("RefreshHit").
func (h *handler) refresh(w http.ResponseWriter, x *exchange, cw *captureWriter) {
	old := x.stale
	now := h.c.now()
	header := old.header.header()
	for k, v := range cw.header {
		switch k {
		case "Content-Length", "Content-Encoding", "Content-Range", "Transfer-Encoding", "X-Cache", "Cache-Status", "Age", "Set-Cookie", "Cache-Tag":
			// Fields that describe the stored body, or that the cache
			// makes itself, or that are never stored.
			continue
		case "Vary":
			v = h.spec.viewerVary(v)
		}
		header[k] = slices.Clip(v)
	}
	if old.compressed() {
		// The origin's validators name its uncompressed representation.
		asCompressed(header, old.header.get("Content-Encoding"))
		header["Content-Length"] = old.header.values("Content-Length")
	}
	policy, strip, why := h.ttl.policy(int(old.status), header, now)
	for _, name := range strip {
		delete(header, name)
	}
	tags := old.tags()
	if v, ok := cw.header["Cache-Tag"]; ok {
		tags = parseTags(v)
	}
	e := newEntry(&response{
		key:          old.fullKey(),
		sc:           old.sc(),
		path:         old.path(),
		gen:          x.gen,
		vary:         old.vary(),
		tags:         tags,
		status:       int(old.status),
		header:       header,
		shared:       h.c.shared,
		body:         old.body,
		responseTime: now.UnixNano(),
		age:          initialAge(cw.header, x.requestTime, now),
		policy:       policy,
		etag:         headerValue(header, "Etag"),
		lastModified: headerValue(header, "Last-Modified"),
		compressed:   old.compressed(),
	})
	if why == "" && !h.c.store(e) {
		why = detailPurged
	}
	if why == "" {
		h.c.persist(e)
	} else {
		h.c.discard(old)
	}
	if setCookie := cw.header["Set-Cookie"]; len(setCookie) > 0 {
		// For this viewer only: never stored.
		w.Header()["Set-Cookie"] = setCookie
	}
	st := x.status
	st.fwdStatus = http.StatusNotModified
	st.stored, st.detail = why == "", why
	h.serve(w, x.r, e, now, xCacheRefreshHit, st)
}

// serveStaleOnError answers with the stale entry in place of the origin's
// error, and keeps doing so, without asking the origin, for the error
// caching TTL of the status (DG HTTPStatusCodes) or until the
// stale-if-error window closes.
func (h *handler) serveStaleOnError(w http.ResponseWriter, x *exchange, cw *captureWriter) {
	e, now := x.stale, h.c.now()
	grace := h.ttl.errorTTL(cw.status)
	if _, disconnected := originFailed(cw.status, cw.stored); !disconnected && x.originErr == nil {
		// No longer than the stale-if-error window.
		grace = min(grace, e.policy().sie+e.remaining(now))
	}
	until := now.Add(grace)
	e.lately().graceUntil.Store(until.UnixNano())
	st := x.status
	st.fwdStatus, st.hasTTL, st.ttl, st.detail = cw.status, true, e.remaining(now), detailStaleIfError
	h.serve(w, x.r, e, now, xCacheHit, st)
}

// keep stores the response cw captured for x, if it may be stored and
// arrived whole. The stale entry it replaces is removed when the origin
// sent a whole response that may not be stored, except a server error: a
// stale response may still stand in for that later.
func (h *handler) keep(x *exchange, cw *captureWriter) {
	e, why := h.entryFor(x, cw)
	if why == "" && !h.c.store(e) {
		why = detailPurged
	}
	if why == "" {
		h.c.persist(e)
		return
	}
	if x.stale != nil && cw.wroteHeader && cw.status < 500 && why != detailIncomplete && why != detailTooLarge {
		h.c.discard(x.stale)
	}
	if ctx := context.Background(); h.c.log.Enabled(ctx, slog.LevelDebug) {
		// (Checked first: the arguments would cost allocations on every
		// miss that is not stored, logged or not.)
		h.c.log.LogAttrs(ctx, slog.LevelDebug, "response not stored", slog.String("scope", h.sc.name),
			slog.String("path", x.r.URL.Path), slog.Int("status", cw.status), slog.String("reason", why))
	}
}

// entryFor builds the entry for a captured response, or says why there is
// none.
func (h *handler) entryFor(x *exchange, cw *captureWriter) (*entry, string) {
	switch {
	case !cw.wroteHeader:
		return nil, detailIncomplete
	case x.why != "":
		return nil, x.why
	case cw.err != nil:
		return nil, detailIncomplete
	case cw.overflow:
		return nil, detailTooLarge
	}
	hd := cw.stored
	if cw.originLength >= 0 && cw.received != cw.originLength {
		return nil, detailIncomplete
	}
	now := h.c.now()
	if v, ok := hd["Vary"]; ok {
		if v = h.spec.viewerVary(v); v == nil {
			delete(hd, "Vary")
		} else {
			hd["Vary"] = v
		}
	}
	if cw.status != http.StatusNoContent && cw.status != http.StatusNotModified {
		hd["Content-Length"] = []string{strconv.Itoa(len(cw.body))}
	}
	skip := func(name string) bool {
		switch name {
		case "X-Cache", "Age", "Set-Cookie", "Cache-Tag":
			return true
		}
		return slices.Contains(x.strip, name)
	}
	body := cw.body
	if cap(body)-len(body) > len(body)/16 {
		// A body in a larger buffer (compressed, in a buffer sized for
		// the uncompressed one, or grown as it came): copied, so that
		// the rest of the buffer is not kept.
		body = slices.Clone(body)
	}
	return newEntry(&response{
		key:          x.key,
		sc:           h.sc,
		path:         h.path(x.r.URL),
		gen:          x.gen,
		vary:         secondaryKey(x.vary, x.r),
		tags:         parseTags(hd["Cache-Tag"]),
		status:       cw.status,
		header:       hd,
		skip:         skip,
		shared:       h.c.shared,
		body:         body,
		responseTime: now.UnixNano(),
		age:          initialAge(hd, x.requestTime, now),
		policy:       x.policy,
		etag:         headerValue(hd, "Etag"),
		lastModified: headerValue(hd, "Last-Modified"),
		compressed:   cw.coding != "",
	}), ""
}

// path returns the purge path of a URL: the escaped path, with "?" and the
// keyed part of the query string when there is one.
func (h *handler) path(u *url.URL) string {
	p := u.EscapedPath()
	q := h.spec.appendQuery(nil, u.RawQuery)
	if len(q) == 0 {
		return p
	}
	return p + "?" + string(q)
}

// discardWriter is the ResponseWriter of a background revalidation: nobody
// reads its answer.
type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) Flush()                      {}
