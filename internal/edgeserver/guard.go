package edgeserver

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-edge/portico/internal/router"
)

// guardConn is the HTTP/1.x connection that net/http reads viewer requests
// from. It parses the byte stream itself, request head by request head and
// body by body, and hands net/http only heads that it has checked in full:
// a head is held back until its empty line has arrived, so net/http never
// sees a byte of a head that is refused, nor anything after it.
//
// A refused head is replaced by refusedRequest, a request that no viewer
// can send over a guarded connection (its asterisk-form target is itself
// refused), followed by end of file. net/http passes it to the pipeline
// after answering every request before it, and the pipeline answers it with
// the refusal's status and "Connection: close". This is what makes a
// smuggled request unreachable: a check in the handler would come too late
// for a request pipelined behind the one being handled, which net/http has
// already buffered and will parse by its own, laxer, rules.
//
// Bodies are framed exactly as net/http frames them (Content-Length, or
// chunked with CRLF line ends, hexadecimal sizes and ignored extensions),
// so that the guard always knows where the next head starts; a body that
// breaks those rules makes every later read fail, and net/http closes the
// connection. After a head that asks for a protocol upgrade the guard stops
// parsing until the pipeline says whether the connection was hijacked (then
// every byte passes unexamined) or not (then parsing resumes).
//
// The guard also times the viewer: a head must arrive in full within
// readHeaderTimeout of its first byte, and a body may not pause for longer
// than bodyReadTimeout; a write that makes no progress for writeTimeout
// fails.
type guardConn struct {
	net.Conn
	lim *limits

	// The read side, used by one goroutine at a time (net/http's
	// connReader serialises its reads). buf[out:ok] has been checked and
	// is handed to net/http next; buf[ok:] is still being examined.
	buf      []byte
	out, ok  int
	st       guardState
	remain   int64 // bytes left in a Content-Length body or a chunk
	upgrade  bool  // the current message asked for an upgrade
	requests int   // heads accepted on this connection
	rerr     error // a sticky read error from Conn
	syn      int   // bytes of refusedRequest handed out
	scan     int   // head: bytes of buf[ok:] scanned for the empty line
	line     int   // head: start of the current line in buf[ok:]
	skipped  int   // head: empty lines dropped before the request line
	started  bool  // head: its first byte has arrived
	trailer  int   // trailer section: bytes so far
	ownRead  time.Time
	// fast is set while the fast path (fastpath.go) reads the
	// connection's heads instead of net/http: the guard then examines
	// one head at a time, and stops at each head it accepts.
	fast bool
	// idleCaller is set while callerRD is the fast path's idle deadline,
	// which ends when a head begins (net/http too ends its idle
	// deadline once a request begins).
	idleCaller bool

	refusal atomic.Pointer[answer] // why the head was refused
	linger  atomic.Bool            // refused or broken: Close lingers
	resolve atomic.Int32           // the pipeline's verdict on an upgrade

	mu       sync.Mutex // guards the deadlines below and their application
	callerRD time.Time  // read deadline set by net/http (or the fast path)
	ownRD    time.Time  // read deadline of the guard's own timers
	callerWD time.Time
	aborted  bool // abortRead: reads fail at once until resumeRead
}

type guardState uint8

const (
	stHead      guardState = iota // before or inside a request head
	stBody                        // inside a Content-Length body
	stChunkSize                   // expecting a chunk-size line
	stChunkData                   // inside a chunk's data
	stChunkCRLF                   // expecting the CRLF after a chunk's data
	stTrailer                     // inside the trailer section of a chunked body
	stPending                     // after an upgrade request, until the pipeline decides
	stPass                        // upgraded: bytes pass unexamined
	stRefused                     // a head was refused: hand out refusedRequest, then EOF
	stBroken                      // a body broke the framing rules: fail every read
)

// Verdicts on an upgrade request, from the pipeline to the guard.
const (
	upgradeNone int32 = iota
	upgradeRefused
	upgradeHijacked
)

// refusedRequest stands for a refused head. Its asterisk-form target never
// reaches net/http from a viewer on a guarded connection.
const refusedRequest = "GET * HTTP/1.1\r\nHost: refused.portico.invalid\r\n\r\n"

