package cfapi

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/portico-edge/portico"
)

// policyCodec decodes and encodes one kind of policy configuration.
type policyCodec struct {
	root    string
	decode  func([]byte) (any, error)
	encode  func(any) ([]byte, error)
	fixture string
}

func policyCodecs() []policyCodec {
	codec := func(root, fixture string, decode func([]byte) (any, error)) policyCodec {
		return policyCodec{
			root: root, fixture: fixture, decode: decode,
			encode: func(v any) ([]byte, error) { return encodeDocument(documentHeader, root, v) },
		}
	}
	cache := &policyEndpoint[portico.CachePolicyConfig]{schema: cachePolicyConfigSchema}
	origin := &policyEndpoint[portico.OriginRequestPolicyConfig]{schema: originRequestPolicyConfigSchema}
	headers := &policyEndpoint[portico.ResponseHeadersPolicyConfig]{schema: responseHeadersPolicyConfigSchema}
	return []policyCodec{
		codec("CachePolicyConfig", "policy-cache-config.xml", func(b []byte) (any, error) { return cache.decode(b) }),
		codec("OriginRequestPolicyConfig", "policy-origin-config.xml", func(b []byte) (any, error) { return origin.decode(b) }),
		codec("ResponseHeadersPolicyConfig", "policy-headers-config.xml", func(b []byte) (any, error) { return headers.decode(b) }),
	}
}

