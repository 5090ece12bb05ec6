package acmapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/acmapi"
)

// wireError is the awsJson1_1 error envelope.
type wireError struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

// checkEnvelope checks what every response carries: the protocol's media
// type, a request ID, and a JSON body.
func checkEnvelope(t testing.TB, resp *http.Response, body []byte) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		t.Errorf("Content-Type = %q, want application/x-amz-json-1.1", ct)
	}
	if resp.Header.Get("x-amzn-RequestId") == "" {
		t.Error("no x-amzn-RequestId header")
	}
	if !json.Valid(body) {
		t.Errorf("body is not JSON: %q", body)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// Raw requests that the SDKs would never send get precise errors in the
// protocol's format, and change nothing.
func TestProtocolErrors(t *testing.T) {
	e := newEnv(t)
	good := issue(t, certSpec{names: []string{"example.com"}, key: "p256"})
	importBody := func(fields map[string]any) []byte {
		b, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const target = "CertificateManager."
	tests := []struct {
		name    string
		method  string
		target  string
		body    []byte
		status  int
		code    string
		mention string // the message must contain it
	}{
		{"malformed JSON", "", target + "DescribeCertificate", []byte(`{"CertificateArn":`), 400, "SerializationException", "not valid JSON"},
		{"array body", "", target + "DescribeCertificate", []byte(`[]`), 400, "SerializationException", "JSON object"},
		{"string body", "", target + "ListCertificates", []byte(`"x"`), 400, "SerializationException", "JSON object"},
		{"wrong member type", "", target + "ListCertificates", []byte(`{"MaxItems":"ten"}`), 400, "SerializationException", "MaxItems"},
		{"trailing garbage", "", target + "ListCertificates", []byte(`{} {}`), 400, "SerializationException", ""},
		{"garbage base64 certificate", "", target + "ImportCertificate",
			importBody(map[string]any{"Certificate": "%%% not base64 %%%", "PrivateKey": b64(good.key)}), 400, "SerializationException", "Certificate is not valid base64"},
		{"garbage base64 key", "", target + "ImportCertificate",
			importBody(map[string]any{"Certificate": b64(good.cert), "PrivateKey": "!!" + b64(good.key)}), 400, "SerializationException", "PrivateKey is not valid base64"},
		{"PEM sent without base64", "", target + "ImportCertificate",
			importBody(map[string]any{"Certificate": string(good.cert), "PrivateKey": string(good.key)}), 400, "SerializationException", "base64"},
		{"blob of the wrong type", "", target + "ImportCertificate",
			importBody(map[string]any{"Certificate": 12, "PrivateKey": b64(good.key)}), 400, "SerializationException", "Certificate"},
		{"missing certificate and key", "", target + "ImportCertificate", []byte(`{}`), 400, "ValidationException", "2 validation errors detected"},
		{"empty certificate", "", target + "ImportCertificate",
			importBody(map[string]any{"Certificate": "", "PrivateKey": b64(good.key)}), 400, "ValidationException", "'certificate'"},
		{"oversized key", "", target + "ImportCertificate",
			importBody(map[string]any{"Certificate": b64(good.cert), "PrivateKey": b64(bytes.Repeat([]byte("k"), 5121))}), 400, "ValidationException", "'privateKey'"},
		{"bad tag", "", target + "ImportCertificate",
			importBody(map[string]any{"Certificate": b64(good.cert), "PrivateKey": b64(good.key), "Tags": []map[string]string{{"Key": "a;b", "Value": "v"}}}), 400, "InvalidTagException", "tag key"},
		{"tag without key", "", target + "ImportCertificate",
			importBody(map[string]any{"Certificate": b64(good.cert), "PrivateKey": b64(good.key), "Tags": []map[string]string{{"Value": "v"}}}), 400, "ValidationException", "'tags.1.member.key'"},
		{"empty ARN on import", "", target + "ImportCertificate",
			importBody(map[string]any{"CertificateArn": "", "Certificate": b64(good.cert), "PrivateKey": b64(good.key)}), 400, "InvalidArnException", ""},
		{"missing ARN", "", target + "DescribeCertificate", []byte(`{}`), 400, "ValidationException", "'certificateArn'"},
		{"null ARN", "", target + "GetCertificate", []byte(`{"CertificateArn":null}`), 400, "ValidationException", "'certificateArn'"},
		{"empty body", "", target + "DeleteCertificate", nil, 400, "ValidationException", "'certificateArn'"},
		{"bad sort order", "", target + "ListCertificates", []byte(`{"SortBy":"CREATED_AT","SortOrder":"SIDEWAYS"}`), 400, "ValidationException", "'sortOrder'"},
		{"bad key type", "", target + "ListCertificates", []byte(`{"Includes":{"keyTypes":["RSA_512"]}}`), 400, "ValidationException", "'includes.keyTypes'"},
		{"request certificate", "", target + "RequestCertificate", []byte(`{"DomainName":"example.com"}`), 400, "ValidationException", "ImportCertificate"},
		{"operation Portico lacks", "", target + "ExportCertificate", []byte(`{}`), 400, "UnknownOperationException", "ExportCertificate"},
		{"tags missing", "", target + "AddTagsToCertificate", []byte(`{"CertificateArn":"arn:aws:acm:us-east-1:123456789012:certificate/x"}`), 400, "ValidationException", "'tags'"},
		{"tags empty", "", target + "RemoveTagsFromCertificate", []byte(`{"CertificateArn":"arn:aws:acm:us-east-1:123456789012:certificate/x","Tags":[]}`), 400, "ValidationException", "'tags'"},
		{"unknown operation", "", target + "Nope", []byte(`{}`), 400, "UnknownOperationException", ""},
		{"target without prefix", "", "ImportCertificate", []byte(`{}`), 400, "UnknownOperationException", ""},
		{"other service's target", "", "Route53Domains_v20140515.ListDomains", []byte(`{}`), 400, "UnknownOperationException", ""},
		{"no target", "", "", []byte(`{}`), 400, "UnknownOperationException", ""},
		{"GET", http.MethodGet, target + "ListCertificates", nil, 405, "UnknownOperationException", "POST"},
		{"body too large", "", target + "ImportCertificate", bytes.Repeat([]byte(" "), 3<<20+1), 413, "ValidationException", "larger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			before := e.dump(t)
			resp, body := e.call(t, method, tt.target, tt.body)
			checkEnvelope(t, resp, body)
			var we wireError
			if err := json.Unmarshal(body, &we); err != nil {
				t.Fatalf("error body %q: %v", body, err)
			}
			if resp.StatusCode != tt.status || we.Type != tt.code {
				t.Errorf("got %d %s (%s), want %d %s", resp.StatusCode, we.Type, we.Message, tt.status, tt.code)
			}
			if we.Message == "" || !strings.Contains(we.Message, tt.mention) {
				t.Errorf("message = %q, want it to mention %q", we.Message, tt.mention)
			}
			for _, frag := range keyFragments(good.key) {
				if strings.Contains(string(body), frag) {
					t.Fatalf("the error quotes the private key: %s", body)
				}
			}
			if after := e.dump(t); !maps.Equal(before, after) {
				t.Error("a failed request changed the store")
			}
		})
	}
}

// Successful responses carry the protocol's envelope too, and a body the
// model's shapes describe.
func TestProtocolResponses(t *testing.T) {
	e := newEnv(t)
	good := issue(t, certSpec{names: []string{"example.com"}, key: "rsa"})
	resp, body := e.call(t, http.MethodPost, "CertificateManager.ImportCertificate",
		fmt.Appendf(nil, `{"Certificate":%q,"PrivateKey":%q}`, b64(good.cert), b64(good.key)))
	checkEnvelope(t, resp, body)
	var imported struct{ CertificateArn string }
	if resp.StatusCode != 200 || json.Unmarshal(body, &imported) != nil || imported.CertificateArn == "" {
		t.Fatalf("ImportCertificate: %d %s", resp.StatusCode, body)
	}
	arnBody := fmt.Appendf(nil, `{"CertificateArn":%q}`, imported.CertificateArn)

	resp, body = e.call(t, http.MethodPost, "CertificateManager.DescribeCertificate", arnBody)
	checkEnvelope(t, resp, body)
	var described map[string]map[string]any
	if err := json.Unmarshal(body, &described); err != nil {
		t.Fatal(err)
	}
	d := described["Certificate"]
	// Timestamps are epoch seconds as JSON numbers; InUseBy is an empty
	// list, never null.
	for _, k := range []string{"CreatedAt", "ImportedAt", "NotBefore", "NotAfter"} {
		if n, ok := d[k].(float64); !ok || int64(n) != map[string]int64{
			"CreatedAt": epoch.Unix(), "ImportedAt": epoch.Unix(), "NotBefore": epoch.Unix() - 3600, "NotAfter": epoch.Unix() + 90*86400,
		}[k] {
			t.Errorf("%s = %#v, want epoch seconds", k, d[k])
		}
	}
	if l, ok := d["InUseBy"].([]any); !ok || len(l) != 0 {
		t.Errorf("InUseBy = %#v, want []", d["InUseBy"])
	}
	for k, v := range d {
		if v == nil {
			t.Errorf("%s is null: ACM leaves out members it has no value for", k)
		}
	}

	resp, body = e.call(t, http.MethodPost, "CertificateManager.DeleteCertificate", arnBody)
	checkEnvelope(t, resp, body)
	if resp.StatusCode != 200 || string(body) != "{}" {
		t.Errorf("DeleteCertificate: %d %s, want 200 {}", resp.StatusCode, body)
	}
}

// The handler refuses requests it cannot authenticate.
func TestAuthenticate(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name         string
		authenticate func(*http.Request, []byte) error
		unsigned     bool
		code         string
	}{
		{"unsigned", nil, true, "MissingAuthenticationTokenException"},
		{"no authenticator", nil, false, "AccessDeniedException"},
		{"authenticator fails with a plain error", func(*http.Request, []byte) error { return errors.New("backend down") }, false, "AccessDeniedException"},
		{"authenticator's own error", func(*http.Request, []byte) error {
			return portico.Errorf(portico.ErrSignatureDoesNotMatch, "no")
		}, false, "InvalidSignatureException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp *http.Response
			var body []byte
			if tt.unsigned {
				req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/", strings.NewReader(`{}`))
				req.Header.Set("X-Amz-Target", "CertificateManager.ListCertificates")
				resp, body = e.do(t, req)
			} else {
				h := &acmapi.Handler{Service: e.svc, Authenticate: tt.authenticate}
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`))
				req.Header.Set("X-Amz-Target", "CertificateManager.ListCertificates")
				h.ServeHTTP(rec, req)
				resp, body = rec.Result(), rec.Body.Bytes()
			}
			checkEnvelope(t, resp, body)
			var we wireError
			json.Unmarshal(body, &we)
			if resp.StatusCode != 403 || we.Type != tt.code {
				t.Errorf("got %d %s, want 403 %s", resp.StatusCode, we.Type, tt.code)
			}
			if strings.Contains(we.Message, "backend down") {
				t.Errorf("message %q leaks the authenticator's internal error", we.Message)
			}
		})
	}
}

// Nothing a request carries of a private key reaches the log: not on
// success, not on any failure, not from the control service.
func TestLogsNeverContainPrivateKey(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rsaCert := issue(t, certSpec{names: []string{"example.com"}, key: "rsa"})
	ecCert := issue(t, certSpec{names: []string{"example.com"}, key: "p256"})
	other := issue(t, certSpec{names: []string{"www.example.com"}, key: "rsa2"})

	out, err := e.client.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: rsaCert.cert, PrivateKey: rsaCert.key})
	if err != nil {
		t.Fatal(err)
	}
	arn := out.CertificateArn
	// A re-import, then failures of every kind that carry a key.
	if _, err := e.client.ImportCertificate(ctx, &acm.ImportCertificateInput{CertificateArn: arn, Certificate: ecCert.cert, PrivateKey: ecCert.key}); err != nil {
		t.Fatal(err)
	}
	e.useCertificate(t, aws.ToString(arn), "example.com")
	failures := []*acm.ImportCertificateInput{
		{Certificate: rsaCert.cert, PrivateKey: other.key},                                   // mismatch
		{Certificate: []byte("bad"), PrivateKey: other.key},                                  // bad certificate
		{Certificate: other.cert, PrivateKey: other.key[:len(other.key)/2]},                  // truncated key
		{CertificateArn: arn, Certificate: other.cert, PrivateKey: other.key},                // no longer covers the alias
		{CertificateArn: aws.String("nope"), Certificate: other.cert, PrivateKey: other.key}, // invalid ARN
	}
	for i, in := range failures {
		if _, err := e.client.ImportCertificate(ctx, in); err == nil {
			t.Fatalf("failure %d was accepted", i)
		}
	}
	resp, _ := e.call(t, http.MethodPost, "CertificateManager.ImportCertificate",
		fmt.Appendf(nil, `{"Certificate":"%s!","PrivateKey":%q}`, b64(other.cert), b64(other.key)))
	if resp.StatusCode != 400 {
		t.Fatalf("garbage base64: status %d", resp.StatusCode)
	}
	resp, _ = e.call(t, http.MethodPost, "CertificateManager.ImportCertificate",
		fmt.Appendf(nil, `{"Certificate":%q,"PrivateKey":%q`, b64(other.cert), b64(other.key)))
	if resp.StatusCode != 400 {
		t.Fatalf("malformed JSON: status %d", resp.StatusCode)
	}
	e.srv.Close() // wait for every handler, and its log record

	logs := e.logs.String()
	if !strings.Contains(logs, "CertificateManager.ImportCertificate") || !strings.Contains(logs, "certificate imported") {
		t.Fatalf("the log does not show the requests, so this test proves nothing:\n%s", logs)
	}
	if strings.Contains(logs, "PRIVATE KEY-----") {
		t.Fatal("the log holds a private key")
	}
	for _, k := range [][]byte{rsaCert.key, ecCert.key, other.key} {
		for _, frag := range keyFragments(k) {
			if strings.Contains(logs, frag) {
				t.Fatalf("the log holds part of a private key: %q", frag)
			}
		}
	}
}

// A handler whose log goes nowhere still serves.
func TestNilLog(t *testing.T) {
	e := newEnv(t)
	h := &acmapi.Handler{Service: e.svc, Authenticate: func(*http.Request, []byte) error { return nil }}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`))
	req.Header.Set("X-Amz-Target", "CertificateManager.ListCertificates")
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Body.String() != `{"CertificateSummaryList":[]}` {
		t.Errorf("ListCertificates = %d %s", rec.Code, rec.Body)
	}
}
