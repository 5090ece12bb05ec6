package snapshot

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/httpcache"
	"github.com/portico-edge/portico/internal/origin"
	"github.com/portico-edge/portico/internal/testpki"
)

// countingOrigin is an HTTPS origin, with a certificate for name from ca,
// that answers with respond and counts requests by method and path.
type countingOrigin struct {
	srv   *httptest.Server
	name  string
	mu    sync.Mutex
	count map[string]int // "GET /path"
	last  map[string]http.Header
}

func newCountingOrigin(t *testing.T, ca *testpki.CA, name string, respond func(w http.ResponseWriter, r *http.Request)) *countingOrigin {
	t.Helper()
	o := &countingOrigin{name: name, count: map[string]int{}, last: map[string]http.Header{}}
	o.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		o.mu.Lock()
		o.count[r.Method+" "+r.URL.Path]++
		o.last[r.URL.Path] = r.Header.Clone()
		o.mu.Unlock()
		respond(w, r)
	}))
	o.srv.TLS = &tls.Config{Certificates: []tls.Certificate{*ca.Issue(t, []string{name}).TLSCertificate(t)}}
	o.srv.StartTLS()
	t.Cleanup(o.srv.Close)
	return o
}

func (o *countingOrigin) requests(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.count[key]
}

func (o *countingOrigin) header(path string) http.Header {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last[path]
}

// depsFor returns Deps whose transports trust ca and send each origin's
// name to it, and dead.test to an address that refuses connections.
func depsFor(t *testing.T, ca *testpki.CA, origins ...*countingOrigin) Deps {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	tr := origin.NewTransports(ca.Pool(), log)
	tr.Resolve = func(hostport string) string {
		for _, o := range origins {
			if hostport == o.name+":443" {
				return o.srv.Listener.Addr().String()
			}
		}
		return dead
	}
	return Deps{Transports: tr, Cache: httpcache.New(16<<20, log), Log: log}
}

