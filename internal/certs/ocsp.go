package certs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ocsp"
)

// OCSP stapling defaults (see Stapler).
const (
	// FetchTimeout bounds one request to an OCSP responder, connection
	// included.
	FetchTimeout = 5 * time.Second
	// MaxResponseBytes bounds an OCSP response. A response is some
	// hundreds of bytes, or a few KiB with a delegated responder's
	// certificate.
	MaxResponseBytes = 64 << 10

	minRefresh = time.Minute     // never refresh more often
	maxRefresh = 24 * time.Hour  // nor less often
	retryMin   = time.Minute     // the first retry after a failure
	retryMax   = time.Hour       // the longest pause between retries
	clockSkew  = 5 * time.Minute // allowed between the responder's clock and ours
	noNextLife = time.Hour       // how long a response without NextUpdate is stapled

	// maxFetches bounds the requests to responders in flight at once, and
	// firstFetchSpread spreads the first requests for the certificates
	// that are tracked together (at start-up, thousands of them) over up
	// to that long, so that neither the responders nor the edge's file
	// descriptors see a burst.
	maxFetches       = 8
	firstFetchSpread = time.Minute
)

// Stapler staples OCSP responses (RFC 6960) to the certificates of the
// Indexes built with WithStapler, so that viewers need not ask the
// certificate authority whether a certificate is revoked.
//
// A certificate is stapled when it names an http:// OCSP responder and its
// chain holds its issuer. The stapler asks the responder as soon as an
// Index holding the certificate is built, and again at about half of each
// response's validity (between a minute and a day), with exponential
// backoff from a minute to an hour when the responder fails. A response is
// stapled only once verified: signed by the issuer, or by a responder the
// issuer delegated (its certificate issued by the issuer, valid, for OCSP
// signing), about the certificate's serial number, with the status Good,
// issued no later than five minutes from now and not expired (one without
// NextUpdate counts as valid for an hour after its ThisUpdate). A Revoked
// answer is logged as a warning and removes the staple; a staple is
// dropped once it expires, and never served past its NextUpdate. A
// handshake never waits for a responder: until a verified response is
// there, the certificate is served without a staple.
//
// Responses are kept per certificate and issuer, across Indexes: a
// configuration change that keeps a certificate keeps its staple, a
// re-imported certificate (a new serial number) gets its own, and a
// certificate that no Index holds any more is forgotten once those Indexes
// are garbage.
//
// The responder's URL comes from a certificate the account's owner
// imported, and the edge sends the request from its own network: whoever
// can import certificates can make the edge POST a DER OCSP request, over
// plain HTTP only, to an address of their choosing, such as one on the
// edge's private network (server-side request forgery). So the stapler
// takes only http:// URLs, follows no redirects, reads at most
// MaxResponseBytes, gives up after FetchTimeout, never logs or returns the
// body it receives (only a status or an error), and asks about each
// certificate about once a minute at most. An operator who needs to
// confine it further sets Client (a Transport whose DialContext refuses
// private addresses, say).
//
// The zero Stapler is ready to use. Close stops it.
type Stapler struct {
	// Client sends the OCSP requests. Nil means a client with
	// FetchTimeout, the environment's proxy settings and no redirects.
	Client *http.Client
	// Log receives the stapler's events: failures and revocations as
	// warnings, new staples at debug level. Nil discards them. Lines name
	// the certificate by its DNS names and serial number.
	Log *slog.Logger

	// Tunables: zero means the constant of the same name (FetchTimeout
	// for fetchTimeout). Tests set them.
	minRefresh, maxRefresh, retryMin, retryMax, fetchTimeout time.Duration
	// now returns the current time; nil means time.Now. Tests set it.
	now func() time.Time

	initOnce sync.Once
	ctx      context.Context // done once Close is called
	cancel   context.CancelFunc
	client   *http.Client
	fetches  sync.WaitGroup
	slots    chan struct{} // one per request in flight: maxFetches

	mu      sync.Mutex
	entries map[[sha256.Size]byte]*ocspEntry
	closed  bool
}

