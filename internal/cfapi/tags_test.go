package cfapi

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/portico-edge/portico"
)

// sdkTags returns the tags as the SDK sends them.
func sdkTags(kv ...string) *types.Tags {
	tags := &types.Tags{Items: []types.Tag{}}
	for i := 0; i+1 < len(kv); i += 2 {
		tags.Items = append(tags.Items, types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return tags
}

// tagMap returns the tags as key=value strings in the order received.
func tagMap(tags *types.Tags) []string {
	var out []string
	if tags == nil {
		return out
	}
	for _, t := range tags.Items {
		out = append(out, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
	}
	return out
}

// The tagging calls Terraform makes on every apply and refresh, through
// the AWS SDK for Go v2.
func TestSDKTags(t *testing.T) {
	env := newAPIEnv(t, time.Time{})
	ctx := t.Context()
	cf := env.sdkClient(testAccessKey, testSecretKey)
	cert := env.importCert(t, time.Now(), "login.example.com")

	created, err := cf.CreateDistributionWithTags(ctx, &cloudfront.CreateDistributionWithTagsInput{
		DistributionConfigWithTags: &types.DistributionConfigWithTags{
			DistributionConfig: seedSDKConfig("tagged", cert, "login.example.com"),
			Tags:               sdkTags("team", "edge", "env", "prod"),
		},
	})
	if err != nil {
		t.Fatalf("CreateDistributionWithTags: %v", err)
	}
	d := created.Distribution
	arn := aws.ToString(d.ARN)
	if aws.ToString(created.ETag) == "" || aws.ToString(d.Status) != "InProgress" ||
		aws.ToString(created.Location) != env.server.URL+"/2020-05-31/distribution/"+aws.ToString(d.Id) ||
		aws.ToString(d.DistributionConfig.CallerReference) != "tagged" {
		t.Errorf("created = %+v", created)
	}

	list := func(t *testing.T, want ...string) {
		t.Helper()
		out, err := cf.ListTagsForResource(ctx, &cloudfront.ListTagsForResourceInput{Resource: &arn})
		if err != nil {
			t.Fatalf("ListTagsForResource: %v", err)
		}
		if got := tagMap(out.Tags); !reflect.DeepEqual(got, want) {
			t.Fatalf("tags = %q, want %q", got, want)
		}
	}
	list(t, "env=prod", "team=edge")

	if _, err := cf.TagResource(ctx, &cloudfront.TagResourceInput{Resource: &arn, Tags: sdkTags("team", "platform", "Name", "")}); err != nil {
		t.Fatalf("TagResource: %v", err)
	}
	list(t, "Name=", "env=prod", "team=platform")

	if _, err := cf.UntagResource(ctx, &cloudfront.UntagResourceInput{Resource: &arn, TagKeys: &types.TagKeys{Items: []string{"env", "absent"}}}); err != nil {
		t.Fatalf("UntagResource: %v", err)
	}
	list(t, "Name=", "team=platform")

	if _, err := cf.UntagResource(ctx, &cloudfront.UntagResourceInput{Resource: &arn, TagKeys: &types.TagKeys{Items: []string{"Name", "team"}}}); err != nil {
		t.Fatalf("UntagResource: %v", err)
	}
	list(t)

	// Deleting the distribution deletes its tags.
	if _, err := cf.TagResource(ctx, &cloudfront.TagResourceInput{Resource: &arn, Tags: sdkTags("a", "b")}); err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(d.Id)
	cfg := seedSDKConfig("tagged", cert, "login.example.com")
	cfg.Enabled = aws.Bool(false)
	updated, err := cf.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{Id: &id, IfMatch: created.ETag, DistributionConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	env.deploy(t)
	if _, err := cf.DeleteDistribution(ctx, &cloudfront.DeleteDistributionInput{Id: &id, IfMatch: updated.ETag}); err != nil {
		t.Fatal(err)
	}
	for _, kv := range env.dump(t) {
		if strings.HasPrefix(kv.Key, "tags/") {
			t.Errorf("%s outlived its distribution", kv.Key)
		}
	}
	_, err = cf.ListTagsForResource(ctx, &cloudfront.ListTagsForResourceInput{Resource: &arn})
	wantAPIError[*types.NoSuchResource](t, err, 404)
}

func TestSDKTagErrors(t *testing.T) {
	env := newAPIEnv(t, time.Time{})
	ctx := t.Context()
	cf := env.sdkClient(testAccessKey, testSecretKey)
	created, err := cf.CreateDistributionWithTags(ctx, &cloudfront.CreateDistributionWithTagsInput{
		DistributionConfigWithTags: &types.DistributionConfigWithTags{
			DistributionConfig: seedSDKConfig("tagged", ""),
			Tags:               sdkTags("k", "v"),
		},
	})
	if err != nil {
		t.Fatalf("CreateDistributionWithTags: %v", err)
	}
	arn := aws.ToString(created.Distribution.ARN)
	missing := "arn:aws:cloudfront::123456789012:distribution/ENOSUCHDIST000"
	many := make([]string, 0, 102)
	for i := range 51 {
		many = append(many, fmt.Sprintf("k%02d", i), "v")
	}

	tag := func(arn string, tags *types.Tags) func() error {
		return func() error {
			_, err := cf.TagResource(ctx, &cloudfront.TagResourceInput{Resource: &arn, Tags: tags})
			return err
		}
	}
	tests := []struct {
		name  string
		call  func() error
		check func(*testing.T, error)
	}{
		{"create with a bad tag", func() error {
			_, err := cf.CreateDistributionWithTags(ctx, &cloudfront.CreateDistributionWithTagsInput{
				DistributionConfigWithTags: &types.DistributionConfigWithTags{
					DistributionConfig: seedSDKConfig("other", ""),
					Tags:               sdkTags("bad*key", "v"),
				},
			})
			return err
		}, func(t *testing.T, err error) { wantAPIError[*types.InvalidTagging](t, err, 400) }},
		{"create with 51 tags", func() error {
			_, err := cf.CreateDistributionWithTags(ctx, &cloudfront.CreateDistributionWithTagsInput{
				DistributionConfigWithTags: &types.DistributionConfigWithTags{
					DistributionConfig: seedSDKConfig("other", ""),
					Tags:               sdkTags(many...),
				},
			})
			return err
		}, func(t *testing.T, err error) { wantAPIError[*types.InvalidTagging](t, err, 400) }},
		{"create reusing a caller reference", func() error {
			_, err := cf.CreateDistributionWithTags(ctx, &cloudfront.CreateDistributionWithTagsInput{
				DistributionConfigWithTags: &types.DistributionConfigWithTags{
					DistributionConfig: seedSDKConfig("tagged", ""),
					Tags:               sdkTags("a", "b"),
				},
			})
			return err
		}, func(t *testing.T, err error) { wantAPIError[*types.DistributionAlreadyExists](t, err, 409) }},
		{"tag: key too long", tag(arn, sdkTags(strings.Repeat("k", 129), "v")),
			func(t *testing.T, err error) { wantAPIError[*types.InvalidTagging](t, err, 400) }},
		{"tag: value too long", tag(arn, sdkTags("k", strings.Repeat("v", 257))),
			func(t *testing.T, err error) { wantAPIError[*types.InvalidTagging](t, err, 400) }},
		{"tag: over 50 tags", tag(arn, sdkTags(many[2:]...)),
			func(t *testing.T, err error) { wantAPIError[*types.InvalidTagging](t, err, 400) }},
		{"tag: unknown distribution", tag(missing, sdkTags("a", "b")),
			func(t *testing.T, err error) { wantAPIError[*types.NoSuchResource](t, err, 404) }},
		{"untag: empty key", func() error {
			_, err := cf.UntagResource(ctx, &cloudfront.UntagResourceInput{Resource: &arn, TagKeys: &types.TagKeys{Items: []string{""}}})
			return err
		}, func(t *testing.T, err error) { wantAPIError[*types.InvalidTagging](t, err, 400) }},
		{"untag: unknown distribution", func() error {
			_, err := cf.UntagResource(ctx, &cloudfront.UntagResourceInput{Resource: &missing, TagKeys: &types.TagKeys{Items: []string{"k"}}})
			return err
		}, func(t *testing.T, err error) { wantAPIError[*types.NoSuchResource](t, err, 404) }},
		{"list: unknown distribution", func() error {
			_, err := cf.ListTagsForResource(ctx, &cloudfront.ListTagsForResourceInput{Resource: &missing})
			return err
		}, func(t *testing.T, err error) { wantAPIError[*types.NoSuchResource](t, err, 404) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := env.dump(t)
			err := tt.call()
			tt.check(t, err)
			if after := env.dump(t); !reflect.DeepEqual(after, before) {
				t.Fatal("a failed request changed the store")
			}
		})
	}
	// 50 tags in all is allowed: the distribution has k, add 49 more.
	if err := tag(arn, sdkTags(many[4:]...))(); err != nil {
		t.Fatalf("TagResource to 50 tags: %v", err)
	}
}

// Requests the SDK does not make, sent raw.
func TestTaggingRequestErrors(t *testing.T) {
	env := newAPIEnv(t, time.Time{})
	arn := "arn:aws:cloudfront::123456789012:distribution/ENOSUCHDIST000"
	tests := []struct {
		name, method, target, body, code string
		status                           int
	}{
		{"unknown operation", "POST", "tagging?Operation=Retag&Resource=" + arn, "<Tags/>", "InvalidArgument", 400},
		{"no resource", "GET", "tagging", "", "InvalidArgument", 400},
		{"tag without body", "POST", "tagging?Operation=Tag&Resource=" + arn, "", "MissingBody", 400},
		{"untag with tags", "POST", "tagging?Operation=Untag&Resource=" + arn,
			`<Tags xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Items/></Tags>`, "MalformedInput", 400},
		{"unknown element", "POST", "tagging?Operation=Tag&Resource=" + arn,
			`<Tags xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Quantity>1</Quantity></Tags>`, "MalformedInput", 400},
		{"delete", "DELETE", "tagging?Resource=" + arn, "", "MethodNotAllowed", 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := env.dump(t)
			resp := doGolden(t, env, newNormalizer(), tt.method+" /2020-05-31/"+tt.target+"\n\n"+tt.body)
			got := resp.format(newNormalizer())
			if resp.status != tt.status || !strings.Contains(got, "<Code>"+tt.code+"</Code>") {
				t.Errorf("response:\n%s\nwant %d %s", got, tt.status, tt.code)
			}
			if after := env.dump(t); !reflect.DeepEqual(after, before) {
				t.Fatal("a failed request changed the store")
			}
		})
	}
}

// FuzzDecodeTags feeds the tagging request documents to their decoders:
// every refusal is a *portico.Error, and accepted Tags re-encode to a
// document that decodes to the same tags.
func FuzzDecodeTags(f *testing.F) {
	f.Add([]byte(`<Tags ` + ns + `><Items><Tag><Key>a</Key><Value>b</Value></Tag><Tag><Key>c</Key></Tag></Items></Tags>`))
	f.Add([]byte(`<TagKeys ` + ns + `><Items><Key>a</Key><Key>b</Key></Items></TagKeys>`))
	f.Add([]byte(`<DistributionConfigWithTags ` + ns + `><DistributionConfig><CallerReference>r</CallerReference></DistributionConfig><Tags><Items/></Tags></DistributionConfigWithTags>`))
	f.Add([]byte(`<Tags><Items><Tag><Key>&amp;</Key><Key>x</Key></Tag></Items></Tags>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		var keys tagKeysXML
		if err := decodeDocument(doc, tagKeysSchema, &keys); err != nil {
			if _, ok := errors.AsType[*portico.Error](err); !ok {
				t.Fatalf("TagKeys: decode error %v is not a *portico.Error", err)
			}
		}
		var withTags distributionConfigWithTags
		if err := decodeDocument(doc, distributionConfigWithTagsSchema, &withTags); err != nil {
			if _, ok := errors.AsType[*portico.Error](err); !ok {
				t.Fatalf("DistributionConfigWithTags: decode error %v is not a *portico.Error", err)
			}
		}
		var tags tagsXML
		if err := decodeDocument(doc, tagsSchema, &tags); err != nil {
			if _, ok := errors.AsType[*portico.Error](err); !ok {
				t.Fatalf("Tags: decode error %v is not a *portico.Error", err)
			}
			return
		}
		out, err := encodeDocument(documentHeader, "Tags", &tags)
		if err != nil {
			t.Fatalf("encoding accepted tags: %v", err)
		}
		var again tagsXML
		if err := decodeDocument(out, tagsSchema, &again); err != nil {
			t.Fatalf("re-decoding %s: %v", out, err)
		}
		if !reflect.DeepEqual(again.tags(), tags.tags()) {
			t.Fatalf("tags changed through encoding: %v, then %v", tags.tags(), again.tags())
		}
	})
}
