package cfapi

import (
	"bytes"
	"encoding/xml"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portico-edge/portico"
)

// envelope is CloudFront's error envelope as a client decodes it.
type envelope struct {
	XMLName   xml.Name `xml:"http://cloudfront.amazonaws.com/doc/2020-05-31/ ErrorResponse"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

// serve sends a request straight to h, signed with the test credentials
// unless secret is "".
func serve(t *testing.T, h http.Handler, method, target, secret string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequestWithContext(t.Context(), method, target, bytes.NewReader(body))
	if secret != "" {
		sign(t, r, body, secret)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// wantEnvelope checks that w holds CloudFront's error envelope with the
// status, type and code, and the request ID of its header.
func wantEnvelope(t *testing.T, w *httptest.ResponseRecorder, status int, typ, code string) envelope {
	t.Helper()
	if w.Code != status {
		t.Errorf("status = %d, want %d", w.Code, status)
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/xml" {
		t.Errorf("Content-Type = %q, want text/xml", ct)
	}
	body := w.Body.String()
	if !strings.HasPrefix(body, `<?xml version="1.0"?>`+"\n"+`<ErrorResponse xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Error><Type>`) {
		t.Errorf("envelope does not start as CloudFront's: %q", body)
	}
	var e envelope
	if err := xml.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("decoding the envelope: %v\n%s", err, body)
	}
	if e.Type != typ || e.Code != code || e.Message == "" {
		t.Errorf("envelope = %+v, want %s %s with a message", e, typ, code)
	}
	if id := w.Header().Get("X-Amz-Request-Id"); id == "" || id != e.RequestID {
		t.Errorf("request ID: header %q, envelope %q; want the same, non-empty", id, e.RequestID)
	}
	return e
}

func TestResponseShape(t *testing.T) {
	env := newAPIEnv(t, goldenClock)
	n := newNormalizer()
	n.add(env.importCert(t, goldenClock, "login.example.com"), "${CERT_ARN}")
	h := env.server.Config.Handler
	body := []byte(n.expand(renderFixture(t, "distribution-config.xml")))

	w := serve(t, h, http.MethodPost, "/2020-05-31/distribution", testSecretKey, body)
	if w.Code != http.StatusCreated {
		t.Fatalf("status = %d, want 201: %s", w.Code, w.Body)
	}
	out := w.Body.String()
	if want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Distribution xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Id>E`; !strings.HasPrefix(out, want) {
		t.Errorf("body starts %.100q, want %q", out, want)
	}
	if n := strings.Count(out, "xmlns"); n != 1 {
		t.Errorf("%d xmlns attributes, want 1 on the root", n)
	}
	if !regexp.MustCompile(`<LastModifiedTime>2026-11-25T12:00:00\.000Z</LastModifiedTime>`).MatchString(out) {
		t.Errorf("LastModifiedTime is not RFC 3339 in UTC with milliseconds: %s", out)
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/xml" {
		t.Errorf("Content-Type = %q, want text/xml", ct)
	}
	if !regexp.MustCompile(`^http://example\.com/2020-05-31/distribution/E[A-Z0-9]{13}$`).MatchString(w.Header().Get("Location")) {
		t.Errorf("Location = %q", w.Header().Get("Location"))
	}
	if !regexp.MustCompile(`^E[A-Z0-9]{13}$`).MatchString(w.Header().Get("ETag")) {
		t.Errorf("ETag = %q", w.Header().Get("ETag"))
	}

	// Served over TLS, the Location says https.
	tlsServer := httptest.NewTLSServer(h)
	defer tlsServer.Close()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, tlsServer.URL+"/2020-05-31/distribution",
		bytes.NewReader(bytes.Replace(body, []byte("seed-1"), []byte("seed-2"), 1)))
	if err != nil {
		t.Fatal(err)
	}
	sign(t, req, bytes.Replace(body, []byte("seed-1"), []byte("seed-2"), 1), testSecretKey)
	// The alias is taken: the error must not carry a Location or ETag.
	resp, err := tlsServer.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || resp.Header.Get("Location") != "" || resp.Header.Get("ETag") != "" {
		t.Errorf("conflicting create: %d, Location %q, ETag %q", resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("ETag"))
	}
	other := strings.Replace(strings.Replace(string(body), "seed-1", "seed-3", 1), "login.example.com", "www.example.com", 1)
	other = strings.Replace(other, n.values["${CERT_ARN}"], env.importCert(t, goldenClock, "www.example.com"), 1)
	req, err = http.NewRequestWithContext(t.Context(), http.MethodPost, tlsServer.URL+"/2020-05-31/distribution", strings.NewReader(other))
	if err != nil {
		t.Fatal(err)
	}
	sign(t, req, []byte(other), testSecretKey)
	resp, err = tlsServer.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusCreated || !strings.HasPrefix(loc, tlsServer.URL+"/2020-05-31/distribution/E") {
		t.Errorf("over TLS: %d, Location %q; want 201 and %s/...", resp.StatusCode, loc, tlsServer.URL)
	}
}

