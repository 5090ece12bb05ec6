package snapshot

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/testpki"
)

// managedSecurityHeadersPolicy is the ID of AWS's
// Managed-SecurityHeadersPolicy.
const managedSecurityHeadersPolicy = "67f7725c-6f97-4210-82d7-5512b31e9d03"

// Response headers policy IDs of the test's custom policies.
const (
	hstsPolicyID = "0b9b5c7e-3333-4a5b-8c9d-000000000003"
	corsPolicyID = "0b9b5c7e-4444-4a5b-8c9d-000000000004"
)

// newHeaderOrigin returns an HTTPS origin that answers like
// newRecordingOrigin's and also sends headers a response headers policy
// acts on: Server, X-Powered-By, X-Frame-Options: DENY,
// X-Content-Type-Options: origin and X-Custom: origin.
func newHeaderOrigin(t *testing.T) *recordingOrigin {
	t.Helper()
	o := &recordingOrigin{testOrigin: &testOrigin{ca: testpki.NewCA(t, "Origin Test CA"), count: make(map[string]int)}, last: make(map[string]*http.Request)}
	o.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		o.testOrigin.mu.Lock()
		o.count[r.URL.Path]++
		n := o.count[r.URL.Path]
		o.testOrigin.mu.Unlock()
		h := w.Header()
		h.Set("Cache-Control", "max-age=300")
		h.Set("Server", "origin-server/1.0")
		h.Set("X-Powered-By", "PHP/8")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "origin")
		h.Set("X-Custom", "origin")
		fmt.Fprintf(w, "%s #%d", r.URL.Path, n)
	}))
	o.srv.TLS = &tls.Config{Certificates: []tls.Certificate{*o.ca.Issue(t, []string{originHost}).TLSCertificate(t)}}
	o.srv.StartTLS()
	t.Cleanup(o.srv.Close)
	return o
}

// headersState returns a State whose one distribution has a behaviour per
// response headers policy, all on the managed CachingOptimized policy:
//
//	/hsts/*    a custom policy: HSTS with includeSubDomains and preload,
//	           custom headers with and without Override, and removal of
//	           Server and X-Powered-By
//	/managed/* the managed SecurityHeadersPolicy
//	/cors/*    a custom CORS policy for two origins, one a pattern
//
// The default behaviour names no response headers policy.
func headersState() *portico.State {
	cfg := distConfig("headers", true, "")
	behavior := func(pattern, headersPolicy string) portico.CacheBehavior {
		return portico.CacheBehavior{
			PathPattern:             portico.Ptr(pattern),
			TargetOriginID:          "origin",
			ViewerProtocolPolicy:    "allow-all",
			CachePolicyID:           portico.Ptr(portico.ManagedCachingOptimized),
			ResponseHeadersPolicyID: portico.Ptr(headersPolicy),
		}
	}
	cfg.CacheBehaviors = &portico.CacheBehaviors{Quantity: 3, Items: []portico.CacheBehavior{
		behavior("/hsts/*", hstsPolicyID),
		behavior("/managed/*", managedSecurityHeadersPolicy),
		behavior("/cors/*", corsPolicyID),
	}}
	headerNames := func(items ...string) *portico.HeaderNames {
		return &portico.HeaderNames{Quantity: len(items), Items: items}
	}
	return &portico.State{
		Rev:           1,
		Distributions: []portico.Distribution{dist("EHEADERS", cfg)},
		ResponseHeadersPolicies: []portico.ResponseHeadersPolicy{
			{ID: hstsPolicyID, Config: portico.ResponseHeadersPolicyConfig{
				Name: "hsts",
				SecurityHeadersConfig: &portico.SecurityHeadersConfig{
					StrictTransportSecurity: &portico.StrictTransportSecurity{
						Override:               portico.Ptr(true),
						IncludeSubdomains:      portico.Ptr(true),
						Preload:                portico.Ptr(true),
						AccessControlMaxAgeSec: portico.Ptr(63072000),
					},
				},
				CustomHeadersConfig: &portico.ResponseCustomHeaders{Quantity: 3, Items: []portico.ResponseCustomHeader{
					{Header: "X-Custom", Value: "policy", Override: portico.Ptr(false)},
					{Header: "x-frame-options", Value: "SAMEORIGIN", Override: portico.Ptr(true)},
					{Header: "X-Added", Value: "added", Override: portico.Ptr(false)},
				}},
				RemoveHeadersConfig: &portico.ResponseRemoveHeaders{Quantity: 2, Items: []portico.ResponseRemoveHeader{
					{Header: "server"}, {Header: "X-Powered-By"},
				}},
			}},
			{ID: corsPolicyID, Config: portico.ResponseHeadersPolicyConfig{
				Name: "cors",
				CorsConfig: &portico.CorsConfig{
					AccessControlAllowOrigins:     &portico.CorsOrigins{Quantity: 2, Items: []string{"https://app.example.com", "https://*.example.net"}},
					AccessControlAllowHeaders:     headerNames("X-Token"),
					AccessControlAllowMethods:     &portico.Methods{Quantity: 2, Items: []string{"GET", "POST"}},
					AccessControlAllowCredentials: portico.Ptr(true),
					AccessControlExposeHeaders:    headerNames("X-Request-Id", "X-Cache"),
					AccessControlMaxAgeSec:        portico.Ptr(600),
					OriginOverride:                portico.Ptr(true),
				},
			}},
		},
	}
}

// fetchHeaders sends a request with the given header fields and returns
// the response header.
func fetchHeaders(t *testing.T, method, url string, fields map[string]string) http.Header {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s", method, url, resp.Status)
	}
	return resp.Header
}

