// Package dnsserver is Portico's authoritative DNS server. It answers over
// UDP and TCP on one address for the edge domain (the zone under which
// every distribution gets its DomainName, <id>.<edge-domain>) and for every
// alias of a distribution, reading the names from the current configuration
// snapshot on each query.
//
// What it answers, for a zone edge domain Z and public addresses P:
//
//   - Z (the apex): SOA, and NS ns1.Z with the addresses of ns1.Z as glue.
//   - ns1.Z and a distribution's own name <id>.Z: A and AAAA records for P
//     (TTL 60).
//   - An alias (login.example.com): a CNAME to its distribution's name (TTL
//     300) followed, because Portico is authoritative for the target too, by
//     the target's records of the queried type, as RFC 1034 §4.3.2 has an
//     authoritative server do for in-zone targets. A query for the CNAME
//     itself, or for ANY, gets the CNAME alone.
//   - A wildcard alias (*.example.com) answers for one-label names under it
//     unless a more specific alias exists. The server walks the wildcard
//     itself: it asks [Names] for the exact name, then for "*." plus the
//     name's parent.
//   - A name under Z that does not exist: NXDOMAIN with Z's SOA in the
//     authority section (negative TTL 60). An existing name with no records
//     of the queried type: NOERROR, no answer, Z's SOA in the authority
//     section.
//   - A name in no zone Portico serves, which includes names under an alias
//     that are not themselves aliases: REFUSED.
//
// Names match case-insensitively, and answers keep the question's case, so
// that resolvers using 0x20 randomisation accept them. Authoritative answers
// carry the AA bit.
//
// ANY queries get a minimal answer as RFC 8482 §4.1 allows: one RRset that
// exists at the name (the A records of a distribution, or its AAAA records
// when no IPv4 address is configured; the SOA at the apex; the CNAME at an
// alias) instead of a synthesised HINFO, so that a client that does use the
// answer gets something real.
//
// Hostile input: packets shorter than a header and responses (QR set) are
// dropped; opcodes other than QUERY get NOTIMP; anything but exactly one
// question with empty answer and authority sections and at most one
// additional record (the OPT), malformed or truncated packets, a second OPT
// or an OPT not owned by the root get FORMERR; EDNS versions other than 0
// get BADVERS; classes other than IN and zone transfers get REFUSED; other
// meta query types get NOTIMP. Answers fit the client's EDNS0 UDP size,
// clamped to [512, 1232] bytes, or 512 bytes without EDNS0; what does not
// fit is cut and the TC bit set, so the client retries over TCP. TCP
// connections are capped in number, must send their first query within 2 s
// and a later one within 5 s of the previous answer, and carry at most 128
// queries.
//
// Restarts: a new process can take over the server's sockets themselves,
// not new ones bound to the same address, so that no query goes
// unanswered. The serving process hands them over (their descriptors,
// from [Server.Sockets], passed over a unix socket with SCM_RIGHTS, for
// instance) and goes on answering; the new one serves on them with
// [Server.ListenOn]. Until it calls [Server.Serve] it reads nothing, so
// queries that the old process does not read wait in the sockets' queues,
// and both answer once both serve. Then the old one calls
// [Server.Shutdown], which answers every query it has read and every TCP
// connection it has accepted, and leaves the rest queued for the new one.
package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/netutil"
)

// Limits on what a client may cost the server.
const (
	// maxUDPSize is the largest UDP answer, whatever the client's EDNS0
	// size says: the size that avoids IP fragmentation on common paths
	// (DNS Flag Day 2020). It is also the read buffer for UDP queries.
	maxUDPSize = 1232

	tcpReadTimeout = 2 * time.Second // for the first query on a connection
	tcpIdleTimeout = 5 * time.Second // between queries on a connection
	maxTCPQueries  = 128             // per connection
	maxTCPConns    = 256             // at once; more wait in the backlog
)

// Names says which names exist. The data plane's snapshot implements it.
type Names interface {
	// Lookup reports how name is served: as a distribution's own domain
	// name (ok, target == "") or as an alias whose CNAME target is target
	// (ok, target != "", lower-case, without a trailing dot).
	//
	// name is lower-case, without a trailing dot, and is asked for
	// exactly: the server finds the wildcard alias *.example.com by asking
	// for "*.example.com" itself (a Lookup that also matches wildcards
	// gives the same answers). name is only valid during the call and
	// Lookup must not retain it, as io.Writer must not retain p: the server
	// reuses its bytes so that a lookup does not allocate.
	Lookup(name string) (target string, ok bool)
}

