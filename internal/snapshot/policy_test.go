package snapshot

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/testpki"
)

// recordingOrigin is an HTTPS origin that counts requests by path and
// keeps the last request it got for each, and whose responses may be
// cached for five minutes.
type recordingOrigin struct {
	*testOrigin
	mu   sync.Mutex
	last map[string]*http.Request
}

func newRecordingOrigin(t *testing.T) *recordingOrigin {
	t.Helper()
	o := &recordingOrigin{testOrigin: &testOrigin{ca: testpki.NewCA(t, "Origin Test CA"), count: make(map[string]int)}, last: make(map[string]*http.Request)}
	o.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		o.testOrigin.mu.Lock()
		o.count[r.URL.Path]++
		n := o.count[r.URL.Path]
		o.testOrigin.mu.Unlock()
		o.mu.Lock()
		o.last[r.URL.Path] = r.Clone(r.Context())
		o.mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=300")
		fmt.Fprintf(w, "%s #%d", r.URL.Path, n)
	}))
	o.srv.TLS = &tls.Config{Certificates: []tls.Certificate{*o.ca.Issue(t, []string{originHost}).TLSCertificate(t)}}
	o.srv.StartTLS()
	t.Cleanup(o.srv.Close)
	return o
}

// seen returns the last request the origin got for path.
func (o *recordingOrigin) seen(t *testing.T, path string) *http.Request {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.last[path]
	if !ok {
		t.Fatalf("the origin got no request for %s", path)
	}
	return r
}

// Policy IDs of the test's custom policies.
const (
	keyedPolicyID  = "0b9b5c7e-1111-4a5b-8c9d-000000000001"
	tenantPolicyID = "0b9b5c7e-2222-4a5b-8c9d-000000000002"
)

// policyState returns a State whose one distribution has a behaviour per
// way of naming policies, with the custom policies they use:
//
//	/all/*    managed CachingDisabled + managed AllViewer
//	/keyed/*  a cache policy keyed on X-Variant and the query string v
//	/tenant/* managed CachingOptimized + an origin request policy that
//	          forwards X-Tenant
func policyState() *portico.State {
	cfg := distConfig("policies", true, "")
	behavior := func(pattern, cachePolicy, originPolicy string) portico.CacheBehavior {
		b := portico.CacheBehavior{
			PathPattern:          portico.Ptr(pattern),
			TargetOriginID:       "origin",
			ViewerProtocolPolicy: "allow-all",
			CachePolicyID:        portico.Ptr(cachePolicy),
		}
		if originPolicy != "" {
			b.OriginRequestPolicyID = portico.Ptr(originPolicy)
		}
		return b
	}
	cfg.CacheBehaviors = &portico.CacheBehaviors{Quantity: 3, Items: []portico.CacheBehavior{
		behavior("/all/*", portico.ManagedCachingDisabled, portico.ManagedAllViewer),
		behavior("/keyed/*", keyedPolicyID, ""),
		behavior("/tenant/*", portico.ManagedCachingOptimized, tenantPolicyID),
	}}
	names := func(items ...string) *portico.Names { return &portico.Names{Quantity: len(items), Items: items} }
	return &portico.State{
		Rev:           1,
		Distributions: []portico.Distribution{dist("EPOLICIES", cfg)},
		CachePolicies: []portico.CachePolicy{{ID: keyedPolicyID, Config: portico.CachePolicyConfig{
			Name:       "keyed",
			MinTTL:     portico.Ptr(int64(0)),
			DefaultTTL: portico.Ptr(int64(100)),
			MaxTTL:     portico.Ptr(int64(1000)),
			ParametersInCacheKeyAndForwardedToOrigin: &portico.CacheKeyParameters{
				EnableAcceptEncodingGzip: portico.Ptr(false),
				HeadersConfig:            &portico.HeadersConfig{HeaderBehavior: portico.BehaviorWhitelist, Headers: names("x-variant")},
				CookiesConfig:            &portico.CookiesConfig{CookieBehavior: portico.BehaviorNone},
				QueryStringsConfig:       &portico.QueryStringsConfig{QueryStringBehavior: portico.BehaviorWhitelist, QueryStrings: names("v")},
			},
		}}},
		OriginRequestPolicies: []portico.OriginRequestPolicy{{ID: tenantPolicyID, Config: portico.OriginRequestPolicyConfig{
			Name:               "tenant",
			HeadersConfig:      &portico.HeadersConfig{HeaderBehavior: portico.BehaviorWhitelist, Headers: names("X-Tenant")},
			CookiesConfig:      &portico.CookiesConfig{CookieBehavior: portico.BehaviorNone},
			QueryStringsConfig: &portico.QueryStringsConfig{QueryStringBehavior: portico.BehaviorNone},
		}}},
	}
}

