package edgeserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/control"
	"github.com/portico-edge/portico/internal/deploy"
	"github.com/portico-edge/portico/internal/httpcache"
	"github.com/portico-edge/portico/internal/origin"
	"github.com/portico-edge/portico/internal/snapshot"
	"github.com/portico-edge/portico/internal/store/boltstore"
	"github.com/portico-edge/portico/internal/testlog"
	"github.com/portico-edge/portico/internal/testpki"
)

// testCA issues certificates for tests, as ACM imports them.
type testCA struct {
	*testpki.CA
	pool *x509.CertPool
}

func newCA(t testing.TB, name string) *testCA {
	t.Helper()
	ca := testpki.NewCA(t, name)
	return &testCA{CA: ca, pool: ca.Pool()}
}

// pems is a certificate as ACM's ImportCertificate takes it.
type pems struct{ cert, chain, key []byte }

// issue issues an ECDSA P-256 certificate for names, valid for 12 hours.
func (ca *testCA) issue(t testing.TB, names ...string) pems {
	t.Helper()
	return ca.issueWith(t, names)
}

// issueWith is issue with other options, such as another key type.
func (ca *testCA) issueWith(t testing.TB, names []string, opts ...testpki.Option) pems {
	t.Helper()
	opts = append(opts, testpki.Validity(time.Time{}, time.Now().Add(12*time.Hour)))
	l := ca.Issue(t, names, opts...)
	return pems{cert: l.CertPEM, chain: l.ChainPEM, key: l.KeyPEM}
}

func (ca *testCA) keyPair(t testing.TB, names ...string) *tls.Certificate {
	t.Helper()
	p := ca.issue(t, names...)
	kp, err := tls.X509KeyPair(append(p.cert, p.chain...), p.key)
	if err != nil {
		t.Fatal(err)
	}
	return &kp
}

// originHost is the test origin's domain name; the origin transports
// resolve it to the loopback server.
const originHost = "origin.test"

// seen is what the origin received.
type seen struct {
	method, path, query, host, requestID string
	uri                                  string // the request target on the wire
	body                                 string
	complete                             bool // the body was read to its end without error
}

// String returns "METHOD target", then " body=..." if there was a body.
func (s seen) String() string {
	out := s.method + " " + s.uri
	if s.body != "" {
		out += " body=" + s.body
	}
	return out
}

// testOrigin is an HTTPS origin with its own CA that records requests.
// Requests for /slow wait until release is closed, those for /hold/...
// until release is closed or they are canceled (inflight counts them);
// responses to /via carry a Via of their own.
type testOrigin struct {
	srv     *httptest.Server
	ca      *testCA
	release chan struct{}
	mu      sync.Mutex
	reqs    []seen

	inflight, maxInflight atomic.Int64 // /hold/ requests
}

func newOrigin(t testing.TB) *testOrigin {
	t.Helper()
	o := &testOrigin{ca: newCA(t, "Origin Test CA"), release: make(chan struct{})}
	o.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		o.mu.Lock()
		o.reqs = append(o.reqs, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.Header.Get("X-Amz-Cf-Id"),
			r.RequestURI, string(body), err == nil})
		o.mu.Unlock()
		if r.URL.Path == "/slow" {
			<-o.release
		}
		if strings.HasPrefix(r.URL.Path, "/hold/") {
			// Held until release, or until the edge gives up on it.
			n := o.inflight.Add(1)
			for m := o.maxInflight.Load(); n > m && !o.maxInflight.CompareAndSwap(m, n); m = o.maxInflight.Load() {
			}
			defer o.inflight.Add(-1)
			select {
			case <-o.release:
			case <-r.Context().Done():
			}
		}
		if r.URL.Path == "/via" {
			w.Header().Set("Via", "1.1 upstream-proxy")
		}
		w.Header().Set("Cache-Control", "max-age=300")
		fmt.Fprintf(w, "%s %s from the origin", r.Method, r.URL.Path)
	}))
	o.srv.TLS = &tls.Config{Certificates: []tls.Certificate{*o.ca.keyPair(t, originHost)}}
	// Requests the edge gives up on break off handshakes; that is no news.
	o.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	o.srv.StartTLS()
	t.Cleanup(o.srv.Close)
	return o
}

