package portico

import (
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/portico-edge/portico/internal/testpki"
)

func TestParseCertificate(t *testing.T) {
	ca, other := testpki.NewCA(t, "Test CA"), testpki.NewCA(t, "Test CA")
	ec := ca.Issue(t, []string{"login.example.com", "*.example.org"}, testpki.Serial(0x0102))
	// A certificate that names its host only as the subject's common name.
	rsaLeaf := ca.Issue(t, nil, testpki.RSA(2048), testpki.Serial(0x0102),
		testpki.Subject(pkix.Name{CommonName: "rsa.example.com"}))
	ecCert, ecKeyPEM := ec.CertPEM, ec.KeyPEM
	rsaCert, rsaKeyPEM := rsaLeaf.CertPEM, rsaLeaf.KeyPEM
	rsaPKCS1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaLeaf.Key.(*rsa.PrivateKey))})

	ok := []struct {
		name                 string
		cert, chain, key     []byte
		keyAlg, sigAlg, host string
	}{
		{"ecdsa with chain", ecCert, ca.PEM, ecKeyPEM, "EC_prime256v1", "SHA256WITHECDSA", "login.example.com"},
		{"rsa pkcs8 without chain", rsaCert, nil, rsaKeyPEM, "RSA_2048", "SHA256WITHECDSA", "rsa.example.com"},
		{"rsa pkcs1", rsaCert, nil, rsaPKCS1, "RSA_2048", "SHA256WITHECDSA", "rsa.example.com"},
		{"text around the blocks is dropped", append([]byte("Bag Attributes\n"), ecCert...), ca.PEM, append([]byte("friendlyName: x\n"), ecKeyPEM...), "EC_prime256v1", "SHA256WITHECDSA", "login.example.com"},
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
		{"key of another certificate", ecCert, nil, rsaKeyPEM, "does not match"},
		{"chain that does not certify", ecCert, other.PEM, ecKeyPEM, "does not certify"},
		{"two certificates in the certificate", append(append([]byte{}, ecCert...), ca.PEM...), nil, ecKeyPEM, "exactly one certificate"},
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
