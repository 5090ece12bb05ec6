package httpcache

import (
	"net/http"
	"strconv"
)

// captureWriter is the ResponseWriter the origin writes a cacheable
// request's response to. It streams the response to the viewer as it comes
// while copying the body, up to a limit, for the cache.
//
// The origin writes headers into a map of its own, copied to the viewer's
// at WriteHeader: the stored response holds the origin's headers only,
// never those the edge set on the viewer's response before the cache ran.
// When revalidating, a 304 is kept from the viewer altogether: the cache
// answers instead.
type captureWriter struct {
	w            http.ResponseWriter
	header       http.Header // the origin's response headers
	revalidating bool
	limit        int64

	wroteHeader bool
	status      int
	stored      http.Header // header as of WriteHeader
	notModified bool        // a 304 to a revalidation, not sent on
	body        []byte
	overflow    bool  // body exceeded limit: not kept
	err         error // a write to the viewer failed
}

func newCaptureWriter(w http.ResponseWriter, revalidating bool, limit int64) *captureWriter {
	return &captureWriter{w: w, header: make(http.Header), revalidating: revalidating, limit: limit}
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
	if cw.revalidating && code == http.StatusNotModified {
		cw.notModified = true
		return
	}
	real := cw.w.Header()
	for k, v := range cw.header {
		real[k] = v
	}
	if _, ok := cw.header["X-Cache"]; !ok {
		real["X-Cache"] = xCacheMiss
	}
	if n, err := strconv.ParseInt(cw.header.Get("Content-Length"), 10, 64); err == nil && n > 0 && n <= cw.limit {
		cw.body = make([]byte, 0, n)
	}
	cw.w.WriteHeader(code)
}

func (cw *captureWriter) Write(p []byte) (int, error) {
	if !cw.wroteHeader {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.notModified {
		return len(p), nil
	}
	n, err := cw.w.Write(p)
	if err != nil && cw.err == nil {
		cw.err = err
	}
	if !cw.overflow {
		if int64(len(cw.body)+n) > cw.limit {
			cw.overflow, cw.body = true, nil
		} else {
			cw.body = append(cw.body, p[:n]...)
		}
	}
	return n, err
}

// FlushError sends what has been written so far to the viewer; it is how
// http.ResponseController and ReverseProxy flush streamed responses.
func (cw *captureWriter) FlushError() error {
	if !cw.wroteHeader {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.notModified {
		return nil
	}
	return http.NewResponseController(cw.w).Flush()
}

// Flush implements http.Flusher for callers that do not use
// http.ResponseController.
func (cw *captureWriter) Flush() { cw.FlushError() }

// Unwrap returns the viewer's ResponseWriter, for http.ResponseController.
func (cw *captureWriter) Unwrap() http.ResponseWriter { return cw.w }

// finish passes on what the origin set after the body: trailers (declared
// in Trailer, or with the http.TrailerPrefix).
func (cw *captureWriter) finish() {
	if !cw.wroteHeader || cw.notModified {
		return
	}
	real := cw.w.Header()
	for k, v := range cw.header {
		if _, ok := cw.stored[k]; !ok {
			real[k] = v
		}
	}
}
