package acmapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/smithy-go"
)

// The whole life of two certificates, through the AWS SDK for Go v2.
func TestSDKCertificateLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rsaCert := issue(t, certSpec{names: []string{"auth.example.com", "login.example.com"}, key: "rsa", chained: true})
	ecCert := issue(t, certSpec{names: []string{"*.example.org", "example.org"}, key: "p256"})

	imported, err := e.client.ImportCertificate(ctx, &acm.ImportCertificateInput{
		Certificate:      rsaCert.cert,
		CertificateChain: rsaCert.chain,
		PrivateKey:       rsaCert.key,
	})
	if err != nil {
		t.Fatal(err)
	}
	rsaARN := aws.ToString(imported.CertificateArn)
	if !strings.HasPrefix(rsaARN, "arn:aws:acm:us-east-1:123456789012:certificate/") {
		t.Fatalf("CertificateArn = %q", rsaARN)
	}
	imported, err = e.client.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: ecCert.cert, PrivateKey: ecCert.key})
	if err != nil {
		t.Fatal(err)
	}
	ecARN := aws.ToString(imported.CertificateArn)

	// Describe.
	d := describe(t, e, rsaARN)
	want := types.CertificateDetail{
		CertificateArn:          aws.String(rsaARN),
		DomainName:              aws.String("auth.example.com"),
		SubjectAlternativeNames: []string{"auth.example.com", "login.example.com"},
		Subject:                 aws.String("CN=auth.example.com,O=Portico Test"),
		Issuer:                  aws.String("CN=Portico Test Intermediate"),
		CreatedAt:               aws.Time(epoch),
		ImportedAt:              aws.Time(epoch),
		NotBefore:               aws.Time(epoch.Add(-time.Hour)),
		NotAfter:                aws.Time(epoch.Add(90 * 24 * time.Hour)),
		Status:                  types.CertificateStatusIssued,
		Type:                    types.CertificateTypeImported,
		KeyAlgorithm:            types.KeyAlgorithmRsa2048,
		SignatureAlgorithm:      aws.String("SHA256WITHECDSA"),
		InUseBy:                 []string{},
		RenewalEligibility:      types.RenewalEligibilityIneligible,
		KeyUsages:               []types.KeyUsage{{Name: types.KeyUsageNameDigitalSignature}, {Name: types.KeyUsageNameKeyEncipherment}},
		ExtendedKeyUsages: []types.ExtendedKeyUsage{
			{Name: types.ExtendedKeyUsageNameTlsWebServerAuthentication, OID: aws.String("1.3.6.1.5.5.7.3.1")},
			{Name: types.ExtendedKeyUsageNameTlsWebClientAuthentication, OID: aws.String("1.3.6.1.5.5.7.3.2")},
		},
	}
	want.Serial = d.Serial // random; its format is checked below
	if diff := diffDetail(d, &want); diff != "" {
		t.Errorf("DescribeCertificate(RSA):\n%s", diff)
	}
	if s := aws.ToString(d.Serial); len(s) < 2 || strings.Trim(s, "0123456789abcdef:") != "" {
		t.Errorf("Serial = %q, want colon-separated lower-case hex", s)
	}
	ec := describe(t, e, ecARN)
	if ec.KeyAlgorithm != types.KeyAlgorithmEcPrime256v1 || aws.ToString(ec.SignatureAlgorithm) != "SHA256WITHECDSA" || aws.ToString(ec.DomainName) != "*.example.org" {
		t.Errorf("DescribeCertificate(EC) = %s %s %s", ec.KeyAlgorithm, aws.ToString(ec.SignatureAlgorithm), aws.ToString(ec.DomainName))
	}

	// List: by default only RSA_1024 and RSA_2048, as in ACM.
	if got := listARNs(t, e, &acm.ListCertificatesInput{}); !slices.Equal(got, []string{rsaARN}) {
		t.Errorf("ListCertificates() = %v, want only the RSA certificate", got)
	}
	all := []string{rsaARN, ecARN}
	slices.Sort(all)
	both := &acm.ListCertificatesInput{Includes: &types.Filters{KeyTypes: []types.KeyAlgorithm{types.KeyAlgorithmRsa2048, types.KeyAlgorithmEcPrime256v1}}}
	if got := listARNs(t, e, both); !slices.Equal(got, all) {
		t.Errorf("ListCertificates(RSA_2048, EC_prime256v1) = %v, want %v", got, all)
	}
	page, err := e.client.ListCertificates(ctx, both)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range page.CertificateSummaryList {
		if s.Status != types.CertificateStatusIssued || s.Type != types.CertificateTypeImported || aws.ToBool(s.InUse) ||
			!aws.ToTime(s.CreatedAt).Equal(epoch) || !aws.ToTime(s.NotAfter).Equal(epoch.Add(90*24*time.Hour)) || len(s.SubjectAlternativeNameSummaries) != 2 {
			t.Errorf("summary %s = %+v", aws.ToString(s.CertificateArn), s)
		}
	}

	// Get: the certificate and chain, never the key.
	got, err := e.client.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: aws.String(rsaARN)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.Certificate) != string(bytes.TrimSpace(rsaCert.cert)) || aws.ToString(got.CertificateChain) != string(bytes.TrimSpace(rsaCert.chain)) {
		t.Errorf("GetCertificate = %q, %q", aws.ToString(got.Certificate), aws.ToString(got.CertificateChain))
	}

	// Re-import under the same ARN, an hour later.
	e.clock.Add(time.Hour)
	renewed := issue(t, certSpec{names: []string{"auth.example.com"}, key: "rsa2"})
	re, err := e.client.ImportCertificate(ctx, &acm.ImportCertificateInput{
		CertificateArn: aws.String(rsaARN), Certificate: renewed.cert, PrivateKey: renewed.key,
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(re.CertificateArn) != rsaARN {
		t.Errorf("re-import ARN = %s, want %s", aws.ToString(re.CertificateArn), rsaARN)
	}
	d2 := describe(t, e, rsaARN)
	if !aws.ToTime(d2.CreatedAt).Equal(epoch) || !aws.ToTime(d2.ImportedAt).Equal(epoch.Add(time.Hour)) ||
		aws.ToString(d2.Serial) == aws.ToString(d.Serial) || !slices.Equal(d2.SubjectAlternativeNames, []string{"auth.example.com"}) ||
		aws.ToString(d2.SignatureAlgorithm) != "SHA256WITHRSA" {
		t.Errorf("after re-import: CreatedAt %v ImportedAt %v Serial %s SANs %v SignatureAlgorithm %s",
			aws.ToTime(d2.CreatedAt), aws.ToTime(d2.ImportedAt), aws.ToString(d2.Serial), d2.SubjectAlternativeNames, aws.ToString(d2.SignatureAlgorithm))
	}
	got, err = e.client.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: aws.String(rsaARN)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.Certificate) != string(bytes.TrimSpace(renewed.cert)) || got.CertificateChain != nil {
		t.Errorf("GetCertificate after re-import returned the old certificate or a chain")
	}

	// In use by a distribution: InUseBy, InUse, and delete refused.
	distARN := e.useCertificate(t, rsaARN, "auth.example.com")
	if d3 := describe(t, e, rsaARN); !slices.Equal(d3.InUseBy, []string{distARN}) {
		t.Errorf("InUseBy = %v, want [%s]", d3.InUseBy, distARN)
	}
	page, err = e.client.ListCertificates(ctx, &acm.ListCertificatesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.CertificateSummaryList) != 1 || !aws.ToBool(page.CertificateSummaryList[0].InUse) {
		t.Errorf("ListCertificates does not show the certificate in use: %+v", page.CertificateSummaryList)
	}
	_, err = e.client.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: aws.String(rsaARN)})
	var inUse *types.ResourceInUseException
	if !errors.As(err, &inUse) || !strings.Contains(inUse.ErrorMessage(), distARN) {
		t.Errorf("DeleteCertificate of a certificate in use: %v, want ResourceInUseException naming %s", err, distARN)
	}

	// Delete the unused one.
	if _, err := e.client.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: aws.String(ecARN)}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(ecARN)})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Errorf("DescribeCertificate after delete: %v, want ResourceNotFoundException", err)
	}

	// No response ever carried a private key.
	sent := e.responses.all()
	for _, k := range [][]byte{rsaCert.key, ecCert.key, renewed.key} {
		for _, frag := range keyFragments(k) {
			if strings.Contains(sent, frag) {
				t.Fatalf("a response carried part of a private key: %q", frag)
			}
		}
	}
	if strings.Contains(sent, "PRIVATE KEY-----") {
		t.Fatal("a response carried a private key")
	}
}

