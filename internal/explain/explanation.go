package explain

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/httpcache"
	"github.com/portico-edge/portico/internal/origin"
	"github.com/portico-edge/portico/internal/snapshot"
)

// Explanation is what the edge does with one request: the answer of the
// explain endpoint, as JSON. Durations are whole seconds.
type Explanation struct {
	// URL and Method are the request explained.
	URL    string
	Method string
	// Revision is the store revision of the configuration the edge
	// serves, which the explanation follows. ConfigRevision is the one at
	// which the distribution's stored configuration last changed: when it
	// is greater, that change has not reached the edge yet (see Notes). It
	// is 0 when the distribution is no longer stored. (A change to a policy
	// the distribution uses does not change its revision.)
	Revision       int64
	ConfigRevision int64

	Distribution Distribution
	Behavior     Behavior
	// CachePolicy and OriginRequestPolicy are the policies the behaviour
	// names, nil for none; ForwardedValues is set instead when it uses
	// legacy settings.
	CachePolicy           *PolicyRef       `json:",omitempty"`
	OriginRequestPolicy   *PolicyRef       `json:",omitempty"`
	ResponseHeadersPolicy *PolicyRef       `json:",omitempty"`
	ForwardedValues       *ForwardedValues `json:",omitempty"`

	Key       Key
	Forwarded Forwarded
	TTL       TTL
	Cache     CacheState

	// Notes are what else the edge would do with the request that the
	// rest does not say: a redirect to HTTPS, a method not allowed, a
	// configuration still propagating.
	Notes []string `json:",omitempty"`
}

// Distribution is the distribution that serves the request's host.
type Distribution struct {
	ID         string
	DomainName string
	// MatchedName is the name the host matched: the distribution's domain
	// name, one of its aliases, or a wildcard alias; MatchedBy says which
	// ("domain name", "alias" or "wildcard alias").
	MatchedName string
	MatchedBy   string
}

// Behavior is the cache behaviour that the request's path selects.
type Behavior struct {
	// PathPattern is the behaviour's pattern, "*" for the default one.
	PathPattern string
	// Default is true for the default cache behaviour; otherwise Index is
	// the behaviour's position in CacheBehaviors (from 0), of Count.
	Default bool
	Index   int
	Count   int
	// TargetOriginID and OriginDomainName name its origin.
	TargetOriginID       string
	OriginDomainName     string
	ViewerProtocolPolicy string
	AllowedMethods       []string
	CachedMethods        []string
	Compress             bool
}

// PolicyRef names a policy.
type PolicyRef struct {
	ID      string
	Name    string
	Managed bool
}

// ForwardedValues are a behaviour's legacy cache settings.
type ForwardedValues struct {
	QueryString          bool
	QueryStringCacheKeys []string `json:",omitempty"`
	// Cookies is none, whitelist or all; CookieNames the whitelist.
	Cookies     string
	CookieNames []string `json:",omitempty"`
	Headers     []string `json:",omitempty"`
}

// Selection is how names are picked: Mode none, whitelist, allExcept or
// all, and the listed Names.
type Selection struct {
	Mode  string
	Names []string `json:",omitempty"`
}

func selection(s portico.Selection) Selection {
	return Selection{Mode: s.Mode.String(), Names: s.Names}
}

// Header is a header field with its values.
type Header struct {
	Name   string
	Values []string
}

// Key is the cache key of the request: what the behaviour keys on, and the
// values this request gives each part.
type Key struct {
	// Method is the method class in the key: GET (for GET and HEAD) or
	// OPTIONS.
	Method string
	// Host is the request's host, lower-cased; Path its path as sent,
	// escaped.
	Host string
	Path string
	// QueryStrings, Cookies and Headers are what the key selects;
	// Query, Cookie and HeaderValues what this request puts in it.
	QueryStrings Selection
	Query        string
	Cookies      Selection
	Cookie       string
	Headers      Selection
	HeaderValues []Header `json:",omitempty"`
	// AcceptEncoding says how Accept-Encoding is keyed: normalised to the
	// codings gzip and br, as NormalizedAcceptEncoding, or not.
	AcceptEncoding           AcceptEncoding
	NormalizedAcceptEncoding string
	// PurgePath is the path invalidations match this response by.
	PurgePath string
}

// AcceptEncoding is a cache policy's EnableAcceptEncoding settings.
type AcceptEncoding struct {
	Normalized bool
	Gzip       bool
	Brotli     bool
}

// Forwarded is what the origin is sent besides the path and the body: the
// selections of the behaviour (its origin request policy's, or legacy
// settings'), which include the key's, and what they select of this
// request.
type Forwarded struct {
	Headers           Selection
	CloudFrontHeaders []string `json:",omitempty"`
	Cookies           Selection
	QueryStrings      Selection
	// Query and Cookie are the query string and Cookie header the origin
	// receives for this request; HeaderNames the request's headers that
	// the selection forwards as sent (Portico never forwards client-IP
	// claims, hop-by-hop headers or CloudFront-* headers a viewer sends).
	Query       string
	Cookie      string
	HeaderNames []string `json:",omitempty"`
	// Host is the Host header the origin receives.
	Host string
}

