package main

import (
	"math"
	"runtime/debug"
)

// heapSlack is the memory beyond the cache's budget that the heap limit
// leaves for everything else: connections' buffers, bodies in flight,
// snapshots, the runtime.
const heapSlack = 256 << 20

// limitHeap sets the Go runtime's soft memory limit to the cache's memory
// budget plus a quarter (the budget counts bodies and an estimate of the
// bookkeeping; the quarter covers what the estimate misses) plus
// heapSlack, and returns the limit set. Without a limit the collector lets
// the heap grow to twice the live data before it runs, so a full 1 GiB
// memory tier would hold about 2 GiB resident; with one, it runs more often
// as the heap nears the limit instead. A limit the operator set with
// GOMEMLIMIT is kept (and returned).
func limitHeap(cacheBytes int64) int64 {
	if cur := debug.SetMemoryLimit(-1); cur != math.MaxInt64 {
		return cur
	}
	limit := cacheBytes + cacheBytes/4 + heapSlack
	if cacheBytes > (math.MaxInt64-heapSlack)/5*4 {
		limit = math.MaxInt64
	}
	debug.SetMemoryLimit(limit)
	return limit
}
