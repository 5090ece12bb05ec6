package acmapi_test

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/acm/types"
)

// acmTags returns key/value pairs as ACM tags.
func acmTags(kv ...string) []types.Tag {
	var tags []types.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		tags = append(tags, types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return tags
}

// listTags returns a certificate's tags as key=value strings.
func listTags(t *testing.T, c *acm.Client, arn string) []string {
	t.Helper()
	out, err := c.ListTagsForCertificate(t.Context(), &acm.ListTagsForCertificateInput{CertificateArn: &arn})
	if err != nil {
		t.Fatalf("ListTagsForCertificate: %v", err)
	}
	got := []string{}
	for _, tag := range out.Tags {
		got = append(got, aws.ToString(tag.Key)+"="+aws.ToString(tag.Value))
	}
	return got
}

// The tagging calls Terraform makes for aws_acm_certificate, through the
// AWS SDK for Go v2.
func TestSDKTags(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	cert := issue(t, certSpec{names: []string{"login.example.com"}, key: "rsa"})
	imported, err := e.client.ImportCertificate(ctx, &acm.ImportCertificateInput{
		Certificate: cert.cert, PrivateKey: cert.key, Tags: acmTags("Name", "login", "env", "prod"),
	})
	if err != nil {
		t.Fatalf("ImportCertificate with Tags: %v", err)
	}
	arn := aws.ToString(imported.CertificateArn)

	steps := []struct {
		name string
		call func() error
		want []string
	}{
		{"imported", func() error { return nil }, []string{"Name=login", "env=prod"}},
		{"add", func() error {
			_, err := e.client.AddTagsToCertificate(ctx, &acm.AddTagsToCertificateInput{CertificateArn: &arn, Tags: acmTags("env", "dev", "team", "")})
			return err
		}, []string{"Name=login", "env=dev", "team="}},
		{"remove by key, and by key and value", func() error {
			_, err := e.client.RemoveTagsFromCertificate(ctx, &acm.RemoveTagsFromCertificateInput{CertificateArn: &arn, Tags: []types.Tag{
				{Key: aws.String("Name")},
				{Key: aws.String("env"), Value: aws.String("prod")}, // value differs: kept
				{Key: aws.String("absent")},
			}})
			return err
		}, []string{"env=dev", "team="}},
		{"remove the rest", func() error {
			_, err := e.client.RemoveTagsFromCertificate(ctx, &acm.RemoveTagsFromCertificateInput{CertificateArn: &arn, Tags: acmTags("env", "dev", "team", "")})
			return err
		}, []string{}},
	}
	for _, s := range steps {
		if err := s.call(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := listTags(t, e.client, arn); !reflect.DeepEqual(got, s.want) {
			t.Fatalf("%s: tags = %q, want %q", s.name, got, s.want)
		}
	}

	// Deleting the certificate deletes its tags.
	if _, err := e.client.AddTagsToCertificate(ctx, &acm.AddTagsToCertificateInput{CertificateArn: &arn, Tags: acmTags("a", "b")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: &arn}); err != nil {
		t.Fatal(err)
	}
	for key := range e.dump(t) {
		if strings.HasPrefix(key, "tags/") {
			t.Errorf("%s outlived its certificate", key)
		}
	}
}

func TestSDKTagErrors(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	good := issue(t, certSpec{names: []string{"login.example.com"}, key: "rsa"})
	var fifty []string
	for i := range 51 {
		fifty = append(fifty, fmt.Sprintf("k%02d", i), "v")
	}
	imported, err := e.client.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: good.cert, PrivateKey: good.key, Tags: acmTags(fifty[:100]...)})
	if err != nil {
		t.Fatalf("ImportCertificate with 50 tags: %v", err)
	}
	arn := aws.ToString(imported.CertificateArn)
	unknown := arn[:strings.LastIndex(arn, "/")+1] + "00000000-0000-4000-8000-000000000000"
	const invalid = "arn:aws:s3:::my-bucket"
	add := func(arn string, tags []types.Tag) func() error {
		return func() error {
			_, err := e.client.AddTagsToCertificate(ctx, &acm.AddTagsToCertificateInput{CertificateArn: &arn, Tags: tags})
			return err
		}
	}

	tests := []struct {
		name   string
		call   func() error
		code   string
		target any
	}{
		{"import with a bad tag", func() error {
			_, err := e.client.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: good.cert, PrivateKey: good.key, Tags: acmTags("k", "a|b")})
			return err
		}, "InvalidTagException", new(*types.InvalidTagException)},
		{"import with 51 tags", func() error {
			_, err := e.client.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: good.cert, PrivateKey: good.key, Tags: acmTags(fifty...)})
			return err
		}, "TooManyTagsException", new(*types.TooManyTagsException)},
		{"re-import with tags", func() error {
			_, err := e.client.ImportCertificate(ctx, &acm.ImportCertificateInput{CertificateArn: &arn, Certificate: good.cert, PrivateKey: good.key, Tags: acmTags("a", "b")})
			return err
		}, "ValidationException", new(*types.ValidationException)},
		{"add: 51st tag", add(arn, acmTags("new", "v")), "TooManyTagsException", new(*types.TooManyTagsException)},
		{"add: key too long", add(arn, acmTags(strings.Repeat("k", 129), "v")), "InvalidTagException", new(*types.InvalidTagException)},
		{"add: value too long", add(arn, acmTags("k00", strings.Repeat("v", 257))), "InvalidTagException", new(*types.InvalidTagException)},
		{"add: reserved prefix", add(arn, acmTags("aws:name", "v")), "InvalidTagException", new(*types.InvalidTagException)},
		{"add: unknown certificate", add(unknown, acmTags("a", "b")), "ResourceNotFoundException", new(*types.ResourceNotFoundException)},
		{"add: invalid ARN", add(invalid, acmTags("a", "b")), "InvalidArnException", new(*types.InvalidArnException)},
		{"add: no tags", add(arn, []types.Tag{}), "ValidationException", new(*types.ValidationException)},
		{"remove: empty key", func() error {
			_, err := e.client.RemoveTagsFromCertificate(ctx, &acm.RemoveTagsFromCertificateInput{CertificateArn: &arn, Tags: acmTags("", "v")})
			return err
		}, "InvalidTagException", new(*types.InvalidTagException)},
		{"remove: unknown certificate", func() error {
			_, err := e.client.RemoveTagsFromCertificate(ctx, &acm.RemoveTagsFromCertificateInput{CertificateArn: aws.String(unknown), Tags: acmTags("k00", "v")})
			return err
		}, "ResourceNotFoundException", new(*types.ResourceNotFoundException)},
		{"list: unknown certificate", func() error {
			_, err := e.client.ListTagsForCertificate(ctx, &acm.ListTagsForCertificateInput{CertificateArn: aws.String(unknown)})
			return err
		}, "ResourceNotFoundException", new(*types.ResourceNotFoundException)},
		{"list: invalid ARN", func() error {
			_, err := e.client.ListTagsForCertificate(ctx, &acm.ListTagsForCertificateInput{CertificateArn: aws.String(invalid)})
			return err
		}, "InvalidArnException", new(*types.InvalidArnException)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.dump(t)
			err := tt.call()
			checkAPIError(t, err, tt.code, 400)
			if !errors.As(err, tt.target) {
				t.Errorf("error %T is not the SDK's %T", errors.Unwrap(err), tt.target)
			}
			if after := e.dump(t); !maps.Equal(before, after) {
				t.Error("a failed call changed the store")
			}
		})
	}
	if got := listTags(t, e.client, arn); len(got) != 50 {
		t.Errorf("%d tags after the failed calls, want 50", len(got))
	}
}
