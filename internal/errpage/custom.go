package errpage

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/portico-edge/portico"
)

// pageErrorCodes are the error codes a custom error page may replace (DG
// GeneratingCustomErrorResponses, "Creating a custom error page for
// specific HTTP status codes").
var pageErrorCodes = []int{400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504}

// Responses applies a distribution's custom error responses (DG
// GeneratingCustomErrorResponses). CustomErrorResponses may name, per
// error code, a page (ResponsePagePath) that the viewer gets instead of
// the error, with the status ResponseCode:
//
//   - When the response to a viewer request has a listed error code,
//     whether the origin sent it, the cache served it (errors are cached
//     for ErrorCachingMinTTL, which internal/httpcache applies), or Portico
//     made it for an origin it could not reach (502, 504), the viewer gets
//     the page instead. The error is still what the cache stores for the
//     request's URL.
//   - The page is fetched with a GET (HEAD for a HEAD) for its path,
//     through the cache behaviour whose path pattern matches it: from the
//     cache when it is there, else from that behaviour's origin, which may
//     be another than the request's, and cached like any object ("Storing
//     objects and custom error pages in different locations"). The request
//     keeps the viewer's host and header fields but for its preconditions,
//     Range, body and upgrade.
//   - When the page comes (any 2xx), the viewer gets it with the status
//     ResponseCode, or the error's own code when ResponseCode is empty.
//   - When it does not, CloudFront "returns to the viewer the status code
//     that CloudFront received from the origin that contains the custom
//     error pages" (DG GeneratingCustomErrorResponses): the viewer gets
//     the response to the page request as it is, a 404 for a page that
//     was deleted, a 502 for an origin that is down. An error on the way
//     to an error page is never replaced by a page in turn, so there are
//     no loops.
//
// Either way the response is labelled X-Cache "Error from portico", as
// CloudFront labels its custom error responses "Error from cloudfront".
// WebSocket upgrades are never replaced.
//
// A Responses is immutable and safe for concurrent use.
type Responses struct {
	pages []customPage
	pool  sync.Pool // of *interceptor
}

// customPage is one error code's page.
type customPage struct {
	code int
	uri  string   // ResponsePagePath as configured
	url  *url.URL // uri parsed: its path and query
	path string   // the escaped path, which chooses the page's behaviour
	// status is the ResponseCode; 0 for the error's own code.
	status int
}

// Compile compiles the entries of cer that name a ResponsePagePath. It
// returns nil when there are none. An entry that cannot be applied (an
// invalid path, or a ResponseCode that is not a number) is left out and
// reported in the error, which never stops the others from applying; an
// error code CloudFront never replaces with a page is ignored.
func Compile(cer *portico.CustomErrorResponses) (*Responses, error) {
	if cer == nil {
		return nil, nil
	}
	rs := &Responses{}
	var errs []error
	for _, e := range cer.Items {
		if e.ResponsePagePath == nil || *e.ResponsePagePath == "" {
			continue
		}
		p, err := compilePage(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("custom error response for %d: %w", e.ErrorCode, err))
			continue
		}
		if !isPageErrorCode(p.code) {
			continue
		}
		if rs.find(p.code) == nil {
			rs.pages = append(rs.pages, p)
		}
	}
	if len(rs.pages) == 0 {
		return nil, errors.Join(errs...)
	}
	rs.pool.New = func() any { return new(interceptor) }
	return rs, errors.Join(errs...)
}

func compilePage(e portico.CustomErrorResponse) (customPage, error) {
	p := customPage{code: e.ErrorCode, uri: *e.ResponsePagePath}
	u, err := url.ParseRequestURI(p.uri)
	if err != nil || !strings.HasPrefix(p.uri, "/") || u.Host != "" || u.Fragment != "" {
		return customPage{}, fmt.Errorf("ResponsePagePath %q is not a path", p.uri)
	}
	p.url, p.path = u, u.EscapedPath()
	if rc := strings.TrimSpace(deref(e.ResponseCode)); rc != "" {
		code, err := strconv.Atoi(rc)
		if err != nil || code < 100 || code > 599 {
			return customPage{}, fmt.Errorf("ResponseCode %q is not a status code", rc)
		}
		p.status = code
	}
	return p, nil
}

