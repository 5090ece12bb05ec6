package httpcache

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-edge/portico"
)

// exchangeStep is one request of a scripted exchange with a cache in front
// of a real origin, and what must come back.
type exchangeStep struct {
	method  string // "" for GET
	target  string
	headers []string
	advance time.Duration // clock advance before the request

	status  int    // 0: 200
	body    string // "-": any
	xcache  string // "": any
	cstatus string // Portico's Cache-Status member; "": any
	// origin is the number of origin requests for the target's path after
	// the step; -1: any.
	origin int
	check  func(t *testing.T, resp *http.Response)
}

// runSteps plays steps against h, naming rule in failures.
func runSteps(t *testing.T, h *harness, rule string, steps []exchangeStep) {
	t.Helper()
	for i, s := range steps {
		h.clock.advance(s.advance)
		method := s.method
		if method == "" {
			method = "GET"
		}
		resp, body := h.do(method, h.url, s.target, s.headers...)
		want := s.status
		if want == 0 {
			want = http.StatusOK
		}
		where := fmt.Sprintf("%s: step %d %s %s %q", rule, i, method, s.target, s.headers)
		if resp.StatusCode != want {
			t.Errorf("%s: status %d, want %d", where, resp.StatusCode, want)
		}
		if s.body != "-" && body != s.body {
			t.Errorf("%s: body %q, want %q", where, body, s.body)
		}
		if s.xcache != "" && resp.Header.Get("X-Cache") != s.xcache {
			t.Errorf("%s: X-Cache %q, want %q", where, resp.Header.Get("X-Cache"), s.xcache)
		}
		if cs := resp.Header.Values("Cache-Status"); s.cstatus != "" && (len(cs) == 0 || cs[len(cs)-1] != s.cstatus) {
			t.Errorf("%s: Cache-Status %q, want %q", where, cs, s.cstatus)
		}
		if path, _, _ := strings.Cut(s.target, "?"); s.origin >= 0 {
			if got := h.originCount(path); got != s.origin {
				t.Errorf("%s: origin saw %d requests, want %d", where, got, s.origin)
			}
		}
		if s.check != nil {
			s.check(t, resp)
		}
	}
}

// versioned is an origin whose object changes version on demand, with
// validators, and whose header fields a test sets.
type versioned struct {
	mu      sync.Mutex
	version int
	header  map[string]string
	status  int
	lastIMS string // last If-None-Match or If-Modified-Since seen
}

func (o *versioned) set(version int, status int, header map[string]string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.version, o.status, o.header = version, status, header
}

