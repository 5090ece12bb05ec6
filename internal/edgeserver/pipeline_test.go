package edgeserver

import (
	"bufio"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portico-edge/portico/internal/router"
)

// FuzzRedirectToHTTPS feeds request heads to the redirect step, for the
// hosts the router lets through, and checks that the Location stays on the
// requested host, over HTTPS, on the default port, and cannot split the
// response.
func FuzzRedirectToHTTPS(f *testing.F) {
	for _, s := range [][2]string{
		{"login.example.com", "/a/b?x=1"},
		{"Login.Example.com:8080", "/p"},
		{"a.example.com.", "/?"},
		{"x.example.com", "http://other.example.net/abs?q"},
		{"x.example.com", "//evil.example.net/"},
		{"x.example.com", "/a%0d%0aSet-Cookie:x"},
		{"x.example.com", "*"},
		{"a'b.example.com", "/"},
	} {
		f.Add(s[0], s[1])
	}
	tab, err := router.NewTable(map[string]bool{"login.example.com": true, "*.example.com": true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, host, target string) {
		raw := "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // net/http answers 400 before the pipeline runs
		}
		if _, ok := tab.Lookup(r.Host); !ok {
			return // the pipeline answers 403 before redirecting
		}
		a := redirectToHTTPS(r)
		if a.status != http.StatusMovedPermanently {
			t.Fatalf("status %d for GET, want 301", a.status)
		}
		if strings.ContainsFunc(a.location, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
			t.Fatalf("Location %q holds white space or control characters", a.location)
		}
		u, err := url.Parse(a.location)
		if err != nil {
			t.Fatalf("Location %q does not parse: %v", a.location, err)
		}
		if want := router.CanonicalHost(r.Host); u.Scheme != "https" || u.Host != want {
			t.Fatalf("Location %q leads to %s://%s, want https://%s", a.location, u.Scheme, u.Host, want)
		}
	})
}
