package httpcache

import (
	"slices"
	"unsafe"
)

// Accounting. An entry counts against the byte budget what it takes in
// memory as the runtime allocates it (every allocation rounded up to its
// size class), plus its share of the structures that find and evict it,
// plus what it may come to have later (entryLater). What entries share
// (the copies of field values and key prefixes, the hit values) counts
// once, and the hit stamps (which few entries of a large cache have at
// once) as they come and go. The count must not be less than what the
// cache really takes, or the cache overshoots its budget;
// BenchmarkMemoryPerObject and TestAccountingCovers compare the two.

// sizeClasses are the runtime's size classes for small objects (Go's
// internal/runtime/gc/sizeclasses.go); larger objects take whole pages.
// TestAllocSize checks them against the runtime.
var sizeClasses = [...]int{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768}

const (
	// maxSmallSize is the largest small object.
	maxSmallSize = 32768
	// pageSize is the runtime's page, the unit of large objects.
	pageSize = 8192
	// mallocHeader is the header of a small object that holds pointers
	// and is larger than mallocHeaderMin.
	mallocHeader    = 8
	mallocHeaderMin = 512
)

// allocSize returns the bytes the runtime takes for an object of n bytes;
// pointers is true when the object holds pointers.
func allocSize(n int, pointers bool) int {
	if n == 0 {
		return 0
	}
	if pointers && n > mallocHeaderMin && n <= maxSmallSize-mallocHeader {
		n += mallocHeader
	}
	if n <= maxSmallSize {
		i, _ := slices.BinarySearch(sizeClasses[:], n)
		return sizeClasses[i]
	}
	return (n + pageSize - 1) &^ (pageSize - 1)
}

// Fixed costs of an entry, beyond its own allocations.
const (
	// indexSlotBytes bounds an entry's share of its shard's map: a slot
	// (key hash and pointer) and its control byte, in a table that may be
	// as little as 7/16 full right after it grows.
	indexSlotBytes = (int(unsafe.Sizeof(uint64(0))+unsafe.Sizeof((*entry)(nil))) + 1) * 16 / 7
	// ghostBytes bounds an entry's share of the ghost queue, which
	// remembers as many key hashes as the cache holds entries: a slot in
	// its slice (which grows to twice its length, and keeps up to as many
	// forgotten hashes again before it is compacted) and in its set.
	ghostBytes = 4*4 + (4+1)*16/7
	// fixedBytes is all of an entry's fixed costs.
	fixedBytes = indexSlotBytes + ghostBytes
)

// entrySize is what e counts against the byte budget, when the string its
// key and fields are in is textLen long.
func entrySize(e *entry, textLen int) int64 {
	str := int(unsafe.Sizeof(""))
	n := allocSize(int(unsafe.Sizeof(entry{})), true) +
		allocSize(textLen, false) +
		allocSize(cap(e.body), false) +
		allocSize(int(unsafe.Sizeof(entryLater{})), true) +
		fixedBytes
	if m := e.more; m != nil {
		n += allocSize(int(unsafe.Sizeof(entryMore{})), true) +
			allocSize(str*len(m.vary), true) +
			allocSize(str*len(m.tags), true)
	}
	return int64(n)
}
