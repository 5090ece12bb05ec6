package acmapi

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/portico-edge/portico"
)

// decodeInput decodes a request body into the operation's input struct.
// An empty body is an empty object. Members the struct does not name are
// ignored, as AWS services ignore members newer than their model. Error
// messages never quote the body: it may hold a private key.
func decodeInput(payload []byte, v any) error {
	if len(bytes.TrimSpace(payload)) == 0 {
		return nil
	}
	err := json.Unmarshal(payload, v)
	if err == nil {
		return nil
	}
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return portico.Errorf(errSerialization, "The request body is not valid JSON: syntax error at byte %d.", syntax.Offset)
	case errors.As(err, &typ) && typ.Field != "":
		return portico.Errorf(errSerialization, "Member %s has the wrong type: a JSON %s where %s was expected.", typ.Field, typ.Value, jsonKind(typ.Type.String()))
	case errors.As(err, &typ):
		return portico.Errorf(errSerialization, "The request body must be a JSON object, not a JSON %s.", typ.Value)
	}
	return portico.Errorf(errSerialization, "The request body could not be decoded.")
}

// jsonKind names the JSON type that a Go type decodes from.
func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.Contains(goType, "int"):
		return "a number"
	case strings.Contains(goType, "string"):
		return "a string"
	case strings.Contains(goType, "bool"):
		return "a boolean"
	}
	return "an object"
}

// decodeBlob decodes a base64 blob member. A nil member decodes to nil.
func decodeBlob(member string, s *string) ([]byte, error) {
	if s == nil {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(*s)
	if err != nil {
		return nil, portico.Errorf(errSerialization, "Member %s is not valid base64: blobs are sent base64-encoded.", member)
	}
	return b, nil
}

// validation collects constraint violations and reports them the way AWS
// services do: "2 validation errors detected: Value null at 'certificate'
// failed to satisfy constraint: Member must not be null; ...". Values are
// quoted only for members that cannot hold secrets.
type validation []string

func (v *validation) add(format string, args ...any) {
	*v = append(*v, fmt.Sprintf(format, args...))
}

// required records a missing member.
func (v *validation) required(member string, present bool) {
	if !present {
		v.add("Value null at '%s' failed to satisfy constraint: Member must not be null", member)
	}
}

// length records a member whose length is outside [lo, hi], without
// quoting it.
func (v *validation) length(member string, n, lo, hi int) {
	switch {
	case n < lo:
		v.add("Value at '%s' failed to satisfy constraint: Member must have length greater than or equal to %d", member, lo)
	case n > hi:
		v.add("Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", member, hi)
	}
}

// enum records a member whose value is not one of values.
func (v *validation) enum(member, value string, values []string) {
	for _, ok := range values {
		if value == ok {
			return
		}
	}
	v.add("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]",
		truncate(value, 64), member, strings.Join(values, ", "))
}

// err returns the collected violations as one ValidationException, or nil.
func (v validation) err() error {
	switch len(v) {
	case 0:
		return nil
	case 1:
		return portico.Errorf(portico.ErrACMValidation, "1 validation error detected: %s", v[0])
	}
	return portico.Errorf(portico.ErrACMValidation, "%d validation errors detected: %s", len(v), strings.Join(v, "; "))
}

// epochSeconds is a timestamp in awsJson's default format: seconds since
// the Unix epoch as a JSON number, with millisecond precision.
type epochSeconds time.Time

// MarshalJSON encodes t as epoch seconds.
func (t epochSeconds) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(time.Time(t).UnixMilli())/1e3, 'f', -1, 64), nil
}

// usages are the X.509 key usages of a certificate, in ACM's names.
type usages struct {
	key      []string
	extended []extendedKeyUsage
}

// extendedKeyUsage is ACM's ExtendedKeyUsage structure.
type extendedKeyUsage struct {
	Name string
	OID  string `json:",omitempty"`
}

