package boltstore

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/portico-edge/portico/internal/store"
)

// rawUpdate changes the file at path directly through bbolt, after Open has
// created the schema, as a newer Portico or a damaged disk would.
func rawUpdate(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesOtherSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(metaBucket.name).Put(metaVersionKey, encodeUint(schemaVersion+1))
	})
	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open of a file with a newer schema version succeeded")
	}
	if !strings.Contains(err.Error(), "schema version 2") {
		t.Errorf("Open error = %q, want it to name the file's schema version", err)
	}
}

// TestCorruptRecord checks that a record too short for its header is
// reported as corruption by every method that reads it, not misread.
func TestCorruptRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(kvBucket.name).Put([]byte("bad"), []byte("short"))
	})
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	if _, err := s.Get(ctx, "bad"); !errors.Is(err, errCorrupt) {
		t.Errorf("Get error = %v, want corruption", err)
	}
	if _, _, err := s.List(ctx, ""); !errors.Is(err, errCorrupt) {
		t.Errorf("List error = %v, want corruption", err)
	}
	if _, err := s.Txn(ctx, nil, []store.Op{{Key: "bad", Value: []byte("x")}}); !errors.Is(err, errCorrupt) {
		t.Errorf("Txn(put) error = %v, want corruption", err)
	}
	if _, err := s.Txn(ctx, []store.Cmp{{Key: "bad", ModRev: 1}}, nil); !errors.Is(err, errCorrupt) {
		t.Errorf("Txn(condition) error = %v, want corruption", err)
	}
}
