package portico

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

type testIssuer struct {
	cert *x509.Certificate
	key  any
	pem  []byte
}

func newIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testIssuer{cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// leaf issues a certificate for names with key (an *rsa or *ecdsa private
// key) and returns its PEM and the key's PKCS#8 PEM.
func (ca *testIssuer) leaf(t *testing.T, key crypto.Signer, cn string, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x0102), Subject: pkix.Name{CommonName: cn}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

func TestParseCertificate(t *testing.T) {
	ca, other := newIssuer(t), newIssuer(t)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecCert, ecKeyPEM := ca.leaf(t, ecKey, "login.example.com", "login.example.com", "*.example.org")
	rsaCert, rsaKeyPEM := ca.leaf(t, rsaKey, "rsa.example.com")
	_, otherKeyPEM := ca.leaf(t, rsaKey, "x.example.com")
	rsaPKCS1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})

	ok := []struct {
		name                 string
		cert, chain, key     []byte
		keyAlg, sigAlg, host string
	}{
		{"ecdsa with chain", ecCert, ca.pem, ecKeyPEM, "EC_prime256v1", "SHA256WITHECDSA", "login.example.com"},
		{"rsa pkcs8 without chain", rsaCert, nil, rsaKeyPEM, "RSA_2048", "SHA256WITHECDSA", "rsa.example.com"},
		{"rsa pkcs1", rsaCert, nil, rsaPKCS1, "RSA_2048", "SHA256WITHECDSA", "rsa.example.com"},
		{"text around the blocks is dropped", append([]byte("Bag Attributes\n"), ecCert...), ca.pem, append([]byte("friendlyName: x\n"), ecKeyPEM...), "EC_prime256v1", "SHA256WITHECDSA", "login.example.com"},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCertificate(tt.cert, tt.chain, tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if c.KeyAlgorithm != tt.keyAlg || c.SignatureAlgorithm != tt.sigAlg || !c.Covers(tt.host) || c.Serial != "01:02" {
				t.Errorf("got %s %s serial %s covers(%s)=%v; want %s %s", c.KeyAlgorithm, c.SignatureAlgorithm, c.Serial, tt.host, c.Covers(tt.host), tt.keyAlg, tt.sigAlg)
			}
			if !strings.HasPrefix(string(c.CertificatePEM), "-----BEGIN CERTIFICATE-----") || !strings.HasPrefix(string(c.PrivateKeyPEM), "-----BEGIN") {
				t.Errorf("stored PEM is not normalised: %.30q / key", c.CertificatePEM)
			}
			if _, err := c.KeyPair(); err != nil {
				t.Errorf("KeyPair: %v", err)
			}
		})
	}

	encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}})
	bad := []struct {
		name             string
		cert, chain, key []byte
		want             string
	}{
		{"key of another certificate", ecCert, nil, otherKeyPEM, "does not match"},
		{"chain that does not certify", ecCert, other.pem, ecKeyPEM, "does not certify"},
		{"two certificates in the certificate", append(append([]byte{}, ecCert...), ca.pem...), nil, ecKeyPEM, "exactly one certificate"},
		{"not PEM", []byte("hello"), nil, ecKeyPEM, "not a PEM"},
		{"garbage chain", ecCert, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), ecKeyPEM, "cannot be parsed"},
		{"encrypted key", ecCert, nil, encrypted, "encrypted"},
		{"no key", ecCert, nil, nil, "not one PEM PRIVATE KEY"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCertificate(tt.cert, tt.chain, tt.key)
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != ErrACMValidation || !strings.Contains(pe.Message, tt.want) {
				t.Fatalf("err = %v, want a ValidationException about %q", err, tt.want)
			}
			if strings.Contains(pe.Message, "PRIVATE KEY-----") || strings.Contains(pe.Message, string(tt.key)) && len(tt.key) > 0 {
				t.Errorf("error quotes the key: %s", pe.Message)
			}
		})
	}
}

func TestMatchesHostname(t *testing.T) {
	tests := []struct {
		pattern, host string
		want          bool
	}{
		{"login.example.com", "login.example.com", true},
		{"login.example.com", "LOGIN.Example.com", true},
		{"*.example.com", "login.example.com", true},
		{"*.example.com", "a.b.example.com", false}, // one label only (RFC 6125 §6.4.3)
		{"*.example.com", "example.com", false},
		{"*.example.com", "*.example.com", true}, // a wildcard alias needs a wildcard certificate
		{"*.example.com", ".example.com", false},
		{"login.example.com", "*.example.com", false},
	}
	for _, tt := range tests {
		if got := MatchesHostname(tt.pattern, tt.host); got != tt.want {
			t.Errorf("MatchesHostname(%q, %q) = %v, want %v", tt.pattern, tt.host, got, tt.want)
		}
	}
}

func TestIsValidHostname(t *testing.T) {
	for name, want := range map[string]bool{
		"login.example.com": true, "*.example.com": true, "xn--bcher-kva.example": true,
		"localhost": false, "": false, "a..b": false, "-a.example.com": false, "a-.example.com": false,
		"a_b.example.com": false, "*.*.example.com": false, "a.*.example.com": false,
		strings.Repeat("a", 64) + ".com": false, "1.2.3.4": false,
	} {
		if got := IsValidHostname(name); got != want {
			t.Errorf("IsValidHostname(%q) = %v, want %v", name, got, want)
		}
	}
}