func describe(t testing.TB, e *env, arn string) *types.CertificateDetail {
	t.Helper()
	out, err := e.client.DescribeCertificate(context.Background(), &acm.DescribeCertificateInput{CertificateArn: aws.String(arn)})
	if err != nil {
		t.Fatalf("DescribeCertificate(%s): %v", arn, err)
	}
	return out.Certificate
}

// listARNs lists every page with the SDK's paginator and returns the ARNs
// in the order the server gave them.
func listARNs(t testing.TB, e *env, in *acm.ListCertificatesInput, opts ...func(*acm.ListCertificatesPaginatorOptions)) []string {
	t.Helper()
	var arns []string
	p := acm.NewListCertificatesPaginator(e.client, in, opts...)
	for pages := 0; p.HasMorePages(); pages++ {
		if pages == 100 {
			t.Fatalf("ListCertificates: still paging after %d pages", pages)
		}
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("ListCertificates: %v", err)
		}
		for _, s := range page.CertificateSummaryList {
			arns = append(arns, aws.ToString(s.CertificateArn))
		}
	}
	return arns
}

// diffDetail compares the fields of two certificate details that Portico
// sets, and describes the differences.
func diffDetail(got, want *types.CertificateDetail) string {
	var b strings.Builder
	check := func(name string, g, w any) {
		if gs, ws := fmt.Sprint(g), fmt.Sprint(w); gs != ws {
			fmt.Fprintf(&b, "  %s: got %s, want %s\n", name, gs, ws)
		}
	}
	ts := func(t *time.Time) string { return aws.ToTime(t).UTC().Format(time.RFC3339Nano) }
	check("CertificateArn", aws.ToString(got.CertificateArn), aws.ToString(want.CertificateArn))
	check("DomainName", aws.ToString(got.DomainName), aws.ToString(want.DomainName))
	check("SubjectAlternativeNames", got.SubjectAlternativeNames, want.SubjectAlternativeNames)
	check("Serial", aws.ToString(got.Serial), aws.ToString(want.Serial))
	check("Subject", aws.ToString(got.Subject), aws.ToString(want.Subject))
	check("Issuer", aws.ToString(got.Issuer), aws.ToString(want.Issuer))
	check("CreatedAt", ts(got.CreatedAt), ts(want.CreatedAt))
	check("ImportedAt", ts(got.ImportedAt), ts(want.ImportedAt))
	check("NotBefore", ts(got.NotBefore), ts(want.NotBefore))
	check("NotAfter", ts(got.NotAfter), ts(want.NotAfter))
	check("Status", got.Status, want.Status)
	check("Type", got.Type, want.Type)
	check("KeyAlgorithm", got.KeyAlgorithm, want.KeyAlgorithm)
	check("SignatureAlgorithm", aws.ToString(got.SignatureAlgorithm), aws.ToString(want.SignatureAlgorithm))
	check("InUseBy", got.InUseBy, want.InUseBy)
	check("InUseBy present", got.InUseBy != nil, want.InUseBy != nil)
	check("RenewalEligibility", got.RenewalEligibility, want.RenewalEligibility)
	check("KeyUsages", got.KeyUsages, want.KeyUsages)
	eku := func(l []types.ExtendedKeyUsage) (out []string) {
		for _, k := range l {
			out = append(out, string(k.Name)+"="+aws.ToString(k.OID))
		}
		return out
	}
	check("ExtendedKeyUsages", eku(got.ExtendedKeyUsages), eku(want.ExtendedKeyUsages))
	return b.String()
}

