package edgeserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/portico-edge/portico/internal/snapshot"
)

// DefaultPop is the X-Amz-Cf-Pop value when Server.Pop is empty, in the
// shape of CloudFront's (an airport-like code, a number and a suffix, as in
// IAD66-C1).
const DefaultPop = "PTC1-P1"

// Limits of the viewer-facing servers that are not configurable.
const (
	// MaxHeaderBytes bounds the request line and headers, every byte up to
	// and including the empty line that ends them: CloudFront's
	// 20,480-byte quota. Over it, a viewer gets 413 and the connection
	// closes. (The request-head guard enforces it exactly on HTTP/1.x; on
	// HTTP/2 the pipeline measures the request as HTTP/1.1 would carry
	// it.)
	MaxHeaderBytes = 20480
	// MaxURLBytes bounds the request target: CloudFront's 8,192-byte URL
	// quota. Longer ones get 414.
	MaxURLBytes = 8192
	// MaxConcurrentStreams is the number of HTTP/2 streams a viewer may
	// have open on one connection (Envoy's and HAProxy's edge value; Go:
	// 250).
	MaxConcurrentStreams = 100
	// MaxHeaderListSize is the HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE that
	// the HTTPS server advertises and enforces (Go: 1 MiB plus 320 bytes).
	// It is MaxHeaderBytes plus 4 KiB of slack, because HTTP/2 counts each
	// field as its name and value plus 32 bytes where HTTP/1.1 counts 4:
	// a request within the 20,480-byte quota as HTTP/1.1 would carry it
	// (which the pipeline enforces on HTTP/2 too, with 413) fits with up to
	// about 140 fields, cookie crumbs included. A header list over it gets
	// 431 from net/http's HTTP/2 server, which decodes no further; one
	// whose frames run far past it (more than twice what is left) ends the
	// connection with GOAWAY PROTOCOL_ERROR. Either way nothing reaches the
	// origin.
	MaxHeaderListSize = MaxHeaderBytes + 4096
)

// h2FieldAllowance is what net/http adds to Server.MaxHeaderBytes to make
// its HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE (32 bytes for each of 10
// fields); HTTPSServer subtracts it so that the advertised value is exactly
// MaxHeaderListSize, as TestH2HeaderListLimit checks.
const h2FieldAllowance = 10 * 32

// Defaults of the configurable limits (see Limits).
const (
	// ReadHeaderTimeout bounds how long a viewer may take to send a
	// request head, from its first byte (from the connection's start for
	// the first request), against slowloris.
	ReadHeaderTimeout = 10 * time.Second
	// IdleTimeout closes keep-alive connections idle this long (nginx's
	// keepalive_timeout).
	IdleTimeout = 75 * time.Second
	// BodyReadTimeout is the longest pause allowed while a viewer sends a
	// request body (nginx's client_body_timeout).
	BodyReadTimeout = 60 * time.Second
	// WriteTimeout is the longest a write to a viewer may make no progress,
	// against viewers that do not read (nginx's send_timeout).
	WriteTimeout = 60 * time.Second
	// TLSHandshakeTimeout bounds a TLS handshake.
	TLSHandshakeTimeout = 10 * time.Second
	// MaxRequestsPerConn is the number of requests served on one HTTP/1.x
	// connection before it is closed (nginx's keepalive_requests).
	MaxRequestsPerConn = 1000
	// MaxConnsPerIP is the number of connections one IP address may have
	// open on a listener; more are closed as they are accepted.
	MaxConnsPerIP = 256
	// MaxUploadBytes bounds POST, PUT and PATCH bodies.
	MaxUploadBytes = 64 << 20
	// MaxOtherBodyBytes bounds the bodies of the other methods. (GET and
	// HEAD requests with a body are refused whatever its size.)
	MaxOtherBodyBytes = 1 << 20
)

