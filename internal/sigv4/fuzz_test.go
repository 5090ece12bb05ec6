package sigv4

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portico-edge/portico"
)

// FuzzVerify feeds arbitrary Authorization headers and query strings to
// Verify. It must never panic, must fail with a 403 *portico.Error that
// gives away no secret, and may succeed only for the seeds that real
// signers produced.
func FuzzVerify(f *testing.F) {
	const target = "/2020-05-31/distribution?Marker=&MaxItems=10"
	header := signCase{method: "GET", target: target}.signedRequest(f, "https://api.example")
	presigned := signCase{method: "GET", target: target, presign: true}.signedRequest(f, "https://api.example")
	f.Add(header.Header.Get("Authorization"), header.URL.RawQuery)
	f.Add("", presigned.URL.RawQuery)
	f.Add(header.Header.Get("Authorization"), presigned.URL.RawQuery)
	f.Add("", "")
	f.Add("AWS4-HMAC-SHA256", "")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e,,SignedHeaders=;;, Signature=zz", "a=%&b")
	f.Add("AWS4-HMAC-SHA256 Credential=////, SignedHeaders=host, Signature=", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=99999999999999999999")
	f.Add("AWS4-HMAC-SHA256 Credential="+testKeyID+"/20240506/us-east-1/cloudfront/aws4_request, SignedHeaders=host;x-amz-date, Signature="+strings.Repeat("0", 64), "")

	v := newTestVerifier()
	f.Fuzz(func(t *testing.T, authorization, rawQuery string) {
		r := httptest.NewRequest("GET", "https://api.example/2020-05-31/distribution", nil)
		r.URL.RawQuery = rawQuery
		r.Header.Set("X-Amz-Date", header.Header.Get("X-Amz-Date"))
		if authorization != "" {
			r.Header["Authorization"] = []string{authorization}
		}
		id, err := v.Verify(r, nil)
		if err == nil {
			if id.AccessKeyID != testKeyID {
				t.Fatalf("Verify accepted %+v", id)
			}
			return
		}
		var pe *portico.Error
		if !errors.As(err, &pe) {
			t.Fatalf("Verify error %T %v, want *portico.Error", err, err)
		}
		if pe.Status != http.StatusForbidden || pe.Code == "" || pe.Message == "" {
			t.Fatalf("Verify error %+v, want a 403 with a code and a message", pe)
		}
		if strings.Contains(pe.Message, testSecret) || hex64.MatchString(pe.Message) {
			t.Fatalf("Verify error message %q gives away a secret", pe.Message)
		}
	})
}