// serveSnapshot builds st against o and serves its one distribution's
// behaviours over HTTP; it returns the server's URL.
func serveSnapshot(t *testing.T, st *portico.State, o *recordingOrigin) string {
	t.Helper()
	snap, err := Build(st, o.deps(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if skipped := snap.Skipped(); len(skipped) > 0 {
		t.Fatalf("Build skipped %v", skipped)
	}
	site, ok := snap.Site(st.Distributions[0].DomainName)
	if !ok {
		t.Fatal("the distribution is not served")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		site.Behavior(r.URL.Path).Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// fetchVia sends a GET for target (a path and query) with the given header
// fields and returns the X-Cache value and the body.
func fetchVia(t *testing.T, base, target string, fields map[string]string) (xCache, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+target, nil)
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
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", target, resp.Status, b)
	}
	return resp.Header.Get("X-Cache"), string(b)
}

// TestPolicyAllViewerCachingDisabled checks a behaviour with the managed
// CachingDisabled and AllViewer policies: the origin gets every viewer
// header, cookie and query string parameter as sent, and nothing is
// cached.
func TestPolicyAllViewerCachingDisabled(t *testing.T) {
	o := newRecordingOrigin(t)
	base := serveSnapshot(t, policyState(), o)
	fields := map[string]string{
		"X-Custom":        "custom value",
		"Accept-Language": "fr-CH",
		"User-Agent":      "viewer-agent/1.0",
		"Referer":         "https://example.com/",
		"Accept-Encoding": "deflate, gzip",
		"Cookie":          "zeta=1; alpha=2",
	}
	for i := 1; i <= 2; i++ {
		xCache, body := fetchVia(t, base, "/all/x?b=2&a=1&b=3", fields)
		if xCache != "Miss from portico" || body != fmt.Sprintf("/all/x #%d", i) {
			t.Errorf("request %d: X-Cache %q, body %q; want a miss answered by the origin", i, xCache, body)
		}
	}
	if got := o.requests("/all/x"); got != 2 {
		t.Errorf("the origin got %d requests, want 2", got)
	}
	r := o.seen(t, "/all/x")
	for name, want := range fields {
		if name == "Cookie" {
			// Forwarded cookies are sorted by name, as CloudFront sorts them.
			want = "alpha=2; zeta=1"
		}
		if got := r.Header.Get(name); got != want {
			t.Errorf("origin got %s %q, want %q", name, got, want)
		}
	}
	if r.URL.RawQuery != "b=2&a=1&b=3" {
		t.Errorf("origin got query %q, want the viewer's in its order", r.URL.RawQuery)
	}
	if want := strings.TrimPrefix(base, "http://"); r.Host != want {
		t.Errorf("origin got Host %q, want the viewer's %q", r.Host, want)
	}
}

// TestPolicyCustomCacheKey checks a custom cache policy keyed on one header
// and one query string parameter: requests that differ only in those share
// nothing, requests that differ in anything else share one object, and the
// origin is sent the keyed values and nothing else.
func TestPolicyCustomCacheKey(t *testing.T) {
	o := newRecordingOrigin(t)
	base := serveSnapshot(t, policyState(), o)
	steps := []struct {
		target, variant, other string
		wantHit                bool
		wantRequests           int
	}{
		{"/keyed/x?other=1&v=1", "A", "p", false, 1},
		{"/keyed/x?v=1&other=2", "A", "q", true, 1}, // other is not in the key
		{"/keyed/x?other=1&v=1", "B", "p", false, 2},
		{"/keyed/x?other=1&v=2", "A", "p", false, 3},
		{"/keyed/x?v=2", "A", "", true, 3},
		{"/keyed/x?other=1&v=1", "B", "r", true, 3},
	}
	for i, s := range steps {
		xCache, _ := fetchVia(t, base, s.target, map[string]string{"X-Variant": s.variant, "X-Other": s.other, "Cookie": "session=1"})
		if hit := xCache == "Hit from portico"; hit != s.wantHit {
			t.Errorf("step %d (%s, X-Variant %s): X-Cache %q, want hit = %v", i, s.target, s.variant, xCache, s.wantHit)
		}
		if got := o.requests("/keyed/x"); got != s.wantRequests {
			t.Fatalf("step %d: the origin got %d requests, want %d", i, got, s.wantRequests)
		}
		if s.wantHit {
			continue
		}
		r := o.seen(t, "/keyed/x")
		wantQuery := s.target[strings.Index(s.target, "v="):]
		wantQuery, _, _ = strings.Cut(wantQuery, "&")
		switch {
		case r.Header.Get("X-Variant") != s.variant:
			t.Errorf("step %d: origin got X-Variant %q, want %q", i, r.Header.Get("X-Variant"), s.variant)
		case r.URL.RawQuery != wantQuery:
			t.Errorf("step %d: origin got query %q, want %q", i, r.URL.RawQuery, wantQuery)
		case r.Header.Get("X-Other") != "" || r.Header.Get("Cookie") != "":
			t.Errorf("step %d: origin got X-Other %q and Cookie %q, which the policy does not forward", i, r.Header.Get("X-Other"), r.Header.Get("Cookie"))
		case r.Header.Get("User-Agent") != "Amazon CloudFront":
			t.Errorf("step %d: origin got User-Agent %q, want CloudFront's", i, r.Header.Get("User-Agent"))
		}
	}
}

// TestPolicyOriginRequestHeaderNotKeyed checks an origin request policy
// that forwards a header the cache policy does not key on: the origin gets
// it on a miss, and a request with another value of it is a hit on the same
// object.
func TestPolicyOriginRequestHeaderNotKeyed(t *testing.T) {
	o := newRecordingOrigin(t)
	base := serveSnapshot(t, policyState(), o)
	x1, b1 := fetchVia(t, base, "/tenant/x", map[string]string{"X-Tenant": "first", "X-Other": "dropped"})
	x2, b2 := fetchVia(t, base, "/tenant/x", map[string]string{"X-Tenant": "second"})
	if x1 != "Miss from portico" || x2 != "Hit from portico" || b1 != b2 {
		t.Errorf("X-Cache %q then %q, bodies %q and %q; want a miss then a hit on the same object", x1, x2, b1, b2)
	}
	if got := o.requests("/tenant/x"); got != 1 {
		t.Errorf("the origin got %d requests, want 1", got)
	}
	r := o.seen(t, "/tenant/x")
	if got := r.Header.Get("X-Tenant"); got != "first" {
		t.Errorf("origin got X-Tenant %q, want %q", got, "first")
	}
	if got := r.Header.Get("X-Other"); got != "" {
		t.Errorf("origin got X-Other %q, which no policy forwards", got)
	}
}

// TestBuildSkipsUnknownPolicy checks that a distribution whose behaviour
// names a policy that exists nowhere is left out, with the reason.
// TestBehaviorKeepsItsConfiguration checks what a compiled behaviour
// keeps of what it was compiled from: its place among the distribution's
// behaviours, its configuration and origin, the policies it names (custom
// or managed) and what they resolve to.
func TestBehaviorKeepsItsConfiguration(t *testing.T) {
	st := policyState()
	snap, err := Build(st, newOrigin(t).deps(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	site, ok := snap.Site(st.Distributions[0].DomainName)
	if !ok {
		t.Fatal("the distribution is not served")
	}
	cfg := &st.Distributions[0].Config
	managed := func(id, name string) *PolicyRef { return &PolicyRef{ID: id, Name: name, Managed: true} }
	tests := []struct {
		path, pattern string
		index         int
		config        *portico.CacheBehavior
		cache, origin *PolicyRef
		keyed         []string // the key's header names, if any
		defaultTTL    int64
	}{
		{"/all/x", "/all/*", 0, &cfg.CacheBehaviors.Items[0],
			managed(portico.ManagedCachingDisabled, "Managed-CachingDisabled"), managed(portico.ManagedAllViewer, "Managed-AllViewer"), nil, 0},
		{"/keyed/x", "/keyed/*", 1, &cfg.CacheBehaviors.Items[1],
			&PolicyRef{ID: keyedPolicyID, Name: "keyed"}, nil, []string{"X-Variant"}, 100},
		{"/tenant/x", "/tenant/*", 2, &cfg.CacheBehaviors.Items[2],
			managed(portico.ManagedCachingOptimized, "Managed-CachingOptimized"), &PolicyRef{ID: tenantPolicyID, Name: "tenant"}, nil, 86400},
		{"/other", "*", -1, cfg.DefaultCacheBehavior, nil, nil, nil, 86400},
	}
	for _, tt := range tests {
		b := site.Behavior(tt.path)
		if b.PathPattern != tt.pattern || b.Index != tt.index || b.Config != tt.config || b.Origin != &cfg.Origins.Items[0] {
			t.Errorf("Behavior(%q) = %q (index %d, config %p, origin %p); want %q (%d, %p, %p)",
				tt.path, b.PathPattern, b.Index, b.Config, b.Origin, tt.pattern, tt.index, tt.config, &cfg.Origins.Items[0])
		}
		if !reflect.DeepEqual(b.CachePolicy, tt.cache) || !reflect.DeepEqual(b.OriginRequestPolicy, tt.origin) || b.ResponseHeadersPolicy != nil {
			t.Errorf("Behavior(%q) policies %+v, %+v, %+v; want %+v, %+v, none", tt.path, b.CachePolicy, b.OriginRequestPolicy, b.ResponseHeadersPolicy, tt.cache, tt.origin)
		}
		if b.Policy.DefaultTTL != tt.defaultTTL || tt.keyed != nil && !slices.Equal(b.Policy.Key.Headers.Names, tt.keyed) {
			t.Errorf("Behavior(%q) resolved to TTL %d, key headers %q; want %d, %q", tt.path, b.Policy.DefaultTTL, b.Policy.Key.Headers.Names, tt.defaultTTL, tt.keyed)
		}
	}

	st = headersState()
	snap, err = Build(st, newOrigin(t).deps(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	site, _ = snap.Site(st.Distributions[0].DomainName)
	for path, want := range map[string]*PolicyRef{
		"/hsts/x":    {ID: hstsPolicyID, Name: "hsts"},
		"/managed/x": managed(managedSecurityHeadersPolicy, "Managed-SecurityHeadersPolicy"),
		"/x":         nil,
	} {
		if got := site.Behavior(path).ResponseHeadersPolicy; !reflect.DeepEqual(got, want) {
			t.Errorf("Behavior(%q).ResponseHeadersPolicy = %+v, want %+v", path, got, want)
		}
	}
}

func TestBuildSkipsUnknownPolicy(t *testing.T) {
	for _, tt := range []struct {
		name  string
		apply func(b *portico.CacheBehavior)
		want  string
	}{
		{"cache policy", func(b *portico.CacheBehavior) { b.CachePolicyID = portico.Ptr("missing-cache") }, `no cache policy "missing-cache"`},
		{"origin request policy", func(b *portico.CacheBehavior) { b.OriginRequestPolicyID = portico.Ptr("missing-origin") }, `no origin request policy "missing-origin"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := newRecordingOrigin(t)
			st := policyState()
			tt.apply(&st.Distributions[0].Config.CacheBehaviors.Items[2])
			snap, err := Build(st, o.deps(t, nil))
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := snap.Site(st.Distributions[0].DomainName); ok {
				t.Error("the distribution is served")
			}
			skipped := fmt.Sprint(snap.Skipped())
			if !strings.Contains(skipped, tt.want) || !strings.Contains(skipped, "EPOLICIES") {
				t.Errorf("Skipped() = %s, want the distribution and %s", skipped, tt.want)
			}
		})
	}
}

// TestPolicyRevalidationSendsValidators checks that a stale object is
// revalidated with its validators although the cache policy forwards no
// conditional fields: the If-None-Match the cache adds is its own, not the
// viewer's, and CloudFront sends it whatever the policy (a 304 then makes a
// RefreshHit rather than a full fetch).
func TestPolicyRevalidationSendsValidators(t *testing.T) {
	o := &recordingOrigin{testOrigin: &testOrigin{ca: testpki.NewCA(t, "Origin Test CA"), count: make(map[string]int)}}
	var mu sync.Mutex
	var conditional []string // If-None-Match of each origin request
	o.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conditional = append(conditional, r.Header.Get("If-None-Match"))
		mu.Unlock()
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Cache-Control", "max-age=0")
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "version 1")
	}))
	o.srv.TLS = &tls.Config{Certificates: []tls.Certificate{*o.ca.Issue(t, []string{originHost}).TLSCertificate(t)}}
	o.srv.StartTLS()
	t.Cleanup(o.srv.Close)
	base := serveSnapshot(t, policyState(), o)

	// The viewer's own If-None-Match is not forwarded: the policy does
	// not select it, and the cache fetches the whole object to store.
	if x, body := fetchVia(t, base, "/keyed/r?v=1", map[string]string{"If-None-Match": `"other"`}); x != "Miss from portico" || body != "version 1" {
		t.Fatalf("first request: X-Cache %q, body %q", x, body)
	}
	if x, body := fetchVia(t, base, "/keyed/r?v=1", nil); x != "RefreshHit from portico" || body != "version 1" {
		t.Errorf("stale object: X-Cache %q, body %q; want a RefreshHit with the stored body", x, body)
	}
	mu.Lock()
	defer mu.Unlock()
	// (A request the transport retried on a connection the origin had
	// closed would appear twice: only the first and last count.)
	if len(conditional) < 2 || conditional[0] != "" || conditional[len(conditional)-1] != `"v1"` {
		t.Errorf("origin got If-None-Match %q, want none on the first request and \"v1\" on the revalidation", conditional)
	}
}
