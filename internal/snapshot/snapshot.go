// Package snapshot compiles one revision of the stored configuration into
// what the edge serves: a host table of the enabled distributions, each
// with its ordered cache behaviours and their handler chains, and the
// index of the viewer certificates they use.
//
// A behaviour's chain is, from the viewer in:
//
//	respheaders   the behaviour's response headers policy, if any
//	errpage       the distribution's custom error pages, if any: an error
//	              response is replaced by a page fetched through the
//	              page's own behaviour, from its cache key onwards
//	httpcache     the cache, which keys the CloudFront-* headers its key
//	              names on the values the edge computes
//	              (httpcache.WithViewerHeaders)
//	origin        the origin proxy
//
// Besides the handlers, a snapshot keeps what they were compiled from (the
// matched names, the cache behaviours, their resolved policies), so that
// `portico cache explain` describes exactly what the edge serves.
//
// A Snapshot is immutable. The Watcher builds a new one for every store
// revision away from the request path and publishes it through an
// atomic.Pointer, so a request loads the pointer once and sees one
// consistent configuration from start to end, without locks.
package snapshot

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/certs"
	"github.com/portico-edge/portico/internal/errpage"
	"github.com/portico-edge/portico/internal/httpcache"
	"github.com/portico-edge/portico/internal/origin"
	"github.com/portico-edge/portico/internal/respheaders"
	"github.com/portico-edge/portico/internal/router"
)

// Deps are the long-lived parts that every snapshot shares, so that origin
// connections and cached objects survive configuration changes.
type Deps struct {
	// Transports holds the origin connection pools.
	Transports *origin.Transports
	// Cache stores responses, scoped by distribution ID.
	Cache *httpcache.Cache
	// DefaultCertificate is the edge's own certificate (for
	// *.<edge-domain>), presented when no imported certificate covers the
	// viewer's server name. It may be nil.
	DefaultCertificate *tls.Certificate
	// Stapler, if set, staples OCSP responses to the certificates served
	// (those with an OCSP responder whose issuer is in their chain).
	Stapler *certs.Stapler
	// Log receives the origin proxies' logs; nil discards them.
	Log *slog.Logger
}

func (d *Deps) check() error {
	switch {
	case d.Transports == nil:
		return errors.New("snapshot: Deps.Transports is nil")
	case d.Cache == nil:
		return errors.New("snapshot: Deps.Cache is nil")
	}
	return nil
}

// Snapshot is the compiled configuration of one store revision.
type Snapshot struct {
	rev     int64
	sites   *router.Table[Match]
	certs   *certs.Index
	skipped []error
}

// Match is how a host name reaches a site.
type Match struct {
	Site *Site
	// Name is the site's name that the host matched, canonical: the
	// distribution's domain name, one of its aliases, or the wildcard
	// alias ("*.example.com") that covers the host.
	Name string
}

// Site is one enabled distribution as the edge serves it.
type Site struct {
	// ID is the distribution ID, which also scopes its cached objects.
	ID string
	// DomainName is the distribution's own name, <id>.<edge-domain>,
	// lower-case.
	DomainName string

	behaviors *router.Paths[*Behavior]
	// ordered are the behaviours in the order of the configuration:
	// CacheBehaviors, then the default one.
	ordered []*Behavior
}

// Behavior is one compiled cache behaviour. Its fields must not be
// changed.
type Behavior struct {
	// PathPattern is the behaviour's pattern; "*" for the default one.
	PathPattern string
	// Index is the behaviour's position in the distribution's
	// CacheBehaviors, from 0; -1 for the default cache behaviour.
	Index int
	// ViewerProtocolPolicy is allow-all, https-only or redirect-to-https.
	ViewerProtocolPolicy string
	// Config is the cache behaviour as configured, and Origin the origin
	// it forwards to.
	Config *portico.CacheBehavior
	Origin *portico.Origin
	// Policy is what the behaviour keys its cache on and forwards, and its
	// TTLs, resolved from its policies or legacy settings.
	Policy portico.ResolvedPolicy
	// CachePolicy, OriginRequestPolicy and ResponseHeadersPolicy are the
	// policies it names; nil for none.
	CachePolicy, OriginRequestPolicy, ResponseHeadersPolicy *PolicyRef
	// Handler serves the requests the behaviour accepts: the cache in front
	// of the origin proxy, inside the distribution's custom error pages
	// and the behaviour's response headers policy if it names one, so that
	// hits and error pages get the policy's headers too.
	Handler http.Handler

	// page serves the distribution's custom error pages whose path the
	// behaviour's pattern matches: Handler without the response headers
	// policy and the custom error pages, so that an error page is cached
	// like any object and an error on the way to it is never replaced.
	page    http.Handler
	allowed []string
}

