package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Query parameters of the presigned form.
const (
	paramAlgorithm     = "X-Amz-Algorithm"
	paramCredential    = "X-Amz-Credential"
	paramDate          = "X-Amz-Date"
	paramExpires       = "X-Amz-Expires"
	paramSignedHeaders = "X-Amz-SignedHeaders"
	paramSignature     = "X-Amz-Signature"
)

// auth is what a request says about its own signature, checked for form
// but not yet for truth.
type auth struct {
	presigned bool

	accessKeyID string
	scopeDate   string // YYYYMMDD
	region      string
	service     string

	signedHeaders []string // lower case, as listed by the signer
	signature     [sha256.Size]byte

	amzDate  string    // the signing time in ISO 8601 basic format, as in the string to sign
	signedAt time.Time // amzDate, parsed
	expires  time.Duration
}

// queryParam is one decoded name=value pair of a query string.
type queryParam struct{ key, value string }

// parseQuery splits a raw query string into decoded pairs, in order. A
// '+' decodes to a space, as the AWS SDK for Go signs it. Unlike
// url.ParseQuery it keeps every pair, so that the canonical query string
// covers exactly what was sent. A pair that does not decode is an error;
// the pairs that do are returned with it.
func parseQuery(raw string) ([]queryParam, error) {
	if raw == "" {
		return nil, nil
	}
	var err error
	params := make([]queryParam, 0, strings.Count(raw, "&")+1)
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err1 := url.QueryUnescape(k)
		value, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			err = errIncomplete("The query string is not validly encoded.")
			continue
		}
		params = append(params, queryParam{key, value})
	}
	return params, err
}

// parseAuth finds the signature in r (the Authorization header or the
// presigned query parameters) and checks its form.
func parseAuth(r *http.Request, query []queryParam) (*auth, error) {
	headers := r.Header.Values("Authorization")
	presigned := false
	for _, p := range query {
		switch p.key {
		case paramAlgorithm, paramCredential, paramSignature:
			presigned = true
		}
	}
	switch {
	case len(headers) == 0 && !presigned:
		return nil, forbidden(errMissingAuthenticationToken, "Missing Authentication Token")
	case len(headers) > 0 && presigned:
		return nil, errIncomplete("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.")
	case len(headers) > 1:
		return nil, errIncomplete("Request has more than one Authorization header.")
	case presigned:
		return parsePresigned(query)
	}
	return parseHeader(r, headers[0])
}

// parseHeader parses the Authorization header form:
//
//	AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=hex
func parseHeader(r *http.Request, header string) (*auth, error) {
	alg, rest, _ := strings.Cut(strings.TrimSpace(header), " ")
	if alg != Algorithm {
		return nil, errIncomplete("Authorization header must use the %s algorithm.", Algorithm)
	}
	var credential, signedHeaders, signature string
	var seen [3]bool
	for field := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			return nil, errIncomplete("Authorization header has a field that is not a key=value pair.")
		}
		var i int
		switch k {
		case "Credential":
			i, credential = 0, v
		case "SignedHeaders":
			i, signedHeaders = 1, v
		case "Signature":
			i, signature = 2, v
		default:
			return nil, errIncomplete("Authorization header has an unknown field.")
		}
		if seen[i] {
			return nil, errIncomplete("Authorization header repeats the %s field.", k)
		}
		seen[i] = true
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return nil, errIncomplete("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.")
	}

	a := &auth{}
	if err := a.setCredential(credential); err != nil {
		return nil, err
	}
	if err := a.setSignedHeaders(signedHeaders); err != nil {
		return nil, err
	}
	if err := a.setSignature(signature); err != nil {
		return nil, err
	}

	if d := r.Header.Values("X-Amz-Date"); len(d) > 0 {
		if len(d) > 1 {
			return nil, errIncomplete("Request has more than one X-Amz-Date header.")
		}
		if err := a.setAmzDate(d[0]); err != nil {
			return nil, err
		}
		return a, nil
	}
	d := r.Header.Values("Date")
	if len(d) != 1 {
		return nil, errIncomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	t, err := http.ParseTime(d[0])
	if err != nil {
		return nil, errIncomplete("Date header is not a valid HTTP date.")
	}
	a.signedAt = t.UTC()
	a.amzDate = a.signedAt.Format(amzDateLayout)
	return a, nil
}

