// Package origin forwards viewer requests to a distribution's origin the way
// CloudFront does for a custom origin, with Portico's safer defaults. What a
// cache behaviour forwards comes from its legacy ForwardedValues or its
// cache and origin request policies, as portico.ResolveBehavior resolves
// them; the rules below name the legacy settings, and policies select
// headers, cookies and query strings the same way with their own lists.
//
// A Proxy sends GET and HEAD requests without a body, most origin
// requests, over a purpose-built HTTP/1.1 client that makes them on the
// caller's goroutine, and all others over an *http.Transport; both are
// shared per origin connection setting (see Transports), with the same
// dialing, TLS settings and limits. It builds each origin request from
// the viewer's with only the fields it forwards; WebSocket upgrades go
// through an httputil.ReverseProxy (Rewrite, never Director) for its
// upgrade handling. Towards the origin it:
//
//   - connects over HTTPS only (match-viewer and S3 origins too; S3 on port
//     443), HTTP/1.1, TLS 1.2 or 1.3, with SNI and certificate verification
//     against the origin's DomainName; Portico never goes below TLS 1.2, so
//     OriginSslProtocols entries older than TLSv1.2 have no effect;
//     connections are kept alive and reused, and a new one resumes the TLS
//     session of an earlier one;
//   - sets Host to the origin's DomainName, unless Host is whitelisted;
//   - prefixes OriginPath to the path, and forwards the raw query string
//     (order and encoding kept) when QueryString is true, none otherwise
//     (under policies, a whitelist or all-except selection keeps the
//     selected parameters in the viewer's order, see AppendQuery);
//   - forwards cookies per Cookies.Forward (none, whitelist or all), as
//     name=value pairs sorted by name (see AppendCookies);
//   - removes the viewer headers CloudFront removes unless whitelisted
//     (Accept, Accept-Charset, Accept-Language, Referer, Expect,
//     X-HTTP-Method-Override; Authorization on GET and HEAD, and on OPTIONS
//     when OPTIONS is cached), replaces User-Agent with "Amazon CloudFront"
//     and normalises Accept-Encoding to br/gzip unless they are whitelisted,
//     always removes Proxy-*, TE, Trailer, X-Edge-*, CloudFront-* and
//     non-WebSocket Upgrade, and forwards every other header; a whitelist of
//     "*" forwards them all. Under policies, only the headers they select
//     are forwarded (Authorization too, whatever the method), and
//     Accept-Encoding is normalised to the codings the cache policy
//     enables, else forwarded as sent only when selected;
//   - sends exactly one client IP in X-Forwarded-For, the TCP peer's, after
//     removing the viewer's X-Forwarded-For, Forwarded, True-Client-IP and
//     X-Real-IP (CloudFront appends to the viewer's list, which lets a viewer
//     spoof the first hop);
//   - adds the CloudFront-* headers that describe the viewer
//     (CloudFront-Viewer-Address, CloudFront-Forwarded-Proto,
//     CloudFront-Is-Mobile-Viewer and the others ViewerHeaders lists) only
//     when the behaviour selects them, through its origin request policy,
//     cache policy or legacy header whitelist, and always with the values
//     the edge computes (DG adding-cloudfront-headers): a viewer's
//     CloudFront-* header never reaches the origin;
//   - appends itself to Via, sets X-Amz-Cf-Id to the request ID carried by
//     the context (see WithRequestInfo), and sets the origin's custom headers
//     last, replacing any viewer value. Their values are secrets: they are
//     never logged and never shown in an error page.
//
// # Origin failures
//
// Timeouts and retries are taken per origin from its configuration, with
// CloudFront's defaults: ConnectionTimeout (10 s) bounds the TCP connect and
// the TLS handshake; OriginReadTimeout (30 s) bounds the wait for the
// response headers and every gap between packets, as a read deadline on
// the connection that fires at most a 32nd of it late; OriginKeepaliveTimeout
// (5 s) closes pooled connections left idle; ResponseCompletionTimeout, when
// set, bounds the whole exchange, retries included. A GET or HEAD request is
// sent up to ConnectionAttempts times (3) when its failure is transient
// ("yes" below); other methods are sent once, since the origin might have
// acted on them. Each failure gives:
//
//	origin fault                                         viewer gets            retried
//	connection refused or unreachable                    502                    yes
//	no connection or TLS handshake in ConnectionTimeout  504                    yes
//	certificate from an unknown CA, for another name,
//	or expired; TLS below 1.2                            502                    no
//	connection closed or reset before the end of the
//	response headers                                     502                    yes (1)
//	no response headers within OriginReadTimeout         504                    yes
//	invalid response: malformed status line, invalid or
//	conflicting Content-Length, unknown Transfer-Encoding,
//	status line and headers over 20,480 bytes, more
//	than five 1xx responses to a GET or HEAD             502                    no
//	ResponseCompletionTimeout before the headers         504                    no
//	any response, 5xx included                           the response           no
//	body breaks off after the headers: reset, closed
//	short of Content-Length or the last chunk, a bad
//	chunk, a gap over OriginReadTimeout, or
//	ResponseCompletionTimeout                            connection aborted     no
//	body longer than its Content-Length                  the promised bytes     no
//
//	(1) unless it broke off inside a line, which cannot be told from an
//	invalid response
//
// A 502 or 504 is CloudFront's error page (internal/errpage), labelled
// X-Cache "Error from portico" and Cache-Control "no-store". Before writing
// it the Proxy offers the failure, as an *Error, to a ResponseWriter that
// implements ErrorWriter, which may answer instead (stale-if-error): that
// call is how a cache above tells Portico's own 502 and 504 from an
// origin's. When the body breaks off after the headers have gone out,
// ServeHTTP panics with http.ErrAbortHandler, so that net/http resets the
// viewer's connection (or HTTP/2 stream) and a cache above, whose fill is
// unwound by the panic, never stores the truncated body: a viewer never sees
// a silently truncated 200. Bytes past a Content-Length are not forwarded,
// and never taken for the response to a later request on the same
// connection: a connection that holds bytes past a response, or received
// any while idle, carries no other request; a response that was in the
// connection before its request was sent is refused, and a GET or HEAD
// sent again on a new connection. Neither does the connection of a GET
// or HEAD whose response had both Transfer-Encoding: chunked and a
// Content-Length: the chunked framing is followed (RFC 9112 §6.3), but
// what the origin meant is in doubt.
//
// # WebSockets
//
// A WebSocket upgrade over HTTP/1.1 passes through with its Upgrade,
// Connection and Sec-WebSocket-* headers (other upgrades are not forwarded,
// as CloudFront's). A viewer on HTTP/2 may open a WebSocket with an extended
// CONNECT (RFC 8441, see IsExtendedConnect): the origin is sent the same
// request as an HTTP/1.1 upgrade, and its 101 is answered with a 200 on the
// viewer's stream. Either way, both ends of the WebSocket are closed once no
// data has crossed it, in either direction, for
// Transports.WebSocketIdleTimeout (CloudFront's 10 minutes), even when a
// viewer or origin that stopped reading holds up the copying;
// ResponseCompletionTimeout does not apply to it. Any other CONNECT gets a
// 405 and is never forwarded.
//
// Request and response bodies are streamed, never held whole: a large upload
// reaches the origin as the viewer sends it, and a download reaches the
// viewer as the origin sends it.
//
// # Server-Timing
//
// When the request's context carries a Timing (see WithTiming), the Proxy
// records in it how long the origin's address lookup, connection and first
// response byte took, for a response headers policy's Server-Timing
// header. Requests without one are not traced beyond what the retries
// need.
package origin

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/errpage"
)

