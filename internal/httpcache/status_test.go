package httpcache

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portico-edge/portico"
)

// TestCacheStatus checks the RFC 9211 Cache-Status member that Portico adds
// to every response next to X-Cache: a hit with its remaining freshness, or
// why the request went forward (§2.2 fwd), whether the response was stored
// (§2.5), the origin's status when it differs (§2.3), and why not stored or
// bypassed (§2.8 detail).
func TestCacheStatus(t *testing.T) {
	type step struct {
		method  string // "" for GET
		target  string
		headers []string
		advance time.Duration // before the request
		want    string        // Portico's Cache-Status member
		xcache  string
	}
	etagged := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Etag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "body")
	}
	header := func(kv ...string) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i < len(kv); i += 2 {
				w.Header().Set(kv[i], kv[i+1])
			}
			io.WriteString(w, "body")
		}
	}
	tests := []struct {
		name   string
		fv     *portico.ForwardedValues
		origin func(w http.ResponseWriter, r *http.Request)
		steps  []step
	}{
		{"miss, hit, ttl counts down", nil, header("Cache-Control", "max-age=60"), []step{
			{target: "/a", want: "portico; fwd=uri-miss; stored", xcache: miss},
			{target: "/a", want: "portico; hit; ttl=60", xcache: hit},
			{target: "/a", advance: 15 * time.Second, want: "portico; hit; ttl=45", xcache: hit},
		}},
		{"stale, revalidated with a 304", nil, etagged, []step{
			{target: "/a", want: "portico; fwd=uri-miss; stored", xcache: miss},
			{target: "/a", advance: 61 * time.Second, want: "portico; fwd=stale; fwd-status=304; stored", xcache: refreshHit},
			{target: "/a", want: "portico; hit; ttl=60", xcache: hit},
		}},
		{"stale without validators, replaced", nil, header("Cache-Control", "max-age=60"), []step{
			{target: "/a", want: "portico; fwd=uri-miss; stored", xcache: miss},
			{target: "/a", advance: 61 * time.Second, want: "portico; fwd=stale; stored", xcache: miss},
		}},
		{"Set-Cookie not stored", forwarded(false, "all"), header("Cache-Control", "max-age=60", "Set-Cookie", "s=1"), []step{
			{target: "/a", want: "portico; fwd=uri-miss; detail=set-cookie", xcache: miss},
		}},
		{"private not stored", nil, header("Cache-Control", "private, max-age=60"), []step{
			{target: "/a", want: "portico; fwd=uri-miss; detail=private", xcache: miss},
		}},
		{"no-store not stored", nil, header("Cache-Control", "no-store"), []step{
			{target: "/a", want: "portico; fwd=uri-miss; detail=no-store", xcache: miss},
		}},
		{"Vary * not stored", nil, header("Vary", "*"), []step{
			{target: "/a", want: "portico; fwd=uri-miss; detail=vary-star", xcache: miss},
		}},
		{"status not cached", nil, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusConflict) }, []step{
			{target: "/a", want: "portico; fwd=uri-miss; detail=status", xcache: miss},
		}},
		{"method bypasses", nil, header("Cache-Control", "max-age=60"), []step{
			{method: "POST", target: "/a", want: "portico; fwd=bypass; detail=method", xcache: miss},
			{method: "OPTIONS", target: "/a", want: "portico; fwd=bypass; detail=method", xcache: miss},
		}},
		{"all headers forwarded: policy bypass", forwarded(false, "none", "*"), header("Cache-Control", "max-age=60"), []step{
			{target: "/a", want: "portico; fwd=bypass; detail=policy", xcache: miss},
		}},
		{"Authorization outside the key bypasses", nil, header("Cache-Control", "max-age=60"), []step{
			{target: "/a", headers: []string{"Authorization: Bearer x"}, want: "portico; fwd=bypass; detail=authorization", xcache: miss},
		}},
		{"HEAD miss not stored", nil, header("Cache-Control", "max-age=60"), []step{
			{method: "HEAD", target: "/a", want: "portico; fwd=uri-miss; detail=head", xcache: miss},
			{target: "/a", want: "portico; fwd=uri-miss; stored", xcache: miss},
			{method: "HEAD", target: "/a", want: "portico; hit; ttl=60", xcache: hit},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fv := tt.fv
			if fv == nil {
				fv = forwarded(false, "none")
			}
			h := newHarness(t, 64<<20, behavior(0, 600, 6000, fv), func(w http.ResponseWriter, r *http.Request, now time.Time) {
				tt.origin(w, r)
			})
			for i, s := range tt.steps {
				h.clock.advance(s.advance)
				method := s.method
				if method == "" {
					method = "GET"
				}
				resp, _ := h.do(method, h.url, s.target, s.headers...)
				if got := resp.Header.Values("Cache-Status"); len(got) != 1 || got[0] != s.want {
					t.Errorf("step %d %s %s: Cache-Status %q, want %q", i, method, s.target, got, s.want)
				}
				if got := resp.Header.Get("X-Cache"); got != s.xcache {
					t.Errorf("step %d %s %s: X-Cache %q, want %q", i, method, s.target, got, s.xcache)
				}
			}
		})
	}
}

