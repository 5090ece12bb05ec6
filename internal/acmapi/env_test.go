package acmapi_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/acm"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/acmapi"
	"github.com/portico-edge/portico/internal/control"
	"github.com/portico-edge/portico/internal/deploy"
	"github.com/portico-edge/portico/internal/sigv4"
	"github.com/portico-edge/portico/internal/store/boltstore"
	"github.com/portico-edge/portico/internal/testlog"
	"github.com/portico-edge/portico/internal/testpki"
)

// Credentials the test server accepts.
const (
	testKeyID  = "AKIAPORTICOTEST00001"
	testSecret = "porticoTestSecretKey/0123456789abcdefghij"
)

// epoch is the service's clock at the start of every test: whole seconds,
// so that times survive the wire unchanged.
var epoch = time.Date(2031, 3, 14, 15, 9, 26, 0, time.UTC)

// testKeys holds the keys of the test certificates, generated on first
// use: RSA key generation is slow under -race and fuzzing instrumentation.
var testKeys = struct {
	mu   sync.Mutex
	keys map[string]crypto.Signer
}{keys: map[string]crypto.Signer{}}

// testKey returns the named key: "rsa" and "rsa2" (RSA 2048), "p256" and
// "ca" (ECDSA P-256).
func testKey(t testing.TB, name string) crypto.Signer {
	t.Helper()
	testKeys.mu.Lock()
	defer testKeys.mu.Unlock()
	if k, ok := testKeys.keys[name]; ok {
		return k
	}
	var (
		k   crypto.Signer
		err error
	)
	switch name {
	case "rsa", "rsa2":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "p256", "ca":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		t.Fatalf("no test key %q", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	testKeys.keys[name] = k
	return k
}

// certSpec describes a test certificate.
type certSpec struct {
	names    []string // SANs; the first is also the common name
	key      string   // a testKey name
	notAfter time.Time
	chained  bool // signed by an intermediate CA that the chain holds
}

// certPEMs is a certificate with its chain and key, as PEM.
type certPEMs struct{ cert, chain, key []byte }

// issue creates the certificate spec describes, valid from an hour before
// epoch, for server and client authentication: self-signed, or signed by
// the intermediate CA that its chain holds. The key is PEM in its
// algorithm's own form, PKCS #1 or SEC 1, as openssl writes it.
func issue(t testing.TB, spec certSpec) certPEMs {
	t.Helper()
	if spec.notAfter.IsZero() {
		spec.notAfter = epoch.Add(90 * 24 * time.Hour)
	}
	key := testKey(t, spec.key)
	opts := []testpki.Option{
		testpki.Key(key),
		testpki.Validity(epoch.Add(-time.Hour), spec.notAfter),
		testpki.Subject(pkix.Name{CommonName: spec.names[0], Organization: []string{"Portico Test"}}),
		testpki.ClientAuth(),
	}
	var l testpki.Leaf
	if spec.chained {
		ca := testpki.NewCA(t, "Portico Test Intermediate", testpki.Key(testKey(t, "ca")), testpki.Serial(7),
			testpki.Validity(epoch.Add(-24*time.Hour), epoch.Add(365*24*time.Hour)))
		l = ca.Issue(t, spec.names, opts...)
	} else {
		l = testpki.SelfSigned(t, spec.names, opts...)
	}
	var keyBlock *pem.Block
	switch k := key.(type) {
	case *rsa.PrivateKey:
		keyBlock = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	case *ecdsa.PrivateKey:
		b, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		keyBlock = &pem.Block{Type: "EC PRIVATE KEY", Bytes: b}
	}
	return certPEMs{cert: l.CertPEM, chain: l.ChainPEM, key: pem.EncodeToMemory(keyBlock)}
}

// keyFragments returns pieces of a private key PEM that must never appear
// in a log or a response: every line of its body, the PEM in base64 (as it
// travels in a request) and its DER in hex.
func keyFragments(keyPEM []byte) []string {
	var out []string
	block, _ := pem.Decode(keyPEM)
	for _, line := range strings.Split(string(keyPEM), "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			out = append(out, line)
		}
	}
	b64 := base64.StdEncoding.EncodeToString(keyPEM)
	for i := 0; i+32 <= len(b64); i += 32 {
		out = append(out, b64[i:i+32])
	}
	out = append(out, hex.EncodeToString(block.Bytes)[:64])
	return out
}

// clock is a settable clock for control.Service.Now.
type clock struct{ now atomic.Int64 }

func (c *clock) Now() time.Time      { return time.Unix(0, c.now.Load()).UTC() }
func (c *clock) Add(d time.Duration) { c.now.Add(int64(d)) }

// recorder is an http.RoundTripper that keeps a copy of every response
// body, to check what the server sent.
type recorder struct {
	rt     http.RoundTripper
	mu     sync.Mutex
	bodies [][]byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.rt.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

func (r *recorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(bytes.Join(r.bodies, []byte("\n")))
}

// env is a Portico control service behind the ACM handler on a real TLS
// server, with an AWS SDK client for it.
type env struct {
	svc       *control.Service
	handler   *acmapi.Handler
	srv       *httptest.Server
	client    *acm.Client
	clock     *clock
	logs      *testlog.Buffer
	responses *recorder
}

func newEnv(t testing.TB) *env {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "portico.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{clock: &clock{}, logs: &testlog.Buffer{}}
	e.clock.now.Store(epoch.UnixNano())
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.svc = &control.Service{
		Store:      st,
		Progress:   &deploy.Tracker{},
		EdgeDomain: "portico.test",
		AccountID:  "123456789012",
		Region:     "us-east-1",
		Now:        e.clock.Now,
		Log:        log,
	}
	verifier := &sigv4.Verifier{
		Secret:   func(id string) (string, bool) { return testSecret, id == testKeyID },
		Services: []string{"acm"},
	}
	e.handler = &acmapi.Handler{
		Service: e.svc,
		Authenticate: func(r *http.Request, payload []byte) error {
			_, err := verifier.Verify(r, payload)
			return err
		},
		Log: log,
	}
	e.srv = httptest.NewTLSServer(e.handler)
	t.Cleanup(e.srv.Close)
	e.responses = &recorder{rt: e.srv.Client().Transport}
	e.client = e.newClient(testKeyID, testSecret)
	return e
}

// newClient returns an SDK client for the server that signs with the given
// credentials and does not retry.
func (e *env) newClient(keyID, secret string) *acm.Client {
	return acm.NewFromConfig(aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		HTTPClient:       &http.Client{Transport: e.responses},
		RetryMaxAttempts: 1,
	}, func(o *acm.Options) { o.BaseEndpoint = aws.String(e.srv.URL) })
}

// call sends a signed raw request and returns the response and its body.
func (e *env) call(t testing.TB, method, target string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "acm", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	return e.do(t, req)
}

func (e *env) do(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// dump returns every stored key with its value and revision, to show that
// a failed call changed nothing.
func (e *env) dump(t testing.TB) map[string]string {
	t.Helper()
	kvs, _, err := e.svc.Store.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = fmt.Sprintf("%s@%d", kv.Value, kv.ModRev)
	}
	return m
}

// useCertificate creates a distribution with the given aliases that uses
// the certificate, and returns the distribution's ARN.
func (e *env) useCertificate(t testing.TB, certARN string, aliases ...string) string {
	t.Helper()
	cfg := &portico.DistributionConfig{
		CallerReference: "acmapi-test-" + strings.Join(aliases, ","),
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
	d, err := e.svc.CreateDistribution(context.Background(), cfg)
	if err != nil {
		t.Fatalf("creating a distribution that uses %s: %v", certARN, err)
	}
	return d.ARN
}