// Sizes of the guard's buffer and of what it accepts in bodies.
const (
	guardBufSize     = 4 << 10
	maxChunkLine     = 1024    // chunk size and extensions (net/http: 4,096)
	maxTrailerBytes  = 4 << 10 // the trailer section (net/http: about 4 KiB)
	maxPendingBytes  = 64 << 10
	maxMethodLen     = 32
	lingerTime       = 500 * time.Millisecond
	maxLingerBytes   = 256 << 10
	connectionClose  = "Connection: close\r\n"
	maxContentDigits = 18 // fits in an int64
)

// errBadChunk fails the reads of a connection whose chunked body broke the
// framing rules.
var errBadChunk = errors.New("edgeserver: malformed chunked request body")

// errPendingOverflow fails the reads of a connection whose viewer sent too
// much after an upgrade request before the answer to it.
var errPendingOverflow = errors.New("edgeserver: too many bytes sent ahead of an upgrade")

func newGuardConn(c net.Conn, lim *limits) *guardConn {
	return &guardConn{Conn: c, lim: lim}
}

// tlsGuardConn is a guardConn over TLS. Its ConnectionState lets net/http
// set Request.TLS.
type tlsGuardConn struct {
	*guardConn
	tls *tls.Conn
}

// ConnectionState returns the TLS connection's state.
func (c *tlsGuardConn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }

// guardOf returns the guardConn under c, if any.
func guardOf(c net.Conn) *guardConn {
	switch g := c.(type) {
	case *guardConn:
		return g
	case *tlsGuardConn:
		return g.guardConn
	}
	return nil
}

// Read hands net/http the bytes it has checked.
func (g *guardConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if g.out < g.ok {
			n := copy(p, g.buf[g.out:g.ok])
			g.out += n
			g.compact()
			return n, nil
		}
		switch g.st {
		case stRefused:
			if g.syn == len(refusedRequest) {
				return 0, io.EOF
			}
			n := copy(p, refusedRequest[g.syn:])
			g.syn += n
			return n, nil
		case stBroken:
			return 0, g.rerr
		case stPass:
			if g.out < len(g.buf) {
				n := copy(p, g.buf[g.out:])
				g.out += n
				return n, nil
			}
			return g.Conn.Read(p)
		case stPending:
			switch g.resolve.Swap(upgradeNone) {
			case upgradeRefused:
				g.st = stHead
				g.advance()
				continue
			case upgradeHijacked:
				g.st = stPass
				continue
			}
		case stBody, stChunkData:
			if g.out == len(g.buf) && g.rerr == nil {
				return g.readBody(p)
			}
		}
		if err := g.fill(); err != nil {
			return 0, err
		}
	}
}

// readBody reads body bytes straight into p, when nothing is buffered.
func (g *guardConn) readBody(p []byte) (int, error) {
	if int64(len(p)) > g.remain {
		p = p[:g.remain]
	}
	g.setOwnRead(time.Now().Add(g.lim.bodyReadTimeout))
	n, err := g.Conn.Read(p)
	g.remain -= int64(n)
	if g.remain == 0 {
		if g.st == stBody {
			g.endMessage()
		} else {
			g.st = stChunkCRLF
		}
	}
	if err == io.EOF && n > 0 {
		g.rerr, err = err, nil
	}
	return n, err
}

// fill reads more bytes from the viewer into buf and examines them.
func (g *guardConn) fill() error {
	if g.rerr != nil {
		return g.rerr
	}
	switch g.st {
	case stHead:
		if !g.started && (g.ok < len(g.buf) || g.skipped > 0) {
			g.startHead()
		}
		if !g.started {
			g.setOwnRead(time.Time{}) // idle: net/http's deadlines apply
		}
	case stPending, stPass:
		g.setOwnRead(time.Time{})
		if len(g.buf)-g.out >= maxPendingBytes {
			g.linger.Store(true)
			g.st, g.rerr = stBroken, errPendingOverflow
			return g.rerr
		}
	default:
		g.setOwnRead(time.Now().Add(g.lim.bodyReadTimeout))
	}
	if cap(g.buf)-len(g.buf) < 512 {
		g.grow()
	}
	end := len(g.buf)
	n, err := g.Conn.Read(g.buf[end:cap(g.buf)])
	g.buf = g.buf[:end+n]
	g.advance()
	if n > 0 && g.st == stHead && !g.started && (g.ok < len(g.buf) || g.skipped > 0) {
		// A head began with this read and has not ended: from now, it
		// has readHeaderTimeout to. (A head that arrived whole needs no
		// timer, which spares two deadline changes per request.)
		g.startHead()
	}
	if err != nil {
		var ne net.Error
		if n > 0 && errors.As(err, &ne) && ne.Timeout() {
			return nil // timeouts are not sticky: net/http aborts reads with them
		}
		if n > 0 {
			g.rerr = err
			return nil
		}
		if !(errors.As(err, &ne) && ne.Timeout()) {
			g.rerr = err
		}
		return err
	}
	return nil
}

