package control_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/control"
	"github.com/portico-edge/portico/internal/deploy"
	"github.com/portico-edge/portico/internal/store"
	"github.com/portico-edge/portico/internal/store/boltstore"
	"github.com/portico-edge/portico/internal/testpki"
)

// certEpoch is the service's clock in these tests: whole seconds, so that
// times survive a JSON round trip unchanged.
var certEpoch = time.Date(2031, 3, 14, 15, 9, 26, 0, time.UTC)

// certKeys are generated once: RSA key generation is slow under -race.
var certKeys = sync.OnceValue(func() map[string]crypto.Signer {
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	rsa1536, err := rsa.GenerateKey(rand.Reader, 1536)
	if err != nil {
		panic(err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ca, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	return map[string]crypto.Signer{
		"rsa2048": rsa2048, "rsa1536": rsa1536, "p256": p256, "p384": p384, "ca": ca, "ed25519": ed,
	}
})

// certSpec describes a test certificate.
type certSpec struct {
	names     []string // SANs; the first is also the common name
	key       string   // a certKeys name; "" means p256
	notBefore time.Time
	notAfter  time.Time
	chained   bool // signed by an intermediate CA that the chain holds
}

// certIssue creates the certificate spec describes: self-signed, or signed
// by the intermediate CA that its chain holds.
func certIssue(t testing.TB, spec certSpec) testpki.Leaf {
	t.Helper()
	keys := certKeys()
	if spec.key == "" {
		spec.key = "p256"
	}
	if spec.notBefore.IsZero() {
		spec.notBefore = certEpoch.Add(-time.Hour)
	}
	if spec.notAfter.IsZero() {
		spec.notAfter = certEpoch.Add(90 * 24 * time.Hour)
	}
	opts := []testpki.Option{testpki.Key(keys[spec.key]), testpki.Validity(spec.notBefore, spec.notAfter)}
	if !spec.chained {
		return testpki.SelfSigned(t, spec.names, opts...)
	}
	ca := testpki.NewCA(t, "Portico Test Intermediate", testpki.Key(keys["ca"]), testpki.Serial(7),
		testpki.Validity(certEpoch.Add(-24*time.Hour), certEpoch.Add(365*24*time.Hour)))
	return ca.Issue(t, spec.names, opts...)
}

// certClock is a settable clock for Service.Now.
type certClock struct{ now atomic.Int64 }

func (c *certClock) Now() time.Time       { return time.Unix(0, c.now.Load()).UTC() }
func (c *certClock) Set(t time.Time)      { c.now.Store(t.UnixNano()) }
func (c *certClock) Add(d time.Duration)  { c.now.Add(int64(d)) }
func newCertClock(t time.Time) *certClock { c := &certClock{}; c.Set(t); return c }

// certService returns a Service on a fresh bbolt store in a temp dir, the
// store's path and its clock.
func certService(t testing.TB) (*control.Service, string, *certClock) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "portico.db")
	st, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := newCertClock(certEpoch)
	return &control.Service{
		Store:      st,
		Progress:   &deploy.Tracker{},
		EdgeDomain: "portico.test",
		AccountID:  "123456789012",
		Region:     "us-east-1",
		Now:        clock.Now,
	}, path, clock
}

// certDump returns every stored key and value, to show that a failed call
// changed nothing.
func certDump(t testing.TB, st store.Store) map[string]string {
	t.Helper()
	kvs, _, err := st.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = fmt.Sprintf("%s@%d", kv.Value, kv.ModRev)
	}
	return m
}

// certWantCode fails unless err is a *portico.Error with the given code.
func certWantCode(t testing.TB, err error, code string) *portico.Error {
	t.Helper()
	var pe *portico.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v, want a *portico.Error %s", err, code)
	}
	if pe.Code != code {
		t.Fatalf("error code = %s (%s), want %s", pe.Code, pe.Message, code)
	}
	return pe
}

