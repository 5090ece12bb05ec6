package acmapi

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/portico-edge/portico"
)

// Limits from ACM's service model.
const (
	maxCertificateBytes = 32768
	maxChainBytes       = 2097152
	maxPrivateKeyBytes  = 5120
	maxItemsLimit       = 1000
	maxNextToken        = 10000
	maxSANSummaries     = 100
)

// Values of ACM's enumerations that Portico reports or accepts.
const (
	statusIssued        = "ISSUED"
	statusExpired       = "EXPIRED"
	typeImported        = "IMPORTED"
	renewalIneligible   = "INELIGIBLE"
	sortByCreatedAt     = "CREATED_AT"
	sortOrderAscending  = "ASCENDING"
	sortOrderDescending = "DESCENDING"
)

var (
	certificateStatuses = []string{"PENDING_VALIDATION", "ISSUED", "INACTIVE", "EXPIRED", "VALIDATION_TIMED_OUT", "REVOKED", "FAILED"}
	keyAlgorithms       = []string{"RSA_1024", "RSA_2048", "RSA_3072", "RSA_4096", "EC_prime256v1", "EC_secp384r1", "EC_secp521r1"}
	keyUsageFilter      = []string{"DIGITAL_SIGNATURE", "NON_REPUDIATION", "KEY_ENCIPHERMENT", "DATA_ENCIPHERMENT", "KEY_AGREEMENT", "CERTIFICATE_SIGNING", "CRL_SIGNING", "ENCIPHER_ONLY", "DECIPHER_ONLY", "ANY", "CUSTOM"}
	extKeyUsageFilter   = []string{"TLS_WEB_SERVER_AUTHENTICATION", "TLS_WEB_CLIENT_AUTHENTICATION", "CODE_SIGNING", "EMAIL_PROTECTION", "TIME_STAMPING", "OCSP_SIGNING", "IPSEC_END_SYSTEM", "IPSEC_TUNNEL", "IPSEC_USER", "ANY", "NONE", "CUSTOM"}
	exportOptions       = []string{"ENABLED", "DISABLED"}
	managedByValues     = []string{"CLOUDFRONT"}

	// defaultKeyTypes is what ListCertificates returns when the request
	// names no key types: ACM lists only these by default.
	defaultKeyTypes = []string{"RSA_1024", "RSA_2048"}
)

// operation returns the function that carries out the named operation, or
// nil if Portico does not implement it.
func (h *Handler) operation(name string) func(context.Context, []byte) (any, error) {
	switch name {
	case "ImportCertificate":
		return h.importCertificate
	case "DescribeCertificate":
		return h.describeCertificate
	case "ListCertificates":
		return h.listCertificates
	case "GetCertificate":
		return h.getCertificate
	case "DeleteCertificate":
		return h.deleteCertificate
	case "RequestCertificate":
		return h.requestCertificate
	case "AddTagsToCertificate":
		return h.addTagsToCertificate
	case "RemoveTagsFromCertificate":
		return h.removeTagsFromCertificate
	case "ListTagsForCertificate":
		return h.listTagsForCertificate
	}
	return nil
}

// now returns the service's clock.
func (h *Handler) now() time.Time {
	if h.Service.Now != nil {
		return h.Service.Now()
	}
	return time.Now()
}

type importCertificateInput struct {
	CertificateArn   *string
	Certificate      *string // base64 blobs
	CertificateChain *string
	PrivateKey       *string
	Tags             []tagInput
}

type importCertificateOutput struct {
	CertificateArn string
}

