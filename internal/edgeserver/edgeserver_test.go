package edgeserver

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptrace"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portico-edge/portico/internal/snapshot"
)

var (
	viaPattern = regexp.MustCompile(`^(1\.1|2\.0) [0-9a-f]{32}\.portico \(Portico\)$`)
	idPattern  = regexp.MustCompile(`^[A-Za-z0-9_-]{56}$`)
)

// checkStamp checks the headers that every response carries.
func checkStamp(t *testing.T, resp *http.Response) {
	t.Helper()
	h := resp.Header
	if got := h.Get("X-Amz-Cf-Pop"); got != DefaultPop {
		t.Errorf("X-Amz-Cf-Pop = %q, want %q", got, DefaultPop)
	}
	if got := h.Get("X-Amz-Cf-Id"); !idPattern.MatchString(got) {
		t.Errorf("X-Amz-Cf-Id = %q, want 56 URL-safe base64 characters", got)
	}
	via := h.Values("Via")
	if len(via) == 0 || !viaPattern.MatchString(via[len(via)-1]) {
		t.Errorf("Via = %q, want the edge last, as %s", via, viaPattern)
	} else if want := map[int]string{1: "1.1 ", 2: "2.0 "}[resp.ProtoMajor]; !strings.HasPrefix(via[len(via)-1], want) {
		t.Errorf("Via = %q over HTTP/%d, want it to start with %q", via, resp.ProtoMajor, want)
	}
	if h.Get("X-Cache") == "" {
		t.Error("X-Cache is missing")
	}
}

