package origin_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	stdlog "log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/origin"
)

// originDomain is the DomainName of test origins; Transports.Resolve points
// it at the test server.
const originDomain = "origin.test"

// secret is the value of the custom origin header in every test. It must
// never appear in a log line or an error page.
const secret = "s3cr3t-cname-api-key-value"

// requestID is the X-Amz-Cf-Id the test edge puts in each request context.
const requestID = "test-request-id-0001"

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Portico test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// leaf issues a server certificate for names, valid from an hour ago to an
// hour from now.
func (ca *testCA) leaf(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	return ca.leafValid(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), names...)
}

// leafValid issues a server certificate for names, valid from notBefore to
// notAfter.
func (ca *testCA) leafValid(t testing.TB, notBefore, notAfter time.Time, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// received is what a test origin saw of one request.
type received struct {
	Method     string
	Host       string
	SNI        string
	RequestURI string
	RawQuery   string
	Proto      string
	TLSVersion uint16
	Resumed    bool // the TLS session was resumed
	Header     http.Header
	Body       []byte
}

// testOrigin is an HTTPS origin that records every request it receives.
type testOrigin struct {
	srv *httptest.Server

	mu   sync.Mutex
	reqs []received
}

// newTestOrigin starts an origin with a certificate for originDomain from
// ca. respond writes the response; nil answers 200 "ok".
func newTestOrigin(t testing.TB, ca *testCA, respond http.HandlerFunc) *testOrigin {
	t.Helper()
	o := &testOrigin{}
	o.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec := received{
			Method:     r.Method,
			Host:       r.Host,
			RequestURI: r.RequestURI,
			RawQuery:   r.URL.RawQuery,
			Proto:      r.Proto,
			Header:     r.Header.Clone(),
			Body:       body,
		}
		if r.TLS != nil {
			rec.SNI, rec.TLSVersion, rec.Resumed = r.TLS.ServerName, r.TLS.Version, r.TLS.DidResume
		}
		o.mu.Lock()
		o.reqs = append(o.reqs, rec)
		o.mu.Unlock()
		if respond != nil {
			respond(w, r)
			return
		}
		io.WriteString(w, "ok")
	}))
	o.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, originDomain)}}
	o.srv.Config.ErrorLog = quiet
	o.srv.StartTLS()
	t.Cleanup(o.srv.Close)
	return o
}

// last returns the last request the origin received.
func (o *testOrigin) last(t testing.TB) received {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.reqs) == 0 {
		t.Fatal("the origin received no request")
	}
	return o.reqs[len(o.reqs)-1]
}

func (o *testOrigin) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.reqs)
}

// addr is the host:port the origin listens on.
func (o *testOrigin) addr() string { return o.srv.Listener.Addr().String() }

// originConfig is a custom origin named originDomain with a secret custom
// header and CloudFront's default timeouts.
func originConfig() *portico.Origin {
	return &portico.Origin{
		ID:         "origin-1",
		DomainName: originDomain,
		CustomHeaders: &portico.CustomHeaders{Quantity: 1, Items: []portico.OriginCustomHeader{
			{HeaderName: "cname-api-key", HeaderValue: secret},
		}},
		CustomOriginConfig: &portico.CustomOriginConfig{
			HTTPPort:             80,
			HTTPSPort:            443,
			OriginProtocolPolicy: "https-only",
		},
	}
}

// impatient is originConfig with the smallest read timeout, 1 s.
func impatient() *portico.Origin {
	o := originConfig()
	o.CustomOriginConfig.OriginReadTimeout = portico.Ptr(1)
	return o
}

// behavior is a default cache behaviour with the given forwarded values
// and all seven methods allowed.
func behavior(fv *portico.ForwardedValues) *portico.CacheBehavior {
	all := []string{"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"}
	return &portico.CacheBehavior{
		TargetOriginID:       "origin-1",
		ViewerProtocolPolicy: "redirect-to-https",
		AllowedMethods: &portico.AllowedMethods{Quantity: 7, Items: all,
			CachedMethods: &portico.Methods{Quantity: 2, Items: []string{"GET", "HEAD"}}},
		ForwardedValues: fv,
	}
}

// forwarded builds ForwardedValues: query string on or off, a cookie
// preference ("none", "all", or whitelisted names), and whitelisted headers.
func forwarded(query bool, cookies []string, headers ...string) *portico.ForwardedValues {
	fv := &portico.ForwardedValues{QueryString: portico.Ptr(query), Cookies: &portico.CookiePreference{Forward: "none"}}
	switch {
	case len(cookies) == 1 && (cookies[0] == "all" || cookies[0] == "none"):
		fv.Cookies.Forward = cookies[0]
	case len(cookies) > 0:
		fv.Cookies = &portico.CookiePreference{Forward: "whitelist", WhitelistedNames: &portico.Names{Quantity: len(cookies), Items: cookies}}
	}
	if len(headers) > 0 {
		fv.Headers = &portico.Names{Quantity: len(headers), Items: headers}
	}
	return fv
}

// edge is a viewer-facing HTTP server in front of a Proxy.
type edge struct {
	URL     string
	remotes chan string // RemoteAddr of each viewer request
}

// newEdge serves p behind a plain HTTP test server, as the edge server
// does: with the request ID in the context.
func newEdge(t testing.TB, p http.Handler) *edge {
	t.Helper()
	e := &edge{remotes: make(chan string, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case e.remotes <- r.RemoteAddr:
		default:
		}
		p.ServeHTTP(w, r.WithContext(origin.WithRequestInfo(r.Context(), &origin.RequestInfo{ID: requestID})))
	}))
	t.Cleanup(srv.Close)
	e.URL = srv.URL
	return e
}

// newTransports trusts ca and sends origin.test to addr.
func newTransports(ca *testCA, addr string, log *slog.Logger) *origin.Transports {
	tr := origin.NewTransports(ca.pool, log)
	tr.Resolve = func(string) string { return addr }
	return tr
}

// newProxyEdge wires an origin config and behaviour to the test origin at
// addr and returns the edge in front of it.
func newProxyEdge(t testing.TB, ca *testCA, addr string, o *portico.Origin, b *portico.CacheBehavior) *edge {
	t.Helper()
	p, err := newProxy(o, b, newTransports(ca, addr, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	return newEdge(t, p)
}

// quiet discards the expected TLS handshake errors of test servers.
var quiet = stdlog.New(io.Discard, "", 0)

// viewer is the viewers' HTTP client transport. It sends exactly the headers
// a test sets (no automatic Accept-Encoding).
var viewer = &http.Transport{DisableCompression: true}

// do sends a viewer request and returns the response with its body read.
func do(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := viewer.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return resp, body
}

func newRequest(t testing.TB, method, url string, body []byte) *http.Request {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// deadAddr returns a loopback address where connections are refused: a
// port bound, so that no other test can take it, but never listened on.
func deadAddr(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}

// legacyPolicy resolves what behaviour b, which uses legacy
// ForwardedValues, keys and forwards.
func legacyPolicy(b *portico.CacheBehavior) portico.ResolvedPolicy {
	pol, err := portico.ResolveBehavior(b, nil, nil)
	if err != nil {
		panic(err)
	}
	return pol
}

// newProxy is origin.New for a behaviour with legacy ForwardedValues.
func newProxy(o *portico.Origin, b *portico.CacheBehavior, t *origin.Transports, log *slog.Logger) (*origin.Proxy, error) {
	return origin.New(o, b, legacyPolicy(b), t, log)
}
