package cfapi

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/portico-edge/portico"
)

// sdkCachePolicy is a custom cache policy as the SDK sends it: every
// element set.
func sdkCachePolicy(name string) *types.CachePolicyConfig {
	return &types.CachePolicyConfig{
		Name:       aws.String(name),
		Comment:    aws.String("Auth0 static assets"),
		MinTTL:     aws.Int64(0),
		DefaultTTL: aws.Int64(3600),
		MaxTTL:     aws.Int64(86400),
		ParametersInCacheKeyAndForwardedToOrigin: &types.ParametersInCacheKeyAndForwardedToOrigin{
			EnableAcceptEncodingGzip:   aws.Bool(true),
			EnableAcceptEncodingBrotli: aws.Bool(true),
			HeadersConfig: &types.CachePolicyHeadersConfig{
				HeaderBehavior: types.CachePolicyHeaderBehaviorWhitelist,
				Headers:        &types.Headers{Quantity: aws.Int32(2), Items: []string{"Origin", "Accept-Language"}},
			},
			CookiesConfig: &types.CachePolicyCookiesConfig{
				CookieBehavior: types.CachePolicyCookieBehaviorAllExcept,
				Cookies:        &types.CookieNames{Quantity: aws.Int32(1), Items: []string{"_ga"}},
			},
			QueryStringsConfig: &types.CachePolicyQueryStringsConfig{
				QueryStringBehavior: types.CachePolicyQueryStringBehaviorWhitelist,
				QueryStrings:        &types.QueryStringNames{Quantity: aws.Int32(1), Items: []string{"v"}},
			},
		},
	}
}

func sdkOriginRequestPolicy(name string) *types.OriginRequestPolicyConfig {
	return &types.OriginRequestPolicyConfig{
		Name:    aws.String(name),
		Comment: aws.String("everything but Host"),
		HeadersConfig: &types.OriginRequestPolicyHeadersConfig{
			HeaderBehavior: types.OriginRequestPolicyHeaderBehaviorAllExcept,
			Headers:        &types.Headers{Quantity: aws.Int32(1), Items: []string{"Host"}},
		},
		CookiesConfig:      &types.OriginRequestPolicyCookiesConfig{CookieBehavior: types.OriginRequestPolicyCookieBehaviorAll},
		QueryStringsConfig: &types.OriginRequestPolicyQueryStringsConfig{QueryStringBehavior: types.OriginRequestPolicyQueryStringBehaviorAll},
	}
}

func sdkResponseHeadersPolicy(name string) *types.ResponseHeadersPolicyConfig {
	return &types.ResponseHeadersPolicyConfig{
		Name:    aws.String(name),
		Comment: aws.String("security headers"),
		CorsConfig: &types.ResponseHeadersPolicyCorsConfig{
			AccessControlAllowOrigins:     &types.ResponseHeadersPolicyAccessControlAllowOrigins{Quantity: aws.Int32(1), Items: []string{"https://app.example.com"}},
			AccessControlAllowHeaders:     &types.ResponseHeadersPolicyAccessControlAllowHeaders{Quantity: aws.Int32(1), Items: []string{"Authorization"}},
			AccessControlAllowMethods:     &types.ResponseHeadersPolicyAccessControlAllowMethods{Quantity: aws.Int32(2), Items: []types.ResponseHeadersPolicyAccessControlAllowMethodsValues{"GET", "POST"}},
			AccessControlAllowCredentials: aws.Bool(true),
			AccessControlExposeHeaders:    &types.ResponseHeadersPolicyAccessControlExposeHeaders{Quantity: aws.Int32(1), Items: []string{"X-Request-Id"}},
			AccessControlMaxAgeSec:        aws.Int32(600),
			OriginOverride:                aws.Bool(true),
		},
		SecurityHeadersConfig: &types.ResponseHeadersPolicySecurityHeadersConfig{
			ContentSecurityPolicy:   &types.ResponseHeadersPolicyContentSecurityPolicy{ContentSecurityPolicy: aws.String("default-src 'self'"), Override: aws.Bool(true)},
			ContentTypeOptions:      &types.ResponseHeadersPolicyContentTypeOptions{Override: aws.Bool(true)},
			FrameOptions:            &types.ResponseHeadersPolicyFrameOptions{FrameOption: types.FrameOptionsListDeny, Override: aws.Bool(true)},
			ReferrerPolicy:          &types.ResponseHeadersPolicyReferrerPolicy{ReferrerPolicy: types.ReferrerPolicyListSameOrigin, Override: aws.Bool(false)},
			StrictTransportSecurity: &types.ResponseHeadersPolicyStrictTransportSecurity{AccessControlMaxAgeSec: aws.Int32(63072000), Override: aws.Bool(true), IncludeSubdomains: aws.Bool(true), Preload: aws.Bool(true)},
			XSSProtection:           &types.ResponseHeadersPolicyXSSProtection{Protection: aws.Bool(true), ModeBlock: aws.Bool(true), Override: aws.Bool(false)},
		},
		ServerTimingHeadersConfig: &types.ResponseHeadersPolicyServerTimingHeadersConfig{Enabled: aws.Bool(true), SamplingRate: aws.Float64(12.5)},
		CustomHeadersConfig: &types.ResponseHeadersPolicyCustomHeadersConfig{Quantity: aws.Int32(1), Items: []types.ResponseHeadersPolicyCustomHeader{
			{Header: aws.String("X-Served-By"), Value: aws.String("portico"), Override: aws.Bool(false)},
		}},
		RemoveHeadersConfig: &types.ResponseHeadersPolicyRemoveHeadersConfig{Quantity: aws.Int32(1), Items: []types.ResponseHeadersPolicyRemoveHeader{
			{Header: aws.String("Server")},
		}},
	}
}

