package sigv4

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-edge/portico"
)

// suiteSkips names the cases of AWS's SigV4 test suite that do not apply
// to Portico, and why. testdata/aws-signing-test-suite/README.md lists the
// cases that were not copied at all.
var suiteSkips = map[string]string{
	"post-sts-header-after/query": "the session token is added to the query after signing, which only services that expect it accept",
}

// suiteContext is the part of a test case's context.json the verifier
// needs.
type suiteContext struct {
	Credentials struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	} `json:"credentials"`
	Region    string    `json:"region"`
	Service   string    `json:"service"`
	Timestamp time.Time `json:"timestamp"`
}

// TestAWSSigningTestSuite runs the requests of AWS's SigV4 test suite
// (awslabs/aws-c-auth, tests/aws-signing-test-suite/v4) through Verify, in
// both the header and the presigned form: each signed request must verify,
// its expected canonical request must be one Verify builds, and the same
// request with one signature digit changed must not verify.
func TestAWSSigningTestSuite(t *testing.T) {
	dirs, err := filepath.Glob("testdata/aws-signing-test-suite/v4/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no test suite cases found: %v", err)
	}
	for _, dir := range dirs {
		for _, form := range []string{"header", "query"} {
			name := filepath.Base(dir) + "/" + form
			t.Run(name, func(t *testing.T) {
				if reason, ok := suiteSkips[name]; ok {
					t.Skip(reason)
				}
				var ctx suiteContext
				if err := json.Unmarshal(readFile(t, filepath.Join(dir, "context.json")), &ctx); err != nil {
					t.Fatal(err)
				}
				v := &Verifier{
					Secret: func(id string) (string, bool) {
						return ctx.Credentials.SecretAccessKey, id == ctx.Credentials.AccessKeyID
					},
					Services: []string{ctx.Service},
					Now:      func() time.Time { return ctx.Timestamp },
				}
				raw := readFile(t, filepath.Join(dir, form+"-signed-request.txt"))
				wantCanonical := string(readFile(t, filepath.Join(dir, form+"-canonical-request.txt")))

				r, body := readSuiteRequest(t, raw)
				got, err := v.Verify(r, body)
				if err != nil {
					t.Errorf("Verify: %v", err)
				}
				want := Identity{AccessKeyID: ctx.Credentials.AccessKeyID, Service: ctx.Service, Region: ctx.Region}
				if got != want {
					t.Errorf("Verify identity = %+v, want %+v", got, want)
				}

				query, err := parseQuery(r.URL.RawQuery)
				if err != nil {
					t.Fatal(err)
				}
				a, err := parseAuth(r, query)
				if err != nil {
					t.Fatal(err)
				}
				hashes, err := payloadHashes(r, body, a.presigned)
				if err != nil {
					t.Fatal(err)
				}
				var built []string
				for _, c := range canonicalRequests(r, a, query, hashes) {
					built = append(built, string(c))
				}
				if !slices.Contains(built, wantCanonical) {
					t.Errorf("canonical request\n%s\nnot among those built:\n%s", wantCanonical, strings.Join(built, "\n----\n"))
				}

				r, body = readSuiteRequest(t, tamperSignature(t, raw))
				_, err = v.Verify(r, body)
				if pe := (*portico.Error)(nil); !errors.As(err, &pe) || pe.Code != portico.ErrSignatureDoesNotMatch {
					t.Errorf("Verify with a changed signature: %v, want %s", err, portico.ErrSignatureDoesNotMatch)
				}
			})
		}
	}
}

// readSuiteRequest parses a signed request of the test suite the way Go's
// server reads one from the wire.
func readSuiteRequest(t *testing.T, raw []byte) (*http.Request, []byte) {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatalf("read request: %v", err)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return r, body
}

// tamperSignature changes the first digit of the signature in a signed
// request.
func tamperSignature(t *testing.T, raw []byte) []byte {
	t.Helper()
	for _, marker := range []string{"Signature=", "X-Amz-Signature="} {
		if i := bytes.Index(raw, []byte(marker)); i >= 0 {
			out := bytes.Clone(raw)
			j := i + len(marker)
			if out[j] == '0' {
				out[j] = '1'
			} else {
				out[j] = '0'
			}
			return out
		}
	}
	t.Fatal("no signature in request")
	return nil
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