// serveSite builds st with deps and serves its one distribution over
// HTTP, as the edge would (with a request ID and the host kept).
func serveSite(t *testing.T, st *portico.State, deps Deps) string {
	t.Helper()
	snap, err := Build(st, deps)
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
		r = r.WithContext(origin.WithRequestInfo(r.Context(), &origin.RequestInfo{ID: "test-request"}))
		site.Behavior(r.URL.EscapedPath()).Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func originNamed(id, domain string) portico.Origin {
	return portico.Origin{ID: id, DomainName: domain, CustomOriginConfig: &portico.CustomOriginConfig{
		HTTPPort: 80, HTTPSPort: 443, OriginProtocolPolicy: "https-only", OriginReadTimeout: portico.Ptr(1),
	}}
}

const errorPagesPolicyID = "0b9b5c7e-5555-4a5b-8c9d-000000000005"

// errorPagesState returns a distribution whose site is on app.test, whose
// error pages are on pages.test behind /errors/*, and whose /down/*
// behaviour has an origin that cannot be reached:
//
//	404  /errors/404.html with 200, errors cached for 30 s
//	500  /errors/gone.html, which pages.test does not have, with 200
//	502  /errors/502.html with 503 (Portico's own 502 for /down/*)
//	403  /forbidden-page.html, on app.test, which answers it with 403
//
// The default behaviour has a response headers policy that adds
// X-Policy: default.
func errorPagesState() *portico.State {
	fv := &portico.ForwardedValues{QueryString: portico.Ptr(false), Cookies: &portico.CookiePreference{Forward: "none"}}
	behavior := func(pattern, target string) portico.CacheBehavior {
		return portico.CacheBehavior{PathPattern: portico.Ptr(pattern), TargetOriginID: target, ViewerProtocolPolicy: "allow-all", ForwardedValues: fv}
	}
	cfg := portico.DistributionConfig{
		CallerReference: "errors",
		Comment:         portico.Ptr(""),
		Enabled:         portico.Ptr(true),
		Origins: &portico.Origins{Quantity: 3, Items: []portico.Origin{
			originNamed("app", "app.test"), originNamed("pages", "pages.test"), originNamed("dead", "dead.test"),
		}},
		DefaultCacheBehavior: &portico.CacheBehavior{
			TargetOriginID: "app", ViewerProtocolPolicy: "allow-all", ForwardedValues: fv,
			AllowedMethods: &portico.AllowedMethods{Quantity: len(allMethods), Items: allMethods,
				CachedMethods: &portico.Methods{Quantity: 2, Items: []string{"GET", "HEAD"}}},
			ResponseHeadersPolicyID: portico.Ptr(errorPagesPolicyID),
		},
		CacheBehaviors: &portico.CacheBehaviors{Quantity: 2, Items: []portico.CacheBehavior{
			behavior("/errors/*", "pages"), behavior("/down/*", "dead"),
		}},
		CustomErrorResponses: &portico.CustomErrorResponses{Quantity: 4, Items: []portico.CustomErrorResponse{
			{ErrorCode: 404, ResponsePagePath: portico.Ptr("/errors/404.html"), ResponseCode: portico.Ptr("200"), ErrorCachingMinTTL: portico.Ptr(int64(30))},
			{ErrorCode: 500, ResponsePagePath: portico.Ptr("/errors/gone.html"), ResponseCode: portico.Ptr("200")},
			{ErrorCode: 502, ResponsePagePath: portico.Ptr("/errors/502.html"), ResponseCode: portico.Ptr("503")},
			{ErrorCode: 403, ResponsePagePath: portico.Ptr("/forbidden-page.html"), ResponseCode: portico.Ptr("")},
		}},
	}
	return &portico.State{
		Rev:           1,
		Distributions: []portico.Distribution{dist("EERRORS", cfg)},
		ResponseHeadersPolicies: []portico.ResponseHeadersPolicy{{ID: errorPagesPolicyID, Config: portico.ResponseHeadersPolicyConfig{
			Name: "default",
			CustomHeadersConfig: &portico.ResponseCustomHeaders{Quantity: 1, Items: []portico.ResponseCustomHeader{
				{Header: "X-Policy", Value: "default", Override: portico.Ptr(true)},
			}},
		}}},
	}
}

// TestCustomErrorPages checks custom error responses end to end with real
// origins (DG GeneratingCustomErrorResponses): the page replaces the error
// with ResponseCode, fetched through the behaviour its path matches (here
// from another origin) and cached like any object; the error itself stays
// cached for ErrorCachingMinTTL; Portico's own 502 is replaced too; a page
// that cannot be fetched gives the page request's status; an error page
// that errors is not replaced again.
func TestCustomErrorPages(t *testing.T) {
	ca := testpki.NewCA(t, "origin CA")
	app := newCountingOrigin(t, ca, "app.test", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			io.WriteString(w, "ok")
		case "/boom":
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "app failed")
		case "/secret", "/forbidden-page.html":
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, "forbidden "+r.URL.Path)
		default:
			w.Header().Set("Set-Cookie", "app=1")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "app has no "+r.URL.Path)
		}
	})
	pages := newCountingOrigin(t, ca, "pages.test", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/errors/404.html", "/errors/502.html":
			w.Header().Set("Cache-Control", "max-age=300")
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<h1>page "+r.URL.Path+"</h1>")
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "pages has no "+r.URL.Path)
		}
	})
	base := serveSite(t, errorPagesState(), depsFor(t, ca, app, pages))

	fetch := func(method, path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		// Go's client asks for gzip on GET but not on HEAD: the same
		// field for all keeps them on one cache key.
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	for i, step := range []struct {
		method, path string
		wantStatus   int
		wantBody     string
		// origin request counts after the step
		wantApp, wantPages map[string]int
	}{
		{"GET", "/ok", 200, "ok", map[string]int{"GET /ok": 1}, nil},
		{"GET", "/missing", 200, "<h1>page /errors/404.html</h1>", map[string]int{"GET /missing": 1}, map[string]int{"GET /errors/404.html": 1}},
		// The 404 is cached for ErrorCachingMinTTL, the page for its
		// max-age: neither origin is asked again.
		{"GET", "/missing", 200, "<h1>page /errors/404.html</h1>", map[string]int{"GET /missing": 1}, map[string]int{"GET /errors/404.html": 1}},
		{"HEAD", "/missing", 200, "", map[string]int{"GET /missing": 1, "HEAD /missing": 0}, map[string]int{"GET /errors/404.html": 1}},
		// Another path that is not found: the same cached page.
		{"GET", "/other", 200, "<h1>page /errors/404.html</h1>", map[string]int{"GET /other": 1}, map[string]int{"GET /errors/404.html": 1}},
		// A POST answered 404 gets the page too.
		{"POST", "/form", 200, "<h1>page /errors/404.html</h1>", map[string]int{"POST /form": 1}, map[string]int{"GET /errors/404.html": 1}},
		// Portico's own 502 for an origin it cannot reach, with 503.
		{"GET", "/down/x", 503, "<h1>page /errors/502.html</h1>", nil, map[string]int{"GET /errors/502.html": 1}},
		// The page does not exist: the viewer gets the pages origin's
		// 404, and it is not replaced by the 404 page in turn.
		{"GET", "/boom", 404, "pages has no /errors/gone.html", map[string]int{"GET /boom": 1}, map[string]int{"GET /errors/gone.html": 1, "GET /errors/404.html": 1}},
		// The 403 page is itself answered 403: that answer, once.
		{"GET", "/secret", 403, "forbidden /forbidden-page.html", map[string]int{"GET /secret": 1, "GET /forbidden-page.html": 1}, nil},
	} {
		resp, body := fetch(step.method, step.path)
		if resp.StatusCode != step.wantStatus || body != step.wantBody {
			t.Errorf("step %d: %s %s: %d %q, want %d %q", i, step.method, step.path, resp.StatusCode, body, step.wantStatus, step.wantBody)
		}
		// The response headers policy is the request's behaviour's, not
		// the page's; /down/* has none.
		if wantPolicy := !strings.HasPrefix(step.path, "/down/"); (resp.Header.Get("X-Policy") == "default") != wantPolicy {
			t.Errorf("step %d: X-Policy %q, want the request's behaviour's response headers policy (%v)", i, resp.Header.Get("X-Policy"), wantPolicy)
		}
		if step.path != "/ok" {
			if resp.Header.Get("X-Cache") != "Error from portico" || resp.Header.Get("Set-Cookie") != "" {
				t.Errorf("step %d: X-Cache %q, Set-Cookie %q; want Error from portico and the error's cookie gone", i, resp.Header.Get("X-Cache"), resp.Header.Get("Set-Cookie"))
			}
		}
		for o, want := range map[*countingOrigin]map[string]int{app: step.wantApp, pages: step.wantPages} {
			for key, n := range want {
				if got := o.requests(key); got != n {
					t.Errorf("step %d: %s got %d requests %s, want %d", i, o.name, got, key, n)
				}
			}
		}
	}
}

