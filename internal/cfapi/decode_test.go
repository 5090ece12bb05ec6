package cfapi

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/portico-edge/portico"
)

const ns = `xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"`

// unknownElementsConfig sets, besides what Portico models, elements it
// keeps verbatim at every level that has room for them.
const unknownElementsConfig = `<?xml version="1.0" encoding="UTF-8"?>
<DistributionConfig ` + ns + `>
  <CallerReference>extras</CallerReference>
  <Origins><Quantity>1</Quantity><Items><Origin>
    <Id>o</Id><DomainName>origin.example.com</DomainName>
    <S3OriginConfig><OriginAccessIdentity></OriginAccessIdentity><OriginReadTimeout>30</OriginReadTimeout></S3OriginConfig>
    <OriginShield><Enabled>true</Enabled><OriginShieldRegion>us-east-1</OriginShieldRegion></OriginShield>
  </Origin></Items></Origins>
  <DefaultCacheBehavior>
    <TargetOriginId>o</TargetOriginId>
    <TrustedSigners><Enabled>false</Enabled><Quantity>0</Quantity></TrustedSigners>
    <ViewerProtocolPolicy>https-only</ViewerProtocolPolicy>
    <FunctionAssociations><Quantity>1</Quantity><Items><FunctionAssociation><FunctionARN>arn:aws:cloudfront::123456789012:function/f</FunctionARN><EventType>viewer-request</EventType></FunctionAssociation></Items></FunctionAssociations>
    <ForwardedValues><QueryString>false</QueryString><Cookies><Forward>none</Forward></Cookies><Extra a="no">kept</Extra></ForwardedValues>
  </DefaultCacheBehavior>
  <Comment>c</Comment>
  <Logging><Enabled>false</Enabled><IncludeCookies>false</IncludeCookies><Bucket/><Prefix><!-- none --></Prefix></Logging>
  <Enabled>false</Enabled>
  <ViewerCertificate><CloudFrontDefaultCertificate>true</CloudFrontDefaultCertificate><Future><![CDATA[a<b]]>&amp;</Future></ViewerCertificate>
  <Restrictions><GeoRestriction><RestrictionType>none</RestrictionType><Quantity>0</Quantity></GeoRestriction></Restrictions>
  <HttpVersion>http2</HttpVersion>
  <IsIPV6Enabled>true</IsIPV6Enabled>
</DistributionConfig>`