// Proxy forwards requests to one origin under one cache behaviour. It is
// immutable and safe for concurrent use.
type Proxy struct {
	domain     string  // origin DomainName: Host, SNI
	host       string  // URL host: domain, or domain:port
	pathPrefix string  // OriginPath
	rawPrefix  string  // OriginPath, escaped
	custom     []field // the origin's custom headers, set last
	policy     policy
	completion time.Duration // ResponseCompletionTimeout; 0 = none
	wsIdle     time.Duration // WebSocket idle timeout
	log        *slog.Logger
	transport  *transport
	attempts   int // ConnectionAttempts, for GET and HEAD
	buffers    bufferPool
	rp         *httputil.ReverseProxy // WebSocket upgrades
}

// field is a header field that the Proxy sets on every origin request. Its
// value slice is shared by all of them, never modified: its capacity is
// its length, so that an append copies it.
type field struct {
	name  string // canonical
	value []string
}

// New returns the Proxy that forwards requests of behaviour b to origin o,
// over a transport from t. pol is what b forwards, as
// portico.ResolveBehavior resolves it from b's legacy ForwardedValues or
// its policies. It fails when the origin cannot be reached over HTTPS (an
// http-only custom origin).
func New(o *portico.Origin, b *portico.CacheBehavior, pol portico.ResolvedPolicy, t *Transports, log *slog.Logger) (*Proxy, error) {
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
		domain:    o.DomainName,
		host:      o.DomainName,
		policy:    newPolicy(b, &pol),
		wsIdle:    t.WebSocketIdleTimeout,
		log:       log.With("origin", o.ID),
		transport: t.get(k),
		attempts:  attempts,
		buffers:   bufferPool{t.buffers},
	}
	if p.wsIdle <= 0 {
		p.wsIdle = DefaultWebSocketIdleTimeout
	}
	if k.port != 443 {
		p.host = net.JoinHostPort(o.DomainName, strconv.Itoa(k.port))
	}
	if o.OriginPath != nil {
		p.pathPrefix = *o.OriginPath
		p.rawPrefix = (&url.URL{Path: p.pathPrefix}).EscapedPath()
	}
	if o.CustomHeaders != nil {
		for _, ch := range o.CustomHeaders.Items {
			p.custom = append(p.custom, field{textproto.CanonicalMIMEHeaderKey(ch.HeaderName), []string{ch.HeaderValue}})
		}
	}
	if o.ResponseCompletionTimeout != nil && *o.ResponseCompletionTimeout > 0 {
		p.completion = time.Duration(*o.ResponseCompletionTimeout) * time.Second
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      &retryTransport{next: p.transport.rt, attempts: attempts},
		BufferPool:     p.buffers,
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

// ServeHTTP forwards r to the origin and copies the response to w. When the
// origin's response body breaks off after the headers were sent, it panics
// with http.ErrAbortHandler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	extended := IsExtendedConnect(r)
	if r.Method == http.MethodConnect && !extended {
		// A tunnel is not an origin request; never forward one.
		errpage.Write(w, http.StatusMethodNotAllowed, "The CONNECT method is not supported.", RequestID(r.Context()))
		return
	}
	if extended || isUpgrade(r.Header) {
		p.serveUpgrade(w, r, extended)
		return
	}
	p.forward(w, r)
}

