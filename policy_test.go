package portico

import (
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// customCachePolicy returns a valid cache policy that keys on two headers,
// one cookie and two query string parameters.
func customCachePolicy() *CachePolicyConfig {
	return &CachePolicyConfig{
		Name:       "auth0-login",
		Comment:    Ptr("keys on the Auth0 headers"),
		MinTTL:     Ptr[int64](0),
		DefaultTTL: Ptr[int64](60),
		MaxTTL:     Ptr[int64](3600),
		ParametersInCacheKeyAndForwardedToOrigin: &CacheKeyParameters{
			EnableAcceptEncodingGzip:   Ptr(true),
			EnableAcceptEncodingBrotli: Ptr(true),
			HeadersConfig:              &HeadersConfig{HeaderBehavior: "whitelist", Headers: &Names{Quantity: 2, Items: []string{"authorization", "Origin"}}},
			CookiesConfig:              &CookiesConfig{CookieBehavior: "whitelist", Cookies: &Names{Quantity: 1, Items: []string{"session"}}},
			QueryStringsConfig:         &QueryStringsConfig{QueryStringBehavior: "whitelist", QueryStrings: &Names{Quantity: 2, Items: []string{"state", "code"}}},
		},
	}
}

func customOriginPolicy() *OriginRequestPolicyConfig {
	return &OriginRequestPolicyConfig{
		Name:               "forward-more",
		HeadersConfig:      &HeadersConfig{HeaderBehavior: "whitelist", Headers: &Names{Quantity: 2, Items: []string{"Referer", "CloudFront-Viewer-Country"}}},
		CookiesConfig:      &CookiesConfig{CookieBehavior: "all"},
		QueryStringsConfig: &QueryStringsConfig{QueryStringBehavior: "allExcept", QueryStrings: &Names{Quantity: 1, Items: []string{"utm_source"}}},
	}
}

func customHeadersPolicy() *ResponseHeadersPolicyConfig {
	return &ResponseHeadersPolicyConfig{
		Name: "security",
		CorsConfig: &CorsConfig{
			AccessControlAllowOrigins:     &CorsOrigins{Quantity: 1, Items: []string{"https://app.example.com"}},
			AccessControlAllowHeaders:     &HeaderNames{Quantity: 1, Items: []string{"Authorization"}},
			AccessControlAllowMethods:     &Methods{Quantity: 2, Items: []string{"GET", "POST"}},
			AccessControlAllowCredentials: Ptr(true),
			AccessControlMaxAgeSec:        Ptr(600),
			OriginOverride:                Ptr(true),
		},
		SecurityHeadersConfig: &SecurityHeadersConfig{
			StrictTransportSecurity: &StrictTransportSecurity{Override: Ptr(true), AccessControlMaxAgeSec: Ptr(63072000), IncludeSubdomains: Ptr(true)},
			ContentSecurityPolicy:   &ContentSecurityPolicy{Override: Ptr(true), ContentSecurityPolicy: "default-src 'self'"},
			FrameOptions:            &FrameOptions{Override: Ptr(true), FrameOption: "DENY"},
		},
		ServerTimingHeadersConfig: &ServerTimingHeadersConfig{Enabled: Ptr(true), SamplingRate: Ptr("12.5")},
		CustomHeadersConfig:       &ResponseCustomHeaders{Quantity: 1, Items: []ResponseCustomHeader{{Header: "X-Served-By", Value: "portico", Override: Ptr(false)}}},
		RemoveHeadersConfig:       &ResponseRemoveHeaders{Quantity: 1, Items: []ResponseRemoveHeader{{Header: "Server"}}},
	}
}

// wantCode fails unless err is an *Error with code (none when code is "")
// and, when status is not 0, that status.
func wantCode(t *testing.T, err error, code string, status int) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("error = %v, want none", err)
		}
		return
	}
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("error = %v, want %s", err, code)
	}
	if status != 0 && pe.Status != status {
		t.Fatalf("status = %d, want %d", pe.Status, status)
	}
}

