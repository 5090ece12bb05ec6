package origin

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"sync"
	"time"
)

// h1Client sends an origin's GET and HEAD requests without a body over
// HTTP/1.1, on the goroutine that makes the request: what most origin
// requests are (cache misses, revalidations), at a fraction of
// net/http's cost, which hands every request and response between
// goroutines of its own. The Proxy sends all other requests over the
// transport's *http.Transport.
//
// A round trip takes the most recently used idle connection (after
// checking, without waiting, that the origin neither closed it nor sent
// anything on it while it was idle) or dials a new one, as the
// http.Transport does; writes the request head in one write; and reads
// the response with http.ReadResponse, which validates it and frames its
// body as net/http's client does. The response head is bounded as the
// http.Transport bounds it (maxResponseHeaderBytes). The connection goes
// back to the idle pool once the body is read to its end, if the response
// lets it be reused and nothing follows it; a body closed before its end
// closes it. The request's context ending (the viewer gone, the response
// completion timeout) makes a blocked read or write fail at once, through
// the connection's deadlines.
//
// It calls the request's httptrace hooks that the Proxy uses: the
// dialer's DNS and connect hooks, TLSHandshakeStart and TLSHandshakeDone,
// GotConn, WroteRequest, GotFirstResponseByte and Got1xxResponse.
type h1Client struct {
	tr   *transport
	bufs sync.Pool // *[]byte request heads

	mu      sync.Mutex
	idle    []*h1Conn   // the most recently used last
	reaper  *time.Timer // closes the connections idle for longer than keepalive
	reaping bool        // reaper is set
}

// Limits of the h1Client.
const (
	// max1xxResponses bounds the informational responses before the
	// final one, as net/http did before Go 1.24 (it now bounds only their
	// size, when it does not pass them on).
	max1xxResponses = 5
	// headBufSize is the starting size of a request head buffer, and
	// maxHeadBuf the largest kept for another request.
	headBufSize = 1 << 10
	maxHeadBuf  = 64 << 10
	// readBufSize is the size of a connection's bufio.Reader, as
	// net/http's.
	readBufSize = 4 << 10
)

// Errors of the h1Client. None is transient: the request is not sent
// again.
var (
	errHeadTooLarge = errors.New("the origin's status line and header fields exceed 20,480 bytes")
	errTooMany1xx   = errors.New("the origin sent more than 5 informational (1xx) responses")
	errBodyClosed   = errors.New("read on a closed origin response body")
	errNotH1        = errors.New("the HTTP/1.1 origin client sends only GET and HEAD requests without a body")
)

func newH1Client(tr *transport) *h1Client {
	c := &h1Client{tr: tr}
	c.bufs.New = func() any {
		b := make([]byte, 0, headBufSize)
		return &b
	}
	return c
}

// RoundTrip sends req, a GET or HEAD without a body, and returns the
// response, whose body must be closed. It does not retry, except a
// request that failed on a reused idle connection before any byte of a
// response came (the origin closed it meanwhile): that one goes again on
// a new connection, as net/http's does.
func (c *h1Client) RoundTrip(req *http.Request) (*http.Response, error) {
	if (req.Method != http.MethodGet && req.Method != http.MethodHead) || (req.Body != nil && req.Body != http.NoBody) {
		return nil, errNotH1
	}
	bp := c.bufs.Get().(*[]byte)
	defer c.putBuf(bp)
	head, err := appendRequest((*bp)[:0], req)
	*bp = head
	if err != nil {
		return nil, err
	}
	ctx := req.Context()
	trace := httptrace.ContextClientTrace(ctx)
	for fresh := false; ; fresh = true {
		pc, err := c.conn(ctx, trace, fresh)
		if err != nil {
			return nil, err
		}
		resp, early, err := pc.roundTrip(ctx, req, head, trace)
		if err == nil || !early || !pc.reused || fresh || isTimeout(err) || ctx.Err() != nil {
			return resp, err
		}
	}
}

func (c *h1Client) putBuf(bp *[]byte) {
	if cap(*bp) <= maxHeadBuf {
		c.bufs.Put(bp)
	}
}

// conn returns an idle connection, unless fresh is set, or a new one, and
// reports it to trace's GotConn.
func (c *h1Client) conn(ctx context.Context, trace *httptrace.ClientTrace, fresh bool) (*h1Conn, error) {
	for !fresh {
		pc, idle := c.take()
		if pc == nil {
			break
		}
		if pc.stale() {
			pc.close()
			continue
		}
		if trace != nil && trace.GotConn != nil {
			trace.GotConn(httptrace.GotConnInfo{Conn: pc.tc, Reused: true, WasIdle: true, IdleTime: idle})
		}
		return pc, nil
	}
	pc, err := c.dial(ctx, trace)
	if err != nil {
		return nil, err
	}
	if trace != nil && trace.GotConn != nil {
		trace.GotConn(httptrace.GotConnInfo{Conn: pc.tc})
	}
	return pc, nil
}

