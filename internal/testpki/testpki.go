// Package testpki issues certificates for tests: a throwaway certificate
// authority, the leaf certificates it signs (or self-signed ones), and the
// forms the code under test takes them in — PEM as ACM's ImportCertificate
// takes it, a tls.Certificate to serve, an x509.CertPool to trust.
//
// It is for _test.go files only. Every function takes the test's
// testing.TB and fails the test when something cannot be made, so a test
// reads:
//
//	ca := testpki.NewCA(t, "Origin Test CA")
//	leaf := ca.Issue(t, []string{"origin.test"})
//	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*leaf.TLSCertificate(t)}}
//	client := &tls.Config{RootCAs: ca.Pool()}
//
// Unless an Option says otherwise, a certificate has a new ECDSA P-256 key
// and a random serial number, and is valid from an hour ago until a day
// from now. A leaf's key usage is digital signature (and key encipherment
// for an RSA key) and its extended key usage is server authentication.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

// CA is a certificate authority made for a test. Its certificate is
// self-signed.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	PEM  []byte // Cert as one PEM CERTIFICATE block
}

// NewCA returns a new certificate authority whose subject's common name is
// name. It takes the options Key, RSA, Serial, Validity and Subject.
func NewCA(t testing.TB, name string, opts ...Option) *CA {
	t.Helper()
	c := newConfig(opts)
	if c.clientAuth {
		t.Fatal("testpki: ClientAuth is an option for leaf certificates, not for a CA")
	}
	key := c.signer(t)
	tmpl := c.template(t, pkix.Name{CommonName: name})
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign
	cert := create(t, tmpl, tmpl, key, key)
	return &CA{Cert: cert, Key: key, PEM: encodeCert(cert)}
}

// Pool returns a new certificate pool that holds only the CA's certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue returns a leaf certificate for names (DNS subject alternative
// names; the first is also the subject's common name) signed by the CA.
// Its chain is the CA's certificate.
func (ca *CA) Issue(t testing.TB, names []string, opts ...Option) Leaf {
	t.Helper()
	c := newConfig(opts)
	key := c.signer(t)
	cert := create(t, c.leafTemplate(t, names, key), ca.Cert, key, ca.Key)
	return newLeaf(t, cert, key, ca.PEM)
}

// SelfSigned returns a leaf certificate for names, as Issue does, that is
// signed with its own key and so has no chain.
func SelfSigned(t testing.TB, names []string, opts ...Option) Leaf {
	t.Helper()
	c := newConfig(opts)
	key := c.signer(t)
	tmpl := c.leafTemplate(t, names, key)
	return newLeaf(t, create(t, tmpl, tmpl, key, key), key, nil)
}

// Leaf is an issued certificate with its key.
type Leaf struct {
	Cert     *x509.Certificate
	Key      crypto.Signer
	CertPEM  []byte // Cert as one PEM CERTIFICATE block
	ChainPEM []byte // the issuing CA's certificate as PEM; nil when self-signed
	KeyPEM   []byte // Key as a PKCS #8 PEM PRIVATE KEY block
}

func newLeaf(t testing.TB, cert *x509.Certificate, key crypto.Signer, chainPEM []byte) Leaf {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("testpki: encoding the key of %s: %v", cert.Subject, err)
	}
	return Leaf{
		Cert:     cert,
		Key:      key,
		CertPEM:  encodeCert(cert),
		ChainPEM: chainPEM,
		KeyPEM:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
	}
}

// TLSCertificate returns the certificate, followed by its chain, and its
// key as a server or client presents them, with Leaf set.
func (l Leaf) TLSCertificate(t testing.TB) *tls.Certificate {
	t.Helper()
	kp, err := tls.X509KeyPair(append(append([]byte(nil), l.CertPEM...), l.ChainPEM...), l.KeyPEM)
	if err != nil {
		t.Fatalf("testpki: key pair of %s: %v", l.Cert.Subject, err)
	}
	return &kp
}

// An Option changes a certificate from the defaults the package
// documentation lists.
type Option func(*config)

// Key makes the certificate's key k rather than a new one, for a test that
// needs a particular key type, reuses a key it made once (RSA keys are slow
// to generate under -race), or needs two certificates with one key.
func Key(k crypto.Signer) Option { return func(c *config) { c.key, c.rsaBits = k, 0 } }

// RSA gives the certificate a new RSA key of the given size instead of an
// ECDSA one.
func RSA(bits int) Option { return func(c *config) { c.key, c.rsaBits = nil, bits } }

// Validity makes the certificate valid from notBefore to notAfter, for
// instance to make it expired or not valid yet. A zero time leaves that
// end of the validity period at its default.
func Validity(notBefore, notAfter time.Time) Option {
	return func(c *config) { c.notBefore, c.notAfter = notBefore, notAfter }
}

// Serial gives the certificate the serial number n instead of a random one.
func Serial(n int64) Option { return func(c *config) { c.serial = big.NewInt(n) } }

// Subject replaces the subject that the certificate would take from its
// name or its first DNS name.
func Subject(name pkix.Name) Option { return func(c *config) { c.subject = &name } }

// ClientAuth adds client authentication to a leaf certificate's extended
// key usage.
func ClientAuth() Option { return func(c *config) { c.clientAuth = true } }

// config is what the options set.
type config struct {
	key                 crypto.Signer
	rsaBits             int
	notBefore, notAfter time.Time
	serial              *big.Int
	subject             *pkix.Name
	clientAuth          bool
}

func newConfig(opts []Option) *config {
	c := &config{}
	for _, o := range opts {
		o(c)
	}
	return c
}

// signer returns the certificate's key, making it when no Key was given.
func (c *config) signer(t testing.TB) crypto.Signer {
	t.Helper()
	if c.key != nil {
		return c.key
	}
	var (
		key crypto.Signer
		err error
	)
	if c.rsaBits > 0 {
		key, err = rsa.GenerateKey(rand.Reader, c.rsaBits)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatalf("testpki: generating a key: %v", err)
	}
	return key
}

// template returns a certificate template with the configured serial,
// validity and subject, or the defaults.
func (c *config) template(t testing.TB, subject pkix.Name) *x509.Certificate {
	t.Helper()
	serial := c.serial
	if serial == nil {
		var err error
		serial, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
		if err != nil {
			t.Fatalf("testpki: drawing a serial number: %v", err)
		}
		serial.Add(serial, big.NewInt(1)) // a serial number must be positive
	}
	if c.subject != nil {
		subject = *c.subject
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
	}
	if !c.notBefore.IsZero() {
		tmpl.NotBefore = c.notBefore
	}
	if !c.notAfter.IsZero() {
		tmpl.NotAfter = c.notAfter
	}
	return tmpl
}

// leafTemplate returns the template of a leaf certificate for names with
// key.
func (c *config) leafTemplate(t testing.TB, names []string, key crypto.Signer) *x509.Certificate {
	t.Helper()
	var subject pkix.Name
	if len(names) > 0 {
		subject.CommonName = names[0]
	}
	tmpl := c.template(t, subject)
	tmpl.DNSNames = names
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if _, ok := key.(*rsa.PrivateKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if c.clientAuth {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	return tmpl
}

// create signs tmpl for key with parent and parentKey and returns the
// parsed certificate.
func create(t testing.TB, tmpl, parent *x509.Certificate, key, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatalf("testpki: creating the certificate of %s: %v", tmpl.Subject, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testpki: parsing the certificate of %s: %v", tmpl.Subject, err)
	}
	return cert
}

func encodeCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
