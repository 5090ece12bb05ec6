package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/portico-edge/portico/internal/explain"
	"github.com/portico-edge/portico/internal/testpki"
)

// apiOrigin is an HTTPS origin for the cache tests: every response may be
// stored for 300 s but never served stale (s-maxage), carries an ETag and
// the Cache-Tag "product-<id>" for ?id=, and a conditional request for it
// gets 304. It counts full and conditional requests.
type apiOrigin struct {
	*httptest.Server
	mu                 sync.Mutex
	full, conditionals int
}

func newAPIOrigin(t *testing.T, ca *testpki.CA) *apiOrigin {
	t.Helper()
	o := &apiOrigin{}
	o.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		etag := `"` + r.URL.Path + `-v1"`
		w.Header().Set("Cache-Control", "s-maxage=300")
		w.Header().Set("ETag", etag)
		w.Header().Set("Content-Type", "application/json")
		if id := r.URL.Query().Get("id"); id != "" {
			w.Header().Set("Cache-Tag", "product-"+id+",api")
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		if r.Header.Get("If-None-Match") == etag {
			o.conditionals++
			w.WriteHeader(http.StatusNotModified)
			return
		}
		o.full++
		fmt.Fprintf(w, `{"path":%q,"n":%d}`, r.URL.Path, o.full)
	}))
	o.TLS = &tls.Config{Certificates: []tls.Certificate{*ca.Issue(t, []string{originDomain}).TLSCertificate(t)}}
	o.StartTLS()
	t.Cleanup(o.Close)
	return o
}

func (o *apiOrigin) counts() (full, conditionals int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.full, o.conditionals
}

// cli runs the binary with args and the environment env, and returns its
// exit code, standard output and standard error.
func cli(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("portico %s: %v", strings.Join(args, " "), err)
	}
	return code, stdout.String(), stderr.String()
}

