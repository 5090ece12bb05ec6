package boltstore_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/portico-edge/portico/internal/store"
)

// BenchmarkTxn measures a compare-and-swap of one key with a 1 KiB value,
// fsync included: the cost of one control-plane write.
func BenchmarkTxn(b *testing.B) {
	s := openStore(b, filepath.Join(b.TempDir(), "store.db"))
	value := make([]byte, 1024)
	rev, err := s.Txn(b.Context(), nil, []store.Op{{Key: "dist/E1", Value: value}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rev, err = s.Txn(b.Context(), []store.Cmp{{Key: "dist/E1", ModRev: rev}}, []store.Op{{Key: "dist/E1", Value: value}})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGet measures reading one 1 KiB value among 1000 keys.
func BenchmarkGet(b *testing.B) {
	s := openStore(b, filepath.Join(b.TempDir(), "store.db"))
	ops := make([]store.Op, 1000)
	for i := range ops {
		ops[i] = store.Op{Key: fmt.Sprintf("dist/E%04d", i), Value: make([]byte, 1024)}
	}
	if _, err := s.Txn(b.Context(), nil, ops); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(b.Context(), "dist/E0500"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkList measures listing 100 keys of 1 KiB out of 1000, as the
// data plane does when it compiles a snapshot.
func BenchmarkList(b *testing.B) {
	s := openStore(b, filepath.Join(b.TempDir(), "store.db"))
	ops := make([]store.Op, 1000)
	for i := range ops {
		ops[i] = store.Op{Key: fmt.Sprintf("k%d/%04d", i%10, i), Value: make([]byte, 1024)}
	}
	if _, err := s.Txn(b.Context(), nil, ops); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		kvs, _, err := s.List(b.Context(), "k3/")
		if err != nil || len(kvs) != 100 {
			b.Fatal(len(kvs), err)
		}
	}
}
