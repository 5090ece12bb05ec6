package certs

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"maps"
	"math/big"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/testlog"
	"github.com/portico-edge/portico/internal/testpki"
)

// stapleEnv is a CA with a real OCSP responder, a stapler on a clock the
// test can move, and a TLS server presenting the current Index to real
// clients.
type stapleEnv struct {
	ca        *testpki.CA
	responder *testpki.OCSPResponder
	stapler   *Stapler
	logs      *testlog.Buffer
	skew      atomic.Int64 // added to the stapler's clock
	idx       atomic.Pointer[Index]
	addr      string
}

func newStapleEnv(t *testing.T) *stapleEnv {
	t.Helper()
	env := &stapleEnv{ca: testpki.NewCA(t, "OCSP Test CA"), logs: &testlog.Buffer{}}
	env.responder = env.ca.NewOCSPResponder(t)
	env.stapler = &Stapler{
		Log:      slog.New(slog.NewTextHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		now:      func() time.Time { return time.Now().Add(time.Duration(env.skew.Load())) },
		retryMin: 20 * time.Millisecond,
		retryMax: 100 * time.Millisecond,
	}
	t.Cleanup(func() { env.stapler.Close() })

	env.addr = serveHandshakes(t, func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		return env.idx.Load().GetCertificate(hello)
	})
	return env
}

// issue returns a certificate for login.example.com naming the responder,
// imported as ACM would store it.
func (env *stapleEnv) issue(t *testing.T, serial int64) (portico.Certificate, testpki.Leaf) {
	t.Helper()
	l := env.ca.IssueWithOCSP(t, env.responder.URL, []string{"login.example.com"}, testpki.Serial(serial))
	c, err := portico.ParseCertificate(l.CertPEM, l.ChainPEM, l.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c.ARN = "arn:serial-" + l.Cert.SerialNumber.String()
	return *c, l
}

// serve builds an Index of list with the stapler and serves it.
func (env *stapleEnv) serve(t *testing.T, list ...portico.Certificate) {
	t.Helper()
	idx, err := New(list, nil, WithStapler(env.stapler))
	if err != nil {
		t.Fatal(err)
	}
	env.idx.Store(idx)
}

// staple makes a TLS handshake as a verifying client (Go's client always
// asks for a staple) and returns the OCSP response the server stapled.
func (env *stapleEnv) staple(t *testing.T) []byte {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", env.addr,
		&tls.Config{ServerName: "login.example.com", RootCAs: env.ca.Pool()})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().OCSPResponse
}

// serveStapled issues a certificate with serial, serves it and waits for
// its first staple, which it returns with the leaf.
func (env *stapleEnv) serveStapled(t *testing.T, serial int64) (testpki.Leaf, []byte) {
	t.Helper()
	cert, leaf := env.issue(t, serial)
	env.serve(t, cert)
	var der []byte
	waitFor(t, "a staple", func() bool { der = env.staple(t); return der != nil })
	return leaf, der
}

// refreshOften has the responder answer with responses valid for two
// seconds, and the stapler refresh them as soon as half of that allows.
func (env *stapleEnv) refreshOften() {
	env.stapler.minRefresh = 10 * time.Millisecond
	env.responder.SetValidity(-time.Second, time.Second)
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
	}
}

// checkStaple checks that der is a Good response about leaf, signed for
// its issuer, and returns it.
func checkStaple(t *testing.T, der []byte, leaf testpki.Leaf, ca *testpki.CA) *ocsp.Response {
	t.Helper()
	r, err := ocsp.ParseResponseForCert(der, leaf.Cert, ca.Cert)
	if err != nil {
		t.Fatalf("the staple does not parse: %v", err)
	}
	if r.Status != ocsp.Good || r.SerialNumber.Cmp(leaf.Cert.SerialNumber) != 0 {
		t.Errorf("stapled status %d for serial %v, want Good (0) for %v", r.Status, r.SerialNumber, leaf.Cert.SerialNumber)
	}
	return r
}

