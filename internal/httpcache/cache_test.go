package httpcache

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-edge/portico"
)

func TestHitMiss(t *testing.T) {
	h := newHarness(t, 64<<20, defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "v1")
	})
	resp := h.expect("/a", miss, "v1")
	if resp.Header.Get("Age") != "" {
		t.Errorf("a miss carries Age %q", resp.Header.Get("Age"))
	}
	resp = h.expect("/a", hit, "v1")
	if got := resp.Header.Get("Age"); got != "0" {
		t.Errorf("Age = %q, want 0", got)
	}
	h.clock.advance(10 * time.Second)
	resp = h.expect("/a", hit, "v1")
	if got := resp.Header.Get("Age"); got != "10" {
		t.Errorf("Age = %q, want 10", got)
	}
	if got := resp.Header.Get("Content-Type"); got != "text/plain" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := h.originCount("/a"); got != 1 {
		t.Errorf("origin saw %d requests, want 1", got)
	}
	if h.cache.Len() != 1 || h.cache.Size() <= 0 {
		t.Errorf("cache holds %d entries of %d bytes", h.cache.Len(), h.cache.Size())
	}
}

// TestTTLRules checks each rule of CloudFront's TTL computation (DG
// Expiration, "how CloudFront chooses TTL") and RFC 9111 freshness: a first
// GET fills the cache, the clock moves, a second GET is a hit or a miss.
func TestTTLRules(t *testing.T) {
	const day, year = 86400, 31536000
	tests := []struct {
		name          string
		rule          string
		min, def, max int64
		status        int
		header        map[string]string // "Date" is relative: a number of seconds before now
		advance       time.Duration
		wantHit       bool
	}{
		{"max-age, fresh", "DG Expiration; RFC 9111 §5.2.2.1", 0, day, year, 200, map[string]string{"Cache-Control": "max-age=100"}, 90 * time.Second, true},
		{"max-age, stale", "DG Expiration; RFC 9111 §5.2.2.1", 0, day, year, 200, map[string]string{"Cache-Control": "max-age=100"}, 110 * time.Second, false},
		{"s-maxage wins over max-age", "DG Expiration; RFC 9111 §5.2.2.10", 0, day, year, 200, map[string]string{"Cache-Control": "max-age=500, s-maxage=50"}, 60 * time.Second, false},
		{"s-maxage, fresh", "DG Expiration; RFC 9111 §5.2.2.10", 0, day, year, 200, map[string]string{"Cache-Control": "max-age=5, s-maxage=50"}, 40 * time.Second, true},
		{"max-age wins over Expires", "DG Expiration; RFC 9111 §5.3", 0, day, year, 200, map[string]string{"Cache-Control": "max-age=50", "Expires": "+1000"}, 60 * time.Second, false},
		{"Expires relative to Date, fresh", "RFC 9111 §4.2.1, §4.2.3 (apparent age)", 0, day, year, 200, map[string]string{"Date": "100", "Expires": "+200"}, 90 * time.Second, true},
		{"Expires relative to Date, stale", "RFC 9111 §4.2.1, §4.2.3 (apparent age)", 0, day, year, 200, map[string]string{"Date": "100", "Expires": "+200"}, 110 * time.Second, false},
		{"invalid Expires is expired", "RFC 9111 §5.3", 0, day, year, 200, map[string]string{"Expires": "0"}, 0, false},
		{"no headers: DefaultTTL, fresh", "DG Expiration", 0, 300, year, 200, nil, 290 * time.Second, true},
		{"no headers: DefaultTTL, stale", "DG Expiration", 0, 300, year, 200, nil, 310 * time.Second, false},
		{"MaxTTL caps max-age", "DG Expiration", 0, 50, 100, 200, map[string]string{"Cache-Control": "max-age=1000"}, 110 * time.Second, false},
		{"MinTTL raises max-age", "DG Expiration", 100, 200, 1000, 200, map[string]string{"Cache-Control": "max-age=10"}, 50 * time.Second, true},
		{"max-age=0 not stored", "DG Expiration", 0, day, year, 200, map[string]string{"Cache-Control": "max-age=0"}, 0, false},
		{"invalid max-age is stale", "RFC 9111 §4.2.1", 0, day, year, 200, map[string]string{"Cache-Control": "max-age=soon"}, 0, false},
		{"no-cache at MinTTL 0 not stored", "DG Expiration", 0, day, year, 200, map[string]string{"Cache-Control": "no-cache"}, 0, false},
		{"no-cache at MinTTL > 0 kept MinTTL, fresh", "DG Expiration", 60, day, year, 200, map[string]string{"Cache-Control": "no-cache"}, 50 * time.Second, true},
		{"no-cache at MinTTL > 0 kept MinTTL, stale", "DG Expiration", 60, day, year, 200, map[string]string{"Cache-Control": "no-cache"}, 70 * time.Second, false},
		{"origin Age counts, stale", "RFC 9111 §4.2.3", 0, day, year, 200, map[string]string{"Cache-Control": "max-age=100", "Age": "95"}, 10 * time.Second, false},
		{"origin Age counts, fresh", "RFC 9111 §4.2.3", 0, day, year, 200, map[string]string{"Cache-Control": "max-age=100", "Age": "95"}, 3 * time.Second, true},
		{"301 takes DefaultTTL", "RFC 9110 §15.1; DG Expiration", 0, 300, year, 301, map[string]string{"Location": "/b"}, 100 * time.Second, true},
		{"302 without freshness not stored", "RFC 9111 §3; RFC 9110 §15.1", 0, day, year, 302, map[string]string{"Location": "/b"}, 0, false},
		{"302 with max-age stored", "RFC 9111 §3", 0, day, year, 302, map[string]string{"Location": "/b", "Cache-Control": "max-age=60"}, 30 * time.Second, true},
		{"404 kept ErrorCachingMinTTL, fresh", "DG HTTPStatusCodes (10 s default)", 0, day, year, 404, nil, 5 * time.Second, true},
		{"404 kept ErrorCachingMinTTL, stale", "DG HTTPStatusCodes (10 s default)", 0, day, year, 404, nil, 15 * time.Second, false},
		{"403 without max-age not stored", "DG HTTPStatusCodes", 0, day, year, 403, nil, 0, false},
		{"410 without freshness not stored", "RFC 9111 §4.2.2 (heuristics off)", 0, day, year, 410, nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h *harness
			h = newHarness(t, 64<<20, behavior(tt.min, tt.def, tt.max, forwarded(false, "none")), func(w http.ResponseWriter, r *http.Request, now time.Time) {
				for k, v := range tt.header {
					switch k {
					case "Date":
						secs, _ := strconv.Atoi(v)
						v = now.Add(-time.Duration(secs) * time.Second).UTC().Format(http.TimeFormat)
					case "Expires":
						if rel, ok := strings.CutPrefix(v, "+"); ok {
							secs, _ := strconv.Atoi(rel)
							date := now
							if d, ok := tt.header["Date"]; ok {
								ago, _ := strconv.Atoi(d)
								date = now.Add(-time.Duration(ago) * time.Second)
							}
							v = date.Add(time.Duration(secs) * time.Second).UTC().Format(http.TimeFormat)
						}
					}
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, "body")
			})
			h.expect("/r", miss, "")
			h.clock.advance(tt.advance)
			want, wantCount := miss, 2
			if tt.wantHit {
				want, wantCount = hit, 1
			}
			h.expect("/r", want, "")
			if got := h.originCount("/r"); got != wantCount {
				t.Errorf("%s: origin saw %d requests, want %d", tt.rule, got, wantCount)
			}
		})
	}
}

