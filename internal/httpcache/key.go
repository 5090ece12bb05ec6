package httpcache

import (
	"encoding/binary"
	"net/http"
	"slices"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/origin"
)

// Method classes in a key: a HEAD is answered from the GET's entry, and an
// OPTIONS response (when OPTIONS is cached) has its own.
const (
	classGet     = 'G'
	classOptions = 'O'
)

// keySpec says what a behaviour's cache key is made of. The key holds
// everything the origin is sent that can change its answer: the scope, the
// host, the path, the keyed query string parameters (see
// origin.AppendQuery), the keyed cookies exactly as the origin receives
// them (see origin.AppendCookies), the values of the keyed headers and the
// normalised Accept-Encoding. What a behaviour forwards without keying it
// (an origin request policy's additions) is told apart by Vary alone.
//
// Every variable-length part is framed with a 4-byte length, so that no two
// different requests share a key by moving bytes from one part to the next.
type keySpec struct {
	scope   string
	query   portico.Selection
	cookies portico.Selection
	// headers are the keyed header names that the key holds the values
	// of, canonical and sorted (Host and Cookie are keyed on their own).
	headers []string
	// vary selects the names of the header fields a Vary sent to viewers
	// may keep besides Accept-Encoding, Cookie and User-Agent.
	vary portico.Selection
	// normalizeAE is true when Accept-Encoding is keyed (and forwarded)
	// normalised to the codings gzip and br allow rather than as sent;
	// gzip and br are also the codings the edge may compress with.
	normalizeAE bool
	gzip, br    bool
	// unkeyed lists Cookie, Accept-Encoding and User-Agent when the
	// origin may be sent viewer values of them that the key does not
	// tell apart.
	unkeyed []string
	// viewerValues is true when the key holds the values the edge
	// computes for the keyed CloudFront-* headers (see
	// WithViewerHeaders), not the request's.
	viewerValues bool
}

func newKeySpec(scope string, pol *portico.ResolvedPolicy) keySpec {
	k, f := &pol.Key, &pol.Forward
	s := keySpec{
		scope:       scope,
		query:       k.QueryStrings,
		cookies:     k.Cookies,
		normalizeAE: k.NormalizesAcceptEncoding(),
		gzip:        k.AcceptEncodingGzip,
		br:          k.AcceptEncodingBrotli,
	}
	if pol.Legacy {
		// Legacy settings that forward Accept-Encoding as sent ("*")
		// still compress for viewers that accept gzip or br.
		s.gzip, s.br = true, true
	}
	if k.Headers.Mode == portico.SelectWhitelist {
		s.headers = slices.DeleteFunc(slices.Clone(k.Headers.Names), func(name string) bool {
			// Host is always in the key; cookies are keyed as the
			// cookie selection forwards them.
			return name == "Host" || name == "Cookie"
		})
	}
	if pol.Legacy {
		// CloudFront passes on the names of whitelisted headers (DG
		// RequestAndResponseBehaviorCustomOrigin, "Vary").
		if k.Headers.Mode == portico.SelectWhitelist {
			s.vary = k.Headers
		}
	} else {
		s.vary = f.Headers
	}
	if !slices.Equal(f.Cookies.Names, k.Cookies.Names) || f.Cookies.Mode != k.Cookies.Mode || f.Cookies.Wildcards != k.Cookies.Wildcards {
		s.unkeyed = append(s.unkeyed, "Cookie")
	}
	if !s.normalizeAE && f.Headers.Includes("Accept-Encoding") && !s.keyed("Accept-Encoding") {
		s.unkeyed = append(s.unkeyed, "Accept-Encoding")
	}
	if f.Headers.Includes("User-Agent") && !s.keyed("User-Agent") {
		s.unkeyed = append(s.unkeyed, "User-Agent")
	}
	return s
}

// keyed reports whether the canonical header name is part of the key.
func (s *keySpec) keyed(name string) bool {
	_, ok := slices.BinarySearch(s.headers, name)
	return ok
}

// acceptEncoding returns the normalised Accept-Encoding that the key holds
// and the origin is sent for a request with header h.
func (s *keySpec) acceptEncoding(h http.Header) string {
	return origin.NormalizedAcceptEncoding(h, s.gzip, s.br)
}

// appendKey appends the key of r to dst. It does not allocate when dst has
// room and the path needs no escaping.
func (s *keySpec) appendKey(dst []byte, r *http.Request, class byte) []byte {
	dst = appendField(dst, s.scope)
	dst = append(dst, class)

	mark := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	for i := 0; i < len(r.Host); i++ {
		c := r.Host[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	dst = endField(dst, mark)

	dst = appendField(dst, r.URL.EscapedPath())

	mark = len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = s.appendQuery(dst, r.URL.RawQuery)
	dst = endField(dst, mark)

	mark = len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = origin.AppendCookies(dst, r.Header, s.cookies)
	dst = endField(dst, mark)

	for _, name := range s.headers {
		dst = appendField(dst, name)
		if s.computed(name) {
			// One value or none, framed as the request's own would be.
			v, ok := origin.ViewerValue(name, r)
			if !ok {
				dst = binary.BigEndian.AppendUint32(dst, 0)
				continue
			}
			dst = binary.BigEndian.AppendUint32(dst, 1)
			dst = appendField(dst, v)
			continue
		}
		values := r.Header[name]
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(values)))
		for _, v := range values {
			dst = appendField(dst, v)
		}
	}
	if s.normalizeAE {
		dst = appendField(dst, s.acceptEncoding(r.Header))
	}
	return dst
}

// computed reports whether the key holds the value the edge computes for
// the keyed header name rather than the request's.
func (s *keySpec) computed(name string) bool {
	return s.viewerValues && origin.IsCloudFrontHeader(name)
}

// WithViewerHeaders has the key hold, for the CloudFront-* headers it
// names, the values the edge computes for the viewer request
// (origin.ViewerValue), which are what the origin proxy sends, rather than
// any the viewer sent under those names: a viewer cannot file a response
// under another device's or protocol's key. The request passed on to the
// origin is left as it is.
func WithViewerHeaders() HandlerOption {
	return func(h *handler) { h.spec.viewerValues = true }
}

// appendQuery appends the part of the raw query string that is in the key:
// all of it as sent, or the keyed parameters in the order they were sent
// (see origin.AppendQuery).
func (s *keySpec) appendQuery(dst []byte, raw string) []byte {
	return origin.AppendQuery(dst, raw, s.query)
}

func appendField(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

// endField writes the length of the field that starts after the 4 bytes
// reserved at mark.
func endField(dst []byte, mark int) []byte {
	binary.BigEndian.PutUint32(dst[mark:], uint32(len(dst)-mark-4))
	return dst
}

// keyPrefix is the start of the keys of a scope's requests for one host
// with one method class: the scope, the class and the host (see
// keySpec.appendKey), which many entries share (see sharedValues.prefix).
// An entry holds the rest of its key.
type keyPrefix struct {
	sc *scope
	s  string
}

// keyPrefixLen returns the length of key's prefix (see keyPrefix), or 0
// for a key that keySpec.appendKey did not make.
func keyPrefixLen(key string) int {
	_, rest, ok := keyField(key) // the scope
	if !ok || rest == "" {
		return 0
	}
	if _, rest, ok = keyField(rest[1:]); !ok { // the method class, the host
		return 0
	}
	return len(key) - len(rest)
}