// TestDecodePolicyRoundTrip checks that each policy configuration, and every
// managed one, comes back from the decoder and encoder as it was, elements
// Portico does not model included.
func TestDecodePolicyRoundTrip(t *testing.T) {
	for _, c := range policyCodecs() {
		t.Run(c.root, func(t *testing.T) {
			doc := renderFixture(t, c.fixture)
			// An element of a future API version, kept verbatim.
			doc = strings.Replace(doc, "</"+c.root+">", "<FutureSetting><Quantity>0</Quantity></FutureSetting></"+c.root+">", 1)
			v, err := c.decode([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.encode(v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(out, []byte("<FutureSetting><Quantity>0</Quantity></FutureSetting>")) {
				t.Errorf("output lacks the unknown element:\n%s", out)
			}
			if got, want := prettyXML(out), prettyXML([]byte(doc)); got != want {
				t.Errorf("round trip changed the document:\n got %s\nwant %s", got, want)
			}
		})
	}
	for _, p := range portico.ManagedCachePolicies() {
		roundTrip(t, policyCodecs()[0], &p.Config)
	}
	for _, p := range portico.ManagedOriginRequestPolicies() {
		roundTrip(t, policyCodecs()[1], &p.Config)
	}
	for _, p := range portico.ManagedResponseHeadersPolicies() {
		roundTrip(t, policyCodecs()[2], &p.Config)
	}
}

// roundTrip encodes v, decodes it and checks that nothing changed.
func roundTrip(t *testing.T, c policyCodec, v any) {
	t.Helper()
	out, err := c.encode(v)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.decode(out)
	if err != nil {
		t.Fatalf("decoding %s: %v", out, err)
	}
	if !reflect.DeepEqual(again, v) {
		t.Errorf("round trip of %s changed it:\n got %+v\nwant %+v", out, again, v)
	}
}

func TestDecodePolicyRefuses(t *testing.T) {
	cache, origin, headers := policyCodecs()[0], policyCodecs()[1], policyCodecs()[2]
	tests := []struct {
		name  string
		codec policyCodec
		doc   string
		code  string
	}{
		{"empty", cache, "", portico.ErrMissingBody},
		{"a distribution as a cache policy", cache, `<DistributionConfig/>`, portico.ErrMalformedInput},
		{"a cache policy as an origin request policy", origin, `<CachePolicyConfig><Name>x</Name></CachePolicyConfig>`, portico.ErrMalformedInput},
		{"unknown element in a name list", cache, `<CachePolicyConfig><ParametersInCacheKeyAndForwardedToOrigin><HeadersConfig><Headers><Quantity>0</Quantity><Header/></Headers></HeadersConfig></ParametersInCacheKeyAndForwardedToOrigin></CachePolicyConfig>`, portico.ErrMalformedInput},
		{"wrong item name", cache, `<CachePolicyConfig><ParametersInCacheKeyAndForwardedToOrigin><HeadersConfig><Headers><Quantity>1</Quantity><Items><Header>a</Header></Items></Headers></HeadersConfig></ParametersInCacheKeyAndForwardedToOrigin></CachePolicyConfig>`, portico.ErrMalformedInput},
		{"header quantity", cache, `<CachePolicyConfig><ParametersInCacheKeyAndForwardedToOrigin><HeadersConfig><Headers><Quantity>2</Quantity><Items><Name>a</Name></Items></Headers></HeadersConfig></ParametersInCacheKeyAndForwardedToOrigin></CachePolicyConfig>`, portico.ErrInconsistentQuantities},
		{"MinTTL not a number", cache, `<CachePolicyConfig><MinTTL>soon</MinTTL></CachePolicyConfig>`, portico.ErrInvalidArgument},
		{"gzip not a boolean", cache, `<CachePolicyConfig><ParametersInCacheKeyAndForwardedToOrigin><EnableAcceptEncodingGzip>1x</EnableAcceptEncodingGzip></ParametersInCacheKeyAndForwardedToOrigin></CachePolicyConfig>`, portico.ErrInvalidArgument},
		{"CORS origins quantity", headers, `<ResponseHeadersPolicyConfig><CorsConfig><AccessControlAllowOrigins><Quantity>0</Quantity><Items><Origin>*</Origin></Items></AccessControlAllowOrigins></CorsConfig></ResponseHeadersPolicyConfig>`, portico.ErrInconsistentQuantities},
		{"custom header outside Items", headers, `<ResponseHeadersPolicyConfig><CustomHeadersConfig><Quantity>0</Quantity><ResponseHeadersPolicyCustomHeader/></CustomHeadersConfig></ResponseHeadersPolicyConfig>`, portico.ErrMalformedInput},
		{"unknown element in a leaf structure", headers, `<ResponseHeadersPolicyConfig><SecurityHeadersConfig><FrameOptions><Override>true</Override><Future/></FrameOptions></SecurityHeadersConfig></ResponseHeadersPolicyConfig>`, portico.ErrMalformedInput},
		{"max age not a number", headers, `<ResponseHeadersPolicyConfig><CorsConfig><AccessControlMaxAgeSec>1.5</AccessControlMaxAgeSec></CorsConfig></ResponseHeadersPolicyConfig>`, portico.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := tt.codec.decode([]byte(tt.doc))
			var pe *portico.Error
			if !errors.As(err, &pe) || pe.Code != tt.code || pe.Status != 400 {
				t.Fatalf("decode = %+v, %v; want %s (400)", v, err, tt.code)
			}
		})
	}
}

// FuzzDecodePolicyConfig checks that the three policy decoders never panic,
// that whatever they accept re-encodes into a document they accept again
// and encode the same way, and that validating and resolving what they
// accept never panics either and fails only with a *portico.Error.
func FuzzDecodePolicyConfig(f *testing.F) {
	for _, c := range policyCodecs() {
		f.Add([]byte(renderFixture(f, c.fixture)))
	}
	for _, p := range portico.ManagedCachePolicies()[:2] {
		out, err := policyCodecs()[0].encode(&p.Config)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(out)
	}
	f.Add([]byte(`<OriginRequestPolicyConfig><Name>n</Name><HeadersConfig><HeaderBehavior>allExcept</HeaderBehavior><Headers><Quantity>1</Quantity><Items><Name>Host</Name></Items></Headers></HeadersConfig><CookiesConfig><CookieBehavior>all</CookieBehavior></CookiesConfig><QueryStringsConfig><QueryStringBehavior>all</QueryStringBehavior></QueryStringsConfig></OriginRequestPolicyConfig>`))
	f.Add([]byte(`<ResponseHeadersPolicyConfig><Name>n</Name><ServerTimingHeadersConfig><Enabled>true</Enabled><SamplingRate>1e2</SamplingRate></ServerTimingHeadersConfig></ResponseHeadersPolicyConfig>`))
	f.Add([]byte(`<CachePolicyConfig><Extra a="b"/></CachePolicyConfig>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, c := range policyCodecs() {
			v, err := c.decode(doc)
			if err != nil {
				if _, ok := errors.AsType[*portico.Error](err); !ok {
					t.Fatalf("%s: decode error %v is not a *portico.Error", c.root, err)
				}
				continue
			}
			out, err := c.encode(v)
			if err != nil {
				t.Fatalf("%s: encoding an accepted configuration: %v", c.root, err)
			}
			again, err := c.decode(out)
			if err != nil {
				t.Fatalf("%s: re-decoding %s: %v", c.root, out, err)
			}
			// The encoding is a fixed point. (Comparing the decoded values
			// would tell an empty element kept verbatim, <A/>, from
			// <A></A>, which mean the same.)
			if out2, err := c.encode(again); err != nil || !bytes.Equal(out2, out) {
				t.Fatalf("%s: round trip changed the configuration:\n got %s\nwant %s (%v)", c.root, out2, out, err)
			}
			checkAccepted(t, v)
		}
	})
}

// checkAccepted validates a decoded configuration and, for policies that
// pass, resolves a behaviour with them.
func checkAccepted(t *testing.T, v any) {
	var err error
	switch cfg := v.(type) {
	case *portico.CachePolicyConfig:
		if err = cfg.Validate(); err == nil {
			b := &portico.CacheBehavior{CachePolicyID: portico.Ptr("c")}
			if _, rerr := portico.ResolveBehavior(b, cfg, nil); rerr != nil {
				t.Fatalf("a valid cache policy does not resolve: %v", rerr)
			}
		}
	case *portico.OriginRequestPolicyConfig:
		if err = cfg.Validate(); err == nil {
			b := &portico.CacheBehavior{CachePolicyID: portico.Ptr("c"), OriginRequestPolicyID: portico.Ptr("o")}
			cache, _ := portico.FindManaged(portico.ManagedCachePolicies(), portico.ManagedCachingOptimized)
			if _, rerr := portico.ResolveBehavior(b, &cache.Config, cfg); rerr != nil {
				t.Fatalf("a valid origin request policy does not resolve: %v", rerr)
			}
		}
	case *portico.ResponseHeadersPolicyConfig:
		err = cfg.Validate()
	}
	if err != nil {
		if _, ok := errors.AsType[*portico.Error](err); !ok {
			t.Fatalf("Validate error %v is not a *portico.Error", err)
		}
	}
}
