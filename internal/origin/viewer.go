package origin

import (
	"crypto/tls"
	"net/http"
	"strconv"
	"strings"
	"unsafe"
)

// ViewerHeaders is a selection of the CloudFront-* headers that describe
// the viewer (DG adding-cloudfront-headers): the headers a cache behaviour
// keys on or forwards because its cache policy, origin request policy or
// legacy header whitelist names them (portico.ForwardParams.
// CloudFrontHeaders). The edge computes their values from the viewer's
// request; a value the viewer sent under one of these names is never used.
//
// Portico computes:
//
//	CloudFront-Viewer-Address        the TCP peer, ip:port (IPv6 unbracketed)
//	CloudFront-Forwarded-Proto       http or https
//	CloudFront-Viewer-Http-Version   1.0, 1.1, 2.0 or 3.0
//	CloudFront-Viewer-TLS            version:cipher:handshake, HTTPS only
//	CloudFront-Is-Desktop-Viewer     true or false, from User-Agent
//	CloudFront-Is-Mobile-Viewer      (the same)
//	CloudFront-Is-Tablet-Viewer
//	CloudFront-Is-SmartTV-Viewer
//	CloudFront-Is-IOS-Viewer
//	CloudFront-Is-Android-Viewer
//
// CloudFront-Viewer-TLS names the version and cipher as CloudFront does
// ("TLSv1.3:TLS_AES_128_GCM_SHA256:fullHandshake", OpenSSL's names for TLS
// 1.2 suites) and the handshake as fullHandshake or sessionResumed; Portico
// does not tell a request on a reused connection apart, so it never says
// connectionReused. The device headers follow the User-Agent rules that
// DeviceOf documents, an approximation of CloudFront's unpublished ones.
//
// Portico has no geolocation database: the location headers
// (CloudFront-Viewer-Country and -Country-Name, -Country-Region and
// -Country-Region-Name, -City, -Postal-Code, -Time-Zone, -Latitude,
// -Longitude, -Metro-Code, -ASN) are never sent. Neither are
// CloudFront-Viewer-JA3-Fingerprint, which needs the viewer's raw
// ClientHello, nor CloudFront-Viewer-Header-Order and -Header-Count, which
// need the order of the viewer's header fields, which net/http does not
// keep. A selected header that Portico does not compute is sent to no one,
// and a cache key that names it holds it as absent for every viewer.
//
// The zero value selects nothing.
type ViewerHeaders struct {
	set   viewerSet // the selected headers Portico computes
	names []string  // every selected name, canonical
}

// viewerSet is a bit set of the computed headers.
type viewerSet uint16

const (
	vhAddress viewerSet = 1 << iota
	vhProto
	vhHTTPVersion
	vhTLS
	vhDesktop
	vhMobile
	vhTablet
	vhSmartTV
	vhIOS
	vhAndroid
)

// viewerHeaderNames maps the canonical name of each computed header to its
// bit, in the order the bits are defined.
var viewerHeaderNames = [...]struct {
	name string
	bit  viewerSet
}{
	{"Cloudfront-Viewer-Address", vhAddress},
	{"Cloudfront-Forwarded-Proto", vhProto},
	{"Cloudfront-Viewer-Http-Version", vhHTTPVersion},
	{"Cloudfront-Viewer-Tls", vhTLS},
	{"Cloudfront-Is-Desktop-Viewer", vhDesktop},
	{"Cloudfront-Is-Mobile-Viewer", vhMobile},
	{"Cloudfront-Is-Tablet-Viewer", vhTablet},
	{"Cloudfront-Is-Smarttv-Viewer", vhSmartTV},
	{"Cloudfront-Is-Ios-Viewer", vhIOS},
	{"Cloudfront-Is-Android-Viewer", vhAndroid},
}

const deviceHeaders = vhDesktop | vhMobile | vhTablet | vhSmartTV | vhIOS | vhAndroid

// NewViewerHeaders returns the selection of the CloudFront-* header names
// given, in any case. Names of headers Portico does not compute are kept:
// Replace removes them.
func NewViewerHeaders(names []string) ViewerHeaders {
	var v ViewerHeaders
	for _, n := range names {
		n = http.CanonicalHeaderKey(n)
		for _, h := range viewerHeaderNames {
			if h.name == n {
				v.set |= h.bit
			}
		}
		v.names = append(v.names, n)
	}
	return v
}

// Empty reports whether the selection names no header.
func (v *ViewerHeaders) Empty() bool { return len(v.names) == 0 }

// Replace removes every selected header from h, and sets those Portico
// computes to their values for the viewer request r. h is usually the
// header of the origin request made from r, or a copy of r's own.
func (v *ViewerHeaders) Replace(h http.Header, r *http.Request) {
	for _, n := range v.names {
		delete(h, n)
	}
	if v.set == 0 {
		return
	}
	var device viewerSet
	if v.set&deviceHeaders != 0 {
		device = deviceOf(r)
	}
	for _, vh := range viewerHeaderNames {
		if v.set&vh.bit == 0 {
			continue
		}
		if values := viewerValues(vh.bit, r, device); values != nil {
			h[vh.name] = values
		}
	}
}