// startHead starts the timer of a head whose first bytes have arrived.
// The fast path's idle deadline ends there.
func (g *guardConn) startHead() {
	g.started = true
	t := time.Now().Add(g.lim.readHeaderTimeout)
	g.ownRead = t
	g.mu.Lock()
	g.ownRD = t
	if g.idleCaller {
		g.callerRD, g.idleCaller = time.Time{}, false
	}
	g.applyReadDeadline()
	g.mu.Unlock()
}

// grow makes room in buf, first by dropping what has been handed out.
func (g *guardConn) grow() {
	if g.buf == nil {
		g.buf = make([]byte, 0, guardBufSize)
		return
	}
	if g.out > 0 {
		n := copy(g.buf, g.buf[g.out:])
		g.buf = g.buf[:n]
		g.ok -= g.out
		g.out = 0
		if cap(g.buf)-len(g.buf) >= 512 {
			return
		}
	}
	g.buf = slices.Grow(g.buf, cap(g.buf))
}

// compact empties buf once everything in it has been handed out, and lets a
// buffer grown for a large head go.
func (g *guardConn) compact() {
	if g.out == len(g.buf) {
		if cap(g.buf) > guardBufSize {
			g.buf = nil
		} else {
			g.buf = g.buf[:0]
		}
		g.out, g.ok = 0, 0
	}
}

// advance examines buf[ok:] in the current state, moving ok past what it
// accepts, until it needs more bytes or stops parsing.
func (g *guardConn) advance() {
	for g.ok < len(g.buf) {
		switch g.st {
		case stHead:
			if !g.advanceHead() || g.fast {
				return
			}
		case stBody, stChunkData:
			n := min(int64(len(g.buf)-g.ok), g.remain)
			g.ok += int(n)
			g.remain -= n
			if g.remain == 0 {
				if g.st == stBody {
					g.endMessage()
				} else {
					g.st = stChunkCRLF
				}
			}
		case stChunkCRLF:
			if len(g.buf)-g.ok < 2 {
				if g.buf[g.ok] != '\r' {
					g.breakBody()
				}
				return
			}
			if g.buf[g.ok] != '\r' || g.buf[g.ok+1] != '\n' {
				g.breakBody()
				return
			}
			g.ok += 2
			g.st = stChunkSize
		case stChunkSize:
			rest := g.buf[g.ok:]
			i := bytes.IndexByte(rest[:min(len(rest), maxChunkLine+2)], '\n')
			if i < 0 {
				if len(rest) > maxChunkLine+1 {
					g.breakBody()
				}
				return
			}
			size, ok := parseChunkLine(rest[:i+1])
			if !ok {
				g.breakBody()
				return
			}
			g.ok += i + 1
			if size == 0 {
				g.st, g.trailer = stTrailer, 0
			} else {
				g.st, g.remain = stChunkData, size
			}
		case stTrailer:
			rest := g.buf[g.ok:]
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				if g.trailer+len(rest) > maxTrailerBytes {
					g.breakBody()
				}
				return
			}
			line := rest[:i+1]
			g.trailer += len(line)
			if g.trailer > maxTrailerBytes || !bytes.HasSuffix(line, crlf) {
				g.breakBody()
				return
			}
			g.ok += len(line)
			if len(line) == 2 {
				g.endMessage()
				continue
			}
			if _, _, ok := parseField(line[:len(line)-2]); !ok {
				g.breakBody()
				return
			}
		default:
			return
		}
	}
}

var crlf = []byte("\r\n")

// breakBody stops the connection at a body that breaks the framing rules.
func (g *guardConn) breakBody() {
	g.linger.Store(true)
	g.st, g.rerr = stBroken, errBadChunk
	g.buf = g.buf[:g.ok]
}

// endMessage is the end of a request: the next head follows, or after an
// upgrade request, the pipeline's verdict.
func (g *guardConn) endMessage() {
	g.st = stHead
	if g.upgrade {
		g.st = stPending
	}
	g.upgrade = false
}