func (o *versioned) serve(w http.ResponseWriter, r *http.Request, now time.Time) {
	o.mu.Lock()
	version, status, header := o.version, o.status, o.header
	o.lastIMS = r.Header.Get("If-None-Match") + r.Header.Get("If-Modified-Since")
	o.mu.Unlock()
	for k, v := range header {
		if v != "" { // "": leave the field out
			w.Header().Set(k, v)
		}
	}
	etag := fmt.Sprintf(`"v%d"`, version)
	if status == 0 || status == http.StatusOK {
		if _, ok := header["Etag"]; !ok {
			w.Header().Set("Etag", etag)
		}
		lm := w.Header().Get("Last-Modified")
		if r.Header.Get("If-None-Match") == etag || (lm != "" && r.Header.Get("If-Modified-Since") == lm) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if status != 0 {
		w.WriteHeader(status)
	}
	fmt.Fprintf(w, "v%d", version)
}

// TestRevalidationRules checks when a stored response must be revalidated
// and what a 304 does to it.
func TestRevalidationRules(t *testing.T) {
	tests := []struct {
		name   string
		rule   string
		minTTL int64
		header map[string]string
		steps  []exchangeStep
	}{
		{"no-cache: stored, revalidated before every use", "RFC 9111 §5.2.2.4", 0, map[string]string{"Cache-Control": "no-cache"}, []exchangeStep{
			{target: "/r", body: "v1", xcache: miss, cstatus: "portico; fwd=uri-miss; stored", origin: 1},
			{target: "/r", body: "v1", xcache: refreshHit, cstatus: "portico; fwd=stale; fwd-status=304; stored", origin: 2},
			{target: "/r", body: "v1", xcache: refreshHit, origin: 3},
		}},
		{"no-cache without a validator: not stored", "RFC 9111 §5.2.2.4", 0, map[string]string{"Cache-Control": "no-cache", "Etag": ""}, []exchangeStep{
			{target: "/r", body: "v1", cstatus: "portico; fwd=uri-miss; detail=no-cache", origin: 1},
			{target: "/r", body: "v1", xcache: miss, origin: 2},
		}},
		{"no-cache at MinTTL > 0: kept MinTTL", "DG Expiration", 30, map[string]string{"Cache-Control": "no-cache"}, []exchangeStep{
			{target: "/r", body: "v1", xcache: miss, origin: 1},
			{target: "/r", advance: 20 * time.Second, body: "v1", xcache: hit, origin: 1},
		}},
		{"max-age=0 with a validator: stored, always revalidated", "RFC 9111 §4.2.4, §4.3", 0, map[string]string{"Cache-Control": "max-age=0"}, []exchangeStep{
			{target: "/r", body: "v1", cstatus: "portico; fwd=uri-miss; stored", origin: 1},
			{target: "/r", body: "v1", xcache: refreshHit, origin: 2},
		}},
		{"no heuristic freshness: Last-Modified alone gives none", "RFC 9111 §4.2.2 (heuristics off); DG Expiration (DefaultTTL 0)", 0, map[string]string{
			"Last-Modified": time.Now().Add(-240 * time.Hour).UTC().Format(http.TimeFormat), "Etag": ""}, []exchangeStep{
			{target: "/r", body: "v1", cstatus: "portico; fwd=uri-miss; stored", origin: 1},
			{target: "/r", advance: time.Second, body: "v1", xcache: refreshHit, origin: 2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &versioned{version: 1}
			o.set(1, 0, tt.header)
			h := newHarness(t, 64<<20, behavior(tt.minTTL, 0, 6000, forwarded(false, "none")), o.serve)
			runSteps(t, h, tt.rule, tt.steps)
		})
	}

	t.Run("304 updates the stored header fields", func(t *testing.T) {
		o := &versioned{}
		o.set(1, 0, map[string]string{"Cache-Control": "max-age=10", "X-Version": "1"})
		h := newHarness(t, 64<<20, defaults(), o.serve)
		h.expect("/u", miss, "v1")
		o.set(1, 0, map[string]string{"Cache-Control": "max-age=100", "X-Version": "2"})
		h.clock.advance(20 * time.Second)
		resp := h.expect("/u", refreshHit, "v1")
		if got := resp.Header.Get("X-Version"); got != "2" {
			t.Errorf("RFC 9111 §4.3.4: X-Version after the 304 = %q, want 2", got)
		}
		h.clock.advance(50 * time.Second)
		resp = h.expect("/u", hit, "v1") // fresh for the 304's max-age=100
		if got := resp.Header.Get("X-Version"); got != "2" {
			t.Errorf("RFC 9111 §4.3.4: X-Version of the refreshed entry = %q, want 2", got)
		}
	})
}

// TestStaleRules checks when a stale response may be served: RFC 5861
// stale-while-revalidate and stale-if-error, CloudFront's rule for origins
// it cannot reach, and the directives that forbid all of it.
func TestStaleRules(t *testing.T) {
	tests := []struct {
		name      string
		rule      string
		header    map[string]string
		failure   int // the origin's status once the entry is stale
		advance   time.Duration
		wantStale bool
	}{
		{"stale-if-error, 503", "RFC 5861 §4", map[string]string{"Cache-Control": "max-age=10, stale-if-error=60"}, 503, 30 * time.Second, true},
		{"stale-if-error, 500", "RFC 5861 §4", map[string]string{"Cache-Control": "max-age=10, stale-if-error=60"}, 500, 30 * time.Second, true},
		{"stale-if-error, 502", "RFC 5861 §4", map[string]string{"Cache-Control": "max-age=10, stale-if-error=60"}, 502, 30 * time.Second, true},
		{"stale-if-error, 504", "RFC 5861 §4", map[string]string{"Cache-Control": "max-age=10, stale-if-error=60"}, 504, 30 * time.Second, true},
		{"stale-if-error does not cover 404", "RFC 5861 §4", map[string]string{"Cache-Control": "max-age=10, stale-if-error=60"}, 404, 30 * time.Second, false},
		{"stale-if-error window over", "RFC 5861 §4", map[string]string{"Cache-Control": "max-age=10, stale-if-error=60"}, 503, 100 * time.Second, false},
		{"no stale-if-error: the origin's 503", "RFC 9111 §4.2.4", map[string]string{"Cache-Control": "max-age=10"}, 503, 30 * time.Second, false},
		{"must-revalidate forbids it", "RFC 9111 §5.2.2.2", map[string]string{"Cache-Control": "max-age=10, stale-if-error=60, must-revalidate"}, 503, 30 * time.Second, false},
		{"proxy-revalidate forbids it", "RFC 9111 §5.2.2.8", map[string]string{"Cache-Control": "max-age=10, stale-if-error=60, proxy-revalidate"}, 503, 30 * time.Second, false},
		{"s-maxage forbids it", "RFC 9111 §5.2.2.10", map[string]string{"Cache-Control": "s-maxage=10, stale-if-error=60"}, 503, 30 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &versioned{}
			o.set(1, 0, tt.header)
			h := newHarness(t, 64<<20, behavior(0, 0, 6000, forwarded(false, "none")), o.serve)
			h.expect("/s", miss, "v1")
			o.set(2, tt.failure, map[string]string{"Cache-Control": "no-store"})
			h.clock.advance(tt.advance)
			resp, body := h.get("/s")
			if tt.wantStale {
				want := fmt.Sprintf("portico; fwd=stale; fwd-status=%d; ttl=%d; detail=stale-if-error", tt.failure, -int(tt.advance/time.Second)+10)
				if resp.StatusCode != 200 || body != "v1" || resp.Header.Get("Cache-Status") != want || resp.Header.Get("X-Cache") != hit {
					t.Errorf("%s: %d %q, X-Cache %q, Cache-Status %q; want the stale v1 with %q", tt.rule, resp.StatusCode, body, resp.Header.Get("X-Cache"), resp.Header.Get("Cache-Status"), want)
				}
				// CloudFront then serves the stale object without asking
				// the origin for ErrorCachingMinTTL (DG HTTPStatusCodes).
				h.clock.advance(5 * time.Second)
				resp, body = h.get("/s")
				if body != "v1" || !strings.HasSuffix(resp.Header.Get("Cache-Status"), "detail=stale-if-error") || h.originCount("/s") != 2 {
					t.Errorf("in the error grace period: %q, Cache-Status %q, origin saw %d requests; want the stale v1 from the cache",
						body, resp.Header.Get("Cache-Status"), h.originCount("/s"))
				}
				return
			}
			if resp.StatusCode != tt.failure || body != "v2" {
				t.Errorf("%s: %d %q; want the origin's %d", tt.rule, resp.StatusCode, body, tt.failure)
			}
		})
	}
}

// TestStaleWhenOriginDown checks that when Portico cannot reach the origin
// at all, a stale object is served whatever its age, unless a directive
// forbids it (RFC 9111 §4.2.4 "disconnected"; DG HTTPStatusCodes, "Origin
// unavailable"), and that Portico's own 502 is never stored.
func TestStaleWhenOriginDown(t *testing.T) {
	for _, tt := range []struct {
		cc        string
		wantStale bool
	}{
		{"max-age=10", true},
		{"max-age=10, must-revalidate", false},
		{"no-cache", false},
	} {
		o := &versioned{}
		o.set(1, 0, map[string]string{"Cache-Control": tt.cc})
		h := newHarness(t, 64<<20, behavior(0, 0, 6000, forwarded(false, "none")), o.serve)
		h.get("/d")
		h.origin.CloseClientConnections()
		h.origin.Close()
		h.clock.advance(time.Hour)
		resp, body := h.get("/d")
		if tt.wantStale {
			if resp.StatusCode != 200 || body != "v1" || !strings.HasSuffix(resp.Header.Get("Cache-Status"), "detail=stale-if-error") {
				t.Errorf("%s: %d %q, Cache-Status %q; want the stale v1", tt.cc, resp.StatusCode, body, resp.Header.Get("Cache-Status"))
			}
			continue
		}
		if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("X-Cache") != errorXC {
			t.Errorf("%s: %d, X-Cache %q; want Portico's 502", tt.cc, resp.StatusCode, resp.Header.Get("X-Cache"))
		}
	}
}

// TestStaleWhileRevalidate checks RFC 5861 §3: within the window a stale
// response is served at once while exactly one background request
// refreshes it, however many requests come meanwhile.
func TestStaleWhileRevalidate(t *testing.T) {
	g := newGate()
	var refreshing atomic.Bool
	o := &versioned{}
	o.set(1, 0, map[string]string{"Cache-Control": "max-age=10, stale-while-revalidate=60"})
	h := newHarness(t, 64<<20, behavior(0, 0, 6000, forwarded(false, "none")), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		if refreshing.Load() {
			g.hold(r)
		}
		o.serve(w, r, now)
	})
	h.expect("/w", miss, "v1")
	o.set(2, 0, map[string]string{"Cache-Control": "max-age=10, stale-while-revalidate=60"})
	refreshing.Store(true)
	h.clock.advance(30 * time.Second)
	for range 5 {
		resp := h.expect("/w", hit, "v1")
		if got, want := resp.Header.Get("Cache-Status"), "portico; hit; ttl=-20; detail=stale-while-revalidate"; got != want {
			t.Errorf("Cache-Status %q, want %q", got, want)
		}
	}
	g.await(t)
	if got := h.originCount("/w"); got != 2 {
		t.Errorf("origin saw %d requests, want 2 (one background refresh)", got)
	}
	g.open()
	h.cache.Close() // waits for the background refresh
	if o.lastIMS != `"v1"` {
		t.Errorf("the background refresh sent validator %q, want the stored ETag", o.lastIMS)
	}
	h.expect("/w", hit, "v2")

	// Past the window: a synchronous revalidation.
	h.clock.advance(200 * time.Second)
	refreshing.Store(false)
	h.expect("/w", refreshHit, "v2")
}

