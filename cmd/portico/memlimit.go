package main

import (
	"math"
	"runtime/debug"
)

// heapSlack is the memory beyond the cache's budget that the heap limit
// leaves for everything else: connections' buffers (about 32 KiB each,
// more with HTTP/2 receive windows), bodies in flight, snapshots, the
// runtime. With 512 MiB, some 15,000 busy connections fit beside a full
// cache before the collector has to work harder.
const heapSlack = 512 << 20

// limitHeap sets the Go runtime's soft memory limit to the cache's memory
// budget plus a quarter (the budget counts bodies and an estimate of the
// bookkeeping; the quarter covers what the estimate misses) plus
// heapSlack, and returns the limit in force. Without a limit the collector
// lets the heap grow to twice the live data before it runs, so a full
// 1 GiB memory tier would hold about 2 GiB resident; with one, it runs more
// often as the heap nears the limit instead. (Past the limit the runtime
// caps the collector at half the CPU rather than running out of memory.)
//
// A limit the operator set with GOMEMLIMIT, "off" included, is kept:
// gomemlimit is that variable's value.
func limitHeap(cacheBytes int64, gomemlimit string) int64 {
	if gomemlimit != "" {
		return debug.SetMemoryLimit(-1)
	}
	limit := int64(math.MaxInt64)
	if cacheBytes <= (math.MaxInt64-heapSlack)/5*4 {
		limit = cacheBytes + cacheBytes/4 + heapSlack
	}
	debug.SetMemoryLimit(limit)
	return limit
}
