package edgeserver

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/portico-edge/portico/internal/errpage"
	"github.com/portico-edge/portico/internal/origin"
	"github.com/portico-edge/portico/internal/router"
	"github.com/portico-edge/portico/internal/snapshot"
)

// pipeline serves the requests of one listener.
type pipeline struct {
	snapshot func() *snapshot.Snapshot
	secure   bool // the HTTPS listener
	log      *slog.Logger
	access   io.Writer // nil: no access log
	lim      *limits

	// Response header values rendered once, shared by every response.
	pop          []string
	via11, via20 []string
}

func (s *Server) newPipeline(secure bool) *pipeline {
	pop := s.Pop
	if pop == "" {
		pop = DefaultPop
	}
	p := &pipeline{snapshot: s.Snapshot, secure: secure, log: s.logger(), access: s.AccessLog, lim: s.limits(), pop: []string{pop}}
	p.pop = p.pop[:1:1]
	p.via11, p.via20 = viaValues(pop)
	return p
}

// route is the request pipeline. Each step either answers the request,
// by returning an *answer, or passes it on; a request that passes every
// step is served by the handler route returns, the cache behaviour's
// cache-then-origin chain. Steps 1 and 2 may rewrite r's Host and URL
// (both r's own, not the server's) as the package documentation says.
func (p *pipeline) route(r *http.Request) (http.Handler, error) {
	// 0. A request head that the connection's guard refused: the guard
	// stands this request in for it.
	if r.RequestURI == "*" {
		if g := requestGuard(r); g != nil {
			if a := g.refusal.Load(); a != nil {
				p.log.Debug("edgeserver: request head refused", "status", a.status, "reason", a.reason, "remote", r.RemoteAddr)
				return nil, a
			}
		}
	}
	// 1. CloudFront's size quotas: the URL, and over HTTP/2 the request
	// line and headers as HTTP/1.1 would carry them (the guard measures
	// HTTP/1.x heads on the wire).
	if len(r.RequestURI) > MaxURLBytes {
		return nil, errURITooLong
	}
	if r.ProtoMajor == 2 && headSize(r) > MaxHeaderBytes {
		return nil, errH2HeadTooLarge
	}
	// 2. The request target and Host, checked and made canonical.
	if err := normalizeTarget(r); err != nil {
		return nil, err
	}
	// 3. The configuration, loaded once for the whole request.
	snap := p.snapshot()
	if snap == nil {
		return nil, errNotReady
	}
	// 4. The distribution, by Host (any case, port and trailing dot
	// ignored). Disabled distributions are not in the snapshot.
	site, ok := snap.Site(r.Host)
	if !ok {
		return nil, errUnknownHost
	}
	// 5. No domain fronting: over TLS, the Host must be the name the
	// viewer asked the handshake for.
	if r.TLS != nil && r.TLS.ServerName != "" && !router.SameHost(r.TLS.ServerName, r.Host) {
		return nil, errMisdirected
	}
	// 6. The cache behaviour, by path: first matching pattern, else the
	// default.
	b := site.Behavior(r.URL.EscapedPath())
	// 7. The viewer protocol policy, on the plain-HTTP listener.
	if !p.secure {
		switch b.ViewerProtocolPolicy {
		case snapshot.RedirectToHTTPS:
			return nil, redirectToHTTPS(r)
		case snapshot.HTTPSOnly:
			return nil, errHTTPSOnly
		}
	}
	// 8. The behaviour's allowed methods. A WebSocket over HTTP/2
	// (extended CONNECT) goes to the origin as a GET.
	method := r.Method
	if origin.IsExtendedConnect(r) {
		method = http.MethodGet
	}
	if !b.Allows(method) {
		return nil, errMethodNotAllowed
	}
	// 9. The body: CloudFront refuses GET and HEAD requests that carry
	// one; other methods have a limit each.
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && (r.ContentLength != 0 || len(r.TransferEncoding) > 0) {
		return nil, errBodyNotAllowed
	}
	if r.ContentLength > p.lim.maxBody(r.Method) {
		return nil, errBodyTooLarge
	}
	return b.Handler, nil
}

