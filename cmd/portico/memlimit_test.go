package main

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestLimitHeap(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })

	debug.SetMemoryLimit(math.MaxInt64) // as when GOMEMLIMIT is not set
	const budget = 1 << 30
	want := int64(budget + budget/4 + heapSlack)
	if got := limitHeap(budget); got != want {
		t.Errorf("limitHeap(1 GiB) = %d, want %d", got, want)
	}
	if got := debug.SetMemoryLimit(-1); got != want {
		t.Errorf("runtime limit %d, want %d", got, want)
	}

	// A limit already set (GOMEMLIMIT) is the operator's: kept.
	debug.SetMemoryLimit(3 << 30)
	if got := limitHeap(budget); got != 3<<30 {
		t.Errorf("with GOMEMLIMIT set: limitHeap = %d, want the operator's %d", got, int64(3<<30))
	}

	// A budget too large to add to is no limit at all.
	debug.SetMemoryLimit(math.MaxInt64)
	if got := limitHeap(math.MaxInt64 - 1); got != math.MaxInt64 {
		t.Errorf("limitHeap(huge) = %d, want no limit", got)
	}
}
