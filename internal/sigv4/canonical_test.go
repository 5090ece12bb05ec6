package sigv4

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portico-edge/portico"
)

func TestCanonicalURI(t *testing.T) {
	tests := []struct{ escaped, want string }{
		{"", "/"},
		{"/", "/"},
		{"/2020-05-31/distribution", "/2020-05-31/distribution"},
		{"/2020-05-31/distribution/E1%2FX/config", "/2020-05-31/distribution/E1%252FX/config"},
		{"/a%20b/%C3%A9", "/a%2520b/%25C3%25A9"},
		{"/a!$&'()*+,;=:@b", "/a%21%24%26%27%28%29%2A%2B%2C%3B%3D%3A%40b"},
		{"/-._~", "/-._~"},
	}
	for _, tt := range tests {
		if got := canonicalURI(tt.escaped); got != tt.want {
			t.Errorf("canonicalURI(%q) = %q, want %q", tt.escaped, got, tt.want)
		}
	}
}

func TestNormalizePath(t *testing.T) {
	tests := []struct{ path, want string }{
		{"", "/"},
		{"/", "/"},
		{"//", "/"},
		{"/a/b", "/a/b"},
		{"/a/b/", "/a/b/"},
		{"//example//", "/example/"},
		{"/./example", "/example"},
		{"/example/..", "/"},
		{"/example1/example2/../..", "/"},
		{"/a/../../b/./c/", "/b/c/"},
		{"/a/%2E%2E/b", "/a/%2E%2E/b"},
	}
	for _, tt := range tests {
		if got := normalizePath(tt.path); got != tt.want {
			t.Errorf("normalizePath(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct {
		raw       string
		presigned bool
		want      string
	}{
		{"", false, ""},
		{"Marker=&MaxItems=10", false, "Marker=&MaxItems=10"},
		{"MaxItems=10&Marker", false, "Marker=&MaxItems=10"},
		{"b=2&a=2&a=1", false, "a=1&a=2&b=2"},
		// Sorted after encoding: "a%2Fb" sorts before "a-b".
		{"k=a-b&k=a/b", false, "k=a%2Fb&k=a-b"},
		{"q=a+b%20c%2Bd", false, "q=a%20b%20c%2Bd"},
		{"%E1%88%B4=x&&Param=y", false, "%E1%88%B4=x&Param=y"},
		{"X-Amz-Signature=abc&X-Amz-Date=1", true, "X-Amz-Date=1"},
		{"X-Amz-Signature=abc&X-Amz-Date=1", false, "X-Amz-Date=1&X-Amz-Signature=abc"},
	}
	for _, tt := range tests {
		params, err := parseQuery(tt.raw)
		if err != nil {
			t.Errorf("parseQuery(%q): %v", tt.raw, err)
			continue
		}
		if got := canonicalQuery(params, tt.presigned); got != tt.want {
			t.Errorf("canonicalQuery(%q, %v) = %q, want %q", tt.raw, tt.presigned, got, tt.want)
		}
	}
	for _, raw := range []string{"a=%zz", "%=1", "a=%4"} {
		if _, err := parseQuery(raw); err == nil {
			t.Errorf("parseQuery(%q) succeeded, want an error", raw)
		}
	}
}

func TestCanonicalHeaders(t *testing.T) {
	r := httptest.NewRequest("PUT", "https://api.example:9000/x", http.NoBody)
	r.ContentLength = 12
	r.Header["My-Header"] = []string{"  a   b\t ", "c", "\t d  e  f"}
	r.Header.Set("If-Match", "E2QWRUHEXAMPLE")
	got := canonicalHeaders(r, []string{"content-length", "host", "if-match", "missing", "my-header"})
	want := "content-length:12\nhost:api.example:9000\nif-match:E2QWRUHEXAMPLE\nmissing:\nmy-header:a b,c,d e f\n"
	if got != want {
		t.Errorf("canonicalHeaders = %q, want %q", got, want)
	}
}

func TestSetExpires(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration // 0: invalid
	}{
		{"1", time.Second},
		{"900", 900 * time.Second},
		{"604800", 7 * 24 * time.Hour},
		{"604801", 0},
		{"0", 0},
		{"", 0},
		{"-1", 0},
		{"+5", 0},
		{"1e3", 0},
		{"99999999999999999999999", 0},
	}
	for _, tt := range tests {
		var a auth
		err := a.setExpires(tt.in)
		if tt.want == 0 {
			if err == nil {
				t.Errorf("setExpires(%q) accepted %v, want an error", tt.in, a.expires)
			}
			continue
		}
		if err != nil || a.expires != tt.want {
			t.Errorf("setExpires(%q) = %v, %v; want %v", tt.in, a.expires, err, tt.want)
		}
	}
}

// TestDateHeader checks that the Date header stands in for X-Amz-Date,
// both in the string to sign and against the clock.
func TestDateHeader(t *testing.T) {
	const authz = "AWS4-HMAC-SHA256 Credential=" + testKeyID + "/20240506/us-east-1/cloudfront/aws4_request, SignedHeaders=date;host, Signature=" +
		"0000000000000000000000000000000000000000000000000000000000000000"
	tests := []struct {
		date     string
		wantCode string
	}{
		{"Mon, 06 May 2024 07:08:09 GMT", portico.ErrSignatureDoesNotMatch},
		{"Mon, 06 May 2024 06:50:00 GMT", "RequestTimeTooSkewed"},
		{"yesterday", portico.ErrIncompleteSignature},
		{"", portico.ErrIncompleteSignature},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "https://api.example/2020-05-31/distribution", nil)
		r.Header.Set("Authorization", authz)
		if tt.date != "" {
			r.Header.Set("Date", tt.date)
		}
		if tt.wantCode == portico.ErrSignatureDoesNotMatch {
			q, _ := parseQuery(r.URL.RawQuery)
			a, err := parseAuth(r, q)
			if err != nil {
				t.Fatalf("Date %q: %v", tt.date, err)
			}
			if a.amzDate != "20240506T070809Z" {
				t.Errorf("Date %q: signing time %q, want 20240506T070809Z", tt.date, a.amzDate)
			}
		}
		_, err := newTestVerifier().Verify(r, nil)
		if pe := (*portico.Error)(nil); !errors.As(err, &pe) || pe.Code != tt.wantCode {
			t.Errorf("Date %q: Verify = %v, want %s", tt.date, err, tt.wantCode)
		}
	}
}

