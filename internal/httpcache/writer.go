package httpcache

import (
	"net/http"
	"strconv"

	"github.com/portico-edge/portico/internal/origin"
)

// captureWriter is the ResponseWriter the origin writes a cacheable
// request's response to. It streams the response to the viewer as it comes
// while copying the body, up to a limit, for the cache, unless the
// response headers say it may not be stored (no-store, private, …); when
// the behaviour compresses, both get the compressed stream.
//
// The origin writes headers into a map of its own, copied to the viewer's
// at WriteHeader: the stored response holds the origin's headers only,
// never those the edge set on the viewer's response before the cache ran.
// Some responses are kept from the viewer altogether, and the cache
// answers instead: a 304 to a revalidation (with the refreshed entry), and
// an origin error that a stale entry stands in for. When the viewer's
// preconditions hold against the response, the viewer gets the 304 or 412
// and the body goes to the cache only.
type captureWriter struct {
	w      http.ResponseWriter
	x      *exchange
	header http.Header // the origin's response headers
	limit  int64

	wroteHeader bool
	status      int
	stored      http.Header // header as of WriteHeader, as stored
	notModified bool        // a 304 to a revalidation, not sent on
	errorHeld   bool        // an origin error, not sent on
	quiet       bool        // the viewer got a 304 or 412: the body is for the cache only

	// originLength is the origin's Content-Length (-1 for none), and
	// received the body bytes the origin wrote: a body is stored only
	// when they agree.
	originLength int64
	received     int64
	coding       string  // "gzip" or "br" when compressing
	enc          encoder // the compressor, writing to (*captureOutput)(cw)

	body     []byte
	overflow bool  // body exceeded limit: not kept
	unstored bool  // the response may not be stored: its body is not copied
	err      error // a write to the viewer failed
}

func newCaptureWriter(w http.ResponseWriter, x *exchange, limit int64) *captureWriter {
	return &captureWriter{w: w, x: x, header: make(http.Header), limit: limit, originLength: -1}
}

func (cw *captureWriter) Header() http.Header { return cw.header }

func (cw *captureWriter) WriteHeader(code int) {
	if cw.wroteHeader {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// An informational response (103 Early Hints): pass it on, and
		// keep its fields out of the final response.
		real := cw.w.Header()
		for k, v := range cw.header {
			real[k] = v
		}
		cw.w.WriteHeader(code)
		for k := range cw.header {
			delete(real, k)
		}
		return
	}
	cw.wroteHeader = true
	cw.status = code
	cw.stored = cw.header.Clone()
	if n, err := strconv.ParseInt(headerValue(cw.header, "Content-Length"), 10, 64); err == nil && n >= 0 {
		cw.originLength = n
	}
	x := cw.x
	switch {
	case x.revalidating && code == http.StatusNotModified:
		cw.notModified = true
		return
	case x.staleOnError(code, cw.stored):
		// (The origin proxy's own error page, when OriginError declined:
		// only an origin's error gets here.)
		cw.errorHeld = true
		return
	}
	x.decide(code, cw.stored)
	if x.h.compress && !x.partial && x.r.ProtoAtLeast(1, 1) && compressible(code, cw.stored) {
		// The representation now depends on Accept-Encoding, whether
		// this viewer gets it compressed or not.
		cw.stored["Vary"] = withVary(cw.stored["Vary"], "Accept-Encoding")
		if c := coding(x.h.spec.acceptEncoding(x.r.Header)); c != "" {
			cw.coding = c
			asCompressed(cw.stored, c)
		}
	}
	real := cw.w.Header()
	for k, v := range cw.stored {
		real[k] = v
	}
	for k := range cw.header {
		if _, ok := cw.stored[k]; !ok {
			delete(real, k) // removed by compression
		}
	}
	delete(real, "Cache-Tag") // for the cache only
	if v, ok := real["Vary"]; ok {
		if v = x.h.spec.viewerVary(v); v == nil {
			delete(real, "Vary")
		} else {
			real["Vary"] = v
		}
	}
	if _, ok := cw.header["X-Cache"]; !ok {
		real["X-Cache"] = xCacheMiss
	}
	if code == http.StatusOK && x.h.conditionals && isConditional(x.r) {
		if c := preconditions(x.r, headerValue(real, "Etag"), headerValue(real, "Last-Modified"), headerValue(real, "Date")); c != 0 {
			cw.quiet = true
			withoutBody(real, c)
			x.status.fwdStatus, code = code, c
		}
	}
	real["Cache-Status"] = withCacheStatus(cw.header["Cache-Status"], x.status.String())
	cw.unstored = x.why != ""
	if cw.coding != "" {
		cw.enc = x.h.c.encoders.get(cw.coding, (*captureOutput)(cw))
	}
	switch {
	case cw.unstored:
	case cw.coding != "":
		cw.body = make([]byte, 0, min(cw.originLength/2+512, cw.limit))
	case cw.originLength > 0 && cw.originLength <= cw.limit:
		cw.body = make([]byte, 0, cw.originLength)
	}
	cw.w.WriteHeader(code)
}

