package sigv4

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/portico-edge/portico"
)

const (
	testKeyID  = "AKIDPORTICOEXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYPORTICOKEY"
)

// testNow is the verifying server's clock in every test that signs with
// the SDK's signer.
var testNow = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func newTestVerifier() *Verifier {
	return &Verifier{
		Secret: func(id string) (string, bool) {
			if id == testKeyID {
				return testSecret, true
			}
			return "", false
		},
		Services: []string{"cloudfront", "acm"},
		Now:      func() time.Time { return testNow },
	}
}

// outcome is what a verifying test server reports for one request.
type outcome struct {
	Identity Identity
	Code     string
	Message  string
	Status   int
}

// verify runs v.Verify as a handler would, after reading the body.
func verify(v *Verifier, r *http.Request) outcome {
	payload, err := io.ReadAll(r.Body)
	if err != nil {
		return outcome{Code: "ReadBody", Message: err.Error()}
	}
	id, err := v.Verify(r, payload)
	if err == nil {
		return outcome{Identity: id}
	}
	var pe *portico.Error
	if !errors.As(err, &pe) {
		return outcome{Code: "NotPorticoError", Message: err.Error()}
	}
	return outcome{Code: pe.Code, Message: pe.Message, Status: pe.Status}
}

// startVerifyServer starts an HTTPS server that verifies every request
// with v and answers with the outcome as JSON.
func startVerifyServer(t *testing.T, v *Verifier, http2 bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := json.NewEncoder(w).Encode(verify(v, r)); err != nil {
			t.Errorf("encode outcome: %v", err)
		}
	}))
	srv.EnableHTTP2 = http2
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// signCase is one request signed with the AWS SDK's signer, possibly
// changed after signing, and what Verify must say about it.
type signCase struct {
	name   string
	method string
	target string // path and query, escaped as sent
	header http.Header
	body   string

	service string // default "cloudfront"
	region  string // default "us-east-1"
	keyID   string // default testKeyID
	secret  string // default testSecret
	signAt  time.Duration

	presign     bool
	expires     string // X-Amz-Expires of a presigned request; default "900"
	payloadHash string // default: SHA-256 of body

	mutate func(*http.Request)

	wantCode string // empty: Verify succeeds
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

const createDistributionXML = `<?xml version="1.0" encoding="UTF-8"?>
<DistributionConfig xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">
  <CallerReference>ref-1</CallerReference>
  <Comment>auth  proxy</Comment>
  <Enabled>true</Enabled>
</DistributionConfig>`

const acmListBody = `{"CertificateStatuses":["ISSUED"],"MaxItems":10}`

func signCases() []signCase {
	acm := func(target string) http.Header {
		return http.Header{
			"X-Amz-Target": {"CertificateManager." + target},
			"Content-Type": {"application/x-amz-json-1.1"},
		}
	}
	ifMatch := http.Header{"If-Match": {"E2QWRUHEXAMPLE"}, "Content-Type": {"text/xml"}}
	return []signCase{
		// Header form, accepted.
		{name: "list distributions", method: "GET", target: "/2020-05-31/distribution?Marker=&MaxItems=10"},
		{name: "create distribution", method: "POST", target: "/2020-05-31/distribution", header: http.Header{"Content-Type": {"text/xml"}}, body: createDistributionXML},
		{name: "update with If-Match", method: "PUT", target: "/2020-05-31/distribution/EDFDVBD6EXAMPLE/config", header: ifMatch, body: createDistributionXML},
		{name: "ID with escaped slash", method: "GET", target: "/2020-05-31/distribution/EDF%2FDVBD6/config"},
		{name: "path needing escapes", method: "GET", target: "/2020-05-31/distribution/EDFDVBD6EXAMPLE/invalidation/I%20%C3%A9%25%2A%3F%23!$&'()*+,;=:@~"},
		{name: "query needing escapes", method: "GET", target: "/2020-05-31/distribution?Marker=a%2Fb%20c+d%26e&MaxItems=10&Z=%E2%9C%93&A=2&A=1"},
		{name: "acm list certificates", method: "POST", target: "/", service: "acm", header: acm("ListCertificates"), body: acmListBody},
		{name: "any region", method: "GET", target: "/2020-05-31/distribution", region: "eu-west-3"},
		{name: "skew 14 minutes behind", method: "GET", target: "/2020-05-31/distribution", signAt: -14 * time.Minute},
		{name: "skew 14 minutes ahead", method: "GET", target: "/2020-05-31/distribution", signAt: 14 * time.Minute},
		{name: "signed x-amz-content-sha256", method: "POST", target: "/2020-05-31/distribution", header: http.Header{"X-Amz-Content-Sha256": {sha256Hex(createDistributionXML)}}, body: createDistributionXML},
		{name: "header values trimmed and joined", method: "GET", target: "/2020-05-31/distribution", header: http.Header{"X-Custom": {"  a   b  ", "c\td  e"}},
			mutate: func(r *http.Request) { r.Header["X-Custom"] = []string{"a b", "c\td e"} }},
		{name: "header value order matters", method: "GET", target: "/2020-05-31/distribution", header: http.Header{"X-Custom": {"a", "b"}},
			mutate: func(r *http.Request) { r.Header["X-Custom"] = []string{"b", "a"} }, wantCode: portico.ErrSignatureDoesNotMatch},
		{name: "unsigned header changed", method: "PUT", target: "/2020-05-31/distribution/EDFDVBD6EXAMPLE/config", header: ifMatch, body: createDistributionXML,
			mutate: func(r *http.Request) {
				r.Header.Set("User-Agent", "something-else/1.0")
				r.Header.Set("X-Forwarded-For", "192.0.2.1")
			}},

		// Header form, refused.
		{name: "no credentials", method: "GET", target: "/2020-05-31/distribution",
			mutate: func(r *http.Request) { r.Header.Del("Authorization") }, wantCode: "MissingAuthenticationToken"},
		{name: "no credentials, malformed query", method: "GET", target: "/2020-05-31/distribution",
			mutate: func(r *http.Request) { r.Header.Del("Authorization"); r.URL.RawQuery = "Marker=%zz" }, wantCode: "MissingAuthenticationToken"},
		{name: "malformed query", method: "GET", target: "/2020-05-31/distribution",
			mutate: func(r *http.Request) { r.URL.RawQuery = "Marker=%zz" }, wantCode: portico.ErrIncompleteSignature},
		{name: "unknown access key", method: "GET", target: "/2020-05-31/distribution", keyID: "AKIDUNKNOWN", wantCode: portico.ErrInvalidClientTokenID},
		{name: "wrong secret", method: "GET", target: "/2020-05-31/distribution", secret: "not-the-secret", wantCode: portico.ErrSignatureDoesNotMatch},
		{name: "tampered body", method: "POST", target: "/2020-05-31/distribution", header: http.Header{"Content-Type": {"text/xml"}}, body: createDistributionXML,
			mutate: setBody(strings.Replace(createDistributionXML, "true", "fals", 1)), wantCode: portico.ErrSignatureDoesNotMatch},
		{name: "tampered body with content hash", method: "POST", target: "/2020-05-31/distribution", header: http.Header{"X-Amz-Content-Sha256": {sha256Hex(createDistributionXML)}}, body: createDistributionXML,
			mutate: setBody(strings.Replace(createDistributionXML, "true", "fals", 1)), wantCode: portico.ErrSignatureDoesNotMatch},
		{name: "tampered If-Match", method: "PUT", target: "/2020-05-31/distribution/EDFDVBD6EXAMPLE/config", header: ifMatch, body: createDistributionXML,
			mutate: func(r *http.Request) { r.Header.Set("If-Match", "E3OTHERETAG") }, wantCode: portico.ErrSignatureDoesNotMatch},
		{name: "tampered X-Amz-Target", method: "POST", target: "/", service: "acm", header: acm("ListCertificates"), body: acmListBody,
			mutate: func(r *http.Request) { r.Header.Set("X-Amz-Target", "CertificateManager.DeleteCertificate") }, wantCode: portico.ErrSignatureDoesNotMatch},
		{name: "tampered query", method: "GET", target: "/2020-05-31/distribution?Marker=&MaxItems=10",
			mutate: replaceQuery("MaxItems=10", "MaxItems=100"), wantCode: portico.ErrSignatureDoesNotMatch},
		{name: "added query parameter", method: "GET", target: "/2020-05-31/distribution?MaxItems=10",
			mutate: replaceQuery("MaxItems=10", "MaxItems=10&Marker=x"), wantCode: portico.ErrSignatureDoesNotMatch},
		{name: "tampered path", method: "GET", target: "/2020-05-31/distribution/EDFDVBD6EXAMPLE",
			mutate: func(r *http.Request) { r.URL.Path = "/2020-05-31/distribution/EOTHER" }, wantCode: portico.ErrSignatureDoesNotMatch},
		{name: "escaped slash unescaped", method: "GET", target: "/2020-05-31/distribution/EDF%2FDVBD6/config",
			mutate: func(r *http.Request) { r.URL.RawPath = "" }, wantCode: portico.ErrSignatureDoesNotMatch},
		{name: "tampered method", method: "GET", target: "/2020-05-31/distribution/EDFDVBD6EXAMPLE",
			mutate: func(r *http.Request) { r.Method = "DELETE" }, wantCode: portico.ErrSignatureDoesNotMatch},
		{name: "region changed after signing", method: "GET", target: "/2020-05-31/distribution",
			mutate: replaceAuth("/us-east-1/", "/eu-west-1/"), wantCode: portico.ErrSignatureDoesNotMatch},
		{name: "service changed after signing", method: "POST", target: "/", service: "acm", header: acm("ListCertificates"), body: acmListBody,
			mutate: replaceAuth("/acm/", "/cloudfront/"), wantCode: portico.ErrSignatureDoesNotMatch},
		{name: "service not accepted", method: "GET", target: "/2020-05-31/distribution", service: "s3", wantCode: portico.ErrSignatureDoesNotMatch},
		{name: "scope date not signing day", method: "GET", target: "/2020-05-31/distribution",
			mutate: replaceAuth("/20240506/", "/20240505/"), wantCode: portico.ErrSignatureDoesNotMatch},
		{name: "scope terminator", method: "GET", target: "/2020-05-31/distribution",
			mutate: replaceAuth("/aws4_request", "/aws5_request"), wantCode: portico.ErrIncompleteSignature},
		{name: "unsupported algorithm", method: "GET", target: "/2020-05-31/distribution",
			mutate: replaceAuth("AWS4-HMAC-SHA256 ", "AWS4-ECDSA-P256-SHA256 "), wantCode: portico.ErrIncompleteSignature},
		{name: "not a SigV4 header", method: "GET", target: "/2020-05-31/distribution",
			mutate: func(r *http.Request) { r.Header.Set("Authorization", "Bearer abc") }, wantCode: portico.ErrIncompleteSignature},
		{name: "signature field missing", method: "GET", target: "/2020-05-31/distribution",
			mutate: func(r *http.Request) {
				h := r.Header.Get("Authorization")
				r.Header.Set("Authorization", h[:strings.Index(h, ", Signature=")])
			}, wantCode: portico.ErrIncompleteSignature},
		{name: "credential missing a part", method: "GET", target: "/2020-05-31/distribution",
			mutate: replaceAuth("/us-east-1/", "/"), wantCode: portico.ErrIncompleteSignature},
		{name: "credential with invalid region", method: "GET", target: "/2020-05-31/distribution",
			mutate: replaceAuth("/us-east-1/", "/us<east>1/"), wantCode: portico.ErrIncompleteSignature},
		{name: "host not signed", method: "GET", target: "/2020-05-31/distribution",
			mutate: replaceAuth("SignedHeaders=host;", "SignedHeaders="), wantCode: portico.ErrIncompleteSignature},
		{name: "two Authorization headers", method: "GET", target: "/2020-05-31/distribution",
			mutate: func(r *http.Request) { r.Header.Add("Authorization", r.Header.Get("Authorization")) }, wantCode: portico.ErrIncompleteSignature},
		{name: "header and query signature", method: "GET", target: "/2020-05-31/distribution",
			mutate: func(r *http.Request) { r.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256" }, wantCode: portico.ErrIncompleteSignature},
		{name: "malformed X-Amz-Date", method: "GET", target: "/2020-05-31/distribution",
			mutate: func(r *http.Request) { r.Header.Set("X-Amz-Date", "2024-05-06T07:08:09Z") }, wantCode: portico.ErrIncompleteSignature},
		{name: "skew 16 minutes behind", method: "GET", target: "/2020-05-31/distribution", signAt: -16 * time.Minute, wantCode: "RequestTimeTooSkewed"},
		{name: "skew 16 minutes ahead", method: "GET", target: "/2020-05-31/distribution", signAt: 16 * time.Minute, wantCode: "RequestTimeTooSkewed"},
		{name: "unsigned payload in header form", method: "POST", target: "/2020-05-31/distribution", header: http.Header{"X-Amz-Content-Sha256": {UnsignedPayload}},
			body: createDistributionXML, payloadHash: UnsignedPayload, wantCode: portico.ErrSignatureDoesNotMatch},

		// Presigned form, accepted.
		{name: "presigned list distributions", method: "GET", target: "/2020-05-31/distribution?Marker=&MaxItems=10", presign: true},
		{name: "presigned with If-Match", method: "PUT", target: "/2020-05-31/distribution/EDFDVBD6EXAMPLE/config", header: ifMatch, body: createDistributionXML, presign: true},
		{name: "presigned escaped path", method: "GET", target: "/2020-05-31/distribution/EDF%2FDVBD6/invalidation/I%20%C3%A9", presign: true},
		{name: "presigned unsigned payload", method: "POST", target: "/2020-05-31/distribution", body: createDistributionXML, presign: true, payloadHash: UnsignedPayload},
		{name: "presigned acm", method: "POST", target: "/", service: "acm", header: acm("ListCertificates"), body: acmListBody, presign: true},
		{name: "presigned seven days", method: "GET", target: "/2020-05-31/distribution", presign: true, expires: "604800", signAt: -7*24*time.Hour + time.Minute},
		{name: "presigned slightly in the future", method: "GET", target: "/2020-05-31/distribution", presign: true, signAt: 10 * time.Minute},

		// Presigned form, refused.
		{name: "presigned expired", method: "GET", target: "/2020-05-31/distribution", presign: true, expires: "3600", signAt: -2 * time.Hour, wantCode: portico.ErrAccessDenied},
		{name: "presigned in the future", method: "GET", target: "/2020-05-31/distribution", presign: true, signAt: time.Hour, wantCode: portico.ErrAccessDenied},
		{name: "presigned expires 0", method: "GET", target: "/2020-05-31/distribution", presign: true, expires: "0", wantCode: portico.ErrIncompleteSignature},
		{name: "presigned expires over 7 days", method: "GET", target: "/2020-05-31/distribution", presign: true, expires: "604801", wantCode: portico.ErrIncompleteSignature},
		{name: "presigned expires negative", method: "GET", target: "/2020-05-31/distribution", presign: true, expires: "-5", wantCode: portico.ErrIncompleteSignature},
		{name: "presigned unknown key", method: "GET", target: "/2020-05-31/distribution", presign: true, keyID: "AKIDUNKNOWN", wantCode: portico.ErrInvalidClientTokenID},
		{name: "presigned tampered query", method: "GET", target: "/2020-05-31/distribution?MaxItems=10", presign: true,
			mutate: replaceQuery("MaxItems=10", "MaxItems=11"), wantCode: portico.ErrSignatureDoesNotMatch},
		{name: "presigned tampered expiry", method: "GET", target: "/2020-05-31/distribution", presign: true,
			mutate: replaceQuery("X-Amz-Expires=900", "X-Amz-Expires=901"), wantCode: portico.ErrSignatureDoesNotMatch},
		{name: "presigned tampered body", method: "POST", target: "/2020-05-31/distribution", body: createDistributionXML, presign: true,
			mutate: setBody(strings.Replace(createDistributionXML, "true", "fals", 1)), wantCode: portico.ErrSignatureDoesNotMatch},
		{name: "presigned tampered If-Match", method: "PUT", target: "/2020-05-31/distribution/EDFDVBD6EXAMPLE/config", header: ifMatch, body: createDistributionXML, presign: true,
			mutate: func(r *http.Request) { r.Header.Set("If-Match", "E3OTHERETAG") }, wantCode: portico.ErrSignatureDoesNotMatch},
		{name: "presigned signature missing", method: "GET", target: "/2020-05-31/distribution", presign: true,
			mutate: func(r *http.Request) {
				r.URL.RawQuery = r.URL.RawQuery[:strings.Index(r.URL.RawQuery, "&X-Amz-Signature=")]
			}, wantCode: portico.ErrIncompleteSignature},
		{name: "presigned region changed", method: "GET", target: "/2020-05-31/distribution", presign: true,
			mutate: replaceQuery("%2Fus-east-1%2F", "%2Fus-west-2%2F"), wantCode: portico.ErrSignatureDoesNotMatch},
		{name: "header form signed with unsigned payload", method: "POST", target: "/2020-05-31/distribution", body: createDistributionXML,
			payloadHash: UnsignedPayload, wantCode: portico.ErrSignatureDoesNotMatch},
	}
}

// TestVerify signs requests with the AWS SDK for Go's SigV4 signer, sends
// them to an HTTPS server over HTTP/1.1 and HTTP/2, and checks what Verify
// in the handler said.
func TestVerify(t *testing.T) {
	cases := signCases()
	for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
		srv := startVerifyServer(t, newTestVerifier(), proto == "HTTP/2.0")
		for _, tc := range cases {
			t.Run(proto+"/"+tc.name, func(t *testing.T) {
				req := tc.signedRequest(t, srv.URL)
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.Proto != proto {
					t.Fatalf("response over %s, want %s", resp.Proto, proto)
				}
				var got outcome
				if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
					t.Fatal(err)
				}
				tc.check(t, got)
			})
		}
	}
}

// signedRequest builds tc's request to baseURL and signs it with the SDK.
func (tc signCase) signedRequest(t testing.TB, baseURL string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(tc.method, baseURL+tc.target, strings.NewReader(tc.body))
	if err != nil {
		t.Fatal(err)
	}
	if tc.body == "" {
		req.Body, req.GetBody, req.ContentLength = http.NoBody, nil, 0
	}
	for k, v := range tc.header {
		req.Header[k] = v
	}
	creds := aws.Credentials{AccessKeyID: or(tc.keyID, testKeyID), SecretAccessKey: or(tc.secret, testSecret)}
	hash := or(tc.payloadHash, sha256Hex(tc.body))
	service, region := or(tc.service, "cloudfront"), or(tc.region, "us-east-1")
	at := testNow.Add(tc.signAt)
	signer := v4.NewSigner()
	if tc.presign {
		q := req.URL.Query()
		q.Set("X-Amz-Expires", or(tc.expires, "900"))
		req.URL.RawQuery = q.Encode()
		signed, _, err := signer.PresignHTTP(context.Background(), creds, req, hash, service, region, at)
		if err != nil {
			t.Fatal(err)
		}
		if req.URL, err = req.URL.Parse(signed); err != nil {
			t.Fatal(err)
		}
	} else if err := signer.SignHTTP(context.Background(), creds, req, hash, service, region, at); err != nil {
		t.Fatal(err)
	}
	if tc.mutate != nil {
		tc.mutate(req)
	}
	return req
}

// hex64 matches what could be a signature or a hash.
var hex64 = regexp.MustCompile(`[0-9a-fA-F]{64}`)

func (tc signCase) check(t *testing.T, got outcome) {
	t.Helper()
	if tc.wantCode == "" {
		want := Identity{AccessKeyID: testKeyID, Service: or(tc.service, "cloudfront"), Region: or(tc.region, "us-east-1")}
		if got.Code != "" || got.Identity != want {
			t.Errorf("Verify = %+v, %s: %s; want %+v, no error", got.Identity, got.Code, got.Message, want)
		}
		return
	}
	if got.Code != tc.wantCode {
		t.Errorf("Verify error code = %q (%s), want %q", got.Code, got.Message, tc.wantCode)
	}
	if got.Status != http.StatusForbidden {
		t.Errorf("Verify error status = %d, want 403", got.Status)
	}
	if got.Message == "" || strings.Contains(got.Message, testSecret) || strings.Contains(got.Message, Algorithm+"\n") || hex64.MatchString(got.Message) {
		t.Errorf("Verify error message %q is empty or gives away a secret", got.Message)
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func setBody(body string) func(*http.Request) {
	return func(r *http.Request) {
		r.Body = io.NopCloser(strings.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
		r.ContentLength = int64(len(body))
	}
}

func replaceAuth(old, new string) func(*http.Request) {
	return func(r *http.Request) {
		h := r.Header.Get("Authorization")
		if !strings.Contains(h, old) {
			panic("Authorization header " + strconv.Quote(h) + " lacks " + old)
		}
		r.Header.Set("Authorization", strings.Replace(h, old, new, 1))
	}
}

func replaceQuery(old, new string) func(*http.Request) {
	return func(r *http.Request) {
		if !strings.Contains(r.URL.RawQuery, old) {
			panic("query " + strconv.Quote(r.URL.RawQuery) + " lacks " + old)
		}
		r.URL.RawQuery = strings.Replace(r.URL.RawQuery, old, new, 1)
	}
}
