package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-edge/portico/internal/store/boltstore"
)

// TestStoreWaitIsInterruptedBySignal starts the binary while another
// process (the test) holds the store's lock, with a ten-minute
// --store-wait: SIGTERM or SIGINT ends the wait, and the process exits 0
// long before the wait would have.
func TestStoreWaitIsInterruptedBySignal(t *testing.T) {
	for _, tt := range []struct {
		name string
		sig  syscall.Signal
	}{{"SIGTERM", syscall.SIGTERM}, {"SIGINT", syscall.SIGINT}} {
		sig := tt.sig
		t.Run(tt.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				t.Fatal(err)
			}
			st, err := boltstore.Open(filepath.Join(dataDir, storeFile))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()

			p := spawnPortico(t, dataDir, nil, "--store-wait", "10m")
			if err := retry(60*time.Second, func() error {
				if !strings.Contains(p.logs.String(), "bound; opening the store") {
					return errNotYet
				}
				return nil
			}); err != nil {
				t.Fatalf("portico did not start waiting for the store:\n%s", p.logs)
			}
			p.cmd.Process.Signal(sig)
			if code := waitExit(t, p, "portico to stop waiting for the store on "+sig.String()); code != 0 {
				t.Errorf("exit code %d after %v, want 0:\n%s", code, sig, p.logs)
			}
			if !strings.Contains(p.logs.String(), "stopped while waiting for the store") {
				t.Errorf("the log does not say why portico stopped:\n%s", p.logs)
			}
		})
	}
}
