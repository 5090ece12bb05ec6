package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Files in the data directory.
const (
	credentialsFile = "credentials" // AWS shared-credentials format, profile [portico]; mode 0600
	accountFile     = "account-id"  // the 12-digit account ID in ARNs
	edgeCAFile      = "edge-ca.pem" // the CA that signs the edge's own certificate: trust it to reach <id>.<edge-domain> over HTTPS
	edgeCAKeyFile   = "edge-ca.key" // mode 0600
	edgeCertFile    = "edge.pem"    // the certificate for *.<edge-domain>
	edgeKeyFile     = "edge.key"    // mode 0600
	storeFile       = "portico.db"  // bbolt
	cacheDir        = "cache"       // the response cache's disk tier
	credsProfile    = "portico"
)

// credentials are the access key pair that the API and console accept.
type credentials struct {
	AccessKeyID, SecretAccessKey string
}

// readCredentials returns the credentials the server accepts: from
// PORTICO_ACCESS_KEY_ID and PORTICO_SECRET_ACCESS_KEY, else from the
// credentials file in the data directory dir, whose path it returns. The
// error is fs.ErrNotExist when there is no such file; readCredentials
// never generates one.
func readCredentials(dir string, getenv func(string) string) (c credentials, path string, err error) {
	id, secret := getenv("PORTICO_ACCESS_KEY_ID"), getenv("PORTICO_SECRET_ACCESS_KEY")
	switch {
	case id != "" && secret != "":
		return credentials{id, secret}, "", nil
	case id != "" || secret != "":
		return c, "", usageError{"set both PORTICO_ACCESS_KEY_ID and PORTICO_SECRET_ACCESS_KEY, or neither"}
	}
	path = filepath.Join(dir, credentialsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, path, fmt.Errorf("no credentials: set PORTICO_ACCESS_KEY_ID and PORTICO_SECRET_ACCESS_KEY, or pass --data with the server's data directory: %w", err)
	}
	if err != nil {
		return c, path, err
	}
	if c, err = parseCredentials(b); err != nil {
		return c, path, fmt.Errorf("reading %s: %w", path, err)
	}
	return c, path, nil
}

// loadCredentials returns the credentials as readCredentials does,
// generating them in the data directory on first use. generated reports
// whether the file was written now.
func loadCredentials(dir string, getenv func(string) string) (c credentials, path string, generated bool, err error) {
	c, path, err = readCredentials(dir, getenv)
	if !errors.Is(err, fs.ErrNotExist) {
		return c, path, false, err
	}
	c = credentials{AccessKeyID: "AKPT" + randomString(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), SecretAccessKey: randomBase64(30)}
	content := fmt.Sprintf("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", credsProfile, c.AccessKeyID, c.SecretAccessKey)
	if err := writeFileAtomic(path, []byte(content), 0o600); err != nil {
		return c, path, false, err
	}
	return c, path, true, nil
}

func parseCredentials(b []byte) (credentials, error) {
	var c credentials
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			c.AccessKeyID = strings.TrimSpace(v)
		case "aws_secret_access_key":
			c.SecretAccessKey = strings.TrimSpace(v)
		}
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return c, errors.New("no aws_access_key_id and aws_secret_access_key")
	}
	return c, nil
}

// checkDataDir refuses a data directory that its group or other users may
// write to: they could replace the credentials or the edge's keys, or put
// a socket of their own at handoff.sock for the next process to take its
// listeners from.
func checkDataDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("data directory %s may be written by other users (mode %#o); make it private first: chmod go-w %s", dir, perm, dir)
	}
	return nil
}

// loadAccountID returns the installation's account ID, generating it on
// first use.
func loadAccountID(dir string) (string, error) {
	path := filepath.Join(dir, accountFile)
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if len(id) != 12 || strings.Trim(id, "0123456789") != "" {
			return "", fmt.Errorf("%s: not a 12-digit account ID", path)
		}
		return id, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	id := randomString(12, "0123456789")
	return id, writeFileAtomic(path, []byte(id+"\n"), 0o644)
}

// loadEdgeCertificate returns the edge's own certificate for
// *.<domain> and <domain>, signed by a CA kept in the data directory. Both
// are generated on first use; the leaf is renewed when it no longer covers
// the domain or expires within 30 days.
func loadEdgeCertificate(dir, domain string, now time.Time) (*tls.Certificate, string, error) {
	caPath := filepath.Join(dir, edgeCAFile)
	ca, caKey, err := loadOrCreateCA(caPath, filepath.Join(dir, edgeCAKeyFile), now)
	if err != nil {
		return nil, caPath, err
	}
	certPath, keyPath := filepath.Join(dir, edgeCertFile), filepath.Join(dir, edgeKeyFile)
	if pair, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		leaf := pair.Leaf
		if leaf != nil && leaf.VerifyHostname("x."+domain) == nil && now.Add(30*24*time.Hour).Before(leaf.NotAfter) {
			return &pair, caPath, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, caPath, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "*." + domain, Organization: []string{"Portico edge"}},
		DNSNames:     []string{"*." + domain, domain},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(397 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, caPath, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, caPath, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return nil, caPath, err
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return nil, caPath, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	return &pair, caPath, err
}

func loadOrCreateCA(certPath, keyPath string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	if pair, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		if key, ok := pair.PrivateKey.(*ecdsa.PrivateKey); ok && pair.Leaf != nil {
			return pair.Leaf, key, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "Portico edge CA", Organization: []string{"Portico"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, nil, err
	}
	if err := writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	return ca, key, err
}

// writeFileAtomic writes data to path through a synced temporary file and a
// rename, so a crash leaves either the old file or the new one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func randomBase64(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawStdEncoding.EncodeToString(b)
}

func randomSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}
