package respheaders

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/portico-edge/portico"
)

// TestApplyStaticMatchesWrap runs requests through Wrap's handler and, for
// those Static accepts, applies ApplyStatic to the origin's header: the
// two headers are the same.
func TestApplyStaticMatchesWrap(t *testing.T) {
	full := portico.ResponseHeadersPolicyConfig{
		SecurityHeadersConfig: &portico.SecurityHeadersConfig{
			FrameOptions:       &portico.FrameOptions{Override: portico.Ptr(true), FrameOption: "DENY"},
			ContentTypeOptions: &portico.ContentTypeOptions{Override: portico.Ptr(false)},
		},
		CustomHeadersConfig: &portico.ResponseCustomHeaders{Quantity: 2, Items: []portico.ResponseCustomHeader{
			{Header: "x-custom", Value: "c", Override: portico.Ptr(false)},
			{Header: "Cache-Control", Value: "max-age=1", Override: portico.Ptr(true)},
		}},
		RemoveHeadersConfig: &portico.ResponseRemoveHeaders{Quantity: 1, Items: []portico.ResponseRemoveHeader{{Header: "x-remove"}}},
	}
	withCORS := full
	withCORS.CorsConfig = &portico.CorsConfig{
		AccessControlAllowOrigins:     &portico.CorsOrigins{Quantity: 1, Items: []string{"https://*.example.com"}},
		AccessControlAllowHeaders:     &portico.HeaderNames{Quantity: 1, Items: []string{"*"}},
		AccessControlAllowMethods:     &portico.Methods{Quantity: 1, Items: []string{"GET"}},
		AccessControlAllowCredentials: portico.Ptr(true),
		OriginOverride:                portico.Ptr(true),
	}
	policies := map[string]*Policy{"without CORS": compile(t, full), "with CORS": compile(t, withCORS)}
	for _, tt := range []struct {
		name, policy, method, origin string
		static                       bool
	}{
		{"GET", "without CORS", "GET", "", true},
		{"HEAD", "without CORS", "HEAD", "", true},
		{"GET with Origin, no CORS", "without CORS", "GET", "https://a.example.com", true},
		{"GET, CORS", "with CORS", "GET", "", true},
		{"HEAD, CORS", "with CORS", "HEAD", "", true},
		{"GET with Origin, CORS", "with CORS", "GET", "https://a.example.com", false},
		{"GET with an Origin not allowed, CORS", "with CORS", "GET", "https://other.example", false},
		{"OPTIONS", "without CORS", "OPTIONS", "", false},
		{"POST", "without CORS", "POST", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := policies[tt.policy]
			r := httptest.NewRequest(tt.method, "https://h.example/?h=X-Remove:x&h=Cache-Control:no-cache&h=X-Frame-Options:SAMEORIGIN&h=X-Content-Type-Options:origin&h=Content-Type:text/plain", nil)
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if got := p.Static(r); got != tt.static {
				t.Fatalf("Static = %v, want %v", got, tt.static)
			}
			w := httptest.NewRecorder()
			Wrap(p, echoOrigin()).ServeHTTP(w, r)
			if !tt.static {
				return
			}
			hd := http.Header{}
			echoOrigin().ServeHTTP(&headerOnly{hd}, r)
			if !p.ApplyStatic(hd) {
				t.Fatal("ApplyStatic refused a policy it knows")
			}
			if !maps.EqualFunc(hd, w.Header(), slices.Equal) {
				t.Errorf("ApplyStatic made\n%v\nWrap made\n%v", hd, w.Header())
			}
		})
	}
}

// headerOnly records the header a handler sets.
type headerOnly struct{ h http.Header }

func (w *headerOnly) Header() http.Header         { return w.h }
func (w *headerOnly) WriteHeader(int)             {}
func (w *headerOnly) Write(b []byte) (int, error) { return len(b), nil }

func TestUnwrap(t *testing.T) {
	p := compile(t, portico.ResponseHeadersPolicyConfig{CustomHeadersConfig: &portico.ResponseCustomHeaders{
		Quantity: 1, Items: []portico.ResponseCustomHeader{{Header: "X-A", Value: "a", Override: portico.Ptr(false)}}}})
	next := echoOrigin()
	if got, h := Unwrap(Wrap(p, next)); got != p || h == nil {
		t.Errorf("Unwrap(Wrap(p, next)) = %p, %v; want p, next", got, h)
	}
	if got, h := Unwrap(next); got != nil || h == nil {
		t.Errorf("Unwrap(next) = %p, %v; want nil, next", got, h)
	}
}
