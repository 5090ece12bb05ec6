// Package certs chooses the certificate that the edge presents to a viewer
// from the TLS server name (SNI) the viewer sends: a certificate naming the
// server name exactly, else one whose wildcard name covers it, else the
// edge's own default certificate.
//
// An Index is built once per configuration snapshot, parsing each
// certificate and key once, and is immutable afterwards: GetCertificate
// takes no lock and does not allocate, so it can sit behind tls.Config for
// any number of handshakes. A certificate re-imported under the same ARN
// reaches viewers through the next snapshot's Index; connections already
// established keep the certificate they negotiated.
//
// An Index built WithStapler also staples OCSP responses to the
// certificates that name a responder: the Stapler, which outlives the
// Indexes, fetches and refreshes them in the background, and the Index
// presents a copy of the certificate carrying the current response.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/router"
)

// ErrNoCertificate is returned by GetCertificate when no certificate covers
// the server name and the Index has no default.
var ErrNoCertificate = errors.New("certs: no certificate for the server name")

// Index maps TLS server names to certificates.
type Index struct {
	names *router.Table[*served]
	def   *served
	n     int
}

// An Option changes how New builds an Index.
type Option func(*options)

type options struct {
	stapler *Stapler
}

// WithStapler makes the Index staple the OCSP responses that s fetches
// (see Stapler). A nil s staples nothing.
func WithStapler(s *Stapler) Option { return func(o *options) { o.stapler = s } }

// New parses the certificates and indexes them by the names they cover (see
// portico.Certificate.Names); def, which may be nil, is presented when none
// covers the server name. When two certificates cover the same name, the
// one that expires last is chosen, so a renewed certificate wins over the
// one it replaces.
//
// A certificate that does not parse, or a name that cannot be indexed, is
// left out; the returned error joins one error per part left out, naming
// the certificate by ARN and never quoting its key. The Index is usable
// either way.
func New(list []portico.Certificate, def *tls.Certificate, opts ...Option) (*Index, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var errs []error
	var tracked []*ocspEntry
	serve := func(c *tls.Certificate) *served {
		sv := &served{cert: c}
		if o.stapler != nil {
			if sv.ocsp = o.stapler.track(c); sv.ocsp != nil {
				sv.s = o.stapler
				tracked = append(tracked, sv.ocsp)
			}
		}
		return sv
	}
	best := make(map[string]*served)
	n := 0
	for i := range list {
		c := &list[i]
		kp, err := c.KeyPair()
		if err == nil && kp.Leaf == nil { // only with GODEBUG=x509keypairleaf=0
			kp.Leaf, err = x509.ParseCertificate(kp.Certificate[0])
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("certs: certificate %s: %w", c.ARN, err))
			continue
		}
		n++
		sv := serve(&kp)
		for _, name := range c.Names() {
			name = router.CanonicalHost(name)
			if cur, ok := best[name]; !ok || later(sv.cert, cur.cert) {
				best[name] = sv
			}
		}
	}
	names, err := router.NewTable(best)
	if err != nil {
		errs = append(errs, fmt.Errorf("certs: %w", err))
	}
	x := &Index{names: names, n: n}
	if def != nil {
		x.def = serve(def)
	}
	if len(tracked) > 0 {
		// The stapler refreshes a certificate while an Index holds it.
		runtime.AddCleanup(x, o.stapler.release, tracked)
	}
	return x, errors.Join(errs...)
}

// later reports whether a expires after b; of two that expire together, the
// one with the greater serial number, so that the choice does not depend on
// the order of the list.
func later(a, b *tls.Certificate) bool {
	if !a.Leaf.NotAfter.Equal(b.Leaf.NotAfter) {
		return a.Leaf.NotAfter.After(b.Leaf.NotAfter)
	}
	return a.Leaf.SerialNumber.Cmp(b.Leaf.SerialNumber) > 0
}

// Len returns the number of certificates in the index, not counting the
// default.
func (x *Index) Len() int { return x.n }

// Certificate returns the certificate for a server name: exact name, then
// wildcard, then the default, which may be nil. Case, a trailing dot and a
// port are ignored. It does not allocate, except once per new OCSP staple
// (for the stapled copy).
func (x *Index) Certificate(serverName string) *tls.Certificate {
	if sv, ok := x.names.Lookup(serverName); ok {
		return sv.current()
	}
	if x.def != nil {
		return x.def.current()
	}
	return nil
}

// GetCertificate returns the certificate for the handshake's server name; a
// handshake without one gets the default. It has the signature of
// tls.Config.GetCertificate and returns ErrNoCertificate when there is
// nothing to present.
func (x *Index) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := x.Certificate(hello.ServerName); c != nil {
		return c, nil
	}
	return nil, ErrNoCertificate
}
