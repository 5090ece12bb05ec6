package origin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"
	"weak"
)

// Limits of every origin connection that the configuration does not set.
const (
	// maxIdleConnsPerHost bounds the kept-alive connections to one origin.
	maxIdleConnsPerHost = 64
	// maxResponseHeaderBytes bounds an origin's response header block.
	maxResponseHeaderBytes = 256 << 10
	// tcpKeepAlive is the TCP keep-alive probe period of origin connections.
	tcpKeepAlive = 30 * time.Second
)

// Transports holds one *http.Transport per distinct origin connection
// setting (domain, port, TLS versions and timeouts). It is shared across
// configuration snapshots, so that a Proxy rebuilt for a new revision keeps
// using the connections of the one it replaces when the origin did not
// change.
//
// A transport lives as long as some Proxy uses it or it holds open
// connections: the registry refers to it weakly, so transports of origins
// that left the configuration are collected once their idle connections
// close (after the origin's keep-alive timeout).
type Transports struct {
	// Resolve, when set, maps an origin's "domain:port" to the address
	// that is dialed instead. The Host header, SNI and certificate checks
	// still use the origin's domain. Set it before the first call to New;
	// tests use it to point origin names at loopback servers.
	Resolve func(hostport string) string

	roots   *x509.CertPool
	log     *slog.Logger
	buffers *sync.Pool // ReverseProxy copy buffers

	mu sync.Mutex
	m  map[transportKey]weak.Pointer[http.Transport]
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
		m:       make(map[transportKey]weak.Pointer[http.Transport]),
	}
}

// transportKey is everything an *http.Transport is built from.
type transportKey struct {
	domain    string
	port      int
	minTLS    uint16
	maxTLS    uint16
	connect   time.Duration // dial and TLS handshake timeout
	read      time.Duration // response header wait, and idle gap between packets
	keepalive time.Duration // idle pooled connection lifetime
}

// get returns the transport for k, building it on first use.
func (t *Transports) get(k transportKey) *http.Transport {
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

// forget drops k from the registry once its transport has been collected.
func (t *Transports) forget(k transportKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if wp, ok := t.m[k]; ok && wp.Value() == nil {
		delete(t.m, k)
	}
}

// CloseIdleConnections closes the idle origin connections of every
// transport, for a clean shutdown.
func (t *Transports) CloseIdleConnections() {
	t.mu.Lock()
	var live []*http.Transport
	for _, wp := range t.m {
		if tr := wp.Value(); tr != nil {
			live = append(live, tr)
		}
	}
	t.mu.Unlock()
	for _, tr := range live {
		tr.CloseIdleConnections()
	}
}

// len reports how many transports the registry holds.
func (t *Transports) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

func (t *Transports) build(k transportKey) *http.Transport {
	dialer := &net.Dialer{Timeout: k.connect, KeepAlive: tcpKeepAlive}
	resolve := t.Resolve
	var protocols http.Protocols
	protocols.SetHTTP1(true) // CloudFront speaks HTTP/1.1 to origins
	return &http.Transport{
		Proxy: nil, // never the environment's proxies
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if resolve != nil {
				addr = resolve(addr)
			}
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &idleTimeoutConn{Conn: c, timeout: k.read}, nil
		},
		TLSClientConfig: &tls.Config{
			ServerName: k.domain,
			RootCAs:    t.roots,
			MinVersion: k.minTLS,
			MaxVersion: k.maxTLS,
		},
		TLSHandshakeTimeout:    k.connect,
		Protocols:              &protocols,
		ForceAttemptHTTP2:      false,
		DisableCompression:     true, // pass Accept-Encoding and bodies through untouched
		MaxIdleConnsPerHost:    maxIdleConnsPerHost,
		IdleConnTimeout:        k.keepalive,
		ResponseHeaderTimeout:  k.read,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
}

// idleTimeoutConn fails a read when the connection has been silent, in both
// directions, for longer than timeout. It is CloudFront's origin response
// timeout: "the amount of time CloudFront waits after receiving a packet of a
// response and before receiving the next packet". Writes push the deadline
// too, so that a slow request upload is not cut by the read side's wait.
// A pooled idle connection is closed after at most timeout as well.
type idleTimeoutConn struct {
	net.Conn
	timeout time.Duration
}

func (c *idleTimeoutConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *idleTimeoutConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err == nil {
		err = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	}
	return n, err
}

// retryTransport retries GET and HEAD requests without a body whose
// connection to the origin could not be established, up to attempts tries
// in all (CloudFront's ConnectionAttempts). Other methods are never retried:
// the origin might have acted on them.
type retryTransport struct {
	next     http.RoundTripper
	attempts int
}

func (rt *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := rt.next.RoundTrip(req)
		if err == nil || attempt >= rt.attempts || !retryable(req, err) || req.Context().Err() != nil {
			return resp, err
		}
	}
}

// retryable reports whether req may be sent again after err: it is a GET or
// HEAD without a body, and err says no connection was made.
func retryable(req *http.Request, err error) bool {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return false
	}
	if req.Body != nil && req.Body != http.NoBody {
		return false
	}
	return isConnectError(err)
}

// isConnectError reports whether err says the TCP connection to the origin
// could not be opened (refused, unreachable, connect timeout), so that
// nothing was sent. TLS failures are not retried: a certificate that fails
// verification fails again.
func isConnectError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