// TestNeverStored checks the responses and requests that are never
// cached, whatever the TTLs say (Portico's safety rules; RFC 9111 §3, §4.1).
func TestNeverStored(t *testing.T) {
	tests := []struct {
		name    string
		fv      *portico.ForwardedValues
		header  map[string]string
		request []string
		stored  bool
	}{
		{"Set-Cookie", forwarded(false, "all"), map[string]string{"Set-Cookie": "session=abc; HttpOnly"}, nil, false},
		{"no-store despite MinTTL", nil, map[string]string{"Cache-Control": "no-store"}, nil, false},
		{"private despite MinTTL", nil, map[string]string{"Cache-Control": "private, max-age=600"}, nil, false},
		{"private with a field name", nil, map[string]string{"Cache-Control": `private="X-User", max-age=600`}, nil, true},
		{"Vary *", nil, map[string]string{"Vary": "*"}, nil, false},
		{"Vary on a header outside the key", nil, map[string]string{"Vary": "Accept-Encoding, X-Tenant"}, nil, true},
		{"Vary on the client address", nil, map[string]string{"Vary": "X-Forwarded-For"}, nil, false},
		{"Vary on keyed headers", forwarded(false, "none", "Origin"), map[string]string{"Vary": "Origin, accept-encoding, Cookie"}, nil, true},
		{"Authorization not whitelisted", nil, nil, []string{"Authorization: Bearer a"}, false},
		{"Authorization whitelisted", forwarded(false, "none", "Authorization"), nil, []string{"Authorization: Bearer a"}, true},
		{"all headers forwarded", forwarded(false, "none", "*"), nil, nil, false},
		{"Range request the origin answers whole", nil, nil, []string{"Range: bytes=0-1"}, true},
		{"trailers", nil, map[string]string{"Trailer": "X-Checksum"}, nil, false},
		{"plain", nil, nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fv := tt.fv
			if fv == nil {
				fv = forwarded(false, "none")
			}
			h := newHarness(t, 64<<20, behavior(60, 600, 6000, fv), func(w http.ResponseWriter, r *http.Request, now time.Time) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				io.WriteString(w, "body")
				if tt.header["Trailer"] != "" {
					w.Header().Set("X-Checksum", "1")
				}
			})
			h.expect("/n", miss, "", tt.request...)
			want, count := miss, 2
			if tt.stored {
				want, count = hit, 1
			}
			resp := h.expect("/n", want, "", tt.request...)
			if got := h.originCount("/n"); got != count {
				t.Errorf("origin saw %d requests, want %d", got, count)
			}
			if tt.header["Set-Cookie"] != "" && resp.Header.Get("Set-Cookie") == "" {
				t.Error("Set-Cookie did not reach the viewer")
			}
		})
	}
}

