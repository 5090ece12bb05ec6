package httpcache

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/portico-edge/portico"
)

// text is a compressible body of n bytes.
func text(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %d of a text that compresses well.\n", i)
	}
	return b.String()[:n]
}

func decode(t *testing.T, coding string, body []byte) string {
	t.Helper()
	var r io.Reader
	switch coding {
	case "", "identity":
		return string(body)
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	default:
		t.Fatalf("unknown coding %q", coding)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", coding, err)
	}
	return string(out)
}

func compressing(fv *portico.ForwardedValues) *portico.CacheBehavior {
	b := behavior(0, 600, 6000, fv)
	b.Compress = portico.Ptr(true)
	return b
}

// TestCompression checks CloudFront's compression rules (DG
// ServingCompressedFiles) on a miss and on the hit that follows.
func TestCompression(t *testing.T) {
	body := text(5000)
	tests := []struct {
		name     string
		b        *portico.CacheBehavior
		header   map[string]string // of the origin's response; "Content-Length: -" for none
		status   int
		accept   string
		coding   string // "" for none
		etag     string // the viewer's ETag
		wantVary bool
	}{
		{"br preferred", nil, nil, 200, "gzip, deflate, br", "br", `W/"e1"`, true},
		{"gzip", nil, nil, 200, "gzip", "gzip", `W/"e1"`, true},
		{"br refused with q=0", nil, nil, 200, "br;q=0, gzip", "gzip", `W/"e1"`, true},
		{"no Accept-Encoding", nil, nil, 200, "", "", `"e1"`, true},
		{"deflate only", nil, nil, 200, "deflate", "", `"e1"`, true},
		{"404 compressed", nil, nil, 404, "gzip", "gzip", `W/"e1"`, true},
		{"403 compressed", nil, map[string]string{"Cache-Control": "max-age=60"}, 403, "gzip", "gzip", `W/"e1"`, true},
		{"500 not compressed", nil, nil, 500, "gzip", "", `"e1"`, false},
		{"type not in the list", nil, map[string]string{"Content-Type": "image/png"}, 200, "gzip", "", `"e1"`, false},
		{"type with parameters", nil, map[string]string{"Content-Type": "Text/HTML; charset=utf-8"}, 200, "gzip", "gzip", `W/"e1"`, true},
		{"already encoded", nil, map[string]string{"Content-Encoding": "gzip"}, 200, "gzip, br", "gzip-origin", `"e1"`, false},
		{"Content-Encoding identity", nil, map[string]string{"Content-Encoding": "identity"}, 200, "gzip", "identity", `"e1"`, false},
		{"no Content-Length", nil, map[string]string{"Content-Length": "-"}, 200, "gzip", "", `"e1"`, false},
		{"no-transform", nil, map[string]string{"Cache-Control": "max-age=60, no-transform"}, 200, "gzip", "", `"e1"`, false},
		{"weak ETag kept", nil, map[string]string{"Etag": `W/"w"`}, 200, "gzip", "gzip", `W/"w"`, true},
		{"invalid ETag dropped", nil, map[string]string{"Etag": "e1"}, 200, "gzip", "gzip", "", true},
		{"Compress off", behavior(0, 600, 6000, forwarded(false, "none")), nil, 200, "gzip", "", `"e1"`, false},
		{"Accept-Encoding whitelisted", compressing(forwarded(false, "none", "Accept-Encoding")), nil, 200, "gzip", "", `"e1"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.b
			if b == nil {
				b = compressing(forwarded(false, "none"))
			}
			h := newHarness(t, 64<<20, b, func(w http.ResponseWriter, r *http.Request, now time.Time) {
				w.Header().Set("Cache-Control", "max-age=600")
				w.Header().Set("Content-Type", "text/plain")
				w.Header().Set("Etag", `"e1"`)
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				payload := []byte(body)
				if tt.header["Content-Encoding"] == "gzip" {
					var zb bytes.Buffer
					zw := gzip.NewWriter(&zb)
					zw.Write(payload)
					zw.Close()
					payload = zb.Bytes()
					w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
				}
				if tt.header["Content-Length"] == "-" {
					w.Header().Del("Content-Length")
				}
				w.WriteHeader(tt.status)
				w.Write(payload)
			})
			var headers []string
			if tt.accept != "" {
				headers = append(headers, "Accept-Encoding: "+tt.accept)
			}
			for _, xc := range []string{miss, hit} {
				resp, got := h.get("/z", headers...)
				if resp.Header.Get("X-Cache") != xc {
					t.Errorf("X-Cache %q, want %q", resp.Header.Get("X-Cache"), xc)
				}
				ce := resp.Header.Get("Content-Encoding")
				want := tt.coding
				if want == "gzip-origin" {
					want = "gzip"
				}
				if ce != want {
					t.Fatalf("%s: Content-Encoding %q, want %q", xc, ce, want)
				}
				if decoded := decode(t, ce, []byte(got)); decoded != body {
					t.Errorf("%s: body of %d bytes does not decode to the origin's", xc, len(got))
				}
				if resp.Header.Get("Etag") != tt.etag {
					t.Errorf("%s: ETag %q, want %q", xc, resp.Header.Get("Etag"), tt.etag)
				}
				if vary := strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Accept-Encoding"); vary != tt.wantVary {
					t.Errorf("%s: Vary %q, want Accept-Encoding: %v", xc, resp.Header.Values("Vary"), tt.wantVary)
				}
				if xc == hit && resp.Header.Get("Content-Length") != strconv.Itoa(len(got)) {
					t.Errorf("hit: Content-Length %q for %d bytes", resp.Header.Get("Content-Length"), len(got))
				}
			}
		})
	}
}

// TestCompressionSizeLimits checks CloudFront's bounds: 1,000 to
// 10,000,000 bytes (DG ServingCompressedFiles). The upper bound is judged
// on Content-Length alone, without sending ten megabytes.
func TestCompressionSizeLimits(t *testing.T) {
	for _, tt := range []struct {
		length string
		want   bool
	}{{"999", false}, {"1000", true}, {"10000000", true}, {"10000001", false}, {"", false}, {"x", false}} {
		hd := http.Header{"Content-Type": {"text/html"}, "Content-Length": {tt.length}}
		if got := compressible(http.StatusOK, hd); got != tt.want {
			t.Errorf("compressible with Content-Length %q = %v, want %v", tt.length, got, tt.want)
		}
	}
	for _, tt := range []struct {
		size     int
		compress bool
	}{{999, false}, {1000, true}} {
		body := text(tt.size)
		h := newHarness(t, 64<<20, compressing(forwarded(false, "none")), func(w http.ResponseWriter, r *http.Request, now time.Time) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			io.WriteString(w, body)
		})
		resp, got := h.get("/s", "Accept-Encoding: gzip")
		if compressed := resp.Header.Get("Content-Encoding") == "gzip"; compressed != tt.compress {
			t.Errorf("%d bytes: compressed = %v, want %v", tt.size, compressed, tt.compress)
		}
		if decode(t, resp.Header.Get("Content-Encoding"), []byte(got)) != body {
			t.Errorf("%d bytes: body does not decode to the origin's", tt.size)
		}
	}
}

// TestCompressionKeyedByCoding checks that each coding is stored apart,
// under the normalised Accept-Encoding (DG controlling-the-cache-key), and
// that viewers spelling the same codings differently share an entry.
func TestCompressionKeyedByCoding(t *testing.T) {
	body := text(3000)
	h := newHarness(t, 64<<20, compressing(forwarded(false, "none")), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Content-Type", "text/css")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		io.WriteString(w, body)
	})
	runSteps(t, h, "DG ServingCompressedFiles; DG controlling-the-cache-key", []exchangeStep{
		{target: "/k", headers: []string{"Accept-Encoding: gzip"}, body: "-", xcache: miss, origin: 1},
		{target: "/k", headers: []string{"Accept-Encoding: gzip, deflate"}, body: "-", xcache: hit, origin: 1},
		{target: "/k", headers: []string{"Accept-Encoding: br, gzip"}, body: "-", xcache: miss, origin: 2},
		{target: "/k", headers: []string{"Accept-Encoding: gzip;q=0.5, br"}, body: "-", xcache: hit, origin: 2},
		{target: "/k", body: body, xcache: miss, origin: 3},
	})
}

// TestCompressedRevalidation checks that a compressed entry keeps its weak
// ETag and compressed body across a 304 that carries the origin's strong
// ETag (RFC 9111 §4.3.4 with DG ServingCompressedFiles), and that a viewer
// revalidating with the weak ETag gets a 304 (RFC 9110 §13.1.2).
func TestCompressedRevalidation(t *testing.T) {
	body := text(2000)
	h := newHarness(t, 64<<20, compressing(forwarded(false, "none")), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("Etag", `"c1"`)
		if inm := r.Header.Get("If-None-Match"); inm == `"c1"` || inm == `W/"c1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		io.WriteString(w, body)
	})
	h.expect("/c", miss, "", "Accept-Encoding: gzip")
	h.clock.advance(20 * time.Second)
	resp, got := h.get("/c", "Accept-Encoding: gzip")
	if resp.Header.Get("X-Cache") != refreshHit || resp.Header.Get("Etag") != `W/"c1"` || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("refreshed: X-Cache %q, ETag %q, Content-Encoding %q", resp.Header.Get("X-Cache"), resp.Header.Get("Etag"), resp.Header.Get("Content-Encoding"))
	}
	if decode(t, "gzip", []byte(got)) != body {
		t.Error("refreshed body does not decode to the origin's")
	}
	resp, _ = h.get("/c", "Accept-Encoding: gzip", `If-None-Match: W/"c1"`)
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the weak ETag: %d, want 304", resp.StatusCode)
	}
}

