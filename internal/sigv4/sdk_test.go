package sigv4

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/portico-edge/portico"
)

// TestSDKClients points the AWS SDK for Go's CloudFront and ACM clients at
// an HTTPS server whose handler verifies each request, and checks what the
// handler found. The clients' calls themselves fail, since the handler
// answers nothing they can decode; only the verification matters.
func TestSDKClients(t *testing.T) {
	v := newTestVerifier()
	v.Now = nil // the SDK signs with the real clock
	outcomes := make(chan outcome, 8)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		outcomes <- verify(v, r)
		w.WriteHeader(http.StatusTeapot)
	}))
	defer srv.Close()

	updateConfig := &cftypes.DistributionConfig{
		CallerReference: aws.String("ref-1"),
		Comment:         aws.String("auth proxy"),
		Enabled:         aws.Bool(true),
		Origins: &cftypes.Origins{Quantity: aws.Int32(1), Items: []cftypes.Origin{{
			Id: aws.String("auth0"), DomainName: aws.String("tenant.edge.tenants.auth0.com"),
		}}},
		DefaultCacheBehavior: &cftypes.DefaultCacheBehavior{
			TargetOriginId:       aws.String("auth0"),
			ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyRedirectToHttps,
		},
	}
	cloudfrontCalls := map[string]func(context.Context, *cloudfront.Client) error{
		"ListDistributions": func(ctx context.Context, c *cloudfront.Client) error {
			_, err := c.ListDistributions(ctx, &cloudfront.ListDistributionsInput{Marker: aws.String(""), MaxItems: aws.Int32(10)})
			return err
		},
		"GetDistribution": func(ctx context.Context, c *cloudfront.Client) error {
			_, err := c.GetDistribution(ctx, &cloudfront.GetDistributionInput{Id: aws.String("EDFDVBD6/EX AMPLE%é")})
			return err
		},
		"UpdateDistribution": func(ctx context.Context, c *cloudfront.Client) error {
			_, err := c.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{
				Id: aws.String("EDFDVBD6EXAMPLE"), IfMatch: aws.String("E2QWRUHEXAMPLE"), DistributionConfig: updateConfig,
			})
			return err
		},
		"CreateInvalidation": func(ctx context.Context, c *cloudfront.Client) error {
			_, err := c.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{
				DistributionId: aws.String("EDFDVBD6EXAMPLE"),
				InvalidationBatch: &cftypes.InvalidationBatch{
					CallerReference: aws.String("inv-1"),
					Paths:           &cftypes.Paths{Quantity: aws.Int32(2), Items: []string{"/images/*", "/a b/ü?x=1&y=<2>"}},
				},
			})
			return err
		},
	}
	acmCalls := map[string]func(context.Context, *acm.Client) error{
		"ListCertificates": func(ctx context.Context, c *acm.Client) error {
			_, err := c.ListCertificates(ctx, &acm.ListCertificatesInput{MaxItems: aws.Int32(10)})
			return err
		},
		"DescribeCertificate": func(ctx context.Context, c *acm.Client) error {
			_, err := c.DescribeCertificate(ctx, &acm.DescribeCertificateInput{
				CertificateArn: aws.String("arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"),
			})
			return err
		},
	}

	tests := []struct {
		name     string
		client   string // "cloudfront" or "acm"
		call     string
		region   string // default us-east-1
		creds    aws.CredentialsProvider
		wantCode string
	}{
		{name: "ListDistributions", client: "cloudfront", call: "ListDistributions"},
		{name: "GetDistribution with escapes in ID", client: "cloudfront", call: "GetDistribution"},
		{name: "UpdateDistribution with If-Match", client: "cloudfront", call: "UpdateDistribution"},
		{name: "CreateInvalidation", client: "cloudfront", call: "CreateInvalidation"},
		{name: "ListCertificates", client: "acm", call: "ListCertificates"},
		{name: "DescribeCertificate", client: "acm", call: "DescribeCertificate"},
		{name: "ListCertificates in eu-west-1", client: "acm", call: "ListCertificates", region: "eu-west-1"},
		{name: "wrong secret", client: "cloudfront", call: "ListDistributions",
			creds: credentials.NewStaticCredentialsProvider(testKeyID, "wrong", ""), wantCode: portico.ErrSignatureDoesNotMatch},
		{name: "wrong secret acm", client: "acm", call: "ListCertificates",
			creds: credentials.NewStaticCredentialsProvider(testKeyID, "wrong", ""), wantCode: portico.ErrSignatureDoesNotMatch},
		{name: "unknown access key", client: "cloudfront", call: "GetDistribution",
			creds: credentials.NewStaticCredentialsProvider("AKIDUNKNOWN", testSecret, ""), wantCode: portico.ErrInvalidClientTokenID},
		{name: "anonymous", client: "acm", call: "ListCertificates",
			creds: aws.AnonymousCredentials{}, wantCode: "MissingAuthenticationToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := aws.Config{
				Region:      or(tt.region, "us-east-1"),
				Credentials: tt.creds,
				HTTPClient:  srv.Client(),
				Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
			}
			if cfg.Credentials == nil {
				cfg.Credentials = credentials.NewStaticCredentialsProvider(testKeyID, testSecret, "")
			}
			ctx := context.Background()
			var err error
			switch tt.client {
			case "cloudfront":
				err = cloudfrontCalls[tt.call](ctx, cloudfront.NewFromConfig(cfg, func(o *cloudfront.Options) { o.BaseEndpoint = aws.String(srv.URL) }))
			case "acm":
				err = acmCalls[tt.call](ctx, acm.NewFromConfig(cfg, func(o *acm.Options) { o.BaseEndpoint = aws.String(srv.URL) }))
			}
			if err == nil {
				t.Fatal("SDK call succeeded against a server that answers nothing useful")
			}
			var got outcome
			select {
			case got = <-outcomes:
			default:
				t.Fatalf("the request never reached the server: %v", err)
			}
			if n := len(outcomes); n > 0 {
				t.Fatalf("the call sent %d more requests, want 1", n)
			}
			if tt.wantCode != "" {
				if got.Code != tt.wantCode || got.Status != http.StatusForbidden {
					t.Errorf("Verify = %d %s (%s), want 403 %s", got.Status, got.Code, got.Message, tt.wantCode)
				}
				return
			}
			want := Identity{AccessKeyID: testKeyID, Service: tt.client, Region: cfg.Region}
			if got.Code != "" || got.Identity != want {
				t.Errorf("Verify = %+v, %s: %s; want %+v, no error", got.Identity, got.Code, got.Message, want)
			}
		})
	}
}
