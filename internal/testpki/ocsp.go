package testpki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// IssueWithOCSP returns a leaf certificate for names, as Issue does, whose
// authority information access names url as its OCSP responder.
func (ca *CA) IssueWithOCSP(t testing.TB, url string, names []string, opts ...Option) Leaf {
	t.Helper()
	c := newConfig(opts)
	key := c.signer(t)
	tmpl := c.leafTemplate(t, names, key)
	tmpl.OCSPServer = []string{url}
	return newLeaf(t, create(t, tmpl, ca.Cert, key, ca.Key), key, ca.PEM)
}

// IssueOCSPSigner returns a certificate for a delegated OCSP responder of
// the CA (RFC 6960 §4.2.2.2): a leaf whose only extended key usage is OCSP
// signing.
func (ca *CA) IssueOCSPSigner(t testing.TB, opts ...Option) Leaf {
	t.Helper()
	c := newConfig(opts)
	key := c.signer(t)
	tmpl := c.template(t, pkix.Name{CommonName: ca.Cert.Subject.CommonName + " OCSP responder"})
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}
	return newLeaf(t, create(t, tmpl, ca.Cert, key, ca.Key), key, ca.PEM)
}

// OCSPResponse returns a DER OCSP response about the certificate with
// serial, signed by the CA; the template's SerialNumber is set to serial
// and the rest is taken as it is (Status, ThisUpdate, NextUpdate,
// RevokedAt, ...). A template with Certificate set is signed by that
// delegated responder with key instead, and carries its certificate.
func (ca *CA) OCSPResponse(t testing.TB, serial *big.Int, tmpl ocsp.Response, key crypto.Signer) []byte {
	t.Helper()
	tmpl.SerialNumber = serial
	responder, signer := ca.Cert, ca.Key
	if tmpl.Certificate != nil {
		responder, signer = tmpl.Certificate, key
	}
	der, err := ocsp.CreateResponse(ca.Cert, responder, tmpl, signer)
	if err != nil {
		t.Fatalf("testpki: creating an OCSP response: %v", err)
	}
	return der
}

// OCSPResponder is an OCSP responder (RFC 6960, over HTTP with POST and
// GET) for the certificates of one CA, running on a loopback port until
// the test ends. It answers Good for every serial number unless told
// otherwise, with responses valid from a minute ago for an hour, signed by
// the CA. Its methods may be called while it serves.
type OCSPResponder struct {
	// URL is the responder's address, as a certificate names it.
	URL string

	ca  *CA
	srv *httptest.Server

	mu         sync.Mutex
	revoked    map[string]time.Time // by serial, in decimal
	unknown    map[string]bool
	thisUpdate time.Duration // relative to the time of the request
	nextUpdate time.Duration
	failing    bool
	hold       chan struct{}     // when set, requests wait for it to close
	requests   map[string]int    // by serial
	signer     *x509.Certificate // a delegated responder, or nil
	signerKey  crypto.Signer
}

// NewOCSPResponder starts a responder for the CA's certificates.
func (ca *CA) NewOCSPResponder(t testing.TB) *OCSPResponder {
	t.Helper()
	r := &OCSPResponder{
		ca:         ca,
		revoked:    make(map[string]time.Time),
		unknown:    make(map[string]bool),
		requests:   make(map[string]int),
		thisUpdate: -time.Minute,
		nextUpdate: time.Hour,
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serveHTTP))
	r.URL = r.srv.URL
	t.Cleanup(func() {
		r.Release()
		r.srv.Close()
	})
	return r
}

// Revoke makes the responder answer that the certificate with serial was
// revoked at the given time.
func (r *OCSPResponder) Revoke(serial *big.Int, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.revoked[serial.String()] = at
}

// Unknown makes the responder answer that it does not know the
// certificate with serial.
func (r *OCSPResponder) Unknown(serial *big.Int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unknown[serial.String()] = true
}

// SetValidity sets the ThisUpdate and NextUpdate of the next responses,
// relative to the time each is made; they may be negative.
func (r *OCSPResponder) SetValidity(thisUpdate, nextUpdate time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.thisUpdate, r.nextUpdate = thisUpdate, nextUpdate
}

// SetFailing makes the responder answer 500 Internal Server Error, or
// answer again.
func (r *OCSPResponder) SetFailing(failing bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing = failing
}

// Hold makes requests wait, unanswered, until Release is called.
func (r *OCSPResponder) Hold() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hold == nil {
		r.hold = make(chan struct{})
	}
}

// Release answers the requests that Hold keeps waiting, and the next ones
// at once.
func (r *OCSPResponder) Release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hold != nil {
		close(r.hold)
		r.hold = nil
	}
}

// SignWith makes a delegated responder (see CA.IssueOCSPSigner) sign the
// next responses, which then carry its certificate.
func (r *OCSPResponder) SignWith(l Leaf) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.signer, r.signerKey = l.Cert, l.Key
}

// Close stops the responder: requests to its URL are then refused.
func (r *OCSPResponder) Close() {
	r.Release()
	r.srv.Close()
}

// Requests returns how many requests about serial the responder has
// received, answered or not.
func (r *OCSPResponder) Requests(serial *big.Int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests[serial.String()]
}

func (r *OCSPResponder) serveHTTP(w http.ResponseWriter, req *http.Request) {
	var der []byte
	switch req.Method {
	case http.MethodPost:
		der, _ = io.ReadAll(io.LimitReader(req.Body, 64<<10))
	case http.MethodGet:
		der, _ = base64.StdEncoding.DecodeString(strings.TrimPrefix(req.URL.Path, "/"))
	}
	q, err := ocsp.ParseRequest(der)
	if err != nil || !bytes.Equal(q.IssuerKeyHash, r.issuerKeyHash(q.HashAlgorithm)) {
		w.Write(ocsp.MalformedRequestErrorResponse)
		return
	}
	serial := q.SerialNumber.String()
	r.mu.Lock()
	r.requests[serial]++
	hold := r.hold
	r.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-req.Context().Done():
			return
		}
	}

	r.mu.Lock()
	now := time.Now()
	tmpl := ocsp.Response{
		Status:       ocsp.Good,
		SerialNumber: q.SerialNumber,
		ThisUpdate:   now.Add(r.thisUpdate),
		NextUpdate:   now.Add(r.nextUpdate),
		Certificate:  r.signer,
	}
	if at, ok := r.revoked[serial]; ok {
		tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, at, ocsp.KeyCompromise
	} else if r.unknown[serial] {
		tmpl.Status = ocsp.Unknown
	}
	failing, key := r.failing, r.signerKey
	r.mu.Unlock()
	if failing {
		http.Error(w, "responder failing", http.StatusInternalServerError)
		return
	}
	responder, signer := r.ca.Cert, r.ca.Key
	if tmpl.Certificate != nil {
		responder, signer = tmpl.Certificate, key
	}
	resp, err := ocsp.CreateResponse(r.ca.Cert, responder, tmpl, signer)
	if err != nil {
		w.Write(ocsp.InternalErrorErrorResponse)
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	w.Write(resp)
}

// issuerKeyHash returns the hash of the CA's public key as a request
// carries it, by making a request (about the CA's own certificate) with
// the CA as issuer.
func (r *OCSPResponder) issuerKeyHash(h crypto.Hash) []byte {
	if !h.Available() {
		return nil
	}
	req, err := ocsp.CreateRequest(r.ca.Cert, r.ca.Cert, &ocsp.RequestOptions{Hash: h})
	if err != nil {
		return nil
	}
	q, err := ocsp.ParseRequest(req)
	if err != nil {
		return nil
	}
	return q.IssuerKeyHash
}
