// Package explain tells what the edge does with a request, without making
// it: the distribution and alias its host matches, the cache behaviour its
// path selects, the cache and origin request policies (or legacy
// ForwardedValues) in force, the cache key as the cache computes it for
// the request, what the origin would be sent, the TTLs, and what the cache
// holds under that key (the stored response's age, lifetime, remaining TTL
// and tags). It serves `portico cache explain`.
//
// Handler answers GET Path on the API listener, authenticated like the
// CloudFront API. It reads the configuration the edge serves, as the
// snapshot the edge serves compiled it (host matching, behaviour selection
// and policies included, by the same code), and peeks into the cache
// (httpcache.Cache.Peek): it never asks the origin and changes nothing in
// the cache, not even the standing of an entry for eviction. Of the
// stored configuration it reads only the distribution's revision, to tell
// when a change has not reached the edge yet.
package explain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/control"
	"github.com/portico-edge/portico/internal/httpcache"
	"github.com/portico-edge/portico/internal/router"
	"github.com/portico-edge/portico/internal/snapshot"
)

// Path is where Handler is served on the API listener.
const Path = "/portico/2026-11-25/cache/explain"

// Query parameters of a request to Path.
const (
	// ParamURL is the absolute http or https URL to explain. Required.
	ParamURL = "url"
	// ParamHeader is a request header, "Name: value"; repeat it for more.
	// A Host header stands in for the URL's host, as with curl.
	ParamHeader = "header"
	// ParamMethod is the request method; GET when absent.
	ParamMethod = "method"
)

// Limits on what a request to Path may describe.
const (
	MaxURLBytes    = 8 << 10
	MaxHeaders     = 100
	MaxHeaderBytes = 16 << 10 // all header names and values together
)

// DefaultCatchUp is how long a request waits by default for the edge to
// serve the stored configuration of the distribution when a change to it
// is propagating.
const DefaultCatchUp = 2 * time.Second

// Source reads the stored configuration; *control.Service is one.
type Source interface {
	// GetDistribution returns the stored distribution with the given ID
	// (its Rev set), or a *portico.Error NoSuchDistribution.
	GetDistribution(ctx context.Context, id string) (*portico.Distribution, error)
}

// Handler serves the explain endpoint. Set its fields before the first
// request.
type Handler struct {
	// Snapshot returns the configuration the edge serves (the snapshot
	// Watcher's Current), nil before it is loaded. It must be set.
	Snapshot func() *snapshot.Snapshot
	// Source reads the stored distribution that serves a request, to
	// tell whether the edge serves its latest configuration. (The
	// control.Service waits up to its DeployWait for the edges while a
	// change propagates.) It must be set.
	Source Source
	// Cache is the cache the edge serves from. It must be set.
	Cache *httpcache.Cache
	// Authenticate verifies a request's signature given its already-read
	// body, as for the CloudFront API. A *portico.Error it returns is
	// rendered as is; any other error as AccessDenied. If nil, every
	// request is refused.
	Authenticate func(r *http.Request, payload []byte) error
	// CatchUp bounds how long a request waits for the edge to serve the
	// stored configuration of the distribution while a change to it
	// propagates; 0 means DefaultCatchUp. After that, the explanation
	// follows what the edge serves and says in its Notes that it is
	// behind.
	CatchUp time.Duration
	// Log receives internal errors and refused authentications; nil
	// discards them.
	Log *slog.Logger
}

// maxBodyBytes bounds the body of a request to Path, which should have
// none.
const maxBodyBytes = 64 << 10

// ServeHTTP answers GET Path with the Explanation of the request its
// parameters describe, as JSON, or with an ErrorResponse.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x, err := h.serve(w, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	body, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		h.writeError(w, r, fmt.Errorf("explain: encoding the explanation: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(append(body, '\n'))
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) (*Explanation, error) {
	payload, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		return nil, &portico.Error{Code: portico.ErrInvalidArgument, Message: "The request body is too large or could not be read.", Status: http.StatusRequestEntityTooLarge}
	}
	if err := h.authenticate(r, payload); err != nil {
		return nil, err
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return nil, &portico.Error{Code: "MethodNotAllowed", Message: "Use GET.", Status: http.StatusMethodNotAllowed}
	}
	q := r.URL.Query()
	rawURL := q.Get(ParamURL)
	req, err := NewRequest(r.Context(), q.Get(ParamMethod), rawURL, q[ParamHeader])
	if err != nil {
		return nil, err
	}
	return h.explain(r.Context(), req, rawURL)
}

