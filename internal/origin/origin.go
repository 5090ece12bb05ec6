// Package origin forwards viewer requests to a distribution's origin the way
// CloudFront does for a custom origin with legacy ForwardedValues, with
// Portico's safer defaults.
//
// A Proxy is an httputil.ReverseProxy (Rewrite, never Director) over a
// shared *http.Transport per origin connection setting (see Transports).
// Towards the origin it:
//
//   - connects over HTTPS only (match-viewer and S3 origins too; S3 on port
//     443), HTTP/1.1, TLS 1.2 or 1.3, with SNI and certificate verification
//     against the origin's DomainName; Portico never goes below TLS 1.2, so
//     OriginSslProtocols entries older than TLSv1.2 have no effect;
//   - sets Host to the origin's DomainName, unless Host is whitelisted;
//   - prefixes OriginPath to the path, and forwards the raw query string
//     (order and encoding kept) when QueryString is true, none otherwise;
//   - forwards cookies per Cookies.Forward (none, whitelist or all), as
//     name=value pairs sorted by name;
//   - removes the viewer headers CloudFront removes unless whitelisted
//     (Accept, Accept-Charset, Accept-Language, Referer, Expect,
//     X-HTTP-Method-Override; Authorization on GET and HEAD, and on OPTIONS
//     when OPTIONS is cached), replaces User-Agent with "Amazon CloudFront"
//     and normalises Accept-Encoding to br/gzip unless they are whitelisted,
//     always removes Proxy-*, TE, Trailer, X-Edge-*, CloudFront-* and
//     non-WebSocket Upgrade, and forwards every other header; a whitelist of
//     "*" forwards them all;
//   - sends exactly one client IP in X-Forwarded-For, the TCP peer's, after
//     removing the viewer's X-Forwarded-For, Forwarded, True-Client-IP and
//     X-Real-IP (CloudFront appends to the viewer's list, which lets a viewer
//     spoof the first hop), and CloudFront-Viewer-Address as ip:port;
//   - appends itself to Via, sets X-Amz-Cf-Id to the request ID carried by
//     the context (see WithRequestID), and sets the origin's custom headers
//     last, replacing any viewer value. Their values are secrets: they are
//     never logged and never shown in an error page.
//
// GET and HEAD requests are retried when the connection could not be made,
// up to ConnectionAttempts; other methods never are. An origin that cannot
// be reached, fails certificate verification or sends an invalid response
// gives a 502 page, one that does not answer within its timeouts a 504 page
// (internal/errpage). A response body that breaks off aborts the viewer's
// response instead of leaving it hanging.
package origin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/errpage"
)

// Proxy forwards requests to one origin under one cache behaviour. It is
// immutable and safe for concurrent use.
type Proxy struct {
	domain     string // origin DomainName: Host, SNI
	host       string // URL host: domain, or domain:port
	pathPrefix string // OriginPath
	rawPrefix  string // OriginPath, escaped
	headers    []portico.OriginCustomHeader
	policy     policy
	completion time.Duration // ResponseCompletionTimeout; 0 = none
	log        *slog.Logger
	rp         *httputil.ReverseProxy
}

