// Package boltstore implements store.Store on a single bbolt file, for
// Portico running on one machine.
//
// Every transaction is one bbolt read-write transaction, committed with an
// fsync before Txn returns, so an acknowledged write survives a crash or
// kill -9. The store revision is kept in the file next to the keys (the
// layout is declared in schema.go) and so continues across restarts.
// Watchers are woken by the transactions of this process; there is no
// polling. Only one process may open a file at a time: a second one gets
// ErrInUse.
package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/portico-edge/portico/internal/store"
)

// ErrInUse is returned by Open when another process holds the data file.
var ErrInUse = errors.New("store: data directory is in use by another process")

// errEmptyKey is returned by Txn for an op without a key.
var errEmptyKey = errors.New("op with an empty key")

// DefaultLockTimeout is how long Open waits for another process to release
// the data file unless WithLockTimeout says otherwise.
const DefaultLockTimeout = 2 * time.Second

// An Option changes how Open opens the store.
type Option func(*options)

type options struct {
	lockTimeout time.Duration
}

// WithLockTimeout sets how long Open waits for another process to release
// the data file before it returns ErrInUse. A timeout of zero or less
// means DefaultLockTimeout; Open never waits forever.
func WithLockTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.lockTimeout = d
		}
	}
}

// Store is a store.Store in one bbolt file. Create it with Open.
type Store struct {
	db *bolt.DB

	// watchers counts the goroutines that feed Watch channels; Close waits
	// for them so that every channel is closed when it returns.
	watchers sync.WaitGroup

	// done is closed by Close.
	done chan struct{}

	mu sync.Mutex
	// rev is the newest committed revision: read by Open, then advanced
	// by each Txn.
	rev int64
	// changed is closed, and replaced, whenever rev grows.
	changed chan struct{}
	closed  bool
}

var _ store.Store = (*Store)(nil)

// Open opens the store in the bbolt file at path, creating the file with
// mode 0600 if it does not exist. The directory must exist. If another
// process has the file open, Open waits for the lock timeout (see
// WithLockTimeout) and returns an error wrapping ErrInUse.
func Open(path string, opts ...Option) (*Store, error) {
	o := options{lockTimeout: DefaultLockTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	// NoSync stays false: every commit is fsynced before Txn returns.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.lockTimeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("%w (no lock on %s within %v)", ErrInUse, path, o.lockTimeout)
		}
		return nil, fmt.Errorf("boltstore: opening %s: %w", path, err)
	}
	var rev int64
	err = db.Update(func(tx *bolt.Tx) error {
		var err error
		rev, err = initSchema(tx)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: opening %s: %w", path, err)
	}
	return &Store{
		db:      db,
		done:    make(chan struct{}),
		rev:     rev,
		changed: make(chan struct{}),
	}, nil
}

// Get returns the key, or store.ErrNotFound. The returned Value is the
// caller's to keep and modify.
func (s *Store) Get(ctx context.Context, key string) (store.KV, error) {
	if err := ctx.Err(); err != nil {
		return store.KV{}, err
	}
	kv := store.KV{Key: key}
	err := s.db.View(func(tx *bolt.Tx) error {
		rec := tx.Bucket(kvBucket.name).Get([]byte(key))
		if rec == nil {
			return store.ErrNotFound
		}
		var err error
		kv.CreateRev, kv.ModRev, kv.Value, err = decodeRecord(key, rec)
		return err
	})
	if err != nil {
		return store.KV{}, wrap("get", err)
	}
	return kv, nil
}

// List returns every key with the prefix, in key order, and the revision
// of the read transaction they all come from.
func (s *Store) List(ctx context.Context, prefix string) ([]store.KV, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	var (
		kvs []store.KV
		rev int64
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		if rev, err = readRev(tx.Bucket(metaBucket.name)); err != nil {
			return err
		}
		p := []byte(prefix)
		c := tx.Bucket(kvBucket.name).Cursor()
		for k, rec := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, rec = c.Next() {
			kv := store.KV{Key: string(k)}
			if kv.CreateRev, kv.ModRev, kv.Value, err = decodeRecord(kv.Key, rec); err != nil {
				return err
			}
			kvs = append(kvs, kv)
		}
		return nil
	})
	if err != nil {
		return nil, 0, wrap("list", err)
	}
	return kvs, rev, nil
}