// TestCachePolicyValidate names, for each rule, the error CloudFront's
// service model gives a cache policy that breaks it (API reference,
// CreateCachePolicy and CachePolicyConfig; DG cloudfront-limits).
func TestCachePolicyValidate(t *testing.T) {
	params := func(c *CachePolicyConfig) *CacheKeyParameters { return c.ParametersInCacheKeyAndForwardedToOrigin }
	tests := []struct {
		name   string
		change func(c *CachePolicyConfig)
		code   string
	}{
		{"valid", func(*CachePolicyConfig) {}, ""},
		{"only the required elements", func(c *CachePolicyConfig) {
			c.Comment, c.DefaultTTL, c.MaxTTL, params(c).EnableAcceptEncodingBrotli = nil, nil, nil, nil
		}, ""},
		{"header quantity mismatch", func(c *CachePolicyConfig) { params(c).HeadersConfig.Headers.Quantity = 3 }, ErrInconsistentQuantities},
		{"cookie quantity mismatch", func(c *CachePolicyConfig) { params(c).CookiesConfig.Cookies.Quantity = 0 }, ErrInconsistentQuantities},
		{"query quantity mismatch", func(c *CachePolicyConfig) { params(c).QueryStringsConfig.QueryStrings.Quantity = 1 }, ErrInconsistentQuantities},
		{"no Name", func(c *CachePolicyConfig) { c.Name = "" }, ErrInvalidArgument},
		{"Name with a space", func(c *CachePolicyConfig) { c.Name = "my policy" }, ErrInvalidArgument},
		{"Name of 129 characters", func(c *CachePolicyConfig) { c.Name = strings.Repeat("a", 129) }, ErrInvalidArgument},
		{"Name of 128 characters", func(c *CachePolicyConfig) { c.Name = strings.Repeat("a", 128) }, ""},
		{"Comment of 129 characters", func(c *CachePolicyConfig) { c.Comment = Ptr(strings.Repeat("c", 129)) }, ErrInvalidArgument},
		{"no MinTTL", func(c *CachePolicyConfig) { c.MinTTL = nil }, ErrInvalidArgument},
		{"negative MinTTL", func(c *CachePolicyConfig) { c.MinTTL = Ptr[int64](-1) }, ErrInvalidArgument},
		{"MinTTL above DefaultTTL", func(c *CachePolicyConfig) { c.MinTTL = Ptr[int64](61) }, ErrInvalidArgument},
		{"DefaultTTL above MaxTTL", func(c *CachePolicyConfig) { c.DefaultTTL = Ptr[int64](3601) }, ErrInvalidArgument},
		{"MinTTL above the default DefaultTTL raises it", func(c *CachePolicyConfig) {
			c.MinTTL, c.DefaultTTL, c.MaxTTL = Ptr[int64](100000), nil, nil
		}, ""},
		{"no parameters", func(c *CachePolicyConfig) { c.ParametersInCacheKeyAndForwardedToOrigin = nil }, ErrInvalidArgument},
		{"no EnableAcceptEncodingGzip", func(c *CachePolicyConfig) { params(c).EnableAcceptEncodingGzip = nil }, ErrInvalidArgument},
		{"no HeadersConfig", func(c *CachePolicyConfig) { params(c).HeadersConfig = nil }, ErrInvalidArgument},
		{"no CookiesConfig", func(c *CachePolicyConfig) { params(c).CookiesConfig = nil }, ErrInvalidArgument},
		{"no QueryStringsConfig", func(c *CachePolicyConfig) { params(c).QueryStringsConfig = nil }, ErrInvalidArgument},
		{"header behavior allViewer", func(c *CachePolicyConfig) { params(c).HeadersConfig.HeaderBehavior = "allViewer" }, ErrInvalidArgument},
		{"header behavior missing", func(c *CachePolicyConfig) { params(c).HeadersConfig.HeaderBehavior = "" }, ErrInvalidArgument},
		{"whitelist without names", func(c *CachePolicyConfig) { params(c).HeadersConfig.Headers = nil }, ErrInvalidArgument},
		{"none with names", func(c *CachePolicyConfig) { params(c).CookiesConfig.CookieBehavior = "none" }, ErrInvalidArgument},
		{"all with names", func(c *CachePolicyConfig) { params(c).QueryStringsConfig.QueryStringBehavior = "all" }, ErrInvalidArgument},
		{"allExcept cookies", func(c *CachePolicyConfig) { params(c).CookiesConfig.CookieBehavior = "allExcept" }, ""},
		{"invalid header name", func(c *CachePolicyConfig) { params(c).HeadersConfig.Headers.Items[0] = "Bad Header" }, ErrInvalidArgument},
		{"header listed twice in another case", func(c *CachePolicyConfig) {
			params(c).HeadersConfig.Headers = &Names{Quantity: 2, Items: []string{"Origin", "origin"}}
		}, ErrInvalidArgument},
		{"query name with =", func(c *CachePolicyConfig) { params(c).QueryStringsConfig.QueryStrings.Items[0] = "a=b" }, ErrInvalidArgument},
		{"eleven headers", func(c *CachePolicyConfig) { params(c).HeadersConfig.Headers = numbered("X-H", 11) }, ErrTooManyHeadersInCachePolicy},
		{"ten headers", func(c *CachePolicyConfig) { params(c).HeadersConfig.Headers = numbered("X-H", 10) }, ""},
		{"eleven cookies", func(c *CachePolicyConfig) { params(c).CookiesConfig.Cookies = numbered("c", 11) }, ErrTooManyCookiesInCachePolicy},
		{"eleven query strings", func(c *CachePolicyConfig) { params(c).QueryStringsConfig.QueryStrings = numbered("q", 11) }, ErrTooManyQueryStringsInCachePolicy},
		{"keyed on CloudFront-Viewer-Address", func(c *CachePolicyConfig) {
			params(c).HeadersConfig.Headers = &Names{Quantity: 1, Items: []string{"cloudfront-viewer-address"}}
		}, ErrInvalidArgument},
		{"keyed on CloudFront-Viewer-TLS", func(c *CachePolicyConfig) {
			params(c).HeadersConfig.Headers = &Names{Quantity: 1, Items: []string{"CloudFront-Viewer-TLS"}}
		}, ErrInvalidArgument},
		{"keyed on CloudFront-Is-Mobile-Viewer", func(c *CachePolicyConfig) {
			params(c).HeadersConfig.Headers = &Names{Quantity: 1, Items: []string{"CloudFront-Is-Mobile-Viewer"}}
		}, ""},
		{"caching disabled with a key", func(c *CachePolicyConfig) {
			c.MinTTL, c.DefaultTTL, c.MaxTTL = Ptr[int64](0), Ptr[int64](0), Ptr[int64](0)
		}, ErrInvalidArgument},
		{"caching disabled with gzip", func(c *CachePolicyConfig) {
			*c = *managedCache(t, ManagedCachingDisabled)
			params(c).EnableAcceptEncodingGzip = Ptr(true)
		}, ErrInvalidArgument},
		{"caching disabled with nothing keyed", func(c *CachePolicyConfig) { *c = *managedCache(t, ManagedCachingDisabled) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := customCachePolicy()
			tt.change(c)
			err := c.Validate()
			wantCode(t, err, tt.code, 400)
		})
	}
}

// managedCache returns a copy of the configuration of the managed
// cache policy id.
func managedCache(t *testing.T, id string) *CachePolicyConfig {
	t.Helper()
	p, ok := FindManaged(ManagedCachePolicies(), id)
	if !ok {
		t.Fatalf("no managed cache policy %s", id)
	}
	return &p.Config
}

func numbered(prefix string, n int) *Names {
	items := make([]string, n)
	for i := range items {
		items[i] = prefix + string(rune('a'+i))
	}
	return &Names{Quantity: n, Items: items}
}

func TestCachePolicyTTLs(t *testing.T) {
	tests := []struct {
		name                  string
		minTTL, defTTL, maxTT *int64
		want                  [3]int64
	}{
		{"all given", Ptr[int64](1), Ptr[int64](2), Ptr[int64](3), [3]int64{1, 2, 3}},
		{"defaults", Ptr[int64](0), nil, nil, [3]int64{0, 86400, 31536000}},
		{"MinTTL above the default DefaultTTL", Ptr[int64](100000), nil, nil, [3]int64{100000, 100000, 31536000}},
		{"DefaultTTL above the default MaxTTL", Ptr[int64](0), Ptr[int64](40000000), nil, [3]int64{0, 40000000, 40000000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := CachePolicyConfig{MinTTL: tt.minTTL, DefaultTTL: tt.defTTL, MaxTTL: tt.maxTT}
			minTTL, defTTL, maxTTL := c.TTLs()
			if got := [3]int64{minTTL, defTTL, maxTTL}; got != tt.want {
				t.Errorf("TTLs() = %v, want %v (API reference, CachePolicyConfig)", got, tt.want)
			}
		})
	}
}

