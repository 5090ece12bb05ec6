package console

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/control"
)

// TestSeedWalkthrough goes through the seed guide in the console as a
// browser without the script would: sign in, import the custom domain's
// certificate, create the distribution with the seed's settings, watch it
// go from In progress to Deployed, check the stored configuration equals
// what the seed's API steps create, invalidate, edit, disable and delete.
func TestSeedWalkthrough(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := e.browser()
	cert := issueCert(t, customDomain)

	// Step 1: the console asks for credentials first.
	p := b.get("/console/")
	if p.url.Path != "/console/signin" {
		t.Fatalf("GET /console/ without a session ended at %s, want the sign-in page", p.url)
	}
	p = b.signIn()
	if p.status != http.StatusOK || p.url.Path != "/console/distributions" {
		t.Fatalf("sign-in ended at %s with status %d, want the distributions list", p.url, p.status)
	}
	if !strings.Contains(p.body, "Create distribution") {
		t.Errorf("the distributions list offers no Create distribution button")
	}

	// Step 4 (SSL certificate): import it.
	p = b.get("/console/certificates/import")
	f := p.form(t, "/console/certificates/import")
	f.set("certificate", cert.certPEM)
	f.set("private_key", cert.keyPEM)
	f.set("chain", cert.chainPEM)
	p = b.submit(f, "")
	if p.url.Path != "/console/certificates" || !strings.Contains(p.body, "Certificate imported.") || !strings.Contains(p.body, customDomain) {
		t.Fatalf("importing ended at %s (status %d) without the certificate listed:\n%s", p.url, p.status, p.body)
	}
	certs, err := e.svc.ListCertificates(ctx)
	if err != nil || len(certs) != 1 {
		t.Fatalf("ListCertificates = %d certificates, %v; want 1", len(certs), err)
	}
	certARN := certs[0].ARN

	// Steps 2–6: the create form with the seed's settings.
	p = b.get("/console/distributions/create")
	f = p.form(t, "/console/distributions/create")
	f.set("origin_domain", originDomain)
	f.set("origin_id", originID)
	f.set("origin_protocol", "https-only")
	f.set("http_port", "80")
	f.set("https_port", "443")
	f.set("origin_ssl", "TLSv1.2")
	f.set("ch_name", "cname-api-key")
	f.set("ch_value", cnameAPIKey)
	f.set("viewer_protocol", "redirect-to-https")
	f.set("allowed_methods", methodsAll)
	f.set("headers", "whitelist")
	f.set("fwd_header", seedHeaders[0])
	// Without the script, "Add header" goes to the server and back: the
	// form returns with a new row, the input kept, the secret sealed.
	p = b.submit(f, "add:header")
	if p.status != http.StatusOK {
		t.Fatalf("Add header: status %d", p.status)
	}
	f = p.form(t, "/console/distributions/create")
	if got := f.values()["fwd_header"]; !reflect.DeepEqual(got, []string{seedHeaders[0], ""}) {
		t.Errorf("after Add header, header rows = %q, want the first header and an empty row", got)
	}
	if f.get("ch_value") != "" || f.get("ch_sealed") == "" || f.get("origin_domain") != originDomain {
		t.Errorf("after Add header: ch_value %q, ch_sealed set %v, origin_domain %q; want the value sealed and the input kept",
			f.get("ch_value"), f.get("ch_sealed") != "", f.get("origin_domain"))
	}
	f.setAll("fwd_header", seedHeaders...)
	f.set("query_strings", "all")
	f.set("cookies", "all")
	f.set("alias", customDomain)
	f.set("certificate", certARN)
	f.set("security_policy", "TLSv1.2_2021")
	f.set("comment", seedComment)
	f.set("price_class", "PriceClass_All")

	// Step 7: Create distribution.
	p = b.submit(f, "save")
	id := strings.TrimPrefix(p.url.Path, "/console/distributions/")
	if p.status != http.StatusOK || id == p.url.Path || strings.Contains(id, "/") {
		t.Fatalf("creating ended at %s with status %d, want the distribution's page:\n%s", p.url, p.status, p.body)
	}
	domain := strings.ToLower(id) + ".portico.localhost"
	for _, want := range []string{"Distribution created.", domain, "In progress", customDomain} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the new distribution's page does not show %q", want)
		}
	}
	list := b.get("/console/distributions")
	for _, want := range []string{id, domain, customDomain, seedComment, "In progress", "Enabled"} {
		if !strings.Contains(list.body, want) {
			t.Errorf("the distributions list does not show %q", want)
		}
	}

	// The stored configuration is the one the seed's API steps create.
	d, err := e.svc.GetDistribution(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	assertConfig(t, &d.Config, seedConfig(d.Config.CallerReference, certARN))
	if d.Config.CallerReference == "" {
		t.Error("CallerReference is empty")
	}

	// The edge catches up: Deployed, with the domain name for the CNAME (step 8).
	e.deployAll()
	p = b.get("/console/distributions/" + id)
	for _, want := range []string{"Deployed", domain, "Distribution domain name", d.ARN} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the deployed distribution's page does not show %q", want)
		}
	}
	if strings.Contains(p.body, "In progress") || strings.Contains(p.body, `http-equiv="refresh"`) {
		t.Error("the deployed distribution's page still shows In progress or reloads itself")
	}

	// Invalidations tab.
	p = b.get("/console/distributions/" + id + "/invalidations")
	f = p.form(t, "/console/distributions/"+id+"/invalidations")
	f.set("paths", "/authorize\r\n\r\n/u/*\r\n")
	p = b.submit(f, "")
	if !strings.Contains(p.body, "Invalidation created.") || !strings.Contains(p.body, "/u/*") || !strings.Contains(p.body, "In progress") {
		t.Errorf("after creating an invalidation the tab does not list it In progress:\n%s", p.body)
	}
	invs, _, _, err := e.svc.ListInvalidations(ctx, id, "", 10)
	if err != nil || len(invs) != 1 || !reflect.DeepEqual(invs[0].Paths, []string{"/authorize", "/u/*"}) {
		t.Fatalf("ListInvalidations = %v, %v; want one with /authorize and /u/*", invs, err)
	}
	e.deployAll()
	if p = b.get("/console/distributions/" + id + "/invalidations"); !strings.Contains(p.body, "Completed") {
		t.Error("the invalidation is not Completed after the edge applied it")
	}

	// Edit: the form shows the settings; an empty replacement keeps the
	// header's stored value.
	p = b.get("/console/distributions/" + id + "/edit")
	edit := p.form(t, "/console/distributions/"+id+"/edit")
	if edit.get("etag") != d.ETag || edit.get("ch_name") != "cname-api-key" || edit.get("ch_value") != "" || !strings.Contains(p.body, "••••••") {
		t.Errorf("edit form: etag %q (want %q), header %q, value %q; want the header shown hidden",
			edit.get("etag"), d.ETag, edit.get("ch_name"), edit.get("ch_value"))
	}
	if got := edit.values()["fwd_header"]; !reflect.DeepEqual(got, seedHeaders) {
		t.Errorf("edit form headers = %q, want %q", got, seedHeaders)
	}
	edit.set("comment", "Auth0 login")
	p = b.submit(edit, "save")
	if p.url.Path != "/console/distributions/"+id || !strings.Contains(p.body, "Distribution updated.") {
		t.Fatalf("saving the edit ended at %s (status %d):\n%s", p.url, p.status, p.body)
	}
	d2, err := e.svc.GetDistribution(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := seedConfig(d.Config.CallerReference, certARN)
	want.Comment = portico.Ptr("Auth0 login")
	assertConfig(t, &d2.Config, want)

	// The same form again carries a stale ETag: PreconditionFailed, shown
	// on the form with the input kept.
	edit.set("comment", "stale edit")
	p = b.submit(edit, "save")
	if p.status != http.StatusPreconditionFailed || !strings.Contains(p.body, portico.ErrPreconditionFailed) {
		t.Errorf("stale edit: status %d, want 412 with PreconditionFailed on the page", p.status)
	}
	if got := p.form(t, "/console/distributions/"+id+"/edit").get("comment"); got != "stale edit" {
		t.Errorf("after PreconditionFailed the form's Description is %q, want the input kept", got)
	}

	// A replacement value replaces the stored one.
	const rotated = "rotated-cname-api-key-9876543210"
	p = b.get("/console/distributions/" + id + "/edit")
	edit = p.form(t, "/console/distributions/"+id+"/edit")
	edit.set("ch_value", rotated)
	b.submit(edit, "save")
	d3, err := e.svc.GetDistribution(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got := d3.Config.Origins.Items[0].CustomHeaders.Items[0].HeaderValue; got != rotated {
		t.Errorf("after replacing the value the stored header value is not the replacement")
	}

	// Disable, then Delete once Deployed: Delete is offered only then.
	e.deployAll()
	p = b.get("/console/distributions/" + id)
	if hasForm(t, p, "/console/distributions/"+id+"/delete") {
		t.Error("Delete is offered for an enabled distribution")
	}
	p = b.submit(p.form(t, "/console/distributions/"+id+"/disable"), "")
	if !strings.Contains(p.body, "Distribution disabled.") || !strings.Contains(p.body, "In progress") {
		t.Errorf("after Disable the page does not show the change in progress")
	}
	if hasForm(t, p, "/console/distributions/"+id+"/delete") {
		t.Error("Delete is offered while the disabled distribution is In progress")
	}
	e.deployAll()
	p = b.get("/console/distributions/" + id)
	p = b.submit(p.form(t, "/console/distributions/"+id+"/delete"), "")
	if p.url.Path != "/console/distributions" || !strings.Contains(p.body, "Distribution deleted.") {
		t.Errorf("Delete ended at %s (status %d)", p.url, p.status)
	}
	if _, err := e.svc.GetDistribution(ctx, id); !isCode(err, portico.ErrNoSuchDistribution) {
		t.Errorf("GetDistribution after Delete: %v, want NoSuchDistribution", err)
	}

	// Secrets were never served or logged.
	for what, secret := range map[string]string{
		"custom header value":             cnameAPIKey,
		"replacement custom header value": rotated,
		"private key":                     cert.keyBody(),
		"secret access key":               testSecret,
	} {
		b.assertNeverServed(what, secret)
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("the log contains the %s", what)
		}
	}
}

