package origin

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestAppendRequest checks the request heads the h1Client writes.
func TestAppendRequest(t *testing.T) {
	tests := []struct {
		name  string
		build func() *http.Request
		want  string
	}{
		{
			name: "fields sorted after Host and User-Agent",
			build: func() *http.Request {
				r := request("GET", "https://origin.test/a/b.css?v=1&w=2")
				r.Host = "origin.test"
				r.Header = http.Header{
					"Via":             {"1.1 portico (Portico)"},
					"User-Agent":      {"Amazon CloudFront"},
					"X-Forwarded-For": {"192.0.2.10"},
					"Accept":          {"*/*"},
					"Cookie":          {"a=1; b=2"},
				}
				return r
			},
			want: "GET /a/b.css?v=1&w=2 HTTP/1.1\r\nHost: origin.test\r\nUser-Agent: Amazon CloudFront\r\n" +
				"Accept: */*\r\nCookie: a=1; b=2\r\nVia: 1.1 portico (Portico)\r\nX-Forwarded-For: 192.0.2.10\r\n\r\n",
		},
		{
			name: "HEAD, a field with two values, surrounding white space trimmed",
			build: func() *http.Request {
				r := request("HEAD", "https://origin.test/")
				r.Header = http.Header{"X-Two": {"1", " 2\t"}}
				return r
			},
			want: "HEAD / HTTP/1.1\r\nHost: origin.test\r\nX-Two: 1\r\nX-Two: 2\r\n\r\n",
		},
		{
			name: "empty User-Agent not sent, none added",
			build: func() *http.Request {
				r := request("GET", "https://origin.test/")
				r.Header = http.Header{"User-Agent": {""}}
				return r
			},
			want: "GET / HTTP/1.1\r\nHost: origin.test\r\n\r\n",
		},
		{
			name: "framing fields and Host in the header left out",
			build: func() *http.Request {
				r := request("GET", "https://origin.test/")
				r.Header = http.Header{"Content-Length": {"0"}, "Transfer-Encoding": {"chunked"}, "Trailer": {"X"}, "Host": {"evil.test"}}
				return r
			},
			want: "GET / HTTP/1.1\r\nHost: origin.test\r\n\r\n",
		},
		{
			name: "Host of the request over the URL's; Connection: close",
			build: func() *http.Request {
				r := request("GET", "https://origin.test:8443/")
				r.Host = "www.example.com"
				r.Close = true
				return r
			},
			want: "GET / HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n",
		},
		{
			name: "internationalized Host",
			build: func() *http.Request {
				r := request("GET", "https://origin.test/")
				r.Host = "bücher.example:8443"
				return r
			},
			want: "GET / HTTP/1.1\r\nHost: xn--bcher-kva.example:8443\r\n\r\n",
		},
		{
			name: "escaped path kept, path escaped, empty query kept",
			build: func() *http.Request {
				r := request("GET", "https://origin.test/")
				r.URL = &url.URL{Scheme: "https", Host: "origin.test", Path: "/a b/c/d", RawPath: "", ForceQuery: true}
				return r
			},
			want: "GET /a%20b/c/d? HTTP/1.1\r\nHost: origin.test\r\n\r\n",
		},
		{
			name: "raw path",
			build: func() *http.Request {
				r := request("GET", "https://origin.test/")
				r.URL = &url.URL{Scheme: "https", Host: "origin.test", Path: "/a/b", RawPath: "/a%2Fb"}
				return r
			},
			want: "GET /a%2Fb HTTP/1.1\r\nHost: origin.test\r\n\r\n",
		},
		{
			name: "empty path",
			build: func() *http.Request {
				r := request("GET", "https://origin.test")
				r.URL.RawQuery = "q"
				return r
			},
			want: "GET /?q HTTP/1.1\r\nHost: origin.test\r\n\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := appendRequest([]byte("prefix"), tt.build())
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "prefix"+tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, "prefix"+tt.want)
			}
		})
	}
}

func request(method, target string) *http.Request {
	r, err := http.NewRequest(method, target, nil)
	if err != nil {
		panic(err)
	}
	return r
}

// TestAppendRequestAllocs pins the writing of a request head into a buffer
// with room at no allocation.
func TestAppendRequestAllocs(t *testing.T) {
	r := request("GET", "https://origin.test/static/app.js?v=12&lang=en")
	r.Host = "origin.test"
	r.Header = http.Header{
		"User-Agent":                   {"Amazon CloudFront"},
		"Via":                          {"1.1 portico (Portico)"},
		"X-Forwarded-For":              {"192.0.2.10"},
		"X-Amz-Cf-Id":                  {"test-request-id-0001"},
		"Accept-Encoding":              {"br,gzip"},
		"Cookie":                       {"session=abc; theme=dark"},
		"Cloudfront-Viewer-Address":    {"192.0.2.10:51000"},
		"Cloudfront-Forwarded-Proto":   {"https"},
		"Cloudfront-Is-Mobile-Viewer":  {"false"},
		"Cloudfront-Is-Desktop-Viewer": {"true"},
		"Cname-Api-Key":                {"s3cr3t"},
	}
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if buf, err = appendRequest(buf[:0], r); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("writing a request head allocated %v times, want 0", allocs)
	}
}

