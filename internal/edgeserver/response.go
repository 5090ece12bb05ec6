package edgeserver

import (
	"bufio"
	"net"
	"net/http"
)

// responseWriter stamps Portico's response headers on every response,
// whoever writes it (the pipeline, the cache, the origin proxy), when the
// status is written, and records status and size for the access log.
//
// Stamping at WriteHeader rather than before the handler runs keeps the
// per-request values out of anything the cache stores, and lets the edge's
// Via follow any Via from the origin.
type responseWriter struct {
	http.ResponseWriter
	p   *pipeline
	via []string
	id  [1]string // X-Amz-Cf-Id; an array so the header value needs no allocation

	wroteHeader bool
	status      int
	bytes       int64
}

func (w *responseWriter) WriteHeader(code int) {
	if w.wroteHeader {
		w.ResponseWriter.WriteHeader(code) // net/http logs the superfluous call
		return
	}
	w.stamp(code)
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code) // informational: the final status comes later
		return
	}
	w.wroteHeader = true
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// stamp sets X-Amz-Cf-Pop, X-Amz-Cf-Id, Via and, if no one has, X-Cache.
func (w *responseWriter) stamp(code int) {
	h := w.Header()
	h["X-Amz-Cf-Pop"] = w.p.pop
	h["X-Amz-Cf-Id"] = w.id[:]
	if prev := h["Via"]; len(prev) == 0 {
		h["Via"] = w.via
	} else {
		// After the origin's own Via, in a new slice: prev may share its
		// array with a cached response.
		via := make([]string, len(prev)+1)
		copy(via, prev)
		via[len(prev)] = w.via[0]
		h["Via"] = via
	}
	if len(h["X-Cache"]) == 0 && code >= 200 {
		switch {
		case code >= 300 && code < 400:
			h["X-Cache"] = xCacheRedirect
		case code >= 400:
			h["X-Cache"] = xCacheError
		default:
			h["X-Cache"] = xCacheMiss
		}
	}
}

// X-Cache values for responses that nothing else labelled.
var (
	xCacheMiss     = []string{"Miss from portico"}[:1:1]
	xCacheError    = []string{"Error from portico"}[:1:1]
	xCacheRedirect = []string{"Redirect from portico"}[:1:1]
)

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush sends what is buffered to the viewer, headers first.
func (w *responseWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands the connection over for a protocol upgrade (WebSocket
// through the origin proxy, which then writes the 101 response itself from
// Header): the headers are stamped first.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !w.wroteHeader {
		w.stamp(http.StatusSwitchingProtocols)
		w.wroteHeader, w.status = true, http.StatusSwitchingProtocols
	}
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if g := guardOf(c); err == nil && g != nil {
		g.hijacked() // the connection is no longer HTTP/1.x: the guard steps aside
	}
	return c, rw, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
