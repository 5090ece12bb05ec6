package portico

import (
	"encoding/xml"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// DistributionConfig is CloudFront's DistributionConfig element. Optional
// scalars are pointers so that an element the client left out stays out when
// the configuration is returned; elements Portico does not model are kept in
// Extra.
type DistributionConfig struct {
	XMLName              xml.Name              `xml:"DistributionConfig"`
	CallerReference      string                `xml:"CallerReference"`
	Aliases              *Aliases              `xml:"Aliases,omitempty"`
	DefaultRootObject    *string               `xml:"DefaultRootObject,omitempty"`
	Origins              *Origins              `xml:"Origins,omitempty"`
	DefaultCacheBehavior *CacheBehavior        `xml:"DefaultCacheBehavior,omitempty"`
	CacheBehaviors       *CacheBehaviors       `xml:"CacheBehaviors,omitempty"`
	CustomErrorResponses *CustomErrorResponses `xml:"CustomErrorResponses,omitempty"`
	Comment              *string               `xml:"Comment,omitempty"`
	PriceClass           *string               `xml:"PriceClass,omitempty"`
	Enabled              *bool                 `xml:"Enabled,omitempty"`
	ViewerCertificate    *ViewerCertificate    `xml:"ViewerCertificate,omitempty"`
	Extra                []RawElement          `xml:",any"`
}

// Aliases lists the alternate domain names (CNAMEs) of a distribution.
type Aliases struct {
	Quantity int      `xml:"Quantity"`
	Items    []string `xml:"Items>CNAME"`
}

// Origins lists a distribution's origins.
type Origins struct {
	Quantity int      `xml:"Quantity"`
	Items    []Origin `xml:"Items>Origin"`
}

// Origin is one origin server.
type Origin struct {
	ID                        string              `xml:"Id"`
	DomainName                string              `xml:"DomainName"`
	OriginPath                *string             `xml:"OriginPath,omitempty"`
	CustomHeaders             *CustomHeaders      `xml:"CustomHeaders,omitempty"`
	S3OriginConfig            *S3OriginConfig     `xml:"S3OriginConfig,omitempty"`
	CustomOriginConfig        *CustomOriginConfig `xml:"CustomOriginConfig,omitempty"`
	ConnectionAttempts        *int                `xml:"ConnectionAttempts,omitempty"`
	ConnectionTimeout         *int                `xml:"ConnectionTimeout,omitempty"`
	ResponseCompletionTimeout *int                `xml:"ResponseCompletionTimeout,omitempty"`
	Extra                     []RawElement        `xml:",any"`
}

// CustomHeaders are the headers that Portico sets on every request to an
// origin, replacing any value the viewer sent. Their values are secrets.
type CustomHeaders struct {
	Quantity int                  `xml:"Quantity"`
	Items    []OriginCustomHeader `xml:"Items>OriginCustomHeader"`
}

// OriginCustomHeader is one custom origin header.
type OriginCustomHeader struct {
	HeaderName  string `xml:"HeaderName"`
	HeaderValue string `xml:"HeaderValue"`
}

// S3OriginConfig marks an origin as an S3 bucket. Portico treats it as an
// HTTPS origin on port 443.
type S3OriginConfig struct {
	OriginAccessIdentity string       `xml:"OriginAccessIdentity"`
	Extra                []RawElement `xml:",any"`
}

// CustomOriginConfig says how Portico connects to a custom origin.
type CustomOriginConfig struct {
	HTTPPort               int           `xml:"HTTPPort"`
	HTTPSPort              int           `xml:"HTTPSPort"`
	OriginProtocolPolicy   string        `xml:"OriginProtocolPolicy"`
	OriginSslProtocols     *SslProtocols `xml:"OriginSslProtocols,omitempty"`
	OriginReadTimeout      *int          `xml:"OriginReadTimeout,omitempty"`
	OriginKeepaliveTimeout *int          `xml:"OriginKeepaliveTimeout,omitempty"`
	Extra                  []RawElement  `xml:",any"`
}

// SslProtocols lists the TLS versions allowed towards an origin.
type SslProtocols struct {
	Quantity int      `xml:"Quantity"`
	Items    []string `xml:"Items>SslProtocol"`
}

// CacheBehavior is a DefaultCacheBehavior (PathPattern empty) or one of the
// ordered CacheBehaviors.
type CacheBehavior struct {
	PathPattern             *string          `xml:"PathPattern,omitempty"`
	TargetOriginID          string           `xml:"TargetOriginId"`
	ViewerProtocolPolicy    string           `xml:"ViewerProtocolPolicy"`
	AllowedMethods          *AllowedMethods  `xml:"AllowedMethods,omitempty"`
	SmoothStreaming         *bool            `xml:"SmoothStreaming,omitempty"`
	Compress                *bool            `xml:"Compress,omitempty"`
	CachePolicyID           *string          `xml:"CachePolicyId,omitempty"`
	OriginRequestPolicyID   *string          `xml:"OriginRequestPolicyId,omitempty"`
	ResponseHeadersPolicyID *string          `xml:"ResponseHeadersPolicyId,omitempty"`
	ForwardedValues         *ForwardedValues `xml:"ForwardedValues,omitempty"`
	MinTTL                  *int64           `xml:"MinTTL,omitempty"`
	DefaultTTL              *int64           `xml:"DefaultTTL,omitempty"`
	MaxTTL                  *int64           `xml:"MaxTTL,omitempty"`
	Extra                   []RawElement     `xml:",any"`
}

// AllowedMethods lists the methods a behaviour accepts and, of those, the
// ones whose responses are cached.
type AllowedMethods struct {
	Quantity      int      `xml:"Quantity"`
	Items         []string `xml:"Items>Method"`
	CachedMethods *Methods `xml:"CachedMethods,omitempty"`
}

// Methods is a list of HTTP methods.
type Methods struct {
	Quantity int      `xml:"Quantity"`
	Items    []string `xml:"Items>Method"`
}

// ForwardedValues is the legacy way to say what a behaviour forwards to the
// origin and keys its cache on.
type ForwardedValues struct {
	QueryString          *bool             `xml:"QueryString,omitempty"`
	Cookies              *CookiePreference `xml:"Cookies,omitempty"`
	Headers              *Names            `xml:"Headers,omitempty"`
	QueryStringCacheKeys *Names            `xml:"QueryStringCacheKeys,omitempty"`
	Extra                []RawElement      `xml:",any"`
}

// CookiePreference says which cookies are forwarded: none, whitelist or all.
type CookiePreference struct {
	Forward          string `xml:"Forward"`
	WhitelistedNames *Names `xml:"WhitelistedNames,omitempty"`
}

// Names is a list of header, cookie or query string names.
type Names struct {
	Quantity int      `xml:"Quantity"`
	Items    []string `xml:"Items>Name"`
}

// CacheBehaviors lists the ordered, path-pattern cache behaviours.
type CacheBehaviors struct {
	Quantity int             `xml:"Quantity"`
	Items    []CacheBehavior `xml:"Items>CacheBehavior"`
}

// CustomErrorResponses lists how origin errors are cached and shown.
type CustomErrorResponses struct {
	Quantity int                   `xml:"Quantity"`
	Items    []CustomErrorResponse `xml:"Items>CustomErrorResponse"`
}

// customErrorResponseCodes are the status codes CloudFront may answer with
// a custom error page (DG GeneratingCustomErrorResponses, "Changing
// response codes returned by CloudFront").
var customErrorResponseCodes = []int{200, 400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504}

// CustomErrorResponse is one entry of CustomErrorResponses. ResponsePagePath
// and ResponseCode are set together (a page, answered with ResponseCode,
// one of customErrorResponseCodes) or not at all (ErrorCachingMinTTL
// alone).
type CustomErrorResponse struct {
	ErrorCode          int     `xml:"ErrorCode"`
	ResponsePagePath   *string `xml:"ResponsePagePath,omitempty"`
	ResponseCode       *string `xml:"ResponseCode,omitempty"`
	ErrorCachingMinTTL *int64  `xml:"ErrorCachingMinTTL,omitempty"`
}

// ViewerCertificate says which certificate the edge presents to viewers.
type ViewerCertificate struct {
	CloudFrontDefaultCertificate *bool        `xml:"CloudFrontDefaultCertificate,omitempty"`
	IAMCertificateID             *string      `xml:"IAMCertificateId,omitempty"`
	ACMCertificateArn            *string      `xml:"ACMCertificateArn,omitempty"`
	SSLSupportMethod             *string      `xml:"SSLSupportMethod,omitempty"`
	MinimumProtocolVersion       *string      `xml:"MinimumProtocolVersion,omitempty"`
	Certificate                  *string      `xml:"Certificate,omitempty"`
	CertificateSource            *string      `xml:"CertificateSource,omitempty"`
	Extra                        []RawElement `xml:",any"`
}

// CloudFront's default TTLs, in seconds.
const (
	DefaultMinTTL     = 0
	DefaultDefaultTTL = 86400
	DefaultMaxTTL     = 31536000
)

// Origin timeouts and attempts: CloudFront's defaults.
const (
	DefaultOriginReadTimeout      = 30
	DefaultOriginKeepaliveTimeout = 5
	DefaultConnectionAttempts     = 3
	DefaultConnectionTimeout      = 10
)

// TTLs returns the behaviour's MinTTL, DefaultTTL and MaxTTL in seconds,
// with CloudFront's defaults for those left out.
func (b *CacheBehavior) TTLs() (minTTL, defaultTTL, maxTTL int64) {
	return deref(b.MinTTL, DefaultMinTTL), deref(b.DefaultTTL, DefaultDefaultTTL), deref(b.MaxTTL, DefaultMaxTTL)
}

// Methods returns the methods the behaviour allows and those it caches.
// A behaviour that lists none allows and caches GET and HEAD.
func (b *CacheBehavior) Methods() (allowed, cached []string) {
	allowed, cached = []string{http.MethodGet, http.MethodHead}, []string{http.MethodGet, http.MethodHead}
	if am := b.AllowedMethods; am != nil {
		allowed = am.Items
		if am.CachedMethods != nil {
			cached = am.CachedMethods.Items
		}
	}
	return allowed, cached
}

// Origin returns the origin with the given ID, or nil.
func (c *DistributionConfig) Origin(id string) *Origin {
	if c.Origins == nil {
		return nil
	}
	for i := range c.Origins.Items {
		if c.Origins.Items[i].ID == id {
			return &c.Origins.Items[i]
		}
	}
	return nil
}

// AliasList returns the distribution's aliases, lower-cased.
func (c *DistributionConfig) AliasList() []string {
	if c.Aliases == nil {
		return nil
	}
	out := make([]string, len(c.Aliases.Items))
	for i, a := range c.Aliases.Items {
		out[i] = strings.ToLower(a)
	}
	return out
}

// IsEnabled reports whether the distribution serves traffic.
func (c *DistributionConfig) IsEnabled() bool { return c.Enabled != nil && *c.Enabled }

// CertificateARN returns the ACM certificate ARN of the viewer certificate,
// or "".
func (c *DistributionConfig) CertificateARN() string {
	if c.ViewerCertificate == nil || c.ViewerCertificate.ACMCertificateArn == nil {
		return ""
	}
	return *c.ViewerCertificate.ACMCertificateArn
}

// Behaviors returns the ordered cache behaviours followed by the default one.
func (c *DistributionConfig) Behaviors() []*CacheBehavior {
	var out []*CacheBehavior
	if c.CacheBehaviors != nil {
		for i := range c.CacheBehaviors.Items {
			out = append(out, &c.CacheBehaviors.Items[i])
		}
	}
	if c.DefaultCacheBehavior != nil {
		out = append(out, c.DefaultCacheBehavior)
	}
	return out
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// Ptr returns a pointer to v. It helps build configurations in code.
func Ptr[T any](v T) *T { return &v }

// IsValidHostname reports whether name is a DNS host name that may serve as
// an alias: dot-separated labels of letters, digits and hyphens, at most 253
// characters, optionally starting with a "*." wildcard label. IP addresses
// are not host names.
func IsValidHostname(name string) bool {
	return hasHostLabels(strings.TrimPrefix(name, "*."), 2)
}

// isOriginHost reports whether name may be an origin's DomainName: a host
// name (one label, such as "localhost", is enough) or an IPv4 address.
// CloudFront accepts public domain names only; a self-hosted edge often
// reaches origins on a private network by address or by a local name. The
// origin's certificate is verified against the name or address all the
// same.
func isOriginHost(name string) bool {
	if ip, err := netip.ParseAddr(name); err == nil {
		return ip.Is4()
	}
	return hasHostLabels(name, 1)
}

// hasHostLabels reports whether name is at least minLabels dot-separated
// labels of letters, digits and hyphens (not at either end of a label), at
// most 253 characters, whose last label is not all digits.
func hasHostLabels(name string, minLabels int) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	labels := strings.Split(name, ".")
	if len(labels) < minLabels || strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// MatchesHostname reports whether a certificate or alias pattern (an exact
// name or "*.suffix", which covers exactly one more label) covers host. Both
// are compared case-insensitively.
func MatchesHostname(pattern, host string) bool {
	pattern, host = strings.ToLower(pattern), strings.ToLower(host)
	if suffix, ok := strings.CutPrefix(pattern, "*."); ok {
		first, rest, found := strings.Cut(host, ".")
		return found && first != "" && first != "*" && rest == suffix ||
			strings.HasPrefix(host, "*.") && host[2:] == suffix
	}
	return pattern == host
}

var (
	viewerProtocolPolicies = []string{"allow-all", "https-only", "redirect-to-https"}
	originProtocolPolicies = []string{"http-only", "match-viewer", "https-only"}
	priceClasses           = []string{"PriceClass_100", "PriceClass_200", "PriceClass_All", "PriceClass_None"}
	cookieForwards         = []string{"none", "whitelist", "all"}
	sslProtocols           = []string{"SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2"}
	sslSupportMethods      = []string{"sni-only", "vip", "static-ip"}

	// Sets of methods CloudFront allows, in any order.
	allowedMethodSets = [][]string{
		{"GET", "HEAD"},
		{"GET", "HEAD", "OPTIONS"},
		{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"},
	}
	cachedMethodSets = allowedMethodSets[:2]

	// Headers that an origin custom header may not set (CloudFront's list).
	forbiddenCustomHeaders = []string{
		"cache-control", "connection", "content-length", "cookie", "host", "if-match",
		"if-modified-since", "if-none-match", "if-range", "if-unmodified-since",
		"max-forwards", "pragma", "proxy-authorization", "proxy-connection", "range",
		"request-range", "te", "trailer", "transfer-encoding", "upgrade", "via",
		"x-real-ip", "x-forwarded-for", "true-client-ip",
	}
)

// Limits on a distribution, from CloudFront's quotas.
const (
	MaxAliases             = 100
	MaxOrigins             = 25
	MaxCacheBehaviors      = 25
	MaxCustomHeaders       = 10
	MaxCustomHeaderName    = 256
	MaxCustomHeaderValue   = 1783
	MaxForwardedHeaders    = 10
	MaxCommentLength       = 128
	MaxCallerReferenceSize = 128
)

// Validate checks the configuration on its own: required elements, list
// quantities, enumerations and ranges. Checks that need other stored state
// (alias uniqueness, the viewer certificate's names) are the control
// service's. It returns an *Error.
func (c *DistributionConfig) Validate() error {
	if err := c.checkQuantities(); err != nil {
		return err
	}
	switch {
	case c.CallerReference == "":
		return missing("CallerReference")
	case len(c.CallerReference) > MaxCallerReferenceSize:
		return Errorf(ErrInvalidArgument, "CallerReference must be at most %d characters.", MaxCallerReferenceSize)
	case c.Origins == nil:
		return missing("Origins")
	case c.DefaultCacheBehavior == nil:
		return missing("DefaultCacheBehavior")
	case c.Comment == nil:
		return missing("Comment")
	case c.Enabled == nil:
		return missing("Enabled")
	case len(*c.Comment) > MaxCommentLength:
		return Errorf(ErrInvalidArgument, "The parameter Comment is longer than %d characters.", MaxCommentLength)
	}
	if c.PriceClass != nil && !slices.Contains(priceClasses, *c.PriceClass) {
		return Errorf(ErrInvalidArgument, "The parameter PriceClass has an invalid value %q.", *c.PriceClass)
	}
	if c.DefaultRootObject != nil && strings.HasPrefix(*c.DefaultRootObject, "/") {
		return Errorf(ErrInvalidArgument, "The parameter DefaultRootObject must not begin with a slash.")
	}
	if err := c.validateAliases(); err != nil {
		return err
	}
	if err := c.validateOrigins(); err != nil {
		return err
	}
	if c.DefaultCacheBehavior.PathPattern != nil {
		return Errorf(ErrInvalidArgument, "The DefaultCacheBehavior must not have a PathPattern.")
	}
	if err := c.validateBehavior(c.DefaultCacheBehavior); err != nil {
		return err
	}
	if c.CacheBehaviors != nil {
		if len(c.CacheBehaviors.Items) > MaxCacheBehaviors {
			return Errorf("TooManyCacheBehaviors", "Your request contains more cache behaviors than are allowed per distribution.")
		}
		seen := map[string]bool{}
		for i := range c.CacheBehaviors.Items {
			b := &c.CacheBehaviors.Items[i]
			if b.PathPattern == nil || *b.PathPattern == "" {
				return missing("PathPattern")
			}
			if seen[*b.PathPattern] {
				return Errorf(ErrInvalidArgument, "The path pattern %q is used by more than one cache behavior.", *b.PathPattern)
			}
			seen[*b.PathPattern] = true
			if err := c.validateBehavior(b); err != nil {
				return err
			}
		}
	}
	if c.CustomErrorResponses != nil {
		for _, e := range c.CustomErrorResponses.Items {
			if e.ErrorCode < 400 || e.ErrorCode > 599 {
				return Errorf("InvalidErrorCode", "The error code %d is not a 4xx or 5xx code.", e.ErrorCode)
			}
			hasPath, hasCode := e.ResponsePagePath != nil && *e.ResponsePagePath != "", e.ResponseCode != nil && *e.ResponseCode != ""
			if hasPath != hasCode {
				// API reference, CustomErrorResponse: "If you specify a
				// value for ResponsePagePath, you must also specify a
				// value for ResponseCode", and the other way round.
				return Errorf(ErrInvalidArgument, "Your request must specify both ResponsePagePath and ResponseCode together or none of them.")
			}
			if hasPath && !strings.HasPrefix(*e.ResponsePagePath, "/") {
				return Errorf("InvalidResponseCode", "ResponsePagePath must begin with a slash.")
			}
			if rc := e.ResponseCode; rc != nil && *rc != "" {
				if code, err := strconv.Atoi(*rc); err != nil || !slices.Contains(customErrorResponseCodes, code) {
					return Errorf("InvalidResponseCode", "The response code %q is not valid. Specify 200, 400, 403, 404, 405, 414, 416, 500, 501, 502, 503 or 504.", *rc)
				}
			}
		}
	}
	return c.validateViewerCertificate()
}

// checkQuantities compares every modelled list's Quantity with its Items.
func (c *DistributionConfig) checkQuantities() error {
	type list struct {
		name     string
		quantity int
		items    int
	}
	var lists []list
	add := func(name string, q, n int) { lists = append(lists, list{name, q, n}) }
	if a := c.Aliases; a != nil {
		add("Aliases", a.Quantity, len(a.Items))
	}
	if o := c.Origins; o != nil {
		add("Origins", o.Quantity, len(o.Items))
		for _, o := range o.Items {
			if h := o.CustomHeaders; h != nil {
				add("CustomHeaders", h.Quantity, len(h.Items))
			}
			if co := o.CustomOriginConfig; co != nil && co.OriginSslProtocols != nil {
				add("OriginSslProtocols", co.OriginSslProtocols.Quantity, len(co.OriginSslProtocols.Items))
			}
		}
	}
	if cb := c.CacheBehaviors; cb != nil {
		add("CacheBehaviors", cb.Quantity, len(cb.Items))
	}
	for _, b := range c.Behaviors() {
		if am := b.AllowedMethods; am != nil {
			add("AllowedMethods", am.Quantity, len(am.Items))
			if cm := am.CachedMethods; cm != nil {
				add("CachedMethods", cm.Quantity, len(cm.Items))
			}
		}
		if fv := b.ForwardedValues; fv != nil {
			if fv.Headers != nil {
				add("Headers", fv.Headers.Quantity, len(fv.Headers.Items))
			}
			if fv.QueryStringCacheKeys != nil {
				add("QueryStringCacheKeys", fv.QueryStringCacheKeys.Quantity, len(fv.QueryStringCacheKeys.Items))
			}
			if fv.Cookies != nil && fv.Cookies.WhitelistedNames != nil {
				add("WhitelistedNames", fv.Cookies.WhitelistedNames.Quantity, len(fv.Cookies.WhitelistedNames.Items))
			}
		}
	}
	if ce := c.CustomErrorResponses; ce != nil {
		add("CustomErrorResponses", ce.Quantity, len(ce.Items))
	}
	for _, l := range lists {
		if l.quantity != l.items {
			return Errorf(ErrInconsistentQuantities, "The value of Quantity and the size of Items for %s don't match.", l.name)
		}
	}
	return nil
}

func (c *DistributionConfig) validateAliases() error {
	aliases := c.AliasList()
	if len(aliases) > MaxAliases {
		return Errorf(ErrTooManyDistributionCNAMEs, "Your request contains more CNAMEs than are allowed per distribution.")
	}
	seen := map[string]bool{}
	for _, a := range aliases {
		if !IsValidHostname(a) {
			return Errorf(ErrInvalidArgument, "The parameter CNAME contains an invalid domain name %q.", a)
		}
		if seen[a] {
			return Errorf(ErrInvalidArgument, "The parameter CNAME contains a duplicate %q.", a)
		}
		seen[a] = true
	}
	return nil
}

func (c *DistributionConfig) validateOrigins() error {
	items := c.Origins.Items
	switch {
	case len(items) == 0:
		return Errorf(ErrInvalidArgument, "The parameter Origins must contain at least one origin.")
	case len(items) > MaxOrigins:
		return Errorf(ErrTooManyOrigins, "You cannot create more origins for the distribution.")
	}
	ids := map[string]bool{}
	for i := range items {
		o := &items[i]
		switch {
		case o.ID == "":
			return missing("Origin Id")
		case ids[o.ID]:
			return Errorf(ErrInvalidArgument, "The parameter Origin Id must be unique; %q is used twice.", o.ID)
		case o.DomainName == "":
			return missing("Origin DomainName")
		case !isOriginHost(o.DomainName):
			return Errorf(ErrInvalidArgument, "The parameter origin name must be a domain name or an IPv4 address; %q is not.", o.DomainName)
		case o.S3OriginConfig == nil && o.CustomOriginConfig == nil:
			return Errorf(ErrInvalidArgument, "Origin %q must have an S3OriginConfig or a CustomOriginConfig.", o.ID)
		case o.S3OriginConfig != nil && o.CustomOriginConfig != nil:
			return Errorf(ErrInvalidArgument, "Origin %q cannot have both an S3OriginConfig and a CustomOriginConfig.", o.ID)
		}
		ids[o.ID] = true
		if o.OriginPath != nil && *o.OriginPath != "" && (!strings.HasPrefix(*o.OriginPath, "/") || strings.HasSuffix(*o.OriginPath, "/")) {
			return Errorf(ErrInvalidArgument, "The parameter OriginPath must begin, and must not end, with a slash.")
		}
		if n := deref(o.ConnectionAttempts, DefaultConnectionAttempts); n < 1 || n > 3 {
			return Errorf(ErrInvalidArgument, "The parameter ConnectionAttempts must be between 1 and 3.")
		}
		if n := deref(o.ConnectionTimeout, DefaultConnectionTimeout); n < 1 || n > 10 {
			return Errorf(ErrInvalidArgument, "The parameter ConnectionTimeout must be between 1 and 10.")
		}
		if err := validateCustomHeaders(o.CustomHeaders); err != nil {
			return err
		}
		if err := validateCustomOrigin(o.CustomOriginConfig); err != nil {
			return err
		}
	}
	return nil
}

func validateCustomHeaders(h *CustomHeaders) error {
	if h == nil {
		return nil
	}
	if len(h.Items) > MaxCustomHeaders {
		return Errorf(ErrTooManyOriginCustomHeaders, "Your request contains too many origin custom headers.")
	}
	seen := map[string]bool{}
	for _, ch := range h.Items {
		name := strings.ToLower(ch.HeaderName)
		switch {
		case !isToken(ch.HeaderName) || len(ch.HeaderName) > MaxCustomHeaderName:
			return Errorf(ErrInvalidArgument, "The origin custom header name %q is not valid.", ch.HeaderName)
		case slices.Contains(forbiddenCustomHeaders, name) || strings.HasPrefix(name, "x-amz-") ||
			strings.HasPrefix(name, "x-edge-") || strings.HasPrefix(name, "proxy-"):
			return Errorf(ErrInvalidArgument, "The origin custom header %s cannot be set.", ch.HeaderName)
		case seen[name]:
			return Errorf(ErrInvalidArgument, "The origin custom header %s is listed twice.", ch.HeaderName)
		case len(ch.HeaderValue) > MaxCustomHeaderValue || !isFieldValue(ch.HeaderValue):
			// The value is a secret: the message names the header only.
			return Errorf(ErrInvalidArgument, "The value of origin custom header %s is not valid.", ch.HeaderName)
		}
		seen[name] = true
	}
	return nil
}

func validateCustomOrigin(co *CustomOriginConfig) error {
	if co == nil {
		return nil
	}
	switch {
	case co.HTTPPort < 1 || co.HTTPPort > 65535 || co.HTTPSPort < 1 || co.HTTPSPort > 65535:
		return Errorf(ErrInvalidArgument, "The parameters HTTPPort and HTTPSPort must be between 1 and 65535.")
	case !slices.Contains(originProtocolPolicies, co.OriginProtocolPolicy):
		return Errorf(ErrInvalidArgument, "The parameter OriginProtocolPolicy has an invalid value %q.", co.OriginProtocolPolicy)
	case co.OriginProtocolPolicy == "http-only":
		return Errorf(ErrInvalidArgument, "Portico connects to origins over HTTPS only: use OriginProtocolPolicy https-only.")
	}
	if p := co.OriginSslProtocols; p != nil {
		for _, v := range p.Items {
			if !slices.Contains(sslProtocols, v) {
				return Errorf(ErrInvalidArgument, "The parameter SslProtocol has an invalid value %q.", v)
			}
		}
	}
	if n := deref(co.OriginReadTimeout, DefaultOriginReadTimeout); n < 1 || n > 120 {
		return Errorf(ErrInvalidOriginReadTimeout, "The read timeout specified for the origin is not valid.")
	}
	if n := deref(co.OriginKeepaliveTimeout, DefaultOriginKeepaliveTimeout); n < 1 || n > 120 {
		return Errorf(ErrInvalidOriginKeepaliveTimeout, "The keep alive timeout specified for the origin is not valid.")
	}
	return nil
}

func (c *DistributionConfig) validateBehavior(b *CacheBehavior) error {
	if b.TargetOriginID == "" {
		return missing("TargetOriginId")
	}
	if c.Origin(b.TargetOriginID) == nil {
		return Errorf(ErrNoSuchOrigin, "One or more of your origins or origin groups do not exist: %q.", b.TargetOriginID)
	}
	if !slices.Contains(viewerProtocolPolicies, b.ViewerProtocolPolicy) {
		return Errorf(ErrInvalidArgument, "The parameter ViewerProtocolPolicy has an invalid value %q.", b.ViewerProtocolPolicy)
	}
	if am := b.AllowedMethods; am != nil {
		if !isMethodSet(am.Items, allowedMethodSets) {
			return Errorf(ErrInvalidArgument, "The parameter AllowedMethods must be GET,HEAD or GET,HEAD,OPTIONS or all seven methods.")
		}
		if cm := am.CachedMethods; cm != nil {
			if !isMethodSet(cm.Items, cachedMethodSets) {
				return Errorf(ErrInvalidArgument, "The parameter CachedMethods must be GET,HEAD or GET,HEAD,OPTIONS.")
			}
			for _, m := range cm.Items {
				if !slices.Contains(am.Items, m) {
					return Errorf(ErrInvalidArgument, "The cached method %s is not an allowed method.", m)
				}
			}
		}
	}
	usesPolicy := b.CachePolicyID != nil && *b.CachePolicyID != "" // the SDKs send "" for none
	if !usesPolicy && b.ForwardedValues == nil {
		return Errorf(ErrInvalidArgument, "The parameter ForwardedValues is required when a cache policy is not used.")
	}
	if usesPolicy && (b.MinTTL != nil || b.DefaultTTL != nil || b.MaxTTL != nil) && b.ForwardedValues == nil {
		return Errorf(ErrInvalidArgument, "The TTL parameters cannot be used with a cache policy.")
	}
	minTTL, defTTL, maxTTL := b.TTLs()
	if minTTL < 0 || defTTL < 0 || maxTTL < 0 || minTTL > defTTL || defTTL > maxTTL {
		return Errorf(ErrInvalidTTLOrder, "The TTL order specified in CacheBehavior is not valid.")
	}
	if fv := b.ForwardedValues; fv != nil {
		if fv.QueryString == nil {
			return missing("ForwardedValues QueryString")
		}
		if fv.Cookies == nil {
			return missing("ForwardedValues Cookies")
		}
		if !slices.Contains(cookieForwards, fv.Cookies.Forward) {
			return Errorf(ErrInvalidArgument, "The parameter Cookies Forward has an invalid value %q.", fv.Cookies.Forward)
		}
		if fv.Cookies.Forward == "whitelist" && (fv.Cookies.WhitelistedNames == nil || len(fv.Cookies.WhitelistedNames.Items) == 0) {
			return Errorf(ErrInvalidArgument, "The parameter WhitelistedNames is required when Forward is whitelist.")
		}
		if h := fv.Headers; h != nil {
			if len(h.Items) > MaxForwardedHeaders && !slices.Contains(h.Items, "*") {
				return Errorf(ErrTooManyHeadersInForwardedValue, "Your request contains too many headers in forwarded values.")
			}
			for _, name := range h.Items {
				if name != "*" && !isToken(name) {
					return Errorf(ErrInvalidArgument, "The forwarded header name %q is not valid.", name)
				}
				if name == "*" && minTTL != 0 {
					return Errorf(ErrInvalidArgument, "MinTTL must be 0 when all headers are forwarded.")
				}
			}
		}
	}
	return nil
}

func (c *DistributionConfig) validateViewerCertificate() error {
	vc := c.ViewerCertificate
	usesDefault := vc == nil || vc.CloudFrontDefaultCertificate != nil && *vc.CloudFrontDefaultCertificate
	if vc != nil {
		if vc.IAMCertificateID != nil {
			return Errorf(ErrInvalidViewerCertificate, "Portico does not hold IAM certificates: import the certificate with ACM and use ACMCertificateArn.")
		}
		if usesDefault && vc.ACMCertificateArn != nil {
			return Errorf(ErrInvalidViewerCertificate, "CloudFrontDefaultCertificate and ACMCertificateArn cannot both be set.")
		}
		if !usesDefault && vc.ACMCertificateArn == nil {
			return Errorf(ErrInvalidViewerCertificate, "The ViewerCertificate names no certificate.")
		}
		if vc.SSLSupportMethod != nil && !slices.Contains(sslSupportMethods, *vc.SSLSupportMethod) {
			return Errorf(ErrInvalidArgument, "The parameter SSLSupportMethod has an invalid value %q.", *vc.SSLSupportMethod)
		}
	}
	if usesDefault && len(c.AliasList()) > 0 {
		return Errorf(ErrInvalidViewerCertificate, "To add an alternate domain name (CNAME) to a distribution, you must attach a trusted certificate that validates your authorization to use the domain name.")
	}
	return nil
}

func isMethodSet(items []string, sets [][]string) bool {
	sorted := slices.Sorted(slices.Values(items))
	for _, s := range sets {
		if slices.Equal(sorted, s) {
			return true
		}
	}
	return false
}

func missing(name string) *Error {
	return Errorf(ErrInvalidArgument, "The parameter %s is required.", name)
}

// isToken reports whether s is an HTTP field name (RFC 9110 token).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// isFieldValue reports whether s may be sent as an HTTP field value: visible
// characters, spaces and tabs, without leading or trailing white space.
func isFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return strings.TrimSpace(s) == s
}
