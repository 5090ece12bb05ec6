package boltstore_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/portico-edge/portico/internal/store"
	"github.com/portico-edge/portico/internal/store/boltstore"
)

const (
	crashWriters = 4 // goroutines writing in the child
	// The parent kills the child after reading between crashMinAcks and
	// crashMaxAcks acknowledgements.
	crashMinAcks = 100
	crashMaxAcks = 400
)

// ack is one acknowledged write: Txn returned rev for a write of key.
type ack struct {
	key    string
	writer int
	rev    int64
}

// TestCrash proves that an acknowledged write survives kill -9. Each cycle
// starts this test binary again as a child process (TestHelperProcess in
// mode "crash") that writes from 4 goroutines and prints each write as soon
// as Txn has returned; the parent reads a few hundred of these
// acknowledgements, sends SIGKILL at a random moment, runs bbolt's
// consistency check on the file, reopens the store and checks that:
//
//   - every acknowledged write is there, with its value and its revision;
//   - each transaction's two keys (its own key and its writer's "last"
//     pointer) are both there or both absent;
//   - the revisions of the stored writes are exactly 1..current, each once:
//     nothing committed was lost and no revision was skipped or reused,
//     across every earlier kill as well;
//   - each cycle's revisions follow the previous cycle's.
//
// The test runs 5 cycles. Set PORTICO_CRASH_CYCLES to run more, for example
//
//	PORTICO_CRASH_CYCLES=100 go test -run TestCrash ./internal/store/boltstore
func TestCrash(t *testing.T) {
	cycles := 5
	if v := os.Getenv("PORTICO_CRASH_CYCLES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("PORTICO_CRASH_CYCLES=%q, want a positive number", v)
		}
		cycles = n
	}
	path := filepath.Join(t.TempDir(), "store.db")
	var (
		acked   = make(map[string]int64) // every acknowledged key → its revision
		prevRev int64                    // the store revision after the last cycle
	)
	for cycle := range cycles {
		acks := runAndKill(t, path, cycle, crashMinAcks+rand.IntN(crashMaxAcks-crashMinAcks))
		checkBolt(t, path)

		s, err := boltstore.Open(path)
		if err != nil {
			t.Fatalf("cycle %d: reopening after kill: %v", cycle, err)
		}
		lastAck := make([]int64, crashWriters)
		for _, a := range acks {
			if a.rev <= prevRev {
				t.Errorf("cycle %d: %s acknowledged at revision %d, but the store was at %d before the cycle", cycle, a.key, a.rev, prevRev)
			}
			if _, dup := acked[a.key]; dup {
				t.Errorf("cycle %d: %s acknowledged twice", cycle, a.key)
			}
			acked[a.key] = a.rev
			lastAck[a.writer] = max(lastAck[a.writer], a.rev)
		}
		prevRev = checkCrashState(t, s, cycle, acked, lastAck)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if t.Failed() {
			t.Fatalf("cycle %d failed", cycle)
		}
		t.Logf("cycle %d: killed after %d acknowledged writes, store at revision %d", cycle, len(acks), prevRev)
	}
}

// runAndKill starts the child writing to path, reads n acknowledgements,
// kills the child with SIGKILL and returns every acknowledgement it
// printed before it died.
func runAndKill(t *testing.T, path string, cycle, n int) []ack {
	t.Helper()
	cmd := helperCommand(t, "crash", path, cycle)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stdout)
	var acks []ack
	killed := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			// EOF: the child is dead. A line cut short by the kill was
			// never acknowledged.
			break
		}
		a, ok := parseAck(line)
		if !ok {
			continue // not from the writers (the child reached the test framework)
		}
		acks = append(acks, a)
		if len(acks) == n && !killed {
			// Let the child run on for up to a millisecond so that the
			// kill lands anywhere in a transaction.
			time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond)
			if err := cmd.Process.Kill(); err != nil {
				t.Fatalf("killing the child: %v", err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("cycle %d: child exited after %d acknowledgements (%v); stderr:\n%s", cycle, len(acks), err, cmd.Stderr)
	}
	return acks
}

func parseAck(line string) (ack, bool) {
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != "ack" {
		return ack{}, false
	}
	w, err1 := strconv.Atoi(f[2])
	rev, err2 := strconv.ParseInt(f[3], 10, 64)
	return ack{key: f[1], writer: w, rev: rev}, err1 == nil && err2 == nil
}

// checkBolt runs bbolt's own consistency check on the file.
func checkBolt(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("opening %s with bbolt: %v", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt check: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("bbolt check: %v", err)
	}
}

