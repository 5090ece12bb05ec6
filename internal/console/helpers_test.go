package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/pem"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/html"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/control"
	"github.com/portico-edge/portico/internal/deploy"
	"github.com/portico-edge/portico/internal/store/boltstore"
	"github.com/portico-edge/portico/internal/testlog"
	"github.com/portico-edge/portico/internal/testpki"
)

// The seed walkthrough's values (configure-aws-cloudfront-reverse-proxy.md).
const (
	testAccessKeyID = "AKPTTESTACCESSKEY01"
	testSecret      = "test-secret-access-key-do-not-log"
	originDomain    = "tenant-cd-abc123.edge.tenants.us.auth0.com"
	originID        = "auth0-custom-domain"
	customDomain    = "login.example.com"
	cnameAPIKey     = "s3cr3t-cname-api-key-0123456789"
	seedComment     = "Auth0 custom domain"
)

// seedHeaders are the headers the seed forwards and caches on, as Auth0
// lists them today.
var seedHeaders = []string{"User-Agent", "Origin", "Referer", "Authorization", "Accept", "Accept-Language"}

// seedConfig is the seed's distribution as its API steps create it (the
// README's distribution.json, and cmd/portico's seed test).
func seedConfig(callerRef, certARN string) *portico.DistributionConfig {
	return &portico.DistributionConfig{
		CallerReference: callerRef,
		Comment:         portico.Ptr(seedComment),
		Enabled:         portico.Ptr(true),
		PriceClass:      portico.Ptr("PriceClass_All"),
		Aliases:         &portico.Aliases{Quantity: 1, Items: []string{customDomain}},
		Origins: &portico.Origins{Quantity: 1, Items: []portico.Origin{{
			ID:         originID,
			DomainName: originDomain,
			CustomHeaders: &portico.CustomHeaders{Quantity: 1, Items: []portico.OriginCustomHeader{
				{HeaderName: "cname-api-key", HeaderValue: cnameAPIKey},
			}},
			CustomOriginConfig: &portico.CustomOriginConfig{
				HTTPPort:             80,
				HTTPSPort:            443,
				OriginProtocolPolicy: "https-only",
				OriginSslProtocols:   &portico.SslProtocols{Quantity: 1, Items: []string{"TLSv1.2"}},
			},
		}}},
		DefaultCacheBehavior: &portico.CacheBehavior{
			TargetOriginID:       originID,
			ViewerProtocolPolicy: "redirect-to-https",
			AllowedMethods: &portico.AllowedMethods{
				Quantity:      7,
				Items:         []string{"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"},
				CachedMethods: &portico.Methods{Quantity: 2, Items: []string{"GET", "HEAD"}},
			},
			ForwardedValues: &portico.ForwardedValues{
				QueryString: portico.Ptr(true),
				Cookies:     &portico.CookiePreference{Forward: "all"},
				Headers:     &portico.Names{Quantity: len(seedHeaders), Items: seedHeaders},
			},
			MinTTL:     portico.Ptr[int64](0),
			DefaultTTL: portico.Ptr[int64](86400),
			MaxTTL:     portico.Ptr[int64](31536000),
		},
		ViewerCertificate: &portico.ViewerCertificate{
			ACMCertificateArn:      portico.Ptr(certARN),
			SSLSupportMethod:       portico.Ptr("sni-only"),
			MinimumProtocolVersion: portico.Ptr("TLSv1.2_2021"),
		},
	}
}

// env is a console in front of a real control service over bbolt, with a
// deploy tracker standing in for the edge.
type env struct {
	t       *testing.T
	svc     *control.Service
	tracker *deploy.Tracker
	handler *Handler
	srv     *httptest.Server
	logs    *testlog.Buffer
}

// newEnv starts a console. opts change the control service before it
// serves anything.
func newEnv(t *testing.T, opts ...func(*control.Service)) *env {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "portico.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tracker := &deploy.Tracker{}
	svc := &control.Service{
		Store:      st,
		Progress:   tracker,
		EdgeDomain: "portico.localhost",
		AccountID:  "123456789012",
		Region:     "us-east-1",
		Log:        log,
	}
	for _, o := range opts {
		o(svc)
	}
	key := make([]byte, 32)
	rand.Read(key)
	h := &Handler{
		Service: svc,
		Login: func(id, secret string) bool {
			return id == testAccessKeyID && secret == testSecret
		},
		SessionKey: key,
		Log:        log,
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, svc: svc, tracker: tracker, handler: h, srv: srv, logs: logs}
}

