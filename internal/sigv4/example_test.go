package sigv4_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/portico-edge/portico/internal/sigv4"
)

func ExampleVerifier() {
	v := &sigv4.Verifier{
		Secret: func(id string) (string, bool) {
			if id == "AKIDEXAMPLE" {
				return "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", true
			}
			return "", false
		},
		Services: []string{"cloudfront", "acm"},
	}

	// A client signs an ACM request...
	body := `{"MaxItems":10}`
	r, _ := http.NewRequest("POST", "http://127.0.0.1:9000/", strings.NewReader(body))
	r.Header.Set("X-Amz-Target", "CertificateManager.ListCertificates")
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	_ = v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "acm", "us-east-1", time.Now())

	// ...and the server, having read the body, verifies it.
	id, err := v.Verify(r, []byte(body))
	fmt.Println(id.AccessKeyID, id.Service, id.Region, err)

	r.Header.Set("X-Amz-Target", "CertificateManager.DeleteCertificate")
	_, err = v.Verify(r, []byte(body))
	fmt.Println(err)
	// Output:
	// AKIDEXAMPLE acm us-east-1 <nil>
	// SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.
}
