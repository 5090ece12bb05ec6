package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
)

// TestOwnDomainNameAndAddressOrigin: a distribution without aliases is
// served under its own <id>.<edge-domain> name with the edge's certificate
// (trusted through the edge CA in the data directory), and its origin may
// be an IPv4 address, verified against the address in the origin's
// certificate — here httptest's own certificate, passed with --origin-ca.
func TestOwnDomainNameAndAddressOrigin(t *testing.T) {
	ctx := context.Background()
	origin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "host="+r.Host)
	}))
	defer origin.Close()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "origin-ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: origin.Certificate().Raw}), 0o644)
	env := []string{"PORTICO_ACCESS_KEY_ID=" + accessKeyID, "PORTICO_SECRET_ACCESS_KEY=" + secretKey}
	p := startPortico(t, filepath.Join(dir, "data"), env, "--origin-ca", caFile)
	cf, _ := clients(p.api)

	addr := strings.TrimPrefix(origin.URL, "https://127.0.0.1:")
	cfg := &cftypes.DistributionConfig{
		CallerReference: aws.String("own-domain"),
		Comment:         aws.String(""),
		Enabled:         aws.Bool(true),
		Origins: &cftypes.Origins{Quantity: aws.Int32(1), Items: []cftypes.Origin{{
			Id: aws.String("local"), DomainName: aws.String("127.0.0.1"),
			CustomOriginConfig: &cftypes.CustomOriginConfig{HTTPPort: aws.Int32(80), HTTPSPort: aws.Int32(int32(atoi(t, addr))),
				OriginProtocolPolicy: cftypes.OriginProtocolPolicyHttpsOnly},
		}}},
		DefaultCacheBehavior: &cftypes.DefaultCacheBehavior{
			TargetOriginId: aws.String("local"), ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyAllowAll,
			ForwardedValues: &cftypes.ForwardedValues{QueryString: aws.Bool(false), Cookies: &cftypes.CookiePreference{Forward: cftypes.ItemSelectionNone}},
			MinTTL:          aws.Int64(0),
		},
		ViewerCertificate: &cftypes.ViewerCertificate{CloudFrontDefaultCertificate: aws.Bool(true)},
	}
	out, err := cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	w := cloudfront.NewDistributionDeployedWaiter(cf, func(o *cloudfront.DistributionDeployedWaiterOptions) { o.MinDelay = 100 * time.Millisecond })
	if err := w.Wait(ctx, &cloudfront.GetDistributionInput{Id: out.Distribution.Id}, 30*time.Second); err != nil {
		t.Fatal(err)
	}

	edgeCA, err := os.ReadFile(filepath.Join(dir, "data", edgeCAFile))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(edgeCA)
	name := aws.ToString(out.Distribution.DomainName)
	resp, err := viewer(p.https, roots).Get("https://" + name + "/")
	if err != nil {
		t.Fatalf("GET https://%s/ with the edge CA: %v", name, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if host := strings.TrimPrefix(string(body), "host="); resp.StatusCode != 200 || host != "127.0.0.1" && host != "127.0.0.1:"+addr {
		t.Errorf("GET https://%s/: %s %q, want 200 from the origin with Host 127.0.0.1", name, resp.Status, body)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
