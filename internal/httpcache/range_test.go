package httpcache

import (
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRanges checks Range requests answered from a stored 200 (RFC 9110
// §14; DG RangeGETs): one range, several (multipart/byteranges), suffix
// and open ranges, unsatisfiable ranges (416), If-Range, and HEAD.
func TestRanges(t *testing.T) {
	const body = "0123456789abcdefghij"
	etag := `"r1"`
	lm := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	h := newHarness(t, 64<<20, defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Etag", etag)
		w.Header().Set("Last-Modified", lm.Format(http.TimeFormat))
		io.WriteString(w, body)
	})
	h.expect("/r", miss, body)
	tests := []struct {
		rule         string
		method       string
		headers      []string
		status       int
		body         string   // "" with parts
		contentRange string   // of a single range
		parts        []string // of a multipart answer
	}{
		{"RFC 9110 §14.1.2 one range", "GET", []string{"Range: bytes=0-3"}, 206, "0123", "bytes 0-3/20", nil},
		{"RFC 9110 §14.1.2 open range", "GET", []string{"Range: bytes=15-"}, 206, "fghij", "bytes 15-19/20", nil},
		{"RFC 9110 §14.1.2 suffix range", "GET", []string{"Range: bytes=-3"}, 206, "hij", "bytes 17-19/20", nil},
		{"RFC 9110 §14.1.2 range past the end", "GET", []string{"Range: bytes=18-100"}, 206, "ij", "bytes 18-19/20", nil},
		{"RFC 9110 §14.6 several ranges", "GET", []string{"Range: bytes=0-1,5-6"}, 206, "", "", []string{"01", "56"}},
		{"RFC 9110 §15.5.17 unsatisfiable", "GET", []string{"Range: bytes=50-60"}, 416, "-", "bytes */20", nil},
		{"RFC 9110 §13.1.5 If-Range matching ETag", "GET", []string{"Range: bytes=0-3", "If-Range: " + etag}, 206, "0123", "bytes 0-3/20", nil},
		{"RFC 9110 §13.1.5 If-Range other ETag: whole", "GET", []string{"Range: bytes=0-3", `If-Range: "r0"`}, 200, body, "", nil},
		{"RFC 9110 §13.1.5 If-Range weak ETag: whole", "GET", []string{"Range: bytes=0-3", "If-Range: W/" + etag}, 200, body, "", nil},
		{"RFC 9110 §13.1.5 If-Range date", "GET", []string{"Range: bytes=0-3", "If-Range: " + lm.Format(http.TimeFormat)}, 206, "0123", "bytes 0-3/20", nil},
		{"RFC 9110 §14.2 not a byte range: whole", "GET", []string{"Range: items=0-3"}, 200, body, "", nil},
		{"RFC 9110 §14.1 range units are case-insensitive", "GET", []string{"Range: Bytes=0-3"}, 206, "0123", "bytes 0-3/20", nil},
		{"RFC 9110 §9.3.2 HEAD from the stored GET", "HEAD", nil, 200, "", "", nil},
		{"RFC 9110 §13.2.2 a failed precondition wins over Range", "GET", []string{"Range: bytes=0-3", `If-Match: "r0"`}, 412, "", "", nil},
		{"RFC 9110 §13.2.2 If-None-Match wins over Range", "GET", []string{"Range: bytes=0-3", "If-None-Match: " + etag}, 304, "", "", nil},
	}
	for _, tt := range tests {
		resp, got := h.do(tt.method, h.url, "/r", tt.headers...)
		if resp.StatusCode != tt.status || resp.Header.Get("X-Cache") != hit {
			t.Errorf("%s: status %d, X-Cache %q; want %d from the cache", tt.rule, resp.StatusCode, resp.Header.Get("X-Cache"), tt.status)
			continue
		}
		if tt.contentRange != "" && resp.Header.Get("Content-Range") != tt.contentRange {
			t.Errorf("%s: Content-Range %q, want %q", tt.rule, resp.Header.Get("Content-Range"), tt.contentRange)
		}
		if tt.parts == nil {
			if tt.body != "-" && got != tt.body {
				t.Errorf("%s: body %q, want %q", tt.rule, got, tt.body)
			}
			if tt.status == 206 && resp.Header.Get("Content-Length") != strconv.Itoa(len(tt.body)) {
				t.Errorf("%s: Content-Length %q", tt.rule, resp.Header.Get("Content-Length"))
			}
			continue
		}
		mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/byteranges" {
			t.Errorf("%s: Content-Type %q", tt.rule, resp.Header.Get("Content-Type"))
			continue
		}
		mr := multipart.NewReader(strings.NewReader(got), params["boundary"])
		for i, want := range tt.parts {
			p, err := mr.NextPart()
			if err != nil {
				t.Fatalf("%s: part %d: %v", tt.rule, i, err)
			}
			b, _ := io.ReadAll(p)
			if string(b) != want || p.Header.Get("Content-Type") != "text/plain" {
				t.Errorf("%s: part %d %q (%q), want %q (text/plain)", tt.rule, i, b, p.Header.Get("Content-Type"), want)
			}
		}
		if _, err := mr.NextPart(); err != io.EOF {
			t.Errorf("%s: more parts than %d", tt.rule, len(tt.parts))
		}
	}
	if got := h.originCount("/r"); got != 1 {
		t.Errorf("origin saw %d requests, want 1", got)
	}
}

