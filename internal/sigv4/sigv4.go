// Package sigv4 verifies requests signed with AWS Signature Version 4, the
// way AWS services other than S3 check them: the Authorization header form
// and the presigned (query string) form, algorithm AWS4-HMAC-SHA256.
//
// A Verifier rebuilds the canonical request from what arrived on the wire,
// derives the signing key from the secret it looks up for the access key
// ID, and compares signatures in constant time. Its failures are
// *portico.Error values with status 403 and AWS's error codes; their
// messages never carry the secret, the expected signature, the canonical
// request or the string to sign.
package sigv4

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/portico-edge/portico"
)

// Algorithm is the only signing algorithm a Verifier accepts.
const Algorithm = "AWS4-HMAC-SHA256"

// UnsignedPayload stands in for the payload hash of a presigned request
// whose body is not covered by the signature.
const UnsignedPayload = "UNSIGNED-PAYLOAD"

const (
	// MaxSkew is how far the time a request was signed at may be from the
	// server's clock, either way, for the Authorization header form. A
	// presigned request may be signed up to MaxSkew in the future.
	MaxSkew = 15 * time.Minute
	// MaxExpires is the longest validity a presigned request may ask for
	// in X-Amz-Expires: seven days.
	MaxExpires = 7 * 24 * time.Hour
)

const (
	amzDateLayout   = "20060102T150405Z"
	scopeDateLayout = "20060102"
	scopeTerminator = "aws4_request"
)

// Error codes that errors.go does not list.
const (
	errMissingAuthenticationToken = "MissingAuthenticationToken"
	errRequestTimeTooSkewed       = "RequestTimeTooSkewed"
)