// assertConfig compares configurations as stored, ignoring the XML
// element name a decoder sets.
func assertConfig(t *testing.T, got, want *portico.DistributionConfig) {
	t.Helper()
	g, w := *got, *want
	g.XMLName, w.XMLName = xml.Name{}, xml.Name{}
	if !reflect.DeepEqual(g, w) {
		gj, _ := json.MarshalIndent(g, "", "  ")
		wj, _ := json.MarshalIndent(w, "", "  ")
		t.Errorf("stored configuration differs.\ngot:  %s\nwant: %s", gj, wj)
	}
}

func isCode(err error, code string) bool {
	pe, ok := errors.AsType[*portico.Error](err)
	return ok && pe.Code == code
}

func hasForm(t *testing.T, p *served, action string) bool {
	t.Helper()
	for _, f := range p.forms(t) {
		if f.action == action {
			return true
		}
	}
	return false
}

// TestServiceErrorKeepsInput checks that an error from the control service
// is shown on the form with everything typed kept, except the secret,
// which is sealed: resubmitting the form saves it.
func TestServiceErrorKeepsInput(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn()
	p := b.get("/console/distributions/create")
	f := p.form(t, "/console/distributions/create")
	f.set("origin_domain", originDomain)
	f.set("ch_name", "cname-api-key")
	f.set("ch_value", cnameAPIKey)
	f.set("alias", customDomain) // no certificate covers it
	f.set("comment", seedComment)
	p = b.submit(f, "save")
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, portico.ErrInvalidViewerCertificate) {
		t.Fatalf("alias without certificate: status %d, want 400 with InvalidViewerCertificate:\n%s", p.status, p.body)
	}
	f = p.form(t, "/console/distributions/create")
	for name, want := range map[string]string{"origin_domain": originDomain, "alias": customDomain, "comment": seedComment, "ch_name": "cname-api-key", "ch_value": ""} {
		if got := f.get(name); got != want {
			t.Errorf("after the error, field %s = %q, want %q", name, got, want)
		}
	}
	b.assertNeverServed("custom header value", cnameAPIKey)

	// Fix the error: import a certificate in the API and choose it.
	cert := issueCert(t, customDomain)
	c, err := e.svc.ImportCertificate(context.Background(), "", []byte(cert.certPEM), []byte(cert.chainPEM), []byte(cert.keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	f.set("certificate", c.ARN)
	p = b.submit(f, "save")
	id := strings.TrimPrefix(p.url.Path, "/console/distributions/")
	d, err := e.svc.GetDistribution(context.Background(), id)
	if err != nil {
		t.Fatalf("resubmitting ended at %s (status %d): %v\n%s", p.url, p.status, err, p.body)
	}
	if got := d.Config.Origins.Items[0].CustomHeaders.Items[0]; got.HeaderName != "cname-api-key" || got.HeaderValue != cnameAPIKey {
		t.Errorf("stored header %q has not kept the value typed before the error", got.HeaderName)
	}
	b.assertNeverServed("custom header value", cnameAPIKey)
}

// TestFormErrors checks input the console itself refuses: the message is
// shown on the form, with the status of the error.
func TestFormErrors(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn()
	tests := []struct {
		name   string
		fields map[string]string
		want   string
	}{
		{"no origin", map[string]string{"origin_domain": ""}, "Enter the origin domain."},
		{"bad port", map[string]string{"https_port": "44x"}, "HTTPS port must be a number from 1 to 65535."},
		{"bad TTL", map[string]string{"object_caching": "customize", "max_ttl": "-1"}, "Maximum TTL must be a whole number"},
		{"header without value", map[string]string{"ch_name": "cname-api-key"}, "Enter a value for the custom header cname-api-key."},
		{"value without header", map[string]string{"ch_value": "x"}, "Enter a header name"},
		{"no headers listed", map[string]string{"headers": "whitelist"}, "Add the headers to include"},
		{"TTL order", map[string]string{"object_caching": "customize", "min_ttl": "10", "default_ttl": "5"}, portico.ErrInvalidTTLOrder},
		{"forbidden header", map[string]string{"ch_name": "Host", "ch_value": "x"}, "cannot be set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := b.get("/console/distributions/create").form(t, "/console/distributions/create")
			f.set("origin_domain", originDomain)
			for k, v := range tt.fields {
				f.set(k, v)
			}
			p := b.submit(f, "save")
			if p.status != http.StatusBadRequest || !strings.Contains(p.body, tt.want) {
				t.Errorf("status %d, want 400 with %q on the page", p.status, tt.want)
			}
			if got := p.form(t, "/console/distributions/create").get("origin_domain"); got != f.get("origin_domain") {
				t.Errorf("origin domain after the error = %q, want %q", got, f.get("origin_domain"))
			}
		})
	}
	if ds, _, _, _ := e.svc.ListDistributions(context.Background(), "", 10); len(ds) != 0 {
		t.Errorf("%d distributions were created from invalid forms", len(ds))
	}
}