// dial opens a new connection: TCP, then the TLS handshake, each within
// the origin's connection timeout.
func (c *h1Client) dial(ctx context.Context, trace *httptrace.ClientTrace) (*h1Conn, error) {
	ic, err := c.tr.dial(ctx, c.tr.addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(ic, c.tr.tls)
	if trace != nil && trace.TLSHandshakeStart != nil {
		trace.TLSHandshakeStart()
	}
	hctx, cancel := context.WithTimeout(ctx, c.tr.key.connect)
	err = tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		ic.Close()
		if trace != nil && trace.TLSHandshakeDone != nil {
			trace.TLSHandshakeDone(tls.ConnectionState{}, err)
		}
		return nil, err
	}
	state := tc.ConnectionState()
	if trace != nil && trace.TLSHandshakeDone != nil {
		trace.TLSHandshakeDone(state, nil)
	}
	pc := &h1Conn{client: c, ic: ic, tc: tc, state: &state, abort: ic.abort}
	pc.head.r = tc
	pc.br = bufio.NewReaderSize(&pc.head, readBufSize)
	ic.poll = newPoller(ic.Conn)
	return pc, nil
}

// take returns the most recently used idle connection and how long it was
// idle, or nil.
func (c *h1Client) take() (*h1Conn, time.Duration) {
	now := time.Now()
	c.mu.Lock()
	n := len(c.idle)
	if n == 0 {
		c.mu.Unlock()
		return nil, 0
	}
	pc := c.idle[n-1]
	idle := now.Sub(pc.idleAt)
	if idle >= c.tr.key.keepalive {
		// It and all the older ones expired: the reaper is late.
		expired := c.idle
		c.idle = nil
		c.mu.Unlock()
		for _, pc := range expired {
			pc.close()
		}
		return nil, 0
	}
	c.idle[n-1] = nil
	c.idle = c.idle[:n-1]
	c.mu.Unlock()
	pc.reused = true
	return pc, idle
}

// put adds pc to the idle connections, or closes it when there are
// maxIdleConnsPerHost already.
func (c *h1Client) put(pc *h1Conn) {
	pc.idleAt = time.Now()
	c.mu.Lock()
	if len(c.idle) >= maxIdleConnsPerHost {
		c.mu.Unlock()
		pc.close()
		return
	}
	c.idle = append(c.idle, pc)
	if !c.reaping {
		c.reaping = true
		if c.reaper == nil {
			c.reaper = time.AfterFunc(c.tr.key.keepalive, c.reap)
		} else {
			c.reaper.Reset(c.tr.key.keepalive)
		}
	}
	c.mu.Unlock()
}

// reap closes the connections that have been idle for keepalive, and sets
// the reaper again for the oldest of the others. The timer, while set,
// keeps the client and its transport alive: the registry's entry lives
// as long as its idle connections.
func (c *h1Client) reap() {
	now := time.Now()
	c.mu.Lock()
	i := 0
	for i < len(c.idle) && now.Sub(c.idle[i].idleAt) >= c.tr.key.keepalive {
		i++
	}
	expired := make([]*h1Conn, i)
	copy(expired, c.idle)
	n := copy(c.idle, c.idle[i:])
	clear(c.idle[n:])
	c.idle = c.idle[:n]
	if n > 0 {
		c.reaper.Reset(c.idle[0].idleAt.Add(c.tr.key.keepalive).Sub(now))
	} else {
		c.reaping = false
	}
	c.mu.Unlock()
	for _, pc := range expired {
		pc.close()
	}
}

// closeIdle closes every idle connection.
func (c *h1Client) closeIdle() {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, pc := range idle {
		pc.close()
	}
}

// idleCount reports how many connections are idle.
func (c *h1Client) idleCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.idle)
}

// h1Conn is a connection of an h1Client. It carries one request at a
// time, owned by the goroutine that makes it.
type h1Conn struct {
	client *h1Client
	ic     *idleTimeoutConn
	tc     *tls.Conn
	state  *tls.ConnectionState // the responses' TLS
	head   headReader           // what br reads from
	br     *bufio.Reader
	abort  func() // ic.abort, made once for context.AfterFunc
	idleAt time.Time
	reused bool // taken from the idle pool
}

// stale reports whether the idle connection pc cannot carry a request:
// the origin closed it, or sent bytes that answer no request of ours
// (what followed a response, past its end), while it was idle. It reads
// through the TLS connection what its socket holds, without waiting, so
// that bytes the TLS connection holds count too, and a close_notify reads
// as the end it is. Any bytes from the socket make it stale, even a TLS
// record that carried no data: a new connection costs less than a doubt.
func (pc *h1Conn) stale() bool {
	if pc.br.Buffered() > 0 {
		return true
	}
	if pc.ic.poll == nil {
		return false
	}
	pc.ic.polling = true
	_, err := pc.br.Peek(1)
	pc.ic.polling = false
	return !errors.Is(err, os.ErrDeadlineExceeded) || pc.ic.poll.sawBytes()
}