// TestStaleWhileRevalidateForbidden checks that must-revalidate and no-cache
// forbid serving stale while revalidating (RFC 9111 §4.2.4).
func TestStaleWhileRevalidateForbidden(t *testing.T) {
	for _, cc := range []string{"max-age=10, stale-while-revalidate=60, must-revalidate", "s-maxage=10, stale-while-revalidate=60"} {
		o := &versioned{}
		o.set(1, 0, map[string]string{"Cache-Control": cc})
		h := newHarness(t, 64<<20, behavior(0, 0, 6000, forwarded(false, "none")), o.serve)
		h.expect("/w", miss, "v1")
		h.clock.advance(30 * time.Second)
		resp := h.expect("/w", refreshHit, "v1")
		if got := resp.Header.Get("Cache-Status"); strings.Contains(got, "stale-while-revalidate") {
			t.Errorf("%s: Cache-Status %q", cc, got)
		}
	}
}

// TestVary checks that one key holds one response per variant of the
// Vary'd request fields, selected by normalised value (RFC 9111 §4.1), and
// that a response varying on a field the key already holds needs none.
func TestVary(t *testing.T) {
	echo := func(vary string) respondFunc {
		return func(w http.ResponseWriter, r *http.Request, now time.Time) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Vary", vary)
			fmt.Fprintf(w, "tenant=%q ua=%q", r.Header.Get("X-Tenant"), r.Header.Get("User-Agent"))
		}
	}
	t.Run("secondary key", func(t *testing.T) {
		h := newHarness(t, 64<<20, defaults(), echo("X-Tenant"))
		runSteps(t, h, "RFC 9111 §4.1", []exchangeStep{
			{target: "/v", headers: []string{"X-Tenant: a"}, body: `tenant="a" ua="Amazon CloudFront"`, cstatus: "portico; fwd=uri-miss; stored", origin: 1},
			{target: "/v", headers: []string{"X-Tenant: b"}, body: `tenant="b" ua="Amazon CloudFront"`, cstatus: "portico; fwd=vary-miss; stored", origin: 2},
			{target: "/v", headers: []string{"X-Tenant: a"}, body: `tenant="a" ua="Amazon CloudFront"`, xcache: hit, origin: 2},
			{target: "/v", body: `tenant="" ua="Amazon CloudFront"`, cstatus: "portico; fwd=vary-miss; stored", origin: 3},
			{target: "/v", headers: []string{"X-Tenant: "}, body: "-", cstatus: "portico; fwd=vary-miss; stored", origin: 4},
			{target: "/v", body: `tenant="" ua="Amazon CloudFront"`, xcache: hit, origin: 4},
			{target: "/v", headers: []string{"X-Tenant: b"}, body: `tenant="b" ua="Amazon CloudFront"`, xcache: hit, origin: 4},
		})
		if n := h.cache.Len(); n != 4 {
			t.Errorf("cache holds %d entries, want 4 variants", n)
		}
	})
	t.Run("normalised values", func(t *testing.T) {
		h := newHarness(t, 64<<20, defaults(), echo("x-tenant"))
		runSteps(t, h, "RFC 9111 §4.1", []exchangeStep{
			{target: "/v", headers: []string{"X-Tenant: a, b"}, body: "-", xcache: miss, origin: 1},
			{target: "/v", headers: []string{"X-Tenant: a,b"}, body: "-", xcache: hit, origin: 1},
			{target: "/v", headers: []string{"X-Tenant: a", "X-Tenant: b"}, body: "-", xcache: hit, origin: 1},
			{target: "/v", headers: []string{"X-Tenant: b,a"}, body: "-", xcache: miss, origin: 2},
			{target: "/v", headers: []string{"X-Tenant: A,b"}, body: "-", xcache: miss, origin: 3},
		})
	})
	t.Run("User-Agent not forwarded: one entry", func(t *testing.T) {
		h := newHarness(t, 64<<20, defaults(), echo("User-Agent"))
		runSteps(t, h, "DG RequestAndResponseBehaviorCustomOrigin (User-Agent replaced)", []exchangeStep{
			{target: "/v", headers: []string{"User-Agent: a"}, body: `tenant="" ua="Amazon CloudFront"`, xcache: miss, origin: 1},
			{target: "/v", headers: []string{"User-Agent: b"}, body: `tenant="" ua="Amazon CloudFront"`, xcache: hit, origin: 1},
		})
	})
	t.Run("User-Agent whitelisted: in the key", func(t *testing.T) {
		h := newHarness(t, 64<<20, behavior(0, 600, 6000, forwarded(false, "none", "User-Agent")), echo("User-Agent"))
		runSteps(t, h, "DG header-caching", []exchangeStep{
			{target: "/v", headers: []string{"User-Agent: a"}, body: `tenant="" ua="a"`, xcache: miss, origin: 1},
			{target: "/v", headers: []string{"User-Agent: b"}, body: `tenant="" ua="b"`, cstatus: "portico; fwd=uri-miss; stored", origin: 2},
			{target: "/v", headers: []string{"User-Agent: a"}, body: `tenant="" ua="a"`, xcache: hit, origin: 2},
		})
	})
}