// Every error reaches the SDK as the exception type ACM's model names,
// with status 400, and leaves stored state unchanged.
func TestSDKErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	good := issue(t, certSpec{names: []string{"example.com"}, key: "p256"})
	other := issue(t, certSpec{names: []string{"example.com"}, key: "rsa"})
	imported, err := e.client.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: good.cert, PrivateKey: good.key})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(imported.CertificateArn)
	used, err := e.client.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: other.cert, PrivateKey: other.key})
	if err != nil {
		t.Fatal(err)
	}
	e.useCertificate(t, aws.ToString(used.CertificateArn), "example.com")
	unknown := arn[:strings.LastIndex(arn, "/")+1] + "00000000-0000-4000-8000-000000000000"
	const invalid = "arn:aws:s3:::my-bucket"

	tests := []struct {
		name   string
		call   func(*acm.Client) error
		code   string
		target any // the SDK's exception type
	}{
		{"import key mismatch", func(c *acm.Client) error {
			_, err := c.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: good.cert, PrivateKey: other.key})
			return err
		}, "ValidationException", new(*types.ValidationException)},
		{"import bad PEM", func(c *acm.Client) error {
			_, err := c.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: []byte("hello"), PrivateKey: good.key})
			return err
		}, "ValidationException", new(*types.ValidationException)},
		{"import bad chain", func(c *acm.Client) error {
			_, err := c.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: good.cert, CertificateChain: []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), PrivateKey: good.key})
			return err
		}, "ValidationException", new(*types.ValidationException)},
		{"import DER instead of PEM", func(c *acm.Client) error {
			_, err := c.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: good.cert[30:90], PrivateKey: good.key})
			return err
		}, "ValidationException", new(*types.ValidationException)},
		{"re-import invalid ARN", func(c *acm.Client) error {
			_, err := c.ImportCertificate(ctx, &acm.ImportCertificateInput{CertificateArn: aws.String(invalid), Certificate: good.cert, PrivateKey: good.key})
			return err
		}, "InvalidArnException", new(*types.InvalidArnException)},
		{"re-import unknown ARN", func(c *acm.Client) error {
			_, err := c.ImportCertificate(ctx, &acm.ImportCertificateInput{CertificateArn: aws.String(unknown), Certificate: good.cert, PrivateKey: good.key})
			return err
		}, "ResourceNotFoundException", new(*types.ResourceNotFoundException)},
		{"re-import dropping an alias in use", func(c *acm.Client) error {
			narrow := issue(t, certSpec{names: []string{"www.example.com"}, key: "rsa"})
			_, err := c.ImportCertificate(ctx, &acm.ImportCertificateInput{CertificateArn: used.CertificateArn, Certificate: narrow.cert, PrivateKey: narrow.key})
			return err
		}, "ValidationException", new(*types.ValidationException)},
		{"describe invalid ARN", func(c *acm.Client) error {
			_, err := c.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(invalid)})
			return err
		}, "InvalidArnException", new(*types.InvalidArnException)},
		{"describe unknown ARN", func(c *acm.Client) error {
			_, err := c.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(unknown)})
			return err
		}, "ResourceNotFoundException", new(*types.ResourceNotFoundException)},
		{"get invalid ARN", func(c *acm.Client) error {
			_, err := c.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: aws.String("certificate/1")})
			return err
		}, "InvalidArnException", new(*types.InvalidArnException)},
		{"get unknown ARN", func(c *acm.Client) error {
			_, err := c.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: aws.String(unknown)})
			return err
		}, "ResourceNotFoundException", new(*types.ResourceNotFoundException)},
		{"delete invalid ARN", func(c *acm.Client) error {
			_, err := c.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: aws.String(invalid)})
			return err
		}, "InvalidArnException", new(*types.InvalidArnException)},
		{"delete unknown ARN", func(c *acm.Client) error {
			_, err := c.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: aws.String(unknown)})
			return err
		}, "ResourceNotFoundException", new(*types.ResourceNotFoundException)},
		{"delete in use", func(c *acm.Client) error {
			_, err := c.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: used.CertificateArn})
			return err
		}, "ResourceInUseException", new(*types.ResourceInUseException)},
		{"request certificate", func(c *acm.Client) error {
			_, err := c.RequestCertificate(ctx, &acm.RequestCertificateInput{DomainName: aws.String("example.com")})
			return err
		}, "ValidationException", new(*types.ValidationException)},
		{"list max items 0", func(c *acm.Client) error {
			_, err := c.ListCertificates(ctx, &acm.ListCertificatesInput{MaxItems: aws.Int32(0)})
			return err
		}, "ValidationException", new(*types.ValidationException)},
		{"list max items 1001", func(c *acm.Client) error {
			_, err := c.ListCertificates(ctx, &acm.ListCertificatesInput{MaxItems: aws.Int32(1001)})
			return err
		}, "ValidationException", new(*types.ValidationException)},
		{"list unknown status", func(c *acm.Client) error {
			_, err := c.ListCertificates(ctx, &acm.ListCertificatesInput{CertificateStatuses: []types.CertificateStatus{"BOGUS"}})
			return err
		}, "ValidationException", new(*types.ValidationException)},
		{"list forged token", func(c *acm.Client) error {
			_, err := c.ListCertificates(ctx, &acm.ListCertificatesInput{NextToken: aws.String("not-a-token")})
			return err
		}, "InvalidArgsException", new(*types.InvalidArgsException)},
		{"list sort by without order", func(c *acm.Client) error {
			_, err := c.ListCertificates(ctx, &acm.ListCertificatesInput{SortBy: types.SortByCreatedAt})
			return err
		}, "InvalidArgsException", new(*types.InvalidArgsException)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.dump(t)
			err := tt.call(e.client)
			checkAPIError(t, err, tt.code, 400)
			if !errors.As(err, tt.target) {
				t.Errorf("error %T is not the SDK's %T", errors.Unwrap(err), tt.target)
			}
			if after := e.dump(t); !maps.Equal(before, after) {
				t.Error("a failed call changed the store")
			}
		})
	}
}

