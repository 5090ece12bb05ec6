package storetest

import (
	"errors"
	"testing"

	"github.com/portico-edge/portico/internal/store"
)

// testReopen writes, closes and reopens the store several times: the keys,
// their revisions and the store revision come back as they were, and the
// revision continues from there. The last transaction before each close
// writes no key (it deletes), so a store that derives its revision from
// the stored keys rather than keeping it fails.
func testReopen(t *testing.T, open func() store.Store) {
	s := open()
	var (
		want []store.KV
		rev  int64
	)
	for cycle := range 3 {
		name := string(rune('a' + cycle))
		r1 := put(t, s, name, "1")
		put(t, s, name, "2")
		put(t, s, "gone", "soon")
		del(t, s, "gone")
		last := del(t, s, "never-there")

		before, listed, err := s.List(t.Context(), "")
		rev = listed
		if err != nil {
			t.Fatal(err)
		}
		if rev != last {
			t.Fatalf("cycle %d: List revision = %d, want %d", cycle, rev, last)
		}
		if len(before) != cycle+1 || before[cycle].CreateRev != r1 {
			t.Fatalf("cycle %d: List = %s, want %d keys", cycle, fmtKVs(before), cycle+1)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("cycle %d: Close: %v", cycle, err)
		}

		s = open()
		after, got, err := s.List(t.Context(), "")
		if err != nil {
			t.Fatalf("cycle %d: List after reopening: %v", cycle, err)
		}
		if !equalKVs(after, before) || got != rev {
			t.Fatalf("cycle %d: after reopening List = %s at %d,\nwant %s at %d", cycle, fmtKVs(after), got, fmtKVs(before), rev)
		}
		if !equalKVs(after[:len(want)], want) {
			t.Fatalf("cycle %d: keys of earlier cycles changed: %s, want %s", cycle, fmtKVs(after[:len(want)]), fmtKVs(want))
		}
		want = after
		wantMissing(t, s, "gone")

		// The reopened store is past every earlier revision, says so to a
		// watcher at once, and continues with the next revision.
		if got := recvRev(t, s.Watch(t.Context(), rev-1)); got != rev {
			t.Errorf("cycle %d: Watch(%d) after reopening sent %d, want %d", cycle, rev-1, got, rev)
		}
		if got := currentRev(t, s); got != rev {
			t.Errorf("cycle %d: revision after reopening = %d, want %d", cycle, got, rev)
		}
		if _, err := s.Txn(t.Context(), []store.Cmp{{Key: name, ModRev: r1}}, []store.Op{{Key: "x"}}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("cycle %d: Txn with a stale condition after reopening: error = %v, want ErrConflict", cycle, err)
		}
	}
	if next := put(t, s, "z", "1"); next != rev+1 {
		t.Errorf("first write after reopening = revision %d, want %d", next, rev+1)
	}
}

// testReopenEmpty checks that opening and closing a store uses no
// revision.
func testReopenEmpty(t *testing.T, open func() store.Store) {
	s := open()
	start := currentRev(t, s)
	for range 2 {
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		s = open()
		wantRev(t, s, start)
	}
	if rev := put(t, s, "a", "1"); rev != start+1 {
		t.Errorf("first Txn after reopening = revision %d, want %d", rev, start+1)
	}
}
