package origin

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/portico-edge/portico"
)

// Cookie forwarding modes of a CacheBehavior's ForwardedValues.
const (
	cookiesWhitelist = "whitelist"
	cookiesAll       = "all"
)

// The value CloudFront puts in User-Agent unless the header is forwarded.
const cloudFrontUserAgent = "Amazon CloudFront"

// via is appended to the Via header of every origin request.
const via = "1.1 portico (Portico)"

// alwaysRemoved are viewer headers that never reach the origin as sent,
// whatever the behaviour forwards: client-IP claims (the origin gets
// exactly one IP, from the TCP peer), request IDs and edge headers only the
// edge may set, hop-by-hop headers, and Cookie, which is rebuilt from the
// cookie selection.
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
	"Keep-Alive":        true,
	"Transfer-Encoding": true,
	"Connection":        true, // a WebSocket upgrade's is set anew
	"Upgrade":           true, // likewise
	"Cookie":            true,
}

// NeverForwarded reports whether the origin never receives the viewer's
// own value of the header with the canonical name, whatever a behaviour
// forwards: client-IP claims (X-Forwarded-For, Forwarded, X-Real-Ip, ...),
// X-Amz-Cf-Id and the CloudFront-* headers, which only the edge sets,
// hop-by-hop and proxy headers (a WebSocket upgrade gets Upgrade and
// Connection set anew), X-Edge-* headers, and Cookie, which is rebuilt
// from the cookie selection.
func NeverForwarded(name string) bool {
	return alwaysRemoved[name] || IsCloudFrontHeader(name) || hasPrefixFold(name, "x-edge-") || hasPrefixFold(name, "proxy-")
}

// policy is what a behaviour forwards, compiled for the request path.
type policy struct {
	forward portico.ForwardParams
	// normalizeAE is true when Accept-Encoding is forwarded normalised to
	// the codings gzip and br allow (see NormalizedAcceptEncoding).
	normalizeAE bool
	gzip, br    bool
	forwardHost bool // Host is forwarded as sent
	forwardAE   bool // Accept-Encoding is forwarded as sent
	// legacy is true under legacy ForwardedValues, where CloudFront
	// forwards Authorization on the methods it does not cache whatever
	// the whitelist says.
	legacy bool
	// setCookie is true when the behaviour forwards cookies: CloudFront
	// passes Set-Cookie on to the viewer only then.
	setCookie bool
	// authOnOptions is true when OPTIONS responses are cached: CloudFront
	// then drops Authorization on OPTIONS as on GET and HEAD.
	authOnOptions bool
	// viewer are the CloudFront-* headers the behaviour adds, with the
	// values the edge computes.
	viewer ViewerHeaders
}

func newPolicy(b *portico.CacheBehavior, pol *portico.ResolvedPolicy) policy {
	p := policy{
		forward:     pol.Forward,
		normalizeAE: pol.Key.NormalizesAcceptEncoding(),
		gzip:        pol.Key.AcceptEncodingGzip,
		br:          pol.Key.AcceptEncodingBrotli,
		forwardHost: pol.Forward.Headers.Includes("Host"),
		legacy:      pol.Legacy,
		viewer:      NewViewerHeaders(pol.Forward.CloudFrontHeaders),
	}
	p.setCookie = pol.Forward.Cookies.Mode != portico.SelectNone
	if fv := b.ForwardedValues; pol.Legacy && fv != nil && fv.Cookies != nil {
		// A whitelist of no names selects none, yet counts as forwarding.
		p.setCookie = fv.Cookies.Forward == cookiesAll || fv.Cookies.Forward == cookiesWhitelist
	}
	p.forwardAE = !p.normalizeAE && pol.Forward.Headers.Includes("Accept-Encoding")
	_, cached := b.Methods()
	for _, m := range cached {
		if m == http.MethodOptions {
			p.authOnOptions = true
		}
	}
	return p
}

// keep reports whether the viewer header name (canonical) is forwarded as
// sent.
func (p *policy) keep(name, method string, websocket bool) bool {
	switch {
	case name == "Upgrade" || name == "Connection":
		// Set by ReverseProxy only for a protocol upgrade; CloudFront
		// passes WebSocket upgrades and no others.
		return websocket
	case name == "" || name[0] == ':' || NeverForwarded(name):
		// (An HTTP/2 pseudo-header such as :protocol is not a field.)
		return false
	}
	switch name {
	case "Accept-Encoding":
		return p.forwardAE
	case "Authorization":
		if !p.legacy {
			break
		}
		switch method {
		case http.MethodGet, http.MethodHead:
		case http.MethodOptions:
			if !p.authOnOptions {
				return true
			}
		default:
			return true
		}
	}
	return p.forward.Headers.Includes(name)
}

