package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRestartWithoutFailedRequests follows the restart procedure of the
// README while viewers keep sending requests: a second process is started
// on the same addresses and data directory, the first is sent SIGTERM, and
// not one request fails. Connections are both kept alive (HTTP/1.1 and
// HTTP/2) and opened per request.
func TestRestartWithoutFailedRequests(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintf(w, "hello %s", r.URL.Query().Get("n"))
	})
	api, httpAddr, httpsAddr := freePort(t), freePort(t), freePort(t)
	f := newEdgeFixture(t, handler, "--api", api, "--http", httpAddr, "--https", httpsAddr)
	f.create(t, customDomain)
	a := f.p

	clients := map[string]*http.Client{"h2 keep-alive": viewer(httpsAddr, f.viewerCA.Pool())}
	for _, name := range []string{"h1 keep-alive", "h1 new connections"} {
		c := viewer(httpsAddr, f.viewerCA.Pool())
		tr := c.Transport.(*http.Transport)
		tr.ForceAttemptHTTP2 = false
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		tr.DisableKeepAlives = strings.Contains(name, "new")
		clients[name] = c
	}
	var (
		sent, failed atomic.Int64
		resets       atomic.Int64 // new connections closed before any answer, retried once
		afterHandOff atomic.Int64 // successes once the new process listens
		handedOff    atomic.Bool
		errMu        sync.Mutex
		errs         []string
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for name, c := range clients {
		for g := range 2 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					sent.Add(1)
					n := fmt.Sprintf("%s-%d-%d", strings.ReplaceAll(name, " ", "-"), g, i)
					get := func() (resp *http.Response, answered bool, err error) {
						var reused bool
						trace := &httptrace.ClientTrace{
							GotConn:              func(info httptrace.GotConnInfo) { reused = info.Reused },
							GotFirstResponseByte: func() { answered = true },
						}
						req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
							"GET", "https://"+customDomain+"/?n="+n, nil)
						resp, err = c.Do(req)
						return resp, answered || reused, err
					}
					err := func() error {
						resp, answered, err := get()
						if err != nil && !answered {
							// A new connection closed before any
							// answer: it was still queued, or in its
							// TLS handshake, at the old process when
							// that closed its sockets (see the README).
							// The viewer retries, once. (Reused
							// connections are retried by the Transport
							// itself, and must not fail.)
							resets.Add(1)
							resp, _, err = get()
						}
						if err != nil {
							return err
						}
						defer resp.Body.Close()
						body, err := io.ReadAll(resp.Body)
						if err != nil {
							return err
						}
						if resp.StatusCode != http.StatusOK || string(body) != "hello "+n {
							return fmt.Errorf("%s %q", resp.Status, body)
						}
						return nil
					}()
					if err != nil {
						failed.Add(1)
						errMu.Lock()
						if len(errs) < 10 {
							errs = append(errs, fmt.Sprintf("%s: %v", name, err))
						}
						errMu.Unlock()
					} else if handedOff.Load() {
						afterHandOff.Add(1)
					}
				}
			})
		}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		if err := retry(30*time.Second, func() error {
			if !cond() {
				return errNotYet
			}
			return nil
		}); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	waitFor("requests before the restart", func() bool { return sent.Load() >= 50 })

	// The restart: B binds the same addresses and waits for the store,
	// A drains and exits, B loads and serves.
	b := spawnPortico(t, f.dataDir, f.env, f.args...)
	waitFor("the new process to bind", func() bool { return strings.Contains(b.logs.String(), "bound; opening the store") })
	before := sent.Load()
	a.kill(syscall.SIGTERM)
	if code := a.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the old process exited with %d:\n%s", code, a.logs)
	}
	b.waitListening()
	handedOff.Store(true)
	waitFor("requests served by the new process", func() bool { return afterHandOff.Load() >= 50 })
	close(stop)
	wg.Wait()

	t.Logf("%d requests sent (%d before the old process was stopped), %d failed, %d retried after a new connection closed before any answer, %d served by the new process after the hand-off",
		sent.Load(), before, failed.Load(), resets.Load(), afterHandOff.Load())
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed across the restart; first ones:\n%s", failed.Load(), sent.Load(), strings.Join(errs, "\n"))
		t.Logf("old process:\n%s\nnew process:\n%s", a.logs, b.logs)
	}

	// The new process serves the API on the same address too.
	if _, err := f.cf.ListDistributions(context.Background(), nil); err != nil {
		t.Errorf("API after the restart: %v", err)
	}
}
