package crashtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// sharedSoak returns the result of the one kill loop the tests share: set
// by TestMain, it builds the binary and runs the loop on first use.
var sharedSoak func() *soakResult

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	cycles, err := cyclesFromEnv(os.Getenv("PORTICO_CRASH_CYCLES"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	scratch, err := os.MkdirTemp("", "portico-crashtest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(scratch)
	sharedSoak = sync.OnceValue(func() *soakResult {
		bin, err := buildPortico(scratch)
		if err != nil {
			return &soakResult{err: err}
		}
		return runSoak(soakConfig{
			binary:  bin,
			dataDir: filepath.Join(scratch, "data"),
			cycles:  cycles,
			writers: soakWriters,
			slots:   slotsPerWriter,
		})
	})
	return m.Run()
}

// buildPortico builds cmd/portico from the module root into dir.
func buildPortico(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module root: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("finding the module root: not inside a module")
	}
	bin := filepath.Join(dir, "portico")
	build := exec.Command("go", "build", "-o", bin, "./cmd/portico")
	build.Dir = filepath.Dir(gomod)
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building portico: %w\n%s", err, out)
	}
	return bin, nil
}

// The shape of the kill loop.
const (
	defaultCycles  = 10 // kill cycles of a plain `go test`
	soakWriters    = 8  // concurrent writers
	slotsPerWriter = 2  // distributions each writer owns
)

// cyclesFromEnv returns the number of kill cycles that
// PORTICO_CRASH_CYCLES asks for, or defaultCycles if it is empty.
func cyclesFromEnv(v string) (int, error) {
	if v == "" {
		return defaultCycles, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("PORTICO_CRASH_CYCLES=%q: want a positive number of kill cycles", v)
	}
	return n, nil
}
