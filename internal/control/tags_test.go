package control

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/testpki"
)

// importTaggedCert imports a fresh self-signed certificate for name, with
// tags, and returns its ARN.
func (e *distEnv) importTaggedCert(t *testing.T, name string, tags []Tag) string {
	t.Helper()
	now := time.Now()
	l := testpki.SelfSigned(t, []string{name}, testpki.Validity(now.Add(-24*time.Hour), now.Add(24*time.Hour)))
	c, err := e.svc.ImportCertificateWithTags(t.Context(), l.CertPEM, nil, l.KeyPEM, tags)
	if err != nil {
		t.Fatal(err)
	}
	return c.ARN
}

// manyTags returns n distinct valid tags.
func manyTags(n int) []Tag {
	tags := make([]Tag, n)
	for i := range tags {
		tags[i] = Tag{Key: fmt.Sprintf("k%02d", i), Value: "v"}
	}
	return tags
}

func wantTags(t *testing.T, got []Tag, err error, want []Tag) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("tags = %v, want %v", got, want)
	}
}

func TestDistributionTags(t *testing.T) {
	e := newDistEnv(t)
	ctx := t.Context()
	d, err := e.svc.CreateDistributionWithTags(ctx, seedConfig("ref", ""), []Tag{{"team", "edge"}, {"env", "prod"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.keys(t, keyTags); !reflect.DeepEqual(got, []string{keyTags + d.ARN}) {
		t.Fatalf("tag keys = %v", got)
	}
	// The tags were written in the distribution's own transaction.
	kvs, _, err := e.store.List(ctx, keyTags)
	if err != nil {
		t.Fatal(err)
	}
	if kvs[0].ModRev != d.Rev {
		t.Errorf("tags written at rev %d, distribution at %d", kvs[0].ModRev, d.Rev)
	}
	tags, err := e.svc.ListTagsForResource(ctx, d.ARN)
	wantTags(t, tags, err, []Tag{{"env", "prod"}, {"team", "edge"}})

	if err := e.svc.TagResource(ctx, d.ARN, []Tag{{"team", "platform"}, {"cost center", "42"}}); err != nil {
		t.Fatal(err)
	}
	tags, err = e.svc.ListTagsForResource(ctx, d.ARN)
	wantTags(t, tags, err, []Tag{{"cost center", "42"}, {"env", "prod"}, {"team", "platform"}})

	if err := e.svc.UntagResource(ctx, d.ARN, []string{"env", "absent"}); err != nil {
		t.Fatal(err)
	}
	tags, err = e.svc.ListTagsForResource(ctx, d.ARN)
	wantTags(t, tags, err, []Tag{{"cost center", "42"}, {"team", "platform"}})

	// Removing the last tag removes the key.
	if err := e.svc.UntagResource(ctx, d.ARN, []string{"cost center", "team"}); err != nil {
		t.Fatal(err)
	}
	if got := e.keys(t, keyTags); len(got) != 0 {
		t.Fatalf("tag keys after removing every tag = %v", got)
	}
	tags, err = e.svc.ListTagsForResource(ctx, d.ARN)
	wantTags(t, tags, err, nil)

	// Deleting the distribution deletes its tags.
	if err := e.svc.TagResource(ctx, d.ARN, []Tag{{"a", ""}}); err != nil {
		t.Fatal(err)
	}
	disabled := seedConfig("ref", "")
	disabled.Enabled = portico.Ptr(false)
	u, err := e.svc.UpdateDistribution(ctx, d.ID, d.ETag, disabled)
	if err != nil {
		t.Fatal(err)
	}
	e.deploy(t)
	if err := e.svc.DeleteDistribution(ctx, d.ID, u.ETag); err != nil {
		t.Fatal(err)
	}
	if got := e.keys(t, keyTags); len(got) != 0 {
		t.Fatalf("tag keys after DeleteDistribution = %v", got)
	}
	e.wantUnchanged(t, portico.ErrNoSuchResource, 404, func() error { return e.svc.TagResource(ctx, d.ARN, []Tag{{"a", "b"}}) })
}

func TestCreateDistributionWithoutTags(t *testing.T) {
	e := newDistEnv(t)
	d, err := e.svc.CreateDistributionWithTags(t.Context(), seedConfig("ref", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.keys(t, keyTags); len(got) != 0 {
		t.Fatalf("tag keys = %v", got)
	}
	tags, err := e.svc.ListTagsForResource(t.Context(), d.ARN)
	wantTags(t, tags, err, nil)
}

func TestDistributionTagErrors(t *testing.T) {
	e := newDistEnv(t)
	ctx := t.Context()
	d, err := e.svc.CreateDistributionWithTags(ctx, seedConfig("ref", ""), manyTags(49))
	if err != nil {
		t.Fatal(err)
	}
	e.deploy(t)
	other := "arn:aws:cloudfront::123456789012:distribution/ENOSUCH0000000"
	tests := []struct {
		name   string
		code   string
		status int
		call   func() error
	}{
		{"create: empty key", portico.ErrInvalidTagging, 400, func() error {
			_, err := e.svc.CreateDistributionWithTags(ctx, seedConfig("ref2", ""), []Tag{{"", "v"}})
			return err
		}},
		{"create: 51 tags", portico.ErrInvalidTagging, 400, func() error {
			_, err := e.svc.CreateDistributionWithTags(ctx, seedConfig("ref2", ""), manyTags(51))
			return err
		}},
		{"create: bad config", portico.ErrInvalidArgument, 400, func() error {
			cfg := seedConfig("ref2", "")
			cfg.DefaultCacheBehavior.ViewerProtocolPolicy = "sometimes"
			_, err := e.svc.CreateDistributionWithTags(ctx, cfg, []Tag{{"a", "b"}})
			return err
		}},
		{"create: caller reference reused", portico.ErrDistributionAlreadyExists, 409, func() error {
			_, err := e.svc.CreateDistributionWithTags(ctx, seedConfig("ref", ""), []Tag{{"a", "b"}})
			return err
		}},
		{"tag: key too long", portico.ErrInvalidTagging, 400, func() error {
			return e.svc.TagResource(ctx, d.ARN, []Tag{{strings.Repeat("k", 129), "v"}})
		}},
		{"tag: value too long", portico.ErrInvalidTagging, 400, func() error {
			return e.svc.TagResource(ctx, d.ARN, []Tag{{"k", strings.Repeat("v", 257)}})
		}},
		{"tag: bad character", portico.ErrInvalidTagging, 400, func() error {
			return e.svc.TagResource(ctx, d.ARN, []Tag{{"k", "a;b"}})
		}},
		{"tag: invalid UTF-8", portico.ErrInvalidTagging, 400, func() error {
			return e.svc.TagResource(ctx, d.ARN, []Tag{{"k\xff", "v"}})
		}},
		{"tag: reserved prefix", portico.ErrInvalidTagging, 400, func() error {
			return e.svc.TagResource(ctx, d.ARN, []Tag{{"aws:created", "v"}})
		}},
		{"tag: duplicate key", portico.ErrInvalidTagging, 400, func() error {
			return e.svc.TagResource(ctx, d.ARN, []Tag{{"x", "1"}, {"x", "2"}})
		}},
		{"tag: 51st tag", portico.ErrInvalidTagging, 400, func() error {
			return e.svc.TagResource(ctx, d.ARN, []Tag{{"x", "1"}, {"y", "2"}})
		}},
		{"tag: unknown distribution", portico.ErrNoSuchResource, 404, func() error {
			return e.svc.TagResource(ctx, other, []Tag{{"a", "b"}})
		}},
		{"tag: other account", portico.ErrNoSuchResource, 404, func() error {
			return e.svc.TagResource(ctx, strings.Replace(d.ARN, "123456789012", "210987654321", 1), []Tag{{"a", "b"}})
		}},
		{"tag: certificate ARN", portico.ErrNoSuchResource, 404, func() error {
			return e.svc.TagResource(ctx, "arn:aws:acm:us-east-1:123456789012:certificate/x", []Tag{{"a", "b"}})
		}},
		{"tag: no ARN", portico.ErrInvalidArgument, 400, func() error {
			return e.svc.TagResource(ctx, "", []Tag{{"a", "b"}})
		}},
		{"untag: bad key", portico.ErrInvalidTagging, 400, func() error {
			return e.svc.UntagResource(ctx, d.ARN, []string{""})
		}},
		{"untag: unknown distribution", portico.ErrNoSuchResource, 404, func() error {
			return e.svc.UntagResource(ctx, other, []string{"k00"})
		}},
		{"list: unknown distribution", portico.ErrNoSuchResource, 404, func() error {
			_, err := e.svc.ListTagsForResource(ctx, other)
			return err
		}},
		{"list: malformed ARN", portico.ErrNoSuchResource, 404, func() error {
			_, err := e.svc.ListTagsForResource(ctx, "arn:aws:cloudfront::123456789012:distribution/e/../x")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { e.wantUnchanged(t, tt.code, tt.status, tt.call) })
	}
	// Exactly 50 is allowed, and values may be empty and use every allowed
	// character.
	if err := e.svc.TagResource(ctx, d.ARN, []Tag{{"Ünïcode 名前 _.:/=+-@", ""}}); err != nil {
		t.Fatal(err)
	}
}

func TestCertificateTags(t *testing.T) {
	e := newDistEnv(t)
	ctx := t.Context()
	arn := e.importTaggedCert(t, "login.example.com", []Tag{{"Name", "login"}})
	tags, err := e.svc.ListTagsForCertificate(ctx, arn)
	wantTags(t, tags, err, []Tag{{"Name", "login"}})

	if err := e.svc.AddTagsToCertificate(ctx, arn, []Tag{{"env", "prod"}, {"Name", "auth"}}); err != nil {
		t.Fatal(err)
	}
	tags, err = e.svc.ListTagsForCertificate(ctx, arn)
	wantTags(t, tags, err, []Tag{{"Name", "auth"}, {"env", "prod"}})

	// A value that does not match keeps the tag; nil matches any.
	if err := e.svc.RemoveTagsFromCertificate(ctx, arn, []RemoveTag{{Key: "env", Value: portico.Ptr("dev")}, {Key: "Name"}}); err != nil {
		t.Fatal(err)
	}
	tags, err = e.svc.ListTagsForCertificate(ctx, arn)
	wantTags(t, tags, err, []Tag{{"env", "prod"}})

	if err := e.svc.DeleteCertificate(ctx, arn); err != nil {
		t.Fatal(err)
	}
	if got := e.keys(t, keyTags); len(got) != 0 {
		t.Fatalf("tag keys after DeleteCertificate = %v", got)
	}
}

func TestCertificateTagErrors(t *testing.T) {
	e := newDistEnv(t)
	ctx := t.Context()
	arn := e.importTaggedCert(t, "login.example.com", manyTags(50))
	missing := strings.Replace(arn, "certificate/", "certificate/0", 1)
	now := time.Now()
	l := testpki.SelfSigned(t, []string{"x.example.com"}, testpki.Validity(now.Add(-time.Hour), now.Add(time.Hour)))
	tests := []struct {
		name string
		code string
		call func() error
	}{
		{"import: bad tag", portico.ErrACMInvalidTag, func() error {
			_, err := e.svc.ImportCertificateWithTags(ctx, l.CertPEM, nil, l.KeyPEM, []Tag{{"k", "<script>"}})
			return err
		}},
		{"import: 51 tags", portico.ErrACMTooManyTags, func() error {
			_, err := e.svc.ImportCertificateWithTags(ctx, l.CertPEM, nil, l.KeyPEM, manyTags(51))
			return err
		}},
		{"import: bad certificate", portico.ErrACMValidation, func() error {
			_, err := e.svc.ImportCertificateWithTags(ctx, []byte("junk"), nil, l.KeyPEM, []Tag{{"a", "b"}})
			return err
		}},
		{"add: 51st tag", portico.ErrACMTooManyTags, func() error {
			return e.svc.AddTagsToCertificate(ctx, arn, []Tag{{"new", "v"}})
		}},
		{"add: reserved prefix", portico.ErrACMInvalidTag, func() error {
			return e.svc.AddTagsToCertificate(ctx, arn, []Tag{{"AWS:x", "v"}})
		}},
		{"add: unknown certificate", portico.ErrResourceNotFound, func() error {
			return e.svc.AddTagsToCertificate(ctx, missing, []Tag{{"a", "b"}})
		}},
		{"add: other region", portico.ErrResourceNotFound, func() error {
			return e.svc.AddTagsToCertificate(ctx, strings.Replace(arn, "us-east-1", "eu-west-1", 1), []Tag{{"a", "b"}})
		}},
		{"add: bad ARN", portico.ErrACMInvalidArn, func() error {
			return e.svc.AddTagsToCertificate(ctx, "arn:aws:cloudfront::1:distribution/E1", []Tag{{"a", "b"}})
		}},
		{"remove: bad key", portico.ErrACMInvalidTag, func() error {
			return e.svc.RemoveTagsFromCertificate(ctx, arn, []RemoveTag{{Key: strings.Repeat("k", 129)}})
		}},
		{"remove: unknown certificate", portico.ErrResourceNotFound, func() error {
			return e.svc.RemoveTagsFromCertificate(ctx, missing, []RemoveTag{{Key: "k00"}})
		}},
		{"list: unknown certificate", portico.ErrResourceNotFound, func() error {
			_, err := e.svc.ListTagsForCertificate(ctx, missing)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { e.wantUnchanged(t, tt.code, 400, tt.call) })
	}
}

// FuzzCheckTags: a tag that checkTags accepts meets AWS's rules, and
// validTagText agrees with AWS's pattern on every character.
func FuzzCheckTags(f *testing.F) {
	f.Add("Name", "login")
	f.Add("", "")
	f.Add("aws:x", "v")
	f.Add("名前 _.:/=+-@", "\xff")
	f.Add(strings.Repeat("k", 129), "v")
	f.Fuzz(func(t *testing.T, key, value string) {
		p := checkTags([]Tag{{key, value}})
		if p != nil {
			if p.cloudFront().Code != portico.ErrInvalidTagging || p.acm().Code != portico.ErrACMInvalidTag || p.msg == "" {
				t.Fatalf("problem %+v renders wrongly", p)
			}
			return
		}
		if !utf8.ValidString(key) || !utf8.ValidString(value) {
			t.Fatalf("accepted invalid UTF-8 %q=%q", key, value)
		}
		if n := utf8.RuneCountInString(key); n < 1 || n > 128 || utf8.RuneCountInString(value) > 256 {
			t.Fatalf("accepted %q=%q of the wrong length", key, value)
		}
		if strings.ContainsAny(key+value, "<>&;\"'\\\n\t*|") {
			t.Fatalf("accepted a character outside the pattern in %q=%q", key, value)
		}
		if strings.HasPrefix(strings.ToLower(key), "aws:") {
			t.Fatalf("accepted reserved key %q", key)
		}
	})
}

func TestPolicyTags(t *testing.T) {
	e := newDistEnv(t)
	ctx := t.Context()
	t.Run("cache", func(t *testing.T) { testPolicyTags(t, e, cacheOps(e.svc), "cache-policy") })
	t.Run("origin", func(t *testing.T) { testPolicyTags(t, e, originOps(e.svc), "origin-request-policy") })
	t.Run("headers", func(t *testing.T) { testPolicyTags(t, e, headersOps(e.svc), "response-headers-policy") })
	managed := "arn:aws:cloudfront::123456789012:cache-policy/" + portico.ManagedCachingOptimized
	e.wantUnchanged(t, portico.ErrNoSuchResource, 404, func() error { return e.svc.TagResource(ctx, managed, []Tag{{"a", "b"}}) })
}

func testPolicyTags[C any](t *testing.T, e *distEnv, ops policyOps[C], arnType string) {
	ctx := t.Context()
	p, err := ops.create(ctx, ops.newConfig("tagged-"+arnType))
	if err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:cloudfront::123456789012:" + arnType + "/" + p.ID
	if err := e.svc.TagResource(ctx, arn, []Tag{{"k", "v"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := e.svc.ListTagsForResource(ctx, arn)
	wantTags(t, tags, err, []Tag{{"k", "v"}})
	if err := ops.delete(ctx, p.ID, p.ETag); err != nil {
		t.Fatal(err)
	}
	if got := e.keys(t, keyTags); len(got) != 0 {
		t.Fatalf("tag keys after deleting the policy = %v", got)
	}
	e.wantUnchanged(t, portico.ErrNoSuchResource, 404, func() error {
		_, err := e.svc.ListTagsForResource(ctx, arn)
		return err
	})
}