// TestRowButtonsWithoutScript checks the Add and Remove buttons by plain
// submission.
func TestRowButtonsWithoutScript(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn()
	f := b.get("/console/distributions/create").form(t, "/console/distributions/create")
	f.setAll("alias", "a.example.com")
	f = b.submit(f, "add:alias").form(t, "/console/distributions/create")
	f.setAll("alias", "a.example.com", "b.example.com")
	f = b.submit(f, "add:custom-header").form(t, "/console/distributions/create")
	if got := len(f.values()["ch_name"]); got != 2 {
		t.Errorf("after Add header: %d custom header rows, want 2", got)
	}
	f = b.submit(f, "remove:alias:0").form(t, "/console/distributions/create")
	if got := f.values()["alias"]; !reflect.DeepEqual(got, []string{"b.example.com"}) {
		t.Errorf("after removing the first alias: %q, want [b.example.com]", got)
	}
	f = b.submit(f, "remove:alias:0").form(t, "/console/distributions/create")
	if got := f.values()["alias"]; !reflect.DeepEqual(got, []string{""}) {
		t.Errorf("after removing every alias: %q, want one empty row", got)
	}
}

// TestSessionRequired checks that every page but sign-in sends a browser
// without a session to the sign-in page, and does nothing.
func TestSessionRequired(t *testing.T) {
	e := newEnv(t)
	paths := []struct{ method, path string }{
		{"GET", "/console/distributions"},
		{"GET", "/console/distributions/create"},
		{"POST", "/console/distributions/create"},
		{"GET", "/console/distributions/E1234567890ABC"},
		{"POST", "/console/distributions/E1234567890ABC/delete"},
		{"GET", "/console/certificates"},
		{"POST", "/console/certificates/import"},
		{"POST", "/console/signout"},
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range paths {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, e.srv.URL+tt.path, strings.NewReader("origin_domain=x"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Path != "/console/signin" {
				t.Errorf("status %d, Location %q; want 303 to /console/signin", resp.StatusCode, resp.Header.Get("Location"))
			}
			if tt.method == "GET" && loc != nil && loc.Query().Get("next") != tt.path {
				t.Errorf("next = %q, want %q", loc.Query().Get("next"), tt.path)
			}
		})
	}

	// After sign-in the browser returns to the page it asked for.
	b := e.browser()
	if p := b.get("/console/certificates"); p.url.Path != "/console/signin" {
		t.Fatalf("ended at %s, want the sign-in page", p.url)
	}
	f := b.get("/console/signin?next=%2Fconsole%2Fcertificates").form(t, "/console/signin")
	f.set("access_key_id", testAccessKeyID)
	f.set("secret_access_key", testSecret)
	if p := b.submit(f, ""); p.url.Path != "/console/certificates" {
		t.Errorf("after sign-in ended at %s, want /console/certificates", p.url)
	}
}

