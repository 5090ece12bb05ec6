package snapshot

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/httpcache"
	"github.com/portico-edge/portico/internal/origin"
	"github.com/portico-edge/portico/internal/testpki"
)

// issue returns an imported certificate with the given ARN.
func issue(t testing.TB, ca *testpki.CA, arn string, names ...string) portico.Certificate {
	t.Helper()
	l := ca.Issue(t, names)
	c, err := portico.ParseCertificate(l.CertPEM, l.ChainPEM, l.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c.ARN = arn
	return *c
}

// originHost is the domain name of the test origin; Transports.Resolve
// points it at the loopback server.
const originHost = "origin.test"

// testOrigin is an HTTPS origin with its own CA that counts requests.
type testOrigin struct {
	srv   *httptest.Server
	ca    *testpki.CA
	mu    sync.Mutex
	count map[string]int // by path
}

func newOrigin(t testing.TB) *testOrigin {
	t.Helper()
	o := &testOrigin{ca: testpki.NewCA(t, "Origin Test CA"), count: make(map[string]int)}
	o.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		o.mu.Lock()
		o.count[r.URL.Path]++
		n := o.count[r.URL.Path]
		o.mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=300")
		fmt.Fprintf(w, "%s %s #%d", r.Method, r.URL.Path, n)
	}))
	o.srv.TLS = &tls.Config{Certificates: []tls.Certificate{*o.ca.Issue(t, []string{originHost}).TLSCertificate(t)}}
	o.srv.StartTLS()
	t.Cleanup(o.srv.Close)
	return o
}

func (o *testOrigin) requests(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.count[path]
}

// deps returns Deps whose transports trust and reach the origin.
func (o *testOrigin) deps(t testing.TB, def *tls.Certificate) Deps {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	tr := origin.NewTransports(o.ca.Pool(), log)
	addr := o.srv.Listener.Addr().String()
	tr.Resolve = func(hostport string) string {
		if hostport == originHost+":443" {
			return addr
		}
		return hostport
	}
	return Deps{
		Transports:         tr,
		Cache:              httpcache.New(16<<20, log),
		DefaultCertificate: def,
		Log:                log,
	}
}

var allMethods = []string{"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"}

// distConfig returns a valid configuration with a default behaviour
// (GET/HEAD, redirect-to-https) and "/api/*" (all methods, https-only).
func distConfig(ref string, enabled bool, certARN string, aliases ...string) portico.DistributionConfig {
	fv := &portico.ForwardedValues{QueryString: portico.Ptr(true), Cookies: &portico.CookiePreference{Forward: "none"}}
	cfg := portico.DistributionConfig{
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

// dist returns a stored distribution with domain <id>.portico.localhost,
// lower-cased as the control plane makes it.
func dist(id string, cfg portico.DistributionConfig) portico.Distribution {
	return portico.Distribution{ID: id, DomainName: strings.ToLower(id) + ".portico.localhost", Config: cfg}
}