// TestCacheExplainAndPurge runs the real binary: a distribution whose
// /api/* behaviour uses a cache policy, a response cached through the
// edge, `portico cache explain` naming the behaviour, the policy, the key
// and the stored entry with its TTL, a wrong secret refused with 403, and
// `portico purge` by tag, soft then hard, doing what it says. The server
// runs with raised invalidation limits.
func TestCacheExplainAndPurge(t *testing.T) {
	ctx := t.Context()
	originCA, viewerCA := testpki.NewCA(t, "origin CA"), testpki.NewCA(t, "viewer CA")
	origin := newAPIOrigin(t, originCA)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "origin-ca.pem")
	if err := os.WriteFile(caFile, originCA.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	creds := []string{"PORTICO_ACCESS_KEY_ID=" + accessKeyID, "PORTICO_SECRET_ACCESS_KEY=" + secretKey}
	p := startPortico(t, filepath.Join(dir, "data"), creds, "--origin-ca", caFile, "--origin-resolve", originDomain+"=127.0.0.1",
		"--max-invalidation-wildcards", "20")
	cf, certs := clients(p.api)

	leaf := viewerCA.Issue(t, []string{customDomain}, testpki.Serial(30))
	imported := must(certs.ImportCertificate(ctx, &acm.ImportCertificateInput{
		Certificate: leaf.CertPEM, PrivateKey: leaf.KeyPEM, CertificateChain: leaf.ChainPEM,
	}))(t)
	names := func(items ...string) *cftypes.Headers {
		return &cftypes.Headers{Quantity: aws.Int32(int32(len(items))), Items: items}
	}
	policy := must(cf.CreateCachePolicy(ctx, &cloudfront.CreateCachePolicyInput{CachePolicyConfig: &cftypes.CachePolicyConfig{
		Name: aws.String("api-policy"), MinTTL: aws.Int64(0), DefaultTTL: aws.Int64(60), MaxTTL: aws.Int64(3600),
		ParametersInCacheKeyAndForwardedToOrigin: &cftypes.ParametersInCacheKeyAndForwardedToOrigin{
			EnableAcceptEncodingGzip: aws.Bool(true),
			HeadersConfig:            &cftypes.CachePolicyHeadersConfig{HeaderBehavior: cftypes.CachePolicyHeaderBehaviorWhitelist, Headers: names("X-Tenant")},
			CookiesConfig:            &cftypes.CachePolicyCookiesConfig{CookieBehavior: cftypes.CachePolicyCookieBehaviorNone},
			QueryStringsConfig: &cftypes.CachePolicyQueryStringsConfig{QueryStringBehavior: cftypes.CachePolicyQueryStringBehaviorWhitelist,
				QueryStrings: &cftypes.QueryStringNames{Quantity: aws.Int32(1), Items: []string{"id"}}},
		},
	}}))(t)
	policyID := aws.ToString(policy.CachePolicy.Id)

	cfg := seedConfig("explain-1", aws.ToString(imported.CertificateArn), origin.Listener.Addr().(*net.TCPAddr).Port)
	cfg.Origins.Items[0].CustomHeaders = nil
	cfg.CacheBehaviors = &cftypes.CacheBehaviors{Quantity: aws.Int32(1), Items: []cftypes.CacheBehavior{{
		PathPattern:          aws.String("/api/*"),
		TargetOriginId:       aws.String("auth0-custom-domain"),
		ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyHttpsOnly,
		CachePolicyId:        aws.String(policyID),
	}}}
	dist := must(cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: cfg}))(t)
	id := aws.ToString(dist.Distribution.Id)
	w := cloudfront.NewDistributionDeployedWaiter(cf, func(o *cloudfront.DistributionDeployedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
	})
	if err := w.Wait(ctx, &cloudfront.GetDistributionInput{Id: aws.String(id)}, 30*time.Second); err != nil {
		t.Fatal(err)
	}

	https := viewer(p.https, viewerCA.Pool())
	url := "https://" + customDomain + "/api/products?id=42&utm=mail"
	get := func() string {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("X-Tenant", "acme")
		resp := must(https.Do(req))(t)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", url, resp.Status)
		}
		return resp.Header.Get("X-Cache") + " | " + resp.Header.Get("Cache-Status")
	}
	if got := get(); !strings.HasPrefix(got, "Miss") {
		t.Fatalf("first GET: %q, want a Miss", got)
	}
	if got := get(); !strings.HasPrefix(got, "Hit") {
		t.Fatalf("second GET: %q, want a Hit", got)
	}

	api := "http://" + p.api
	t.Run("explain", func(t *testing.T) {
		// Go's client sent Accept-Encoding: gzip, which the key holds.
		code, out, errOut := cli(t, creds, "cache", "explain", "--api", api, "-H", "X-Tenant: acme", "-H", "Accept-Encoding: gzip", url)
		if code != 0 {
			t.Fatalf("cache explain: exit %d\n%s%s", code, out, errOut)
		}
		for _, want := range []string{
			"Distribution:", id, "matched by its alias " + customDomain,
			"/api/* (cache behavior 1 of 1)",
			"Cache policy:", "api-policy (" + policyID + ")",
			"host", customDomain, "path", "/api/products",
			"query strings", "whitelist(id) → id=42",
			"headers", "whitelist(X-Tenant)", "X-Tenant: acme",
			"accept-encoding", "normalised (gzip on, br off) → gzip",
			"purge path", "/api/products?id=42",
			"TTL:", "min 0 s, default 60 s, max 3600 s",
			"Cache:", "hit; 1 variant(s) in memory",
			"Stored:", "freshness lifetime 300 s",
			"tags product-42, api",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("explain output lacks %q:\n%s", want, out)
			}
		}
		t.Logf("portico cache explain:\n%s", out)

		// JSON, with credentials from a credentials file this time.
		dataDir := filepath.Join(dir, "client")
		os.MkdirAll(dataDir, 0o700)
		os.WriteFile(filepath.Join(dataDir, credentialsFile), []byte("[portico]\naws_access_key_id = "+accessKeyID+"\naws_secret_access_key = "+secretKey+"\n"), 0o600)
		code, out, errOut = cli(t, nil, "cache", "explain", "--json", "--data", dataDir, "--api", p.api, url, "-H", "X-Tenant: acme", "-H", "accept-encoding: gzip")
		if code != 0 {
			t.Fatalf("cache explain --json: exit %d\n%s%s", code, out, errOut)
		}
		var x explain.Explanation
		if err := json.Unmarshal([]byte(out), &x); err != nil {
			t.Fatalf("--json output: %v\n%s", err, out)
		}
		if s := x.Cache.Stored; x.Behavior.PathPattern != "/api/*" || x.CachePolicy == nil || x.CachePolicy.ID != policyID ||
			x.Key.Query != "id=42" || x.Cache.Result != "hit" || s == nil || s.Lifetime != 300 || s.TTL <= 0 || s.TTL > 300 ||
			!slices.Equal(s.Tags, []string{"product-42", "api"}) {
			t.Errorf("--json explanation = %+v, cache %+v", x, x.Cache)
		}

		// Explaining fetched nothing and did not change the cache.
		full, _ := origin.counts()
		if got := get(); !strings.HasPrefix(got, "Hit") {
			t.Errorf("GET after explaining: %q, want a Hit", got)
		}
		if f, _ := origin.counts(); f != full || f != 1 {
			t.Errorf("the origin saw %d full requests, want 1", f)
		}
	})

	t.Run("wrong secret", func(t *testing.T) {
		code, out, errOut := cli(t, []string{"PORTICO_ACCESS_KEY_ID=" + accessKeyID, "PORTICO_SECRET_ACCESS_KEY=not-the-secret"},
			"cache", "explain", "--api", api, url)
		if code != 1 || out != "" || !strings.Contains(errOut, "403 SignatureDoesNotMatch") {
			t.Errorf("with a wrong secret: exit %d, stdout %q, stderr %q; want 1 and a 403 SignatureDoesNotMatch", code, out, errOut)
		}
		code, _, errOut = cli(t, nil, "purge", "--data", filepath.Join(dir, "nowhere"), "--api", api, "--distribution", id, "--tag", "x")
		if code != 1 || !strings.Contains(errOut, "no credentials") {
			t.Errorf("without credentials: exit %d, stderr %q; want 1 and a clear message", code, errOut)
		}
	})

	t.Run("soft purge by tag revalidates", func(t *testing.T) {
		full, cond := origin.counts()
		code, out, errOut := cli(t, creds, "purge", "--api", api, "--distribution", id, "--soft", "--tag", "product-42", "--wait")
		if code != 0 || !strings.Contains(out, "soft purge of 0 path(s) and 1 tag(s)") || !strings.Contains(out, ": Completed") {
			t.Fatalf("purge --soft --tag: exit %d\n%s%s", code, out, errOut)
		}
		// The entry is stale: the next request goes to the origin for it
		// (fwd=stale), conditionally when the origin request policy lets
		// If-None-Match through (then a RefreshHit), in full otherwise.
		if got := get(); !strings.Contains(got, "fwd=stale") {
			t.Errorf("GET after a soft purge: %q, want Cache-Status fwd=stale", got)
		}
		if f, c := origin.counts(); f+c != full+cond+1 {
			t.Errorf("origin: %d full, %d conditional requests; want one more than %d, %d", f, c, full, cond)
		}
		if got := get(); !strings.HasPrefix(got, "Hit") {
			t.Errorf("GET after revalidation: %q, want a Hit", got)
		}
		// The AWS SDK reads the extended invalidation as a CloudFront one.
		list := must(cf.ListInvalidations(ctx, &cloudfront.ListInvalidationsInput{DistributionId: aws.String(id)}))(t)
		inv := must(cf.GetInvalidation(ctx, &cloudfront.GetInvalidationInput{DistributionId: aws.String(id), Id: list.InvalidationList.Items[0].Id}))(t)
		if b := inv.Invalidation.InvalidationBatch; aws.ToString(inv.Invalidation.Status) != "Completed" || aws.ToInt32(b.Paths.Quantity) != 0 {
			t.Errorf("GetInvalidation = %+v, want Completed with no paths", inv.Invalidation)
		}
	})

	t.Run("hard purge by tag and by path", func(t *testing.T) {
		code, out, errOut := cli(t, creds, "purge", "--api", api, "--distribution", id, "--tag", "product-7", "--wait")
		if code != 0 {
			t.Fatalf("purge --tag product-7: exit %d\n%s%s", code, out, errOut)
		}
		if got := get(); !strings.HasPrefix(got, "Hit") {
			t.Errorf("GET after purging another tag: %q, want a Hit", got)
		}
		code, out, errOut = cli(t, creds, "cache", "purge", "--api", api, "--distribution", id, "--tag", "product-42", "--wait")
		if code != 0 {
			t.Fatalf("cache purge --tag product-42: exit %d\n%s%s", code, out, errOut)
		}
		if got := get(); !strings.HasPrefix(got, "Miss") || strings.Contains(got, "fwd=stale") {
			t.Errorf("GET after purging its tag: %q, want a Miss, not a revalidation", got)
		}
		code, out, errOut = cli(t, creds, "purge", "--api", api, "--distribution", id, "--wait", "/api/*")
		if code != 0 || !strings.Contains(out, "purge of 1 path(s) and 0 tag(s)") {
			t.Fatalf("purge /api/*: exit %d\n%s%s", code, out, errOut)
		}
		if got := get(); !strings.HasPrefix(got, "Miss") {
			t.Errorf("GET after purging /api/*: %q, want a Miss", got)
		}
		code, _, errOut = cli(t, creds, "purge", "--api", api, "--distribution", id, "--tag", "two words")
		if code != 1 || !strings.Contains(errOut, "400 InvalidArgument") {
			t.Errorf("purge with a bad tag: exit %d, stderr %q; want 1 and a 400 InvalidArgument", code, errOut)
		}
	})

	t.Run("raised invalidation limits", func(t *testing.T) {
		paths := make([]string, 16)
		for i := range paths {
			paths[i] = "/w" + strconv.Itoa(i) + "/*"
		}
		if _, err := cf.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{DistributionId: aws.String(id),
			InvalidationBatch: &cftypes.InvalidationBatch{CallerReference: aws.String("wildcards"),
				Paths: &cftypes.Paths{Quantity: aws.Int32(16), Items: paths}}}); err != nil {
			t.Errorf("16 wildcards with --max-invalidation-wildcards 20: %v", err)
		}
	})
}

func TestClientUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"cache"}, "name a subcommand"},
		{[]string{"cache", "flush"}, "unknown subcommand"},
		{[]string{"cache", "explain"}, "give one URL"},
		{[]string{"cache", "explain", "https://a/", "https://b/"}, "give one URL"},
		{[]string{"cache", "explain", "--nope", "https://a/"}, "flag provided but not defined"},
		{[]string{"purge", "/a"}, "--distribution is required"},
		{[]string{"purge", "--distribution", "E1"}, "give paths, --tag, or both"},
		{[]string{"purge", "--distribution", "E1", "--api", "ftp://x", "/a"}, "--api"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			env := map[string]string{"PORTICO_ACCESS_KEY_ID": "a", "PORTICO_SECRET_ACCESS_KEY": "b"}
			code := run(t.Context(), tt.args, func(k string) string { return env[k] }, &stdout, &stderr)
			if code != exitBadUsage || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), exitBadUsage, tt.want)
			}
		})
	}
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"cache", "explain", "-h"}, func(string) string { return "" }, &stdout, &stderr); code != exitOK ||
		!strings.Contains(stderr.String(), "Usage: portico cache explain") {
		t.Errorf("cache explain -h: exit %d, stderr %q", code, stderr.String())
	}
}
