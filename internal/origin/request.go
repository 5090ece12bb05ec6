package origin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Values of fields that the Proxy sets on origin requests, shared by all of
// them (see field).
var (
	cloudFrontUAValue = []string{cloudFrontUserAgent}
	viaValue          = []string{via}
	emptyValue        = []string{""} // a User-Agent that net/http does not replace with its own
	brGzipValue       = []string{"br,gzip"}
	gzipValue         = []string{"gzip"}
	brValue           = []string{"br"}
)

// call is one viewer request that forward sends to the origin: what the
// transport reports through its trace, from its own goroutines.
type call struct {
	w     http.ResponseWriter
	check connCheck
	trace httptrace.ClientTrace

	mu   sync.Mutex
	done bool // the round trip returned: a late 1xx response is not passed on
}

// got1xx passes an informational response (103 Early Hints) on to the
// viewer while the final response is awaited.
func (c *call) got1xx(code int, header textproto.MIMEHeader) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return nil
	}
	h := c.w.Header()
	for k, vv := range header {
		for _, v := range vv {
			h.Add(k, v)
		}
	}
	c.w.WriteHeader(code)
	// WriteHeader keeps the fields of a 1xx response for the next one.
	clear(h)
	return nil
}

// forward sends r, any request but a WebSocket upgrade, to the origin and
// copies the response to w. It is the proxying ReverseProxy does, built
// for this one job: the origin request gets only the viewer's fields that
// the behaviour forwards, without copying their values; the response's
// fields go to w as they are; and one context, with one trace, carries all
// that the transport reports.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if p.completion > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.completion)
		defer cancel()
	}
	c := &call{w: w}
	c.trace.GotConn = c.check.gotConn
	c.trace.GotFirstResponseByte = c.check.gotFirstResponseByte
	c.trace.Got1xxResponse = c.got1xx
	trace := &c.trace
	timing := timingOf(ctx)
	if timing != nil {
		// Server-Timing reports this request's upstream metrics.
		trace = timing.trace(trace)
		trace.Got1xxResponse = c.got1xx
	}
	out := p.originRequest(r, httptrace.WithClientTrace(ctx, trace))
	if out.Body != nil {
		// The transport may read the body after the round trip, even
		// after this handler returned; it must not then.
		defer out.Body.Close()
	}

	// GET and HEAD without a body, most origin requests, go over the
	// transport's HTTP/1.1 client, all others over its http.Transport.
	var rt http.RoundTripper = p.transport.rt
	if out.Body == nil && (out.Method == http.MethodGet || out.Method == http.MethodHead) {
		rt = p.transport.h1
	}
	res, err := send(rt, p.attempts, out, &c.check, timing)
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
	if err == nil && res.StatusCode == http.StatusSwitchingProtocols {
		// Only an upgrade may be answered with 101, and there was none.
		res.Body.Close()
		err = errUnaskedSwitch
	}
	if err != nil {
		p.fail(w, w, out, err)
		return
	}

	removeHopByHop(res.Header)
	p.filterResponse(res.Header)
	h := w.Header()
	for k, v := range res.Header {
		if prev, ok := h[k]; ok {
			v = append(slices.Clip(prev), v...)
		}
		h[k] = v
	}
	announced := len(res.Trailer)
	if announced > 0 {
		names := make([]string, 0, announced)
		for k := range res.Trailer {
			names = append(names, k)
		}
		h.Add("Trailer", strings.Join(names, ", "))
	}
	w.WriteHeader(res.StatusCode)

	readErr, writeErr := p.copyBody(w, res.Body, streamed(res))
	if readErr != nil || writeErr != nil {
		res.Body.Close()
		if readErr != nil && !errors.Is(readErr, context.Canceled) {
			p.log.Warn("origin response body broke off", "method", r.Method, "path", r.URL.Path, "err", readErr)
		}
		// A body cut short must not pass for a whole one: the viewer's
		// connection (or stream) is reset, and a cache above, whose fill
		// this unwinds, stores nothing. A viewer that went away is
		// answered the same under an http.Server, which recovers.
		if readErr != nil || r.Context().Value(http.ServerContextKey) != nil {
			panic(http.ErrAbortHandler)
		}
		return
	}
	res.Body.Close() // fills res.Trailer

	if len(res.Trailer) > 0 {
		// Chunked, so that net/http does not compute a Content-Length
		// for a short body and drop the trailers.
		http.NewResponseController(w).Flush()
	}
	if len(res.Trailer) == announced {
		for k, vv := range res.Trailer {
			for _, v := range vv {
				h.Add(k, v)
			}
		}
		return
	}
	for k, vv := range res.Trailer {
		for _, v := range vv {
			h.Add(http.TrailerPrefix+k, v)
		}
	}
}

// errUnaskedSwitch is the failure of a request whose origin answered 101
// Switching Protocols when no upgrade was asked for.
var errUnaskedSwitch = errors.New("the origin switched protocols, and no upgrade was asked for")

// originRequest returns the origin request for the viewer's request in,
// with context ctx: in's method, body and trailers, the origin's URL and
// Host, and the header fields that the behaviour forwards or that the
// Proxy adds.
func (p *Proxy) originRequest(in *http.Request, ctx context.Context) *http.Request {
	out := in.WithContext(ctx)
	out.URL = new(url.URL)
	p.setURL(out.URL, in.URL)
	out.Host = p.originHost(in)
	out.RequestURI = ""
	out.Close = false // the viewer's connection's, not the origin's
	out.Header = p.originHeader(in)
	switch {
	case in.ContentLength == 0:
		out.Body = nil // the transport may then send a GET or HEAD again
	case in.Body != nil:
		out.Body = &requestBody{rc: in.Body}
	}
	return out
}

