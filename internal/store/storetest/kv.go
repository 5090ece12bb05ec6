package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/portico-edge/portico/internal/store"
)

func testGetMissing(t *testing.T, s store.Store) {
	wantMissing(t, s, "missing")
	put(t, s, "present", "v")
	wantMissing(t, s, "missing")
	wantMissing(t, s, "presen")   // a prefix of a key is not the key
	wantMissing(t, s, "present/") // nor is an extension of it
}

func testPutGet(t *testing.T, s store.Store) {
	before := currentRev(t, s)
	rev := put(t, s, "k", "value")
	if rev != before+1 {
		t.Errorf("Txn revision = %d, want %d (one more than before)", rev, before+1)
	}
	wantKV(t, s, "k", "value", rev, rev)
	wantRev(t, s, rev)
}

// testRevisions follows one key through its life: every transaction makes
// exactly one new revision, CreateRev stays until the key is deleted, and
// ModRev follows the writes to the key alone.
func testRevisions(t *testing.T, s store.Store) {
	r0 := currentRev(t, s)

	r1 := put(t, s, "a", "1")
	wantKV(t, s, "a", "1", r1, r1)

	r2 := put(t, s, "a", "2")
	wantKV(t, s, "a", "2", r1, r2)

	r3 := put(t, s, "b", "1") // another key leaves a as it is
	wantKV(t, s, "a", "2", r1, r2)
	wantKV(t, s, "b", "1", r3, r3)

	r4 := del(t, s, "a")
	wantMissing(t, s, "a")

	r5 := put(t, s, "a", "3") // a new life: a new CreateRev
	wantKV(t, s, "a", "3", r5, r5)

	if got, want := []int64{r1, r2, r3, r4, r5}, []int64{r0 + 1, r0 + 2, r0 + 3, r0 + 4, r0 + 5}; !slices.Equal(got, want) {
		t.Errorf("Txn revisions = %v, want %v", got, want)
	}
	wantRev(t, s, r5)
}

// testCompare checks each kind of condition. Each case writes its own key,
// so the conditions on "present" and "absent" hold the same in every case.
func testCompare(t *testing.T, s store.Store) {
	p := put(t, s, "present", "v")
	tests := []struct {
		name  string
		conds []store.Cmp
		ok    bool
	}{
		{"absent must not exist", []store.Cmp{{Key: "absent", ModRev: 0}}, true},
		{"absent at a revision", []store.Cmp{{Key: "absent", ModRev: p}}, false},
		{"present must not exist", []store.Cmp{{Key: "present", ModRev: 0}}, false},
		{"present at its revision", []store.Cmp{{Key: "present", ModRev: p}}, true},
		{"present at an older revision", []store.Cmp{{Key: "present", ModRev: p - 1}}, false},
		{"present at a newer revision", []store.Cmp{{Key: "present", ModRev: p + 1}}, false},
		{"all hold", []store.Cmp{{Key: "present", ModRev: p}, {Key: "absent", ModRev: 0}}, true},
		{"first fails", []store.Cmp{{Key: "present", ModRev: 0}, {Key: "absent", ModRev: 0}}, false},
		{"last fails", []store.Cmp{{Key: "present", ModRev: p}, {Key: "absent", ModRev: p}}, false},
		{"no conditions", nil, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "target/" + strconv.Itoa(i)
			before := currentRev(t, s)
			rev, err := s.Txn(t.Context(), tt.conds, []store.Op{{Key: key, Value: []byte("x")}})
			if !tt.ok {
				if !errors.Is(err, store.ErrConflict) {
					t.Fatalf("Txn = %d, %v; want ErrConflict", rev, err)
				}
				wantMissing(t, s, key)
				wantRev(t, s, before)
				return
			}
			if err != nil {
				t.Fatalf("Txn: %v", err)
			}
			if rev != before+1 {
				t.Errorf("Txn revision = %d, want %d", rev, before+1)
			}
			wantKV(t, s, key, "x", rev, rev)
		})
	}
	wantKV(t, s, "present", "v", p, p)
	wantMissing(t, s, "absent")
}