// AppendCookieHeader appends to dst the Cookie header value that Portico
// forwards to the origin when the viewer sent header h, under the legacy
// cookie preference pref (nil forwards none): AppendCookies with "all", or
// with the "whitelist" names as patterns where "*" and "?" are wildcards.
//
// It does not allocate for up to 32 cookies when dst has room.
func AppendCookieHeader(dst []byte, h http.Header, pref *portico.CookiePreference) []byte {
	if pref == nil {
		return dst
	}
	var sel portico.Selection
	switch pref.Forward {
	case cookiesAll:
		sel.Mode = portico.SelectAll
	case cookiesWhitelist:
		if pref.WhitelistedNames == nil {
			return dst
		}
		sel = portico.Selection{Mode: portico.SelectWhitelist, Names: pref.WhitelistedNames.Items, Wildcards: true}
	default:
		return dst
	}
	return AppendCookies(dst, h, sel)
}

// AppendCookies appends to dst the Cookie header value that Portico
// forwards to the origin when the viewer sent header h and the behaviour
// forwards the cookies sel selects: the name=value pairs of every viewer
// Cookie field whose name sel includes, sorted by name as CloudFront sorts
// them, joined with "; ". Pairs without "=" are dropped. Given the cache
// key's selection (portico.KeyParams.Cookies), it is the value the cache
// keys on: when the behaviour forwards no more than it keys, the origin
// never sees a cookie that is not part of the cache key.
//
// It does not allocate for up to 32 cookies when dst has room.
func AppendCookies(dst []byte, h http.Header, sel portico.Selection) []byte {
	if sel.Mode == portico.SelectNone {
		return dst
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
			if !sel.Includes(name) {
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

// AppendQuery appends to dst the parameters of the raw query string that
// sel selects by name (as sent, not unescaped), in the order the viewer
// sent them, joined with "&": for a whitelist or all-except selection, the
// query the origin is sent and, for the key's selection, what the cache
// keys on. Both "&" and ";" separate parameters here, so that a parameter
// an origin might split off at ";" is never forwarded without being
// selected. Empty parameters are dropped. SelectAll is the raw query
// string as sent, which the caller should forward as is.
//
// It does not allocate when dst has room.
func AppendQuery(dst []byte, raw string, sel portico.Selection) []byte {
	switch sel.Mode {
	case portico.SelectNone:
		return dst
	case portico.SelectAll:
		return append(dst, raw...)
	}
	first := true
	for raw != "" {
		end := 0
		for end < len(raw) && raw[end] != '&' && raw[end] != ';' {
			end++
		}
		param := raw[:end]
		if end < len(raw) {
			end++
		}
		raw = raw[end:]
		name, _, _ := strings.Cut(param, "=")
		if param == "" || !sel.Includes(name) {
			continue
		}
		if !first {
			dst = append(dst, '&')
		}
		first = false
		dst = append(dst, param...)
	}
	return dst
}

type cookiePair struct{ name, pair string }

// AcceptEncoding returns the Accept-Encoding value that Portico forwards to
// the origin for a viewer that sent h, when the behaviour does not whitelist
// Accept-Encoding under legacy settings: NormalizedAcceptEncoding with both
// gzip and br allowed.
func AcceptEncoding(h http.Header) string { return NormalizedAcceptEncoding(h, true, true) }

// NormalizedAcceptEncoding returns the Accept-Encoding value that Portico
// forwards to the origin for a viewer that sent h, when the behaviour
// normalises Accept-Encoding (portico.KeyParams.NormalizesAcceptEncoding):
// CloudFront's normalisation to "br,gzip", "gzip" or "br" from the codings
// the viewer accepts, among those gzip and br allow, or "" (the header is
// removed). The cache keys on this value.
func NormalizedAcceptEncoding(h http.Header, gzip, br bool) string {
	var okGzip, okBr bool
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
				okGzip = gzip
			case strings.EqualFold(coding, "br"):
				okBr = br
			}
		}
	}
	switch {
	case okGzip && okBr:
		return "br,gzip"
	case okGzip:
		return "gzip"
	case okBr:
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
	ip, port, ok := clientIP(remoteAddr)
	if !ok {
		return "", "", false
	}
	return ip, ip + ":" + port, true
}

// clientIP splits a request's RemoteAddr into the client IP, without its
// zone, and the port, without allocating. An address that is not an IP
// and a decimal port is refused.
func clientIP(remoteAddr string) (ip, port string, ok bool) {
	host, port, err := net.SplitHostPort(remoteAddr)
	if err != nil || !isPort(port) {
		return "", "", false
	}
	host, _, _ = strings.Cut(host, "%")
	if _, err := netip.ParseAddr(host); err != nil {
		return "", "", false
	}
	return host, port, true
}

// isPort reports whether s is a TCP port number in decimal, 0 to 65535.
func isPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}
