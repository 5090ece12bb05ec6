package portico

import (
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file holds CloudFront's cache, origin request and response headers
// policies: their wire-shaped configurations and the rules that make them
// valid, AWS's managed policies, and ResolveBehavior, which says what a
// cache behaviour keys its cache on and forwards to its origin whichever way
// it is configured.

// Policy is a cache, origin request or response headers policy: its
// configuration and what Portico assigned to it. C is CachePolicyConfig,
// OriginRequestPolicyConfig or ResponseHeadersPolicyConfig.
type Policy[C any] struct {
	ID               string // a lower-case RFC 4122 UUID, as CloudFront's
	ETag             string // names this configuration version
	LastModifiedTime time.Time
	Config           C

	// Managed marks one of AWS's managed policies: built in, read-only,
	// listed with Type managed. Managed policies are never stored.
	Managed bool `json:"-"`
}

// The three kinds of policy.
type (
	// CachePolicy is a stored or managed cache policy.
	CachePolicy = Policy[CachePolicyConfig]
	// OriginRequestPolicy is a stored or managed origin request policy.
	OriginRequestPolicy = Policy[OriginRequestPolicyConfig]
	// ResponseHeadersPolicy is a stored or managed response headers policy.
	ResponseHeadersPolicy = Policy[ResponseHeadersPolicyConfig]
)

// Policy types, as ListCachePolicies and its kin filter and report them.
const (
	PolicyTypeManaged = "managed"
	PolicyTypeCustom  = "custom"
)

// Error codes of the policy operations, from CloudFront's service model.
const (
	ErrNoSuchCachePolicy                           = "NoSuchCachePolicy"
	ErrNoSuchOriginRequestPolicy                   = "NoSuchOriginRequestPolicy"
	ErrNoSuchResponseHeadersPolicy                 = "NoSuchResponseHeadersPolicy"
	ErrCachePolicyAlreadyExists                    = "CachePolicyAlreadyExists"
	ErrOriginRequestPolicyAlreadyExists            = "OriginRequestPolicyAlreadyExists"
	ErrResponseHeadersPolicyAlreadyExists          = "ResponseHeadersPolicyAlreadyExists"
	ErrCachePolicyInUse                            = "CachePolicyInUse"
	ErrOriginRequestPolicyInUse                    = "OriginRequestPolicyInUse"
	ErrResponseHeadersPolicyInUse                  = "ResponseHeadersPolicyInUse"
	ErrIllegalDelete                               = "IllegalDelete"
	ErrTooManyCachePolicies                        = "TooManyCachePolicies"
	ErrTooManyOriginRequestPolicies                = "TooManyOriginRequestPolicies"
	ErrTooManyResponseHeadersPolicies              = "TooManyResponseHeadersPolicies"
	ErrTooManyHeadersInCachePolicy                 = "TooManyHeadersInCachePolicy"
	ErrTooManyCookiesInCachePolicy                 = "TooManyCookiesInCachePolicy"
	ErrTooManyQueryStringsInCachePolicy            = "TooManyQueryStringsInCachePolicy"
	ErrTooManyHeadersInOriginRequestPolicy         = "TooManyHeadersInOriginRequestPolicy"
	ErrTooManyCookiesInOriginRequestPolicy         = "TooManyCookiesInOriginRequestPolicy"
	ErrTooManyQueryStringsInOriginRequestPolicy    = "TooManyQueryStringsInOriginRequestPolicy"
	ErrTooManyCustomHeadersInResponseHeadersPolicy = "TooManyCustomHeadersInResponseHeadersPolicy"
	ErrTooManyRemoveHeadersInResponseHeadersPolicy = "TooManyRemoveHeadersInResponseHeadersPolicy"
	ErrTooLongCSPInResponseHeadersPolicy           = "TooLongCSPInResponseHeadersPolicy"

	ErrTooManyDistributionsAssociatedToCachePolicy           = "TooManyDistributionsAssociatedToCachePolicy"
	ErrTooManyDistributionsAssociatedToOriginRequestPolicy   = "TooManyDistributionsAssociatedToOriginRequestPolicy"
	ErrTooManyDistributionsAssociatedToResponseHeadersPolicy = "TooManyDistributionsAssociatedToResponseHeadersPolicy"
)

// Limits on policies, from CloudFront's quotas (DG cloudfront-limits,
// "General quotas on policies") and the API reference.
const (
	MaxCachePolicies               = 20  // custom cache policies per account
	MaxOriginRequestPolicies       = 20  // custom origin request policies per account
	MaxResponseHeadersPolicies     = 20  // custom response headers policies per account
	MaxDistributionsPerPolicy      = 100 // distributions associated with one custom policy
	MaxNamesPerPolicyList          = 10  // headers, cookies or query strings per policy list
	MaxPolicyNameLength            = 128
	MaxResponseCustomHeaders       = 10
	MaxResponseRemoveHeaders       = 10
	MaxContentSecurityPolicyLength = 1783
)

// CachePolicyConfig is CloudFront's CachePolicyConfig element: the TTLs of
// the behaviours that use the policy, and the headers, cookies and query
// strings that are in their cache key and so forwarded to the origin.
// Optional scalars are pointers so that an element the client left out
// stays out when the configuration is returned; elements Portico does not
// model are kept in Extra.
type CachePolicyConfig struct {
	XMLName                                  xml.Name            `xml:"CachePolicyConfig"`
	Comment                                  *string             `xml:"Comment,omitempty"`
	Name                                     string              `xml:"Name"`
	DefaultTTL                               *int64              `xml:"DefaultTTL,omitempty"`
	MaxTTL                                   *int64              `xml:"MaxTTL,omitempty"`
	MinTTL                                   *int64              `xml:"MinTTL,omitempty"`
	ParametersInCacheKeyAndForwardedToOrigin *CacheKeyParameters `xml:"ParametersInCacheKeyAndForwardedToOrigin,omitempty"`
	Extra                                    []RawElement        `xml:",any"`
}

// CacheKeyParameters is CloudFront's ParametersInCacheKeyAndForwardedToOrigin
// element.
type CacheKeyParameters struct {
	EnableAcceptEncodingGzip   *bool               `xml:"EnableAcceptEncodingGzip,omitempty"`
	EnableAcceptEncodingBrotli *bool               `xml:"EnableAcceptEncodingBrotli,omitempty"`
	HeadersConfig              *HeadersConfig      `xml:"HeadersConfig,omitempty"`
	CookiesConfig              *CookiesConfig      `xml:"CookiesConfig,omitempty"`
	QueryStringsConfig         *QueryStringsConfig `xml:"QueryStringsConfig,omitempty"`
	Extra                      []RawElement        `xml:",any"`
}

// HeadersConfig is a cache or origin request policy's HeadersConfig: a
// behaviour (none, whitelist, …) and the header names it lists.
type HeadersConfig struct {
	HeaderBehavior string       `xml:"HeaderBehavior"`
	Headers        *Names       `xml:"Headers,omitempty"`
	Extra          []RawElement `xml:",any"`
}

// CookiesConfig is a cache or origin request policy's CookiesConfig.
type CookiesConfig struct {
	CookieBehavior string       `xml:"CookieBehavior"`
	Cookies        *Names       `xml:"Cookies,omitempty"`
	Extra          []RawElement `xml:",any"`
}

// QueryStringsConfig is a cache or origin request policy's
// QueryStringsConfig.
type QueryStringsConfig struct {
	QueryStringBehavior string       `xml:"QueryStringBehavior"`
	QueryStrings        *Names       `xml:"QueryStrings,omitempty"`
	Extra               []RawElement `xml:",any"`
}

// OriginRequestPolicyConfig is CloudFront's OriginRequestPolicyConfig
// element: what the behaviours that use it forward to the origin beyond
// their cache key.
type OriginRequestPolicyConfig struct {
	XMLName            xml.Name            `xml:"OriginRequestPolicyConfig"`
	Comment            *string             `xml:"Comment,omitempty"`
	Name               string              `xml:"Name"`
	HeadersConfig      *HeadersConfig      `xml:"HeadersConfig,omitempty"`
	CookiesConfig      *CookiesConfig      `xml:"CookiesConfig,omitempty"`
	QueryStringsConfig *QueryStringsConfig `xml:"QueryStringsConfig,omitempty"`
	Extra              []RawElement        `xml:",any"`
}

// ResponseHeadersPolicyConfig is CloudFront's ResponseHeadersPolicyConfig
// element: headers the edge adds to, or removes from, its responses.
type ResponseHeadersPolicyConfig struct {
	XMLName                   xml.Name                   `xml:"ResponseHeadersPolicyConfig"`
	Comment                   *string                    `xml:"Comment,omitempty"`
	Name                      string                     `xml:"Name"`
	CorsConfig                *CorsConfig                `xml:"CorsConfig,omitempty"`
	SecurityHeadersConfig     *SecurityHeadersConfig     `xml:"SecurityHeadersConfig,omitempty"`
	ServerTimingHeadersConfig *ServerTimingHeadersConfig `xml:"ServerTimingHeadersConfig,omitempty"`
	CustomHeadersConfig       *ResponseCustomHeaders     `xml:"CustomHeadersConfig,omitempty"`
	RemoveHeadersConfig       *ResponseRemoveHeaders     `xml:"RemoveHeadersConfig,omitempty"`
	Extra                     []RawElement               `xml:",any"`
}

// CorsConfig is a response headers policy's CorsConfig.
type CorsConfig struct {
	AccessControlAllowOrigins     *CorsOrigins `xml:"AccessControlAllowOrigins,omitempty"`
	AccessControlAllowHeaders     *HeaderNames `xml:"AccessControlAllowHeaders,omitempty"`
	AccessControlAllowMethods     *Methods     `xml:"AccessControlAllowMethods,omitempty"`
	AccessControlAllowCredentials *bool        `xml:"AccessControlAllowCredentials,omitempty"`
	AccessControlExposeHeaders    *HeaderNames `xml:"AccessControlExposeHeaders,omitempty"`
	AccessControlMaxAgeSec        *int         `xml:"AccessControlMaxAgeSec,omitempty"`
	OriginOverride                *bool        `xml:"OriginOverride,omitempty"`
	Extra                         []RawElement `xml:",any"`
}

// CorsOrigins lists the origins of Access-Control-Allow-Origin.
type CorsOrigins struct {
	Quantity int      `xml:"Quantity"`
	Items    []string `xml:"Items>Origin"`
}

// HeaderNames is a list of header names in a response headers policy.
type HeaderNames struct {
	Quantity int      `xml:"Quantity"`
	Items    []string `xml:"Items>Header"`
}

// SecurityHeadersConfig is a response headers policy's
// SecurityHeadersConfig.
type SecurityHeadersConfig struct {
	XSSProtection           *XSSProtection           `xml:"XSSProtection,omitempty"`
	FrameOptions            *FrameOptions            `xml:"FrameOptions,omitempty"`
	ReferrerPolicy          *ReferrerPolicy          `xml:"ReferrerPolicy,omitempty"`
	ContentSecurityPolicy   *ContentSecurityPolicy   `xml:"ContentSecurityPolicy,omitempty"`
	ContentTypeOptions      *ContentTypeOptions      `xml:"ContentTypeOptions,omitempty"`
	StrictTransportSecurity *StrictTransportSecurity `xml:"StrictTransportSecurity,omitempty"`
	Extra                   []RawElement             `xml:",any"`
}

// XSSProtection sets X-XSS-Protection.
type XSSProtection struct {
	Override   *bool   `xml:"Override,omitempty"`
	Protection *bool   `xml:"Protection,omitempty"`
	ModeBlock  *bool   `xml:"ModeBlock,omitempty"`
	ReportURI  *string `xml:"ReportUri,omitempty"`
}

// FrameOptions sets X-Frame-Options.
type FrameOptions struct {
	Override    *bool  `xml:"Override,omitempty"`
	FrameOption string `xml:"FrameOption"`
}

// ReferrerPolicy sets Referrer-Policy.
type ReferrerPolicy struct {
	Override       *bool  `xml:"Override,omitempty"`
	ReferrerPolicy string `xml:"ReferrerPolicy"`
}

// ContentSecurityPolicy sets Content-Security-Policy.
type ContentSecurityPolicy struct {
	Override              *bool  `xml:"Override,omitempty"`
	ContentSecurityPolicy string `xml:"ContentSecurityPolicy"`
}

// ContentTypeOptions sets X-Content-Type-Options: nosniff.
type ContentTypeOptions struct {
	Override *bool `xml:"Override,omitempty"`
}

// StrictTransportSecurity sets Strict-Transport-Security.
type StrictTransportSecurity struct {
	Override               *bool `xml:"Override,omitempty"`
	IncludeSubdomains      *bool `xml:"IncludeSubdomains,omitempty"`
	Preload                *bool `xml:"Preload,omitempty"`
	AccessControlMaxAgeSec *int  `xml:"AccessControlMaxAgeSec,omitempty"`
}

// ServerTimingHeadersConfig turns on the Server-Timing header. SamplingRate
// is a decimal percentage (0 to 100, up to four decimal places), kept as
// the text the client sent.
type ServerTimingHeadersConfig struct {
	Enabled      *bool        `xml:"Enabled,omitempty"`
	SamplingRate *string      `xml:"SamplingRate,omitempty"`
	Extra        []RawElement `xml:",any"`
}

// ResponseCustomHeaders lists the headers a response headers policy adds.
type ResponseCustomHeaders struct {
	Quantity int                    `xml:"Quantity"`
	Items    []ResponseCustomHeader `xml:"Items>ResponseHeadersPolicyCustomHeader"`
}

// ResponseCustomHeader is one header a response headers policy adds.
type ResponseCustomHeader struct {
	Header   string `xml:"Header"`
	Value    string `xml:"Value"`
	Override *bool  `xml:"Override,omitempty"`
}

// ResponseRemoveHeaders lists the headers a response headers policy
// removes.
type ResponseRemoveHeaders struct {
	Quantity int                    `xml:"Quantity"`
	Items    []ResponseRemoveHeader `xml:"Items>ResponseHeadersPolicyRemoveHeader"`
}

// ResponseRemoveHeader is one header a response headers policy removes.
type ResponseRemoveHeader struct {
	Header string `xml:"Header"`
}

// Behaviours of the HeadersConfig, CookiesConfig and QueryStringsConfig
// lists. Cache policies take none and whitelist for headers; none,
// whitelist, allExcept and all for cookies and query strings. Origin
// request policies add allViewer, allViewerAndWhitelistCloudFront and
// allExcept for headers.
const (
	BehaviorNone                            = "none"
	BehaviorWhitelist                       = "whitelist"
	BehaviorAllExcept                       = "allExcept"
	BehaviorAll                             = "all"
	BehaviorAllViewer                       = "allViewer"
	BehaviorAllViewerAndWhitelistCloudFront = "allViewerAndWhitelistCloudFront"
)

var (
	cacheHeaderBehaviors   = []string{BehaviorNone, BehaviorWhitelist}
	cacheListBehaviors     = []string{BehaviorNone, BehaviorWhitelist, BehaviorAllExcept, BehaviorAll}
	originHeaderBehaviors  = []string{BehaviorNone, BehaviorWhitelist, BehaviorAllViewer, BehaviorAllViewerAndWhitelistCloudFront, BehaviorAllExcept}
	originListBehaviors    = []string{BehaviorNone, BehaviorWhitelist, BehaviorAll, BehaviorAllExcept}
	corsMethods            = []string{"GET", "POST", "OPTIONS", "PUT", "DELETE", "PATCH", "HEAD", "ALL"}
	frameOptionValues      = []string{"DENY", "SAMEORIGIN"}
	referrerPolicyValues   = []string{"no-referrer", "no-referrer-when-downgrade", "origin", "origin-when-cross-origin", "same-origin", "strict-origin", "strict-origin-when-cross-origin", "unsafe-url"}
	unremovableHeaders     = []string{"connection", "content-encoding", "content-length", "expect", "host", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "trailer", "transfer-encoding", "upgrade", "via", "warning", "x-cache", "x-forwarded-proto", "x-real-ip"}
	unremovableHeaderPrefs = []string{"x-accel-", "x-amz-cf-", "x-amzn-", "x-edge-"}
	// originRequestOnlyHeaders are the CloudFront headers an origin request
	// policy may add but a cache policy may not key on.
	originRequestOnlyHeaders = []string{"CloudFront-Viewer-Address", "CloudFront-Viewer-ASN", "CloudFront-Viewer-TLS", "CloudFront-Viewer-JA3-Fingerprint"}
)

// TTLs returns the policy's MinTTL, DefaultTTL and MaxTTL with CloudFront's
// defaults for those left out: DefaultTTL is 86400 or MinTTL if greater,
// MaxTTL 31536000 or DefaultTTL if greater (API reference,
// CachePolicyConfig).
func (c *CachePolicyConfig) TTLs() (minTTL, defaultTTL, maxTTL int64) {
	minTTL = deref(c.MinTTL, 0)
	defaultTTL = deref(c.DefaultTTL, max(DefaultDefaultTTL, minTTL))
	maxTTL = deref(c.MaxTTL, max(DefaultMaxTTL, defaultTTL))
	return minTTL, defaultTTL, maxTTL
}

// Validate checks the cache policy configuration on its own: required
// elements, list quantities, enumerations, limits and the TTL order. Name
// uniqueness is the control service's. It returns an *Error.
func (c *CachePolicyConfig) Validate() error {
	p := c.ParametersInCacheKeyAndForwardedToOrigin
	if p != nil {
		if err := checkListQuantities(p.HeadersConfig, p.CookiesConfig, p.QueryStringsConfig); err != nil {
			return err
		}
	}
	if err := validatePolicyName(c.Name, c.Comment); err != nil {
		return err
	}
	if c.MinTTL == nil {
		return missing("MinTTL")
	}
	if p == nil {
		return missing("ParametersInCacheKeyAndForwardedToOrigin")
	}
	minTTL, defTTL, maxTTL := c.TTLs()
	switch {
	case minTTL < 0 || defTTL < 0 || maxTTL < 0:
		return Errorf(ErrInvalidArgument, "The TTL values of a cache policy cannot be negative.")
	case minTTL > defTTL || defTTL > maxTTL:
		return Errorf(ErrInvalidArgument, "The TTL order specified in the cache policy is not valid: MinTTL (%d) <= DefaultTTL (%d) <= MaxTTL (%d) must hold.", minTTL, defTTL, maxTTL)
	case p.EnableAcceptEncodingGzip == nil:
		return missing("EnableAcceptEncodingGzip")
	case p.HeadersConfig == nil:
		return missing("HeadersConfig")
	case p.CookiesConfig == nil:
		return missing("CookiesConfig")
	case p.QueryStringsConfig == nil:
		return missing("QueryStringsConfig")
	}
	headers := listRule{"HeaderBehavior", cacheHeaderBehaviors, ErrTooManyHeadersInCachePolicy, "headers in the cache policy", isToken, true}
	if err := headers.check(p.HeadersConfig.HeaderBehavior, headerNames(p.HeadersConfig)); err != nil {
		return err
	}
	for _, h := range headerNames(p.HeadersConfig) {
		// Values unique to a viewer or a connection, which would make
		// every request a key of its own (DG adding-cloudfront-headers:
		// they "can be added in an origin request policy, but not in a
		// cache policy").
		if slices.ContainsFunc(originRequestOnlyHeaders, func(n string) bool { return strings.EqualFold(n, h) }) {
			return Errorf(ErrInvalidArgument, "The parameter Headers contains %s that is not allowed.", h)
		}
	}
	cookies := listRule{"CookieBehavior", cacheListBehaviors, ErrTooManyCookiesInCachePolicy, "cookies in the cache policy", isToken, false}
	if err := cookies.check(p.CookiesConfig.CookieBehavior, cookieNames(p.CookiesConfig)); err != nil {
		return err
	}
	query := listRule{"QueryStringBehavior", cacheListBehaviors, ErrTooManyQueryStringsInCachePolicy, "query strings in the cache policy", isQueryName, false}
	if err := query.check(p.QueryStringsConfig.QueryStringBehavior, queryNames(p.QueryStringsConfig)); err != nil {
		return err
	}
	if maxTTL == 0 {
		// A policy that caches nothing has no cache key to put values in.
		switch {
		case *p.EnableAcceptEncodingGzip:
			return disabledCaching("EnableAcceptEncodingGzip")
		case p.EnableAcceptEncodingBrotli != nil && *p.EnableAcceptEncodingBrotli:
			return disabledCaching("EnableAcceptEncodingBrotli")
		case p.HeadersConfig.HeaderBehavior != BehaviorNone:
			return disabledCaching("HeaderBehavior")
		case p.CookiesConfig.CookieBehavior != BehaviorNone:
			return disabledCaching("CookieBehavior")
		case p.QueryStringsConfig.QueryStringBehavior != BehaviorNone:
			return disabledCaching("QueryStringBehavior")
		}
	}
	return nil
}

func disabledCaching(param string) *Error {
	return Errorf(ErrInvalidArgument, "The parameter %s is invalid for policy with caching disabled.", param)
}

// Validate checks the origin request policy configuration on its own. It
// returns an *Error.
func (c *OriginRequestPolicyConfig) Validate() error {
	if err := checkListQuantities(c.HeadersConfig, c.CookiesConfig, c.QueryStringsConfig); err != nil {
		return err
	}
	if err := validatePolicyName(c.Name, c.Comment); err != nil {
		return err
	}
	switch {
	case c.HeadersConfig == nil:
		return missing("HeadersConfig")
	case c.CookiesConfig == nil:
		return missing("CookiesConfig")
	case c.QueryStringsConfig == nil:
		return missing("QueryStringsConfig")
	}
	hb := c.HeadersConfig.HeaderBehavior
	if !slices.Contains(originHeaderBehaviors, hb) {
		return Errorf(ErrInvalidArgument, "The parameter HeaderBehavior has an invalid value %q.", hb)
	}
	headers := headerNames(c.HeadersConfig)
	if hb == BehaviorAllViewerAndWhitelistCloudFront {
		// The list names CloudFront's own headers, which the edge adds;
		// the quota on listed headers does not count them.
		if len(headers) == 0 {
			return Errorf(ErrInvalidArgument, "The parameter Headers is required when HeaderBehavior is %s.", hb)
		}
		for _, h := range headers {
			if !isCloudFrontHeader(h) {
				return Errorf(ErrInvalidArgument, "The parameter Headers contains %s, which is not a CloudFront header; HeaderBehavior %s lists CloudFront-* headers only.", h, hb)
			}
		}
	} else {
		listed := hb
		if hb == BehaviorAllViewer {
			listed = BehaviorAll // lists nothing, as "all" does
		}
		rule := listRule{"HeaderBehavior", []string{listed}, ErrTooManyHeadersInOriginRequestPolicy, "headers in the origin request policy", isToken, true}
		if err := rule.check(listed, headers); err != nil {
			return err
		}
	}
	if hb == BehaviorWhitelist {
		// The Authorization header must be in the cache key, so that the
		// cache never answers one viewer with another's authorized
		// response (AWS knowledge center, cloudfront-authorization-header).
		for _, h := range headers {
			if strings.EqualFold(h, "Authorization") {
				return Errorf(ErrInvalidArgument, "The parameter Headers contains %s that is not allowed.", h)
			}
		}
	}
	cookies := listRule{"CookieBehavior", originListBehaviors, ErrTooManyCookiesInOriginRequestPolicy, "cookies in the origin request policy", isToken, false}
	if err := cookies.check(c.CookiesConfig.CookieBehavior, cookieNames(c.CookiesConfig)); err != nil {
		return err
	}
	query := listRule{"QueryStringBehavior", originListBehaviors, ErrTooManyQueryStringsInOriginRequestPolicy, "query strings in the origin request policy", isQueryName, false}
	return query.check(c.QueryStringsConfig.QueryStringBehavior, queryNames(c.QueryStringsConfig))
}

// Validate checks the response headers policy configuration on its own. It
// returns an *Error.
func (c *ResponseHeadersPolicyConfig) Validate() error {
	if err := c.checkQuantities(); err != nil {
		return err
	}
	if err := validatePolicyName(c.Name, c.Comment); err != nil {
		return err
	}
	if err := c.CorsConfig.validate(); err != nil {
		return err
	}
	if err := c.SecurityHeadersConfig.validate(); err != nil {
		return err
	}
	if st := c.ServerTimingHeadersConfig; st != nil {
		if st.Enabled == nil {
			return missing("ServerTimingHeadersConfig Enabled")
		}
		if st.SamplingRate != nil && !isSamplingRate(*st.SamplingRate) {
			return Errorf(ErrInvalidArgument, "The parameter SamplingRate must be a number from 0 to 100 with up to four decimal places.")
		}
	}
	seen := map[string]bool{}
	if ch := c.CustomHeadersConfig; ch != nil {
		if len(ch.Items) > MaxResponseCustomHeaders {
			return Errorf(ErrTooManyCustomHeadersInResponseHeadersPolicy, "The number of custom headers in the response headers policy exceeds the maximum of %d.", MaxResponseCustomHeaders)
		}
		for _, h := range ch.Items {
			name := strings.ToLower(h.Header)
			switch {
			case !isToken(h.Header):
				return Errorf(ErrInvalidArgument, "The custom header name %q is not valid.", h.Header)
			case !isFieldValue(h.Value):
				return Errorf(ErrInvalidArgument, "The value of custom header %s is not valid.", h.Header)
			case h.Override == nil:
				return missing("Override of custom header " + h.Header)
			case seen[name]:
				return Errorf(ErrInvalidArgument, "The custom header %s is listed more than once.", h.Header)
			}
			seen[name] = true
		}
	}
	if rh := c.RemoveHeadersConfig; rh != nil {
		if len(rh.Items) > MaxResponseRemoveHeaders {
			return Errorf(ErrTooManyRemoveHeadersInResponseHeadersPolicy, "The number of headers to remove in the response headers policy exceeds the maximum of %d.", MaxResponseRemoveHeaders)
		}
		for _, h := range rh.Items {
			name := strings.ToLower(h.Header)
			switch {
			case !isToken(h.Header):
				return Errorf(ErrInvalidArgument, "The header name %q to remove is not valid.", h.Header)
			case slices.Contains(unremovableHeaders, name) || slices.ContainsFunc(unremovableHeaderPrefs, func(p string) bool { return strings.HasPrefix(name, p) }):
				return Errorf(ErrInvalidArgument, "The header %s cannot be removed by a response headers policy.", h.Header)
			case seen[name]:
				return Errorf(ErrInvalidArgument, "The header %s is both added and removed, or removed twice.", h.Header)
			}
			seen[name] = true
		}
	}
	return nil
}

// checkQuantities compares the Quantity of each list with its Items.
func (c *ResponseHeadersPolicyConfig) checkQuantities() error {
	check := func(name string, q, n int) error {
		if q != n {
			return quantityMismatch(name)
		}
		return nil
	}
	if cc := c.CorsConfig; cc != nil {
		if l := cc.AccessControlAllowOrigins; l != nil {
			if err := check("AccessControlAllowOrigins", l.Quantity, len(l.Items)); err != nil {
				return err
			}
		}
		for name, l := range map[string]*HeaderNames{"AccessControlAllowHeaders": cc.AccessControlAllowHeaders, "AccessControlExposeHeaders": cc.AccessControlExposeHeaders} {
			if l != nil {
				if err := check(name, l.Quantity, len(l.Items)); err != nil {
					return err
				}
			}
		}
		if l := cc.AccessControlAllowMethods; l != nil {
			if err := check("AccessControlAllowMethods", l.Quantity, len(l.Items)); err != nil {
				return err
			}
		}
	}
	if l := c.CustomHeadersConfig; l != nil {
		if err := check("CustomHeadersConfig", l.Quantity, len(l.Items)); err != nil {
			return err
		}
	}
	if l := c.RemoveHeadersConfig; l != nil {
		if err := check("RemoveHeadersConfig", l.Quantity, len(l.Items)); err != nil {
			return err
		}
	}
	return nil
}

func (cc *CorsConfig) validate() error {
	if cc == nil {
		return nil
	}
	switch {
	case cc.AccessControlAllowOrigins == nil || len(cc.AccessControlAllowOrigins.Items) == 0:
		return missing("AccessControlAllowOrigins")
	case cc.AccessControlAllowHeaders == nil:
		return missing("AccessControlAllowHeaders")
	case cc.AccessControlAllowMethods == nil || len(cc.AccessControlAllowMethods.Items) == 0:
		return missing("AccessControlAllowMethods")
	case cc.AccessControlAllowCredentials == nil:
		return missing("AccessControlAllowCredentials")
	case cc.OriginOverride == nil:
		return missing("OriginOverride")
	case cc.AccessControlMaxAgeSec != nil && *cc.AccessControlMaxAgeSec < 0:
		return Errorf(ErrInvalidArgument, "The parameter AccessControlMaxAgeSec cannot be negative.")
	}
	for _, m := range cc.AccessControlAllowMethods.Items {
		if !slices.Contains(corsMethods, m) {
			return Errorf(ErrInvalidArgument, "The parameter AccessControlAllowMethods has an invalid value %q.", m)
		}
	}
	for _, o := range cc.AccessControlAllowOrigins.Items {
		if o == "" || !isFieldValue(o) || strings.ContainsAny(o, " \t,") {
			return Errorf(ErrInvalidArgument, "The parameter AccessControlAllowOrigins has an invalid value %q.", o)
		}
		if o == "*" && *cc.AccessControlAllowCredentials {
			// The Fetch standard forbids credentials with a wildcard origin.
			return Errorf(ErrInvalidArgument, "AccessControlAllowOrigins cannot contain * when AccessControlAllowCredentials is true.")
		}
	}
	for _, l := range []*HeaderNames{cc.AccessControlAllowHeaders, cc.AccessControlExposeHeaders} {
		if l == nil {
			continue
		}
		for _, h := range l.Items {
			if h != "*" && !isToken(h) {
				return Errorf(ErrInvalidArgument, "The CORS header name %q is not valid.", h)
			}
		}
	}
	return nil
}

func (sh *SecurityHeadersConfig) validate() error {
	if sh == nil {
		return nil
	}
	if x := sh.XSSProtection; x != nil {
		switch {
		case x.Override == nil:
			return missing("XSSProtection Override")
		case x.Protection == nil:
			return missing("XSSProtection Protection")
		case !*x.Protection && (deref(x.ModeBlock, false) || x.ReportURI != nil):
			return Errorf(ErrInvalidArgument, "XSSProtection ModeBlock and ReportUri require Protection to be true.")
		case deref(x.ModeBlock, false) && x.ReportURI != nil:
			return Errorf(ErrInvalidArgument, "XSSProtection cannot set both ModeBlock and ReportUri.")
		case x.ReportURI != nil && !isFieldValue(*x.ReportURI):
			return Errorf(ErrInvalidArgument, "The parameter ReportUri is not valid.")
		}
	}
	if f := sh.FrameOptions; f != nil {
		if f.Override == nil {
			return missing("FrameOptions Override")
		}
		if !slices.Contains(frameOptionValues, f.FrameOption) {
			return Errorf(ErrInvalidArgument, "The parameter FrameOption has an invalid value %q.", f.FrameOption)
		}
	}
	if r := sh.ReferrerPolicy; r != nil {
		if r.Override == nil {
			return missing("ReferrerPolicy Override")
		}
		if !slices.Contains(referrerPolicyValues, r.ReferrerPolicy) {
			return Errorf(ErrInvalidArgument, "The parameter ReferrerPolicy has an invalid value %q.", r.ReferrerPolicy)
		}
	}
	if csp := sh.ContentSecurityPolicy; csp != nil {
		switch {
		case csp.Override == nil:
			return missing("ContentSecurityPolicy Override")
		case csp.ContentSecurityPolicy == "":
			return missing("ContentSecurityPolicy")
		case len(csp.ContentSecurityPolicy) > MaxContentSecurityPolicyLength:
			return Errorf(ErrTooLongCSPInResponseHeadersPolicy, "The length of the Content-Security-Policy header value exceeds the maximum of %d characters.", MaxContentSecurityPolicyLength)
		case !isFieldValue(csp.ContentSecurityPolicy):
			return Errorf(ErrInvalidArgument, "The parameter ContentSecurityPolicy is not a valid header value.")
		}
	}
	if cto := sh.ContentTypeOptions; cto != nil && cto.Override == nil {
		return missing("ContentTypeOptions Override")
	}
	if sts := sh.StrictTransportSecurity; sts != nil {
		switch {
		case sts.Override == nil:
			return missing("StrictTransportSecurity Override")
		case sts.AccessControlMaxAgeSec == nil:
			return missing("StrictTransportSecurity AccessControlMaxAgeSec")
		case *sts.AccessControlMaxAgeSec < 0:
			return Errorf(ErrInvalidArgument, "The parameter AccessControlMaxAgeSec cannot be negative.")
		}
	}
	return nil
}

// validatePolicyName checks a policy's Name and Comment.
func validatePolicyName(name string, comment *string) error {
	if name == "" {
		return missing("Name")
	}
	if !IsValidPolicyName(name) {
		return Errorf(ErrInvalidArgument, "The parameter Name must be 1 to %d letters, digits, hyphens or underscores.", MaxPolicyNameLength)
	}
	if comment != nil && len(*comment) > MaxCommentLength {
		return Errorf(ErrInvalidArgument, "The parameter Comment is longer than %d characters.", MaxCommentLength)
	}
	return nil
}

// IsValidPolicyName reports whether name may name a policy: 1 to 128
// letters, digits, hyphens and underscores.
func IsValidPolicyName(name string) bool {
	if name == "" || len(name) > MaxPolicyNameLength {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// listRule is how one Headers, Cookies or QueryStrings list of a policy is
// checked.
type listRule struct {
	param   string   // the behaviour's element, for messages
	allowed []string // the behaviours the list may take
	tooMany string   // the error code when the list is too long
	what    string   // what the list holds, for messages
	valid   func(string) bool
	fold    bool // names are case-insensitive (header names)
}

// check checks a list's behaviour and names: the behaviour is one the rule
// allows; whitelist and allExcept list at least one name and other
// behaviours none; the names are valid, distinct and at most
// MaxNamesPerPolicyList.
func (r listRule) check(behavior string, names []string) error {
	if behavior == "" {
		return missing(r.param)
	}
	if !slices.Contains(r.allowed, behavior) {
		return Errorf(ErrInvalidArgument, "The parameter %s has an invalid value %q.", r.param, behavior)
	}
	lists := behavior == BehaviorWhitelist || behavior == BehaviorAllExcept
	switch {
	case lists && len(names) == 0:
		return Errorf(ErrInvalidArgument, "The %s %s requires at least one name.", r.param, behavior)
	case !lists && len(names) > 0:
		return Errorf(ErrInvalidArgument, "The %s %s cannot be used with a list of names.", r.param, behavior)
	case len(names) > MaxNamesPerPolicyList:
		return Errorf(r.tooMany, "The number of %s exceeds the maximum of %d.", r.what, MaxNamesPerPolicyList)
	}
	seen := map[string]bool{}
	for _, n := range names {
		if !r.valid(n) {
			return Errorf(ErrInvalidArgument, "The name %q in the %s list is not valid.", n, r.param)
		}
		key := n
		if r.fold {
			key = strings.ToLower(n)
		}
		if seen[key] {
			return Errorf(ErrInvalidArgument, "The name %q is listed more than once for %s.", n, r.param)
		}
		seen[key] = true
	}
	return nil
}

// checkListQuantities compares the Quantity of the Headers, Cookies and
// QueryStrings lists with their Items.
func checkListQuantities(h *HeadersConfig, c *CookiesConfig, q *QueryStringsConfig) error {
	var lists [3]*Names
	if h != nil {
		lists[0] = h.Headers
	}
	if c != nil {
		lists[1] = c.Cookies
	}
	if q != nil {
		lists[2] = q.QueryStrings
	}
	for i, name := range []string{"Headers", "Cookies", "QueryStrings"} {
		if l := lists[i]; l != nil && l.Quantity != len(l.Items) {
			return quantityMismatch(name)
		}
	}
	return nil
}

func quantityMismatch(name string) *Error {
	return Errorf(ErrInconsistentQuantities, "The value of Quantity and the size of Items for %s don't match.", name)
}

// headerNames, cookieNames and queryNames return a config's listed names,
// or nil.
func headerNames(h *HeadersConfig) []string {
	if h == nil || h.Headers == nil {
		return nil
	}
	return h.Headers.Items
}

func cookieNames(c *CookiesConfig) []string {
	if c == nil || c.Cookies == nil {
		return nil
	}
	return c.Cookies.Items
}

func queryNames(q *QueryStringsConfig) []string {
	if q == nil || q.QueryStrings == nil {
		return nil
	}
	return q.QueryStrings.Items
}

// isQueryName reports whether s may name a query string parameter: not
// empty, no more than 128 bytes (CloudFront's quota on whitelisted query
// strings), and free of the bytes that delimit parameters or are not
// allowed in a URL.
func isQueryName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '&' || c == '=' || c == '#' {
			return false
		}
	}
	return true
}

// isCloudFrontHeader reports whether name is one of the CloudFront-*
// headers the edge generates.
func isCloudFrontHeader(name string) bool {
	return len(name) > len("CloudFront-") && strings.EqualFold(name[:len("CloudFront-")], "CloudFront-") && isToken(name)
}

// isSamplingRate reports whether s is a decimal from 0 to 100 with at most
// four decimal places.
func isSamplingRate(s string) bool {
	s = strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(frac) > 4 || strings.Trim(whole, "0123456789") != "" || strings.Trim(frac, "0123456789") != "" {
		return false
	}
	f, err := strconv.ParseFloat(s, 64)
	return err == nil && f >= 0 && f <= 100
}

// The managed policies. Their IDs, names and settings are those AWS
// publishes in the developer guide ("Use managed cache policies", "Use
// managed origin request policies", "Use managed response headers
// policies"). The comments of the cache and origin request policies, and
// the spelling and order of their header names (CloudFront returns most in
// lower case), are as CloudFront's API returns them in exports of real
// accounts. The response headers policies' comments, and the CORS elements
// their settings tables leave out (SimpleCORS's AccessControlAllowHeaders
// and AccessControlAllowMethods), are Portico's reading of the guide, not
// checked against the API.

// managedLastModified stands in for the managed policies'
// LastModifiedTime, which AWS does not publish.
var managedLastModified = time.Date(2020, 7, 22, 0, 0, 0, 0, time.UTC)

// managedETag returns a managed policy's ETag: fixed, derived from its ID,
// and shaped like CloudFront's.
func managedETag(id string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	sum := sha256.Sum256([]byte(id))
	b := make([]byte, 13)
	for i := range b {
		b[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return "E" + string(b)
}

func managed[C any](id string, cfg C) Policy[C] {
	return Policy[C]{ID: id, ETag: managedETag(id), LastModifiedTime: managedLastModified, Config: cfg, Managed: true}
}

// names returns a Names list of items, nil when there are none.
func names(items ...string) *Names {
	if len(items) == 0 {
		return nil
	}
	return &Names{Quantity: len(items), Items: items}
}

func cacheParams(gzip, brotli bool, headers []string, cookies string, cookieList []string, query string, queryList []string) *CacheKeyParameters {
	hb := BehaviorNone
	if len(headers) > 0 {
		hb = BehaviorWhitelist
	}
	return &CacheKeyParameters{
		EnableAcceptEncodingGzip:   Ptr(gzip),
		EnableAcceptEncodingBrotli: Ptr(brotli),
		HeadersConfig:              &HeadersConfig{HeaderBehavior: hb, Headers: names(headers...)},
		CookiesConfig:              &CookiesConfig{CookieBehavior: cookies, Cookies: names(cookieList...)},
		QueryStringsConfig:         &QueryStringsConfig{QueryStringBehavior: query, QueryStrings: names(queryList...)},
	}
}

func cachePolicy(id, name, comment string, minTTL, defTTL, maxTTL int64, p *CacheKeyParameters) CachePolicy {
	return managed(id, CachePolicyConfig{
		XMLName: xml.Name{Local: "CachePolicyConfig"},
		Comment: Ptr(comment), Name: name,
		MinTTL: Ptr(minTTL), DefaultTTL: Ptr(defTTL), MaxTTL: Ptr(maxTTL),
		ParametersInCacheKeyAndForwardedToOrigin: p,
	})
}

// IDs of the managed policies most configurations name.
const (
	ManagedCachingOptimized = "658327ea-f89d-4fab-a63d-7e88639e58f6"
	ManagedCachingDisabled  = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
	ManagedAllViewer        = "216adef6-5c7f-47e4-b989-5492eafa07d3"
)

// ManagedCachePolicies returns AWS's managed cache policies, sorted by ID.
// Each call returns a fresh copy.
func ManagedCachePolicies() []CachePolicy {
	const year = DefaultMaxTTL
	useOriginHeaders := []string{"x-method-override", "origin", "host", "x-http-method", "x-http-method-override"}
	ps := []CachePolicy{
		cachePolicy("2e54312d-136d-493c-8eb9-b001f22f67d2", "Managed-Amplify", "Policy for Amplify Origin", 2, 2, 600,
			cacheParams(true, true, []string{"Authorization", "CloudFront-Viewer-Country", "Host"}, BehaviorAll, nil, BehaviorAll, nil)),
		cachePolicy(ManagedCachingDisabled, "Managed-CachingDisabled", "Policy with caching disabled", 0, 0, 0,
			cacheParams(false, false, nil, BehaviorNone, nil, BehaviorNone, nil)),
		cachePolicy(ManagedCachingOptimized, "Managed-CachingOptimized", "Policy with caching enabled. Supports Gzip and Brotli compression.", 1, DefaultDefaultTTL, year,
			cacheParams(true, true, nil, BehaviorNone, nil, BehaviorNone, nil)),
		cachePolicy("b2884449-e4de-46a7-ac36-70bc7f1ddd6d", "Managed-CachingOptimizedForUncompressedObjects", "Default policy when compression is disabled", 1, DefaultDefaultTTL, year,
			cacheParams(false, false, nil, BehaviorNone, nil, BehaviorNone, nil)),
		cachePolicy("08627262-05a9-4f76-9ded-b50ca2e3a84f", "Managed-Elemental-MediaPackage", "Policy for Elemental MediaPackage Origin", 0, DefaultDefaultTTL, year,
			cacheParams(true, false, []string{"origin"}, BehaviorNone, nil, BehaviorWhitelist, []string{"aws.manifestfilter", "start", "end", "m"})),
		cachePolicy("83da9c7e-98b4-4e11-a168-04f0df8e2c65", "UseOriginCacheControlHeaders", "Policy for origins that return Cache-Control headers. Query strings are not included in the cache key.", 0, 0, year,
			cacheParams(true, true, useOriginHeaders, BehaviorAll, nil, BehaviorNone, nil)),
		cachePolicy("4cc15a8a-d715-48a4-82b8-cc0b614638fe", "UseOriginCacheControlHeaders-QueryStrings", "Policy for origins that return Cache-Control headers and serve different content based on values present in the query string.", 0, 0, year,
			cacheParams(true, true, useOriginHeaders, BehaviorAll, nil, BehaviorAll, nil)),
		// The Amplify Hosting policies, which AWS reserves for Amplify but
		// lists with the others.
		cachePolicy("4d1d2f1d-3a71-49ad-9e08-7ea5d843a556", "Managed-Amplify-Default", "Default Amplify cache policy", 0, 0, year,
			cacheParams(true, true, []string{"Authorization", "Accept", "CloudFront-Viewer-Country", "Host"}, BehaviorAll, nil, BehaviorAll, nil)),
		cachePolicy("a6bad946-36c3-4c33-aa98-362c74a7fb13", "Managed-Amplify-DefaultNoCookies", "Default Amplify cache policy without cookies", 0, 0, year,
			cacheParams(true, true, []string{"Authorization", "Accept", "CloudFront-Viewer-Country", "Host"}, BehaviorNone, nil, BehaviorAll, nil)),
		cachePolicy("1c6db51a-a33f-469a-8245-dae26771f530", "Managed-Amplify-ImageOptimization", "Amplify cache policy for image optimization", 0, 0, year,
			cacheParams(true, true, []string{"Authorization", "Accept", "Host"}, BehaviorNone, nil, BehaviorAll, nil)),
		cachePolicy("7e5fad67-ee98-4ad0-b05a-394999eefc1a", "Managed-Amplify-StaticContent", "Amplify cache policy for static content", 0, 0, year,
			cacheParams(true, true, []string{"Authorization", "Host"}, BehaviorNone, nil, BehaviorNone, nil)),
	}
	slices.SortFunc(ps, func(a, b CachePolicy) int { return strings.Compare(a.ID, b.ID) })
	return ps
}

func originPolicy(id, name, comment, headerBehavior string, headers []string, cookies, query string) OriginRequestPolicy {
	return managed(id, OriginRequestPolicyConfig{
		XMLName:            xml.Name{Local: "OriginRequestPolicyConfig"},
		Comment:            Ptr(comment),
		Name:               name,
		HeadersConfig:      &HeadersConfig{HeaderBehavior: headerBehavior, Headers: names(headers...)},
		CookiesConfig:      &CookiesConfig{CookieBehavior: cookies},
		QueryStringsConfig: &QueryStringsConfig{QueryStringBehavior: query},
	})
}

// ManagedOriginRequestPolicies returns AWS's managed origin request
// policies, sorted by ID. Each call returns a fresh copy.
func ManagedOriginRequestPolicies() []OriginRequestPolicy {
	ps := []OriginRequestPolicy{
		originPolicy(ManagedAllViewer, "Managed-AllViewer", "Policy to forward all parameters in viewer requests",
			BehaviorAllViewer, nil, BehaviorAll, BehaviorAll),
		originPolicy("33f36d7e-f396-46d9-90e0-52428a34d9dc", "Managed-AllViewerAndCloudFrontHeaders-2022-06",
			"Policy to forward all parameters in viewer requests and all CloudFront headers as of June 2022",
			BehaviorAllViewerAndWhitelistCloudFront, []string{
				"CloudFront-Viewer-Time-Zone", "CloudFront-Viewer-Address", "CloudFront-Viewer-Country",
				"CloudFront-Is-IOS-Viewer", "CloudFront-Is-Tablet-Viewer", "CloudFront-Forwarded-Proto",
				"CloudFront-Viewer-Country-Name", "CloudFront-Is-Mobile-Viewer", "CloudFront-Is-SmartTV-Viewer",
				"CloudFront-Viewer-Country-Region", "CloudFront-Is-Android-Viewer", "CloudFront-Viewer-Country-Region-Name",
				"CloudFront-Viewer-City", "CloudFront-Viewer-Latitude", "CloudFront-Viewer-Longitude",
				"CloudFront-Viewer-Http-Version", "CloudFront-Viewer-Postal-Code", "CloudFront-Viewer-ASN",
				"CloudFront-Is-Desktop-Viewer", "CloudFront-Viewer-Metro-Code", "CloudFront-Viewer-TLS",
			}, BehaviorAll, BehaviorAll),
		originPolicy("b689b0a8-53d0-40ab-baf2-68738e2966ac", "Managed-AllViewerExceptHostHeader",
			"Policy to forward all parameters in viewer requests except for the Host header",
			BehaviorAllExcept, []string{"host"}, BehaviorAll, BehaviorAll),
		originPolicy("59781a5b-3903-41f3-afcb-af62929ccde1", "Managed-CORS-CustomOrigin", "Policy for custom origin with CORS",
			BehaviorWhitelist, []string{"origin"}, BehaviorNone, BehaviorNone),
		originPolicy("88a5eaf4-2fd4-4709-b370-b4c650ea3fcf", "Managed-CORS-S3Origin", "Policy for S3 origin with CORS",
			BehaviorWhitelist, []string{"origin", "access-control-request-headers", "access-control-request-method"}, BehaviorNone, BehaviorNone),
		originPolicy("775133bc-15f2-49f9-abea-afb2e0bf67d2", "Managed-Elemental-MediaTailor-PersonalizedManifests", "Policy for Elemental MediaTailor Origin",
			BehaviorWhitelist, []string{"origin", "access-control-request-headers", "x-forwarded-for", "access-control-request-method", "user-agent"}, BehaviorNone, BehaviorAll),
		originPolicy("acba4595-bd28-49b8-b9fe-13317c0390fa", "Managed-UserAgentRefererHeaders", "Policy to forward user-agent and referer headers to origin",
			BehaviorWhitelist, []string{"referer", "user-agent"}, BehaviorNone, BehaviorNone),
	}
	slices.SortFunc(ps, func(a, b OriginRequestPolicy) int { return strings.Compare(a.ID, b.ID) })
	return ps
}

func corsAllowAll(preflight bool) *CorsConfig {
	cc := &CorsConfig{
		AccessControlAllowOrigins:     &CorsOrigins{Quantity: 1, Items: []string{"*"}},
		AccessControlAllowHeaders:     &HeaderNames{},
		AccessControlAllowMethods:     &Methods{Quantity: 1, Items: []string{"ALL"}},
		AccessControlAllowCredentials: Ptr(false),
		OriginOverride:                Ptr(false),
	}
	if preflight {
		methods := []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}
		cc.AccessControlAllowHeaders = &HeaderNames{Quantity: 1, Items: []string{"*"}}
		cc.AccessControlAllowMethods = &Methods{Quantity: len(methods), Items: methods}
		cc.AccessControlExposeHeaders = &HeaderNames{Quantity: 1, Items: []string{"*"}}
	}
	return cc
}

func securityHeaders() *SecurityHeadersConfig {
	return &SecurityHeadersConfig{
		XSSProtection:           &XSSProtection{Override: Ptr(false), Protection: Ptr(true), ModeBlock: Ptr(true)},
		FrameOptions:            &FrameOptions{Override: Ptr(false), FrameOption: "SAMEORIGIN"},
		ReferrerPolicy:          &ReferrerPolicy{Override: Ptr(false), ReferrerPolicy: "strict-origin-when-cross-origin"},
		ContentTypeOptions:      &ContentTypeOptions{Override: Ptr(true)},
		StrictTransportSecurity: &StrictTransportSecurity{Override: Ptr(false), IncludeSubdomains: Ptr(false), Preload: Ptr(false), AccessControlMaxAgeSec: Ptr(31536000)},
	}
}

func headersPolicy(id, name, comment string, cors *CorsConfig, security *SecurityHeadersConfig) ResponseHeadersPolicy {
	return managed(id, ResponseHeadersPolicyConfig{
		XMLName: xml.Name{Local: "ResponseHeadersPolicyConfig"},
		Comment: Ptr(comment), Name: name, CorsConfig: cors, SecurityHeadersConfig: security,
	})
}

// ManagedResponseHeadersPolicies returns AWS's managed response headers
// policies, sorted by ID. Each call returns a fresh copy.
func ManagedResponseHeadersPolicies() []ResponseHeadersPolicy {
	ps := []ResponseHeadersPolicy{
		headersPolicy("60669652-455b-4ae9-85a4-c4c02393f86c", "Managed-SimpleCORS",
			"Allows all origins for simple CORS requests", corsAllowAll(false), nil),
		headersPolicy("5cc3b908-e619-4b99-88e5-2cf7f45965bd", "Managed-CORS-With-Preflight",
			"Allows all origins for CORS requests, including preflight requests", corsAllowAll(true), nil),
		headersPolicy("67f7725c-6f97-4210-82d7-5512b31e9d03", "Managed-SecurityHeadersPolicy",
			"Adds a set of security headers to every response", nil, securityHeaders()),
		headersPolicy("e61eb60c-9c35-4d20-a928-2b84e02af89c", "Managed-CORS-and-SecurityHeadersPolicy",
			"Allows all origins for simple CORS requests and adds security headers", corsAllowAll(false), securityHeaders()),
		headersPolicy("eaab4381-ed33-4a86-88ca-d9558dc6cd63", "Managed-CORS-with-preflight-and-SecurityHeadersPolicy",
			"Allows all origins for CORS requests, including preflight requests, and adds security headers", corsAllowAll(true), securityHeaders()),
	}
	slices.SortFunc(ps, func(a, b ResponseHeadersPolicy) int { return strings.Compare(a.ID, b.ID) })
	return ps
}

// FindManaged returns the managed policy with the given ID from policies
// (one of the Managed… lists), or false.
func FindManaged[C any](policies []Policy[C], id string) (Policy[C], bool) {
	for _, p := range policies {
		if p.ID == id {
			return p, true
		}
	}
	return Policy[C]{}, false
}

// SelectMode says how a Selection picks names.
type SelectMode uint8

// Selection modes. The zero value selects nothing.
const (
	SelectNone      SelectMode = iota // nothing
	SelectWhitelist                   // only the listed names
	SelectAllExcept                   // everything but the listed names
	SelectAll                         // everything
)

var selectModeNames = [...]string{"none", "whitelist", "allExcept", "all"}

func (m SelectMode) String() string {
	if int(m) < len(selectModeNames) {
		return selectModeNames[m]
	}
	return "SelectMode(" + strconv.Itoa(int(m)) + ")"
}

// Selection picks a request's headers, cookies or query string parameters
// by name.
type Selection struct {
	Mode SelectMode
	// Names are the listed names, sorted and distinct. Header names are in
	// canonical form (net/http.CanonicalHeaderKey), the form http.Header
	// keys take: header names are case-insensitive (DG header-caching,
	// "How the case of headers and header values affects caching").
	// Cookie and query string names are case-sensitive and kept as
	// configured.
	Names []string
	// Wildcards means Names may hold "*" (any run of characters) and "?"
	// (any one character), as the cookie whitelists of legacy cache
	// settings may (DG Cookies).
	Wildcards bool
}

// Includes reports whether the selection picks name. A header name must be
// in canonical form.
func (s Selection) Includes(name string) bool {
	switch s.Mode {
	case SelectAll:
		return true
	case SelectWhitelist:
		return s.listed(name)
	case SelectAllExcept:
		return !s.listed(name)
	}
	return false
}

func (s Selection) listed(name string) bool {
	if s.Wildcards {
		return slices.ContainsFunc(s.Names, func(p string) bool { return wildcardMatch(p, name) })
	}
	_, ok := slices.BinarySearch(s.Names, name)
	return ok
}

// wildcardMatch reports whether name matches pattern, where "*" matches any
// run of bytes and "?" any one byte.
func wildcardMatch(pattern, name string) bool {
	star, mark := -1, 0
	p, n := 0, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == name[n]):
			p++
			n++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case star >= 0:
			p, mark = star+1, mark+1
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// KeyParams is what a cache key is made of besides the host and the path
// (DG understanding-the-cache-key, "The default cache key").
type KeyParams struct {
	// Headers is none or a whitelist; all when legacy settings forward
	// every header ("*"), in which case CloudFront caches nothing (DG
	// header-caching). CloudFront-* names in it are values the edge
	// computes, not viewer headers.
	Headers      Selection
	Cookies      Selection
	QueryStrings Selection
	// AcceptEncodingGzip and AcceptEncodingBrotli say which encodings the
	// normalised Accept-Encoding ("br,gzip", "gzip", "br" or absent) may
	// name in the key; that normalised value is also what the origin is
	// sent (DG controlling-the-cache-key, "Cache compressed objects").
	AcceptEncodingGzip   bool
	AcceptEncodingBrotli bool
}

// NormalizesAcceptEncoding reports whether Accept-Encoding is normalised
// (and keyed on and forwarded only in that form).
func (k *KeyParams) NormalizesAcceptEncoding() bool {
	return k.AcceptEncodingGzip || k.AcceptEncodingBrotli
}

// Caches reports whether responses may be cached at all: not when every
// header is in the key.
func (k *KeyParams) Caches() bool { return k.Headers.Mode != SelectAll }

// ForwardParams is what an origin request carries from the viewer request
// besides the path and the body. It includes everything in the cache key.
//
// Rules that do not depend on the configuration stay with the data plane:
// headers CloudFront never forwards (hop-by-hop, X-Forwarded-Proto,
// X-Real-IP, X-Edge-*, Proxy-*, and viewer-sent CloudFront-*), the client
// IP, X-Amz-Cf-Id and Via, User-Agent replaced by "Amazon CloudFront" when
// not selected, Host set to the origin's name when not selected, the
// normalised Accept-Encoding when the key normalises it, and, under legacy
// settings, Authorization on the methods the behaviour does not cache (DG
// RequestAndResponseBehaviorCustomOrigin).
type ForwardParams struct {
	// Headers are the viewer headers forwarded as sent.
	Headers Selection
	// CloudFrontHeaders are the CloudFront-* headers the edge computes and
	// adds, canonical and sorted (DG using-cloudfront-headers).
	CloudFrontHeaders []string
	Cookies           Selection
	QueryStrings      Selection
}

// ResolvedPolicy is what a cache behaviour keys its cache on and forwards
// to the origin, and for how long it caches, resolved from its legacy
// ForwardedValues and TTLs or from its cache and origin request policies.
type ResolvedPolicy struct {
	Key     KeyParams
	Forward ForwardParams
	// MinTTL, DefaultTTL and MaxTTL bound freshness, in seconds (DG
	// Expiration).
	MinTTL, DefaultTTL, MaxTTL int64
	// Legacy is true when the behaviour uses ForwardedValues rather than
	// policies.
	Legacy bool
}

// legacyWithheld are the viewer headers CloudFront does not forward under
// legacy settings unless they are whitelisted; every other viewer header is
// forwarded (DG RequestAndResponseBehaviorCustomOrigin, "HTTP request
// headers and CloudFront behavior"; DG header-caching: "CloudFront also
// forwards the headers that it forwards by default"). Canonical and sorted.
var legacyWithheld = []string{
	"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Authorization",
	"Expect", "Host", "Referer", "User-Agent", "X-Http-Method-Override",
}

// ResolveBehavior resolves what the cache behaviour b keys its cache on and
// forwards to its origin. When b names a cache policy, cache must be that
// policy's configuration, and likewise origin for an origin request policy
// (nil when b names none); when b uses legacy ForwardedValues, both must
// be nil. The rules are CloudFront's:
//
//   - Legacy settings (DG header-caching, Cookies, QueryStringParameters):
//     whitelisted headers are keyed and forwarded, every other header but
//     those CloudFront withholds is forwarded unkeyed, "*" forwards and
//     keys everything (and so caches nothing); cookies are keyed and
//     forwarded as Forward says; query strings are forwarded when
//     QueryString is true and keyed on all of them or on the
//     QueryStringCacheKeys. The TTLs are the behaviour's.
//   - Policies (DG controlling-the-cache-key, controlling-origin-requests):
//     what the cache policy keys is forwarded; the origin request policy
//     forwards more without keying it; EnableAcceptEncoding* normalise
//     Accept-Encoding, which an origin request policy then cannot forward
//     as sent. The TTLs are the cache policy's.
//
// It returns an *Error when b and the policies given do not match.
func ResolveBehavior(b *CacheBehavior, cache *CachePolicyConfig, origin *OriginRequestPolicyConfig) (ResolvedPolicy, error) {
	usesCache := b.CachePolicyID != nil && *b.CachePolicyID != ""
	usesOrigin := b.OriginRequestPolicyID != nil && *b.OriginRequestPolicyID != ""
	switch {
	case usesCache && cache == nil:
		return ResolvedPolicy{}, Errorf(ErrInvalidArgument, "The cache behavior uses cache policy %s, whose configuration was not given.", *b.CachePolicyID)
	case !usesCache && cache != nil:
		return ResolvedPolicy{}, Errorf(ErrInvalidArgument, "A cache policy was given for a cache behavior that uses none.")
	case usesOrigin && origin == nil:
		return ResolvedPolicy{}, Errorf(ErrInvalidArgument, "The cache behavior uses origin request policy %s, whose configuration was not given.", *b.OriginRequestPolicyID)
	case !usesOrigin && origin != nil:
		return ResolvedPolicy{}, Errorf(ErrInvalidArgument, "An origin request policy was given for a cache behavior that uses none.")
	case usesOrigin && !usesCache:
		return ResolvedPolicy{}, Errorf(ErrInvalidArgument, "To use an origin request policy, the cache behavior must also use a cache policy.")
	case usesCache:
		return resolvePolicies(cache, origin)
	case b.ForwardedValues == nil:
		return ResolvedPolicy{}, Errorf(ErrInvalidArgument, "The parameter ForwardedValues is required when a cache policy is not used.")
	}
	return resolveLegacy(b), nil
}

func resolveLegacy(b *CacheBehavior) ResolvedPolicy {
	fv := b.ForwardedValues
	r := ResolvedPolicy{Legacy: true}
	r.MinTTL, r.DefaultTTL, r.MaxTTL = b.TTLs()

	var whitelist []string
	all := false
	if fv.Headers != nil {
		for _, h := range fv.Headers.Items {
			if h == "*" {
				all = true
				continue
			}
			whitelist = append(whitelist, http.CanonicalHeaderKey(h))
		}
	}
	switch {
	case all:
		r.Key.Headers = Selection{Mode: SelectAll}
		r.Forward.Headers = Selection{Mode: SelectAll}
	default:
		r.Key.Headers = whitelistOf(whitelist)
		withheld := slices.DeleteFunc(slices.Clone(legacyWithheld), func(h string) bool { return slices.Contains(whitelist, h) })
		r.Forward.Headers = Selection{Mode: SelectAllExcept, Names: withheld}
	}
	// Whitelisted CloudFront-* headers are keyed on the values the edge
	// computes, and added to the origin request.
	r.Forward.CloudFrontHeaders, _ = splitCloudFront(r.Key.Headers.Names)
	// Accept-Encoding, unless whitelisted (and so keyed and forwarded as
	// sent), is normalised for the cache and the origin.
	if !all && !slices.Contains(whitelist, "Accept-Encoding") {
		r.Key.AcceptEncodingGzip, r.Key.AcceptEncodingBrotli = true, true
	}

	if c := fv.Cookies; c != nil {
		switch c.Forward {
		case "all":
			r.Key.Cookies = Selection{Mode: SelectAll}
		case "whitelist":
			var listed []string
			if c.WhitelistedNames != nil {
				listed = c.WhitelistedNames.Items
			}
			r.Key.Cookies = whitelistOf(listed)
			r.Key.Cookies.Wildcards = slices.ContainsFunc(listed, func(n string) bool { return strings.ContainsAny(n, "*?") })
		}
	}
	r.Forward.Cookies = r.Key.Cookies

	if fv.QueryString != nil && *fv.QueryString {
		r.Forward.QueryStrings = Selection{Mode: SelectAll}
		r.Key.QueryStrings = Selection{Mode: SelectAll}
		if k := fv.QueryStringCacheKeys; k != nil && len(k.Items) > 0 {
			r.Key.QueryStrings = whitelistOf(k.Items)
		}
	}
	return r
}

func resolvePolicies(cache *CachePolicyConfig, origin *OriginRequestPolicyConfig) (ResolvedPolicy, error) {
	p := cache.ParametersInCacheKeyAndForwardedToOrigin
	if p == nil {
		return ResolvedPolicy{}, missing("ParametersInCacheKeyAndForwardedToOrigin")
	}
	var r ResolvedPolicy
	r.MinTTL, r.DefaultTTL, r.MaxTTL = cache.TTLs()
	r.Key.AcceptEncodingGzip = deref(p.EnableAcceptEncodingGzip, false)
	r.Key.AcceptEncodingBrotli = deref(p.EnableAcceptEncodingBrotli, false)

	var err error
	if r.Key.Headers, err = headerSelection(p.HeadersConfig); err != nil {
		return ResolvedPolicy{}, err
	}
	if r.Key.Cookies, err = listSelection(cookieBehavior(p.CookiesConfig), cookieNames(p.CookiesConfig)); err != nil {
		return ResolvedPolicy{}, err
	}
	if r.Key.QueryStrings, err = listSelection(queryBehavior(p.QueryStringsConfig), queryNames(p.QueryStringsConfig)); err != nil {
		return ResolvedPolicy{}, err
	}

	// What is in the cache key is forwarded.
	cfHeaders, keyed := splitCloudFront(r.Key.Headers.Names)
	r.Forward.Headers = normalize(Selection{Mode: r.Key.Headers.Mode, Names: keyed})
	r.Forward.Cookies = r.Key.Cookies
	r.Forward.QueryStrings = r.Key.QueryStrings

	// The origin request policy forwards more.
	if origin != nil {
		hc := origin.HeadersConfig
		if hc == nil {
			return ResolvedPolicy{}, missing("HeadersConfig")
		}
		var more Selection
		switch hc.HeaderBehavior {
		case BehaviorAllViewerAndWhitelistCloudFront:
			more = Selection{Mode: SelectAll}
			cfHeaders = append(cfHeaders, canonical(headerNames(hc))...)
		case BehaviorAllViewer:
			more = Selection{Mode: SelectAll}
		default:
			if more, err = headerSelection(hc); err != nil {
				return ResolvedPolicy{}, err
			}
			if more.Mode == SelectWhitelist {
				var extra []string
				extra, more.Names = splitCloudFront(more.Names)
				cfHeaders = append(cfHeaders, extra...)
				more = normalize(more)
			}
		}
		r.Forward.Headers = union(r.Forward.Headers, more)
		cookies, err := listSelection(cookieBehavior(origin.CookiesConfig), cookieNames(origin.CookiesConfig))
		if err != nil {
			return ResolvedPolicy{}, err
		}
		query, err := listSelection(queryBehavior(origin.QueryStringsConfig), queryNames(origin.QueryStringsConfig))
		if err != nil {
			return ResolvedPolicy{}, err
		}
		r.Forward.Cookies = union(r.Forward.Cookies, cookies)
		r.Forward.QueryStrings = union(r.Forward.QueryStrings, query)
	}
	r.Forward.CloudFrontHeaders = sortedSet(cfHeaders)

	// A normalised Accept-Encoding replaces the viewer's: an origin
	// request policy that names it has no effect.
	if r.Key.NormalizesAcceptEncoding() {
		r.Forward.Headers = subtract(r.Forward.Headers, "Accept-Encoding")
	}
	return r, nil
}

func cookieBehavior(c *CookiesConfig) string {
	if c == nil {
		return ""
	}
	return c.CookieBehavior
}

func queryBehavior(q *QueryStringsConfig) string {
	if q == nil {
		return ""
	}
	return q.QueryStringBehavior
}

// headerSelection returns the selection of a cache or origin request
// policy's HeadersConfig (other than its allViewer forms), with canonical
// names.
func headerSelection(hc *HeadersConfig) (Selection, error) {
	if hc == nil {
		return Selection{}, missing("HeadersConfig")
	}
	s, err := listSelection(hc.HeaderBehavior, canonical(headerNames(hc)))
	return normalize(s), err
}

// listSelection returns the selection a policy list's behaviour and names
// make.
func listSelection(behavior string, names []string) (Selection, error) {
	switch behavior {
	case BehaviorNone:
		return Selection{}, nil
	case BehaviorAll:
		return Selection{Mode: SelectAll}, nil
	case BehaviorWhitelist:
		return whitelistOf(names), nil
	case BehaviorAllExcept:
		return normalize(Selection{Mode: SelectAllExcept, Names: sortedSet(names)}), nil
	}
	return Selection{}, Errorf(ErrInvalidArgument, "The policy list behavior %q is not valid here.", behavior)
}

func whitelistOf(names []string) Selection {
	return normalize(Selection{Mode: SelectWhitelist, Names: sortedSet(names)})
}

// normalize makes equal selections equal values: a whitelist of nothing
// selects nothing, everything except nothing is everything, and modes that
// list nothing carry no names.
func normalize(s Selection) Selection {
	switch s.Mode {
	case SelectWhitelist:
		if len(s.Names) == 0 {
			return Selection{}
		}
	case SelectAllExcept:
		if len(s.Names) == 0 {
			return Selection{Mode: SelectAll}
		}
	default:
		return Selection{Mode: s.Mode}
	}
	return s
}

// union returns a selection of what either a or b selects. Neither may use
// wildcards.
func union(a, b Selection) Selection {
	switch {
	case a.Mode == SelectNone:
		return b
	case b.Mode == SelectNone:
		return a
	case a.Mode == SelectAll || b.Mode == SelectAll:
		return Selection{Mode: SelectAll}
	case a.Mode == SelectWhitelist && b.Mode == SelectWhitelist:
		return whitelistOf(append(slices.Clone(a.Names), b.Names...))
	case a.Mode == SelectAllExcept && b.Mode == SelectAllExcept:
		both := slices.DeleteFunc(slices.Clone(a.Names), func(n string) bool { return !slices.Contains(b.Names, n) })
		return normalize(Selection{Mode: SelectAllExcept, Names: both})
	}
	// One excepts, the other lists: everything but what is excepted and
	// not listed.
	except, list := a, b
	if a.Mode == SelectWhitelist {
		except, list = b, a
	}
	left := slices.DeleteFunc(slices.Clone(except.Names), func(n string) bool { return slices.Contains(list.Names, n) })
	return normalize(Selection{Mode: SelectAllExcept, Names: left})
}

// subtract returns s without name.
func subtract(s Selection, name string) Selection {
	switch s.Mode {
	case SelectWhitelist:
		return normalize(Selection{Mode: SelectWhitelist, Names: slices.DeleteFunc(slices.Clone(s.Names), func(n string) bool { return n == name })})
	case SelectAllExcept:
		return Selection{Mode: SelectAllExcept, Names: sortedSet(append(slices.Clone(s.Names), name))}
	case SelectAll:
		return Selection{Mode: SelectAllExcept, Names: []string{name}}
	}
	return s
}

// splitCloudFront separates the CloudFront-* names from the others.
func splitCloudFront(names []string) (cloudFront, others []string) {
	for _, n := range names {
		if isCloudFrontHeader(n) {
			cloudFront = append(cloudFront, n)
		} else {
			others = append(others, n)
		}
	}
	return cloudFront, others
}

func canonical(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = http.CanonicalHeaderKey(n)
	}
	return out
}

// sortedSet returns names sorted and without repeats, or nil.
func sortedSet(names []string) []string {
	if len(names) == 0 {
		return nil
	}
	out := slices.Sorted(slices.Values(names))
	return slices.Compact(out)
}

// String describes a selection for logs and explanations, such as
// "whitelist(Accept, Origin)".
func (s Selection) String() string {
	if len(s.Names) == 0 {
		return s.Mode.String()
	}
	return fmt.Sprintf("%s(%s)", s.Mode, strings.Join(s.Names, ", "))
}