// checkCrashState checks the reopened store against every acknowledgement
// so far and returns its revision.
func checkCrashState(t *testing.T, s store.Store, cycle int, acked map[string]int64, lastAck []int64) int64 {
	t.Helper()
	ctx := t.Context()
	for key, rev := range acked {
		kv, err := s.Get(ctx, key)
		if err != nil {
			t.Errorf("cycle %d: acknowledged write %s at revision %d: %v", cycle, key, rev, err)
			continue
		}
		if kv.ModRev != rev || kv.CreateRev != rev || !bytes.Equal(kv.Value, crashValue(key)) {
			t.Errorf("cycle %d: acknowledged write %s at revision %d reads back as create %d mod %d, %d bytes (want %d)",
				cycle, key, rev, kv.CreateRev, kv.ModRev, len(kv.Value), len(crashValue(key)))
		}
	}

	writes, rev, err := s.List(ctx, "w/")
	if err != nil {
		t.Fatal(err)
	}
	revs := make([]int64, 0, len(writes))
	for _, kv := range writes {
		if kv.CreateRev != kv.ModRev || !bytes.Equal(kv.Value, crashValue(kv.Key)) {
			t.Errorf("cycle %d: stored write %s: create %d mod %d, %d bytes (want %d)",
				cycle, kv.Key, kv.CreateRev, kv.ModRev, len(kv.Value), len(crashValue(kv.Key)))
		}
		revs = append(revs, kv.ModRev)
	}
	slices.Sort(revs)
	for i, r := range revs {
		if r != int64(i)+1 {
			t.Errorf("cycle %d: revisions of the stored writes are not 1..%d each once: position %d holds %d", cycle, len(revs), i, r)
			break
		}
	}
	if rev != int64(len(revs)) {
		t.Errorf("cycle %d: store revision = %d, want %d, one per stored write", cycle, rev, len(revs))
	}

	for w := range crashWriters {
		last, err := s.Get(ctx, fmt.Sprintf("last/%d", w))
		if err != nil {
			if lastAck[w] > 0 {
				t.Errorf("cycle %d: writer %d: %v", cycle, w, err)
			}
			continue
		}
		kv, err := s.Get(ctx, string(last.Value))
		if err != nil || kv.ModRev != last.ModRev {
			t.Errorf("cycle %d: last/%d = %s at %d, but that key reads %d, %v: a transaction was applied in part",
				cycle, w, last.Value, last.ModRev, kv.ModRev, err)
		}
		if last.ModRev < lastAck[w] {
			t.Errorf("cycle %d: last/%d is at revision %d, older than the acknowledged %d", cycle, w, last.ModRev, lastAck[w])
		}
	}
	return rev
}

// crashValue returns the value written at key: 0 to 300 bytes derived from
// the key, and 6000 bytes for one key in 32, so that some values spill into
// bbolt overflow pages.
func crashValue(key string) []byte {
	h := fnv.New64a()
	h.Write([]byte(key))
	sum := h.Sum64()
	n := int(sum % 301)
	if sum%32 == 0 {
		n = 6000
	}
	return bytes.Repeat([]byte(key), n/len(key)+1)[:n]
}

// writeUntilKilled is the child of TestCrash. It writes from crashWriters
// goroutines, each transaction creating a new key w/<cycle>/<writer>/<n>
// (on the condition that it does not exist yet) and pointing
// last/<writer> at it, and prints "ack <key> <writer> <rev>" as soon as
// Txn returns. It stops only when killed, or after a minute in case its
// parent has gone.
func writeUntilKilled(path string, cycle int) error {
	s, err := boltstore.Open(path)
	if err != nil {
		return err
	}
	var (
		mu   sync.Mutex // orders the lines on stdout
		errc = make(chan error, crashWriters)
	)
	for w := range crashWriters {
		go func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("w/%04d/%d/%07d", cycle, w, i)
				rev, err := s.Txn(context.Background(),
					[]store.Cmp{{Key: key, ModRev: 0}},
					[]store.Op{{Key: key, Value: crashValue(key)}, {Key: fmt.Sprintf("last/%d", w), Value: []byte(key)}})
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				_, err = fmt.Fprintf(os.Stdout, "ack %s %d %d\n", key, w, rev)
				mu.Unlock()
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	select {
	case err := <-errc:
		return err
	case <-time.After(time.Minute):
		return fmt.Errorf("not killed within a minute")
	}
}
