package httpcache

import (
	"crypto/x509"
	"io"
	stdlog "log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/origin"
)

// originDomain is the name in httptest's TLS certificate.
const originDomain = "example.com"

const testScope = "E2TESTDIST0001"

// clock is the cache's time in tests: it moves only when told to. It starts
// on a whole second, so that an origin's Date equals the response time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness is a viewer-facing server in front of a cache handler, the real
// origin proxy and an HTTPS test origin.
type harness struct {
	t      testing.TB
	cache  *Cache
	clock  *clock
	origin *httptest.Server
	url    string

	mu    sync.Mutex
	count map[string]int           // origin requests per path
	last  map[string]*http.Request // last origin request per path
}

// respondFunc answers an origin request; the harness's clock gives Date.
type respondFunc func(w http.ResponseWriter, r *http.Request, now time.Time)

func newHarness(t testing.TB, maxBytes int64, b *portico.CacheBehavior, respond respondFunc) *harness {
	t.Helper()
	return newHarnessWith(t, New(maxBytes, nil), newClock(), b, respond)
}

// newHarnessWith is newHarness for a given cache and clock.
func newHarnessWith(t testing.TB, c *Cache, clk *clock, b *portico.CacheBehavior, respond respondFunc) *harness {
	t.Helper()
	return newPolicyHarness(t, c, clk, b, legacyPolicy(b), respond)
}

// newPolicyHarness is newHarnessWith for a behaviour that resolves to pol.
func newPolicyHarness(t testing.TB, c *Cache, clk *clock, b *portico.CacheBehavior, pol portico.ResolvedPolicy, respond respondFunc) *harness {
	t.Helper()
	h := &harness{t: t, clock: clk, count: map[string]int{}, last: map[string]*http.Request{}}
	h.cache = c
	h.cache.now = h.clock.now
	h.origin = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.count[r.URL.Path]++
		h.last[r.URL.Path] = r.Clone(r.Context())
		h.mu.Unlock()
		w.Header().Set("Date", h.clock.now().UTC().Format(http.TimeFormat))
		respond(w, r, h.clock.now())
	}))
	h.origin.Config.ErrorLog = stdlog.New(io.Discard, "", 0)
	h.origin.StartTLS()
	t.Cleanup(h.origin.Close)
	h.url = h.serve(h.cache.Handler(testScope, b, pol, h.proxyWith(b, pol, h.origin.Listener.Addr().String())))
	return h
}

// proxy returns the origin proxy for behaviour b.
func (h *harness) proxy(b *portico.CacheBehavior) http.Handler {
	h.t.Helper()
	return h.proxyTo(b, h.origin.Listener.Addr().String())
}

// proxyTo returns an origin proxy for behaviour b that connects to addr.
func (h *harness) proxyTo(b *portico.CacheBehavior, addr string) http.Handler {
	h.t.Helper()
	return h.proxyWith(b, legacyPolicy(b), addr)
}

// proxyWith returns an origin proxy for behaviour b, resolved to pol, that
// connects to addr.
func (h *harness) proxyWith(b *portico.CacheBehavior, pol portico.ResolvedPolicy, addr string) http.Handler {
	h.t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(h.origin.Certificate())
	tr := origin.NewTransports(roots, nil)
	tr.Resolve = func(string) string { return addr }
	o := &portico.Origin{ID: "origin-1", DomainName: originDomain, CustomOriginConfig: &portico.CustomOriginConfig{
		HTTPPort: 80, HTTPSPort: 443, OriginProtocolPolicy: "https-only", OriginReadTimeout: portico.Ptr(5)}}
	p, err := origin.New(o, b, pol, tr, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// serve starts a viewer-facing server for handler and returns its URL.
// Requests without a Host of their own get "viewer.test", not the server's
// address, so that keys are the same from one server to the next.
func (h *harness) serve(handler http.Handler) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Host, "127.0.0.1:") {
			r.Host = "viewer.test"
		}
		handler.ServeHTTP(w, r.WithContext(origin.WithRequestInfo(r.Context(), &origin.RequestInfo{ID: "req-id"})))
	}))
	h.t.Cleanup(srv.Close)
	return srv.URL
}

