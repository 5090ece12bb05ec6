package snapshot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-edge/portico"
)

// Source is where the Watcher reads configuration from;
// *control.Service is one.
type Source interface {
	// Watch sends store revisions newer than afterRev until ctx is done,
	// then closes the channel. Revisions may be coalesced.
	Watch(ctx context.Context, afterRev int64) <-chan int64
	// State returns the whole configuration at the current revision.
	State(ctx context.Context) (*portico.State, error)
}

// Reporter learns which revision an edge serves; *deploy.Tracker is one.
type Reporter interface {
	Applied(edge string, rev int64)
}

// Retry delays after a failed update: the first, and the cap it doubles up
// to.
const (
	minRetryDelay = 100 * time.Millisecond
	maxRetryDelay = 10 * time.Second
)

// Watcher keeps the current snapshot up to date. For every new store
// revision it reads the state, builds a snapshot, purges from the cache
// the invalidations created since the revision it last served, publishes
// the snapshot and then reports the revision. Until then, requests are
// served by the previous snapshot, as CloudFront's edges keep serving the
// previous configuration while a change propagates.
//
// Set the fields, then call Run. Current may be called at any time, from
// any goroutine.
type Watcher struct {
	Source Source
	Deps   Deps
	// Reporter, if set, is told each revision once it is served and its
	// invalidations are purged.
	Reporter Reporter
	// Edge names this edge to the Reporter.
	Edge string
	// Log receives problems (never secrets); nil discards them.
	Log *slog.Logger

	current  atomic.Pointer[Snapshot]
	loadOnce sync.Once
	loaded   chan struct{}
}

// Current returns the snapshot being served, or nil before the first one
// is loaded. It does not allocate and takes no lock.
func (w *Watcher) Current() *Snapshot { return w.current.Load() }

// Loaded returns a channel that is closed once the first snapshot is
// published, so that listeners can wait before accepting viewers.
func (w *Watcher) Loaded() <-chan struct{} { return w.loadedChan() }

func (w *Watcher) loadedChan() chan struct{} {
	w.loadOnce.Do(func() { w.loaded = make(chan struct{}) })
	return w.loaded
}

// Run keeps the snapshot current until ctx is done, then returns nil. It
// survives failures (an unreadable store, a state that does not decode) by
// logging them and retrying with backoff, serving the last good snapshot
// meanwhile. It returns an error at once only if the Watcher is not
// configured.
func (w *Watcher) Run(ctx context.Context) error {
	if w.Source == nil {
		return errors.New("snapshot: Watcher.Source is nil")
	}
	if err := w.Deps.check(); err != nil {
		return err
	}
	log := w.logger()
	var (
		watch       <-chan int64 // one watch for the whole run, renewed only if the source ends it
		retryDelay  = minRetryDelay
		lastFailure string
	)

	for {
		err := w.update(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			// Log a failure once while it repeats, not on every retry.
			if msg := err.Error(); msg != lastFailure {
				log.Warn("snapshot: update failed; serving the previous configuration and retrying", "err", err)
				lastFailure = msg
			}
			if !sleep(ctx, retryDelay) {
				return nil
			}
			retryDelay = min(2*retryDelay, maxRetryDelay)
			continue
		}
		if lastFailure != "" {
			log.Info("snapshot: updates resumed", "rev", w.Current().Rev())
			lastFailure = ""
		}
		retryDelay = minRetryDelay

		if watch == nil {
			watch = w.Source.Watch(ctx, w.Current().Rev())
		}
		select {
		case _, ok := <-watch:
			if !ok { // the source stopped watching; start again shortly
				watch = nil
				if !sleep(ctx, minRetryDelay) {
					return nil
				}
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// update serves the source's current state if it is newer than the
// snapshot being served.
func (w *Watcher) update(ctx context.Context) error {
	st, err := w.Source.State(ctx)
	if err != nil {
		return fmt.Errorf("snapshot: reading state: %w", err)
	}
	prev := w.Current()
	if prev != nil && st.Rev <= prev.Rev() {
		return nil
	}
	snap, err := Build(st, w.Deps)
	if err != nil {
		return err
	}
	w.logSkipped(prev, snap)
	if prev != nil {
		// Purge what was invalidated since the revision served until now.
		// On the first load the cache holds nothing from before, so there
		// is nothing to purge.
		for i := range st.Invalidations {
			if inv := &st.Invalidations[i]; inv.Rev > prev.Rev() {
				w.purge(inv)
			}
		}
	}
	w.current.Store(snap)
	if w.Reporter != nil {
		w.Reporter.Applied(w.Edge, snap.Rev())
	}
	if prev == nil {
		close(w.loadedChan())
	}
	w.logger().Debug("snapshot: published", "rev", snap.Rev(), "names", snap.sites.Len(), "certificates", snap.certs.Len())
	return nil
}

// purge carries out an invalidation on the cache: its paths, and the
// cache tags of Portico's extension, removed or, for a soft invalidation,
// marked stale.
func (w *Watcher) purge(inv *portico.Invalidation) {
	c, scope := w.Deps.Cache, inv.DistributionID
	for _, p := range inv.Paths {
		if inv.Soft {
			c.SoftPurge(scope, p)
		} else {
			c.Purge(scope, p)
		}
	}
	for _, tag := range inv.Tags {
		if inv.Soft {
			c.SoftPurgeTag(scope, tag)
		} else {
			c.PurgeTag(scope, tag)
		}
	}
}

// logSkipped logs the problems of snap that prev did not already have, so
// that a broken distribution is reported when it breaks rather than on
// every revision.
func (w *Watcher) logSkipped(prev, snap *Snapshot) {
	seen := make(map[string]bool)
	if prev != nil {
		for _, err := range prev.skipped {
			seen[err.Error()] = true
		}
	}
	for _, err := range snap.skipped {
		if !seen[err.Error()] {
			w.logger().Warn("snapshot: part of the configuration is not served", "rev", snap.Rev(), "err", err)
		}
	}
}

func (w *Watcher) logger() *slog.Logger {
	if w.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.Log
}

// sleep waits for d or until ctx is done, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
