package origin

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// IsExtendedConnect reports whether r opens a WebSocket over HTTP/2 with an
// extended CONNECT (RFC 8441): method CONNECT with the :protocol
// pseudo-header "websocket". The Proxy forwards such a request to the
// origin as an HTTP/1.1 WebSocket upgrade, a GET, and the edge should judge
// it as one (the behaviour's allowed methods), not as a CONNECT. net/http's
// HTTP/2 server accepts extended CONNECT only when the process starts with
// GODEBUG http2xconnect=1 in its environment.
func IsExtendedConnect(r *http.Request) bool {
	if r.Method != http.MethodConnect || r.ProtoMajor < 2 {
		return false
	}
	p := r.Header[":protocol"]
	return len(p) == 1 && len(p[0]) == len("websocket") && equalFoldASCII(p[0], "websocket")
}

// h2WebSocket carries a WebSocket that a viewer opened on an HTTP/2 stream
// with an extended CONNECT, to an origin that speaks HTTP/1.1. The origin
// is sent a GET with Upgrade: websocket and a Sec-WebSocket-Key of
// Portico's own (RFC 8441 has no key); its 101, once its
// Sec-WebSocket-Accept is checked, is answered to the viewer with a 200 on
// the stream (RFC 8441 §5), which then carries the WebSocket's bytes both
// ways.
//
// It is the ResponseWriter that ReverseProxy writes to: an answer other
// than 101 passes through it unchanged, and its Hijack hands over the stream
// as a net.Conn, so that ReverseProxy's own upgrade code copies the bytes.
type h2WebSocket struct {
	http.ResponseWriter
	body     io.ReadCloser // the viewer's side of the stream
	watch    *idleWatch
	local    net.Addr
	remote   net.Addr
	key      string      // the Sec-WebSocket-Key sent to the origin
	header   http.Header // the origin's 101 fields that the viewer gets
	hijacked bool
	spent    http.Header // what Header returns once the 200 is sent
}

// websocketGUID is the constant of the Sec-WebSocket-Accept computation
// (RFC 6455 §1.3).
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func newH2WebSocket(w http.ResponseWriter, r *http.Request, watch *idleWatch) *h2WebSocket {
	var nonce [16]byte
	rand.Read(nonce[:]) // never fails; see crypto/rand.Read
	ws := &h2WebSocket{
		ResponseWriter: w,
		body:           r.Body,
		key:            base64.StdEncoding.EncodeToString(nonce[:]),
		watch:          watch,
		local:          &net.TCPAddr{},
		remote:         &net.TCPAddr{},
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		ws.local = a
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		ws.remote = net.TCPAddrFromAddrPort(ap)
	}
	return ws
}

// upgradeRequest returns the HTTP/1.1 WebSocket upgrade that stands for the
// extended CONNECT r. Its header then goes through the same forwarding
// rules as any WebSocket upgrade.
func (ws *h2WebSocket) upgradeRequest(r *http.Request) *http.Request {
	out := r.Clone(r.Context())
	out.Method = http.MethodGet
	out.Proto, out.ProtoMajor, out.ProtoMinor = "HTTP/1.1", 1, 1
	out.Body, out.ContentLength = http.NoBody, 0
	h := out.Header
	delete(h, ":protocol")
	h.Set("Connection", "Upgrade")
	h.Set("Upgrade", "websocket")
	h.Set("Sec-Websocket-Key", ws.key)
	return out
}

// accept checks the origin's 101 and keeps the fields the viewer's 200
// carries: all but the hop-by-hop ones and Sec-WebSocket-Accept.
func (ws *h2WebSocket) accept(resp *http.Response) error {
	sum := sha1.Sum([]byte(ws.key + websocketGUID))
	if resp.Header.Get("Sec-Websocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return errBadAccept
	}
	h := resp.Header.Clone()
	for _, line := range h["Connection"] {
		for line != "" {
			var name string
			name, line, _ = strings.Cut(line, ",")
			delete(h, http.CanonicalHeaderKey(trimOWS(name)))
		}
	}
	for _, name := range [...]string{"Connection", "Upgrade", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Te", "Trailer", "Sec-Websocket-Accept"} {
		delete(h, name)
	}
	ws.header = h
	return nil
}

// Header is the viewer's response header until the 200 is sent. After it,
// ReverseProxy copies the origin's 101 fields into it, too late to matter:
// they went out with the 200 already.
func (ws *h2WebSocket) Header() http.Header {
	if ws.hijacked {
		if ws.spent == nil {
			ws.spent = make(http.Header)
		}
		return ws.spent
	}
	return ws.ResponseWriter.Header()
}