// importCertificate imports a new certificate, or re-imports one when the
// request names a CertificateArn.
func (h *Handler) importCertificate(ctx context.Context, payload []byte) (any, error) {
	var in importCertificateInput
	if err := decodeInput(payload, &in); err != nil {
		return nil, err
	}
	cert, err := decodeBlob("Certificate", in.Certificate)
	if err != nil {
		return nil, err
	}
	chain, err := decodeBlob("CertificateChain", in.CertificateChain)
	if err != nil {
		return nil, err
	}
	key, err := decodeBlob("PrivateKey", in.PrivateKey)
	if err != nil {
		return nil, err
	}
	var v validation
	v.required("certificate", in.Certificate != nil)
	if in.Certificate != nil {
		v.length("certificate", len(cert), 1, maxCertificateBytes)
	}
	v.required("privateKey", in.PrivateKey != nil)
	if in.PrivateKey != nil {
		v.length("privateKey", len(key), 1, maxPrivateKeyBytes)
	}
	if in.CertificateChain != nil {
		v.length("certificateChain", len(chain), 1, maxChainBytes)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	arn := ""
	if in.CertificateArn != nil {
		if arn = *in.CertificateArn; arn == "" {
			return nil, portico.Errorf(portico.ErrACMInvalidArn, "The CertificateArn is empty: omit it to import a new certificate.")
		}
	}
	var c *portico.Certificate
	if len(in.Tags) > 0 {
		c, err = h.importWithTags(ctx, arn, cert, chain, key, in.Tags)
	} else {
		c, err = h.Service.ImportCertificate(ctx, arn, cert, chain, key)
	}
	if err != nil {
		return nil, err
	}
	return importCertificateOutput{CertificateArn: c.ARN}, nil
}

// arnInput is the input of the operations that take only a certificate ARN.
type arnInput struct {
	CertificateArn *string
}

// decodeARN decodes an arnInput and returns its required ARN.
func decodeARN(payload []byte) (string, error) {
	var in arnInput
	if err := decodeInput(payload, &in); err != nil {
		return "", err
	}
	var v validation
	v.required("certificateArn", in.CertificateArn != nil)
	if err := v.err(); err != nil {
		return "", err
	}
	return *in.CertificateArn, nil
}

type describeCertificateOutput struct {
	Certificate certificateDetail
}

// certificateDetail is ACM's CertificateDetail for an imported certificate.
type certificateDetail struct {
	CertificateArn          string
	DomainName              string
	SubjectAlternativeNames []string `json:",omitempty"`
	Serial                  string
	Subject                 string
	Issuer                  string
	CreatedAt               epochSeconds
	ImportedAt              epochSeconds
	Status                  string
	NotBefore               epochSeconds
	NotAfter                epochSeconds
	KeyAlgorithm            string
	SignatureAlgorithm      string
	InUseBy                 []string
	Type                    string
	KeyUsages               []keyUsage         `json:",omitempty"`
	ExtendedKeyUsages       []extendedKeyUsage `json:",omitempty"`
	RenewalEligibility      string
}

// keyUsage is ACM's KeyUsage structure.
type keyUsage struct {
	Name string
}

// describeCertificate returns a certificate's metadata, never its key.
func (h *Handler) describeCertificate(ctx context.Context, payload []byte) (any, error) {
	arn, err := decodeARN(payload)
	if err != nil {
		return nil, err
	}
	c, err := h.Service.GetCertificate(ctx, arn)
	if err != nil {
		return nil, err
	}
	inUse, err := h.Service.CertificateInUseBy(ctx, arn)
	if err != nil {
		return nil, err
	}
	u := certificateUsages(c)
	d := certificateDetail{
		CertificateArn:          c.ARN,
		DomainName:              c.DomainName,
		SubjectAlternativeNames: c.SubjectAlternativeNames,
		Serial:                  c.Serial,
		Subject:                 c.Subject,
		Issuer:                  c.Issuer,
		CreatedAt:               epochSeconds(c.CreatedAt),
		ImportedAt:              epochSeconds(c.ImportedAt),
		Status:                  status(c, h.now()),
		NotBefore:               epochSeconds(c.NotBefore),
		NotAfter:                epochSeconds(c.NotAfter),
		KeyAlgorithm:            c.KeyAlgorithm,
		SignatureAlgorithm:      signatureAlgorithm(c.SignatureAlgorithm),
		InUseBy:                 append([]string{}, inUse...),
		Type:                    typeImported,
		ExtendedKeyUsages:       u.extended,
		RenewalEligibility:      renewalIneligible,
	}
	for _, k := range u.key {
		d.KeyUsages = append(d.KeyUsages, keyUsage{Name: k})
	}
	return describeCertificateOutput{Certificate: d}, nil
}

// status is ACM's status of an imported certificate.
func status(c *portico.Certificate, now time.Time) string {
	if now.After(c.NotAfter) {
		return statusExpired
	}
	return statusIssued
}

type listCertificatesInput struct {
	CertificateStatuses []string
	Includes            *filters
	NextToken           *string
	MaxItems            *int
	SortBy              *string
	SortOrder           *string
}

// filters is ACM's Filters structure; its members are lower camel case.
type filters struct {
	ExtendedKeyUsage []string `json:"extendedKeyUsage"`
	KeyUsage         []string `json:"keyUsage"`
	KeyTypes         []string `json:"keyTypes"`
	ExportOption     *string  `json:"exportOption"`
	ManagedBy        *string  `json:"managedBy"`
}

type listCertificatesOutput struct {
	CertificateSummaryList []certificateSummary
	NextToken              string `json:",omitempty"`
}

// certificateSummary is ACM's CertificateSummary for an imported
// certificate.
type certificateSummary struct {
	CertificateArn                       string
	DomainName                           string
	SubjectAlternativeNameSummaries      []string `json:",omitempty"`
	HasAdditionalSubjectAlternativeNames bool
	Status                               string
	Type                                 string
	KeyAlgorithm                         string
	KeyUsages                            []string `json:",omitempty"`
	ExtendedKeyUsages                    []string `json:",omitempty"`
	InUse                                bool
	RenewalEligibility                   string
	NotBefore                            epochSeconds
	NotAfter                             epochSeconds
	CreatedAt                            epochSeconds
	ImportedAt                           epochSeconds
}

// listCertificates lists certificate summaries a page at a time. As in
// ACM, a request that names no key types lists only RSA_1024 and RSA_2048
// certificates; ask for others with Includes.keyTypes.
func (h *Handler) listCertificates(ctx context.Context, payload []byte) (any, error) {
	var in listCertificatesInput
	if err := decodeInput(payload, &in); err != nil {
		return nil, err
	}
	order, maxItems, err := in.check()
	if err != nil {
		return nil, err
	}
	after := ""
	if in.NextToken != nil {
		if after, err = parseNextToken(*in.NextToken, order); err != nil {
			return nil, err
		}
	}

	all, err := h.Service.ListCertificates(ctx)
	if err != nil {
		return nil, err
	}
	now := h.now()
	type entry struct {
		pos string
		c   *portico.Certificate
		u   usages
	}
	var entries []entry
	for _, c := range all {
		u := certificateUsages(c)
		if !in.matches(c, u, status(c, now)) {
			continue
		}
		entries = append(entries, entry{pos: position(c, order), c: c, u: u})
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if order == sortOrderDescending {
			return strings.Compare(b.pos, a.pos)
		}
		return strings.Compare(a.pos, b.pos)
	})
	if after != "" {
		i, _ := slices.BinarySearchFunc(entries, after, func(e entry, after string) int {
			if order == sortOrderDescending {
				return cmp.Compare(after, e.pos)
			}
			return cmp.Compare(e.pos, after)
		})
		if i < len(entries) && entries[i].pos == after {
			i++
		}
		entries = entries[i:]
	}

	out := listCertificatesOutput{CertificateSummaryList: []certificateSummary{}}
	for i, e := range entries {
		if i == maxItems {
			out.NextToken = nextToken(order, entries[i-1].pos)
			break
		}
		inUse, err := h.Service.CertificateInUseBy(ctx, e.c.ARN)
		if err != nil {
			return nil, err
		}
		out.CertificateSummaryList = append(out.CertificateSummaryList, summary(e.c, e.u, now, len(inUse) > 0))
	}
	return out, nil
}

