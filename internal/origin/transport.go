package origin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"weak"
)

// Limits of every origin connection that the configuration does not set.
const (
	// maxIdleConnsPerHost bounds the kept-alive connections to one origin.
	maxIdleConnsPerHost = 64
	// maxResponseHeaderBytes bounds an origin's status line and header
	// block: CloudFront's quota on "the maximum length of a request or an
	// origin response, including headers" (20,480 bytes). A larger one
	// gives a 502.
	maxResponseHeaderBytes = 20480
	// tcpKeepAlive is the TCP keep-alive probe period of origin connections.
	tcpKeepAlive = 30 * time.Second
	// sessionCacheSize bounds the TLS sessions a transport keeps for
	// resumption. They are all for its one origin name: a few suffice.
	sessionCacheSize = 8
)

// DefaultWebSocketIdleTimeout is how long a WebSocket may carry no data, in
// either direction, before Portico closes it: CloudFront's 10 minutes.
const DefaultWebSocketIdleTimeout = 10 * time.Minute

// Transports holds the origin clients of each distinct origin connection
// setting (domain, port, TLS versions and timeouts): an *http.Transport,
// and the HTTP/1.1 client that sends the GET and HEAD requests without a
// body (see h1Client). It is shared across configuration snapshots, so
// that a Proxy rebuilt for a new revision keeps using the connections of
// the one it replaces when the origin did not change.
//
// The clients of a setting live as long as some Proxy uses them or they
// hold open connections: the registry refers to them weakly, so that the
// clients of origins that left the configuration are collected once their
// idle connections close (after the origin's keep-alive timeout).
type Transports struct {
	// Resolve, when set, maps an origin's "domain:port" to the address
	// that is dialed instead. The Host header, SNI and certificate checks
	// still use the origin's domain. Set it before the first call to New;
	// tests use it to point origin names at loopback servers.
	Resolve func(hostport string) string

	// WebSocketIdleTimeout closes a WebSocket that carried no data in
	// either direction for this long. Zero means
	// DefaultWebSocketIdleTimeout. Set it before the first call to New.
	WebSocketIdleTimeout time.Duration

	roots   *x509.CertPool
	log     *slog.Logger
	buffers *sync.Pool // ReverseProxy copy buffers

	mu sync.Mutex
	m  map[transportKey]weak.Pointer[transport]
}

// NewTransports returns an empty registry. roots are the certificate
// authorities trusted for origin TLS (the system roots plus --origin-ca);
// nil means the system roots. Origin certificates are always verified.
func NewTransports(roots *x509.CertPool, log *slog.Logger) *Transports {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Transports{
		roots:   roots,
		log:     log,
		buffers: newBufferPool(),
		m:       make(map[transportKey]weak.Pointer[transport]),
	}
}

// transportKey is everything an origin's clients are built from.
type transportKey struct {
	domain    string
	port      int
	minTLS    uint16
	maxTLS    uint16
	connect   time.Duration // dial and TLS handshake timeout
	read      time.Duration // response header wait, and idle gap between packets
	keepalive time.Duration // idle pooled connection lifetime
}

// transport is the registry's entry for one transportKey: the clients that
// carry its origin requests, which dial alike. Whatever holds a connection
// of either client holds the entry too.
type transport struct {
	key     transportKey
	addr    string // "domain:port", before Resolve
	resolve func(hostport string) string
	dialer  net.Dialer
	tls     *tls.Config // the h1 client's; the http.Transport has its own copy

	// rt carries the requests h1 does not: those with a body, methods
	// other than GET and HEAD, and WebSocket upgrades.
	rt *http.Transport
	// h1 carries GET and HEAD requests without a body.
	h1 *h1Client
}

// get returns the clients for k, building them on first use.
func (t *Transports) get(k transportKey) *transport {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr := t.m[k].Value(); tr != nil {
		return tr
	}
	tr := t.build(k)
	t.log.Debug("new origin transport", "domain", k.domain, "port", k.port)
	t.m[k] = weak.Make(tr)
	runtime.AddCleanup(tr, t.forget, k)
	return tr
}

// forget drops k from the registry once its clients have been collected.
func (t *Transports) forget(k transportKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if wp, ok := t.m[k]; ok && wp.Value() == nil {
		delete(t.m, k)
	}
}

// CloseIdleConnections closes the idle origin connections of every
// client, for a clean shutdown.
func (t *Transports) CloseIdleConnections() {
	t.mu.Lock()
	var live []*transport
	for _, wp := range t.m {
		if tr := wp.Value(); tr != nil {
			live = append(live, tr)
		}
	}
	t.mu.Unlock()
	for _, tr := range live {
		tr.rt.CloseIdleConnections()
		tr.h1.closeIdle()
	}
}

// len reports how many entries the registry holds.
func (t *Transports) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

