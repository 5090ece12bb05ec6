package httpcache

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeFile checks that any bytes in a cache file decode to a valid
// response or to an error, never a panic, and that a valid file decodes
// back to what was encoded.
func FuzzDecodeFile(f *testing.F) {
	sc := newScope("E1")
	e := newEntry(&response{key: "k\x00ey", sc: sc, path: "/p?q", gen: 7, vary: []string{"X-A", "1"}, tags: []string{"t"},
		status: 200, header: http.Header{"Etag": {`"x"`}, "Vary": {"X-A", "Accept-Encoding"}},
		body: []byte("body"), responseTime: 1, age: time.Second, policy: storePolicy{ttl: time.Minute, sie: time.Hour, mustRevalidate: true},
		etag: `"x"`, compressed: true})
	valid := encodeEntry(e, 42)
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add([]byte("PORTICO\x01\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, body, err := decodeFile(b)
		if err != nil {
			return
		}
		if m.status < 100 || m.status > 999 || len(m.vary)%2 != 0 {
			t.Fatalf("decoded an invalid response: %+v", m)
		}
		if bytes.Equal(b, valid) && (m.key != e.key || string(body) != "body" || m.epoch != 42 || m.gen != 7 ||
			m.policy != e.policy() || m.header.Get("Etag") != `"x"` || len(m.header["Vary"]) != 2 || m.flags&flagCompressed == 0) {
			t.Fatalf("round trip: %+v %q", m, body)
		}
	})
}

// FuzzVaryMatch checks the secondary key: a request always selects the
// response stored for its own field lines, and two requests select each
// other's exactly when their normalised values are equal.
func FuzzVaryMatch(f *testing.F) {
	f.Add("a, b", "a,b", true, true)
	f.Add("", " ", true, false)
	f.Add("x,,y", "x, y", true, true)
	f.Fuzz(func(t *testing.T, a, b string, aSent, bSent bool) {
		if strings.ContainsAny(a+b, "\x00") {
			return
		}
		var la, lb []string
		if aSent {
			la = strings.Split(a, "\n")
		}
		if bSent {
			lb = strings.Split(b, "\n")
		}
		na, nb := normalizeField(la), normalizeField(lb)
		if !fieldMatches(na, la) {
			t.Fatalf("%q does not match its own normalised value %q", la, na)
		}
		if fieldMatches(na, lb) != (na == nb) {
			t.Fatalf("fieldMatches(%q, %q) = %v, but normalised values %q and %q", na, lb, !(na == nb), na, nb)
		}
	})
}

// FuzzETagMatch checks the entity-tag list parser: never a panic, and a
// list holding the tag itself always matches it.
func FuzzETagMatch(f *testing.F) {
	f.Add(`"a", W/"b"`, `"b"`)
	f.Add(`*`, ``)
	f.Add(`"a,b", "c"`, `"a,b"`)
	f.Fuzz(func(t *testing.T, list, etag string) {
		strong := etagMatches([]string{list}, etag, true)
		weak := etagMatches([]string{list}, etag, false)
		if strong && !weak {
			t.Fatalf("%q matches %q strongly but not weakly", list, etag)
		}
		if w, _, ok := parseETag(etag); ok && !w && !etagMatches([]string{list + ", " + etag}, etag, true) {
			t.Fatalf("%q does not match itself in %q", etag, list+", "+etag)
		}
	})
}
