package edgeserver

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/http/httpguts"

	"github.com/portico-edge/portico/internal/httpcache"
	"github.com/portico-edge/portico/internal/respheaders"
)

// The fast path answers cache hits over HTTP/1.1 without net/http.
//
// Every HTTP/1.x connection starts in it (fastConn.serve), in a goroutine
// of the listener's. It reads request heads through the connection's
// guard, which checks them as it checks them for net/http, and answers the
// requests it fully understands: a GET or HEAD over HTTP/1.1 without a
// body, Expect, Upgrade or Range, that passes the pipeline's steps
// (pipeline.route, the very same code), for a behaviour whose response
// headers policy does not depend on it (respheaders.Policy.Static), which
// the cache answers with a fresh plain hit or a 304 (httpcache.FreshHit).
// The response head is rendered once per cached entry and second, with
// the code that renders it on the slow path (the cache's header fields,
// the policy, the pipeline's stamp, net/http's rules and field order), so
// that only X-Amz-Cf-Id, and Date when the response has none, change per
// request; the head and the body go out in one write (writev for large
// bodies), or, for bodies of 32 KiB or more that the cache's disk tier
// has a copy of, the head and then the body with sendfile.
//
// Anything else, and any doubt, ends the fast path for the connection: the
// head it holds stays in the guard's buffer, unread, and the connection is
// handed to net/http through the listener's Accept, which reads it and
// everything after it as if the fast path had never been. Because the fast
// path answers each request before it reads the next head, and hands over
// between two requests, responses keep their order under pipelining.
//
// The fast path keeps net/http's limits: a head within readHeaderTimeout
// of its first byte (the guard's timer), IdleTimeout between requests,
// WriteTimeout without progress, MaxRequestsPerConn (the guard adds
// "Connection: close" to the last head), and closes after a request with
// "Connection: close" or once its listener is closed.

// fastPath is a listener's fast path: the pipeline whose work it does.
type fastPath struct {
	p     *pipeline
	stats *fastStats
	// outs are the buffers responses are put together in (*[]byte),
	// shared by the connections: an idle connection holds none.
	outs sync.Pool
}

// getOut returns a buffer from outs.
func (f *fastPath) getOut() *[]byte {
	if b, ok := f.outs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, outBufSize)
	return &b
}

// fastStats count what a server's fast paths did.
type fastStats struct {
	answered  atomic.Int64 // responses written
	sendfiles atomic.Int64 // bodies sent from the cache's disk tier with sendfile
}

// fastResult is what became of a request head on the fast path.
type fastResult int

const (
	fastServed   fastResult = iota // answered; the connection stays open
	fastClosed                     // answered (or failed) and the connection closed
	fastDeclined                   // not for the fast path: hand the connection over
)

// Stop requests from the listener to a fast connection.
const (
	stopNone     int32 = iota
	stopHandover       // the listener is stopping gracefully: hand over to net/http
	stopClose          // the listener is closed: close once idle
)

// Sizes of the fast path's buffers.
const (
	// arenaSize is the size of the arenas request heads are copied into:
	// a connection keeps one, and makes a new one every 20 requests or so.
	arenaSize = 4 << 10
	// maxInlineBody is the largest body copied behind the head into one
	// buffer; larger ones go out with writev, straight from the cache.
	maxInlineBody = 16 << 10
	outBufSize    = 20 << 10 // the pooled output buffers: a head and a small body
	// minSendfileBody is the smallest body sent with sendfile from the
	// cache's disk tier, when it has a copy, rather than from memory: the
	// kernel then does not copy it.
	minSendfileBody = 32 << 10
	idLen           = 56 // X-Amz-Cf-Id
	// deadlineSlack is how stale a kept deadline may grow before the
	// fast path moves it: a deadline that fires early is moved to the
	// exact time, and the read or write goes on.
	deadlineSlack = time.Second
)

