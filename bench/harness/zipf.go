package main

import (
	"bufio"
	"math/rand/v2"
	"os"
	"strconv"
)

// zipfPaths returns n request paths /z/<k>, k drawn from a Zipf
// distribution over keys keys (P(k) ∝ 1/(k+1)^s), from a fixed seed so that
// every target and every run gets the same sequence.
func zipfPaths(n, keys int, s float64, seed uint64) []string {
	z := rand.NewZipf(rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), s, 1, uint64(keys-1))
	paths := make([]string, n)
	for i := range paths {
		paths[i] = "/z/" + strconv.FormatUint(z.Uint64(), 10)
	}
	return paths
}

// writeLines writes lines to path, one a line.
func writeLines(path string, lines []string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, l := range lines {
		w.WriteString(l)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
