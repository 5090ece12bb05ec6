package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/portico-edge/portico"
)

// testCA issues certificates for tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Portico Test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

var serial = big.NewInt(100)

// issue returns an imported certificate for names, valid until notAfter.
func (ca *testCA) issue(t testing.TB, arn string, notAfter time.Time, names ...string) portico.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial = new(big.Int).Add(serial, big.NewInt(1))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := portico.ParseCertificate(
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	)
	if err != nil {
		t.Fatal(err)
	}
	c.ARN = arn
	return *c
}

func (ca *testCA) keyPair(t testing.TB, names ...string) *tls.Certificate {
	t.Helper()
	c := ca.issue(t, "default", time.Now().Add(time.Hour), names...)
	kp, err := c.KeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return &kp
}

// firstName returns the first DNS name of c's leaf, or "<nil>".
func firstName(c *tls.Certificate) string {
	if c == nil {
		return "<nil>"
	}
	return c.Leaf.DNSNames[0]
}

func TestCertificateSelection(t *testing.T) {
	ca := newCA(t)
	exp := time.Now().Add(time.Hour)
	idx, err := New([]portico.Certificate{
		ca.issue(t, "arn:login", exp, "login.example.com"),
		ca.issue(t, "arn:wild", exp, "*.example.org", "example.org"),
	}, ca.keyPair(t, "*.portico.localhost"))
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
	ca := newCA(t)
	idx, err := New([]portico.Certificate{ca.issue(t, "arn:login", time.Now().Add(time.Hour), "login.example.com")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := idx.GetCertificate(&tls.ClientHelloInfo{ServerName: "other.example.com"}); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("GetCertificate for an uncovered name: err = %v, want ErrNoCertificate", err)
	}
}

func TestNewLeavesOutBrokenCertificates(t *testing.T) {
	ca := newCA(t)
	good := ca.issue(t, "arn:good", time.Now().Add(time.Hour), "good.example.com")
	badKey := ca.issue(t, "arn:bad-key", time.Now().Add(time.Hour), "bad.example.com")
	secret := "-----BEGIN PRIVATE KEY-----\nU0VDUkVULUtFWS1NQVRFUklBTA==\n-----END PRIVATE KEY-----\n"
	badKey.PrivateKeyPEM = []byte(secret)
	mismatched := ca.issue(t, "arn:mismatch", time.Now().Add(time.Hour), "mismatch.example.com")
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
	ca := newCA(t)
	old := ca.issue(t, "arn:old", time.Now().Add(time.Hour), "login.example.com")
	renewed := ca.issue(t, "arn:renewed", time.Now().Add(2*time.Hour), "login.example.com", "www.example.com")
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
	ca := newCA(t)
	exp := time.Now().Add(time.Hour)
	idx, err := New([]portico.Certificate{
		ca.issue(t, "arn:login", exp, "login.example.com"),
		ca.issue(t, "arn:wild", exp, "*.example.org"),
	}, ca.keyPair(t, "*.portico.localhost"))
	if err != nil {
		t.Fatal(err)
	}
	for _, sni := range []string{"Login.Example.com", "API.example.org", "Nothing.Example.NET", ""} {
		hello := &tls.ClientHelloInfo{ServerName: sni}
		if allocs := testing.AllocsPerRun(100, func() { idx.GetCertificate(hello) }); allocs != 0 {
			t.Errorf("GetCertificate(%q) allocated %v times per run, want 0", sni, allocs)
		}
	}
}

// TestHandshake serves the index behind a real TLS listener and checks what
// verifying clients receive.
func TestHandshake(t *testing.T) {
	ca := newCA(t)
	exp := time.Now().Add(time.Hour)
	idx, err := New([]portico.Certificate{
		ca.issue(t, "arn:login", exp, "login.example.com"),
		ca.issue(t, "arn:wild", exp, "*.example.org"),
	}, ca.keyPair(t, "*.portico.localhost"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: idx.GetCertificate, MinVersion: tls.VersionTLS12})
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

	tests := []struct {
		sni, want string
	}{
		{"login.example.com", "login.example.com"},
		{"www.example.org", "*.example.org"},
		{"e1.portico.localhost", "*.portico.localhost"},
	}
	for _, tt := range tests {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(),
			&tls.Config{ServerName: tt.sni, RootCAs: ca.pool})
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