// TestOriginRequestPolicyValidate: API reference, CreateOriginRequestPolicy
// and OriginRequestPolicyHeadersConfig; AWS knowledge center,
// cloudfront-authorization-header.
func TestOriginRequestPolicyValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *OriginRequestPolicyConfig)
		code   string
	}{
		{"valid", func(*OriginRequestPolicyConfig) {}, ""},
		{"header quantity mismatch", func(c *OriginRequestPolicyConfig) { c.HeadersConfig.Headers.Quantity = 5 }, ErrInconsistentQuantities},
		{"no Name", func(c *OriginRequestPolicyConfig) { c.Name = "" }, ErrInvalidArgument},
		{"no HeadersConfig", func(c *OriginRequestPolicyConfig) { c.HeadersConfig = nil }, ErrInvalidArgument},
		{"no CookiesConfig", func(c *OriginRequestPolicyConfig) { c.CookiesConfig = nil }, ErrInvalidArgument},
		{"no QueryStringsConfig", func(c *OriginRequestPolicyConfig) { c.QueryStringsConfig = nil }, ErrInvalidArgument},
		{"Authorization whitelisted", func(c *OriginRequestPolicyConfig) {
			c.HeadersConfig.Headers = &Names{Quantity: 1, Items: []string{"authorization"}}
		}, ErrInvalidArgument},
		{"allViewer", func(c *OriginRequestPolicyConfig) { c.HeadersConfig = &HeadersConfig{HeaderBehavior: "allViewer"} }, ""},
		{"allViewer with names", func(c *OriginRequestPolicyConfig) { c.HeadersConfig.HeaderBehavior = "allViewer" }, ErrInvalidArgument},
		{"allExcept Host", func(c *OriginRequestPolicyConfig) {
			c.HeadersConfig = &HeadersConfig{HeaderBehavior: "allExcept", Headers: &Names{Quantity: 1, Items: []string{"host"}}}
		}, ""},
		{"allViewerAndWhitelistCloudFront", func(c *OriginRequestPolicyConfig) {
			c.HeadersConfig = &HeadersConfig{HeaderBehavior: "allViewerAndWhitelistCloudFront", Headers: &Names{Quantity: 1, Items: []string{"CloudFront-Viewer-Country"}}}
		}, ""},
		{"allViewerAndWhitelistCloudFront with a viewer header", func(c *OriginRequestPolicyConfig) {
			c.HeadersConfig = &HeadersConfig{HeaderBehavior: "allViewerAndWhitelistCloudFront", Headers: &Names{Quantity: 1, Items: []string{"Referer"}}}
		}, ErrInvalidArgument},
		{"allViewerAndWhitelistCloudFront without names", func(c *OriginRequestPolicyConfig) {
			c.HeadersConfig = &HeadersConfig{HeaderBehavior: "allViewerAndWhitelistCloudFront"}
		}, ErrInvalidArgument},
		{"unknown header behavior", func(c *OriginRequestPolicyConfig) { c.HeadersConfig.HeaderBehavior = "everything" }, ErrInvalidArgument},
		{"cookie allExcept without names", func(c *OriginRequestPolicyConfig) { c.CookiesConfig.CookieBehavior = "allExcept" }, ErrInvalidArgument},
		{"eleven headers", func(c *OriginRequestPolicyConfig) { c.HeadersConfig.Headers = numbered("X-H", 11) }, ErrTooManyHeadersInOriginRequestPolicy},
		{"eleven cookies", func(c *OriginRequestPolicyConfig) {
			c.CookiesConfig = &CookiesConfig{CookieBehavior: "whitelist", Cookies: numbered("c", 11)}
		}, ErrTooManyCookiesInOriginRequestPolicy},
		{"eleven query strings", func(c *OriginRequestPolicyConfig) { c.QueryStringsConfig.QueryStrings = numbered("q", 11) }, ErrTooManyQueryStringsInOriginRequestPolicy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := customOriginPolicy()
			tt.change(c)
			wantCode(t, c.Validate(), tt.code, 400)
		})
	}
}