// originCount returns how many requests for path reached the origin.
func (h *harness) originCount(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count[path]
}

// lastOriginRequest returns the last request for path the origin received.
func (h *harness) lastOriginRequest(path string) *http.Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last[path]
}

var viewer = &http.Transport{DisableCompression: true}

// do sends a request ("/path?query") with headers ("Name: value" each) to
// base and returns the response and its body.
func (h *harness) do(method, base, target string, headers ...string) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, base+target, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, kv := range headers {
		k, v, _ := strings.Cut(kv, ": ")
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Add(k, v)
	}
	resp, err := viewer.RoundTrip(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, target, err)
	}
	return resp, string(body)
}

func (h *harness) get(target string, headers ...string) (*http.Response, string) {
	h.t.Helper()
	return h.do("GET", h.url, target, headers...)
}

// expect sends a GET and checks its X-Cache and body.
func (h *harness) expect(target, xcache, body string, headers ...string) *http.Response {
	h.t.Helper()
	resp, got := h.get(target, headers...)
	if x := resp.Header.Get("X-Cache"); x != xcache {
		h.t.Errorf("GET %s %v: X-Cache %q, want %q", target, headers, x, xcache)
	}
	if body != "" && got != body {
		h.t.Errorf("GET %s %v: body %q, want %q", target, headers, got, body)
	}
	return resp
}

// behavior is a cache behaviour with TTLs (seconds) and forwarded values.
func behavior(minTTL, defTTL, maxTTL int64, fv *portico.ForwardedValues) *portico.CacheBehavior {
	return &portico.CacheBehavior{
		TargetOriginID:       "origin-1",
		ViewerProtocolPolicy: "redirect-to-https",
		AllowedMethods: &portico.AllowedMethods{Quantity: 7,
			Items:         []string{"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"},
			CachedMethods: &portico.Methods{Quantity: 2, Items: []string{"GET", "HEAD"}}},
		ForwardedValues: fv,
		MinTTL:          &minTTL,
		DefaultTTL:      &defTTL,
		MaxTTL:          &maxTTL,
	}
}

// forwarded builds ForwardedValues. cookies is "none", "all", or a
// comma-separated whitelist.
func forwarded(query bool, cookies string, headers ...string) *portico.ForwardedValues {
	fv := &portico.ForwardedValues{QueryString: &query, Cookies: &portico.CookiePreference{Forward: cookies}}
	if cookies != "none" && cookies != "all" {
		names := strings.Split(cookies, ",")
		fv.Cookies = &portico.CookiePreference{Forward: "whitelist", WhitelistedNames: &portico.Names{Quantity: len(names), Items: names}}
	}
	if len(headers) > 0 {
		fv.Headers = &portico.Names{Quantity: len(headers), Items: headers}
	}
	return fv
}

// defaults is a behaviour with CloudFront's default TTLs that forwards
// nothing.
func defaults() *portico.CacheBehavior { return behavior(0, 86400, 31536000, forwarded(false, "none")) }

const (
	hit        = "Hit from portico"
	miss       = "Miss from portico"
	refreshHit = "RefreshHit from portico"
	errorXC    = "Error from portico"
)

// legacyPolicy resolves what behaviour b, which uses legacy
// ForwardedValues, keys and forwards.
func legacyPolicy(b *portico.CacheBehavior) portico.ResolvedPolicy {
	pol, err := portico.ResolveBehavior(b, nil, nil)
	if err != nil {
		panic(err)
	}
	return pol
}

// legacyHandler is c.Handler for a behaviour with legacy ForwardedValues.
func legacyHandler(c *Cache, scope string, b *portico.CacheBehavior, next http.Handler, opts ...HandlerOption) http.Handler {
	return c.Handler(scope, b, legacyPolicy(b), next, opts...)
}

// sizedEntry returns an entry with key and purge path that counts size
// bytes against the budget.
func sizedEntry(sc *scope, key, path string, size int32) *entry {
	e := newEntry(&response{key: key, sc: sc, path: path})
	e.size = size
	return e
}