// roundTrip sends the request head and reads the response. early reports
// that it failed before any byte of a response came. On an error, pc is
// closed; otherwise the response's body, or roundTrip itself when there is
// none, hands pc back to the client or closes it.
func (pc *h1Conn) roundTrip(ctx context.Context, req *http.Request, head []byte, trace *httptrace.ClientTrace) (resp *http.Response, early bool, err error) {
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, pc.abort)
	}
	_, err = pc.tc.Write(head)
	if trace != nil && trace.WroteRequest != nil {
		trace.WroteRequest(httptrace.WroteRequestInfo{Err: err})
	}
	if err != nil {
		pc.done(stop, false)
		return nil, true, ioError(ctx, "writing the request", err)
	}

	pc.head.begin()
	if _, err := pc.br.Peek(1); err != nil {
		pc.done(stop, false)
		return nil, true, ioError(ctx, "awaiting the response", err)
	}
	if trace != nil && trace.GotFirstResponseByte != nil {
		trace.GotFirstResponseByte()
	}
	for informational := 0; ; {
		resp, err = http.ReadResponse(pc.br, req)
		if err != nil {
			err = ioError(ctx, "reading the response head", err)
			if pc.head.limit <= 0 && ctx.Err() == nil {
				err = errHeadTooLarge
			}
			pc.done(stop, false)
			return nil, false, err
		}
		code := resp.StatusCode
		if code > 199 || code == http.StatusSwitchingProtocols {
			break
		}
		if informational++; informational > max1xxResponses {
			pc.done(stop, false)
			return nil, false, errTooMany1xx
		}
		if trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
				pc.done(stop, false)
				return nil, false, err
			}
			// Passed on: the next head gets a limit of its own, as
			// with net/http.
			pc.head.limit = maxResponseHeaderBytes
		}
	}
	reuse := !resp.Close && !req.Close && resp.ProtoAtLeast(1, 1) && resp.StatusCode >= 200 &&
		!(isChunked(resp.TransferEncoding) && pc.head.framedTwice())
	pc.head.end()
	resp.TLS = pc.state
	if resp.Body == http.NoBody {
		pc.done(stop, reuse)
		return resp, false, nil
	}
	resp.Body = &h1Body{pc: pc, rc: resp.Body, ctx: ctx, stop: stop, reuse: reuse}
	return resp, false, nil
}

// done ends the request on pc: stop, when not nil, stops the abort on the
// request's context ending; then pc goes back to the client when reuse is
// set and the connection is clean, and is closed otherwise.
func (pc *h1Conn) done(stop func() bool, reuse bool) {
	if stop != nil && !stop() {
		reuse = false // the context ended: abort ran
	}
	if reuse && pc.br.Buffered() == 0 && !pc.ic.aborted.Load() {
		pc.reused = false
		pc.client.put(pc)
		return
	}
	pc.close()
}

// close closes the connection: with a TLS close_notify, unless the request
// on it was aborted.
func (pc *h1Conn) close() {
	if pc.ic.aborted.Load() {
		pc.ic.Close()
		return
	}
	pc.tc.Close()
}

// ioError returns the error of a failed read or write: the context's
// when it ended (which aborted the read or write), err otherwise.
func ioError(ctx context.Context, what string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return &h1Error{what: what, err: err}
}

// h1Error is an I/O failure of the h1Client.
type h1Error struct {
	what string
	err  error
}

func (e *h1Error) Error() string { return e.what + ": " + e.err.Error() }
func (e *h1Error) Unwrap() error { return e.err }

func isChunked(te []string) bool { return len(te) > 0 && te[0] == "chunked" }

// h1Body is the body of a response of the h1Client. Read it to its end, or
// Close it; Read and Close must not be called concurrently.
type h1Body struct {
	pc    *h1Conn       // nil once done with
	rc    io.ReadCloser // the body as http.ReadResponse framed it
	ctx   context.Context
	stop  func() bool
	reuse bool  // the response lets the connection carry another request
	err   error // what Read returns once done
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.pc == nil {
		return 0, b.err
	}
	n, err := b.rc.Read(p)
	if err != nil {
		pc := b.pc
		b.pc = nil
		if err == io.EOF {
			// The whole body, and its trailers, are read.
			pc.done(b.stop, b.reuse)
		} else {
			if cerr := b.ctx.Err(); cerr != nil {
				err = cerr
			}
			pc.done(b.stop, false)
		}
		b.err = err
	}
	return n, err
}

// Close closes the connection when the body was not read to its end.
func (b *h1Body) Close() error {
	if b.pc != nil {
		pc := b.pc
		b.pc, b.err = nil, errBodyClosed
		pc.done(b.stop, false)
	}
	return nil
}
