package errpage

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/portico-edge/portico"
)

func customResponses(items ...portico.CustomErrorResponse) *portico.CustomErrorResponses {
	return &portico.CustomErrorResponses{Quantity: len(items), Items: items}
}

func errorPage(code int, path, responseCode string) portico.CustomErrorResponse {
	e := portico.CustomErrorResponse{ErrorCode: code}
	if path != "" {
		e.ResponsePagePath = portico.Ptr(path)
	}
	if responseCode != "" {
		e.ResponseCode = portico.Ptr(responseCode)
	}
	return e
}

func TestCompile(t *testing.T) {
	for _, tt := range []struct {
		name    string
		cer     *portico.CustomErrorResponses
		codes   []int // codes with a page
		wantErr string
	}{
		{"none", nil, nil, ""},
		{"caching only", customResponses(portico.CustomErrorResponse{ErrorCode: 404, ErrorCachingMinTTL: portico.Ptr(int64(5))}), nil, ""},
		{"empty page path", customResponses(errorPage(404, "", "200")), nil, ""},
		{"pages", customResponses(errorPage(404, "/404.html", "404"), errorPage(503, "/errors/5xx.html?x=1", ""), errorPage(403, "/spa/index.html", "200")), []int{404, 503, 403}, ""},
		{"code CloudFront never replaces", customResponses(errorPage(429, "/429.html", "")), nil, ""},
		{"first of a code wins", customResponses(errorPage(404, "/a.html", ""), errorPage(404, "/b.html", "")), []int{404}, ""},
		{"bad path left out", customResponses(errorPage(404, "not-a-path", ""), errorPage(500, "/500.html", "")), []int{500}, `custom error response for 404: ResponsePagePath "not-a-path" is not a path`},
		{"bad response code left out", customResponses(errorPage(404, "/404.html", "OK"), errorPage(500, "/500.html", " 503 ")), []int{500}, `ResponseCode "OK" is not a status code`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Compile(tt.cer)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
			var codes []int
			if rs != nil {
				for _, p := range rs.pages {
					codes = append(codes, p.code)
				}
			}
			if fmt.Sprint(codes) != fmt.Sprint(tt.codes) {
				t.Errorf("pages for %v, want %v", codes, tt.codes)
			}
		})
	}
	rs, _ := Compile(customResponses(errorPage(503, "/errors/5%20xx.html?x=1", " 200")))
	if p := rs.find(503); p.path != "/errors/5%20xx.html" || p.url.RawQuery != "x=1" || p.status != 200 {
		t.Errorf("page %+v", p)
	}
}

// pageServer is a behaviour's handler for pages in tests: it records the
// requests it gets and answers each path as its table says.
type pageServer struct {
	mu   sync.Mutex
	reqs []*http.Request
	// status by path; missing paths get 404 with body "missing".
	status map[string]int
}

func (s *pageServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reqs = append(s.reqs, r)
	s.mu.Unlock()
	code, ok := s.status[r.URL.Path]
	if !ok {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "missing")
		return
	}
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("X-Cache", "Hit from portico")
	w.WriteHeader(code)
	io.WriteString(w, "page "+r.URL.Path)
}

// errorSite answers /status/<code> with that status, a Set-Cookie and a
// body, and /stream with a flushed 200.
func errorSite() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			io.WriteString(w, "part 1;")
			w.(http.Flusher).Flush()
			io.WriteString(w, "part 2")
			return
		}
		code, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
		if err != nil {
			code = http.StatusOK
		}
		w.Header().Set("Set-Cookie", "err=1")
		w.Header().Set("X-Origin-Error", "yes")
		w.WriteHeader(code)
		io.WriteString(w, "origin error body")
	})
}

