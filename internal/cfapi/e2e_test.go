package cfapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// sdkClient returns a CloudFront client of the real AWS SDK pointed at the
// test server, signing with the given credentials and never retrying.
func (e *apiEnv) sdkClient(accessKey, secret string) *cloudfront.Client {
	return cloudfront.New(cloudfront.Options{
		BaseEndpoint:     aws.String(e.server.URL),
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider(accessKey, secret, ""),
		HTTPClient:       e.server.Client(),
		RetryMaxAttempts: 1,
	})
}

// seedSDKConfig is the configuration the Auth0 custom domain guide makes,
// as the SDK sends it.
func seedSDKConfig(callerRef, certARN string, aliases ...string) *types.DistributionConfig {
	cfg := &types.DistributionConfig{
		CallerReference: aws.String(callerRef),
		Comment:         aws.String("Auth0 custom domain"),
		Enabled:         aws.Bool(true),
		PriceClass:      types.PriceClassPriceClassAll,
		Origins: &types.Origins{Quantity: aws.Int32(1), Items: []types.Origin{{
			Id:         aws.String("auth0-origin"),
			DomainName: aws.String("tenant-cd-abc123.edge.tenants.us.auth0.com"),
			CustomHeaders: &types.CustomHeaders{Quantity: aws.Int32(1), Items: []types.OriginCustomHeader{{
				HeaderName:  aws.String("cname-api-key"),
				HeaderValue: aws.String("s3cr3t-cname-api-key-value"),
			}}},
			CustomOriginConfig: &types.CustomOriginConfig{
				HTTPPort:             aws.Int32(80),
				HTTPSPort:            aws.Int32(443),
				OriginProtocolPolicy: types.OriginProtocolPolicyHttpsOnly,
				OriginSslProtocols: &types.OriginSslProtocols{
					Quantity: aws.Int32(1),
					Items:    []types.SslProtocol{types.SslProtocolTLSv12},
				},
			},
		}}},
		DefaultCacheBehavior: &types.DefaultCacheBehavior{
			TargetOriginId:       aws.String("auth0-origin"),
			ViewerProtocolPolicy: types.ViewerProtocolPolicyRedirectToHttps,
			AllowedMethods: &types.AllowedMethods{
				Quantity: aws.Int32(7),
				Items: []types.Method{types.MethodGet, types.MethodHead, types.MethodOptions,
					types.MethodPut, types.MethodPost, types.MethodPatch, types.MethodDelete},
				CachedMethods: &types.CachedMethods{
					Quantity: aws.Int32(2),
					Items:    []types.Method{types.MethodGet, types.MethodHead},
				},
			},
			ForwardedValues: &types.ForwardedValues{
				QueryString: aws.Bool(true),
				Cookies:     &types.CookiePreference{Forward: types.ItemSelectionAll},
				Headers: &types.Headers{Quantity: aws.Int32(6), Items: []string{
					"User-Agent", "Origin", "Referer", "Authorization", "Accept", "Accept-Language",
				}},
			},
			MinTTL:     aws.Int64(0),
			DefaultTTL: aws.Int64(86400),
			MaxTTL:     aws.Int64(31536000),
		},
	}
	if len(aliases) > 0 {
		cfg.Aliases = &types.Aliases{Quantity: aws.Int32(int32(len(aliases))), Items: aliases}
	}
	if certARN != "" {
		cfg.ViewerCertificate = &types.ViewerCertificate{
			ACMCertificateArn:      aws.String(certARN),
			SSLSupportMethod:       types.SSLSupportMethodSniOnly,
			MinimumProtocolVersion: types.MinimumProtocolVersionTLSv122021,
		}
	}
	return cfg
}