// advanceHead scans for the end of the head at buf[ok:]. It reports
// whether it accepted a head; if not, it needs more bytes or has refused.
func (g *guardConn) advanceHead() bool {
	// RFC 9112 §2.2: empty lines before the request line are ignored.
	for g.scan == 0 && len(g.buf)-g.ok >= 2 && g.buf[g.ok] == '\r' && g.buf[g.ok+1] == '\n' {
		g.skipped += 2
		g.dropAt(g.ok, 2)
		if g.skipped > MaxHeaderBytes {
			g.refuse(errHeadTooLarge)
			return false
		}
	}
	b := g.buf[g.ok:]
	for i := g.scan; i < len(b); i++ {
		switch b[i] {
		case '\n':
			if i == 0 || b[i-1] != '\r' {
				g.refuse(errBareLF)
				return false
			}
			if i-1 == g.line {
				return g.acceptHead(i + 1)
			}
			g.line = i + 1
		case '\r':
			if i+1 < len(b) && b[i+1] != '\n' {
				g.refuse(errBareCR)
				return false
			}
		}
	}
	g.scan = len(b)
	if len(b) > 0 && b[len(b)-1] == '\r' {
		g.scan-- // look at it again with the byte after it
	}
	if len(b)+g.skipped > MaxHeaderBytes {
		g.refuse(headTooLarge(b, g.line))
		return false
	}
	if g.line == 0 && len(b) > MaxURLBytes+maxMethodLen+len(" HTTP/1.1\r\n") {
		g.refuse(headTooLarge(b, 0))
		return false
	}
	return false
}

// headTooLarge is the answer to a head that has grown past a limit without
// ending: 414 if its request line is still arriving with a target over the
// URL quota, 413 otherwise.
func headTooLarge(head []byte, line int) *answer {
	if line == 0 {
		sp := bytes.IndexByte(head[:min(len(head), maxMethodLen+1)], ' ')
		switch {
		case sp < 0:
			return errMalformed
		case len(head)-sp-1 > MaxURLBytes:
			return errURITooLong
		}
	}
	return errHeadTooLarge
}

// dropAt removes n bytes at i from buf.
func (g *guardConn) dropAt(i, n int) {
	if g.out == i {
		g.out += n
		g.ok += n
		return
	}
	copy(g.buf[i:], g.buf[i+n:])
	g.buf = g.buf[:len(g.buf)-n]
}

// acceptHead checks the complete head buf[ok:ok+n] and, if it passes,
// hands it to net/http and sets up its body.
func (g *guardConn) acceptHead(n int) bool {
	if n+g.skipped > MaxHeaderBytes {
		g.refuse(errHeadTooLarge)
		return false
	}
	h, a := parseHead(g.buf[g.ok : g.ok+n])
	if a != nil {
		g.refuse(a)
		return false
	}
	g.requests++
	if g.requests == g.lim.maxRequestsPerConn {
		// The connection's last request: net/http closes after answering.
		g.buf = slices.Insert(g.buf, g.ok+n-2, []byte(connectionClose)...)
		n += len(connectionClose)
	}
	g.ok += n
	g.scan, g.line, g.skipped, g.started = 0, 0, 0, false
	g.setOwnRead(time.Time{})
	g.upgrade = h.upgrade
	switch {
	case h.chunked:
		g.st = stChunkSize
	case h.contentLength > 0:
		g.st, g.remain = stBody, h.contentLength
	default:
		g.endMessage()
	}
	return true
}

// refuse replaces the head at buf[ok:] and everything after it with
// refusedRequest.
func (g *guardConn) refuse(a *answer) {
	g.refusal.Store(a)
	g.linger.Store(true)
	g.st = stRefused
	g.buf = g.buf[:g.ok]
	g.setOwnRead(time.Time{})
}

// upgradeDone tells the guard that the upgrade request it holds parsing
// for was answered without a hijack: parsing resumes.
func (g *guardConn) upgradeDone() { g.resolve.CompareAndSwap(upgradeNone, upgradeRefused) }

// hijacked tells the guard that its connection was hijacked for an
// upgrade: every byte passes from now on.
func (g *guardConn) hijacked() { g.resolve.Store(upgradeHijacked) }