// testConflictWritesNothing checks that a failed condition drops every op
// of the transaction: puts, updates and deletes alike.
func testConflictWritesNothing(t *testing.T, s store.Store) {
	ra := put(t, s, "a", "1")
	rb := put(t, s, "b", "1")
	before, _, err := s.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	ops := []store.Op{
		{Key: "a", Value: []byte("2")},
		{Key: "b", Delete: true},
		{Key: "c", Value: []byte("1")},
	}
	for _, conds := range [][]store.Cmp{
		{{Key: "a", ModRev: ra - 1}},
		{{Key: "c", ModRev: 0}, {Key: "b", ModRev: 0}},
		{{Key: "a", ModRev: ra}, {Key: "b", ModRev: rb}, {Key: "c", ModRev: rb}},
	} {
		if rev, err := s.Txn(t.Context(), conds, ops); !errors.Is(err, store.ErrConflict) {
			t.Errorf("Txn(%v) = %d, %v; want ErrConflict", conds, rev, err)
		}
	}
	after, rev, err := s.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if !equalKVs(after, before) {
		t.Errorf("after failed transactions List = %s, want %s", fmtKVs(after), fmtKVs(before))
	}
	if rev != rb {
		t.Errorf("after failed transactions revision = %d, want %d", rev, rb)
	}
	if next := put(t, s, "d", "1"); next != rb+1 {
		t.Errorf("Txn after failed transactions = revision %d, want %d: a failed transaction used a revision", next, rb+1)
	}
}

func testDeleteMissing(t *testing.T, s store.Store) {
	before := currentRev(t, s)
	if rev := del(t, s, "missing"); rev != before+1 {
		t.Errorf("Txn(delete missing) revision = %d, want %d", rev, before+1)
	}
	wantMissing(t, s, "missing")
	kvs, rev, err := s.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != 0 || rev != before+1 {
		t.Errorf("List = %s at %d, want none at %d", fmtKVs(kvs), rev, before+1)
	}
	// Guarded by the key's absence, as the control plane deletes.
	rev, err = s.Txn(t.Context(), []store.Cmp{{Key: "missing"}}, []store.Op{{Key: "missing", Delete: true}})
	if err != nil || rev != before+2 {
		t.Errorf("Txn(if absent, delete) = %d, %v; want %d, nil", rev, err, before+2)
	}
}

// testMultiKey checks that one transaction's puts and deletes all land at
// the one revision it returns.
func testMultiKey(t *testing.T, s store.Store) {
	ra := put(t, s, "a", "1")
	rb := put(t, s, "b", "1")
	rc := put(t, s, "c", "1")
	rev, err := s.Txn(t.Context(),
		[]store.Cmp{{Key: "a", ModRev: ra}, {Key: "b", ModRev: rb}, {Key: "d", ModRev: 0}},
		[]store.Op{
			{Key: "a", Value: []byte("2")},
			{Key: "b", Delete: true},
			{Key: "d", Value: []byte("1")},
			{Key: "e", Delete: true},
		})
	if err != nil {
		t.Fatalf("Txn: %v", err)
	}
	if rev != rc+1 {
		t.Errorf("Txn revision = %d, want %d", rev, rc+1)
	}
	wantKV(t, s, "a", "2", ra, rev)
	wantMissing(t, s, "b")
	wantKV(t, s, "c", "1", rc, rc)
	wantKV(t, s, "d", "1", rev, rev)
	wantMissing(t, s, "e")
	wantRev(t, s, rev)
}

// testMultiKeyAtomicUnderReads lists a pair of keys while another
// goroutine rewrites both in each transaction: no listing may see one key
// of a transaction without the other.
func testMultiKeyAtomicUnderReads(t *testing.T, s store.Store) {
	const writes = 50
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for i := range writes {
			v := []byte(strconv.Itoa(i))
			ops := []store.Op{{Key: "pair/x", Value: v}, {Key: "pair/y", Value: v}}
			if _, err := s.Txn(t.Context(), nil, ops); err != nil {
				t.Errorf("Txn: %v", err)
				return
			}
		}
	})
	var lists int
	for reading := true; reading; lists++ {
		select {
		case <-done:
			reading = false // one more listing, of the final state
		default:
		}
		kvs, rev, err := s.List(t.Context(), "pair/")
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		switch {
		case len(kvs) == 0:
		case len(kvs) != 2:
			t.Fatalf("List(pair/) = %s, want both keys or none", fmtKVs(kvs))
		case string(kvs[0].Value) != string(kvs[1].Value) || kvs[0].ModRev != kvs[1].ModRev:
			t.Fatalf("List(pair/) = %s: a transaction was seen in part", fmtKVs(kvs))
		case kvs[0].ModRev > rev:
			t.Fatalf("List(pair/) = %s at revision %d: a key is newer than the listing", fmtKVs(kvs), rev)
		}
	}
	wg.Wait()
	kvs, _, err := s.List(t.Context(), "pair/")
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != 2 || string(kvs[0].Value) != strconv.Itoa(writes-1) {
		t.Errorf("final List(pair/) = %s, want both at %d", fmtKVs(kvs), writes-1)
	}
	t.Logf("%d listings during %d transactions", lists, writes)
}

