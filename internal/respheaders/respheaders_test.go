package respheaders

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portico-edge/portico"
)

// echoOrigin answers with the headers in its query: ?h=Name:value&h=...
func echoOrigin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, kv := range r.URL.Query()["h"] {
			k, v, _ := strings.Cut(kv, ":")
			w.Header().Add(k, v)
		}
		io.WriteString(w, "body")
	})
}

func compile(t testing.TB, c portico.ResponseHeadersPolicyConfig) *Policy {
	t.Helper()
	c.Name = "test"
	if err := c.Validate(); err != nil {
		t.Fatalf("invalid test policy: %v", err)
	}
	p, err := Compile(&c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWrap(t *testing.T) {
	security := func(override bool) *portico.SecurityHeadersConfig {
		return &portico.SecurityHeadersConfig{
			XSSProtection:           &portico.XSSProtection{Override: portico.Ptr(override), Protection: portico.Ptr(true), ReportURI: portico.Ptr("https://r.example/x")},
			FrameOptions:            &portico.FrameOptions{Override: portico.Ptr(override), FrameOption: "DENY"},
			ReferrerPolicy:          &portico.ReferrerPolicy{Override: portico.Ptr(override), ReferrerPolicy: "no-referrer"},
			ContentSecurityPolicy:   &portico.ContentSecurityPolicy{Override: portico.Ptr(override), ContentSecurityPolicy: "default-src 'self'"},
			ContentTypeOptions:      &portico.ContentTypeOptions{Override: portico.Ptr(override)},
			StrictTransportSecurity: &portico.StrictTransportSecurity{Override: portico.Ptr(override), AccessControlMaxAgeSec: portico.Ptr(300), IncludeSubdomains: portico.Ptr(true), Preload: portico.Ptr(false)},
		}
	}
	policyValues := map[string]string{
		"X-Xss-Protection":          "1; report=https://r.example/x",
		"X-Frame-Options":           "DENY",
		"Referrer-Policy":           "no-referrer",
		"Content-Security-Policy":   "default-src 'self'",
		"X-Content-Type-Options":    "nosniff",
		"Strict-Transport-Security": "max-age=300; includeSubDomains",
	}
	var originQuery []string
	originValues := map[string]string{}
	for k := range policyValues {
		originQuery = append(originQuery, "h="+k+":origin")
		originValues[k] = "origin"
	}
	corsAll := func(override bool) *portico.CorsConfig {
		return &portico.CorsConfig{
			AccessControlAllowOrigins:     &portico.CorsOrigins{Quantity: 1, Items: []string{"*"}},
			AccessControlAllowHeaders:     &portico.HeaderNames{Quantity: 1, Items: []string{"*"}},
			AccessControlAllowMethods:     &portico.Methods{Quantity: 1, Items: []string{"ALL"}},
			AccessControlAllowCredentials: portico.Ptr(false),
			AccessControlExposeHeaders:    &portico.HeaderNames{Quantity: 1, Items: []string{"*"}},
			OriginOverride:                portico.Ptr(override),
		}
	}
	for _, tt := range []struct {
		name   string
		policy portico.ResponseHeadersPolicyConfig
		method string
		query  string
		fields map[string]string
		want   map[string]string // "" for absent
	}{
		{"security headers added", portico.ResponseHeadersPolicyConfig{SecurityHeadersConfig: security(false)}, "GET", "", nil, policyValues},
		{"security headers override", portico.ResponseHeadersPolicyConfig{SecurityHeadersConfig: security(true)}, "GET", strings.Join(originQuery, "&"), nil, policyValues},
		{"security headers kept", portico.ResponseHeadersPolicyConfig{SecurityHeadersConfig: security(false)}, "GET", strings.Join(originQuery, "&"), nil, originValues},
		{"XSS protection off", portico.ResponseHeadersPolicyConfig{SecurityHeadersConfig: &portico.SecurityHeadersConfig{
			XSSProtection: &portico.XSSProtection{Override: portico.Ptr(true), Protection: portico.Ptr(false)},
		}}, "GET", "", nil, map[string]string{"X-Xss-Protection": "0"}},
		{"custom and removed headers", portico.ResponseHeadersPolicyConfig{
			CustomHeadersConfig: &portico.ResponseCustomHeaders{Quantity: 2, Items: []portico.ResponseCustomHeader{
				{Header: "x-one", Value: "policy", Override: portico.Ptr(true)},
				{Header: "X-Two", Value: "policy", Override: portico.Ptr(false)},
			}},
			RemoveHeadersConfig: &portico.ResponseRemoveHeaders{Quantity: 2, Items: []portico.ResponseRemoveHeader{{Header: "x-gone"}, {Header: "Server"}}},
		}, "GET", "h=X-One:origin&h=X-One:again&h=X-Two:origin&h=X-Gone:1&h=Server:s", nil, map[string]string{
			"X-One": "policy", "X-Two": "origin", "X-Gone": "", "Server": "",
		}},
		{"CORS any origin", portico.ResponseHeadersPolicyConfig{CorsConfig: corsAll(false)}, "GET", "", map[string]string{"Origin": "https://a.example"}, map[string]string{
			"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "*", "Access-Control-Allow-Methods": "", "Access-Control-Allow-Credentials": "",
		}},
		{"CORS without Origin", portico.ResponseHeadersPolicyConfig{CorsConfig: corsAll(false)}, "GET", "", nil, map[string]string{
			"Access-Control-Allow-Origin": "", "Access-Control-Expose-Headers": "",
		}},
		{"CORS origin's kept", portico.ResponseHeadersPolicyConfig{CorsConfig: corsAll(false)}, "GET", "h=Access-Control-Allow-Origin:https://o.example", map[string]string{"Origin": "https://a.example"}, map[string]string{
			"Access-Control-Allow-Origin": "https://o.example", "Access-Control-Expose-Headers": "*",
		}},
		{"CORS origin's overridden", portico.ResponseHeadersPolicyConfig{CorsConfig: corsAll(true)}, "GET", "h=Access-Control-Allow-Origin:https://o.example", map[string]string{"Origin": "https://a.example"}, map[string]string{
			"Access-Control-Allow-Origin": "*",
		}},
		{"CORS preflight", portico.ResponseHeadersPolicyConfig{CorsConfig: corsAll(false)}, "OPTIONS", "", map[string]string{"Origin": "https://a.example", "Access-Control-Request-Method": "PUT"}, map[string]string{
			"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT", "Access-Control-Allow-Headers": "*", "Access-Control-Max-Age": "",
		}},
		{"CORS preflight, origin's methods kept", portico.ResponseHeadersPolicyConfig{CorsConfig: corsAll(false)}, "OPTIONS", "h=Access-Control-Allow-Methods:GET", map[string]string{"Origin": "https://a.example", "Access-Control-Request-Method": "PUT"}, map[string]string{
			"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET", "Access-Control-Allow-Headers": "*",
		}},
		{"CORS preflight, origin's methods overridden", portico.ResponseHeadersPolicyConfig{CorsConfig: corsAll(true)}, "OPTIONS", "h=Access-Control-Allow-Methods:GET", map[string]string{"Origin": "https://a.example", "Access-Control-Request-Method": "PUT"}, map[string]string{
			"Access-Control-Allow-Methods": "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT",
		}},
		{"CORS OPTIONS without request method", portico.ResponseHeadersPolicyConfig{CorsConfig: corsAll(false)}, "OPTIONS", "", map[string]string{"Origin": "https://a.example"}, map[string]string{
			"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(Wrap(compile(t, tt.policy), echoOrigin()))
			defer srv.Close()
			req, err := http.NewRequest(tt.method, srv.URL+"/?"+tt.query, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.fields {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "body" {
				t.Errorf("body %q, want the origin's", body)
			}
			for name, want := range tt.want {
				if got := strings.Join(resp.Header.Values(name), ","); got != want {
					t.Errorf("%s %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestOriginMatches(t *testing.T) {
	for _, tt := range []struct {
		pattern, origin string
		want            bool
	}{
		{"https://app.example.com", "https://app.example.com", true},
		{"https://app.example.com", "HTTPS://APP.example.com", true},
		{"https://app.example.com", "https://app.example.com.evil", false},
		{"https://*.example.com", "https://a.example.com", true},
		{"https://*.example.com", "https://a.b.example.com", true},
		{"https://*.example.com", "https://.example.com", false},
		{"https://*.example.com", "https://example.com", false},
		{"https://*.example.com", "http://a.example.com", false},
		{"https://*.example.com", "https://a.example.com.evil", false},
	} {
		if got := originMatches(tt.pattern, tt.origin); got != tt.want {
			t.Errorf("originMatches(%q, %q) = %v, want %v", tt.pattern, tt.origin, got, tt.want)
		}
	}
}

func TestCompileRejectsUnsendableHeaders(t *testing.T) {
	for _, h := range []portico.ResponseCustomHeader{
		{Header: "Bad Name", Value: "v", Override: portico.Ptr(true)},
		{Header: "X-Ok", Value: "secret\r\nInjected: 1", Override: portico.Ptr(true)},
	} {
		c := portico.ResponseHeadersPolicyConfig{Name: "bad", CustomHeadersConfig: &portico.ResponseCustomHeaders{Quantity: 1, Items: []portico.ResponseCustomHeader{h}}}
		_, err := Compile(&c)
		if err == nil {
			t.Errorf("Compile accepted header %q", h.Header)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("the error %q shows the value", err)
		}
	}
}

// nopWriter is a ResponseWriter that keeps one header map and discards
// the body, for measuring the wrapper alone.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

// TestWrapDoesNotAllocate checks that applying a policy with security,
// custom, removed and CORS headers (the allowed origin echoed) allocates
// nothing per response.
func TestWrapDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop writers")
	}
	p := compile(t, portico.ResponseHeadersPolicyConfig{
		SecurityHeadersConfig: &portico.SecurityHeadersConfig{
			StrictTransportSecurity: &portico.StrictTransportSecurity{Override: portico.Ptr(true), AccessControlMaxAgeSec: portico.Ptr(300)},
			ContentTypeOptions:      &portico.ContentTypeOptions{Override: portico.Ptr(false)},
		},
		CustomHeadersConfig: &portico.ResponseCustomHeaders{Quantity: 1, Items: []portico.ResponseCustomHeader{{Header: "X-One", Value: "1", Override: portico.Ptr(true)}}},
		RemoveHeadersConfig: &portico.ResponseRemoveHeaders{Quantity: 1, Items: []portico.ResponseRemoveHeader{{Header: "Server"}}},
		CorsConfig: &portico.CorsConfig{
			AccessControlAllowOrigins:     &portico.CorsOrigins{Quantity: 1, Items: []string{"https://*.example.com"}},
			AccessControlAllowMethods:     &portico.Methods{Quantity: 1, Items: []string{"GET"}},
			AccessControlAllowHeaders:     &portico.HeaderNames{},
			AccessControlAllowCredentials: portico.Ptr(true),
			OriginOverride:                portico.Ptr(true),
		},
	})
	server := []string{"origin"}
	body := []byte("body")
	h := Wrap(p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Server"] = server
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Origin", "https://a.example.com")
	w := &nopWriter{h: make(http.Header)}
	h.ServeHTTP(w, req) // warm the pool and the map
	allocs := testing.AllocsPerRun(100, func() {
		clear(w.h)
		h.ServeHTTP(w, req)
	})
	if allocs != 0 {
		t.Errorf("a response costs %v allocations, want 0", allocs)
	}
	if got := w.h.Get("Access-Control-Allow-Origin"); got != "https://a.example.com" {
		t.Errorf("Access-Control-Allow-Origin %q, want the request's origin", got)
	}
	if _, ok := w.h["Server"]; ok {
		t.Error("Server was not removed")
	}
}

// FuzzCORSOrigin checks that whatever Origin a viewer sends, the response
// allows either no origin or exactly that one, and only one that the
// policy lists.
func FuzzCORSOrigin(f *testing.F) {
	for _, s := range []string{"https://app.example.com", "https://a.example.net", "https://example.net", "", "*", "https://*.example.net", "HTTPS://X.EXAMPLE.NET"} {
		f.Add(s)
	}
	p := compile(f, portico.ResponseHeadersPolicyConfig{CorsConfig: &portico.CorsConfig{
		AccessControlAllowOrigins:     &portico.CorsOrigins{Quantity: 2, Items: []string{"https://app.example.com", "https://*.example.net"}},
		AccessControlAllowMethods:     &portico.Methods{Quantity: 1, Items: []string{"GET"}},
		AccessControlAllowHeaders:     &portico.HeaderNames{},
		AccessControlAllowCredentials: portico.Ptr(false),
		OriginOverride:                portico.Ptr(true),
	}})
	h := Wrap(p, echoOrigin())
	f.Fuzz(func(t *testing.T, o string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header["Origin"] = []string{o}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		got, ok := w.Result().Header["Access-Control-Allow-Origin"]
		if !ok {
			return
		}
		lower := strings.ToLower(o)
		listed := lower == "https://app.example.com" ||
			(strings.HasPrefix(lower, "https://") && strings.HasSuffix(lower, ".example.net") && len(lower) > len("https://.example.net"))
		if len(got) != 1 || got[0] != o || !listed {
			t.Errorf("Origin %q: Access-Control-Allow-Origin %q", o, got)
		}
	})
}