// TestCSRF checks that a state-changing request without the session's
// token is refused with 403 and changes nothing.
func TestCSRF(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn()
	other := e.browser()
	other.signIn()
	form := other.get("/console/distributions/create").form(t, "/console/distributions/create")
	otherToken := form.get("csrf")

	tests := []struct {
		name   string
		token  string
		header http.Header
	}{
		{"missing token", "", nil},
		{"wrong token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nil},
		{"another session's token", otherToken, nil},
		{"not base64", "%%%", nil},
		{"cross-site request with the right token", "", http.Header{"Sec-Fetch-Site": {"cross-site"}}},
	}
	own := b.get("/console/distributions/create").form(t, "/console/distributions/create").get("csrf")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := tt.token
			if tt.header != nil {
				token = own
			}
			v := url.Values{"csrf": {token}, "origin_domain": {originDomain}, "action": {"save"}}
			req, _ := http.NewRequest("POST", e.srv.URL+"/console/distributions/create", strings.NewReader(v.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, vs := range tt.header {
				req.Header[k] = vs
			}
			p := b.do(req)
			if p.status != http.StatusForbidden {
				t.Errorf("status %d, want 403", p.status)
			}
		})
	}
	if ds, _, _, _ := e.svc.ListDistributions(context.Background(), "", 10); len(ds) != 0 {
		t.Errorf("%d distributions were created without a valid token", len(ds))
	}

	// Sign-in is protected too: the form's token is bound to its cookie.
	fresh := e.browser()
	f := fresh.get("/console/signin").form(t, "/console/signin")
	f.set("access_key_id", testAccessKeyID)
	f.set("secret_access_key", testSecret)
	f.set("csrf", "forged")
	if p := fresh.submit(f, ""); p.status != http.StatusForbidden || p.url.Path != "/console/signin" {
		t.Errorf("sign-in with a forged token: status %d at %s, want 403 on the sign-in page", p.status, p.url)
	}
	if p := fresh.get("/console/distributions"); p.url.Path != "/console/signin" {
		t.Error("a sign-in with a forged token started a session")
	}
}

