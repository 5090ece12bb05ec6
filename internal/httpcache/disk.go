package httpcache

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// The disk tier keeps a copy of every response the memory tier stores, so
// that the cache is warm after a restart, a crash or kill -9, and can stand
// in for an origin that is down from the start. One file holds one
// variant of one key (see diskformat.go), under
//
//	DIR/v1/<first two hex digits>/<primary key hash><variant hash>
//
// written by one background writer to a temporary file and renamed into
// place, so that a crash leaves the old file, the new one or a temporary
// file that the next start deletes, never a mix. Every read checks the
// file's length and checksum: a corrupt or partial file is deleted and the
// lookup is a miss. The writer keeps the files within a byte budget,
// oldest first; a write it cannot keep up with is dropped (the response
// stays in memory).
//
// Purges: each file records the purge generation its response was fetched
// at and the epoch (one per Open) of the cache that wrote it, so that
// within one run the memory tier's purge records judge it as they judge
// any entry, and a file from an earlier run counts as older than every
// purge of this one. Purges of earlier runs are applied to the files
// themselves: every purge is appended to a journal before the writer
// deletes the files it matches, and the journal is replayed at the next
// start, so that a kill -9 between the two cannot bring a purged response
// back. A soft purge deletes the disk copies (the memory copies are only
// marked stale).

const (
	diskLayout = "v1"
	// maxQueuedWrites bounds the writes waiting for the writer.
	maxQueuedWrites = 256
	journalName     = "purges"
)

// diskTier is the disk tier of a Cache.
type diskTier struct {
	dir      string // DIR/v1
	maxBytes int64
	epoch    uint64
	log      *slog.Logger

	mu      sync.Mutex
	records map[string]*diskRecord   // by file name
	byKey   map[uint64][]*diskRecord // by primary key hash
	byPath  map[string][]*diskRecord // by scope and path
	oldest  diskRecord               // sentinel of the age list: oldest.next is the oldest
	size    int64
	queue   []diskOp
	writes  int // writes in queue
	sweeps  int // sweeps in queue or running
	journal *os.File
	closed  bool

	wake chan struct{} // signals the writer, capacity 1
	done chan struct{} // closed when the writer has stopped
}

// diskRecord is what the tier remembers of a file.
type diskRecord struct {
	name       string
	primary    uint64
	scope      string
	path       string
	tags       []string
	size       int64
	prev, next *diskRecord
}

// diskOp is one job of the writer: write an entry, delete a file, or
// apply a purge to the files.
type diskOp struct {
	write *entry
	drop  string
	purge *diskPurge
}

// diskPurge is a purge as the journal records it.
type diskPurge struct {
	scope   string
	pattern string
	tag     bool
}

func (p *diskPurge) matches(r *diskRecord) bool {
	if r.scope != p.scope {
		return false
	}
	if p.tag {
		return slices.Contains(r.tags, p.pattern)
	}
	if prefix, ok := strings.CutSuffix(p.pattern, "*"); ok {
		return strings.HasPrefix(r.path, prefix)
	}
	return r.path == p.pattern
}

// openDisk opens (creating it) the disk tier in dir: it indexes the files
// from their metadata, deletes those that are not whole responses and
// those that purges in the journal match, and starts the writer.
func openDisk(dir string, maxBytes int64, epoch uint64, log *slog.Logger) (*diskTier, error) {
	d := &diskTier{
		dir:      filepath.Join(dir, diskLayout),
		maxBytes: maxBytes,
		epoch:    epoch,
		log:      log,
		records:  make(map[string]*diskRecord),
		byKey:    make(map[uint64][]*diskRecord),
		byPath:   make(map[string][]*diskRecord),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	d.oldest.next, d.oldest.prev = &d.oldest, &d.oldest
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return nil, fmt.Errorf("httpcache: disk tier: %w", err)
	}
	if err := d.index(); err != nil {
		return nil, fmt.Errorf("httpcache: disk tier: %w", err)
	}
	if err := d.replayJournal(); err != nil {
		return nil, fmt.Errorf("httpcache: disk tier: %w", err)
	}
	j, err := os.OpenFile(filepath.Join(d.dir, journalName), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("httpcache: disk tier: %w", err)
	}
	d.journal = j
	d.evict()
	go d.run()
	return d, nil
}