// TestOCSPStapling serves certificates naming a real OCSP responder
// (testpki's, signing with x/crypto/ocsp) and reads what real TLS clients
// receive in each case the Stapler documents.
func TestOCSPStapling(t *testing.T) {
	t.Run("good staple served", func(t *testing.T) {
		env := newStapleEnv(t)
		leaf, der := env.serveStapled(t, 1)
		checkStaple(t, der, leaf, env.ca)
		if n := env.responder.Requests(leaf.Cert.SerialNumber); n != 1 {
			t.Errorf("the responder was asked %d times, want once", n)
		}
	})

	t.Run("delegated responder", func(t *testing.T) {
		env := newStapleEnv(t)
		env.responder.SignWith(env.ca.IssueOCSPSigner(t))
		leaf, der := env.serveStapled(t, 1)
		if r := checkStaple(t, der, leaf, env.ca); r.Certificate == nil {
			t.Error("the staple does not carry the delegated responder's certificate")
		}
	})

	t.Run("responder down", func(t *testing.T) {
		env := newStapleEnv(t)
		env.responder.Close()
		cert, _ := env.issue(t, 1)
		env.serve(t, cert)
		waitFor(t, "two failed requests", func() bool { return strings.Count(env.logs.String(), "OCSP request failed") >= 2 })
		if der := env.staple(t); der != nil {
			t.Errorf("a staple (%d bytes) with the responder down", len(der))
		}
	})

	t.Run("responder hangs: handshakes do not wait", func(t *testing.T) {
		env := newStapleEnv(t)
		// No timeout: the request hangs as long as the responder, longer
		// than the client's 10-second dial and handshake.
		env.stapler.Client, env.stapler.fetchTimeout = &http.Client{}, time.Hour
		env.responder.Hold()
		cert, leaf := env.issue(t, 1)
		env.serve(t, cert)
		waitFor(t, "the request to reach the responder", func() bool { return env.responder.Requests(leaf.Cert.SerialNumber) > 0 })
		if der := env.staple(t); der != nil {
			t.Errorf("a staple (%d bytes) while the responder holds the request", len(der))
		}
		env.responder.Release()
		waitFor(t, "a staple once the responder answers", func() bool { return env.staple(t) != nil })
	})

	t.Run("revoked: not stapled, logged", func(t *testing.T) {
		env := newStapleEnv(t)
		cert, leaf := env.issue(t, 1)
		env.responder.Revoke(leaf.Cert.SerialNumber, time.Now().Add(-time.Hour))
		env.serve(t, cert)
		waitFor(t, "the revocation to be logged", func() bool { return strings.Contains(env.logs.String(), "revoked") })
		if der := env.staple(t); der != nil {
			t.Errorf("a Revoked response was stapled (%d bytes)", len(der))
		}
		logs := env.logs.String()
		for _, want := range []string{"level=WARN", "login.example.com", "serial=1", "reason=1"} {
			if !strings.Contains(logs, want) {
				t.Errorf("the revocation log lacks %q:\n%s", want, logs)
			}
		}
		if strings.Contains(logs, "PRIVATE KEY") || strings.Contains(logs, string(leaf.KeyPEM[40:80])) {
			t.Errorf("the log holds the private key:\n%s", logs)
		}
	})

	t.Run("revoked after a good staple: dropped", func(t *testing.T) {
		env := newStapleEnv(t)
		env.refreshOften()
		leaf, _ := env.serveStapled(t, 1)
		env.responder.Revoke(leaf.Cert.SerialNumber, time.Now())
		waitFor(t, "the staple to be dropped", func() bool { return env.staple(t) == nil })
	})

	t.Run("unknown: not stapled", func(t *testing.T) {
		env := newStapleEnv(t)
		cert, leaf := env.issue(t, 1)
		env.responder.Unknown(leaf.Cert.SerialNumber)
		env.serve(t, cert)
		waitFor(t, "a failed request", func() bool { return strings.Contains(env.logs.String(), "does not know the certificate") })
		if der := env.staple(t); der != nil {
			t.Errorf("an Unknown response was stapled (%d bytes)", len(der))
		}
	})

	t.Run("expired response dropped", func(t *testing.T) {
		env := newStapleEnv(t)
		env.serveStapled(t, 1) // responses valid for an hour
		env.responder.SetFailing(true)
		env.skew.Store(int64(2 * time.Hour)) // past NextUpdate, no new response
		if der := env.staple(t); der != nil {
			t.Errorf("an expired response is still stapled (%d bytes)", len(der))
		}
		env.stapler.mu.Lock()
		for _, e := range env.stapler.entries { // refresh now: it fails, and drops the expired response
			env.stapler.schedule(e, 0)
		}
		env.stapler.mu.Unlock()
		waitFor(t, "the expired response to be dropped", func() bool {
			env.stapler.mu.Lock()
			defer env.stapler.mu.Unlock()
			for _, e := range env.stapler.entries {
				if e.resp.Load() != nil {
					return false
				}
			}
			return true
		})
	})

	t.Run("expired response never stapled", func(t *testing.T) {
		env := newStapleEnv(t)
		env.responder.SetValidity(-2*time.Hour, -time.Hour)
		cert, _ := env.issue(t, 1)
		env.serve(t, cert)
		waitFor(t, "a refused response", func() bool { return strings.Contains(env.logs.String(), "has expired") })
		if der := env.staple(t); der != nil {
			t.Errorf("an expired response was stapled (%d bytes)", len(der))
		}
	})

	t.Run("re-import gets its own staple", func(t *testing.T) {
		env := newStapleEnv(t)
		leaf, der := env.serveStapled(t, 1)
		checkStaple(t, der, leaf, env.ca)

		renewed, renewedLeaf := env.issue(t, 2)
		env.serve(t, renewed)
		waitFor(t, "a staple for the new serial", func() bool {
			der = env.staple(t)
			r, err := ocsp.ParseResponse(der, env.ca.Cert)
			return err == nil && r.SerialNumber.Cmp(renewedLeaf.Cert.SerialNumber) == 0
		})
		checkStaple(t, der, renewedLeaf, env.ca)
		if n := env.responder.Requests(renewedLeaf.Cert.SerialNumber); n != 1 {
			t.Errorf("the responder was asked %d times about the new certificate, want once", n)
		}
	})
}