// TestKeySeparation checks that requests that differ in anything the origin
// is sent and the key holds never get each other's response, and that
// requests that differ only in what the origin is not sent share one.
func TestKeySeparation(t *testing.T) {
	// The origin's answer reflects everything it is sent, except utm_*
	// parameters, which (as QueryStringCacheKeys declares) it ignores.
	echo := func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=600")
		var query []string
		for p := range strings.SplitSeq(r.URL.RawQuery, "&") {
			if !strings.HasPrefix(p, "utm") {
				query = append(query, p)
			}
		}
		fmt.Fprintf(w, "host=%s query=%s cookie=%s origin=%s auth=%s ae=%s",
			r.Host, strings.Join(query, "&"), r.Header.Get("Cookie"), r.Header.Get("Origin"), r.Header.Get("Authorization"), r.Header.Get("Accept-Encoding"))
	}
	type step struct {
		target  string
		headers []string
		xcache  string
	}
	tests := []struct {
		name  string
		fv    *portico.ForwardedValues
		steps []step
	}{
		{"cookies all", forwarded(true, "all", "Origin", "Authorization"), []step{
			{"/u", []string{"Cookie: session=alice"}, miss},
			{"/u", []string{"Cookie: session=bob"}, miss},
			{"/u", []string{"Cookie: session=alice"}, hit},
			{"/u", []string{"Cookie: session=bob"}, hit},
			{"/u", []string{"Cookie: session=Alice"}, miss},
			{"/u", nil, miss},
			{"/u", []string{"Cookie: b=2; session=alice"}, miss},
			{"/u", []string{"Cookie: session=alice; b=2"}, hit}, // sorted by name as forwarded
			{"/u", []string{"Cookie: session=alice; junk"}, hit},
		}},
		{"cookies whitelist", forwarded(false, "session"), []step{
			{"/u", []string{"Cookie: session=alice; _ga=1"}, miss},
			{"/u", []string{"Cookie: session=alice; _ga=2"}, hit},
			{"/u", []string{"Cookie: session=bob; _ga=1"}, miss},
		}},
		{"cookies none", forwarded(false, "none"), []step{
			{"/u", []string{"Cookie: session=alice"}, miss},
			{"/u", []string{"Cookie: session=bob"}, hit},
		}},
		{"whitelisted header values", forwarded(false, "none", "origin", "Authorization"), []step{
			{"/u", []string{"Origin: https://a.example"}, miss},
			{"/u", []string{"Origin: https://b.example"}, miss},
			{"/u", []string{"Origin: https://A.example"}, miss},
			{"/u", []string{"Origin: https://a.example"}, hit},
			{"/u", []string{"Authorization: Bearer alice"}, miss},
			{"/u", []string{"Authorization: Bearer bob"}, miss},
			{"/u", []string{"Authorization: Bearer alice"}, hit},
			{"/u", []string{"X-Other: 1"}, miss}, // no Origin, no Authorization: a key of its own
			{"/u", []string{"X-Other: 2"}, hit},
		}},
		{"query all", forwarded(true, "none"), []step{
			{"/u?a=1&b=2", nil, miss},
			{"/u?b=2&a=1", nil, miss},
			{"/u?a=1&b=2", nil, hit},
			{"/u?A=1&b=2", nil, miss},
			{"/u", nil, miss},
		}},
		{"query cache keys", &portico.ForwardedValues{QueryString: portico.Ptr(true), Cookies: &portico.CookiePreference{Forward: "none"},
			QueryStringCacheKeys: &portico.Names{Quantity: 1, Items: []string{"a"}}}, []step{
			{"/u?a=1&utm_source=x", nil, miss},
			{"/u?utm_source=y&a=1", nil, hit},
			{"/u?a=2", nil, miss},
			{"/u?a=1;a=2", nil, miss},
		}},
		{"query not forwarded", forwarded(false, "none"), []step{
			{"/u?a=1", nil, miss},
			{"/u?a=2", nil, hit},
		}},
		{"host and Accept-Encoding", forwarded(false, "none"), []step{
			{"/u", []string{"Host: a.example"}, miss},
			{"/u", []string{"Host: b.example"}, miss},
			{"/u", []string{"Host: A.EXAMPLE"}, hit},
			{"/u", []string{"Host: a.example", "Accept-Encoding: gzip"}, miss},
			{"/u", []string{"Host: a.example", "Accept-Encoding: gzip, deflate"}, hit},
			{"/u", []string{"Host: a.example", "Accept-Encoding: br, gzip"}, miss},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := behavior(0, 600, 6000, tt.fv)
			h := newHarness(t, 64<<20, b, echo)
			direct := h.serve(h.proxy(b)) // the same origin, without the cache
			for i, s := range tt.steps {
				resp, body := h.get(s.target, s.headers...)
				if got := resp.Header.Get("X-Cache"); got != s.xcache {
					t.Errorf("step %d GET %s %v: X-Cache %q, want %q", i, s.target, s.headers, got, s.xcache)
				}
				// Whatever the cache answered must be what the origin
				// answers this very request.
				_, want := h.do("GET", direct, s.target, s.headers...)
				if body != want {
					t.Errorf("step %d GET %s %v: got %q, the origin answers %q", i, s.target, s.headers, body, want)
				}
			}
		})
	}
}