// index walks the files, oldest first, and indexes the valid ones.
func (d *diskTier) index() error {
	type found struct {
		rec   *diskRecord
		mtime int64
	}
	var files []found
	err := filepath.WalkDir(d.dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() {
			if path != d.dir && len(de.Name()) != 2 {
				return fs.SkipDir
			}
			return nil
		}
		name := de.Name()
		if name == journalName {
			return nil
		}
		rec, err := readRecord(path, name)
		if err != nil {
			// A temporary file of an interrupted write, or a file that
			// is not a whole response.
			d.log.Debug("httpcache: disk tier: deleting a file", "file", name, "err", err)
			os.Remove(path)
			return nil
		}
		info, err := de.Info()
		if err != nil {
			return nil
		}
		files = append(files, found{rec, info.ModTime().UnixNano()})
		return nil
	})
	if err != nil {
		return err
	}
	sort.SliceStable(files, func(i, j int) bool { return files[i].mtime < files[j].mtime })
	for _, f := range files {
		d.add(f.rec)
	}
	return nil
}

// readRecord reads the metadata of a file and checks that it is the file
// its name says. The body and checksum are checked when it is read.
func readRecord(path, name string) (*diskRecord, error) {
	primary, _, ok := parseFileName(name)
	if !ok {
		return nil, errCorrupt
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var head [len(diskMagic) + 4]byte
	if _, err := io.ReadFull(f, head[:]); err != nil || [8]byte(head[:8]) != diskMagic {
		return nil, errCorrupt
	}
	n := binary.BigEndian.Uint32(head[8:])
	if int64(n) > info.Size() {
		return nil, errCorrupt
	}
	meta := make([]byte, 4+n)
	copy(meta, head[8:])
	if _, err := io.ReadFull(f, meta[4:]); err != nil {
		return nil, errCorrupt
	}
	m, _, err := decodeMeta(meta)
	if err != nil || primaryHash(m.scope, m.key) != primary {
		return nil, errCorrupt
	}
	return &diskRecord{name: name, primary: primary, scope: m.scope, path: m.path, tags: m.tags, size: info.Size()}, nil
}

// primaryHash names the files of a key: a hash that does not change from
// one run to the next.
func primaryHash(scope, key string) uint64 {
	h := fnvString(fnvOffset64, scope)
	h = fnvByte(h, 0)
	return fnvString(h, key)
}

// entryPrimaryHash is primaryHash of e's scope and primary key.
func entryPrimaryHash(e *entry) uint64 {
	h := fnvString(fnvOffset64, e.sc().name)
	h = fnvByte(h, 0)
	return fnvString(fnvString(h, e.pre.s), e.key)
}

func variantHash(vary []string) uint64 {
	h := uint64(fnvOffset64)
	for _, s := range vary {
		h = fnvByte(fnvString(h, s), 0)
	}
	return h
}

// FNV-1a, 64 bits, as hash/fnv's New64a computes it, without copying
// strings into a hash.Hash: the names of the disk tier's files.
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = fnvByte(h, s[i])
	}
	return h
}

func fnvByte(h uint64, b byte) uint64 { return (h ^ uint64(b)) * fnvPrime64 }

func fileName(e *entry) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], entryPrimaryHash(e))
	binary.BigEndian.PutUint64(b[8:], variantHash(e.vary()))
	return hex.EncodeToString(b[:])
}

func parseFileName(name string) (primary, variant uint64, ok bool) {
	if len(name) != 32 {
		return 0, 0, false
	}
	b, err := hex.DecodeString(name)
	if err != nil {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]), true
}

func (d *diskTier) filePath(name string) string { return filepath.Join(d.dir, name[:2], name) }

// add indexes rec as the newest file. d.mu is held, or the writer is not
// running yet.
func (d *diskTier) add(rec *diskRecord) {
	if old := d.records[rec.name]; old != nil {
		d.unindex(old)
	}
	d.records[rec.name] = rec
	d.byKey[rec.primary] = append(d.byKey[rec.primary], rec)
	pk := rec.scope + "\x00" + rec.path
	d.byPath[pk] = append(d.byPath[pk], rec)
	rec.prev, rec.next = d.oldest.prev, &d.oldest
	d.oldest.prev.next = rec
	d.oldest.prev = rec
	d.size += rec.size
}