// Server is an authoritative DNS server answering over UDP and TCP on one
// address. Set its fields, then call Listen (or ListenOn), Serve and
// finally Shutdown. The fields must not change after Listen or ListenOn.
type Server struct {
	// Zone is the edge domain. The empty string means "portico.localhost".
	Zone string

	// Addrs are the public addresses that the names of distributions, and
	// the name server ns1.<Zone>, resolve to. Nil means 127.0.0.1.
	Addrs []netip.Addr

	// Names returns the current view of which names exist. It is called
	// once per query, so a configuration change is seen by the next query;
	// it must be safe for concurrent use and should not block (load an
	// atomic pointer). It is required. When it returns nil (no
	// configuration loaded yet), queries that need it get SERVFAIL rather
	// than a negative answer that resolvers would cache; return a nil
	// interface then, not an interface holding a nil pointer.
	Names func() Names

	// Log receives errors and, at debug level, malformed queries. Nil
	// discards them.
	Log *slog.Logger

	// ListenConfig binds the sockets; its Control may set socket options,
	// such as SO_REUSEPORT so that a new process can take over the address.
	// The zero value binds plainly.
	ListenConfig net.ListenConfig

	mu      sync.Mutex
	h       *handler
	udp     net.PacketConn
	tcp     net.Listener
	drain   *drainListener // tcp as the TCP server sees it; set by Serve
	servers []*dns.Server  // set by Serve
	ready   chan struct{}  // closed by Serve once every server has started or failed to
	closed  bool           // set by Shutdown
}

// Listen binds addr for both UDP and TCP and returns the bound address,
// which is the same for both. When addr's port is 0, it binds UDP on a free
// port, then TCP on the same port, trying other ports while that one is
// taken for TCP. It also checks the server's configuration.
func (s *Server) Listen(addr string) (net.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, err := s.checkListen()
	if err != nil {
		return nil, err
	}
	udp, tcp, err := listen(&s.ListenConfig, addr)
	if err != nil {
		return nil, fmt.Errorf("dnsserver: %w", err)
	}
	s.h, s.udp, s.tcp = h, udp, tcp
	return udp.LocalAddr(), nil
}

// ListenOn is Listen for sockets bound elsewhere, normally to one address:
// those of a previous process, taken over so that a restart leaves no query
// unanswered (see the package documentation). The server owns them from
// then on, and closes them when it stops, or at once if ListenOn fails. It
// reads nothing from them until Serve: queries meanwhile wait in the UDP
// socket's receive queue and TCP connections in the accept queue, for
// whichever process reads them first. It also checks the server's
// configuration.
func (s *Server) ListenOn(udp net.PacketConn, tcp net.Listener) error {
	if udp == nil || tcp == nil {
		if udp != nil {
			udp.Close()
		}
		if tcp != nil {
			tcp.Close()
		}
		return errors.New("dnsserver: ListenOn needs both a UDP and a TCP socket")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h, err := s.checkListen()
	if err != nil {
		udp.Close()
		tcp.Close()
		return err
	}
	s.h, s.udp, s.tcp = h, udp, tcp
	return nil
}

// checkListen reports whether the server may listen now, and builds its
// handler. s.mu is held.
func (s *Server) checkListen() (*handler, error) {
	switch {
	case s.closed:
		return nil, errors.New("dnsserver: listen after shutdown")
	case s.udp != nil:
		return nil, errors.New("dnsserver: already listening")
	}
	return newHandler(s)
}

// Sockets returns the UDP and TCP sockets that the server answers on, as
// bound by Listen or given to ListenOn, or nils before either. They stay
// the server's: they are returned so that a serving process can hand them
// over to the next (their File methods return duplicates of the
// descriptors), not to be read or closed.
func (s *Server) Sockets() (udp net.PacketConn, tcp net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.udp, s.tcp
}

// listen binds host:port for UDP and TCP, retrying with a fresh port when
// the port was 0 and the one the system chose for UDP is taken for TCP.
func listen(lc *net.ListenConfig, addr string) (net.PacketConn, net.Listener, error) {
	ctx := context.Background()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	attempts := 1
	if port == "0" || port == "" {
		attempts = 16
	}
	for i := 0; ; i++ {
		udp, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return nil, nil, err
		}
		bound := strconv.Itoa(udp.LocalAddr().(*net.UDPAddr).Port)
		tcp, err := lc.Listen(ctx, "tcp", net.JoinHostPort(host, bound))
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if i+1 == attempts {
			return nil, nil, err
		}
	}
}

