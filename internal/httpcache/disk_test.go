package httpcache

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// openDiskCache opens a cache with a disk tier in dir.
func openDiskCache(t *testing.T, dir string, diskBytes int64) *Cache {
	t.Helper()
	c, err := Open(Config{MaxBytes: 64 << 20, DiskDir: dir, DiskMaxBytes: diskBytes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// diskFiles returns the cache files under dir, not counting temporary
// ones.
func diskFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(filepath.Join(dir, diskLayout), func(path string, d os.DirEntry, err error) error {
		if _, _, ok := parseFileName(d.Name()); err == nil && !d.IsDir() && ok {
			files = append(files, path)
		}
		return nil
	})
	return files
}

// restart closes c (which writes what it has queued) and opens the disk
// tier again in a new cache, served by a new harness with the same origin
// behaviour and clock.
func restart(t *testing.T, h *harness, dir string, respond respondFunc) *harness {
	t.Helper()
	if err := h.cache.Close(); err != nil {
		t.Fatal(err)
	}
	return newHarnessWith(t, openDiskCache(t, dir, 1<<30), h.clock, defaults(), respond)
}

// TestDiskWarmRestart checks that responses survive a restart with their
// age, variants and validators, and are hits at once.
func TestDiskWarmRestart(t *testing.T) {
	dir := t.TempDir()
	respond := func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Etag", `"d1"`)
		w.Header().Set("Vary", "X-Tenant")
		w.Header().Set("Cache-Tag", "t1")
		io.WriteString(w, r.URL.Path+" "+r.Header.Get("X-Tenant"))
	}
	h := newHarnessWith(t, openDiskCache(t, dir, 1<<30), newClock(), defaults(), respond)
	h.expect("/a", miss, "/a x", "X-Tenant: x")
	h.expect("/a", miss, "/a y", "X-Tenant: y")
	h.expect("/b", miss, "/b ")
	h.clock.advance(100 * time.Second)

	h2 := restart(t, h, dir, respond)
	resp := h2.expect("/a", hit, "/a x", "X-Tenant: x")
	if got := resp.Header.Get("Age"); got != "100" {
		t.Errorf("Age after the restart %q, want 100", got)
	}
	h2.expect("/a", hit, "/a y", "X-Tenant: y")
	h2.expect("/b", hit, "/b ")
	resp, _ = h2.get("/b", `If-None-Match: "d1"`)
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("conditional request after the restart: %d, want 304", resp.StatusCode)
	}
	if n := h2.originCount("/a") + h2.originCount("/b"); n != 0 {
		t.Errorf("origin saw %d requests after the restart, want 0", n)
	}
	// Tags survive too.
	h2.cache.PurgeTag(testScope, "t1")
	h2.expect("/b", miss, "/b ")
}

// TestDiskStaleIfErrorAfterRestart checks that after a restart with the
// origin down, a stale response from disk stands in for it (DG
// HTTPStatusCodes "Origin unavailable"; RFC 9111 §4.2.4).
func TestDiskStaleIfErrorAfterRestart(t *testing.T) {
	dir := t.TempDir()
	respond := func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=10")
		io.WriteString(w, "saved")
	}
	h := newHarnessWith(t, openDiskCache(t, dir, 1<<30), newClock(), defaults(), respond)
	h.expect("/s", miss, "saved")
	h.clock.advance(time.Hour)
	h2 := restart(t, h, dir, respond)
	h2.origin.Close()
	resp, body := h2.get("/s")
	if resp.StatusCode != 200 || body != "saved" || !strings.HasSuffix(resp.Header.Get("Cache-Status"), "detail=stale-if-error") {
		t.Errorf("origin down after a restart: %d %q, Cache-Status %q; want the stale response", resp.StatusCode, body, resp.Header.Get("Cache-Status"))
	}
}

