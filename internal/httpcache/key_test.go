package httpcache

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/origin"
)

// auth0Behavior is the behaviour Auth0 asks CloudFront for: all cookies, all
// query strings, six whitelisted headers.
func auth0Behavior() *portico.CacheBehavior {
	return behavior(0, 86400, 31536000, forwarded(true, "all", "User-Agent", "Origin", "Referer", "Authorization", "Accept", "Accept-Language"))
}

func auth0Request() *http.Request {
	r := httptest.NewRequest("GET", "https://login.example.com/.well-known/jwks.json?client_id=abc&state=xyz", nil)
	r.Header.Set("Cookie", "did=s%3Av0; auth0=s%3Aabc.def; did_compat=s%3Av0")
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)")
	r.Header.Set("Origin", "https://app.example.com")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Accept-Encoding", "gzip, deflate, br")
	return r
}

// TestKeyLookupAllocs pins the hit path's key building, lookup (with a
// Vary'd variant to select) and purge check at zero allocations.
func TestKeyLookupAllocs(t *testing.T) {
	c := New(64<<20, nil)
	h := legacyHandler(c, testScope, auth0Behavior(), http.NotFoundHandler()).(*handler)
	r := auth0Request()
	r.Header.Set("X-Tenant", "a, b")
	buf := c.getKeyBuf()
	*buf = h.spec.appendKey((*buf)[:0], r, classGet)
	key := string(*buf)
	c.putKeyBuf(buf)
	c.store(newEntry(&response{key: key, sc: h.sc, path: "/x", vary: []string{"X-Tenant", "a,b"},
		policy: storePolicy{ttl: time.Hour}, responseTime: time.Now().UnixNano()}))
	c.Purge(testScope, "/y") // a purge record, so that the check walks the trie

	allocs := testing.AllocsPerRun(1000, func() {
		buf := c.getKeyBuf()
		*buf = h.spec.appendKey((*buf)[:0], r, classGet)
		e, _ := c.lookup(*buf, r)
		c.putKeyBuf(buf)
		if e == nil || h.sc.verdict(e) != valid {
			t.Fatal("the stored entry was not found")
		}
	})
	if allocs != 0 {
		t.Errorf("key building and lookup allocated %v times per run, want 0", allocs)
	}
}

func BenchmarkKeyLookup(b *testing.B) {
	c := New(64<<20, nil)
	h := legacyHandler(c, testScope, auth0Behavior(), http.NotFoundHandler()).(*handler)
	r := auth0Request()
	b.ReportAllocs()
	for b.Loop() {
		buf := c.getKeyBuf()
		*buf = h.spec.appendKey((*buf)[:0], r, classGet)
		c.lookup(*buf, r)
		c.putKeyBuf(buf)
	}
}

// viewerKeyBehavior keys on a device header, the protocol, a header the
// edge does not compute and a viewer header.
func viewerKeyBehavior() *portico.CacheBehavior {
	return behavior(0, 86400, 31536000, forwarded(false, "none",
		"CloudFront-Is-Mobile-Viewer", "CloudFront-Forwarded-Proto", "CloudFront-Viewer-Country", "X-Tenant"))
}

// viewerRequest is a GET from a viewer with User-Agent ua and the header
// fields of kv (name, value, ...).
func viewerRequest(ua string, kv ...string) *http.Request {
	r := httptest.NewRequest("GET", "https://login.example.com/page", nil)
	r.TLS = nil // as the edge's plain-HTTP listener hands it over
	r.Header.Set("User-Agent", ua)
	for i := 0; i+1 < len(kv); i += 2 {
		r.Header.Set(kv[i], kv[i+1])
	}
	return r
}