// TestSignIn checks the session cookie, failed sign-ins and sign-out.
func TestSignIn(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	f := b.get("/console/signin").form(t, "/console/signin")
	f.set("access_key_id", testAccessKeyID)
	f.set("secret_access_key", "wrong-"+testSecret)
	p := b.submit(f, "")
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "not correct") {
		t.Errorf("wrong secret: status %d, want 401 with a message", p.status)
	}
	if got := p.form(t, "/console/signin").get("access_key_id"); got != testAccessKeyID {
		t.Errorf("after a failed sign-in the access key ID is %q, want it kept", got)
	}
	b.assertNeverServed("submitted secret", "wrong-"+testSecret)

	// The session cookie's attributes.
	f = b.get("/console/signin").form(t, "/console/signin")
	f.set("access_key_id", testAccessKeyID)
	f.set("secret_access_key", testSecret)
	req, _ := http.NewRequest("POST", e.srv.URL+"/console/signin", strings.NewReader(f.values().Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := &http.Client{Jar: b.c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			session = c
		}
	}
	if session == nil {
		t.Fatal("no session cookie after sign-in")
	}
	if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/console/" || session.MaxAge <= 0 {
		t.Errorf("session cookie HttpOnly=%v SameSite=%v Path=%q MaxAge=%d; want HttpOnly, Strict, /console/ and an expiry",
			session.HttpOnly, session.SameSite, session.Path, session.MaxAge)
	}
	if strings.Contains(session.Value, testSecret) {
		t.Error("the session cookie carries the secret")
	}

	// Sign out: the old cookie no longer works, even if a copy was kept.
	p = b.get("/console/distributions")
	p = b.submit(p.form(t, "/console/signout"), "")
	if p.url.Path != "/console/signin" || !strings.Contains(p.body, "You have signed out.") {
		t.Errorf("sign-out ended at %s", p.url)
	}
	req, _ = http.NewRequest("GET", e.srv.URL+"/console/distributions", nil)
	req.AddCookie(session)
	resp, err = (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a signed-out session's cookie got status %d, want 303 to sign-in", resp.StatusCode)
	}
	if strings.Contains(e.logs.String(), testSecret) {
		t.Error("the log contains the secret access key")
	}
}