// IsCloudFrontHeader reports whether name, in any case, is a
// CloudFront-* header: one of those only the edge sets, which a policy may
// select (see ViewerHeaders) and a viewer's own value of which is never
// used. It does not allocate.
func IsCloudFrontHeader(name string) bool { return hasPrefixFold(name, "cloudfront-") }

// hasPrefixFold reports whether s begins with prefix, an ASCII lower-case
// string, in any ASCII case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// ViewerValue returns the value of the CloudFront-* header with the
// canonical name that the edge computes for viewer request r, as Replace
// sets it, whatever r carries under that name. ok is false when the edge
// sends none: a header Portico does not compute (see ViewerHeaders), or
// CloudFront-Viewer-TLS without TLS. It allocates only for
// CloudFront-Viewer-Address and CloudFront-Viewer-TLS.
func ViewerValue(name string, r *http.Request) (value string, ok bool) {
	for _, vh := range viewerHeaderNames {
		if vh.name != name {
			continue
		}
		var device viewerSet
		if vh.bit&deviceHeaders != 0 {
			device = deviceOf(r)
		}
		if values := viewerValues(vh.bit, r, device); values != nil {
			return values[0], true
		}
		return "", false
	}
	return "", false
}

// viewerValues returns the value of the computed header bit for viewer
// request r, whose device headers that are true are device, as header
// field values; nil when there is none. Shared values are returned as they
// are.
func viewerValues(bit viewerSet, r *http.Request, device viewerSet) []string {
	switch {
	case bit&deviceHeaders != 0:
		return boolValue(device&bit != 0)
	case bit == vhAddress:
		if _, ipPort, ok := viewerAddress(r.RemoteAddr); ok {
			return []string{ipPort}
		}
	case bit == vhProto:
		return forwardedProto(r)
	case bit == vhHTTPVersion:
		return httpVersion(r)
	case bit == vhTLS && r.TLS != nil:
		return []string{ViewerTLS(r.TLS)}
	}
	return nil
}

// deviceOf returns the device headers that are true for the viewer of r,
// as DeviceOf classifies its User-Agent.
func deviceOf(r *http.Request) viewerSet {
	var ua string
	if uas := r.Header["User-Agent"]; len(uas) > 0 {
		ua = uas[0]
	}
	d := DeviceOf(ua)
	var set viewerSet
	for _, f := range [...]struct {
		bit viewerSet
		is  bool
	}{
		{vhDesktop, d.Desktop}, {vhMobile, d.Mobile}, {vhTablet, d.Tablet},
		{vhSmartTV, d.SmartTV}, {vhIOS, d.IOS}, {vhAndroid, d.Android},
	} {
		if f.is {
			set |= f.bit
		}
	}
	return set
}

// Shared header values. Their capacity equals their length, so that an
// append by anyone copies them instead of writing into them.
var (
	valueTrue    = []string{"true"}[:1:1]
	valueFalse   = []string{"false"}[:1:1]
	valueHTTP    = []string{"http"}[:1:1]
	valueHTTPS   = []string{"https"}[:1:1]
	httpVersions = [...][]string{
		{"1.0"}, {"1.1"}, {"2.0"}, {"3.0"},
	}
)

func boolValue(b bool) []string {
	if b {
		return valueTrue
	}
	return valueFalse
}

func forwardedProto(r *http.Request) []string {
	if r.TLS != nil {
		return valueHTTPS
	}
	return valueHTTP
}

// httpVersion returns the CloudFront-Viewer-Http-Version of r, or nil for
// a version CloudFront does not serve.
func httpVersion(r *http.Request) []string {
	var v []string
	switch {
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		v = httpVersions[0]
	case r.ProtoMajor == 1 && r.ProtoMinor == 1:
		v = httpVersions[1]
	case r.ProtoMajor == 2:
		v = httpVersions[2]
	case r.ProtoMajor == 3:
		v = httpVersions[3]
	default:
		return nil
	}
	return v[:1:1]
}

