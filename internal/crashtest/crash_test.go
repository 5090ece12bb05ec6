package crashtest

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	bolt "go.etcd.io/bbolt"
)

// soak returns the result of the kill loop the tests share, running it
// on first use. With -count above 1, every repetition checks the same run.
func soak(t *testing.T) *soakResult {
	t.Helper()
	if testing.Short() {
		t.Skip("the kill loop runs the server dozens of times; not in -short mode")
	}
	res := sharedSoak()
	if res.err != nil {
		if res.cycles == 0 {
			t.Fatalf("the kill loop did not complete a cycle: %v", res.err)
		}
		t.Errorf("the kill loop stopped after %d cycles: %v", res.cycles, res.err)
	}
	return res
}

// TestStoreFilePassesBoltCheckAfterKill9 runs bbolt's consistency check on
// the store file after every SIGKILL, before the server opens it again.
func TestStoreFilePassesBoltCheckAfterKill9(t *testing.T) {
	res := soak(t)
	for _, p := range res.boltProblems {
		t.Errorf("bbolt check: %s", p)
	}
	t.Logf("%d kill cycles and %d kills during start-up, bbolt check found %d problems",
		res.cycles, res.startKills, len(res.boltProblems))
}

// TestAcknowledgedWritesSurviveKill9 checks after every restart that each
// slot is as its writer's last acknowledged write left it, or as the write
// the kill cut off would leave it: acknowledged creates exist with the
// configuration sent, acknowledged updates with the ETag returned,
// acknowledged deletes are gone, and the certificate is in use by exactly
// the live distributions.
func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	res := soak(t)
	for _, line := range res.log {
		t.Log(line)
	}
	for _, p := range res.lostWrites {
		t.Errorf("lost write: %s", p)
	}
	t.Logf("%d kill cycles, %d requests recorded; %d writes cut off by a kill or a 5xx, of which %d had taken effect",
		res.cycles, len(res.history), res.cutOff, res.cutOffApplied)
}

// partitionTimeout bounds porcupine's search in one slot's history. A
// slot's history is a few hundred requests per ten cycles with at most one
// cut-off write per cycle, and is checked in milliseconds.
const partitionTimeout = 10 * time.Second

// TestHistoryIsLinearizable checks the whole recorded history, across
// every kill, against a compare-and-set register per slot (see
// model_test.go) with porcupine. It also fails on any response during a
// cycle that contradicts what the same writer was told before.
func TestHistoryIsLinearizable(t *testing.T) {
	res := soak(t)
	for _, s := range res.surprises {
		t.Errorf("contradicting response: %s", s)
	}
	parts := slotModel.Partition(res.history)
	var timedOut []string
	for _, part := range parts {
		name := slotName(part[0].Input.(slotInput).Slot)
		switch porcupine.CheckOperationsTimeout(slotModel, part, partitionTimeout) {
		case porcupine.Illegal:
			t.Errorf("slot %s: the history of its %d requests is not linearizable:\n%s",
				name, len(part), explainIllegal(t, name, part))
		case porcupine.Unknown:
			timedOut = append(timedOut, name)
		}
	}
	// A timeout proves nothing either way. One now and then is the price of
	// a bounded search; many mean the check no longer checks.
	if len(timedOut) > len(parts)/8 {
		t.Errorf("porcupine timed out after %v on %d of %d slots: %v", partitionTimeout, len(timedOut), len(parts), timedOut)
	} else if len(timedOut) > 0 {
		t.Logf("porcupine timed out after %v on slots %v; tolerated", partitionTimeout, timedOut)
	}
	t.Logf("%d requests in %d slots over %d kill cycles checked; %d writes had an unknown outcome",
		len(res.history), len(parts), res.cycles, res.cutOff)
	t.Logf("requests by kind and outcome: %s", tally(res.history))
}

// tally counts the requests of a history by kind and outcome.
func tally(history []porcupine.Operation) string {
	type key struct {
		kind opKind
		out  outcome
	}
	counts := map[key]int{}
	for _, op := range history {
		counts[key{op.Input.(slotInput).Kind, op.Output.(slotOutput).Outcome}]++
	}
	keys := slices.SortedFunc(maps.Keys(counts), func(a, b key) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.out, b.out))
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%v %v %d", k.kind, k.out, counts[k])
	}
	return strings.Join(parts, ", ")
}

// slotName returns the name of the slot with the given partition index.
func slotName(index int) string {
	return fmt.Sprintf("w%d-s%d", index/slotsPerWriter, index%slotsPerWriter)
}

// explainIllegal renders the requests around the point where the longest
// linearization of part gets stuck, and saves porcupine's visualisation
// as an artifact.
func explainIllegal(t *testing.T, name string, part []porcupine.Operation) string {
	_, info := porcupine.CheckOperationsVerbose(slotModel, part, partitionTimeout)
	path := filepath.Join(t.ArtifactDir(), "history-"+name+".html")
	if err := porcupine.VisualizePath(slotModel, info, path); err != nil {
		t.Logf("visualising: %v", err)
	} else {
		t.Logf("visualisation in %s (kept with go test -artifacts)", path)
	}

	linearized := make([]bool, len(part))
	for _, partial := range info.PartialLinearizations() {
		longest := slices.MaxFunc(partial, func(a, b []int) int { return cmp.Compare(len(a), len(b)) })
		for _, i := range longest {
			linearized[i] = true
		}
	}
	order := make([]int, len(part))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(part[a].Call, part[b].Call) })
	stuck := slices.IndexFunc(order, func(i int) bool { return !linearized[i] })
	from, to := max(0, stuck-30), min(len(order), stuck+10)
	var b strings.Builder
	fmt.Fprintf(&b, "requests %d to %d of %d by call time; * marks the first the longest linearization cannot take:\n", from, to, len(order))
	for k, i := range order[from:to] {
		op := part[i]
		mark := " "
		if from+k == stuck {
			mark = "*"
		}
		fmt.Fprintf(&b, "%s %10.3f ms – %10.3f ms  client %d  %s\n", mark,
			float64(op.Call)/1e6, float64(op.Return)/1e6, op.ClientId,
			describeOp(op.Input.(slotInput), op.Output.(slotOutput)))
	}
	return b.String()
}