// TestStapleIsRefreshed serves responses valid for two seconds: the
// stapler asks again at about half of that, and the staple follows.
func TestStapleIsRefreshed(t *testing.T) {
	env := newStapleEnv(t)
	env.refreshOften()
	leaf, first := env.serveStapled(t, 1)
	waitFor(t, "three requests", func() bool { return env.responder.Requests(leaf.Cert.SerialNumber) >= 3 })
	waitFor(t, "a newer staple", func() bool {
		der := env.staple(t)
		return der != nil && !bytes.Equal(der, first)
	})
	if n := env.responder.Requests(leaf.Cert.SerialNumber); n > 50 {
		t.Errorf("%d requests for responses valid for two seconds: the stapler does not wait for half the validity", n)
	}
}

// TestStaplerRetriesAfterFailures has the responder fail, then recover:
// the stapler retries with backoff and staples once it answers.
func TestStaplerRetriesAfterFailures(t *testing.T) {
	env := newStapleEnv(t)
	env.responder.SetFailing(true)
	cert, leaf := env.issue(t, 1)
	env.serve(t, cert)
	waitFor(t, "three failed requests", func() bool { return env.responder.Requests(leaf.Cert.SerialNumber) >= 3 })
	if der := env.staple(t); der != nil {
		t.Errorf("a staple (%d bytes) while the responder fails", len(der))
	}
	env.responder.SetFailing(false)
	waitFor(t, "a staple after the responder recovered", func() bool { return env.staple(t) != nil })
	if !strings.Contains(env.logs.String(), "500 Internal Server Error") {
		t.Errorf("the failures are not logged with the responder's status:\n%s", env.logs)
	}
}

