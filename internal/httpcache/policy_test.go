package httpcache

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/portico-edge/portico"
)

// policyHarness serves a behaviour with a cache policy keyed on the query
// string v and, gzip alone normalised, Accept-Encoding, and an origin
// request policy that forwards User-Agent and every cookie without keying
// them.
func policyHarness(t *testing.T, maxTTL int64, respond respondFunc) *harness {
	t.Helper()
	b := &portico.CacheBehavior{TargetOriginID: "origin-1", ViewerProtocolPolicy: "allow-all",
		CachePolicyID: portico.Ptr("cp"), OriginRequestPolicyID: portico.Ptr("orp"), Compress: portico.Ptr(true)}
	cp := &portico.CachePolicyConfig{Name: "cp", MinTTL: portico.Ptr(int64(0)), DefaultTTL: portico.Ptr(min(maxTTL, 600)), MaxTTL: portico.Ptr(maxTTL),
		ParametersInCacheKeyAndForwardedToOrigin: &portico.CacheKeyParameters{
			EnableAcceptEncodingGzip: portico.Ptr(maxTTL > 0),
			HeadersConfig:            &portico.HeadersConfig{HeaderBehavior: portico.BehaviorNone},
			CookiesConfig:            &portico.CookiesConfig{CookieBehavior: portico.BehaviorNone},
			QueryStringsConfig: &portico.QueryStringsConfig{QueryStringBehavior: portico.BehaviorWhitelist,
				QueryStrings: &portico.Names{Quantity: 1, Items: []string{"v"}}},
		}}
	if maxTTL == 0 {
		cp.ParametersInCacheKeyAndForwardedToOrigin.QueryStringsConfig = &portico.QueryStringsConfig{QueryStringBehavior: portico.BehaviorNone}
	}
	orp := &portico.OriginRequestPolicyConfig{Name: "orp",
		HeadersConfig:      &portico.HeadersConfig{HeaderBehavior: portico.BehaviorWhitelist, Headers: &portico.Names{Quantity: 1, Items: []string{"User-Agent"}}},
		CookiesConfig:      &portico.CookiesConfig{CookieBehavior: portico.BehaviorAll},
		QueryStringsConfig: &portico.QueryStringsConfig{QueryStringBehavior: portico.BehaviorNone},
	}
	pol, err := portico.ResolveBehavior(b, cp, orp)
	if err != nil {
		t.Fatal(err)
	}
	return newPolicyHarness(t, New(64<<20, nil), newClock(), b, pol, respond)
}

// TestPolicyKeyAndVary checks a cache under policies: the cache policy's
// query string is the key, and a Vary on a header or the cookies that
// only the origin request policy forwards selects among the responses
// stored under it (the key does not tell them apart).
func TestPolicyKeyAndVary(t *testing.T) {
	for _, vary := range []string{"User-Agent", "Cookie"} {
		t.Run(vary, func(t *testing.T) {
			h := policyHarness(t, 3600, func(w http.ResponseWriter, r *http.Request, now time.Time) {
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("Vary", vary)
				fmt.Fprintf(w, "%s %s %s", r.URL.RawQuery, r.Header.Get("User-Agent"), r.Header.Get("Cookie"))
			})
			steps := []struct {
				target, ua, cookie string
				wantHit            bool
				wantBody           string
			}{
				{"/p?v=1&x=1", "ua-a", "s=a", false, "v=1 ua-a s=a"},
				{"/p?v=1&x=2", "ua-a", "s=a", true, "v=1 ua-a s=a"},
				{"/p?v=1", "ua-b", "s=b", false, "v=1 ua-b s=b"},
				{"/p?v=1", "ua-a", "s=a", true, "v=1 ua-a s=a"},
				{"/p?v=2", "ua-a", "s=a", false, "v=2 ua-a s=a"},
			}
			for i, s := range steps {
				resp, body := h.do("GET", h.url, s.target, "User-Agent: "+s.ua, "Cookie: "+s.cookie)
				if hit := resp.Header.Get("X-Cache") == "Hit from portico"; hit != s.wantHit || body != s.wantBody {
					t.Errorf("step %d: X-Cache %q, body %q; want hit %v, body %q", i, resp.Header.Get("X-Cache"), body, s.wantHit, s.wantBody)
				}
			}
		})
	}
}

// TestPolicyCompressionCodings checks that the edge compresses only with
// the codings the cache policy normalises Accept-Encoding to, and that a
// policy with caching disabled (MaxTTL 0) stores nothing.
func TestPolicyCompressionCodings(t *testing.T) {
	body := text(3000)
	respond := func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		io.WriteString(w, body)
	}
	h := policyHarness(t, 3600, respond)
	resp, got := h.do("GET", h.url, "/page", "Accept-Encoding: br, gzip")
	if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" || decode(t, "gzip", []byte(got)) != body {
		t.Errorf("Content-Encoding %q, want gzip, the one coding the policy allows", ce)
	}
	if ae := h.lastOriginRequest("/page").Header.Get("Accept-Encoding"); ae != "gzip" {
		t.Errorf("origin got Accept-Encoding %q, want the normalised gzip", ae)
	}

	off := policyHarness(t, 0, respond)
	for i := 1; i <= 2; i++ {
		resp, _ := off.do("GET", off.url, "/page")
		if x := resp.Header.Get("X-Cache"); x != "Miss from portico" {
			t.Errorf("caching disabled, request %d: X-Cache %q", i, x)
		}
	}
	if n := off.originCount("/page"); n != 2 {
		t.Errorf("caching disabled: the origin got %d requests, want 2", n)
	}
}
