package control

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/testpki"
)

// TestStateFollowsWrites checks that State, which reuses what it decoded
// before for keys that have not been written since, shows every change:
// an update, a new object, a deletion; that an invalidation keeps its
// creation revision across calls; and that its answers equal those of a
// Service that decodes everything afresh.
func TestStateFollowsWrites(t *testing.T) {
	e := newDistEnv(t)
	ctx := t.Context()
	arn := e.importCert(t, "*.example.com")
	a := e.create(t, seedConfig("a", arn, "a.example.com"))
	inv, err := e.svc.CreateInvalidation(ctx, a.ID, "inv-1", []string{"/x"})
	if err != nil {
		t.Fatal(err)
	}
	state := func() *portico.State {
		t.Helper()
		st, err := e.svc.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// A Service without the cache, on the same store.
		fresh, err := (&Service{Store: e.store}).State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(st, fresh) {
			t.Fatalf("State differs from a fresh decode:\ncached %+v\nfresh  %+v", st, fresh)
		}
		return st
	}
	comment := func(st *portico.State, id string) (string, bool) {
		for _, d := range st.Distributions {
			if d.ID == id {
				return *d.Config.Comment, true
			}
		}
		return "", false
	}

	st := state()
	if len(st.Invalidations) != 1 || st.Invalidations[0].Rev != inv.Rev {
		t.Fatalf("invalidations %+v, want one at revision %d", st.Invalidations, inv.Rev)
	}

	cfg := seedConfig("a", arn, "a.example.com")
	cfg.Comment = portico.Ptr("updated")
	a, err = e.svc.UpdateDistribution(ctx, a.ID, a.ETag, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := e.create(t, seedConfig("b", arn, "b.example.com"))
	st = state()
	if c, _ := comment(st, a.ID); c != "updated" {
		t.Errorf("after the update: comment %q, want %q", c, "updated")
	}
	if _, ok := comment(st, b.ID); !ok {
		t.Error("the new distribution is missing")
	}
	if len(st.Invalidations) != 1 || st.Invalidations[0].Rev != inv.Rev {
		t.Errorf("after other writes: invalidations %+v, want one still at revision %d", st.Invalidations, inv.Rev)
	}

	cfg.Enabled = portico.Ptr(false)
	if a, err = e.svc.UpdateDistribution(ctx, a.ID, a.ETag, cfg); err != nil {
		t.Fatal(err)
	}
	e.deploy(t)
	if err := e.svc.DeleteDistribution(ctx, a.ID, a.ETag); err != nil {
		t.Fatal(err)
	}
	st = state()
	if _, ok := comment(st, a.ID); ok {
		t.Error("the deleted distribution is still in the state")
	}
	if len(st.Distributions) != 1 {
		t.Errorf("%d distributions, want 1", len(st.Distributions))
	}
}

// TestConcurrentCreatesShareACertificate runs many creates that use one
// certificate, each updating its list of users, alongside re-imports of
// that certificate: every write succeeds, as the writers of one process
// take turns instead of failing each other's compare-and-swap.
func TestConcurrentCreatesShareACertificate(t *testing.T) {
	e := newDistEnv(t)
	ctx := t.Context()
	now := time.Now()
	leaf := testpki.SelfSigned(t, []string{"*.example.com"}, testpki.Validity(now.Add(-24*time.Hour), now.Add(24*time.Hour)))
	c, err := e.svc.ImportCertificate(ctx, "", leaf.CertPEM, nil, leaf.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ids []string
	)
	for i := range n {
		wg.Go(func() {
			d, err := e.svc.CreateDistribution(ctx, seedConfig(fmt.Sprint("share-", i), c.ARN, fmt.Sprintf("site-%d.example.com", i)))
			if err != nil {
				t.Errorf("create %d: %v", i, err)
				return
			}
			mu.Lock()
			ids = append(ids, d.ID)
			mu.Unlock()
		})
	}
	wg.Go(func() {
		for range 5 {
			if _, err := e.svc.ImportCertificate(ctx, c.ARN, leaf.CertPEM, nil, leaf.KeyPEM); err != nil {
				t.Errorf("re-import: %v", err)
			}
		}
	})
	wg.Wait()
	slices.Sort(ids)
	if users := e.certUsers(t, c.ARN); len(ids) != n || !slices.Equal(users, ids) {
		t.Errorf("%d creates succeeded and the certificate lists %d users; want %d and the same", len(ids), len(users), n)
	}
}

// TestWriteGivesUpWithTheContext checks that a write waiting for its turn
// gives up when its context ends.
func TestWriteGivesUpWithTheContext(t *testing.T) {
	e := newDistEnv(t)
	e.svc.writeMu.Lock()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- e.svc.retryConflicts(ctx, func() error { return nil })
	}()
	cancel()
	e.svc.writeMu.Unlock()
	if err := <-done; err == nil {
		t.Error("a write whose context ended while it waited went ahead")
	}
}
