package acmapi_test

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// awsCLI returns the AWS CLI to test with: Debian's v2 package, which
// scripts/install-test-deps.sh installs, else any aws on PATH.
func awsCLI(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/aws"); err == nil {
		return "/usr/bin/aws"
	}
	path, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("the AWS CLI is not installed (scripts/install-test-deps.sh installs it)")
	}
	return path
}

// The AWS CLI, which parses every response with ACM's service model, can
// import, describe, list, get and delete certificates, and reports errors
// by their ACM names.
func TestAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the AWS CLI several times")
	}
	bin := awsCLI(t)
	e := newEnv(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca := write("server-ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.srv.Certificate().Raw}))
	p := issue(t, certSpec{names: []string{"auth.example.com", "www.example.com"}, key: "p256", chained: true})
	certFile, chainFile, keyFile := write("cert.pem", p.cert), write("chain.pem", p.chain), write("key.pem", p.key)
	other := issue(t, certSpec{names: []string{"auth.example.com"}, key: "ca"})
	otherKey := write("other-key.pem", other.key)

	run := func(args ...string) (stdout []byte, stderr string, err error) {
		cmd := exec.Command(bin, append([]string{"--endpoint-url", e.srv.URL, "--output", "json", "acm"}, args...)...)
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + dir,
			"AWS_ACCESS_KEY_ID=" + testKeyID,
			"AWS_SECRET_ACCESS_KEY=" + testSecret,
			"AWS_DEFAULT_REGION=us-east-1",
			"AWS_CA_BUNDLE=" + ca,
			"AWS_CONFIG_FILE=" + filepath.Join(dir, "no-config"),
			"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "no-credentials"),
			"AWS_PAGER=",
			"AWS_EC2_METADATA_DISABLED=true",
			"AWS_MAX_ATTEMPTS=1",
		}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err = cmd.Run()
		return out.Bytes(), errb.String(), err
	}
	mustRun := func(v any, args ...string) {
		t.Helper()
		out, stderr, err := run(args...)
		if err != nil {
			t.Fatalf("aws acm %s: %v\n%s", args[0], err, stderr)
		}
		if v != nil {
			if err := json.Unmarshal(out, v); err != nil {
				t.Fatalf("aws acm %s printed %q: %v", args[0], out, err)
			}
		}
	}

	var imported struct{ CertificateArn string }
	mustRun(&imported, "import-certificate",
		"--certificate", "fileb://"+certFile, "--certificate-chain", "fileb://"+chainFile, "--private-key", "fileb://"+keyFile)
	arn := imported.CertificateArn
	if !strings.HasPrefix(arn, "arn:aws:acm:us-east-1:123456789012:certificate/") {
		t.Fatalf("import-certificate printed ARN %q", arn)
	}

	var described struct {
		Certificate struct {
			CertificateArn, DomainName, Status, Type, KeyAlgorithm, SignatureAlgorithm, RenewalEligibility string
			SubjectAlternativeNames, InUseBy                                                               []string
			NotBefore, NotAfter, CreatedAt, ImportedAt                                                     any
			ExtendedKeyUsages                                                                              []struct{ Name, OID string }
		}
	}
	mustRun(&described, "describe-certificate", "--certificate-arn", arn)
	c := described.Certificate
	if c.CertificateArn != arn || c.DomainName != "auth.example.com" || c.Status != "ISSUED" || c.Type != "IMPORTED" ||
		c.KeyAlgorithm != "EC_prime256v1" || c.SignatureAlgorithm != "SHA256WITHECDSA" || c.RenewalEligibility != "INELIGIBLE" ||
		strings.Join(c.SubjectAlternativeNames, ",") != "auth.example.com,www.example.com" || c.InUseBy == nil || len(c.ExtendedKeyUsages) != 2 {
		t.Errorf("describe-certificate printed %+v", c)
	}
	for name, want := range map[string]struct {
		got  any
		want time.Time
	}{
		"NotBefore":  {c.NotBefore, epoch.Add(-time.Hour)},
		"NotAfter":   {c.NotAfter, epoch.Add(90 * 24 * time.Hour)},
		"CreatedAt":  {c.CreatedAt, epoch},
		"ImportedAt": {c.ImportedAt, epoch},
	} {
		if got, ok := cliTime(want.got); !ok || !got.Equal(want.want) {
			t.Errorf("describe-certificate printed %s %v, want %v", name, want.got, want.want)
		}
	}

	var listed struct {
		CertificateSummaryList []struct {
			CertificateArn, DomainName, Status, KeyAlgorithm string
			InUse                                            bool
		}
	}
	mustRun(&listed, "list-certificates", "--includes", "keyTypes=RSA_2048,EC_prime256v1")
	if len(listed.CertificateSummaryList) != 1 || listed.CertificateSummaryList[0].CertificateArn != arn ||
		listed.CertificateSummaryList[0].KeyAlgorithm != "EC_prime256v1" {
		t.Errorf("list-certificates printed %+v", listed.CertificateSummaryList)
	}

	var got struct{ Certificate, CertificateChain string }
	mustRun(&got, "get-certificate", "--certificate-arn", arn)
	if got.Certificate != string(bytes.TrimSpace(p.cert)) || got.CertificateChain != string(bytes.TrimSpace(p.chain)) {
		t.Errorf("get-certificate printed %+v", got)
	}

	// Errors carry ACM's exception names to the user.
	_, stderr, err := run("import-certificate", "--certificate-arn", arn, "--certificate", "fileb://"+certFile, "--private-key", "fileb://"+otherKey)
	if !cliFailed(err) || !strings.Contains(stderr, "ValidationException") {
		t.Errorf("re-import with the wrong key: %v, stderr %q; want a ValidationException", err, stderr)
	}
	if strings.Contains(stderr, "PRIVATE KEY-----") {
		t.Errorf("the CLI's error shows a private key: %q", stderr)
	}

	mustRun(nil, "delete-certificate", "--certificate-arn", arn)
	_, stderr, err = run("describe-certificate", "--certificate-arn", arn)
	if !cliFailed(err) || !strings.Contains(stderr, "ResourceNotFoundException") {
		t.Errorf("describe-certificate after delete: %v, stderr %q; want a ResourceNotFoundException", err, stderr)
	}
}

// cliTime reads a timestamp as the AWS CLI prints it: ISO 8601 (v2's
// default), or epoch seconds.
func cliTime(v any) (time.Time, bool) {
	switch v := v.(type) {
	case string:
		t, err := time.Parse(time.RFC3339Nano, v)
		return t, err == nil
	case float64:
		return time.UnixMilli(int64(v * 1e3)), true
	}
	return time.Time{}, false
}

// cliFailed reports whether the CLI ran and exited non-zero.
func cliFailed(err error) bool {
	var exit *exec.ExitError
	return errors.As(err, &exit)
}
