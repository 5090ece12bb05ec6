package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portico-edge/portico/internal/testlog"
	"github.com/portico-edge/portico/internal/testpki"
)

// server is one running `portico serve` process started by a test.
type server struct {
	t       *testing.T
	cmd     *exec.Cmd
	dataDir string
	logs    *testlog.Buffer
	exited  chan struct{}
	found   chan []string // the addresses of the "listening" line

	api, http, https, dns string // bound addresses
}

var binary string // built once by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "portico-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "portico")
	build := exec.Command("go", "build", "-race", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building portico:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var listeningLine = regexp.MustCompile(`msg=listening api=(\S+) http=(\S+) https=(\S+) dns=(\S+)`)

// startPortico runs the binary on dataDir with every listener on a free
// loopback port, and waits until it says where it listens.
func startPortico(t *testing.T, dataDir string, env []string, args ...string) *server {
	t.Helper()
	p := spawnPortico(t, dataDir, env, args...)
	p.waitListening()
	return p
}

// spawnPortico starts the binary as startPortico does, without waiting for
// it to listen: call waitListening for that.
func spawnPortico(t *testing.T, dataDir string, env []string, args ...string) *server {
	t.Helper()
	p := &server{t: t, dataDir: dataDir, logs: &testlog.Buffer{}, exited: make(chan struct{})}
	all := append([]string{"serve", "--data", dataDir, "--api", "127.0.0.1:0", "--http", "127.0.0.1:0",
		"--https", "127.0.0.1:0", "--dns", "127.0.0.1:0"}, args...)
	p.cmd = exec.Command(binary, all...)
	p.cmd.Env = append(os.Environ(), env...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.found = make(chan []string, 1)
	found := p.found
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.logs.Write([]byte(line + "\n"))
			if m := listeningLine.FindStringSubmatch(line); m != nil {
				found <- m[1:]
			}
		}
	}()
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.kill(syscall.SIGKILL) })
	return p
}

// waitListening waits until p says where it listens, and records the
// addresses.
func (p *server) waitListening() {
	t := p.t
	t.Helper()
	select {
	case addrs := <-p.found:
		p.api, p.http, p.https, p.dns = addrs[0], addrs[1], addrs[2], addrs[3]
	case <-p.exited:
		t.Fatalf("portico exited before listening:\n%s", p.logs)
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("portico did not start listening:\n%s", p.logs)
	}
}

// kill sends sig and waits for the process to end.
func (p *server) kill(sig syscall.Signal) {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(40 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// recordedRequest is what the test origin saw.
type recordedRequest struct {
	Method, Host, URI, Body string
	Header                  http.Header
	SNI                     string
}

// testOrigin is an HTTPS origin that, like Auth0's edge, refuses requests
// without the right cname-api-key, and records every request.
type testOrigin struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recordedRequest
}

func newTestOrigin(t *testing.T, ca *testpki.CA, domain, apiKey string) *testOrigin {
	t.Helper()
	o := &testOrigin{}
	pair := ca.Issue(t, []string{domain}, testpki.Serial(2)).TLSCertificate(t)
	o.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec := recordedRequest{Method: r.Method, Host: r.Host, URI: r.RequestURI, Body: string(body), Header: r.Header.Clone()}
		if r.TLS != nil {
			rec.SNI = r.TLS.ServerName
		}
		o.mu.Lock()
		o.reqs = append(o.reqs, rec)
		o.mu.Unlock()
		if r.Header.Get("cname-api-key") != apiKey {
			http.Error(w, "Invalid API key", http.StatusForbidden)
			return
		}
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			w.Header().Set("Cache-Control", "public, max-age=300")
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"issuer":"https://login.example.com/","n":%d}`, len(o.requests()))
		case "/authorize":
			http.SetCookie(w, &http.Cookie{Name: "auth0", Value: "session-" + strconv.Itoa(len(o.requests())), Secure: true, HttpOnly: true})
			http.Redirect(w, r, "/login?state=abc", http.StatusFound)
		default:
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
		}
	}))
	o.TLS = &tls.Config{Certificates: []tls.Certificate{*pair}}
	o.StartTLS()
	t.Cleanup(o.Close)
	return o
}

func (o *testOrigin) requests() []recordedRequest {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]recordedRequest(nil), o.reqs...)
}

func (o *testOrigin) last(t *testing.T) recordedRequest {
	t.Helper()
	reqs := o.requests()
	if len(reqs) == 0 {
		t.Fatal("the origin received no request")
	}
	return reqs[len(reqs)-1]
}

func (o *testOrigin) port() int { return o.Listener.Addr().(*net.TCPAddr).Port }

// viewer returns an HTTP client that connects every request to addr, as a
// browser whose DNS points the custom domain at Portico would.
func viewer(addr string, roots *x509.CertPool) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, addr)
			},
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			ForceAttemptHTTP2: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// must returns a function that fails t if err is not nil and otherwise
// returns v: must(f())(t).
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

var errNotYet = errors.New("not yet")