// Hijack answers the viewer with a 200 carrying the origin's 101 fields and
// returns the stream as a connection. The reader and writer it returns are
// for the 101 that ReverseProxy writes next, in HTTP/1.1 form: it is
// discarded.
func (ws *h2WebSocket) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if ws.header == nil || ws.hijacked {
		return nil, nil, errors.New("origin: no WebSocket to switch to")
	}
	ws.hijacked = true
	h := ws.ResponseWriter.Header()
	for k, v := range ws.header {
		h[k] = v
	}
	ws.ResponseWriter.WriteHeader(http.StatusOK)
	c := &streamConn{w: ws.ResponseWriter, rc: http.NewResponseController(ws.ResponseWriter), body: ws.body,
		watch: ws.watch, local: ws.local, remote: ws.remote}
	if err := c.rc.Flush(); err != nil {
		return nil, nil, err
	}
	ws.watch.add(c)
	return c, bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(io.Discard)), nil
}

// Unwrap returns the viewer's ResponseWriter, for http.ResponseController.
func (ws *h2WebSocket) Unwrap() http.ResponseWriter { return ws.ResponseWriter }

// streamConn is an HTTP/2 stream seen as a connection: it reads the request
// body and writes the response body, flushing each write.
type streamConn struct {
	w      http.ResponseWriter
	rc     *http.ResponseController
	body   io.ReadCloser
	watch  *idleWatch
	local  net.Addr
	remote net.Addr

	// mu is held while writing: once Close has returned, the handler may
	// return, and its ResponseWriter must not be written any more.
	mu     sync.Mutex
	closed bool
}

func (c *streamConn) Read(p []byte) (int, error) {
	n, err := c.body.Read(p)
	if n > 0 {
		c.watch.touch()
	}
	return n, err
}

func (c *streamConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	n, err := c.w.Write(p)
	if err == nil {
		err = c.rc.Flush()
	}
	if n > 0 {
		c.watch.touch()
	}
	return n, err
}

// Close ends the stream's use. A write that the viewer's flow control
// holds up is cut short by resetting the stream.
func (c *streamConn) Close() error {
	err := c.body.Close()
	if !c.mu.TryLock() {
		c.rc.SetWriteDeadline(time.Unix(1, 0)) // in the past: the stream is reset
		c.mu.Lock()
	}
	c.closed = true
	c.mu.Unlock()
	return err
}

func (c *streamConn) LocalAddr() net.Addr  { return c.local }
func (c *streamConn) RemoteAddr() net.Addr { return c.remote }

func (c *streamConn) SetDeadline(t time.Time) error {
	return errors.Join(c.rc.SetReadDeadline(t), c.rc.SetWriteDeadline(t))
}

func (c *streamConn) SetReadDeadline(t time.Time) error  { return c.rc.SetReadDeadline(t) }
func (c *streamConn) SetWriteDeadline(t time.Time) error { return c.rc.SetWriteDeadline(t) }

// upgradeWriter is the ResponseWriter of an HTTP/1.1 WebSocket upgrade: it
// puts the viewer's connection under the WebSocket's idle watch when
// ReverseProxy takes it over.
type upgradeWriter struct {
	http.ResponseWriter
	watch *idleWatch
}

func (u *upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(u.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	wc := &watchedConn{Conn: c, watch: u.watch}
	u.watch.add(wc)
	return wc, brw, nil
}

// Unwrap returns the viewer's ResponseWriter, for http.ResponseController.
func (u *upgradeWriter) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// watchedConn is the viewer's end of a WebSocket over HTTP/1.1.
type watchedConn struct {
	net.Conn
	watch *idleWatch
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.watch.touch()
	}
	return n, err
}

func (c *watchedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.watch.touch()
	}
	return n, err
}

// idleWatch closes both ends of a WebSocket once no data has crossed it,
// in either direction, for its timeout. Unlike a read deadline, it also
// ends a WebSocket whose copying is stuck in a write to a viewer or origin
// that stopped reading.
type idleWatch struct {
	timeout time.Duration
	start   time.Time    // the watch's clock: monotonic
	last    atomic.Int64 // when data last flowed, since start

	mu     sync.Mutex
	timer  *time.Timer // nil until the first end is added
	ends   []io.Closer
	closed bool
}

func newIdleWatch(timeout time.Duration) *idleWatch {
	return &idleWatch{timeout: timeout, start: time.Now()}
}

// touch records that data flowed.
func (w *idleWatch) touch() { w.last.Store(int64(time.Since(w.start))) }

// add puts an end of the WebSocket under the watch, which starts with the
// first.
func (w *idleWatch) add(c io.Closer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		c.Close()
		return
	}
	w.ends = append(w.ends, c)
	if w.timer == nil {
		w.touch()
		w.timer = time.AfterFunc(w.timeout, w.check)
	}
}

// check closes the ends if the WebSocket has been idle for the timeout,
// and otherwise looks again when it could have been.
func (w *idleWatch) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	if idle := time.Since(w.start) - time.Duration(w.last.Load()); idle < w.timeout {
		w.timer.Reset(w.timeout - idle)
		return
	}
	w.closed = true
	for _, c := range w.ends {
		c.Close()
	}
}

// stop ends the watch once the WebSocket is over.
func (w *idleWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.timer != nil {
		w.timer.Stop()
	}
}
