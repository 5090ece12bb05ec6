package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestRestartWithoutFailedRequests follows the restart procedure of the
// README while viewers keep sending requests over HTTP and HTTPS, and
// resolvers DNS queries over UDP and TCP: a second process is started on
// the same addresses and data directory, takes over the first one's
// listening sockets, and the first drains and exits by itself. Not one
// request fails, and none is retried by the test. Connections are both
// kept alive (HTTP/1.1 and HTTP/2) and opened per request; each DNS query
// has its own socket, and 2 s for its answer, as a stub resolver's single
// try would. A slow download keeps the old process draining meanwhile:
// DNS is answered throughout all the same.
func TestRestartWithoutFailedRequests(t *testing.T) {
	r := newRestartFixture(t, 2, 2*time.Second) // DNS: a stub resolver's single try
	f, a, load := r.edgeFixture, r.p, r.load

	load.waitAnswered(t, "before the restart", "", 10)
	finishSlow := r.origin.download(t, f, r.httpsAddr)

	// The restart: B takes A's listeners and waits for the store; A
	// drains, answering DNS until B serves, and exits by itself; B loads
	// and serves.
	b := spawnPortico(t, f.dataDir, f.env, f.args...)
	waitLog(t, b, "took over the listeners of the serving process", 1)
	waitLog(t, a, "listeners handed over to a new process", 1)
	before := load.sent.Load()
	duringDrain := load.waitAnswered(t, "queries answered while the old process drains", "dns ", 20)
	if err := finishSlow(); err != nil {
		t.Errorf("the download under way during the restart: %v", err)
	}
	if code := waitExit(t, a, "the old process to exit after handing over its listeners"); code != 0 {
		t.Errorf("the old process exited with %d:\n%s", code, a.logs)
	}
	for _, want := range []string{"listeners handed over to a new process", "the new process serves: stopping DNS"} {
		if !strings.Contains(a.logs.String(), want) {
			t.Errorf("the old process does not say %q:\n%s", want, a.logs)
		}
	}
	b.waitListening()
	if b.api != r.api || b.http != r.httpAddr || b.https != r.httpsAddr || b.dns != a.dns {
		t.Errorf("the new process listens on api %s, http %s, https %s, dns %s; want %s, %s, %s, %s",
			b.api, b.http, b.https, b.dns, r.api, r.httpAddr, r.httpsAddr, a.dns)
	}
	afterRestart := load.waitAnswered(t, "requests served by the new process", "", 20)
	load.halt()

	sent, failed, errs := load.results()
	t.Logf("%d requests sent (%d before the old process handed over), %d failed; answered while the old process drained: %s; by the new process: %s",
		sent, before, failed, duringDrain, afterRestart)
	if failed != 0 {
		t.Errorf("%d of %d requests failed across the restart; first ones:\n%s", failed, sent, strings.Join(errs, "\n"))
		t.Logf("old process:\n%s\nnew process:\n%s", a.logs, b.logs)
	}

	// The new process serves the API on the same address too.
	if _, err := f.cf.ListDistributions(context.Background(), nil); err != nil {
		t.Errorf("API after the restart: %v", err)
	}
}