// Write writes a response, failing if the viewer reads none of it for
// writeTimeout.
func (g *guardConn) Write(p []byte) (int, error) {
	g.mu.Lock()
	g.Conn.SetWriteDeadline(earliest(g.callerWD, time.Now().Add(g.lim.writeTimeout)))
	g.mu.Unlock()
	return g.Conn.Write(p)
}

// SetDeadline sets both deadlines, as net.Conn's does.
func (g *guardConn) SetDeadline(t time.Time) error {
	if err := g.SetReadDeadline(t); err != nil {
		return err
	}
	return g.SetWriteDeadline(t)
}

// SetReadDeadline sets net/http's read deadline, which applies together
// with the guard's own.
func (g *guardConn) SetReadDeadline(t time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.callerRD = t
	return g.applyReadDeadline()
}

// applyReadDeadline applies the earlier of the caller's and the guard's
// read deadlines, or one in the past while reads are aborted. g.mu is
// held.
func (g *guardConn) applyReadDeadline() error {
	if g.aborted {
		return g.Conn.SetReadDeadline(aLongTimeAgo)
	}
	return g.Conn.SetReadDeadline(earliest(g.callerRD, g.ownRD))
}

// aLongTimeAgo is a read deadline that makes reads fail at once.
var aLongTimeAgo = time.Unix(1, 0)

// abortRead makes the connection's reads fail at once with a timeout,
// the one in progress included, until resumeRead: the fast path's way of
// stopping a connection that waits for a request (abortReadRequested then
// tells such a timeout apart). It may be called from any goroutine.
func (g *guardConn) abortRead() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.aborted = true
	g.applyReadDeadline()
}

// readAborted reports whether abortRead was called since the last
// resumeRead.
func (g *guardConn) readAborted() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.aborted
}

// resumeRead ends abortRead, restoring the deadlines.
func (g *guardConn) resumeRead() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.aborted = false
	g.applyReadDeadline()
}

// SetWriteDeadline sets net/http's write deadline.
func (g *guardConn) SetWriteDeadline(t time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.callerWD = t
	return g.Conn.SetWriteDeadline(t)
}

// setOwnRead sets the guard's own read deadline (zero for none).
func (g *guardConn) setOwnRead(t time.Time) {
	if t.Equal(g.ownRead) {
		return
	}
	g.ownRead = t
	g.mu.Lock()
	g.ownRD = t
	g.applyReadDeadline()
	g.mu.Unlock()
}