// TTL is the behaviour's TTLs, in seconds: a response is fresh for its
// s-maxage, else max-age, else Expires, clamped to [Min, Max], or for
// Default when it says nothing.
type TTL struct {
	Min, Default, Max int64
}

// CacheState is what the cache holds for the request, and what it would
// do with it now.
type CacheState struct {
	// Result is what Cache-Status would say: "hit" for a fresh stored
	// response, else why the request would go to the origin: "bypass",
	// "uri-miss", "vary-miss" or "stale".
	Result string
	// Detail says why a request bypasses the cache ("policy", "method",
	// "authorization", "body" or "upgrade").
	Detail string `json:",omitempty"`
	// Variants is how many responses are stored in memory under the key;
	// OnDisk whether the disk tier holds any.
	Variants int
	OnDisk   bool
	// Stored is the stored response the request would get, nil if none.
	Stored *Stored `json:",omitempty"`
}

// Stored describes a stored response.
type Stored struct {
	Status   int
	StoredAt time.Time
	// Age is its current age; Lifetime the TTL that applied when it was
	// stored; TTL the freshness it has left, negative once stale.
	Age      int64
	Lifetime int64
	TTL      int64
	// SoftPurged is true when a soft purge marked it stale.
	SoftPurged           bool
	StaleWhileRevalidate int64
	StaleIfError         int64
	MustRevalidate       bool
	Tags                 []string `json:",omitempty"`
	// Vary lists the request fields it was selected by beyond the key,
	// with the values it was stored for.
	Vary            []Header `json:",omitempty"`
	ETag            string   `json:",omitempty"`
	LastModified    string   `json:",omitempty"`
	ContentEncoding string   `json:",omitempty"`
	BodyBytes       int
}

// explain builds the explanation of r, whose URL is rawURL, as the edge
// serving the snapshot at revision rev does it: m is how the snapshot
// matched r's host, and cache the cache the edge serves from.
func explain(m snapshot.Match, r *http.Request, rawURL string, rev int64, cache *httpcache.Cache) *Explanation {
	site := m.Site
	b := site.Behavior(r.URL.EscapedPath())
	cb, pol := b.Config, &b.Policy
	x := &Explanation{URL: rawURL, Method: r.Method, Revision: rev}
	x.Distribution = Distribution{ID: site.ID, DomainName: site.DomainName, MatchedName: m.Name, MatchedBy: matchedBy(m)}

	allowed, cached := cb.Methods()
	x.Behavior = Behavior{
		PathPattern:          b.PathPattern,
		Default:              b.Index < 0,
		Index:                b.Index,
		Count:                len(site.Behaviors()) - 1, // the default one aside
		TargetOriginID:       cb.TargetOriginID,
		OriginDomainName:     b.Origin.DomainName,
		ViewerProtocolPolicy: b.ViewerProtocolPolicy,
		AllowedMethods:       allowed,
		CachedMethods:        cached,
		Compress:             cb.Compress != nil && *cb.Compress,
	}
	x.CachePolicy = refTo(b.CachePolicy)
	x.OriginRequestPolicy = refTo(b.OriginRequestPolicy)
	x.ResponseHeadersPolicy = refTo(b.ResponseHeadersPolicy)
	if fv := cb.ForwardedValues; pol.Legacy && fv != nil {
		x.ForwardedValues = legacySettings(fv)
	}
	x.TTL = TTL{Min: pol.MinTTL, Default: pol.DefaultTTL, Max: pol.MaxTTL}
	x.Forwarded = forwarded(pol, r, b.Origin.DomainName)

	// The edge never uses the CloudFront-* headers a viewer sends: it
	// computes those the key names from the viewer's connection, which an
	// explanation does not have (see notes).
	for name := range r.Header {
		if origin.IsCloudFrontHeader(name) {
			delete(r.Header, name)
		}
	}
	p := cache.Peek(site.ID, cb, *pol, r)
	k := &p.Key
	x.Key = Key{
		Method:                   k.Method,
		Host:                     k.Host,
		Path:                     k.Path,
		QueryStrings:             selection(pol.Key.QueryStrings),
		Query:                    k.Query,
		Cookies:                  selection(pol.Key.Cookies),
		Cookie:                   k.Cookies,
		Headers:                  selection(pol.Key.Headers),
		AcceptEncoding:           AcceptEncoding{Normalized: k.NormalizedAcceptEncoding, Gzip: pol.Key.AcceptEncodingGzip, Brotli: pol.Key.AcceptEncodingBrotli},
		NormalizedAcceptEncoding: k.AcceptEncoding,
		PurgePath:                k.PurgePath,
	}
	for _, h := range k.Headers {
		x.Key.HeaderValues = append(x.Key.HeaderValues, Header(h))
	}
	x.Cache = CacheState{Result: p.Forward, Detail: p.Detail, Variants: p.Variants, OnDisk: p.OnDisk}
	if x.Cache.Result == "" {
		x.Cache.Result = "hit"
	}
	if s := p.Stored; s != nil {
		x.Cache.Stored = &Stored{
			Status:               s.Status,
			StoredAt:             s.Stored.UTC(),
			Age:                  seconds(s.Age),
			Lifetime:             seconds(s.Lifetime),
			TTL:                  seconds(s.TTL),
			SoftPurged:           s.SoftPurged,
			StaleWhileRevalidate: seconds(s.StaleWhileRevalidate),
			StaleIfError:         seconds(s.StaleIfError),
			MustRevalidate:       s.MustRevalidate,
			Tags:                 s.Tags,
			ETag:                 s.ETag,
			LastModified:         s.LastModified,
			ContentEncoding:      s.ContentEncoding,
			BodyBytes:            s.BodyBytes,
		}
		for _, v := range s.Vary {
			x.Cache.Stored.Vary = append(x.Cache.Stored.Vary, Header(v))
		}
	}
	return x
}