// serveUpgrade forwards a WebSocket upgrade, over HTTP/1.1 or as an HTTP/2
// extended CONNECT, through ReverseProxy, whose upgrade handling carries
// the WebSocket's bytes both ways once the origin switched protocols.
func (p *Proxy) serveUpgrade(w http.ResponseWriter, r *http.Request, extended bool) {
	// A WebSocket lasts while data flows, in either direction: both its
	// ends are watched (see modifyResponse and Hijack), and
	// ResponseCompletionTimeout does not apply.
	st := &exchange{w: w, watch: newIdleWatch(p.wsIdle)}
	defer st.watch.stop()
	ctx := context.WithValue(r.Context(), exchangeKey{}, st)
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: st.gotConn})
	r = r.WithContext(ctx)
	if extended {
		ws := newH2WebSocket(w, r, st.watch)
		st.ws = ws
		w, r = ws, ws.upgradeRequest(r)
	} else {
		w = &upgradeWriter{ResponseWriter: w, watch: st.watch}
	}
	p.rp.ServeHTTP(w, r)
	if st.bodyErr != nil {
		// An origin that refused the upgrade answered with a body that
		// broke off. ReverseProxy aborts the response itself when it
		// runs under an http.Server; do the same everywhere else.
		panic(http.ErrAbortHandler)
	}
}

// rewrite builds the origin request of a WebSocket upgrade. ReverseProxy
// has already removed the hop-by-hop headers and X-Forwarded-*/Forwarded,
// and re-added Upgrade for protocol upgrades.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	in, out := pr.In, pr.Out
	p.setURL(out.URL, in.URL)
	out.Host = p.originHost(in)

	h := out.Header
	websocket := isWebSocket(h)
	revalidation := cacheValidators(in.Context())
	for name := range h {
		// Names from the wire are canonical already; one set by a
		// handler in front of the proxy may not be.
		canonical := textproto.CanonicalMIMEHeaderKey(name)
		if revalidation && (canonical == "If-None-Match" || canonical == "If-Modified-Since") {
			continue
		}
		if !p.policy.keep(canonical, in.Method, websocket) {
			delete(h, name)
		}
	}
	p.addHeaders(h, in)
}