// testEmptyTxn checks that a transaction without ops checks its conditions,
// returns the current revision and uses no revision.
func testEmptyTxn(t *testing.T, s store.Store) {
	r := put(t, s, "a", "1")
	tests := []struct {
		name  string
		conds []store.Cmp
		err   error
	}{
		{"no conditions", nil, nil},
		{"conditions hold", []store.Cmp{{Key: "a", ModRev: r}, {Key: "b", ModRev: 0}}, nil},
		{"condition fails", []store.Cmp{{Key: "a", ModRev: 0}}, store.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, ops := range [][]store.Op{nil, {}} {
				rev, err := s.Txn(t.Context(), tt.conds, ops)
				if !errors.Is(err, tt.err) {
					t.Fatalf("Txn(%v, %#v) error = %v, want %v", tt.conds, ops, err, tt.err)
				}
				if err == nil && rev != r {
					t.Errorf("Txn(%v, %#v) = %d, want the current revision %d", tt.conds, ops, rev, r)
				}
			}
		})
	}
	if next := put(t, s, "b", "1"); next != r+1 {
		t.Errorf("Txn after empty transactions = revision %d, want %d: an empty transaction used a revision", next, r+1)
	}
}

// testList writes keys in random order, one per transaction, and lists
// them by prefix: key order is byte order, and every entry carries its own
// value and revisions and the revision of the listing.
func testList(t *testing.T, s store.Store) {
	keys := []string{"a", "a/", "a/b", "a/b/c", "a/z", "a/\u00e9", "a/\xff", "a0", "ab", "b", "B", "ba"}
	written := make(map[string]store.KV)
	for _, i := range rand.Perm(len(keys)) {
		k := keys[i]
		v := "value of " + k
		rev := put(t, s, k, v)
		written[k] = store.KV{Key: k, Value: []byte(v), CreateRev: rev, ModRev: rev}
	}
	// Rewrite one key so that CreateRev and ModRev differ in the listing.
	rev := put(t, s, "a/b", "new")
	kv := written["a/b"]
	kv.Value, kv.ModRev = []byte("new"), rev
	written["a/b"] = kv

	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"B", "a", "a/", "a/b", "a/b/c", "a/z", "a/\u00e9", "a/\xff", "a0", "ab", "b", "ba"}},
		{"a", []string{"a", "a/", "a/b", "a/b/c", "a/z", "a/\u00e9", "a/\xff", "a0", "ab"}},
		{"a/", []string{"a/", "a/b", "a/b/c", "a/z", "a/\u00e9", "a/\xff"}},
		{"a/b", []string{"a/b", "a/b/c"}},
		{"a/b/", []string{"a/b/c"}},
		{"a/\xc3", []string{"a/\u00e9"}},
		{"b", []string{"b", "ba"}},
		{"c", nil},
		{"a/b/c/", nil},
		{"\x00", nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.prefix), func(t *testing.T) {
			kvs, got, err := s.List(t.Context(), tt.prefix)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			var want []store.KV
			for _, k := range tt.want {
				want = append(want, written[k])
			}
			if !equalKVs(kvs, want) {
				t.Errorf("List(%q) =\n\t%s\nwant\n\t%s", tt.prefix, fmtKVs(kvs), fmtKVs(want))
			}
			if got != rev {
				t.Errorf("List(%q) revision = %d, want %d", tt.prefix, got, rev)
			}
		})
	}
}

func testEmptyValue(t *testing.T, s store.Store) {
	r1 := put(t, s, "nil", "")
	r2, err := s.Txn(t.Context(), nil, []store.Op{{Key: "empty", Value: []byte{}}})
	if err != nil {
		t.Fatal(err)
	}
	wantKV(t, s, "nil", "", r1, r1)
	wantKV(t, s, "empty", "", r2, r2)
	// An empty value is a key that exists.
	if _, err := s.Txn(t.Context(), []store.Cmp{{Key: "nil", ModRev: 0}}, []store.Op{{Key: "x"}}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("Txn(if nil absent) error = %v, want ErrConflict", err)
	}
	kvs, _, err := s.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != 2 {
		t.Errorf("List = %s, want the two empty keys", fmtKVs(kvs))
	}
}