// reset forgets the requests seen so far.
func (o *testOrigin) reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reqs = nil
}

// complete returns the requests whose bodies arrived in full, as strings,
// leaving out those for skip.
func (o *testOrigin) complete(skip string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for _, s := range o.reqs {
		if s.complete && s.path != skip {
			out = append(out, s.String())
		}
	}
	return out
}

// last returns the newest request the origin saw for path.
func (o *testOrigin) last(path string) (seen, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.reqs) - 1; i >= 0; i-- {
		if o.reqs[i].path == path {
			return o.reqs[i], true
		}
	}
	return seen{}, false
}

var allMethods = []string{"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"}

// distConfig returns a valid configuration with a default behaviour
// (GET/HEAD, redirect-to-https) and "/api/*" (all methods, https-only).
func distConfig(ref string, enabled bool, certARN string, aliases ...string) *portico.DistributionConfig {
	fv := &portico.ForwardedValues{QueryString: portico.Ptr(true), Cookies: &portico.CookiePreference{Forward: "none"}}
	cfg := &portico.DistributionConfig{
		CallerReference: ref,
		Comment:         portico.Ptr(""),
		Enabled:         portico.Ptr(enabled),
		Origins: &portico.Origins{Quantity: 1, Items: []portico.Origin{{
			ID:         "origin",
			DomainName: originHost,
			CustomOriginConfig: &portico.CustomOriginConfig{
				HTTPPort: 80, HTTPSPort: 443, OriginProtocolPolicy: "https-only",
			},
		}}},
		DefaultCacheBehavior: &portico.CacheBehavior{
			TargetOriginID:       "origin",
			ViewerProtocolPolicy: "redirect-to-https",
			ForwardedValues:      fv,
		},
		CacheBehaviors: &portico.CacheBehaviors{Quantity: 1, Items: []portico.CacheBehavior{{
			PathPattern:          portico.Ptr("/api/*"),
			TargetOriginID:       "origin",
			ViewerProtocolPolicy: "https-only",
			AllowedMethods: &portico.AllowedMethods{
				Quantity: len(allMethods), Items: allMethods,
				CachedMethods: &portico.Methods{Quantity: 2, Items: []string{"GET", "HEAD"}},
			},
			ForwardedValues: fv,
		}}},
	}
	if len(aliases) > 0 {
		cfg.Aliases = &portico.Aliases{Quantity: len(aliases), Items: aliases}
	}
	if certARN != "" {
		cfg.ViewerCertificate = &portico.ViewerCertificate{
			ACMCertificateArn:      portico.Ptr(certARN),
			SSLSupportMethod:       portico.Ptr("sni-only"),
			MinimumProtocolVersion: portico.Ptr("TLSv1.2_2021"),
		}
	}
	return cfg
}

// edge is a whole data plane, wired as cmd/portico wires it: a control
// service over bbolt, a snapshot watcher reporting to a deploy tracker, and
// the edge server's HTTP and HTTPS listeners on 127.0.0.1:0.
type edge struct {
	svc       *control.Service
	tracker   *deploy.Tracker
	watcher   *snapshot.Watcher
	origin    *testOrigin
	viewerCA  *testCA
	logs      *testlog.Buffer
	server    *Server
	httpSrv   *http.Server
	httpsSrv  *http.Server
	httpAddr  string
	httpsAddr string
}

func newEdge(t *testing.T) *edge {
	t.Helper()
	return newEdgeWith(t, Limits{})
}