// ocspEntry is the stapling state of one certificate, with its issuer.
type ocspEntry struct {
	key          [sha256.Size]byte
	leaf, issuer *x509.Certificate
	url          string
	request      []byte // DER OCSP request
	resp         atomic.Pointer[ocspResponse]

	// Guarded by Stapler.mu.
	refs     int // Indexes holding the certificate
	timer    *time.Timer
	failures int
}

// ocspResponse is a verified OCSP response.
type ocspResponse struct {
	der                    []byte
	status                 int // ocsp.Good or ocsp.Revoked
	thisUpdate, nextUpdate time.Time
	revokedAt              time.Time
	reason                 int
}

func (s *Stapler) init() {
	s.initOnce.Do(func() {
		s.ctx, s.cancel = context.WithCancel(context.Background())
		s.entries = make(map[[sha256.Size]byte]*ocspEntry)
		s.slots = make(chan struct{}, maxFetches)
		s.client = s.Client
		if s.client == nil {
			s.client = newOCSPClient()
		}
	})
}

// newOCSPClient returns the default client: FetchTimeout, the
// environment's proxy, no redirects, no connection reuse (a responder is
// asked a few times a day per certificate).
func newOCSPClient() *http.Client {
	return &http.Client{
		Timeout: FetchTimeout,
		Transport: &http.Transport{
			Proxy:                  http.ProxyFromEnvironment,
			DialContext:            (&net.Dialer{Timeout: FetchTimeout}).DialContext,
			ResponseHeaderTimeout:  FetchTimeout,
			MaxResponseHeaderBytes: 16 << 10,
			DisableKeepAlives:      true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (s *Stapler) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

func (s *Stapler) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Close stops the refreshes and waits for the requests in flight to end.
// Indexes built with the stapler keep serving the staples they have until
// these expire.
func (s *Stapler) Close() error {
	s.init()
	s.mu.Lock()
	s.closed = true
	for _, e := range s.entries {
		if e.timer != nil {
			e.timer.Stop()
		}
	}
	s.mu.Unlock()
	s.cancel()
	s.fetches.Wait()
	return nil
}

// track returns the stapling state of cert, creating it (and asking the
// responder at once) when no Index holds cert yet, or nil when cert is
// not stapled: no http:// OCSP responder, no issuer in its chain, or the
// stapler is closed. Each non-nil result must be given back to release.
func (s *Stapler) track(cert *tls.Certificate) *ocspEntry {
	s.init()
	leaf := cert.Leaf
	if leaf == nil || len(leaf.OCSPServer) == 0 {
		return nil
	}
	if len(cert.Certificate) < 2 {
		s.logger().Debug("certs: not stapling OCSP: the chain does not hold the issuer",
			"names", leaf.DNSNames, "serial", leaf.SerialNumber.String())
		return nil
	}
	h := sha256.New()
	h.Write(cert.Certificate[0])
	h.Write(cert.Certificate[1])
	var key [sha256.Size]byte
	h.Sum(key[:0])

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if e, ok := s.entries[key]; ok {
		e.refs++
		return e
	}
	e, err := newEntry(key, leaf, cert.Certificate[1])
	if err != nil {
		s.logger().Debug("certs: not stapling OCSP", "names", leaf.DNSNames, "serial", leaf.SerialNumber.String(), "err", err)
		return nil
	}
	e.refs = 1
	s.entries[key] = e
	// The first request at once for a lone certificate; spread out, by
	// about 10 ms a certificate, when many are tracked together.
	s.schedule(e, rand.N(min(time.Duration(len(s.entries))*10*time.Millisecond, firstFetchSpread)))
	return e
}

// newEntry checks that the certificate can be stapled and prepares its
// OCSP request.
func newEntry(key [sha256.Size]byte, leaf *x509.Certificate, issuerDER []byte) (*ocspEntry, error) {
	var responder string
	for _, u := range leaf.OCSPServer {
		if p, err := url.Parse(u); err == nil && p.Scheme == "http" && p.Host != "" {
			responder = u
			break
		}
	}
	if responder == "" {
		return nil, fmt.Errorf("no http:// OCSP responder in %q", leaf.OCSPServer)
	}
	issuer, err := x509.ParseCertificate(issuerDER)
	if err != nil {
		return nil, fmt.Errorf("the chain's first certificate: %w", err)
	}
	if err := leaf.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("the chain's first certificate is not the issuer: %w", err)
	}
	req, err := ocsp.CreateRequest(leaf, issuer, nil)
	if err != nil {
		return nil, fmt.Errorf("making the OCSP request: %w", err)
	}
	return &ocspEntry{key: key, leaf: leaf, issuer: issuer, url: responder, request: req}, nil
}

// release gives back what track returned for an Index that is gone: a
// certificate that no Index holds any more is no longer refreshed.
func (s *Stapler) release(entries []*ocspEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		if e.refs--; e.refs > 0 {
			continue
		}
		if e.timer != nil {
			e.timer.Stop()
		}
		if s.entries[e.key] == e {
			delete(s.entries, e.key)
		}
	}
}

// schedule refreshes e after d. s.mu must be held.
func (s *Stapler) schedule(e *ocspEntry, d time.Duration) {
	if s.closed || e.refs == 0 {
		return
	}
	if e.timer != nil {
		e.timer.Stop()
	}
	e.timer = time.AfterFunc(d, func() { s.refresh(e) })
}

// refresh asks e's responder, staples or drops what it answers, and
// schedules the next refresh.
func (s *Stapler) refresh(e *ocspEntry) {
	s.mu.Lock()
	if s.closed || e.refs == 0 {
		s.mu.Unlock()
		return
	}
	s.fetches.Add(1)
	s.mu.Unlock()
	defer s.fetches.Done()
	select {
	case s.slots <- struct{}{}:
	case <-s.ctx.Done():
		return
	}
	r, err := s.fetch(e)
	<-s.slots
	now := s.clock()
	log := s.logger().With("names", e.leaf.DNSNames, "serial", e.leaf.SerialNumber.String(), "responder", e.url)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || e.refs == 0 {
		return
	}
	var next time.Duration
	switch {
	case err == nil && r.status == ocsp.Good:
		e.resp.Store(r)
		e.failures = 0
		next = refreshDelay(r, now, or(s.minRefresh, minRefresh), or(s.maxRefresh, maxRefresh))
		log.Debug("certs: OCSP response stapled", "this_update", r.thisUpdate, "next_update", r.nextUpdate, "refresh_in", next)
	case err == nil: // Revoked
		e.resp.Store(nil)
		e.failures = 0
		next = or(s.maxRefresh, maxRefresh)
		log.Warn("certs: the certificate is revoked; its OCSP response is not stapled",
			"revoked_at", r.revokedAt.UTC().Format(time.RFC3339), "reason", r.reason)
	default:
		e.failures++
		next = backoff(e.failures, or(s.retryMin, retryMin), or(s.retryMax, retryMax))
		if cur := e.resp.Load(); cur != nil {
			if left := cur.nextUpdate.Sub(now); left <= 0 {
				e.resp.Store(nil) // expired: drop it
			} else if left < next {
				next = left // come back to drop it, or replace it
			}
		}
		log.Warn("certs: OCSP request failed", "attempt", e.failures, "retry_in", next.Round(time.Second), "stapled", e.resp.Load() != nil, "err", err)
	}
	s.schedule(e, next)
}

// refreshDelay returns when to refresh r: at half of its validity, within
// [lo, hi] from now.
func refreshDelay(r *ocspResponse, now time.Time, lo, hi time.Duration) time.Duration {
	at := r.thisUpdate.Add(r.nextUpdate.Sub(r.thisUpdate) / 2)
	return min(max(at.Sub(now), lo), hi)
}

// backoff returns the pause before retry n (from 1): lo doubled n-1 times,
// at most hi, less up to a tenth at random so that certificates sharing a
// failing responder spread their retries.
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d - rand.N(d/10+1)
}