// TestHeadFromGet checks that a HEAD is answered from the GET's entry, and
// that a HEAD miss stores nothing.
func TestHeadFromGet(t *testing.T) {
	h := newHarness(t, 64<<20, defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "hello")
	})
	resp, body := h.do("HEAD", h.url, "/x")
	if resp.Header.Get("X-Cache") != miss || body != "" {
		t.Errorf("first HEAD: X-Cache %q, body %q", resp.Header.Get("X-Cache"), body)
	}
	h.expect("/x", miss, "hello")
	resp, body = h.do("HEAD", h.url, "/x")
	if resp.Header.Get("X-Cache") != hit || body != "" || resp.ContentLength != 5 {
		t.Errorf("HEAD after GET: X-Cache %q, body %q, Content-Length %d; want a hit, no body, 5", resp.Header.Get("X-Cache"), body, resp.ContentLength)
	}
	if got := h.originCount("/x"); got != 2 {
		t.Errorf("origin saw %d requests, want 2 (the HEAD miss and the GET)", got)
	}
}

// TestRevalidation checks that a stale entry is revalidated with its
// validators (DG RequestAndResponseBehaviorCustomOrigin, "Conditional
// requests"; RFC 9111 §4.3), that a 304 refreshes it (RefreshHit), and that
// a changed object replaces it.
func TestRevalidation(t *testing.T) {
	for _, validator := range []string{"Etag", "Last-Modified"} {
		t.Run(validator, func(t *testing.T) {
			var mu sync.Mutex
			version := "v1"
			lastModified := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
			h := newHarness(t, 64<<20, defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
				mu.Lock()
				v := version
				mu.Unlock()
				w.Header().Set("Cache-Control", "max-age=10")
				current := `"` + v + `"`
				if validator == "Etag" {
					w.Header().Set("Etag", current)
					if r.Header.Get("If-None-Match") == current {
						w.WriteHeader(http.StatusNotModified)
						return
					}
				} else {
					lm := lastModified
					if v != "v1" {
						lm = now.UTC().Format(http.TimeFormat)
					}
					w.Header().Set("Last-Modified", lm)
					if r.Header.Get("If-Modified-Since") == lm {
						w.WriteHeader(http.StatusNotModified)
						return
					}
				}
				io.WriteString(w, v)
			})
			h.expect("/o", miss, "v1")
			h.clock.advance(20 * time.Second)
			resp := h.expect("/o", refreshHit, "v1")
			if got := resp.Header.Get("Age"); got != "0" {
				t.Errorf("RefreshHit Age = %q, want 0", got)
			}
			cond := h.lastOriginRequest("/o")
			if validator == "Etag" && cond.Header.Get("If-None-Match") != `"v1"` {
				t.Errorf("revalidation sent If-None-Match %q", cond.Header.Get("If-None-Match"))
			}
			if validator == "Last-Modified" && cond.Header.Get("If-Modified-Since") != lastModified {
				t.Errorf("revalidation sent If-Modified-Since %q, want %q", cond.Header.Get("If-Modified-Since"), lastModified)
			}
			h.expect("/o", hit, "v1")

			mu.Lock()
			version = "v2"
			mu.Unlock()
			h.clock.advance(20 * time.Second)
			h.expect("/o", miss, "v2")
			h.expect("/o", hit, "v2")
			if got := h.originCount("/o"); got != 3 {
				t.Errorf("origin saw %d requests, want 3", got)
			}
		})
	}
}

