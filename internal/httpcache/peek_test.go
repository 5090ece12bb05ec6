package httpcache

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/portico-edge/portico"
)

// peekRequest is a viewer request as the edge hands it to the cache: the
// host canonical, headers given as "Name: value".
func peekRequest(method, target string, headers ...string) *http.Request {
	r := httptest.NewRequest(method, "https://viewer.test"+target, nil)
	r.Host = "viewer.test"
	for _, kv := range headers {
		name, value, _ := splitHeader(kv)
		r.Header.Add(name, value)
	}
	return r
}

func splitHeader(kv string) (string, string, bool) {
	for i := 0; i+1 < len(kv); i++ {
		if kv[i] == ':' && kv[i+1] == ' ' {
			return kv[:i], kv[i+2:], true
		}
	}
	return kv, "", false
}

// TestPeek checks that Peek reports the key, the stored response with its
// age and TTL, and what the handler would do, through a response's life:
// not stored, fresh, older, another Vary'd variant, soft-purged, stale,
// purged; and that it changes nothing while doing so.
func TestPeek(t *testing.T) {
	b := behavior(0, 600, 3600, forwarded(true, "session", "X-Tenant", "Accept-Language"))
	b.ForwardedValues.QueryStringCacheKeys = &portico.Names{Quantity: 1, Items: []string{"v"}}
	pol := legacyPolicy(b)
	clk := newClock()
	c := New(64<<20, nil)
	h := newPolicyHarness(t, c, clk, b, pol, func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=60, stale-while-revalidate=30")
		w.Header().Set("Age", "5")
		w.Header().Set("ETag", `"e1"`)
		w.Header().Set("Cache-Tag", "product-42, shoes")
		w.Header().Set("Vary", "Accept-Language, X-Other")
		fmt.Fprint(w, "body")
	})
	headers := []string{"Cookie: session=abc; other=1", "X-Tenant: t1", "X-Tenant: t2", "Accept-Language: en"}
	target := "/Api/Products%2042?z=1&v=2&a=3"
	peek := func(method string, hd ...string) Peek {
		t.Helper()
		return c.Peek(testScope, b, pol, peekRequest(method, target, hd...))
	}

	wantKey := KeyParts{
		Scope:   testScope,
		Method:  "GET",
		Host:    "viewer.test",
		Path:    "/Api/Products%2042",
		Query:   "v=2",
		Cookies: "session=abc",
		Headers: []KeyHeader{{Name: "Accept-Language", Values: []string{"en"}}, {Name: "X-Tenant", Values: []string{"t1", "t2"}}},
		// Legacy settings key on Accept-Encoding normalised; the
		// request sends none.
		NormalizedAcceptEncoding: true,
		PurgePath:                "/Api/Products%2042?v=2",
	}
	p := peek("GET", headers...)
	if p.Forward != fwdURIMiss || p.Stored != nil || p.Variants != 0 || p.OnDisk {
		t.Errorf("before any request: %+v, want a uri-miss with nothing stored", p)
	}
	if !reflect.DeepEqual(p.Key, wantKey) {
		t.Errorf("key = %+v\nwant  %+v", p.Key, wantKey)
	}
	if c.Len() != 0 {
		t.Fatalf("Peek stored something: Len %d", c.Len())
	}

	h.expect(target, miss, "body", headers...)
	clk.advance(20 * time.Second)
	before := c.Len()
	p = peek("HEAD", headers...)
	if p.Forward != "" || p.Stored == nil || p.Variants != 1 {
		t.Fatalf("stored and fresh: %+v, want a hit on one variant", p)
	}
	s := p.Stored
	want := StoredResponse{
		Status: 200, Age: 25 * time.Second, Lifetime: 60 * time.Second, TTL: 35 * time.Second,
		StaleWhileRevalidate: 30 * time.Second, Tags: []string{"product-42", "shoes"},
		Vary: []KeyHeader{{Name: "X-Other"}}, ETag: `"e1"`, BodyBytes: 4,
	}
	want.Stored = s.Stored
	if !reflect.DeepEqual(*s, want) || s.Stored.IsZero() {
		t.Errorf("stored = %+v\nwant     %+v", *s, want)
	}
	// Peeking counted no hit: the entry's standing for eviction is as the
	// first request left it, and nothing was added or removed.
	r := peekRequest("GET", target, headers...)
	key := string(c.Handler(testScope, b, pol, nil).(*handler).spec.appendKey(nil, r, classGet))
	sh := c.shard(c.hashKey(key))
	sh.mu.RLock()
	e := sh.m[c.hashKey(key)]
	sh.mu.RUnlock()
	if e == nil {
		t.Fatal("the stored entry is not under the key Peek computed")
	}
	freq := e.freq.Load()
	for range 5 {
		peek("GET", headers...)
	}
	if got := e.freq.Load(); got != freq || c.Len() != before {
		t.Errorf("after peeking: hit count %d, Len %d; want %d, %d", got, c.Len(), freq, before)
	}

	// A value of a field the response varies on that no variant has.
	if p := peek("GET", append(headers, "X-Other: 1")...); p.Forward != fwdVaryMiss || p.Stored != nil || p.Variants != 1 {
		t.Errorf("another variant: %+v, want a vary-miss", p)
	}
	// A different keyed value is a different key.
	if p := peek("GET", "Cookie: session=xyz", "X-Tenant: t1", "X-Tenant: t2", "Accept-Language: en"); p.Forward != fwdURIMiss || p.Variants != 0 {
		t.Errorf("another session cookie: %+v, want a uri-miss", p)
	}

	c.SoftPurgeTag(testScope, "shoes")
	if p := peek("GET", headers...); p.Forward != fwdStale || p.Stored == nil || !p.Stored.SoftPurged || p.Stored.TTL != 35*time.Second {
		t.Errorf("soft-purged: %+v, want fwd=stale, soft-purged, 35s left", p)
	}
	clk.advance(45 * time.Second)
	if p := peek("GET", headers...); p.Forward != fwdStale || p.Stored == nil || p.Stored.TTL != -10*time.Second {
		t.Errorf("past its lifetime: %+v, want fwd=stale with TTL -10s", p)
	}
	c.Purge(testScope, "/Api/*")
	if p := peek("GET", headers...); p.Forward != fwdURIMiss || p.Stored != nil || p.Variants != 0 {
		t.Errorf("purged: %+v, want a uri-miss with no variant left", p)
	}
	if c.Len() != before {
		t.Errorf("Peek removed the purged entry: Len %d, want %d (removal is the handler's)", c.Len(), before)
	}
}

