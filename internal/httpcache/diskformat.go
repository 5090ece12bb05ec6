package httpcache

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"net/http"
	"time"
)

// The file of one stored response (one variant of one key):
//
//	magic   "PORTICO\x01"
//	uint32  length of the metadata
//	meta    scope, key, path, epoch, gen, the secondary key, the tags,
//	        status, the header fields, response time, age, ttl, swr, sie,
//	        flags, ETag, Last-Modified
//	uint64  length of the body
//	body
//	uint32  CRC-32C of everything before it
//
// Integers are big-endian; a string is a uint32 length and its bytes; a
// list is a uint32 count and its items. A file whose length, checksum or
// metadata does not add up is not a response: it is deleted and the lookup
// is a miss.

var diskMagic = [8]byte{'P', 'O', 'R', 'T', 'I', 'C', 'O', 1}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt is the error of a file that is not a valid stored response.
var errCorrupt = errors.New("httpcache: corrupt cache file")

// Flags of a stored response.
const (
	flagMustRevalidate = 1 << iota
	flagCompressed
)

// diskMeta is what a file says about its response besides the body.
type diskMeta struct {
	scope string
	key   string
	path  string
	epoch uint64
	gen   uint64
	vary  []string
	tags  []string

	status       int
	header       http.Header
	responseTime int64
	age          time.Duration
	policy       storePolicy
	flags        uint8
	etag         string
	lastModified string
}

// encodeEntry returns the file of e, written by the cache of epoch.
func encodeEntry(e *entry, epoch uint64) []byte {
	m := make([]byte, 0, 512+len(e.pre.s)+len(e.key))
	m = appendString(m, e.sc().name)
	m = appendString(m, e.fullKey())
	m = appendString(m, e.path())
	m = binary.BigEndian.AppendUint64(m, epoch)
	m = binary.BigEndian.AppendUint64(m, e.gen)
	m = appendStrings(m, e.vary())
	m = appendStrings(m, e.tags())
	m = binary.BigEndian.AppendUint16(m, uint16(e.status))
	m = binary.BigEndian.AppendUint32(m, uint32(e.header.len()))
	for i := range e.header.len() {
		m = appendString(m, e.header.name(i))
		m = appendStrings(m, e.header.at(i))
	}
	p := e.policy()
	for _, v := range [...]int64{e.responseTime, int64(e.age), int64(p.ttl), int64(p.swr), int64(p.sie)} {
		m = binary.BigEndian.AppendUint64(m, uint64(v))
	}
	var flags uint8
	if p.mustRevalidate {
		flags |= flagMustRevalidate
	}
	if e.compressed() {
		flags |= flagCompressed
	}
	m = append(m, flags)
	m = appendString(m, e.etag())
	m = appendString(m, e.lastModified())

	b := make([]byte, 0, len(diskMagic)+4+len(m)+8+len(e.body)+4)
	b = append(b, diskMagic[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m)))
	b = append(b, m...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(e.body)))
	b = append(b, e.body...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeFile checks a whole file and returns its metadata and body.
func decodeFile(b []byte) (diskMeta, []byte, error) {
	if len(b) < len(diskMagic)+4+8+4 || [8]byte(b[:8]) != diskMagic {
		return diskMeta{}, nil, errCorrupt
	}
	sum := binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(b[:len(b)-4], castagnoli) != sum {
		return diskMeta{}, nil, errCorrupt
	}
	m, rest, err := decodeMeta(b[len(diskMagic):])
	if err != nil || len(rest) < 8 {
		return diskMeta{}, nil, errCorrupt
	}
	n := binary.BigEndian.Uint64(rest)
	rest = rest[8:]
	if n != uint64(len(rest)-4) {
		return diskMeta{}, nil, errCorrupt
	}
	return m, rest[:n:n], nil
}

// decodeMeta decodes the metadata length and metadata at the start of b
// and returns what follows them.
func decodeMeta(b []byte) (diskMeta, []byte, error) {
	var m diskMeta
	if len(b) < 4 {
		return m, nil, errCorrupt
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return m, nil, errCorrupt
	}
	d := decoder{b: b[4 : 4+n]}
	m.scope = d.string()
	m.key = d.string()
	m.path = d.string()
	m.epoch = d.uint64()
	m.gen = d.uint64()
	m.vary = d.strings()
	m.tags = d.strings()
	m.status = int(d.uint16())
	nf := d.count()
	hd := make(map[string][]string, min(nf, 64))
	for range nf {
		name := d.string()
		hd[name] = d.strings()
	}
	m.header = hd
	m.responseTime = int64(d.uint64())
	m.age = time.Duration(d.uint64())
	m.policy.ttl = time.Duration(d.uint64())
	m.policy.swr = time.Duration(d.uint64())
	m.policy.sie = time.Duration(d.uint64())
	m.flags = d.byte()
	m.policy.mustRevalidate = m.flags&flagMustRevalidate != 0
	m.etag = d.string()
	m.lastModified = d.string()
	if d.bad || len(d.b) != 0 || len(m.vary)%2 != 0 || m.status < 100 || m.status > 999 {
		return m, nil, errCorrupt
	}
	return m, b[4+n:], nil
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

// decoder reads the metadata of a file; a read past the end sets bad.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) take(n uint64) []byte {
	if d.bad || n > uint64(len(d.b)) {
		d.bad, d.b = true, nil
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) uint16() uint16 {
	if v := d.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) uint32() uint32 {
	if v := d.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) uint64() uint64 {
	if v := d.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) string() string { return string(d.take(uint64(d.uint32()))) }

// count reads a list length, bounded by what is left (each item takes at
// least four bytes), so that a corrupt count cannot make a huge slice.
func (d *decoder) count() int {
	n := d.uint32()
	if uint64(n)*4 > uint64(len(d.b)) || n > math.MaxInt32 {
		d.bad = true
		return 0
	}
	return int(n)
}

func (d *decoder) strings() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.string()
	}
	return ss
}