// newEdgeWith is newEdge with limits other than the defaults.
func newEdgeWith(t *testing.T, limits Limits) *edge {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "portico.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	e := &edge{
		tracker:  &deploy.Tracker{},
		origin:   newOrigin(t),
		viewerCA: newCA(t, "Viewer Test CA"),
		logs:     &testlog.Buffer{},
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.svc = &control.Service{
		Store: st, Progress: e.tracker, EdgeDomain: "portico.localhost",
		AccountID: "123456789012", Region: "us-east-1",
	}
	transports := origin.NewTransports(e.origin.ca.pool, log)
	originAddr := e.origin.srv.Listener.Addr().String()
	transports.Resolve = func(hostport string) string {
		if hostport == originHost+":443" {
			return originAddr
		}
		return hostport
	}
	defaultCert := e.viewerCA.keyPair(t, "*.portico.localhost")
	e.watcher = &snapshot.Watcher{
		Source: e.svc,
		Deps: snapshot.Deps{
			Transports:         transports,
			Cache:              httpcache.New(16<<20, log),
			DefaultCertificate: defaultCert,
			Log:                log,
		},
		Reporter: e.tracker,
		Edge:     "edge-test",
		Log:      log,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.watcher.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-e.watcher.Loaded():
	case <-time.After(10 * time.Second):
		t.Fatal("no snapshot within 10s")
	}

	e.server = &Server{Snapshot: e.watcher.Current, DefaultCertificate: defaultCert, Log: log, AccessLog: e.logs, Limits: limits}
	e.httpSrv, e.httpAddr = serve(t, e.server, false)
	e.httpsSrv, e.httpsAddr = serve(t, e.server, true)
	return e
}

// serve runs s's HTTP or HTTPS server on 127.0.0.1:0, through its guarded
// listener, until the test ends.
func serve(t testing.TB, s *Server, tls bool) (*http.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := s.HTTPServer()
	if tls {
		srv = s.HTTPSServer()
	}
	done := make(chan error, 1)
	go func() {
		if tls {
			done <- srv.Serve(s.TLSListener(ln))
		} else {
			done <- srv.Serve(s.Listener(ln))
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; err != http.ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, ln.Addr().String()
}

// waitApplied waits until the tracker reports rev.
func (e *edge) waitApplied(t *testing.T, rev int64) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		changed := e.tracker.Changed()
		if e.tracker.AppliedRev() >= rev {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("tracker reports revision %d, want %d within 10s", e.tracker.AppliedRev(), rev)
		}
	}
}

// importCert imports a certificate for names (arn "" for a new one) and
// returns its ARN.
func (e *edge) importCert(t *testing.T, arn string, names ...string) string {
	t.Helper()
	p := e.viewerCA.issue(t, names...)
	c, err := e.svc.ImportCertificate(context.Background(), arn, p.cert, p.chain, p.key)
	if err != nil {
		t.Fatalf("ImportCertificate: %v", err)
	}
	return c.ARN
}

func (e *edge) createDistribution(t *testing.T, cfg *portico.DistributionConfig) *portico.Distribution {
	t.Helper()
	d, err := e.svc.CreateDistribution(context.Background(), cfg)
	if err != nil {
		t.Fatalf("CreateDistribution: %v", err)
	}
	e.waitApplied(t, d.Rev)
	return d
}

// client returns a viewer that sends every request to the edge: port 443
// to the HTTPS listener and any other port to the HTTP one. sni, if set,
// overrides the TLS server name; h2 enables HTTP/2. It does not follow
// redirects.
func (e *edge) client(sni string, h2 bool) *http.Client {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(h2)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			target := e.httpAddr
			if _, port, _ := net.SplitHostPort(addr); port == "443" {
				target = e.httpsAddr
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", target)
		},
		TLSClientConfig: &tls.Config{ServerName: sni, RootCAs: e.viewerCA.pool},
		Protocols:       &protocols,
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
}

// newTestLogger returns a logger that writes text records, Debug and up,
// to w.
func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