// TestResponseHeadersPolicyValidate: API reference,
// CreateResponseHeadersPolicy and the ResponseHeadersPolicy* types.
func TestResponseHeadersPolicyValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *ResponseHeadersPolicyConfig)
		code   string
	}{
		{"valid", func(*ResponseHeadersPolicyConfig) {}, ""},
		{"name only", func(c *ResponseHeadersPolicyConfig) { *c = ResponseHeadersPolicyConfig{Name: "empty"} }, ""},
		{"origins quantity mismatch", func(c *ResponseHeadersPolicyConfig) { c.CorsConfig.AccessControlAllowOrigins.Quantity = 2 }, ErrInconsistentQuantities},
		{"custom headers quantity mismatch", func(c *ResponseHeadersPolicyConfig) { c.CustomHeadersConfig.Quantity = 0 }, ErrInconsistentQuantities},
		{"no Name", func(c *ResponseHeadersPolicyConfig) { c.Name = "" }, ErrInvalidArgument},
		{"CORS without origins", func(c *ResponseHeadersPolicyConfig) { c.CorsConfig.AccessControlAllowOrigins = nil }, ErrInvalidArgument},
		{"CORS without methods", func(c *ResponseHeadersPolicyConfig) { c.CorsConfig.AccessControlAllowMethods = &Methods{} }, ErrInvalidArgument},
		{"CORS without AllowHeaders", func(c *ResponseHeadersPolicyConfig) { c.CorsConfig.AccessControlAllowHeaders = nil }, ErrInvalidArgument},
		{"CORS without OriginOverride", func(c *ResponseHeadersPolicyConfig) { c.CorsConfig.OriginOverride = nil }, ErrInvalidArgument},
		{"CORS method TRACE", func(c *ResponseHeadersPolicyConfig) { c.CorsConfig.AccessControlAllowMethods.Items[1] = "TRACE" }, ErrInvalidArgument},
		{"credentials with any origin", func(c *ResponseHeadersPolicyConfig) { c.CorsConfig.AccessControlAllowOrigins.Items[0] = "*" }, ErrInvalidArgument},
		{"negative max age", func(c *ResponseHeadersPolicyConfig) { c.CorsConfig.AccessControlMaxAgeSec = Ptr(-1) }, ErrInvalidArgument},
		{"frame option ALLOW-FROM", func(c *ResponseHeadersPolicyConfig) { c.SecurityHeadersConfig.FrameOptions.FrameOption = "ALLOW-FROM" }, ErrInvalidArgument},
		{"referrer policy", func(c *ResponseHeadersPolicyConfig) {
			c.SecurityHeadersConfig.ReferrerPolicy = &ReferrerPolicy{Override: Ptr(false), ReferrerPolicy: "strict-origin"}
		}, ""},
		{"bad referrer policy", func(c *ResponseHeadersPolicyConfig) {
			c.SecurityHeadersConfig.ReferrerPolicy = &ReferrerPolicy{Override: Ptr(false), ReferrerPolicy: "never"}
		}, ErrInvalidArgument},
		{"CSP of 1784 characters", func(c *ResponseHeadersPolicyConfig) {
			c.SecurityHeadersConfig.ContentSecurityPolicy.ContentSecurityPolicy = strings.Repeat("a", 1784)
		}, ErrTooLongCSPInResponseHeadersPolicy},
		{"CSP with a newline", func(c *ResponseHeadersPolicyConfig) {
			c.SecurityHeadersConfig.ContentSecurityPolicy.ContentSecurityPolicy = "a\r\nSet-Cookie: x"
		}, ErrInvalidArgument},
		{"HSTS without max age", func(c *ResponseHeadersPolicyConfig) {
			c.SecurityHeadersConfig.StrictTransportSecurity.AccessControlMaxAgeSec = nil
		}, ErrInvalidArgument},
		{"XSS block and report", func(c *ResponseHeadersPolicyConfig) {
			c.SecurityHeadersConfig.XSSProtection = &XSSProtection{Override: Ptr(true), Protection: Ptr(true), ModeBlock: Ptr(true), ReportURI: Ptr("https://r.example.com")}
		}, ErrInvalidArgument},
		{"XSS report without protection", func(c *ResponseHeadersPolicyConfig) {
			c.SecurityHeadersConfig.XSSProtection = &XSSProtection{Override: Ptr(true), Protection: Ptr(false), ReportURI: Ptr("https://r.example.com")}
		}, ErrInvalidArgument},
		{"server timing without Enabled", func(c *ResponseHeadersPolicyConfig) { c.ServerTimingHeadersConfig.Enabled = nil }, ErrInvalidArgument},
		{"sampling rate 100.0001", func(c *ResponseHeadersPolicyConfig) { c.ServerTimingHeadersConfig.SamplingRate = Ptr("100.0001") }, ErrInvalidArgument},
		{"sampling rate with five decimals", func(c *ResponseHeadersPolicyConfig) { c.ServerTimingHeadersConfig.SamplingRate = Ptr("1.00001") }, ErrInvalidArgument},
		{"sampling rate 100", func(c *ResponseHeadersPolicyConfig) { c.ServerTimingHeadersConfig.SamplingRate = Ptr("100") }, ""},
		{"eleven custom headers", func(c *ResponseHeadersPolicyConfig) {
			items := make([]ResponseCustomHeader, 11)
			for i := range items {
				items[i] = ResponseCustomHeader{Header: "X-" + string(rune('a'+i)), Value: "v", Override: Ptr(true)}
			}
			c.CustomHeadersConfig = &ResponseCustomHeaders{Quantity: 11, Items: items}
		}, ErrTooManyCustomHeadersInResponseHeadersPolicy},
		{"custom header value with a newline", func(c *ResponseHeadersPolicyConfig) { c.CustomHeadersConfig.Items[0].Value = "a\nb" }, ErrInvalidArgument},
		{"custom header without Override", func(c *ResponseHeadersPolicyConfig) { c.CustomHeadersConfig.Items[0].Override = nil }, ErrInvalidArgument},
		{"eleven headers to remove", func(c *ResponseHeadersPolicyConfig) {
			items := make([]ResponseRemoveHeader, 11)
			for i := range items {
				items[i] = ResponseRemoveHeader{Header: "X-" + string(rune('a'+i))}
			}
			c.RemoveHeadersConfig = &ResponseRemoveHeaders{Quantity: 11, Items: items}
		}, ErrTooManyRemoveHeadersInResponseHeadersPolicy},
		{"removing Content-Length", func(c *ResponseHeadersPolicyConfig) { c.RemoveHeadersConfig.Items[0].Header = "content-length" }, ErrInvalidArgument},
		{"removing X-Amz-Cf-Id", func(c *ResponseHeadersPolicyConfig) { c.RemoveHeadersConfig.Items[0].Header = "X-Amz-Cf-Id" }, ErrInvalidArgument},
		{"adding and removing one header", func(c *ResponseHeadersPolicyConfig) { c.RemoveHeadersConfig.Items[0].Header = "x-served-by" }, ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := customHeadersPolicy()
			tt.change(c)
			wantCode(t, c.Validate(), tt.code, 400)
		})
	}
}

func TestPolicyErrorStatus(t *testing.T) {
	tests := map[string]int{
		ErrNoSuchCachePolicy:           http.StatusNotFound,
		ErrNoSuchOriginRequestPolicy:   http.StatusNotFound,
		ErrNoSuchResponseHeadersPolicy: http.StatusNotFound,
		ErrCachePolicyAlreadyExists:    http.StatusConflict,
		ErrCachePolicyInUse:            http.StatusConflict,
		ErrResponseHeadersPolicyInUse:  http.StatusConflict,
		ErrIllegalDelete:               http.StatusBadRequest,
		ErrTooManyCachePolicies:        http.StatusBadRequest,
	}
	for code, status := range tests {
		if got := Errorf(code, "x").Status; got != status {
			t.Errorf("Errorf(%s).Status = %d, want %d", code, got, status)
		}
	}
}