// TestDiskCorruption checks that a file that is not a whole response is a
// miss, never served, and is deleted: a flipped byte anywhere, a file cut
// short, a file of another key, garbage, and an interrupted write.
func TestDiskCorruption(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, path string)
	}{
		{"flipped body byte", func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			i := bytes.LastIndex(b, []byte("payload"))
			b[i] ^= 0x20
			os.WriteFile(path, b, 0o600)
		}},
		{"flipped metadata byte", func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			i := bytes.Index(b, []byte("max-age"))
			b[i] = 'M'
			os.WriteFile(path, b, 0o600)
		}},
		{"cut short", func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			os.WriteFile(path, b[:len(b)-10], 0o600)
		}},
		{"empty", func(t *testing.T, path string) { os.WriteFile(path, nil, 0o600) }},
		{"checksum only", func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			b[len(b)-1] ^= 1
			os.WriteFile(path, b, 0o600)
		}},
	}
	respond := func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, "payload")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			h := newHarnessWith(t, openDiskCache(t, dir, 1<<30), newClock(), defaults(), respond)
			h.expect("/c", miss, "payload")
			h.cache.Close()
			files := diskFiles(t, dir)
			if len(files) != 1 {
				t.Fatalf("%d files, want 1", len(files))
			}
			tt.corrupt(t, files[0])
			// Litter an interrupted write and garbage besides.
			os.WriteFile(files[0]+".123.tmp", []byte("PORTICO"), 0o600)
			os.WriteFile(filepath.Join(filepath.Dir(files[0]), strings.Repeat("ab", 16)), []byte("garbage"), 0o600)

			h2 := newHarnessWith(t, openDiskCache(t, dir, 1<<30), h.clock, defaults(), respond)
			h2.expect("/c", miss, "payload")
			if n := h2.originCount("/c"); n != 1 {
				t.Errorf("origin saw %d requests, want 1", n)
			}
			h2.cache.Close()
			if files := diskFiles(t, dir); len(files) != 1 {
				t.Errorf("files after the miss: %q, want only the new one", files)
			}
		})
	}
}

// TestDiskBudget checks that the disk tier stays within its budget,
// deleting its oldest files.
func TestDiskBudget(t *testing.T) {
	dir := t.TempDir()
	const budget = 20 << 10
	h := newHarnessWith(t, openDiskCache(t, dir, budget), newClock(), defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Write(make([]byte, 3000))
	})
	for i := range 20 {
		h.get(fmt.Sprintf("/f/%d", i))
	}
	h.cache.Close()
	var total int64
	for _, f := range diskFiles(t, dir) {
		info, _ := os.Stat(f)
		total += info.Size()
	}
	if total > budget || total < budget/2 {
		t.Errorf("files take %d bytes, want at most %d and not far below", total, budget)
	}
	c := openDiskCache(t, dir, budget)
	if c.disk.size != total || len(c.disk.records) != len(diskFiles(t, dir)) {
		t.Errorf("index after a restart: %d bytes in %d records; the files: %d bytes", c.disk.size, len(c.disk.records), total)
	}
}

// TestDiskPurgeSurvivesRestart checks that purges apply to the disk tier,
// and that a purge journaled but not yet applied to the files when the
// process died is applied at the next start.
func TestDiskPurgeSurvivesRestart(t *testing.T) {
	respond := func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, r.URL.Path)
	}
	dir := t.TempDir()
	h := newHarnessWith(t, openDiskCache(t, dir, 1<<30), newClock(), defaults(), respond)
	for _, p := range []string{"/a/1", "/a/2", "/b", "/c"} {
		h.get(p)
	}
	h.cache.Purge(testScope, "/a/*")
	h.cache.Purge(testScope, "/b")
	h.cache.Close()
	// A purge journaled by a process that died before applying it.
	j, err := os.OpenFile(filepath.Join(dir, diskLayout, journalName), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(j, "path %q %q\n", testScope, "/c")
	io.WriteString(j, `path "E2TESTDIST0001" "/cut-sho`) // a line the crash cut short
	j.Close()

	h2 := restart(t, h, dir, respond)
	for p, want := range map[string]string{"/a/1": miss, "/a/2": miss, "/b": miss, "/c": miss} {
		h2.expect(p, want, p)
	}
}

