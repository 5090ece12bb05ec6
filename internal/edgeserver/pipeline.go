package edgeserver

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
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

	// Response header values rendered once, shared by every response.
	pop          []string
	via11, via20 []string
}

func (s *Server) newPipeline(secure bool) *pipeline {
	pop := s.Pop
	if pop == "" {
		pop = DefaultPop
	}
	p := &pipeline{snapshot: s.Snapshot, secure: secure, log: s.logger(), pop: []string{pop}}
	p.pop = p.pop[:1:1]
	p.via11, p.via20 = viaValues(pop)
	return p
}

// route is the request pipeline. Each step either answers the request,
// by returning an *answer, or passes it on; a request that passes every
// step is served by the handler route returns, the cache behaviour's
// cache-then-origin chain.
func (p *pipeline) route(r *http.Request) (http.Handler, error) {
	// 1. CloudFront's URL quota.
	if len(r.RequestURI) > MaxURLBytes {
		return nil, errURITooLong
	}
	// 2. The configuration, loaded once for the whole request.
	snap := p.snapshot()
	if snap == nil {
		return nil, errNotReady
	}
	// 3. The distribution, by Host (any case, port and trailing dot
	// ignored). Disabled distributions are not in the snapshot.
	site, ok := snap.Site(r.Host)
	if !ok {
		return nil, errUnknownHost
	}
	// 4. No domain fronting: over TLS, the Host must be the name the
	// viewer asked the handshake for.
	if r.TLS != nil && r.TLS.ServerName != "" && !router.SameHost(r.TLS.ServerName, r.Host) {
		return nil, errMisdirected
	}
	// 5. The cache behaviour, by path: first matching pattern, else the
	// default.
	b := site.Behavior(r.URL.EscapedPath())
	// 6. The viewer protocol policy, on the plain-HTTP listener.
	if !p.secure {
		switch b.ViewerProtocolPolicy {
		case snapshot.RedirectToHTTPS:
			return nil, redirectToHTTPS(r)
		case snapshot.HTTPSOnly:
			return nil, errHTTPSOnly
		}
	}
	// 7. The behaviour's allowed methods.
	if !b.Allows(r.Method) {
		return nil, errMethodNotAllowed
	}
	// 8. CloudFront refuses GET and HEAD requests that carry a body.
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && (r.ContentLength != 0 || len(r.TransferEncoding) > 0) {
		return nil, errBodyNotAllowed
	}
	return b.Handler, nil
}

// ServeHTTP serves one viewer request: it gives the request its ID and a
// canonical Host (lower-case, without port or trailing dot, so that
// "Login.Example.com:443" and "login.example.com" are one cache key), runs
// the pipeline, hands the request to the chosen handler or renders the
// pipeline's answer, and writes the access log line. Every response is
// stamped with Portico's headers as it is written.
func (p *pipeline) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &responseWriter{ResponseWriter: w, p: p, via: p.via11}
	if r.ProtoMajor == 2 {
		rw.via = p.via20
	}
	rw.id[0] = newRequestID()
	r = r.WithContext(origin.WithRequestID(r.Context(), rw.id[0])) // a copy: the server's request is not changed
	r.Host = router.CanonicalHost(r.Host)

	h, err := p.route(r)
	if err != nil {
		p.render(rw, err)
	} else {
		h.ServeHTTP(rw, r)
	}
	p.accessLog(r, rw, time.Since(start))
}

// answer is the pipeline's own response: an error page, or a redirect when
// location is set.
type answer struct {
	status   int
	reason   string // one sentence for the viewer
	location string
}

func (a *answer) Error() string { return strconv.Itoa(a.status) + " " + a.reason }

// The pipeline's answers. The 403 texts are CloudFront's.
var (
	errURITooLong = &answer{status: http.StatusRequestURITooLong,
		reason: "The request URL is longer than 8,192 bytes."}
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
		if a.status == http.StatusRequestURITooLong {
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
	ctx := r.Context()
	if !p.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	p.log.LogAttrs(ctx, slog.LevelInfo, "request",
		slog.String("id", w.id[0]),
		slog.String("proto", r.Proto),
		slog.String("method", r.Method),
		slog.String("host", r.Host),
		slog.String("path", r.URL.EscapedPath()),
		slog.Int("status", w.status),
		slog.Int64("bytes", w.bytes),
		slog.Duration("duration", d),
		slog.String("cache", w.Header().Get("X-Cache")),
	)
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
