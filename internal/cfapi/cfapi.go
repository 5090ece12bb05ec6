// Package cfapi serves CloudFront's 2020-05-31 REST-XML API for
// distributions, invalidations, cache, origin request and response headers
// policies and their tags, over the control service, so that the AWS SDKs,
// the AWS CLI and Terraform can manage Portico unchanged.
//
// Every request has its body read with a limit, is authenticated, and is
// routed to a handler that returns an error; one function, writeError,
// renders every error in CloudFront's ErrorResponse envelope. Request
// bodies are never logged: they carry origin custom header values, which
// are secrets.
package cfapi

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/control"
)

const (
	// Prefix is the path under which the API is served.
	Prefix = "/2020-05-31/"
	// MaxBodyBytes is the largest request body accepted: 1 MiB, far more
	// than the largest DistributionConfig CloudFront's quotas allow.
	MaxBodyBytes = 1 << 20
)

const headerRequestID = "X-Amz-Request-Id"

// Handler serves CloudFront's 2020-05-31 API under /2020-05-31/. Set its
// fields before the first request and do not copy it afterwards.
type Handler struct {
	// Service carries out the operations. It must be set.
	Service *control.Service
	// Authenticate verifies a request's signature given its already-read
	// body. A *portico.Error it returns is rendered as is; any other error
	// is rendered as AccessDenied. If nil, every request is refused: the
	// API never runs unauthenticated by omission.
	Authenticate func(r *http.Request, payload []byte) error
	// Log receives internal errors; nil discards them.
	Log *slog.Logger

	once sync.Once
	mux  *http.ServeMux
}

// handlerFunc handles one operation, given the request's body. It writes
// the response only on success; errors are returned to be rendered.
type handlerFunc func(w http.ResponseWriter, r *http.Request, body []byte) error

// route is one operation's method, path pattern and handler.
type route struct {
	method, path string
	handle       handlerFunc
}

// ServeHTTP serves one API request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.once.Do(h.buildMux)
	w.Header().Set(headerRequestID, newRequestID())
	h.mux.ServeHTTP(w, r)
}

// buildMux routes every operation, answers other methods on a known path
// with 405 and unknown paths with 404, all in CloudFront's envelope and
// all after authentication.
func (h *Handler) buildMux() {
	const dist = Prefix + "distribution"
	routes := []route{
		{http.MethodPost, dist, h.createDistribution},
		{http.MethodGet, dist, h.listDistributions},
		{http.MethodGet, dist + "/{id}", h.getDistribution},
		{http.MethodDelete, dist + "/{id}", h.deleteDistribution},
		{http.MethodGet, dist + "/{id}/config", h.getDistributionConfig},
		{http.MethodPut, dist + "/{id}/config", h.updateDistribution},
		{http.MethodPost, dist + "/{id}/invalidation", h.createInvalidation},
		{http.MethodGet, dist + "/{id}/invalidation", h.listInvalidations},
		{http.MethodGet, dist + "/{id}/invalidation/{invalidationID}", h.getInvalidation},
	}
	routes = append(routes, h.policyRoutes()...)
	routes = append(routes, h.tagRoutes()...)
	h.mux = http.NewServeMux()
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range routes {
		h.mux.Handle(rt.method+" "+rt.path, h.handle(rt.handle))
		if allowed[rt.path] == nil {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	for _, p := range paths {
		h.mux.Handle(p, h.handle(methodNotAllowed(allowed[p])))
	}
	h.mux.Handle("/", h.handle(notFound))
}

// handle returns an http.Handler that serves fn and renders its error.
func (h *Handler) handle(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.serve(w, r, fn); err != nil {
			h.writeError(w, r, err)
		}
	})
}

// serve reads the body, authenticates the request and runs fn.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, fn handlerFunc) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	if err := h.authenticate(w, r, body); err != nil {
		return err
	}
	return fn(w, r, body)
}

// readBody reads the request body, up to MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, &portico.Error{
			Code:    portico.ErrInvalidArgument,
			Message: fmt.Sprintf("The request body is larger than %d bytes.", MaxBodyBytes),
			Status:  http.StatusRequestEntityTooLarge,
		}
	}
	if err != nil {
		return nil, portico.Errorf(portico.ErrMalformedInput, "The request body could not be read completely.")
	}
	return body, nil
}

// authenticate runs h.Authenticate and turns its failures into errors for
// the client.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, body []byte) error {
	if h.Authenticate == nil {
		return portico.Errorf(portico.ErrAccessDenied, "Access denied: the API has no way to verify credentials.")
	}
	err := h.Authenticate(r, body)
	if err == nil {
		return nil
	}
	if pe, ok := errors.AsType[*portico.Error](err); ok {
		return pe
	}
	h.log().WarnContext(r.Context(), "cloudfront api: authentication failed", "request_id", w.Header().Get(headerRequestID), "err", err)
	return &portico.Error{Code: portico.ErrAccessDenied, Message: "Access denied.", Status: http.StatusForbidden}
}

// writeError renders err in CloudFront's ErrorResponse envelope: a
// *portico.Error as it is, anything else as an internal error, which is
// logged (without the request body) and not shown to the client.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	reqID := w.Header().Get(headerRequestID)
	pe, ok := errors.AsType[*portico.Error](err)
	if !ok {
		h.log().ErrorContext(r.Context(), "cloudfront api: internal error",
			"method", r.Method, "path", r.URL.Path, "request_id", reqID, "err", err)
		pe = &portico.Error{
			Code:    portico.ErrServiceUnavailable,
			Message: "CloudFront encountered an internal error. Please try again.",
			Status:  http.StatusInternalServerError,
		}
	}
	status := pe.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	out, encErr := encodeDocument(errorHeader, "ErrorResponse", errorResponse{
		Error:     errorDetail{Type: typ, Code: pe.Code, Message: pe.Message},
		RequestID: reqID,
	})
	if encErr != nil {
		// Only plain strings are encoded, so this cannot happen; still,
		// the status must reach the client.
		h.log().ErrorContext(r.Context(), "cloudfront api: encoding error response", "err", encErr)
		out = nil
	}

	hdr := w.Header()
	hdr.Del("ETag")
	hdr.Del("Location")
	hdr.Set("Content-Type", "text/xml")
	hdr.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	w.Write(out)
}

// writeXML writes v as the document root with the given status.
func writeXML(w http.ResponseWriter, status int, root string, v any) error {
	body, err := encodeDocument(documentHeader, root, v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	// A failed write means the client went away; nothing is left to tell it.
	w.Write(body)
	return nil
}

// location returns the URL of the resource at path (under Prefix), with
// the scheme and host the request came in on.
func location(r *http.Request, path string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + Prefix + path
}

func methodNotAllowed(methods []string) handlerFunc {
	allow := strings.Join(slices.Sorted(slices.Values(methods)), ", ")
	return func(w http.ResponseWriter, r *http.Request, _ []byte) error {
		w.Header().Set("Allow", allow)
		return &portico.Error{
			Code:    "MethodNotAllowed",
			Message: fmt.Sprintf("The method %s is not allowed on this resource; use %s.", r.Method, allow),
			Status:  http.StatusMethodNotAllowed,
		}
	}
}

func notFound(http.ResponseWriter, *http.Request, []byte) error {
	return &portico.Error{Code: portico.ErrInvalidURI, Message: "Could not parse the specified URI.", Status: http.StatusNotFound}
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.New(slog.DiscardHandler)
}

// newRequestID returns a random RFC 4122 version 4 UUID, the shape of
// CloudFront's request IDs.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
