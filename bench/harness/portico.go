package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
)

// keyHeader is the one request header in every proxy's cache key.
const keyHeader = "Accept-Language"

// apiCredentials is an access key pair made up for one benchmark run and
// given to Portico through its environment.
type apiCredentials struct{ id, secret string }

func newAPICredentials() apiCredentials {
	b := make([]byte, 24)
	rand.Read(b)
	return apiCredentials{id: "AKPTBENCH" + hex.EncodeToString(b[:6]), secret: hex.EncodeToString(b[6:])}
}

func (c apiCredentials) env() []string {
	return []string{"PORTICO_ACCESS_KEY_ID=" + c.id, "PORTICO_SECRET_ACCESS_KEY=" + c.secret}
}

// configurePortico sets Portico up for the benchmark through its API, as a
// user would with the AWS SDK: it imports the ECDSA and RSA viewer
// certificates into ACM, creates one distribution for each (benchHost and
// ecdsaHost; rsaHost), both in front of the bench origin over HTTPS, and
// waits until both are Deployed.
func configurePortico(ctx context.Context, apiAddr string, creds apiCredentials, p *pki, originHTTPSPort int) error {
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: awscreds.NewStaticCredentialsProvider(creds.id, creds.secret, ""),
	}
	endpoint := aws.String("http://" + apiAddr)
	cf := cloudfront.NewFromConfig(cfg, func(o *cloudfront.Options) { o.BaseEndpoint = endpoint })
	certs := acm.NewFromConfig(cfg, func(o *acm.Options) { o.BaseEndpoint = endpoint })

	dists := []struct {
		ref           string
		aliases       []string
		certPEM, key  []byte
		certificateOf string
	}{
		{"bench-ecdsa", []string{benchHost, ecdsaHost}, p.ecdsaLeafPEM, p.ecdsaKPEM, "ECDSA P-256"},
		{"bench-rsa", []string{rsaHost}, p.rsaLeafPEM, p.rsaKeyPEM, "RSA-2048"},
	}
	var ids []string
	for _, d := range dists {
		imported, err := certs.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: d.certPEM, PrivateKey: d.key})
		if err != nil {
			return fmt.Errorf("importing the %s certificate: %w", d.certificateOf, err)
		}
		out, err := cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{
			DistributionConfig: benchDistribution(d.ref, d.aliases, aws.ToString(imported.CertificateArn), originHTTPSPort),
		})
		if err != nil {
			return fmt.Errorf("creating the %s distribution: %w", d.ref, err)
		}
		ids = append(ids, aws.ToString(out.Distribution.Id))
	}
	w := cloudfront.NewDistributionDeployedWaiter(cf, func(o *cloudfront.DistributionDeployedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
	})
	for _, id := range ids {
		if err := w.Wait(ctx, &cloudfront.GetDistributionInput{Id: aws.String(id)}, time.Minute); err != nil {
			return fmt.Errorf("waiting for distribution %s to deploy: %w", id, err)
		}
	}
	return nil
}

// benchDistribution is the distribution every proxy's configuration
// mirrors: the origin over verified HTTPS with its own host name, both
// viewer protocols allowed, GET and HEAD cached, and a cache key of host,
// path, query string, one header and all cookies.
func benchDistribution(ref string, aliases []string, certARN string, originHTTPSPort int) *cftypes.DistributionConfig {
	methods := []cftypes.Method{"GET", "HEAD"}
	return &cftypes.DistributionConfig{
		CallerReference: aws.String(ref),
		Comment:         aws.String("bench/run"),
		Enabled:         aws.Bool(true),
		Aliases:         &cftypes.Aliases{Quantity: aws.Int32(int32(len(aliases))), Items: aliases},
		Origins: &cftypes.Origins{Quantity: aws.Int32(1), Items: []cftypes.Origin{{
			Id:         aws.String("bench-origin"),
			DomainName: aws.String(originName),
			CustomOriginConfig: &cftypes.CustomOriginConfig{
				HTTPPort:             aws.Int32(80),
				HTTPSPort:            aws.Int32(int32(originHTTPSPort)),
				OriginProtocolPolicy: cftypes.OriginProtocolPolicyHttpsOnly,
				OriginSslProtocols:   &cftypes.OriginSslProtocols{Quantity: aws.Int32(1), Items: []cftypes.SslProtocol{"TLSv1.2"}},
			},
		}}},
		DefaultCacheBehavior: &cftypes.DefaultCacheBehavior{
			TargetOriginId:       aws.String("bench-origin"),
			ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyAllowAll,
			AllowedMethods: &cftypes.AllowedMethods{Quantity: aws.Int32(2), Items: methods,
				CachedMethods: &cftypes.CachedMethods{Quantity: aws.Int32(2), Items: methods}},
			ForwardedValues: &cftypes.ForwardedValues{
				QueryString: aws.Bool(true),
				Cookies:     &cftypes.CookiePreference{Forward: cftypes.ItemSelectionAll},
				Headers:     &cftypes.Headers{Quantity: aws.Int32(1), Items: []string{keyHeader}},
			},
			MinTTL:     aws.Int64(0),
			DefaultTTL: aws.Int64(86400),
			MaxTTL:     aws.Int64(31536000),
		},
		ViewerCertificate: &cftypes.ViewerCertificate{
			ACMCertificateArn:      aws.String(certARN),
			SSLSupportMethod:       cftypes.SSLSupportMethodSniOnly,
			MinimumProtocolVersion: cftypes.MinimumProtocolVersionTLSv122021,
		},
	}
}