// ACM's names for X.509 key usages, in bit order.
var keyUsageNames = []struct {
	bit  x509.KeyUsage
	name string
}{
	{x509.KeyUsageDigitalSignature, "DIGITAL_SIGNATURE"},
	{x509.KeyUsageContentCommitment, "NON_REPUDIATION"},
	{x509.KeyUsageKeyEncipherment, "KEY_ENCIPHERMENT"},
	{x509.KeyUsageDataEncipherment, "DATA_ENCIPHERMENT"},
	{x509.KeyUsageKeyAgreement, "KEY_AGREEMENT"},
	{x509.KeyUsageCertSign, "CERTIFICATE_SIGNING"},
	{x509.KeyUsageCRLSign, "CRL_SIGNING"},
	{x509.KeyUsageEncipherOnly, "ENCIPHER_ONLY"},
	{x509.KeyUsageDecipherOnly, "DECIPHER_ONLY"},
}

// ACM's names and the OIDs of X.509 extended key usages.
var extKeyUsageNames = map[x509.ExtKeyUsage]extendedKeyUsage{
	x509.ExtKeyUsageAny:             {"ANY", "2.5.29.37.0"},
	x509.ExtKeyUsageServerAuth:      {"TLS_WEB_SERVER_AUTHENTICATION", "1.3.6.1.5.5.7.3.1"},
	x509.ExtKeyUsageClientAuth:      {"TLS_WEB_CLIENT_AUTHENTICATION", "1.3.6.1.5.5.7.3.2"},
	x509.ExtKeyUsageCodeSigning:     {"CODE_SIGNING", "1.3.6.1.5.5.7.3.3"},
	x509.ExtKeyUsageEmailProtection: {"EMAIL_PROTECTION", "1.3.6.1.5.5.7.3.4"},
	x509.ExtKeyUsageIPSECEndSystem:  {"IPSEC_END_SYSTEM", "1.3.6.1.5.5.7.3.5"},
	x509.ExtKeyUsageIPSECTunnel:     {"IPSEC_TUNNEL", "1.3.6.1.5.5.7.3.6"},
	x509.ExtKeyUsageIPSECUser:       {"IPSEC_USER", "1.3.6.1.5.5.7.3.7"},
	x509.ExtKeyUsageTimeStamping:    {"TIME_STAMPING", "1.3.6.1.5.5.7.3.8"},
	x509.ExtKeyUsageOCSPSigning:     {"OCSP_SIGNING", "1.3.6.1.5.5.7.3.9"},
}

// certificateUsages reads the key usages of a stored certificate. A
// certificate that does not parse (it did when it was imported) has none.
func certificateUsages(c *portico.Certificate) usages {
	block, _ := pem.Decode(c.CertificatePEM)
	if block == nil {
		return usages{}
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return usages{}
	}
	var u usages
	for _, k := range keyUsageNames {
		if leaf.KeyUsage&k.bit != 0 {
			u.key = append(u.key, k.name)
		}
	}
	for _, e := range leaf.ExtKeyUsage {
		if n, ok := extKeyUsageNames[e]; ok {
			u.extended = append(u.extended, n)
		}
	}
	for _, oid := range leaf.UnknownExtKeyUsage {
		u.extended = append(u.extended, extendedKeyUsage{Name: "CUSTOM", OID: oid.String()})
	}
	return u
}

// signatureAlgorithm returns a signature algorithm in ACM's notation,
// "SHA256WITHRSA" or "SHA256WITHECDSA", given Go's ("SHA256-RSA",
// "ECDSA-SHA256", in any case). Names already in ACM's notation are kept.
func signatureAlgorithm(name string) string {
	name = strings.ToUpper(name)
	if strings.Contains(name, "WITH") {
		return name
	}
	if hash, ok := strings.CutSuffix(name, "-RSAPSS"); ok {
		return hash + "WITHRSAANDMGF1"
	}
	if hash, ok := strings.CutSuffix(name, "-RSA"); ok {
		return hash + "WITHRSA"
	}
	if hash, ok := strings.CutPrefix(name, "ECDSA-"); ok {
		return hash + "WITHECDSA"
	}
	if hash, ok := strings.CutPrefix(name, "DSA-"); ok {
		return hash + "WITHDSA"
	}
	return name
}
