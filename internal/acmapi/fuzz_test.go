package acmapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/portico-edge/portico/internal/acmapi"
)

// FuzzHandler sends arbitrary targets and bodies through decoding and
// dispatch. The handler must never panic and must always answer in the
// protocol's format, with a client error for anything it cannot use.
//
// The seeds carry no certificate with its matching key, so that the fuzzer
// reads the store but does not write to it: every write is an fsync, and
// the fuzzer would slow to a crawl.
func FuzzHandler(f *testing.F) {
	e := newEnv(f)
	good := issue(f, certSpec{names: []string{"fuzz.example.com"}, key: "p256"})
	stored, err := e.svc.ImportCertificate(context.Background(), "", good.cert, nil, good.key)
	if err != nil {
		f.Fatal(err)
	}
	wrongKey := issue(f, certSpec{names: []string{"fuzz.example.com"}, key: "ca"}).key
	h := &acmapi.Handler{Service: e.svc, Authenticate: func(*http.Request, []byte) error { return nil }}

	const arn = `"arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-4000-8000-000000000000"`
	storedARN := fmt.Sprintf("%q", stored.ARN)
	seeds := []struct{ op, body string }{
		{"ImportCertificate", fmt.Sprintf(`{"Certificate":%q,"PrivateKey":%q}`, b64(good.cert), b64(wrongKey))},
		{"ImportCertificate", fmt.Sprintf(`{"CertificateArn":%s,"Certificate":%q,"PrivateKey":"AAAA"}`, storedARN, b64(good.cert))},
		{"ImportCertificate", fmt.Sprintf(`{"CertificateArn":%s,"Certificate":%q,"PrivateKey":%q}`, arn, b64(good.cert), b64(wrongKey))},
		{"DescribeCertificate", `{"CertificateArn":` + storedARN + `}`},
		{"GetCertificate", `{"CertificateArn":` + storedARN + `}`},
		{"ImportCertificate", `{"Certificate":"!!","PrivateKey":null,"CertificateChain":"","Tags":[{}]}`},
		{"DescribeCertificate", `{"CertificateArn":` + arn + `}`},
		{"DescribeCertificate", `{"CertificateArn":"arn:aws:acm:::certificate/x/y"}`},
		{"GetCertificate", `{"CertificateArn":12}`},
		{"DeleteCertificate", `{"CertificateArn":""}`},
		{"ListCertificates", `{}`},
		{"ListCertificates", `{"MaxItems":1,"NextToken":"Cm5vdA","SortBy":"CREATED_AT","SortOrder":"DESCENDING","CertificateStatuses":["ISSUED"],"Includes":{"keyTypes":["EC_prime256v1"],"keyUsage":["ANY"],"extendedKeyUsage":["NONE"],"exportOption":"DISABLED"}}`},
		{"ListCertificates", `{"MaxItems":-1e99}`},
		{"RequestCertificate", `{"DomainName":"example.com"}`},
		// Tag changes name an unknown certificate, so that they do not write.
		{"AddTagsToCertificate", `{"CertificateArn":` + arn + `,"Tags":[{"Key":"k","Value":"v"},{"Key":"k2"}]}`},
		{"RemoveTagsFromCertificate", `{"CertificateArn":` + arn + `,"Tags":[{"Key":"k","Value":"v"},{"Value":"x"}]}`},
		{"ListTagsForCertificate", `{"CertificateArn":` + storedARN + `}`},
		{"AddTagsToCertificate", `{"CertificateArn":` + storedARN + `,"Tags":[]}`},
		{"Nope", `[`},
		{"ImportCertificate", "\x00\xff"},
	}
	for _, s := range seeds {
		f.Add("CertificateManager."+s.op, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, target string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("X-Amz-Target", target)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s: body is not JSON: %q", target, rec.Body.Bytes())
		}
		if rec.Header().Get("Content-Type") != "application/x-amz-json-1.1" || rec.Header().Get("x-amzn-RequestId") == "" {
			t.Fatalf("%s: response lacks the protocol's headers: %v", target, rec.Header())
		}
		switch {
		case rec.Code == http.StatusOK:
		case rec.Code >= 400 && rec.Code < 500:
			var we wireError
			if err := json.Unmarshal(rec.Body.Bytes(), &we); err != nil || we.Type == "" || we.Message == "" {
				t.Fatalf("%s: error body %q is not an awsJson error", target, rec.Body.Bytes())
			}
		default:
			t.Fatalf("%s %q: status %d %s, want 200 or a client error", target, body, rec.Code, rec.Body.Bytes())
		}
	})
}