// TestViewerConditional checks that a viewer's If-None-Match that matches
// a cached entry gets a 304 from the cache.
func TestViewerConditional(t *testing.T) {
	h := newHarness(t, 64<<20, defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Etag", `"abc"`)
		io.WriteString(w, "body")
	})
	h.expect("/c", miss, "body")
	resp, body := h.get("/c", `If-None-Match: W/"abc"`)
	if resp.StatusCode != http.StatusNotModified || body != "" || resp.Header.Get("X-Cache") != hit {
		t.Errorf("status %d, X-Cache %q, body %q; want a 304 hit", resp.StatusCode, resp.Header.Get("X-Cache"), body)
	}
	resp, _ = h.get("/c", `If-None-Match: "other"`)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("non-matching If-None-Match: status %d, want 200", resp.StatusCode)
	}
}

// TestPurge checks invalidation paths: exact, prefix, everything, every
// variant, query semantics (DG Invalidation), scope isolation, and that a
// response fetched during a purge is not stored.
func TestPurge(t *testing.T) {
	b := behavior(0, 600, 6000, forwarded(true, "all"))
	h := newHarness(t, 64<<20, b, func(w http.ResponseWriter, r *http.Request, now time.Time) {
		io.WriteString(w, r.URL.Path)
	})
	other := h.serve(legacyHandler(h.cache, "OTHERDIST", b, h.proxy(b)))
	targets := []struct {
		target  string
		headers []string
	}{
		{"/img.jpg", nil},
		{"/img.jpg", []string{"Cookie: a=1"}},
		{"/img.jpg?v=2", nil},
		{"/img.jpgx", nil},
		{"/images/a.png", nil},
		{"/images/b/c.png", nil},
		{"/index.html", nil},
	}
	fill := func() {
		for _, tg := range targets {
			h.get(tg.target, tg.headers...)
		}
		h.do("GET", other, "/img.jpg")
	}
	cached := func() []string {
		var out []string
		for _, tg := range targets {
			resp, _ := h.get(tg.target, tg.headers...)
			if resp.Header.Get("X-Cache") == hit {
				out = append(out, tg.target+strings.Join(tg.headers, ""))
			}
		}
		return out
	}
	tests := []struct {
		pattern string
		kept    []string
	}{
		{"/img.jpg", []string{"/img.jpg?v=2", "/img.jpgx", "/images/a.png", "/images/b/c.png", "/index.html"}},
		{"/img.jpg?v=2", []string{"/img.jpg", "/img.jpgCookie: a=1", "/img.jpgx", "/images/a.png", "/images/b/c.png", "/index.html"}},
		{"/img.jpg*", []string{"/images/a.png", "/images/b/c.png", "/index.html"}},
		{"/images/*", []string{"/img.jpg", "/img.jpgCookie: a=1", "/img.jpg?v=2", "/img.jpgx", "/index.html"}},
		{"/*", nil},
		{"/nothing", []string{"/img.jpg", "/img.jpgCookie: a=1", "/img.jpg?v=2", "/img.jpgx", "/images/a.png", "/images/b/c.png", "/index.html"}},
	}
	for _, tt := range tests {
		fill()
		h.cache.Purge(testScope, tt.pattern)
		if got := cached(); strings.Join(got, " ") != strings.Join(tt.kept, " ") {
			t.Errorf("after Purge(%q) cached: %q\nwant %q", tt.pattern, got, tt.kept)
		}
		if resp, _ := h.do("GET", other, "/img.jpg"); resp.Header.Get("X-Cache") != hit {
			t.Errorf("Purge(%q) in %s removed another scope's entry", tt.pattern, testScope)
		}
	}

	// A response in flight during the purge must not be stored.
	arrived, release := make(chan struct{}), make(chan struct{})
	slow := newHarness(t, 64<<20, b, func(w http.ResponseWriter, r *http.Request, now time.Time) {
		if r.URL.Path == "/slow" && r.Header.Get("X-First") != "" {
			close(arrived)
			<-release
		}
		io.WriteString(w, "old")
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		slow.do("GET", slow.url, "/slow", "X-First: 1")
	}()
	<-arrived
	slow.cache.Purge(testScope, "/slow")
	close(release)
	<-done
	slow.expect("/slow", miss, "old")
}

// TestIncompleteNotStored checks that a body that did not arrive whole is
// never stored (DG RequestAndResponseBehaviorCustomOrigin, "Dropped TCP
// connections"), nor one over the object size limit.
func TestIncompleteNotStored(t *testing.T) {
	h := newHarness(t, 1<<20, defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=600")
		switch r.URL.Path {
		case "/short":
			w.Header().Set("Content-Length", "20000")
			w.Write(make([]byte, 10000))
		case "/chunked":
			w.Write(make([]byte, 10000))
			w.(http.Flusher).Flush()
		case "/large":
			w.Write(make([]byte, 100<<10)) // more than 1 MiB / 16
			return
		}
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			c.Close()
		}
	})
	for _, path := range []string{"/short", "/chunked", "/large"} {
		for range 2 {
			req, _ := http.NewRequest("GET", h.url+path, nil)
			resp, err := viewer.RoundTrip(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		if got := h.originCount(path); got != 2 {
			t.Errorf("GET %s twice: origin saw %d requests, want 2", path, got)
		}
	}
	if n := h.cache.Len(); n != 0 {
		t.Errorf("cache holds %d entries, want 0", n)
	}
}

// TestEviction checks that the byte budget holds, that an object hit again
// and again stays, and that one seen once and never again goes first
// (S3-FIFO; see TestEvictionBeatsLRU for hit ratios).
func TestEviction(t *testing.T) {
	const budget = 16 << 10
	h := newHarness(t, budget, defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Write(make([]byte, 700))
	})
	for i := range 40 {
		h.get(fmt.Sprintf("/e/%d", i))
		h.expect("/e/0", hit, "") // keep /e/0 popular
		if size := h.cache.Size(); size > budget {
			t.Fatalf("cache holds %d bytes, over the budget of %d", size, budget)
		}
	}
	h.expect("/e/39", hit, "")
	h.expect("/e/1", miss, "")
}

