package edgeserver

import (
	"crypto/tls"
	"sync"
	"time"

	"github.com/portico-edge/portico/internal/certs"
)

// intermediateSuites are the TLS 1.2 cipher suites of Mozilla's
// "intermediate" configuration (server-side TLS guidelines 5.7 and 6.0):
// ECDHE key exchange with AES-GCM or ChaCha20-Poly1305, and nothing else.
// Go's default list adds four ECDHE-CBC suites. TLS 1.3 suites are not
// configurable in Go; its three are the intermediate configuration's.
var intermediateSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSConfig returns the viewer TLS configuration: TLS 1.2 and 1.3, the
// Mozilla "intermediate" cipher suites for TLS 1.2, ALPN for HTTP/2 and
// HTTP/1.1, and the certificate chosen from the current snapshot by SNI.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: append([]uint16(nil), intermediateSuites...),
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
	var cert *tls.Certificate
	if snap := s.Snapshot(); snap != nil {
		c, err := snap.GetCertificate(hello)
		if err != nil {
			return nil, err
		}
		cert = c
	} else if s.DefaultCertificate != nil {
		cert = s.DefaultCertificate
	} else {
		return nil, certs.ErrNoCertificate
	}
	s.expiry.check(s, cert, time.Now())
	return cert, nil
}

// ExpiryWarning is how long before its expiry a certificate presented to
// viewers is logged as expiring.
const ExpiryWarning = 30 * 24 * time.Hour

// expiryWarner logs, at most once a day per certificate, that a
// certificate presented to viewers expires within ExpiryWarning (or has
// expired).
type expiryWarner struct {
	mu     sync.Mutex
	warned map[*tls.Certificate]time.Time
}

// check warns about cert if it is close to expiry. It costs one comparison
// unless it is.
func (w *expiryWarner) check(s *Server, cert *tls.Certificate, now time.Time) {
	leaf := cert.Leaf
	if leaf == nil || leaf.NotAfter.Sub(now) > ExpiryWarning {
		return
	}
	w.mu.Lock()
	if last, ok := w.warned[cert]; ok && now.Sub(last) < 24*time.Hour {
		w.mu.Unlock()
		return
	}
	if w.warned == nil {
		w.warned = make(map[*tls.Certificate]time.Time)
	}
	for c, t := range w.warned {
		if now.Sub(t) >= 24*time.Hour {
			delete(w.warned, c)
		}
	}
	w.warned[cert] = now
	w.mu.Unlock()
	s.logger().Warn("edgeserver: viewer certificate expires soon",
		"names", leaf.DNSNames, "serial", leaf.SerialNumber.String(),
		"not_after", leaf.NotAfter.UTC().Format(time.RFC3339),
		"days_left", int(leaf.NotAfter.Sub(now).Hours()/24))
}