// check validates the request and returns the sort order ("" for the
// default order, by ARN) and the page size.
func (in *listCertificatesInput) check() (order string, maxItems int, err error) {
	var v validation
	for _, s := range in.CertificateStatuses {
		v.enum("certificateStatuses", s, certificateStatuses)
	}
	if f := in.Includes; f != nil {
		for _, k := range f.KeyTypes {
			v.enum("includes.keyTypes", k, keyAlgorithms)
		}
		for _, k := range f.KeyUsage {
			v.enum("includes.keyUsage", k, keyUsageFilter)
		}
		for _, k := range f.ExtendedKeyUsage {
			v.enum("includes.extendedKeyUsage", k, extKeyUsageFilter)
		}
		if f.ExportOption != nil {
			v.enum("includes.exportOption", *f.ExportOption, exportOptions)
		}
		if f.ManagedBy != nil {
			v.enum("includes.managedBy", *f.ManagedBy, managedByValues)
		}
	}
	maxItems = maxItemsLimit
	if in.MaxItems != nil {
		maxItems = *in.MaxItems
		if maxItems < 1 {
			v.add("Value '%d' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1", maxItems)
		} else if maxItems > maxItemsLimit {
			v.add("Value '%d' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to %d", maxItems, maxItemsLimit)
		}
	}
	if in.NextToken != nil {
		v.length("nextToken", len(*in.NextToken), 1, maxNextToken)
	}
	if in.SortBy != nil {
		v.enum("sortBy", *in.SortBy, []string{sortByCreatedAt})
	}
	if in.SortOrder != nil {
		v.enum("sortOrder", *in.SortOrder, []string{sortOrderAscending, sortOrderDescending})
	}
	if err := v.err(); err != nil {
		return "", 0, err
	}
	if (in.SortBy == nil) != (in.SortOrder == nil) {
		return "", 0, portico.Errorf(errInvalidArgs, "SortBy and SortOrder must be given together.")
	}
	if in.SortOrder != nil {
		order = *in.SortOrder
	}
	return order, maxItems, nil
}