func TestPipeline(t *testing.T) {
	e := newEdge(t)
	loginARN := e.importCert(t, "", "login.example.com")
	wildARN := e.importCert(t, "", "*.example.org")
	offARN := e.importCert(t, "", "off.example.com")
	e.createDistribution(t, distConfig("login", true, loginARN, "login.example.com"))
	e.createDistribution(t, distConfig("wild", true, wildARN, "*.example.org"))
	off := e.createDistribution(t, distConfig("off", false, offARN, "off.example.com"))
	plain := e.createDistribution(t, distConfig("plain", true, ""))

	tests := []struct {
		name     string
		sni      string // TLS server name; "" = the URL's host
		h2       bool
		method   string
		url      string
		body     string
		status   int
		xCache   string // prefix of X-Cache
		location string
		cert     string // first DNS name of the certificate presented
		text     string // in the body
		toOrigin string // path the origin must have seen with this request's ID
		vias     int    // number of Via values, if not 1
	}{
		{name: "exact SNI", method: "GET", url: "https://login.example.com/hello?q=1",
			status: 200, xCache: "Miss", cert: "login.example.com", text: "GET /hello from the origin", toOrigin: "/hello"},
		{name: "cache hit", method: "GET", url: "https://login.example.com/hello?q=1",
			status: 200, xCache: "Hit", cert: "login.example.com", text: "GET /hello from the origin"},
		{name: "mixed-case host", method: "GET", url: "https://LOGIN.Example.com/case",
			status: 200, xCache: "Miss", cert: "login.example.com", toOrigin: "/case"},
		{name: "mixed-case host shares the cache entry", method: "GET", url: "https://Login.Example.COM.:443/hello?q=1",
			status: 200, xCache: "Hit", cert: "login.example.com"},
		{name: "wildcard SNI", method: "GET", url: "https://www.example.org/w",
			status: 200, xCache: "Miss", cert: "*.example.org", toOrigin: "/w"},
		{name: "default SNI", method: "GET", url: "https://" + plain.DomainName + "/d",
			status: 200, xCache: "Miss", cert: "*.portico.localhost", toOrigin: "/d"},
		{name: "HTTP/2", h2: true, method: "GET", url: "https://login.example.com/h2",
			status: 200, xCache: "Miss", cert: "login.example.com", toOrigin: "/h2"},
		{name: "HTTP/2 hit", h2: true, method: "GET", url: "https://login.example.com/h2",
			status: 200, xCache: "Hit"},
		{name: "origin's Via first", method: "GET", url: "https://login.example.com/via",
			status: 200, xCache: "Miss", vias: 2},
		{name: "origin's Via first on a hit", method: "GET", url: "https://login.example.com/via",
			status: 200, xCache: "Hit", vias: 2},
		{name: "HEAD", method: "HEAD", url: "https://login.example.com/head",
			status: 200, xCache: "Miss"},
		{name: "POST allowed by /api/*", method: "POST", url: "https://login.example.com/api/login", body: "user=a",
			status: 200, xCache: "Miss", text: "POST /api/login from the origin", toOrigin: "/api/login"},
		{name: "redirect GET", method: "GET", url: "http://login.example.com/a/b?x=1&y=%20",
			status: 301, xCache: "Redirect from portico", location: "https://login.example.com/a/b?x=1&y=%20"},
		{name: "redirect drops the listener port", method: "HEAD", url: "http://Login.Example.com:8080/p",
			status: 301, xCache: "Redirect from portico", location: "https://login.example.com/p"},
		{name: "redirect POST", method: "POST", url: "http://login.example.com/form", body: "a=b",
			status: 307, xCache: "Redirect from portico", location: "https://login.example.com/form"},
		{name: "redirect over HTTP/1.0-style empty query", method: "GET", url: "http://login.example.com/q?",
			status: 301, location: "https://login.example.com/q?", xCache: "Redirect from portico"},
		{name: "https-only over HTTP", method: "GET", url: "http://login.example.com/api/x",
			status: 403, xCache: "Error from portico", text: "HTTPS requests only"},
		{name: "unknown host over HTTP", method: "GET", url: "http://unknown.example.net/",
			status: 403, xCache: "Error from portico", text: "We can&#39;t connect to the server for this app or website"},
		{name: "unknown host over HTTPS", sni: plain.DomainName, method: "GET", url: "https://unknown.example.net/",
			status: 403, xCache: "Error from portico", text: "We can&#39;t connect"},
		{name: "Host differs from SNI", sni: "www.example.org", method: "GET", url: "https://login.example.com/",
			status: 421, xCache: "Error from portico", cert: "*.example.org"},
		{name: "Host differs from SNI over HTTP/2", sni: "www.example.org", h2: true, method: "GET", url: "https://login.example.com/",
			status: 421, xCache: "Error from portico"},
		{name: "disabled distribution alias", method: "GET", url: "http://off.example.com/",
			status: 403, xCache: "Error from portico"},
		{name: "disabled distribution domain", method: "GET", url: "https://" + off.DomainName + "/",
			status: 403, xCache: "Error from portico", cert: "*.portico.localhost"},
		{name: "method not allowed", method: "DELETE", url: "https://login.example.com/x",
			status: 403, xCache: "Error from portico", text: "not configured to allow the HTTP request method"},
		{name: "lower-case method", method: "get", url: "https://login.example.com/x",
			status: 403, xCache: "Error from portico", text: "not configured to allow the HTTP request method"},
		{name: "GET with a body", method: "GET", url: "https://login.example.com/x", body: "body",
			status: 403, xCache: "Error from portico"},
		{name: "GET with a body over HTTP/2", h2: true, method: "GET", url: "https://login.example.com/x", body: "body",
			status: 403, xCache: "Error from portico"},
		{name: "URL too long", method: "GET", url: "https://login.example.com/" + strings.Repeat("a", MaxURLBytes),
			status: 414, xCache: "Error from portico"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, err := http.NewRequest(tt.method, tt.url, body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := e.client(tt.sni, tt.h2).Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tt.method, tt.url, err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)

			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d; body:\n%s", resp.StatusCode, tt.status, got)
			}
			checkStamp(t, resp)
			if x := resp.Header.Get("X-Cache"); !strings.HasPrefix(x, tt.xCache) {
				t.Errorf("X-Cache = %q, want %q…", x, tt.xCache)
			}
			if tt.xCache == "Hit" && resp.Header.Get("Age") == "" {
				t.Error("a Hit without Age")
			}
			if want := max(tt.vias, 1); len(resp.Header.Values("Via")) != want {
				t.Errorf("Via = %q, want %d values", resp.Header.Values("Via"), want)
			}
			if loc := resp.Header.Get("Location"); loc != tt.location {
				t.Errorf("Location = %q, want %q", loc, tt.location)
			}
			if tt.h2 && resp.ProtoMajor != 2 {
				t.Errorf("protocol = %s, want HTTP/2", resp.Proto)
			}
			if !tt.h2 && resp.ProtoMajor != 1 {
				t.Errorf("protocol = %s, want HTTP/1.1", resp.Proto)
			}
			if tt.cert != "" {
				if resp.TLS == nil {
					t.Fatal("no TLS connection")
				}
				if name := resp.TLS.PeerCertificates[0].DNSNames[0]; name != tt.cert {
					t.Errorf("certificate for %q, want %q", name, tt.cert)
				}
			}
			if tt.text != "" && !strings.Contains(string(got), tt.text) {
				t.Errorf("body does not contain %q:\n%s", tt.text, got)
			}
			if tt.toOrigin != "" {
				s, ok := e.origin.last(tt.toOrigin)
				switch {
				case !ok:
					t.Errorf("the origin did not see %s", tt.toOrigin)
				case s.requestID != resp.Header.Get("X-Amz-Cf-Id"):
					t.Errorf("the origin saw X-Amz-Cf-Id %q, the viewer %q", s.requestID, resp.Header.Get("X-Amz-Cf-Id"))
				case s.host != originHost:
					t.Errorf("the origin saw Host %q, want %q", s.host, originHost)
				}
			}
		})
	}
}

