package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"

	"github.com/portico-edge/portico/internal/errpage"
)

// Error is an origin failure that the Proxy answers with its own 502 or 504
// page: the origin could not be reached, failed TLS verification, sent an
// invalid response, or sent no response headers in time. Origin responses,
// whatever their status, are never an Error.
type Error struct {
	// Status is http.StatusBadGateway or http.StatusGatewayTimeout.
	Status int
	// Err is the cause, as the transport reported it. Its text carries no
	// header value, but may carry the origin's domain and address.
	Err error
}

func (e *Error) Error() string {
	return "origin: " + strconv.Itoa(e.Status) + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Timeout reports whether the origin failed by not answering in time.
func (e *Error) Timeout() bool { return e.Status == http.StatusGatewayTimeout }

// ErrorWriter is implemented by a ResponseWriter that may answer for a
// failed origin itself: the cache above the Proxy, which serves a stale
// copy when stale-if-error allows. When the ResponseWriter passed to
// Proxy.ServeHTTP implements it, the Proxy calls OriginError before it
// writes its 502 or 504 page; OriginError is called at most once per
// request, and never for a response the origin sent.
type ErrorWriter interface {
	http.ResponseWriter
	// OriginError reports that the origin failed before sending response
	// headers. It returns true when it answers the viewer itself: the
	// Proxy then writes nothing to the ResponseWriter. On false the Proxy
	// writes its error page, labelled X-Cache "Error from portico".
	OriginError(err *Error) bool
}

// The 502 and 504 sentences, CloudFront's own words.
const (
	reason502 = "We can't connect to the server for this app or website at this time. There might be too much traffic or a configuration error. Try again later, or contact the app or website owner."
	reason504 = "We can't connect to the server for this app or website at this time. There might be too much traffic or a configuration error. Try again later, or contact the app or website owner. The origin did not respond in time."
)

// serveError is ReverseProxy's ErrorHandler, for WebSocket upgrades: fail
// with the caller's own ResponseWriter, not the wrapper of an HTTP/2
// WebSocket.
func (p *Proxy) serveError(w http.ResponseWriter, r *http.Request, err error) {
	var caller http.ResponseWriter
	if st, ok := r.Context().Value(exchangeKey{}).(*exchange); ok {
		caller = st.w
	}
	p.fail(w, caller, r, err)
}

// fail answers for an origin that failed before sending a response: 504
// when it timed out, 502 otherwise, unless caller, the ResponseWriter the
// Proxy was given, is an ErrorWriter that answers itself. r is the
// outgoing request. Neither the page nor the log carries header values or
// the query string.
func (p *Proxy) fail(w, caller http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(r.Context().Err(), context.Canceled) {
		// The viewer went away; nobody reads the answer.
		p.log.Debug("viewer canceled the origin request", "method", r.Method, "path", r.URL.Path)
		return
	}
	e := &Error{Status: http.StatusBadGateway, Err: err}
	reason := reason502
	if isTimeout(err) {
		e.Status, reason = http.StatusGatewayTimeout, reason504
	}
	p.log.Warn("origin request failed", "method", r.Method, "path", r.URL.Path, "status", e.Status, "err", err)
	if ew, ok := caller.(ErrorWriter); ok && ew.OriginError(e) {
		return
	}
	errpage.Write(w, e.Status, reason, RequestID(r.Context()))
}

// isTimeout reports whether err is a timeout: connecting or the TLS
// handshake (after every attempt), awaiting the response headers, between
// packets, or the response completion timeout.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// transient reports whether err may not happen again on a new connection:
// the origin could not be reached, did not answer in time, dropped the
// connection before its response headers were complete, or the connection
// held bytes left over from an earlier response. Certificate failures and
// invalid responses are not transient: they repeat.
func transient(err error) bool {
	return isTimeout(err) || isConnectError(err) || connectionLost(err) || errors.Is(err, errUnsolicited)
}

// isConnectError reports whether err says the TCP connection to the origin
// could not be opened (refused, unreachable, connect timeout), so that
// nothing was sent.
func isConnectError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// connectionLost reports whether err says that the origin closed or reset
// the connection.
func connectionLost(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.EPIPE)
}

// errUpgradeRefused is the failure of an HTTP/2 WebSocket whose origin
// answered the HTTP/1.1 upgrade with a success status other than 101: the
// viewer would take a 200 for an open WebSocket.
type errUpgradeRefused struct{ status int }

func (e errUpgradeRefused) Error() string {
	return fmt.Sprintf("origin answered a WebSocket upgrade with %d, not 101", e.status)
}

// errBadAccept is the failure of an HTTP/2 WebSocket whose origin sent a
// Sec-WebSocket-Accept that does not match the key Portico sent.
var errBadAccept = errors.New("origin's Sec-WebSocket-Accept does not match the key sent")