// FuzzAppendRequest writes requests with arbitrary targets, Host and
// fields: the head either is refused, or is one request, which
// http.ReadRequest reads back with the same target, Host and fields, and
// nothing after it.
func FuzzAppendRequest(f *testing.F) {
	f.Add("/a/b", "v=1", "origin.test", "X-A", "1", "Cookie", "a=b")
	f.Add("/a b", "", "origin.test:8443", "X-A", "1\r\nX-B: 2", "Via", "1.1 x")
	f.Add("/", "a=1 HTTP/1.1\r\nX: y", "origin.test", "X-A\r\n", "1", "Y", "\x00")
	f.Add("/%2F", "q=%0d%0a", "o\r\n.test", "", "1", "Y", "\t v \t")
	f.Fuzz(func(t *testing.T, path, query, host, name1, value1, name2, value2 string) {
		u := &url.URL{Scheme: "https", Host: "origin.test", Path: path, RawQuery: query}
		h := http.Header{}
		h[name1] = []string{value1}
		h[name2] = []string{value2}
		r := &http.Request{Method: "GET", URL: u, Host: host, Header: h}
		head, err := appendRequest(nil, r)
		if err != nil {
			return
		}
		br := bufio.NewReader(bytes.NewReader(head))
		got, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("wrote %q, which does not read back: %v", head, err)
		}
		if n, _ := io.Copy(io.Discard, br); n != 0 {
			t.Fatalf("wrote %q: %d bytes past the request", head, n)
		}
		if got.Method != "GET" || isASCII(host) && got.Host != host || got.RequestURI != string(appendTarget(nil, u)) {
			t.Fatalf("wrote %q: read %s %s for Host %q", head, got.Method, got.RequestURI, got.Host)
		}
		// The fields, as a set of values for each canonical name.
		want := http.Header{}
		for name, vv := range h {
			if excluded(name) || name == "User-Agent" && vv[0] == "" {
				continue
			}
			ck := textproto.CanonicalMIMEHeaderKey(name)
			want[ck] = append(want[ck], textproto.TrimString(vv[0]))
		}
		for k, vv := range want {
			slices.Sort(vv)
			have := slices.Sorted(slices.Values(got.Header[k]))
			if !slices.Equal(have, vv) {
				t.Fatalf("wrote %q: %s = %q, want %q", head, k, have, vv)
			}
		}
		if len(got.Header) != len(want) {
			t.Fatalf("wrote %q: fields %q, want %q", head, got.Header, want)
		}
	})
}

// TestFinalHeadHas checks the search of a Content-Length in the final
// response head.
func TestFinalHeadHas(t *testing.T) {
	tests := []struct {
		raw  string
		want bool
	}{
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"HTTP/1.1 200 OK\r\ncontent-length:5\r\n\r\n", true},
		{"HTTP/1.1 200 OK\nContent-Length: 5\n\n", true},
		{"HTTP/1.1 200 OK\r\nX-Content-Length: 5\r\n\r\n", false},
		{"HTTP/1.1 200 OK\r\nContent-Lengths: 5\r\n\r\n", false},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nContent-Length: 5\r\n", false},   // in the body
		{"HTTP/1.1 103 Early Hints\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", false}, // in a 1xx
		{"HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", true},
		{"HTTP/1.1 101 Switching Protocols\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", false}, // 101 is final
		{"HTTP/1.1 200 OK\r\nContent-Le", true},                                                         // cut short
		{"", true},
	}
	for _, tt := range tests {
		if got := finalHeadHas([]byte(tt.raw), "content-length"); got != tt.want {
			t.Errorf("finalHeadHas(%q) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}

// FuzzFinalHeadHas checks finalHeadHas against net/textproto: when a
// response head, after any 1xx heads, reads as textproto reads it, the
// search finds a Content-Length exactly when textproto does.
func FuzzFinalHeadHas(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 103 Early Hints\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nX: 1\r\n content-length: 2\r\n\r\n"))
	f.Add([]byte("HTTP/1.1  100 Continue\n\nHTTP/1.1 200 OK\ncontent-length:1\n\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := finalHeadHas(raw, "content-length")
		tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw)))
		for {
			status, err := tp.ReadLine()
			if err != nil {
				return
			}
			h, err := tp.ReadMIMEHeader()
			if err != nil {
				return
			}
			_, code, _ := strings.Cut(status, " ")
			code = strings.TrimLeft(code, " ")
			if len(code) >= 3 && code[0] == '1' && code[:3] != "101" {
				continue
			}
			if want := h["Content-Length"] != nil; got != want {
				t.Fatalf("finalHeadHas(%q) = %v, textproto says %v", raw, got, want)
			}
			return
		}
	})
}
