package testpki

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

func TestIssueWithOCSP(t *testing.T) {
	ca := NewCA(t, "Test CA")
	l := ca.IssueWithOCSP(t, "http://ocsp.example.com/", []string{"a.example.com"}, Serial(7))
	if !slices.Equal(l.Cert.OCSPServer, []string{"http://ocsp.example.com/"}) || l.Cert.SerialNumber.Int64() != 7 {
		t.Errorf("OCSP servers %q, serial %v", l.Cert.OCSPServer, l.Cert.SerialNumber)
	}
	if err := l.Cert.CheckSignatureFrom(ca.Cert); err != nil {
		t.Error(err)
	}
	s := ca.IssueOCSPSigner(t)
	if err := s.Cert.CheckSignatureFrom(ca.Cert); err != nil || len(s.Cert.ExtKeyUsage) != 1 || s.Cert.ExtKeyUsage[0] != x509.ExtKeyUsageOCSPSigning {
		t.Errorf("signer: %v, extended key usage %v", err, s.Cert.ExtKeyUsage)
	}
}

// TestOCSPResponder asks the responder as a client would, by POST and by
// GET, and checks each answer's status and signer.
func TestOCSPResponder(t *testing.T) {
	ca := NewCA(t, "Test CA")
	r := ca.NewOCSPResponder(t)
	good := ca.IssueWithOCSP(t, r.URL, []string{"good.example.com"})
	revoked := ca.IssueWithOCSP(t, r.URL, []string{"revoked.example.com"})
	unknown := ca.IssueWithOCSP(t, r.URL, []string{"unknown.example.com"})
	r.Revoke(revoked.Cert.SerialNumber, time.Now().Add(-time.Hour))
	r.Unknown(unknown.Cert.SerialNumber)

	ask := func(t *testing.T, l Leaf, get bool) (*ocsp.Response, error) {
		t.Helper()
		req, err := ocsp.CreateRequest(l.Cert, ca.Cert, nil)
		if err != nil {
			t.Fatal(err)
		}
		var resp *http.Response
		if get {
			resp, err = http.Get(r.URL + "/" + base64.StdEncoding.EncodeToString(req))
		} else {
			resp, err = http.Post(r.URL, "application/ocsp-request", bytes.NewReader(req))
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		der, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return nil, &httpError{resp.Status}
		}
		return ocsp.ParseResponseForCert(der, l.Cert, ca.Cert)
	}
	for _, tt := range []struct {
		name   string
		leaf   Leaf
		get    bool
		status int
	}{
		{"good by POST", good, false, ocsp.Good},
		{"good by GET", good, true, ocsp.Good},
		{"revoked", revoked, false, ocsp.Revoked},
		{"unknown", unknown, false, ocsp.Unknown},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := ask(t, tt.leaf, tt.get)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != tt.status || !resp.NextUpdate.After(time.Now()) {
				t.Errorf("status %d, next update %v; want %d, in the future", resp.Status, resp.NextUpdate, tt.status)
			}
		})
	}
	if n := r.Requests(good.Cert.SerialNumber); n != 2 {
		t.Errorf("Requests = %d, want 2", n)
	}

	t.Run("delegated", func(t *testing.T) {
		r.SignWith(ca.IssueOCSPSigner(t))
		defer r.SignWith(Leaf{})
		resp, err := ask(t, good, false)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Certificate == nil {
			t.Error("the response does not carry the delegated responder's certificate")
		}
	})
	t.Run("failing", func(t *testing.T) {
		r.SetFailing(true)
		defer r.SetFailing(false)
		if _, err := ask(t, good, false); err == nil {
			t.Error("no error from a failing responder")
		}
	})
	t.Run("validity", func(t *testing.T) {
		r.SetValidity(-2*time.Hour, -time.Hour)
		defer r.SetValidity(-time.Minute, time.Hour)
		resp, err := ask(t, good, false)
		if err != nil {
			t.Fatal(err)
		}
		if resp.NextUpdate.After(time.Now()) {
			t.Errorf("NextUpdate %v, want an hour ago", resp.NextUpdate)
		}
	})
}

type httpError struct{ status string }

func (e *httpError) Error() string { return e.status }