// withExtras returns a copy of cfg that also sets elements Portico keeps
// without modelling them.
func withExtras(cfg *types.DistributionConfig) *types.DistributionConfig {
	c := *cfg
	c.Logging = &types.LoggingConfig{Enabled: aws.Bool(false), IncludeCookies: aws.Bool(false), Bucket: aws.String(""), Prefix: aws.String("")}
	c.Restrictions = &types.Restrictions{GeoRestriction: &types.GeoRestriction{
		RestrictionType: types.GeoRestrictionTypeWhitelist, Quantity: aws.Int32(2), Items: []string{"US", "DE"},
	}}
	c.HttpVersion = types.HttpVersionHttp2and3
	c.IsIPV6Enabled = aws.Bool(true)
	c.WebACLId = aws.String("")
	c.Staging = aws.Bool(false)
	origin := c.Origins.Items[0]
	origin.OriginShield = &types.OriginShield{Enabled: aws.Bool(true), OriginShieldRegion: aws.String("us-east-1")}
	origin.OriginAccessControlId = aws.String("")
	c.Origins = &types.Origins{Quantity: aws.Int32(1), Items: []types.Origin{origin}}
	dcb := *c.DefaultCacheBehavior
	dcb.TrustedSigners = &types.TrustedSigners{Enabled: aws.Bool(false), Quantity: aws.Int32(0)}
	dcb.FunctionAssociations = &types.FunctionAssociations{Quantity: aws.Int32(1), Items: []types.FunctionAssociation{{
		EventType: types.EventTypeViewerRequest, FunctionARN: aws.String("arn:aws:cloudfront::123456789012:function/rewrite"),
	}}}
	dcb.Compress = aws.Bool(true)
	c.DefaultCacheBehavior = &dcb
	return &c
}

// wantAPIError fails the test unless err is the typed SDK error *T with
// the HTTP status.
func wantAPIError[T error](t *testing.T, err error, status int) {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("error = %v, want %T", err, target)
	}
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != status {
		t.Fatalf("error = %v, want HTTP status %d", err, status)
	}
}

