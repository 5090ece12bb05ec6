package boltstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-edge/portico/internal/store"
	"github.com/portico-edge/portico/internal/store/boltstore"
	"github.com/portico-edge/portico/internal/store/storetest"
)

// openStore opens the store at path and closes it when the test ends.
func openStore(t testing.TB, path string, opts ...boltstore.Option) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openStore(t, filepath.Join(t.TempDir(), "store.db"))
	})
}

func TestConformancePersistent(t *testing.T) {
	storetest.RunPersistent(t, func(t *testing.T, dir string) store.Store {
		return openStore(t, filepath.Join(dir, "store.db"))
	})
}

func TestOpenFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	openStore(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("data file mode = %v, want -rw-------", got)
	}
}

func TestOpenMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-dir", "store.db")
	s, err := boltstore.Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open in a missing directory succeeded")
	}
	if errors.Is(err, boltstore.ErrInUse) || !strings.Contains(err.Error(), path) {
		t.Errorf("Open error = %v, want an error naming %s", err, path)
	}
}

// TestOpenInUse opens the same file twice in this process: flock locks
// belong to the open file, so the second Open waits for the first as a
// second process would.
func TestOpenInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	first := openStore(t, path)
	s, err := boltstore.Open(path, boltstore.WithLockTimeout(100*time.Millisecond))
	if err == nil {
		s.Close()
		t.Fatal("second Open of the same file succeeded")
	}
	if !errors.Is(err, boltstore.ErrInUse) {
		t.Fatalf("second Open error = %v, want ErrInUse", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	openStore(t, path)
}

// TestOpenInUseByAnotherProcess starts a child process (TestHelperProcess
// in mode "hold") that keeps the store open, and checks that Open here
// fails with the message an operator sees when a second portico is started
// on the same data directory, then succeeds once the child has gone.
func TestOpenInUseByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	cmd := helperCommand(t, "hold", path, 0)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q, %v; want ready; stderr:\n%s", line, err, cmd.Stderr)
	}

	s, err := boltstore.Open(path, boltstore.WithLockTimeout(200*time.Millisecond))
	if err == nil {
		s.Close()
		t.Fatal("Open of a file held by another process succeeded")
	}
	if !errors.Is(err, boltstore.ErrInUse) || !strings.Contains(err.Error(), "store: data directory is in use by another process") {
		t.Errorf("Open error = %q, want ErrInUse", err)
	}

	stdin.Close() // the child closes the store and exits
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v; stderr:\n%s", err, cmd.Stderr)
	}
	s = openStore(t, path)
	wantValue(t, s, "held", "by the child")
}

// TestHelperProcess is not a test: it is the child process of
// TestOpenInUseByAnotherProcess and TestCrash, started from this test
// binary with PORTICO_BOLTSTORE_HELPER set to its mode. Without that
// variable it returns at once.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("PORTICO_BOLTSTORE_HELPER")
	if mode == "" {
		return
	}
	path := os.Getenv("PORTICO_BOLTSTORE_PATH")
	var err error
	switch mode {
	case "hold":
		err = holdStore(path)
	case "crash":
		var cycle int
		if _, err = fmt.Sscan(os.Getenv("PORTICO_BOLTSTORE_CYCLE"), &cycle); err == nil {
			err = writeUntilKilled(path, cycle)
		}
	default:
		err = fmt.Errorf("unknown helper mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// helperCommand returns a command that runs TestHelperProcess in mode on
// the store at path, killed when the test ends.
func helperCommand(t *testing.T, mode, path string, cycle int) *exec.Cmd {
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		"PORTICO_BOLTSTORE_HELPER="+mode,
		"PORTICO_BOLTSTORE_PATH="+path,
		fmt.Sprintf("PORTICO_BOLTSTORE_CYCLE=%d", cycle),
	)
	cmd.Stderr = new(strings.Builder)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// holdStore opens the store, writes a key, says "ready" and keeps the store
// open until its standard input is closed.
func holdStore(path string) error {
	s, err := boltstore.Open(path)
	if err != nil {
		return err
	}
	if _, err := s.Txn(context.Background(), nil, []store.Op{{Key: "held", Value: []byte("by the child")}}); err != nil {
		return err
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return s.Close()
}

func wantValue(t *testing.T, s store.Store, key, want string) {
	t.Helper()
	kv, err := s.Get(t.Context(), key)
	if err != nil || string(kv.Value) != want {
		t.Errorf("Get(%q) = %q, %v; want %q", key, kv.Value, err, want)
	}
}

func TestCanceledContext(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "store.db"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Txn(ctx, nil, []store.Op{{Key: "a", Value: []byte("1")}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Txn error = %v, want context.Canceled", err)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get error = %v, want context.Canceled", err)
	}
	if _, _, err := s.List(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("List error = %v, want context.Canceled", err)
	}
	if _, err := s.Get(t.Context(), "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after cancelled Txn: error = %v, want ErrNotFound", err)
	}
}

// TestTxnInvalidOp checks that an op bbolt refuses fails the whole
// transaction with an error other than ErrConflict, and writes nothing.
func TestTxnInvalidOp(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "store.db"))
	rev, err := s.Txn(t.Context(), nil, []store.Op{{Key: "a", Value: []byte("1")}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		op   store.Op
	}{
		{"empty key", store.Op{Key: "", Value: []byte("x")}},
		{"key too long", store.Op{Key: strings.Repeat("k", 40000), Value: []byte("x")}},
		{"empty key delete", store.Op{Key: "", Delete: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops := []store.Op{{Key: "b", Value: []byte("1")}, {Key: "a", Delete: true}, tt.op}
			got, err := s.Txn(t.Context(), nil, ops)
			if err == nil || errors.Is(err, store.ErrConflict) {
				t.Fatalf("Txn = %d, %v; want an error other than ErrConflict", got, err)
			}
			if !strings.HasPrefix(err.Error(), "boltstore: txn: ") {
				t.Errorf("Txn error = %q, want the package prefix", err)
			}
			wantValue(t, s, "a", "1")
			if _, err := s.Get(t.Context(), "b"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Get(b) error = %v, want ErrNotFound", err)
			}
			if cur, err := s.Txn(t.Context(), nil, nil); err != nil || cur != rev {
				t.Errorf("revision = %d, %v; want %d", cur, err, rev)
			}
		})
	}
}

func TestCloseTwice(t *testing.T) {
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := s.Close(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("second Close error = %v, want ErrClosed", err)
	}
}

// TestCloseDuringTxns closes the store while goroutines write and watch:
// every Txn either succeeds or reports ErrClosed, and every Watch channel
// is closed when Close returns.
func TestCloseDuringTxns(t *testing.T) {
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	watch := s.Watch(t.Context(), 0)
	started := make(chan struct{})
	errs := make(chan error, 4)
	for w := range 4 {
		go func() {
			for i := 0; ; i++ {
				_, err := s.Txn(context.Background(), nil, []store.Op{{Key: fmt.Sprintf("%d/%d", w, i), Value: []byte("v")}})
				if i == 0 && w == 0 {
					close(started)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	<-started
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case _, ok := <-watch:
		for ok {
			_, ok = <-watch
		}
	default:
		t.Error("Watch channel still open after Close returned")
	}
	for range 4 {
		if err := <-errs; !errors.Is(err, store.ErrClosed) {
			t.Errorf("Txn during Close: error = %v, want ErrClosed", err)
		}
	}
}
