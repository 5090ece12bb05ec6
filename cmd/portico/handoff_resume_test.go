//go:build linux

package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFailedRestartKeepsServing starts new processes that take over the
// serving one's listeners and then fail to start, each in its own way,
// while viewers keep sending requests and resolvers queries: each time the
// serving process serves again on the same sockets, and not one request
// fails (those that arrive meanwhile wait in the sockets' queues). The
// process still stops cleanly on SIGTERM afterwards.
func TestFailedRestartKeepsServing(t *testing.T) {
	r := newRestartFixture(t, 1, 5*time.Second)
	f, a, load := r.edgeFixture, r.p, r.load

	// A DNS address taken by a socket without SO_REUSEPORT.
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	tests := []struct {
		name     string
		args     []string // the new process's flags, after the serving one's
		slow     bool     // whether the serving process drains a download meanwhile
		stop     bool     // whether the new process is sent SIGTERM while it waits for the store
		wantExit int
		wantLog  string // in the new process's log
	}{
		{name: "its DNS address is taken", args: []string{"--dns", busy.LocalAddr().String()}, wantExit: 1, wantLog: "--dns"},
		{name: "stopped while waiting for the store", slow: true, stop: true, wantExit: 0, wantLog: "stopped while waiting for the store"},
		{name: "the store stays locked past --store-wait", args: []string{"--store-wait", "100ms"}, slow: true, wantExit: 1, wantLog: "still locked"},
	}
	for i, tt := range tests {
		ok := t.Run(tt.name, func(t *testing.T) {
			load.waitAnswered(t, "before the restart", "", 10)
			var finishSlow func() error
			if tt.slow {
				// The serving process drains a download while the new
				// process waits for the store.
				finishSlow = r.origin.download(t, f, r.httpsAddr)
			}
			b := spawnPortico(t, f.dataDir, f.env, append(append([]string{}, f.args...), tt.args...)...)
			waitLog(t, b, "took over the listeners of the serving process", 1)
			waitLog(t, a, "listeners handed over to a new process", i+1)
			if tt.stop {
				waitLog(t, b, "bound; opening the store", 1)
				b.cmd.Process.Signal(syscall.SIGTERM)
			}
			if code := waitExit(t, b, "the new process to fail"); code != tt.wantExit || !strings.Contains(b.logs.String(), tt.wantLog) {
				t.Errorf("the new process exited with %d, want %d, and a log saying %q:\n%s", code, tt.wantExit, tt.wantLog, b.logs)
			}
			if tt.slow {
				if err := finishSlow(); err != nil {
					t.Errorf("the download under way during the restart: %v", err)
				}
			}

			waitLog(t, a, "the new process did not start: serving again on the same sockets", i+1)
			before := *a
			a.waitListening() // its next "listening" line
			if a.api != before.api || a.http != before.http || a.https != before.https || a.dns != before.dns {
				t.Errorf("the serving process serves again on api %s, http %s, https %s, dns %s; want %s, %s, %s, %s",
					a.api, a.http, a.https, a.dns, before.api, before.http, before.https, before.dns)
			}
			load.waitAnswered(t, "after the failed restart", "", 10)
			if _, err := os.Stat(filepath.Join(f.dataDir, handoffFile)); err != nil {
				t.Errorf("the serving process does not offer its listeners again: %v", err)
			}
		})
		if !ok {
			break // the next restart would start from a broken state
		}
	}

	load.halt()
	a.cmd.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, a, "the serving process to stop on SIGTERM"); code != 0 {
		t.Errorf("the serving process exited with %d on SIGTERM, want 0:\n%s", code, a.logs)
	}
	sent, failed, errs := load.results()
	t.Logf("%d requests and queries sent across %d failed restarts, %d failed", sent, len(tests), failed)
	if failed != 0 {
		t.Errorf("%d of %d requests failed; first ones:\n%s", failed, sent, strings.Join(errs, "\n"))
		t.Logf("serving process:\n%s", a.logs)
	}
}