// PolicyRef names a policy that a cache behaviour uses.
type PolicyRef struct {
	ID   string
	Name string
	// Managed is true for one of AWS's managed policies.
	Managed bool
}

// Allows reports whether the behaviour accepts the method. Methods are
// case-sensitive, so "get" is not GET.
func (b *Behavior) Allows(method string) bool { return slices.Contains(b.allowed, method) }

// Viewer protocol policies.
const (
	AllowAll        = "allow-all"
	HTTPSOnly       = "https-only"
	RedirectToHTTPS = "redirect-to-https"
)

// Rev returns the store revision the snapshot was built from.
func (s *Snapshot) Rev() int64 { return s.rev }

// Site returns the site serving host, a Host header or TLS server name in
// any case, with or without port and trailing dot: the distribution with
// that alias or domain name exactly, else the one with the wildcard alias
// covering it. It does not allocate.
func (s *Snapshot) Site(host string) (*Site, bool) {
	m, ok := s.sites.Lookup(host)
	return m.Site, ok
}

// Match returns the site serving host, as Site does, and the name of the
// site that host matched. It does not allocate.
func (s *Snapshot) Match(host string) (Match, bool) { return s.sites.Lookup(host) }

// Lookup answers the DNS server's question about a name (lower-case,
// without a trailing dot): ok with target "" when name is a distribution's
// own domain name, ok with target set to the distribution's domain name when
// name is one of its aliases (exactly, else through its wildcard alias).
// Disabled distributions have no names.
func (s *Snapshot) Lookup(name string) (target string, ok bool) {
	m, ok := s.sites.Lookup(name)
	if !ok {
		return "", false
	}
	if m.Name == m.Site.DomainName {
		return "", true
	}
	return m.Site.DomainName, true
}

// GetCertificate returns the certificate for a TLS handshake: see
// certs.Index.GetCertificate.
func (s *Snapshot) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.certs.GetCertificate(hello)
}

// Skipped returns the parts of the configuration that Build left out and
// why: distributions that could not be compiled, names claimed twice,
// certificates that did not parse. Everything else is served.
func (s *Snapshot) Skipped() []error { return s.skipped }

// Behavior returns the cache behaviour for a request path (as the viewer
// sent it, without the query): the first whose pattern matches, else the
// default. It does not allocate.
func (s *Site) Behavior(path string) *Behavior { return s.behaviors.Lookup(path) }

// Behaviors returns the site's cache behaviours in the order of its
// configuration: its CacheBehaviors, then the default one. The slice must
// not be changed.
func (s *Site) Behaviors() []*Behavior { return s.ordered }