// TestManagedPolicies checks the managed policies against the IDs and
// settings AWS publishes (DG "Use managed cache policies", "Use managed
// origin request policies", "Use managed response headers policies"), and
// that each is a configuration Portico itself would accept.
func TestManagedPolicies(t *testing.T) {
	cache := ManagedCachePolicies()
	origin := ManagedOriginRequestPolicies()
	headers := ManagedResponseHeadersPolicies()

	wantCache := map[string]string{
		"658327ea-f89d-4fab-a63d-7e88639e58f6": "Managed-CachingOptimized",
		"b2884449-e4de-46a7-ac36-70bc7f1ddd6d": "Managed-CachingOptimizedForUncompressedObjects",
		"4135ea2d-6df8-44a3-9df3-4b5a84be39ad": "Managed-CachingDisabled",
		"08627262-05a9-4f76-9ded-b50ca2e3a84f": "Managed-Elemental-MediaPackage",
		"2e54312d-136d-493c-8eb9-b001f22f67d2": "Managed-Amplify",
		"83da9c7e-98b4-4e11-a168-04f0df8e2c65": "UseOriginCacheControlHeaders",
		"4cc15a8a-d715-48a4-82b8-cc0b614638fe": "UseOriginCacheControlHeaders-QueryStrings",
	}
	wantOrigin := map[string]string{
		"216adef6-5c7f-47e4-b989-5492eafa07d3": "Managed-AllViewer",
		"33f36d7e-f396-46d9-90e0-52428a34d9dc": "Managed-AllViewerAndCloudFrontHeaders-2022-06",
		"b689b0a8-53d0-40ab-baf2-68738e2966ac": "Managed-AllViewerExceptHostHeader",
		"59781a5b-3903-41f3-afcb-af62929ccde1": "Managed-CORS-CustomOrigin",
		"88a5eaf4-2fd4-4709-b370-b4c650ea3fcf": "Managed-CORS-S3Origin",
		"775133bc-15f2-49f9-abea-afb2e0bf67d2": "Managed-Elemental-MediaTailor-PersonalizedManifests",
		"acba4595-bd28-49b8-b9fe-13317c0390fa": "Managed-UserAgentRefererHeaders",
	}
	wantHeaders := map[string]string{
		"e61eb60c-9c35-4d20-a928-2b84e02af89c": "Managed-CORS-and-SecurityHeadersPolicy",
		"5cc3b908-e619-4b99-88e5-2cf7f45965bd": "Managed-CORS-With-Preflight",
		"eaab4381-ed33-4a86-88ca-d9558dc6cd63": "Managed-CORS-with-preflight-and-SecurityHeadersPolicy",
		"67f7725c-6f97-4210-82d7-5512b31e9d03": "Managed-SecurityHeadersPolicy",
		"60669652-455b-4ae9-85a4-c4c02393f86c": "Managed-SimpleCORS",
	}
	checkList(t, "cache", cache, wantCache, func(p CachePolicy) (string, error) { return p.Config.Name, p.Config.Validate() })
	checkList(t, "origin request", origin, wantOrigin, func(p OriginRequestPolicy) (string, error) { return p.Config.Name, p.Config.Validate() })
	checkList(t, "response headers", headers, wantHeaders, func(p ResponseHeadersPolicy) (string, error) { return p.Config.Name, p.Config.Validate() })

	// Settings the developer guide lists for the policies Auth0 setups use.
	opt := managedCache(t, ManagedCachingOptimized)
	if minTTL, defTTL, maxTTL := opt.TTLs(); minTTL != 1 || defTTL != 86400 || maxTTL != 31536000 ||
		!*opt.ParametersInCacheKeyAndForwardedToOrigin.EnableAcceptEncodingBrotli {
		t.Errorf("CachingOptimized = %+v", opt)
	}
	dis := managedCache(t, ManagedCachingDisabled)
	if minTTL, defTTL, maxTTL := dis.TTLs(); minTTL != 0 || defTTL != 0 || maxTTL != 0 {
		t.Errorf("CachingDisabled TTLs = %d %d %d, want 0 0 0", minTTL, defTTL, maxTTL)
	}
	all, _ := FindManaged(origin, ManagedAllViewer)
	if c := all.Config; c.HeadersConfig.HeaderBehavior != "allViewer" || c.CookiesConfig.CookieBehavior != "all" || c.QueryStringsConfig.QueryStringBehavior != "all" {
		t.Errorf("AllViewer = %+v", c)
	}

	// Every call returns a copy: changing one cannot change the next.
	cache[0].Config.Name = "changed"
	if ManagedCachePolicies()[0].Config.Name == "changed" {
		t.Error("ManagedCachePolicies returns shared state")
	}
	if _, ok := FindManaged(cache, "00000000-0000-4000-8000-000000000000"); ok {
		t.Error("FindManaged found an unknown ID")
	}
}

func checkList[C any](t *testing.T, kind string, ps []Policy[C], want map[string]string, inspect func(Policy[C]) (string, error)) {
	t.Helper()
	names := map[string]bool{}
	etags := map[string]bool{}
	for i, p := range ps {
		name, err := inspect(p)
		if err != nil {
			t.Errorf("managed %s policy %s (%s) does not validate: %v", kind, p.ID, name, err)
		}
		if !p.Managed || !isUUID(p.ID) || len(p.ETag) != 14 || p.LastModifiedTime.IsZero() {
			t.Errorf("managed %s policy %+v lacks an ID, ETag or time", kind, p)
		}
		if names[name] || etags[p.ETag] {
			t.Errorf("managed %s policy name %s or ETag %s repeats", kind, name, p.ETag)
		}
		names[name], etags[p.ETag] = true, true
		if i > 0 && ps[i-1].ID >= p.ID {
			t.Errorf("managed %s policies are not sorted by ID at %s", kind, p.ID)
		}
		if wantName, ok := want[p.ID]; ok && wantName != name {
			t.Errorf("managed %s policy %s is named %s, want %s", kind, p.ID, name, wantName)
		}
		delete(want, p.ID)
	}
	for id, name := range want {
		t.Errorf("managed %s policy %s (%s) is missing", kind, id, name)
	}
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f'):
			return false
		}
	}
	return true
}

