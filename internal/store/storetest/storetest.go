// Package storetest is the conformance suite for store.Store: every
// implementation runs Run, and RunPersistent when it keeps its data across
// a close, against real instances of itself (bbolt in a temporary
// directory, embedded etcd), so that the control plane can rely on one
// behaviour whichever store stands behind it.
//
// A test in an implementation's package reads:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := boltstore.Open(filepath.Join(t.TempDir(), "store.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// The suite asserts only what the store.Store documentation promises; it
// runs under the race detector and takes a few seconds.
package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/portico-edge/portico/internal/store"
)

// watchTimeout bounds every wait for a Watch channel. It guards against a
// hung test, not a slow store: a correct store answers in microseconds.
const watchTimeout = 10 * time.Second

// Run runs the conformance suite. open must return a new, empty store for
// each subtest; the suite closes it (a second Close may return
// store.ErrClosed).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"GetMissing", testGetMissing},
		{"PutGet", testPutGet},
		{"Revisions", testRevisions},
		{"Compare", testCompare},
		{"ConflictWritesNothing", testConflictWritesNothing},
		{"DeleteMissing", testDeleteMissing},
		{"MultiKey", testMultiKey},
		{"MultiKeyAtomicUnderReads", testMultiKeyAtomicUnderReads},
		{"EmptyTxn", testEmptyTxn},
		{"List", testList},
		{"EmptyValue", testEmptyValue},
		{"ValuesCopied", testValuesCopied},
		{"ConcurrentCAS", testConcurrentCAS},
		{"WatchAlreadyPast", testWatchAlreadyPast},
		{"WatchNext", testWatchNext},
		{"WatchCoalesces", testWatchCoalesces},
		{"WatchContextDone", testWatchContextDone},
		{"WatchClose", testWatchClose},
		{"WatchMany", testWatchMany},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { closeStore(t, s) })
			tt.fn(t, s)
		})
	}
}

// RunPersistent runs the tests that close a store and open it again on the
// same data: open must return a store over dir, which starts empty and is
// reused by the same subtest. The suite closes every store it opens.
func RunPersistent(t *testing.T, open func(t *testing.T, dir string) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, func() store.Store)
	}{
		{"Reopen", testReopen},
		{"ReopenEmpty", testReopenEmpty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.fn(t, func() store.Store {
				s := open(t, dir)
				t.Cleanup(func() { closeStore(t, s) })
				return s
			})
		})
	}
}

// closeStore closes s, accepting store.ErrClosed from a store the test
// closed already.
func closeStore(t *testing.T, s store.Store) {
	t.Helper()
	if err := s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
		t.Errorf("Close: %v", err)
	}
}

// put writes one key in its own transaction and returns the revision.
func put(t *testing.T, s store.Store, key, value string) int64 {
	t.Helper()
	rev, err := s.Txn(t.Context(), nil, []store.Op{{Key: key, Value: []byte(value)}})
	if err != nil {
		t.Fatalf("Txn(put %q): %v", key, err)
	}
	return rev
}

// del deletes one key in its own transaction and returns the revision.
func del(t *testing.T, s store.Store, key string) int64 {
	t.Helper()
	rev, err := s.Txn(t.Context(), nil, []store.Op{{Key: key, Delete: true}})
	if err != nil {
		t.Fatalf("Txn(delete %q): %v", key, err)
	}
	return rev
}

// currentRev returns the store's revision, asked through an empty Txn.
func currentRev(t *testing.T, s store.Store) int64 {
	t.Helper()
	rev, err := s.Txn(t.Context(), nil, nil)
	if err != nil {
		t.Fatalf("Txn(no ops): %v", err)
	}
	return rev
}

// mustGet returns the key and fails the test if it cannot.
func mustGet(t *testing.T, s store.Store, key string) store.KV {
	t.Helper()
	kv, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return kv
}

// wantKV checks that key holds value with the given revisions.
func wantKV(t *testing.T, s store.Store, key, value string, createRev, modRev int64) {
	t.Helper()
	got := mustGet(t, s, key)
	want := store.KV{Key: key, Value: []byte(value), CreateRev: createRev, ModRev: modRev}
	if !equalKV(got, want) {
		t.Errorf("Get(%q) = %s, want %s", key, fmtKV(got), fmtKV(want))
	}
}

// wantMissing checks that Get reports key as not found.
func wantMissing(t *testing.T, s store.Store, key string) {
	t.Helper()
	if kv, err := s.Get(t.Context(), key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(%q) = %s, %v; want ErrNotFound", key, fmtKV(kv), err)
	}
}

// wantRev checks that the store is at revision want.
func wantRev(t *testing.T, s store.Store, want int64) {
	t.Helper()
	if got := currentRev(t, s); got != want {
		t.Errorf("current revision = %d, want %d", got, want)
	}
}

// equalKV compares KVs, treating a nil and an empty value as equal.
func equalKV(a, b store.KV) bool {
	return a.Key == b.Key && bytes.Equal(a.Value, b.Value) && a.CreateRev == b.CreateRev && a.ModRev == b.ModRev
}

func fmtKV(kv store.KV) string {
	return fmt.Sprintf("{%q %q create=%d mod=%d}", kv.Key, kv.Value, kv.CreateRev, kv.ModRev)
}

func fmtKVs(kvs []store.KV) string {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, kv := range kvs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(fmtKV(kv))
	}
	b.WriteByte(']')
	return b.String()
}

// equalKVs compares listings element by element with equalKV.
func equalKVs(a, b []store.KV) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !equalKV(a[i], b[i]) {
			return false
		}
	}
	return true
}