// TestCertificateReimport re-imports a certificate under the same ARN: the
// next snapshot serves the new one to new connections, while a keep-alive
// connection made before keeps working.
func TestCertificateReimport(t *testing.T) {
	e := newEdge(t)
	arn := e.importCert(t, "", "login.example.com")
	e.createDistribution(t, distConfig("login", true, arn, "login.example.com"))

	old := e.client("", false)
	get := func(c *http.Client) (serial string, reused bool) {
		t.Helper()
		req, _ := http.NewRequest("GET", "https://login.example.com/api/ping", nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
		}))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET: status %d", resp.StatusCode)
		}
		return resp.TLS.PeerCertificates[0].SerialNumber.String(), reused
	}
	before, _ := get(old)

	p := e.viewerCA.issue(t, "login.example.com")
	c, err := e.svc.ImportCertificate(context.Background(), arn, p.cert, p.chain, p.key)
	if err != nil {
		t.Fatalf("re-import: %v", err)
	}
	if c.ARN != arn {
		t.Fatalf("re-import changed the ARN: %s → %s", arn, c.ARN)
	}
	st, err := e.svc.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e.waitApplied(t, st.Rev)

	serial, reused := get(old)
	if !reused {
		t.Error("the keep-alive connection was not reused after the new snapshot")
	}
	if serial != before {
		t.Errorf("the existing connection changed certificate: %s → %s", before, serial)
	}
	fresh, _ := get(e.client("", false))
	if fresh == before {
		t.Errorf("a new connection still gets the old certificate (serial %s)", before)
	}
	if want := serialOf(t, p); fresh != want {
		t.Errorf("a new connection gets serial %s, want the re-imported %s", fresh, want)
	}
}

func serialOf(t *testing.T, p pems) string {
	t.Helper()
	c, err := tls.X509KeyPair(p.cert, p.key)
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf.SerialNumber.String()
}

// TestShutdownDrains stops the HTTPS server while a request waits on the
// origin: the request completes, then Shutdown returns.
func TestShutdownDrains(t *testing.T) {
	e := newEdge(t)
	d := e.createDistribution(t, distConfig("drain", true, ""))

	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := e.client("", false).Get("https://" + d.DomainName + "/slow")
		if err != nil {
			done <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{resp.StatusCode, string(b), err}
	}()
	// Wait until the origin holds the request.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := e.origin.last("/slow"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the request did not reach the origin within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutdown <- e.httpsSrv.Shutdown(ctx)
	}()
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned (%v) while a request was in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(e.origin.release)
	r := <-done
	if r.err != nil || r.status != 200 || !strings.Contains(r.body, "GET /slow") {
		t.Errorf("in-flight request: status %d, body %q, err %v; want 200 from the origin", r.status, r.body, r.err)
	}
	if err := <-shutdown; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestAccessLog checks that each request is logged once, with its path but
// without its query or any header value.
func TestAccessLog(t *testing.T) {
	e := newEdge(t)
	d := e.createDistribution(t, distConfig("log", true, ""))
	req, _ := http.NewRequest("GET", "https://"+d.DomainName+"/account?token=QUERYSECRET", nil)
	req.Header.Set("Authorization", "Bearer HEADERSECRET")
	req.Header.Set("Cookie", "session=COOKIESECRET")
	resp, err := e.client("", false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("X-Amz-Cf-Id")

	var line string
	for l := range strings.Lines(e.logs.String()) {
		if strings.Contains(l, "msg=request") && strings.Contains(l, id) {
			if line != "" {
				t.Errorf("request %s logged twice", id)
			}
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no access log line for request %s; log:\n%s", id, e.logs.String())
	}
	for _, want := range []string{"method=GET", "host=" + d.DomainName, "path=/account", "status=200", "cache=", "duration=", "bytes="} {
		if !strings.Contains(line, want) {
			t.Errorf("access log line lacks %q: %s", want, line)
		}
	}
	for _, secret := range []string{"QUERYSECRET", "HEADERSECRET", "COOKIESECRET"} {
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("the log contains %s", secret)
		}
	}
}

func TestOversizedHeaders(t *testing.T) {
	e := newEdge(t)
	d := e.createDistribution(t, distConfig("limits", true, ""))
	req, _ := http.NewRequest("GET", "https://"+d.DomainName+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("b", MaxHeaderBytes+4096))
	resp, err := e.client("", false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d, want 413", resp.StatusCode)
	}
}

// TestNoSnapshotYet serves before the first snapshot: handshakes get the
// default certificate and requests a 503 page.
func TestNoSnapshotYet(t *testing.T) {
	ca := newCA(t, "Viewer Test CA")
	s := &Server{Snapshot: func() *snapshot.Snapshot { return nil }, DefaultCertificate: ca.keyPair(t, "*.portico.localhost")}
	_, addr := serve(t, s, true)
	e := &edge{httpsAddr: addr, httpAddr: addr, viewerCA: ca}
	resp, err := e.client("", true).Get("https://e1.portico.localhost/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503", resp.StatusCode)
	}
	checkStamp(t, resp)
}

