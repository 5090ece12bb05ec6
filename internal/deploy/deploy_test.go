package deploy

import "testing"

// TestAppliedIsTheSlowestEdge: a revision is deployed only once every edge
// that has reported serves it, and what was deployed stays deployed (a
// status never goes back from Deployed to InProgress).
func TestAppliedIsTheSlowestEdge(t *testing.T) {
	var tr Tracker
	if got := tr.AppliedRev(); got != 0 {
		t.Fatalf("zero Tracker: AppliedRev = %d, want 0", got)
	}
	steps := []struct {
		edge string
		rev  int64
		want int64
	}{
		{"a", 5, 5},
		{"b", 3, 5}, // a late, slower edge does not undo what was deployed
		{"a", 9, 5}, // but it holds further deployment back

		{"b", 8, 8},
		{"b", 7, 8}, // an edge never goes back
		{"b", 12, 9},
	}
	for _, s := range steps {
		tr.Applied(s.edge, s.rev)
		if got := tr.AppliedRev(); got != s.want {
			t.Fatalf("after %s@%d: AppliedRev = %d, want %d", s.edge, s.rev, got, s.want)
		}
	}
}

// TestChangedIsClosedOnAdvance: waiters wake when AppliedRev advances, and
// only then.
func TestChangedIsClosedOnAdvance(t *testing.T) {
	var tr Tracker
	ch := tr.Changed()
	tr.Applied("a", 0) // no advance
	select {
	case <-ch:
		t.Fatal("Changed closed without an advance")
	default:
	}
	tr.Applied("a", 1)
	select {
	case <-ch:
	default:
		t.Fatal("Changed not closed after an advance")
	}
	if next := tr.Changed(); next == ch {
		t.Fatal("Changed returned the closed channel again")
	}
}