// unindex forgets rec. d.mu is held.
func (d *diskTier) unindex(rec *diskRecord) {
	if d.records[rec.name] != rec {
		return
	}
	delete(d.records, rec.name)
	d.byKey[rec.primary] = slices.DeleteFunc(d.byKey[rec.primary], func(r *diskRecord) bool { return r == rec })
	if len(d.byKey[rec.primary]) == 0 {
		delete(d.byKey, rec.primary)
	}
	pk := rec.scope + "\x00" + rec.path
	d.byPath[pk] = slices.DeleteFunc(d.byPath[pk], func(r *diskRecord) bool { return r == rec })
	if len(d.byPath[pk]) == 0 {
		delete(d.byPath, pk)
	}
	rec.prev.next, rec.next.prev = rec.next, rec.prev
	rec.prev, rec.next = nil, nil
	d.size -= rec.size
}

// remove deletes the file of rec and forgets it. d.mu is held.
func (d *diskTier) remove(rec *diskRecord) {
	d.unindex(rec)
	if err := os.Remove(d.filePath(rec.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.log.Warn("httpcache: disk tier: cannot delete a file", "file", rec.name, "err", err)
	}
}

// evict deletes the oldest files until the tier fits its budget. d.mu is
// held, or the writer is not running yet.
func (d *diskTier) evict() {
	for d.size > d.maxBytes && d.oldest.next != &d.oldest {
		d.remove(d.oldest.next)
	}
}

// load returns the stored variant of key in scope sc that r selects, as
// an entry of cache c, or nil. It reads and checks the files of the key;
// one that is not valid is deleted.
func (d *diskTier) load(c *Cache, sc *scope, key string, r *http.Request) *entry {
	primary := primaryHash(sc.name, key)
	d.mu.Lock()
	recs := slices.Clone(d.byKey[primary])
	d.mu.Unlock()
	for _, rec := range recs {
		b, err := os.ReadFile(d.filePath(rec.name))
		if err != nil {
			d.forget(rec)
			continue
		}
		m, body, err := decodeFile(b)
		if err != nil {
			d.log.Warn("httpcache: disk tier: deleting a corrupt file", "file", rec.name)
			d.drop(rec.name)
			continue
		}
		if m.scope != sc.name || m.key != key {
			continue // a hash collision
		}
		if !selects(m.vary, r) {
			continue
		}
		res := &response{
			key:          key,
			sc:           sc,
			path:         m.path,
			vary:         m.vary,
			tags:         m.tags,
			status:       m.status,
			header:       m.header,
			shared:       c.shared,
			body:         slices.Clone(body), // not the whole file
			responseTime: m.responseTime,
			age:          m.age,
			policy:       m.policy,
			etag:         m.etag,
			lastModified: m.lastModified,
			compressed:   m.flags&flagCompressed != 0,
		}
		if m.epoch == d.epoch {
			res.gen = m.gen
		}
		return newEntry(res)
	}
	return nil
}

// settled reports whether every purge journaled so far has been applied
// to the files.
func (d *diskTier) settled() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sweeps == 0
}

// forget drops rec from the index without touching the disk.
func (d *diskTier) forget(rec *diskRecord) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.unindex(rec)
}

// save queues e to be written, unless the writer is too far behind.
func (d *diskTier) save(e *entry) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.writes >= maxQueuedWrites {
		return
	}
	d.writes++
	d.queue = append(d.queue, diskOp{write: e})
	d.signal()
}

// drop queues the deletion of a file.
func (d *diskTier) drop(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.queue = append(d.queue, diskOp{drop: name})
	d.signal()
}

// purge journals a purge, then queues its application to the files.
// durable syncs the journal first, so that a power loss cannot undo it.
func (d *diskTier) purge(scope, pattern string, tag, durable bool) {
	p := &diskPurge{scope: scope, pattern: pattern, tag: tag}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	kind := "path"
	if tag {
		kind = "tag"
	}
	line := kind + " " + strconv.Quote(scope) + " " + strconv.Quote(pattern) + "\n"
	if _, err := io.WriteString(d.journal, line); err != nil {
		d.log.Error("httpcache: disk tier: cannot journal a purge", "err", err)
	} else if durable {
		d.journal.Sync()
	}
	d.sweeps++
	d.queue = append(d.queue, diskOp{purge: p})
	d.signal()
}

