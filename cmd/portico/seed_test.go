package main

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/miekg/dns"

	"github.com/portico-edge/portico/internal/testpki"
)

const (
	originDomain = "tenant-cd-abc123.edge.tenants.us.auth0.com"
	customDomain = "login.example.com"
	cnameAPIKey  = "s3cr3t-cname-api-key-0123456789"
	accessKeyID  = "AKPTTESTACCESSKEY01"
	secretKey    = "test-secret-access-key-do-not-log"
)

// seedConfig is the distribution of the seed walkthrough
// (configure-aws-cloudfront-reverse-proxy.md), as the AWS SDK sends it.
func seedConfig(callerRef, certARN string, originPort int) *cftypes.DistributionConfig {
	headers := []string{"User-Agent", "Origin", "Referer", "Authorization", "Accept", "Accept-Language"}
	methods := []cftypes.Method{"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"}
	return &cftypes.DistributionConfig{
		CallerReference: aws.String(callerRef),
		Comment:         aws.String("Auth0 custom domain"),
		Enabled:         aws.Bool(true),
		PriceClass:      cftypes.PriceClassPriceClassAll,
		Aliases:         &cftypes.Aliases{Quantity: aws.Int32(1), Items: []string{customDomain}},
		Origins: &cftypes.Origins{Quantity: aws.Int32(1), Items: []cftypes.Origin{{
			Id:         aws.String("auth0-custom-domain"),
			DomainName: aws.String(originDomain),
			CustomHeaders: &cftypes.CustomHeaders{Quantity: aws.Int32(1), Items: []cftypes.OriginCustomHeader{
				{HeaderName: aws.String("cname-api-key"), HeaderValue: aws.String(cnameAPIKey)},
			}},
			CustomOriginConfig: &cftypes.CustomOriginConfig{
				HTTPPort:             aws.Int32(80),
				HTTPSPort:            aws.Int32(int32(originPort)),
				OriginProtocolPolicy: cftypes.OriginProtocolPolicyHttpsOnly,
				OriginSslProtocols:   &cftypes.OriginSslProtocols{Quantity: aws.Int32(1), Items: []cftypes.SslProtocol{"TLSv1.2"}},
			},
		}}},
		DefaultCacheBehavior: &cftypes.DefaultCacheBehavior{
			TargetOriginId:       aws.String("auth0-custom-domain"),
			ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyRedirectToHttps,
			AllowedMethods: &cftypes.AllowedMethods{Quantity: aws.Int32(7), Items: methods,
				CachedMethods: &cftypes.CachedMethods{Quantity: aws.Int32(2), Items: []cftypes.Method{"GET", "HEAD"}}},
			ForwardedValues: &cftypes.ForwardedValues{
				QueryString: aws.Bool(true),
				Cookies:     &cftypes.CookiePreference{Forward: cftypes.ItemSelectionAll},
				Headers:     &cftypes.Headers{Quantity: aws.Int32(int32(len(headers))), Items: headers},
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

func clients(api string) (*cloudfront.Client, *acm.Client) {
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: awscreds.NewStaticCredentialsProvider(accessKeyID, secretKey, ""),
	}
	endpoint := aws.String("http://" + api)
	return cloudfront.NewFromConfig(cfg, func(o *cloudfront.Options) { o.BaseEndpoint = endpoint }),
		acm.NewFromConfig(cfg, func(o *acm.Options) { o.BaseEndpoint = endpoint })
}

// TestSeedWalkthrough drives every step of the seed walkthrough against the
// real binary: import the custom domain's certificate into ACM, create the
// distribution with the AWS SDK, wait for Deployed, then reach the origin
// through the edge over HTTPS as a browser would, resolve the names over
// DNS, survive kill -9, and clean up.
func TestSeedWalkthrough(t *testing.T) {
	ctx := context.Background()
	originCA, viewerCA := testpki.NewCA(t, "origin CA"), testpki.NewCA(t, "viewer CA")
	origin := newTestOrigin(t, originCA, originDomain, cnameAPIKey)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "origin-ca.pem")
	if err := os.WriteFile(caFile, originCA.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	env := []string{"PORTICO_ACCESS_KEY_ID=" + accessKeyID, "PORTICO_SECRET_ACCESS_KEY=" + secretKey}
	args := []string{"--origin-ca", caFile, "--origin-resolve", originDomain + "=127.0.0.1", "--access-log"}
	p := startPortico(t, dataDir, env, args...)
	cf, certs := clients(p.api)

	// Step 4 (SSL certificate): the custom domain's certificate in ACM.
	leaf := viewerCA.Issue(t, []string{customDomain}, testpki.Serial(10))
	imported := must(certs.ImportCertificate(ctx, &acm.ImportCertificateInput{
		Certificate: leaf.CertPEM, PrivateKey: leaf.KeyPEM, CertificateChain: leaf.ChainPEM,
	}))(t)
	certARN := aws.ToString(imported.CertificateArn)

	// Steps 4–7: create the distribution.
	created := time.Now()
	out := must(cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{
		DistributionConfig: seedConfig("seed-1", certARN, origin.port()),
	}))(t)
	dist := out.Distribution
	id := aws.ToString(dist.Id)
	if aws.ToString(out.ETag) == "" || aws.ToString(out.Location) == "" {
		t.Errorf("CreateDistribution: ETag %q, Location %q; want both set", aws.ToString(out.ETag), aws.ToString(out.Location))
	}
	wantDomain := strings.ToLower(id) + ".portico.localhost"
	if got := aws.ToString(dist.DomainName); got != wantDomain {
		t.Errorf("DomainName = %q, want %q", got, wantDomain)
	}
	waitDeployed := func(cf *cloudfront.Client) error {
		w := cloudfront.NewDistributionDeployedWaiter(cf, func(o *cloudfront.DistributionDeployedWaiterOptions) {
			o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
		})
		return w.Wait(ctx, &cloudfront.GetDistributionInput{Id: aws.String(id)}, 30*time.Second)
	}
	if err := waitDeployed(cf); err != nil {
		t.Fatalf("waiting for Deployed: %v", err)
	}
	t.Logf("CreateDistribution → Deployed in %v", time.Since(created))

	// The configuration round-trips exactly.
	got := must(cf.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: aws.String(id)}))(t)
	if h := got.DistributionConfig.Origins.Items[0].CustomHeaders.Items[0]; aws.ToString(h.HeaderValue) != cnameAPIKey {
		t.Errorf("custom header did not round-trip: %q", aws.ToString(h.HeaderName))
	}
	if got := got.DistributionConfig.DefaultCacheBehavior.ForwardedValues.Headers.Items; len(got) != 6 {
		t.Errorf("forwarded headers = %v, want the six of the seed", got)
	}

	https := viewer(p.https, viewerCA.Pool())
	t.Run("https reaches the origin as Auth0 requires", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "https://"+customDomain+"/authorize?client_id=abc&z=1&a=2", nil)
		req.Header.Set("X-Forwarded-For", "6.6.6.6")
		req.Header.Set("True-Client-IP", "6.6.6.6")
		req.Header.Set("Cookie", "b=2; a=1")
		req.Header.Set("User-Agent", "seed-test")
		resp := must(https.Do(req))(t)
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Set-Cookie") == "" {
			t.Fatalf("GET /authorize: %s, Set-Cookie %q; want 302 with a cookie", resp.Status, resp.Header.Get("Set-Cookie"))
		}
		for _, h := range []string{"X-Cache", "Via", "X-Amz-Cf-Pop", "X-Amz-Cf-Id"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("response lacks %s", h)
			}
		}
		o := origin.last(t)
		checks := []struct{ what, got, want string }{
			{"Host", o.Host, originDomain},
			{"SNI", o.SNI, originDomain},
			{"URI", o.URI, "/authorize?client_id=abc&z=1&a=2"},
			{"cname-api-key", o.Header.Get("Cname-Api-Key"), cnameAPIKey},
			{"X-Forwarded-For", strings.Join(o.Header.Values("X-Forwarded-For"), ","), "127.0.0.1"},
			{"True-Client-IP", o.Header.Get("True-Client-IP"), ""},
			{"User-Agent", o.Header.Get("User-Agent"), "seed-test"},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("origin saw %s %q, want %q", c.what, c.got, c.want)
			}
		}
		if !strings.Contains(o.Header.Get("Cookie"), "a=1") || !strings.Contains(o.Header.Get("Cookie"), "b=2") {
			t.Errorf("origin saw Cookie %q, want both cookies", o.Header.Get("Cookie"))
		}
	})

	t.Run("POST with a body over HTTP/2", func(t *testing.T) {
		resp := must(https.Post("https://"+customDomain+"/oauth/token", "application/json", strings.NewReader(`{"grant_type":"x"}`)))(t)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != `POST /oauth/token {"grant_type":"x"}` || resp.ProtoMajor != 2 {
			t.Errorf("POST: %s %s %q", resp.Proto, resp.Status, body)
		}
	})

	t.Run("cacheable responses are served from the cache", func(t *testing.T) {
		var xcache []string
		for range 2 {
			resp := must(https.Get("https://" + customDomain + "/.well-known/openid-configuration"))(t)
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			xcache = append(xcache, resp.Header.Get("X-Cache"))
		}
		if !strings.HasPrefix(xcache[0], "Miss") || !strings.HasPrefix(xcache[1], "Hit") {
			t.Errorf("X-Cache = %q, want Miss then Hit", xcache)
		}
	})

	t.Run("HTTP redirects to HTTPS", func(t *testing.T) {
		plain := viewer(p.http, nil)
		for method, want := range map[string]int{"GET": 301, "POST": 307} {
			req, _ := http.NewRequest(method, "http://"+customDomain+"/authorize?x=1", nil)
			resp := must(plain.Do(req))(t)
			resp.Body.Close()
			if resp.StatusCode != want || resp.Header.Get("Location") != "https://"+customDomain+"/authorize?x=1" {
				t.Errorf("%s: %d Location %q, want %d to https", method, resp.StatusCode, resp.Header.Get("Location"), want)
			}
		}
	})

	t.Run("unknown hosts and domain fronting are refused", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "https://"+wantDomain+"/", nil)
		req.Host = "other.example.net"
		tr := https.Transport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true, ServerName: wantDomain}
		resp := must((&http.Client{Transport: tr}).Do(req))(t)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest && resp.StatusCode != http.StatusForbidden {
			t.Errorf("Host ≠ SNI: %s, want 421 or 403", resp.Status)
		}
		plain := viewer(p.http, nil)
		resp = must(plain.Get("http://nobody.example.net/"))(t)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("unknown host: %s, want 403", resp.Status)
		}
	})

	t.Run("DNS answers for the distribution and its alias", func(t *testing.T) {
		c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
		m := new(dns.Msg).SetQuestion(dns.Fqdn(customDomain), dns.TypeA)
		r := exchange(t, c, m, p.dns)
		if len(r.Answer) == 0 {
			t.Fatalf("no answer for %s: %v", customDomain, r)
		}
		cname, ok := r.Answer[0].(*dns.CNAME)
		if !ok || cname.Target != dns.Fqdn(wantDomain) {
			t.Errorf("answer %v, want CNAME %s", r.Answer[0], wantDomain)
		}
		m = new(dns.Msg).SetQuestion(dns.Fqdn(wantDomain), dns.TypeA)
		r = exchange(t, c, m, p.dns)
		if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.1" {
			t.Errorf("answer for %s: %v, want A 127.0.0.1", wantDomain, r.Answer)
		}
	})

	t.Run("an invalidation completes", func(t *testing.T) {
		inv := must(cf.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{
			DistributionId: aws.String(id),
			InvalidationBatch: &cftypes.InvalidationBatch{CallerReference: aws.String("inv-1"),
				Paths: &cftypes.Paths{Quantity: aws.Int32(1), Items: []string{"/.well-known/*"}}},
		}))(t)
		w := cloudfront.NewInvalidationCompletedWaiter(cf, func(o *cloudfront.InvalidationCompletedWaiterOptions) {
			o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
		})
		if err := w.Wait(ctx, &cloudfront.GetInvalidationInput{DistributionId: aws.String(id), Id: inv.Invalidation.Id}, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		resp := must(https.Get("https://" + customDomain + "/.well-known/openid-configuration"))(t)
		resp.Body.Close()
		if !strings.HasPrefix(resp.Header.Get("X-Cache"), "Miss") {
			t.Errorf("after invalidation X-Cache = %q, want a Miss", resp.Header.Get("X-Cache"))
		}
	})

	// kill -9 right after an acknowledged write loses nothing.
	cfgOut := must(cf.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: aws.String(id)}))(t)
	cfgOut.DistributionConfig.Comment = aws.String("updated before kill -9")
	upd := must(cf.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{
		Id: aws.String(id), IfMatch: cfgOut.ETag, DistributionConfig: cfgOut.DistributionConfig,
	}))(t)
	p.kill(syscall.SIGKILL)
	logs := p.logs.String()
	p = startPortico(t, dataDir, env, args...)
	cf, certs = clients(p.api)
	after := must(cf.GetDistribution(ctx, &cloudfront.GetDistributionInput{Id: aws.String(id)}))(t)
	if c := aws.ToString(after.Distribution.DistributionConfig.Comment); c != "updated before kill -9" || aws.ToString(after.ETag) != aws.ToString(upd.ETag) {
		t.Fatalf("after kill -9: Comment %q ETag %q, want the acknowledged update (ETag %q)", c, aws.ToString(after.ETag), aws.ToString(upd.ETag))
	}
	https = viewer(p.https, viewerCA.Pool())

	t.Run("a re-imported certificate is served", func(t *testing.T) {
		leaf := viewerCA.Issue(t, []string{customDomain}, testpki.Serial(11))
		must(certs.ImportCertificate(ctx, &acm.ImportCertificateInput{
			CertificateArn: aws.String(certARN), Certificate: leaf.CertPEM, PrivateKey: leaf.KeyPEM, CertificateChain: leaf.ChainPEM,
		}))(t)
		err := retry(5*time.Second, func() error {
			conn, err := tls.Dial("tcp", p.https, &tls.Config{ServerName: customDomain, RootCAs: viewerCA.Pool()})
			if err != nil {
				return err
			}
			defer conn.Close()
			if serial := conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64(); serial != 11 {
				return errNotYet
			}
			return nil
		})
		if err != nil {
			t.Fatalf("the edge still serves the old certificate: %v", err)
		}
	})

	t.Run("disable, wait, delete", func(t *testing.T) {
		cur := must(cf.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: aws.String(id)}))(t)
		_, err := cf.DeleteDistribution(ctx, &cloudfront.DeleteDistributionInput{Id: aws.String(id), IfMatch: cur.ETag})
		var notDisabled *cftypes.DistributionNotDisabled
		if !errors.As(err, &notDisabled) {
			t.Fatalf("deleting an enabled distribution: %v, want DistributionNotDisabled", err)
		}
		cur.DistributionConfig.Enabled = aws.Bool(false)
		dis := must(cf.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{
			Id: aws.String(id), IfMatch: cur.ETag, DistributionConfig: cur.DistributionConfig,
		}))(t)
		if err := waitDeployed(cf); err != nil {
			t.Fatal(err)
		}
		resp, err := https.Get("https://" + customDomain + "/authorize")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("disabled distribution answered %s, want 403 or no TLS", resp.Status)
			}
		}
		must(cf.DeleteDistribution(ctx, &cloudfront.DeleteDistributionInput{Id: aws.String(id), IfMatch: dis.ETag}))(t)
		_, err = cf.GetDistribution(ctx, &cloudfront.GetDistributionInput{Id: aws.String(id)})
		var noSuch *cftypes.NoSuchDistribution
		if !errors.As(err, &noSuch) {
			t.Errorf("after delete: %v, want NoSuchDistribution", err)
		}
	})

	p.kill(syscall.SIGTERM)
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	t.Run("no secret in the logs", func(t *testing.T) {
		logs := logs + p.logs.String()
		keyBody := strings.Split(string(leaf.KeyPEM), "\n")[1]
		for name, secret := range map[string]string{"cname-api-key": cnameAPIKey, "secret access key": secretKey, "private key": keyBody} {
			if strings.Contains(logs, secret) {
				t.Errorf("the logs contain the %s", name)
			}
		}
	})
}

// exchange sends m to addr and fails t on error.
func exchange(t *testing.T, c *dns.Client, m *dns.Msg, addr string) *dns.Msg {
	t.Helper()
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// retry calls f until it returns nil or the time is up, and returns its last
// error.
func retry(limit time.Duration, f func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