// seconds returns d in whole seconds, rounded towards zero.
func seconds(d time.Duration) int64 { return int64(d / time.Second) }

// matchedBy says which of its names a site was matched by.
func matchedBy(m snapshot.Match) string {
	switch {
	case m.Name == m.Site.DomainName:
		return "domain name"
	case strings.HasPrefix(m.Name, "*."):
		return "wildcard alias"
	}
	return "alias"
}

// refTo returns the explanation's reference to the policy p names, nil for
// none.
func refTo(p *snapshot.PolicyRef) *PolicyRef {
	if p == nil {
		return nil
	}
	return &PolicyRef{ID: p.ID, Name: p.Name, Managed: p.Managed}
}

// legacySettings describes a behaviour's legacy ForwardedValues.
func legacySettings(fv *portico.ForwardedValues) *ForwardedValues {
	l := &ForwardedValues{QueryString: fv.QueryString != nil && *fv.QueryString}
	if fv.QueryStringCacheKeys != nil {
		l.QueryStringCacheKeys = fv.QueryStringCacheKeys.Items
	}
	if fv.Cookies != nil {
		l.Cookies = fv.Cookies.Forward
		if fv.Cookies.WhitelistedNames != nil {
			l.CookieNames = fv.Cookies.WhitelistedNames.Items
		}
	}
	if fv.Headers != nil {
		l.Headers = fv.Headers.Items
	}
	return l
}

// forwarded describes what the origin is sent for r under pol, whose origin
// is originHost.
func forwarded(pol *portico.ResolvedPolicy, r *http.Request, originHost string) Forwarded {
	f := &pol.Forward
	out := Forwarded{
		Headers:           selection(f.Headers),
		CloudFrontHeaders: f.CloudFrontHeaders,
		Cookies:           selection(f.Cookies),
		QueryStrings:      selection(f.QueryStrings),
		Query:             string(origin.AppendQuery(nil, r.URL.RawQuery, f.QueryStrings)),
		Cookie:            string(origin.AppendCookies(nil, r.Header, f.Cookies)),
		Host:              originHost,
	}
	if f.Headers.Includes("Host") {
		out.Host = r.Host
	}
	for name := range r.Header {
		switch {
		case name == "Host" || origin.NeverForwarded(name):
			// (Cookie among them: the origin gets the Cookie above.)
		case name == "Accept-Encoding" && pol.Key.NormalizesAcceptEncoding():
			// Forwarded normalised, as the key holds it.
		case f.Headers.Includes(name):
			out.HeaderNames = append(out.HeaderNames, name)
		}
	}
	slices.Sort(out.HeaderNames)
	return out
}

// notes says what else the edge does with r, whose explanation is x.
func notes(x *Explanation, r *http.Request) []string {
	var out []string
	if r.URL.Scheme == "http" {
		switch x.Behavior.ViewerProtocolPolicy {
		case snapshot.RedirectToHTTPS:
			out = append(out, "Over HTTP the edge redirects this request to HTTPS (viewer protocol policy redirect-to-https); the rest applies to the HTTPS request.")
		case snapshot.HTTPSOnly:
			out = append(out, "Over HTTP the edge refuses this request with 403 (viewer protocol policy https-only); the rest applies to the HTTPS request.")
		}
	}
	var computed []string
	for _, h := range x.Key.HeaderValues {
		if origin.IsCloudFrontHeader(h.Name) {
			computed = append(computed, h.Name)
		}
	}
	if len(computed) > 0 {
		out = append(out, "The cache key holds "+strings.Join(computed, ", ")+
			", which the edge computes from the viewer's connection and device: this explanation takes them as absent.")
	}
	if !slices.Contains(x.Behavior.AllowedMethods, r.Method) {
		out = append(out, "The behavior does not allow "+r.Method+": the edge answers 403 without asking the origin.")
	}
	return out
}