// Verifier checks SigV4-signed requests. Its fields are read, never
// written, by Verify, so one Verifier may serve concurrent requests once
// it is set up.
type Verifier struct {
	// Secret returns the secret access key for an access key ID, and
	// ok=false if the ID is unknown. It must be set.
	Secret func(accessKeyID string) (secret string, ok bool)
	// Services lists the service names accepted in the credential scope,
	// such as "cloudfront" and "acm".
	Services []string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Identity is what a verified request was signed as.
type Identity struct {
	// AccessKeyID names the credentials that signed the request.
	AccessKeyID string
	// Service and Region are the ones in the request's credential scope.
	// Any region is accepted; Service is one of Verifier.Services, and a
	// handler that serves only one service should check it.
	Service string
	Region  string
}

// Verify checks the signature of r, whose body the caller has already read
// into payload; Verify does not read r.Body. It returns who signed the
// request, or a *portico.Error with status 403: MissingAuthenticationToken
// when the request carries no signature at all, IncompleteSignature when
// the signature is malformed, InvalidClientTokenId for an unknown access
// key, RequestTimeTooSkewed when the signing time is too far from now,
// AccessDenied when a presigned request has expired, and
// SignatureDoesNotMatch when the signature is wrong.
func (v *Verifier) Verify(r *http.Request, payload []byte) (Identity, error) {
	query, queryErr := parseQuery(r.URL.RawQuery)
	a, err := parseAuth(r, query)
	if err != nil {
		return Identity{}, err
	}
	if queryErr != nil {
		return Identity{}, queryErr
	}
	if err := v.checkScope(a); err != nil {
		return Identity{}, err
	}
	if err := v.checkTime(a); err != nil {
		return Identity{}, err
	}
	if v.Secret == nil {
		return Identity{}, errInvalidClientTokenID()
	}
	secret, ok := v.Secret(a.accessKeyID)
	if !ok {
		return Identity{}, errInvalidClientTokenID()
	}
	hashes, err := payloadHashes(r, payload, a.presigned)
	if err != nil {
		return Identity{}, err
	}

	key := signingKey(secret, a.scopeDate, a.region, a.service)
	scope := a.scopeDate + "/" + a.region + "/" + a.service + "/" + scopeTerminator
	for _, creq := range canonicalRequests(r, a, query, hashes) {
		if hmac.Equal(hmacSHA256(key, stringToSign(a.amzDate, scope, creq)), a.signature[:]) {
			return Identity{AccessKeyID: a.accessKeyID, Service: a.service, Region: a.region}, nil
		}
	}
	return Identity{}, errSignatureDoesNotMatch()
}

// canonicalRequests returns the canonical requests that a signer may have
// built for r: one for each payload hash, and twice that many when the
// path is not in normal form. The canonical URI is the escaped path
// encoded once more, as the AWS SDKs do for services other than S3; some
// signers (botocore, the AWS CRT) first remove dot segments and empty
// segments from the path, so when that changes the path the normalised
// form is tried too.
func canonicalRequests(r *http.Request, a *auth, query []queryParam, hashes []string) [][]byte {
	escaped := r.URL.EscapedPath()
	uris := []string{canonicalURI(escaped)}
	if n := canonicalURI(normalizePath(escaped)); n != uris[0] {
		uris = append(uris, n)
	}
	cq := canonicalQuery(query, a.presigned)
	ch := canonicalHeaders(r, a.signedHeaders)
	reqs := make([][]byte, 0, len(uris)*len(hashes))
	for _, uri := range uris {
		for _, hash := range hashes {
			reqs = append(reqs, canonicalRequest(r.Method, uri, cq, ch, a.signedHeaders, hash))
		}
	}
	return reqs
}

// checkScope checks the credential scope against the signing time and the
// accepted services.
func (v *Verifier) checkScope(a *auth) error {
	if a.scopeDate != a.amzDate[:len(scopeDateLayout)] {
		return forbidden(portico.ErrSignatureDoesNotMatch,
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s'.",
			a.scopeDate, a.amzDate[:len(scopeDateLayout)])
	}
	if !slices.Contains(v.Services, a.service) {
		quoted := make([]string, len(v.Services))
		for i, s := range v.Services {
			quoted[i] = "'" + s + "'"
		}
		return forbidden(portico.ErrSignatureDoesNotMatch,
			"Credential should be scoped to correct service: %s.", strings.Join(quoted, " or "))
	}
	return nil
}

// checkTime checks the signing time against the clock: within MaxSkew for
// the header form; not yet expired and not too far in the future for the
// presigned form.
func (v *Verifier) checkTime(a *auth) error {
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	now = now.UTC()
	if a.presigned {
		if a.signedAt.Sub(now) > MaxSkew {
			return forbidden(portico.ErrAccessDenied, "Request is not valid yet")
		}
		if now.After(a.signedAt.Add(a.expires)) {
			return forbidden(portico.ErrAccessDenied, "Request has expired")
		}
		return nil
	}
	if d := now.Sub(a.signedAt); d > MaxSkew || d < -MaxSkew {
		return forbidden(errRequestTimeTooSkewed,
			"The difference between the request time and the server time is too large. Request time: %s, server time: %s.",
			a.amzDate, now.Format(amzDateLayout))
	}
	return nil
}

// payloadHashes returns the payload hashes to try in the canonical
// request. A signed x-amz-content-sha256 header must match the payload,
// except that a presigned request may say UNSIGNED-PAYLOAD; a presigned
// request without the header may have been signed either way.
func payloadHashes(r *http.Request, payload []byte, presigned bool) ([]string, error) {
	sum := sha256.Sum256(payload)
	hash := hex.EncodeToString(sum[:])
	claimed := r.Header.Values("X-Amz-Content-Sha256")
	switch {
	case len(claimed) > 1:
		return nil, forbidden(portico.ErrIncompleteSignature, "Request has more than one x-amz-content-sha256 header.")
	case len(claimed) == 0 && presigned:
		return []string{hash, UnsignedPayload}, nil
	case len(claimed) == 0:
		return []string{hash}, nil
	case claimed[0] == UnsignedPayload && presigned:
		return []string{UnsignedPayload}, nil
	case !strings.EqualFold(claimed[0], hash):
		return nil, forbidden(portico.ErrSignatureDoesNotMatch,
			"The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	// The signer put the header's own spelling into the canonical request.
	return []string{claimed[0]}, nil
}

// signingKey derives the SigV4 signing key for one day, region and service.
func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	return hmacSHA256(k, []byte(scopeTerminator))
}

// stringToSign returns the SigV4 string to sign for a canonical request.
func stringToSign(amzDate, scope string, canonicalRequest []byte) []byte {
	sum := sha256.Sum256(canonicalRequest)
	var b bytes.Buffer
	b.Grow(len(Algorithm) + len(amzDate) + len(scope) + 3 + 2*len(sum))
	b.WriteString(Algorithm)
	b.WriteByte('\n')
	b.WriteString(amzDate)
	b.WriteByte('\n')
	b.WriteString(scope)
	b.WriteByte('\n')
	var hexSum [2 * sha256.Size]byte
	hex.Encode(hexSum[:], sum[:])
	b.Write(hexSum[:])
	return b.Bytes()
}

func hmacSHA256(key, data []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return h.Sum(nil)
}

// forbidden returns a 403 *portico.Error. Every failure of Verify is a
// 403, including codes whose status errors.go does not know.
func forbidden(code, format string, args ...any) *portico.Error {
	return &portico.Error{Code: code, Message: fmt.Sprintf(format, args...), Status: http.StatusForbidden}
}

func errIncomplete(format string, args ...any) *portico.Error {
	return forbidden(portico.ErrIncompleteSignature, format, args...)
}

func errInvalidClientTokenID() *portico.Error {
	return forbidden(portico.ErrInvalidClientTokenID, "The security token included in the request is invalid.")
}

func errSignatureDoesNotMatch() *portico.Error {
	return forbidden(portico.ErrSignatureDoesNotMatch,
		"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
}
