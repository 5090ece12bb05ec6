// Package respheaders applies a CloudFront response headers policy to the
// responses of an http.Handler: the security headers (Strict-Transport-
// Security, Content-Security-Policy and the others), the custom headers,
// the headers to remove, the CORS headers and the Server-Timing header.
//
// Compile turns a policy's configuration into an immutable Policy once,
// with every header value rendered ahead of time, and Wrap applies it to
// each response just before its header is written. Wrapped outside the
// cache, it applies to hits and misses alike (DG modifying-response-headers:
// "CloudFront modifies the headers in the responses that it serves from
// the cache and the ones that it forwards from the origin").
//
// # CORS
//
// CloudFront does not answer CORS requests itself: a response headers
// policy adds headers to the responses of the origin or the cache (DG
// modifying-response-headers, understanding-response-headers-policies).
// So a preflight, an OPTIONS request with Origin and
// Access-Control-Request-Method, goes through to the wrapped handler (the
// cache, then the origin) like any request; the cache behaviour must allow
// OPTIONS, or the edge refuses it with 403 before it gets here. To every
// response to a request whose Origin the policy allows, the policy adds
// Access-Control-Allow-Origin ("*", or the request's origin when the
// policy lists it, a leading "*." label matching any subdomain),
// Access-Control-Allow-Credentials when true and
// Access-Control-Expose-Headers; to the response to a preflight it also
// adds Access-Control-Allow-Methods, -Allow-Headers and -Max-Age (DG
// understanding-response-headers-policies, "CORS headers"). With
// OriginOverride false a CORS header the response already has is kept;
// with true the policy's replaces it. A request whose Origin the policy
// does not allow, or without Origin, gets no CORS header from the policy.
// The status is the origin's: an origin that refuses OPTIONS fails the
// preflight, as behind CloudFront.
//
// # Server-Timing
//
// With ServerTimingHeadersConfig enabled, SamplingRate percent of the
// responses, and every response to a request with "Pragma: server-timing",
// get a Server-Timing header with CloudFront's metrics: the cache result,
// the POP and request ID, and the first-byte latencies to the viewer and,
// when the origin was asked, the origin connection's timings. See
// timingState.setHeader for the format. The draw is a lock-free random
// number; a policy without Server-Timing, or a request not drawn, costs
// nothing more.
package respheaders

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/portico-edge/portico"
)

// Header names the policy sets.
const (
	hdrXSSProtection      = "X-Xss-Protection"
	hdrFrameOptions       = "X-Frame-Options"
	hdrReferrerPolicy     = "Referrer-Policy"
	hdrCSP                = "Content-Security-Policy"
	hdrContentTypeOptions = "X-Content-Type-Options"
	hdrHSTS               = "Strict-Transport-Security"

	hdrAllowOrigin      = "Access-Control-Allow-Origin"
	hdrAllowCredentials = "Access-Control-Allow-Credentials"
	hdrExposeHeaders    = "Access-Control-Expose-Headers"
	hdrAllowMethods     = "Access-Control-Allow-Methods"
	hdrAllowHeaders     = "Access-Control-Allow-Headers"
	hdrMaxAge           = "Access-Control-Max-Age"
	hdrRequestMethod    = "Access-Control-Request-Method"
)

// allMethods is what the method ALL stands for in
// AccessControlAllowMethods.
var allMethods = []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}

// Policy is a compiled response headers policy. It is immutable and safe
// for concurrent use.
type Policy struct {
	remove []string // canonical names
	set    []field  // security and custom headers, in that order
	cors   *cors
	timing *serverTiming // nil: no Server-Timing header
}

// field is one header the policy sets. value is rendered once and shared
// by every response; its capacity equals its length, so that an append
// downstream copies it instead of writing into it.
type field struct {
	key      string // canonical
	value    []string
	override bool
}

// cors is a compiled CorsConfig.
type cors struct {
	anyOrigin bool     // the origins include "*"
	origins   []string // otherwise, exact origins or patterns with one "*"
	override  bool     // OriginOverride
	simple    []field  // Allow-Credentials and Expose-Headers, for every CORS request
	preflight []field  // Allow-Methods, Allow-Headers and Max-Age, for preflights
}

var star = []string{"*"}