// ServeHTTP serves one viewer request: it gives the request its ID, runs
// the pipeline, hands the request to the chosen handler (its body bounded
// and timed) or renders the pipeline's answer, and writes the access log
// line. Every response is stamped with Portico's headers as it is written.
func (p *pipeline) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &responseWriter{ResponseWriter: w, p: p, via: p.via11}
	if r.ProtoMajor == 2 {
		rw.via = p.via20
	}
	rw.id[0] = newRequestID()
	// The request's ID, POP and arrival, for the origin (X-Amz-Cf-Id) and
	// Server-Timing.
	info := &origin.RequestInfo{ID: rw.id[0], Pop: p.pop[0], Received: start}
	r = r.WithContext(origin.WithRequestInfo(r.Context(), info)) // a copy: the server's request is not changed

	h, err := p.route(r)
	if err != nil {
		if r.ProtoMajor == 2 && r.Body != nil && r.Body != http.NoBody && !origin.IsExtendedConnect(r) {
			// Read (a bounded part of) the body first: a stream whose DATA
			// contradict its content-length is then reset, as RFC 9113
			// §8.1.1 wants, rather than answered.
			io.CopyN(io.Discard, r.Body, maxDrainBytes)
		}
		p.render(rw, err)
	} else {
		// The stream of an HTTP/2 WebSocket is its data, bounded by the
		// origin proxy's idle timeout, not a body.
		if (r.ContentLength < 0 || r.ProtoMajor == 2 && r.ContentLength > 0) && !origin.IsExtendedConnect(r) {
			p.limitBody(w, r)
		}
		h.ServeHTTP(rw, r)
	}
	if r.ProtoMajor == 1 && len(r.Header["Upgrade"]) > 0 {
		if g := requestGuard(r); g != nil {
			g.upgradeDone() // a no-op if the handler hijacked the connection
		}
	}
	p.accessLog(r, rw, time.Since(start))
}

// maxDrainBytes is how much of an HTTP/2 body the pipeline reads before
// answering a request it refuses.
const maxDrainBytes = 64 << 10

// requestGuard returns the guard of r's HTTP/1.x connection, if any.
func requestGuard(r *http.Request) *guardConn {
	g, _ := r.Context().Value(guardKey{}).(*guardConn)
	return g
}

// limitBody bounds a body whose length is not known in advance by the
// method's limit (MaxBytesReader also makes net/http close the connection
// once it is hit), and over HTTP/2 times every pause of the viewer, as the
// guard does on HTTP/1.x, with a read deadline that each read extends.
func (p *pipeline) limitBody(w http.ResponseWriter, r *http.Request) {
	body := r.Body
	if r.ProtoMajor == 2 {
		body = &timedBody{ReadCloser: body, rc: http.NewResponseController(w), timeout: p.lim.bodyReadTimeout}
	}
	if r.ContentLength < 0 {
		body = http.MaxBytesReader(w, body, p.lim.maxBody(r.Method))
	}
	r.Body = body
}

// timedBody is an HTTP/2 request body whose every read must make progress
// within timeout.
type timedBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
}

func (b *timedBody) Read(p []byte) (int, error) {
	b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	return b.ReadCloser.Read(p)
}

// headSize returns the size of r's request line and header fields as
// HTTP/1.1 carries them, up to and including the empty line.
func headSize(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + len(" HTTP/1.1\r\n") +
		len("Host: \r\n") + len(r.Host) + len("\r\n")
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(": \r\n") + len(v)
		}
	}
	return n
}

// normalizeTarget checks r's request target and Host, and makes them
// canonical: the Host lower-case without port or trailing dot, and the
// path with the bytes that RFC 3986 does not allow in it percent-encoded
// (every other byte, percent-encodings and dot segments included, is kept
// as the viewer sent it), or "/" if it is empty.
func normalizeTarget(r *http.Request) error {
	switch {
	case r.RequestURI == "*":
		return errAsterisk
	case r.Host == "":
		return errNoHost
	case !validHostPort(r.Host, false):
		return errInvalidHost
	}
	if r.ProtoMajor == 2 {
		if r.Method == http.MethodConnect && !origin.IsExtendedConnect(r) {
			return errConnectH2
		}
		// A Host field besides :authority must name the same host.
		if hs, ok := r.Header["Host"]; ok && (len(hs) != 1 || !router.SameHost(hs[0], r.Host)) {
			return errHostMismatch
		}
	}
	r.Host = router.CanonicalHost(r.Host)
	if r.Method == http.MethodConnect && !origin.IsExtendedConnect(r) {
		return nil
	}
	if r.URL.Path == "" {
		u := *r.URL
		u.Path, u.RawPath = "/", ""
		r.URL = &u
	} else if raw := r.URL.RawPath; raw != "" {
		if enc, ok := escapePath(raw); ok {
			u := *r.URL
			u.RawPath = enc
			r.URL = &u
		}
	}
	return nil
}