// TestNotCachedMethods checks that methods outside CachedMethods pass
// through as misses, that an edge error keeps its X-Cache, and that OPTIONS
// is cached with its own key only when listed.
func TestNotCachedMethods(t *testing.T) {
	b := defaults()
	h := newHarness(t, 64<<20, b, func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, r.Method)
	})
	for _, method := range []string{"POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		for range 2 {
			resp, body := h.do(method, h.url, "/m")
			if resp.Header.Get("X-Cache") != miss || body != method {
				t.Errorf("%s: X-Cache %q, body %q", method, resp.Header.Get("X-Cache"), body)
			}
		}
	}
	if got := h.originCount("/m"); got != 10 {
		t.Errorf("origin saw %d requests, want 10", got)
	}

	withOptions := defaults()
	withOptions.AllowedMethods.CachedMethods = &portico.Methods{Quantity: 3, Items: []string{"GET", "HEAD", "OPTIONS"}}
	url := h.serve(legacyHandler(h.cache, "OPTIONSDIST", withOptions, h.proxy(withOptions)))
	h.do("OPTIONS", url, "/opt")
	if resp, body := h.do("OPTIONS", url, "/opt"); resp.Header.Get("X-Cache") != hit || body != "OPTIONS" {
		t.Errorf("cached OPTIONS: X-Cache %q, body %q", resp.Header.Get("X-Cache"), body)
	}
	if resp, body := h.do("GET", url, "/opt"); resp.Header.Get("X-Cache") != miss || body != "GET" {
		t.Errorf("GET after OPTIONS: X-Cache %q, body %q; want its own miss", resp.Header.Get("X-Cache"), body)
	}

	// An origin that cannot be reached: the error page, never stored.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	downURL := h.serve(legacyHandler(h.cache, "DOWNDIST", b, h.proxyTo(b, dead)))
	for _, method := range []string{"GET", "POST", "GET"} {
		if resp, _ := h.do(method, downURL, "/"); resp.StatusCode != http.StatusBadGateway || resp.Header.Get("X-Cache") != errorXC {
			t.Errorf("%s to a failing origin: %d, X-Cache %q", method, resp.StatusCode, resp.Header.Get("X-Cache"))
		}
	}
}