// Compile compiles a response headers policy. c must be valid
// (ResponseHeadersPolicyConfig.Validate); Compile still rejects header names
// and values that cannot be sent, and a sampling rate that is not a
// percentage.
func Compile(c *portico.ResponseHeadersPolicyConfig) (*Policy, error) {
	if c == nil {
		return nil, fmt.Errorf("respheaders: no policy")
	}
	p := &Policy{}
	var err error
	if p.timing, err = compileServerTiming(c.ServerTimingHeadersConfig); err != nil {
		return nil, err
	}
	if rh := c.RemoveHeadersConfig; rh != nil {
		for _, h := range rh.Items {
			if !httpguts.ValidHeaderFieldName(h.Header) {
				return nil, fmt.Errorf("respheaders: header to remove %q: invalid name", h.Header)
			}
			p.remove = append(p.remove, http.CanonicalHeaderKey(h.Header))
		}
	}
	if sh := c.SecurityHeadersConfig; sh != nil {
		p.set = append(p.set, securityFields(sh)...)
	}
	if ch := c.CustomHeadersConfig; ch != nil {
		for _, h := range ch.Items {
			p.set = append(p.set, newField(h.Header, h.Value, isTrue(h.Override)))
		}
	}
	if cc := c.CorsConfig; cc != nil {
		p.cors = compileCORS(cc)
	}
	for _, f := range p.allFields() {
		if !httpguts.ValidHeaderFieldName(f.key) {
			return nil, fmt.Errorf("respheaders: header %q: invalid name", f.key)
		}
		if !httpguts.ValidHeaderFieldValue(f.value[0]) {
			// Not the value: custom header values may be secret.
			return nil, fmt.Errorf("respheaders: header %q: invalid value", f.key)
		}
	}
	return p, nil
}

func (p *Policy) allFields() []field {
	fs := slices.Clone(p.set)
	if p.cors != nil {
		fs = append(fs, p.cors.simple...)
		fs = append(fs, p.cors.preflight...)
	}
	return fs
}

func newField(name, value string, override bool) field {
	return field{key: http.CanonicalHeaderKey(name), value: []string{value}[:1:1], override: override}
}

func securityFields(sh *portico.SecurityHeadersConfig) []field {
	var fs []field
	if x := sh.XSSProtection; x != nil {
		v := "0"
		if isTrue(x.Protection) {
			v = "1"
			switch {
			case isTrue(x.ModeBlock):
				v += "; mode=block"
			case x.ReportURI != nil && *x.ReportURI != "":
				v += "; report=" + *x.ReportURI
			}
		}
		fs = append(fs, newField(hdrXSSProtection, v, isTrue(x.Override)))
	}
	if f := sh.FrameOptions; f != nil {
		fs = append(fs, newField(hdrFrameOptions, f.FrameOption, isTrue(f.Override)))
	}
	if r := sh.ReferrerPolicy; r != nil {
		fs = append(fs, newField(hdrReferrerPolicy, r.ReferrerPolicy, isTrue(r.Override)))
	}
	if csp := sh.ContentSecurityPolicy; csp != nil {
		fs = append(fs, newField(hdrCSP, csp.ContentSecurityPolicy, isTrue(csp.Override)))
	}
	if cto := sh.ContentTypeOptions; cto != nil {
		fs = append(fs, newField(hdrContentTypeOptions, "nosniff", isTrue(cto.Override)))
	}
	if sts := sh.StrictTransportSecurity; sts != nil {
		v := "max-age=" + strconv.Itoa(deref(sts.AccessControlMaxAgeSec))
		if isTrue(sts.IncludeSubdomains) {
			v += "; includeSubDomains"
		}
		if isTrue(sts.Preload) {
			v += "; preload"
		}
		fs = append(fs, newField(hdrHSTS, v, isTrue(sts.Override)))
	}
	return fs
}

func compileCORS(cc *portico.CorsConfig) *cors {
	c := &cors{override: isTrue(cc.OriginOverride)}
	if o := cc.AccessControlAllowOrigins; o != nil {
		for _, origin := range o.Items {
			if origin == "*" {
				c.anyOrigin = true
			}
			c.origins = append(c.origins, strings.ToLower(origin))
		}
	}
	if isTrue(cc.AccessControlAllowCredentials) {
		c.simple = append(c.simple, newField(hdrAllowCredentials, "true", c.override))
	}
	if e := cc.AccessControlExposeHeaders; e != nil && len(e.Items) > 0 {
		c.simple = append(c.simple, newField(hdrExposeHeaders, strings.Join(e.Items, ", "), c.override))
	}
	if m := cc.AccessControlAllowMethods; m != nil && len(m.Items) > 0 {
		methods := m.Items
		if slices.Contains(methods, "ALL") {
			methods = allMethods
		}
		c.preflight = append(c.preflight, newField(hdrAllowMethods, strings.Join(methods, ", "), c.override))
	}
	if h := cc.AccessControlAllowHeaders; h != nil && len(h.Items) > 0 {
		c.preflight = append(c.preflight, newField(hdrAllowHeaders, strings.Join(h.Items, ", "), c.override))
	}
	if cc.AccessControlMaxAgeSec != nil {
		c.preflight = append(c.preflight, newField(hdrMaxAge, strconv.Itoa(*cc.AccessControlMaxAgeSec), c.override))
	}
	return c
}