// TestKeyViewerHeaders checks that WithViewerHeaders keys the CloudFront-*
// headers on what the edge computes: whatever the viewer sends under their
// names, one key per device, and the key the same as for a request that
// carries exactly the computed values (so that keys stored before, by a
// handler that was given such requests, stay valid).
func TestKeyViewerHeaders(t *testing.T) {
	const (
		phone   = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148 Safari/604.1"
		desktop = "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0"
	)
	c := New(64<<20, nil)
	b := viewerKeyBehavior()
	h := legacyHandler(c, testScope, b, http.NotFoundHandler(), WithViewerHeaders()).(*handler)
	plain := legacyHandler(c, testScope, b, http.NotFoundHandler()).(*handler)
	key := func(h *handler, r *http.Request) string { return string(h.spec.appendKey(nil, r, classGet)) }

	fromPhone := viewerRequest(phone, "X-Tenant", "a")
	spoofed := viewerRequest(phone, "X-Tenant", "a",
		"CloudFront-Is-Mobile-Viewer", "false", "CloudFront-Forwarded-Proto", "https", "CloudFront-Viewer-Country", "CH")
	computed := viewerRequest(phone, "X-Tenant", "a", "CloudFront-Is-Mobile-Viewer", "true", "CloudFront-Forwarded-Proto", "http")
	if key(h, fromPhone) != key(plain, computed) {
		t.Error("the key differs from the key of a request carrying the computed values")
	}
	if key(h, spoofed) != key(h, fromPhone) {
		t.Error("the viewer's own CloudFront-* headers changed the key")
	}
	if key(h, viewerRequest(desktop, "X-Tenant", "a")) == key(h, fromPhone) {
		t.Error("a desktop and a phone share a key")
	}
	if key(h, viewerRequest(phone, "X-Tenant", "b")) == key(h, fromPhone) {
		t.Error("another X-Tenant shares the key")
	}
	if key(plain, spoofed) == key(plain, fromPhone) {
		t.Error("without WithViewerHeaders, the key ignores the request's CloudFront-* headers")
	}

	parts := h.spec.parts(spoofed, classGet, "/page")
	want := []KeyHeader{
		{Name: "Cloudfront-Forwarded-Proto", Values: []string{"http"}},
		{Name: "Cloudfront-Is-Mobile-Viewer", Values: []string{"true"}},
		{Name: "Cloudfront-Viewer-Country"},
		{Name: "X-Tenant", Values: []string{"a"}},
	}
	if fmt.Sprint(parts.Headers) != fmt.Sprint(want) {
		t.Errorf("key parts %v, want %v", parts.Headers, want)
	}

	buf := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(1000, func() { buf = h.spec.appendKey(buf[:0], spoofed, classGet) })
	if allocs != 0 {
		t.Errorf("building a key with computed CloudFront-* headers allocated %v times per run, want 0", allocs)
	}
}

// BenchmarkKeyViewerHeaders measures building the key of a behaviour that
// keys on CloudFront-* headers the edge computes.
func BenchmarkKeyViewerHeaders(b *testing.B) {
	c := New(64<<20, nil)
	h := legacyHandler(c, testScope, viewerKeyBehavior(), http.NotFoundHandler(), WithViewerHeaders()).(*handler)
	r := viewerRequest("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148 Safari/604.1", "X-Tenant", "a")
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = h.spec.appendKey(buf[:0], r, classGet)
	}
}

