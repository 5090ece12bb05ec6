package portico

import (
	"encoding/xml"
	"errors"
	"strings"
	"testing"
)

// seed returns the distribution of the seed walkthrough, valid as it is.
func seed() *DistributionConfig {
	return &DistributionConfig{
		CallerReference: "seed",
		Comment:         Ptr("Auth0 custom domain"),
		Enabled:         Ptr(true),
		Aliases:         &Aliases{Quantity: 1, Items: []string{"login.example.com"}},
		Origins: &Origins{Quantity: 1, Items: []Origin{{
			ID: "auth0", DomainName: "tenant.edge.tenants.us.auth0.com",
			CustomHeaders:      &CustomHeaders{Quantity: 1, Items: []OriginCustomHeader{{HeaderName: "cname-api-key", HeaderValue: "secret"}}},
			CustomOriginConfig: &CustomOriginConfig{HTTPPort: 80, HTTPSPort: 443, OriginProtocolPolicy: "https-only"},
		}}},
		DefaultCacheBehavior: &CacheBehavior{
			TargetOriginID:       "auth0",
			ViewerProtocolPolicy: "redirect-to-https",
			AllowedMethods: &AllowedMethods{Quantity: 7, Items: []string{"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"},
				CachedMethods: &Methods{Quantity: 2, Items: []string{"GET", "HEAD"}}},
			ForwardedValues: &ForwardedValues{QueryString: Ptr(true), Cookies: &CookiePreference{Forward: "all"},
				Headers: &Names{Quantity: 2, Items: []string{"User-Agent", "Origin"}}},
		},
		ViewerCertificate: &ViewerCertificate{ACMCertificateArn: Ptr("arn:aws:acm:us-east-1:1:certificate/x"), SSLSupportMethod: Ptr("sni-only")},
	}
}