func isPageErrorCode(code int) bool {
	for _, c := range pageErrorCodes {
		if c == code {
			return true
		}
	}
	return false
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// find returns the page for an error code, or nil.
func (rs *Responses) find(code int) *customPage {
	for i := range rs.pages {
		if rs.pages[i].code == code {
			return &rs.pages[i]
		}
	}
	return nil
}

// Wrap returns a handler that serves with next, and replaces the
// responses whose error code has a page with that page, fetched through
// pages: pages returns the handler of the cache behaviour that serves a
// path (an escaped path, as a viewer sends it), which must not replace
// errors with pages itself. A nil rs returns next unchanged.
func (rs *Responses) Wrap(next http.Handler, pages func(path string) http.Handler) http.Handler {
	if rs == nil {
		return next
	}
	if pages == nil {
		panic("errpage: Wrap without pages")
	}
	return &customHandler{rs: rs, next: next, pages: pages}
}

type customHandler struct {
	rs    *Responses
	next  http.Handler
	pages func(path string) http.Handler
}

func (h *customHandler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect || len(r.Header["Upgrade"]) > 0 {
		h.next.ServeHTTP(rw, r) // a WebSocket: never replaced
		return
	}
	w := h.rs.pool.Get().(*interceptor)
	*w = interceptor{ResponseWriter: rw, rs: h.rs, preset: len(rw.Header()) > 0}
	defer func() {
		*w = interceptor{}
		h.rs.pool.Put(w)
	}()
	if w.preset {
		// Rare: headers set before the behaviour ran are kept whatever
		// the response.
		for k := range rw.Header() {
			w.keep = append(w.keep, k)
		}
	}
	h.next.ServeHTTP(w, r)
	if w.page == nil {
		return
	}
	// The error's own header goes; the page's comes.
	hd := rw.Header()
	for k := range hd {
		if !w.kept(k) {
			delete(hd, k)
		}
	}
	pw := &pageWriter{ResponseWriter: rw, page: w.page, errorCode: w.errorCode}
	h.pages(w.page.path).ServeHTTP(pw, pageRequest(r, w.page))
	if !pw.wroteHeader {
		pw.WriteHeader(http.StatusOK)
	}
}

// pageRequest returns the request for the custom error page p in place
// of the viewer's request r.
func pageRequest(r *http.Request, p *customPage) *http.Request {
	pr := r.Clone(r.Context())
	if r.Method != http.MethodHead {
		pr.Method = http.MethodGet
	}
	pr.URL = &url.URL{Path: p.url.Path, RawPath: p.url.RawPath, RawQuery: p.url.RawQuery}
	pr.RequestURI = p.uri
	pr.Body, pr.ContentLength, pr.TransferEncoding, pr.Trailer = http.NoBody, 0, nil, nil
	pr.GetBody = nil
	for _, name := range pageRequestDropped {
		delete(pr.Header, name)
	}
	return pr
}

// pageRequestDropped are the viewer's header fields a page request does
// not carry: a page is fetched whole and unconditionally, without a body.
var pageRequestDropped = []string{
	"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range", "Range",
	"Content-Length", "Content-Type", "Content-Encoding", "Transfer-Encoding", "Expect", "Trailer",
	"Upgrade", "Connection",
}

// interceptor passes a response through unless its status has a page:
// then it keeps the response from the viewer, for the page to replace.
type interceptor struct {
	http.ResponseWriter
	rs        *Responses
	page      *customPage // the status has this page: the response is dropped
	errorCode int
	wrote     bool // a final status went through
	preset    bool
	keep      []string // header names set before the behaviour ran
}

func (w *interceptor) kept(name string) bool {
	for _, k := range w.keep {
		if k == name {
			return true
		}
	}
	return false
}

func (w *interceptor) WriteHeader(code int) {
	switch {
	case w.page != nil:
		return
	case w.wrote:
		w.ResponseWriter.WriteHeader(code) // net/http logs the superfluous call
		return
	case code < 200:
		w.ResponseWriter.WriteHeader(code) // informational, or a 101
		return
	}
	if p := w.rs.find(code); p != nil {
		w.page, w.errorCode = p, code
		return
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *interceptor) Write(b []byte) (int, error) {
	if w.page != nil {
		return len(b), nil
	}
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Flush flushes a response that goes through; a dropped one has nothing
// to flush.
func (w *interceptor) Flush() {
	if w.page != nil {
		return
	}
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *interceptor) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// pageWriter writes the response to a custom error page request to the
// viewer: a 2xx with the page's status, anything else as it is.
type pageWriter struct {
	http.ResponseWriter
	page        *customPage
	errorCode   int
	wroteHeader bool
}

var xCacheError = []string{"Error from portico"}[:1:1]

func (w *pageWriter) WriteHeader(code int) {
	if w.wroteHeader {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if code < 200 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.wroteHeader = true
	if code < 300 {
		code = w.errorCode
		if w.page.status != 0 {
			code = w.page.status
		}
	}
	w.Header()["X-Cache"] = xCacheError
	w.ResponseWriter.WriteHeader(code)
}

func (w *pageWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends what is buffered to the viewer, header first.
func (w *pageWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *pageWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