// New returns the Proxy that forwards requests of behaviour b to origin o,
// over a transport from t. It fails when the origin cannot be reached over
// HTTPS (an http-only custom origin).
func New(o *portico.Origin, b *portico.CacheBehavior, t *Transports, log *slog.Logger) (*Proxy, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.DomainName == "" {
		return nil, fmt.Errorf("origin %q: no domain name", o.ID)
	}
	k := transportKey{
		domain:    o.DomainName,
		port:      443,
		minTLS:    tls.VersionTLS12, // Portico's floor, whatever OriginSslProtocols lists
		maxTLS:    tls.VersionTLS13,
		connect:   seconds(o.ConnectionTimeout, portico.DefaultConnectionTimeout),
		read:      seconds(nil, portico.DefaultOriginReadTimeout),
		keepalive: seconds(nil, portico.DefaultOriginKeepaliveTimeout),
	}
	if co := o.CustomOriginConfig; co != nil {
		if co.OriginProtocolPolicy == "http-only" {
			return nil, fmt.Errorf("origin %q: Portico connects to origins over HTTPS only", o.ID)
		}
		if co.HTTPSPort != 0 {
			k.port = co.HTTPSPort
		}
		k.read = seconds(co.OriginReadTimeout, portico.DefaultOriginReadTimeout)
		k.keepalive = seconds(co.OriginKeepaliveTimeout, portico.DefaultOriginKeepaliveTimeout)
	}
	attempts := portico.DefaultConnectionAttempts
	if o.ConnectionAttempts != nil && *o.ConnectionAttempts > 0 {
		attempts = *o.ConnectionAttempts
	}
	p := &Proxy{
		domain: o.DomainName,
		host:   o.DomainName,
		policy: newPolicy(b),
		log:    log.With("origin", o.ID),
	}
	if k.port != 443 {
		p.host = net.JoinHostPort(o.DomainName, strconv.Itoa(k.port))
	}
	if o.OriginPath != nil {
		p.pathPrefix = *o.OriginPath
		p.rawPrefix = (&url.URL{Path: p.pathPrefix}).EscapedPath()
	}
	if o.CustomHeaders != nil {
		p.headers = append(p.headers, o.CustomHeaders.Items...)
	}
	if o.ResponseCompletionTimeout != nil && *o.ResponseCompletionTimeout > 0 {
		p.completion = time.Duration(*o.ResponseCompletionTimeout) * time.Second
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      &retryTransport{next: t.get(k), attempts: attempts},
		BufferPool:     bufferPool{t.buffers},
		ErrorHandler:   p.serveError,
		ModifyResponse: p.modifyResponse,
		ErrorLog:       slog.NewLogLogger(p.log.Handler(), slog.LevelWarn),
	}
	return p, nil
}

func seconds(v *int, def int) time.Duration {
	if v != nil && *v > 0 {
		return time.Duration(*v) * time.Second
	}
	return time.Duration(def) * time.Second
}

// ServeHTTP forwards r to the origin and copies the response to w.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := &exchange{}
	ctx := context.WithValue(r.Context(), exchangeKey{}, st)
	if p.completion > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.completion)
		defer cancel()
	}
	p.rp.ServeHTTP(w, r.WithContext(ctx))
	if st.bodyErr != nil {
		// ReverseProxy aborts the response itself when it runs under an
		// http.Server; do the same everywhere else, so that no caller
		// (a cache above all) takes a truncated body for a complete one.
		panic(http.ErrAbortHandler)
	}
}

// rewrite builds the origin request. ReverseProxy has already removed the
// hop-by-hop headers and X-Forwarded-*/Forwarded, and re-added Upgrade for
// protocol upgrades.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	in, out := pr.In, pr.Out

	out.URL.Scheme = "https"
	out.URL.Host = p.host
	out.URL.Path = p.pathPrefix + in.URL.Path
	out.URL.RawPath = ""
	if in.URL.RawPath != "" {
		out.URL.RawPath = p.rawPrefix + in.URL.RawPath
	}
	out.URL.RawQuery, out.URL.ForceQuery = "", false
	if p.policy.query {
		// The viewer's query exactly as sent: ReverseProxy's cleanup of
		// unparsable parameters is undone, as CloudFront forwards it as is.
		out.URL.RawQuery, out.URL.ForceQuery = in.URL.RawQuery, in.URL.ForceQuery
	}
	out.Host = p.domain
	if p.policy.forwardHost {
		out.Host = in.Host
	}

	h := out.Header
	websocket := isWebSocket(h)
	for name := range h {
		// Names from the wire are canonical already; one set by a
		// handler in front of the proxy may not be.
		if !p.policy.keep(textproto.CanonicalMIMEHeaderKey(name), in.Method, websocket) {
			delete(h, name)
		}
	}
	if !p.policy.whitelisted("User-Agent") {
		h.Set("User-Agent", cloudFrontUserAgent)
	}
	if !p.policy.whitelisted("Accept-Encoding") {
		if ae := AcceptEncoding(in.Header); ae != "" {
			h.Set("Accept-Encoding", ae)
		}
	}
	if c := AppendCookieHeader(nil, in.Header, p.policy.cookies); len(c) > 0 {
		h.Set("Cookie", string(c))
	}
	if ip, ipPort, ok := viewerAddress(in.RemoteAddr); ok {
		h.Set("X-Forwarded-For", ip)
		h.Set("Cloudfront-Viewer-Address", ipPort)
	}
	h.Add("Via", via)
	if id := RequestID(in.Context()); id != "" {
		h.Set("X-Amz-Cf-Id", id)
	}
	for _, ch := range p.headers {
		h.Set(ch.HeaderName, ch.HeaderValue)
	}
}

