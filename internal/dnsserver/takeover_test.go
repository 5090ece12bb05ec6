package dnsserver

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// duplicate returns new descriptors for the sockets s serves on, as a
// process receiving them over SCM_RIGHTS would rebuild them.
func duplicate(t *testing.T, s *Server) (net.PacketConn, net.Listener) {
	t.Helper()
	udp, tcp := s.Sockets()
	if udp == nil || tcp == nil {
		t.Fatalf("Sockets() = %v, %v; want both", udp, tcp)
	}
	file := func(c any) *os.File {
		f, err := c.(interface{ File() (*os.File, error) }).File()
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	uf, tf := file(udp), file(tcp)
	defer uf.Close()
	defer tf.Close()
	pc, err := net.FilePacketConn(uf)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.FileListener(tf)
	if err != nil {
		t.Fatal(err)
	}
	return pc, ln
}

// TestTakeOver hands the sockets of a serving server to a second one, as a
// restart does between processes: the second reads nothing before Serve,
// so a query sent once the first has shut down waits in the socket, over
// UDP and over TCP, and the second answers it, with its own configuration.
func TestTakeOver(t *testing.T) {
	old := &Server{Names: static(nameMap{"e1abc.portico.localhost": ""})}
	addr := listenLoopback(t, old)
	oldServed := serve(old)
	if r := exchange(t, "udp", addr, query("e1abc.portico.localhost.", dns.TypeA)); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("the first server answers %s", dns.RcodeToString[r.Rcode])
	}

	pc, ln := duplicate(t, old)
	next := &Server{Names: static(nameMap{"e2new.portico.localhost": ""})}
	if err := next.ListenOn(pc, ln); err != nil {
		t.Fatal(err)
	}
	if udp, tcp := next.Sockets(); udp != pc || tcp != ln {
		t.Errorf("Sockets() = %v, %v; want the sockets given to ListenOn", udp, tcp)
	}
	shutdown(t, old, oldServed)

	// Nobody reads the sockets now: the queries wait in them.
	q := query("e2new.portico.localhost.", dns.TypeA)
	conns := map[string]*dns.Conn{}
	for _, network := range []string{"udp", "tcp"} {
		c, err := dns.DialTimeout(network, addr, 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", network, err)
		}
		defer c.Close()
		if err := c.WriteMsg(q); err != nil {
			t.Fatalf("%s: %v", network, err)
		}
		conns[network] = c
	}
	serveUntilCleanup(t, next)
	for network, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		r, err := c.ReadMsg()
		if err != nil {
			t.Errorf("%s query sent between the two servers: %v", network, err)
			continue
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Errorf("%s query sent between the two servers: %s with %v, want the new server's A record", network, dns.RcodeToString[r.Rcode], r.Answer)
		}
	}
}

// TestShutdownAnswersAcceptedConnection accepts a TCP connection whose
// client has not sent its query yet when Shutdown begins: Shutdown stops
// accepting but waits for that query and answers it.
func TestShutdownAnswersAcceptedConnection(t *testing.T) {
	s := &Server{Names: static(testNames)}
	addr := listenLoopback(t, s)
	served := serve(s)

	conn, err := dns.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	drainState := func() (draining bool, unanswered int) {
		s.mu.Lock()
		d := s.drain
		s.mu.Unlock()
		if d == nil {
			return false, 0
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.draining, d.unanswered
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 10s", what)
			}
		}
	}
	waitUntil("the connection is accepted", func() bool { _, n := drainState(); return n == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- s.Shutdown(ctx) }()
	waitUntil("Shutdown stops accepting", func() bool { d, _ := drainState(); return d })
	if _, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		t.Error("a connection made while Shutdown waits was accepted")
	}
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned (%v) with an accepted connection unanswered", err)
	default:
	}

	if err := conn.WriteMsg(query("e1abc.portico.localhost.", dns.TypeA)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	r, err := conn.ReadMsg()
	if err != nil {
		t.Fatalf("the query on the accepted connection: %v", err)
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("the query on the accepted connection: %s with %v", dns.RcodeToString[r.Rcode], r.Answer)
	}
	if err := <-shutdown; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestListenOnErrors(t *testing.T) {
	sockets := func(t *testing.T) (net.PacketConn, net.Listener) {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			pc.Close()
			t.Fatal(err)
		}
		return pc, ln
	}
	// closed checks that ListenOn closed the sockets it refused.
	closed := func(t *testing.T, pc net.PacketConn, ln net.Listener) {
		t.Helper()
		if pc != nil {
			if _, err := pc.WriteTo([]byte("x"), pc.LocalAddr()); err == nil {
				t.Error("the UDP socket is still open")
			}
		}
		if ln != nil {
			if _, err := ln.Accept(); err == nil || !strings.Contains(err.Error(), "closed") {
				t.Errorf("the TCP socket is still open: Accept = %v", err)
			}
		}
	}
	t.Run("a socket missing", func(t *testing.T) {
		pc, ln := sockets(t)
		ln.Close()
		s := &Server{Names: static(testNames)}
		if err := s.ListenOn(pc, nil); err == nil {
			t.Fatal("ListenOn without a TCP socket succeeded")
		}
		closed(t, pc, nil)
	})
	t.Run("configuration error", func(t *testing.T) {
		pc, ln := sockets(t)
		s := &Server{}
		if err := s.ListenOn(pc, ln); err == nil {
			t.Fatal("ListenOn without Names succeeded")
		}
		closed(t, pc, ln)
	})
	t.Run("already listening", func(t *testing.T) {
		s := &Server{Names: static(testNames)}
		start(t, s)
		pc, ln := sockets(t)
		if err := s.ListenOn(pc, ln); err == nil {
			t.Fatal("ListenOn after Listen succeeded")
		}
		closed(t, pc, ln)
	})
	t.Run("after shutdown", func(t *testing.T) {
		s := &Server{Names: static(testNames)}
		s.Shutdown(context.Background())
		pc, ln := sockets(t)
		if err := s.ListenOn(pc, ln); err == nil {
			t.Fatal("ListenOn after Shutdown succeeded")
		}
		closed(t, pc, ln)
	})
}
