package httpcache

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-edge/portico"
)

// gate holds origin requests until released: the barrier that makes
// requests concurrent in the collapsing tests, without sleeping.
type gate struct {
	arrived chan string   // one value (the request's X-Test-Id) per held request
	release chan struct{} // closed to let every held request go on
	once    sync.Once
}

func newGate() *gate {
	return &gate{arrived: make(chan string, 64), release: make(chan struct{})}
}

// hold blocks an origin request until the gate opens or the request is
// canceled. It reports whether the gate opened.
func (g *gate) hold(r *http.Request) bool {
	g.arrived <- r.Header.Get("X-Test-Id")
	select {
	case <-g.release:
		return true
	case <-r.Context().Done():
		return false
	}
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

// await waits for the next held request and returns its X-Test-Id.
func (g *gate) await(t *testing.T) string {
	t.Helper()
	select {
	case id := <-g.arrived:
		return id
	case <-time.After(10 * time.Second): // a watchdog, not a speed check
		t.Fatal("no request reached the origin")
		return ""
	}
}

// result is a response received by a goroutine.
type result struct {
	status  int
	header  http.Header
	body    string
	err     error
	request int // index of the request, for messages
}

// getAsync sends a GET in a goroutine and returns where its result comes.
func (h *harness) getAsync(ctx context.Context, target string, headers ...string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, "GET", h.url+target, nil)
		if err != nil {
			ch <- result{err: err}
			return
		}
		for _, kv := range headers {
			k, v, _ := strings.Cut(kv, ": ")
			req.Header.Add(k, v)
		}
		resp, err := viewer.RoundTrip(req)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		ch <- result{status: resp.StatusCode, header: resp.Header, body: string(body), err: err}
	}()
	return ch
}

// awaitWaiters waits until n requests wait for another's origin request.
func (h *harness) awaitWaiters(n int) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second) // a watchdog, not a speed check
	for h.cache.flights.waiting() != n {
		if time.Now().After(deadline) {
			h.t.Fatalf("%d requests wait for the origin, want %d", h.cache.flights.waiting(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func receive(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("request failed: %v", r.err)
		}
		return r
	case <-time.After(20 * time.Second): // a watchdog, not a speed check
		t.Fatal("no response")
		return result{}
	}
}

// TestCollapse checks that concurrent misses for one key make one origin
// request, and that every waiter gets the leader's response from the cache
// (DG RequestAndResponseBehaviorCustomOrigin, "Simultaneous requests for
// the same object").
func TestCollapse(t *testing.T) {
	g := newGate()
	var n atomic.Int32
	h := newHarness(t, 64<<20, defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		g.hold(r)
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "response %d", n.Add(1))
	})
	const waiters = 5
	leader := h.getAsync(t.Context(), "/c")
	g.await(t)
	var chans []<-chan result
	for range waiters {
		chans = append(chans, h.getAsync(t.Context(), "/c"))
	}
	h.awaitWaiters(waiters)
	g.open()
	lr := receive(t, leader)
	if lr.body != "response 1" || lr.header.Get("X-Cache") != miss {
		t.Errorf("leader: X-Cache %q, body %q; want a miss with response 1", lr.header.Get("X-Cache"), lr.body)
	}
	for i, ch := range chans {
		r := receive(t, ch)
		if r.status != http.StatusOK || r.body != "response 1" || r.header.Get("X-Cache") != hit {
			t.Errorf("waiter %d: status %d, X-Cache %q, body %q; want the leader's response as a hit", i, r.status, r.header.Get("X-Cache"), r.body)
		}
	}
	if got := h.originCount("/c"); got != 1 {
		t.Errorf("origin saw %d requests, want 1", got)
	}
}

// TestCollapseNeverAcrossKeys checks that requests with different keys
// (here cookies, which the behaviour forwards) are never collapsed: each
// reaches the origin while the other is still held there.
func TestCollapseNeverAcrossKeys(t *testing.T) {
	tests := []struct {
		name string
		fv   *portico.ForwardedValues
		a, b []string
	}{
		{"cookie", forwarded(false, "all"), []string{"Cookie: s=alice"}, []string{"Cookie: s=bob"}},
		{"whitelisted Authorization", forwarded(false, "none", "Authorization"), []string{"Authorization: Bearer a"}, []string{"Authorization: Bearer b"}},
		{"Accept-Encoding", forwarded(false, "none"), []string{"Accept-Encoding: gzip"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGate()
			h := newHarness(t, 64<<20, behavior(0, 600, 6000, tt.fv), func(w http.ResponseWriter, r *http.Request, now time.Time) {
				g.hold(r)
				w.Header().Set("Cache-Control", "max-age=60")
				io.WriteString(w, r.Header.Get("X-Test-Id"))
			})
			a := h.getAsync(t.Context(), "/k", append([]string{"X-Test-Id: a"}, tt.a...)...)
			g.await(t)
			b := h.getAsync(t.Context(), "/k", append([]string{"X-Test-Id: b"}, tt.b...)...)
			if id := g.await(t); id != "b" {
				t.Fatalf("second origin request is %q, want b", id)
			}
			g.open()
			if r := receive(t, a); r.body != "a" {
				t.Errorf("a got %q", r.body)
			}
			if r := receive(t, b); r.body != "b" {
				t.Errorf("b got %q", r.body)
			}
		})
	}
}