// TestVerifyLeavesBody checks that Verify reads the payload it is given,
// not the request body.
func TestVerifyLeavesBody(t *testing.T) {
	tc := signCase{method: "POST", target: "/2020-05-31/distribution", body: createDistributionXML}
	r := tc.signedRequest(t, "https://api.example")
	r.Body = io.NopCloser(failingReader{t})
	if _, err := newTestVerifier().Verify(r, []byte(createDistributionXML)); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

type failingReader struct{ t *testing.T }

func (f failingReader) Read([]byte) (int, error) {
	f.t.Error("Verify read the request body")
	return 0, io.ErrUnexpectedEOF
}

// TestVerifierWithoutSecret checks that a Verifier with no Secret knows no
// access key rather than failing open or panicking.
func TestVerifierWithoutSecret(t *testing.T) {
	tc := signCase{method: "GET", target: "/2020-05-31/distribution"}
	r := tc.signedRequest(t, "https://api.example")
	v := newTestVerifier()
	v.Secret = nil
	_, err := v.Verify(r, nil)
	if pe := (*portico.Error)(nil); !errors.As(err, &pe) || pe.Code != portico.ErrInvalidClientTokenID {
		t.Errorf("Verify = %v, want %s", err, portico.ErrInvalidClientTokenID)
	}
}

func BenchmarkVerify(b *testing.B) {
	tc := signCase{method: "PUT", target: "/2020-05-31/distribution/EDFDVBD6EXAMPLE/config",
		header: http.Header{"If-Match": {"E2QWRUHEXAMPLE"}, "Content-Type": {"text/xml"}}, body: createDistributionXML}
	r := tc.signedRequest(b, "https://api.example")
	v := newTestVerifier()
	payload := []byte(createDistributionXML)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r, payload); err != nil {
			b.Fatal(err)
		}
	}
}