// earliest returns the earlier of two deadlines, the zero time being none.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// CloseWrite shuts down the writing side, when the connection can.
func (g *guardConn) CloseWrite() error {
	if cw, ok := g.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Close closes the connection. After a refusal or a broken body it first
// sends the end of the stream and reads (and drops) what the viewer still
// sends, for a short while: closing with unread bytes would reset the
// connection and could destroy the answer before the viewer reads it.
func (g *guardConn) Close() error {
	if g.linger.Load() {
		if g.CloseWrite() == nil {
			g.mu.Lock()
			g.Conn.SetReadDeadline(time.Now().Add(lingerTime))
			g.mu.Unlock()
			var scratch [4096]byte
			for n := 0; n < maxLingerBytes; {
				m, err := g.Conn.Read(scratch[:])
				n += m
				if err != nil {
					break
				}
			}
		}
	}
	return g.Conn.Close()
}

// head is what the guard needs from a request head.
type head struct {
	chunked       bool
	contentLength int64
	upgrade       bool
}

// parseHead checks a complete request head (ending in an empty line). It
// returns why the head is refused, or nil.
func parseHead(b []byte) (head, *answer) {
	var h head
	b = b[:len(b)-2] // the empty line
	i := bytes.Index(b, crlf)
	reqLine, fields := b[:i], b[i+2:]

	method, target, version, a := parseRequestLine(reqLine)
	if a != nil {
		return h, a
	}
	if string(method) == "CONNECT" {
		return h, errConnect
	}
	var authority []byte
	if target[0] != '/' {
		if authority, a = absoluteAuthority(target); a != nil {
			return h, a
		}
	}
	var (
		hosts, lengths, codings int
		host                    []byte
		te                      []byte
	)
	h.contentLength = -1
	for len(fields) > 0 {
		line := fields
		if j := bytes.Index(fields, crlf); j >= 0 {
			line, fields = fields[:j], fields[j+2:]
		} else {
			fields = nil
		}
		name, value, ok := parseField(line)
		if !ok {
			if line[0] == ' ' || line[0] == '\t' {
				return h, errObsFold
			}
			return h, errBadField
		}
		switch {
		case equalFold(name, "host"):
			hosts++
			host = value
		case equalFold(name, "content-length"):
			lengths++
			n, ok := parseContentLength(value)
			if !ok {
				return h, errBadContentLength
			}
			h.contentLength = n
		case equalFold(name, "transfer-encoding"):
			codings++
			te = value
		case equalFold(name, "upgrade"):
			h.upgrade = true
		}
	}
	switch {
	case hosts > 1:
		return h, errManyHosts
	case hosts == 0 && version == '1':
		return h, errNoHostField
	case hosts == 1 && !validHostPort(host, true):
		return h, errBadHost
	case authority != nil && hosts == 1 && !router.SameHost(string(authority), string(host)):
		return h, errAuthorityMismatch
	case lengths > 1:
		return h, errManyContentLengths
	case codings > 0 && version == '0':
		return h, errTransferEncoding10
	case codings > 1 || codings == 1 && !equalFold(te, "chunked"):
		return h, errTransferEncoding
	case codings == 1 && lengths == 1:
		return h, errLengthAndChunked
	}
	h.chunked = codings == 1
	return h, nil
}

// parseRequestLine splits "method SP target SP HTTP/1.x" and checks its
// parts. version is the minor version digit.
func parseRequestLine(line []byte) (method, target []byte, version byte, a *answer) {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || sp > maxMethodLen {
		return nil, nil, 0, errMalformed
	}
	method, rest := line[:sp], line[sp+1:]
	for _, c := range method {
		if !isTchar(c) {
			return nil, nil, 0, errMalformed
		}
	}
	sp = bytes.LastIndexByte(rest, ' ')
	if sp <= 0 {
		return nil, nil, 0, errMalformed
	}
	target, proto := rest[:sp], rest[sp+1:]
	switch {
	case string(proto) == "HTTP/1.1":
		version = '1'
	case string(proto) == "HTTP/1.0":
		version = '0'
	case len(proto) == 8 && string(proto[:5]) == "HTTP/" && isDigit(proto[5]) && proto[6] == '.' && isDigit(proto[7]):
		return nil, nil, 0, errVersion
	default:
		return nil, nil, 0, errMalformed
	}
	if len(target) > MaxURLBytes {
		return nil, nil, 0, errURITooLong
	}
	query := false
	for i, c := range target {
		switch {
		case c <= ' ' || c == 0x7f || c == '#':
			return nil, nil, 0, errBadTarget
		case c == '?':
			query = true
		case c == '%' && !query && (i+2 >= len(target) || !isHex(target[i+1]) || !isHex(target[i+2])):
			// net/url refuses it too; the query is left as sent.
			return nil, nil, 0, errBadTarget
		}
	}
	if len(target) == 1 && target[0] == '*' {
		return nil, nil, 0, errAsteriskForm
	}
	return method, target, version, nil
}

// absoluteAuthority returns the authority of an absolute-form target
// (http or https, without user information), refusing any other form.
func absoluteAuthority(target []byte) ([]byte, *answer) {
	rest, ok := cutPrefixFold(target, "http://")
	if !ok {
		if rest, ok = cutPrefixFold(target, "https://"); !ok {
			return nil, errBadTarget
		}
	}
	end := bytes.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	auth := rest[:end]
	if len(auth) == 0 || !validHostPort(auth, false) {
		return nil, errBadTarget
	}
	return auth, nil
}

// parseField splits "name: value", checking the name's and the value's
// bytes; value is without the surrounding white space.
func parseField(line []byte) (name, value []byte, ok bool) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return nil, nil, false
	}
	name, value = line[:colon], line[colon+1:]
	for _, c := range name {
		if !isTchar(c) {
			return nil, nil, false
		}
	}
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return nil, nil, false
		}
	}
	return name, bytes.Trim(value, " \t"), true
}

// parseContentLength parses 1*DIGIT.
func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > maxContentDigits {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseChunkLine parses "size[;extensions]CRLF": hexadecimal digits, then
// extensions of visible characters and white space, which are ignored.
func parseChunkLine(line []byte) (int64, bool) {
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return 0, false
	}
	line = line[:len(line)-2]
	var n int64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			goto ext
		}
		if i == 15 {
			return 0, false // over 2^60 bytes
		}
		n = n<<4 | int64(d)
	}