// escapePath returns raw with the bytes that may not appear in a path
// percent-encoded, and whether there were any.
func escapePath(raw string) (string, bool) {
	n := 0
	for i := 0; i < len(raw); i++ {
		if !pathByte(raw[i]) {
			n++
		}
	}
	if n == 0 {
		return raw, false
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(raw)+2*n)
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; pathByte(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(b), true
}

// pathByte reports whether c may appear as is in a forwarded path: RFC
// 3986's pchar and "/", "%" (net/http has refused invalid
// percent-encodings already), and "[" and "]", which net/url keeps too.
func pathByte(c byte) bool {
	switch c {
	case '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@', '/', '%', '[', ']':
		return true
	}
	return isAlnum(c)
}

// answer is the pipeline's own response: an error page, or a redirect when
// location is set.
type answer struct {
	status   int
	reason   string // one sentence for the viewer
	location string
	close    bool // close the connection (HTTP/1.x) after the answer
}

func (a *answer) Error() string { return strconv.Itoa(a.status) + " " + a.reason }

// The pipeline's answers. The 403 texts are CloudFront's.
var (
	errURITooLong = &answer{status: http.StatusRequestURITooLong, close: true,
		reason: "The request URL is longer than 8,192 bytes."}
	errH2HeadTooLarge = &answer{status: http.StatusRequestEntityTooLarge,
		reason: "The request line and headers are longer than 20,480 bytes."}
	errAsterisk = &answer{status: http.StatusBadRequest,
		reason: "Bad request. An asterisk-form request target is not served."}
	errNoHost = &answer{status: http.StatusBadRequest,
		reason: "Bad request. The request names no host."}
	errInvalidHost = &answer{status: http.StatusBadRequest,
		reason: "Bad request. The host is not a valid host name and port."}
	errHostMismatch = &answer{status: http.StatusBadRequest,
		reason: "Bad request. The Host header names a different host than the request's authority."}
	errConnectH2 = &answer{status: http.StatusBadRequest,
		reason: "Bad request. The CONNECT method is served only for WebSockets."}
	errNotReady = &answer{status: http.StatusServiceUnavailable,
		reason: "The server is starting and has not loaded its configuration yet. Try again shortly."}
	errUnknownHost = &answer{status: http.StatusForbidden,
		reason: "Bad request. We can't connect to the server for this app or website at this time. There might be too much traffic or a configuration error. Try again later, or contact the app or website owner."}
	errMisdirected = &answer{status: http.StatusMisdirectedRequest,
		reason: "The request was sent over a TLS connection made for a different host name. Connect again for this host name."}
	errHTTPSOnly = &answer{status: http.StatusForbidden,
		reason: "This distribution is configured to accept HTTPS requests only. Send the request again over HTTPS."}
	errMethodNotAllowed = &answer{status: http.StatusForbidden,
		reason: "This distribution is not configured to allow the HTTP request method that was used for this request. The distribution supports only cachable requests."}
	errBodyNotAllowed = &answer{status: http.StatusForbidden,
		reason: "Bad request. A GET or HEAD request must not carry a body."}
	errBodyTooLarge = &answer{status: http.StatusRequestEntityTooLarge, close: true,
		reason: "The request body is larger than this method allows."}
	errInternal = &answer{status: http.StatusInternalServerError,
		reason: "The server could not handle the request."}
)

// redirectToHTTPS answers a plain-HTTP request with a redirect to the same
// URL over HTTPS, as CloudFront does: 301 for GET and HEAD, 307 (which
// keeps the method and body) otherwise, to https://<host><path>?<query> on
// the default port.
func redirectToHTTPS(r *http.Request) *answer {
	status := http.StatusTemporaryRedirect
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		status = http.StatusMovedPermanently
	}
	path := r.URL.EscapedPath()
	if path == "" || path[0] != '/' {
		path = "/" + path
	}
	// ServeHTTP has made r.Host canonical already (then CanonicalHost costs
	// nothing); redirectToHTTPS does not rely on it.
	loc := "https://" + router.CanonicalHost(r.Host) + path
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		loc += "?" + r.URL.RawQuery
	}
	return &answer{status: status, location: loc}
}

// render writes the pipeline's answer: the only place that turns an error
// of the pipeline into a response.
func (p *pipeline) render(w *responseWriter, err error) {
	var a *answer
	if !errors.As(err, &a) {
		p.log.Error("edgeserver: unexpected pipeline error", "err", err)
		a = errInternal
	}
	if a.location == "" {
		if a.close {
			w.Header().Set("Connection", "close")
		}
		errpage.Write(w, a.status, a.reason, w.id[0])
		return
	}
	h := w.Header()
	h.Set("Location", a.location)
	h.Set("Content-Type", "text/html")
	h.Set("Server", "Portico")
	h.Set("X-Cache", "Redirect from portico")
	text := strconv.Itoa(a.status) + " " + http.StatusText(a.status)
	w.WriteHeader(a.status)
	w.Write([]byte("<html>\r\n<head><title>" + text + "</title></head>\r\n<body>\r\n<center><h1>" + text +
		"</h1></center>\r\n<hr><center>Portico</center>\r\n</body>\r\n</html>\r\n"))
}

// accessLog writes one line per request. It logs the path but not the
// query, which may carry tokens, and no header values.
func (p *pipeline) accessLog(r *http.Request, w *responseWriter, d time.Duration) {
	if p.access == nil {
		return
	}
	p.logAccess(&accessLine{at: time.Now(), id: w.id[0], proto: r.Proto, method: r.Method, host: r.Host,
		path: r.URL.EscapedPath(), status: w.status, bytes: w.bytes, dur: d, cache: w.Header().Get("X-Cache")})
}

// newRequestID returns an X-Amz-Cf-Id: 56 random characters of URL-safe
// base64, the length of CloudFront's.
func newRequestID() string {
	var raw [42]byte
	rand.Read(raw[:]) // never fails; see crypto/rand.Read
	var id [56]byte
	base64.RawURLEncoding.Encode(id[:], raw[:])
	return string(id[:])
}
