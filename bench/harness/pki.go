package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Host names of the benchmark. None of them needs to resolve: every client
// connects to 127.0.0.1 and sends the name as Host and SNI.
const (
	originName = "origin.bench.test" // the origin, as the proxies verify it
	benchHost  = "bench.test"        // the viewer host of the plain-HTTP and HTTP/2 cases
	ecdsaHost  = "ecdsa.bench.test"  // served with the ECDSA P-256 certificate
	rsaHost    = "rsa.bench.test"    // served with the RSA-2048 certificate
)

// pki is the benchmark's certificates, written as PEM files into a
// directory: one CA, the origin's certificate, and two viewer certificates
// (ECDSA P-256 for benchHost and ecdsaHost, RSA-2048 for rsaHost). Each
// server is given the leaf alone, so that every handshake sends the same
// chain.
type pki struct {
	CA                      string // CA certificate
	OriginCert, OriginKey   string
	ECDSACert, ECDSAKey     string
	RSACert, RSAKey         string
	ECDSAPEM, RSAPEM        string // certificate and key in one file, for HAProxy
	ecdsaLeafPEM, ecdsaKPEM []byte
	rsaLeafPEM, rsaKeyPEM   []byte
	roots                   *x509.CertPool // the CA, for clients
}

// newPKI generates the certificates into dir.
func newPKI(dir string) (*pki, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Portico bench CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	issue := func(serial int64, key crypto.Signer, names ...string) ([]byte, []byte, error) {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: names[0]},
			DNSNames:     names,
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(7 * 24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
		if err != nil {
			return nil, nil, err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
	}
	originKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ecdsaKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	p := &pki{roots: x509.NewCertPool()}
	p.roots.AddCert(ca)
	originCert, originKeyPEM, err := issue(2, originKey, originName)
	if err != nil {
		return nil, err
	}
	if p.ecdsaLeafPEM, p.ecdsaKPEM, err = issue(3, ecdsaKey, benchHost, ecdsaHost); err != nil {
		return nil, err
	}
	if p.rsaLeafPEM, p.rsaKeyPEM, err = issue(4, rsaKey, rsaHost); err != nil {
		return nil, err
	}
	files := []struct {
		path *string
		name string
		data []byte
	}{
		{&p.CA, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})},
		{&p.OriginCert, "origin.pem", originCert},
		{&p.OriginKey, "origin.key", originKeyPEM},
		{&p.ECDSACert, "ecdsa.pem", p.ecdsaLeafPEM},
		{&p.ECDSAKey, "ecdsa.key", p.ecdsaKPEM},
		{&p.RSACert, "rsa.pem", p.rsaLeafPEM},
		{&p.RSAKey, "rsa.key", p.rsaKeyPEM},
		{&p.ECDSAPEM, "ecdsa-full.pem", append(append([]byte{}, p.ecdsaLeafPEM...), p.ecdsaKPEM...)},
		{&p.RSAPEM, "rsa-full.pem", append(append([]byte{}, p.rsaLeafPEM...), p.rsaKeyPEM...)},
	}
	for _, f := range files {
		*f.path = filepath.Join(dir, f.name)
		if err := os.WriteFile(*f.path, f.data, 0o600); err != nil {
			return nil, fmt.Errorf("writing %s: %w", f.name, err)
		}
	}
	return p, nil
}
