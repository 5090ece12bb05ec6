package httpcache

import (
	"net/http"
	"slices"
	"strings"

	"github.com/portico-edge/portico/internal/origin"
)

// absentField stands for a request field that was not sent, in a secondary
// key: no field value holds a NUL.
const absentField = "\x00"

// varyNames returns the canonical names of the request fields, listed in
// the Vary field lines of a response, that select among the responses
// stored under one key (RFC 9111 §4.1), or why the response cannot be
// stored: Vary: * (RFC 9111 §4.1) or a field that the edge sets itself, per
// request, on the way to the origin.
//
// Fields the key already tells apart are left out: the keyed headers,
// Host, Cookie (keyed as forwarded, unless more cookies are forwarded than
// keyed), Accept-Encoding (keyed normalised, or as sent when keyed, or not
// forwarded) and User-Agent (keyed, or replaced by a constant before the
// origin sees it, unless it is forwarded but not keyed). Any other field is keyed on the viewer's value, which is what the
// origin received when the field is forwarded, and at worst splits
// responses that the origin could not tell apart.
func (s *keySpec) varyNames(lines []string) (names []string, why string) {
	for _, line := range lines {
		for line != "" {
			var name string
			name, line, _ = strings.Cut(line, ",")
			if name = trimOWS(name); name == "" {
				continue
			}
			if name == "*" {
				return nil, detailVaryStar
			}
			name = http.CanonicalHeaderKey(name)
			switch {
			case s.inKey(name), slices.Contains(names, name):
				// (A CloudFront-* field the key names is keyed on the
				// value the edge computes, which is what the origin got.)
			case edgeField(name):
				return nil, detailVaryEdge
			default:
				names = append(names, name)
			}
		}
	}
	return names, ""
}

// inKey reports whether the key tells apart requests that differ in the
// canonical field name.
func (s *keySpec) inKey(name string) bool {
	switch name {
	case "Cookie", "Accept-Encoding", "User-Agent":
		return !slices.Contains(s.unkeyed, name)
	case "Host":
		return true
	}
	return s.keyed(name)
}

// edgeField reports whether the origin receives, in the canonical field
// name, a value the edge makes up for each request (the client's address,
// the request ID): a response that varies on it is never reused.
func edgeField(name string) bool {
	switch name {
	case "X-Forwarded-For", "Forwarded", "X-Real-Ip", "True-Client-Ip", "Via", "X-Amz-Cf-Id":
		return true
	}
	return origin.IsCloudFrontHeader(name)
}

// secondaryKey returns the secondary key of r for the Vary'd fields names:
// pairs of name and normalised value.
func secondaryKey(names []string, r *http.Request) []string {
	if len(names) == 0 {
		return nil
	}
	key := make([]string, 0, 2*len(names))
	for _, name := range names {
		key = append(key, name, normalizeField(r.Header[name]))
	}
	return key
}

// normalizeField combines the lines of a field into one value, its list
// members separated by single commas without white space, or absentField
// when there are none (RFC 9111 §4.1: "normalizing both header field
// values in a way that is known to have identical semantics").
func normalizeField(lines []string) string {
	if len(lines) == 0 {
		return absentField
	}
	var b strings.Builder
	first := true
	for _, line := range lines {
		for line != "" {
			var m string
			m, line, _ = strings.Cut(line, ",")
			if m = trimOWS(m); m == "" {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.WriteString(m)
		}
	}
	return b.String()
}

// fieldMatches reports whether the field lines of a request normalise to
// norm. It does not allocate.
func fieldMatches(norm string, lines []string) bool {
	if norm == absentField || len(lines) == 0 {
		return norm == absentField && len(lines) == 0
	}
	rest, more := norm, norm != ""
	for _, line := range lines {
		for line != "" {
			var m string
			m, line, _ = strings.Cut(line, ",")
			if m = trimOWS(m); m == "" {
				continue
			}
			if !more {
				return false
			}
			var want string
			want, rest, more = strings.Cut(rest, ",")
			if want != m {
				return false
			}
		}
	}
	return !more
}

// selectedBy reports whether e is a response to requests like r: the
// fields it varies on have the values r carries. It does not allocate.
func (e *entry) selectedBy(r *http.Request) bool { return selects(e.vary(), r) }

// selects reports whether the secondary key vary (see entryMore.vary)
// selects r. It does not allocate.
func selects(vary []string, r *http.Request) bool {
	for i := 0; i+1 < len(vary); i += 2 {
		if !fieldMatches(vary[i+1], r.Header[vary[i]]) {
			return false
		}
	}
	return true
}

// sameVariant reports whether a and b answer the same requests: one
// replaces the other.
func sameVariant(a, b *entry) bool { return slices.Equal(a.vary(), b.vary()) }

// viewerVary returns the Vary field lines sent to viewers for the origin's
// lines: CloudFront passes on only Accept-Encoding, Cookie, User-Agent and
// the names of forwarded headers: whitelisted ones under legacy settings (DG
// RequestAndResponseBehaviorCustomOrigin, "Vary"). Portico also keeps "*",
// which tells a client's cache never to reuse the response. lines is
// returned as is when nothing is removed.
func (s *keySpec) viewerVary(lines []string) []string {
	keep := func(name string) bool {
		name = http.CanonicalHeaderKey(name)
		switch name {
		case "*", "Accept-Encoding", "Cookie", "User-Agent":
			return true
		}
		return s.vary.Includes(name)
	}
	all := true
	for _, line := range lines {
		for _, name := range strings.Split(line, ",") {
			if name = trimOWS(name); name != "" && !keep(name) {
				all = false
			}
		}
	}
	if all {
		return lines
	}
	var kept []string
	for _, line := range lines {
		for _, name := range strings.Split(line, ",") {
			if name = trimOWS(name); name != "" && keep(name) {
				kept = append(kept, name)
			}
		}
	}
	if len(kept) == 0 {
		return nil
	}
	return []string{strings.Join(kept, ", ")}
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
