package httpcache

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"sync/atomic"
	"time"
)

// maxBodyFiles bounds the disk tier's files that hits keep open for
// BodyFile; past it, bodies are sent from memory.
const maxBodyFiles = 1024

// bodyFileRetry is how long an entry whose file could not be used waits
// before BodyFile tries again (the disk tier writes files in the
// background).
const bodyFileRetry = time.Second

// bodyFile is an entry's disk copy, open, with the offset of its body; or
// why there is none and since when (f nil).
type bodyFile struct {
	f        *os.File
	off      int64
	failedAt int64 // Unix nanoseconds
}

// BodyFile returns an open file whose bytes [off, off+len(Body())) are
// the hit's body, when the body is at least minSize bytes and the disk
// tier holds a copy of the response (checked, once, byte for byte): a
// server may then send it with sendfile rather than copying it from
// memory. The file is valid as long as the Hit is in use, and must not be
// closed, read with Read or Seek (only at an offset, as sendfile does),
// or written.
func (h Hit) BodyFile(minSize int) (f *os.File, off int64, ok bool) {
	e := h.e
	if h.status != int(e.status) || len(e.body) < minSize || h.c == nil || h.c.disk == nil {
		return nil, 0, false
	}
	later := e.lately()
	bf := later.file.Load()
	if bf != nil && (bf.f != nil || time.Now().UnixNano()-bf.failedAt < int64(bodyFileRetry)) {
		return bf.f, bf.off, bf.f != nil
	}
	nf := h.c.openBodyFile(e)
	if !later.file.CompareAndSwap(bf, nf) {
		// Another hit got there first: use what it stored. nf, if
		// open, is closed by its cleanup.
		nf = later.file.Load()
	}
	return nf.f, nf.off, nf.f != nil
}

// openBodyFile opens e's file in the disk tier and checks that it holds
// e's response, within the budget of open files.
func (c *Cache) openBodyFile(e *entry) *bodyFile {
	failed := &bodyFile{failedAt: time.Now().UnixNano()}
	if c.bodyFiles.Add(1) > maxBodyFiles {
		c.bodyFiles.Add(-1)
		return failed
	}
	f, err := os.Open(c.disk.filePath(fileName(e)))
	if err != nil {
		c.bodyFiles.Add(-1)
		return failed
	}
	// The file is read whole, once: its checksum and contents must be
	// e's. Files are replaced, never rewritten, so that what the open file
	// holds stays what was checked.
	b, err := io.ReadAll(f)
	m, body, derr := decodeFile(b)
	if err != nil || derr != nil || m.scope != e.sc().name || !keyIs(e, m.key) || m.responseTime != e.responseTime ||
		m.status != int(e.status) || !bytes.Equal(body, e.body) {
		f.Close()
		c.bodyFiles.Add(-1)
		return failed
	}
	bf := &bodyFile{f: f, off: int64(len(b) - 4 - len(body))}
	runtime.AddCleanup(bf, closeBodyFile, bodyFileCleanup{f: f, open: &c.bodyFiles})
	return bf
}

// bodyFileCleanup is what closeBodyFile needs once a bodyFile is gone.
type bodyFileCleanup struct {
	f    *os.File
	open *atomic.Int64
}

// closeBodyFile closes the file of a bodyFile that nothing refers to any
// more: its entry has left the cache, and no hit on it is being served.
func closeBodyFile(c bodyFileCleanup) {
	c.f.Close()
	c.open.Add(-1)
}
