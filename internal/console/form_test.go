package console

import (
	"encoding/xml"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portico-edge/portico"
)

const testARN = "arn:aws:acm:us-east-1:123456789012:certificate/0f0e0d0c-0b0a-4909-8807-060504030201"

// submitRendered renders the form for f as the console does, and returns
// what a browser would submit for it unchanged, parsed back, and the
// function that opens the values it sealed.
func submitRendered(t *testing.T, f *distForm, creating bool) (*distForm, func(string) (string, bool)) {
	t.Helper()
	h := &Handler{keys: testKeys(t, 1)}
	s := newSession("AKPTTEST", time.Now())
	f.prepare(func(v string) string { return h.keys.sealValue(s, v) })
	data := &formData{Form: f, Creating: creating, ID: "E1", Certificates: []certView{{ARN: testARN, DomainName: customDomain}}}
	rec := httptest.NewRecorder()
	if err := h.render(rec, h.newPage(s, "distform", "Form", "", data)); err != nil {
		t.Fatal(err)
	}
	action := "/console/distributions/E1/edit"
	if creating {
		action = "/console/distributions/create"
	}
	page := &served{body: rec.Body.String(), url: &url.URL{Path: action}}
	if strings.Contains(page.body, cnameAPIKey) {
		t.Error("the rendered form shows the custom header value")
	}
	got, err := parseDistForm(page.form(t, action).values())
	if err != nil {
		t.Fatal(err)
	}
	return got, func(sealed string) (string, bool) { return h.keys.openValue(s, sealed) }
}

// unsealer is the opener for forms that must have nothing sealed.
func unsealer(t *testing.T) func(string) (string, bool) {
	return func(string) (string, bool) {
		t.Error("a stored header value was sealed")
		return "", false
	}
}