// TestStaplerEligibility lists the certificates that are served without
// a staple: the stapler does not track them, so never asks a responder.
func TestStaplerEligibility(t *testing.T) {
	env := newStapleEnv(t)
	other := testpki.NewCA(t, "Other CA")
	leafOnly := env.ca.IssueWithOCSP(t, env.responder.URL, []string{"leaf-only.example.com"})
	leafOnly.ChainPEM = nil
	wrongChain := env.ca.IssueWithOCSP(t, env.responder.URL, []string{"wrong-chain.example.com"})
	wrongChain.ChainPEM = other.PEM
	tests := []struct {
		name string
		leaf testpki.Leaf
	}{
		{"no OCSP responder", env.ca.Issue(t, []string{"plain.example.com"})},
		{"https responder", env.ca.IssueWithOCSP(t, "https"+strings.TrimPrefix(env.responder.URL, "http"), []string{"https.example.com"})},
		{"ldap responder", env.ca.IssueWithOCSP(t, "ldap://ocsp.example.com/", []string{"ldap.example.com"})},
		{"no issuer in the chain", leafOnly},
		{"chain without the issuer", wrongChain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kp := tt.leaf.TLSCertificate(t)
			if e := env.stapler.track(kp); e != nil {
				t.Errorf("tracked for stapling, from %s", e.url)
			}
		})
	}
}

// TestStaplerForgetsCertificatesNoIndexHolds drops an Index: once it is
// garbage, the stapler stops refreshing its certificates.
func TestStaplerForgetsCertificatesNoIndexHolds(t *testing.T) {
	env := newStapleEnv(t)
	env.serveStapled(t, 1)
	renewed, _ := env.issue(t, 2)
	env.serve(t, renewed) // the only reference to the old Index goes
	entries := func() int {
		env.stapler.mu.Lock()
		defer env.stapler.mu.Unlock()
		return len(env.stapler.entries)
	}
	waitFor(t, "the old certificate to be forgotten", func() bool {
		runtime.GC()
		return entries() == 1
	})
}

func TestStapledGetCertificateDoesNotAllocate(t *testing.T) {
	env := newStapleEnv(t)
	env.serveStapled(t, 1)
	idx := env.idx.Load()
	hello := &tls.ClientHelloInfo{ServerName: "login.example.com"}
	if c, _ := idx.GetCertificate(hello); c.OCSPStaple == nil {
		t.Fatal("no staple")
	}
	if allocs := testing.AllocsPerRun(100, func() { idx.GetCertificate(hello) }); allocs != 0 {
		t.Errorf("GetCertificate allocated %v times per run with a staple, want 0", allocs)
	}
}

// TestStaplerClose stops refreshing: no request after Close.
func TestStaplerClose(t *testing.T) {
	env := newStapleEnv(t)
	env.refreshOften()
	leaf, _ := env.serveStapled(t, 1)
	env.stapler.Close() // waits for a request in flight
	n := env.responder.Requests(leaf.Cert.SerialNumber)
	// A refresh that comes due after Close (its timer fired as Close ran)
	// asks nothing.
	env.stapler.mu.Lock()
	entries := slices.Collect(maps.Values(env.stapler.entries))
	env.stapler.mu.Unlock()
	for _, e := range entries {
		env.stapler.refresh(e)
	}
	if m := env.responder.Requests(leaf.Cert.SerialNumber); m != n {
		t.Errorf("%d requests after Close", m-n)
	}
	if e := env.stapler.track(env.idx.Load().Certificate("login.example.com")); e != nil {
		t.Error("a closed stapler tracks a certificate")
	}
}

