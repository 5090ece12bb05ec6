//go:build linux

package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/miekg/dns"
)

// TestFailedRestartKeepsServing starts new processes that take over the
// serving one's listeners and then fail to start, each in its own way,
// while viewers keep sending requests and resolvers queries: each time the
// serving process serves again on the same sockets, and not one request
// fails (those that arrive meanwhile wait in the sockets' queues). The
// process still stops cleanly on SIGTERM afterwards.
func TestFailedRestartKeepsServing(t *testing.T) {
	var slowMu sync.Mutex
	slowStarted, releaseSlow := make(chan struct{}), make(chan struct{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.URL.Path == "/slow" {
			slowMu.Lock()
			started, release := slowStarted, releaseSlow
			slowMu.Unlock()
			close(started)
			<-release
			io.WriteString(w, "slow")
			return
		}
		fmt.Fprintf(w, "hello %s", r.URL.Query().Get("n"))
	})
	api, httpAddr, httpsAddr := freePort(t), freePort(t), freePort(t)
	f := newEdgeFixture(t, handler, "--api", api, "--http", httpAddr, "--https", httpsAddr)
	id := f.create(t, customDomain)
	a := f.p
	dist := must(f.cf.GetDistribution(context.Background(), &cloudfront.GetDistributionInput{Id: aws.String(id)}))(t)
	load := startViewerLoad(t, f, httpAddr, httpsAddr, a.dns, dns.Fqdn(aws.ToString(dist.Distribution.DomainName)))
	defer load.halt()

	// A DNS address taken by a socket without SO_REUSEPORT.
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	// slowDownload has the serving process drain a download while the
	// new process waits for the store; the returned function ends it and
	// reports how it went.
	slowDownload := func() (finish func() error) {
		slowMu.Lock()
		slowStarted, releaseSlow = make(chan struct{}), make(chan struct{})
		started, release := slowStarted, releaseSlow
		slowMu.Unlock()
		done := make(chan error, 1)
		go func() {
			resp, err := viewer(httpsAddr, f.viewerCA.Pool()).Get("https://" + customDomain + "/slow")
			if err == nil {
				var body []byte
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && string(body) != "slow" {
					err = fmt.Errorf("%s %q", resp.Status, body)
				}
			}
			done <- err
		}()
		<-started
		once := sync.OnceFunc(func() { close(release) })
		t.Cleanup(once) // before the origin closes, which waits for its requests
		return func() error { once(); return <-done }
	}

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
			load.waitAnswered(t, "before the restart", 10)
			var finishSlow func() error
			if tt.slow {
				finishSlow = slowDownload()
			}
			b := spawnPortico(t, f.dataDir, f.env, append(append([]string{}, f.args...), tt.args...)...)
			waitLog(t, b, "took over the listeners of the serving process", 1)
			waitLog(t, a, "listeners handed over to a new process", i+1)
			if tt.stop {
				waitLog(t, b, "bound; opening the store", 1)
				b.cmd.Process.Signal(syscall.SIGTERM)
			}
			select {
			case <-b.exited:
			case <-time.After(60 * time.Second):
				t.Fatalf("the new process did not fail:\n%s", b.logs)
			}
			if code := b.cmd.ProcessState.ExitCode(); code != tt.wantExit || !strings.Contains(b.logs.String(), tt.wantLog) {
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
			load.waitAnswered(t, "after the failed restart", 10)
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
	select {
	case <-a.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("the serving process did not stop on SIGTERM:\n%s", a.logs)
	}
	if code := a.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the serving process exited with %d on SIGTERM, want 0:\n%s", code, a.logs)
	}
	sent, failed, errs := load.results()
	t.Logf("%d requests and queries sent across %d failed restarts, %d failed", sent, len(tests), failed)
	if failed != 0 {
		t.Errorf("%d of %d requests failed; first ones:\n%s", failed, sent, strings.Join(errs, "\n"))
		t.Logf("serving process:\n%s", a.logs)
	}
}

// waitLog waits until p's log says what at least n times.
func waitLog(t *testing.T, p *server, what string, n int) {
	t.Helper()
	if err := retry(60*time.Second, func() error {
		if strings.Count(p.logs.String(), what) < n {
			return errNotYet
		}
		return nil
	}); err != nil {
		t.Fatalf("waiting for %q (%d times) in the log:\n%s", what, n, p.logs)
	}
}