// explain explains req, whose URL was given as rawURL.
func (h *Handler) explain(ctx context.Context, req *http.Request, rawURL string) (*Explanation, error) {
	snap := h.Snapshot()
	if snap == nil {
		return nil, &portico.Error{Code: portico.ErrServiceUnavailable, Message: "The edge has not loaded its configuration yet.", Status: http.StatusServiceUnavailable}
	}
	m, ok := snap.Match(req.Host)
	if !ok {
		return nil, errNotServed(req.Host)
	}
	stored, err := h.stored(ctx, m.Site.ID)
	if err != nil {
		return nil, err
	}
	if stored != nil && stored.Rev > snap.Rev() {
		// A change to the distribution is on its way to the edge.
		if next := h.catchUp(ctx, snap, stored.Rev); next != snap {
			snap = next
			if m, ok = snap.Match(req.Host); !ok {
				return nil, errNotServed(req.Host)
			}
		}
	}
	x := explain(m, req, rawURL, snap.Rev(), h.Cache)
	x.Notes = append(propagation(x, stored), notes(x, req)...)
	return x, nil
}

// propagation records in x the revision of the stored distribution, nil
// if it was deleted, and returns the notes on a change to it that the edge
// does not serve yet.
func propagation(x *Explanation, stored *portico.Distribution) []string {
	switch {
	case stored == nil:
		return []string{fmt.Sprintf("The distribution %s was deleted; the edge serves it until the change reaches it.", x.Distribution.ID)}
	case stored.ID != x.Distribution.ID:
		// The host moved to another distribution while the edge caught
		// up; the edge serves that one.
		return nil
	}
	x.ConfigRevision = stored.Rev
	if stored.Rev <= x.Revision {
		return nil
	}
	return []string{fmt.Sprintf("The distribution changed at revision %d; the edge still serves revision %d and is catching up. This explanation follows what the edge serves.",
		stored.Rev, x.Revision)}
}

// errNotServed is the error for a host no distribution the edge serves
// has.
func errNotServed(host string) *portico.Error {
	return &portico.Error{Code: portico.ErrNoSuchDistribution,
		Message: fmt.Sprintf("No enabled distribution serves the host %q: the edge answers 403.", host), Status: http.StatusNotFound}
}

// stored returns the stored distribution with the given ID, or nil when
// it was deleted.
func (h *Handler) stored(ctx context.Context, id string) (*portico.Distribution, error) {
	d, err := h.Source.GetDistribution(ctx, id)
	if pe, ok := errors.AsType[*portico.Error](err); ok && pe.Code == portico.ErrNoSuchDistribution {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("explain: reading distribution %s: %w", id, err)
	}
	return d, nil
}

// catchUp returns the snapshot being served once it is at rev or newer,
// waiting for it at most h.CatchUp; after that, or when ctx is done, the
// latest one.
func (h *Handler) catchUp(ctx context.Context, snap *snapshot.Snapshot, rev int64) *snapshot.Snapshot {
	wait := h.CatchUp
	if wait <= 0 {
		wait = DefaultCatchUp
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for snap.Rev() < rev {
		select {
		case <-tick.C:
			if s := h.Snapshot(); s != nil {
				snap = s
			}
		case <-deadline.C:
			return snap
		case <-ctx.Done():
			return snap
		}
	}
	return snap
}

// authenticate runs h.Authenticate and turns its failures into errors for
// the client.
func (h *Handler) authenticate(r *http.Request, payload []byte) error {
	if h.Authenticate == nil {
		return &portico.Error{Code: portico.ErrAccessDenied, Message: "Access denied: the API has no way to verify credentials.", Status: http.StatusForbidden}
	}
	err := h.Authenticate(r, payload)
	if err == nil {
		return nil
	}
	if pe, ok := errors.AsType[*portico.Error](err); ok {
		return pe
	}
	h.log().WarnContext(r.Context(), "explain: authentication failed", "err", err)
	return &portico.Error{Code: portico.ErrAccessDenied, Message: "Access denied.", Status: http.StatusForbidden}
}

// ErrorResponse is the body of an error answer.
type ErrorResponse struct {
	Error ErrorDetail
}

// ErrorDetail is an error's code, as the CloudFront API names it, and
// message.
type ErrorDetail struct {
	Code    string
	Message string
}

// writeError renders err: a *portico.Error as it is, anything else as an
// internal error, which is logged and not shown.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	pe, ok := errors.AsType[*portico.Error](err)
	if !ok {
		h.log().ErrorContext(r.Context(), "explain: internal error", "err", err)
		pe = &portico.Error{Code: portico.ErrServiceUnavailable, Message: "Portico encountered an internal error. Please try again.", Status: http.StatusInternalServerError}
	}
	status := pe.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	body, _ := json.Marshal(ErrorResponse{Error: ErrorDetail{Code: pe.Code, Message: pe.Message}}) // strings only: cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.New(slog.DiscardHandler)
}