// allowOrigin returns the Access-Control-Allow-Origin value for a request
// whose Origin is origin, or nil when the policy does not allow it.
// reqValue is the request's own Origin value slice, which is returned
// (clipped) when the origin is echoed, so that nothing is allocated.
func (c *cors) allowOrigin(reqValue []string) []string {
	if c.anyOrigin {
		return star
	}
	origin := reqValue[0]
	for _, o := range c.origins {
		if originMatches(o, origin) {
			return reqValue[:1:1]
		}
	}
	return nil
}

// originMatches reports whether origin matches pattern, a lower-case
// origin that may hold one "*" standing for one or more characters, as in
// https://*.example.com.
func originMatches(pattern, origin string) bool {
	prefix, suffix, wild := strings.Cut(pattern, "*")
	if !wild {
		return strings.EqualFold(pattern, origin)
	}
	return len(origin) > len(prefix)+len(suffix) &&
		strings.EqualFold(origin[:len(prefix)], prefix) &&
		strings.EqualFold(origin[len(origin)-len(suffix):], suffix)
}

// apply edits the header h of the response to r. ts is the request's
// Server-Timing record, nil when it gets no Server-Timing header.
func (p *Policy) apply(h http.Header, r *http.Request, ts *timingState) {
	for _, k := range p.remove {
		delete(h, k)
	}
	for i := range p.set {
		p.set[i].apply(h)
	}
	p.applyCORS(h, r)
	if ts != nil {
		ts.setHeader(h, time.Now())
	}
}

// applyCORS adds the policy's CORS headers, if any, for a request whose
// Origin the policy allows.
func (p *Policy) applyCORS(h http.Header, r *http.Request) {
	c := p.cors
	if c == nil {
		return
	}
	reqOrigin := r.Header["Origin"]
	if len(reqOrigin) == 0 || reqOrigin[0] == "" {
		return
	}
	allow := c.allowOrigin(reqOrigin)
	if allow == nil {
		return
	}
	field{key: hdrAllowOrigin, value: allow, override: c.override}.apply(h)
	for i := range c.simple {
		c.simple[i].apply(h)
	}
	if r.Method == http.MethodOptions && len(r.Header[hdrRequestMethod]) > 0 {
		for i := range c.preflight {
			c.preflight[i].apply(h)
		}
	}
}

func (f field) apply(h http.Header) {
	if !f.override {
		if _, ok := h[f.key]; ok {
			return
		}
	}
	h[f.key] = f.value
}

// Wrap returns a handler that serves with next and applies p to every
// response header next writes, including those of error responses. A nil
// p returns next unchanged.
func Wrap(p *Policy, next http.Handler) http.Handler {
	if p == nil {
		return next
	}
	return &handler{p: p, next: next, pool: sync.Pool{New: func() any { return new(writer) }}}
}

type handler struct {
	p    *Policy
	next http.Handler
	pool sync.Pool // of *writer
}

func (h *handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w := h.pool.Get().(*writer)
	*w = writer{ResponseWriter: rw, p: h.p, r: r}
	defer func() {
		*w = writer{}
		h.pool.Put(w)
	}()
	if st := h.p.timing; st != nil && st.sampled(r) {
		w.timing, r = newTimingState(r)
		w.r = r
	}
	h.next.ServeHTTP(w, r)
}

// writer applies the policy once, just before the (final) header is
// written.
type writer struct {
	http.ResponseWriter
	p       *Policy
	r       *http.Request
	timing  *timingState // the request was sampled for Server-Timing
	applied bool
}

func (w *writer) applyOnce() {
	if !w.applied {
		w.applied = true
		w.p.apply(w.ResponseWriter.Header(), w.r, w.timing)
	}
}

// WriteHeader applies the policy before a final status; informational
// (1xx) ones go out as they are.
func (w *writer) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.applyOnce()
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write applies the policy before an implicit 200 header.
func (w *writer) Write(b []byte) (int, error) {
	w.applyOnce()
	return w.ResponseWriter.Write(b)
}

// Flush applies the policy, as flushing writes the header, then flushes.
func (w *writer) Flush() {
	w.applyOnce()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap returns the underlying ResponseWriter, for
// http.ResponseController.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func isTrue(b *bool) bool { return b != nil && *b }

func deref(i *int) int {
	if i == nil {
		return 0
	}
	return *i
}