// TestBuildReportsUnusableErrorPage checks that a custom error response
// that cannot be applied is reported and left out, and the distribution
// still served.
func TestBuildReportsUnusableErrorPage(t *testing.T) {
	st := errorPagesState()
	st.Distributions[0].Config.CustomErrorResponses.Items[0].ResponseCode = portico.Ptr("two hundred")
	ca := testpki.NewCA(t, "origin CA")
	snap, err := Build(st, depsFor(t, ca))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := snap.Site(st.Distributions[0].DomainName); !ok {
		t.Error("the distribution is not served")
	}
	if s := fmt.Sprint(snap.Skipped()); !strings.Contains(s, "EERRORS") || !strings.Contains(s, `"two hundred"`) {
		t.Errorf("Skipped() = %s, want the distribution and the bad ResponseCode", s)
	}
}

const devicePolicyID = "0b9b5c7e-6666-4a5b-8c9d-000000000006"

// deviceState is a distribution EDEVICE whose one behaviour, to the origin
// originID at domain, keys its cache on CloudFront-Is-Mobile-Viewer.
func deviceState(originID, domain string) *portico.State {
	cfg := distConfig("device", true, "")
	cfg.Origins.Items[0] = originNamed(originID, domain)
	cfg.DefaultCacheBehavior = &portico.CacheBehavior{TargetOriginID: originID, ViewerProtocolPolicy: "allow-all", CachePolicyID: portico.Ptr(devicePolicyID)}
	cfg.CacheBehaviors = nil
	return &portico.State{
		Rev:           1,
		Distributions: []portico.Distribution{dist("EDEVICE", cfg)},
		CachePolicies: []portico.CachePolicy{{ID: devicePolicyID, Config: portico.CachePolicyConfig{
			Name: "device", MinTTL: portico.Ptr(int64(0)), DefaultTTL: portico.Ptr(int64(100)), MaxTTL: portico.Ptr(int64(1000)),
			ParametersInCacheKeyAndForwardedToOrigin: &portico.CacheKeyParameters{
				EnableAcceptEncodingGzip: portico.Ptr(false),
				HeadersConfig:            &portico.HeadersConfig{HeaderBehavior: portico.BehaviorWhitelist, Headers: &portico.Names{Quantity: 1, Items: []string{"CloudFront-Is-Mobile-Viewer"}}},
				CookiesConfig:            &portico.CookiesConfig{CookieBehavior: portico.BehaviorNone},
				QueryStringsConfig:       &portico.QueryStringsConfig{QueryStringBehavior: portico.BehaviorNone},
			},
		}}},
	}
}

