package edgeserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-edge/portico/internal/snapshot"
	"github.com/portico-edge/portico/internal/testlog"
	"github.com/portico-edge/portico/internal/testpki"
)

// issueRSA issues an RSA-2048 certificate for names, as ACM imports it.
func (ca *testCA) issueRSA(t testing.TB, names ...string) pems {
	t.Helper()
	return ca.issueWith(t, names, testpki.RSA(2048))
}

// TestTLSCipherSuitesAreMozillaIntermediate offers each TLS 1.2 cipher
// suite Go implements, alone, to a name with an ECDSA certificate and to
// one with an RSA certificate: exactly Mozilla's intermediate suites are
// accepted. TLS 1.0 and 1.1 are refused, TLS 1.3 accepted.
func TestTLSCipherSuitesAreMozillaIntermediate(t *testing.T) {
	e := newRawEdge(t)
	p := e.viewerCA.issueRSA(t, "rsa.example.com")
	c, err := e.svc.ImportCertificate(context.Background(), "", p.cert, p.chain, p.key)
	if err != nil {
		t.Fatalf("ImportCertificate: %v", err)
	}
	e.createDistribution(t, distConfig("rsa", true, c.ARN, "rsa.example.com"))

	handshake := func(name string, cfg *tls.Config) error {
		cfg.ServerName, cfg.RootCAs = name, e.viewerCA.pool
		conn, err := tls.Dial("tcp", e.httpsAddr, cfg)
		if err == nil {
			conn.Close()
		}
		return err
	}
	var suites []*tls.CipherSuite
	suites = append(suites, tls.CipherSuites()...)
	suites = append(suites, tls.InsecureCipherSuites()...)
	for _, name := range []string{rawHost, "rsa.example.com"} {
		var accepted, want []string
		for _, s := range suites {
			if !slices.Contains(s.SupportedVersions, tls.VersionTLS12) {
				continue
			}
			cfg := &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{s.ID}}
			if handshake(name, cfg) == nil {
				accepted = append(accepted, s.Name)
			}
		}
		kind := "_ECDSA_"
		if name == "rsa.example.com" {
			kind = "_RSA_"
		}
		for _, id := range intermediateSuites {
			if n := tls.CipherSuiteName(id); strings.Contains(n, kind) {
				want = append(want, n)
			}
		}
		slices.Sort(accepted)
		slices.Sort(want)
		if !slices.Equal(accepted, want) {
			t.Errorf("%s: TLS 1.2 suites accepted %q, want %q", name, accepted, want)
		}
	}
	if len(intermediateSuites) != 6 {
		t.Errorf("%d intermediate suites, want Mozilla's 6", len(intermediateSuites))
	}
	for _, v := range []struct {
		version uint16
		ok      bool
	}{{tls.VersionTLS10, false}, {tls.VersionTLS11, false}, {tls.VersionTLS12, true}, {tls.VersionTLS13, true}} {
		err := handshake(rawHost, &tls.Config{MinVersion: v.version, MaxVersion: v.version})
		if (err == nil) != v.ok {
			t.Errorf("%s: handshake error %v, want accepted %v", tls.VersionName(v.version), err, v.ok)
		}
	}
}

// TestTLSScanTestssl runs Debian's testssl.sh (installed by
// scripts/install-test-deps.sh) for protocols and cipher suites against the
// HTTPS listener: TLS 1.2 and 1.3 only, and exactly the intermediate
// suites that an ECDSA certificate allows.
func TestTLSScanTestssl(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("testssl")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("testssl is not installed (bash scripts/install-test-deps.sh installs it)")
		}
		t.Fatal("testssl is not installed: scripts/install-test-deps.sh must install it")
	}
	e := newRawEdge(t)
	_, port, _ := net.SplitHostPort(e.httpsAddr)
	report := filepath.Join(t.TempDir(), "testssl.json")
	out, err := exec.Command(bin, "--quiet", "--color", "0", "--warnings", "batch", "--protocols", "--cipher-per-proto",
		"--jsonfile", report, "127.0.0.1:"+port).CombinedOutput()
	if err != nil {
		t.Logf("testssl: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("testssl wrote no report: %v\n%s", err, out)
	}
	var findings []struct{ ID, Finding string }
	if err := json.Unmarshal(raw, &findings); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var ciphers []string
	for _, f := range findings {
		got[f.ID] = f.Finding
		if strings.HasPrefix(f.ID, "cipher-tls") {
			ciphers = append(ciphers, f.ID)
		}
	}
	for id, want := range map[string]string{"SSLv2": "not offered", "SSLv3": "not offered", "TLS1": "not offered",
		"TLS1_1": "not offered", "TLS1_2": "offered", "TLS1_3": "offered"} {
		if !strings.HasPrefix(got[id], want) {
			t.Errorf("testssl %s: %q, want %q", id, got[id], want)
		}
	}
	slices.Sort(ciphers)
	want := []string{"cipher-tls1_2_xc02b", "cipher-tls1_2_xc02c", "cipher-tls1_2_xcca9", // ECDHE-ECDSA AES-GCM, ChaCha20
		"cipher-tls1_3_x1301", "cipher-tls1_3_x1302", "cipher-tls1_3_x1303"}
	if !slices.Equal(ciphers, want) {
		t.Errorf("testssl finds suites %q, want %q", ciphers, want)
	}
}

// TestCertificateExpiryIsLogged presents a certificate that expires in
// less than ExpiryWarning: the first handshake logs a warning, the next
// ones (within a day) do not.
func TestCertificateExpiryIsLogged(t *testing.T) {
	ca := newCA(t, "Viewer Test CA")
	logs := &testlog.Buffer{}
	s := &Server{
		Snapshot:           func() *snapshot.Snapshot { return nil },
		DefaultCertificate: ca.keyPair(t, "*.portico.localhost"), // valid for 12 hours
		Log:                newTestLogger(logs),
	}
	_, addr := serve(t, s, true)
	for range 3 {
		conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "e1.portico.localhost", RootCAs: ca.pool})
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
	}
	if n := strings.Count(logs.String(), "viewer certificate expires soon"); n != 1 {
		t.Errorf("%d expiry warnings, want 1; log:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "days_left=0") {
		t.Errorf("the warning does not say how many days are left:\n%s", logs)
	}
	far := &tls.Certificate{Leaf: &x509.Certificate{NotAfter: time.Now().Add(90 * 24 * time.Hour)}}
	before := logs.String()
	s.expiry.check(s, far, time.Now())
	if logs.String() != before {
		t.Errorf("a certificate valid for 90 days was logged")
	}
}
