package edgeserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/httpcache"
	"github.com/portico-edge/portico/internal/origin"
	"github.com/portico-edge/portico/internal/snapshot"
	"github.com/portico-edge/portico/internal/testlog"
)

// The differential tests: every request is sent to a server with the
// fast path and to one without (slowOnly), which share one snapshot and
// one cache; the two must answer byte for byte the same, but for the
// X-Amz-Cf-Id value, and write the same access log line.

// Hosts of the differential edge's distributions.
const (
	diffHost   = "diff.example"   // cookies not forwarded: the cache answers preconditions
	cookieHost = "cookie.example" // all cookies forwarded: it does not
)

// diffEdge is a fast and a slow server over one snapshot and cache (with
// a disk tier), each
// on an HTTP and an HTTPS listener, with an access log each.
type diffEdge struct {
	fast, slow                   *Server
	fastLog, slowLog             *testlog.Buffer
	fastHTTP, slowHTTP           string
	fastHTTPS, slowHTTPS         string
	tlsHost                      string // diffHost's distribution's own name, which the default certificate covers
	viewerCA                     *testCA
	originRequests               func() int
	fastLogOffset, slowLogOffset int
}

// diffOrigin answers by the path's last segment; every response may be
// cached for 300 s unless the segment says otherwise.
func diffOrigin(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	h := w.Header()
	h.Set("Cache-Control", "max-age=300")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	body := fmt.Sprintf("%s %s?%s", r.Method, r.URL.EscapedPath(), r.URL.RawQuery)
	status := http.StatusOK
	seg := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	switch seg {
	case "nodate":
		h["Date"] = nil // net/http then sends none
	case "etag":
		h.Set("Etag", `"v1"`)
		h.Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
	case "notype":
		h["Content-Type"] = nil
	case "vary":
		h.Set("Vary", "Accept-Language, X-Device")
		body += " device=" + r.Header.Get("X-Device")
	case "404":
		status = http.StatusNotFound
	case "big":
		body = strings.Repeat("0123456789abcdef", 100<<10/16)
	case "via":
		h.Set("Via", "1.1 upstream-proxy")
	case "nostore":
		h.Set("Cache-Control", "no-store")
	case "empty":
		body = ""
	case "multi":
		h.Add("X-Multi", "one")
		h.Add("X-Multi", "two")
		h.Set("X-Spaces", "  inner  value ")
		h.Set("Link", "</a>; rel=preload")
	case "redirect":
		h.Set("Location", "/plain")
		status = http.StatusMovedPermanently
	case "cookie":
		h.Set("Set-Cookie", "s=1")
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// diffPolicy is a response headers policy with every part but
// Server-Timing.
var diffPolicy = portico.ResponseHeadersPolicy{ID: "0d1f0000-0000-4000-8000-000000000001", Config: portico.ResponseHeadersPolicyConfig{
	Name: "diff",
	SecurityHeadersConfig: &portico.SecurityHeadersConfig{
		FrameOptions:            &portico.FrameOptions{FrameOption: "DENY", Override: portico.Ptr(true)},
		ContentTypeOptions:      &portico.ContentTypeOptions{Override: portico.Ptr(true)},
		StrictTransportSecurity: &portico.StrictTransportSecurity{AccessControlMaxAgeSec: portico.Ptr(63072000), IncludeSubdomains: portico.Ptr(true), Override: portico.Ptr(true)},
	},
	CustomHeadersConfig: &portico.ResponseCustomHeaders{Quantity: 3, Items: []portico.ResponseCustomHeader{
		{Header: "X-Custom", Value: "custom value", Override: portico.Ptr(false)},
		{Header: "Cache-Control", Value: "public, max-age=60", Override: portico.Ptr(true)},
		{Header: "X-Cache", Value: "policy says", Override: portico.Ptr(false)},
	}},
	RemoveHeadersConfig: &portico.ResponseRemoveHeaders{Quantity: 2, Items: []portico.ResponseRemoveHeader{{Header: "Link"}, {Header: "X-Multi"}}},
	CorsConfig: &portico.CorsConfig{
		AccessControlAllowOrigins:     &portico.CorsOrigins{Quantity: 1, Items: []string{"https://app.example"}},
		AccessControlAllowHeaders:     &portico.HeaderNames{Quantity: 1, Items: []string{"*"}},
		AccessControlAllowMethods:     &portico.Methods{Quantity: 1, Items: []string{"GET"}},
		AccessControlAllowCredentials: portico.Ptr(true),
		OriginOverride:                portico.Ptr(true),
	},
}}

// diffDistribution returns a distribution with aliases host: a default
// behaviour (all methods, GET and HEAD cached, the query string and
// Accept-Language in the key, cookies as given), and /policy/* (diffPolicy),
// /https/* (https-only), /ro/* (GET and HEAD only) and /gz/* (compressed).
func diffDistribution(id, host, cookies string) portico.Distribution {
	fv := &portico.ForwardedValues{
		QueryString: portico.Ptr(true),
		Cookies:     &portico.CookiePreference{Forward: cookies},
		Headers:     &portico.Names{Quantity: 1, Items: []string{"Accept-Language"}},
	}
	methods := &portico.AllowedMethods{Quantity: len(allMethods), Items: allMethods,
		CachedMethods: &portico.Methods{Quantity: 2, Items: []string{"GET", "HEAD"}}}
	behavior := func(pattern, viewer string) portico.CacheBehavior {
		return portico.CacheBehavior{PathPattern: portico.Ptr(pattern), TargetOriginID: "origin", ViewerProtocolPolicy: viewer,
			AllowedMethods: methods, ForwardedValues: fv, MinTTL: portico.Ptr(int64(0)), DefaultTTL: portico.Ptr(int64(86400)), MaxTTL: portico.Ptr(int64(31536000))}
	}
	policy := behavior("/policy/*", "allow-all")
	policy.ResponseHeadersPolicyID = portico.Ptr(diffPolicy.ID)
	ro := behavior("/ro/*", "allow-all")
	ro.AllowedMethods = nil
	gz := behavior("/gz/*", "allow-all")
	gz.Compress = portico.Ptr(true)
	def := behavior("", "allow-all")
	def.PathPattern = nil
	items := []portico.CacheBehavior{policy, behavior("/https/*", "https-only"), ro, gz}
	return portico.Distribution{ID: id, DomainName: strings.ToLower(id) + ".portico.localhost", Config: portico.DistributionConfig{
		CallerReference: id,
		Comment:         portico.Ptr(""),
		Enabled:         portico.Ptr(true),
		Aliases:         &portico.Aliases{Quantity: 1, Items: []string{host}},
		Origins: &portico.Origins{Quantity: 1, Items: []portico.Origin{{
			ID: "origin", DomainName: originHost,
			CustomOriginConfig: &portico.CustomOriginConfig{HTTPPort: 80, HTTPSPort: 443, OriginProtocolPolicy: "https-only"},
		}}},
		DefaultCacheBehavior: &def,
		CacheBehaviors:       &portico.CacheBehaviors{Quantity: len(items), Items: items},
	}}
}

func newDiffEdge(t testing.TB, limits Limits) *diffEdge {
	t.Helper()
	originCA := newCA(t, "Origin Test CA")
	var requests int
	var mu = make(chan struct{}, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu <- struct{}{}
		requests++
		<-mu
		diffOrigin(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*originCA.keyPair(t, originHost)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	log := slog.New(slog.DiscardHandler)
	transports := origin.NewTransports(originCA.pool, log)
	addr := srv.Listener.Addr().String()
	transports.Resolve = func(hostport string) string {
		if hostport == originHost+":443" {
			return addr
		}
		return hostport
	}
	viewerCA := newCA(t, "Viewer Test CA")
	defaultCert := viewerCA.keyPair(t, "*.portico.localhost")
	d1 := diffDistribution("EDIFF1", diffHost, "none")
	st := &portico.State{Rev: 1,
		Distributions:           []portico.Distribution{d1, diffDistribution("EDIFF2", cookieHost, "all")},
		ResponseHeadersPolicies: []portico.ResponseHeadersPolicy{diffPolicy},
	}
	// A disk tier, as cmd/portico has by default: large bodies go out
	// with sendfile from its files.
	cache, err := httpcache.Open(httpcache.Config{MaxBytes: 64 << 20, Logger: log, DiskDir: t.TempDir(), DiskMaxBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Close() })
	snap, err := snapshot.Build(st, snapshot.Deps{Transports: transports, Cache: cache, DefaultCertificate: defaultCert, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if skipped := snap.Skipped(); len(skipped) > 0 {
		t.Fatalf("snapshot skipped %v", skipped)
	}
	e := &diffEdge{fastLog: &testlog.Buffer{}, slowLog: &testlog.Buffer{}, viewerCA: viewerCA, tlsHost: d1.DomainName,
		originRequests: func() int { mu <- struct{}{}; defer func() { <-mu }(); return requests }}
	current := func() *snapshot.Snapshot { return snap }
	e.fast = &Server{Snapshot: current, DefaultCertificate: defaultCert, Log: log, AccessLog: e.fastLog, Limits: limits}
	e.slow = &Server{Snapshot: current, DefaultCertificate: defaultCert, Log: log, AccessLog: e.slowLog, Limits: limits, slowOnly: true}
	_, e.fastHTTP = serve(t, e.fast, false)
	_, e.fastHTTPS = serve(t, e.fast, true)
	_, e.slowHTTP = serve(t, e.slow, false)
	_, e.slowHTTPS = serve(t, e.slow, true)
	return e
}

// dial connects to addr, over TLS with ALPN http/1.1 if useTLS.
func (e *diffEdge) dial(t testing.TB, addr string, useTLS bool) net.Conn {
	t.Helper()
	var c net.Conn
	var err error
	if useTLS {
		c, err = tls.Dial("tcp", addr, &tls.Config{ServerName: e.tlsHost, RootCAs: e.viewerCA.pool, NextProtos: []string{"http/1.1"}})
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// diffProbe follows a case's requests, to tell an open connection from a
// closed one: both paths answer it the same (403), without the fast path.
const diffProbe = "HEAD / HTTP/1.1\r\nHost: probe.invalid\r\n\r\n"

// exchangeRaw writes raw on a new connection to addr and reads the
// responses (to the methods given), returning them as sent. With probe, it
// then sends diffProbe and reports whether the connection was closed
// instead of answering it.
func (e *diffEdge) exchangeRaw(t testing.TB, addr string, useTLS bool, raw string, methods []string, probe bool) (responses []string, closed bool) {
	t.Helper()
	c := e.dial(t, addr, useTLS)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for _, m := range methods {
		resp, err := readRawResponse(br, m)
		if err != nil {
			t.Fatalf("reading the response to %s: %v (so far %q)", m, err, responses)
		}
		responses = append(responses, resp)
	}
	if !probe {
		return responses, false
	}
	io.WriteString(c, diffProbe)
	resp, err := readRawResponse(br, "HEAD")
	if err != nil {
		return responses, true
	}
	return append(responses, resp), false
}

// readRawResponse reads one response, as sent: its head, and its body by
// Content-Length or chunks.
func readRawResponse(br *bufio.Reader, method string) (string, error) {
	var b strings.Builder
	length, chunked, status := -1, false, 0
	for {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		if status == 0 {
			if _, err := fmt.Sscanf(line, "HTTP/1.%d %d", new(int), &status); err != nil {
				return b.String(), fmt.Errorf("status line %q: %v", line, err)
			}
			continue
		}
		if line == "\r\n" {
			break
		}
		name, value, _ := strings.Cut(strings.TrimRight(line, "\r\n"), ":")
		switch strings.ToLower(name) {
		case "content-length":
			length, _ = strconv.Atoi(strings.TrimSpace(value))
		case "transfer-encoding":
			chunked = true
		}
	}
	switch {
	case method == http.MethodHead || status == http.StatusNotModified || status == http.StatusNoContent:
	case chunked:
		for {
			line, err := br.ReadString('\n')
			b.WriteString(line)
			if err != nil {
				return b.String(), err
			}
			size, err := strconv.ParseInt(strings.TrimRight(line, "\r\n"), 16, 64)
			if err != nil {
				return b.String(), err
			}
			if _, err := io.CopyN(&b, br, size+2); err != nil {
				return b.String(), err
			}
			if size == 0 {
				break
			}
		}
	case length >= 0:
		if _, err := io.CopyN(&b, br, int64(length)); err != nil {
			return b.String(), err
		}
	}
	return b.String(), nil
}

// volatile matches what differs between two identical requests: the
// request ID, and the date and duration of log lines.
var volatile = regexp.MustCompile(`X-Amz-Cf-Id: [A-Za-z0-9_-]{56}|Request ID: [A-Za-z0-9_-]{56}|id=[A-Za-z0-9_-]{56}|time=\S+|duration=\S+`)

func mask(s string) string {
	return volatile.ReplaceAllStringFunc(s, func(m string) string {
		if name, _, ok := strings.Cut(m, ": "); ok {
			return name + ": <id>"
		}
		name, _, _ := strings.Cut(m, "=")
		return name + "=<>"
	})
}

// newLogLines returns what was written to log since *offset.
func newLogLines(log *testlog.Buffer, offset *int) string {
	s := log.String()
	out := s[*offset:]
	*offset = len(s)
	return out
}

// request builds a raw request to host.
func request(method, target, host string, fields ...string) string {
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n")
	for _, f := range fields {
		b.WriteString(f + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

func TestFastPathMatchesSlowPath(t *testing.T) {
	e := newDiffEdge(t, Limits{})
	get := func(target string, fields ...string) string { return request("GET", target, diffHost, fields...) }
	tests := []diffCase{
		{name: "GET hit", raw: get("/plain"), fast: 1},
		{name: "HEAD hit", raw: request("HEAD", "/plain", diffHost), methods: []string{"HEAD"}, warm: get("/plain"), fast: 1},
		{name: "query", raw: get("/plain?b=2&a=1;c"), fast: 1},
		{name: "empty query", raw: get("/plain?"), fast: 1},
		{name: "question marks", raw: get("/plain??x?"), fast: 1},
		{name: "raw path", raw: get("/p!a*t(h)'[x]:@;,=+$&~"), fast: 1},
		{name: "percent-encoded path", raw: get("/p%41th%2Fx"), fast: 1},
		{name: "percent-encoded query", raw: get("/plain?q=%20x"), fast: 1},
		{name: "dot segments and double slashes", raw: get("//a/./b/../plain"), fast: 1},
		{name: "UTF-8 path", raw: get("/caf\xc3\xa9"), fast: 1},
		{name: "no Date from the origin", raw: get("/nodate"), fast: 1},
		{name: "If-None-Match satisfied: 304", raw: get("/etag", `If-None-Match: "v1"`), warm: get("/etag"), fast: 1},
		{name: "HEAD If-None-Match: 304", raw: request("HEAD", "/etag", diffHost, `If-None-Match: W/"v1"`), methods: []string{"HEAD"}, warm: get("/etag"), fast: 1},
		{name: "If-Modified-Since satisfied: 304", raw: get("/etag", "If-Modified-Since: Mon, 02 Jan 2006 15:04:05 GMT"), warm: get("/etag"), fast: 1},
		{name: "If-None-Match not satisfied", raw: get("/etag", `If-None-Match: "v0"`), warm: get("/etag"), fast: 1},
		{name: "If-Match failed: 412", raw: get("/etag", `If-Match: "v0"`), warm: get("/etag")},
		{name: "Range", raw: get("/etag", "Range: bytes=0-3"), warm: get("/etag")},
		{name: "no Content-Type", raw: get("/notype")},
		{name: "Vary", raw: get("/vary", "Accept-Language: fr", "X-Device: a"), fast: 1},
		{name: "Vary, other variant", raw: get("/vary", "Accept-Language: fr", "X-Device: b"), fast: 1},
		{name: "cached 404", raw: get("/404"), fast: 1},
		{name: "cached 301", raw: get("/redirect"), fast: 1},
		{name: "100 KiB", raw: get("/big"), fast: 1},
		{name: "HEAD 100 KiB", raw: request("HEAD", "/big", diffHost), methods: []string{"HEAD"}, warm: get("/big"), fast: 1},
		{name: "empty body", raw: get("/empty"), fast: 1},
		{name: "Via from the origin", raw: get("/via"), fast: 1},
		{name: "repeated and padded fields", raw: get("/multi"), fast: 1},
		{name: "not stored", raw: get("/nostore")},
		{name: "Set-Cookie, cookies not forwarded", raw: get("/cookie"), fast: 1},
		{name: "Set-Cookie, cookies forwarded", raw: request("GET", "/cookie", cookieHost)},
		{name: "response headers policy", raw: get("/policy/multi"), fast: 1},
		{name: "response headers policy, 304", raw: get("/policy/etag", `If-None-Match: "v1"`), warm: get("/policy/etag"), fast: 1},
		{name: "CORS request", raw: get("/policy/multi", "Origin: https://app.example")},
		{name: "CORS request from another origin", raw: get("/policy/multi", "Origin: https://other.example")},
		{name: "compressed", raw: get("/gz/big", "Accept-Encoding: gzip"), fast: 1},
		{name: "compressible, not accepted", raw: get("/gz/big"), fast: 1},
		{name: "keyed header", raw: get("/plain", "Accept-Language: de"), fast: 1},
		{name: "keyed header, lower-case name", raw: get("/plain", "accept-LANGUAGE: de"), warm: get("/plain", "Accept-Language: de"), fast: 1},
		{name: "keyed header twice", raw: get("/plain", "Accept-Language: de", "Accept-Language: fr"), fast: 1},
		{name: "cookies not keyed", raw: get("/plain", "Cookie: a=1"), warm: get("/plain"), fast: 1},
		{name: "cookies keyed", raw: request("GET", "/etag", cookieHost, "Cookie: a=1"), fast: 1},
		{name: "preconditions ignored with cookies forwarded", raw: request("GET", "/etag", cookieHost, `If-None-Match: "v1"`), warm: request("GET", "/etag", cookieHost), fast: 1},
		{name: "Pragma", raw: get("/plain", "Pragma: no-cache"), warm: get("/plain"), fast: 1},
		{name: "host case and port", raw: request("GET", "/plain", "DIFF.Example.:8080"), warm: get("/plain"), fast: 1},
		{name: "unknown host", raw: request("GET", "/plain", "unknown.example")},
		{name: "Authorization", raw: get("/plain", "Authorization: Bearer x"), warm: get("/plain")},
		{name: "POST", raw: request("POST", "/plain", diffHost, "Content-Length: 2") + "hi", warm: get("/plain")},
		{name: "GET with a body", raw: get("/plain", "Content-Length: 2") + "hi", warm: get("/plain")},
		{name: "GET with an empty body", raw: get("/plain", "Content-Length: 0"), warm: get("/plain")},
		{name: "Expect", raw: get("/plain", "Expect: 100-continue"), warm: get("/plain")},
		{name: "Upgrade", raw: get("/plain", "Connection: Upgrade", "Upgrade: websocket"), warm: get("/plain")},
		{name: "OPTIONS", raw: request("OPTIONS", "/plain", diffHost), warm: get("/plain")},
		{name: "method not allowed", raw: request("DELETE", "/ro/plain", diffHost), warm: get("/ro/plain")},
		{name: "lower-case method", raw: request("get", "/plain", diffHost), warm: get("/plain")},
		{name: "absolute form", raw: request("GET", "http://diff.example/plain", diffHost), warm: get("/plain")},
		{name: "HTTP/1.0", raw: "GET /plain HTTP/1.0\r\nHost: diff.example\r\n\r\n", warm: get("/plain"), closed: true},
		{name: "HTTP/1.0 keep-alive", raw: "GET /plain HTTP/1.0\r\nHost: diff.example\r\nConnection: keep-alive\r\n\r\n", warm: get("/plain")},
		{name: "Connection: close", raw: get("/plain", "Connection: close"), warm: get("/plain"), fast: 1, closed: true},
		{name: "Connection: close among tokens", raw: get("/plain", "Connection: TE, Close"), warm: get("/plain"), fast: 1, closed: true},
		{name: "https-only over HTTP", raw: get("/https/plain"), warm: request("GET", "/https/plain", diffHost)},
		{name: "refused head", raw: get("/plain", "Bad Field: x"), warm: get("/plain"), closed: true},
		{name: "empty lines first", raw: "\r\n\r\n" + get("/plain"), warm: get("/plain"), fast: 1},
		{name: "over TLS", raw: request("GET", "/https/plain", "EDIFF1.portico.localhost"), tls: true, fast: 1},
		{name: "over TLS, HEAD", raw: request("HEAD", "/https/big", "ediff1.portico.localhost"), methods: []string{"HEAD"}, warm: request("GET", "/https/big", "ediff1.portico.localhost"), tls: true, fast: 1},
		{name: "over TLS, 100 KiB", raw: request("GET", "/https/big", "ediff1.portico.localhost"), tls: true, fast: 1},
		{name: "over TLS, other host", raw: request("GET", "/plain", diffHost), warm: request("GET", "/plain", "ediff1.portico.localhost"), tls: true},
		{name: "pipelined", raw: get("/plain") + get("/etag", `If-None-Match: "v1"`) + request("HEAD", "/big", diffHost) + get("/404"),
			methods: []string{"GET", "GET", "HEAD", "GET"}, warm: get("/plain") + get("/etag") + get("/big") + get("/404"), fast: 4},
		{name: "pipelined, handed over in the middle", raw: get("/plain") + get("/notype") + get("/plain") + request("POST", "/plain", diffHost, "Content-Length: 3") + "abc" + get("/plain"),
			methods: []string{"GET", "GET", "GET", "POST", "GET"}, warm: get("/plain") + get("/notype"), fast: 1},
		{name: "pipelined, closed in the middle", raw: get("/plain") + get("/plain", "Connection: close") + get("/plain"),
			methods: []string{"GET", "GET"}, warm: get("/plain"), fast: 2, closed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { e.check(t, tt) })
	}
}

// diffCase is a case of the differential tests.
type diffCase struct {
	name    string
	raw     string   // one or more requests, written at once
	methods []string // of the responses to read; default GET
	warm    string   // sent first to the slow server, to store the response; default raw
	tls     bool
	fast    int  // responses the fast path must write
	closed  bool // the connection ends after the responses
}

// check warms the cache with tt.warm, then sends tt.raw to the slow and the
// fast server: their answers must be the same byte for byte, but for
// X-Amz-Cf-Id, and so must their access log lines.
func (e *diffEdge) check(t *testing.T, tt diffCase) {
	t.Helper()
	methods := tt.methods
	if methods == nil {
		methods = []string{"GET"}
	}
	warm := tt.warm
	if warm == "" {
		warm = tt.raw
	}
	fastAddr, slowAddr := e.fastHTTP, e.slowHTTP
	if tt.tls {
		fastAddr, slowAddr = e.fastHTTPS, e.slowHTTPS
	}
	warmMethods := requestLine.FindAllStringSubmatch(warm, -1)
	for _, m := range warmMethods {
		e.exchangeRaw(t, slowAddr, tt.tls, m[0], []string{m[1]}, false)
		// A server may log after the viewer has the response.
		waitLogLines(t, e.slowLog, &e.slowLogOffset, 1)
	}

	// Age and Cache-Status's ttl change with the second: try
	// again when the two answers straddle one.
	var slow, fast []string
	var slowClosed, fastClosed bool
	var slowLines, fastLines string
	var fastWritten int64
	for range 3 {
		slow, slowClosed = e.exchangeRaw(t, slowAddr, tt.tls, tt.raw, methods, true)
		before := e.fast.fast.answered.Load()
		fast, fastClosed = e.exchangeRaw(t, fastAddr, tt.tls, tt.raw, methods, true)
		fastWritten = e.fast.fast.answered.Load() - before
		slowLines = waitLogLines(t, e.slowLog, &e.slowLogOffset, len(slow))
		fastLines = waitLogLines(t, e.fastLog, &e.fastLogOffset, len(fast))
		if mask(strings.Join(slow, "")) == mask(strings.Join(fast, "")) {
			break
		}
	}
	if len(fast) != len(slow) {
		t.Errorf("%d responses on the fast path, %d on the slow one", len(fast), len(slow))
	}
	for i := range min(len(fast), len(slow)) {
		if got, want := mask(fast[i]), mask(slow[i]); got != want {
			t.Errorf("response %d:\nfast path:\n%s\nslow path:\n%s", i, truncate(got), truncate(want))
		}
	}
	if got, want := mask(fastLines), mask(slowLines); got != want {
		t.Errorf("access log:\nfast path:\n%s\nslow path:\n%s", got, want)
	}
	if fastClosed != slowClosed || fastClosed != tt.closed {
		t.Errorf("connection closed: fast path %v, slow path %v, want %v", fastClosed, slowClosed, tt.closed)
	}
	if fastWritten != int64(tt.fast) {
		t.Errorf("the fast path wrote %d responses, want %d", fastWritten, tt.fast)
	}
}

// TestFastPathSendfile sends large bodies from the disk tier's files
// with sendfile, once the cache has written them: the answers are the same
// as the slow path's.
func TestFastPathSendfile(t *testing.T) {
	e := newDiffEdge(t, Limits{})
	get := func(target string, fields ...string) string { return request("GET", target, diffHost, fields...) }
	for _, path := range []string{"/big", "/policy/big", "/gz/big"} {
		e.exchangeRaw(t, e.slowHTTP, false, get(path), []string{"GET"}, false)
		waitLogLines(t, e.slowLog, &e.slowLogOffset, 1)
	}
	// The disk tier writes in the background: wait for the file.
	deadline := time.Now().Add(10 * time.Second)
	for e.fast.fast.sendfiles.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no body went out with sendfile within 10s")
		}
		time.Sleep(20 * time.Millisecond)
		e.exchangeRaw(t, e.fastHTTP, false, get("/big"), []string{"GET"}, false)
		waitLogLines(t, e.fastLog, &e.fastLogOffset, 1)
	}
	for _, tt := range []struct {
		diffCase
		sendfiles int64
	}{
		{diffCase{name: "100 KiB", raw: get("/big"), fast: 1}, 1},
		{diffCase{name: "100 KiB under a response headers policy", raw: get("/policy/big"), fast: 1}, 1},
		{diffCase{name: "100 KiB, compressible, not accepted", raw: get("/gz/big"), fast: 1}, 1},
		{diffCase{name: "HEAD", raw: request("HEAD", "/big", diffHost), methods: []string{"HEAD"}, warm: get("/big"), fast: 1}, 0},
		{diffCase{name: "pipelined", raw: get("/big") + get("/plain") + get("/big") + request("HEAD", "/big", diffHost) + get("/big", "Connection: close"),
			methods: []string{"GET", "GET", "GET", "HEAD", "GET"}, warm: get("/plain"), fast: 5, closed: true}, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := e.fast.fast.sendfiles.Load()
			e.check(t, tt.diffCase)
			// check retries a case that straddles a second.
			if n := e.fast.fast.sendfiles.Load() - before; tt.sendfiles == 0 && n != 0 || tt.sendfiles > 0 && (n == 0 || n%tt.sendfiles != 0) {
				t.Errorf("%d bodies went out with sendfile, want %d", n, tt.sendfiles)
			}
		})
	}
}

// requestLine matches a request without a body: its method, and its
// fields.
var requestLine = regexp.MustCompile(`(?m)^([A-Za-z]+) \S+ HTTP/1\.[01]\r\n(?:[^\r\n]+\r\n)*\r\n`)

// waitLogLines returns the next n access log lines of log, waiting for
// them: a server logs a request after it has answered it.
func waitLogLines(t *testing.T, log *testlog.Buffer, offset *int, n int) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var b strings.Builder
	for got := 0; got < n; {
		lines := newLogLines(log, offset)
		for _, line := range strings.SplitAfter(lines, "\n") {
			if strings.Contains(line, "msg=request ") {
				b.WriteString(line)
				got++
			}
		}
		if got < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d access log lines within 5s, want %d:\n%s", got, n, b.String())
			}
			time.Sleep(time.Millisecond)
		}
	}
	return b.String()
}

func truncate(s string) string {
	if len(s) > 2000 {
		return s[:2000] + fmt.Sprintf("… (%d bytes)", len(s))
	}
	return s
}

// TestFastPathLimits checks the limits of connections on the fast path,
// with short timeouts: each slow or idle connection is ended, and a
// connection that was idle for less than the idle timeout is not, however
// the deadlines set for its earlier requests stand.
func TestFastPathLimits(t *testing.T) {
	e := newDiffEdge(t, Limits{ReadHeaderTimeout: 300 * time.Millisecond, IdleTimeout: 3 * time.Second, WriteTimeout: 300 * time.Millisecond, MaxRequestsPerConn: 3})
	for _, path := range []string{"/plain", "/big"} {
		e.exchangeRaw(t, e.slowHTTP, false, request("GET", path, diffHost), []string{"GET"}, false)
	}
	hit := request("GET", "/plain", diffHost)
	fastGet := func(t *testing.T, c *rawConn) *http.Response {
		t.Helper()
		before := e.fast.fast.answered.Load()
		io.WriteString(c, hit)
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || e.fast.fast.answered.Load() == before {
			t.Fatalf("GET: status %d, fast path answered %d; want 200 from the fast path", resp.StatusCode, e.fast.fast.answered.Load()-before)
		}
		return resp
	}

	t.Run("silent new connection", func(t *testing.T) {
		t.Parallel()
		dialRaw(t, "", e.fastHTTP).waitClosed()
	})
	t.Run("slowloris after a hit", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, "", e.fastHTTP)
		fastGet(t, c)
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for _, b := range []byte(hit) {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
			}
		}()
		c.waitClosed()
	})
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, "", e.fastHTTP)
		c.SetDeadline(time.Now().Add(20 * time.Second))
		fastGet(t, c)
		// The first request's idle deadline is kept for the second, and
		// fires 0.8 s before its idle time is over: the connection
		// stays open for a third request sent between the two.
		time.Sleep(800 * time.Millisecond)
		fastGet(t, c)
		time.Sleep(2600 * time.Millisecond)
		if resp := fastGet(t, c); !resp.Close {
			t.Error("the third request's response does not close the connection (MaxRequestsPerConn 3)")
		}
		c.waitClosed()
	})
	t.Run("idle connection closes", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, "", e.fastHTTP)
		fastGet(t, c)
		c.waitClosed()
	})
}