// Limits are the configurable limits of the viewer-facing servers. The
// zero value of each field stands for its default.
type Limits struct {
	ReadHeaderTimeout   time.Duration // default ReadHeaderTimeout
	IdleTimeout         time.Duration // default IdleTimeout
	BodyReadTimeout     time.Duration // default BodyReadTimeout
	WriteTimeout        time.Duration // default WriteTimeout
	TLSHandshakeTimeout time.Duration // default TLSHandshakeTimeout
	MaxRequestsPerConn  int           // default MaxRequestsPerConn
	MaxConnsPerIP       int           // default MaxConnsPerIP
	// MaxBodyBytes bounds request bodies by method (upper case), with
	// "*" for the methods it does not name. A method found in neither
	// gets the default: MaxUploadBytes for POST, PUT and PATCH,
	// MaxOtherBodyBytes for the others. A body over its limit gets 413.
	MaxBodyBytes map[string]int64
}

// limits are Limits with the defaults filled in.
type limits struct {
	readHeaderTimeout   time.Duration
	idleTimeout         time.Duration
	bodyReadTimeout     time.Duration
	writeTimeout        time.Duration
	tlsHandshakeTimeout time.Duration
	maxRequestsPerConn  int
	maxConnsPerIP       int
	maxBodyBytes        map[string]int64
}

func (s *Server) limits() *limits {
	l := s.Limits
	or := func(d, def time.Duration) time.Duration {
		if d > 0 {
			return d
		}
		return def
	}
	orInt := func(n, def int) int {
		if n > 0 {
			return n
		}
		return def
	}
	return &limits{
		readHeaderTimeout:   or(l.ReadHeaderTimeout, ReadHeaderTimeout),
		idleTimeout:         or(l.IdleTimeout, IdleTimeout),
		bodyReadTimeout:     or(l.BodyReadTimeout, BodyReadTimeout),
		writeTimeout:        or(l.WriteTimeout, WriteTimeout),
		tlsHandshakeTimeout: or(l.TLSHandshakeTimeout, TLSHandshakeTimeout),
		maxRequestsPerConn:  orInt(l.MaxRequestsPerConn, MaxRequestsPerConn),
		maxConnsPerIP:       orInt(l.MaxConnsPerIP, MaxConnsPerIP),
		maxBodyBytes:        l.MaxBodyBytes,
	}
}

// maxBody returns the body limit for method.
func (l *limits) maxBody(method string) int64 {
	if n, ok := l.maxBodyBytes[method]; ok {
		return n
	}
	if n, ok := l.maxBodyBytes["*"]; ok {
		return n
	}
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		return MaxUploadBytes
	}
	return MaxOtherBodyBytes
}

// Server serves viewers from the current snapshot. Set its fields, then
// build the servers with HTTPServer and HTTPSServer.
type Server struct {
	// Snapshot returns the configuration to serve; it must be set. It is
	// called once per request and once per TLS handshake, and may return
	// nil before the first snapshot is loaded (requests then get 503).
	Snapshot func() *snapshot.Snapshot
	// DefaultCertificate is presented in TLS handshakes while there is no
	// snapshot yet. (Each snapshot holds its own default certificate.)
	DefaultCertificate *tls.Certificate
	// Pop is the X-Amz-Cf-Pop value; empty means DefaultPop.
	Pop string
	// Log receives server errors; nil discards them.
	Log *slog.Logger
	// AccessLog receives one line per request (ID, method, host, path
	// without the query, status, bytes, duration, cache result; never a
	// header value), formatted as log/slog's TextHandler formats a record
	// "request" at level Info, each line in one Write; it must be safe for
	// concurrent use, as an *os.File is. Nil turns the access log off, as
	// CloudFront's standard logging is off until enabled.
	AccessLog io.Writer
	// Limits overrides the default limits and timeouts.
	Limits Limits

	expiry expiryWarner
	// slowOnly turns the HTTP/1.1 fast path off (tests compare the two
	// paths, and count what the fast path did in fast).
	slowOnly bool
	fast     fastStats
}

// HTTPServer returns the server for the plain-HTTP listener. Run it with
// Serve(s.Listener(ln)) and stop it with Shutdown, which drains requests in
// flight.
func (s *Server) HTTPServer() *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true) // no cleartext HTTP/2, as CloudFront
	return s.newServer(s.newPipeline(false), &protocols)
}