// fetch asks e's responder and verifies the answer.
func (s *Stapler) fetch(e *ocspEntry) (*ocspResponse, error) {
	ctx, cancel := context.WithTimeout(s.ctx, or(s.fetchTimeout, FetchTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(e.request))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/ocsp-request")
	req.Header.Set("Accept", "application/ocsp-response")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the responder answered %s", resp.Status)
	}
	der, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the response: %w", err)
	}
	if len(der) > MaxResponseBytes {
		return nil, fmt.Errorf("the response is over %d bytes", MaxResponseBytes)
	}
	return verifyResponse(der, e.leaf, e.issuer, s.clock())
}

// Reasons verifyResponse refuses a response.
var (
	errStatusUnknown = errors.New("the responder does not know the certificate")
	errExpired       = errors.New("the response has expired")
)

// verifyResponse parses an OCSP response about leaf and checks that it
// can be stapled at now: see Stapler. A Revoked response is returned
// without error, for the caller to act on; every other status is an
// error.
func verifyResponse(der []byte, leaf, issuer *x509.Certificate, now time.Time) (*ocspResponse, error) {
	// Without an issuer, ParseResponseForCert checks the signature only
	// when the response carries the signer's certificate; the rest is
	// checked here.
	r, err := ocsp.ParseResponseForCert(der, leaf, nil)
	if err != nil {
		return nil, fmt.Errorf("parsing the response: %w", err)
	}
	switch {
	case r.Certificate == nil:
		if err := r.CheckSignatureFrom(issuer); err != nil {
			return nil, fmt.Errorf("the response is not signed by the issuer: %w", err)
		}
	case r.Certificate.Equal(issuer):
		// Signed by the issuer, which it carries (checked by
		// ParseResponseForCert).
	default:
		// A delegated responder (RFC 6960 §4.2.2.2).
		d := r.Certificate
		switch {
		case d.CheckSignatureFrom(issuer) != nil:
			return nil, errors.New("the responder's certificate is not issued by the certificate's issuer")
		case !slices.Contains(d.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning):
			return nil, errors.New("the responder's certificate is not for OCSP signing")
		case now.Before(d.NotBefore) || now.After(d.NotAfter):
			return nil, errors.New("the responder's certificate is not valid now")
		}
	}
	if r.SerialNumber == nil || r.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		return nil, errors.New("the response is about another serial number")
	}
	next := r.NextUpdate
	if next.IsZero() {
		next = r.ThisUpdate.Add(noNextLife)
	}
	switch {
	case r.ThisUpdate.IsZero() || r.ThisUpdate.After(now.Add(clockSkew)):
		return nil, fmt.Errorf("the response's ThisUpdate, %v, is in the future", r.ThisUpdate)
	case !next.After(r.ThisUpdate):
		return nil, fmt.Errorf("the response's NextUpdate, %v, is not after its ThisUpdate", next)
	case !now.Before(next):
		return nil, fmt.Errorf("%w (NextUpdate %v)", errExpired, next)
	}
	out := &ocspResponse{der: der, status: r.Status, thisUpdate: r.ThisUpdate, nextUpdate: next}
	switch r.Status {
	case ocsp.Good:
	case ocsp.Revoked:
		out.revokedAt, out.reason = r.RevokedAt, r.RevocationReason
	default:
		return nil, errStatusUnknown
	}
	return out, nil
}

// served is one certificate of an Index and, when it is stapled, its
// stapled copy.
type served struct {
	cert    *tls.Certificate
	ocsp    *ocspEntry // nil: not stapled
	s       *Stapler
	stapled atomic.Pointer[stapledCert]
}

// stapledCert is a copy of a certificate carrying resp.
type stapledCert struct {
	resp *ocspResponse
	cert *tls.Certificate
}

// current returns the certificate to present: a copy carrying the current
// staple when there is an unexpired one, else the certificate itself. The
// copy is made once per staple, so current allocates only when the staple
// changes; the shared certificate is never written.
func (sv *served) current() *tls.Certificate {
	e := sv.ocsp
	if e == nil {
		return sv.cert
	}
	r := e.resp.Load()
	if r == nil || !sv.s.clock().Before(r.nextUpdate) {
		return sv.cert
	}
	if st := sv.stapled.Load(); st != nil && st.resp == r {
		return st.cert
	}
	c := *sv.cert
	c.OCSPStaple = r.der
	sv.stapled.Store(&stapledCert{resp: r, cert: &c})
	return &c
}