// fastConn is one connection on the fast path. Only its goroutine uses it,
// except for stop.
type fastConn struct {
	f    *fastPath
	run  runBudget
	conn net.Conn // what net/http gets at handover: g, or g over TLS
	g    *guardConn
	// w is where responses are written: the *net.TCPConn under the
	// guard for plain connections (so that net.Buffers use writev), or
	// the TLS connection.
	w      net.Conn
	rc     syscall.RawConn // w's, for sendfile; nil over TLS
	sf     sendfileState
	isTLS  bool
	tls    *tls.ConnectionState
	remote string

	// stop is the listener's request to stop (stopHandover, stopClose).
	stop atomic.Int32

	// The request, rebuilt for each head. Its strings point into arena,
	// whose bytes are never written again once a string refers to them,
	// so that they stay valid whoever keeps them.
	req   http.Request
	url   url.URL
	hdr   http.Header
	keys  []string // of hdr
	vals  []string
	arena []byte

	rng  *mrand.ChaCha8 // X-Amz-Cf-Id's random bytes
	iov  [2][]byte      // head and body
	bufs net.Buffers    // what is left of iov to write, for writev
	id   [idLen]byte    // scratch for the ID

	// idleUntil is when the connection, waiting for a head, closes: its
	// start plus readHeaderTimeout for the first request (as net/http
	// times a new connection), the end of the last response plus
	// idleTimeout for the others.
	idleUntil time.Time
	keptAlive bool      // a response was written: idleUntil is an idle deadline
	wd        time.Time // the write deadline set on w; zero for none

	dateSec int64 // Unix second of date
	date    []byte
}

func (f *fastPath) newConn(conn net.Conn, g *guardConn) *fastConn {
	c := &fastConn{
		f: f, conn: conn, g: g, w: g.Conn,
		hdr:       make(http.Header, 16),
		remote:    conn.RemoteAddr().String(),
		idleUntil: time.Now().Add(f.p.lim.readHeaderTimeout),
	}
	// X-Amz-Cf-Id is 42 random bytes, as newRequestID makes them, from a
	// cryptographically strong generator of the connection's own, seeded
	// by crypto/rand, which costs a quarter of crypto/rand per ID.
	var seed [32]byte
	rand.Read(seed[:])
	c.rng = mrand.NewChaCha8(seed)
	switch under := g.Conn.(type) {
	case *ipConn:
		c.w = under.Conn
		if sc, ok := under.Conn.(syscall.Conn); ok && sendfileSupported {
			c.rc, _ = sc.SyscallConn()
		}
	case *tls.Conn:
		st := under.ConnectionState()
		c.tls, c.isTLS = &st, true
	}
	return c
}

// errStopped ends the fast path of a connection whose listener stops.
var errStopped = errors.New("edgeserver: listener stopped")

// errNotHead is nextHead's answer when the guard has no head to give.
var errNotHead = errors.New("edgeserver: no request head")

// serve answers the connection's requests until one is not for the fast
// path, and reports whether the connection is to be handed to net/http;
// otherwise it has closed it.
func (c *fastConn) serve() (handover bool) {
	g := c.g
	g.fast = true
	for {
		head, err := c.nextHead()
		switch {
		case err == nil:
		case errors.Is(err, errNotHead):
			return true // refused, or a body follows: net/http takes it
		case errors.Is(err, errStopped) && c.stop.Load() == stopHandover:
			return true
		default:
			// The viewer closed or was silent too long, or the listener
			// was closed: net/http closes without an answer too.
			c.conn.Close()
			return false
		}
		switch c.serveHead(head) {
		case fastDeclined:
			return true
		case fastClosed:
			return false
		}
		// The head is answered: drop it, and look at what follows.
		g.out = g.ok
		g.compact()
		g.advance()
		if c.run.long() {
			// This viewer's requests have come back to back for a
			// while (pipelined, or sent as fast as they are answered):
			// let the other connections' goroutines run, as an event
			// loop serving each ready connection in turn would, rather
			// than until the scheduler's 10 ms time slice ends.
			runtime.Gosched()
			c.run.yielded()
		}
	}
}