// TestSDKPolicies drives the policy operations with the real AWS SDK:
// custom policies round-trip exactly; a distribution uses one custom cache
// policy by ID and, as many Auth0 setups do, the managed CachingDisabled
// and AllViewer; the custom policy cannot be deleted while the
// distribution uses it, and can once it no longer does.
func TestSDKPolicies(t *testing.T) {
	env := newAPIEnv(t, time.Time{})
	ctx := t.Context()
	cf := env.sdkClient(testAccessKey, testSecretKey)

	// A custom cache policy round-trips exactly.
	sent := sdkCachePolicy("auth0-static")
	created, err := cf.CreateCachePolicy(ctx, &cloudfront.CreateCachePolicyInput{CachePolicyConfig: sent})
	if err != nil {
		t.Fatalf("CreateCachePolicy: %v", err)
	}
	id := aws.ToString(created.CachePolicy.Id)
	if want := env.server.URL + "/2020-05-31/cache-policy/" + id; aws.ToString(created.Location) != want {
		t.Errorf("Location = %q, want %q", aws.ToString(created.Location), want)
	}
	if aws.ToString(created.ETag) == "" || created.CachePolicy.LastModifiedTime == nil {
		t.Errorf("created %+v without an ETag or LastModifiedTime", created)
	}
	if !reflect.DeepEqual(created.CachePolicy.CachePolicyConfig, sent) {
		t.Errorf("CreateCachePolicy returned\n %+v\nwant\n %+v", created.CachePolicy.CachePolicyConfig, sent)
	}
	gotCfg, err := cf.GetCachePolicyConfig(ctx, &cloudfront.GetCachePolicyConfigInput{Id: &id})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotCfg.CachePolicyConfig, sent) || aws.ToString(gotCfg.ETag) != aws.ToString(created.ETag) {
		t.Errorf("GetCachePolicyConfig = %+v (ETag %s)", gotCfg.CachePolicyConfig, aws.ToString(gotCfg.ETag))
	}
	_, err = cf.CreateCachePolicy(ctx, &cloudfront.CreateCachePolicyInput{CachePolicyConfig: sent})
	wantAPIError[*types.CachePolicyAlreadyExists](t, err, 409)

	// So do custom origin request and response headers policies.
	orp := sdkOriginRequestPolicy("auth0-forward")
	orpOut, err := cf.CreateOriginRequestPolicy(ctx, &cloudfront.CreateOriginRequestPolicyInput{OriginRequestPolicyConfig: orp})
	if err != nil {
		t.Fatalf("CreateOriginRequestPolicy: %v", err)
	}
	if got := orpOut.OriginRequestPolicy.OriginRequestPolicyConfig; !reflect.DeepEqual(got, orp) {
		t.Errorf("CreateOriginRequestPolicy returned\n %+v\nwant\n %+v", got, orp)
	}
	rhp := sdkResponseHeadersPolicy("auth0-headers")
	rhpOut, err := cf.CreateResponseHeadersPolicy(ctx, &cloudfront.CreateResponseHeadersPolicyInput{ResponseHeadersPolicyConfig: rhp})
	if err != nil {
		t.Fatalf("CreateResponseHeadersPolicy: %v", err)
	}
	rhpID := aws.ToString(rhpOut.ResponseHeadersPolicy.Id)
	gotRHP, err := cf.GetResponseHeadersPolicy(ctx, &cloudfront.GetResponseHeadersPolicyInput{Id: &rhpID})
	if err != nil {
		t.Fatal(err)
	}
	if got := gotRHP.ResponseHeadersPolicy.ResponseHeadersPolicyConfig; !reflect.DeepEqual(got, rhp) {
		t.Errorf("GetResponseHeadersPolicy returned\n %+v\nwant\n %+v", got, rhp)
	}

	// The managed policies are listed with Type managed, under their IDs.
	managed := listCachePolicies(t, cf, types.CachePolicyTypeManaged)
	for _, want := range []string{portico.ManagedCachingDisabled, portico.ManagedCachingOptimized} {
		if !slices.Contains(managed, want) {
			t.Errorf("managed cache policies %q lack %s", managed, want)
		}
	}
	if custom := listCachePolicies(t, cf, types.CachePolicyTypeCustom); !reflect.DeepEqual(custom, []string{id}) {
		t.Errorf("custom cache policies = %q, want [%s]", custom, id)
	}
	allViewer, err := cf.GetOriginRequestPolicy(ctx, &cloudfront.GetOriginRequestPolicyInput{Id: aws.String(portico.ManagedAllViewer)})
	if err != nil {
		t.Fatal(err)
	}
	if c := allViewer.OriginRequestPolicy.OriginRequestPolicyConfig; aws.ToString(c.Name) != "Managed-AllViewer" ||
		c.HeadersConfig.HeaderBehavior != types.OriginRequestPolicyHeaderBehaviorAllViewer {
		t.Errorf("AllViewer = %+v", c)
	}
	_, err = cf.DeleteOriginRequestPolicy(ctx, &cloudfront.DeleteOriginRequestPolicyInput{Id: aws.String(portico.ManagedAllViewer), IfMatch: allViewer.ETag})
	wantAPIError[*types.IllegalDelete](t, err, 400)

	// A distribution as many Auth0 setups make it: CachingDisabled and
	// AllViewer on the default behaviour; the custom policies on /static/*.
	dist := seedSDKConfig("policies-1", "")
	dist.DefaultCacheBehavior.ForwardedValues = nil
	dist.DefaultCacheBehavior.MinTTL, dist.DefaultCacheBehavior.DefaultTTL, dist.DefaultCacheBehavior.MaxTTL = nil, nil, nil
	dist.DefaultCacheBehavior.CachePolicyId = aws.String(portico.ManagedCachingDisabled)
	dist.DefaultCacheBehavior.OriginRequestPolicyId = aws.String(portico.ManagedAllViewer)
	dist.CacheBehaviors = &types.CacheBehaviors{Quantity: aws.Int32(1), Items: []types.CacheBehavior{{
		PathPattern:             aws.String("/static/*"),
		TargetOriginId:          aws.String("auth0-origin"),
		ViewerProtocolPolicy:    types.ViewerProtocolPolicyRedirectToHttps,
		CachePolicyId:           aws.String(id),
		OriginRequestPolicyId:   orpOut.OriginRequestPolicy.Id,
		ResponseHeadersPolicyId: aws.String(rhpID),
	}}}
	d, err := cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: dist})
	if err != nil {
		t.Fatalf("CreateDistribution: %v", err)
	}
	if !reflect.DeepEqual(d.Distribution.DistributionConfig, dist) {
		t.Errorf("CreateDistribution returned\n %+v\nwant\n %+v", d.Distribution.DistributionConfig, dist)
	}

	// While the distribution uses them, the custom policies stay.
	_, err = cf.DeleteCachePolicy(ctx, &cloudfront.DeleteCachePolicyInput{Id: &id, IfMatch: created.ETag})
	wantAPIError[*types.CachePolicyInUse](t, err, 409)
	_, err = cf.DeleteOriginRequestPolicy(ctx, &cloudfront.DeleteOriginRequestPolicyInput{Id: orpOut.OriginRequestPolicy.Id, IfMatch: orpOut.ETag})
	wantAPIError[*types.OriginRequestPolicyInUse](t, err, 409)
	_, err = cf.DeleteResponseHeadersPolicy(ctx, &cloudfront.DeleteResponseHeadersPolicyInput{Id: &rhpID, IfMatch: rhpOut.ETag})
	wantAPIError[*types.ResponseHeadersPolicyInUse](t, err, 409)

	// A policy that does not exist cannot be named.
	unknown := seedSDKConfig("policies-2", "")
	unknown.DefaultCacheBehavior.ForwardedValues = nil
	unknown.DefaultCacheBehavior.MinTTL, unknown.DefaultCacheBehavior.DefaultTTL, unknown.DefaultCacheBehavior.MaxTTL = nil, nil, nil
	unknown.DefaultCacheBehavior.CachePolicyId = aws.String("00000000-0000-4000-8000-000000000000")
	_, err = cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: unknown})
	wantAPIError[*types.NoSuchCachePolicy](t, err, 404)

	// Updating the policy in use is allowed, under If-Match.
	changed := sdkCachePolicy("auth0-static")
	changed.DefaultTTL = aws.Int64(600)
	_, err = cf.UpdateCachePolicy(ctx, &cloudfront.UpdateCachePolicyInput{Id: &id, CachePolicyConfig: changed})
	wantAPIError[*types.InvalidIfMatchVersion](t, err, 400)
	updated, err := cf.UpdateCachePolicy(ctx, &cloudfront.UpdateCachePolicyInput{Id: &id, IfMatch: created.ETag, CachePolicyConfig: changed})
	if err != nil {
		t.Fatalf("UpdateCachePolicy: %v", err)
	}
	if aws.ToString(updated.ETag) == aws.ToString(created.ETag) || !reflect.DeepEqual(updated.CachePolicy.CachePolicyConfig, changed) {
		t.Errorf("UpdateCachePolicy = %+v (ETag %s)", updated.CachePolicy.CachePolicyConfig, aws.ToString(updated.ETag))
	}

	// Once /static/* uses managed policies, the custom ones can go.
	dist.CacheBehaviors.Items[0].CachePolicyId = aws.String(portico.ManagedCachingOptimized)
	dist.CacheBehaviors.Items[0].OriginRequestPolicyId = nil
	dist.CacheBehaviors.Items[0].ResponseHeadersPolicyId = nil
	if _, err := cf.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{Id: d.Distribution.Id, IfMatch: d.ETag, DistributionConfig: dist}); err != nil {
		t.Fatalf("UpdateDistribution: %v", err)
	}
	_, err = cf.DeleteCachePolicy(ctx, &cloudfront.DeleteCachePolicyInput{Id: &id, IfMatch: created.ETag})
	wantAPIError[*types.PreconditionFailed](t, err, 412)
	if _, err := cf.DeleteCachePolicy(ctx, &cloudfront.DeleteCachePolicyInput{Id: &id, IfMatch: updated.ETag}); err != nil {
		t.Fatalf("DeleteCachePolicy: %v", err)
	}
	if _, err := cf.DeleteOriginRequestPolicy(ctx, &cloudfront.DeleteOriginRequestPolicyInput{Id: orpOut.OriginRequestPolicy.Id, IfMatch: orpOut.ETag}); err != nil {
		t.Fatalf("DeleteOriginRequestPolicy: %v", err)
	}
	if _, err := cf.DeleteResponseHeadersPolicy(ctx, &cloudfront.DeleteResponseHeadersPolicyInput{Id: &rhpID, IfMatch: rhpOut.ETag}); err != nil {
		t.Fatalf("DeleteResponseHeadersPolicy: %v", err)
	}
	_, err = cf.GetCachePolicy(ctx, &cloudfront.GetCachePolicyInput{Id: &id})
	wantAPIError[*types.NoSuchCachePolicy](t, err, 404)
	if custom := listCachePolicies(t, cf, types.CachePolicyTypeCustom); len(custom) != 0 {
		t.Errorf("custom cache policies after the delete = %q", custom)
	}
}

// listCachePolicies pages through ListCachePolicies of one type, two at a
// time, and returns the IDs.
func listCachePolicies(t *testing.T, cf *cloudfront.Client, typ types.CachePolicyType) []string {
	t.Helper()
	var ids []string
	var marker *string
	for {
		out, err := cf.ListCachePolicies(t.Context(), &cloudfront.ListCachePoliciesInput{Type: typ, Marker: marker, MaxItems: aws.Int32(2)})
		if err != nil {
			t.Fatalf("ListCachePolicies: %v", err)
		}
		l := out.CachePolicyList
		if int(aws.ToInt32(l.Quantity)) != len(l.Items) || aws.ToInt32(l.MaxItems) != 2 {
			t.Fatalf("list page %+v", l)
		}
		for _, s := range l.Items {
			if string(s.Type) != string(typ) {
				t.Errorf("policy %s has Type %s in a %s listing", aws.ToString(s.CachePolicy.Id), s.Type, typ)
			}
			ids = append(ids, aws.ToString(s.CachePolicy.Id))
		}
		if l.NextMarker == nil {
			return ids
		}
		marker = l.NextMarker
	}
}
