package respheaders

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/httpcache"
	"github.com/portico-edge/portico/internal/origin"
	"github.com/portico-edge/portico/internal/testpki"
)

func serverTimingPolicy(t testing.TB, enabled bool, rate string) *Policy {
	t.Helper()
	st := &portico.ServerTimingHeadersConfig{Enabled: portico.Ptr(enabled)}
	if rate != "" {
		st.SamplingRate = portico.Ptr(rate)
	}
	return compile(t, portico.ResponseHeadersPolicyConfig{ServerTimingHeadersConfig: st})
}

// TestServerTimingSampling checks which responses get Server-Timing: the
// sampled share, and every request with Pragma: server-timing, even at a
// rate of 0 (DG understanding-response-headers-policies, "Sampling rate
// and Pragma request header").
func TestServerTimingSampling(t *testing.T) {
	const n = 2000
	for _, tt := range []struct {
		name     string
		enabled  bool
		rate     string
		pragma   string
		min, max int // responses of n with the header
	}{
		{"disabled", false, "100", "", 0, 0},
		{"disabled, asked", false, "100", "server-timing", 0, 0},
		{"rate 100", true, "100", "", n, n},
		{"rate 100.0000", true, "100.0000", "", n, n},
		{"rate 0", true, "0", "", 0, 0},
		{"no rate", true, "", "", 0, 0},
		{"rate 0, asked", true, "0", "server-timing", n, n},
		{"rate 0, asked in a list", true, "0", "no-cache, Server-Timing", n, n},
		{"rate 0, other pragma", true, "0", "no-cache", 0, 0},
		// Binomial(2000, 0.5): mean 1000, standard deviation 22.
		{"rate 50", true, "50", "", 800, 1200},
		// Binomial(2000, 0.001): mean 2; 40 is over 25 standard
		// deviations away.
		{"rate 0.1", true, "0.1", "", 0, 40},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := Wrap(serverTimingPolicy(t, tt.enabled, tt.rate), echoOrigin())
			got := 0
			for range n {
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				if tt.pragma != "" {
					req.Header.Set("Pragma", tt.pragma)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Header().Get("Server-Timing") != "" {
					got++
				}
			}
			if got < tt.min || got > tt.max {
				t.Errorf("%d of %d responses have Server-Timing, want %d to %d", got, n, tt.min, tt.max)
			}
		})
	}
}