// TestValidate names, for each rule, the CloudFront error a configuration
// that breaks it gets (CloudFront API reference, DistributionConfig).
func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *DistributionConfig)
		code   string
	}{
		{"the seed is valid", func(*DistributionConfig) {}, ""},
		{"alias quantity mismatch", func(c *DistributionConfig) { c.Aliases.Quantity = 2 }, ErrInconsistentQuantities},
		{"header quantity mismatch", func(c *DistributionConfig) { c.DefaultCacheBehavior.ForwardedValues.Headers.Quantity = 1 }, ErrInconsistentQuantities},
		{"no CallerReference", func(c *DistributionConfig) { c.CallerReference = "" }, ErrInvalidArgument},
		{"no Comment", func(c *DistributionConfig) { c.Comment = nil }, ErrInvalidArgument},
		{"no Enabled", func(c *DistributionConfig) { c.Enabled = nil }, ErrInvalidArgument},
		{"long Comment", func(c *DistributionConfig) { c.Comment = Ptr(string(make([]byte, 129))) }, ErrInvalidArgument},
		{"bad PriceClass", func(c *DistributionConfig) { c.PriceClass = Ptr("PriceClass_1") }, ErrInvalidArgument},
		{"root object with slash", func(c *DistributionConfig) { c.DefaultRootObject = Ptr("/index.html") }, ErrInvalidArgument},
		{"invalid alias", func(c *DistributionConfig) { c.Aliases.Items[0] = "bad_name.example.com" }, ErrInvalidArgument},
		{"duplicate alias", func(c *DistributionConfig) {
			c.Aliases = &Aliases{Quantity: 2, Items: []string{"a.example.com", "A.example.com"}}
		}, ErrInvalidArgument},
		{"alias without certificate", func(c *DistributionConfig) { c.ViewerCertificate = nil }, ErrInvalidViewerCertificate},
		{"alias with the default certificate", func(c *DistributionConfig) {
			c.ViewerCertificate = &ViewerCertificate{CloudFrontDefaultCertificate: Ptr(true)}
		}, ErrInvalidViewerCertificate},
		{"IAM certificate", func(c *DistributionConfig) { c.ViewerCertificate.IAMCertificateID = Ptr("ASCA") }, ErrInvalidViewerCertificate},
		{"no origins", func(c *DistributionConfig) { c.Origins = &Origins{} }, ErrInvalidArgument},
		{"origin without a config", func(c *DistributionConfig) { c.Origins.Items[0].CustomOriginConfig = nil }, ErrInvalidArgument},
		{"origin is an IPv4 address", func(c *DistributionConfig) { c.Origins.Items[0].DomainName = "10.0.0.1" }, ""},
		{"origin is localhost", func(c *DistributionConfig) { c.Origins.Items[0].DomainName = "localhost" }, ""},
		{"origin is an IPv6 address", func(c *DistributionConfig) { c.Origins.Items[0].DomainName = "::1" }, ErrInvalidArgument},
		{"origin is a wildcard", func(c *DistributionConfig) { c.Origins.Items[0].DomainName = "*.example.com" }, ErrInvalidArgument},
		{"origin with a port", func(c *DistributionConfig) { c.Origins.Items[0].DomainName = "origin.example.com:8443" }, ErrInvalidArgument},
		{"http-only origin", func(c *DistributionConfig) { c.Origins.Items[0].CustomOriginConfig.OriginProtocolPolicy = "http-only" }, ErrInvalidArgument},
		{"read timeout out of range", func(c *DistributionConfig) { c.Origins.Items[0].CustomOriginConfig.OriginReadTimeout = Ptr(121) }, ErrInvalidOriginReadTimeout},
		{"keepalive out of range", func(c *DistributionConfig) { c.Origins.Items[0].CustomOriginConfig.OriginKeepaliveTimeout = Ptr(0) }, ErrInvalidOriginKeepaliveTimeout},
		{"four connection attempts", func(c *DistributionConfig) { c.Origins.Items[0].ConnectionAttempts = Ptr(4) }, ErrInvalidArgument},
		{"custom header that cannot be set", func(c *DistributionConfig) {
			c.Origins.Items[0].CustomHeaders.Items[0].HeaderName = "X-Forwarded-For"
		}, ErrInvalidArgument},
		{"custom header value with a newline", func(c *DistributionConfig) {
			c.Origins.Items[0].CustomHeaders.Items[0].HeaderValue = "a\r\nX-Injected: 1"
		}, ErrInvalidArgument},
		{"eleven custom headers", func(c *DistributionConfig) {
			h := make([]OriginCustomHeader, 11)
			for i := range h {
				h[i] = OriginCustomHeader{HeaderName: "X-H" + string(rune('a'+i)), HeaderValue: "v"}
			}
			c.Origins.Items[0].CustomHeaders = &CustomHeaders{Quantity: 11, Items: h}
		}, ErrTooManyOriginCustomHeaders},
		{"unknown target origin", func(c *DistributionConfig) { c.DefaultCacheBehavior.TargetOriginID = "nope" }, ErrNoSuchOrigin},
		{"bad viewer protocol policy", func(c *DistributionConfig) { c.DefaultCacheBehavior.ViewerProtocolPolicy = "https" }, ErrInvalidArgument},
		{"four allowed methods", func(c *DistributionConfig) {
			c.DefaultCacheBehavior.AllowedMethods = &AllowedMethods{Quantity: 4, Items: []string{"GET", "HEAD", "OPTIONS", "POST"}}
		}, ErrInvalidArgument},
		{"cached method not allowed", func(c *DistributionConfig) {
			c.DefaultCacheBehavior.AllowedMethods = &AllowedMethods{Quantity: 2, Items: []string{"GET", "HEAD"},
				CachedMethods: &Methods{Quantity: 3, Items: []string{"GET", "HEAD", "OPTIONS"}}}
		}, ErrInvalidArgument},
		{"neither ForwardedValues nor a cache policy", func(c *DistributionConfig) { c.DefaultCacheBehavior.ForwardedValues = nil }, ErrInvalidArgument},
		{"TTL order", func(c *DistributionConfig) {
			c.DefaultCacheBehavior.MinTTL, c.DefaultCacheBehavior.MaxTTL = Ptr(int64(100)), Ptr(int64(10))
		}, ErrInvalidTTLOrder},
		{"all headers with MinTTL", func(c *DistributionConfig) {
			c.DefaultCacheBehavior.ForwardedValues.Headers = &Names{Quantity: 1, Items: []string{"*"}}
			c.DefaultCacheBehavior.MinTTL = Ptr(int64(1))
		}, ErrInvalidArgument},
		{"whitelist without names", func(c *DistributionConfig) { c.DefaultCacheBehavior.ForwardedValues.Cookies.Forward = "whitelist" }, ErrInvalidArgument},
		{"default behaviour with a path", func(c *DistributionConfig) { c.DefaultCacheBehavior.PathPattern = Ptr("/a") }, ErrInvalidArgument},
		{"error page with ResponseCode 200", func(c *DistributionConfig) { c.CustomErrorResponses = errorPage(404, "/404.html", "200") }, ""},
		{"error page without ResponseCode", func(c *DistributionConfig) { c.CustomErrorResponses = errorPage(503, "/busy.html", "") }, ErrInvalidArgument},
		{"ResponseCode without a page", func(c *DistributionConfig) { c.CustomErrorResponses = errorPage(503, "", "503") }, ErrInvalidArgument},
		{"error caching TTL alone", func(c *DistributionConfig) {
			c.CustomErrorResponses = &CustomErrorResponses{Quantity: 1, Items: []CustomErrorResponse{{ErrorCode: 503, ErrorCachingMinTTL: Ptr(int64(0))}}}
		}, ""},
		{"error page with ResponseCode 299", func(c *DistributionConfig) { c.CustomErrorResponses = errorPage(404, "/404.html", "299") }, "InvalidResponseCode"},
		{"error page with ResponseCode abc", func(c *DistributionConfig) { c.CustomErrorResponses = errorPage(404, "/404.html", "abc") }, "InvalidResponseCode"},
		{"error page path without a slash", func(c *DistributionConfig) { c.CustomErrorResponses = errorPage(404, "404.html", "404") }, "InvalidResponseCode"},
		{"duplicate path patterns", func(c *DistributionConfig) {
			b := *c.DefaultCacheBehavior
			b.PathPattern = Ptr("/images/*")
			c.CacheBehaviors = &CacheBehaviors{Quantity: 2, Items: []CacheBehavior{b, b}}
		}, ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := seed()
			tt.change(c)
			err := c.Validate()
			var pe *Error
			switch {
			case tt.code == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.code != "" && (!errors.As(err, &pe) || pe.Code != tt.code):
				t.Fatalf("Validate() = %v, want %s", err, tt.code)
			case pe != nil && pe.Status != StatusOf(pe.Code):
				t.Errorf("status %d, want %d", pe.Status, StatusOf(pe.Code))
			}
		})
	}
}

