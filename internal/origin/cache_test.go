package origin_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/httpcache"
)

// TestCacheNeverStoresBrokenBody runs the real cache in front of the Proxy
// and checks that a cacheable response whose body breaks off is not
// stored, so that the next viewer's request goes to the origin again,
// while the same response arriving whole is.
func TestCacheNeverStoresBrokenBody(t *testing.T) {
	const cacheable = "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\n"
	lengthHead := cacheable + "Content-Length: " + strconv.Itoa(promiseLen) + "\r\n\r\n"
	chunkedHead := cacheable + "Transfer-Encoding: chunked\r\n\r\n"
	part := strings.Repeat("a", partLen)
	chunk := strconv.FormatInt(partLen, 16) + "\r\n" + part + "\r\n"
	whole := func(_ *scriptedOrigin, c *tls.Conn) bool {
		io.WriteString(c, cacheable+"Content-Length: 5\r\n\r\nwhole")
		return true
	}
	tests := []struct {
		name   string
		first  script // the origin's answer to the first request
		read   int    // OriginReadTimeout; 0 for CloudFront's default
		stored bool
	}{
		{"whole response", whole, 0, true},
		{"reset in the body (Content-Length)", breakBody(lengthHead, part, resetConn), 0, false},
		{"reset in the body (chunked)", breakBody(chunkedHead, chunk, resetConn), 0, false},
		{"closed short of the Content-Length", breakBody(lengthHead, part, closeConn), 0, false},
		{"gap in the body past the read timeout", breakBody(chunkedHead, chunk, stallConn), 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ca := newTestCA(t)
			var requests atomic.Int32
			o := answering(func(o *scriptedOrigin, c *tls.Conn) bool {
				if requests.Add(1) == 1 {
					return tt.first(o, c)
				}
				return whole(o, c)
			})(t, ca)
			close(o.viewerHasHeaders) // the cache reads the headers at once
			cfg := originConfig()
			if tt.read > 0 {
				cfg.CustomOriginConfig.OriginReadTimeout = portico.Ptr(tt.read)
			}
			p, err := newProxy(cfg, behavior(forwarded(false, nil)), newTransports(ca, o.addr, nil), nil)
			if err != nil {
				t.Fatal(err)
			}
			c := httpcache.New(1<<20, nil)
			b := behavior(forwarded(false, nil))
			e := httptest.NewServer(c.Handler("dist", b, legacyPolicy(b), p))
			e.Config.ErrorLog = quiet
			t.Cleanup(e.Close)

			resp, err := viewer.RoundTrip(newRequest(t, "GET", e.URL+"/logo.png", nil))
			if err != nil {
				t.Fatal(err)
			}
			_, readErr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tt.stored != (readErr == nil) {
				t.Fatalf("the viewer read the first response with error %v", readErr)
			}
			if got, want := c.Len(), map[bool]int{true: 1, false: 0}[tt.stored]; got != want {
				t.Errorf("the cache holds %d entries, want %d", got, want)
			}
			second, body := do(t, newRequest(t, "GET", e.URL+"/logo.png", nil))
			if second.StatusCode != http.StatusOK || string(body) != "whole" {
				t.Errorf("second request: %d %q, want 200 whole", second.StatusCode, body)
			}
			if got, want := int(requests.Load()), map[bool]int{true: 1, false: 2}[tt.stored]; got != want {
				t.Errorf("the origin got %d requests, want %d", got, want)
			}
		})
	}
}
