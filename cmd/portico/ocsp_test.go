package main

import (
	"context"
	"crypto/tls"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"golang.org/x/crypto/ocsp"

	"github.com/portico-edge/portico/internal/testpki"
)

// TestOCSPStapledByTheServer checks the wiring of OCSP stapling in the
// real binary: a certificate imported through ACM with an OCSP responder
// in it is served with a Good response from that responder stapled to the
// handshake, without the viewer asking the responder (internal/certs tests
// the stapler's rules).
func TestOCSPStapledByTheServer(t *testing.T) {
	ctx := context.Background()
	viewerCA := testpki.NewCA(t, "viewer CA")
	responder := viewerCA.NewOCSPResponder(t)
	leaf := viewerCA.IssueWithOCSP(t, responder.URL, []string{customDomain})

	env := []string{"PORTICO_ACCESS_KEY_ID=" + accessKeyID, "PORTICO_SECRET_ACCESS_KEY=" + secretKey}
	p := startPortico(t, filepath.Join(t.TempDir(), "data"), env)
	cf, certs := clients(p.api)
	imported := must(certs.ImportCertificate(ctx, &acm.ImportCertificateInput{
		Certificate: leaf.CertPEM, PrivateKey: leaf.KeyPEM, CertificateChain: leaf.ChainPEM,
	}))(t)
	// The origin is never asked: the test only shakes hands.
	must(cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{
		DistributionConfig: seedConfig("ocsp", aws.ToString(imported.CertificateArn), 443),
	}))(t)

	// The staple is fetched in the background once the certificate is
	// served: handshakes before that carry none.
	var staple []byte
	for deadline := time.Now().Add(15 * time.Second); staple == nil; {
		conn, err := tls.Dial("tcp", p.https, &tls.Config{ServerName: customDomain, RootCAs: viewerCA.Pool()})
		if err == nil {
			staple = conn.ConnectionState().OCSPResponse
			conn.Close()
		}
		if staple == nil {
			if time.Now().After(deadline) {
				t.Fatalf("no OCSP staple within 15s (last dial error: %v)", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	resp, err := ocsp.ParseResponseForCert(staple, leaf.Cert, viewerCA.Cert)
	if err != nil {
		t.Fatalf("the staple does not parse as a response for the certificate: %v", err)
	}
	if resp.Status != ocsp.Good || resp.SerialNumber.Cmp(leaf.Cert.SerialNumber) != 0 {
		t.Errorf("stapled status %d for serial %v, want Good for %v", resp.Status, resp.SerialNumber, leaf.Cert.SerialNumber)
	}
}