// endFast takes the connection off the fast path, for net/http: the guard
// examines everything buffered as it does for net/http, and the deadlines
// are net/http's again.
func (c *fastConn) endFast() {
	g := c.g
	g.fast = false
	g.advance()
	g.mu.Lock()
	g.aborted, g.idleCaller, g.callerRD = false, false, time.Time{}
	g.applyReadDeadline()
	g.mu.Unlock()
	if !c.wd.IsZero() {
		c.w.SetWriteDeadline(time.Time{})
	}
}

// nextHead returns the next request head, checked by the guard and not
// yet handed out. It fails with errNotHead when the guard refused the head
// or has a body to pass on, with errStopped when the listener stops, and
// with the read's error when the viewer closes or lets idleUntil or the
// head's own timeout pass.
func (c *fastConn) nextHead() ([]byte, error) {
	g := c.g
	for {
		if g.out < g.ok {
			return g.buf[g.out:g.ok], nil
		}
		if g.st != stHead {
			return nil, errNotHead
		}
		if c.stop.Load() != stopNone {
			return nil, errStopped
		}
		if !g.started {
			c.armIdle()
		}
		err := g.fill()
		if err == nil || g.out < g.ok {
			continue
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return nil, err
		}
		if g.readAborted() {
			return nil, errStopped
		}
		if !c.keptAlive || g.started || !time.Now().Before(c.idleUntil) {
			return nil, err
		}
		// The idle deadline kept from an earlier request fired before
		// this one's: wait on until the exact one.
		c.setIdle()
	}
}

// armIdle sets the deadline for the wait for a head to idleUntil. An idle
// deadline set for an earlier request is kept while it is at most
// deadlineSlack early (nextHead waits on when it fires early), which
// spares a deadline change per request.
func (c *fastConn) armIdle() {
	g := c.g
	if c.keptAlive && g.idleCaller && !g.callerRD.After(c.idleUntil) && c.idleUntil.Sub(g.callerRD) < deadlineSlack {
		return
	}
	c.setIdle()
}

// setIdle sets the guard's caller deadline to idleUntil.
func (c *fastConn) setIdle() {
	g := c.g
	g.mu.Lock()
	g.callerRD, g.idleCaller = c.idleUntil, c.keptAlive
	g.applyReadDeadline()
	g.mu.Unlock()
}

// serveHead answers the request whose head is head, if it is for the
// fast path.
func (c *fastConn) serveHead(head []byte) fastResult {
	p := c.f.p
	start := time.Now()
	c.run.started(start)
	r, closeAfter, ok := c.parse(head)
	if !ok {
		return fastDeclined
	}
	h, err := p.route(r)
	if err != nil {
		return fastDeclined
	}
	pol, cache := respheaders.Unwrap(h)
	if pol != nil && !pol.Static(r) {
		return fastDeclined
	}
	hit, ok := httpcache.FreshHit(cache, r)
	if !ok {
		return fastDeclined
	}
	rh := c.f.rendered(hit, pol)
	if rh == nil {
		return fastDeclined
	}
	if c.stop.Load() == stopClose {
		closeAfter = true // as net/http once it is shutting down
	}

	body := hit.Body()
	if r.Method == http.MethodHead || !rh.bodyAllowed {
		body = nil
	}
	// The ID goes into the arena, so that the access log line may keep it.
	id := c.toArena(c.id[:])
	c.rng.Read(c.id[:42])
	base64.RawURLEncoding.Encode(id, c.id[:42])
	bp := c.f.getOut()
	out := append((*bp)[:0], rh.block[:rh.idAt]...)
	out = append(out, id...)
	out = append(out, rh.block[rh.idAt+idLen:]...)
	if rh.needDate {
		out = append(out, "Date: "...)
		out = c.appendDate(out, start)
		out = append(out, "\r\n"...)
	}
	if closeAfter {
		out = append(out, "Connection: close\r\n"...)
	}
	out = append(out, "\r\n"...)
	c.f.stats.answered.Add(1)
	switch {
	case len(body) <= maxInlineBody:
		out = append(out, body...)
		err = c.write(out, nil, start)
	case c.rc != nil && len(body) >= minSendfileBody:
		if f, off, ok := hit.BodyFile(minSendfileBody); ok {
			c.f.stats.sendfiles.Add(1)
			err = c.sendFile(out, f, off, int64(len(body)), start)
			break
		}
		fallthrough
	default:
		err = c.write(out, body, start)
	}
	if cap(out) <= outBufSize {
		*bp = out[:0]
		c.f.outs.Put(bp)
	}
	end := time.Now()
	c.run.ended(end)
	if p.access != nil {
		l := accessLine{at: end, id: c.str(id), proto: r.Proto, method: r.Method, host: r.Host,
			path: r.URL.EscapedPath(), status: rh.status, dur: end.Sub(start), cache: rh.xCache}
		if r.Method != http.MethodHead && rh.bodyAllowed {
			l.bytes = int64(len(hit.Body()))
		}
		p.logAccess(&l)
	}
	if err != nil || closeAfter {
		c.conn.Close()
		return fastClosed
	}
	c.keptAlive, c.idleUntil = true, end.Add(p.lim.idleTimeout)
	return fastServed
}