// Serve answers queries on the sockets bound by Listen, or given to
// ListenOn, until Shutdown is called, then returns nil. If either socket
// fails, Serve stops serving on the other and returns the error.
func (s *Server) Serve() error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return nil
	case s.udp == nil:
		s.mu.Unlock()
		return errors.New("dnsserver: Serve called before Listen or ListenOn")
	case s.servers != nil:
		s.mu.Unlock()
		return errors.New("dnsserver: already serving")
	}
	pc, ln := s.udp, s.tcp
	drain := newDrainListener(ln)
	udp, tcp := s.newDNSServer(), s.newDNSServer()
	udp.PacketConn = pc
	tcp.Listener = netutil.LimitListener(drain, maxTCPConns)
	servers := []*dns.Server{udp, tcp}
	ready := make(chan struct{})
	s.servers, s.ready, s.drain = servers, ready, drain
	s.mu.Unlock()

	// Shutdown must not reach a dns.Server before it has started: its
	// ShutdownContext would fail and the server would then run forever. So
	// ready waits for each to start, or to fail to.
	var started sync.WaitGroup
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		started.Add(1)
		notify := sync.OnceFunc(started.Done)
		srv.NotifyStartedFunc = notify
		go func() {
			err := srv.ActivateAndServe()
			notify()
			errc <- err
		}()
	}
	started.Wait()
	close(ready)

	err := <-errc
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		stop(ctx, servers)
		cancel()
	}
	if err2 := <-errc; err == nil {
		err = err2
	}
	// The servers close their sockets as they stop, unless they failed
	// before starting.
	pc.Close()
	ln.Close()
	if err != nil {
		return fmt.Errorf("dnsserver: %w", err)
	}
	return nil
}

// Shutdown stops the server without leaving a query it has taken in
// unanswered. It stops accepting TCP connections and waits until each
// connection already accepted has been answered a query (or has closed: one
// that sends nothing is closed after 2 s). Then it stops reading UDP
// queries, closes the TCP connections that are idle between queries, and
// waits until the queries in flight are answered and the connections
// closed, or until ctx is done. Serve then returns nil.
//
// It closes the server's descriptors: queries and connections still queued
// on the sockets are left to another process serving on the same sockets
// (see ListenOn), or are lost with the sockets when there is none.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	servers, ready, drain := s.servers, s.ready, s.drain
	udp, tcp := s.udp, s.tcp
	s.mu.Unlock()

	if servers == nil { // never served: only the sockets to close
		if udp != nil {
			udp.Close()
			tcp.Close()
		}
		return nil
	}
	select {
	case <-ready:
	case <-ctx.Done():
		return fmt.Errorf("dnsserver: shutdown: %w", ctx.Err())
	}
	// Answer the connections accepted before stopping the TCP server,
	// whose own shutdown would close them unanswered (see drainListener).
	// On ctx's expiry, stop reports it.
	drain.drain(ctx)
	if err := stop(ctx, servers); err != nil {
		return fmt.Errorf("dnsserver: shutdown: %w", err)
	}
	return nil
}

// stop shuts the servers down. Only ctx's error is reported: a server that
// already stopped, or never started, has nothing left to stop.
func stop(ctx context.Context, servers []*dns.Server) error {
	for _, srv := range servers {
		srv.ShutdownContext(ctx)
	}
	return ctx.Err()
}

func (s *Server) newDNSServer() *dns.Server {
	return &dns.Server{
		Handler:        s.h,
		UDPSize:        maxUDPSize,
		ReadTimeout:    tcpReadTimeout,
		IdleTimeout:    func() time.Duration { return tcpIdleTimeout },
		MaxTCPQueries:  maxTCPQueries,
		MsgAcceptFunc:  acceptMsg,
		MsgInvalidFunc: s.h.invalid,
	}
}

// acceptMsg screens a query on its header alone, before it is parsed.
// Responses are dropped (answering them invites reflection loops); other
// opcodes than QUERY get NOTIMP; a query must ask one question and carry no
// answer or authority records and at most one additional record, the OPT,
// or it gets FORMERR.
func acceptMsg(dh dns.Header) dns.MsgAcceptAction {
	const qr = 1 << 15
	if dh.Bits&qr != 0 {
		return dns.MsgIgnore
	}
	if opcode := int(dh.Bits>>11) & 0xF; opcode != dns.OpcodeQuery {
		return dns.MsgRejectNotImplemented
	}
	if dh.Qdcount != 1 || dh.Ancount != 0 || dh.Nscount != 0 || dh.Arcount > 1 {
		return dns.MsgReject
	}
	return dns.MsgAccept
}
