//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/portico-edge/portico/internal/dnsserver"
	"github.com/portico-edge/portico/internal/testlog"
)

// TestHandOffKeepsQueuedConnections hands a listener with connections
// waiting in its accept queue from one server to the next, in one process
// (the real binary is in TestRestartWithoutFailedRequests): once the old
// server closes its descriptor, the new one accepts every queued
// connection, and new connections, on the same socket.
func TestHandOffKeepsQueuedConnections(t *testing.T) {
	dir := t.TempDir()
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	old, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	srv, err := offerListeners(filepath.Join(dir, handoffFile), []namedListener{{name: "http", ln: old}}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if fi, err := os.Stat(filepath.Join(dir, handoffFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("hand-off socket: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}

	// Connections the old server never accepts.
	const queued = 5
	var conns []net.Conn
	for i := range queued {
		c, err := net.DialTimeout("tcp", old.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "queued %d\n", i)
		conns = append(conns, c)
	}

	acq, err := acquireListeners(context.Background(), log, dir, net.ListenConfig{},
		[]listenSpec{{"http", old.Addr().String()}, {"https", "127.0.0.1:0"}}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer acq.from.end()
	lns := acq.lns
	defer lns[0].Close()
	defer lns[1].Close()
	select {
	case <-srv.Taken():
	case <-time.After(10 * time.Second):
		t.Fatal("the old server was not told that its listeners were taken")
	}
	if lns[0].Addr().String() != old.Addr().String() {
		t.Errorf("http listener on %s, want the old one's %s", lns[0].Addr(), old.Addr())
	}
	if lns[1].Addr().String() == old.Addr().String() {
		t.Errorf("https listener on %s: bound anew, it must differ from the http one", lns[1].Addr())
	}
	old.Close()
	if _, err := os.Stat(filepath.Join(dir, handoffFile)); !os.IsNotExist(err) {
		t.Errorf("the hand-off socket is still there after the hand-off: %v", err)
	}

	late, err := net.DialTimeout("tcp", old.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatalf("a connection after the old server closed its descriptor: %v", err)
	}
	defer late.Close()
	fmt.Fprintf(late, "late\n")

	var got []string
	for range queued + 1 {
		lns[0].(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
		c, err := lns[0].Accept()
		if err != nil {
			t.Fatalf("accepted %q, then: %v", got, err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil {
			t.Fatalf("reading an accepted connection: %v", err)
		}
		got = append(got, strings.TrimSpace(line))
	}
	for i := range queued {
		if want := fmt.Sprintf("queued %d", i); !strings.Contains(strings.Join(got, ","), want) {
			t.Errorf("connection %q was lost in the hand-off; accepted %q", want, got)
		}
	}
	if !strings.Contains(strings.Join(got, ","), "late") {
		t.Errorf("the connection made after the hand-off was not accepted; accepted %q", got)
	}
}

// TestHandOffWithoutServingProcess starts where no process offers its
// listeners, also with a socket file left by a killed one: the listeners
// are bound anew.
func TestHandOffWithoutServingProcess(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, stale := range []bool{false, true} {
		t.Run(fmt.Sprintf("stale socket %v", stale), func(t *testing.T) {
			dir := t.TempDir()
			if stale {
				ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: filepath.Join(dir, handoffFile), Net: "unixpacket"})
				if err != nil {
					t.Fatal(err)
				}
				ln.SetUnlinkOnClose(false)
				ln.Close()
			}
			acq, err := acquireListeners(context.Background(), log, dir, net.ListenConfig{}, []listenSpec{{"http", "127.0.0.1:0"}}, "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			acq.lns[0].Close()
			if acq.from != nil || acq.dnsUDP != nil {
				t.Errorf("acquired %+v from no serving process", acq)
			}
			// The next server replaces the stale socket.
			srv, err := offerListeners(filepath.Join(dir, handoffFile), nil, log)
			if err != nil {
				t.Fatalf("offering after a stale socket: %v", err)
			}
			srv.Close()
		})
	}
}

// TestHandOffKeepsListenersWhenNotConfirmed has a new process take the
// listeners and go away without confirming (it failed to bind another
// address): the serving process keeps its listeners and offers them
// again.
func TestHandOffKeepsListenersWhenNotConfirmed(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	old, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	taken, err := net.Listen("tcp", "127.0.0.1:0") // a port the new process cannot bind
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	srv, err := offerListeners(filepath.Join(dir, handoffFile), []namedListener{{name: "http", ln: old}}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	_, err = acquireListeners(context.Background(), log, dir, net.ListenConfig{},
		[]listenSpec{{"http", old.Addr().String()}, {"https", taken.Addr().String()}}, "")
	if err == nil || !strings.Contains(err.Error(), "--https") {
		t.Fatalf("acquireListeners with a taken port: err = %v, want a --https error", err)
	}
	select {
	case <-srv.Taken():
		t.Fatal("the serving process was told its listeners were taken")
	default:
	}
	acq, err := acquireListeners(context.Background(), log, dir, net.ListenConfig{}, []listenSpec{{"http", old.Addr().String()}}, "")
	if err != nil {
		t.Fatalf("a second hand-off: %v", err)
	}
	defer acq.from.end()
	defer acq.lns[0].Close()
	select {
	case <-srv.Taken():
	case <-time.After(10 * time.Second):
		t.Fatal("the second hand-off was not confirmed")
	}
}

// TestHandOffDNS hands a DNS server's UDP and TCP sockets over along with a
// TCP listener: the next server answers on the very same sockets, and the
// old process learns when it serves, or that it went away without serving.
func TestHandOffDNS(t *testing.T) {
	soa := new(dns.Msg).SetQuestion("portico.localhost.", dns.TypeSOA)
	ask := func(t *testing.T, network, addr string) {
		t.Helper()
		c := &dns.Client{Net: network, Timeout: 5 * time.Second}
		r, _, err := c.Exchange(soa, addr)
		if err != nil {
			t.Fatalf("%s query: %v", network, err)
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("%s query: %s with %v", network, dns.RcodeToString[r.Rcode], r.Answer)
		}
	}
	for _, serves := range []bool{true, false} {
		t.Run(fmt.Sprintf("serves %v", serves), func(t *testing.T) {
			dir := t.TempDir()
			log := slog.New(slog.DiscardHandler)
			old, addr, api, srv := offerDNS(t, dir, log)
			go old.Serve()

			acq, err := acquireListeners(context.Background(), log, dir, net.ListenConfig{},
				[]listenSpec{{"api", api.Addr().String()}}, "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer acq.from.end()
			defer acq.lns[0].Close()
			if acq.dnsUDP == nil || acq.dnsTCP == nil {
				t.Fatalf("the DNS sockets were not taken: %v, %v", acq.dnsUDP, acq.dnsTCP)
			}
			if acq.dnsUDP.LocalAddr().String() != addr.String() || acq.dnsTCP.Addr().String() != addr.String() {
				t.Errorf("DNS sockets on %s and %s, want the old ones' %s", acq.dnsUDP.LocalAddr(), acq.dnsTCP.Addr(), addr)
			}
			select {
			case <-srv.Taken():
			case <-time.After(10 * time.Second):
				t.Fatal("the old server was not told that its listeners were taken")
			}
			waited := make(chan error, 1)
			go func() { waited <- srv.WaitServing(context.Background(), time.Minute) }()

			next := &dnsserver.Server{Names: func() dnsserver.Names { return nil }}
			if err := next.ListenOn(acq.dnsUDP, acq.dnsTCP); err != nil {
				t.Fatal(err)
			}
			go next.Serve()
			defer next.Shutdown(context.Background())
			select {
			case err := <-waited:
				t.Fatalf("WaitServing returned %v before the new server said it serves", err)
			default:
			}
			if serves {
				if err := acq.from.serving(); err != nil {
					t.Fatalf("serving: %v", err)
				}
			} else {
				acq.from.end()
			}
			select {
			case err := <-waited:
				if serves && err != nil {
					t.Errorf("WaitServing = %v after the new server said it serves", err)
				}
				if !serves && err == nil {
					t.Error("WaitServing = nil after the new process went away without serving")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("WaitServing did not return")
			}

			// With the old server stopped, the new one answers on the
			// same address.
			if err := old.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			ask(t, "udp", addr.String())
			ask(t, "tcp", addr.String())
		})
	}
}

// offerDNS has a DNS server (which serves no names) listen on loopback,
// and offers its sockets from dir, with an API listener, as a serving
// process does; all of them close when the test ends. The caller runs
// the server's Serve if it needs it.
func offerDNS(t *testing.T, dir string, log *slog.Logger) (old *dnsserver.Server, dnsAddr net.Addr, api net.Listener, srv *handOffServer) {
	t.Helper()
	old = &dnsserver.Server{Names: func() dnsserver.Names { return nil }}
	dnsAddr, err := old.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Shutdown(context.Background()) })
	api, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Close() })
	udp, tcp := old.Sockets()
	srv, err = offerListeners(filepath.Join(dir, handoffFile),
		[]namedListener{{name: "api", ln: api}, {name: dnsRole, pc: udp}, {name: dnsRole, ln: tcp}}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return old, dnsAddr, api, srv
}

// TestHandOffDNSElsewhere: DNS sockets offered for another address than
// the one asked for are not taken, and the other listeners still are.
func TestHandOffDNSElsewhere(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	_, addr, api, _ := offerDNS(t, dir, log)
	elsewhere := freePort(t)
	acq, err := acquireListeners(context.Background(), log, dir, net.ListenConfig{},
		[]listenSpec{{"api", api.Addr().String()}}, elsewhere)
	if err != nil {
		t.Fatal(err)
	}
	defer acq.from.end()
	defer acq.lns[0].Close()
	if acq.dnsUDP != nil || acq.dnsTCP != nil {
		t.Errorf("took DNS sockets on %s for --dns %s", addr, elsewhere)
	}
	if acq.lns[0].Addr().String() != api.Addr().String() || acq.from == nil {
		t.Errorf("the api listener was not taken: %s", acq.lns[0].Addr())
	}
}

func TestSameAddress(t *testing.T) {
	tcp := func(s string) net.Addr { a, _ := net.ResolveTCPAddr("tcp", s); return a }
	udp := func(s string) net.Addr { a, _ := net.ResolveUDPAddr("udp", s); return a }
	tests := []struct {
		want string
		have net.Addr
		same bool
	}{
		{"127.0.0.1:8080", tcp("127.0.0.1:8080"), true},
		{"127.0.0.1:0", tcp("127.0.0.1:8080"), true},
		{"localhost:8080", tcp("127.0.0.1:8080"), true},
		{":8080", tcp("[::]:8080"), true},
		{":8080", tcp("0.0.0.0:8080"), true},
		{":http", tcp("[::]:80"), true},
		{"127.0.0.1:8081", tcp("127.0.0.1:8080"), false},
		{"127.0.0.2:8080", tcp("127.0.0.1:8080"), false},
		{"0.0.0.0:8080", tcp("[::]:8080"), false},
		{":8080", tcp("127.0.0.1:8080"), false},
		{"no port", tcp("127.0.0.1:8080"), false},
		{"127.0.0.1:8080", &net.UnixAddr{Name: "/x", Net: "unix"}, false},
		{"127.0.0.1:8053", udp("127.0.0.1:8053"), true},
		{"127.0.0.1:0", udp("127.0.0.1:8053"), true},
		{":domain", udp("[::]:53"), true},
		{"127.0.0.1:8054", udp("127.0.0.1:8053"), false},
		{"127.0.0.2:8053", udp("127.0.0.1:8053"), false},
	}
	for _, tt := range tests {
		if got := sameAddress(tt.want, tt.have); got != tt.same {
			t.Errorf("sameAddress(%q, %v) = %v, want %v", tt.want, tt.have, got, tt.same)
		}
	}
}