// TestCacheKeyOnDeviceHeader checks a cache policy keyed on
// CloudFront-Is-Mobile-Viewer: the key holds the value the edge computes
// from User-Agent, which the origin is sent too, so a viewer that sends
// its own CloudFront-Is-Mobile-Viewer neither reaches the origin with it
// nor files a response under the other devices' key (DG
// adding-cloudfront-headers, "Headers for determining the viewer's device
// type").
func TestCacheKeyOnDeviceHeader(t *testing.T) {
	ca := testpki.NewCA(t, "origin CA")
	app := newCountingOrigin(t, ca, "app.test", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		// As origins that serve devices apart do: the field is keyed, so
		// the response is still stored (one per device).
		w.Header().Set("Vary", "CloudFront-Is-Mobile-Viewer")
		io.WriteString(w, "mobile="+r.Header.Get("CloudFront-Is-Mobile-Viewer"))
	})
	st := deviceState("origin", "app.test")
	base := serveSite(t, st, depsFor(t, ca, app))
	const (
		desktop = "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0"
		phone   = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148 Safari/604.1"
	)
	for i, step := range []struct {
		ua, spoof            string
		wantXCache, wantBody string
	}{
		{desktop, "true", "Miss from portico", "mobile=false"},
		{phone, "", "Miss from portico", "mobile=true"},
		{desktop, "", "Hit from portico", "mobile=false"},
		{phone, "false", "Hit from portico", "mobile=true"},
	} {
		fields := map[string]string{"User-Agent": step.ua}
		if step.spoof != "" {
			fields["CloudFront-Is-Mobile-Viewer"] = step.spoof
		}
		xcache, body := fetchVia(t, base, "/page", fields)
		if xcache != step.wantXCache || body != step.wantBody {
			t.Errorf("step %d: %s %q, want %s %q", i, xcache, body, step.wantXCache, step.wantBody)
		}
	}
	if n := app.requests("GET /page"); n != 2 {
		t.Errorf("the origin got %d requests, want 2 (one per device)", n)
	}
}
