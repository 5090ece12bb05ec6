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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/miekg/dns"
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
	slowStarted, releaseSlow := make(chan struct{}), make(chan struct{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.URL.Path == "/slow" {
			close(slowStarted)
			<-releaseSlow
			io.WriteString(w, "slow")
			return
		}
		fmt.Fprintf(w, "hello %s", r.URL.Query().Get("n"))
	})
	api, httpAddr, httpsAddr := freePort(t), freePort(t), freePort(t)
	f := newEdgeFixture(t, handler, "--api", api, "--http", httpAddr, "--https", httpsAddr)
	release := sync.OnceFunc(func() { close(releaseSlow) })
	t.Cleanup(release) // before the origin closes, which waits for its requests
	id := f.create(t, customDomain)
	a := f.p
	dist := must(f.cf.GetDistribution(context.Background(), &cloudfront.GetDistributionInput{Id: aws.String(id)}))(t)
	distName := dns.Fqdn(aws.ToString(dist.Distribution.DomainName))

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
	// A probe sends request n and checks the answer.
	probes := make(map[string]func(n string) error)
	for name, c := range clients {
		probes[name] = func(n string) error {
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
		}
	}
	for _, network := range []string{"udp", "tcp"} {
		probes["dns "+network] = func(string) error {
			c := &dns.Client{Net: network, Timeout: 2 * time.Second} // a timeout is a failure
			r, _, err := c.Exchange(new(dns.Msg).SetQuestion(distName, dns.TypeA), a.dns)
			if err != nil {
				return err
			}
			var got *dns.A
			if len(r.Answer) == 1 {
				got, _ = r.Answer[0].(*dns.A)
			}
			if r.Rcode != dns.RcodeSuccess || got == nil || got.Hdr.Name != distName || !got.A.Equal(net.IPv4(127, 0, 0, 1)) {
				return fmt.Errorf("%s %s: %s with %v, want A 127.0.0.1", network, distName, dns.RcodeToString[r.Rcode], r.Answer)
			}
			return nil
		}
	}

	var (
		sent, failed atomic.Int64
		answered     = make(map[string]*atomic.Int64) // successes per probe
		errMu        sync.Mutex
		errs         []string
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	stopProbes := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopProbes() // on t.Fatal too
	for name, probe := range probes {
		ok := new(atomic.Int64)
		answered[name] = ok
		for g := range 2 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					sent.Add(1)
					if err := probe(fmt.Sprintf("%s-%d-%d", strings.ReplaceAll(name, " ", "-"), g, i)); err != nil {
						failed.Add(1)
						errMu.Lock()
						if len(errs) < 10 {
							errs = append(errs, fmt.Sprintf("%s: %v", name, err))
						}
						errMu.Unlock()
					} else {
						ok.Add(1)
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
	// waitAnswered waits until every probe whose name has prefix has had
	// another 20 answers, and says how many each has had.
	waitAnswered := func(what, prefix string) string {
		t.Helper()
		var counts []string
		for name, ok := range answered {
			if !strings.HasPrefix(name, prefix) {
				continue
			}
			from := ok.Load()
			waitFor(name+" "+what, func() bool { return ok.Load() >= from+20 })
			counts = append(counts, fmt.Sprintf("%s %d", name, ok.Load()-from))
		}
		return strings.Join(counts, ", ")
	}
	waitFor("requests before the restart", func() bool { return sent.Load() >= 50 })
	slow := make(chan error, 1)
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
		slow <- err
	}()
	<-slowStarted

	// The restart: B takes A's listeners and waits for the store; A
	// drains, answering DNS until B serves, and exits by itself; B loads
	// and serves.
	b := spawnPortico(t, f.dataDir, f.env, f.args...)
	waitFor("the new process to take the listeners", func() bool {
		return strings.Contains(b.logs.String(), "took over the listeners of the serving process")
	})
	waitFor("the old process to drain", func() bool {
		return strings.Contains(a.logs.String(), "listeners handed over to a new process")
	})
	before := sent.Load()
	duringDrain := waitAnswered("queries answered while the old process drains", "dns ")
	release()
	if err := <-slow; err != nil {
		t.Errorf("the download under way during the restart: %v", err)
	}
	select {
	case <-a.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("the old process did not exit after handing over its listeners:\n%s", a.logs)
	}
	if code := a.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the old process exited with %d:\n%s", code, a.logs)
	}
	for _, want := range []string{"listeners handed over to a new process", "the new process serves: stopping DNS"} {
		if !strings.Contains(a.logs.String(), want) {
			t.Errorf("the old process does not say %q:\n%s", want, a.logs)
		}
	}
	b.waitListening()
	if b.api != api || b.http != httpAddr || b.https != httpsAddr || b.dns != a.dns {
		t.Errorf("the new process listens on api %s, http %s, https %s, dns %s; want %s, %s, %s, %s",
			b.api, b.http, b.https, b.dns, api, httpAddr, httpsAddr, a.dns)
	}
	afterRestart := waitAnswered("requests served by the new process", "")
	stopProbes()

	t.Logf("%d requests sent (%d before the old process handed over), %d failed; answered while the old process drained: %s; by the new process: %s",
		sent.Load(), before, failed.Load(), duringDrain, afterRestart)
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed across the restart; first ones:\n%s", failed.Load(), sent.Load(), strings.Join(errs, "\n"))
		t.Logf("old process:\n%s\nnew process:\n%s", a.logs, b.logs)
	}

	// The new process serves the API on the same address too.
	if _, err := f.cf.ListDistributions(context.Background(), nil); err != nil {
		t.Errorf("API after the restart: %v", err)
	}
}