func (t *Transports) build(k transportKey) *transport {
	tr := &transport{
		key:     k,
		addr:    net.JoinHostPort(k.domain, strconv.Itoa(k.port)),
		resolve: t.Resolve,
		dialer:  net.Dialer{Timeout: k.connect, KeepAlive: tcpKeepAlive},
		tls: &tls.Config{
			ServerName: k.domain,
			RootCAs:    t.roots,
			MinVersion: k.minTLS,
			MaxVersion: k.maxTLS,
			// A new connection resumes the session of an earlier one
			// (TLS 1.3 tickets, TLS 1.2 session tickets): no full
			// handshake, no certificate chain to verify again. Sessions
			// are keyed by ServerName: one cache per entry, which both
			// its clients share.
			ClientSessionCache: tls.NewLRUClientSessionCache(sessionCacheSize),
			// No ALPN, as net/http sends none when it speaks HTTP/1.1
			// only.
		},
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true) // CloudFront speaks HTTP/1.1 to origins
	tr.rt = &http.Transport{
		Proxy: nil, // never the environment's proxies
		// The closure holds tr: the entry lives as long as a
		// connection of the transport does.
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			c, err := tr.dial(ctx, addr)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
		TLSClientConfig:     tr.tls.Clone(),
		TLSHandshakeTimeout: k.connect,
		Protocols:           &protocols,
		ForceAttemptHTTP2:   false,
		DisableCompression:  true, // pass Accept-Encoding and bodies through untouched
		MaxIdleConnsPerHost: maxIdleConnsPerHost,
		IdleConnTimeout:     k.keepalive,
		// No ResponseHeaderTimeout: the connection's read deadline,
		// pushed by every write (see idleTimeoutConn), bounds the wait
		// for the response headers to k.read already, without a timer
		// per request.
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
	tr.h1 = newH1Client(tr)
	return tr
}

// dial opens a TCP connection to the origin at addr ("domain:port", or
// where Resolve points it), with the connection timeout, whose reads time
// out after the origin's read timeout (see idleTimeoutConn). ctx carries
// the request's httptrace, whose DNS and connect hooks the dialer calls.
func (tr *transport) dial(ctx context.Context, addr string) (*idleTimeoutConn, error) {
	if tr.resolve != nil {
		addr = tr.resolve(addr)
	}
	c, err := tr.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return newIdleTimeoutConn(c, tr.key.read), nil
}

// idleTimeoutConn fails a read when the connection has been silent, in both
// directions, for longer than its timeout. It is CloudFront's origin
// response timeout: "the amount of time CloudFront waits after receiving a
// packet of a response and before receiving the next packet", and the wait
// for the response headers after the request was sent. Writes push the
// deadline too, so that a slow request upload is not cut by the read
// side's wait. A pooled idle connection is closed after at most the timeout
// as well.
//
// Setting a deadline costs a timer update, and a request makes several
// reads and writes: the deadline is set timeout+slack ahead and pushed
// again only once slack has passed since, so a silence is cut between
// timeout and timeout+slack (a 32nd of timeout) after the last data, never
// before.
//
// Once the connection carries a WebSocket, an idleWatch takes over: the
// deadline goes, and every read and write tells the watch that data flowed.
type idleTimeoutConn struct {
	net.Conn
	timeout time.Duration
	slack   time.Duration
	epoch   time.Time    // the clock of pushed: monotonic
	pushed  atomic.Int64 // when the deadline was last set, since epoch; <0 never
	watch   atomic.Pointer[idleWatch]
	reads   atomic.Uint64 // reads that returned data, for connCheck
	// aborted is set once the request on the connection was given up
	// (see abort): its deadlines stay in the past.
	aborted atomic.Bool
	// While polling is set, Read returns at once, with what the socket
	// holds or os.ErrDeadlineExceeded (see h1Conn.stale). Only the
	// goroutine that owns the connection sets it and reads.
	polling bool
	poll    *poller // nil where the platform has none
}

// aLongTimeAgo is a deadline that has passed: it makes blocked reads and
// writes return at once.
var aLongTimeAgo = time.Unix(1, 0)

// abort makes the connection's blocked and future reads and writes fail at
// once, with a timeout, for good: the request on it was given up. It is
// safe to call from any goroutine.
func (c *idleTimeoutConn) abort() {
	c.aborted.Store(true)
	c.Conn.SetDeadline(aLongTimeAgo)
}

func newIdleTimeoutConn(c net.Conn, timeout time.Duration) *idleTimeoutConn {
	ic := &idleTimeoutConn{Conn: c, timeout: timeout, slack: timeout / 32, epoch: time.Now()}
	ic.pushed.Store(-1 - int64(ic.slack))
	return ic
}

// watchedBy hands the connection's idle timeout over to w.
func (c *idleTimeoutConn) watchedBy(w *idleWatch) {
	c.watch.Store(w)
	c.Conn.SetReadDeadline(time.Time{})
	w.add(c)
}

// push moves the read deadline to between timeout and timeout+slack from
// now.
func (c *idleTimeoutConn) push() error {
	now := int64(time.Since(c.epoch))
	if now-c.pushed.Load() < int64(c.slack) {
		return nil
	}
	c.pushed.Store(now)
	err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout + c.slack))
	if c.aborted.Load() {
		// abort ran meanwhile: its deadline wins.
		c.Conn.SetDeadline(aLongTimeAgo)
	}
	return err
}