func TestOversizedBody(t *testing.T) {
	env := newAPIEnv(t, time.Time{})
	before := env.dump(t)
	body := bytes.Repeat([]byte(" "), MaxBodyBytes+1)
	w := serve(t, env.server.Config.Handler, http.MethodPost, "/2020-05-31/distribution", testSecretKey, body)
	wantEnvelope(t, w, http.StatusRequestEntityTooLarge, "Sender", portico.ErrInvalidArgument)
	if after := env.dump(t); !reflect.DeepEqual(after, before) {
		t.Error("an oversized request changed the store")
	}
}

func TestAuthentication(t *testing.T) {
	env := newAPIEnv(t, time.Time{})
	var logs bytes.Buffer
	tests := []struct {
		name   string
		h      *Handler
		status int
		code   string
	}{
		{"no authenticator", &Handler{Service: env.svc}, http.StatusForbidden, portico.ErrAccessDenied},
		{"authenticator failing", &Handler{
			Service:      env.svc,
			Authenticate: func(*http.Request, []byte) error { return errors.New("key store unreachable") },
			Log:          slog.New(slog.NewTextHandler(&logs, nil)),
		}, http.StatusForbidden, portico.ErrAccessDenied},
		{"authenticator refusing", &Handler{
			Service: env.svc,
			Authenticate: func(*http.Request, []byte) error {
				return portico.Errorf(portico.ErrSignatureDoesNotMatch, "no")
			},
		}, http.StatusForbidden, portico.ErrSignatureDoesNotMatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(t, tt.h, http.MethodGet, "/2020-05-31/distribution", "", nil)
			wantEnvelope(t, w, tt.status, "Sender", tt.code)
		})
	}
	if !strings.Contains(logs.String(), "key store unreachable") {
		t.Errorf("a failing authenticator was not logged: %q", logs.String())
	}
}

// TestInternalErrors checks that a failure of the service is a 500
// Receiver error, logged with its cause but without any request body,
// which holds origin header secrets.
func TestInternalErrors(t *testing.T) {
	env := newAPIEnv(t, time.Time{})
	var logs bytes.Buffer
	h := &Handler{
		Service:      env.svc,
		Authenticate: func(*http.Request, []byte) error { return nil },
		Log:          slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	env.svc.Log = h.Log
	arn := env.importCert(t, time.Now(), "login.example.com")
	body := []byte(strings.Replace(renderFixture(t, "distribution-config.xml"), "${CERT_ARN}", arn, 1))
	const secret = "s3cr3t-cname-api-key-value"
	if !bytes.Contains(body, []byte(secret)) {
		t.Fatal("the fixture no longer holds the secret this test looks for")
	}
	if w := serve(t, h, http.MethodPost, "/2020-05-31/distribution", "", body); w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	if err := env.store.Close(); err != nil {
		t.Fatal(err)
	}
	w := serve(t, h, http.MethodPost, "/2020-05-31/distribution", "", bytes.Replace(body, []byte("seed-1"), []byte("seed-2"), 1))
	e := wantEnvelope(t, w, http.StatusInternalServerError, "Receiver", portico.ErrServiceUnavailable)
	if strings.Contains(e.Message, "closed") {
		t.Errorf("the envelope reveals the internal cause: %q", e.Message)
	}
	if !strings.Contains(logs.String(), "internal error") || !strings.Contains(logs.String(), e.RequestID) {
		t.Errorf("internal error not logged with its request ID %s:\n%s", e.RequestID, logs.String())
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("the logs hold an origin header secret:\n%s", logs.String())
	}
}