func TestPeekBypass(t *testing.T) {
	b := behavior(0, 600, 3600, forwarded(false, "none"))
	pol := legacyPolicy(b)
	c := New(1<<20, nil)
	tests := []struct {
		name, method string
		headers      []string
		detail       string
	}{
		{"POST", "POST", nil, detailMethod},
		{"OPTIONS not cached", "OPTIONS", nil, detailMethod},
		{"Authorization not keyed", "GET", []string{"Authorization: Bearer x"}, detailAuthorization},
		{"WebSocket", "GET", []string{"Upgrade: websocket"}, detailUpgrade},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := c.Peek(testScope, b, pol, peekRequest(tt.method, "/a?q=1", tt.headers...))
			if p.Forward != fwdBypass || p.Detail != tt.detail || p.Key.Path != "/a" || p.Key.Query != "" {
				t.Errorf("Peek = %+v, want a bypass for %s with the key of /a", p, tt.detail)
			}
		})
	}
	off := New(0, nil)
	if p := off.Peek(testScope, b, pol, peekRequest("GET", "/a")); p.Forward != fwdBypass || p.Detail != detailPolicy {
		t.Errorf("a disabled cache: %+v, want a bypass for policy", p)
	}
}

// TestPeekPolicyKey checks the key parts under a cache policy that keys
// on one query string parameter and normalises Accept-Encoding to gzip, and
// an origin request policy that forwards cookies without keying them.
func TestPeekPolicyKey(t *testing.T) {
	b := &portico.CacheBehavior{TargetOriginID: "origin-1", ViewerProtocolPolicy: "allow-all",
		CachePolicyID: portico.Ptr("cp"), OriginRequestPolicyID: portico.Ptr("orp")}
	cp := &portico.CachePolicyConfig{Name: "cp", MinTTL: portico.Ptr(int64(0)), DefaultTTL: portico.Ptr(int64(600)), MaxTTL: portico.Ptr(int64(3600)),
		ParametersInCacheKeyAndForwardedToOrigin: &portico.CacheKeyParameters{
			EnableAcceptEncodingGzip: portico.Ptr(true),
			HeadersConfig:            &portico.HeadersConfig{HeaderBehavior: portico.BehaviorNone},
			CookiesConfig:            &portico.CookiesConfig{CookieBehavior: portico.BehaviorNone},
			QueryStringsConfig: &portico.QueryStringsConfig{QueryStringBehavior: portico.BehaviorWhitelist,
				QueryStrings: &portico.Names{Quantity: 1, Items: []string{"v"}}},
		}}
	orp := &portico.OriginRequestPolicyConfig{Name: "orp",
		HeadersConfig:      &portico.HeadersConfig{HeaderBehavior: portico.BehaviorNone},
		CookiesConfig:      &portico.CookiesConfig{CookieBehavior: portico.BehaviorAll},
		QueryStringsConfig: &portico.QueryStringsConfig{QueryStringBehavior: portico.BehaviorNone},
	}
	pol, err := portico.ResolveBehavior(b, cp, orp)
	if err != nil {
		t.Fatal(err)
	}
	p := New(1<<20, nil).Peek(testScope, b, pol, peekRequest("GET", "/x?w=2&v=1", "Accept-Encoding: br, gzip;q=0.5", "Cookie: a=1"))
	want := KeyParts{Scope: testScope, Method: "GET", Host: "viewer.test", Path: "/x", Query: "v=1",
		NormalizedAcceptEncoding: true, AcceptEncoding: "gzip", PurgePath: "/x?v=1"}
	if !reflect.DeepEqual(p.Key, want) || p.Forward != fwdURIMiss {
		t.Errorf("Peek = %+v\nwant key %+v, a uri-miss", p, want)
	}
}

// TestPeekDisk checks that Peek reports a response that only the disk tier
// holds, after a restart, without loading it.
func TestPeekDisk(t *testing.T) {
	dir := t.TempDir()
	b := defaults()
	pol := legacyPolicy(b)
	c, err := Open(Config{MaxBytes: 1 << 20, DiskDir: dir, DiskMaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, c, newClock(), b, func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=60")
	})
	h.expect("/a", miss, "")
	if err := c.Close(); err != nil { // writes what is queued
		t.Fatal(err)
	}

	restarted, err := Open(Config{MaxBytes: 1 << 20, DiskDir: dir, DiskMaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer restarted.Close()
	for range 2 {
		p := restarted.Peek(testScope, b, pol, peekRequest("GET", "/a"))
		if !p.OnDisk || p.Stored != nil || p.Forward != fwdURIMiss {
			t.Errorf("after a restart: %+v, want on disk only", p)
		}
	}
	if p := restarted.Peek(testScope, b, pol, peekRequest("GET", "/b")); p.OnDisk {
		t.Errorf("another path: %+v, want nothing on disk", p)
	}
	if n := restarted.Len(); n != 0 {
		t.Errorf("Peek loaded %d responses from disk, want 0", n)
	}
}
