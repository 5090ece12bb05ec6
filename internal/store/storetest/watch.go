package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/portico-edge/portico/internal/store"
)

// recv receives from a Watch channel, failing the test if nothing arrives
// within watchTimeout. ok is false when the channel is closed.
func recv(t *testing.T, ch <-chan int64) (rev int64, ok bool) {
	t.Helper()
	select {
	case rev, ok = <-ch:
		return rev, ok
	case <-time.After(watchTimeout):
		t.Fatalf("Watch channel: nothing received within %v", watchTimeout)
		return 0, false
	}
}

// recvRev receives one revision and fails the test if the channel is
// closed instead.
func recvRev(t *testing.T, ch <-chan int64) int64 {
	t.Helper()
	rev, ok := recv(t, ch)
	if !ok {
		t.Fatal("Watch channel closed, want a revision")
	}
	return rev
}

// wantClosed drains ch and fails the test unless it is closed within
// watchTimeout. Revisions still in flight are allowed.
func wantClosed(t *testing.T, ch <-chan int64) {
	t.Helper()
	for {
		if _, ok := recv(t, ch); !ok {
			return
		}
	}
}

// testWatchAlreadyPast checks that a watcher behind the store hears the
// current revision at once, without waiting for a new transaction.
func testWatchAlreadyPast(t *testing.T, s store.Store) {
	put(t, s, "a", "1")
	r := put(t, s, "a", "2")
	for _, after := range []int64{0, r - 1} {
		ctx, cancel := context.WithCancel(t.Context())
		if got := recvRev(t, s.Watch(ctx, after)); got != r {
			t.Errorf("Watch(%d) sent %d, want the current revision %d", after, got, r)
		}
		cancel()
	}
}

// testWatchNext checks that a watcher that is up to date hears nothing
// until the next transaction, and then exactly its revision.
func testWatchNext(t *testing.T, s store.Store) {
	r := put(t, s, "a", "1")
	ch := s.Watch(t.Context(), r)
	select {
	case rev := <-ch:
		t.Fatalf("Watch(%d) sent %d before any new transaction", r, rev)
	default:
	}
	next := put(t, s, "b", "1")
	if got := recvRev(t, ch); got != next {
		t.Errorf("Watch(%d) sent %d after the next transaction, want %d", r, got, next)
	}
	// An empty or failed transaction is no new revision; the next write is.
	currentRev(t, s)
	if _, err := s.Txn(t.Context(), []store.Cmp{{Key: "a"}}, []store.Op{{Key: "c"}}); err == nil {
		t.Fatal("Txn with a failing condition succeeded")
	}
	last := del(t, s, "missing")
	if got := recvRev(t, ch); got != last {
		t.Errorf("Watch sent %d, want %d", got, last)
	}
}

// testWatchCoalesces checks that a reader that falls behind gets fewer
// revisions than there were transactions, in increasing order, ending at
// the newest.
func testWatchCoalesces(t *testing.T, s store.Store) {
	const writes = 20
	start := currentRev(t, s)
	ch := s.Watch(t.Context(), start)
	var final int64
	for i := range writes {
		final = put(t, s, "k", string(rune('a'+i)))
	}
	var got []int64
	for len(got) == 0 || got[len(got)-1] < final {
		got = append(got, recvRev(t, ch))
	}
	if !isIncreasing(got) || got[0] <= start || got[len(got)-1] != final {
		t.Errorf("Watch(%d) sent %v, want increasing revisions above %d ending at %d", start, got, start, final)
	}
	if len(got) >= writes {
		t.Errorf("Watch sent all %d revisions to a reader that fell behind (%v), want them coalesced", writes, got)
	}
}

// testWatchContextDone checks that cancelling the context closes the
// channel, whether or not the watcher was waiting for a revision.
func testWatchContextDone(t *testing.T, s store.Store) {
	r := put(t, s, "a", "1")

	ctx, cancel := context.WithCancel(t.Context())
	waiting := s.Watch(ctx, r)
	behind := s.Watch(ctx, 0) // has a revision to send that nobody reads
	cancel()
	wantClosed(t, waiting)
	wantClosed(t, behind)

	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	wantClosed(t, s.Watch(ctx, r))
}

// testWatchClose checks that Close closes the channels of open watches.
func testWatchClose(t *testing.T, s store.Store) {
	r := put(t, s, "a", "1")
	waiting := s.Watch(t.Context(), r)
	behind := s.Watch(t.Context(), 0)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantClosed(t, waiting)
	wantClosed(t, behind)
}

// testWatchMany checks that every watcher hears every transaction it is
// waiting for, and that cancelling one watch leaves the others alone.
func testWatchMany(t *testing.T, s store.Store) {
	const watchers = 3
	start := currentRev(t, s)
	var (
		chans   []<-chan int64
		cancels []context.CancelFunc
	)
	for range watchers {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		chans = append(chans, s.Watch(ctx, start))
		cancels = append(cancels, cancel)
	}
	r1 := put(t, s, "a", "1")
	for i, ch := range chans {
		if got := recvRev(t, ch); got != r1 {
			t.Errorf("watcher %d got %d, want %d", i, got, r1)
		}
	}
	cancels[0]()
	wantClosed(t, chans[0])
	r2 := put(t, s, "a", "2")
	for i, ch := range chans[1:] {
		if got := recvRev(t, ch); got != r2 {
			t.Errorf("watcher %d got %d, want %d", i+1, got, r2)
		}
	}
}
