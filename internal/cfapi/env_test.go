package cfapi

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/portico-edge/portico/internal/control"
	"github.com/portico-edge/portico/internal/deploy"
	"github.com/portico-edge/portico/internal/sigv4"
	"github.com/portico-edge/portico/internal/store"
	"github.com/portico-edge/portico/internal/store/boltstore"
)

// Credentials the test API accepts.
const (
	testAccessKey = "AKIAPORTICOTEST00001"
	testSecretKey = "portico-test-secret-key/0123456789abcdefgh"
)

// apiEnv is a whole CloudFront API: a Handler with a real sigv4 verifier,
// over a Service with a bbolt store in a temporary directory and a real
// deploy tracker, served by an httptest server.
type apiEnv struct {
	svc     *control.Service
	store   store.Store
	tracker *deploy.Tracker
	server  *httptest.Server
	// served receives "METHOD /path" after each response is written, when
	// a reader is waiting or there is room in its buffer.
	served chan string
}

// newAPIEnv starts an apiEnv. With now set, the service's clock stands
// still at now.
func newAPIEnv(t *testing.T, now time.Time) *apiEnv {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "portico.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tracker := &deploy.Tracker{}
	svc := &control.Service{
		Store:      st,
		Progress:   tracker,
		EdgeDomain: "portico.test",
		AccountID:  "123456789012",
		Region:     "us-east-1",
	}
	if !now.IsZero() {
		svc.Now = func() time.Time { return now }
	}
	verifier := &sigv4.Verifier{
		Secret: func(id string) (string, bool) {
			return testSecretKey, id == testAccessKey
		},
		Services: []string{"cloudfront"},
	}
	h := &Handler{
		Service: svc,
		Log:     slog.New(slog.NewTextHandler(t.Output(), nil)),
		Authenticate: func(r *http.Request, payload []byte) error {
			_, err := verifier.Verify(r, payload)
			return err
		},
	}
	e := &apiEnv{svc: svc, store: st, tracker: tracker, served: make(chan string, 64)}
	e.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		select {
		case e.served <- r.Method + " " + r.URL.Path:
		default:
		}
	}))
	t.Cleanup(e.server.Close)
	return e
}

// deploy makes the edge report the store's current revision: everything
// written so far is Deployed or Completed.
func (e *apiEnv) deploy(t testing.TB) {
	t.Helper()
	rev, err := e.store.Txn(t.Context(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.tracker.Applied("edge", rev)
}

// dump returns every stored key, value and revision.
func (e *apiEnv) dump(t testing.TB) []store.KV {
	t.Helper()
	kvs, _, err := e.store.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	return kvs
}

// importCert imports a self-signed certificate for names, valid around
// at, and returns its ARN.
func (e *apiEnv) importCert(t testing.TB, at time.Time, names ...string) string {
	t.Helper()
	certPEM, keyPEM := selfSigned(t, at, names...)
	c, err := e.svc.ImportCertificate(t.Context(), "", certPEM, nil, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c.ARN
}

// sign signs r, whose body is body, with SigV4 as the AWS SDKs do, with
// the test access key and the given secret.
func sign(t testing.TB, r *http.Request, body []byte, secret string) {
	t.Helper()
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, r, hex.EncodeToString(sum[:]), "cloudfront", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
}

// selfSigned returns a PEM certificate and key for names, valid from a day
// before at to a year after.
func selfSigned(t testing.TB, at time.Time, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(at.UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    at.Add(-24 * time.Hour),
		NotAfter:     at.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}