ext:
	if i == 0 {
		return 0, false
	}
	if i < len(line) {
		if line[i] != ';' {
			return 0, false
		}
		for _, c := range line[i+1:] {
			if c < ' ' && c != '\t' || c == 0x7f {
				return 0, false
			}
		}
	}
	return n, true
}

// validHostPort reports whether b is a host name, an IPv4 address or a
// bracketed IPv6 address, in ASCII, with an optional port. An empty Host
// field (emptyOK) is left for the pipeline to answer.
func validHostPort[T ~string | ~[]byte](b T, emptyOK bool) bool {
	if len(b) == 0 {
		return emptyOK
	}
	var port T
	if b[0] == '[' {
		end := 1
		for end < len(b) && b[end] != ']' {
			if c := b[end]; !(isHex(c) || c == ':' || c == '.') {
				return false
			}
			end++
		}
		if end == len(b) {
			return false
		}
		port = b[end+1:]
		if len(port) > 0 {
			if port[0] != ':' {
				return false
			}
			port = port[1:]
		}
	} else {
		i := 0
		for i < len(b) && b[i] != ':' {
			if c := b[i]; !(isAlnum(c) || c == '-' || c == '.' || c == '_') {
				return false
			}
			i++
		}
		if i == 0 || i > router.MaxHostLen+1 {
			return false
		}
		if i < len(b) {
			port = b[i+1:]
		}
	}
	if len(port) > 5 {
		return false
	}
	for i := 0; i < len(port); i++ {
		if !isDigit(port[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }
func isAlnum(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// isTchar reports whether c may appear in a token (RFC 9110 §5.6.2).
func isTchar(c byte) bool {
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return isAlnum(c)
}

// equalFold reports whether b is s, ignoring ASCII case; s is lower-case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func cutPrefixFold(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) || !equalFold(b[:len(prefix)], prefix) {
		return b, false
	}
	return b[len(prefix):], true
}

// The guard's refusals. Each closes the connection.
var (
	errHeadTooLarge = &answer{status: 413, close: true,
		reason: "The request line and headers are longer than 20,480 bytes."}
	errMalformed = &answer{status: 400, close: true,
		reason: "Bad request. The request line is not valid HTTP/1.1."}
	errVersion = &answer{status: 505, close: true,
		reason: "The HTTP version is not supported. Use HTTP/1.1, HTTP/1.0 or, over TLS, HTTP/2."}
	errBadTarget = &answer{status: 400, close: true,
		reason: "Bad request. The request target is not valid."}
	errAsteriskForm = &answer{status: 400, close: true,
		reason: "Bad request. An asterisk-form request target is not served."}
	errConnect = &answer{status: 400, close: true,
		reason: "Bad request. The CONNECT method is not served over HTTP/1.1."}
	errBareLF = &answer{status: 400, close: true,
		reason: "Bad request. A line of the request head ends in a bare LF instead of CRLF."}
	errBareCR = &answer{status: 400, close: true,
		reason: "Bad request. The request head holds a bare CR."}
	errObsFold = &answer{status: 400, close: true,
		reason: "Bad request. Obsolete line folding is not accepted."}
	errBadField = &answer{status: 400, close: true,
		reason: "Bad request. A header field is not valid."}
	errManyHosts = &answer{status: 400, close: true,
		reason: "Bad request. The request has more than one Host header."}
	errNoHostField = &answer{status: 400, close: true,
		reason: "Bad request. An HTTP/1.1 request must have a Host header."}
	errBadHost = &answer{status: 400, close: true,
		reason: "Bad request. The Host header is not a valid host name and port."}
	errAuthorityMismatch = &answer{status: 400, close: true,
		reason: "Bad request. The request target names a different host than the Host header."}
	errBadContentLength = &answer{status: 400, close: true,
		reason: "Bad request. The Content-Length header is not a number."}
	errManyContentLengths = &answer{status: 400, close: true,
		reason: "Bad request. The request has more than one Content-Length header."}
	errTransferEncoding = &answer{status: 400, close: true,
		reason: "Bad request. The only transfer coding accepted is a single chunked."}
	errTransferEncoding10 = &answer{status: 400, close: true,
		reason: "Bad request. An HTTP/1.0 request cannot have a Transfer-Encoding."}
	errLengthAndChunked = &answer{status: 400, close: true,
		reason: "Bad request. The request has both Content-Length and Transfer-Encoding."}
)
