package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-edge/portico/internal/testpki"
)

// awsCLI is Debian's AWS CLI v2 (package awscli), which the README's
// walkthrough uses. A pyenv or pip "aws" earlier in PATH may be v1, so the
// test names the Debian binary.
const awsCLI = "/usr/bin/aws"

// TestREADMEWalkthrough runs the README's walkthrough as a new user would:
// the generated credentials file, the AWS CLI v2 with --endpoint-url, and
// the distribution JSON exactly as the README shows it (with the test
// origin's port, certificate ARN and key put in).
func TestREADMEWalkthrough(t *testing.T) {
	if _, err := os.Stat(awsCLI); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("PORTICO_REQUIRE_AWSCLI") != "" {
			t.Fatalf("%s is missing: run 'make test-deps'", awsCLI)
		}
		t.Skipf("%s is missing: run 'make test-deps' (apt-get install awscli)", awsCLI)
	}
	originCA, viewerCA := testpki.NewCA(t, "origin CA"), testpki.NewCA(t, "viewer CA")
	origin := newTestOrigin(t, originCA, originDomain, cnameAPIKey)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "origin-ca.pem")
	os.WriteFile(caFile, originCA.PEM, 0o644)
	dataDir := filepath.Join(dir, "portico-data")
	p := startPortico(t, dataDir, nil, "--origin-ca", caFile, "--origin-resolve", originDomain+"=127.0.0.1")

	credsFile := filepath.Join(dataDir, credentialsFile)
	if fi, err := os.Stat(credsFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("generated credentials %s: %v, mode %v; want mode 0600", credsFile, err, fi.Mode().Perm())
	}
	// Standard output is copied by its own goroutine: give it a moment.
	if err := retry(5*time.Second, func() error {
		if !strings.Contains(p.logs.String(), "Credentials: generated into "+credsFile) {
			return errNotYet
		}
		return nil
	}); err != nil {
		t.Errorf("start-up output does not say where the credentials are:\n%s", p.logs)
	}
	aws := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(awsCLI, append([]string{"--endpoint-url", "http://" + p.api}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "AWS_SHARED_CREDENTIALS_FILE="+credsFile, "AWS_PROFILE=portico",
			"AWS_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_PAGER=", "HOME="+dir)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := time.Now()
		defer func() { t.Logf("aws %s: %v", strings.Join(args[:2], " "), time.Since(start).Round(time.Millisecond)) }()
		if err := cmd.Run(); err != nil {
			t.Fatalf("aws %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		return strings.TrimSpace(stdout.String())
	}

	leaf := viewerCA.Issue(t, []string{customDomain}, testpki.Serial(20))
	for name, b := range map[string][]byte{"login.example.com.pem": leaf.CertPEM, "login.example.com.key": leaf.KeyPEM, "chain.pem": leaf.ChainPEM} {
		os.WriteFile(filepath.Join(dir, name), b, 0o600)
	}
	var imported struct{ CertificateArn string }
	out := aws("acm", "import-certificate", "--certificate", "fileb://login.example.com.pem",
		"--private-key", "fileb://login.example.com.key", "--certificate-chain", "fileb://chain.pem")
	if err := json.Unmarshal([]byte(out), &imported); err != nil || !strings.HasPrefix(imported.CertificateArn, "arn:aws:acm:us-east-1:") {
		t.Fatalf("import-certificate printed %q", out)
	}

	config := readmeDistributionJSON(t)
	config = strings.ReplaceAll(config, `"HTTPSPort": 443`, `"HTTPSPort": `+strconv.Itoa(origin.port()))
	config = strings.ReplaceAll(config, "YOUR-CNAME-API-KEY", cnameAPIKey)
	config = strings.ReplaceAll(config, "arn:aws:acm:us-east-1:123456789012:certificate/…", imported.CertificateArn)
	os.WriteFile(filepath.Join(dir, "distribution.json"), []byte(config), 0o600)

	out = aws("cloudfront", "create-distribution", "--distribution-config", "file://distribution.json",
		"--query", "Distribution.[Id,Status,DomainName]", "--output", "text")
	fields := strings.Fields(out)
	if len(fields) != 3 || fields[1] != "InProgress" && fields[1] != "Deployed" || fields[2] != strings.ToLower(fields[0])+".portico.localhost" {
		t.Fatalf("create-distribution printed %q", out)
	}
	id := fields[0]
	aws("cloudfront", "wait", "distribution-deployed", "--id", id)
	if got := aws("cloudfront", "get-distribution", "--id", id, "--query", "Distribution.Status", "--output", "text"); got != "Deployed" {
		t.Errorf("status after wait = %q, want Deployed", got)
	}
	if got := aws("cloudfront", "list-distributions", "--query", "DistributionList.Items[].Id", "--output", "text"); got != id {
		t.Errorf("list-distributions = %q, want %q", got, id)
	}

	// Through the edge, as the viewer's browser would go once DNS points at it.
	resp, err := viewer(p.https, viewerCA.Pool()).Get("https://" + customDomain + "/authorize?client_id=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || origin.last(t).Header.Get("Cname-Api-Key") != cnameAPIKey {
		t.Errorf("GET through the edge: %s; origin saw cname-api-key %v", resp.Status, origin.last(t).Header.Get("Cname-Api-Key") != "")
	}

	// Invalidate, then disable and delete, as the CloudFront guide says.
	invID := aws("cloudfront", "create-invalidation", "--distribution-id", id, "--paths", "/*", "--query", "Invalidation.Id", "--output", "text")
	aws("cloudfront", "wait", "invalidation-completed", "--distribution-id", id, "--id", invID)

	var current struct {
		ETag               string
		DistributionConfig map[string]any
	}
	if err := json.Unmarshal([]byte(aws("cloudfront", "get-distribution-config", "--id", id)), &current); err != nil {
		t.Fatal(err)
	}
	current.DistributionConfig["Enabled"] = false
	disabled, _ := json.Marshal(current.DistributionConfig)
	os.WriteFile(filepath.Join(dir, "disabled.json"), disabled, 0o600)
	etag := aws("cloudfront", "update-distribution", "--id", id, "--if-match", current.ETag,
		"--distribution-config", "file://disabled.json", "--query", "ETag", "--output", "text")
	aws("cloudfront", "wait", "distribution-deployed", "--id", id)
	aws("cloudfront", "delete-distribution", "--id", id, "--if-match", etag)
	if got := aws("cloudfront", "list-distributions", "--no-paginate", "--query", "DistributionList.Quantity"); got != "0" {
		t.Errorf("after delete list-distributions Quantity = %s, want 0", got)
	}
	aws("acm", "delete-certificate", "--certificate-arn", imported.CertificateArn)
}

var jsonBlock = regexp.MustCompile("(?s)```json\n(.*?)```")

// readmeDistributionJSON returns the distribution configuration that the
// README tells users to write.
func readmeDistributionJSON(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := jsonBlock.FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no json block")
	}
	return string(m[1])
}
