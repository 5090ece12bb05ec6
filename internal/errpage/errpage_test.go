package errpage

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	w := httptest.NewRecorder()
	w.Header().Set("Content-Length", "5") // set by an earlier step; must not survive
	Write(w, http.StatusBadGateway, `origin <b>"down"</b>`, "req-123")
	body := w.Body.String()
	checks := []struct{ what, got, want string }{
		{"X-Cache", w.Header().Get("X-Cache"), "Error from portico"},
		{"Cache-Control", w.Header().Get("Cache-Control"), "no-store"},
		{"Content-Type", w.Header().Get("Content-Type"), "text/html"},
		{"Content-Length", w.Header().Get("Content-Length"), ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if w.Code != http.StatusBadGateway || !strings.Contains(body, "<H1>502 ERROR</H1>") || !strings.Contains(body, "Request ID: req-123") {
		t.Errorf("page: %d\n%s", w.Code, body)
	}
	if strings.Contains(body, "<b>") || !strings.Contains(body, "&lt;b&gt;") {
		t.Errorf("the reason is not escaped:\n%s", body)
	}
}
