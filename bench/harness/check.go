package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// checkTarget makes sure that t does the benchmark's job before it is
// measured, and leaves the HIT paths in its cache: the cacheable paths are
// answered without a second trip to the origin, the no-store path reaches
// the origin every time, and over TLS each name gets TLS 1.3 with its
// certificate's key type and HTTP/2 is negotiated.
func (b *bench) checkTarget(ctx context.Context, t *target) error {
	plain := checkClient(t.http, nil, false)
	for _, c := range []struct {
		path   string
		size   int
		cached bool
	}{
		{"/1k", 1 << 10, true},
		{"/100k", 100 << 10, true},
		{"/nostore", 1 << 10, false},
		{"/z/0", 1 << 10, true},
	} {
		url := "http://" + withPort(benchHost, t.http) + c.path
		if _, err := b.get(ctx, plain, url, c.size); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		before, err := b.originRequests(ctx)
		if err != nil {
			return err
		}
		if _, err := b.get(ctx, plain, url, c.size); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		after, err := b.originRequests(ctx)
		if err != nil {
			return err
		}
		switch fetched := after - before; {
		case c.cached && fetched != 0:
			return fmt.Errorf("%s: the second GET %s reached the origin: it is not cached", t.name, url)
		case !c.cached && fetched != 1:
			return fmt.Errorf("%s: the second GET %s reached the origin %d times, want 1: no-store must pass through", t.name, url, fetched)
		}
	}
	if t.https == "" {
		return nil
	}
	for _, c := range []struct {
		host string
		h2   bool
		key  string
	}{
		{benchHost, true, "ECDSA"},
		{ecdsaHost, false, "ECDSA"},
		{rsaHost, false, "RSA"},
	} {
		cl := checkClient(t.https, &tls.Config{RootCAs: b.pki.roots, ServerName: c.host}, c.h2)
		resp, err := b.get(ctx, cl, "https://"+withPort(c.host, t.https)+"/1k", 1<<10)
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		if got := resp.TLS.Version; got != tls.VersionTLS13 {
			return fmt.Errorf("%s: %s negotiated %s, want TLS 1.3", t.name, c.host, tls.VersionName(got))
		}
		if got := keyType(resp.TLS.PeerCertificates[0]); got != c.key {
			return fmt.Errorf("%s: %s presented a %s certificate, want %s", t.name, c.host, got, c.key)
		}
		if c.h2 && resp.ProtoMajor != 2 {
			return fmt.Errorf("%s: %s answered over %s, want HTTP/2", t.name, c.host, resp.Proto)
		}
	}
	return nil
}

// prime requests case c's URL from t once, over the same listener, with the
// same Host and protocol as the load, so that the load finds it cached.
func (b *bench) prime(ctx context.Context, c loadCase, t *target) error {
	addr, scheme, cfg := t.http, "http", (*tls.Config)(nil)
	if c.tls {
		addr, scheme, cfg = t.https, "https", &tls.Config{RootCAs: b.pki.roots, ServerName: c.host}
	}
	client := checkClient(addr, cfg, c.tool == "h2load")
	defer client.CloseIdleConnections()
	if _, err := b.get(ctx, client, scheme+"://"+withPort(c.host, addr)+c.path, c.size); err != nil {
		return fmt.Errorf("priming %s for %s: %w", t.name, c.name, err)
	}
	return nil
}

// withPort returns host with the port of addr, as the load generators
// send it in Host (HAProxy's and Varnish's cache keys include it).
func withPort(host, addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return net.JoinHostPort(host, port)
}

// checkClient returns a client that connects every request to addr, over
// TLS when tlsConfig is set, speaking HTTP/2 only when h2 is set. It sends
// no Accept-Encoding, as the load generators send none.
func checkClient(addr string, tlsConfig *tls.Config, h2 bool) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	var protocols http.Protocols
	if h2 {
		protocols.SetHTTP2(true)
	} else {
		protocols.SetHTTP1(true)
	}
	return &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, addr)
			},
			TLSClientConfig:    tlsConfig,
			Protocols:          &protocols,
			DisableCompression: true,
		},
	}
}

// get fetches url as the load generators do and checks that the answer is
// a 200 with a body of size bytes.
func (b *bench) get(ctx context.Context, c *http.Client, url string, size int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(keyHeader, "en-US")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading the body: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK || n != int64(size) {
		return nil, fmt.Errorf("GET %s: %s with %d bytes, want 200 with %d", url, resp.Status, n, size)
	}
	return resp, nil
}

// originRequests returns how many requests the origin has served.
func (b *bench) originRequests(ctx context.Context) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.addrs.originHTTP+"/__bench/stats", nil)
	if err != nil {
		return 0, err
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("origin stats: %w", err)
	}
	defer resp.Body.Close()
	var stats struct{ Requests int64 }
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		return 0, fmt.Errorf("origin stats: %w", err)
	}
	return stats.Requests, nil
}

func keyType(c *x509.Certificate) string {
	switch c.PublicKey.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA"
	case *rsa.PublicKey:
		return "RSA"
	}
	return c.PublicKeyAlgorithm.String()
}