func isWebSocket(h http.Header) bool {
	for _, v := range h["Upgrade"] {
		if len(v) == len("websocket") && equalFoldASCII(v, "websocket") {
			return true
		}
	}
	return false
}

func equalFoldASCII(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

// modifyResponse adjusts the origin's response before ReverseProxy copies
// it to the viewer.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	// X-Cache belongs to the edge, never to the origin.
	resp.Header.Del("X-Cache")
	// CloudFront passes Set-Cookie only when the behaviour forwards
	// cookies (DG RequestAndResponseBehaviorCustomOrigin, "HTTP response
	// headers that CloudFront removes or replaces").
	if c := p.policy.cookies; c == nil || c.Forward == cookiesNone || c.Forward == "" {
		resp.Header.Del("Set-Cookie")
	}
	st, ok := resp.Request.Context().Value(exchangeKey{}).(*exchange)
	if ok && resp.StatusCode != http.StatusSwitchingProtocols {
		// (A 101's body is the upgraded connection; ReverseProxy needs it
		// unwrapped.)
		resp.Body = &trackedBody{ReadCloser: resp.Body, st: st}
	}
	return nil
}

// The 502 and 504 sentences, CloudFront's own words.
const (
	reason502 = "We can't connect to the server for this app or website at this time. There might be too much traffic or a configuration error. Try again later, or contact the app or website owner."
	reason504 = "We can't connect to the server for this app or website at this time. There might be too much traffic or a configuration error. Try again later, or contact the app or website owner. The origin did not respond in time."
)

// serveError answers for an origin that failed before sending a response:
// 504 when it timed out, 502 otherwise. r is the outgoing request. Neither
// the page nor the log carries header values or the query string.
func (p *Proxy) serveError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(r.Context().Err(), context.Canceled) {
		// The viewer went away; nobody reads the answer.
		p.log.Debug("viewer canceled the origin request", "method", r.Method, "path", r.URL.Path)
		return
	}
	status, reason := http.StatusBadGateway, reason502
	if isTimeout(err) {
		status, reason = http.StatusGatewayTimeout, reason504
	}
	p.log.Warn("origin request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	errpage.Write(w, status, reason, RequestID(r.Context()))
}

// isTimeout reports whether err is a timeout: connecting (after every
// attempt), awaiting the response headers, between packets, or the
// response completion timeout.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// exchange is the per-request state shared between ServeHTTP and the
// response body that ReverseProxy copies, in the same goroutine.
type exchange struct {
	bodyErr error // the origin's response body broke off
}

type exchangeKey struct{}

// trackedBody records a read error of the origin's response body.
type trackedBody struct {
	io.ReadCloser
	st *exchange
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.st.bodyErr = err
	}
	return n, err
}

// bufferPool lends ReverseProxy 32 KiB copy buffers from a pool shared by
// every Proxy of a Transports.
type bufferPool struct{ pool *sync.Pool }

const copyBufferSize = 32 << 10

func newBufferPool() *sync.Pool {
	return &sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}
}

func (b bufferPool) Get() []byte { return *b.pool.Get().(*[]byte) }

func (b bufferPool) Put(buf []byte) {
	if cap(buf) == copyBufferSize {
		buf = buf[:copyBufferSize]
		b.pool.Put(&buf)
	}
}

type requestIDKey struct{}

// WithRequestID returns a context that carries the request's ID, which the
// Proxy sends to the origin as X-Amz-Cf-Id and prints on error pages.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request ID carried by ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