// certUseDistribution creates a distribution with the given aliases that
// uses the certificate, and returns its ID.
func certUseDistribution(t testing.TB, s *control.Service, certARN string, aliases ...string) string {
	t.Helper()
	cfg := &portico.DistributionConfig{
		CallerReference: "cert-test-" + strings.Join(aliases, ","),
		Aliases:         &portico.Aliases{Quantity: len(aliases), Items: aliases},
		Origins: &portico.Origins{Quantity: 1, Items: []portico.Origin{{
			ID:         "origin",
			DomainName: "origin.example.net",
			CustomOriginConfig: &portico.CustomOriginConfig{
				HTTPPort: 80, HTTPSPort: 443, OriginProtocolPolicy: "https-only",
			},
		}}},
		DefaultCacheBehavior: &portico.CacheBehavior{
			TargetOriginID:       "origin",
			ViewerProtocolPolicy: "redirect-to-https",
			CachePolicyID:        portico.Ptr("658327ea-f89d-4fab-a63d-7e88639e58f6"),
		},
		Comment:           portico.Ptr(""),
		Enabled:           portico.Ptr(true),
		ViewerCertificate: &portico.ViewerCertificate{ACMCertificateArn: portico.Ptr(certARN), SSLSupportMethod: portico.Ptr("sni-only")},
	}
	d, err := s.CreateDistribution(context.Background(), cfg)
	if err != nil {
		t.Fatalf("creating a distribution that uses %s: %v", certARN, err)
	}
	return d.ID
}