func TestSDKEndToEnd(t *testing.T) {
	env := newAPIEnv(t, time.Time{})
	ctx := t.Context()
	cf := env.sdkClient(testAccessKey, testSecretKey)
	arn := env.importCert(t, time.Now(), "login.example.com")

	// unchanged runs f, which must fail, and checks the store stayed as it
	// was.
	unchanged := func(t *testing.T, f func() error) error {
		t.Helper()
		before := env.dump(t)
		err := f()
		if err == nil {
			t.Fatal("request succeeded, want an error")
		}
		if after := env.dump(t); !reflect.DeepEqual(after, before) {
			t.Fatalf("a failed request changed the store")
		}
		return err
	}

	// Create the seed distribution.
	sent := seedSDKConfig("seed-1", arn, "login.example.com")
	created, err := cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: sent})
	if err != nil {
		t.Fatalf("CreateDistribution: %v", err)
	}
	d := created.Distribution
	id := aws.ToString(d.Id)
	if want := env.server.URL + "/2020-05-31/distribution/" + id; aws.ToString(created.Location) != want {
		t.Errorf("Location = %q, want %q", aws.ToString(created.Location), want)
	}
	if aws.ToString(created.ETag) == "" || aws.ToString(d.Status) != "InProgress" ||
		aws.ToString(d.DomainName) != strings.ToLower(id)+".portico.test" ||
		aws.ToString(d.ARN) != "arn:aws:cloudfront::123456789012:distribution/"+id ||
		d.LastModifiedTime == nil || aws.ToInt32(d.InProgressInvalidationBatches) != 0 {
		t.Errorf("created distribution = %+v, ETag %q", d, aws.ToString(created.ETag))
	}
	if s := d.ActiveTrustedSigners; s == nil || aws.ToBool(s.Enabled) || aws.ToInt32(s.Quantity) != 0 {
		t.Errorf("ActiveTrustedSigners = %+v, want disabled and empty", s)
	}
	if !reflect.DeepEqual(d.DistributionConfig, sent) {
		t.Errorf("CreateDistribution returned another configuration than it was sent:\n got %+v\nwant %+v", d.DistributionConfig, sent)
	}

	// Everything round-trips exactly.
	gotCfg, err := cf.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: &id})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotCfg.DistributionConfig, sent) || aws.ToString(gotCfg.ETag) != aws.ToString(created.ETag) {
		t.Errorf("GetDistributionConfig = %+v (ETag %q), want what was sent (ETag %q)",
			gotCfg.DistributionConfig, aws.ToString(gotCfg.ETag), aws.ToString(created.ETag))
	}
	got, err := cf.GetDistribution(ctx, &cloudfront.GetDistributionInput{Id: &id})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Distribution.DistributionConfig, sent) || !got.Distribution.LastModifiedTime.Equal(*d.LastModifiedTime) {
		t.Errorf("GetDistribution = %+v, want the created distribution", got.Distribution)
	}

	// An update with elements Portico does not model returns them all.
	extended := withExtras(sent)
	extended.Comment = aws.String("with the SDK's other elements")
	updated, err := cf.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{
		Id: &id, IfMatch: created.ETag, DistributionConfig: extended,
	})
	if err != nil {
		t.Fatalf("UpdateDistribution: %v", err)
	}
	if aws.ToString(updated.ETag) == aws.ToString(created.ETag) {
		t.Error("UpdateDistribution kept the ETag")
	}
	if !reflect.DeepEqual(updated.Distribution.DistributionConfig, extended) {
		t.Errorf("UpdateDistribution returned\n %+v\nwant\n %+v", updated.Distribution.DistributionConfig, extended)
	}
	gotCfg, err = cf.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: &id})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotCfg.DistributionConfig, extended) {
		t.Errorf("GetDistributionConfig after update =\n %+v\nwant\n %+v", gotCfg.DistributionConfig, extended)
	}
	etag := updated.ETag

	t.Run("errors", func(t *testing.T) {
		other := env.importCert(t, time.Now(), "www.example.com")
		tests := []struct {
			name  string
			call  func() error
			check func(*testing.T, error)
		}{
			{"stale If-Match", func() error {
				_, err := cf.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{Id: &id, IfMatch: created.ETag, DistributionConfig: sent})
				return err
			}, func(t *testing.T, err error) { wantAPIError[*types.PreconditionFailed](t, err, 412) }},
			{"missing If-Match", func() error {
				_, err := cf.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{Id: &id, DistributionConfig: sent})
				return err
			}, func(t *testing.T, err error) { wantAPIError[*types.InvalidIfMatchVersion](t, err, 400) }},
			{"changed CallerReference", func() error {
				_, err := cf.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{Id: &id, IfMatch: etag,
					DistributionConfig: seedSDKConfig("seed-2", arn, "login.example.com")})
				return err
			}, func(t *testing.T, err error) { wantAPIError[*types.IllegalUpdate](t, err, 400) }},
			{"alias taken", func() error {
				_, err := cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: seedSDKConfig("seed-3", arn, "LOGIN.example.com")})
				return err
			}, func(t *testing.T, err error) { wantAPIError[*types.CNAMEAlreadyExists](t, err, 409) }},
			{"CallerReference reused", func() error {
				_, err := cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: seedSDKConfig("seed-1", other, "www.example.com")})
				return err
			}, func(t *testing.T, err error) { wantAPIError[*types.DistributionAlreadyExists](t, err, 409) }},
			{"alias not covered", func() error {
				_, err := cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: seedSDKConfig("seed-4", other, "api.example.com")})
				return err
			}, func(t *testing.T, err error) { wantAPIError[*types.InvalidViewerCertificate](t, err, 400) }},
			{"alias without certificate", func() error {
				_, err := cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: seedSDKConfig("seed-5", "", "www.example.com")})
				return err
			}, func(t *testing.T, err error) { wantAPIError[*types.InvalidViewerCertificate](t, err, 400) }},
			{"inconsistent quantities", func() error {
				c := seedSDKConfig("seed-6", other, "www.example.com")
				c.DefaultCacheBehavior.ForwardedValues.Headers.Quantity = aws.Int32(5)
				_, err := cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: c})
				return err
			}, func(t *testing.T, err error) { wantAPIError[*types.InconsistentQuantities](t, err, 400) }},
			{"inconsistent quantities in an element Portico does not model", func() error {
				c := withExtras(seedSDKConfig("seed-7", other, "www.example.com"))
				c.Restrictions.GeoRestriction.Quantity = aws.Int32(3)
				_, err := cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: c})
				return err
			}, func(t *testing.T, err error) { wantAPIError[*types.InconsistentQuantities](t, err, 400) }},
			{"invalid value", func() error {
				c := seedSDKConfig("seed-8", other, "www.example.com")
				c.PriceClass = "PriceClass_Cheapest"
				_, err := cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: c})
				return err
			}, func(t *testing.T, err error) { wantAPIError[*types.InvalidArgument](t, err, 400) }},
			{"no such distribution", func() error {
				_, err := cf.GetDistribution(ctx, &cloudfront.GetDistributionInput{Id: aws.String("ENOSUCHDIST000")})
				return err
			}, func(t *testing.T, err error) { wantAPIError[*types.NoSuchDistribution](t, err, 404) }},
			{"delete while enabled", func() error {
				_, err := cf.DeleteDistribution(ctx, &cloudfront.DeleteDistributionInput{Id: &id, IfMatch: etag})
				return err
			}, func(t *testing.T, err error) { wantAPIError[*types.DistributionNotDisabled](t, err, 409) }},
			{"MaxItems out of range", func() error {
				_, err := cf.ListDistributions(ctx, &cloudfront.ListDistributionsInput{MaxItems: aws.Int32(1001)})
				return err
			}, func(t *testing.T, err error) { wantAPIError[*types.InvalidArgument](t, err, 400) }},
			{"wrong secret", func() error {
				_, err := env.sdkClient(testAccessKey, "not-the-secret").GetDistribution(ctx, &cloudfront.GetDistributionInput{Id: &id})
				return err
			}, func(t *testing.T, err error) { wantCode(t, err, "SignatureDoesNotMatch", 403) }},
			{"wrong signature on a write", func() error {
				_, err := env.sdkClient(testAccessKey, "not-the-secret").CreateDistribution(ctx,
					&cloudfront.CreateDistributionInput{DistributionConfig: seedSDKConfig("seed-9", other, "www.example.com")})
				return err
			}, func(t *testing.T, err error) { wantCode(t, err, "SignatureDoesNotMatch", 403) }},
			{"unknown access key", func() error {
				_, err := env.sdkClient("AKIAUNKNOWN000000000", testSecretKey).GetDistribution(ctx, &cloudfront.GetDistributionInput{Id: &id})
				return err
			}, func(t *testing.T, err error) { wantCode(t, err, "InvalidClientTokenId", 403) }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tt.check(t, unchanged(t, tt.call))
			})
		}
	})

	// A second distribution, without aliases, to page through.
	second, err := cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: seedSDKConfig("seed-10", "")})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("list paging", func(t *testing.T) {
		var ids []string
		pages := 0
		p := cloudfront.NewListDistributionsPaginator(cf, &cloudfront.ListDistributionsInput{MaxItems: aws.Int32(1)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, s := range out.DistributionList.Items {
				ids = append(ids, aws.ToString(s.Id))
				if s.Restrictions == nil || s.Restrictions.GeoRestriction == nil || aws.ToString(s.DomainName) == "" ||
					s.HttpVersion == "" || s.IsIPV6Enabled == nil || s.Staging == nil || s.WebACLId == nil || aws.ToString(s.ETag) == "" {
					t.Errorf("summary %s lacks required elements: %+v", aws.ToString(s.Id), s)
				}
			}
		}
		want := []string{id, aws.ToString(second.Distribution.Id)}
		slices.Sort(want)
		if pages != 2 || !slices.Equal(ids, want) {
			t.Errorf("paged through %d pages: %q; want 2 pages: %q", pages, ids, want)
		}
	})

	t.Run("invalidations", func(t *testing.T) {
		batch := &types.InvalidationBatch{
			CallerReference: aws.String("inv-1"),
			Paths:           &types.Paths{Quantity: aws.Int32(2), Items: []string{"/authorize", "/static/*"}},
		}
		inv, err := cf.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{DistributionId: &id, InvalidationBatch: batch})
		if err != nil {
			t.Fatalf("CreateInvalidation: %v", err)
		}
		invID := aws.ToString(inv.Invalidation.Id)
		if want := env.server.URL + "/2020-05-31/distribution/" + id + "/invalidation/" + invID; aws.ToString(inv.Location) != want {
			t.Errorf("Location = %q, want %q", aws.ToString(inv.Location), want)
		}
		if aws.ToString(inv.Invalidation.Status) != "InProgress" || !reflect.DeepEqual(inv.Invalidation.InvalidationBatch, batch) {
			t.Errorf("invalidation = %+v, want InProgress with the batch sent", inv.Invalidation)
		}
		if d, err := cf.GetDistribution(ctx, &cloudfront.GetDistributionInput{Id: &id}); err != nil || aws.ToInt32(d.Distribution.InProgressInvalidationBatches) != 1 {
			t.Errorf("InProgressInvalidationBatches = %v, %v; want 1", d, err)
		}
		again, err := cf.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{DistributionId: &id, InvalidationBatch: batch})
		if err != nil || aws.ToString(again.Invalidation.Id) != invID {
			t.Errorf("repeated batch = %v, %v; want the same invalidation %s", again, err, invID)
		}

		env.deploy(t)
		waiter := cloudfront.NewInvalidationCompletedWaiter(cf, func(o *cloudfront.InvalidationCompletedWaiterOptions) {
			o.MinDelay, o.MaxDelay = 10*time.Millisecond, 50*time.Millisecond
		})
		if err := waiter.Wait(ctx, &cloudfront.GetInvalidationInput{DistributionId: &id, Id: &invID}, 30*time.Second); err != nil {
			t.Fatalf("waiting for the invalidation: %v", err)
		}
		list, err := cf.ListInvalidations(ctx, &cloudfront.ListInvalidationsInput{DistributionId: &id})
		if err != nil {
			t.Fatal(err)
		}
		if l := list.InvalidationList; aws.ToInt32(l.Quantity) != 1 || aws.ToString(l.Items[0].Id) != invID || aws.ToString(l.Items[0].Status) != "Completed" {
			t.Errorf("ListInvalidations = %+v", l)
		}

		wildcards := make([]string, 16)
		for i := range wildcards {
			wildcards[i] = fmt.Sprintf("/w%d/*", i)
		}
		err = unchanged(t, func() error {
			_, err := cf.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{DistributionId: &id, InvalidationBatch: &types.InvalidationBatch{
				CallerReference: aws.String("inv-2"), Paths: &types.Paths{Quantity: aws.Int32(16), Items: wildcards},
			}})
			return err
		})
		wantAPIError[*types.TooManyInvalidationsInProgress](t, err, 400)

		tooMany := make([]string, 3001)
		for i := range tooMany {
			tooMany[i] = fmt.Sprint("/f", i)
		}
		err = unchanged(t, func() error {
			_, err := cf.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{DistributionId: &id, InvalidationBatch: &types.InvalidationBatch{
				CallerReference: aws.String("inv-3"), Paths: &types.Paths{Quantity: aws.Int32(3001), Items: tooMany},
			}})
			return err
		})
		wantAPIError[*types.BatchTooLarge](t, err, 413)
	})

	// Disable, wait for Deployed with the SDK's waiter, delete.
	disabled := withExtras(sent)
	disabled.Comment = aws.String("with the SDK's other elements")
	disabled.Enabled = aws.Bool(false)
	off, err := cf.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{Id: &id, IfMatch: etag, DistributionConfig: disabled})
	if err != nil {
		t.Fatalf("disabling: %v", err)
	}
	err = unchanged(t, func() error {
		_, err := cf.DeleteDistribution(ctx, &cloudfront.DeleteDistributionInput{Id: &id, IfMatch: off.ETag})
		return err
	})
	wantAPIError[*types.DistributionNotDisabled](t, err, 409)

	// The edge loads the revision only after the waiter has seen InProgress.
	for len(env.served) > 0 {
		<-env.served
	}
	waited := make(chan error, 1)
	go func() {
		waiter := cloudfront.NewDistributionDeployedWaiter(cf, func(o *cloudfront.DistributionDeployedWaiterOptions) {
			o.MinDelay, o.MaxDelay = 10*time.Millisecond, 50*time.Millisecond
		})
		waited <- waiter.Wait(context.Background(), &cloudfront.GetDistributionInput{Id: &id}, 30*time.Second)
	}()
	for req := range env.served {
		if req == http.MethodGet+" /2020-05-31/distribution/"+id {
			break
		}
	}
	env.deploy(t)
	if err := <-waited; err != nil {
		t.Fatalf("aws cloudfront wait distribution-deployed: %v", err)
	}

	if _, err := cf.DeleteDistribution(ctx, &cloudfront.DeleteDistributionInput{Id: &id, IfMatch: off.ETag}); err != nil {
		t.Fatalf("DeleteDistribution: %v", err)
	}
	_, err = cf.GetDistribution(ctx, &cloudfront.GetDistributionInput{Id: &id})
	wantAPIError[*types.NoSuchDistribution](t, err, 404)
}

// wantCode fails the test unless err is an API error with the code and
// HTTP status.
func wantCode(t *testing.T, err error, code string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != status {
		t.Fatalf("error = %v, want HTTP status %d", err, status)
	}
}
