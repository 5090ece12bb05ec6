package sigv4

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// canonicalURI returns the canonical URI of a request whose path arrived
// escaped as escapedPath. The AWS SDKs sign services other than S3 by
// URI-encoding the already escaped path once more, leaving only unreserved
// characters and '/' as they are: "/a%2Fb c" is sent as "/a%2Fb%20c" and
// signed as "/a%252Fb%2520c".
func canonicalURI(escapedPath string) string {
	if escapedPath == "" {
		return "/"
	}
	return uriEncode(escapedPath, true)
}

// normalizePath removes "." and ".." segments and empty segments from an
// absolute path, as RFC 3986 section 5.2.4 and the AWS signers that
// normalise paths do. A trailing slash is kept unless nothing is left but
// the root.
func normalizePath(p string) string {
	if p == "" {
		return "/"
	}
	var out []string
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	var b strings.Builder
	b.Grow(len(p))
	if p[0] == '/' {
		b.WriteByte('/')
	}
	b.WriteString(strings.Join(out, "/"))
	if p[len(p)-1] == '/' && len(out) > 0 {
		b.WriteByte('/')
	}
	return b.String()
}

// canonicalQuery returns the canonical query string: every name and value
// URI-encoded, the pairs sorted by encoded name and then encoded value.
// The presigned form leaves out its own X-Amz-Signature.
func canonicalQuery(params []queryParam, presigned bool) string {
	encoded := make([]queryParam, 0, len(params))
	for _, p := range params {
		if presigned && p.key == paramSignature {
			continue
		}
		encoded = append(encoded, queryParam{uriEncode(p.key, false), uriEncode(p.value, false)})
	}
	slices.SortFunc(encoded, func(a, b queryParam) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	var b strings.Builder
	for i, p := range encoded {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.key)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// canonicalHeaders returns the canonical headers block for the signed
// header names, in the order the signer listed them: "name:value\n" for
// each, where the value is every value of that header trimmed, with inner
// runs of spaces collapsed, joined by commas.
func canonicalHeaders(r *http.Request, names []string) string {
	var b strings.Builder
	for _, name := range names {
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range headerValues(r, name) {
			if i > 0 {
				b.WriteByte(',')
			}
			writeTrimmed(&b, v)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// headerValues returns the values of one header of r. Go's server moves
// Host out of the header map into r.Host, and a request built in process
// may carry its length only in r.ContentLength.
func headerValues(r *http.Request, name string) []string {
	switch name {
	case "host":
		if r.Host != "" {
			return []string{r.Host}
		}
		return []string{r.URL.Host}
	case "content-length":
		if v := r.Header.Values(name); len(v) > 0 || r.ContentLength <= 0 {
			return v
		}
		return []string{strconv.FormatInt(r.ContentLength, 10)}
	}
	return r.Header.Values(name)
}

// writeTrimmed writes v without leading and trailing white space and with
// each inner run of spaces collapsed to one.
func writeTrimmed(b *strings.Builder, v string) {
	v = strings.TrimSpace(v)
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(c)
	}
}

// canonicalRequest assembles the canonical request.
func canonicalRequest(method, uri, query, headers string, signedHeaders []string, payloadHash string) []byte {
	n := len(method) + len(uri) + len(query) + len(headers) + len(payloadHash) + 5
	for _, h := range signedHeaders {
		n += len(h) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, method...)
	b = append(b, '\n')
	b = append(b, uri...)
	b = append(b, '\n')
	b = append(b, query...)
	b = append(b, '\n')
	b = append(b, headers...)
	b = append(b, '\n')
	for i, h := range signedHeaders {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, h...)
	}
	b = append(b, '\n')
	b = append(b, payloadHash...)
	return b
}

const upperHex = "0123456789ABCDEF"

// uriEncode percent-encodes every byte of s outside RFC 3986's unreserved
// set, and outside '/' if keepSlash, with upper-case hex digits.
func uriEncode(s string, keepSlash bool) string {
	keep := func(c byte) bool { return isUnreserved(c) || keepSlash && c == '/' }
	n := 0
	for i := 0; i < len(s); i++ {
		if !keep(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if keep(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', upperHex[c>>4], upperHex[c&15])
	}
	return string(b)
}

// isUnreserved reports whether c is in RFC 3986's unreserved set.
func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