func (c *idleTimeoutConn) Read(p []byte) (int, error) {
	if c.polling {
		return c.poll.read(p)
	}
	w := c.watch.Load()
	if w == nil {
		if err := c.push(); err != nil {
			return 0, err
		}
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.reads.Add(1)
		if w != nil {
			w.touch()
		}
	}
	return n, err
}

func (c *idleTimeoutConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if w := c.watch.Load(); w != nil {
		if n > 0 {
			w.touch()
		}
	} else if err == nil {
		err = c.push()
	}
	return n, err
}

// asIdleTimeoutConn returns the idleTimeoutConn under a connection of the
// transport, or nil.
func asIdleTimeoutConn(c net.Conn) *idleTimeoutConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	ic, _ := c.(*idleTimeoutConn)
	return ic
}

// retryTransport sends a GET or HEAD request again, up to attempts tries in
// all (CloudFront's ConnectionAttempts), when the origin could not be
// reached, did not answer within its timeouts, or dropped the connection
// before its response headers were complete (DG
// RequestAndResponseBehaviorCustomOrigin, "Origin connection attempts" and
// "Origin response timeout"). Other methods are never retried: the origin
// might have acted on them. Neither are failures that would repeat: a
// certificate that does not verify, an invalid response.
//
// It also refuses a response that was in the connection before the
// request was sent (see connCheck).
type retryTransport struct {
	next     http.RoundTripper
	attempts int
}

func (rt *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	check := new(connCheck)
	trace := &httptrace.ClientTrace{
		GotConn:              check.gotConn,
		GotFirstResponseByte: check.gotFirstResponseByte,
	}
	timing := timingOf(req.Context())
	if timing != nil {
		// Server-Timing reports this request's upstream metrics.
		trace = timing.trace(trace)
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	return send(rt.next, rt.attempts, req, check, timing)
}

// send makes req's round trip over next, and sends a GET or HEAD again, up
// to attempts tries in all, when it failed in a way that may not happen
// again (see retryTransport). check is in req's trace; so is timing when
// it is not nil, and each attempt starts a new record in it.
func send(next http.RoundTripper, attempts int, req *http.Request, check *connCheck, timing *Timing) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		if timing != nil {
			timing.begin()
		}
		resp, err := next.RoundTrip(req)
		if err == nil && check.unsolicited() {
			// Closed before its end, the body takes the connection
			// with it; close it outright too, in case there was none.
			resp.Body.Close()
			check.conn.Load().Close()
			resp, err = nil, errUnsolicited
		}
		if err == nil || attempt >= attempts || !retryable(req, err) || req.Context().Err() != nil {
			return resp, err
		}
	}
}

// errUnsolicited is the failure of a request whose "response" was in the
// connection before the request was sent: bytes that the previous response
// on that connection sent past its end, such as a body longer than its
// Content-Length. They are never taken for this request's response.
var errUnsolicited = errors.New("the origin sent bytes past the end of the previous response on the connection")

// connCheck notices a response that was read from the connection before
// the request was handed the connection. Portico never pipelines, so such
// bytes answer no request of Portico's: they are left over from the
// previous response. (net/http closes a connection that has bytes to read
// while idle, but a request may take the connection first.)
type connCheck struct {
	conn  atomic.Pointer[idleTimeoutConn]
	given atomic.Uint64 // the connection's reads when the request got it
	first atomic.Uint64 // its reads when the response's first byte came
	seen  atomic.Bool   // the response's first byte came
}

func (c *connCheck) gotConn(info httptrace.GotConnInfo) {
	ic := asIdleTimeoutConn(info.Conn)
	c.conn.Store(ic)
	c.seen.Store(false)
	if ic != nil {
		c.given.Store(ic.reads.Load())
	}
}

func (c *connCheck) gotFirstResponseByte() {
	if ic := c.conn.Load(); ic != nil {
		c.first.Store(ic.reads.Load())
		c.seen.Store(true)
	}
}

// unsolicited reports whether the response's first byte was read before
// the request had the connection: no read returned data in between.
func (c *connCheck) unsolicited() bool {
	return c.conn.Load() != nil && c.seen.Load() && c.first.Load() == c.given.Load()
}

// retryable reports whether req may be sent again after err: it is a GET or
// HEAD without a body, and err is transient.
func retryable(req *http.Request, err error) bool {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return false
	}
	if req.Body != nil && req.Body != http.NoBody {
		return false
	}
	return transient(err)
}
