package snapshot

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/control"
	"github.com/portico-edge/portico/internal/deploy"
	"github.com/portico-edge/portico/internal/store"
	"github.com/portico-edge/portico/internal/store/boltstore"
	"github.com/portico-edge/portico/internal/testlog"
	"github.com/portico-edge/portico/internal/testpki"
)

// env is a control service over bbolt, a deploy tracker and an origin.
type env struct {
	store   *boltstore.Store
	svc     *control.Service
	tracker *deploy.Tracker
	origin  *testOrigin
	deps    Deps
	ca      *testpki.CA
	log     *testlog.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "portico.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{
		store:   st,
		tracker: &deploy.Tracker{},
		origin:  newOrigin(t),
		ca:      testpki.NewCA(t, "Viewer Test CA"),
		log:     &testlog.Buffer{},
	}
	e.svc = &control.Service{
		Store:      st,
		Progress:   e.tracker,
		EdgeDomain: "portico.localhost",
		AccountID:  "123456789012",
		Region:     "us-east-1",
	}
	e.deps = e.origin.deps(t, e.ca.Issue(t, []string{"*.portico.localhost"}).TLSCertificate(t))
	return e
}

// start runs a watcher until the test ends and waits for its first
// snapshot.
func (e *env) start(t *testing.T) *Watcher {
	t.Helper()
	w := &Watcher{
		Source:   e.svc,
		Deps:     e.deps,
		Reporter: e.tracker,
		Edge:     "edge-test",
		Log:      slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-w.Loaded():
	case err := <-done:
		t.Fatalf("Run returned before loading: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no snapshot loaded within 10s")
	}
	return w
}

// waitApplied waits until the tracker reports rev.
func (e *env) waitApplied(t *testing.T, rev int64) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		changed := e.tracker.Changed()
		if e.tracker.AppliedRev() >= rev {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("tracker reports revision %d, want %d within 10s", e.tracker.AppliedRev(), rev)
		}
	}
}

func (e *env) createDistribution(t *testing.T, ref string, aliases ...string) *portico.Distribution {
	t.Helper()
	ctx := context.Background()
	arn := ""
	if len(aliases) > 0 {
		l := e.ca.Issue(t, aliases)
		c, err := e.svc.ImportCertificate(ctx, "", l.CertPEM, l.ChainPEM, l.KeyPEM)
		if err != nil {
			t.Fatalf("ImportCertificate: %v", err)
		}
		arn = c.ARN
	}
	cfg := distConfig(ref, true, arn, aliases...)
	d, err := e.svc.CreateDistribution(ctx, &cfg)
	if err != nil {
		t.Fatalf("CreateDistribution: %v", err)
	}
	return d
}

// get sends a GET through the current snapshot's handler for host and path
// and returns the X-Cache value.
func get(t *testing.T, w *Watcher, host, path string) string {
	t.Helper()
	site, ok := w.Current().Site(host)
	if !ok {
		t.Fatalf("%s is not served", host)
	}
	rec := httptest.NewRecorder()
	site.Behavior(path).Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://"+host+path, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s%s: status %d", host, path, rec.Code)
	}
	return rec.Header().Get("X-Cache")
}

func TestWatcherServesStoredChanges(t *testing.T) {
	e := newEnv(t)
	w := e.start(t)
	if got := w.Current().Rev(); got != e.tracker.AppliedRev() {
		t.Errorf("first snapshot at revision %d, tracker reports %d", got, e.tracker.AppliedRev())
	}

	d := e.createDistribution(t, "login", "login.example.com")
	e.waitApplied(t, d.Rev)
	if w.Current().Rev() < d.Rev {
		t.Errorf("Current().Rev() = %d, want at least %d", w.Current().Rev(), d.Rev)
	}
	for _, host := range []string{"login.example.com", d.DomainName} {
		if site, ok := w.Current().Site(host); !ok || site.ID != d.ID {
			t.Errorf("after create: Site(%q) = %v, %v; want distribution %s", host, site, ok, d.ID)
		}
	}
	if target, ok := w.Current().Lookup("login.example.com"); !ok || target != d.DomainName {
		t.Errorf("Lookup(login.example.com) = %q, %v; want %q", target, ok, d.DomainName)
	}

	// Disabling stops serving.
	cfg := d.Config
	cfg.Enabled = portico.Ptr(false)
	d2, err := e.svc.UpdateDistribution(context.Background(), d.ID, d.ETag, &cfg)
	if err != nil {
		t.Fatalf("UpdateDistribution: %v", err)
	}
	e.waitApplied(t, d2.Rev)
	if _, ok := w.Current().Site("login.example.com"); ok {
		t.Error("a disabled distribution is still served")
	}
}