// viewerLoad keeps viewers sending requests for customDomain, each kind
// from its own goroutine, until halted: over HTTPS (HTTP/2 and HTTP/1.1,
// keep-alive and a new connection per request), where the origin answers,
// over HTTP, where the edge redirects, and DNS queries for the
// distribution's name over UDP and TCP, each with 5 s for its answer.
// None is retried.
type viewerLoad struct {
	stop     chan struct{}
	halt     func() // stops the load and waits for it; idempotent
	sent     atomic.Int64
	failed   atomic.Int64
	answered map[string]*atomic.Int64 // per kind

	mu   sync.Mutex
	errs []string // the first few failures
}

func startViewerLoad(t *testing.T, f *edgeFixture, httpAddr, httpsAddr, dnsAddr, distName string) *viewerLoad {
	probes := make(map[string]func(n string) error)
	for _, name := range []string{"https h2 keep-alive", "https h1 keep-alive", "https h1 new connections", "http keep-alive", "http new connections"} {
		scheme, addr := "https", httpsAddr
		if strings.HasPrefix(name, "http ") {
			scheme, addr = "http", httpAddr
		}
		c := viewer(addr, f.viewerCA.Pool())
		if !strings.Contains(name, "h2") {
			tr := c.Transport.(*http.Transport)
			tr.ForceAttemptHTTP2 = false
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			tr.DisableKeepAlives = strings.Contains(name, "new")
		}
		probes[name] = func(n string) error {
			resp, err := c.Get(scheme + "://" + customDomain + "/?n=" + n)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			switch want := "https://" + customDomain + "/?n=" + n; {
			case scheme == "https" && (resp.StatusCode != http.StatusOK || string(body) != "hello "+n):
				return fmt.Errorf("%s %q", resp.Status, body)
			case scheme == "http" && (resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want):
				return fmt.Errorf("%s to %q, want 301 to %q", resp.Status, resp.Header.Get("Location"), want)
			}
			return nil
		}
	}
	for _, network := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: network, Timeout: 5 * time.Second}
		probes["dns "+network] = func(string) error {
			r, _, err := c.Exchange(new(dns.Msg).SetQuestion(distName, dns.TypeA), dnsAddr)
			if err != nil {
				return err
			}
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
				return fmt.Errorf("%s: %s with %v", distName, dns.RcodeToString[r.Rcode], r.Answer)
			}
			return nil
		}
	}

	l := &viewerLoad{stop: make(chan struct{}), answered: make(map[string]*atomic.Int64)}
	var wg sync.WaitGroup
	l.halt = sync.OnceFunc(func() { close(l.stop); wg.Wait() })
	for name, probe := range probes {
		ok := new(atomic.Int64)
		l.answered[name] = ok
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				l.sent.Add(1)
				if err := probe(fmt.Sprintf("%s-%d", strings.ReplaceAll(name, " ", "-"), i)); err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.errs) < 10 {
						l.errs = append(l.errs, fmt.Sprintf("%s: %v", name, err))
					}
					l.mu.Unlock()
					time.Sleep(10 * time.Millisecond) // no busy loop while nothing answers
				} else {
					ok.Add(1)
				}
			}
		})
	}
	return l
}

// waitAnswered waits until each kind of request has had n more answers.
func (l *viewerLoad) waitAnswered(t *testing.T, what string, n int64) {
	t.Helper()
	for name, ok := range l.answered {
		from := ok.Load()
		if err := retry(60*time.Second, func() error {
			if ok.Load() < from+n {
				return errNotYet
			}
			return nil
		}); err != nil {
			_, failed, errs := l.results()
			t.Fatalf("%s: %s had %d answers, want %d more; %d failures: %s", what, name, ok.Load()-from, n, failed, strings.Join(errs, "\n"))
		}
	}
}

// results returns how many requests were sent and failed, and the first
// failures.
func (l *viewerLoad) results() (sent, failed int64, errs []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent.Load(), l.failed.Load(), append([]string(nil), l.errs...)
}
