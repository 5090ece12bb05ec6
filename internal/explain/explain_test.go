package explain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/control"
	"github.com/portico-edge/portico/internal/deploy"
	"github.com/portico-edge/portico/internal/httpcache"
	"github.com/portico-edge/portico/internal/origin"
	"github.com/portico-edge/portico/internal/sigv4"
	"github.com/portico-edge/portico/internal/snapshot"
	"github.com/portico-edge/portico/internal/store/boltstore"
	"github.com/portico-edge/portico/internal/testpki"
)

const (
	accessKey  = "AKPTEXPLAINTEST0001"
	secretKey  = "explain-test-secret/0123456789"
	originHost = "origin.test"
	alias      = "login.example.com"
	wildcard   = "*.wild.example.com"
	// allViewerExceptHost is the managed origin request policy
	// Managed-AllViewerExceptHostHeader.
	allViewerExceptHost = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
)

// env is a whole control plane and edge data plane: a control service over
// bbolt, a snapshot watcher serving it with a real cache and origin proxy
// to an HTTPS test origin, and the explain handler behind an httptest
// server with a real SigV4 verifier.
type env struct {
	svc     *control.Service
	tracker *deploy.Tracker
	watcher *snapshot.Watcher
	cache   *httpcache.Cache
	deps    snapshot.Deps
	handler *Handler
	server  *httptest.Server
	origins atomic.Int64 // requests the origin received
	dist    *portico.Distribution
	policy  *portico.CachePolicy
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{tracker: &deploy.Tracker{}}
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "portico.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.svc = &control.Service{Store: st, Progress: e.tracker, EdgeDomain: "portico.localhost", AccountID: "123456789012", Region: "us-east-1"}

	originCA := testpki.NewCA(t, "Explain Origin CA")
	o := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.origins.Add(1)
		w.Header().Set("Cache-Control", "max-age=120")
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Cache-Tag", "product-42,api")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprint(w, "hello")
	}))
	o.TLS = &tls.Config{Certificates: []tls.Certificate{*originCA.Issue(t, []string{originHost}).TLSCertificate(t)}}
	o.StartTLS()
	t.Cleanup(o.Close)
	tr := origin.NewTransports(originCA.Pool(), slog.New(slog.DiscardHandler))
	tr.Resolve = func(string) string { return o.Listener.Addr().String() }
	e.cache = httpcache.New(16<<20, nil)
	e.deps = snapshot.Deps{Transports: tr, Cache: e.cache}

	ctx := t.Context()
	viewerCA := testpki.NewCA(t, "Explain Viewer CA")
	leaf := viewerCA.Issue(t, []string{alias, wildcard})
	cert, err := e.svc.ImportCertificate(ctx, "", leaf.CertPEM, leaf.ChainPEM, leaf.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	e.policy, err = e.svc.CreateCachePolicy(ctx, &portico.CachePolicyConfig{
		Name: "api-cache", MinTTL: portico.Ptr(int64(1)), DefaultTTL: portico.Ptr(int64(60)), MaxTTL: portico.Ptr(int64(3600)),
		ParametersInCacheKeyAndForwardedToOrigin: &portico.CacheKeyParameters{
			EnableAcceptEncodingGzip:   portico.Ptr(true),
			EnableAcceptEncodingBrotli: portico.Ptr(true),
			HeadersConfig:              &portico.HeadersConfig{HeaderBehavior: portico.BehaviorWhitelist, Headers: &portico.Names{Quantity: 1, Items: []string{"X-Tenant"}}},
			CookiesConfig:              &portico.CookiesConfig{CookieBehavior: portico.BehaviorWhitelist, Cookies: &portico.Names{Quantity: 1, Items: []string{"session"}}},
			QueryStringsConfig:         &portico.QueryStringsConfig{QueryStringBehavior: portico.BehaviorWhitelist, QueryStrings: &portico.Names{Quantity: 1, Items: []string{"id"}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	all := []string{"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"}
	e.dist, err = e.svc.CreateDistribution(ctx, &portico.DistributionConfig{
		CallerReference: "explain",
		Comment:         portico.Ptr(""),
		Enabled:         portico.Ptr(true),
		Aliases:         &portico.Aliases{Quantity: 2, Items: []string{alias, wildcard}},
		Origins: &portico.Origins{Quantity: 1, Items: []portico.Origin{{
			ID: "api", DomainName: originHost,
			CustomOriginConfig: &portico.CustomOriginConfig{HTTPPort: 80, HTTPSPort: 443, OriginProtocolPolicy: "https-only"},
		}}},
		DefaultCacheBehavior: &portico.CacheBehavior{
			TargetOriginID: "api", ViewerProtocolPolicy: "redirect-to-https",
			ForwardedValues: &portico.ForwardedValues{QueryString: portico.Ptr(true), Cookies: &portico.CookiePreference{Forward: "none"}},
		},
		CacheBehaviors: &portico.CacheBehaviors{Quantity: 1, Items: []portico.CacheBehavior{{
			PathPattern: portico.Ptr("/api/*"), TargetOriginID: "api", ViewerProtocolPolicy: "https-only",
			AllowedMethods: &portico.AllowedMethods{Quantity: len(all), Items: all,
				CachedMethods: &portico.Methods{Quantity: 2, Items: []string{"GET", "HEAD"}}},
			CachePolicyID:         portico.Ptr(e.policy.ID),
			OriginRequestPolicyID: portico.Ptr(allViewerExceptHost),
		}}},
		ViewerCertificate: &portico.ViewerCertificate{
			ACMCertificateArn: portico.Ptr(cert.ARN), SSLSupportMethod: portico.Ptr("sni-only"), MinimumProtocolVersion: portico.Ptr("TLSv1.2_2021"),
		},
	})
	if err != nil {
		t.Fatal(err)
	}

	e.watcher = &snapshot.Watcher{Source: e.svc, Deps: e.deps, Reporter: e.tracker, Edge: "explain-test"}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.watcher.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-e.watcher.Loaded():
	case <-time.After(10 * time.Second):
		t.Fatal("no snapshot loaded within 10s")
	}

	verifier := &sigv4.Verifier{
		Secret:   func(id string) (string, bool) { return secretKey, id == accessKey },
		Services: []string{"cloudfront"},
	}
	e.handler = &Handler{
		Snapshot: e.watcher.Current,
		Source:   e.svc,
		Cache:    e.cache,
		Authenticate: func(r *http.Request, payload []byte) error {
			_, err := verifier.Verify(r, payload)
			return err
		},
	}
	e.server = httptest.NewServer(e.handler)
	t.Cleanup(e.server.Close)
	return e
}

// view sends a viewer GET for target (https://host/path?query) through the
// snapshot the edge serves, as the edge server hands it over, and returns
// its X-Cache.
func (e *env) view(t *testing.T, target string, headers ...string) string {
	t.Helper()
	r, err := NewRequest(t.Context(), "GET", target, headers)
	if err != nil {
		t.Fatal(err)
	}
	site, ok := e.watcher.Current().Site(r.Host)
	if !ok {
		t.Fatalf("%s is not served", r.Host)
	}
	rec := httptest.NewRecorder()
	site.Behavior(r.URL.EscapedPath()).Handler.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body)
	}
	return rec.Header().Get("X-Cache")
}

// explainURL returns the URL of the explain endpoint for target.
func (e *env) explainURL(target string, headers ...string) string {
	q := url.Values{ParamURL: {target}, ParamHeader: headers}
	return e.server.URL + Path + "?" + q.Encode()
}

// call sends a GET to u signed with the real SDK signer and secret ("" for
// unsigned), and returns the status and body.
func (e *env) call(t *testing.T, method, u, secret string) (int, []byte) {
	t.Helper()
	r, err := http.NewRequestWithContext(t.Context(), method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if secret != "" {
		sum := sha256.Sum256(nil)
		creds := aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secret}
		if err := v4.NewSigner().SignHTTP(t.Context(), creds, r, hex.EncodeToString(sum[:]), "cloudfront", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := e.server.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// explain asks the endpoint about target and decodes the answer.
func (e *env) explain(t *testing.T, target string, headers ...string) *Explanation {
	t.Helper()
	status, body := e.call(t, http.MethodGet, e.explainURL(target, headers...), secretKey)
	if status != http.StatusOK {
		t.Fatalf("explain %s: %d %s", target, status, body)
	}
	x := new(Explanation)
	if err := json.Unmarshal(body, x); err != nil {
		t.Fatalf("explain %s: %v\n%s", target, err, body)
	}
	return x
}

func TestExplainPolicyBehavior(t *testing.T) {
	e := newEnv(t)
	target := "https://Login.Example.com:443/api/products?utm=x&id=42"
	headers := []string{"X-Tenant: acme", "Cookie: session=s1; theme=dark", "Accept-Encoding: gzip, br", "Accept-Language: en", "User-Agent: test"}

	x := e.explain(t, target, headers...)
	wantDist := Distribution{ID: e.dist.ID, DomainName: e.dist.DomainName, MatchedName: alias, MatchedBy: "alias"}
	if x.Distribution != wantDist {
		t.Errorf("distribution = %+v, want %+v", x.Distribution, wantDist)
	}
	if b := x.Behavior; b.PathPattern != "/api/*" || b.Default || b.Index != 0 || b.Count != 1 || b.TargetOriginID != "api" ||
		b.OriginDomainName != originHost || b.ViewerProtocolPolicy != "https-only" || !slices.Equal(b.CachedMethods, []string{"GET", "HEAD"}) {
		t.Errorf("behavior = %+v, want /api/*, the first of one, to origin api", b)
	}
	if p := x.CachePolicy; p == nil || p.ID != e.policy.ID || p.Name != "api-cache" || p.Managed {
		t.Errorf("cache policy = %+v, want api-cache (%s)", p, e.policy.ID)
	}
	if p := x.OriginRequestPolicy; p == nil || p.ID != allViewerExceptHost || p.Name != "Managed-AllViewerExceptHostHeader" || !p.Managed {
		t.Errorf("origin request policy = %+v, want the managed AllViewerExceptHostHeader", p)
	}
	if x.ForwardedValues != nil {
		t.Errorf("ForwardedValues = %+v under policies, want none", x.ForwardedValues)
	}
	wantKey := Key{
		Method: "GET", Host: alias, Path: "/api/products",
		QueryStrings: Selection{Mode: "whitelist", Names: []string{"id"}}, Query: "id=42",
		Cookies: Selection{Mode: "whitelist", Names: []string{"session"}}, Cookie: "session=s1",
		Headers:                  Selection{Mode: "whitelist", Names: []string{"X-Tenant"}},
		HeaderValues:             []Header{{Name: "X-Tenant", Values: []string{"acme"}}},
		AcceptEncoding:           AcceptEncoding{Normalized: true, Gzip: true, Brotli: true},
		NormalizedAcceptEncoding: "br,gzip",
		PurgePath:                "/api/products?id=42",
	}
	if !jsonEqual(x.Key, wantKey) {
		t.Errorf("key = %s\nwant  %s", mustJSON(x.Key), mustJSON(wantKey))
	}
	f := x.Forwarded
	if f.Query != "utm=x&id=42" || f.Cookie != "session=s1; theme=dark" || f.Host != originHost ||
		!slices.Contains(f.HeaderNames, "User-Agent") || !slices.Contains(f.HeaderNames, "X-Tenant") || slices.Contains(f.HeaderNames, "Accept-Encoding") {
		t.Errorf("forwarded = %+v, want every query parameter and cookie, the origin's host, the viewer headers but Accept-Encoding", f)
	}
	if x.TTL != (TTL{Min: 1, Default: 60, Max: 3600}) {
		t.Errorf("TTL = %+v, want the policy's 1/60/3600", x.TTL)
	}
	if c := x.Cache; c.Result != "uri-miss" || c.Stored != nil || c.Variants != 0 {
		t.Errorf("before any request: cache %+v, want a uri-miss", c)
	}
	if x.ConfigRevision != e.dist.Rev || x.Revision < x.ConfigRevision || len(x.Notes) != 0 {
		t.Errorf("revisions %d/%d, notes %q; want the edge at or past the distribution's %d, no notes", x.Revision, x.ConfigRevision, x.Notes, e.dist.Rev)
	}

	// A viewer fills the cache; the explanation then shows the entry, and
	// explaining changes nothing: the origin is not asked, the next viewer
	// still hits.
	if got := e.view(t, target, headers...); !strings.HasPrefix(got, "Miss") {
		t.Fatalf("first viewer request: X-Cache %q, want a Miss", got)
	}
	origins, entries := e.origins.Load(), e.cache.Len()
	x = e.explain(t, target, headers...)
	s := x.Cache.Stored
	if x.Cache.Result != "hit" || x.Cache.Variants != 1 || s == nil {
		t.Fatalf("after a viewer request: cache %+v, want a hit on one variant", x.Cache)
	}
	if s.Status != 200 || s.Lifetime != 120 || s.TTL > 120 || s.TTL < 110 || s.Age > 10 || s.BodyBytes != 5 ||
		!slices.Equal(s.Tags, []string{"product-42", "api"}) || s.ETag != `"v1"` || s.SoftPurged ||
		len(s.Vary) != 1 || s.Vary[0].Name != "Accept-Language" || !slices.Equal(s.Vary[0].Values, []string{"en"}) {
		t.Errorf("stored = %+v, want a 200 fresh for 120 s, its tags, validator and Vary", s)
	}
	if e.origins.Load() != origins || e.cache.Len() != entries {
		t.Errorf("explaining went to the origin (%d → %d requests) or changed the cache (%d → %d entries)", origins, e.origins.Load(), entries, e.cache.Len())
	}
	if got := e.view(t, target, headers...); !strings.HasPrefix(got, "Hit") {
		t.Errorf("viewer request after explaining: X-Cache %q, want a Hit", got)
	}

	// Another value of a field the response varies on; another keyed
	// header value.
	other := slices.Clone(headers)
	other[3] = "Accept-Language: fr"
	if x := e.explain(t, target, other...); x.Cache.Result != "vary-miss" || x.Cache.Variants != 1 {
		t.Errorf("another Accept-Language: cache %+v, want a vary-miss", x.Cache)
	}
	other[0] = "X-Tenant: other"
	if x := e.explain(t, target, other...); x.Cache.Result != "uri-miss" || x.Key.HeaderValues[0].Values[0] != "other" {
		t.Errorf("another tenant: %+v, want a uri-miss under its own key", x.Cache)
	}

	// A soft purge by tag shows.
	e.cache.SoftPurgeTag(e.dist.ID, "api")
	if x := e.explain(t, target, headers...); x.Cache.Result != "stale" || x.Cache.Stored == nil || !x.Cache.Stored.SoftPurged {
		t.Errorf("after a soft purge: cache %+v, want stale, soft-purged", x.Cache)
	}

	// Over HTTP, https-only refuses; a method the behaviour does not
	// allow is noted too.
	x = e.explain(t, "http://login.example.com/api/products")
	if len(x.Notes) != 1 || !strings.Contains(x.Notes[0], "403") {
		t.Errorf("over HTTP: notes %q, want the https-only refusal", x.Notes)
	}
}

func TestExplainLegacyDefaultBehavior(t *testing.T) {
	e := newEnv(t)
	x := e.explain(t, "http://"+strings.ToUpper(e.dist.DomainName)+"/index.html?b=2&a=1", "Authorization: Bearer secret-token")
	if x.Distribution.MatchedBy != "domain name" || x.Distribution.MatchedName != e.dist.DomainName {
		t.Errorf("distribution = %+v, want matched by its domain name", x.Distribution)
	}
	if !x.Behavior.Default || x.Behavior.PathPattern != "*" || x.Behavior.Index != -1 {
		t.Errorf("behavior = %+v, want the default", x.Behavior)
	}
	if x.CachePolicy != nil || x.OriginRequestPolicy != nil {
		t.Errorf("policies %+v, %+v; want none", x.CachePolicy, x.OriginRequestPolicy)
	}
	if fv := x.ForwardedValues; fv == nil || !fv.QueryString || fv.Cookies != "none" {
		t.Errorf("ForwardedValues = %+v, want query string forwarded, no cookies", fv)
	}
	if x.Key.Query != "b=2&a=1" || x.TTL != (TTL{Min: 0, Default: 86400, Max: 31536000}) {
		t.Errorf("key query %q, TTL %+v; want the whole query and CloudFront's default TTLs", x.Key.Query, x.TTL)
	}
	if x.Cache.Result != "bypass" || x.Cache.Detail != "authorization" {
		t.Errorf("with Authorization: cache %+v, want a bypass (authorization)", x.Cache)
	}
	if len(x.Notes) != 1 || !strings.Contains(x.Notes[0], "redirects this request to HTTPS") {
		t.Errorf("notes %q, want the redirect to HTTPS", x.Notes)
	}
	var text bytes.Buffer
	if err := x.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Behavior:", "default (*)", "legacy ForwardedValues", "bypass (authorization)", "min 0 s, default 86400 s, max 31536000 s"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if strings.Contains(text.String(), "secret-token") {
		t.Errorf("text shows an unkeyed Authorization value:\n%s", text.String())
	}
}

func TestExplainWildcardAlias(t *testing.T) {
	e := newEnv(t)
	x := e.explain(t, "https://Shop.Wild.Example.com/api/a?id=1")
	want := Distribution{ID: e.dist.ID, DomainName: e.dist.DomainName, MatchedName: wildcard, MatchedBy: "wildcard alias"}
	if x.Distribution != want || x.Behavior.PathPattern != "/api/*" || x.Key.Host != "shop.wild.example.com" {
		t.Errorf("distribution %+v, behavior %q, key host %q; want %+v, /api/*, the host as sent", x.Distribution, x.Behavior.PathPattern, x.Key.Host, want)
	}
	var text bytes.Buffer
	if err := x.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "matched by its wildcard alias "+wildcard) {
		t.Errorf("text does not name the wildcard alias:\n%s", text.String())
	}
}

func TestExplainText(t *testing.T) {
	e := newEnv(t)
	target := "https://login.example.com/api/a?id=7"
	e.view(t, target, "X-Tenant: acme")
	x := e.explain(t, target, "X-Tenant: acme")
	var b bytes.Buffer
	if err := x.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{
		"Distribution:", e.dist.ID, "matched by its alias login.example.com",
		"/api/* (cache behavior 1 of 1)",
		"api-cache (" + e.policy.ID + ")",
		"Managed-AllViewerExceptHostHeader (" + allViewerExceptHost + ", managed)",
		"whitelist(id) → id=7", "X-Tenant: acme", "normalised (gzip on, br on)",
		"min 1 s, default 60 s, max 3600 s",
		"Cache:", "hit; 1 variant(s) in memory",
		"freshness lifetime 120 s", "tags product-42, api",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}

func TestExplainErrors(t *testing.T) {
	e := newEnv(t)
	good := e.explainURL("https://login.example.com/")
	manyHeaders := make([]string, MaxHeaders+1)
	for i := range manyHeaders {
		manyHeaders[i] = fmt.Sprintf("X-H%d: v", i)
	}
	tests := []struct {
		name, method, url, secret string
		status                    int
		code                      string
	}{
		{"unsigned", "GET", good, "", 403, "MissingAuthenticationToken"},
		{"wrong secret", "GET", good, "not-the-secret", 403, "SignatureDoesNotMatch"},
		{"POST", "POST", good, secretKey, 405, "MethodNotAllowed"},
		{"no url", "GET", e.server.URL + Path, secretKey, 400, portico.ErrInvalidArgument},
		{"relative url", "GET", e.explainURL("/api/a"), secretKey, 400, portico.ErrInvalidArgument},
		{"other scheme", "GET", e.explainURL("ftp://login.example.com/"), secretKey, 400, portico.ErrInvalidArgument},
		{"header without colon", "GET", e.explainURL("https://login.example.com/", "X-Tenant acme"), secretKey, 400, portico.ErrInvalidArgument},
		{"header with a bad name", "GET", e.explainURL("https://login.example.com/", "X Tenant: acme"), secretKey, 400, portico.ErrInvalidArgument},
		{"header with a control character", "GET", e.explainURL("https://login.example.com/", "X-Tenant: a\x00b"), secretKey, 400, portico.ErrInvalidArgument},
		{"too many headers", "GET", e.explainURL("https://login.example.com/", manyHeaders...), secretKey, 400, portico.ErrInvalidArgument},
		{"unknown host", "GET", e.explainURL("https://unknown.example.org/"), secretKey, 404, portico.ErrNoSuchDistribution},
		{"Host header to an unknown host", "GET", e.explainURL("https://login.example.com/", "Host: other.example.org"), secretKey, 404, portico.ErrNoSuchDistribution},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.call(t, tt.method, tt.url, tt.secret)
			var er ErrorResponse
			if err := json.Unmarshal(body, &er); err != nil {
				t.Fatalf("body is not an ErrorResponse: %v\n%s", err, body)
			}
			if status != tt.status || er.Error.Code != tt.code || er.Error.Message == "" {
				t.Errorf("got %d %+v, want %d %s", status, er.Error, tt.status, tt.code)
			}
			if bytes.Contains(body, []byte(secretKey)) {
				t.Errorf("the error shows the secret: %s", body)
			}
		})
	}
}

// TestExplainWhileAChangePropagates explains through an edge stuck on an
// older revision: the answer follows what the edge serves and says that
// the edge is behind the stored distribution; once the edge catches up, it
// follows the change.
func TestExplainWhileAChangePropagates(t *testing.T) {
	e := newEnv(t)
	old := e.buildCurrent(t)
	// A change elsewhere in the store is no change of the distribution.
	if _, err := e.svc.CreateInvalidation(t.Context(), e.dist.ID, "later", []string{"/x"}); err != nil {
		t.Fatal(err)
	}
	h := *e.handler
	h.Snapshot = func() *snapshot.Snapshot { return old }
	h.CatchUp = 20 * time.Millisecond
	const target = "http://login.example.com/api/a"
	if x := e.explainWith(t, &h, target); x.Revision != old.Rev() || x.ConfigRevision != e.dist.Rev || len(x.Notes) != 1 || !strings.Contains(x.Notes[0], "403") {
		t.Errorf("after an invalidation: revisions %d/%d, notes %q; want %d/%d and the https-only note alone", x.Revision, x.ConfigRevision, x.Notes, old.Rev(), e.dist.Rev)
	}

	// The /api/* behaviour now allows HTTP.
	cur, err := e.svc.GetDistribution(t.Context(), e.dist.ID)
	if err != nil {
		t.Fatal(err)
	}
	cfg := cur.Config
	cfg.CacheBehaviors.Items[0].ViewerProtocolPolicy = "allow-all"
	updated, err := e.svc.UpdateDistribution(t.Context(), e.dist.ID, cur.ETag, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	x := e.explainWith(t, &h, target)
	if x.Revision != old.Rev() || x.ConfigRevision != updated.Rev || x.Behavior.ViewerProtocolPolicy != "https-only" ||
		len(x.Notes) != 2 || !strings.Contains(x.Notes[0], "catching up") {
		t.Errorf("edge behind: revisions %d/%d, policy %s, notes %q; want %d/%d, what the edge serves (https-only), and a note saying it is behind",
			x.Revision, x.ConfigRevision, x.Behavior.ViewerProtocolPolicy, x.Notes, old.Rev(), updated.Rev)
	}
	var text bytes.Buffer
	if err := x.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), fmt.Sprintf("(stored configuration: %d)", updated.Rev)) {
		t.Errorf("text does not show the stored revision:\n%s", text.String())
	}

	// Once the edge serves the revision, there is no note.
	h.Snapshot = e.watcher.Current
	h.CatchUp = 10 * time.Second
	x = e.explainWith(t, &h, target)
	if x.Revision < updated.Rev || x.ConfigRevision != updated.Rev || x.Behavior.ViewerProtocolPolicy != "allow-all" || len(x.Notes) != 0 {
		t.Errorf("once caught up: revisions %d/%d, policy %s, notes %q; want the edge at %d, allow-all, no notes",
			x.Revision, x.ConfigRevision, x.Behavior.ViewerProtocolPolicy, x.Notes, updated.Rev)
	}
}

// TestExplainDeletedDistribution explains through an edge that still
// serves a distribution the store no longer has.
func TestExplainDeletedDistribution(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	old := e.buildCurrent(t)
	cur, err := e.svc.GetDistribution(ctx, e.dist.ID)
	if err != nil {
		t.Fatal(err)
	}
	cfg := cur.Config
	cfg.Enabled = portico.Ptr(false)
	disabled, err := e.svc.UpdateDistribution(ctx, e.dist.ID, cur.ETag, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.waitServed(t, disabled.Rev)
	if err := e.svc.DeleteDistribution(ctx, e.dist.ID, disabled.ETag); err != nil {
		t.Fatal(err)
	}

	h := *e.handler
	h.Snapshot = func() *snapshot.Snapshot { return old }
	x := e.explainWith(t, &h, "https://login.example.com/api/a")
	if x.Distribution.ID != e.dist.ID || x.ConfigRevision != 0 || len(x.Notes) == 0 || !strings.Contains(x.Notes[0], "was deleted") {
		t.Errorf("distribution %s, stored revision %d, notes %q; want %s explained as served, and a note that it was deleted",
			x.Distribution.ID, x.ConfigRevision, x.Notes, e.dist.ID)
	}
	// The edge that caught up serves the host no more.
	if status, body := e.call(t, http.MethodGet, e.explainURL("https://login.example.com/"), secretKey); status != http.StatusNotFound {
		t.Errorf("through the current edge: %d %s, want 404", status, body)
	}
}

// brokenSource is a Source whose store fails.
type brokenSource struct{}

func (brokenSource) GetDistribution(context.Context, string) (*portico.Distribution, error) {
	return nil, errors.New("reading dist/E1: disk on fire")
}

// TestExplainSourceFailure checks that a store failure is an internal
// error: logged, and not shown to the client.
func TestExplainSourceFailure(t *testing.T) {
	e := newEnv(t)
	var logs bytes.Buffer
	h := *e.handler
	h.Source = brokenSource{}
	h.Log = slog.New(slog.NewTextHandler(&logs, nil))
	srv := httptest.NewServer(&h)
	t.Cleanup(srv.Close)
	e.server = srv
	status, body := e.call(t, http.MethodGet, e.explainURL("https://login.example.com/"), secretKey)
	if status != http.StatusInternalServerError || bytes.Contains(body, []byte("disk on fire")) {
		t.Errorf("got %d %s; want 500 without the cause", status, body)
	}
	if !strings.Contains(logs.String(), "disk on fire") {
		t.Errorf("the cause was not logged: %q", logs.String())
	}
}

// buildCurrent returns a snapshot of the stored configuration as it is
// now, built apart from the watcher: an edge that will not move on.
func (e *env) buildCurrent(t *testing.T) *snapshot.Snapshot {
	t.Helper()
	st, err := e.svc.State(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	snap, err := snapshot.Build(st, e.deps)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// waitServed waits until the edge serves revision rev.
func (e *env) waitServed(t *testing.T, rev int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.watcher.Current().Rev() < rev {
		if time.Now().After(deadline) {
			t.Fatalf("the edge did not serve revision %d within 10s", rev)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// explainWith explains target through h, directly.
func (e *env) explainWith(t *testing.T, h *Handler, target string) *Explanation {
	t.Helper()
	r, err := NewRequest(t.Context(), "GET", target, nil)
	if err != nil {
		t.Fatal(err)
	}
	x, err := h.explain(t.Context(), r, target)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestNewRequest(t *testing.T) {
	r, err := NewRequest(t.Context(), "", "https://WWW.Example.COM.:8443?q=1#frag", []string{"host: Login.Example.com", "x-a:  1 ", "X-A: 2", "Cookie: a=1"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Method != "GET" || r.Host != "login.example.com" || r.URL.Path != "/" || r.URL.RawQuery != "q=1" ||
		!slices.Equal(r.Header["X-A"], []string{"1", "2"}) || r.Header.Get("Cookie") != "a=1" || r.Header.Get("Host") != "" {
		t.Errorf("request = %s %s host %q header %v", r.Method, r.URL, r.Host, r.Header)
	}
	r, err = NewRequest(t.Context(), "HEAD", "http://a.example.com/p%20q/r", nil)
	if err != nil || r.Method != "HEAD" || r.URL.EscapedPath() != "/p%20q/r" {
		t.Errorf("NewRequest = %v, %v; want HEAD with the path as escaped", r, err)
	}
	for _, bad := range []struct{ method, url string }{
		{"GET", ""}, {"G ET", "https://a/"}, {"GET", "https:///path"}, {"GET", "mailto:x@example.com"},
		{"GET", "https://" + strings.Repeat("a", MaxURLBytes)}, {"GET", "https://a%F1.example.com/"},
	} {
		if _, err := NewRequest(t.Context(), bad.method, bad.url, nil); err == nil {
			t.Errorf("NewRequest(%q, %q) accepted", bad.method, bad.url)
		}
	}
}

func FuzzNewRequest(f *testing.F) {
	f.Add("GET", "https://login.example.com/api/a?id=1", "X-Tenant: acme")
	f.Add("", "http://[::1]:8080/%zz", "Host: x")
	f.Add("OPTIONS", "https://a.example.com", "Cookie: a=1; b=2")
	f.Add("GET", "https://user@a.example.com/../b", ":")
	f.Add("GET", "https://a.example.com/", "Host: \xf1") // found in CI: the host is not ASCII
	f.Fuzz(func(t *testing.T, method, rawURL, header string) {
		r, err := NewRequest(context.Background(), method, rawURL, []string{header})
		if err != nil {
			if _, ok := err.(*portico.Error); !ok {
				t.Fatalf("error %v is not a *portico.Error", err)
			}
			return
		}
		if r.Host == "" || r.URL.Path == "" || r.URL.Path[0] != '/' && r.URL.Opaque == "" {
			t.Fatalf("request %q → host %q path %q", rawURL, r.Host, r.URL.Path)
		}
		if r.Host != strings.ToLower(r.Host) {
			t.Fatalf("host %q is not canonical", r.Host)
		}
	})
}

func jsonEqual(a, b any) bool { return bytes.Equal(mustJSON(a), mustJSON(b)) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func TestNotesOnComputedKeyHeaders(t *testing.T) {
	x := &Explanation{Behavior: Behavior{AllowedMethods: []string{"GET"}}, Key: Key{HeaderValues: []Header{
		{Name: "Cloudfront-Is-Mobile-Viewer"}, {Name: "X-Tenant", Values: []string{"a"}},
	}}}
	r, err := NewRequest(t.Context(), "GET", "https://a.example.com/", []string{"CloudFront-Is-Mobile-Viewer: true"})
	if err != nil {
		t.Fatal(err)
	}
	x.Behavior.ViewerProtocolPolicy = "allow-all"
	got := notes(x, r)
	if len(got) != 1 || !strings.Contains(got[0], "Cloudfront-Is-Mobile-Viewer") || strings.Contains(got[0], "X-Tenant") {
		t.Errorf("notes = %q, want one naming the computed CloudFront header only", got)
	}
}
