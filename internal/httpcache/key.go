package httpcache

import (
	"encoding/binary"
	"net/http"
	"net/textproto"
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

// Query string modes.
const (
	queryNone = iota // not forwarded, not in the key
	queryAll         // the raw query string, as sent
	queryKeys        // the parameters named in QueryStringCacheKeys, in order
)

// keySpec says what a behaviour's cache key is made of. The key holds
// everything the origin is sent that can change its answer: the scope, the
// host, the path, the forwarded query string (or the parameters that key
// it), the forwarded cookies exactly as the origin receives them (see
// origin.AppendCookieHeader), the values of the whitelisted headers and the
// normalised Accept-Encoding.
//
// Every variable-length part is framed with a 4-byte length, so that no two
// different requests share a key by moving bytes from one part to the next.
type keySpec struct {
	scope     string
	query     int
	queryKeys []string
	cookies   *portico.CookiePreference
	// headers are the whitelisted header names that the key holds the
	// values of, canonical and sorted; whitelist is all the whitelisted
	// names (with Host and Cookie), canonical and sorted.
	headers   []string
	whitelist []string
	// aeWhitelisted is true when Accept-Encoding is forwarded as sent
	// (and then keyed with the other headers) rather than normalised.
	aeWhitelisted bool
}

func newKeySpec(scope string, fv *portico.ForwardedValues) keySpec {
	s := keySpec{scope: scope}
	if fv == nil {
		return s
	}
	if fv.QueryString != nil && *fv.QueryString {
		s.query = queryAll
		if fv.QueryStringCacheKeys != nil && len(fv.QueryStringCacheKeys.Items) > 0 {
			s.query = queryKeys
			s.queryKeys = fv.QueryStringCacheKeys.Items
		}
	}
	s.cookies = fv.Cookies
	if fv.Headers != nil {
		for _, name := range fv.Headers.Items {
			name = textproto.CanonicalMIMEHeaderKey(name)
			s.whitelist = append(s.whitelist, name)
			switch name {
			case "Host", "Cookie":
				// Host is always in the key; cookies are keyed as the
				// cookie preference forwards them.
			default:
				s.headers = append(s.headers, name)
			}
		}
		slices.Sort(s.headers)
		s.headers = slices.Compact(s.headers)
		slices.Sort(s.whitelist)
		s.whitelist = slices.Compact(s.whitelist)
	}
	s.aeWhitelisted = s.keyed("Accept-Encoding")
	return s
}

// keyed reports whether the canonical header name is part of the key.
func (s *keySpec) keyed(name string) bool {
	_, ok := slices.BinarySearch(s.headers, name)
	return ok
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
	dst = origin.AppendCookieHeader(dst, r.Header, s.cookies)
	dst = endField(dst, mark)

	for _, name := range s.headers {
		values := r.Header[name]
		dst = appendField(dst, name)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(values)))
		for _, v := range values {
			dst = appendField(dst, v)
		}
	}
	if !s.aeWhitelisted {
		dst = appendField(dst, origin.AcceptEncoding(r.Header))
	}
	return dst
}

// appendQuery appends the part of the raw query string that is in the key:
// all of it, or the parameters named in QueryStringCacheKeys in the order
// they were sent, joined with "&". Both "&" and ";" separate parameters
// here, so that a parameter an origin might split off at ";" is never left
// out of the key.
func (s *keySpec) appendQuery(dst []byte, raw string) []byte {
	switch s.query {
	case queryAll:
		return append(dst, raw...)
	case queryKeys:
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
			name := param
			for i := 0; i < len(param); i++ {
				if param[i] == '=' {
					name = param[:i]
					break
				}
			}
			if !slices.Contains(s.queryKeys, name) {
				continue
			}
			if !first {
				dst = append(dst, '&')
			}
			first = false
			dst = append(dst, param...)
		}
	}
	return dst
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
