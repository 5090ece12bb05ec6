package respheaders

import (
	"net/http"
	"reflect"
)

// Unwrap returns the policy and the handler that Wrap wrapped in h, or nil
// and h itself when h does not come from Wrap.
func Unwrap(h http.Handler) (*Policy, http.Handler) {
	if w, ok := h.(*handler); ok {
		return w.p, w.next
	}
	return nil, h
}

// Static reports whether the handler from Wrap edits the response header
// to r as ApplyStatic edits it: r is a GET or HEAD without an Origin field,
// or p has no CORS configuration. A server that renders a cached
// response's header once for many requests (the edge's fast path) may use
// ApplyStatic for the requests Static accepts, and must leave the others
// to the handler from Wrap.
func (p *Policy) Static(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if p.cors == nil {
		return true
	}
	o := r.Header["Origin"]
	return len(o) == 0 || o[0] == ""
}

// ApplyStatic edits h, the header of a response to a request that Static
// accepts, as the handler from Wrap edits it, and reports true; unless p
// sets something that depends on more than that (a part of Policy that
// ApplyStatic does not know, such as per-request Server-Timing values):
// then it leaves h alone and reports false.
func (p *Policy) ApplyStatic(h http.Header) bool {
	if !p.onlyKnownParts() {
		return false
	}
	p.apply(h, staticRequest, nil)
	return true
}

// staticRequest stands for every request that Static accepts: apply looks
// at nothing else of them.
var staticRequest = &http.Request{Method: http.MethodGet, Header: http.Header{}}

// staticParts are the fields of Policy whose effect ApplyStatic knows.
var staticParts = map[string]bool{"remove": true, "set": true, "cors": true}

// onlyKnownParts reports whether p has nothing set but the parts whose
// effect depends only on the response and, for CORS, on Origin. A part
// added to Policy later makes ApplyStatic refuse until it is taught about
// it.
func (p *Policy) onlyKnownParts() bool {
	v := reflect.ValueOf(p).Elem()
	t := v.Type()
	for i := range t.NumField() {
		if !staticParts[t.Field(i).Name] && !v.Field(i).IsZero() {
			return false
		}
	}
	return true
}