// checkAPIError fails unless err is an API error with the code and HTTP
// status.
func checkAPIError(t testing.TB, err error, code string, status int) {
	t.Helper()
	var api smithy.APIError
	if !errors.As(err, &api) {
		t.Fatalf("error = %v, want API error %s", err, code)
	}
	if api.ErrorCode() != code {
		t.Errorf("error code = %s (%s), want %s", api.ErrorCode(), api.ErrorMessage(), code)
	}
	if api.ErrorMessage() == "" {
		t.Errorf("%s has no message", code)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v carries no HTTP response", err)
	}
	if re.HTTPStatusCode() != status {
		t.Errorf("HTTP status = %d, want %d", re.HTTPStatusCode(), status)
	}
	if re.ServiceRequestID() == "" {
		t.Error("the error response has no x-amzn-RequestId")
	}
}

// Requests signed with unknown or wrong credentials are refused with 403.
func TestSDKAuthentication(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		name, keyID, secret, code string
	}{
		{"wrong secret", testKeyID, "not-the-secret", "InvalidSignatureException"},
		{"unknown key", "AKIAUNKNOWN000000000", testSecret, "UnrecognizedClientException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.newClient(tt.keyID, tt.secret)
			_, err := c.ListCertificates(ctx, &acm.ListCertificatesInput{})
			checkAPIError(t, err, tt.code, 403)
		})
	}
}