// matches reports whether a certificate passes the request's filters.
func (in *listCertificatesInput) matches(c *portico.Certificate, u usages, st string) bool {
	if len(in.CertificateStatuses) > 0 && !slices.Contains(in.CertificateStatuses, st) {
		return false
	}
	keyTypes := defaultKeyTypes
	if in.Includes != nil && len(in.Includes.KeyTypes) > 0 {
		keyTypes = in.Includes.KeyTypes
	}
	if !slices.Contains(keyTypes, c.KeyAlgorithm) {
		return false
	}
	f := in.Includes
	if f == nil {
		return true
	}
	if len(f.KeyUsage) > 0 && !slices.ContainsFunc(u.key, func(k string) bool { return slices.Contains(f.KeyUsage, k) }) {
		return false
	}
	if len(f.ExtendedKeyUsage) > 0 {
		ok := len(u.extended) == 0 && slices.Contains(f.ExtendedKeyUsage, "NONE") ||
			slices.ContainsFunc(u.extended, func(e extendedKeyUsage) bool { return slices.Contains(f.ExtendedKeyUsage, e.Name) })
		if !ok {
			return false
		}
	}
	// Imported certificates cannot be exported and no service manages them.
	if f.ExportOption != nil && *f.ExportOption != "DISABLED" || f.ManagedBy != nil {
		return false
	}
	return true
}

// summary returns ACM's CertificateSummary of c.
func summary(c *portico.Certificate, u usages, now time.Time, inUse bool) certificateSummary {
	s := certificateSummary{
		CertificateArn:                  c.ARN,
		DomainName:                      c.DomainName,
		SubjectAlternativeNameSummaries: c.SubjectAlternativeNames,
		Status:                          status(c, now),
		Type:                            typeImported,
		KeyAlgorithm:                    c.KeyAlgorithm,
		KeyUsages:                       u.key,
		InUse:                           inUse,
		RenewalEligibility:              renewalIneligible,
		NotBefore:                       epochSeconds(c.NotBefore),
		NotAfter:                        epochSeconds(c.NotAfter),
		CreatedAt:                       epochSeconds(c.CreatedAt),
		ImportedAt:                      epochSeconds(c.ImportedAt),
	}
	if len(s.SubjectAlternativeNameSummaries) > maxSANSummaries {
		s.SubjectAlternativeNameSummaries = s.SubjectAlternativeNameSummaries[:maxSANSummaries]
		s.HasAdditionalSubjectAlternativeNames = true
	}
	for _, e := range u.extended {
		s.ExtendedKeyUsages = append(s.ExtendedKeyUsages, e.Name)
	}
	return s
}

// position is where c sorts in a listing: by ARN, or by creation time and
// then ARN. Positions compare as strings.
func position(c *portico.Certificate, order string) string {
	if order == "" {
		return c.ARN
	}
	return fmt.Sprintf("%020d %s", c.CreatedAt.UnixNano(), c.ARN)
}

// nextToken returns the token that resumes a listing in the given order
// after position pos. It is opaque to clients.
func nextToken(order, pos string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(order + "\n" + pos))
}

// parseNextToken returns the position a NextToken resumes after, or an
// InvalidArgsException if the token is not one that a listing in this
// order returned.
func parseNextToken(token, order string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	tokenOrder, pos, ok := strings.Cut(string(b), "\n")
	if err != nil || !ok || tokenOrder != order || pos == "" {
		return "", portico.Errorf(errInvalidArgs, "The NextToken is not valid for this request: pass the NextToken of the previous page, with the same SortBy and SortOrder.")
	}
	return pos, nil
}

type getCertificateOutput struct {
	Certificate      string
	CertificateChain string `json:",omitempty"`
}

// getCertificate returns a certificate and its chain as PEM, never the key.
func (h *Handler) getCertificate(ctx context.Context, payload []byte) (any, error) {
	arn, err := decodeARN(payload)
	if err != nil {
		return nil, err
	}
	c, err := h.Service.GetCertificate(ctx, arn)
	if err != nil {
		return nil, err
	}
	return getCertificateOutput{Certificate: string(c.CertificatePEM), CertificateChain: string(c.ChainPEM)}, nil
}

// deleteCertificate deletes a certificate that no distribution uses.
func (h *Handler) deleteCertificate(ctx context.Context, payload []byte) (any, error) {
	arn, err := decodeARN(payload)
	if err != nil {
		return nil, err
	}
	if err := h.Service.DeleteCertificate(ctx, arn); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

type requestCertificateInput struct {
	DomainName *string
}

// requestCertificate refuses: Portico is not a certificate authority.
func (h *Handler) requestCertificate(_ context.Context, payload []byte) (any, error) {
	var in requestCertificateInput
	if err := decodeInput(payload, &in); err != nil {
		return nil, err
	}
	return nil, portico.Errorf(portico.ErrACMValidation,
		"RequestCertificate is not supported: Portico cannot issue publicly trusted certificates. Obtain a certificate from a certificate authority and import it with ImportCertificate.")
}