// TestJudgeFlagsLostWrites checks the comparison the verifier makes after
// each restart, so that TestAcknowledgedWritesSurviveKill9 can fail.
func TestJudgeFlagsLostWrites(t *testing.T) {
	v1 := version{Present: true, Gen: 1, ID: "E1", ETag: "EA", Comment: "c1", Enabled: true}
	v2 := version{Present: true, Gen: 1, ID: "E1", ETag: "EB", Comment: "c2", Enabled: true}
	want2 := version{Present: true, Gen: 1, ID: "E1", Comment: "c2", Enabled: true} // v2 before the server chose its ETag
	disabled := version{Present: true, Gen: 1, ID: "E1", ETag: "EB", Comment: "c2", Enabled: false}
	created := version{Present: true, Gen: 2, ID: "E2", ETag: "EC", Comment: "c3", Enabled: true}
	wantCreated := version{Present: true, Gen: 2, Comment: "c3", Enabled: true}
	none := version{}
	tests := []struct {
		name   string
		acked  version
		cutOff *version
		stored version
		lost   bool
	}{
		{"acknowledged update stored", v2, nil, v2, false},
		{"acknowledged update rolled back", v2, nil, v1, true},
		{"acknowledged update under another ETag", v2, nil, version{Present: true, Gen: 1, ID: "E1", ETag: "EZ", Comment: "c2", Enabled: true}, true},
		{"acknowledged create lost", created, nil, none, true},
		{"acknowledged delete undone", none, nil, v1, true},
		{"acknowledged disable lost", disabled, nil, v2, true},
		{"cut-off update took effect", v1, &want2, v2, false},
		{"cut-off update did not", v1, &want2, v1, false},
		{"cut-off update stored under the old ETag", v1, &want2, version{Present: true, Gen: 1, ID: "E1", ETag: "EA", Comment: "c2", Enabled: true}, true},
		{"cut-off update and the acknowledged state both lost", v2, &version{Present: true, Gen: 1, ID: "E1", Comment: "c9", Enabled: true}, v1, true},
		{"cut-off create took effect", none, &wantCreated, created, false},
		{"cut-off create did not", none, &wantCreated, none, false},
		{"cut-off create stored as another incarnation", none, &wantCreated, v1, true},
		{"cut-off delete took effect", disabled, &none, none, false},
		{"cut-off delete did not", disabled, &none, disabled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := judge(tt.acked, tt.cutOff, tt.stored)
			if lost := p != ""; lost != tt.lost {
				t.Errorf("judge(%v, %v, %v) = %q; want lost = %v", tt.acked, tt.cutOff, tt.stored, p, tt.lost)
			}
		})
	}
}

// TestBoltCheckFindsCorruption damages a bbolt file in ways a torn write
// could, and checks that checkBolt reports each, so that
// TestStoreFilePassesBoltCheckAfterKill9 can fail.
func TestBoltCheckFindsCorruption(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(page []byte)
	}{
		{"leaf keys out of order", func(page []byte) {
			// The first element's key: leafPageElement.pos counts from
			// the element, which follows the 16-byte page header.
			pos := binary.LittleEndian.Uint32(page[16+4:])
			page[16+pos] = 0xff
		}},
		{"page of an unknown type", func(page []byte) {
			binary.LittleEndian.PutUint16(page[8:], 0x40)
		}},
		{"page zeroed", func(page []byte) {
			clear(page)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "store.db")
			writeBoltFile(t, path)
			if problems := checkBolt(path); len(problems) > 0 {
				t.Fatalf("the intact file fails the check: %v", problems)
			}
			damageLeaf(t, path, tt.corrupt)
			problems := checkBolt(path)
			if len(problems) == 0 {
				t.Fatal("checkBolt found nothing wrong with the damaged file")
			}
			t.Logf("found: %s", problems[0])
		})
	}
}

// boltPageSize is the page size of the files writeBoltFile makes.
const boltPageSize = 4096

// writeBoltFile writes a bbolt file with enough keys in one bucket to
// fill several leaf pages.
func writeBoltFile(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{PageSize: boltPageSize})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("kv"))
		if err != nil {
			return err
		}
		for i := range 1000 {
			if err := b.Put(fmt.Appendf(nil, "key/%06d", i), []byte(strings.Repeat("v", 100))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// damageLeaf applies corrupt to the first leaf page with more than two
// elements (so one of the bucket's, not the root's) and writes it back.
func damageLeaf(t *testing.T, path string, corrupt func(page []byte)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const leafFlag = 0x02
	for off := 2 * boltPageSize; off+boltPageSize <= len(b); off += boltPageSize {
		page := b[off : off+boltPageSize]
		if binary.LittleEndian.Uint16(page[8:]) == leafFlag && binary.LittleEndian.Uint16(page[10:]) > 2 {
			corrupt(page)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatal("no leaf page with more than two elements in the file")
}
