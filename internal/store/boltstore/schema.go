package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// This file declares the whole on-disk layout: every bucket, every key of
// the meta bucket and the encoding of a stored record. Nothing else in the
// package names a bucket or decodes bytes from the file.
//
//	kv    <key> → createRev (8 bytes) | modRev (8 bytes) | value
//	meta  "rev" → current store revision (8 bytes)
//	      "version" → schema version (8 bytes)
//
// Integers are unsigned big-endian.

// bucket names a top-level bbolt bucket.
type bucket struct {
	name []byte
}

var (
	// kvBucket holds every key of the store, in key order, each with its
	// revisions and value (see encodeRecord).
	kvBucket = bucket{name: []byte("kv")}
	// metaBucket holds the store's own bookkeeping.
	metaBucket = bucket{name: []byte("meta")}
)

// buckets lists every bucket of the schema; Open creates the missing ones.
var buckets = []bucket{kvBucket, metaBucket}

// Keys in metaBucket.
var (
	// metaRevKey holds the current store revision. It is written by every
	// transaction, so the revision survives even when the newest
	// transaction only deleted keys.
	metaRevKey = []byte("rev")
	// metaVersionKey holds schemaVersion, written when the file is created.
	metaVersionKey = []byte("version")
)

// schemaVersion is the version of the layout described in this file. A file
// written by a newer layout is refused rather than misread.
const schemaVersion = 1

// recordHeaderLen is the length of the revisions that precede a stored value.
const recordHeaderLen = 16

// errCorrupt reports bytes in the file that do not follow the schema.
var errCorrupt = errors.New("corrupt data file")

// initSchema creates the missing buckets, stamps a new file with
// schemaVersion, refuses any other version, and returns the current
// revision.
func initSchema(tx *bolt.Tx) (rev int64, err error) {
	for _, b := range buckets {
		if _, err := tx.CreateBucketIfNotExists(b.name); err != nil {
			return 0, fmt.Errorf("creating bucket %q: %w", b.name, err)
		}
	}
	meta := tx.Bucket(metaBucket.name)
	switch v := meta.Get(metaVersionKey); {
	case v == nil:
		if err := meta.Put(metaVersionKey, encodeUint(schemaVersion)); err != nil {
			return 0, fmt.Errorf("writing schema version: %w", err)
		}
	case len(v) != 8:
		return 0, fmt.Errorf("%w: schema version is %d bytes long", errCorrupt, len(v))
	case binary.BigEndian.Uint64(v) != schemaVersion:
		return 0, fmt.Errorf("data file has schema version %d, this build reads version %d",
			binary.BigEndian.Uint64(v), schemaVersion)
	}
	return readRev(meta)
}

// readRev returns the revision stored in the meta bucket, 0 for a new file.
func readRev(meta *bolt.Bucket) (int64, error) {
	v := meta.Get(metaRevKey)
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: revision is %d bytes long", errCorrupt, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// writeRev stores rev as the current revision.
func writeRev(meta *bolt.Bucket, rev int64) error {
	return meta.Put(metaRevKey, encodeUint(uint64(rev)))
}

func encodeUint(n uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n)
}

// encodeRecord returns the kvBucket value for a key created at createRev
// and written at modRev. The result is a new slice: bbolt may keep it
// until the transaction commits, and the caller may reuse value.
func encodeRecord(createRev, modRev int64, value []byte) []byte {
	b := make([]byte, recordHeaderLen, recordHeaderLen+len(value))
	binary.BigEndian.PutUint64(b[0:8], uint64(createRev))
	binary.BigEndian.PutUint64(b[8:16], uint64(modRev))
	return append(b, value...)
}

// recordRevs returns the revisions of a kvBucket value without copying it.
func recordRevs(rec []byte) (createRev, modRev int64, ok bool) {
	if len(rec) < recordHeaderLen {
		return 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(rec[0:8])), int64(binary.BigEndian.Uint64(rec[8:16])), true
}

// decodeRecord returns the revisions and a copy of the value of a kvBucket
// value. The copy is needed because rec points into bbolt's memory map,
// which is only valid inside the transaction.
func decodeRecord(key string, rec []byte) (createRev, modRev int64, value []byte, err error) {
	createRev, modRev, ok := recordRevs(rec)
	if !ok {
		return 0, 0, nil, fmt.Errorf("%w: record for key %q is %d bytes long", errCorrupt, key, len(rec))
	}
	value = make([]byte, len(rec)-recordHeaderLen)
	copy(value, rec[recordHeaderLen:])
	return createRev, modRev, value, nil
}