// parse builds c.req from head, a head the guard accepted, if the fast
// path may answer it: a GET or HEAD over HTTP/1.1 with an origin-form
// target, without Content-Length, Transfer-Encoding, Expect or Upgrade.
// The request is what net/http's parser makes of the head, as far as the
// pipeline and the cache look at it. closeAfter is set when it asks for
// the connection's end.
func (c *fastConn) parse(head []byte) (r *http.Request, closeAfter, ok bool) {
	var method string
	switch {
	case bytes.HasPrefix(head, []byte("GET /")):
		method = http.MethodGet
	case bytes.HasPrefix(head, []byte("HEAD /")):
		method = http.MethodHead
	default:
		return nil, false, false
	}
	eol := bytes.Index(head, crlf)
	if !bytes.HasSuffix(head[:eol], []byte(" HTTP/1.1")) {
		return nil, false, false // HTTP/1.0 keeps net/http's rules
	}
	head = c.toArena(head)
	target := c.str(head[len(method)+1 : eol-len(" HTTP/1.1")])
	u, ok := parseTarget(target, &c.url)
	if !ok {
		return nil, false, false
	}

	// Deleting the last request's fields is cheaper than clearing the map.
	for _, k := range c.keys {
		delete(c.hdr, k)
	}
	keys, vals := c.keys[:0], c.vals[:0]
	var host string
	for fields := head[eol+2 : len(head)-2]; len(fields) > 0; {
		i := bytes.Index(fields, crlf)
		line := fields[:i]
		fields = fields[i+2:]
		colon := bytes.IndexByte(line, ':')
		canonicalizeKey(line[:colon])
		name, value := c.str(line[:colon]), c.str(trimOWSBytes(line[colon+1:]))
		switch name {
		case "Host":
			host = value // one at most (the guard): not in Header, as net/http
			continue
		case "Content-Length", "Transfer-Encoding", "Expect", "Upgrade":
			return nil, false, false
		}
		if vv, ok := c.hdr[name]; ok {
			c.hdr[name] = append(vv, value)
			continue
		}
		vals = append(vals, value)
		c.hdr[name] = vals[len(vals)-1 : len(vals) : len(vals)]
		keys = append(keys, name)
	}
	c.keys, c.vals = keys, vals
	// As net/http's readRequest.
	if hp := c.hdr["Pragma"]; len(hp) > 0 && hp[0] == "no-cache" {
		if _, ok := c.hdr["Cache-Control"]; !ok {
			c.hdr["Cache-Control"] = noCache
			c.keys = append(c.keys, "Cache-Control")
		}
	}
	c.req = http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     c.hdr,
		Body:       http.NoBody,
		Host:       host,
		RemoteAddr: c.remote,
		RequestURI: target,
		TLS:        c.tls,
	}
	return &c.req, httpguts.HeaderValuesContainsToken(c.hdr["Connection"], "close"), true
}

// noCache is the Cache-Control that net/http adds to a request with
// "Pragma: no-cache" and no Cache-Control.
var noCache = []string{"no-cache"}[:1:1]

