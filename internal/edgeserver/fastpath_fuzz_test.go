package edgeserver

import (
	"bufio"
	"bytes"
	"maps"
	"net/http"
	"slices"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// FuzzFastParse checks the fast path's request parser against net/http's
// on the heads the guard accepts: whenever the fast path takes a head, it
// makes of it what net/http makes of it (method, target, URL, Host, header
// fields, whether the connection closes after it), and net/http's server
// would not refuse it.
func FuzzFastParse(f *testing.F) {
	for _, c := range rawCases {
		f.Add([]byte(c.raw))
	}
	for _, s := range []string{
		request("GET", "/plain?b=2&a=1;c", diffHost, "Accept-Language: de", "accept-language: fr", "Cookie: a=1"),
		request("HEAD", "/p!a*t(h)'[x]:@;,=+$&~", "DIFF.Example.:8080", "Connection: TE, Close", "Pragma: no-cache"),
		request("GET", "/p%41th%2Fx?", diffHost, "X-Spaces: \t padded \t", "x-lower_case: v"),
		request("GET", "//a/./b/../c??x?", diffHost, "Connection: keep-alive", "Cache-Control: max-age=0"),
		"\r\n\r\n" + request("GET", "/caf\xc3\xa9", diffHost),
	} {
		f.Add([]byte(s))
	}
	s := &Server{}
	fp := &fastPath{p: s.newPipeline(false), stats: &s.fast}
	f.Fuzz(func(t *testing.T, input []byte) {
		g := newGuardConn(&discardConn{}, s.limits())
		g.fast = true
		g.buf = append(make([]byte, 0, len(input)), input...)
		g.advance()
		if g.out == g.ok {
			return // no head accepted
		}
		head := g.buf[g.out:g.ok]
		c := fp.newConn(g, g)
		r, closeAfter, ok := c.parse(bytes.Clone(head))
		if !ok {
			return
		}
		want, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if err != nil {
			t.Fatalf("the fast path takes %q, which net/http refuses: %v", head, err)
		}
		if hosts := want.Header["Host"]; len(hosts) == 1 && !httpguts.ValidHostHeader(hosts[0]) {
			t.Fatalf("the fast path takes %q, whose Host net/http's server refuses", head)
		}
		delete(want.Header, "Host")
		for k, vv := range want.Header {
			for _, v := range vv {
				if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) {
					t.Fatalf("the fast path takes %q, whose field %q net/http's server refuses", head, k)
				}
			}
		}
		got := r
		switch {
		case got.Method != want.Method, got.RequestURI != want.RequestURI, got.Proto != want.Proto,
			got.ProtoMajor != want.ProtoMajor, got.ProtoMinor != want.ProtoMinor, got.Host != want.Host:
			t.Errorf("%q: fast path %s %s %s host %q; net/http %s %s %s host %q", head,
				got.Method, got.RequestURI, got.Proto, got.Host, want.Method, want.RequestURI, want.Proto, want.Host)
		case *got.URL != *want.URL, got.URL.EscapedPath() != want.URL.EscapedPath():
			t.Errorf("%q: fast path URL %#v; net/http %#v", head, *got.URL, *want.URL)
		case !maps.EqualFunc(got.Header, want.Header, slices.Equal):
			t.Errorf("%q: fast path header %q; net/http %q", head, got.Header, want.Header)
		case closeAfter != want.Close:
			t.Errorf("%q: fast path closes after: %v; net/http: %v", head, closeAfter, want.Close)
		case want.ContentLength != 0 || len(want.TransferEncoding) > 0:
			t.Errorf("%q: the fast path takes a request with a body", head)
		}
	})
}