// TestStaplerBoundsRequestsInFlight checks that many certificates tracked
// at once (a start-up with thousands imported) never have more than
// maxFetches requests at their responder at a time.
func TestStaplerBoundsRequestsInFlight(t *testing.T) {
	env := newStapleEnv(t)
	env.responder.Hold() // every request waits until Release
	const n = 3 * maxFetches
	list := make([]portico.Certificate, n)
	serials := make([]*big.Int, n)
	for i := range list {
		c, leaf := env.issue(t, int64(100+i))
		list[i], serials[i] = c, leaf.Cert.SerialNumber
	}
	env.serve(t, list...)
	requests := func() int {
		total := 0
		for _, s := range serials {
			total += env.responder.Requests(s)
		}
		return total
	}
	waitFor(t, "the first requests", func() bool { return requests() >= maxFetches })
	// Every first request is due within n × 10 ms; the ones beyond
	// maxFetches must wait for a slot instead of reaching the responder.
	time.Sleep(time.Duration(n)*10*time.Millisecond + 200*time.Millisecond)
	if got := requests(); got != maxFetches {
		t.Errorf("%d requests at the responder at once, want %d", got, maxFetches)
	}
	env.responder.Release()
	waitFor(t, "a request for every certificate", func() bool { return requests() >= n })
}

// responseCase is a response verifyResponse is given, and what it says.
type responseCase struct {
	name    string
	der     []byte
	status  int    // when err is ""
	err     string // part of the error, or "" for none
	nextUpd time.Time
}

// responseCases returns the verification table for leaf, issued by ca.
func responseCases(t testing.TB, ca *testpki.CA, leaf testpki.Leaf, now time.Time) []responseCase {
	other := testpki.NewCA(t, "Other CA")
	good := ocsp.Response{Status: ocsp.Good, ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour)}
	with := func(f func(*ocsp.Response)) ocsp.Response { r := good; f(&r); return r }
	serial := leaf.Cert.SerialNumber
	signer := ca.IssueOCSPSigner(t)
	notSigner := ca.Issue(t, []string{"not-a-responder.example.com"})
	expiredSigner := ca.IssueOCSPSigner(t, testpki.Validity(now.Add(-2*time.Hour), now.Add(-time.Hour)))
	foreignSigner := other.IssueOCSPSigner(t)
	return []responseCase{
		{name: "good, signed by the issuer", der: ca.OCSPResponse(t, serial, good, nil), status: ocsp.Good, nextUpd: good.NextUpdate},
		{name: "good, signed by a delegated responder",
			der: ca.OCSPResponse(t, serial, with(func(r *ocsp.Response) { r.Certificate = signer.Cert }), signer.Key), status: ocsp.Good},
		{name: "good, without NextUpdate", der: ca.OCSPResponse(t, serial, with(func(r *ocsp.Response) { r.NextUpdate = time.Time{} }), nil),
			status: ocsp.Good, nextUpd: good.ThisUpdate.Add(noNextLife)},
		{name: "revoked", der: ca.OCSPResponse(t, serial, with(func(r *ocsp.Response) {
			r.Status, r.RevokedAt, r.RevocationReason = ocsp.Revoked, now.Add(-time.Hour), ocsp.KeyCompromise
		}), nil), status: ocsp.Revoked},
		{name: "unknown", der: ca.OCSPResponse(t, serial, with(func(r *ocsp.Response) { r.Status = ocsp.Unknown }), nil), err: "does not know"},
		{name: "another serial", der: ca.OCSPResponse(t, new(big.Int).Add(serial, big.NewInt(1)), good, nil), err: "no response matching"},
		{name: "signed by another CA", der: other.OCSPResponse(t, serial, good, nil), err: "not signed by the issuer"},
		{name: "delegated responder without OCSP signing",
			der: ca.OCSPResponse(t, serial, with(func(r *ocsp.Response) { r.Certificate = notSigner.Cert }), notSigner.Key), err: "not for OCSP signing"},
		{name: "delegated responder expired",
			der: ca.OCSPResponse(t, serial, with(func(r *ocsp.Response) { r.Certificate = expiredSigner.Cert }), expiredSigner.Key), err: "not valid now"},
		{name: "delegated responder of another CA",
			der: ca.OCSPResponse(t, serial, with(func(r *ocsp.Response) { r.Certificate = foreignSigner.Cert }), foreignSigner.Key), err: "not issued by"},
		{name: "expired", der: ca.OCSPResponse(t, serial, with(func(r *ocsp.Response) {
			r.ThisUpdate, r.NextUpdate = now.Add(-2*time.Hour), now.Add(-time.Second)
		}), nil), err: "has expired"},
		{name: "ThisUpdate in the future", der: ca.OCSPResponse(t, serial, with(func(r *ocsp.Response) {
			r.ThisUpdate, r.NextUpdate = now.Add(time.Hour), now.Add(2*time.Hour)
		}), nil), err: "in the future"},
		{name: "NextUpdate before ThisUpdate", der: ca.OCSPResponse(t, serial, with(func(r *ocsp.Response) {
			r.NextUpdate = r.ThisUpdate.Add(-time.Second)
		}), nil), err: "not after"},
		{name: "try later", der: ocsp.TryLaterErrorResponse, err: "parsing"},
		{name: "garbage", der: []byte("<html>not OCSP</html>"), err: "parsing"},
		{name: "empty", der: nil, err: "parsing"},
	}
}

