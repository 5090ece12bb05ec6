package origin

import (
	"net"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/portico-edge/portico"
)

// Cookie forwarding modes of a CacheBehavior's ForwardedValues.
const (
	cookiesNone      = "none"
	cookiesWhitelist = "whitelist"
	cookiesAll       = "all"
)

// The value CloudFront puts in User-Agent unless the header is whitelisted.
const cloudFrontUserAgent = "Amazon CloudFront"

// via is appended to the Via header of every origin request.
const via = "1.1 portico (Portico)"

// removedUnlessWhitelisted are the viewer headers CloudFront drops before a
// request to a custom origin unless the behaviour whitelists them (DG
// RequestAndResponseBehaviorCustomOrigin, "HTTP request headers and
// CloudFront behavior"). User-Agent and Accept-Encoding are replaced rather
// than dropped; Authorization depends on the method; see policy.keep.
var removedUnlessWhitelisted = map[string]bool{
	"Accept":                 true,
	"Accept-Charset":         true,
	"Accept-Language":        true,
	"Referer":                true,
	"Expect":                 true,
	"X-Http-Method-Override": true,
	"User-Agent":             true,
	"Accept-Encoding":        true,
}

// alwaysRemoved are viewer headers that never reach the origin, whatever
// the whitelist says: client-IP claims (the origin gets exactly one IP, from
// the TCP peer), request IDs and edge headers only the edge may set, and
// hop-by-hop or proxy headers.
var alwaysRemoved = map[string]bool{
	"X-Forwarded-For":   true,
	"X-Forwarded-Host":  true,
	"X-Forwarded-Proto": true,
	"Forwarded":         true,
	"True-Client-Ip":    true,
	"X-Real-Ip":         true,
	"X-Amz-Cf-Id":       true,
	"Te":                true,
	"Trailer":           true,
	"Cookie":            true, // rebuilt from the cookie preference
}

// alwaysRemovedPrefixes are matched case-insensitively.
var alwaysRemovedPrefixes = []string{"x-edge-", "proxy-", "cloudfront-"}

// policy is a behaviour's ForwardedValues compiled for the request path.
type policy struct {
	allHeaders  bool            // headers whitelist "*"
	whitelist   map[string]bool // canonical header names
	forwardHost bool            // Host is whitelisted (or "*")
	query       bool            // forward the query string
	cookies     *portico.CookiePreference
	// authOnOptions is true when OPTIONS responses are cached: CloudFront
	// then drops Authorization on OPTIONS as on GET and HEAD.
	authOnOptions bool
}

func newPolicy(b *portico.CacheBehavior) policy {
	p := policy{whitelist: map[string]bool{}}
	if fv := b.ForwardedValues; fv != nil {
		p.query = fv.QueryString != nil && *fv.QueryString
		p.cookies = fv.Cookies
		if fv.Headers != nil {
			for _, name := range fv.Headers.Items {
				if name == "*" {
					p.allHeaders = true
					continue
				}
				p.whitelist[textproto.CanonicalMIMEHeaderKey(name)] = true
			}
		}
	}
	p.forwardHost = p.allHeaders || p.whitelist["Host"]
	_, cached := b.Methods()
	for _, m := range cached {
		if m == http.MethodOptions {
			p.authOnOptions = true
		}
	}
	return p
}

// whitelisted reports whether the viewer's header name is forwarded as is.
func (p *policy) whitelisted(name string) bool {
	return p.allHeaders || p.whitelist[name]
}

// keep reports whether the viewer header name (canonical) is forwarded.
func (p *policy) keep(name, method string, websocket bool) bool {
	if alwaysRemoved[name] || name == "" || name[0] == ':' {
		// (An HTTP/2 pseudo-header such as :protocol is not a field.)
		return false
	}
	for _, prefix := range alwaysRemovedPrefixes {
		if len(name) >= len(prefix) && strings.EqualFold(name[:len(prefix)], prefix) {
			return false
		}
	}
	switch name {
	case "Upgrade", "Connection":
		// Set by ReverseProxy only for a protocol upgrade; CloudFront
		// passes WebSocket upgrades and no others.
		return websocket
	case "Authorization":
		switch method {
		case http.MethodGet, http.MethodHead:
			return p.whitelisted(name)
		case http.MethodOptions:
			return !p.authOnOptions || p.whitelisted(name)
		}
		return true
	}
	if removedUnlessWhitelisted[name] {
		return p.whitelisted(name)
	}
	return true
}

