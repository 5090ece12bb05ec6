package testpki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"slices"
	"testing"
	"time"
)

func TestIssue(t *testing.T) {
	ca := NewCA(t, "Test CA")
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	past := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name  string
		names []string
		opts  []Option
		check func(t *testing.T, c *x509.Certificate)
	}{
		{"defaults", []string{"a.example.com", "*.example.org"}, nil, func(t *testing.T, c *x509.Certificate) {
			if _, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || c.PublicKeyAlgorithm != x509.ECDSA {
				t.Errorf("key = %T, want ECDSA", c.PublicKey)
			}
			if c.Subject.CommonName != "a.example.com" || !slices.Equal(c.DNSNames, []string{"a.example.com", "*.example.org"}) {
				t.Errorf("names = %s %v", c.Subject.CommonName, c.DNSNames)
			}
			if c.KeyUsage != x509.KeyUsageDigitalSignature || !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
				t.Errorf("usage = %v %v", c.KeyUsage, c.ExtKeyUsage)
			}
			if now := time.Now(); !c.NotBefore.Before(now) || !c.NotAfter.After(now.Add(23*time.Hour)) {
				t.Errorf("validity = %v to %v, want from before now to a day from now", c.NotBefore, c.NotAfter)
			}
			if c.SerialNumber.Sign() <= 0 {
				t.Errorf("serial = %v, want a positive number", c.SerialNumber)
			}
		}},
		{"rsa", []string{"rsa.example.com"}, []Option{RSA(2048)}, func(t *testing.T, c *x509.Certificate) {
			if k, ok := c.PublicKey.(*rsa.PublicKey); !ok || k.N.BitLen() != 2048 {
				t.Errorf("key = %T, want RSA 2048", c.PublicKey)
			}
			if c.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment {
				t.Errorf("key usage = %v, want digital signature and key encipherment", c.KeyUsage)
			}
		}},
		{"given key", []string{"ed.example.com"}, []Option{Key(edKey)}, func(t *testing.T, c *x509.Certificate) {
			if k, ok := c.PublicKey.(ed25519.PublicKey); !ok || !k.Equal(edKey.Public()) {
				t.Errorf("key = %T, want the given Ed25519 key", c.PublicKey)
			}
		}},
		{"validity", []string{"old.example.com"}, []Option{Validity(past, past.Add(time.Hour))}, func(t *testing.T, c *x509.Certificate) {
			if !c.NotBefore.Equal(past) || !c.NotAfter.Equal(past.Add(time.Hour)) {
				t.Errorf("validity = %v to %v, want %v to %v", c.NotBefore, c.NotAfter, past, past.Add(time.Hour))
			}
		}},
		{"end of validity only", []string{"soon.example.com"}, []Option{Validity(time.Time{}, past.AddDate(20, 0, 0))}, func(t *testing.T, c *x509.Certificate) {
			if !c.NotBefore.Before(time.Now()) || !c.NotAfter.Equal(past.AddDate(20, 0, 0)) {
				t.Errorf("validity = %v to %v", c.NotBefore, c.NotAfter)
			}
		}},
		{"serial", []string{"s.example.com"}, []Option{Serial(0x0102)}, func(t *testing.T, c *x509.Certificate) {
			if c.SerialNumber.Int64() != 0x0102 {
				t.Errorf("serial = %v, want 258", c.SerialNumber)
			}
		}},
		{"subject", nil, []Option{Subject(pkix.Name{CommonName: "cn.example.com", Organization: []string{"Portico Test"}})}, func(t *testing.T, c *x509.Certificate) {
			if c.Subject.String() != "CN=cn.example.com,O=Portico Test" || len(c.DNSNames) != 0 {
				t.Errorf("subject = %s, names %v", c.Subject, c.DNSNames)
			}
		}},
		{"client auth", []string{"c.example.com"}, []Option{ClientAuth()}, func(t *testing.T, c *x509.Certificate) {
			if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
				t.Errorf("extended key usage = %v, want server and client authentication", c.ExtKeyUsage)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := ca.Issue(t, tt.names, tt.opts...)
			tt.check(t, l.Cert)
			if err := l.Cert.CheckSignatureFrom(ca.Cert); err != nil {
				t.Errorf("not signed by the CA: %v", err)
			}
			checkPEM(t, l)
			if !bytes.Equal(l.ChainPEM, ca.PEM) {
				t.Error("the chain is not the CA's certificate")
			}
		})
	}
}

