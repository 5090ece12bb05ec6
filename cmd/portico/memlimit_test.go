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
	if got := limitHeap(budget, ""); got != want {
		t.Errorf("limitHeap(1 GiB) = %d, want %d", got, want)
	}
	if got := debug.SetMemoryLimit(-1); got != want {
		t.Errorf("runtime limit %d, want %d", got, want)
	}

	// A limit the operator set (GOMEMLIMIT, which the runtime has read)
	// is kept, "off" included.
	for _, env := range []struct {
		value string
		limit int64
	}{{"3GiB", 3 << 30}, {"off", math.MaxInt64}} {
		debug.SetMemoryLimit(env.limit)
		if got := limitHeap(budget, env.value); got != env.limit {
			t.Errorf("GOMEMLIMIT=%s: limitHeap = %d, want the operator's %d", env.value, got, env.limit)
		}
		if got := debug.SetMemoryLimit(-1); got != env.limit {
			t.Errorf("GOMEMLIMIT=%s: runtime limit changed to %d", env.value, got)
		}
	}

	// A budget too large to add to is no limit at all.
	debug.SetMemoryLimit(math.MaxInt64)
	if got := limitHeap(math.MaxInt64-1, ""); got != math.MaxInt64 {
		t.Errorf("limitHeap(huge) = %d, want no limit", got)
	}
}