// TestDiskKill9 kills a process serving from a cache with a disk tier with
// SIGKILL, and checks that the next process finds the responses it had
// written, whole.
func TestDiskKill9(t *testing.T) {
	if os.Getenv("PORTICO_HTTPCACHE_CHILD") != "" {
		t.Skip("in the child")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDiskKill9Child$", "-test.v")
	cmd.Env = append(os.Environ(), "PORTICO_HTTPCACHE_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// The child says when it has stored the responses and their files
	// are written; it keeps writing others until it dies.
	buf := make([]byte, 0, 4096)
	deadline := time.Now().Add(30 * time.Second) // a watchdog, not a speed check
	for !bytes.Contains(buf, []byte("STORED\n")) {
		if time.Now().After(deadline) {
			t.Fatalf("the child did not store its responses: %s", buf)
		}
		b := make([]byte, 512)
		n, err := out.Read(b)
		buf = append(buf, b[:n]...)
		if err != nil {
			t.Fatalf("child: %v: %s", err, buf)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	h := newHarnessWith(t, openDiskCache(t, dir, 1<<30), newClock(), defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		io.WriteString(w, "origin")
	})
	for i := range 20 {
		h.expect(fmt.Sprintf("/k/%d", i), hit, fmt.Sprintf("child %d", i))
	}
}

// TestDiskKill9Child is the child of TestDiskKill9.
func TestDiskKill9Child(t *testing.T) {
	dir := os.Getenv("PORTICO_HTTPCACHE_CHILD")
	if dir == "" {
		t.Skip("run by TestDiskKill9")
	}
	c, err := Open(Config{MaxBytes: 64 << 20, DiskDir: dir, DiskMaxBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, c, newClock(), defaults(), func(w http.ResponseWriter, r *http.Request, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=600")
		fmt.Fprintf(w, "child %s", strings.TrimPrefix(r.URL.Path, "/k/"))
	})
	for i := range 20 {
		h.get(fmt.Sprintf("/k/%d", i))
	}
	for len(diskFiles(t, dir)) < 20 {
		time.Sleep(time.Millisecond)
	}
	fmt.Println("STORED")
	// Keep writing until killed, so that the kill lands mid-write.
	for i := 0; ; i++ {
		h.get(fmt.Sprintf("/more/%d", i))
	}
}

// TestFileHashesAreFNV1a pins the hashes that name the disk tier's files
// to hash/fnv's FNV-1a, so that files written by one version are found by
// the next.
func TestFileHashesAreFNV1a(t *testing.T) {
	fnv1a := func(parts ...string) uint64 {
		h := fnv.New64a()
		for _, p := range parts {
			io.WriteString(h, p)
		}
		return h.Sum64()
	}
	for _, tt := range []struct{ scope, key string }{{"", ""}, {"E2QWRUHAPOMQZL", "GET\x00https://example.com/a?b=c"}, {"d", "ü\x00\xff"}} {
		if got, want := primaryHash(tt.scope, tt.key), fnv1a(tt.scope, "\x00", tt.key); got != want {
			t.Errorf("primaryHash(%q, %q) = %x, want %x", tt.scope, tt.key, got, want)
		}
	}
	for _, vary := range [][]string{nil, {""}, {"gzip", "en"}} {
		var parts []string
		for _, s := range vary {
			parts = append(parts, s, "\x00")
		}
		if got, want := variantHash(vary), fnv1a(parts...); got != want {
			t.Errorf("variantHash(%q) = %x, want %x", vary, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { primaryHash("scope", "key") }); n != 0 {
		t.Errorf("primaryHash allocated %v times, want 0", n)
	}
}
