package cfapi

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-edge/portico"
)

// TestAWSCLIPolicies drives the cache policy commands of the AWS CLI,
// which parses every response with CloudFront's service model: create,
// get, list by type, and delete with the ETag, and an error by its
// CloudFront name.
func TestAWSCLIPolicies(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the AWS CLI several times")
	}
	bin := "/usr/bin/aws" // Debian's v2 package, which scripts/install-test-deps.sh installs
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("aws"); err != nil {
			t.Skip("the AWS CLI is not installed (scripts/install-test-deps.sh installs it)")
		}
	}
	env := newAPIEnv(t, time.Time{})
	dir := t.TempDir()
	run := func(args ...string) ([]byte, string, error) {
		cmd := exec.Command(bin, append([]string{"--endpoint-url", env.server.URL, "--output", "json", "cloudfront"}, args...)...)
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + dir,
			"AWS_ACCESS_KEY_ID=" + testAccessKey,
			"AWS_SECRET_ACCESS_KEY=" + testSecretKey,
			"AWS_DEFAULT_REGION=us-east-1",
			"AWS_PAGER=",
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		return out, stderr.String(), err
	}

	cfgFile := filepath.Join(dir, "cache-policy.json")
	if err := os.WriteFile(cfgFile, []byte(`{
  "Name": "auth0-cli",
  "Comment": "made with the AWS CLI",
  "MinTTL": 0, "DefaultTTL": 60, "MaxTTL": 3600,
  "ParametersInCacheKeyAndForwardedToOrigin": {
    "EnableAcceptEncodingGzip": true,
    "EnableAcceptEncodingBrotli": false,
    "HeadersConfig": {"HeaderBehavior": "whitelist", "Headers": {"Quantity": 1, "Items": ["Authorization"]}},
    "CookiesConfig": {"CookieBehavior": "none"},
    "QueryStringsConfig": {"QueryStringBehavior": "all"}
  }
}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := run("create-cache-policy", "--cache-policy-config", "file://"+cfgFile)
	if err != nil {
		t.Fatalf("create-cache-policy: %v\n%s", err, stderr)
	}
	var created struct {
		Location    string
		ETag        string
		CachePolicy struct {
			Id                string
			CachePolicyConfig struct {
				Name   string
				MaxTTL int64
			}
		}
	}
	if err := json.Unmarshal(out, &created); err != nil {
		t.Fatalf("create-cache-policy printed %s: %v", out, err)
	}
	id := created.CachePolicy.Id
	if created.ETag == "" || !strings.HasSuffix(created.Location, "/cache-policy/"+id) ||
		created.CachePolicy.CachePolicyConfig.Name != "auth0-cli" || created.CachePolicy.CachePolicyConfig.MaxTTL != 3600 {
		t.Errorf("create-cache-policy printed %s", out)
	}

	out, stderr, err = run("list-cache-policies", "--type", "managed")
	if err != nil {
		t.Fatalf("list-cache-policies: %v\n%s", err, stderr)
	}
	var list struct {
		CachePolicyList struct {
			Items []struct {
				Type        string
				CachePolicy struct{ Id string }
			}
		}
	}
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatal(err)
	}
	var managed []string
	for _, s := range list.CachePolicyList.Items {
		if s.Type != "managed" {
			t.Errorf("policy %s listed as %s", s.CachePolicy.Id, s.Type)
		}
		managed = append(managed, s.CachePolicy.Id)
	}
	if !slices.Contains(managed, portico.ManagedCachingDisabled) || slices.Contains(managed, id) {
		t.Errorf("managed cache policies = %q", managed)
	}

	_, stderr, err = run("delete-cache-policy", "--id", id, "--if-match", "EWRONGETAG0000")
	if err == nil || !strings.Contains(stderr, "PreconditionFailed") {
		t.Errorf("delete-cache-policy with a stale ETag: %v\n%s; want PreconditionFailed", err, stderr)
	}
	if _, stderr, err := run("delete-cache-policy", "--id", id, "--if-match", created.ETag); err != nil {
		t.Fatalf("delete-cache-policy: %v\n%s", err, stderr)
	}
	_, stderr, err = run("get-cache-policy", "--id", id)
	if err == nil || !strings.Contains(stderr, "NoSuchCachePolicy") {
		t.Errorf("get-cache-policy after the delete: %v\n%s; want NoSuchCachePolicy", err, stderr)
	}
}