// benchWriter is a ResponseWriter that keeps nothing, so that the
// benchmark measures the cache, not a recorder.
type benchWriter struct {
	h    http.Header
	code int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkHit measures a whole cache hit.
func BenchmarkHit(b *testing.B) {
	c := New(64<<20, nil)
	origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"keys":[]}`)
	})
	h := legacyHandler(c, testScope, auth0Behavior(), origin)
	r := auth0Request()
	w := &benchWriter{h: http.Header{}}
	h.ServeHTTP(w, r)
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
		if w.code != http.StatusOK || w.h.Get("X-Cache") != hit {
			b.Fatalf("status %d, X-Cache %q", w.code, w.h.Get("X-Cache"))
		}
	}
}

// TestParseCacheControl checks the response directives a shared cache acts
// on (RFC 9111 §5.2.2, RFC 5861).
func TestParseCacheControl(t *testing.T) {
	cc := func(set func(*cacheControl)) cacheControl {
		c := cacheControl{maxAge: -1, sMaxAge: -1, staleWhileRevalidate: -1, staleIfError: -1}
		if set != nil {
			set(&c)
		}
		return c
	}
	tests := []struct {
		lines []string
		want  cacheControl
	}{
		{nil, cc(nil)},
		{[]string{"max-age=60"}, cc(func(c *cacheControl) { c.maxAge = 60 })},
		{[]string{"Max-Age=60, S-MAXAGE=10"}, cc(func(c *cacheControl) { c.maxAge, c.sMaxAge, c.mustRevalidate = 60, 10, true })},
		{[]string{"public", "max-age=5"}, cc(func(c *cacheControl) { c.maxAge = 5 })},
		{[]string{`max-age="30"`}, cc(func(c *cacheControl) { c.maxAge = 30 })},
		{[]string{"max-age=60, max-age=60"}, cc(func(c *cacheControl) { c.maxAge = 60 })},
		{[]string{"max-age=60, max-age=30"}, cc(func(c *cacheControl) { c.maxAge = 0 })},
		{[]string{"max-age=-1"}, cc(func(c *cacheControl) { c.maxAge = 0 })},
		{[]string{"max-age=99999999999999"}, cc(func(c *cacheControl) { c.maxAge = maxDeltaSeconds })},
		{[]string{`private="Set-Cookie, X-Foo", max-age=60`}, cc(func(c *cacheControl) { c.maxAge, c.privateFields = 60, "Set-Cookie, X-Foo" })},
		{[]string{`private=""`}, cc(func(c *cacheControl) { c.private = true })},
		{[]string{`no-cache="Set-Cookie"`}, cc(func(c *cacheControl) { c.noCacheFields = "Set-Cookie" })},
		{[]string{`no-cache="a", no-cache="b"`}, cc(func(c *cacheControl) { c.noCacheFields = "a,b" })},
		{[]string{"no-store,no-cache , private"}, cc(func(c *cacheControl) { c.noStore, c.noCache, c.private = true, true, true })},
		{[]string{`community="no-store", max-age=3`}, cc(func(c *cacheControl) { c.maxAge = 3 })},
		{[]string{"max-age"}, cc(func(c *cacheControl) { c.maxAge = 0 })},
		{[]string{"max-age =7"}, cc(func(c *cacheControl) { c.maxAge = 7 })},
		{[]string{"must-revalidate"}, cc(func(c *cacheControl) { c.mustRevalidate = true })},
		{[]string{"PROXY-REVALIDATE"}, cc(func(c *cacheControl) { c.mustRevalidate = true })},
		{[]string{"max-age=1, stale-while-revalidate=30, stale-if-error=600"}, cc(func(c *cacheControl) {
			c.maxAge, c.staleWhileRevalidate, c.staleIfError = 1, 30, 600
		})},
		{[]string{"stale-if-error=x"}, cc(func(c *cacheControl) { c.staleIfError = 0 })},
	}
	for _, tt := range tests {
		if got := parseCacheControl(tt.lines); got != tt.want {
			t.Errorf("parseCacheControl(%q) = %+v, want %+v", tt.lines, got, tt.want)
		}
	}
}

func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{"max-age=60, s-maxage=10", `private="a, b", no-cache`, `x="\"`, "=,=,", "max-age=99999999999999999999",
		"stale-while-revalidate=30, stale-if-error=60", `no-cache="Set-Cookie", must-revalidate`, "proxy-revalidate,private="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cc := parseCacheControl([]string{s})
		for _, v := range []int64{cc.maxAge, cc.sMaxAge, cc.staleWhileRevalidate, cc.staleIfError} {
			if v < -1 || v > maxDeltaSeconds {
				t.Fatalf("parseCacheControl(%q) = %+v", s, cc)
			}
		}
		if cc.sMaxAge >= 0 && !cc.mustRevalidate {
			t.Fatalf("parseCacheControl(%q) = %+v", s, cc)
		}
		lower := strings.ToLower(s)
		if !strings.Contains(lower, "max-age") && cc.maxAge != -1 {
			t.Fatalf("max-age %d from %q", cc.maxAge, s)
		}
		if !strings.Contains(lower, "no-store") && cc.noStore {
			t.Fatalf("no-store from %q", s)
		}
		if parseCacheControl([]string{s}) != cc {
			t.Fatalf("not deterministic for %q", s)
		}
	})
}