// Paging and filters of ListCertificates, through the SDK's paginator.
func TestSDKListCertificates(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var created []string // in creation order
	importOne := func(spec certSpec) string {
		p := issue(t, spec)
		out, err := e.client.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: p.cert, PrivateKey: p.key})
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Add(time.Minute)
		created = append(created, aws.ToString(out.CertificateArn))
		return aws.ToString(out.CertificateArn)
	}
	for _, name := range []string{"a.example.com", "b.example.com", "c.example.com", "d.example.com"} {
		importOne(certSpec{names: []string{name}, key: "rsa"})
	}
	short := importOne(certSpec{names: []string{"short.example.com"}, key: "rsa", notAfter: epoch.Add(2 * time.Hour)})
	ec := importOne(certSpec{names: []string{"ec.example.com"}, key: "p256"})
	rsaByARN := slices.Clone(created[:5])
	slices.Sort(rsaByARN)
	e.clock.Add(3 * time.Hour) // short expires

	limit := func(n int32) func(*acm.ListCertificatesPaginatorOptions) {
		return func(o *acm.ListCertificatesPaginatorOptions) { o.Limit = n }
	}
	rsaAndEC := &types.Filters{KeyTypes: []types.KeyAlgorithm{types.KeyAlgorithmRsa2048, types.KeyAlgorithmEcPrime256v1}}
	tests := []struct {
		name  string
		in    acm.ListCertificatesInput
		limit int32
		want  []string
	}{
		{"default", acm.ListCertificatesInput{}, 0, rsaByARN},
		{"pages of 2", acm.ListCertificatesInput{}, 2, rsaByARN},
		{"pages of 1", acm.ListCertificatesInput{}, 1, rsaByARN},
		{"issued", acm.ListCertificatesInput{CertificateStatuses: []types.CertificateStatus{types.CertificateStatusIssued}}, 2,
			slices.DeleteFunc(slices.Clone(rsaByARN), func(a string) bool { return a == short })},
		{"expired", acm.ListCertificatesInput{CertificateStatuses: []types.CertificateStatus{types.CertificateStatusExpired}}, 0, []string{short}},
		{"pending", acm.ListCertificatesInput{CertificateStatuses: []types.CertificateStatus{types.CertificateStatusPendingValidation}}, 0, nil},
		{"ec only", acm.ListCertificatesInput{Includes: &types.Filters{KeyTypes: []types.KeyAlgorithm{types.KeyAlgorithmEcPrime256v1}}}, 0, []string{ec}},
		{"created ascending", acm.ListCertificatesInput{Includes: rsaAndEC, SortBy: types.SortByCreatedAt, SortOrder: types.SortOrderAscending}, 2, created},
		{"created descending", acm.ListCertificatesInput{Includes: rsaAndEC, SortBy: types.SortByCreatedAt, SortOrder: types.SortOrderDescending}, 4, reversed(created)},
		{"server auth", acm.ListCertificatesInput{Includes: &types.Filters{ExtendedKeyUsage: []types.ExtendedKeyUsageName{types.ExtendedKeyUsageNameTlsWebServerAuthentication}}}, 0, rsaByARN},
		{"code signing", acm.ListCertificatesInput{Includes: &types.Filters{ExtendedKeyUsage: []types.ExtendedKeyUsageName{types.ExtendedKeyUsageNameCodeSigning}}}, 0, nil},
		{"key encipherment", acm.ListCertificatesInput{Includes: &types.Filters{KeyTypes: rsaAndEC.KeyTypes, KeyUsage: []types.KeyUsageName{types.KeyUsageNameKeyEncipherment}}}, 0, rsaByARN},
		{"managed by CloudFront", acm.ListCertificatesInput{Includes: &types.Filters{ManagedBy: types.CertificateManagedByCloudfront}}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []func(*acm.ListCertificatesPaginatorOptions)
			if tt.limit > 0 {
				opts = append(opts, limit(tt.limit))
			}
			in := tt.in
			if got := listARNs(t, e, &in, opts...); !slices.Equal(got, tt.want) {
				t.Errorf("got %v\nwant %v", got, tt.want)
			}
		})
	}

	// A page ends with a NextToken exactly when more follow.
	page, err := e.client.ListCertificates(ctx, &acm.ListCertificatesInput{MaxItems: aws.Int32(5)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.CertificateSummaryList) != 5 || page.NextToken != nil {
		t.Errorf("a full last page: %d items, NextToken %v; want 5 and none", len(page.CertificateSummaryList), page.NextToken)
	}
	page, err = e.client.ListCertificates(ctx, &acm.ListCertificatesInput{MaxItems: aws.Int32(3)})
	if err != nil {
		t.Fatal(err)
	}
	if page.NextToken == nil {
		t.Fatal("a truncated page has no NextToken")
	}
	// A token resumes only the listing order that issued it.
	_, err = e.client.ListCertificates(ctx, &acm.ListCertificatesInput{NextToken: page.NextToken, SortBy: types.SortByCreatedAt, SortOrder: types.SortOrderAscending})
	checkAPIError(t, err, "InvalidArgsException", 400)

	if d := describe(t, e, short); d.Status != types.CertificateStatusExpired {
		t.Errorf("Status of an expired certificate = %s, want EXPIRED", d.Status)
	}
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}