// TestCompressionHTTP10 checks that an HTTP/1.0 request is not compressed
// (DG ServingCompressedFiles, "Request uses HTTP 1.0").
func TestCompressionHTTP10(t *testing.T) {
	body := text(2000)
	h := newHarness(t, 64<<20, compressing(forwarded(false, "none")), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		io.WriteString(w, body)
	})
	c, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /old HTTP/1.0\r\nHost: a.example\r\nAccept-Encoding: gzip\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Encoding") != "" || string(got) != body {
		t.Errorf("HTTP/1.0: Content-Encoding %q, %d bytes", resp.Header.Get("Content-Encoding"), len(got))
	}
}

// TestCompressionWithoutCaching checks that responses the cache does not
// handle are compressed too (DG ServingCompressedFiles applies to every
// response of a behaviour with Compress): a POST's, and a GET's of a
// behaviour that forwards all headers.
func TestCompressionWithoutCaching(t *testing.T) {
	body := text(3000)
	for _, tt := range []struct {
		method string
		b      *portico.CacheBehavior
	}{
		{"POST", compressing(forwarded(false, "none"))},
		{"GET", compressing(forwarded(false, "none", "*"))},
	} {
		h := newHarness(t, 64<<20, tt.b, func(w http.ResponseWriter, r *http.Request, now time.Time) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Header().Set("Set-Cookie", "s=1")
			io.WriteString(w, body)
		})
		resp, got := h.do(tt.method, h.url, "/login", "Accept-Encoding: gzip, br")
		if resp.Header.Get("Content-Encoding") != "br" || decode(t, "br", []byte(got)) != body ||
			!strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
			t.Errorf("%s: Content-Encoding %q, Vary %q", tt.method, resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"))
		}
	}
}