// TestFastPathWriteTimeout pipelines 200 requests for 100 KiB and reads
// nothing for a while: the fast path's writes stop making progress, and
// the connection is ended.
func TestFastPathWriteTimeout(t *testing.T) {
	e := newDiffEdge(t, Limits{WriteTimeout: 300 * time.Millisecond})
	big := request("GET", "/big", diffHost)
	e.exchangeRaw(t, e.slowHTTP, false, big, []string{"GET"}, false)
	before := e.fast.fast.answered.Load()
	c := dialRaw(t, "", e.fastHTTP)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, strings.Repeat(big, 200))
	time.Sleep(1500 * time.Millisecond)
	n, err := io.Copy(io.Discard, c)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the connection is still open: read %d bytes", n)
		}
	}
	if n >= 200*100<<10 || e.fast.fast.answered.Load() == before {
		t.Errorf("read %d bytes, the fast path answered %d requests; want fewer than 200 from the fast path", n, e.fast.fast.answered.Load()-before)
	}
}

// TestFastPathGracefulStop closes the underlying listeners while
// connections on the fast path are idle or halfway through a head: they
// are handed to net/http, which answers their next requests, and Serve
// ends only after that; Shutdown then closes them.
func TestFastPathGracefulStop(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "HTTP", true: "HTTPS"}[useTLS], func(t *testing.T) {
			e := newDiffEdge(t, Limits{})
			host := diffHost
			if useTLS {
				host = e.tlsHost
			}
			hit := request("GET", "/plain", host)
			e.exchangeRaw(t, e.slowHTTP, false, request("GET", "/plain", diffHost), []string{"GET"}, false)
			if useTLS {
				e.exchangeRaw(t, e.slowHTTPS, true, hit, []string{"GET"}, false)
			}

			raw, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := e.fast.HTTPServer()
			ln := e.fast.Listener(raw)
			if useTLS {
				srv, ln = e.fast.HTTPSServer(), e.fast.TLSListener(raw)
			}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			defer srv.Close()

			conns := make([]net.Conn, 2)
			readers := make([]*bufio.Reader, 2)
			for i := range conns {
				conns[i] = e.dial(t, raw.Addr().String(), useTLS)
				readers[i] = bufio.NewReader(conns[i])
				before := e.fast.fast.answered.Load()
				io.WriteString(conns[i], hit)
				if resp, err := readRawResponse(readers[i], "GET"); err != nil || !strings.HasPrefix(resp, "HTTP/1.1 200") {
					t.Fatalf("first request: %q, %v", resp, err)
				}
				if e.fast.fast.answered.Load() == before {
					t.Fatal("the fast path did not answer the first request")
				}
			}
			io.WriteString(conns[1], hit[:10]) // halfway through a head
			time.Sleep(50 * time.Millisecond)

			raw.Close()
			select {
			case err := <-served:
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("Serve: %v, want net.ErrClosed", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not end within 10s of the listener's close")
			}
			before := e.fast.fast.answered.Load()
			io.WriteString(conns[0], hit)
			io.WriteString(conns[1], hit[10:])
			for i := range conns {
				if resp, err := readRawResponse(readers[i], "GET"); err != nil || !strings.HasPrefix(resp, "HTTP/1.1 200") {
					t.Errorf("connection %d: request after the stop: %q, %v", i, resp, err)
				}
			}
			if n := e.fast.fast.answered.Load() - before; n != 0 {
				t.Errorf("the fast path answered %d requests after the stop, want none (net/http's)", n)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			for i := range conns {
				if _, err := readers[i].ReadByte(); err != io.EOF {
					t.Errorf("connection %d after Shutdown: %v, want EOF", i, err)
				}
			}
		})
	}
}

