package certs

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/testpki"
)

// issue returns an imported certificate for names, valid until notAfter.
func issue(t testing.TB, ca *testpki.CA, arn string, notAfter time.Time, names ...string) portico.Certificate {
	t.Helper()
	l := ca.Issue(t, names, testpki.Validity(time.Now().Add(-time.Hour), notAfter))
	c, err := portico.ParseCertificate(l.CertPEM, l.ChainPEM, l.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c.ARN = arn
	return *c
}

// newIndex returns an index of certificates for login.example.com and
// *.example.org, with a default one for *.portico.localhost, all issued by
// ca.
func newIndex(t *testing.T, ca *testpki.CA) *Index {
	t.Helper()
	exp := time.Now().Add(time.Hour)
	idx, err := New([]portico.Certificate{
		issue(t, ca, "arn:login", exp, "login.example.com"),
		issue(t, ca, "arn:wild", exp, "*.example.org"),
	}, ca.Issue(t, []string{"*.portico.localhost"}).TLSCertificate(t))
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// firstName returns the first DNS name of c's leaf, or "<nil>".
func firstName(c *tls.Certificate) string {
	if c == nil {
		return "<nil>"
	}
	return c.Leaf.DNSNames[0]
}

func TestCertificateSelection(t *testing.T) {
	ca := testpki.NewCA(t, "Portico Test CA")
	exp := time.Now().Add(time.Hour)
	idx, err := New([]portico.Certificate{
		issue(t, ca, "arn:login", exp, "login.example.com"),
		issue(t, ca, "arn:wild", exp, "*.example.org", "example.org"),
	}, ca.Issue(t, []string{"*.portico.localhost"}).TLSCertificate(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if idx.Len() != 2 {
		t.Errorf("Len() = %d, want 2", idx.Len())
	}
	tests := []struct{ sni, want string }{
		{"login.example.com", "login.example.com"},
		{"LOGIN.Example.COM", "login.example.com"},
		{"login.example.com.", "login.example.com"},
		{"api.example.org", "*.example.org"},
		{"example.org", "*.example.org"},
		{"a.b.example.org", "*.portico.localhost"}, // a wildcard covers one label
		{"e123.portico.localhost", "*.portico.localhost"},
		{"", "*.portico.localhost"}, // no SNI
		{"unknown.example.net", "*.portico.localhost"},
	}
	for _, tt := range tests {
		c, err := idx.GetCertificate(&tls.ClientHelloInfo{ServerName: tt.sni})
		if err != nil {
			t.Errorf("GetCertificate(%q): %v", tt.sni, err)
			continue
		}
		if got := firstName(c); got != tt.want {
			t.Errorf("GetCertificate(%q) = certificate for %q, want %q", tt.sni, got, tt.want)
		}
	}
}

func TestNoDefault(t *testing.T) {
	ca := testpki.NewCA(t, "Portico Test CA")
	idx, err := New([]portico.Certificate{issue(t, ca, "arn:login", time.Now().Add(time.Hour), "login.example.com")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := idx.GetCertificate(&tls.ClientHelloInfo{ServerName: "other.example.com"}); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("GetCertificate for an uncovered name: err = %v, want ErrNoCertificate", err)
	}
}

func TestNewLeavesOutBrokenCertificates(t *testing.T) {
	ca := testpki.NewCA(t, "Portico Test CA")
	good := issue(t, ca, "arn:good", time.Now().Add(time.Hour), "good.example.com")
	badKey := issue(t, ca, "arn:bad-key", time.Now().Add(time.Hour), "bad.example.com")
	secret := "-----BEGIN PRIVATE KEY-----\nU0VDUkVULUtFWS1NQVRFUklBTA==\n-----END PRIVATE KEY-----\n"
	badKey.PrivateKeyPEM = []byte(secret)
	mismatched := issue(t, ca, "arn:mismatch", time.Now().Add(time.Hour), "mismatch.example.com")
	mismatched.PrivateKeyPEM = good.PrivateKeyPEM

	idx, err := New([]portico.Certificate{badKey, good, mismatched}, nil)
	if err == nil {
		t.Fatal("New: no error for broken certificates")
	}
	for _, want := range []string{"arn:bad-key", "arn:mismatch"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "U0VDUkVU") {
		t.Errorf("error %q quotes the private key", err)
	}
	if idx.Len() != 1 {
		t.Errorf("Len() = %d, want 1", idx.Len())
	}
	if got := firstName(idx.Certificate("good.example.com")); got != "good.example.com" {
		t.Errorf("Certificate(good.example.com) = %q, want the good certificate", got)
	}
	if got := idx.Certificate("bad.example.com"); got != nil {
		t.Errorf("Certificate(bad.example.com) = %q, want nil", firstName(got))
	}
}

func TestLatestExpiryWins(t *testing.T) {
	ca := testpki.NewCA(t, "Portico Test CA")
	old := issue(t, ca, "arn:old", time.Now().Add(time.Hour), "login.example.com")
	renewed := issue(t, ca, "arn:renewed", time.Now().Add(2*time.Hour), "login.example.com", "www.example.com")
	for _, order := range [][]portico.Certificate{{old, renewed}, {renewed, old}} {
		idx, err := New(order, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := idx.Certificate("login.example.com")
		if got == nil {
			t.Fatalf("with %s first: no certificate for login.example.com", order[0].ARN)
		}
		if !got.Leaf.NotAfter.Equal(renewed.NotAfter) {
			t.Errorf("with %s first: got a certificate expiring %v, want the renewed one (%v)",
				order[0].ARN, got.Leaf.NotAfter, renewed.NotAfter)
		}
	}
}

func TestGetCertificateDoesNotAllocate(t *testing.T) {
	idx := newIndex(t, testpki.NewCA(t, "Portico Test CA"))
	for _, sni := range []string{"Login.Example.com", "API.example.org", "Nothing.Example.NET", ""} {
		hello := &tls.ClientHelloInfo{ServerName: sni}
		if allocs := testing.AllocsPerRun(100, func() { idx.GetCertificate(hello) }); allocs != 0 {
			t.Errorf("GetCertificate(%q) allocated %v times per run, want 0", sni, allocs)
		}
	}
}

// serveHandshakes makes TLS handshakes on a loopback listener with the
// certificates getCert returns, until the test ends, and returns the
// listener's address.
func serveHandshakes(t *testing.T, getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: getCert, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

// TestHandshake serves the index behind a real TLS listener and checks what
// verifying clients receive.
func TestHandshake(t *testing.T) {
	ca := testpki.NewCA(t, "Portico Test CA")
	idx := newIndex(t, ca)
	addr := serveHandshakes(t, idx.GetCertificate)

	tests := []struct {
		sni, want string
	}{
		{"login.example.com", "login.example.com"},
		{"www.example.org", "*.example.org"},
		{"e1.portico.localhost", "*.portico.localhost"},
	}
	for _, tt := range tests {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
			&tls.Config{ServerName: tt.sni, RootCAs: ca.Pool()})
		if err != nil {
			t.Errorf("handshake with SNI %q: %v", tt.sni, err)
			continue
		}
		if got := conn.ConnectionState().PeerCertificates[0].DNSNames[0]; got != tt.want {
			t.Errorf("SNI %q: server presented %q, want %q", tt.sni, got, tt.want)
		}
		conn.Close()
	}
}