// TestRangeMiss checks that a Range request with nothing stored goes to the
// origin as sent, that its 206 is not stored (only whole responses are),
// and that a whole 200 the origin sends instead is.
func TestRangeMiss(t *testing.T) {
	h := newHarness(t, 64<<20, defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=600")
		if r.URL.Path == "/whole" {
			io.WriteString(w, "whole body")
			return
		}
		if r.Header.Get("Range") != "bytes=0-3" {
			t.Errorf("origin got Range %q", r.Header.Get("Range"))
		}
		w.Header().Set("Content-Range", "bytes 0-3/100")
		w.WriteHeader(http.StatusPartialContent)
		io.WriteString(w, "0123")
	})
	runSteps(t, h, "RFC 9111 §3.3 (partial content is not stored)", []exchangeStep{
		{target: "/p", headers: []string{"Range: bytes=0-3"}, status: 206, body: "0123", cstatus: "portico; fwd=uri-miss; detail=partial", origin: 1},
		{target: "/p", headers: []string{"Range: bytes=0-3"}, status: 206, body: "0123", xcache: miss, origin: 2},
		{target: "/whole", headers: []string{"Range: bytes=0-3"}, body: "whole body", cstatus: "portico; fwd=uri-miss; stored", origin: 1},
		{target: "/whole", headers: []string{"Range: bytes=0-4"}, status: 206, body: "whole", xcache: hit, origin: 1},
	})
}

// TestTruncatedNeverStored checks that a body the viewer stopped reading
// is not stored (DG RequestAndResponseBehaviorCustomOrigin: CloudFront
// caches only whole objects). The origin sends the rest of the body only
// once the viewer has gone: however large the socket buffers, the viewer
// cannot have been sent all of it.
func TestTruncatedNeverStored(t *testing.T) {
	const size = 3 << 20
	viewerGone := make(chan struct{})
	h := newHarness(t, 64<<20, defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write(make([]byte, size/2))
		w.(http.Flusher).Flush()
		select {
		case <-viewerGone:
		case <-time.After(20 * time.Second): // a watchdog, not a speed check
		}
		w.Write(make([]byte, size-size/2))
	})
	done := make(chan struct{})
	handler := legacyHandler(h.cache, "TRUNCDIST", defaults(), h.proxy(defaults()))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		handler.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: a.example\r\n\r\n")
	buf := make([]byte, 4096)
	io.ReadAtLeast(c, buf, 1) // the response has begun
	c.Close()                 // with unread data: a reset
	close(viewerGone)
	select {
	case <-done:
	case <-time.After(20 * time.Second): // a watchdog, not a speed check
		t.Fatal("the handler did not finish")
	}
	if n := h.cache.Len(); n != 0 {
		t.Errorf("cache holds %d entries after the viewer went away, want 0", n)
	}
}