func (d *diskTier) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// close stops the writer once it has done what is queued.
func (d *diskTier) close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.signal()
	d.mu.Unlock()
	<-d.done
	return d.journal.Close()
}

// run is the writer: it does the queued jobs in order.
func (d *diskTier) run() {
	defer close(d.done)
	for {
		<-d.wake
		for {
			d.mu.Lock()
			if len(d.queue) == 0 {
				closed := d.closed
				d.mu.Unlock()
				if closed {
					return
				}
				break
			}
			op := d.queue[0]
			d.queue[0] = diskOp{}
			d.queue = d.queue[1:]
			d.mu.Unlock()
			d.do(op)
		}
	}
}

func (d *diskTier) do(op diskOp) {
	switch {
	case op.write != nil:
		d.write(op.write)
	case op.drop != "":
		d.mu.Lock()
		if rec := d.records[op.drop]; rec != nil {
			d.remove(rec)
		} else {
			os.Remove(d.filePath(op.drop))
		}
		d.mu.Unlock()
	case op.purge != nil:
		d.mu.Lock()
		d.apply(op.purge)
		if d.sweeps--; d.sweeps == 0 {
			// Every journaled purge is applied: start a new journal.
			if err := d.journal.Truncate(0); err == nil {
				d.journal.Seek(0, io.SeekStart)
			}
		}
		d.mu.Unlock()
	}
}

// apply deletes the files a purge matches. d.mu is held.
func (d *diskTier) apply(p *diskPurge) {
	if !p.tag && !strings.HasSuffix(p.pattern, "*") {
		for _, rec := range slices.Clone(d.byPath[p.scope+"\x00"+p.pattern]) {
			d.remove(rec)
		}
		return
	}
	for rec := d.oldest.next; rec != &d.oldest; {
		next := rec.next
		if p.matches(rec) {
			d.remove(rec)
		}
		rec = next
	}
}

// write stores e in its file, unless a purge matched it meanwhile. It
// holds the scope's purge lock meanwhile: a purge comes wholly before the
// write (which then sees it) or after (and its sweep, queued behind the
// write, deletes the file).
func (d *diskTier) write(e *entry) {
	d.mu.Lock()
	d.writes--
	d.mu.Unlock()
	e.sc().mu.Lock()
	defer e.sc().mu.Unlock()
	if e.sc().verdict(e) != valid || e.gen < e.sc().idx.Load().floor {
		return
	}
	name := fileName(e)
	b := encodeEntry(e, d.epoch)
	if int64(len(b)) > d.maxBytes {
		return
	}
	dir := filepath.Join(d.dir, name[:2])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		d.log.Warn("httpcache: disk tier: cannot write", "err", err)
		return
	}
	tmp, err := os.CreateTemp(dir, name+".*.tmp")
	if err != nil {
		d.log.Warn("httpcache: disk tier: cannot write", "err", err)
		return
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), d.filePath(name))
	}
	if err != nil {
		os.Remove(tmp.Name())
		d.log.Warn("httpcache: disk tier: cannot write", "err", err)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.add(&diskRecord{name: name, primary: entryPrimaryHash(e), scope: e.sc().name, path: e.path(), tags: e.tags(), size: int64(len(b))})
	d.evict()
}

// replayJournal applies the purges a previous run journaled but may not
// have applied, then forgets them.
func (d *diskTier) replayJournal() error {
	f, err := os.Open(filepath.Join(d.dir, journalName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		p, ok := parseJournalLine(sc.Text())
		if !ok {
			continue // a line cut short by a crash: never acknowledged
		}
		d.apply(p)
	}
	return nil
}

func parseJournalLine(line string) (*diskPurge, bool) {
	kind, rest, _ := strings.Cut(line, " ")
	scope, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return nil, false
	}
	rest = strings.TrimPrefix(rest[len(scope):], " ")
	pattern, err := strconv.QuotedPrefix(rest)
	if err != nil || len(pattern) != len(rest) {
		return nil, false
	}
	p := &diskPurge{tag: kind == "tag"}
	p.scope, _ = strconv.Unquote(scope)
	p.pattern, _ = strconv.Unquote(pattern)
	return p, kind == "tag" || kind == "path"
}
