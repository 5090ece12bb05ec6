package httpcache

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/portico-edge/portico"
)

// TestErrorCaching checks how long origin errors are cached (DG
// HTTPStatusCodes, "HTTP 4xx and 5xx status codes that CloudFront caches";
// DG custom-error-pages-expiration): 404, 414, 500, 501, 502, 503 and 504
// always, 400, 403, 405, 412 and 415 only with s-maxage or max-age, each
// for the longer of its ErrorCachingMinTTL (10 s by default) and that,
// capped at MaxTTL; 416 and any other error never.
func TestErrorCaching(t *testing.T) {
	const rule = "DG HTTPStatusCodes; DG custom-error-pages-expiration"
	tests := []struct {
		status int
		cc     string
		errMin map[int]int64 // CustomErrorResponses: ErrorCachingMinTTL per code
		maxTTL int64
		fresh  time.Duration // 0: not stored
	}{
		{404, "", nil, 0, 10 * time.Second},
		{414, "", nil, 0, 10 * time.Second},
		{500, "", nil, 0, 10 * time.Second},
		{501, "", nil, 0, 10 * time.Second},
		{502, "", nil, 0, 10 * time.Second},
		{503, "", nil, 0, 10 * time.Second},
		{504, "", nil, 0, 10 * time.Second},
		{404, "max-age=60", nil, 0, 60 * time.Second},
		{404, "max-age=5", nil, 0, 10 * time.Second},
		{503, "s-maxage=30, max-age=5", nil, 0, 30 * time.Second},
		{404, "max-age=1000", nil, 100, 100 * time.Second},
		{400, "", nil, 0, 0},
		{403, "", nil, 0, 0},
		{405, "", nil, 0, 0},
		{412, "", nil, 0, 0},
		{415, "", nil, 0, 0},
		{400, "max-age=30", nil, 0, 30 * time.Second},
		{403, "max-age=5", nil, 0, 10 * time.Second},
		{405, "s-maxage=20", nil, 0, 20 * time.Second},
		{412, "max-age=30", nil, 0, 30 * time.Second},
		{415, "max-age=30", nil, 0, 30 * time.Second},
		{403, "", map[int]int64{403: 300}, 0, 0},
		{403, "max-age=30", map[int]int64{403: 300}, 0, 300 * time.Second},
		{503, "", map[int]int64{503: 60}, 0, 60 * time.Second},
		{404, "", map[int]int64{404: 0}, 0, 0},
		{404, "max-age=20", map[int]int64{404: 0}, 0, 20 * time.Second},
		{416, "max-age=60", nil, 0, 0},
		{401, "max-age=60", nil, 0, 0},
		{429, "max-age=60", nil, 0, 0},
		{505, "max-age=60", nil, 0, 0},
		{503, "no-store", nil, 0, 0},            // Portico: never stored, unlike CloudFront
		{500, "private, max-age=60", nil, 0, 0}, // likewise
		{404, "no-cache", nil, 0, 0},            // likewise
		{404, "max-age=60, stale-if-error=600", nil, 0, 60 * time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %s %v", tt.status, tt.cc, tt.errMin), func(t *testing.T) {
			maxTTL := tt.maxTTL
			if maxTTL == 0 {
				maxTTL = 31536000
			}
			b := behavior(0, 86400, maxTTL, forwarded(false, "none"))
			o := &versioned{}
			o.set(1, tt.status, map[string]string{"Cache-Control": tt.cc})
			h := newHarness(t, 64<<20, b, o.serve)
			var cer *portico.CustomErrorResponses
			if tt.errMin != nil {
				cer = &portico.CustomErrorResponses{}
				for code, ttl := range tt.errMin {
					cer.Items = append(cer.Items, portico.CustomErrorResponse{ErrorCode: code, ErrorCachingMinTTL: portico.Ptr(ttl)})
				}
				cer.Quantity = len(cer.Items)
			}
			h.url = h.serve(legacyHandler(h.cache, testScope, b, h.proxy(b), WithCustomErrorResponses(cer)))
			steps := []exchangeStep{{target: "/e", status: tt.status, body: "v1", xcache: miss, origin: 1}}
			if tt.fresh == 0 {
				steps = append(steps, exchangeStep{target: "/e", status: tt.status, body: "v1", xcache: miss, origin: 2})
			} else {
				steps = append(steps,
					exchangeStep{target: "/e", advance: tt.fresh - time.Second, status: tt.status, body: "v1", xcache: hit, origin: 1},
					exchangeStep{target: "/e", advance: 2 * time.Second, status: tt.status, body: "v1", xcache: miss, origin: 2})
			}
			runSteps(t, h, rule, steps)
		})
	}
}

// TestPorticoErrorsNeverCached checks that the 502 Portico answers for an
// origin it cannot reach is never stored, even where an origin's 502
// would be (DG HTTPStatusCodes caches origin errors, not the edge's own).
func TestPorticoErrorsNeverCached(t *testing.T) {
	h := newHarness(t, 64<<20, defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {})
	h.origin.Close()
	for i := range 3 {
		resp, _ := h.get("/down")
		if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("X-Cache") != errorXC ||
			resp.Header.Get("Cache-Status") != "portico; fwd=uri-miss; detail=origin-error" {
			t.Errorf("request %d: %d, X-Cache %q, Cache-Status %q; want Portico's 502, not stored", i,
				resp.StatusCode, resp.Header.Get("X-Cache"), resp.Header.Get("Cache-Status"))
		}
	}
	if n := h.cache.Len(); n != 0 {
		t.Errorf("cache holds %d entries, want 0", n)
	}
}