// TestResponseHeadersPolicy checks what each behaviour's response headers
// policy makes of the origin's headers, on the miss and on the hit that
// follows: want lists the headers expected (with "" for absent).
func TestResponseHeadersPolicy(t *testing.T) {
	o := newHeaderOrigin(t)
	base := serveSnapshot(t, headersState(), o)
	for _, tt := range []struct {
		name, path string
		want       map[string]string
	}{
		{"no policy", "/x", map[string]string{
			"Server":                    "origin-server/1.0",
			"X-Powered-By":              "PHP/8",
			"X-Frame-Options":           "DENY",
			"Strict-Transport-Security": "",
		}},
		{"custom HSTS, custom and removed headers", "/hsts/x", map[string]string{
			"Strict-Transport-Security": "max-age=63072000; includeSubDomains; preload",
			"Server":                    "",
			"X-Powered-By":              "",
			"X-Custom":                  "origin",     // Override false keeps the origin's
			"X-Frame-Options":           "SAMEORIGIN", // Override true replaces it
			"X-Added":                   "added",
			"X-Content-Type-Options":    "origin",
		}},
		{"managed SecurityHeadersPolicy", "/managed/x", map[string]string{
			"Strict-Transport-Security": "max-age=31536000",
			"X-Content-Type-Options":    "nosniff", // Override true
			"X-Frame-Options":           "DENY",    // Override false keeps the origin's
			"Referrer-Policy":           "strict-origin-when-cross-origin",
			"X-Xss-Protection":          "1; mode=block",
			"Server":                    "origin-server/1.0",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, wantCache := range []string{"Miss from portico", "Hit from portico"} {
				h := fetchHeaders(t, http.MethodGet, base+tt.path, nil)
				if got := h.Get("X-Cache"); got != wantCache {
					t.Errorf("X-Cache %q, want %q", got, wantCache)
				}
				for name, want := range tt.want {
					if got := strings.Join(h.Values(name), ","); got != want {
						t.Errorf("%s: %s %q, want %q", wantCache, name, got, want)
					}
				}
			}
		})
	}
}

// TestResponseHeadersPolicyCORS checks the CORS headers of a custom policy
// on a miss and on cache hits of the same object, for allowed and other
// origins, and on a preflight answered by the origin.
func TestResponseHeadersPolicyCORS(t *testing.T) {
	o := newHeaderOrigin(t)
	base := serveSnapshot(t, headersState(), o)
	allowed := map[string]string{
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Expose-Headers":    "X-Request-Id, X-Cache",
		"Access-Control-Allow-Methods":     "",
		"Access-Control-Max-Age":           "",
	}
	none := map[string]string{
		"Access-Control-Allow-Origin":      "",
		"Access-Control-Allow-Credentials": "",
		"Access-Control-Expose-Headers":    "",
	}
	steps := []struct {
		method, origin, preflight string
		wantCache                 string
		wantOrigin                string // Access-Control-Allow-Origin
		want                      map[string]string
	}{
		{"GET", "https://app.example.com", "", "Miss from portico", "https://app.example.com", allowed},
		{"GET", "https://app.example.com", "", "Hit from portico", "https://app.example.com", allowed},
		{"GET", "https://a.b.example.net", "", "Hit from portico", "https://a.b.example.net", allowed},
		{"GET", "https://evil.example.com", "", "Hit from portico", "", none},
		{"GET", "https://example.net", "", "Hit from portico", "", none},
		{"GET", "", "", "Hit from portico", "", none},
		{"OPTIONS", "https://app.example.com", "POST", "", "https://app.example.com", map[string]string{
			"Access-Control-Allow-Methods": "GET, POST",
			"Access-Control-Allow-Headers": "X-Token",
			"Access-Control-Max-Age":       "600",
		}},
	}
	for i, s := range steps {
		fields := map[string]string{}
		if s.origin != "" {
			fields["Origin"] = s.origin
		}
		if s.preflight != "" {
			fields["Access-Control-Request-Method"] = s.preflight
		}
		path := "/cors/x"
		if s.method == http.MethodOptions {
			path = "/cors/preflight"
		}
		h := fetchHeaders(t, s.method, base+path, fields)
		if s.wantCache != "" && h.Get("X-Cache") != s.wantCache {
			t.Errorf("step %d: X-Cache %q, want %q", i, h.Get("X-Cache"), s.wantCache)
		}
		if got := h.Get("Access-Control-Allow-Origin"); got != s.wantOrigin {
			t.Errorf("step %d (Origin %q): Access-Control-Allow-Origin %q, want %q", i, s.origin, got, s.wantOrigin)
		}
		for name, want := range s.want {
			if got := h.Get(name); got != want {
				t.Errorf("step %d (Origin %q): %s %q, want %q", i, s.origin, name, got, want)
			}
		}
	}
}

// TestBuildSkipsUnknownResponseHeadersPolicy checks that a distribution
// whose behaviour names a response headers policy that exists nowhere is
// left out, with the reason.
func TestBuildSkipsUnknownResponseHeadersPolicy(t *testing.T) {
	o := newHeaderOrigin(t)
	st := headersState()
	st.Distributions[0].Config.CacheBehaviors.Items[1].ResponseHeadersPolicyID = portico.Ptr("missing-headers")
	snap, err := Build(st, o.deps(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := snap.Site(st.Distributions[0].DomainName); ok {
		t.Error("the distribution is served")
	}
	skipped := fmt.Sprint(snap.Skipped())
	if want := `no response headers policy "missing-headers"`; !strings.Contains(skipped, want) || !strings.Contains(skipped, "EHEADERS") {
		t.Errorf("Skipped() = %s, want the distribution and %s", skipped, want)
	}
}
