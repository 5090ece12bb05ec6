package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
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
// README while viewers keep sending requests over HTTP and HTTPS: a second
// process is started on the same addresses and data directory, takes over
// the first one's listening sockets, and the first drains and exits by
// itself. Not one request fails, and none is retried by the test.
// Connections are both kept alive (HTTP/1.1 and HTTP/2) and opened per
// request.
func TestRestartWithoutFailedRequests(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintf(w, "hello %s", r.URL.Query().Get("n"))
	})
	api, httpAddr, httpsAddr := freePort(t), freePort(t), freePort(t)
	f := newEdgeFixture(t, handler, "--api", api, "--http", httpAddr, "--https", httpsAddr)
	f.create(t, customDomain)
	a := f.p

	// Over HTTPS the origin answers; over HTTP the edge itself redirects
	// (the behaviour is redirect-to-https).
	type client struct {
		*http.Client
		scheme string
	}
	clients := map[string]client{"https h2 keep-alive": {viewer(httpsAddr, f.viewerCA.Pool()), "https"}}
	for _, name := range []string{"https h1 keep-alive", "https h1 new connections", "http keep-alive", "http new connections"} {
		scheme, addr := "https", httpsAddr
		if strings.HasPrefix(name, "http ") {
			scheme, addr = "http", httpAddr
		}
		c := viewer(addr, f.viewerCA.Pool())
		tr := c.Transport.(*http.Transport)
		tr.ForceAttemptHTTP2 = false
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		tr.DisableKeepAlives = strings.Contains(name, "new")
		clients[name] = client{c, scheme}
	}
	var (
		sent, failed atomic.Int64
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
					err := func() error {
						resp, err := c.Get(c.scheme + "://" + customDomain + "/?n=" + n)
						if err != nil {
							return err
						}
						defer resp.Body.Close()
						body, err := io.ReadAll(resp.Body)
						if err != nil {
							return err
						}
						switch want := "https://" + customDomain + "/?n=" + n; {
						case c.scheme == "https" && (resp.StatusCode != http.StatusOK || string(body) != "hello "+n):
							return fmt.Errorf("%s %q", resp.Status, body)
						case c.scheme == "http" && (resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want):
							return fmt.Errorf("%s to %q, want 301 to %q", resp.Status, resp.Header.Get("Location"), want)
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

	// The restart: B takes A's listeners and waits for the store; A
	// drains and exits by itself; B loads and serves.
	b := spawnPortico(t, f.dataDir, f.env, f.args...)
	waitFor("the new process to take the listeners", func() bool {
		return strings.Contains(b.logs.String(), "took over the listeners of the serving process")
	})
	before := sent.Load()
	select {
	case <-a.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("the old process did not exit after handing over its listeners:\n%s", a.logs)
	}
	if code := a.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the old process exited with %d:\n%s", code, a.logs)
	}
	if !strings.Contains(a.logs.String(), "listeners handed over to a new process") {
		t.Errorf("the old process does not say that it handed over its listeners:\n%s", a.logs)
	}
	b.waitListening()
	handedOff.Store(true)
	if b.api != api || b.http != httpAddr || b.https != httpsAddr {
		t.Errorf("the new process listens on api %s, http %s, https %s; want %s, %s, %s", b.api, b.http, b.https, api, httpAddr, httpsAddr)
	}
	waitFor("requests served by the new process", func() bool { return afterHandOff.Load() >= 50 })
	close(stop)
	wg.Wait()

	t.Logf("%d requests sent (%d before the old process handed over), %d failed, %d served by the new process after the hand-off",
		sent.Load(), before, failed.Load(), afterHandOff.Load())
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed across the restart; first ones:\n%s", failed.Load(), sent.Load(), strings.Join(errs, "\n"))
		t.Logf("old process:\n%s\nnew process:\n%s", a.logs, b.logs)
	}

	// The new process serves the API on the same address too.
	if _, err := f.cf.ListDistributions(context.Background(), nil); err != nil {
		t.Errorf("API after the restart: %v", err)
	}
}