func TestServerConfiguration(t *testing.T) {
	s := &Server{Snapshot: func() *snapshot.Snapshot { return nil }}
	// HTTPS's MaxHeaderBytes sets the HTTP/2 header list limit it
	// advertises (MaxHeaderListSize, see TestH2HeaderListLimit); HTTP/1.x
	// heads are cut at 20,480 bytes by the guard on both listeners.
	maxHeaderBytes := map[string]int{"http": 20480, "https": MaxHeaderListSize - h2FieldAllowance}
	for name, srv := range map[string]*http.Server{"http": s.HTTPServer(), "https": s.HTTPSServer()} {
		if srv.ReadHeaderTimeout != 10*time.Second || srv.IdleTimeout != 75*time.Second || srv.MaxHeaderBytes != maxHeaderBytes[name] {
			t.Errorf("%s: ReadHeaderTimeout %v, IdleTimeout %v, MaxHeaderBytes %d; want 10s, 75s, %d",
				name, srv.ReadHeaderTimeout, srv.IdleTimeout, srv.MaxHeaderBytes, maxHeaderBytes[name])
		}
		if h2 := srv.HTTP2; h2 == nil || h2.MaxConcurrentStreams != 100 || h2.MaxReadFrameSize != 16384 ||
			h2.MaxReceiveBufferPerStream != 256<<10 || h2.MaxReceiveBufferPerConnection != 1<<20 ||
			h2.MaxDecoderHeaderTableSize != 4096 || h2.MaxEncoderHeaderTableSize != 4096 ||
			h2.WriteByteTimeout != WriteTimeout || h2.SendPingTimeout == 0 || h2.PingTimeout == 0 {
			t.Errorf("%s: HTTP2 = %+v, want every limit set", name, h2)
		}
		if !srv.DisableGeneralOptionsHandler || srv.ConnContext == nil {
			t.Errorf("%s: the general OPTIONS handler is on, or ConnContext is not set", name)
		}
		if srv.ErrorLog == nil {
			t.Errorf("%s: no ErrorLog", name)
		}
	}
	if s.HTTPServer().Protocols.HTTP2() || s.HTTPServer().Protocols.UnencryptedHTTP2() {
		t.Error("the HTTP listener speaks HTTP/2")
	}
	if !s.HTTPSServer().Protocols.HTTP2() {
		t.Error("the HTTPS listener does not speak HTTP/2")
	}
	c := s.HTTPSServer().TLSConfig
	if c.MinVersion != tls.VersionTLS12 || c.GetCertificate == nil {
		t.Errorf("TLS: MinVersion %x, GetCertificate set %v; want TLS 1.2 and set", c.MinVersion, c.GetCertificate != nil)
	}
	for _, id := range c.CipherSuites {
		if name := tls.CipherSuiteName(id); !strings.HasPrefix(name, "TLS_ECDHE_") || !(strings.Contains(name, "GCM") || strings.Contains(name, "CHACHA20")) {
			t.Errorf("cipher suite %s is not in Mozilla's intermediate list", name)
		}
	}
	if len(c.CipherSuites) != 6 {
		t.Errorf("%d cipher suites, want the 6 of Mozilla's intermediate list", len(c.CipherSuites))
	}

	// Configured limits replace the defaults.
	s.Limits = Limits{ReadHeaderTimeout: time.Second, IdleTimeout: 2 * time.Second, WriteTimeout: 3 * time.Second}
	srv := s.HTTPSServer()
	if srv.ReadHeaderTimeout != time.Second || srv.IdleTimeout != 2*time.Second || srv.HTTP2.WriteByteTimeout != 3*time.Second {
		t.Errorf("configured limits: ReadHeaderTimeout %v, IdleTimeout %v, WriteByteTimeout %v; want 1s, 2s, 3s",
			srv.ReadHeaderTimeout, srv.IdleTimeout, srv.HTTP2.WriteByteTimeout)
	}
	if strings.Join(c.NextProtos, ",") != "h2,http/1.1" {
		t.Errorf("NextProtos = %q, want h2, http/1.1", c.NextProtos)
	}
}

func TestRequestID(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id := newRequestID()
		if !idPattern.MatchString(id) {
			t.Fatalf("request ID %q is not 56 URL-safe base64 characters", id)
		}
		if seen[id] {
			t.Fatalf("request ID %q repeated", id)
		}
		seen[id] = true
	}
}

func BenchmarkRequestID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		newRequestID()
	}
}