func (cw *captureWriter) Write(p []byte) (int, error) {
	if !cw.wroteHeader {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.notModified || cw.errorHeld {
		return len(p), nil
	}
	cw.received += int64(len(p))
	if cw.enc != nil {
		if _, err := cw.enc.Write(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return (*captureOutput)(cw).Write(p)
}

// captureOutput is where the response body goes after compression, if
// any: to the viewer, unless quiet, and to the copy for the cache.
type captureOutput captureWriter

func (o *captureOutput) Write(p []byte) (int, error) {
	cw := (*captureWriter)(o)
	n := len(p)
	if !cw.quiet {
		var err error
		n, err = cw.w.Write(p)
		if err != nil && cw.err == nil {
			cw.err = err
		}
	}
	if !cw.overflow && !cw.unstored {
		if int64(len(cw.body)+n) > cw.limit {
			cw.overflow, cw.body = true, nil
		} else {
			cw.body = append(cw.body, p[:n]...)
		}
	}
	return n, cw.err
}

// OriginError is called by the origin proxy when the origin failed before
// sending a response (origin.ErrorWriter): it answers for it, with the
// stale entry, when one may stand in for an origin that cannot be reached.
// Otherwise the proxy writes its 502 or 504 page, which is never stored.
func (cw *captureWriter) OriginError(err *origin.Error) bool {
	x := cw.x
	x.originErr = err
	if cw.wroteHeader || x.stale == nil || !x.stale.servableOnError(x.h.c.now(), true) {
		return false
	}
	cw.wroteHeader, cw.status, cw.errorHeld = true, err.Status, true
	return true
}

// FlushError sends what has been written so far to the viewer; it is how
// http.ResponseController and ReverseProxy flush streamed responses.
func (cw *captureWriter) FlushError() error {
	if !cw.wroteHeader {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.notModified || cw.errorHeld || cw.quiet {
		return nil
	}
	if cw.enc != nil {
		if err := cw.enc.Flush(); err != nil {
			return err
		}
	}
	return http.NewResponseController(cw.w).Flush()
}

// Flush implements http.Flusher for callers that do not use
// http.ResponseController.
func (cw *captureWriter) Flush() { cw.FlushError() }

// Unwrap returns the viewer's ResponseWriter, for http.ResponseController.
func (cw *captureWriter) Unwrap() http.ResponseWriter { return cw.w }

// finish ends the compressed stream, if any, and passes on what the origin
// set after the body: trailers (declared in Trailer, or with the
// http.TrailerPrefix).
func (cw *captureWriter) finish() {
	if !cw.wroteHeader || cw.notModified || cw.errorHeld {
		return
	}
	if cw.enc != nil {
		cw.enc.Close()
		cw.x.h.c.encoders.put(cw.coding, cw.enc)
		cw.enc = nil
	}
	real := cw.w.Header()
	for k, v := range cw.header {
		if _, ok := cw.stored[k]; !ok {
			real[k] = v
		}
	}
}

// passWriter is the ResponseWriter of a request that bypasses the cache:
// it adds Portico's Cache-Status member after the origin's, filters Vary
// as for cached responses, compresses as for cached responses, and
// records the status. finish must be called when the origin is done.
type passWriter struct {
	http.ResponseWriter
	h           *handler
	r           *http.Request
	member      string
	wroteHeader bool
	status      int
	coding      string
	enc         encoder // the compressor, writing to the viewer
}

func (pw *passWriter) WriteHeader(code int) {
	if pw.wroteHeader || (code < 200 && code != http.StatusSwitchingProtocols) {
		pw.ResponseWriter.WriteHeader(code)
		return
	}
	pw.wroteHeader, pw.status = true, code
	hd := pw.Header()
	hd["Cache-Status"] = withCacheStatus(hd["Cache-Status"], pw.member)
	delete(hd, "Cache-Tag") // for the cache only
	if pw.h.compress && pw.r.ProtoAtLeast(1, 1) && compressible(code, hd) {
		hd["Vary"] = withVary(hd["Vary"], "Accept-Encoding")
		if c := coding(pw.h.spec.acceptEncoding(pw.r.Header)); c != "" {
			asCompressed(hd, c)
			pw.coding = c
			pw.enc = pw.h.c.encoders.get(c, pw.ResponseWriter)
		}
	}
	if v, ok := hd["Vary"]; ok {
		if v = pw.h.spec.viewerVary(v); v == nil {
			delete(hd, "Vary")
		} else {
			hd["Vary"] = v
		}
	}
	pw.ResponseWriter.WriteHeader(code)
}

func (pw *passWriter) Write(p []byte) (int, error) {
	if !pw.wroteHeader {
		pw.WriteHeader(http.StatusOK)
	}
	if pw.enc != nil {
		if _, err := pw.enc.Write(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return pw.ResponseWriter.Write(p)
}

// FlushError sends what has been written so far to the viewer.
func (pw *passWriter) FlushError() error {
	if !pw.wroteHeader {
		pw.WriteHeader(http.StatusOK)
	}
	if pw.enc != nil {
		if err := pw.enc.Flush(); err != nil {
			return err
		}
	}
	return http.NewResponseController(pw.ResponseWriter).Flush()
}

// Flush implements http.Flusher.
func (pw *passWriter) Flush() { pw.FlushError() }

// Unwrap returns the viewer's ResponseWriter, for http.ResponseController.
func (pw *passWriter) Unwrap() http.ResponseWriter { return pw.ResponseWriter }

// finish ends the compressed stream, if any.
func (pw *passWriter) finish() {
	if pw.enc != nil {
		pw.enc.Close()
		pw.h.c.encoders.put(pw.coding, pw.enc)
		pw.enc = nil
	}
}