// FuzzKey checks that two requests that differ in what the origin is sent
// (forwarded cookies, whitelisted headers, the query string, the path)
// never share a key, and that the key does not depend on what the origin is
// not sent.
func FuzzKey(f *testing.F) {
	f.Add("/a", "q=1", "a=1; b=2", "https://x", "/a", "q=1", "b=2; a=1", "https://x")
	f.Add("/a", "", "s=alice", "", "/a", "", "s=bob", "")
	f.Add("/a%2Fb", "x", "", "o", "/a/b", "x", "", "o")
	f.Add("/", "a&b", "junk", "", "/", "a;b", "", "")
	f.Fuzz(func(t *testing.T, path1, query1, cookie1, origin1, path2, query2, cookie2, origin2 string) {
		fvs := []*portico.ForwardedValues{
			forwarded(true, "all", "Origin"),
			forwarded(false, "session,a*"),
			{QueryString: portico.Ptr(true), Cookies: &portico.CookiePreference{Forward: "none"},
				QueryStringCacheKeys: &portico.Names{Quantity: 1, Items: []string{"q"}}},
		}
		r1, ok1 := fuzzRequest(path1, query1, cookie1, origin1)
		r2, ok2 := fuzzRequest(path2, query2, cookie2, origin2)
		if !ok1 || !ok2 {
			return
		}
		for _, fv := range fvs {
			pol := legacyPolicy(&portico.CacheBehavior{ForwardedValues: fv})
			s := newKeySpec(testScope, &pol)
			k1 := s.appendKey(nil, r1, classGet)
			k2 := s.appendKey(nil, r2, classGet)
			if !bytes.Equal(k1, s.appendKey(nil, r1, classGet)) {
				t.Fatal("key not deterministic")
			}
			sent1 := []string{r1.URL.EscapedPath(), string(origin.AppendCookieHeader(nil, r1.Header, fv.Cookies))}
			sent2 := []string{r2.URL.EscapedPath(), string(origin.AppendCookieHeader(nil, r2.Header, fv.Cookies))}
			if s.query.Mode != portico.SelectNone {
				sent1 = append(sent1, string(s.appendQuery(nil, r1.URL.RawQuery)))
				sent2 = append(sent2, string(s.appendQuery(nil, r2.URL.RawQuery)))
			}
			if s.keyed("Origin") {
				sent1 = append(sent1, fmt.Sprintf("%q", r1.Header["Origin"]))
				sent2 = append(sent2, fmt.Sprintf("%q", r2.Header["Origin"]))
			}
			same := fmt.Sprintf("%q", sent1) == fmt.Sprintf("%q", sent2)
			if same != bytes.Equal(k1, k2) {
				t.Fatalf("forwarded %q and %q: keys equal = %v", sent1, sent2, bytes.Equal(k1, k2))
			}
		}
	})
}

func fuzzRequest(path, query, cookie, originValue string) (*http.Request, bool) {
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path+query, "?# \r\n\t") {
		return nil, false
	}
	r, err := http.NewRequest("GET", "https://h.example"+path+"?"+query, nil)
	if err != nil {
		return nil, false
	}
	r.Host = "h.example"
	if cookie != "" {
		r.Header["Cookie"] = []string{cookie}
	}
	if originValue != "" {
		r.Header["Origin"] = []string{originValue}
	}
	return r, true
}

// TestHitAllocs pins a whole cache hit through the handler, headers
// included, at zero allocations once the viewer's header map has room.
func TestHitAllocs(t *testing.T) {
	c := New(64<<20, nil)
	origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"keys":[]}`)
	})
	h := legacyHandler(c, testScope, auth0Behavior(), origin)
	r := auth0Request()
	w := &benchWriter{h: http.Header{}}
	h.ServeHTTP(w, r)
	allocs := testing.AllocsPerRun(1000, func() {
		clear(w.h)
		h.ServeHTTP(w, r)
		if w.code != http.StatusOK || w.h.Get("X-Cache") != hit || !strings.HasPrefix(w.h.Get("Cache-Status"), "portico; hit; ttl=") {
			t.Fatalf("status %d, X-Cache %q, Cache-Status %q", w.code, w.h.Get("X-Cache"), w.h.Get("Cache-Status"))
		}
	})
	if allocs != 0 {
		t.Errorf("a hit allocated %v times per run, want 0", allocs)
	}
}