// TestEditRoundTrip checks that opening a distribution's edit form and
// saving it unchanged stores the same configuration, including what the
// form does not show.
func TestEditRoundTrip(t *testing.T) {
	custom := seedConfig("ref-custom", testARN)
	custom.DefaultCacheBehavior.ForwardedValues = &portico.ForwardedValues{
		QueryString: portico.Ptr(false),
		Cookies:     &portico.CookiePreference{Forward: "whitelist", WhitelistedNames: &portico.Names{Quantity: 2, Items: []string{"session", "lang"}}},
		Headers:     &portico.Names{Quantity: 0},
	}
	custom.DefaultCacheBehavior.MinTTL = portico.Ptr[int64](5)
	custom.DefaultCacheBehavior.DefaultTTL = portico.Ptr[int64](60)
	custom.DefaultCacheBehavior.MaxTTL = portico.Ptr[int64](3600)
	custom.DefaultCacheBehavior.Compress = portico.Ptr(true)
	custom.DefaultCacheBehavior.AllowedMethods = &portico.AllowedMethods{
		Quantity: 3, Items: []string{"OPTIONS", "HEAD", "GET"},
		CachedMethods: &portico.Methods{Quantity: 3, Items: []string{"HEAD", "GET", "OPTIONS"}},
	}
	custom.DefaultRootObject = portico.Ptr("index.html")
	custom.PriceClass = portico.Ptr("PriceClass_100")
	custom.Enabled = portico.Ptr(false)

	// What the form does not show must survive: a second origin, a path
	// behaviour, error responses, timeouts and unmodelled elements.
	rich := seedConfig("ref-rich", testARN)
	o := &rich.Origins.Items[0]
	o.ConnectionAttempts, o.OriginPath = portico.Ptr(2), portico.Ptr("/v1")
	o.CustomOriginConfig.OriginReadTimeout = portico.Ptr(60)
	o.CustomHeaders = &portico.CustomHeaders{Quantity: 2, Items: []portico.OriginCustomHeader{
		{HeaderName: "cname-api-key", HeaderValue: cnameAPIKey}, {HeaderName: "X-Second", HeaderValue: "two"},
	}}
	rich.Origins.Items = append(rich.Origins.Items, portico.Origin{
		ID: "static", DomainName: "static.example.com",
		S3OriginConfig: &portico.S3OriginConfig{},
	})
	rich.Origins.Quantity = 2
	rich.CacheBehaviors = &portico.CacheBehaviors{Quantity: 1, Items: []portico.CacheBehavior{{
		PathPattern: portico.Ptr("/static/*"), TargetOriginID: "static", ViewerProtocolPolicy: "https-only",
		ForwardedValues: &portico.ForwardedValues{QueryString: portico.Ptr(false), Cookies: &portico.CookiePreference{Forward: "none"}},
	}}}
	rich.CustomErrorResponses = &portico.CustomErrorResponses{Quantity: 1, Items: []portico.CustomErrorResponse{{ErrorCode: 404, ErrorCachingMinTTL: portico.Ptr[int64](30)}}}
	rich.Extra = []portico.RawElement{{XMLName: xml.Name{Local: "HttpVersion"}, Inner: []byte("http2and3")}}
	rich.ViewerCertificate.MinimumProtocolVersion = nil // the API default

	policy := seedConfig("ref-policy", testARN)
	policy.DefaultCacheBehavior.ForwardedValues = nil
	policy.DefaultCacheBehavior.MinTTL, policy.DefaultCacheBehavior.DefaultTTL, policy.DefaultCacheBehavior.MaxTTL = nil, nil, nil
	policy.DefaultCacheBehavior.CachePolicyID = portico.Ptr("658327ea-f89d-4fab-a63d-7e88639e58f6")

	plain := &portico.DistributionConfig{
		CallerReference: "ref-plain",
		Comment:         portico.Ptr(""),
		Enabled:         portico.Ptr(true),
		Origins: &portico.Origins{Quantity: 1, Items: []portico.Origin{{
			ID: "o", DomainName: "origin.example.com",
			CustomOriginConfig: &portico.CustomOriginConfig{HTTPPort: 80, HTTPSPort: 8443, OriginProtocolPolicy: "match-viewer",
				OriginSslProtocols: &portico.SslProtocols{Quantity: 3, Items: []string{"TLSv1", "TLSv1.1", "TLSv1.2"}}},
		}}},
		DefaultCacheBehavior: &portico.CacheBehavior{
			TargetOriginID: "o", ViewerProtocolPolicy: "allow-all",
			ForwardedValues: &portico.ForwardedValues{QueryString: portico.Ptr(false), Cookies: &portico.CookiePreference{Forward: "none"}},
		},
	}

	for name, cfg := range map[string]*portico.DistributionConfig{
		"seed": seedConfig("ref-seed", testARN), "custom": custom, "rich": rich, "cache policy": policy, "plain": plain,
	} {
		t.Run(name, func(t *testing.T) {
			if err := cfg.Validate(); err != nil {
				t.Fatalf("test configuration is not valid: %v", err)
			}
			f := formFromConfig(cfg)
			f.ETag = "E1"
			back, _ := submitRendered(t, f, false)
			if back.ETag != "E1" {
				t.Errorf("ETag = %q after the round trip", back.ETag)
			}
			got, err := cloneConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := back.apply(got, false, unsealer(t)); err != nil {
				t.Fatalf("apply: %v", err)
			}
			want := *cfg
			if name == "plain" {
				// The form always states what CloudFront assumes when these
				// are left out.
				want.PriceClass = portico.Ptr("PriceClass_All")
				b := *want.DefaultCacheBehavior
				b.AllowedMethods = &portico.AllowedMethods{Quantity: 2, Items: []string{"GET", "HEAD"}, CachedMethods: &portico.Methods{Quantity: 2, Items: []string{"GET", "HEAD"}}}
				b.MinTTL, b.DefaultTTL, b.MaxTTL = portico.Ptr[int64](0), portico.Ptr[int64](86400), portico.Ptr[int64](31536000)
				want.DefaultCacheBehavior = &b
			}
			assertConfig(t, got, &want)
		})
	}
}