func TestSelectionIncludes(t *testing.T) {
	tests := []struct {
		name string
		s    Selection
		in   []string
		out  []string
	}{
		{"none", Selection{}, nil, []string{"a"}},
		{"all", Selection{Mode: SelectAll}, []string{"a", ""}, nil},
		{"whitelist", Selection{Mode: SelectWhitelist, Names: []string{"a", "c"}}, []string{"a", "c"}, []string{"b", "A"}},
		{"allExcept", Selection{Mode: SelectAllExcept, Names: []string{"b"}}, []string{"a", "B"}, []string{"b"}},
		// DG Cookies: legacy whitelisted cookie names may use * and ?.
		{"wildcards", Selection{Mode: SelectWhitelist, Names: []string{"sess*", "ab?d", "*x*"}, Wildcards: true},
			[]string{"sess", "session", "abcd", "axb", "x"}, []string{"Session", "abd", "abcde", "y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, n := range tt.in {
				if !tt.s.Includes(n) {
					t.Errorf("%v does not include %q", tt.s, n)
				}
			}
			for _, n := range tt.out {
				if tt.s.Includes(n) {
					t.Errorf("%v includes %q", tt.s, n)
				}
			}
		})
	}
}

func TestSelectionUnion(t *testing.T) {
	wl := func(n ...string) Selection { return Selection{Mode: SelectWhitelist, Names: n} }
	ex := func(n ...string) Selection { return Selection{Mode: SelectAllExcept, Names: n} }
	all := Selection{Mode: SelectAll}
	tests := []struct {
		a, b, want Selection
	}{
		{Selection{}, wl("a"), wl("a")},
		{wl("a"), Selection{}, wl("a")},
		{wl("b"), wl("a", "b"), wl("a", "b")},
		{wl("a"), all, all},
		{ex("a", "b"), wl("a"), ex("b")},
		{wl("a", "b"), ex("a", "b"), all},
		{ex("a", "b"), ex("b", "c"), ex("b")},
		{ex("a"), ex("b"), all},
	}
	for _, tt := range tests {
		if got := union(tt.a, tt.b); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("union(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// legacyBehavior returns a behaviour with legacy settings.
func legacyBehavior(query bool, cookies string, headers ...string) *CacheBehavior {
	fv := &ForwardedValues{QueryString: Ptr(query), Cookies: &CookiePreference{Forward: cookies}}
	if len(headers) > 0 {
		fv.Headers = &Names{Quantity: len(headers), Items: headers}
	}
	return &CacheBehavior{TargetOriginID: "o", ViewerProtocolPolicy: "https-only", ForwardedValues: fv}
}

func policyBehavior(cacheID, originID string) *CacheBehavior {
	b := &CacheBehavior{TargetOriginID: "o", ViewerProtocolPolicy: "https-only", CachePolicyID: Ptr(cacheID)}
	if originID != "" {
		b.OriginRequestPolicyID = Ptr(originID)
	}
	return b
}

func managedOrigin(t *testing.T, id string) *OriginRequestPolicyConfig {
	t.Helper()
	p, ok := FindManaged(ManagedOriginRequestPolicies(), id)
	if !ok {
		t.Fatalf("no managed origin request policy %s", id)
	}
	return &p.Config
}

func sel(mode SelectMode, names ...string) Selection {
	return Selection{Mode: mode, Names: names}
}

// TestResolveBehavior checks each rule of ResolveBehavior against the AWS
// page that states it.
func TestResolveBehavior(t *testing.T) {
	withheld := func(except ...string) Selection {
		return Selection{Mode: SelectAllExcept, Names: slices.DeleteFunc(slices.Clone(legacyWithheld), func(h string) bool { return slices.Contains(except, h) })}
	}
	tests := []struct {
		name   string
		source string
		b      *CacheBehavior
		cache  *CachePolicyConfig
		origin *OriginRequestPolicyConfig
		want   ResolvedPolicy
	}{
		{
			name:   "legacy, nothing forwarded: default headers only, TTL defaults",
			source: "DG header-caching (forward only the default headers); DG distribution-web-values-specify (TTL defaults)",
			b:      legacyBehavior(false, "none"),
			want: ResolvedPolicy{Legacy: true, MinTTL: 0, DefaultTTL: 86400, MaxTTL: 31536000,
				Key:     KeyParams{AcceptEncodingGzip: true, AcceptEncodingBrotli: true},
				Forward: ForwardParams{Headers: withheld()}},
		},
		{
			name:   "legacy Auth0 seed: whitelisted headers keyed and forwarded, all cookies, all query strings",
			source: "DG header-caching; DG Cookies; DG QueryStringParameters; reference/cloudfront.md §1",
			b:      legacyBehavior(true, "all", "User-Agent", "origin", "Referer", "authorization", "Accept", "Accept-Language"),
			want: ResolvedPolicy{Legacy: true, MinTTL: 0, DefaultTTL: 86400, MaxTTL: 31536000,
				Key: KeyParams{
					Headers:      sel(SelectWhitelist, "Accept", "Accept-Language", "Authorization", "Origin", "Referer", "User-Agent"),
					Cookies:      sel(SelectAll),
					QueryStrings: sel(SelectAll),
					// Accept-Encoding is not whitelisted: normalised.
					AcceptEncodingGzip: true, AcceptEncodingBrotli: true,
				},
				Forward: ForwardParams{
					Headers:      withheld("Accept", "Accept-Language", "Authorization", "Referer", "User-Agent"),
					Cookies:      sel(SelectAll),
					QueryStrings: sel(SelectAll),
				}},
		},
		{
			name:   "legacy * forwards and keys every header, so nothing is cached",
			source: "DG header-caching (forward all headers: CloudFront doesn't cache)",
			b:      legacyBehavior(false, "none", "*"),
			want: ResolvedPolicy{Legacy: true, MinTTL: 0, DefaultTTL: 86400, MaxTTL: 31536000,
				Key:     KeyParams{Headers: sel(SelectAll)},
				Forward: ForwardParams{Headers: sel(SelectAll)}},
		},
		{
			name:   "legacy whitelisted Accept-Encoding is keyed as sent, not normalised",
			source: "DG controlling-the-cache-key (compressed objects disabled: Accept-Encoding is like any header)",
			b:      legacyBehavior(false, "none", "Accept-Encoding"),
			want: ResolvedPolicy{Legacy: true, MinTTL: 0, DefaultTTL: 86400, MaxTTL: 31536000,
				Key:     KeyParams{Headers: sel(SelectWhitelist, "Accept-Encoding")},
				Forward: ForwardParams{Headers: withheld("Accept-Encoding")}},
		},
		{
			name:   "legacy query string cache keys: all forwarded, listed keyed; cookie wildcards",
			source: "DG QueryStringParameters; DG Cookies (wildcards in whitelisted names)",
			b: func() *CacheBehavior {
				b := legacyBehavior(true, "whitelist")
				b.ForwardedValues.Cookies.WhitelistedNames = &Names{Quantity: 2, Items: []string{"sess*", "lang"}}
				b.ForwardedValues.QueryStringCacheKeys = &Names{Quantity: 2, Items: []string{"page", "lang"}}
				b.MinTTL, b.DefaultTTL, b.MaxTTL = Ptr[int64](5), Ptr[int64](10), Ptr[int64](20)
				return b
			}(),
			want: ResolvedPolicy{Legacy: true, MinTTL: 5, DefaultTTL: 10, MaxTTL: 20,
				Key: KeyParams{
					Cookies:            Selection{Mode: SelectWhitelist, Names: []string{"lang", "sess*"}, Wildcards: true},
					QueryStrings:       sel(SelectWhitelist, "lang", "page"),
					AcceptEncodingGzip: true, AcceptEncodingBrotli: true,
				},
				Forward: ForwardParams{
					Headers:      withheld(),
					Cookies:      Selection{Mode: SelectWhitelist, Names: []string{"lang", "sess*"}, Wildcards: true},
					QueryStrings: sel(SelectAll),
				}},
		},
		{
			name:   "legacy whitelisted CloudFront-* header is keyed on the edge's value and added",
			source: "DG header-caching (caching on the location of the viewer)",
			b:      legacyBehavior(false, "none", "CloudFront-Viewer-Country"),
			want: ResolvedPolicy{Legacy: true, MinTTL: 0, DefaultTTL: 86400, MaxTTL: 31536000,
				Key:     KeyParams{Headers: sel(SelectWhitelist, "Cloudfront-Viewer-Country"), AcceptEncodingGzip: true, AcceptEncodingBrotli: true},
				Forward: ForwardParams{Headers: withheld(), CloudFrontHeaders: []string{"Cloudfront-Viewer-Country"}}},
		},
		{
			name:   "CachingDisabled + AllViewer (the usual Auth0 setup): nothing keyed, everything forwarded",
			source: "DG using-managed-cache-policies (CachingDisabled); DG using-managed-origin-request-policies (AllViewer)",
			b:      policyBehavior(ManagedCachingDisabled, ManagedAllViewer),
			cache:  managedCache(t, ManagedCachingDisabled),
			origin: managedOrigin(t, ManagedAllViewer),
			want: ResolvedPolicy{
				Forward: ForwardParams{Headers: sel(SelectAll), Cookies: sel(SelectAll), QueryStrings: sel(SelectAll)}},
		},
		{
			name:   "CachingOptimized alone: only the normalised Accept-Encoding keyed and forwarded",
			source: "DG using-managed-cache-policies (CachingOptimized); DG controlling-origin-requests (no origin request policy: what the cache policy says, nothing more)",
			b:      policyBehavior(ManagedCachingOptimized, ""),
			cache:  managedCache(t, ManagedCachingOptimized),
			want: ResolvedPolicy{MinTTL: 1, DefaultTTL: 86400, MaxTTL: 31536000,
				Key: KeyParams{AcceptEncodingGzip: true, AcceptEncodingBrotli: true}},
		},
		{
			name:   "what the cache policy keys is forwarded; the origin request policy forwards more unkeyed",
			source: "DG controlling-the-cache-key (cache key settings are included in origin requests); DG controlling-origin-requests",
			b:      policyBehavior("custom-cache", "custom-origin"),
			cache:  customCachePolicy(),
			origin: customOriginPolicy(),
			want: ResolvedPolicy{MinTTL: 0, DefaultTTL: 60, MaxTTL: 3600,
				Key: KeyParams{
					Headers:            sel(SelectWhitelist, "Authorization", "Origin"),
					Cookies:            sel(SelectWhitelist, "session"),
					QueryStrings:       sel(SelectWhitelist, "code", "state"),
					AcceptEncodingGzip: true, AcceptEncodingBrotli: true,
				},
				Forward: ForwardParams{
					Headers:           sel(SelectWhitelist, "Authorization", "Origin", "Referer"),
					CloudFrontHeaders: []string{"Cloudfront-Viewer-Country"},
					Cookies:           sel(SelectAll),
					// allExcept utm_source, but the key's whitelist is
					// forwarded anyway.
					QueryStrings: sel(SelectAllExcept, "utm_source"),
				}},
		},
		{
			name:   "allExcept in the origin request policy cannot withhold what the cache key holds",
			source: "DG controlling-origin-requests (values in the cache key are always included in origin requests)",
			b:      policyBehavior("custom-cache", "b689b0a8-53d0-40ab-baf2-68738e2966ac"),
			cache: func() *CachePolicyConfig {
				c := customCachePolicy()
				c.ParametersInCacheKeyAndForwardedToOrigin.HeadersConfig.Headers = &Names{Quantity: 1, Items: []string{"host"}}
				return c
			}(),
			origin: managedOrigin(t, "b689b0a8-53d0-40ab-baf2-68738e2966ac"), // AllViewerExceptHostHeader
			want: ResolvedPolicy{MinTTL: 0, DefaultTTL: 60, MaxTTL: 3600,
				Key: KeyParams{
					Headers: sel(SelectWhitelist, "Host"), Cookies: sel(SelectWhitelist, "session"), QueryStrings: sel(SelectWhitelist, "code", "state"),
					AcceptEncodingGzip: true, AcceptEncodingBrotli: true,
				},
				Forward: ForwardParams{
					// Host is keyed, so forwarded; Accept-Encoding goes in
					// its normalised form only.
					Headers: sel(SelectAllExcept, "Accept-Encoding"), Cookies: sel(SelectAll), QueryStrings: sel(SelectAll),
				}},
		},
		{
			name:   "normalised Accept-Encoding replaces one an origin request policy names",
			source: "DG controlling-the-cache-key, Cache compressed objects (including Accept-Encoding in an origin request policy has no effect)",
			b:      policyBehavior(ManagedCachingOptimized, "custom-origin"),
			cache:  managedCache(t, ManagedCachingOptimized),
			origin: func() *OriginRequestPolicyConfig {
				o := customOriginPolicy()
				o.HeadersConfig.Headers = &Names{Quantity: 2, Items: []string{"accept-encoding", "Referer"}}
				return o
			}(),
			want: ResolvedPolicy{MinTTL: 1, DefaultTTL: 86400, MaxTTL: 31536000,
				Key: KeyParams{AcceptEncodingGzip: true, AcceptEncodingBrotli: true},
				Forward: ForwardParams{Headers: sel(SelectWhitelist, "Referer"), Cookies: sel(SelectAll),
					QueryStrings: sel(SelectAllExcept, "utm_source")}},
		},
		{
			name:   "compression caching off: a whitelisted Accept-Encoding is keyed as sent",
			source: "DG controlling-the-cache-key, Cache compressed objects (disabled for both formats)",
			b:      policyBehavior("custom-cache", ""),
			cache: func() *CachePolicyConfig {
				c := customCachePolicy()
				p := c.ParametersInCacheKeyAndForwardedToOrigin
				p.EnableAcceptEncodingGzip, p.EnableAcceptEncodingBrotli = Ptr(false), nil
				p.HeadersConfig.Headers = &Names{Quantity: 1, Items: []string{"Accept-Encoding"}}
				p.CookiesConfig = &CookiesConfig{CookieBehavior: "allExcept", Cookies: &Names{Quantity: 1, Items: []string{"tracking"}}}
				p.QueryStringsConfig = &QueryStringsConfig{QueryStringBehavior: "none"}
				return c
			}(),
			want: ResolvedPolicy{MinTTL: 0, DefaultTTL: 60, MaxTTL: 3600,
				Key:     KeyParams{Headers: sel(SelectWhitelist, "Accept-Encoding"), Cookies: sel(SelectAllExcept, "tracking")},
				Forward: ForwardParams{Headers: sel(SelectWhitelist, "Accept-Encoding"), Cookies: sel(SelectAllExcept, "tracking")}},
		},
		{
			name:   "Amplify: CloudFront-Viewer-Country keyed on the edge's value and added, Host keyed",
			source: "DG using-managed-cache-policies (Amplify); DG using-cloudfront-headers",
			b:      policyBehavior("2e54312d-136d-493c-8eb9-b001f22f67d2", "33f36d7e-f396-46d9-90e0-52428a34d9dc"),
			cache:  managedCache(t, "2e54312d-136d-493c-8eb9-b001f22f67d2"),
			origin: managedOrigin(t, "33f36d7e-f396-46d9-90e0-52428a34d9dc"), // AllViewerAndCloudFrontHeaders-2022-06
			want: func() ResolvedPolicy {
				o := managedOrigin(t, "33f36d7e-f396-46d9-90e0-52428a34d9dc")
				cf := sortedSet(canonical(append([]string{"CloudFront-Viewer-Country"}, o.HeadersConfig.Headers.Items...)))
				return ResolvedPolicy{MinTTL: 2, DefaultTTL: 2, MaxTTL: 600,
					Key: KeyParams{
						Headers: sel(SelectWhitelist, "Authorization", "Cloudfront-Viewer-Country", "Host"),
						Cookies: sel(SelectAll), QueryStrings: sel(SelectAll),
						AcceptEncodingGzip: true, AcceptEncodingBrotli: true,
					},
					Forward: ForwardParams{Headers: sel(SelectAllExcept, "Accept-Encoding"), CloudFrontHeaders: cf,
						Cookies: sel(SelectAll), QueryStrings: sel(SelectAll)}}
			}(),
		},
		{
			name:   "a cache policy's TTLs win over the behaviour's",
			source: "DG controlling-the-cache-key (TTL settings); CloudFront API reference, CacheBehavior (TTLs deprecated with policies)",
			b: func() *CacheBehavior {
				b := policyBehavior(ManagedCachingDisabled, "")
				b.MinTTL, b.DefaultTTL, b.MaxTTL = Ptr[int64](10), Ptr[int64](20), Ptr[int64](30)
				return b
			}(),
			cache: managedCache(t, ManagedCachingDisabled),
			want:  ResolvedPolicy{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveBehavior(tt.b, tt.cache, tt.origin)
			if err != nil {
				t.Fatalf("ResolveBehavior: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s\n got %+v\nwant %+v", tt.source, got, tt.want)
			}
		})
	}
}

// TestResolveBehaviorHeaderCase: header names are case-insensitive in the
// key, whatever case the configuration uses (DG header-caching, "How the
// case of headers and header values affects caching").
func TestResolveBehaviorHeaderCase(t *testing.T) {
	lower, err := ResolveBehavior(legacyBehavior(false, "none", "x-tenant", "ORIGIN"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !lower.Key.Headers.Includes(http.CanonicalHeaderKey("X-TENANT")) || !lower.Key.Headers.Includes("Origin") {
		t.Errorf("key headers %v miss X-Tenant or Origin", lower.Key.Headers)
	}
	if lower.Forward.Headers.Includes("User-Agent") || !lower.Forward.Headers.Includes("X-Custom") {
		t.Errorf("legacy forwarding %v: want User-Agent withheld and other headers forwarded", lower.Forward.Headers)
	}
}

func TestResolveBehaviorErrors(t *testing.T) {
	cache := managedCache(t, ManagedCachingOptimized)
	origin := managedOrigin(t, ManagedAllViewer)
	tests := []struct {
		name   string
		b      *CacheBehavior
		cache  *CachePolicyConfig
		origin *OriginRequestPolicyConfig
	}{
		{"cache policy named but not given", policyBehavior("x", ""), nil, nil},
		{"cache policy given but not named", legacyBehavior(false, "none"), cache, nil},
		{"origin request policy named but not given", policyBehavior("x", "y"), cache, nil},
		{"origin request policy given but not named", policyBehavior("x", ""), cache, origin},
		// DG controlling-origin-requests: "To use an origin request policy,
		// the cache behavior must also use a cache policy."
		{"origin request policy without a cache policy", &CacheBehavior{OriginRequestPolicyID: Ptr("y")}, nil, origin},
		{"neither policy nor ForwardedValues", &CacheBehavior{}, nil, nil},
		{"cache policy without parameters", policyBehavior("x", ""), &CachePolicyConfig{Name: "x", MinTTL: Ptr[int64](0)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ResolveBehavior(tt.b, tt.cache, tt.origin)
			wantCode(t, err, ErrInvalidArgument, 400)
		})
	}
}