// errorPage returns CustomErrorResponses with one entry.
func errorPage(code int, path, responseCode string) *CustomErrorResponses {
	return &CustomErrorResponses{Quantity: 1, Items: []CustomErrorResponse{{ErrorCode: code, ResponsePagePath: Ptr(path), ResponseCode: Ptr(responseCode)}}}
}

// TestValidateNeverQuotesSecrets: an invalid custom header value is a
// secret all the same, so the message names the header only.
func TestValidateNeverQuotesSecrets(t *testing.T) {
	c := seed()
	c.Origins.Items[0].CustomHeaders.Items[0].HeaderValue = "top-secret\x00"
	err := c.Validate()
	if err == nil || strings.Contains(err.Error(), "top-secret") {
		t.Fatalf("Validate() = %v, want an error without the value", err)
	}
}

// TestUnknownElementsRoundTrip: elements Portico does not model are kept
// and encoded again.
func TestUnknownElementsRoundTrip(t *testing.T) {
	in := `<DistributionConfig><CallerReference>r</CallerReference><HttpVersion>http2and3</HttpVersion>` +
		`<Logging><Enabled>false</Enabled><IncludeCookies>false</IncludeCookies><Bucket></Bucket><Prefix></Prefix></Logging></DistributionConfig>`
	var c DistributionConfig
	if err := xml.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	out, err := xml.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	var again DistributionConfig
	if err := xml.Unmarshal(out, &again); err != nil {
		t.Fatal(err)
	}
	if len(again.Extra) != 2 || again.Extra[0].XMLName.Local != "HttpVersion" || string(again.Extra[0].Inner) != "http2and3" ||
		string(again.Extra[1].Inner) != string(c.Extra[1].Inner) {
		t.Errorf("unknown elements after a round trip: %s", out)
	}
}

func FuzzIsValidHostname(f *testing.F) {
	for _, s := range []string{"login.example.com", "*.example.com", "a..b", "1.2.3.4", "xn--d1acufc.xn--p1ai"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !IsValidHostname(s) {
			return
		}
		// A valid name matches itself, case-insensitively.
		if !MatchesHostname(s, s) {
			t.Errorf("valid name %q does not match itself", s)
		}
	})
}