// checkPEM checks that the leaf's PEM forms hold its certificate and key.
func checkPEM(t *testing.T, l Leaf) {
	t.Helper()
	block, rest := pem.Decode(l.CertPEM)
	if block == nil || block.Type != "CERTIFICATE" || len(rest) != 0 || !bytes.Equal(block.Bytes, l.Cert.Raw) {
		t.Error("CertPEM is not the certificate as one PEM block")
	}
	block, rest = pem.Decode(l.KeyPEM)
	if block == nil || block.Type != "PRIVATE KEY" || len(rest) != 0 {
		t.Fatal("KeyPEM is not one PEM PRIVATE KEY block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("KeyPEM: %v", err)
	}
	if k, ok := key.(interface{ Equal(crypto.PrivateKey) bool }); !ok || !k.Equal(l.Key) {
		t.Error("KeyPEM does not hold Key")
	}
	if pub, ok := l.Cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(l.Key.Public()) {
		t.Error("the certificate is not for Key")
	}
}

func TestNewCA(t *testing.T) {
	key := NewCA(t, "first").Key
	ca := NewCA(t, "Portico Test Intermediate", Serial(7), Key(key))
	c := ca.Cert
	if !c.IsCA || c.KeyUsage != x509.KeyUsageCertSign || c.Subject.CommonName != "Portico Test Intermediate" || c.SerialNumber.Int64() != 7 {
		t.Errorf("CA certificate = IsCA %v usage %v subject %s serial %v", c.IsCA, c.KeyUsage, c.Subject, c.SerialNumber)
	}
	if ca.Key != key {
		t.Error("Key was not used")
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if block, _ := pem.Decode(ca.PEM); block == nil || !bytes.Equal(block.Bytes, c.Raw) {
		t.Error("PEM is not the CA's certificate")
	}
}

func TestSelfSigned(t *testing.T) {
	l := SelfSigned(t, []string{"self.example.com"}, Serial(9))
	checkPEM(t, l)
	if l.ChainPEM != nil {
		t.Errorf("ChainPEM = %q, want none", l.ChainPEM)
	}
	if l.Cert.Issuer.String() != l.Cert.Subject.String() || l.Cert.CheckSignature(l.Cert.SignatureAlgorithm, l.Cert.RawTBSCertificate, l.Cert.Signature) != nil {
		t.Errorf("issuer %s, subject %s: not self-signed", l.Cert.Issuer, l.Cert.Subject)
	}
	pool := x509.NewCertPool()
	pool.AddCert(l.Cert)
	if _, err := l.Cert.Verify(x509.VerifyOptions{DNSName: "self.example.com", Roots: pool}); err != nil {
		t.Errorf("Verify against itself: %v", err)
	}
}

// TestHandshake serves a leaf over mutual TLS: the server and the client
// each present one and trust the CA's Pool.
func TestHandshake(t *testing.T) {
	ca := NewCA(t, "Handshake CA")
	server := ca.Issue(t, []string{"server.example.com"}).TLSCertificate(t)
	client := ca.Issue(t, []string{"client.example.com"}, ClientAuth()).TLSCertificate(t)
	if server.Leaf == nil || server.Leaf.DNSNames[0] != "server.example.com" || len(server.Certificate) != 2 {
		t.Fatalf("TLSCertificate: Leaf %v, %d certificates; want the leaf and the CA", server.Leaf, len(server.Certificate))
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{*server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.Pool(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		done <- c.(*tls.Conn).Handshake()
	}()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), &tls.Config{
		ServerName:   "server.example.com",
		RootCAs:      ca.Pool(),
		Certificates: []tls.Certificate{*client},
	})
	if err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	defer conn.Close()
	if err := <-done; err != nil {
		t.Errorf("server handshake: %v", err)
	}
}