// TestEdgeHeadersNotStored checks that headers the edge sets on the
// viewer's response before the cache runs are not stored and replayed.
func TestEdgeHeadersNotStored(t *testing.T) {
	h := newHarness(t, 64<<20, defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, "x")
	})
	handler := legacyHandler(h.cache, "EDGEDIST", defaults(), h.proxy(defaults()))
	n := 0
	var mu sync.Mutex
	url := h.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		id := strconv.Itoa(n)
		mu.Unlock()
		w.Header().Set("X-Amz-Cf-Id", id)
		handler.ServeHTTP(w, r)
	}))
	for i := 1; i <= 3; i++ {
		resp, _ := h.do("GET", url, "/h")
		if got := resp.Header.Values("X-Amz-Cf-Id"); len(got) != 1 || got[0] != strconv.Itoa(i) {
			t.Errorf("request %d got X-Amz-Cf-Id %q", i, got)
		}
	}
}

// TestWebSocketBypass checks that an upgrade passes through the cache.
func TestWebSocketBypass(t *testing.T) {
	h := newHarness(t, 64<<20, defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		line, _ := brw.ReadString('\n')
		io.WriteString(c, "echo "+line)
	})
	c, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second)) // a watchdog, not a speed check
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v, %v", resp, err)
	}
	io.WriteString(c, "hi\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo hi\n" {
		t.Fatalf("read %q, %v", line, err)
	}
}

// TestConcurrent runs hits, misses, refreshes and purges at once, for the
// race detector.
func TestConcurrent(t *testing.T) {
	b := behavior(0, 600, 6000, forwarded(true, "all"))
	h := newHarness(t, 256<<10, b, func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=5")
		w.Header().Set("Etag", `"e"`)
		if r.Header.Get("If-None-Match") == `"e"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, r.URL.RawQuery)
	})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				q := strconv.Itoa((g + i) % 10)
				_, body := h.get("/p?" + q)
				if body != q {
					t.Errorf("GET /p?%s: body %q", q, body)
				}
				switch i % 10 {
				case 3:
					h.cache.Purge(testScope, "/p*")
				case 7:
					h.clock.advance(3 * time.Second)
				}
			}
		})
	}
	wg.Wait()
}
