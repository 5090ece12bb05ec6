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

// waitExit waits until p exits, which is what it waits for, and returns
// its exit code.
func waitExit(t *testing.T, p *server, what string) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s: not after a minute:\n%s", what, p.logs)
	}
	return p.cmd.ProcessState.ExitCode()
}

// slowOrigin is the origin of the restart tests: it answers /?n=N with
// "hello N" at once, and holds /slow until the download started by
// download is finished, so that a process has a request to drain.
type slowOrigin struct {
	mu               sync.Mutex
	started, release chan struct{} // of the download under way
}

func (o *slowOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Path == "/slow" {
		o.mu.Lock()
		started, release := o.started, o.release
		o.mu.Unlock()
		close(started)
		<-release
		io.WriteString(w, "slow")
		return
	}
	fmt.Fprintf(w, "hello %s", r.URL.Query().Get("n"))
}

// download starts a download of /slow through the edge at httpsAddr and
// returns once the origin holds it; finish lets the origin answer and
// reports how the download went. The download is let go when t ends too,
// before the origin closes, which waits for its requests.
func (o *slowOrigin) download(t *testing.T, f *edgeFixture, httpsAddr string) (finish func() error) {
	t.Helper()
	o.mu.Lock()
	o.started, o.release = make(chan struct{}), make(chan struct{})
	started, release := o.started, o.release
	o.mu.Unlock()
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
	let := sync.OnceFunc(func() { close(release) })
	t.Cleanup(let)
	return func() error { let(); return <-done }
}

// restartFixture is an edge serving customDomain from a slowOrigin on
// fixed addresses, as a restart takes them over, while a viewerLoad keeps
// viewers and resolvers busy.
type restartFixture struct {
	*edgeFixture
	origin                   *slowOrigin
	api, httpAddr, httpsAddr string
	load                     *viewerLoad // halted when the test ends
}

// newRestartFixture starts the edge and the load on it: workers
// goroutines for each kind of request, and dnsTimeout for each query's
// answer.
func newRestartFixture(t *testing.T, workers int, dnsTimeout time.Duration) *restartFixture {
	t.Helper()
	r := &restartFixture{origin: &slowOrigin{}, api: freePort(t), httpAddr: freePort(t), httpsAddr: freePort(t)}
	r.edgeFixture = newEdgeFixture(t, r.origin, "--api", r.api, "--http", r.httpAddr, "--https", r.httpsAddr)
	id := r.create(t, customDomain)
	dist := must(r.cf.GetDistribution(context.Background(), &cloudfront.GetDistributionInput{Id: aws.String(id)}))(t)
	r.load = startViewerLoad(t, r.edgeFixture, loadSpec{
		httpAddr:   r.httpAddr,
		httpsAddr:  r.httpsAddr,
		dnsAddr:    r.p.dns,
		distName:   dns.Fqdn(aws.ToString(dist.Distribution.DomainName)),
		workers:    workers,
		dnsTimeout: dnsTimeout,
	})
	t.Cleanup(r.load.halt)
	return r
}

// loadSpec says where a viewerLoad sends its requests, and how.
type loadSpec struct {
	httpAddr, httpsAddr string
	dnsAddr             string
	distName            string        // fully qualified; its A record is 127.0.0.1
	workers             int           // goroutines for each kind of request
	dnsTimeout          time.Duration // for each query's answer: a timeout is a failure
}

// viewerLoad keeps viewers sending requests for customDomain until
// halted, each kind from its own goroutines: over HTTPS (HTTP/2 and
// HTTP/1.1, keep-alive and a new connection per request), where the
// origin (a slowOrigin) answers, over HTTP, where the edge redirects (the
// behaviour is redirect-to-https), and DNS queries for the distribution's
// name over UDP and TCP, each on its own socket. None is retried.
type viewerLoad struct {
	halt     func() // stops the load and waits for it; idempotent
	sent     atomic.Int64
	failed   atomic.Int64
	answered map[string]*atomic.Int64 // per kind: "https h2 keep-alive", …, "dns udp", "dns tcp"

	mu   sync.Mutex
	errs []string // the first few failures
}

// startViewerLoad starts the load that spec describes on the edge of f.
func startViewerLoad(t *testing.T, f *edgeFixture, spec loadSpec) *viewerLoad {
	t.Helper()
	// A probe sends request n and checks the answer.
	probes := make(map[string]func(n string) error)
	for _, name := range []string{"https h2 keep-alive", "https h1 keep-alive", "https h1 new connections", "http keep-alive", "http new connections"} {
		scheme, addr := "https", spec.httpsAddr
		if strings.HasPrefix(name, "http ") {
			scheme, addr = "http", spec.httpAddr
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
		c := &dns.Client{Net: network, Timeout: spec.dnsTimeout}
		probes["dns "+network] = func(string) error {
			r, _, err := c.Exchange(new(dns.Msg).SetQuestion(spec.distName, dns.TypeA), spec.dnsAddr)
			if err != nil {
				return err
			}
			var got *dns.A
			if len(r.Answer) == 1 {
				got, _ = r.Answer[0].(*dns.A)
			}
			if r.Rcode != dns.RcodeSuccess || got == nil || got.Hdr.Name != spec.distName || !got.A.Equal(net.IPv4(127, 0, 0, 1)) {
				return fmt.Errorf("%s %s: %s with %v, want A 127.0.0.1", network, spec.distName, dns.RcodeToString[r.Rcode], r.Answer)
			}
			return nil
		}
	}

	l := &viewerLoad{answered: make(map[string]*atomic.Int64)}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	l.halt = sync.OnceFunc(func() { close(stop); wg.Wait() })
	for name, probe := range probes {
		ok := new(atomic.Int64)
		l.answered[name] = ok
		for g := range spec.workers {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					l.sent.Add(1)
					if err := probe(fmt.Sprintf("%s-%d-%d", strings.ReplaceAll(name, " ", "-"), g, i)); err != nil {
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
	}
	return l
}

// waitAnswered waits until each kind of request whose name has prefix
// ("" for all) has had n more answers, and says how many each has had.
func (l *viewerLoad) waitAnswered(t *testing.T, what, prefix string, n int64) string {
	t.Helper()
	var counts []string
	for name, ok := range l.answered {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
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
		counts = append(counts, fmt.Sprintf("%s %d", name, ok.Load()-from))
	}
	if counts == nil {
		t.Fatalf("%s: no kind of request is named %q…", what, prefix)
	}
	return strings.Join(counts, ", ")
}

// results returns how many requests were sent and failed, and the first
// failures.
func (l *viewerLoad) results() (sent, failed int64, errs []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent.Load(), l.failed.Load(), append([]string(nil), l.errs...)
}
