package edgeserver

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Listener returns ln guarded for the plain-HTTP server: connections over
// the per-IP cap are closed as they are accepted, and every other one
// reaches net/http through the request-head guard (see the package
// documentation), after the fast path (fastpath.go) has answered the
// cache hits it can. Serve the HTTPServer with Serve(s.Listener(ln)).
// Closing the underlying listener stops gracefully: the connections on the
// fast path are handed to net/http at their next request, and Accept
// reports the end after the last.
func (s *Server) Listener(ln net.Listener) net.Listener {
	lim := s.limits()
	ipl := newIPLimitListener(ln, lim.maxConnsPerIP, s.logger())
	if s.slowOnly {
		return &guardListener{Listener: ipl, lim: lim}
	}
	return s.newConnListener(ipl, nil, lim)
}

// TLSListener returns ln guarded for the HTTPS server: the per-IP cap, the
// TLS handshake with TLSConfig (within the handshake timeout, without
// holding up other connections), then HTTP/2 connections as *tls.Conn for
// net/http's HTTP/2 server and HTTP/1.x ones through the fast path and the
// request-head guard. Serve the HTTPSServer with Serve(s.TLSListener(ln)),
// not ServeTLS. Closing the listener also ends the handshakes in progress.
func (s *Server) TLSListener(ln net.Listener) net.Listener {
	lim := s.limits()
	return s.newConnListener(newIPLimitListener(ln, lim.maxConnsPerIP, s.logger()), s.TLSConfig(), lim)
}

func (s *Server) newConnListener(ln *ipLimitListener, config *tls.Config, lim *limits) *connListener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &connListener{
		Listener: ln,
		config:   config,
		lim:      lim,
		log:      s.logger(),
		ready:    make(chan net.Conn),
		errc:     make(chan error),
		ctx:      ctx,
		cancel:   cancel,
	}
	if !s.slowOnly {
		l.fast = &fastConns{fp: &fastPath{p: s.newPipeline(config != nil), stats: &s.fast}, ready: l.ready, done: ctx.Done(), conns: make(map[*fastConn]struct{})}
	}
	return l
}

// guardListener hands out guardConns.
type guardListener struct {
	net.Listener
	lim *limits
}

func (l *guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newGuardConn(c, l.lim), nil
}

// ipLimitListener closes the connections of a peer address that already
// has max open.
type ipLimitListener struct {
	net.Listener
	max int
	log *slog.Logger

	mu    sync.Mutex
	conns map[netip.Addr]int
}

func newIPLimitListener(ln net.Listener, max int, log *slog.Logger) *ipLimitListener {
	return &ipLimitListener{Listener: ln, max: max, log: log, conns: make(map[netip.Addr]int)}
}

func (l *ipLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := peerAddr(c)
		l.mu.Lock()
		n := l.conns[addr]
		if n >= l.max {
			l.mu.Unlock()
			c.Close()
			l.log.Debug("edgeserver: connection refused: per-IP cap reached", "ip", addr.String(), "cap", l.max)
			continue
		}
		l.conns[addr] = n + 1
		l.mu.Unlock()
		return &ipConn{Conn: c, l: l, addr: addr}, nil
	}
}

// release counts the end of a connection from addr.
func (l *ipLimitListener) release(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.conns[addr]; n > 1 {
		l.conns[addr] = n - 1
	} else {
		delete(l.conns, addr)
	}
}

// peerAddr returns the peer's IP address (IPv4-mapped addresses unmapped),
// or the zero Addr for connections that have none, which share one count.
func peerAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// ipConn is a connection counted by an ipLimitListener until it is closed.
type ipConn struct {
	net.Conn
	l    *ipLimitListener
	addr netip.Addr
	once sync.Once
}

func (c *ipConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.addr) })
	return err
}