// NewRequest returns the viewer request that a request to Path describes:
// method (GET when empty) for rawURL, an absolute http or https URL, with
// headers given as "Name: value". It is shaped as the edge hands requests
// to the cache: the host canonical (lower-case, without port or trailing
// dot), an empty path made "/". A Host header replaces the URL's host. The
// error is an InvalidArgument *portico.Error.
func NewRequest(ctx context.Context, method, rawURL string, headers []string) (*http.Request, error) {
	if method == "" {
		method = http.MethodGet
	}
	switch {
	case rawURL == "":
		return nil, invalid("The parameter %s is required: the URL to explain.", ParamURL)
	case len(rawURL) > MaxURLBytes:
		return nil, invalid("The URL is longer than %d bytes.", MaxURLBytes)
	case len(headers) > MaxHeaders:
		return nil, invalid("At most %d headers may be given.", MaxHeaders)
	case !isToken(method):
		return nil, invalid("The method %q is not an HTTP method.", control.Shorten(method))
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return nil, invalid("The URL %q is not an absolute http or https URL.", control.Shorten(rawURL))
	}
	host := u.Host
	header := make(http.Header)
	size := 0
	for _, line := range headers {
		name, value, ok := strings.Cut(line, ":")
		value = strings.Trim(value, " \t")
		size += len(name) + len(value)
		switch {
		case !ok || !httpguts.ValidHeaderFieldName(name):
			return nil, invalid("The header %q is not of the form \"Name: value\".", control.Shorten(line))
		case !httpguts.ValidHeaderFieldValue(value):
			return nil, invalid("The value of the header %s holds characters a header cannot.", name)
		case size > MaxHeaderBytes:
			return nil, invalid("The headers are longer than %d bytes.", MaxHeaderBytes)
		}
		name = http.CanonicalHeaderKey(name)
		if name == "Host" {
			host = value
			continue
		}
		header.Add(name, value)
	}
	// The edge refuses a Host that HTTP does not allow (bytes outside
	// ASCII among them) with 400, before any cache key is made.
	if !httpguts.ValidHostHeader(host) {
		return nil, invalid("The host %q is not a host name.", control.Shorten(host))
	}
	host = router.CanonicalHost(host)
	if host == "" || len(host) > router.MaxHostLen || strings.ContainsAny(host, "/?#@ ") {
		return nil, invalid("The host %q is not a host name.", control.Shorten(host))
	}
	target := &url.URL{Scheme: u.Scheme, Host: host, Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	if target.Path == "" {
		target.Path, target.RawPath = "/", ""
	}
	r, err := http.NewRequestWithContext(ctx, method, target.String(), nil)
	if err != nil {
		return nil, invalid("The URL %q cannot be requested: %v.", control.Shorten(rawURL), err)
	}
	r.URL = target
	r.Host = host
	r.Header = header
	return r, nil
}

func invalid(format string, args ...any) *portico.Error {
	return portico.Errorf(portico.ErrInvalidArgument, format, args...)
}

// isToken reports whether s is an RFC 9110 token, as a method is.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !httpguts.IsTokenRune(c) {
			return false
		}
	}
	return true
}