// TestCreateFromForm checks that the create form, filled in with the
// seed's settings, makes the seed's configuration.
func TestCreateFromForm(t *testing.T) {
	f := formFromConfig(seedConfig("", testARN))
	for i := range f.CustomHeaders {
		f.CustomHeaders[i].Stored, f.CustomHeaders[i].value = "", cnameAPIKey // typed, not stored
	}
	back, open := submitRendered(t, f, true)
	got := &portico.DistributionConfig{CallerReference: "ref"}
	if err := back.apply(got, true, open); err != nil {
		t.Fatal(err)
	}
	assertConfig(t, got, seedConfig("ref", testARN))
}

// TestApplyRenamesOrigin checks that renaming the origin moves every
// behaviour that targets it.
func TestApplyRenamesOrigin(t *testing.T) {
	cfg := seedConfig("ref", testARN)
	cfg.CacheBehaviors = &portico.CacheBehaviors{Quantity: 1, Items: []portico.CacheBehavior{{
		PathPattern: portico.Ptr("/u/*"), TargetOriginID: originID, ViewerProtocolPolicy: "https-only",
		ForwardedValues: &portico.ForwardedValues{QueryString: portico.Ptr(true), Cookies: &portico.CookiePreference{Forward: "all"}},
	}}}
	f := formFromConfig(cfg)
	f.OriginID = "auth0"
	if err := f.apply(cfg, false, unsealer(t)); err != nil {
		t.Fatal(err)
	}
	if cfg.Origins.Items[0].ID != "auth0" || cfg.DefaultCacheBehavior.TargetOriginID != "auth0" || cfg.CacheBehaviors.Items[0].TargetOriginID != "auth0" {
		t.Errorf("origin %q, default target %q, path target %q; want all auth0",
			cfg.Origins.Items[0].ID, cfg.DefaultCacheBehavior.TargetOriginID, cfg.CacheBehaviors.Items[0].TargetOriginID)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("renamed configuration is not valid: %v", err)
	}
}

// TestHeaderValues checks where a custom header's value comes from: typed,
// sealed earlier, or stored; and that an empty replacement keeps it.
func TestHeaderValues(t *testing.T) {
	k := testKeys(t, 1)
	s := newSession("AKPT", time.Now())
	open := func(v string) (string, bool) { return k.openValue(s, v) }
	tests := []struct {
		name    string
		row     headerRow
		want    string
		wantErr string
	}{
		{"typed", headerRow{Name: "cname-api-key", value: "typed"}, "typed", ""},
		{"typed replaces stored", headerRow{Name: "cname-api-key", Stored: "cname-api-key", value: "new"}, "new", ""},
		{"empty replacement keeps stored", headerRow{Name: "cname-api-key", Stored: "cname-api-key"}, cnameAPIKey, ""},
		{"renamed keeps stored", headerRow{Name: "x-api-key", Stored: "cname-api-key"}, cnameAPIKey, ""},
		{"sealed", headerRow{Name: "cname-api-key", Sealed: k.sealValue(s, "sealed")}, "sealed", ""},
		{"sealed beats stored", headerRow{Name: "cname-api-key", Stored: "cname-api-key", Sealed: k.sealValue(s, "sealed")}, "sealed", ""},
		{"sealed for another session", headerRow{Name: "cname-api-key", Sealed: k.sealValue(newSession("AKPT", time.Now()), "x")}, "", "again"},
		{"stored name unknown", headerRow{Name: "cname-api-key", Stored: "nope"}, "", "Enter a value"},
		{"nothing", headerRow{Name: "cname-api-key"}, "", "Enter a value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := seedConfig("ref", testARN)
			f := formFromConfig(cfg)
			f.CustomHeaders = []headerRow{tt.row}
			err := f.apply(cfg, false, open)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("apply = %v, want an error with %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), cnameAPIKey) {
					t.Error("the error shows the stored value")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Origins.Items[0].CustomHeaders.Items; len(got) != 1 || got[0].HeaderName != tt.row.Name || got[0].HeaderValue != tt.want {
				t.Errorf("headers = %+v, want %s with the expected value", got, tt.row.Name)
			}
		})
	}
}