// CloseWrite shuts down the writing side of a TCP connection.
func (c *ipConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// connListener hands net/http each connection once it is ready for it:
// over TLS (config set), after its handshake, performed in a goroutine of
// its own; HTTP/2 connections as the *tls.Conn (so that net/http serves
// them with its HTTP/2 server), HTTP/1.x ones behind the request-head
// guard, after the fast path (fast set) is done with them.
type connListener struct {
	net.Listener
	config *tls.Config // nil: plain HTTP
	lim    *limits
	log    *slog.Logger
	fast   *fastConns // nil: no fast path

	ready chan net.Conn // connections for net/http
	errc  chan error    // errors from the underlying Accept

	// ctx ends with the listener; it cancels the handshakes in progress.
	ctx    context.Context
	cancel context.CancelFunc

	start    sync.Once
	wg       sync.WaitGroup // the accept loop and the handshakes
	hs       sync.WaitGroup // the handshakes
	closeErr error
	close    sync.Once
}

func (l *connListener) Accept() (net.Conn, error) {
	l.start.Do(func() {
		l.wg.Add(1)
		go l.acceptLoop()
	})
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.errc:
		return nil, err
	case <-l.ctx.Done():
		return nil, net.ErrClosed
	}
}

func (l *connListener) acceptLoop() {
	defer l.wg.Done()
	for {
		c, err := l.Listener.Accept()
		if errors.Is(err, net.ErrClosed) {
			// The underlying listener was closed, not l: a graceful stop
			// (a restart hands new connections to the next process). The
			// handshakes under way finish, the connections on the fast
			// path go to net/http at their next request, and all are
			// served before Accept reports the end.
			l.hs.Wait()
			if l.fast != nil {
				l.fast.stop(stopHandover)
				l.fast.wg.Wait()
			}
			select {
			case l.errc <- err:
			case <-l.ctx.Done():
			}
			return
		}
		if err != nil {
			// Passed on to net/http, which retries temporary errors; the
			// loop ends with the listener.
			select {
			case l.errc <- err:
				continue
			case <-l.ctx.Done():
				return
			}
		}
		l.wg.Add(1)
		l.hs.Add(1)
		go l.prepare(c)
	}
}

// prepare performs c's TLS handshake, if any, and hands the connection to
// the fast path or to net/http.
func (l *connListener) prepare(c net.Conn) {
	conn, g := l.handshake(c)
	if conn != nil && (g == nil || l.fast == nil) {
		l.deliver(conn)
	}
	fast := conn != nil && g != nil && l.fast != nil
	if fast {
		l.fast.wg.Add(1) // before hs.Done: a graceful stop waits for it
		defer l.fast.wg.Done()
	}
	l.hs.Done()
	l.wg.Done()
	if fast {
		l.fast.serve(conn, g)
	}
}

// deliver hands conn to net/http, or closes it if the listener is closed
// first.
func (l *connListener) deliver(conn net.Conn) {
	select {
	case l.ready <- conn:
	case <-l.ctx.Done():
		conn.Close()
	}
}

// handshake performs c's TLS handshake, if the listener is for TLS, and
// returns the connection for net/http, with its guard if it speaks HTTP/1.x;
// nil if the handshake failed.
func (l *connListener) handshake(c net.Conn) (net.Conn, *guardConn) {
	if l.config == nil {
		g := newGuardConn(c, l.lim)
		return g, g
	}
	tc := tls.Server(c, l.config)
	c.SetDeadline(time.Now().Add(l.lim.tlsHandshakeTimeout))
	if err := tc.HandshakeContext(l.ctx); err != nil {
		// As net/http: a client speaking plain HTTP to the HTTPS port
		// gets a plain-text 400.
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
			io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
		}
		l.log.Debug("edgeserver: TLS handshake error", "remote", c.RemoteAddr().String(), "err", err)
		c.Close()
		return nil, nil
	}
	c.SetDeadline(time.Time{})
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		return tc, nil
	}
	g := newGuardConn(tc, l.lim)
	return &tlsGuardConn{guardConn: g, tls: tc}, g
}

// looksLikeHTTP reports whether a TLS record header is the start of an
// HTTP request.
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// Close stops accepting, ends the handshakes in progress and waits for
// them, and closes the connections on the fast path once they have
// answered the request they are answering. To stop gracefully instead,
// close the underlying listener: the handshakes in progress then complete,
// the connections on the fast path are handed over at their next request,
// and Accept returns all of them before net.ErrClosed.
func (l *connListener) Close() error {
	l.close.Do(func() {
		l.cancel()
		l.closeErr = l.Listener.Close()
		if l.fast != nil {
			l.fast.stop(stopClose)
		}
		l.wg.Wait()
	})
	return l.closeErr
}