// Build compiles st. Disabled distributions are left out: a disabled
// distribution stops serving. A distribution that cannot be compiled is
// left out too, and the others are served; so is a certificate that does
// not parse. Those problems are listed by Skipped, never with secrets.
// Build fails only when st is nil or deps lack a part. The snapshot keeps
// references into st, which must not be changed afterwards.
func Build(st *portico.State, deps Deps) (*Snapshot, error) {
	if st == nil {
		return nil, errors.New("snapshot: no state")
	}
	if err := deps.check(); err != nil {
		return nil, err
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	snap := &Snapshot{rev: st.Rev}
	skip := func(err error) { snap.skipped = append(snap.skipped, err) }

	pols := newPolicies(st)
	sites := make(map[string]Match)
	owner := make(map[string]string) // canonical name → distribution ID
	usedCerts := make(map[string]string)
	for i := range st.Distributions {
		d := &st.Distributions[i]
		if !d.Config.IsEnabled() {
			continue
		}
		site, err := buildSite(d, pols, deps, skip, log.With("distribution", d.ID))
		if err != nil {
			skip(fmt.Errorf("snapshot: distribution %s: %w", d.ID, err))
			continue
		}
		for _, name := range append([]string{d.DomainName}, d.Config.AliasList()...) {
			name = router.CanonicalHost(name)
			if name == "" {
				continue
			}
			if other, taken := owner[name]; taken {
				skip(fmt.Errorf("snapshot: distribution %s: name %s is already served by distribution %s", d.ID, name, other))
				continue
			}
			owner[name] = d.ID
			sites[name] = Match{Site: site, Name: name}
		}
		if arn := d.Config.CertificateARN(); arn != "" {
			usedCerts[arn] = d.ID
		}
	}
	var err error
	if snap.sites, err = router.NewTable(sites); err != nil {
		skip(fmt.Errorf("snapshot: %w", err))
	}

	// Index only the certificates that an enabled distribution uses.
	var list []portico.Certificate
	for _, c := range st.Certificates {
		if _, used := usedCerts[c.ARN]; used {
			list = append(list, c)
			delete(usedCerts, c.ARN)
		}
	}
	for arn, id := range usedCerts {
		skip(fmt.Errorf("snapshot: distribution %s: certificate %s does not exist; viewers get the default certificate", id, arn))
	}
	if snap.certs, err = certs.New(list, deps.DefaultCertificate, certs.WithStapler(deps.Stapler)); err != nil {
		skip(fmt.Errorf("snapshot: %w", err))
	}
	return snap, nil
}

// buildSite compiles one distribution's behaviours. Parts of it that are
// left out while the rest is served are reported to skip.
func buildSite(d *portico.Distribution, pols *policies, deps Deps, skip func(error), log *slog.Logger) (*Site, error) {
	cfg := &d.Config
	if cfg.DefaultCacheBehavior == nil {
		return nil, errors.New("no default cache behavior")
	}
	errorPages, err := errpage.Compile(cfg.CustomErrorResponses)
	if err != nil {
		skip(fmt.Errorf("snapshot: distribution %s: %w", d.ID, err))
	}
	// The behaviours, by path, once they are all built: an error page is
	// fetched through the behaviour that matches its path.
	var paths *router.Paths[*Behavior]
	pageHandler := func(path string) http.Handler { return paths.Lookup(path).page }

	var (
		routes  []router.PathRoute[*Behavior]
		ordered []*Behavior
	)
	for i, cb := range cfg.Behaviors() {
		pattern, index := "*", i
		if cb == cfg.DefaultCacheBehavior {
			index = -1
		} else if cb.PathPattern != nil {
			pattern = *cb.PathPattern
		}
		o := cfg.Origin(cb.TargetOriginID)
		if o == nil {
			return nil, fmt.Errorf("cache behavior %q: no origin %q", pattern, cb.TargetOriginID)
		}
		pol, refs, err := pols.resolve(cb)
		if err != nil {
			return nil, fmt.Errorf("cache behavior %q: %w", pattern, err)
		}
		proxy, err := origin.New(o, cb, pol, deps.Transports, log)
		if err != nil {
			return nil, fmt.Errorf("cache behavior %q: origin %q: %w", pattern, o.ID, err)
		}
		headers, err := pols.responseHeaders(cb, &refs)
		if err != nil {
			return nil, fmt.Errorf("cache behavior %q: %w", pattern, err)
		}
		allowed, _ := cb.Methods()
		page := deps.Cache.Handler(d.ID, cb, pol, proxy,
			httpcache.WithCustomErrorResponses(cfg.CustomErrorResponses), httpcache.WithViewerHeaders())
		b := &Behavior{
			PathPattern:           pattern,
			Index:                 index,
			ViewerProtocolPolicy:  cb.ViewerProtocolPolicy,
			Config:                cb,
			Origin:                o,
			Policy:                pol,
			CachePolicy:           refs.cache,
			OriginRequestPolicy:   refs.origin,
			ResponseHeadersPolicy: refs.headers,
			Handler:               respheaders.Wrap(headers, errorPages.Wrap(page, pageHandler)),
			page:                  page,
			allowed:               slices.Clone(allowed),
		}
		ordered = append(ordered, b)
		if index >= 0 {
			routes = append(routes, router.PathRoute[*Behavior]{Pattern: pattern, Value: b})
		}
	}
	paths = router.NewPaths(routes, ordered[len(ordered)-1])
	return &Site{
		ID:         d.ID,
		DomainName: router.CanonicalHost(d.DomainName),
		behaviors:  paths,
		ordered:    ordered,
	}, nil
}

// policies finds the cache, origin request and response headers policies
// that cache behaviours name: the custom ones of a State, else AWS's
// managed ones.
type policies struct {
	cache   map[string]*portico.CachePolicy
	origin  map[string]*portico.OriginRequestPolicy
	headers map[string]*portico.ResponseHeadersPolicy
	// compiled holds the response headers policies compiled so far, so
	// that behaviours naming the same one share it.
	compiled map[string]*respheaders.Policy
}

func newPolicies(st *portico.State) *policies {
	p := &policies{
		cache:    make(map[string]*portico.CachePolicy),
		origin:   make(map[string]*portico.OriginRequestPolicy),
		headers:  make(map[string]*portico.ResponseHeadersPolicy),
		compiled: make(map[string]*respheaders.Policy),
	}
	// Managed first, so that a custom policy would win a (never expected)
	// clash of IDs.
	index(p.cache, portico.ManagedCachePolicies())
	index(p.origin, portico.ManagedOriginRequestPolicies())
	index(p.headers, portico.ManagedResponseHeadersPolicies())
	index(p.cache, st.CachePolicies)
	index(p.origin, st.OriginRequestPolicies)
	index(p.headers, st.ResponseHeadersPolicies)
	return p
}

// index adds the policies of list to m by ID.
func index[C any](m map[string]*portico.Policy[C], list []portico.Policy[C]) {
	for i := range list {
		m[list[i].ID] = &list[i]
	}
}

// policyRefs are the policies a cache behaviour names.
type policyRefs struct {
	cache, origin, headers *PolicyRef
}

func refOf[C any](p *portico.Policy[C], name string) *PolicyRef {
	return &PolicyRef{ID: p.ID, Name: name, Managed: p.Managed}
}

// responseHeaders returns the compiled response headers policy that cache
// behaviour b names, nil if it names none, or why it cannot be served. It
// records the policy in refs.
func (p *policies) responseHeaders(b *portico.CacheBehavior, refs *policyRefs) (*respheaders.Policy, error) {
	id := deref(b.ResponseHeadersPolicyID)
	if id == "" {
		return nil, nil
	}
	hp := p.headers[id]
	if hp == nil {
		return nil, fmt.Errorf("no response headers policy %q", id)
	}
	refs.headers = refOf(hp, hp.Config.Name)
	if c, ok := p.compiled[id]; ok {
		return c, nil
	}
	c, err := respheaders.Compile(&hp.Config)
	if err != nil {
		return nil, fmt.Errorf("response headers policy %q: %w", id, err)
	}
	p.compiled[id] = c
	return c, nil
}

// resolve returns what cache behaviour b keys its cache on and forwards,
// through the cache and origin request policies it names, which it
// returns too, or why it cannot be served.
func (p *policies) resolve(b *portico.CacheBehavior) (portico.ResolvedPolicy, policyRefs, error) {
	var (
		refs   policyRefs
		cache  *portico.CachePolicyConfig
		origin *portico.OriginRequestPolicyConfig
	)
	if id := deref(b.CachePolicyID); id != "" {
		cp := p.cache[id]
		if cp == nil {
			return portico.ResolvedPolicy{}, refs, fmt.Errorf("no cache policy %q", id)
		}
		cache, refs.cache = &cp.Config, refOf(cp, cp.Config.Name)
	}
	if id := deref(b.OriginRequestPolicyID); id != "" {
		op := p.origin[id]
		if op == nil {
			return portico.ResolvedPolicy{}, refs, fmt.Errorf("no origin request policy %q", id)
		}
		origin, refs.origin = &op.Config, refOf(op, op.Config.Name)
	}
	pol, err := portico.ResolveBehavior(b, cache, origin)
	if err != nil {
		return portico.ResolvedPolicy{}, refs, fmt.Errorf("resolving its policies: %w", err)
	}
	return pol, refs, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