// TestPrepareSealsValues checks that nothing typed into a header value
// survives prepare in the clear.
func TestPrepareSealsValues(t *testing.T) {
	f := &distForm{CustomHeaders: []headerRow{{Name: "a", value: "secret-a"}, {Name: "b", Stored: "b"}}}
	f.prepare(func(v string) string { return "sealed(" + strings.Repeat("*", len(v)) + ")" })
	for _, r := range f.CustomHeaders {
		if r.value != "" {
			t.Errorf("row %s still holds its value in the clear", r.Name)
		}
	}
	if f.CustomHeaders[0].Sealed == "" || !f.CustomHeaders[0].HasValue() || !f.CustomHeaders[1].HasValue() {
		t.Errorf("rows = %+v, want both with a hidden value", f.CustomHeaders)
	}
	if len(f.Aliases) != 1 || len(f.Headers) != 1 || len(f.CookieNames) != 1 {
		t.Error("prepare did not give every list an empty row")
	}
}

// FuzzDistForm feeds arbitrary submissions to the form parser and to apply,
// for both create and edit: they must not panic, a configuration they
// accept must not make Validate panic, and no typed value may survive
// prepare.
func FuzzDistForm(f *testing.F) {
	seed := url.Values{
		"origin_domain": {originDomain}, "origin_id": {originID}, "origin_protocol": {"https-only"},
		"http_port": {"80"}, "https_port": {"443"}, "origin_ssl": {"TLSv1.2"},
		"ch_name": {"cname-api-key"}, "ch_value": {cnameAPIKey}, "ch_sealed": {""}, "ch_stored": {""},
		"viewer_protocol": {"redirect-to-https"}, "allowed_methods": {methodsAll}, "compress": {"no"},
		"headers": {"whitelist"}, "fwd_header": seedHeaders, "query_strings": {"all"}, "cookies": {"all"},
		"object_caching": {"origin"}, "min_ttl": {"0"}, "default_ttl": {"86400"}, "max_ttl": {"31536000"},
		"alias": {customDomain}, "certificate": {testARN}, "security_policy": {"TLSv1.2_2021"},
		"comment": {seedComment}, "price_class": {"PriceClass_All"}, "enabled": {"yes"},
	}
	f.Add(seed.Encode(), "save")
	f.Add(seed.Encode(), "add:alias")
	f.Add(seed.Encode(), "remove:custom-header:0")
	f.Add(seed.Encode(), "remove:alias:-1")
	f.Add("ch_name=a&ch_value=b", "")
	f.Add("ch_name=a&ch_name=b&ch_value=&ch_sealed=&ch_stored=", "save")
	f.Add("object_caching=customize&min_ttl=99999999999999999999&headers=whitelist&fwd_header=*", "save")
	f.Add("cookies=whitelist&cookie_name=&allowed_methods=GET,HEAD,OPTIONS&cache_options=on", "add:cookie")
	f.Fuzz(func(t *testing.T, body, action string) {
		v, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		form, err := parseDistForm(v)
		if err != nil {
			return
		}
		form.editRows(action)
		for _, creating := range []bool{true, false} {
			cfg := &portico.DistributionConfig{CallerReference: "ref"}
			if !creating {
				cfg = seedConfig("ref", testARN)
			}
			if err := form.apply(cfg, creating, func(string) (string, bool) { return "", false }); err == nil {
				cfg.Validate()
			}
		}
		form.prepare(func(string) string { return "sealed" })
		for _, r := range form.CustomHeaders {
			if r.value != "" {
				t.Fatal("a typed value survived prepare")
			}
		}
	})
}
