package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestZipfPaths(t *testing.T) {
	const n, keys = 20000, 1000
	paths := zipfPaths(n, keys, 1.1, 1)
	if !slices.Equal(paths, zipfPaths(n, keys, 1.1, 1)) {
		t.Fatal("two sequences from one seed differ")
	}
	if slices.Equal(paths, zipfPaths(n, keys, 1.1, 2)) {
		t.Fatal("sequences from two seeds are equal")
	}
	count := make([]int, keys)
	for _, p := range paths {
		k, err := strconv.Atoi(strings.TrimPrefix(p, "/z/"))
		if err != nil || !strings.HasPrefix(p, "/z/") || k < 0 || k >= keys {
			t.Fatalf("path %q is not /z/<0..%d>", p, keys-1)
		}
		count[k]++
	}
	// Zipf: the first key is drawn most, and far more than a key in the
	// tail; many keys are drawn at all.
	if top := slices.Max(count); count[0] != top {
		t.Errorf("key 0 drawn %d times, but some key %d times", count[0], top)
	}
	if count[0] < 20*count[100] {
		t.Errorf("key 0 drawn %d times, key 100 %d times: not skewed", count[0], count[100])
	}
	distinct := 0
	for _, c := range count {
		if c > 0 {
			distinct++
		}
	}
	if distinct < keys/2 {
		t.Errorf("%d distinct keys in %d draws over %d, want at least half", distinct, n, keys)
	}
}

func TestWriteLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "paths.txt")
	if err := writeLines(path, []string{"/z/1", "/z/2"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "/z/1\n/z/2\n" {
		t.Errorf("file holds %q", b)
	}
}