// TestViewerVary checks CloudFront's filtering of the Vary field sent to
// viewers: only Accept-Encoding, Cookie, User-Agent and forwarded header
// names survive (DG RequestAndResponseBehaviorCustomOrigin), on misses and
// hits alike.
func TestViewerVary(t *testing.T) {
	tests := []struct {
		fv   *portico.ForwardedValues
		vary string
		want string // "" for no Vary
	}{
		{forwarded(false, "none"), "X-Tenant", ""},
		{forwarded(false, "none"), "Accept-Encoding, X-Tenant, Cookie", "Accept-Encoding, Cookie"},
		{forwarded(false, "none", "Origin"), "origin, X-Tenant, user-agent", "origin, user-agent"},
		{forwarded(false, "none"), "Accept-Encoding,User-Agent", "Accept-Encoding,User-Agent"},
	}
	for _, tt := range tests {
		h := newHarness(t, 64<<20, behavior(0, 600, 6000, tt.fv), func(w http.ResponseWriter, r *http.Request, now time.Time) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Vary", tt.vary)
		})
		for _, xc := range []string{miss, hit} {
			resp := h.expect("/v", xc, "")
			if got := strings.Join(resp.Header.Values("Vary"), ", "); got != tt.want {
				t.Errorf("origin Vary %q, %s: viewer got Vary %q, want %q", tt.vary, xc, got, tt.want)
			}
		}
	}
}