// TestCacheStatusAfterUpstream checks that Portico's member comes after
// those of the caches behind it, on a miss and on a hit (RFC 9211 §2).
func TestCacheStatusAfterUpstream(t *testing.T) {
	h := newHarness(t, 64<<20, defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Cache-Status", "upstream; fwd=uri-miss")
		io.WriteString(w, "x")
	})
	for _, want := range []string{"upstream; fwd=uri-miss|portico; fwd=uri-miss; stored", "upstream; fwd=uri-miss|portico; hit; ttl=60"} {
		resp, _ := h.get("/u")
		if got := strings.Join(resp.Header.Values("Cache-Status"), "|"); got != want {
			t.Errorf("Cache-Status %q, want %q", got, want)
		}
	}
}

// TestCacheStatusCollapsed checks the collapsed parameter (RFC 9211 §2.6):
// a waiter answered with the leader's response has it, a waiter that had to
// go forward itself has collapsed=?0.
func TestCacheStatusCollapsed(t *testing.T) {
	for _, private := range []bool{false, true} {
		g := newGate()
		h := newHarness(t, 64<<20, behavior(0, 600, 6000, forwarded(false, "all")), func(w http.ResponseWriter, r *http.Request, now time.Time) {
			if r.Header.Get("X-Test-Id") == "leader" {
				g.hold(r)
			}
			w.Header().Set("Cache-Control", "max-age=60")
			if private {
				w.Header().Set("Set-Cookie", "s=1")
			}
			io.WriteString(w, "x")
		})
		leader := h.getAsync(t.Context(), "/c", "X-Test-Id: leader")
		g.await(t)
		waiter := h.getAsync(t.Context(), "/c")
		h.awaitWaiters(1)
		g.open()
		receive(t, leader)
		want := "portico; fwd=uri-miss; collapsed"
		if private {
			want = "portico; fwd=uri-miss; collapsed=?0; detail=set-cookie"
		}
		if got := receive(t, waiter).header.Get("Cache-Status"); got != want {
			t.Errorf("private %v: waiter's Cache-Status %q, want %q", private, got, want)
		}
	}
}

// TestCacheStatusOriginDown checks the member of Portico's own error page
// for an origin it cannot reach.
func TestCacheStatusOriginDown(t *testing.T) {
	h := newHarness(t, 64<<20, defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	url := h.serve(legacyHandler(h.cache, "DOWNDIST", defaults(), h.proxyTo(defaults(), dead)))
	resp, _ := h.do("GET", url, "/")
	if got, want := resp.Header.Get("Cache-Status"), "portico; fwd=uri-miss; detail=origin-error"; got != want {
		t.Errorf("Cache-Status %q, want %q", got, want)
	}
}

func TestTTLSeconds(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int64
	}{
		{0, 0}, {time.Second, 1}, {1500 * time.Millisecond, 1}, {-time.Second, -1}, {-500 * time.Millisecond, -1}, {-1500 * time.Millisecond, -2},
	}
	for _, tt := range tests {
		if got := ttlSeconds(tt.d); got != tt.want {
			t.Errorf("ttlSeconds(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}