// parsePresigned parses the presigned form's query parameters.
func parsePresigned(query []queryParam) (*auth, error) {
	names := [...]string{paramAlgorithm, paramCredential, paramDate, paramExpires, paramSignedHeaders, paramSignature}
	var values [len(names)]string
	var seen [len(names)]bool
	for _, p := range query {
		for i, n := range names {
			if p.key != n {
				continue
			}
			if seen[i] {
				return nil, errIncomplete("Query string repeats the %s parameter.", n)
			}
			seen[i], values[i] = true, p.value
		}
	}
	for i, n := range names {
		if !seen[i] {
			return nil, errIncomplete("Query-string authentication requires the %s parameter.", n)
		}
	}
	if values[0] != Algorithm {
		return nil, errIncomplete("X-Amz-Algorithm only supports %s.", Algorithm)
	}

	a := &auth{presigned: true}
	if err := a.setCredential(values[1]); err != nil {
		return nil, err
	}
	if err := a.setAmzDate(values[2]); err != nil {
		return nil, err
	}
	if err := a.setExpires(values[3]); err != nil {
		return nil, err
	}
	if err := a.setSignedHeaders(values[4]); err != nil {
		return nil, err
	}
	if err := a.setSignature(values[5]); err != nil {
		return nil, err
	}
	return a, nil
}

// setCredential parses AKID/YYYYMMDD/region/service/aws4_request.
func (a *auth) setCredential(s string) error {
	parts := strings.Split(s, "/")
	if len(parts) != 5 {
		return errIncomplete("Credential must have the form <access key ID>/<date>/<region>/<service>/aws4_request.")
	}
	for _, p := range parts {
		if p == "" {
			return errIncomplete("Credential must have the form <access key ID>/<date>/<region>/<service>/aws4_request.")
		}
	}
	if _, err := time.Parse(scopeDateLayout, parts[1]); err != nil || len(parts[1]) != len(scopeDateLayout) {
		return errIncomplete("Credential has an invalid date; it must be YYYYMMDD.")
	}
	if !isScopeName(parts[2]) || !isScopeName(parts[3]) {
		return errIncomplete("Credential has an invalid region or service name.")
	}
	if parts[4] != scopeTerminator {
		return errIncomplete("Credential should be scoped with a valid terminator: '%s'.", scopeTerminator)
	}
	a.accessKeyID, a.scopeDate, a.region, a.service = parts[0], parts[1], parts[2], parts[3]
	return nil
}

// setSignedHeaders parses a semicolon-separated list of lower-case header
// names, which must include host.
func (a *auth) setSignedHeaders(s string) error {
	hasHost := false
	for name := range strings.SplitSeq(s, ";") {
		if name == "" || !isLowerToken(name) {
			return errIncomplete("SignedHeaders must be a semicolon-separated list of lower-case header names.")
		}
		hasHost = hasHost || name == "host"
		a.signedHeaders = append(a.signedHeaders, name)
	}
	if !hasHost {
		return errIncomplete("'Host' must be a 'SignedHeader' in the AWS Authorization.")
	}
	return nil
}

// setSignature parses a hex-encoded HMAC-SHA256.
func (a *auth) setSignature(s string) error {
	if len(s) != 2*sha256.Size {
		return errIncomplete("Signature must be %d hexadecimal digits.", 2*sha256.Size)
	}
	if _, err := hex.Decode(a.signature[:], []byte(s)); err != nil {
		return errIncomplete("Signature must be %d hexadecimal digits.", 2*sha256.Size)
	}
	return nil
}

// setAmzDate parses the signing time in ISO 8601 basic format.
func (a *auth) setAmzDate(s string) error {
	t, err := time.Parse(amzDateLayout, s)
	if err != nil || len(s) != len(amzDateLayout) {
		return errIncomplete("X-Amz-Date must be in the ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z'.")
	}
	a.amzDate, a.signedAt = s, t
	return nil
}

// setExpires parses X-Amz-Expires: whole seconds, 1 to 604800.
func (a *auth) setExpires(s string) error {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' || n > int(MaxExpires/time.Second) {
			n = -1
			break
		}
		n = n*10 + int(s[i]-'0')
	}
	if s == "" || n < 1 || n > int(MaxExpires/time.Second) {
		return errIncomplete("X-Amz-Expires must be a whole number of seconds from 1 to %d.", int(MaxExpires/time.Second))
	}
	a.expires = time.Duration(n) * time.Second
	return nil
}

// isScopeName reports whether s can be a region or service name: at most
// 64 letters, digits, '-', '_' and '.'.
func isScopeName(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isUnreserved(c) || c == '~' {
			return false
		}
	}
	return true
}

// isLowerToken reports whether s is an HTTP header name (RFC 9110 token)
// with no upper-case letters.
func isLowerToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
