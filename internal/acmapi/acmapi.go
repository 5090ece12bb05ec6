// Package acmapi serves the part of AWS Certificate Manager's API that
// Portico implements, in ACM's own wire protocol (awsJson1_1), so that the
// AWS SDKs, the AWS CLI and Terraform can import and manage the
// certificates the edge presents to viewers.
//
// Every request is a POST to / whose X-Amz-Target header names the
// operation, CertificateManager.<Operation>, and whose body is a JSON
// object; binary members (the certificate, chain and private key of
// ImportCertificate) are base64 strings and timestamps are epoch seconds.
// Errors are a JSON object {"__type": code, "message": text} with the HTTP
// status that goes with the code.
//
// Request bodies carry private keys: they are never logged, and no response
// or error message quotes them.
package acmapi

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/control"
)

const (
	// targetPrefix starts the X-Amz-Target of every ACM operation.
	targetPrefix = "CertificateManager."
	// contentType is the media type of awsJson1_1 bodies.
	contentType = "application/x-amz-json-1.1"
	// maxBodyBytes bounds a request body. ACM accepts a certificate chain of
	// up to 2 MiB, which is 2.7 MiB in base64.
	maxBodyBytes = 3 << 20
)

// Error codes of the protocol that errors.go does not list.
const (
	errUnknownOperation = "UnknownOperationException"
	errSerialization    = "SerializationException"
	errInvalidArgs      = "InvalidArgsException"
	errInternalFailure  = "InternalFailure"
	errAccessDenied     = "AccessDeniedException"
)

// Handler serves ACM's JSON 1.1 API from a control service.
type Handler struct {
	// Service carries out the operations. It must be set.
	Service *control.Service
	// Authenticate verifies a request's signature (AWS Signature V4), given
	// the request and its body, which the handler has already read. An
	// *portico.Error it returns is rendered as it is; any other error is
	// rendered as 403 AccessDeniedException, without its text. It must be
	// set: a nil Authenticate refuses every request.
	Authenticate func(r *http.Request, payload []byte) error
	// Log receives one record per request: target, status, error code and
	// message, and request ID, never the body. Nil means no logging.
	Log *slog.Logger
}

// ServeHTTP answers one ACM request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := newRequestID()
	w.Header().Set("x-amzn-RequestId", id)
	target := r.Header.Get("X-Amz-Target")
	out, err := h.serve(r, target)
	var status int
	if err != nil {
		status = writeError(w, err)
	} else {
		status = writeJSON(w, http.StatusOK, out)
	}
	h.logRequest(r.Context(), id, target, status, err, time.Since(start))
}

// serve reads, authenticates and dispatches a request, and returns the
// response body to encode or an error to render.
func (h *Handler) serve(r *http.Request, target string) (any, error) {
	if r.Method != http.MethodPost {
		return nil, &portico.Error{Code: errUnknownOperation, Status: http.StatusMethodNotAllowed,
			Message: "ACM operations are POST requests to / with an X-Amz-Target header."}
	}
	payload, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if err := h.authenticate(r, payload); err != nil {
		return nil, err
	}
	op, ok := strings.CutPrefix(target, targetPrefix)
	fn := h.operation(op)
	if !ok || fn == nil {
		return nil, portico.Errorf(errUnknownOperation, "Portico's ACM API does not implement operation %q.", truncate(target, 80))
	}
	return fn(r.Context(), payload)
}

// jsonAuthCodes renames Signature V4 failures as AWS's JSON-protocol
// services (ACM among them) name them; the REST-XML names are CloudFront's.
var jsonAuthCodes = map[string]string{
	"SignatureDoesNotMatch":      "InvalidSignatureException",
	"InvalidClientTokenId":       "UnrecognizedClientException",
	"MissingAuthenticationToken": "MissingAuthenticationTokenException",
	"IncompleteSignature":        "IncompleteSignatureException",
	"AccessDenied":               "AccessDeniedException",
}

// authenticate runs h.Authenticate and makes its failure a client error.
// The text of an error that is not a *portico.Error is logged, not sent.
func (h *Handler) authenticate(r *http.Request, payload []byte) error {
	if h.Authenticate == nil {
		return &portico.Error{Code: errAccessDenied, Status: http.StatusForbidden,
			Message: "The server verifies no signatures, so it accepts no requests."}
	}
	err := h.Authenticate(r, payload)
	if err == nil {
		return nil
	}
	var pe *portico.Error
	if errors.As(err, &pe) {
		if code, ok := jsonAuthCodes[pe.Code]; ok {
			return &portico.Error{Code: code, Message: pe.Message, Status: pe.Status}
		}
		return pe
	}
	if h.Log != nil {
		h.Log.WarnContext(r.Context(), "acm request not authenticated", "err", err)
	}
	return &portico.Error{Code: errAccessDenied, Status: http.StatusForbidden,
		Message: "The request could not be authenticated."}
}

// readBody reads the request body, up to maxBodyBytes.
func readBody(r *http.Request) ([]byte, error) {
	payload, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, portico.Errorf(errSerialization, "The request body could not be read.")
	}
	if len(payload) > maxBodyBytes {
		return nil, &portico.Error{Code: portico.ErrACMValidation, Status: http.StatusRequestEntityTooLarge,
			Message: fmt.Sprintf("The request body is larger than %d bytes.", maxBodyBytes)}
	}
	return payload, nil
}

// errorBody is the awsJson1_1 error envelope.
type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

// writeError renders err and returns the status it sent. A *portico.Error
// is the client's to see; anything else is an internal failure whose
// details stay in the log.
func writeError(w http.ResponseWriter, err error) int {
	var pe *portico.Error
	if !errors.As(err, &pe) {
		pe = &portico.Error{Code: errInternalFailure, Status: http.StatusInternalServerError,
			Message: "The request processing has failed because of an unknown error."}
	}
	status := pe.Status
	if status == 0 {
		status = portico.StatusOf(pe.Code)
	}
	return writeJSON(w, status, errorBody{Type: pe.Code, Message: pe.Message})
}

// writeJSON sends v as an awsJson1_1 body and returns status.
func writeJSON(w http.ResponseWriter, status int, v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		// Responses are plain data; this is a programming error.
		panic(fmt.Sprintf("acmapi: encoding response: %v", err))
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
	return status
}

// logRequest records one request. It never logs the body; error messages
// are built never to quote it.
func (h *Handler) logRequest(ctx context.Context, id, target string, status int, err error, took time.Duration) {
	if h.Log == nil {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", id),
		slog.String("target", truncate(target, 80)),
		slog.Int("status", status),
		slog.Duration("took", took),
	}
	level := slog.LevelInfo
	var pe *portico.Error
	switch {
	case err == nil:
	case errors.As(err, &pe):
		attrs = append(attrs, slog.String("code", pe.Code), slog.String("message", pe.Message))
	default:
		level = slog.LevelError
		attrs = append(attrs, slog.String("code", errInternalFailure), slog.String("err", err.Error()))
	}
	h.Log.LogAttrs(ctx, level, "acm request", attrs...)
}

// newRequestID returns a random request ID in the UUID shape AWS uses.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// truncate shortens client-supplied text quoted in messages and logs.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