func TestWatcherPurgesNewInvalidationsOnly(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.createDistribution(t, "inval", "www.example.com")

	// Fill the shared cache through a snapshot of the same state, as a
	// previous run of the edge would have, and store an invalidation
	// before the watcher starts: the first load must not purge it.
	st, err := e.svc.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pre, err := Build(st, e.deps)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/old", "/page"} {
		site, _ := pre.Site("www.example.com")
		rec := httptest.NewRecorder()
		site.Behavior(path).Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://www.example.com"+path, nil))
	}
	if _, err := e.svc.CreateInvalidation(ctx, d.ID, "before-start", []string{"/old"}); err != nil {
		t.Fatal(err)
	}

	w := e.start(t)
	if got := get(t, w, "www.example.com", "/old"); !strings.HasPrefix(got, "Hit") {
		t.Errorf("after the first load: X-Cache of /old = %q, want a Hit (nothing is purged on the first load)", got)
	}

	inv, err := e.svc.CreateInvalidation(ctx, d.ID, "after-start", []string{"/pa*"})
	if err != nil {
		t.Fatal(err)
	}
	e.waitApplied(t, inv.Rev)
	if got := get(t, w, "www.example.com", "/page"); !strings.HasPrefix(got, "Miss") {
		t.Errorf("after invalidating /pa*: X-Cache of /page = %q, want a Miss", got)
	}
	if got := get(t, w, "www.example.com", "/old"); !strings.HasPrefix(got, "Hit") {
		t.Errorf("after invalidating /pa*: X-Cache of /old = %q, want a Hit (its invalidation was applied before)", got)
	}
	if n := e.origin.requests("/page"); n != 2 {
		t.Errorf("origin saw /page %d times, want 2", n)
	}
}

func TestWatcherSurvivesAnUnreadableState(t *testing.T) {
	e := newEnv(t)
	w := e.start(t)
	good := w.Current().Rev()
	ctx := context.Background()

	// A value the control plane cannot decode makes State fail.
	broken, err := e.store.Txn(ctx, nil, []store.Op{{Key: "dist/EBROKEN", Value: []byte("{not json")}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(e.log.String(), "update failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no failed update logged within 10s; log:\n%s", e.log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := w.Current().Rev(); got != good {
		t.Errorf("while the state is unreadable: serving revision %d, want the last good one, %d", got, good)
	}
	if e.tracker.AppliedRev() >= broken {
		t.Errorf("tracker reports revision %d, which was never served", e.tracker.AppliedRev())
	}

	// Repairing the store lets the watcher move on by itself.
	if _, err := e.store.Txn(ctx, nil, []store.Op{{Key: "dist/EBROKEN", Delete: true}}); err != nil {
		t.Fatal(err)
	}
	d := e.createDistribution(t, "after", "after.example.com")
	e.waitApplied(t, d.Rev)
	if _, ok := w.Current().Site("after.example.com"); !ok {
		t.Error("after repair: the new distribution is not served")
	}
}

func TestWatcherNeedsItsParts(t *testing.T) {
	o := newOrigin(t)
	tests := []struct {
		name string
		w    *Watcher
	}{
		{"no source", &Watcher{Deps: o.deps(t, nil)}},
		{"no cache", &Watcher{Source: &control.Service{}, Deps: Deps{Transports: o.deps(t, nil).Transports}}},
	}
	// A cancelled context: a Run that skipped its checks returns nil at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range tests {
		if err := tt.w.Run(ctx); err == nil {
			t.Errorf("%s: Run returned nil, want an error", tt.name)
		}
	}
}
