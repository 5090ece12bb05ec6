package httpcache

import (
	"net/http"
	"strings"
)

// conditionalFields are the request fields that make a request conditional
// (RFC 9110 §13.1).
var conditionalFields = [...]string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range"}

// isConditional reports whether r carries a precondition other than
// If-Range (which only qualifies a Range).
func isConditional(r *http.Request) bool {
	hd := r.Header
	return len(hd["If-Match"]) > 0 || len(hd["If-None-Match"]) > 0 ||
		len(hd["If-Modified-Since"]) > 0 || len(hd["If-Unmodified-Since"]) > 0
}

// preconditions evaluates the preconditions of a GET or HEAD request r
// against a selected representation with the validators etag and
// lastModified and the Date date, in the order of RFC 9110 §13.2.2. It
// returns http.StatusPreconditionFailed, http.StatusNotModified, or 0 when
// the representation is to be sent. A cache evaluates If-Modified-Since
// against Date when there is no Last-Modified (RFC 9111 §4.3.2).
func preconditions(r *http.Request, etag, lastModified, date string) int {
	hd := r.Header
	if im := hd["If-Match"]; len(im) > 0 {
		if !etagMatches(im, etag, true) {
			return http.StatusPreconditionFailed
		}
	} else if ius := hd["If-Unmodified-Since"]; len(ius) > 0 && lastModified != "" {
		since, err1 := http.ParseTime(ius[0])
		modified, err2 := http.ParseTime(lastModified)
		if err1 == nil && err2 == nil && modified.After(since) {
			return http.StatusPreconditionFailed
		}
	}
	if inm := hd["If-None-Match"]; len(inm) > 0 {
		if etagMatches(inm, etag, false) {
			return http.StatusNotModified
		}
		return 0
	}
	if ims := hd["If-Modified-Since"]; len(ims) > 0 {
		ref := lastModified
		if ref == "" {
			ref = date
		}
		since, err1 := http.ParseTime(ims[0])
		modified, err2 := http.ParseTime(ref)
		if err1 == nil && err2 == nil && !modified.After(since) {
			return http.StatusNotModified
		}
	}
	return 0
}

// etagMatches reports whether the entity-tag list in lines ("*" or
// comma-separated entity-tags, RFC 9110 §8.8.3) matches etag, with the
// strong comparison (If-Match) or the weak one (If-None-Match). "*"
// matches any current representation.
func etagMatches(lines []string, etag string, strong bool) bool {
	weakE, opaqueE, okE := parseETag(etag)
	for _, line := range lines {
		for {
			line = strings.TrimLeft(line, " \t,")
			if line == "" {
				break
			}
			if line[0] == '*' {
				return true
			}
			weak, opaque, rest, ok := nextETag(line)
			if !ok {
				// Not an entity-tag: skip to the next member.
				i := strings.IndexByte(line, ',')
				if i < 0 {
					break
				}
				line = line[i+1:]
				continue
			}
			line = rest
			if !okE || opaque != opaqueE {
				continue
			}
			if !strong || (!weak && !weakE) {
				return true
			}
		}
	}
	return false
}

// parseETag splits an entity-tag into its weakness and opaque-tag.
func parseETag(s string) (weak bool, opaque string, ok bool) {
	weak, opaque, rest, ok := nextETag(s)
	return weak, opaque, ok && trimOWS(rest) == ""
}

// nextETag reads an entity-tag at the start of s: [W/] DQUOTE *etagc
// DQUOTE, where etagc is %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3).
func nextETag(s string) (weak bool, opaque, rest string, ok bool) {
	if strings.HasPrefix(s, "W/") {
		weak, s = true, s[2:]
	}
	if len(s) < 2 || s[0] != '"' {
		return false, "", "", false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return weak, s[:i+1], s[i+1:], true
		case c < 0x21 || c == 0x7f:
			return false, "", "", false
		}
	}
	return false, "", "", false
}

// bodyFields are the fields of a representation that a 304 or a 412 from
// the cache does not carry (RFC 9110 §15.4.5; what net/http's ServeContent
// leaves out).
var bodyFields = [...]string{"Content-Type", "Content-Length", "Content-Encoding", "Content-Range", "Transfer-Encoding"}

// withoutBody removes from hd the fields that describe a body, for a 304
// or 412 answered by the cache; a 304 with an ETag also loses
// Last-Modified, as net/http's does.
func withoutBody(hd http.Header, status int) {
	for _, name := range bodyFields {
		delete(hd, name)
	}
	if status == http.StatusNotModified && len(hd["Etag"]) > 0 {
		delete(hd, "Last-Modified")
	}
}