// AppendCookieHeader appends to dst the Cookie header value that Portico
// forwards to the origin when the viewer sent header h, under the
// behaviour's cookie preference pref (nil forwards none): the name=value
// pairs of every viewer Cookie field that pref selects ("all", or names
// matching a "whitelist" entry, where "*" and "?" are wildcards), sorted by
// name as CloudFront sorts them, joined with "; ". Pairs without "=" are
// dropped. The cache keys on exactly this value, so the origin never sees a
// cookie that is not part of the cache key.
//
// It does not allocate for up to 32 cookies when dst has room.
func AppendCookieHeader(dst []byte, h http.Header, pref *portico.CookiePreference) []byte {
	if pref == nil || (pref.Forward != cookiesAll && pref.Forward != cookiesWhitelist) {
		return dst
	}
	var whitelist []string
	if pref.Forward == cookiesWhitelist {
		if pref.WhitelistedNames == nil {
			return dst
		}
		whitelist = pref.WhitelistedNames.Items
	}
	var buf [32]cookiePair
	pairs := buf[:0]
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = trimOWS(part)
			name, _, ok := strings.Cut(part, "=")
			name = trimOWS(name)
			if !ok || name == "" {
				continue
			}
			if whitelist != nil && !matchesAny(whitelist, name) {
				continue
			}
			pairs = append(pairs, cookiePair{name: name, pair: part})
		}
	}
	// Insertion sort: stable, allocation-free, and cookie lists are short.
	for i := 1; i < len(pairs); i++ {
		for j := i; j > 0 && pairs[j].name < pairs[j-1].name; j-- {
			pairs[j], pairs[j-1] = pairs[j-1], pairs[j]
		}
	}
	for i, c := range pairs {
		if i > 0 {
			dst = append(dst, "; "...)
		}
		dst = append(dst, c.pair...)
	}
	return dst
}

type cookiePair struct{ name, pair string }

func matchesAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if wildcardMatch(p, name) {
			return true
		}
	}
	return false
}

// wildcardMatch reports whether name matches pattern, where "*" matches any
// run of bytes and "?" any one byte; everything else is literal and
// case-sensitive, as cookie names are.
func wildcardMatch(pattern, name string) bool {
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == name[n]):
			p++
			n++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case star >= 0:
			p = star + 1
			mark++
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

// AcceptEncoding returns the Accept-Encoding value that Portico forwards to
// the origin for a viewer that sent h, when the behaviour does not whitelist
// Accept-Encoding: CloudFront's normalisation to "br,gzip", "gzip" or "br"
// from the codings the viewer accepts, or "" (the header is removed). The
// cache keys on this value.
func AcceptEncoding(h http.Header) string {
	var gzip, br bool
	for _, line := range h["Accept-Encoding"] {
		for line != "" {
			var item string
			item, line, _ = strings.Cut(line, ",")
			coding, params, _ := strings.Cut(item, ";")
			coding = trimOWS(coding)
			if qZero(params) {
				continue
			}
			switch {
			case strings.EqualFold(coding, "gzip"):
				gzip = true
			case strings.EqualFold(coding, "br"):
				br = true
			}
		}
	}
	switch {
	case gzip && br:
		return "br,gzip"
	case gzip:
		return "gzip"
	case br:
		return "br"
	}
	return ""
}

// qZero reports whether the parameters of an Accept-Encoding item set q to
// zero ("q=0", "q=0.000"): the coding is then not acceptable.
func qZero(params string) bool {
	for params != "" {
		var param string
		param, params, _ = strings.Cut(params, ";")
		name, value, _ := strings.Cut(param, "=")
		if !strings.EqualFold(trimOWS(name), "q") {
			continue
		}
		value = trimOWS(value)
		if value == "" || value[0] != '0' {
			return false
		}
		return strings.Trim(value[1:], ".0") == ""
	}
	return false
}

// trimOWS trims HTTP optional white space (spaces and tabs) off s.
func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// viewerAddress splits a request's RemoteAddr into the client IP that
// X-Forwarded-For carries and the ip:port that CloudFront-Viewer-Address
// carries. CloudFront writes IPv6 without brackets ("2001:db8::1:443"); a
// zone is dropped. ok is false when remoteAddr is not host:port with an IP.
func viewerAddress(remoteAddr string) (ip, ipPort string, ok bool) {
	host, port, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return "", "", false
	}
	host, _, _ = strings.Cut(host, "%")
	if net.ParseIP(host) == nil {
		return "", "", false
	}
	return host, host + ":" + port, true
}
