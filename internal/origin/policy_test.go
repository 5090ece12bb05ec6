package origin_test

import (
	"net/http"
	"testing"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/origin"
)

// policyBehavior returns a behaviour that names a cache policy and, when
// orp is not nil, an origin request policy, with what they resolve to.
func policyBehavior(t *testing.T, cp *portico.CachePolicyConfig, orp *portico.OriginRequestPolicyConfig) (*portico.CacheBehavior, portico.ResolvedPolicy) {
	t.Helper()
	b := &portico.CacheBehavior{TargetOriginID: "origin", ViewerProtocolPolicy: "allow-all", CachePolicyID: portico.Ptr("cp")}
	if orp != nil {
		b.OriginRequestPolicyID = portico.Ptr("orp")
	}
	pol, err := portico.ResolveBehavior(b, cp, orp)
	if err != nil {
		t.Fatal(err)
	}
	return b, pol
}

func names(items ...string) *portico.Names { return &portico.Names{Quantity: len(items), Items: items} }

// cachePolicy returns a cache policy keyed on nothing but what the
// arguments add, normalising Accept-Encoding to gzip alone when gzip.
func cachePolicy(gzip bool, headers *portico.HeadersConfig, cookies *portico.CookiesConfig, query *portico.QueryStringsConfig) *portico.CachePolicyConfig {
	if headers == nil {
		headers = &portico.HeadersConfig{HeaderBehavior: portico.BehaviorNone}
	}
	if cookies == nil {
		cookies = &portico.CookiesConfig{CookieBehavior: portico.BehaviorNone}
	}
	if query == nil {
		query = &portico.QueryStringsConfig{QueryStringBehavior: portico.BehaviorNone}
	}
	return &portico.CachePolicyConfig{Name: "cp", MinTTL: portico.Ptr(int64(0)), ParametersInCacheKeyAndForwardedToOrigin: &portico.CacheKeyParameters{
		EnableAcceptEncodingGzip: portico.Ptr(gzip), HeadersConfig: headers, CookiesConfig: cookies, QueryStringsConfig: query,
	}}
}

func originPolicy(headers *portico.HeadersConfig, cookies, query string, cookieNames, queryNames []string) *portico.OriginRequestPolicyConfig {
	c := &portico.CookiesConfig{CookieBehavior: cookies}
	if cookieNames != nil {
		c.Cookies = names(cookieNames...)
	}
	q := &portico.QueryStringsConfig{QueryStringBehavior: query}
	if queryNames != nil {
		q.QueryStrings = names(queryNames...)
	}
	return &portico.OriginRequestPolicyConfig{Name: "orp", HeadersConfig: headers, CookiesConfig: c, QueryStringsConfig: q}
}

// TestPolicyForwarding checks what the origin is sent under cache and
// origin request policies, for each header, cookie and query string
// behaviour.
func TestPolicyForwarding(t *testing.T) {
	ca := newTestCA(t)
	o := newTestOrigin(t, ca, nil)
	viewerHeaders := http.Header{
		"Accept":          {"text/html"},
		"Accept-Language": {"de"},
		"Accept-Encoding": {"br, gzip"},
		"User-Agent":      {"viewer/1"},
		"X-One":           {"1"},
		"X-Two":           {"2"},
		"Authorization":   {"Bearer t"},
		"Cookie":          {"c=3; a=1; b=2"},
	}
	const query = "z=1&a=2;m=3&a=4"
	tests := []struct {
		name string
		cp   *portico.CachePolicyConfig
		orp  *portico.OriginRequestPolicyConfig
		// want maps a header to its value at the origin; "" means absent.
		want      map[string]string
		wantQuery string
	}{
		{
			name: "cache policy keyed on nothing",
			cp:   cachePolicy(false, nil, nil, nil),
			want: map[string]string{"Accept": "", "Accept-Language": "", "Accept-Encoding": "", "User-Agent": "Amazon CloudFront",
				"X-One": "", "Authorization": "", "Cookie": ""},
			wantQuery: "",
		},
		{
			name: "cache policy whitelists, gzip only",
			cp: cachePolicy(true, &portico.HeadersConfig{HeaderBehavior: portico.BehaviorWhitelist, Headers: names("x-one", "authorization")},
				&portico.CookiesConfig{CookieBehavior: portico.BehaviorWhitelist, Cookies: names("b", "c")},
				&portico.QueryStringsConfig{QueryStringBehavior: portico.BehaviorWhitelist, QueryStrings: names("a")}),
			want: map[string]string{"Accept": "", "Accept-Encoding": "gzip", "User-Agent": "Amazon CloudFront",
				"X-One": "1", "X-Two": "", "Authorization": "Bearer t", "Cookie": "b=2; c=3"},
			wantQuery: "a=2&a=4",
		},
		{
			name: "cache policy all-except",
			cp: cachePolicy(false, nil,
				&portico.CookiesConfig{CookieBehavior: portico.BehaviorAllExcept, Cookies: names("a")},
				&portico.QueryStringsConfig{QueryStringBehavior: portico.BehaviorAllExcept, QueryStrings: names("a")}),
			want:      map[string]string{"X-One": "", "Cookie": "b=2; c=3"},
			wantQuery: "z=1&m=3",
		},
		{
			name: "origin request policy allViewer",
			cp:   cachePolicy(true, nil, nil, nil),
			orp:  originPolicy(&portico.HeadersConfig{HeaderBehavior: portico.BehaviorAllViewer}, portico.BehaviorAll, portico.BehaviorAll, nil, nil),
			want: map[string]string{"Accept": "text/html", "Accept-Language": "de", "Accept-Encoding": "gzip", "User-Agent": "viewer/1",
				"X-One": "1", "X-Two": "2", "Authorization": "Bearer t", "Cookie": "a=1; b=2; c=3"},
			wantQuery: query,
		},
		{
			name: "origin request policy allExcept, no normalisation",
			cp:   cachePolicy(false, nil, nil, nil),
			orp: originPolicy(&portico.HeadersConfig{HeaderBehavior: portico.BehaviorAllExcept, Headers: names("x-two", "user-agent")},
				portico.BehaviorWhitelist, portico.BehaviorWhitelist, []string{"a"}, []string{"m", "z"}),
			want: map[string]string{"Accept": "text/html", "Accept-Encoding": "br, gzip", "User-Agent": "Amazon CloudFront",
				"X-One": "1", "X-Two": "", "Cookie": "a=1"},
			wantQuery: "z=1&m=3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, pol := policyBehavior(t, tt.cp, tt.orp)
			p, err := origin.New(originConfig(), b, pol, newTransports(ca, o.addr(), nil), nil)
			if err != nil {
				t.Fatal(err)
			}
			e := newEdge(t, p)
			req := newRequest(t, "GET", e.URL+"/p?"+query, nil)
			for k, v := range viewerHeaders {
				req.Header[k] = v
			}
			do(t, req)
			got := o.last(t)
			for name, want := range tt.want {
				if v := got.Header.Get(name); v != want {
					t.Errorf("origin got %s %q, want %q", name, v, want)
				}
			}
			if got.RawQuery != tt.wantQuery {
				t.Errorf("origin got query %q, want %q", got.RawQuery, tt.wantQuery)
			}
		})
	}
}
