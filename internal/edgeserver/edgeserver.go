// Package edgeserver is the viewer-facing side of Portico: the HTTP and
// HTTPS listeners' http.Server and tls.Config, and the request pipeline
// that every viewer request goes through before the cache and the origin.
//
// The pipeline is declared in one place, (*pipeline).route in
// pipeline.go: each step either answers the request (an error page, a
// redirect) or passes it on, in the order CloudFront applies them. Every
// response, whoever writes it, carries X-Amz-Cf-Pop, X-Amz-Cf-Id, Via and
// X-Cache, as CloudFront's do.
package edgeserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"log"
	"log/slog"
	"net/http"
	"time"

	"github.com/portico-edge/portico/internal/certs"
	"github.com/portico-edge/portico/internal/snapshot"
)

// DefaultPop is the X-Amz-Cf-Pop value when Server.Pop is empty, in the
// shape of CloudFront's (an airport-like code, a number and a suffix, as in
// IAD66-C1).
const DefaultPop = "PTC1-P1"

// Limits of the viewer-facing servers.
const (
	// MaxHeaderBytes bounds the request line and headers: CloudFront's
	// 20,480-byte quota. (net/http allows 4 KiB of slack on HTTP/1.1 and
	// answers 431 beyond it.)
	MaxHeaderBytes = 20480
	// MaxURLBytes bounds the request target: CloudFront's 8,192-byte URL
	// quota. Longer ones get 414.
	MaxURLBytes = 8192
	// ReadHeaderTimeout bounds how long a viewer may take to send the
	// request line and headers (against slowloris).
	ReadHeaderTimeout = 10 * time.Second
	// IdleTimeout closes keep-alive connections idle this long (nginx's
	// keepalive_timeout).
	IdleTimeout = 75 * time.Second
)

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
	// Log receives the access log (one Info line per request) and server
	// errors; nil discards them.
	Log *slog.Logger
}

// HTTPServer returns the server for the plain-HTTP listener. Run it with
// Serve(ln) and stop it with Shutdown, which drains requests in flight.
func (s *Server) HTTPServer() *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true) // no cleartext HTTP/2, as CloudFront
	return s.newServer(s.newPipeline(false), &protocols)
}

// HTTPSServer returns the server for the HTTPS listener, with its TLS
// configuration (see TLSConfig) set. Run it with ServeTLS(ln, "", "") and
// stop it with Shutdown, which drains requests in flight. It speaks HTTP/2
// (negotiated by ALPN) and HTTP/1.1.
func (s *Server) HTTPSServer() *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	srv := s.newServer(s.newPipeline(true), &protocols)
	srv.TLSConfig = s.TLSConfig()
	return srv
}

func (s *Server) newServer(h http.Handler, protocols *http.Protocols) *http.Server {
	return &http.Server{
		Handler:           h,
		Protocols:         protocols,
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		// Bodies are streamed to the origin, so there is no overall
		// ReadTimeout or WriteTimeout.
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:      100, // Envoy's and HAProxy's edge value (Go: 250)
			MaxReadFrameSize:          16384,
			MaxDecoderHeaderTableSize: 4096,
			MaxEncoderHeaderTableSize: 4096,
			// Flow-control windows bound what one viewer can make the edge
			// buffer: 1 MiB per connection, 256 KiB per stream (Go: 1 MiB
			// each, with 250 streams).
			MaxReceiveBufferPerConnection: 1 << 20,
			MaxReceiveBufferPerStream:     256 << 10,
		},
		ErrorLog: log.New(&errorLogWriter{log: s.logger()}, "", 0),
	}
}

// TLSConfig returns the viewer TLS configuration: TLS 1.2 and 1.3, the
// Mozilla "intermediate" cipher suites for TLS 1.2, ALPN for HTTP/2 and
// HTTP/1.1, and the certificate chosen from the current snapshot by SNI.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Mozilla's intermediate configuration (v5.7): ECDHE with AES-GCM
		// or ChaCha20-Poly1305. TLS 1.3 suites are not configurable in Go.
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		// X25519 and P-256, preceded by the post-quantum hybrid that
		// current browsers offer first (Go's default too).
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256},
		NextProtos:       []string{"h2", "http/1.1"},
		GetCertificate:   s.getCertificate,
	}
}

// getCertificate presents the current snapshot's certificate for the
// server name, or the default certificate before the first snapshot.
func (s *Server) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if snap := s.Snapshot(); snap != nil {
		return snap.GetCertificate(hello)
	}
	if s.DefaultCertificate != nil {
		return s.DefaultCertificate, nil
	}
	return nil, certs.ErrNoCertificate
}

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