var certARNPattern = regexp.MustCompile(`^arn:aws:acm:us-east-1:123456789012:certificate/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestImportCertificate(t *testing.T) {
	tests := []struct {
		name    string
		spec    certSpec
		keyAlgo string
		domain  string
	}{
		{"rsa2048", certSpec{names: []string{"login.example.com"}, key: "rsa2048"}, "RSA_2048", "login.example.com"},
		{"ecdsa p256", certSpec{names: []string{"*.example.com", "example.com"}}, "EC_prime256v1", "*.example.com"},
		{"ecdsa p384", certSpec{names: []string{"a.example.org"}, key: "p384"}, "EC_secp384r1", "a.example.org"},
		{"chained rsa", certSpec{names: []string{"auth.example.net", "www.example.net"}, key: "rsa2048", chained: true}, "RSA_2048", "auth.example.net"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, _ := certService(t)
			ctx := context.Background()
			p := certIssue(t, tt.spec)
			c, err := s.ImportCertificate(ctx, "", p.CertPEM, p.ChainPEM, p.KeyPEM)
			if err != nil {
				t.Fatal(err)
			}
			if !certARNPattern.MatchString(c.ARN) {
				t.Errorf("ARN = %s, want the shape of an ACM certificate ARN", c.ARN)
			}
			if c.DomainName != tt.domain || !slices.Equal(c.SubjectAlternativeNames, tt.spec.names) {
				t.Errorf("names = %s %v, want %s %v", c.DomainName, c.SubjectAlternativeNames, tt.domain, tt.spec.names)
			}
			if c.KeyAlgorithm != tt.keyAlgo {
				t.Errorf("KeyAlgorithm = %s, want %s", c.KeyAlgorithm, tt.keyAlgo)
			}
			// Everything read from the certificate is ParseCertificate's.
			parsed, err := portico.ParseCertificate(p.CertPEM, p.ChainPEM, p.KeyPEM)
			if err != nil {
				t.Fatal(err)
			}
			parsed.ARN, parsed.CreatedAt, parsed.ImportedAt = c.ARN, c.CreatedAt, c.ImportedAt
			if !reflect.DeepEqual(c, parsed) {
				t.Error("the imported certificate differs from what ParseCertificate read")
			}
			if !c.CreatedAt.Equal(certEpoch) || !c.ImportedAt.Equal(certEpoch) {
				t.Errorf("CreatedAt, ImportedAt = %v, %v, want %v", c.CreatedAt, c.ImportedAt, certEpoch)
			}
			if !c.NotBefore.Equal(certEpoch.Add(-time.Hour)) || !c.NotAfter.Equal(certEpoch.Add(90*24*time.Hour)) {
				t.Errorf("validity = %v to %v", c.NotBefore, c.NotAfter)
			}

			got, err := s.GetCertificate(ctx, c.ARN)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.PrivateKeyPEM, bytes.TrimSpace(p.KeyPEM)) || !bytes.Equal(got.ChainPEM, bytes.TrimSpace(p.ChainPEM)) {
				t.Error("stored key or chain differs from the imported one")
			}
			if _, err := got.KeyPair(); err != nil {
				t.Errorf("stored certificate makes no key pair: %v", err)
			}
			list, err := s.ListCertificates(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 || list[0].ARN != c.ARN {
				t.Errorf("ListCertificates = %d certificates, want the imported one", len(list))
			}
			inUse, err := s.CertificateInUseBy(ctx, c.ARN)
			if err != nil || len(inUse) != 0 {
				t.Errorf("CertificateInUseBy = %v, %v, want none", inUse, err)
			}
		})
	}
}

func TestImportCertificateErrors(t *testing.T) {
	good := certIssue(t, certSpec{names: []string{"example.com"}})
	other := certIssue(t, certSpec{names: []string{"example.com"}, key: "rsa2048"})
	chained := certIssue(t, certSpec{names: []string{"example.com"}, chained: true})
	expired := certIssue(t, certSpec{names: []string{"example.com"}, notBefore: certEpoch.Add(-48 * time.Hour), notAfter: certEpoch.Add(-time.Hour)})
	early := certIssue(t, certSpec{names: []string{"example.com"}, notBefore: certEpoch.Add(time.Hour)})
	ed := certIssue(t, certSpec{names: []string{"example.com"}, key: "ed25519"})
	rsa1536 := certIssue(t, certSpec{names: []string{"example.com"}, key: "rsa1536"})

	tests := []struct {
		name              string
		arn               string // "existing" for the certificate imported first
		cert, chain, key  []byte
		code, msgContains string
	}{
		{name: "key mismatch", cert: good.CertPEM, key: other.KeyPEM, code: portico.ErrACMValidation, msgContains: "does not match"},
		{name: "certificate not PEM", cert: []byte("not a certificate"), key: good.KeyPEM, code: portico.ErrACMValidation},
		{name: "certificate empty", cert: nil, key: good.KeyPEM, code: portico.ErrACMValidation},
		{name: "key not PEM", cert: good.CertPEM, key: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), code: portico.ErrACMValidation},
		{name: "two certificates", cert: append(bytes.Clone(good.CertPEM), chained.ChainPEM...), key: good.KeyPEM, code: portico.ErrACMValidation},
		{name: "chain not PEM", cert: good.CertPEM, chain: []byte("garbage"), key: good.KeyPEM, code: portico.ErrACMValidation},
		{name: "expired", cert: expired.CertPEM, key: expired.KeyPEM, code: portico.ErrACMValidation, msgContains: "expired"},
		{name: "not yet valid", cert: early.CertPEM, key: early.KeyPEM, code: portico.ErrACMValidation, msgContains: "not valid yet"},
		{name: "ed25519 key", cert: ed.CertPEM, key: ed.KeyPEM, code: portico.ErrACMValidation, msgContains: "key algorithm"},
		{name: "rsa 1536 key", cert: rsa1536.CertPEM, key: rsa1536.KeyPEM, code: portico.ErrACMValidation, msgContains: "RSA_1536"},
		{name: "invalid arn", arn: "arn:aws:s3:::bucket", cert: good.CertPEM, key: good.KeyPEM, code: portico.ErrACMInvalidArn},
		{name: "arn without id", arn: "arn:aws:acm:us-east-1:123456789012:certificate/", cert: good.CertPEM, key: good.KeyPEM, code: portico.ErrACMInvalidArn},
		{name: "overlong arn", arn: "arn:aws:acm:us-east-1:123456789012:certificate/" + strings.Repeat("a", 2048), cert: good.CertPEM, key: good.KeyPEM, code: portico.ErrACMInvalidArn},
		{name: "unknown arn", arn: "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-4000-8000-000000000000", cert: good.CertPEM, key: good.KeyPEM, code: portico.ErrResourceNotFound},
		{name: "other region", arn: "other-region", cert: good.CertPEM, key: good.KeyPEM, code: portico.ErrResourceNotFound},
		{name: "re-import key mismatch", arn: "existing", cert: good.CertPEM, key: other.KeyPEM, code: portico.ErrACMValidation},
		{name: "re-import expired", arn: "existing", cert: expired.CertPEM, key: expired.KeyPEM, code: portico.ErrACMValidation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, _ := certService(t)
			ctx := context.Background()
			existing, err := s.ImportCertificate(ctx, "", good.CertPEM, nil, good.KeyPEM)
			if err != nil {
				t.Fatal(err)
			}
			arn := tt.arn
			switch arn {
			case "existing":
				arn = existing.ARN
			case "other-region":
				arn = strings.Replace(existing.ARN, "us-east-1", "eu-west-1", 1)
			}
			before := certDump(t, s.Store)
			_, err = s.ImportCertificate(ctx, arn, tt.cert, tt.chain, tt.key)
			pe := certWantCode(t, err, tt.code)
			if !strings.Contains(pe.Message, tt.msgContains) {
				t.Errorf("message = %q, want it to mention %q", pe.Message, tt.msgContains)
			}
			if strings.Contains(pe.Message, "PRIVATE KEY-----") || strings.Contains(pe.Message, string(good.KeyPEM[28:60])) {
				t.Errorf("message %q quotes the private key", pe.Message)
			}
			if after := certDump(t, s.Store); !maps.Equal(before, after) {
				t.Errorf("a failed import changed the store:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

func TestReimportCertificate(t *testing.T) {
	s, _, clock := certService(t)
	ctx := context.Background()
	first := certIssue(t, certSpec{names: []string{"auth.example.com"}})
	c1, err := s.ImportCertificate(ctx, "", first.CertPEM, nil, first.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Hour)
	second := certIssue(t, certSpec{names: []string{"auth.example.com", "login.example.com"}, key: "rsa2048", chained: true})
	c2, err := s.ImportCertificate(ctx, c1.ARN, second.CertPEM, second.ChainPEM, second.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if c2.ARN != c1.ARN {
		t.Errorf("re-import ARN = %s, want %s", c2.ARN, c1.ARN)
	}
	got, err := s.GetCertificate(ctx, c1.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(certEpoch) || !got.ImportedAt.Equal(certEpoch.Add(time.Hour)) {
		t.Errorf("CreatedAt, ImportedAt = %v, %v, want %v, %v", got.CreatedAt, got.ImportedAt, certEpoch, certEpoch.Add(time.Hour))
	}
	if got.KeyAlgorithm != "RSA_2048" || !slices.Equal(got.SubjectAlternativeNames, []string{"auth.example.com", "login.example.com"}) || got.Serial == c1.Serial {
		t.Errorf("re-imported certificate = %s %v serial %s, want the second certificate's fields", got.KeyAlgorithm, got.SubjectAlternativeNames, got.Serial)
	}
	if !bytes.Equal(got.CertificatePEM, bytes.TrimSpace(second.CertPEM)) || !bytes.Equal(got.PrivateKeyPEM, bytes.TrimSpace(second.KeyPEM)) {
		t.Error("re-import did not store the new certificate and key")
	}
	if list, _ := s.ListCertificates(ctx); len(list) != 1 {
		t.Errorf("after re-import there are %d certificates, want 1", len(list))
	}
}

func TestReimportCertificateInUse(t *testing.T) {
	wild := certIssue(t, certSpec{names: []string{"*.example.com", "example.com"}})
	tests := []struct {
		name    string
		names   []string
		wantErr string // the alias the error names, or "" for success
	}{
		{"covers every alias", []string{"example.com", "auth.example.com", "www.example.com"}, ""},
		{"wildcard covers", []string{"*.example.com", "example.com"}, ""},
		{"drops an alias", []string{"auth.example.com", "example.com"}, "www.example.com"},
		{"drops the apex", []string{"*.example.com"}, "example.com"},
		{"other domain", []string{"example.org"}, "example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, _ := certService(t)
			ctx := context.Background()
			c, err := s.ImportCertificate(ctx, "", wild.CertPEM, nil, wild.KeyPEM)
			if err != nil {
				t.Fatal(err)
			}
			certUseDistribution(t, s, c.ARN, "example.com", "auth.example.com")
			certUseDistribution(t, s, c.ARN, "www.example.com")
			before := certDump(t, s.Store)
			next := certIssue(t, certSpec{names: tt.names, key: "rsa2048"})
			_, err = s.ImportCertificate(ctx, c.ARN, next.CertPEM, nil, next.KeyPEM)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("re-import of a covering certificate: %v", err)
				}
				return
			}
			pe := certWantCode(t, err, portico.ErrACMValidation)
			if !strings.Contains(pe.Message, tt.wantErr+",") {
				t.Errorf("message = %q, want it to name alias %s", pe.Message, tt.wantErr)
			}
			if after := certDump(t, s.Store); !maps.Equal(before, after) {
				t.Errorf("a refused re-import changed the store")
			}
		})
	}
}

// raceStore is a real store that runs hook once, just before the first
// transaction that writes: it stands for a concurrent client.
type raceStore struct {
	store.Store
	once sync.Once
	hook func()
}

func (r *raceStore) Txn(ctx context.Context, conds []store.Cmp, ops []store.Op) (int64, error) {
	if len(ops) > 0 {
		r.once.Do(r.hook)
	}
	return r.Store.Txn(ctx, conds, ops)
}

// A distribution that starts using the certificate between the coverage
// check and the write makes the write conflict; the retry sees it.
func TestReimportCertificateRace(t *testing.T) {
	s, _, _ := certService(t)
	ctx := context.Background()
	wild := certIssue(t, certSpec{names: []string{"*.example.com"}})
	c, err := s.ImportCertificate(ctx, "", wild.CertPEM, nil, wild.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	real := s.Store
	rs := &raceStore{Store: real}
	rs.hook = func() {
		certUseDistribution(t, otherProcess(s, real), c.ARN, "www.example.com")
	}
	s.Store = rs
	narrow := certIssue(t, certSpec{names: []string{"auth.example.com"}})
	_, err = s.ImportCertificate(ctx, c.ARN, narrow.CertPEM, nil, narrow.KeyPEM)
	certWantCode(t, err, portico.ErrACMValidation)
	got, err := s.GetCertificate(ctx, c.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if got.Serial != c.Serial {
		t.Error("the re-import was written although the distribution that began using the certificate is not covered")
	}

	// The same interference on a delete: the certificate is in use by the
	// time the delete would commit.
	s.Store = real
	fresh, err := s.ImportCertificate(ctx, "", wild.CertPEM, nil, wild.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	rs = &raceStore{Store: real}
	rs.hook = func() {
		certUseDistribution(t, otherProcess(s, real), fresh.ARN, "login.example.com")
	}
	s.Store = rs
	certWantCode(t, s.DeleteCertificate(ctx, fresh.ARN), portico.ErrResourceInUse)
	if _, err := s.GetCertificate(ctx, fresh.ARN); err != nil {
		t.Errorf("the certificate is gone although a distribution began using it: %v", err)
	}
}

func TestDeleteCertificate(t *testing.T) {
	p := certIssue(t, certSpec{names: []string{"example.com"}})
	tests := []struct {
		name  string
		setup func(t *testing.T, s *control.Service, arn string) string // returns the ARN to delete
		code  string                                                    // "" for success
		names string                                                    // what the error message must name
	}{
		{"unused", func(t *testing.T, s *control.Service, arn string) string { return arn }, "", ""},
		{"no longer used", func(t *testing.T, s *control.Service, arn string) string {
			id := arn[strings.LastIndex(arn, "/")+1:]
			if _, err := s.Store.Txn(context.Background(), nil, []store.Op{{Key: "certuse/" + id, Value: []byte("[]")}}); err != nil {
				t.Fatal(err)
			}
			return arn
		}, "", ""},
		{"in use", func(t *testing.T, s *control.Service, arn string) string {
			certUseDistribution(t, s, arn, "example.com")
			return arn
		}, portico.ErrResourceInUse, "arn:aws:cloudfront::123456789012:distribution/E"},
		{"invalid arn", func(*testing.T, *control.Service, string) string { return "certificate/123" }, portico.ErrACMInvalidArn, "certificate/123"},
		{"empty arn", func(*testing.T, *control.Service, string) string { return "" }, portico.ErrACMInvalidArn, "not a valid certificate ARN"},
		{"unknown arn", func(_ *testing.T, _ *control.Service, arn string) string {
			return arn[:strings.LastIndex(arn, "/")+1] + "11111111-1111-4111-8111-111111111111"
		}, portico.ErrResourceNotFound, "Could not find certificate with ARN arn:aws:acm:us-east-1:123456789012:certificate/11111111-1111-4111-8111-111111111111"},
		{"other account", func(_ *testing.T, _ *control.Service, arn string) string {
			return strings.Replace(arn, "123456789012", "210987654321", 1)
		}, portico.ErrResourceNotFound, ":210987654321:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, _ := certService(t)
			ctx := context.Background()
			c, err := s.ImportCertificate(ctx, "", p.CertPEM, nil, p.KeyPEM)
			if err != nil {
				t.Fatal(err)
			}
			arn := tt.setup(t, s, c.ARN)
			before := certDump(t, s.Store)
			err = s.DeleteCertificate(ctx, arn)
			if tt.code != "" {
				pe := certWantCode(t, err, tt.code)
				if !strings.Contains(pe.Message, tt.names) {
					t.Errorf("message = %q, want it to name %s", pe.Message, tt.names)
				}
				if after := certDump(t, s.Store); !maps.Equal(before, after) {
					t.Errorf("a failed delete changed the store")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if after := certDump(t, s.Store); len(after) != 0 {
				t.Errorf("after delete the store holds %v, want nothing", after)
			}
			_, err = s.GetCertificate(ctx, arn)
			certWantCode(t, err, portico.ErrResourceNotFound)
			certWantCode(t, s.DeleteCertificate(ctx, arn), portico.ErrResourceNotFound)
		})
	}
}

func TestCertificateInUseBy(t *testing.T) {
	s, _, _ := certService(t)
	ctx := context.Background()
	p := certIssue(t, certSpec{names: []string{"*.example.com"}})
	c, err := s.ImportCertificate(ctx, "", p.CertPEM, nil, p.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"arn:aws:cloudfront::123456789012:distribution/" + certUseDistribution(t, s, c.ARN, "a.example.com"),
		"arn:aws:cloudfront::123456789012:distribution/" + certUseDistribution(t, s, c.ARN, "b.example.com"),
	}
	slices.Sort(want)
	got, err := s.CertificateInUseBy(ctx, c.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("CertificateInUseBy = %v, want %v", got, want)
	}
	_, err = s.CertificateInUseBy(ctx, "arn:aws:acm:us-east-1:123456789012:certificate/22222222-2222-4222-8222-222222222222")
	certWantCode(t, err, portico.ErrResourceNotFound)
	_, err = s.CertificateInUseBy(ctx, "nope")
	certWantCode(t, err, portico.ErrACMInvalidArn)
	_, err = s.GetCertificate(ctx, "nope")
	certWantCode(t, err, portico.ErrACMInvalidArn)
}

func TestListCertificates(t *testing.T) {
	s, _, _ := certService(t)
	ctx := context.Background()
	if list, err := s.ListCertificates(ctx); err != nil || len(list) != 0 {
		t.Fatalf("empty store: ListCertificates = %d, %v", len(list), err)
	}
	var arns []string
	for _, name := range []string{"a.example.com", "b.example.com", "c.example.com"} {
		p := certIssue(t, certSpec{names: []string{name}})
		c, err := s.ImportCertificate(ctx, "", p.CertPEM, nil, p.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, c.ARN)
	}
	// A distribution's usage record must not be taken for a certificate.
	certUseDistribution(t, s, arns[0], "a.example.com")
	list, err := s.ListCertificates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range list {
		got = append(got, c.ARN)
	}
	slices.Sort(arns)
	if !slices.Equal(got, arns) {
		t.Errorf("ListCertificates = %v, want %v in key order", got, arns)
	}
}

// Private keys are stored in a file only its owner can read.
func TestCertificateStoreFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix file modes")
	}
	s, path, _ := certService(t)
	p := certIssue(t, certSpec{names: []string{"example.com"}})
	if _, err := s.ImportCertificate(context.Background(), "", p.CertPEM, nil, p.KeyPEM); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("store file mode = %v, want 0600", mode)
	}
}

// otherProcess returns a Service configured as s but writing to st, as a
// second control-plane process sharing the store would.
func otherProcess(s *control.Service, st store.Store) *control.Service {
	return &control.Service{Store: st, Progress: s.Progress, EdgeDomain: s.EdgeDomain, AccountID: s.AccountID,
		Region: s.Region, DeployWait: s.DeployWait, Now: s.Now, Log: s.Log}
}