// testValuesCopied checks that the store shares no memory with its
// callers: neither the value passed in an Op nor the one returned by Get
// or List may be an alias of what is stored.
func testValuesCopied(t *testing.T, s store.Store) {
	buf := []byte("original")
	rev, err := s.Txn(t.Context(), nil, []store.Op{{Key: "a", Value: buf}, {Key: "b", Value: []byte("second")}})
	if err != nil {
		t.Fatal(err)
	}
	copy(buf, "MUTATED!")
	wantKV(t, s, "a", "original", rev, rev)

	got := mustGet(t, s, "a")
	copy(got.Value, "MUTATED!")
	wantKV(t, s, "a", "original", rev, rev)

	kvs, _, err := s.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != 2 {
		t.Fatalf("List = %s, want a and b", fmtKVs(kvs))
	}
	copy(kvs[0].Value, "MUTATED!")
	// Appending to one listed value must not write into the next one.
	_ = append(kvs[0].Value, "-and-more-bytes"...)
	if string(kvs[1].Value) != "second" {
		t.Errorf("after appending to the first listed value, the second is %q, want %q", kvs[1].Value, "second")
	}
	wantKV(t, s, "a", "original", rev, rev)
	wantKV(t, s, "b", "second", rev, rev)
}

// testConcurrentCAS has 8 goroutines increment one counter by
// compare-and-swap: every successful transaction must count once, at its
// own revision, and a watcher must see the revisions in order.
func testConcurrentCAS(t *testing.T, s store.Store) {
	const (
		workers = 8
		each    = 12 // successful increments per worker
	)
	start := currentRev(t, s)

	watched := make(chan []int64, 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	final := start + workers*each
	go func() {
		var revs []int64
		for rev := range s.Watch(ctx, start) {
			revs = append(revs, rev)
			if rev >= final {
				break
			}
		}
		watched <- revs
	}()

	var (
		mu        sync.Mutex
		revs      []int64
		conflicts int
		wg        sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for done := 0; done < each; {
				kv, err := s.Get(ctx, "counter")
				var n int
				switch {
				case errors.Is(err, store.ErrNotFound):
					kv.ModRev = 0
				case err != nil:
					t.Errorf("Get: %v", err)
					return
				default:
					if n, err = strconv.Atoi(string(kv.Value)); err != nil {
						t.Errorf("counter holds %q", kv.Value)
						return
					}
				}
				rev, err := s.Txn(ctx,
					[]store.Cmp{{Key: "counter", ModRev: kv.ModRev}},
					[]store.Op{{Key: "counter", Value: []byte(strconv.Itoa(n + 1))}})
				mu.Lock()
				switch {
				case errors.Is(err, store.ErrConflict):
					conflicts++
				case err != nil:
					t.Errorf("Txn: %v", err)
					mu.Unlock()
					return
				default:
					revs = append(revs, rev)
					done++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d increments, %d conflicts", len(revs), conflicts)

	kv := mustGet(t, s, "counter")
	if got, want := string(kv.Value), strconv.Itoa(len(revs)); got != want {
		t.Errorf("counter = %s, want %s (the number of successful transactions)", got, want)
	}
	slices.Sort(revs)
	for i, rev := range revs {
		if want := start + 1 + int64(i); rev != want {
			t.Fatalf("sorted revisions of successful transactions = %v, want %d..%d, each once", revs, start+1, final)
		}
	}
	if kv.ModRev != final || kv.CreateRev != start+1 {
		t.Errorf("counter revisions = create %d mod %d, want create %d mod %d", kv.CreateRev, kv.ModRev, start+1, final)
	}

	var seen []int64
	select {
	case seen = <-watched:
	case <-time.After(watchTimeout):
		t.Fatalf("Watch did not reach revision %d within %v", final, watchTimeout)
	}
	if len(seen) == 0 || seen[len(seen)-1] != final || !isIncreasing(seen) || seen[0] <= start {
		t.Errorf("Watch(%d) sent %v, want increasing revisions above %d ending at %d", start, seen, start, final)
	}
}

// isIncreasing reports whether revs is strictly increasing.
func isIncreasing(revs []int64) bool {
	for i := 1; i < len(revs); i++ {
		if revs[i] <= revs[i-1] {
			return false
		}
	}
	return true
}

// testClosed checks that every method reports store.ErrClosed once the
// store is closed, and that Watch returns a closed channel.
func testClosed(t *testing.T, s store.Store) {
	r := put(t, s, "a", "1")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Get(t.Context(), "a"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Get after Close: error = %v, want ErrClosed", err)
	}
	if _, _, err := s.List(t.Context(), ""); !errors.Is(err, store.ErrClosed) {
		t.Errorf("List after Close: error = %v, want ErrClosed", err)
	}
	for _, ops := range [][]store.Op{nil, {{Key: "b", Value: []byte("1")}}} {
		if _, err := s.Txn(t.Context(), []store.Cmp{{Key: "a", ModRev: r}}, ops); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Txn(%d ops) after Close: error = %v, want ErrClosed", len(ops), err)
		}
	}
	ch := s.Watch(t.Context(), 0)
	for {
		rev, ok := recv(t, ch)
		if !ok {
			break
		}
		t.Errorf("Watch after Close sent %d, want a closed channel", rev)
	}
}