// TestWrapCustomErrorResponses checks which responses a page replaces,
// with which status, and what the viewer gets when the page does not come
// (DG GeneratingCustomErrorResponses).
func TestWrapCustomErrorResponses(t *testing.T) {
	rs, err := Compile(customResponses(
		errorPage(404, "/errors/404.html", "200"),
		errorPage(503, "/errors/503.html", ""),
		errorPage(500, "/errors/gone.html", "200"),
		errorPage(502, "/errors/broken.html?v=2", "503"),
	))
	if err != nil {
		t.Fatal(err)
	}
	pages := &pageServer{status: map[string]int{"/errors/404.html": 200, "/errors/503.html": 200, "/errors/broken.html": 500}}
	srv := httptest.NewServer(rs.Wrap(errorSite(), func(string) http.Handler { return pages }))
	defer srv.Close()

	for _, tt := range []struct {
		name, method, path string
		header             map[string]string
		wantStatus         int
		wantBody           string
		wantXCache         string
		wantPage           string // the page request's URI, "" for none
	}{
		{"404 replaced, status 200", "GET", "/status/404", nil, 200, "page /errors/404.html", "Error from portico", "/errors/404.html"},
		{"503 replaced, its own status", "GET", "/status/503", nil, 503, "page /errors/503.html", "Error from portico", "/errors/503.html"},
		{"page missing: its 404", "GET", "/status/500", nil, 404, "missing", "Error from portico", "/errors/gone.html"},
		{"page failing: its 500, not replaced", "GET", "/status/502", nil, 500, "page /errors/broken.html", "Error from portico", "/errors/broken.html?v=2"},
		{"HEAD fetches the page with HEAD", "HEAD", "/status/404", nil, 200, "", "Error from portico", "/errors/404.html"},
		{"POST fetches the page with GET", "POST", "/status/404", nil, 200, "page /errors/404.html", "Error from portico", "/errors/404.html"},
		{"conditional and range dropped", "GET", "/status/404", map[string]string{"If-None-Match": `"x"`, "Range": "bytes=0-1", "Accept-Language": "de"}, 200, "page /errors/404.html", "Error from portico", "/errors/404.html"},
		{"unlisted error passes", "GET", "/status/403", nil, 403, "origin error body", "", ""},
		{"success passes", "GET", "/status/200", nil, 200, "origin error body", "", ""},
		{"streamed success passes", "GET", "/stream", nil, 200, "part 1;part 2", "", ""},
		{"WebSocket upgrade never replaced", "GET", "/status/404", map[string]string{"Upgrade": "websocket", "Connection": "Upgrade"}, 404, "origin error body", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pages.mu.Lock()
			pages.reqs = nil
			pages.mu.Unlock()
			var body io.Reader
			if tt.method == "POST" {
				body = strings.NewReader("form=1")
			}
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, body)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || string(b) != tt.wantBody || resp.Header.Get("X-Cache") != tt.wantXCache {
				t.Errorf("%d %q, X-Cache %q; want %d %q, %q", resp.StatusCode, b, resp.Header.Get("X-Cache"), tt.wantStatus, tt.wantBody, tt.wantXCache)
			}
			if tt.wantPage != "" && (resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("X-Origin-Error") != "") {
				t.Errorf("the error's header fields came with the page: %v", resp.Header)
			}
			pages.mu.Lock()
			defer pages.mu.Unlock()
			if tt.wantPage == "" {
				if len(pages.reqs) != 0 {
					t.Errorf("%d page requests, want none", len(pages.reqs))
				}
				return
			}
			if len(pages.reqs) != 1 {
				t.Fatalf("%d page requests, want 1", len(pages.reqs))
			}
			pr := pages.reqs[0]
			wantMethod := "GET"
			if tt.method == "HEAD" {
				wantMethod = "HEAD"
			}
			if pr.Method != wantMethod || pr.RequestURI != tt.wantPage || pr.URL.RequestURI() != tt.wantPage || pr.ContentLength != 0 {
				t.Errorf("page request %s %s (URL %s, length %d), want %s %s", pr.Method, pr.RequestURI, pr.URL.RequestURI(), pr.ContentLength, wantMethod, tt.wantPage)
			}
			for _, name := range []string{"If-None-Match", "Range", "Content-Length", "Content-Type"} {
				if v := pr.Header.Get(name); v != "" {
					t.Errorf("page request carries %s %q", name, v)
				}
			}
			if tt.header["Accept-Language"] != "" && pr.Header.Get("Accept-Language") != "de" {
				t.Errorf("page request lost the viewer's Accept-Language")
			}
		})
	}
}

// TestWrapPassThroughDoesNotAllocate checks that a response without an
// error page costs no allocation.
func TestWrapPassThroughDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop writers")
	}
	rs, _ := Compile(customResponses(errorPage(404, "/404.html", "200")))
	body := []byte("ok")
	h := rs.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	}), func(string) http.Handler { return http.NotFoundHandler() })
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	w := &nopWriter{h: make(http.Header)}
	h.ServeHTTP(w, req)
	if allocs := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, req) }); allocs != 0 {
		t.Errorf("a response without a page costs %v allocations, want 0", allocs)
	}
}

// nopWriter is a ResponseWriter that keeps one header map and discards
// the body.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}
