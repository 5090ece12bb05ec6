package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portico-edge/portico/internal/store/boltstore"
)

// lockPoll is how long each attempt to take the store's lock waits, and so
// how late a signal can stop the wait.
const lockPoll = 250 * time.Millisecond

// openStore opens the store at path, waiting up to wait for its lock, held
// by the process being restarted until it has drained and exited. The
// wait ends early, with ctx's error, when ctx is done (SIGTERM, SIGINT):
// boltstore.Open cannot be interrupted, so it is tried with a short lock
// timeout until the lock is free or the wait is over.
func openStore(ctx context.Context, path string, wait time.Duration) (*boltstore.Store, error) {
	deadline := time.Now().Add(wait)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		st, err := boltstore.Open(path, boltstore.WithLockTimeout(min(lockPoll, max(time.Until(deadline), time.Millisecond))))
		switch {
		case err == nil:
			return st, nil
		case !errors.Is(err, boltstore.ErrInUse):
			return nil, err
		case !time.Now().Before(deadline):
			return nil, fmt.Errorf("%w: %s is still locked by another process after %v (--store-wait)", boltstore.ErrInUse, path, wait)
		}
	}
}