// TestSecurityHeaders checks the headers every console response carries.
func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn()
	client := &http.Client{Jar: b.c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/console/signin", "/console/distributions", "/console/", "/console/static/console.css", "/console/nope", "/console/distributions/ENOSUCH"} {
		t.Run(path, func(t *testing.T) {
			resp, err := client.Get(e.srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			for header, want := range map[string]string{
				"X-Frame-Options":        "DENY",
				"Referrer-Policy":        "no-referrer",
				"Cache-Control":          "no-store",
				"X-Content-Type-Options": "nosniff",
			} {
				if got := resp.Header.Get(header); got != want {
					t.Errorf("%s = %q, want %q", header, got, want)
				}
			}
			csp := resp.Header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") {
				t.Errorf("Content-Security-Policy allows inline code: %q", csp)
			}
		})
	}
	// No page has inline script or style.
	for _, path := range []string{"/console/distributions", "/console/distributions/create", "/console/certificates", "/console/certificates/import"} {
		body := b.get(path).body
		if strings.Contains(body, "<script>") || strings.Contains(body, "<style") || inlineAttr.MatchString(body) {
			t.Errorf("%s has inline script or style", path)
		}
	}
}

// inlineAttr matches inline event handlers and style attributes.
var inlineAttr = regexp.MustCompile(`\s(on[a-z]+|style)=`)

// TestErrorPages checks how errors that are not a form's are shown: a
// service error with its status, an internal failure as a logged 500.
func TestErrorPages(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn()
	if p := b.get("/console/distributions/ENOSUCHDIST123"); p.status != http.StatusNotFound || !strings.Contains(p.body, portico.ErrNoSuchDistribution) {
		t.Errorf("unknown distribution: status %d, want 404 with NoSuchDistribution", p.status)
	}
	if p := b.get("/console/no/such/page"); p.status != http.StatusNotFound {
		t.Errorf("unknown page: status %d, want 404", p.status)
	}

	// A store that fails: the user sees a 500 page, the log says why.
	e.svc.Store.Close()
	p := b.get("/console/distributions")
	if p.status != http.StatusInternalServerError || !strings.Contains(p.body, "Something went wrong") {
		t.Errorf("failing store: status %d, want the 500 page", p.status)
	}
	if !strings.Contains(e.logs.String(), "console: request failed") {
		t.Errorf("the failure was not logged:\n%s", e.logs.String())
	}
}