// timingOrigin is an HTTPS origin that sends its own Server-Timing:
// /object may be cached for five minutes, /stale must be revalidated each
// time (and is, with a 304).
func timingOrigin(t *testing.T, ca *testpki.CA) *httptest.Server {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Server-Timing", "app;dur=12")
		h.Set("Etag", `"v1"`)
		switch r.URL.Path {
		case "/object":
			h.Set("Cache-Control", "max-age=300")
		default:
			h.Set("Cache-Control", "max-age=0")
			if r.Header.Get("If-None-Match") == `"v1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		fmt.Fprintf(w, "response %d", n.Add(1))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*ca.Issue(t, []string{"origin.test"}).TLSCertificate(t)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestServerTimingMetrics checks the Server-Timing header of a miss, a hit
// and a refresh through the real cache and origin proxy: CloudFront's
// metrics in the order of its examples, the origin's own value kept after
// the upstream metrics on a miss and a refresh and dropped on a hit, and
// durations that count from when the edge received the request (DG
// understanding-response-headers-policies, "Server-Timing header
// examples", "Server-Timing header from the origin").
func TestServerTimingMetrics(t *testing.T) {
	ca := testpki.NewCA(t, "origin CA")
	srv := timingOrigin(t, ca)
	log := slog.New(slog.DiscardHandler)
	tr := origin.NewTransports(ca.Pool(), log)
	tr.Resolve = func(string) string { return srv.Listener.Addr().String() }
	b := &portico.CacheBehavior{
		TargetOriginID: "o", ViewerProtocolPolicy: "allow-all",
		ForwardedValues: &portico.ForwardedValues{QueryString: portico.Ptr(false), Cookies: &portico.CookiePreference{Forward: "none"}},
	}
	pol, err := portico.ResolveBehavior(b, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := &portico.Origin{ID: "o", DomainName: "origin.test", CustomOriginConfig: &portico.CustomOriginConfig{HTTPPort: 80, HTTPSPort: 443, OriginProtocolPolicy: "https-only"}}
	proxy, err := origin.New(o, b, pol, tr, log)
	if err != nil {
		t.Fatal(err)
	}
	h := Wrap(serverTimingPolicy(t, true, "100"), httpcache.New(1<<20, log).Handler("D1", b, pol, proxy))

	const late = 40 * time.Millisecond // the request came this long ago
	upstream := `cdn-upstream-layer;desc="EDGE",cdn-upstream-dns;dur=0,cdn-upstream-connect;dur=\d+,cdn-upstream-fbl;dur=\d+,`
	edge := `,cdn-pop;desc="TST1-P2",cdn-rid;desc="rid-\d"`
	downstream := `,cdn-downstream-fbl;dur=(\d+)$`
	for i, step := range []struct {
		path, wantXCache string
		want             *regexp.Regexp
	}{
		{"/object", "Miss from portico", regexp.MustCompile(`^` + upstream + `app;dur=12,cdn-cache-miss` + edge + downstream)},
		{"/object", "Hit from portico", regexp.MustCompile(`^cdn-cache-hit` + edge + `,cdn-hit-layer;desc="EDGE"` + downstream)},
		{"/stale", "Miss from portico", regexp.MustCompile(`^` + upstream + `app;dur=12,cdn-cache-miss` + edge + downstream)},
		{"/stale", "RefreshHit from portico", regexp.MustCompile(`^` + upstream + `app;dur=12,cdn-cache-refresh` + edge + downstream)},
	} {
		info := &origin.RequestInfo{ID: fmt.Sprintf("rid-%d", i), Pop: "TST1-P2", Received: time.Now().Add(-late)}
		req := httptest.NewRequest(http.MethodGet, "https://d1.example"+step.path, nil)
		req = req.WithContext(origin.WithRequestInfo(req.Context(), info))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK || w.Header().Get("X-Cache") != step.wantXCache {
			t.Fatalf("step %d: %d %q, want 200 %q", i, w.Code, w.Header().Get("X-Cache"), step.wantXCache)
		}
		got := w.Header().Values("Server-Timing")
		if len(got) != 1 {
			t.Fatalf("step %d: Server-Timing %q, want one field line", i, got)
		}
		m := step.want.FindStringSubmatch(got[0])
		if m == nil {
			t.Errorf("step %d (%s): Server-Timing %q, want it to match %s", i, step.wantXCache, got[0], step.want)
			continue
		}
		var fbl int
		fmt.Sscan(m[1], &fbl)
		if fbl < int(late/time.Millisecond) {
			t.Errorf("step %d: cdn-downstream-fbl %d ms, want at least the %v since the request came", i, fbl, late)
		}
	}
}

// TestServerTimingUnsampledKeepsOrigin checks that a response not sampled
// keeps the origin's Server-Timing as it is.
func TestServerTimingUnsampledKeepsOrigin(t *testing.T) {
	h := Wrap(serverTimingPolicy(t, true, "0"), echoOrigin())
	req := httptest.NewRequest(http.MethodGet, "/?h=Server-Timing:app%3Bdur=3", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if got := w.Header().Values("Server-Timing"); len(got) != 1 || got[0] != "app;dur=3" {
		t.Errorf("Server-Timing %q, want the origin's", got)
	}
}

// TestServerTimingQuotesPop checks that a POP name that needs escaping
// makes a valid quoted-string.
func TestServerTimingQuotesPop(t *testing.T) {
	h := Wrap(serverTimingPolicy(t, true, "100"), echoOrigin())
	req := httptest.NewRequest(http.MethodGet, "/?h=X-Cache:Hit+from+portico", nil)
	req = req.WithContext(origin.WithRequestInfo(req.Context(), &origin.RequestInfo{ID: "id", Pop: "A\"B\\C\r\n"}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	want := regexp.MustCompile(`^cdn-cache-hit,cdn-pop;desc="A\\"B\\\\C",cdn-rid;desc="id",cdn-hit-layer;desc="EDGE",cdn-downstream-fbl;dur=\d+$`)
	if got := w.Header().Get("Server-Timing"); !want.MatchString(got) {
		t.Errorf("Server-Timing %q, want it to match %s", got, want)
	}
}

// TestServerTimingUnsampledDoesNotAllocate checks that a policy with
// Server-Timing costs a request that is not sampled nothing.
func TestServerTimingUnsampledDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop writers")
	}
	h := Wrap(serverTimingPolicy(t, true, "0"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Pragma", "no-cache")
	w := &nopWriter{h: make(http.Header)}
	h.ServeHTTP(w, req)
	if allocs := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, req) }); allocs != 0 {
		t.Errorf("a request not sampled costs %v allocations, want 0", allocs)
	}
}

func BenchmarkServerTimingSampled(b *testing.B) {
	h := Wrap(serverTimingPolicy(b, true, "100"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Cache"] = []string{"Hit from portico"}
		w.WriteHeader(http.StatusOK)
	}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req = req.WithContext(origin.WithRequestInfo(req.Context(), &origin.RequestInfo{ID: "id", Pop: "PTC1-P1", Received: time.Now()}))
	w := &nopWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

// FuzzPragma checks the Pragma parsing that makes a request ask for
// Server-Timing against a plain reading of the field: a comma-separated
// list whose members, trimmed, are compared without case.
func FuzzPragma(f *testing.F) {
	for _, s := range []string{"", "server-timing", "no-cache, Server-Timing", "server-timing=1", " SERVER-TIMING\t", ",,", "server-timingx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pragma string) {
		want := false
		for _, d := range strings.Split(pragma, ",") {
			if strings.EqualFold(strings.Trim(d, " \t"), "server-timing") {
				want = true
			}
		}
		if got := askedForServerTiming([]string{pragma}); got != want {
			t.Errorf("askedForServerTiming(%q) = %v, want %v", pragma, got, want)
		}
	})
}