// deployAll makes the simulated edge serve everything stored so far.
func (e *env) deployAll() {
	e.t.Helper()
	st, err := e.svc.State(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	e.tracker.Applied("edge", st.Rev)
}

// browser is an HTTP client that keeps cookies and follows redirects, and
// remembers every page it was served.
type browser struct {
	t     *testing.T
	base  string
	c     *http.Client
	mu    sync.Mutex
	pages []string
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &browser{t: e.t, base: e.srv.URL, c: &http.Client{Jar: jar}}
}

// served is a response as the browser saw it.
type served struct {
	status int
	url    *url.URL
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) *served {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	b.mu.Lock()
	b.pages = append(b.pages, string(body))
	b.mu.Unlock()
	return &served{status: resp.StatusCode, url: resp.Request.URL, header: resp.Header, body: string(body)}
}

func (b *browser) get(path string) *served {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// signIn signs in through the sign-in form.
func (b *browser) signIn() *served {
	b.t.Helper()
	p := b.get("/console/signin")
	f := p.form(b.t, "/console/signin")
	f.set("access_key_id", testAccessKeyID)
	f.set("secret_access_key", testSecret)
	return b.submit(f, "")
}

// submit posts the form as a browser does when the button with name
// "action" and the given value is clicked ("" for a button without a
// name).
func (b *browser) submit(f *form, action string) *served {
	b.t.Helper()
	values := f.values()
	if action != "" {
		values.Add("action", action)
	}
	var req *http.Request
	var err error
	if f.enctype == "multipart/form-data" {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for name, vs := range values {
			for _, v := range vs {
				mw.WriteField(name, v)
			}
		}
		for name, content := range f.files {
			fw, _ := mw.CreateFormFile(name, name+".pem")
			fw.Write([]byte(content))
		}
		mw.Close()
		req, err = http.NewRequest(http.MethodPost, b.base+f.action, &body)
		if err == nil {
			req.Header.Set("Content-Type", mw.FormDataContentType())
		}
	} else {
		req, err = http.NewRequest(http.MethodPost, b.base+f.action, strings.NewReader(values.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// assertNeverServed fails if any page the browser was served contains s.
func (b *browser) assertNeverServed(what, s string) {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, p := range b.pages {
		if strings.Contains(p, s) {
			b.t.Errorf("page %d of %d contains the %s", i+1, len(b.pages), what)
		}
	}
}

// form is an HTML form with the values a browser would submit for it
// unchanged: hidden and text inputs, checked radios and checkboxes,
// selected options and textareas, in document order.
type form struct {
	action, enctype string
	fields          []field
	files           map[string]string // file inputs: name → content to upload
}

type field struct{ name, value string }

// forms returns the page's forms.
func (p *served) forms(t *testing.T) []*form {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	var out []*form
	var cur *form
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			a := attrs(n)
			switch n.Data {
			case "form":
				cur = &form{action: a["action"], enctype: a["enctype"], files: map[string]string{}}
				out = append(out, cur)
			case "template":
				return // rows the script would add
			case "input":
				if cur == nil || a["name"] == "" {
					break
				}
				switch a["type"] {
				case "submit", "button", "file":
				case "radio", "checkbox":
					if _, ok := a["checked"]; ok {
						v, ok := a["value"]
						if !ok {
							v = "on"
						}
						cur.fields = append(cur.fields, field{a["name"], v})
					}
				default:
					cur.fields = append(cur.fields, field{a["name"], a["value"]})
				}
			case "textarea":
				if cur != nil && a["name"] != "" {
					var text strings.Builder
					for c := n.FirstChild; c != nil; c = c.NextSibling {
						text.WriteString(c.Data)
					}
					cur.fields = append(cur.fields, field{a["name"], text.String()})
				}
			case "select":
				if cur != nil && a["name"] != "" {
					value, first := "", true
					for o := range n.Descendants() {
						if o.Type != html.ElementNode || o.Data != "option" {
							continue
						}
						oa := attrs(o)
						if _, sel := oa["selected"]; sel || first {
							value, first = oa["value"], false
						}
					}
					cur.fields = append(cur.fields, field{a["name"], value})
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

// form returns the page's form with the given action.
func (p *served) form(t *testing.T, action string) *form {
	t.Helper()
	for _, f := range p.forms(t) {
		if f.action == action {
			return f
		}
	}
	t.Fatalf("%s (status %d) has no form with action %s:\n%s", p.url.Path, p.status, action, p.body)
	return nil
}

func attrs(n *html.Node) map[string]string {
	m := map[string]string{}
	for _, a := range n.Attr {
		m[a.Key] = a.Val
	}
	return m
}

// set sets the value of the first field with the name, as typing or
// choosing does; it fails the test if there is none.
func (f *form) set(name, value string) {
	for i := range f.fields {
		if f.fields[i].name == name {
			f.fields[i].value = value
			return
		}
	}
	// Radios with nothing checked and unchecked checkboxes are not in
	// fields until chosen.
	f.fields = append(f.fields, field{name, value})
}

// setAll gives the repeated field one row per value, as adding rows with
// the script and typing into them does.
func (f *form) setAll(name string, values ...string) {
	var out []field
	done := false
	for _, fl := range f.fields {
		if fl.name != name {
			out = append(out, fl)
			continue
		}
		if !done {
			for _, v := range values {
				out = append(out, field{name, v})
			}
			done = true
		}
	}
	if !done {
		for _, v := range values {
			out = append(out, field{name, v})
		}
	}
	f.fields = out
}

// remove drops every field with the name, as unchecking a checkbox does.
func (f *form) remove(name string) {
	var out []field
	for _, fl := range f.fields {
		if fl.name != name {
			out = append(out, fl)
		}
	}
	f.fields = out
}

func (f *form) get(name string) string {
	for _, fl := range f.fields {
		if fl.name == name {
			return fl.value
		}
	}
	return ""
}

func (f *form) values() url.Values {
	v := url.Values{}
	for _, fl := range f.fields {
		v.Add(fl.name, fl.value)
	}
	return v
}

// testCert is a certificate, its key and its chain in PEM, as the
// console's form fields take them.
type testCert struct {
	certPEM, keyPEM, chainPEM string
}

// issueCert returns a certificate for the names, valid now, signed by a new
// test CA whose certificate is the chain.
func issueCert(t testing.TB, names ...string) testCert {
	t.Helper()
	l := testpki.NewCA(t, "Portico console test CA").Issue(t, names)
	return testCert{certPEM: string(l.CertPEM), keyPEM: string(l.KeyPEM), chainPEM: string(l.ChainPEM)}
}

// keyBody returns the base64 body of a PEM private key: what must never be
// served or logged.
func (c testCert) keyBody() string {
	block, _ := pem.Decode([]byte(c.keyPEM))
	lines := strings.Split(string(pem.EncodeToMemory(block)), "\n")
	return lines[1] // the first line of the key's base64
}
