package portico

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Certificate is an imported certificate: what ACM's ImportCertificate
// stored, and what the edge presents to viewers whose SNI it covers.
// PrivateKeyPEM is a secret: it is never returned by the API or logged.
type Certificate struct {
	ARN            string
	CertificatePEM []byte
	ChainPEM       []byte
	PrivateKeyPEM  []byte
	ImportedAt     time.Time
	CreatedAt      time.Time

	// Read from the leaf certificate.
	DomainName              string
	SubjectAlternativeNames []string
	Serial                  string
	Subject                 string
	Issuer                  string
	KeyAlgorithm            string
	SignatureAlgorithm      string
	NotBefore               time.Time
	NotAfter                time.Time
}

// Names returns every name the certificate covers: its SANs, or its common
// name when it has none. They are lower-cased.
func (c *Certificate) Names() []string {
	names := c.SubjectAlternativeNames
	if len(names) == 0 && c.DomainName != "" {
		names = []string{c.DomainName}
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(n)
	}
	return out
}

// Covers reports whether the certificate is valid for host, exactly or
// through a wildcard name.
func (c *Certificate) Covers(host string) bool {
	return slices.ContainsFunc(c.Names(), func(n string) bool { return MatchesHostname(n, host) })
}

// KeyPair returns the certificate, its chain and key ready for crypto/tls.
func (c *Certificate) KeyPair() (tls.Certificate, error) {
	pemBlock := append(append(bytes.Clone(c.CertificatePEM), '\n'), c.ChainPEM...)
	return tls.X509KeyPair(pemBlock, c.PrivateKeyPEM)
}

// ParseCertificate validates an imported certificate, chain and private key
// and returns the Certificate they make, without ARN or times. The
// certificate must be one PEM CERTIFICATE block, the chain zero or more, and
// the key must be the certificate's, as PKCS#1, PKCS#8 or SEC 1 PEM. Errors
// never quote the key.
func ParseCertificate(certPEM, chainPEM, keyPEM []byte) (*Certificate, error) {
	leaf, err := parseOneCertificate(certPEM)
	if err != nil {
		return nil, err
	}
	var chain []*x509.Certificate
	var chainOut []byte
	for rest := chainPEM; len(bytes.TrimSpace(rest)) > 0; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil || block.Type != "CERTIFICATE" {
			return nil, Errorf(ErrACMValidation, "The certificate chain is not a sequence of PEM CERTIFICATE blocks.")
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, Errorf(ErrACMValidation, "The certificate chain holds a certificate that cannot be parsed.")
		}
		chain = append(chain, c)
		chainOut = append(chainOut, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes})...)
	}
	if len(chain) > 0 && leaf.CheckSignatureFrom(chain[0]) != nil {
		return nil, Errorf(ErrACMValidation, "The certificate chain does not certify the certificate: its first certificate must be the issuer of the certificate.")
	}
	key, keyBlock, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, err
	}
	if !publicKeyMatches(leaf.PublicKey, key) {
		return nil, Errorf(ErrACMValidation, "The private key does not match the certificate's public key.")
	}
	c := &Certificate{
		CertificatePEM:          bytes.TrimSpace(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})),
		ChainPEM:                bytes.TrimSpace(chainOut),
		PrivateKeyPEM:           bytes.TrimSpace(pem.EncodeToMemory(keyBlock)),
		DomainName:              leaf.Subject.CommonName,
		SubjectAlternativeNames: leaf.DNSNames,
		Serial:                  formatSerial(leaf.SerialNumber.Bytes()),
		Subject:                 leaf.Subject.String(),
		Issuer:                  leaf.Issuer.String(),
		KeyAlgorithm:            keyAlgorithm(leaf),
		SignatureAlgorithm:      signatureAlgorithm(leaf.SignatureAlgorithm),
		NotBefore:               leaf.NotBefore.UTC(),
		NotAfter:                leaf.NotAfter.UTC(),
	}
	if c.DomainName == "" && len(leaf.DNSNames) > 0 {
		c.DomainName = leaf.DNSNames[0]
	}
	if c.DomainName == "" {
		return nil, Errorf(ErrACMValidation, "The certificate names no domain: it has neither a common name nor DNS subject alternative names.")
	}
	return c, nil
}

func parseOneCertificate(certPEM []byte) (*x509.Certificate, error) {
	block, rest := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, Errorf(ErrACMValidation, "The certificate is not a PEM CERTIFICATE block.")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, Errorf(ErrACMValidation, "The certificate field must hold exactly one certificate; put intermediates in the certificate chain.")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, Errorf(ErrACMValidation, "The certificate cannot be parsed: %v.", err)
	}
	return leaf, nil
}

// parsePrivateKey returns the key and its PEM block, without anything that
// surrounded the block.
func parsePrivateKey(keyPEM []byte) (crypto.Signer, *pem.Block, error) {
	block, rest := pem.Decode(keyPEM)
	if block == nil || !strings.HasSuffix(block.Type, "PRIVATE KEY") || len(bytes.TrimSpace(rest)) > 0 {
		return nil, nil, Errorf(ErrACMValidation, "The private key is not one PEM PRIVATE KEY block.")
	}
	if block.Type == "ENCRYPTED PRIVATE KEY" || x509.IsEncryptedPEMBlock(block) { //nolint:staticcheck // detecting, not decrypting
		return nil, nil, Errorf(ErrACMValidation, "The private key is encrypted; import it unencrypted.")
	}
	out := &pem.Block{Type: block.Type, Bytes: block.Bytes}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, out, nil
		}
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, out, nil
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, out, nil
	}
	return nil, nil, Errorf(ErrACMValidation, "The private key cannot be parsed as PKCS#8, PKCS#1 or SEC 1.")
}

func publicKeyMatches(pub any, key crypto.Signer) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := pub.(equaler)
	return ok && e.Equal(key.Public())
}

func keyAlgorithm(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA_%d", k.N.BitLen())
	case *ecdsa.PublicKey:
		switch k.Curve.Params().Name {
		case "P-256":
			return "EC_prime256v1"
		case "P-384":
			return "EC_secp384r1"
		case "P-521":
			return "EC_secp521r1"
		}
	case ed25519.PublicKey:
		return "ED25519"
	}
	return c.PublicKeyAlgorithm.String()
}

// signatureAlgorithm names a signature algorithm as ACM does, e.g.
// SHA256WITHRSA.
func signatureAlgorithm(a x509.SignatureAlgorithm) string {
	switch a {
	case x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS:
		return strings.TrimSuffix(a.String(), "-RSAPSS") + "WITHRSAANDMGF1"
	case x509.PureEd25519:
		return "ED25519"
	}
	hash, alg, ok := strings.Cut(a.String(), "-")
	if !ok {
		return strings.ToUpper(a.String())
	}
	if hash == "ECDSA" { // Go writes ECDSA-SHA256, RSA ones as SHA256-RSA
		hash, alg = alg, hash
	}
	return strings.ToUpper(hash) + "WITH" + strings.ToUpper(alg)
}

func formatSerial(b []byte) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02x", x)
	}
	return strings.Join(parts, ":")
}