// parseTarget parses an origin-form request target as
// url.ParseRequestURI does, into u when it can without allocating (a path
// of the bytes the pipeline forwards as they are, no percent-encodings).
// ok is false when net/http would refuse the target.
func parseTarget(target string, u *url.URL) (_ *url.URL, ok bool) {
	rest := target
	*u = url.URL{}
	if i := indexByte(rest, '?'); i >= 0 {
		if i == len(rest)-1 {
			u.ForceQuery = true // "?" last, and only once
			rest = rest[:i]
		} else {
			rest, u.RawQuery = rest[:i], rest[i+1:]
		}
	}
	needsEscape := false
	for i := 0; i < len(rest); i++ {
		switch ch := rest[i]; {
		case ch == '%' || !pathByte(ch):
			pu, err := url.ParseRequestURI(target)
			return pu, err == nil
		case ch == '!' || ch == '\'' || ch == '(' || ch == ')' || ch == '*' || ch == '[' || ch == ']':
			needsEscape = true // url.URL.setPath keeps the raw path then
		}
	}
	u.Path = rest
	if needsEscape {
		u.RawPath = rest
	}
	return u, true
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// trimOWSBytes trims spaces and tabs off both ends of b.
func trimOWSBytes(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// canonicalizeKey makes a header field name canonical in place, as
// textproto.CanonicalMIMEHeaderKey does with a token.
func canonicalizeKey(k []byte) {
	upper := true
	for i, ch := range k {
		switch {
		case upper && 'a' <= ch && ch <= 'z':
			ch -= 'a' - 'A'
		case !upper && 'A' <= ch && ch <= 'Z':
			ch += 'a' - 'A'
		}
		k[i] = ch
		upper = ch == '-'
	}
}

// toArena copies b into the connection's arena and returns the copy. The
// arena's bytes are written once: a full arena is left to the strings that
// point into it, and a new one is made.
func (c *fastConn) toArena(b []byte) []byte {
	if cap(c.arena)-len(c.arena) < len(b) {
		c.arena = make([]byte, 0, max(arenaSize, len(b)))
	}
	n := len(c.arena)
	c.arena = append(c.arena, b...)
	return c.arena[n:len(c.arena):len(c.arena)]
}

// str returns b, which is in the arena, as a string.
func (c *fastConn) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// appendDate appends now as an HTTP date, formatted once a second.
func (c *fastConn) appendDate(b []byte, now time.Time) []byte {
	if sec := now.Unix(); sec != c.dateSec || c.date == nil {
		c.dateSec = sec
		c.date = now.UTC().AppendFormat(c.date[:0], http.TimeFormat)
	}
	return append(b, c.date...)
}

// write writes the response at now: head, with the body if it is small,
// then the body. A write that makes no progress for writeTimeout fails, as the
// guard's. Over plain TCP, the deadline set for an earlier response is
// kept while it is at most deadlineSlack early, and moved to the exact
// time if it fires.
func (c *fastConn) write(head, body []byte, now time.Time) error {
	exact := now.Add(c.f.p.lim.writeTimeout)
	if c.isTLS || c.wd.IsZero() || c.wd.After(exact) || exact.Sub(c.wd) >= deadlineSlack {
		if err := c.w.SetWriteDeadline(exact); err != nil {
			return err
		}
		c.wd = exact
	}
	c.iov = [2][]byte{head, body}
	c.bufs = c.iov[:1]
	if len(body) > 0 {
		c.bufs = c.iov[:2]
	}
	for {
		var err error
		if len(c.bufs) == 1 {
			var n int
			n, err = c.w.Write(c.bufs[0])
			c.bufs[0] = c.bufs[0][n:]
		} else {
			_, err = c.bufs.WriteTo(c.w) // writev, consuming what it writes
		}
		if err == nil {
			c.iov = [2][]byte{}
			return nil
		}
		var ne net.Error
		if c.isTLS || !errors.As(err, &ne) || !ne.Timeout() || !time.Now().Before(exact) {
			c.iov = [2][]byte{}
			return err
		}
		if err := c.w.SetWriteDeadline(exact); err != nil {
			return err
		}
		c.wd = exact
	}
}

// renderedHead is a hit's response head as net/http writes it on the slow
// path, rendered once per entry and second: the status line and the header
// fields, in net/http's order, with a placeholder X-Amz-Cf-Id at idAt.
// Date, when the response has none, Connection and the empty line are
// added per request.
type renderedHead struct {
	status      int
	block       []byte
	idAt        int
	needDate    bool // net/http adds the current Date
	bodyAllowed bool // false for a 304
	xCache      string
}

// renderedHeads are the heads rendered for one hit's entry and second (see
// httpcache.Hit.Rendered), for one pipeline's stamp and one response
// headers policy: with the entry's own status, and 304.
type renderedHeads struct {
	pop    string
	policy *respheaders.Policy
	heads  [2]atomic.Pointer[renderedHead]
}

// idPlaceholder stands for X-Amz-Cf-Id in rendered heads.
var idPlaceholder = string(bytes.Repeat([]byte{'0'}, idLen))

// rendered returns the head of hit's response under policy pol, rendering
// it if no request has in the same second, or nil if the fast path cannot
// answer with it.
func (f *fastPath) rendered(hit httpcache.Hit, pol *respheaders.Policy) *renderedHead {
	set, _ := hit.Rendered().(*renderedHeads)
	if set == nil || set.pop != f.p.pop[0] || set.policy != pol {
		set = &renderedHeads{pop: f.p.pop[0], policy: pol}
		hit.SetRendered(set)
	}
	i := 0
	if hit.Status() == http.StatusNotModified {
		i = 1
	}
	if rh := set.heads[i].Load(); rh != nil && rh.status == hit.Status() {
		return rh
	}
	rh := f.render(hit, pol)
	if rh != nil {
		set.heads[i].Store(rh)
	}
	return rh
}

// render renders hit's response head as the slow path writes it: the
// cache's fields, the response headers policy, the pipeline's stamp, then
// net/http's rules, all by the same code. It returns nil for a response
// whose head net/http would make depend on more than the hit (no
// Content-Length, a sniffed Content-Type, Connection, Transfer-Encoding,
// trailers, a status without a body other than 304).
func (f *fastPath) render(hit httpcache.Hit, pol *respheaders.Policy) *renderedHead {
	status := hit.Status()
	hd := make(http.Header, 24)
	hit.Header(hd)
	if pol != nil && !pol.ApplyStatic(hd) {
		return nil
	}
	rw := &responseWriter{ResponseWriter: &headerRecorder{h: hd}, p: f.p, via: f.p.via11}
	rw.id[0] = idPlaceholder
	rw.WriteHeader(status)

	// net/http's chunkWriter.writeHeader, for a response whose handler
	// set Content-Length (or a 304), to a GET or HEAD without a body.
	if _, ok := hd["Connection"]; ok {
		return nil
	}
	if _, ok := hd["Transfer-Encoding"]; ok {
		return nil
	}
	if _, ok := hd["Trailer"]; ok {
		return nil
	}
	for k := range hd {
		if len(k) >= len(http.TrailerPrefix) && k[:len(http.TrailerPrefix)] == http.TrailerPrefix {
			return nil
		}
	}
	rh := &renderedHead{status: status, bodyAllowed: status != http.StatusNotModified}
	switch {
	case status == http.StatusNotModified:
		for _, k := range [...]string{"Content-Type", "Content-Length", "Transfer-Encoding"} {
			delete(hd, k)
		}
	case status < 200 || status == http.StatusNoContent:
		return nil
	default:
		body := hit.Body()
		if cl := hd["Content-Length"]; len(cl) != 1 || cl[0] != strconv.Itoa(len(body)) {
			return nil
		}
		if _, ok := hd["Content-Type"]; !ok && hd.Get("Content-Encoding") == "" && len(body) > 0 {
			return nil // sniffed for a GET, not for a HEAD
		}
	}
	_, hasDate := hd["Date"]
	rh.needDate = !hasDate
	rh.xCache = hd.Get("X-Cache")

	var b bytes.Buffer
	b.WriteString("HTTP/1.1 ")
	if text := http.StatusText(status); text != "" {
		b.WriteString(strconv.Itoa(status))
		b.WriteByte(' ')
		b.WriteString(text)
		b.WriteString("\r\n")
	} else {
		fmt.Fprintf(&b, "%03d status code %d\r\n", status, status)
	}
	hd.WriteSubset(&b, nil)
	rh.block = b.Bytes()
	// Header values hold no CR or LF once written: the field is where
	// its name follows a line end.
	at := bytes.Index(rh.block, []byte("\r\nX-Amz-Cf-Id: "+idPlaceholder+"\r\n"))
	if at < 0 {
		return nil
	}
	rh.idAt = at + len("\r\nX-Amz-Cf-Id: ")
	return rh
}

// headerRecorder is the ResponseWriter that render stamps the header in.
type headerRecorder struct{ h http.Header }

func (r *headerRecorder) Header() http.Header         { return r.h }
func (r *headerRecorder) WriteHeader(int)             {}
func (r *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }

// fastConns are a listener's connections on the fast path. It hands those
// that leave it to net/http, and stops them when the listener stops.
type fastConns struct {
	fp    *fastPath
	ready chan<- net.Conn
	done  <-chan struct{} // closed with the listener
	wg    sync.WaitGroup  // the connections' goroutines

	mu       sync.Mutex
	conns    map[*fastConn]struct{}
	stopMode int32 // the stop request for connections that come later
}

// serve runs conn, whose guard is g, on the fast path in the caller's
// goroutine, then hands it to net/http if it is still open.
func (fc *fastConns) serve(conn net.Conn, g *guardConn) {
	c := fc.fp.newConn(conn, g)
	fc.mu.Lock()
	mode := fc.stopMode
	if mode == stopNone {
		fc.conns[c] = struct{}{}
	}
	fc.mu.Unlock()
	switch mode {
	case stopClose:
		conn.Close()
		return
	case stopNone:
		handover := c.serve()
		fc.mu.Lock()
		delete(fc.conns, c)
		fc.mu.Unlock()
		if !handover {
			return
		}
	}
	// Off the set, no stop reaches the guard any more: its reads are
	// net/http's.
	c.endFast()
	select {
	case fc.ready <- conn:
	case <-fc.done:
		conn.Close()
	}
}

// stop asks every connection on the fast path to stop (stopHandover or
// stopClose), interrupting those that wait for a request, and the
// connections that come later not to start.
func (fc *fastConns) stop(mode int32) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.stopMode == stopClose {
		return
	}
	fc.stopMode = mode
	for c := range fc.conns {
		c.stop.Store(mode)
		c.g.abortRead()
	}
}

// A runBudget tells when a connection's goroutine has served requests
// back to back, without waiting for one, for long enough to yield.
//
// Yielding after every response instead (runtime.Gosched) puts the
// goroutine on the global run queue, behind which it waits while the
// goroutines that the network poller readies run from the local one:
// under load that made the 99th percentile 5–8 ms against a median of
// 0.6 ms. A goroutine that waits for its next request gives way anyway.
type runBudget struct {
	from time.Time // when the current run of requests began
	last time.Time // when the last response was written
}

const (
	// runGap is a pause between one response and the next request's
	// start that counts as a wait: far longer than parsing a buffered
	// head, far shorter than a round trip through the poller.
	runGap = 20 * time.Microsecond
	// maxRun is how long a goroutine serves back to back before it
	// yields: ~100 hits of 1 KiB.
	maxRun = time.Millisecond
)

// started records that a request's handling starts at now.
func (b *runBudget) started(now time.Time) {
	if now.Sub(b.last) > runGap {
		b.from = now
	}
}

// ended records that a response was written at now.
func (b *runBudget) ended(now time.Time) { b.last = now }

// long reports whether the current run has lasted maxRun.
func (b *runBudget) long() bool { return b.last.Sub(b.from) >= maxRun }

// yielded starts a new run.
func (b *runBudget) yielded() { b.from = b.last }