// TestCollapseVary checks that a waiter whose Vary'd fields differ from the
// leader's does not get the leader's response.
func TestCollapseVary(t *testing.T) {
	g := newGate()
	h := newHarness(t, 64<<20, defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		if r.Header.Get("X-Tenant") == "a" {
			g.hold(r)
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "X-Tenant")
		io.WriteString(w, r.Header.Get("X-Tenant"))
	})
	leader := h.getAsync(t.Context(), "/cv", "X-Tenant: a")
	g.await(t)
	waiter := h.getAsync(t.Context(), "/cv", "X-Tenant: b")
	h.awaitWaiters(1)
	g.open()
	receive(t, leader)
	if r := receive(t, waiter); r.body != "b" || r.header.Get("Cache-Status") != "portico; fwd=uri-miss; stored; collapsed=?0" {
		t.Errorf("waiter got %q with Cache-Status %q; want its own variant", r.body, r.header.Get("Cache-Status"))
	}
}

// TestViewerConditionals checks that the cache answers viewers'
// conditional requests from a stored response (RFC 9111 §4.3.2, RFC 9110
// §13.2.2), except when the behaviour forwards cookies (DG Cookies).
func TestViewerConditionals(t *testing.T) {
	lm := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	before, after := lm.Add(-time.Minute).Format(http.TimeFormat), lm.Add(time.Minute).Format(http.TimeFormat)
	tests := []struct {
		rule    string
		headers []string
		status  int
	}{
		{"RFC 9110 §13.1.2 If-None-Match, strong tag", []string{`If-None-Match: "v1"`}, 304},
		{"RFC 9110 §13.1.2 If-None-Match, weak comparison", []string{`If-None-Match: W/"v1"`}, 304},
		{"RFC 9110 §13.1.2 If-None-Match, list", []string{`If-None-Match: "a", "v1"`}, 304},
		{"RFC 9110 §13.1.2 If-None-Match, tag with a comma", []string{`If-None-Match: "a,v1"`}, 200},
		{"RFC 9110 §13.1.2 If-None-Match *", []string{`If-None-Match: *`}, 304},
		{"RFC 9110 §13.1.2 If-None-Match, other tag", []string{`If-None-Match: "v2"`}, 200},
		{"RFC 9110 §13.1.3 If-Modified-Since, not modified", []string{"If-Modified-Since: " + after}, 304},
		{"RFC 9110 §13.1.3 If-Modified-Since, modified", []string{"If-Modified-Since: " + before}, 200},
		{"RFC 9110 §13.1.3 If-None-Match wins over If-Modified-Since", []string{`If-None-Match: "v2"`, "If-Modified-Since: " + after}, 200},
		{"RFC 9110 §13.1.1 If-Match, other tag", []string{`If-Match: "v2"`}, 412},
		{"RFC 9110 §13.1.1 If-Match, same tag", []string{`If-Match: "v1"`}, 200},
		{"RFC 9110 §13.1.1 If-Match, weak tag never matches", []string{`If-Match: W/"v1"`}, 412},
		{"RFC 9110 §13.1.4 If-Unmodified-Since, modified since", []string{"If-Unmodified-Since: " + before}, 412},
		{"RFC 9110 §13.1.4 If-Unmodified-Since, not modified", []string{"If-Unmodified-Since: " + after}, 200},
	}
	for _, cookies := range []string{"none", "all"} {
		h := newHarness(t, 64<<20, behavior(0, 600, 6000, forwarded(false, cookies)), func(w http.ResponseWriter, r *http.Request, now time.Time) {
			w.Header().Set("Cache-Control", "max-age=600")
			w.Header().Set("Etag", `"v1"`)
			w.Header().Set("Last-Modified", lm.Format(http.TimeFormat))
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "body")
		})
		h.expect("/c", miss, "body")
		for _, tt := range tests {
			resp, body := h.get("/c", tt.headers...)
			want, wantBody := tt.status, ""
			if cookies == "all" || want == 200 {
				want, wantBody = 200, "body"
			}
			if resp.StatusCode != want || body != wantBody || resp.Header.Get("X-Cache") != hit {
				t.Errorf("cookies %s, %s: %d %q, X-Cache %q; want %d %q from the cache", cookies, tt.rule, resp.StatusCode, body, resp.Header.Get("X-Cache"), want, wantBody)
			}
			if want == 304 && (resp.Header.Get("Etag") != `"v1"` || resp.Header.Get("Content-Type") != "" || resp.Header.Get("Content-Length") != "") {
				t.Errorf("%s: 304 with Etag %q, Content-Type %q, Content-Length %q; want the validator and no body fields (RFC 9110 §15.4.5)",
					tt.rule, resp.Header.Get("Etag"), resp.Header.Get("Content-Type"), resp.Header.Get("Content-Length"))
			}
		}
		if got := h.originCount("/c"); got != 1 {
			t.Errorf("cookies %s: origin saw %d requests, want 1", cookies, got)
		}
	}
}