// Txn applies ops in order if every condition holds, and returns the new
// revision once the bbolt transaction is committed and fsynced. When an
// op names a key that an earlier op of the same transaction wrote, the
// later op wins. A transaction without ops checks its conditions in a
// read-only transaction and returns the current revision.
//
// Keys must be non-empty and at most bbolt's MaxKeySize bytes; values at
// most MaxValueSize minus 16 bytes. An op that breaks these limits fails the
// whole transaction.
func (s *Store) Txn(ctx context.Context, conds []store.Cmp, ops []store.Op) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var rev int64
	if len(ops) == 0 {
		err := s.db.View(func(tx *bolt.Tx) error {
			if err := check(tx.Bucket(kvBucket.name), conds); err != nil {
				return err
			}
			var err error
			rev, err = readRev(tx.Bucket(metaBucket.name))
			return err
		})
		if err != nil {
			return 0, wrap("txn", err)
		}
		return rev, nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		kvb, meta := tx.Bucket(kvBucket.name), tx.Bucket(metaBucket.name)
		if err := check(kvb, conds); err != nil {
			return err
		}
		cur, err := readRev(meta)
		if err != nil {
			return err
		}
		rev = cur + 1
		for _, op := range ops {
			if err := apply(kvb, op, rev); err != nil {
				return err
			}
		}
		return writeRev(meta, rev)
	})
	if err != nil {
		return 0, wrap("txn", err)
	}
	s.publish(rev)
	return rev, nil
}

// check returns store.ErrConflict unless every condition holds in b.
func check(b *bolt.Bucket, conds []store.Cmp) error {
	for _, c := range conds {
		var modRev int64
		if rec := b.Get([]byte(c.Key)); rec != nil {
			var ok bool
			if _, modRev, ok = recordRevs(rec); !ok {
				return fmt.Errorf("%w: record for key %q is %d bytes long", errCorrupt, c.Key, len(rec))
			}
		}
		if modRev != c.ModRev {
			return store.ErrConflict
		}
	}
	return nil
}

// apply carries out one op in b at revision rev.
func apply(b *bolt.Bucket, op store.Op, rev int64) error {
	if op.Key == "" {
		return errEmptyKey
	}
	key := []byte(op.Key)
	if op.Delete {
		if err := b.Delete(key); err != nil {
			return fmt.Errorf("deleting %q: %w", op.Key, err)
		}
		return nil
	}
	createRev := rev
	if rec := b.Get(key); rec != nil {
		c, _, ok := recordRevs(rec)
		if !ok {
			return fmt.Errorf("%w: record for key %q is %d bytes long", errCorrupt, op.Key, len(rec))
		}
		createRev = c
	}
	if err := b.Put(key, encodeRecord(createRev, rev, op.Value)); err != nil {
		return fmt.Errorf("putting %q: %w", op.Key, err)
	}
	return nil
}

// publish records that rev is committed and wakes the watchers.
func (s *Store) publish(rev int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rev <= s.rev {
		return // a later transaction has already published
	}
	s.rev = rev
	close(s.changed)
	s.changed = make(chan struct{})
}

// current returns the newest published revision and a channel that is
// closed when a newer one is published.
func (s *Store) current() (rev int64, changed <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rev, s.changed
}

// Watch sends the current revision whenever it is greater than afterRev
// and than the last one sent, until ctx is done or the store is closed,
// then closes the channel. The channel is unbuffered and a blocked send
// is replaced by a newer revision as soon as one is committed, so a slow
// reader always receives the newest revision.
func (s *Store) Watch(ctx context.Context, afterRev int64) <-chan int64 {
	ch := make(chan int64)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		close(ch)
		return ch
	}
	s.watchers.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.watchers.Done()
		defer close(ch)
		s.watch(ctx, afterRev, ch)
	}()
	return ch
}

func (s *Store) watch(ctx context.Context, last int64, ch chan<- int64) {
	for ctx.Err() == nil {
		rev, changed := s.current()
		if rev <= last {
			select {
			case <-changed:
			case <-ctx.Done():
			case <-s.done:
				return
			}
			continue
		}
		select {
		case ch <- rev:
			last = rev
		case <-changed: // offer the newer revision instead
		case <-ctx.Done():
		case <-s.done:
			return
		}
	}
}

// Close closes the Watch channels and then the file, after any
// transaction in progress has finished. Later calls return
// store.ErrClosed, as do the other methods.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return store.ErrClosed
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()

	s.watchers.Wait()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close: %w", err)
	}
	return nil
}

// wrap gives err the package prefix and the operation, leaving the
// sentinels callers test for as they are.
func wrap(op string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict):
		return err
	case errors.Is(err, bolterrors.ErrDatabaseNotOpen):
		return store.ErrClosed
	}
	return fmt.Errorf("boltstore: %s: %w", op, err)
}