// TestCertificatePages checks import errors (the private key is never
// sent back), the list with what uses each certificate, and delete.
func TestCertificatePages(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn()
	cert, other := issueCert(t, customDomain), issueCert(t, "other.example.com")

	// A key that does not match: the error is shown, the certificate body
	// kept, the key gone.
	f := b.get("/console/certificates/import").form(t, "/console/certificates/import")
	f.set("certificate", cert.certPEM)
	f.set("private_key", other.keyPEM)
	p := b.submit(f, "")
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "does not match") {
		t.Errorf("mismatched key: status %d, want 400 with the reason", p.status)
	}
	f = p.form(t, "/console/certificates/import")
	if strings.TrimSpace(f.get("certificate")) != strings.TrimSpace(cert.certPEM) || f.get("private_key") != "" {
		t.Errorf("after the error: certificate kept %v, private key %q; want the certificate kept and no key",
			strings.TrimSpace(f.get("certificate")) == strings.TrimSpace(cert.certPEM), f.get("private_key"))
	}
	b.assertNeverServed("private key", other.keyBody())

	// Files instead of pasted text, returning to the create form.
	f = b.get("/console/certificates/import?return=create").form(t, "/console/certificates/import")
	f.files["certificate_file"] = cert.certPEM
	f.files["private_key_file"] = cert.keyPEM
	f.files["chain_file"] = cert.chainPEM
	p = b.submit(f, "")
	if p.url.Path != "/console/distributions/create" || !strings.Contains(p.body, "Certificate imported.") {
		t.Fatalf("import from files ended at %s (status %d):\n%s", p.url, p.status, p.body)
	}
	certs, err := e.svc.ListCertificates(context.Background())
	if err != nil || len(certs) != 1 {
		t.Fatalf("ListCertificates = %d, %v", len(certs), err)
	}
	arn := certs[0].ARN
	if got := p.form(t, "/console/distributions/create").get("certificate"); got != arn {
		t.Errorf("the create form's certificate = %q, want the one just imported", got)
	}
	b.assertNeverServed("private key", cert.keyBody())

	// In use by a distribution: listed as such; delete is refused.
	cfg := seedConfig("cert-test", arn)
	d, err := e.svc.CreateDistribution(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	p = b.get("/console/certificates")
	for _, want := range []string{customDomain, arn, "Yes: ", d.ID} {
		if !strings.Contains(p.body, want) {
			t.Errorf("certificates list lacks %q", want)
		}
	}
	if hasForm(t, p, "/console/certificates/delete") {
		t.Error("Delete is offered for a certificate in use")
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/console/certificates/delete", strings.NewReader(url.Values{
		"csrf": {p.form(t, "/console/signout").get("csrf")}, "arn": {arn},
	}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if p = b.do(req); p.status != portico.StatusOf(portico.ErrResourceInUse) || !strings.Contains(p.body, portico.ErrResourceInUse) {
		t.Errorf("deleting a certificate in use: status %d, want %d ResourceInUseException", p.status, portico.StatusOf(portico.ErrResourceInUse))
	}

	// Unused: deleted.
	c2, err := e.svc.ImportCertificate(context.Background(), "", []byte(other.certPEM), []byte(other.chainPEM), []byte(other.keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	p = b.get("/console/certificates")
	var del *form
	for _, f := range p.forms(t) {
		if f.action == "/console/certificates/delete" && f.get("arn") == c2.ARN {
			del = f
		}
	}
	if del == nil {
		t.Fatal("no Delete for the unused certificate")
	}
	if p = b.submit(del, ""); !strings.Contains(p.body, "Certificate deleted.") || strings.Contains(p.body, c2.ARN) {
		t.Errorf("after Delete the certificate is still listed (status %d)", p.status)
	}
}

// TestMisconfigured checks that a console missing part of its
// configuration refuses to serve instead of serving without protection.
func TestMisconfigured(t *testing.T) {
	login := func(string, string) bool { return true }
	tests := []struct {
		name string
		h    *Handler
	}{
		{"short session key", &Handler{Service: &control.Service{}, Login: login, SessionKey: make([]byte, 16)}},
		{"no session key", &Handler{Service: &control.Service{}, Login: login}},
		{"no service", &Handler{Login: login, SessionKey: make([]byte, 32)}},
		{"no login", &Handler{Service: &control.Service{}, SessionKey: make([]byte, 32)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.h.ServeHTTP(rec, httptest.NewRequest("GET", "/console/signin", nil))
			if rec.Code != http.StatusInternalServerError || rec.Header().Get("X-Frame-Options") != "DENY" {
				t.Errorf("status %d, X-Frame-Options %q; want 500 with the security headers", rec.Code, rec.Header().Get("X-Frame-Options"))
			}
		})
	}
}
