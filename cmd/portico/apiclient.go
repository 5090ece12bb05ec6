package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// defaultAPI is where the client subcommands find the API by default:
// serve's default --api.
const defaultAPI = "http://127.0.0.1:9000"

// apiClient calls Portico's API as the CLI subcommands do, signed with
// SigV4 for the cloudfront service, as the AWS SDKs sign.
type apiClient struct {
	base  *url.URL
	creds credentials
	http  *http.Client
}

// clientFlags are the flags every client subcommand takes.
type clientFlags struct {
	api     string
	dataDir string
}

// newAPIClient returns a client for the API at f.api ("host:port" or an
// http(s) URL) with the credentials the server uses: see
// readCredentials.
func newAPIClient(f clientFlags, getenv func(string) string) (*apiClient, error) {
	raw := f.api
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	base, err := url.Parse(raw)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, usageError{fmt.Sprintf("--api: %q is not host:port or an http(s) URL", f.api)}
	}
	creds, _, err := readCredentials(f.dataDir, getenv)
	if err != nil {
		return nil, err
	}
	return &apiClient{base: base, creds: creds, http: &http.Client{Timeout: time.Minute}}, nil
}

// apiError is an error answer of the API.
type apiError struct {
	Status        int
	Code, Message string
}

func (e *apiError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("the API answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// do sends a signed request for path (with query) and returns the body of
// a 2xx answer, or an *apiError.
func (c *apiClient) do(ctx context.Context, method, path string, query url.Values, body []byte) ([]byte, error) {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/xml")
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: c.creds.AccessKeyID, SecretAccessKey: c.creds.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "cloudfront", "us-east-1", time.Now()); err != nil {
		return nil, fmt.Errorf("signing the request: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, parseAPIError(resp.StatusCode, out)
	}
	return out, nil
}

// parseAPIError reads an error answer: CloudFront's XML ErrorResponse, or
// the explain endpoint's JSON one.
func parseAPIError(status int, body []byte) *apiError {
	e := &apiError{Status: status}
	var j struct {
		Error struct{ Code, Message string }
	}
	var x struct {
		Error struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"Error"`
	}
	switch {
	case json.Unmarshal(body, &j) == nil:
		e.Code, e.Message = j.Error.Code, j.Error.Message
	case xml.Unmarshal(body, &x) == nil:
		e.Code, e.Message = x.Error.Code, x.Error.Message
	}
	return e
}

// stringsFlag is a flag that may be repeated.
type stringsFlag []string

func (s *stringsFlag) String() string { return strings.Join(*s, ", ") }

func (s *stringsFlag) Set(v string) error {
	*s = append(*s, v)
	return nil
}
