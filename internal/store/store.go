// Package store defines the contract between Portico's control plane and
// the database that holds its configuration: a revisioned key-value store
// with multi-key compare-and-swap transactions and revision watches, in the
// shape of etcd's API so that bbolt (single node) and etcd (a cluster) can
// both stand behind it. Implementations live in subpackages; storetest holds
// the conformance suite every implementation must pass.
package store

import (
	"context"
	"errors"
)

// Errors that callers test for.
var (
	// ErrNotFound is returned by Get for a key that does not exist.
	ErrNotFound = errors.New("store: key not found")
	// ErrConflict is returned by Txn when one of its conditions does not hold.
	// Nothing was written.
	ErrConflict = errors.New("store: transaction condition failed")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("store: closed")
)

// KV is one stored key with its value and revisions. Every successful
// transaction creates one new store revision; CreateRev is the revision that
// created the key and ModRev the one that last wrote it.
type KV struct {
	Key       string
	Value     []byte
	CreateRev int64
	ModRev    int64
}

// Cmp is a transaction condition on one key: it holds when the key's ModRev
// equals ModRev. ModRev 0 means the key must not exist.
type Cmp struct {
	Key    string
	ModRev int64
}

// Op is a write inside a transaction: a put of Value, or a delete when
// Delete is set. Deleting a key that does not exist is not an error.
type Op struct {
	Key    string
	Value  []byte
	Delete bool
}

// Store is a revisioned key-value store. All methods are safe for concurrent
// use. Keys are non-empty and compared as byte strings. A transaction names
// each key in at most one Op, as etcd requires.
type Store interface {
	// Get returns the key, or ErrNotFound.
	Get(ctx context.Context, key string) (KV, error)

	// List returns every key with the prefix, in key order, and the store
	// revision the listing reflects. All keys come from that one revision.
	List(ctx context.Context, prefix string) (kvs []KV, rev int64, err error)

	// Txn applies ops atomically if every condition holds, at a new revision
	// that it returns (one new revision per transaction with ops, even if its
	// ops change nothing). The write is durable (on disk, or committed by a quorum)
	// before Txn returns. When a condition fails it returns ErrConflict and
	// writes nothing. A transaction without ops writes nothing and returns the
	// current revision.
	Txn(ctx context.Context, conds []Cmp, ops []Op) (rev int64, err error)

	// Watch sends the store's current revision on the returned channel
	// whenever it is greater than afterRev and greater than the last one
	// sent, until ctx is done, then closes the channel. Revisions may be
	// coalesced: a slow reader sees the newest, not every one. If the store
	// is already past afterRev, the current revision is sent at once.
	Watch(ctx context.Context, afterRev int64) <-chan int64

	// Close releases the store. Watch channels are closed.
	Close() error
}
