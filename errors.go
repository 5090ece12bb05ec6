package portico

import (
	"fmt"
	"net/http"
)

// Error is a failure that an API client is meant to see. Code is CloudFront's
// (or ACM's) error code, such as "NoSuchDistribution"; Status is the HTTP
// status that goes with it. The wire packages render it in their protocol's
// own envelope; everything else passes it up unchanged.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the given code, the status that CloudFront
// uses for it, and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: StatusOf(code)}
}

// StatusOf returns the HTTP status that goes with an error code: the one in
// CloudFront's (or ACM's) service model, or 400 for a client error it does
// not list.
func StatusOf(code string) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusBadRequest
}

// Error codes used across the control plane. Codes that are not listed take
// status 400.
const (
	ErrAccessDenied                   = "AccessDenied"
	ErrSignatureDoesNotMatch          = "SignatureDoesNotMatch"
	ErrInvalidClientTokenID           = "InvalidClientTokenId"
	ErrIncompleteSignature            = "IncompleteSignature"
	ErrNoSuchDistribution             = "NoSuchDistribution"
	ErrNoSuchInvalidation             = "NoSuchInvalidation"
	ErrNoSuchOrigin                   = "NoSuchOrigin"
	ErrCNAMEAlreadyExists             = "CNAMEAlreadyExists"
	ErrDistributionAlreadyExists      = "DistributionAlreadyExists"
	ErrDistributionNotDisabled        = "DistributionNotDisabled"
	ErrInvalidViewerCertificate       = "InvalidViewerCertificate"
	ErrInvalidIfMatchVersion          = "InvalidIfMatchVersion"
	ErrPreconditionFailed             = "PreconditionFailed"
	ErrIllegalUpdate                  = "IllegalUpdate"
	ErrInconsistentQuantities         = "InconsistentQuantities"
	ErrMalformedInput                 = "MalformedInput"
	ErrMissingBody                    = "MissingBody"
	ErrInvalidArgument                = "InvalidArgument"
	ErrInvalidTTLOrder                = "InvalidTTLOrder"
	ErrInvalidOriginReadTimeout       = "InvalidOriginReadTimeout"
	ErrInvalidOriginKeepaliveTimeout  = "InvalidOriginKeepaliveTimeout"
	ErrTooManyDistributionCNAMEs      = "TooManyDistributionCNAMEs"
	ErrTooManyOrigins                 = "TooManyOrigins"
	ErrTooManyOriginCustomHeaders     = "TooManyOriginCustomHeaders"
	ErrTooManyHeadersInForwardedValue = "TooManyHeadersInForwardedValues"
	ErrTooManyInvalidationsInProgress = "TooManyInvalidationsInProgress"
	ErrBatchTooLarge                  = "BatchTooLarge"
	ErrInvalidationBatchAlreadyExists = "InvalidationBatchAlreadyExists"
	ErrInvalidRequiredProtocol        = "InvalidRequiredProtocol"
	ErrInvalidURI                     = "InvalidURI"
	ErrServiceUnavailable             = "ServiceUnavailable"
	ErrInvalidTagging                 = "InvalidTagging"
	ErrNoSuchResource                 = "NoSuchResource"

	// ACM's codes.
	ErrResourceNotFound   = "ResourceNotFoundException"
	ErrResourceInUse      = "ResourceInUseException"
	ErrACMValidation      = "ValidationException"
	ErrACMInvalidArn      = "InvalidArnException"
	ErrACMInvalidParam    = "InvalidParameterException"
	ErrACMRequestInFlight = "RequestInProgressException"
	ErrACMInvalidTag      = "InvalidTagException"
	ErrACMTooManyTags     = "TooManyTagsException"
)

var statuses = map[string]int{
	ErrAccessDenied:                   http.StatusForbidden,
	ErrSignatureDoesNotMatch:          http.StatusForbidden,
	ErrInvalidClientTokenID:           http.StatusForbidden,
	ErrIncompleteSignature:            http.StatusForbidden,
	"MissingAuthenticationToken":      http.StatusForbidden,
	"RequestTimeTooSkewed":            http.StatusForbidden,
	ErrNoSuchDistribution:             http.StatusNotFound,
	ErrNoSuchInvalidation:             http.StatusNotFound,
	ErrNoSuchOrigin:                   http.StatusNotFound,
	ErrNoSuchResource:                 http.StatusNotFound,
	ErrCNAMEAlreadyExists:             http.StatusConflict,
	ErrDistributionAlreadyExists:      http.StatusConflict,
	ErrDistributionNotDisabled:        http.StatusConflict,
	ErrPreconditionFailed:             http.StatusPreconditionFailed,
	ErrBatchTooLarge:                  http.StatusRequestEntityTooLarge,
	ErrInvalidationBatchAlreadyExists: http.StatusConflict,
	ErrServiceUnavailable:             http.StatusServiceUnavailable,
	"ResourceInUse":                   http.StatusConflict,

	ErrNoSuchCachePolicy:                  http.StatusNotFound,
	ErrNoSuchOriginRequestPolicy:          http.StatusNotFound,
	ErrNoSuchResponseHeadersPolicy:        http.StatusNotFound,
	ErrCachePolicyAlreadyExists:           http.StatusConflict,
	ErrOriginRequestPolicyAlreadyExists:   http.StatusConflict,
	ErrResponseHeadersPolicyAlreadyExists: http.StatusConflict,
	ErrCachePolicyInUse:                   http.StatusConflict,
	ErrOriginRequestPolicyInUse:           http.StatusConflict,
	ErrResponseHeadersPolicyInUse:         http.StatusConflict,
}