// setURL points u, the URL of an origin request, at the origin, with the
// path and query of the viewer's URL in.
func (p *Proxy) setURL(u, in *url.URL) {
	u.Scheme = "https"
	u.Host = p.host
	u.Path = p.pathPrefix + in.Path
	u.RawPath = ""
	if in.RawPath != "" {
		u.RawPath = p.rawPrefix + in.RawPath
	}
	u.RawQuery, u.ForceQuery = "", false
	switch q := p.policy.forward.QueryStrings; q.Mode {
	case portico.SelectAll:
		// The viewer's query exactly as sent: CloudFront forwards it as
		// is, unparsable parameters and all.
		u.RawQuery, u.ForceQuery = in.RawQuery, in.ForceQuery
	case portico.SelectWhitelist, portico.SelectAllExcept:
		u.RawQuery = string(AppendQuery(nil, in.RawQuery, q))
	}
}

// originHost is the Host of the origin request for in.
func (p *Proxy) originHost(in *http.Request) string {
	if p.policy.forwardHost {
		return in.Host
	}
	return p.domain
}

// isWebSocket reports whether h asks for an upgrade to WebSocket.
func isWebSocket(h http.Header) bool {
	for _, v := range h["Upgrade"] {
		if len(v) == len("websocket") && equalFoldASCII(v, "websocket") {
			return true
		}
	}
	return false
}

// isUpgrade reports whether h asks for an HTTP/1.1 upgrade to WebSocket:
// the upgrade ReverseProxy performs, and the only one Portico forwards.
func isUpgrade(h http.Header) bool {
	if !isWebSocket(h) {
		return false
	}
	for _, line := range h["Connection"] {
		for line != "" {
			var token string
			token, line, _ = strings.Cut(line, ",")
			if token = trimOWS(token); len(token) == len("upgrade") && equalFoldASCII(token, "upgrade") {
				return true
			}
		}
	}
	return false
}

// equalFoldASCII reports whether a and b are equal under ASCII case
// folding: header tokens, which are ASCII, compared without Unicode's
// folding.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// modifyResponse adjusts the origin's response to a WebSocket upgrade
// before ReverseProxy copies it to the viewer. An error it returns gives a
// 502.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	p.filterResponse(resp.Header)
	st, ok := resp.Request.Context().Value(exchangeKey{}).(*exchange)
	if !ok {
		return nil
	}
	switch {
	case resp.StatusCode == http.StatusSwitchingProtocols:
		// The body is the upgraded connection, which ReverseProxy needs
		// unwrapped. From now on it carries a WebSocket.
		if st.ws != nil {
			if err := st.ws.accept(resp); err != nil {
				return err
			}
		}
		if st.conn != nil {
			st.conn.watchedBy(st.watch)
		}
	case st.ws != nil && resp.StatusCode >= 200 && resp.StatusCode < 300:
		return errUpgradeRefused{resp.StatusCode}
	default:
		resp.Body = &trackedBody{ReadCloser: resp.Body, st: st}
	}
	return nil
}

// exchange is the state of a WebSocket upgrade shared by serveUpgrade, the
// origin round trip and the response body that ReverseProxy copies, all in
// the request's goroutine.
type exchange struct {
	w       http.ResponseWriter // the caller's
	watch   *idleWatch          // a WebSocket's idle timeout, or nil
	ws      *h2WebSocket        // an HTTP/2 WebSocket's stream, or nil
	conn    *idleTimeoutConn    // the origin connection of an upgrade
	bodyErr error               // the origin's response body broke off
}

type exchangeKey struct{}

// gotConn records the origin connection of an upgrade request.
func (st *exchange) gotConn(info httptrace.GotConnInfo) {
	if ic := asIdleTimeoutConn(info.Conn); ic != nil {
		st.conn = ic
	}
}

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
// every Proxy of a Transports. The pool holds the buffers' arrays, so that
// neither Get nor Put allocates.
type bufferPool struct{ pool *sync.Pool }

const copyBufferSize = 32 << 10

func newBufferPool() *sync.Pool {
	return &sync.Pool{New: func() any { return new([copyBufferSize]byte) }}
}

func (b bufferPool) Get() []byte { return b.pool.Get().(*[copyBufferSize]byte)[:] }

func (b bufferPool) Put(buf []byte) {
	if cap(buf) == copyBufferSize {
		b.pool.Put((*[copyBufferSize]byte)(buf[:copyBufferSize]))
	}
}