// ViewerTLS returns the CloudFront-Viewer-TLS value of a viewer connection:
// its TLS version, cipher suite and handshake, as in
// "TLSv1.2:ECDHE-RSA-AES128-GCM-SHA256:fullHandshake" (DG
// adding-cloudfront-headers, "Other CloudFront headers"). TLS 1.3 suites
// take their IANA names, TLS 1.2 ones OpenSSL's, as CloudFront's values
// do; a suite OpenSSL has no name for keeps Go's.
func ViewerTLS(cs *tls.ConnectionState) string {
	var version string
	switch cs.Version {
	case tls.VersionTLS13:
		version = "TLSv1.3"
	case tls.VersionTLS12:
		version = "TLSv1.2"
	case tls.VersionTLS11:
		version = "TLSv1.1"
	case tls.VersionTLS10:
		version = "TLSv1"
	default:
		version = "0x" + strconv.FormatUint(uint64(cs.Version), 16)
	}
	cipher, ok := opensslCipherNames[cs.CipherSuite]
	if !ok {
		cipher = tls.CipherSuiteName(cs.CipherSuite)
	}
	handshake := "fullHandshake"
	if cs.DidResume {
		handshake = "sessionResumed"
	}
	return version + ":" + cipher + ":" + handshake
}

// opensslCipherNames are OpenSSL's names of the cipher suites Go
// implements before TLS 1.3, which CloudFront's security policies list
// (DG secure-connections-supported-viewer-protocols-ciphers).
var opensslCipherNames = map[uint16]string{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       "ECDHE-ECDSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:         "ECDHE-RSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       "ECDHE-ECDSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:         "ECDHE-RSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:   "ECDHE-RSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256:       "ECDHE-ECDSA-AES128-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256:         "ECDHE-RSA-AES128-SHA256",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA:          "ECDHE-ECDSA-AES128-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:            "ECDHE-RSA-AES128-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA:          "ECDHE-ECDSA-AES256-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA:            "ECDHE-RSA-AES256-SHA",
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256:               "AES128-GCM-SHA256",
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384:               "AES256-GCM-SHA384",
	tls.TLS_RSA_WITH_AES_128_CBC_SHA256:               "AES128-SHA256",
	tls.TLS_RSA_WITH_AES_128_CBC_SHA:                  "AES128-SHA",
	tls.TLS_RSA_WITH_AES_256_CBC_SHA:                  "AES256-SHA",
	tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA:           "ECDHE-RSA-DES-CBC3-SHA",
	tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA:                 "DES-CBC3-SHA",
}

// Device is what the CloudFront-Is-*-Viewer headers say of a viewer.
type Device struct {
	Desktop, Mobile, Tablet, SmartTV, IOS, Android bool
}

// DeviceOf classifies a viewer by its User-Agent, as CloudFront's device
// headers do (DG adding-cloudfront-headers, "Headers for determining the
// viewer's device type"). CloudFront does not publish its rules; Portico's
// look for these tokens, in any case:
//
//	IOS      iPhone, iPod or iPad (an iPad that asks for desktop sites
//	         says Macintosh, and is a desktop)
//	Android  Android
//	SmartTV  SmartTV, Smart-TV, GoogleTV, AppleTV, Apple TV, HbbTV,
//	         NetCast, BRAVIA, Roku, CrKey or PhilipsTV
//	Tablet   not a smart TV, and iPad, Tablet (but not "Tablet PC"),
//	         Kindle, Silk, PlayBook, or Android without Mobile
//	Mobile   not a smart TV, and Mobile, iPhone, iPod, Windows Phone,
//	         BlackBerry, BB10 or Opera Mini
//	Desktop  none of Mobile, Tablet and SmartTV, which an empty
//	         User-Agent is too
//
// As with CloudFront, a device may be more than one thing: an iPad and
// most phones' tablets say Mobile and are both Mobile and Tablet.
func DeviceOf(ua string) Device {
	// The tokens are searched for in the User-Agent lower-cased once, in a
	// buffer on the stack (strings.Contains is far faster than a
	// case-folding scan); a longer User-Agent is lower-cased on the heap.
	var buf [512]byte
	lower := ua
	if hasUpperASCII(ua) {
		b := buf[:0]
		if len(ua) > len(buf) {
			b = make([]byte, 0, len(ua))
		}
		for i := 0; i < len(ua); i++ {
			c := ua[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b = append(b, c)
		}
		lower = unsafe.String(unsafe.SliceData(b), len(b))
	}
	has := func(tokens ...string) bool {
		for _, t := range tokens {
			if strings.Contains(lower, t) {
				return true
			}
		}
		return false
	}
	var d Device
	d.IOS = has("iphone", "ipod", "ipad")
	d.Android = has("android")
	d.SmartTV = has("smarttv", "smart-tv", "googletv", "appletv", "apple tv", "hbbtv", "netcast", "bravia", "roku", "crkey", "philipstv")
	if !d.SmartTV {
		tabletToken := has("tablet") && !has("tablet pc")
		d.Mobile = has("mobile", "iphone", "ipod", "windows phone", "blackberry", "bb10", "opera mini")
		d.Tablet = tabletToken || has("ipad", "kindle", "silk", "playbook") || d.Android && !has("mobile")
	}
	d.Desktop = !d.Mobile && !d.Tablet && !d.SmartTV
	return d
}

// hasUpperASCII reports whether s holds an ASCII upper-case letter.
func hasUpperASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}