func TestVerifyResponse(t *testing.T) {
	ca := testpki.NewCA(t, "OCSP Test CA")
	leaf := ca.IssueWithOCSP(t, "http://127.0.0.1:1/", []string{"login.example.com"})
	now := time.Now()
	for _, tt := range responseCases(t, ca, leaf, now) {
		t.Run(tt.name, func(t *testing.T) {
			r, err := verifyResponse(tt.der, leaf.Cert, ca.Cert, now)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("err = %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if r.status != tt.status || !bytes.Equal(r.der, tt.der) {
				t.Errorf("status %d, want %d (or the DER differs)", r.status, tt.status)
			}
			if !tt.nextUpd.IsZero() && !r.nextUpdate.Equal(tt.nextUpd.Truncate(time.Second)) {
				t.Errorf("NextUpdate %v, want %v", r.nextUpdate, tt.nextUpd)
			}
		})
	}
}

// FuzzVerifyResponse feeds verifyResponse arbitrary responder answers,
// starting from the verification table: it never panics, and what it
// accepts is a Good or Revoked response that has not expired.
func FuzzVerifyResponse(f *testing.F) {
	ca := testpki.NewCA(f, "OCSP Test CA")
	leaf := ca.IssueWithOCSP(f, "http://127.0.0.1:1/", []string{"login.example.com"})
	now := time.Now()
	for _, tt := range responseCases(f, ca, leaf, now) {
		f.Add(tt.der)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		r, err := verifyResponse(der, leaf.Cert, ca.Cert, now)
		if err != nil {
			return
		}
		if r.status != ocsp.Good && r.status != ocsp.Revoked {
			t.Errorf("accepted status %d", r.status)
		}
		if !now.Before(r.nextUpdate) || !r.nextUpdate.After(r.thisUpdate) {
			t.Errorf("accepted a response valid from %v to %v at %v", r.thisUpdate, r.nextUpdate, now)
		}
		if !bytes.Equal(r.der, der) {
			t.Error("the stapled DER differs from the response")
		}
	})
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Minute, 2: 2 * time.Minute, 4: 8 * time.Minute, 7: time.Hour, 100: time.Hour} {
		got := backoff(n, time.Minute, time.Hour)
		if got > want || got < want-want/10 {
			t.Errorf("backoff(%d) = %v, want %v less at most a tenth", n, got, want)
		}
	}
}