// TestCollapsePrivate checks that a response that turns out to be private
// to its requester, or not storable for any other reason, is never handed
// to the waiters: each goes to the origin itself and gets its own response
// (Portico's rule against cross-user leaks; RFC 9111 §3, §5.2.2.7).
func TestCollapsePrivate(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		status int
	}{
		{"Set-Cookie", map[string]string{"Set-Cookie": "session=secret", "Cache-Control": "max-age=60"}, 200},
		{"private", map[string]string{"Cache-Control": "private, max-age=60"}, 200},
		{"no-store", map[string]string{"Cache-Control": "no-store"}, 200},
		{"max-age=0", map[string]string{"Cache-Control": "max-age=0"}, 200},
		{"Vary *", map[string]string{"Cache-Control": "max-age=60", "Vary": "*"}, 200},
		{"status not cacheable", map[string]string{"Cache-Control": "max-age=60"}, 206},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGate()
			var n atomic.Int32
			h := newHarness(t, 64<<20, behavior(0, 600, 6000, forwarded(false, "all")), func(w http.ResponseWriter, r *http.Request, now time.Time) {
				i := n.Add(1)
				if i == 1 {
					g.hold(r)
				}
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				fmt.Fprintf(w, "private %d", i)
			})
			const waiters = 3
			leader := h.getAsync(t.Context(), "/p")
			g.await(t)
			var chans []<-chan result
			for range waiters {
				chans = append(chans, h.getAsync(t.Context(), "/p"))
			}
			h.awaitWaiters(waiters)
			g.open()
			seen := map[string]bool{receive(t, leader).body: true}
			for i, ch := range chans {
				r := receive(t, ch)
				if seen[r.body] {
					t.Errorf("waiter %d got %q, another requester's response", i, r.body)
				}
				seen[r.body] = true
				if r.header.Get("X-Cache") == hit {
					t.Errorf("waiter %d: X-Cache %q", i, r.header.Get("X-Cache"))
				}
			}
			if got := h.originCount("/p"); got != waiters+1 {
				t.Errorf("origin saw %d requests, want %d", got, waiters+1)
			}
		})
	}
}

// TestCollapseFailedLeader checks that a leader that fails does not poison
// its waiters: each retries the origin independently.
func TestCollapseFailedLeader(t *testing.T) {
	tests := []struct {
		name string
		// fail makes the leader fail; the origin holds it until then.
		fail func(g *gate, cancelLeader context.CancelFunc)
		// origin answers the leader's origin request after the gate.
		origin func(w http.ResponseWriter)
	}{
		{"viewer gone", func(g *gate, cancel context.CancelFunc) { cancel() }, nil},
		{"body broke off (panic)", func(g *gate, cancel context.CancelFunc) { g.open() }, func(w http.ResponseWriter) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Content-Length", "1000")
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
				c.Close()
			}
		}},
		{"origin error", func(g *gate, cancel context.CancelFunc) { g.open() }, func(w http.ResponseWriter) {
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusServiceUnavailable)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGate()
			var n atomic.Int32
			h := newHarness(t, 64<<20, defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
				i := n.Add(1)
				if i == 1 {
					if !g.hold(r) {
						return
					}
					if tt.origin != nil {
						tt.origin(w)
						return
					}
				}
				w.Header().Set("Cache-Control", "max-age=60")
				io.WriteString(w, "good "+strconv.Itoa(int(i)))
			})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			leader := h.getAsync(ctx, "/f")
			g.await(t)
			const waiters = 3
			var chans []<-chan result
			for range waiters {
				chans = append(chans, h.getAsync(t.Context(), "/f"))
			}
			h.awaitWaiters(waiters)
			tt.fail(g, cancel)
			<-leader
			for i, ch := range chans {
				r := receive(t, ch)
				if r.status != http.StatusOK || !strings.HasPrefix(r.body, "good ") {
					t.Errorf("waiter %d: status %d, body %q; want its own good response", i, r.status, r.body)
				}
			}
			// Each waiter went to the origin itself, or used what
			// another waiter stored after doing so.
			if got := h.originCount("/f"); got < 2 || got > waiters+1 {
				t.Errorf("origin saw %d requests, want 2 to %d", got, waiters+1)
			}
		})
	}
}

// TestCollapseBoundedWait checks that a waiter whose leader takes longer
// than the collapse timeout goes to the origin itself rather than hang.
func TestCollapseBoundedWait(t *testing.T) {
	g := newGate()
	var n atomic.Int32
	h := newHarness(t, 64<<20, defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		i := n.Add(1)
		if i == 1 {
			g.hold(r)
		}
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "response %d", i)
	})
	h.cache.collapseTimeout = 50 * time.Millisecond
	leader := h.getAsync(t.Context(), "/slow")
	g.await(t)
	r := receive(t, h.getAsync(t.Context(), "/slow"))
	if r.body != "response 2" {
		t.Errorf("waiter got %q, want its own response 2", r.body)
	}
	g.open()
	if r := receive(t, leader); r.body != "response 1" {
		t.Errorf("leader got %q", r.body)
	}
}