// HTTPSServer returns the server for the HTTPS listener. Run it with
// Serve(s.TLSListener(ln)), which performs the TLS handshakes, and stop it
// with Shutdown, which drains requests in flight. It speaks HTTP/2
// (negotiated by ALPN) and HTTP/1.1. Its TLSConfig is set too, so that
// ServeTLS(ln, "", "") works, but without the per-IP cap and the
// request-head guard.
func (s *Server) HTTPSServer() *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	srv := s.newServer(s.newPipeline(true), &protocols)
	srv.TLSConfig = s.TLSConfig()
	// net/http has no separate HTTP/2 header list limit: it derives one
	// from MaxHeaderBytes. HTTP/1.x heads stay bounded at MaxHeaderBytes by
	// the guard, which this only backs up.
	srv.MaxHeaderBytes = MaxHeaderListSize - h2FieldAllowance
	return srv
}

func (s *Server) newServer(p *pipeline, protocols *http.Protocols) *http.Server {
	lim := p.lim
	var unguarded sync.Once
	return &http.Server{
		Handler:           p,
		Protocols:         protocols,
		ReadHeaderTimeout: lim.readHeaderTimeout,
		IdleTimeout:       lim.idleTimeout,
		// On HTTP/1.x the guard answers 413 at exactly MaxHeaderBytes;
		// net/http's own limit (this plus 4 KiB, then 431) is a backstop.
		// HTTPSServer raises it to set SETTINGS_MAX_HEADER_LIST_SIZE.
		MaxHeaderBytes: MaxHeaderBytes,
		// Bodies and responses are streamed, so there is no overall
		// ReadTimeout or WriteTimeout: the guard times each pause instead.
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:      MaxConcurrentStreams,
			MaxReadFrameSize:          16384, // the protocol's minimum (Go: 1 MiB)
			MaxDecoderHeaderTableSize: 4096,
			MaxEncoderHeaderTableSize: 4096,
			// Flow-control windows bound what one viewer can make the edge
			// buffer: 1 MiB per connection, 256 KiB per stream (Go: 1 MiB
			// each, with 250 streams).
			MaxReceiveBufferPerConnection: 1 << 20,
			MaxReceiveBufferPerStream:     256 << 10,
			// A connection whose viewer reads nothing for WriteTimeout is
			// closed; one silent for SendPingTimeout is pinged, and closed
			// if the ping goes unanswered for PingTimeout.
			WriteByteTimeout: lim.writeTimeout,
			SendPingTimeout:  lim.idleTimeout,
			PingTimeout:      15 * time.Second,
		},
		// "OPTIONS *" reaches the pipeline, which refuses it, rather than
		// net/http's built-in answer.
		DisableGeneralOptionsHandler: true,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if g := guardOf(c); g != nil {
				return context.WithValue(ctx, guardKey{}, g)
			}
			if tc, ok := c.(*tls.Conn); ok {
				if _, ours := tc.NetConn().(*ipConn); ours {
					return ctx // HTTP/2, from TLSListener
				}
			}
			unguarded.Do(func() {
				s.logger().Warn("edgeserver: serving connections that did not come through Server.Listener or Server.TLSListener: request heads are not checked")
			})
			return ctx
		},
		ErrorLog: log.New(&errorLogWriter{log: s.logger()}, "", 0),
	}
}

// guardKey is the context key of a request's guardConn.
type guardKey struct{}

func (s *Server) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// viaValues returns the pre-rendered Via values for HTTP/1.x and HTTP/2
// viewers: "1.1 <32 hex>.portico (Portico)", the hex naming this POP as
// CloudFront's hash names its edge server.
func viaValues(pop string) (via11, via20 []string) {
	sum := sha256.Sum256([]byte("portico/" + pop))
	host := hex.EncodeToString(sum[:16]) + ".portico (Portico)"
	// Full slice expressions: an append by anyone else copies instead of
	// writing into the shared array.
	via11 = []string{"1.1 " + host}
	via20 = []string{"2.0 " + host}
	return via11[:1:1], via20[:1:1]
}

// errorLogWriter turns net/http's server error log into slog records:
// failed TLS handshakes (scanners, clients that reject a certificate) at
// Debug, everything else at Warn.
type errorLogWriter struct{ log *slog.Logger }

func (w *errorLogWriter) Write(p []byte) (int, error) {
	msg := string(bytes.TrimSpace(p))
	level := slog.LevelWarn
	if bytes.Contains(p, []byte("TLS handshake error")) {
		level = slog.LevelDebug
	}
	w.log.Log(context.Background(), level, "edgeserver: "+msg)
	return len(p), nil
}