// TestDecodeKeepsUnknownElements checks that elements Portico does not
// model come back byte for byte, and without namespace attributes of
// their own.
func TestDecodeKeepsUnknownElements(t *testing.T) {
	// An attribute is refused even in an unknown element; drop that one.
	doc := strings.Replace(unknownElementsConfig, `<Extra a="no">kept</Extra>`, `<Extra>kept</Extra>`, 1)
	cfg, err := decodeDistributionConfig([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	out, err := encodeDocument(documentHeader, "DistributionConfig", cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, elem := range []string{
		`<OriginReadTimeout>30</OriginReadTimeout>`,
		`<OriginShield><Enabled>true</Enabled><OriginShieldRegion>us-east-1</OriginShieldRegion></OriginShield>`,
		`<TrustedSigners><Enabled>false</Enabled><Quantity>0</Quantity></TrustedSigners>`,
		`<FunctionAssociations><Quantity>1</Quantity><Items><FunctionAssociation><FunctionARN>arn:aws:cloudfront::123456789012:function/f</FunctionARN><EventType>viewer-request</EventType></FunctionAssociation></Items></FunctionAssociations>`,
		`<Extra>kept</Extra>`,
		`<Logging><Enabled>false</Enabled><IncludeCookies>false</IncludeCookies><Bucket/><Prefix><!-- none --></Prefix></Logging>`,
		`<Future><![CDATA[a<b]]>&amp;</Future>`,
		`<Restrictions><GeoRestriction><RestrictionType>none</RestrictionType><Quantity>0</Quantity></GeoRestriction></Restrictions>`,
		`<HttpVersion>http2</HttpVersion>`,
		`<IsIPV6Enabled>true</IsIPV6Enabled>`,
	} {
		if !bytes.Contains(out, []byte(elem)) {
			t.Errorf("output lacks %s:\n%s", elem, out)
		}
	}
	if n := bytes.Count(out, []byte("xmlns")); n != 1 {
		t.Errorf("output has %d xmlns attributes, want 1 (on the root):\n%s", n, out)
	}
	if want := documentHeader + `<DistributionConfig ` + ns + `><CallerReference>extras</CallerReference>`; !bytes.HasPrefix(out, []byte(want)) {
		t.Errorf("output starts %.120q, want %q", out, want)
	}
	again, err := decodeDistributionConfig(out)
	if err != nil {
		t.Fatalf("re-decoding the output: %v", err)
	}
	if !reflect.DeepEqual(again, cfg) {
		t.Errorf("re-decoded configuration differs:\n got %+v\nwant %+v", again, cfg)
	}
}

// TestEncodeOmitsEmptyLists checks that a list with Quantity 0 comes back
// without Items, as CloudFront writes it and as the SDKs send it.
func TestEncodeOmitsEmptyLists(t *testing.T) {
	cfg, err := decodeDistributionConfig([]byte(`<DistributionConfig><CallerReference>r</CallerReference><Aliases><Quantity>0</Quantity><Items/></Aliases></DistributionConfig>`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := encodeDocument(documentHeader, "DistributionConfig", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := `<Aliases><Quantity>0</Quantity></Aliases>`; !bytes.Contains(out, []byte(want)) {
		t.Errorf("output %s lacks %s", out, want)
	}
}

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name, doc string
		check     func(*portico.DistributionConfig) bool
	}{
		{"no namespace", `<DistributionConfig><CallerReference>r</CallerReference></DistributionConfig>`,
			func(c *portico.DistributionConfig) bool { return c.CallerReference == "r" }},
		{"comments and CDATA", `<?xml version="1.0"?><!-- c --><DistributionConfig ` + ns + `><CallerReference><![CDATA[a<b]]><!-- x -->c</CallerReference></DistributionConfig>`,
			func(c *portico.DistributionConfig) bool { return c.CallerReference == "a<bc" }},
		{"white space around numbers and booleans", `<DistributionConfig><Enabled> true </Enabled><Aliases><Quantity> 0 </Quantity></Aliases></DistributionConfig>`,
			func(c *portico.DistributionConfig) bool { return c.IsEnabled() && c.Aliases.Quantity == 0 }},
		{"empty optional string kept", `<DistributionConfig><DefaultRootObject/></DistributionConfig>`,
			func(c *portico.DistributionConfig) bool {
				return c.DefaultRootObject != nil && *c.DefaultRootObject == ""
			}},
		{"Items without Quantity in an unknown element", `<DistributionConfig><Tags><Items><Tag/></Items></Tags></DistributionConfig>`,
			func(c *portico.DistributionConfig) bool {
				return len(c.Extra) == 1 && c.Extra[0].XMLName.Local == "Tags"
			}},
		{"unknown lists may repeat elements", `<DistributionConfig><TenantConfig><ParameterDefinitions><member/><member/></ParameterDefinitions></TenantConfig></DistributionConfig>`,
			func(c *portico.DistributionConfig) bool { return len(c.Extra) == 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := decodeDistributionConfig([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(cfg) {
				t.Errorf("decoded %+v", cfg)
			}
			if cfg.XMLName.Space != "" {
				t.Errorf("XMLName keeps namespace %q", cfg.XMLName.Space)
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	wrap := func(inner string) string { return `<DistributionConfig ` + ns + `>` + inner + `</DistributionConfig>` }
	tests := []struct {
		name, doc, code string
	}{
		{"empty", "", portico.ErrMissingBody},
		{"white space", " \n\t", portico.ErrMissingBody},
		{"not XML", "{}", portico.ErrMalformedInput},
		{"unclosed", `<DistributionConfig>`, portico.ErrMalformedInput},
		{"mismatched", wrap(`<Comment></Enabled>`), portico.ErrMalformedInput},
		{"wrong root", `<Distribution/>`, portico.ErrMalformedInput},
		{"two roots", wrap("") + `<DistributionConfig/>`, portico.ErrMalformedInput},
		{"text after the root", wrap("") + `x`, portico.ErrMalformedInput},
		{"DOCTYPE", `<!DOCTYPE DistributionConfig>` + wrap(""), portico.ErrMalformedInput},
		{"entity", `<!DOCTYPE d [<!ENTITY e "x">]>` + wrap(`<Comment>&e;</Comment>`), portico.ErrMalformedInput},
		{"undeclared entity", wrap(`<Comment>&e;</Comment>`), portico.ErrMalformedInput},
		{"processing instruction", wrap(`<?php x?>`), portico.ErrMalformedInput},
		{"late declaration", ` <!-- x --><?xml version="1.0"?>` + wrap(""), portico.ErrMalformedInput},
		{"namespace prefix", `<a:DistributionConfig xmlns:a="http://cloudfront.amazonaws.com/doc/2020-05-31/"/>`, portico.ErrMalformedInput},
		{"undeclared prefix", wrap(`<x:Comment>c</x:Comment>`), portico.ErrMalformedInput},
		{"other namespace", `<DistributionConfig xmlns="urn:other"/>`, portico.ErrMalformedInput},
		{"attribute", wrap(`<Comment lang="en">c</Comment>`), portico.ErrMalformedInput},
		{"attribute in an unknown element", wrap(`<Logging a="b"/>`), portico.ErrMalformedInput},
		{"namespace on a child", wrap(`<Logging ` + ns + `/>`), portico.ErrMalformedInput},
		{"text in a structure", wrap(`<Aliases>x<Quantity>0</Quantity></Aliases>`), portico.ErrMalformedInput},
		{"element in a leaf", wrap(`<Comment><b>c</b></Comment>`), portico.ErrMalformedInput},
		{"unknown element where none is kept", wrap(`<Aliases><Quantity>0</Quantity><Foo/></Aliases>`), portico.ErrMalformedInput},
		{"unknown element in Items", wrap(`<Aliases><Quantity>1</Quantity><Items><Name>a.example.com</Name></Items></Aliases>`), portico.ErrMalformedInput},
		{"repeated element", wrap(`<Comment>a</Comment><Comment>b</Comment>`), portico.ErrMalformedInput},
		{"repeated structure", wrap(`<Aliases><Quantity>0</Quantity></Aliases><Aliases><Quantity>0</Quantity></Aliases>`), portico.ErrMalformedInput},
		{"repeated Quantity", wrap(`<Logging><Quantity>0</Quantity><Quantity>0</Quantity></Logging>`), portico.ErrMalformedInput},
		{"repeated Items", wrap(`<Logging><Quantity>0</Quantity><Items/><Items/></Logging>`), portico.ErrMalformedInput},
		{"Quantity not an integer", wrap(`<Aliases><Quantity>1.0</Quantity></Aliases>`), portico.ErrMalformedInput},
		{"Quantity empty", wrap(`<Aliases><Quantity/></Aliases>`), portico.ErrMalformedInput},
		{"Quantity too large", wrap(`<Logging><Quantity>99999999999</Quantity></Logging>`), portico.ErrMalformedInput},
		{"Quantity with elements", wrap(`<Logging><Quantity><x/></Quantity></Logging>`), portico.ErrMalformedInput},
		{"Quantity above Items", wrap(`<Aliases><Quantity>2</Quantity><Items><CNAME>a.example.com</CNAME></Items></Aliases>`), portico.ErrInconsistentQuantities},
		{"Quantity below Items", wrap(`<Aliases><Quantity>0</Quantity><Items><CNAME>a.example.com</CNAME></Items></Aliases>`), portico.ErrInconsistentQuantities},
		{"Quantity without Items", wrap(`<Aliases><Quantity>1</Quantity></Aliases>`), portico.ErrInconsistentQuantities},
		{"Items without Quantity", wrap(`<Origins><Items><Origin/></Items></Origins>`), portico.ErrInconsistentQuantities},
		{"negative Quantity", wrap(`<Aliases><Quantity>-1</Quantity></Aliases>`), portico.ErrInconsistentQuantities},
		{"Quantity in an unknown list", wrap(`<Restrictions><GeoRestriction><RestrictionType>whitelist</RestrictionType><Quantity>3</Quantity><Items><Location>US</Location></Items></GeoRestriction></Restrictions>`), portico.ErrInconsistentQuantities},
		{"integer", wrap(`<Origins><Quantity>1</Quantity><Items><Origin><CustomOriginConfig><HTTPPort>eighty</HTTPPort></CustomOriginConfig></Origin></Items></Origins>`), portico.ErrInvalidArgument},
		{"integer out of range", wrap(`<DefaultCacheBehavior><MinTTL>9223372036854775808</MinTTL></DefaultCacheBehavior>`), portico.ErrInvalidArgument},
		{"empty integer", wrap(`<DefaultCacheBehavior><MaxTTL></MaxTTL></DefaultCacheBehavior>`), portico.ErrInvalidArgument},
		{"boolean", wrap(`<Enabled>yes</Enabled>`), portico.ErrInvalidArgument},
	}
	deep := wrap(strings.Repeat("<Logging>", maxDepth) + strings.Repeat("</Logging>", maxDepth))
	tests = append(tests, struct{ name, doc, code string }{"nested too deep", deep, portico.ErrMalformedInput})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := decodeDistributionConfig([]byte(tt.doc))
			var pe *portico.Error
			if !errors.As(err, &pe) || pe.Code != tt.code || pe.Status != 400 {
				t.Fatalf("decode = %+v, %v; want %s (400)", cfg, err, tt.code)
			}
		})
	}
}

func TestDecodeInvalidationBatch(t *testing.T) {
	b, err := decodeInvalidationBatch([]byte(`<InvalidationBatch ` + ns + `><Paths><Quantity>2</Quantity><Items><Path>/a</Path><Path>/b*</Path></Items></Paths><CallerReference>r</CallerReference></InvalidationBatch>`))
	if err != nil {
		t.Fatal(err)
	}
	if b.CallerReference != "r" || !reflect.DeepEqual(b.Paths.Items, []string{"/a", "/b*"}) {
		t.Errorf("decoded %+v", b)
	}
	for _, doc := range []string{
		`<InvalidationBatch><Paths><Quantity>1</Quantity><Items><Path>/a</Path></Items></Paths><Unknown/></InvalidationBatch>`,
		`<DistributionConfig/>`,
		`<InvalidationBatch><Paths><Quantity>1</Quantity><Items><Path>/a</Path><Path>/b</Path></Items></Paths></InvalidationBatch>`,
	} {
		if _, err := decodeInvalidationBatch([]byte(doc)); err == nil {
			t.Errorf("decodeInvalidationBatch(%s) succeeded", doc)
		}
	}
}

// FuzzDecodeDistributionConfig checks that the decoder never panics, and
// that whatever it accepts re-encodes into a document it accepts again as
// the same configuration.
func FuzzDecodeDistributionConfig(f *testing.F) {
	seed := renderFixture(f, "distribution-config.xml")
	f.Add([]byte(strings.Replace(seed, "${CERT_ARN}", "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-4333-8444-555555555555", 1)))
	f.Add([]byte(unknownElementsConfig))
	f.Add([]byte(`<DistributionConfig><CallerReference>r</CallerReference><Aliases><Quantity>0</Quantity><Items/></Aliases></DistributionConfig>`))
	f.Add([]byte(`<DistributionConfig ` + ns + `><Logging><Quantity>1</Quantity><Items><X>&amp;</X></Items></Logging></DistributionConfig>`))
	f.Add([]byte(`<!DOCTYPE d [<!ENTITY e "x">]><DistributionConfig/>`))
	f.Add([]byte(`<DistributionConfig><Origins><Quantity>1</Quantity><Items><Origin><CustomOriginConfig><HTTPPort>80</HTTPPort></CustomOriginConfig></Origin></Items></Origins></DistributionConfig>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		cfg, err := decodeDistributionConfig(doc)
		if err != nil {
			if _, ok := errors.AsType[*portico.Error](err); !ok {
				t.Fatalf("decode error %v is not a *portico.Error", err)
			}
			return
		}
		out, err := encodeDocument(documentHeader, "DistributionConfig", cfg)
		if err != nil {
			t.Fatalf("encoding an accepted configuration: %v", err)
		}
		again, err := decodeDistributionConfig(out)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", out, err)
		}
		// An accepted configuration re-encodes to the same document: the
		// encoding is a fixed point. (Comparing the decoded values would
		// tell an empty element's nil contents from empty ones.)
		out2, err := encodeDocument(documentHeader, "DistributionConfig", again)
		if err != nil || !bytes.Equal(out2, out) {
			t.Fatalf("round trip changed the configuration (%v):\n%s\nthen\n%s", err, out, out2)
		}
	})
}