// TestFastPathShutdown shuts the server down while connections on the fast
// path are idle: Shutdown closes them, as net/http closes its idle ones.
func TestFastPathShutdown(t *testing.T) {
	e := newDiffEdge(t, Limits{})
	hit := request("GET", "/plain", diffHost)
	e.exchangeRaw(t, e.slowHTTP, false, hit, []string{"GET"}, false)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := e.fast.HTTPServer()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(e.fast.Listener(raw)) }()
	c := e.dial(t, raw.Addr().String(), false)
	br := bufio.NewReader(c)
	io.WriteString(c, hit)
	if resp, err := readRawResponse(br, "GET"); err != nil || !strings.HasPrefix(resp, "HTTP/1.1 200") {
		t.Fatalf("request: %q, %v", resp, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != http.ErrServerClosed {
		t.Errorf("Serve: %v, want http.ErrServerClosed", err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("the idle connection after Shutdown: %v, want EOF", err)
	}
}

// TestRunBudget checks when a connection's goroutine yields: after
// serving back to back for maxRun, not when it waited for its requests.
func TestRunBudget(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	serve := func(b *runBudget, start time.Time, took time.Duration) bool {
		b.started(start)
		b.ended(start.Add(took))
		return b.long()
	}
	var b runBudget
	// Back to back (pipelined): yields once maxRun has passed, then runs
	// a whole maxRun again before the next yield.
	now, yields := t0, 0
	for range 500 {
		if serve(&b, now, 10*time.Microsecond) {
			yields++
			b.yielded()
		}
		now = now.Add(10*time.Microsecond + time.Microsecond)
	}
	if want := int(500 * 11 * time.Microsecond / maxRun); yields < want-1 || yields > want {
		t.Errorf("back to back: %d yields over %v, want about %d", yields, now.Sub(t0), want)
	}
	// Waiting for each request (a round trip through the poller): never.
	b = runBudget{}
	for range 500 {
		if serve(&b, now, 10*time.Microsecond) {
			t.Fatalf("yielded at %v though every request was waited for", now.Sub(t0))
		}
		now = now.Add(10*time.Microsecond + runGap + time.Microsecond)
	}
}