// originHeader returns the header fields of the origin request for in:
// the viewer's fields that the behaviour forwards, less the hop-by-hop
// ones, sharing in's values, and those the Proxy sets.
func (p *Proxy) originHeader(in *http.Request) http.Header {
	src := in.Header
	// Most viewer fields are not forwarded, and a map of up to 8 fields
	// is one small allocation: it grows when more are.
	h := make(http.Header, 8)
	connection := src["Connection"]
	revalidation := cacheValidators(in.Context())
	for name, v := range src {
		// Names from the wire are canonical already; one set by a
		// handler in front of the proxy may not be.
		canonical := textproto.CanonicalMIMEHeaderKey(name)
		switch {
		case isHopByHop(canonical) || listed(connection, canonical):
			continue
		case revalidation && (canonical == "If-None-Match" || canonical == "If-Modified-Since"):
		case !p.policy.keep(canonical, in.Method, false):
			continue
		}
		h[name] = v
	}
	p.addHeaders(h, in)
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = emptyValue
	}
	return h
}

// addHeaders sets the fields of the origin request h for in that the Proxy
// computes: User-Agent and Accept-Encoding unless forwarded as sent, the
// forwarded cookies, X-Forwarded-For, the CloudFront-* viewer fields, Via,
// X-Amz-Cf-Id, and the origin's custom headers, last. h's values may be
// in's: they are replaced, never modified.
func (p *Proxy) addHeaders(h http.Header, in *http.Request) {
	if !p.policy.forward.Headers.Includes("User-Agent") {
		h["User-Agent"] = cloudFrontUAValue
	}
	if p.policy.normalizeAE {
		switch NormalizedAcceptEncoding(in.Header, p.policy.gzip, p.policy.br) {
		case "br,gzip":
			h["Accept-Encoding"] = brGzipValue
		case "gzip":
			h["Accept-Encoding"] = gzipValue
		case "br":
			h["Accept-Encoding"] = brValue
		}
	}
	var buf [256]byte
	if c := AppendCookies(buf[:0], in.Header, p.policy.forward.Cookies); len(c) > 0 {
		h["Cookie"] = []string{string(c)}
	}
	if ip, _, ok := clientIP(in.RemoteAddr); ok {
		h["X-Forwarded-For"] = []string{ip}
	}
	p.policy.viewer.Replace(h, in)
	if prev := h["Via"]; len(prev) > 0 {
		h["Via"] = append(slices.Clip(prev), via)
	} else {
		h["Via"] = viaValue
	}
	if id := RequestID(in.Context()); id != "" {
		h["X-Amz-Cf-Id"] = []string{id}
	}
	for _, f := range p.custom {
		h[f.name] = f.value
	}
}

// isHopByHop reports whether the canonical field name is that of a field
// of one connection, never forwarded in either direction (RFC 9110 §7.6.1),
// as are the fields Connection lists.
func isHopByHop(name string) bool {
	switch name {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// listed reports whether the Connection field lines list name, which is
// then hop-by-hop.
func listed(connection []string, name string) bool {
	for _, line := range connection {
		for line != "" {
			var token string
			token, line, _ = strings.Cut(line, ",")
			if token = trimOWS(token); equalFoldASCII(token, name) {
				return true
			}
		}
	}
	return false
}

// removeHopByHop removes the hop-by-hop fields from an origin response's
// header, in one pass over its few fields.
func removeHopByHop(h http.Header) {
	connection := h["Connection"]
	for name := range h {
		if isHopByHop(name) || listed(connection, name) {
			delete(h, name)
		}
	}
}

// filterResponse removes the origin's response fields that the viewer
// does not get.
func (p *Proxy) filterResponse(h http.Header) {
	// X-Cache belongs to the edge, never to the origin.
	delete(h, "X-Cache")
	// CloudFront passes Set-Cookie only when the behaviour forwards
	// cookies (DG RequestAndResponseBehaviorCustomOrigin, "HTTP response
	// headers that CloudFront removes or replaces").
	if !p.policy.setCookie {
		delete(h, "Set-Cookie")
	}
}

// streamed reports whether a response's body goes to the viewer as it
// comes, each read flushed: a body of unknown length, or server-sent
// events.
func streamed(res *http.Response) bool {
	if res.ContentLength < 0 {
		return true
	}
	ct, _, _ := strings.Cut(headerValue(res.Header, "Content-Type"), ";")
	ct = trimOWS(ct)
	return equalFoldASCII(ct, "text/event-stream")
}

func headerValue(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// copyBody copies an origin response's body to the viewer, flushing the
// header first and then every read when flush is set. It returns the
// error that ended the copy early, reading the origin's body or writing
// to the viewer.
func (p *Proxy) copyBody(w http.ResponseWriter, body io.Reader, flush bool) (readErr, writeErr error) {
	var rc *http.ResponseController
	if flush {
		rc = http.NewResponseController(w)
		rc.Flush() // an error is the ResponseWriter's, and comes back at the next Write
	}
	buf := p.buffers.Get()
	defer p.buffers.Put(buf)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			written, werr := w.Write(buf[:n])
			if werr == nil && written != n {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				return nil, werr
			}
			if flush {
				rc.Flush()
			}
		}
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return err, nil
		}
	}
}

// requestBody is a viewer's request body as the transport sees it: its
// Close does not close the viewer's body, which the transport may do on a
// failed connection (and which could then hang on a viewer expecting 100
// Continue), and reads fail once the Proxy is done with it.
type requestBody struct {
	rc     io.ReadCloser
	closed atomic.Bool
}

var errBodyDone = errors.New("origin: read from a request body after the proxy was done with it")

func (b *requestBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, errBodyDone
	}
	return b.rc.Read(p)
}

func (b *requestBody) Close() error {
	b.closed.Store(true)
	return nil
}