// TestViewerConditionalOnMiss checks that on a miss the cache asks the
// origin for the full response, stores it, and answers the viewer's
// precondition itself (RFC 9111 §4.3.2).
func TestViewerConditionalOnMiss(t *testing.T) {
	h := newHarness(t, 64<<20, defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		if r.Header.Get("If-None-Match") != "" {
			t.Errorf("the origin got If-None-Match %q on a miss", r.Header.Get("If-None-Match"))
		}
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Etag", `"v1"`)
		io.WriteString(w, "body")
	})
	resp, body := h.get("/m", `If-None-Match: "v1"`)
	if resp.StatusCode != 304 || body != "" || resp.Header.Get("Cache-Status") != "portico; fwd=uri-miss; fwd-status=200; stored" {
		t.Errorf("conditional miss: %d %q, Cache-Status %q; want a 304", resp.StatusCode, body, resp.Header.Get("Cache-Status"))
	}
	h.expect("/m", hit, "body")
}

// TestUnsafeMethodsInvalidate checks RFC 9111 §4.4: a non-error response to
// an unsafe method invalidates the target URI, and the same-host URIs in
// Location and Content-Location, every variant.
func TestUnsafeMethodsInvalidate(t *testing.T) {
	tests := []struct {
		name        string
		method      string
		status      int
		location    string // Location of the unsafe response
		contentLoc  string
		invalidated []string // of /a, /b, /c?x=1
	}{
		{"POST 200 invalidates its URI", "POST", 200, "", "", []string{"/a"}},
		{"PUT 201", "PUT", 201, "", "", []string{"/a"}},
		{"PATCH 204", "PATCH", 204, "", "", []string{"/a"}},
		{"DELETE 200", "DELETE", 200, "", "", []string{"/a"}},
		{"POST 303 with Location", "POST", 303, "/b", "", []string{"/a", "/b"}},
		{"Location with a query, absolute, same host", "POST", 201, "http://a.example/c?x=1", "", []string{"/a", "/c?x=1"}},
		{"Content-Location", "POST", 200, "", "b", []string{"/a", "/b"}},
		{"Location on another host", "POST", 201, "https://other.example/b", "", []string{"/a"}},
		{"error response invalidates nothing", "POST", 500, "/b", "", nil},
		{"404 invalidates nothing", "DELETE", 404, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 64<<20, behavior(0, 600, 6000, forwarded(true, "all")), func(w http.ResponseWriter, r *http.Request, now time.Time) {
				if r.Method != "GET" {
					if tt.location != "" {
						w.Header().Set("Location", tt.location)
					}
					if tt.contentLoc != "" {
						w.Header().Set("Content-Location", tt.contentLoc)
					}
					w.WriteHeader(tt.status)
					return
				}
				w.Header().Set("Cache-Control", "max-age=600")
				io.WriteString(w, r.URL.String())
			})
			targets := []string{"/a", "/b", "/c?x=1"}
			for _, tg := range targets {
				h.do("GET", h.url, tg, "Host: a.example")
				h.do("GET", h.url, tg, "Host: a.example", "Cookie: v=2") // another variant
			}
			resp, _ := h.do(tt.method, h.url, "/a", "Host: a.example")
			if got := resp.Header.Get("Cache-Status"); got != "portico; fwd=bypass; detail=method" {
				t.Errorf("%s: Cache-Status %q", tt.method, got)
			}
			for _, tg := range targets {
				for _, variant := range [][]string{{"Host: a.example"}, {"Host: a.example", "Cookie: v=2"}} {
					resp, _ := h.do("GET", h.url, tg, variant...)
					gone := resp.Header.Get("X-Cache") == miss
					if want := contains(tt.invalidated, tg); gone != want {
						t.Errorf("RFC 9111 §4.4: after %s %d, %s %q invalidated = %v, want %v", tt.method, tt.status, tg, variant, gone, want)
					}
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestQualifiedDirectives checks that no-cache="…" and private="…" store the
// response without the named fields (RFC 9111 §5.2.2.4, §5.2.2.7; for
// Set-Cookie, what CloudFront does with no-cache="Set-Cookie", DG Cookies).
func TestQualifiedDirectives(t *testing.T) {
	for _, cc := range []string{`max-age=60, no-cache="Set-Cookie, X-User"`, `max-age=60, private="set-cookie,x-user"`} {
		h := newHarness(t, 64<<20, behavior(0, 600, 6000, forwarded(false, "all")), func(w http.ResponseWriter, r *http.Request, now time.Time) {
			w.Header().Set("Cache-Control", cc)
			w.Header().Set("Set-Cookie", "session=secret")
			w.Header().Set("X-User", "alice")
			w.Header().Set("X-Shared", "yes")
			io.WriteString(w, "page")
		})
		first := h.expect("/q", miss, "page")
		if first.Header.Get("Set-Cookie") == "" || first.Header.Get("X-User") == "" {
			t.Errorf("%s: the requester lost its own fields", cc)
		}
		second := h.expect("/q", hit, "page")
		if second.Header.Get("Set-Cookie") != "" || second.Header.Get("X-User") != "" || second.Header.Get("X-Shared") != "yes" {
			t.Errorf("%s: a hit carries Set-Cookie %q, X-User %q, X-Shared %q", cc, second.Header.Get("Set-Cookie"), second.Header.Get("X-User"), second.Header.Get("X-Shared"))
		}
	}
}

// TestSoftPurge checks that a soft purge marks entries stale: they are
// served while one background request revalidates them, or revalidated
// first when a directive forbids serving them stale.
func TestSoftPurge(t *testing.T) {
	for _, tt := range []struct {
		cc     string
		xcache string
	}{
		{"max-age=600", hit},
		{"max-age=600, must-revalidate", refreshHit},
	} {
		o := &versioned{}
		o.set(1, 0, map[string]string{"Cache-Control": tt.cc})
		h := newHarness(t, 64<<20, defaults(), o.serve)
		h.expect("/p", miss, "v1")
		h.cache.SoftPurge(testScope, "/p*")
		resp := h.expect("/p", tt.xcache, "v1")
		h.cache.Close()
		if got := h.originCount("/p"); got != 2 || o.lastIMS != `"v1"` {
			t.Errorf("%s: origin saw %d requests, the last with validator %q; want one revalidation", tt.cc, got, o.lastIMS)
		}
		if tt.xcache == hit && !strings.HasSuffix(resp.Header.Get("Cache-Status"), "detail=stale-while-revalidate") {
			t.Errorf("%s: Cache-Status %q", tt.cc, resp.Header.Get("Cache-Status"))
		}
		h.expect("/p", hit, "v1")
		if got := h.originCount("/p"); got != 2 {
			t.Errorf("%s: after the revalidation origin saw %d requests, want 2", tt.cc, got)
		}
	}
}
