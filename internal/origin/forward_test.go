package origin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-edge/portico"
)

func TestViewerAddress(t *testing.T) {
	tests := []struct {
		remote     string
		ip, ipPort string
		ok         bool
	}{
		{"192.0.2.10:51000", "192.0.2.10", "192.0.2.10:51000", true},
		{"[2001:db8::1]:443", "2001:db8::1", "2001:db8::1:443", true},
		{"[fe80::1%eth0]:8080", "fe80::1", "fe80::1:8080", true},
		{"[::ffff:192.0.2.1]:1", "::ffff:192.0.2.1", "::ffff:192.0.2.1:1", true},
		{"pipe", "", "", false},
		{"example.com:80", "", "", false},
		{"", "", "", false},
		{"192.0.2.10:", "", "", false},
		{"[::]: 00", "", "", false},
		{"192.0.2.10:+80", "", "", false},
		{"192.0.2.10:65536", "", "", false},
		{"192.0.2.10:65535", "192.0.2.10", "192.0.2.10:65535", true},
	}
	for _, tt := range tests {
		ip, ipPort, ok := viewerAddress(tt.remote)
		if ip != tt.ip || ipPort != tt.ipPort || ok != tt.ok {
			t.Errorf("viewerAddress(%q) = %q, %q, %v; want %q, %q, %v", tt.remote, ip, ipPort, ok, tt.ip, tt.ipPort, tt.ok)
		}
	}
}

// TestHeaderClasses checks which viewer headers are CloudFront-* headers,
// and which no policy forwards as sent.
func TestHeaderClasses(t *testing.T) {
	for _, tt := range []struct {
		name              string
		cloudFront, never bool
	}{
		{"Cloudfront-Is-Mobile-Viewer", true, true},
		{"Cloudfront-Viewer-Country", true, true},
		{"cloudfront-forwarded-proto", true, true},
		{"CLOUDFRONT-X", true, true},
		{"Cloudfront-", true, true},
		{"Cloudfront", false, false},
		{"X-Cloudfront-Id", false, false},
		{"X-Forwarded-For", false, true},
		{"X-Forwarded-Host", false, true},
		{"Forwarded", false, true},
		{"True-Client-Ip", false, true},
		{"X-Real-Ip", false, true},
		{"X-Amz-Cf-Id", false, true},
		{"X-Edge-Origin-Shield", false, true},
		{"Proxy-Authorization", false, true},
		{"Proxy-Connection", false, true},
		{"Connection", false, true},
		{"Upgrade", false, true},
		{"Keep-Alive", false, true},
		{"Transfer-Encoding", false, true},
		{"Te", false, true},
		{"Trailer", false, true},
		{"Cookie", false, true},
		{"Authorization", false, false},
		{"Accept-Language", false, false},
		{"Host", false, false},
		{"X-Amz-Date", false, false},
		{"", false, false},
	} {
		if got := IsCloudFrontHeader(tt.name); got != tt.cloudFront {
			t.Errorf("IsCloudFrontHeader(%q) = %v, want %v", tt.name, got, tt.cloudFront)
		}
		if got := NeverForwarded(tt.name); got != tt.never {
			t.Errorf("NeverForwarded(%q) = %v, want %v", tt.name, got, tt.never)
		}
	}
}

func TestAcceptEncoding(t *testing.T) {
	tests := []struct {
		sent []string
		want string
	}{
		{nil, ""},
		{[]string{"gzip"}, "gzip"},
		{[]string{"br"}, "br"},
		{[]string{"gzip, deflate, br"}, "br,gzip"},
		{[]string{"deflate", "BR"}, "br"},
		{[]string{"gzip;q=0, br;q=1.0"}, "br"},
		{[]string{"gzip; q=0.000"}, ""},
		{[]string{"gzip;q=0.5"}, "gzip"},
		{[]string{"identity, *"}, ""},
		{[]string{"x-gzip, gzipper"}, ""},
	}
	for _, tt := range tests {
		if got := AcceptEncoding(http.Header{"Accept-Encoding": tt.sent}); got != tt.want {
			t.Errorf("AcceptEncoding(%q) = %q, want %q", tt.sent, got, tt.want)
		}
	}
}

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"auth0", "auth0", true},
		{"auth0", "Auth0", false},
		{"auth0*", "auth0_compat", true},
		{"auth0*", "auth0", true},
		{"*_compat", "auth0_compat", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*", "", true},
		{"", "", true},
		{"", "a", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
	}
	for _, tt := range tests {
		sel := portico.Selection{Mode: portico.SelectWhitelist, Names: []string{tt.pattern}, Wildcards: true}
		if got := sel.Includes(tt.name); got != tt.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

// TestAppendCookieHeaderAllocs pins that building the forwarded cookies,
// which the cache does for every lookup, does not allocate.
func TestAppendCookieHeaderAllocs(t *testing.T) {
	h := http.Header{"Cookie": {"b=2; a=1; auth0=abc; did=x", "c=3"}}
	prefs := []*portico.CookiePreference{
		{Forward: "all"},
		{Forward: "whitelist", WhitelistedNames: &portico.Names{Quantity: 2, Items: []string{"auth0", "d*"}}},
	}
	buf := make([]byte, 0, 256)
	for _, pref := range prefs {
		allocs := testing.AllocsPerRun(100, func() {
			buf = AppendCookieHeader(buf[:0], h, pref)
		})
		if allocs != 0 {
			t.Errorf("AppendCookieHeader (%s) allocated %v times per run, want 0", pref.Forward, allocs)
		}
	}
}

func FuzzAppendCookieHeader(f *testing.F) {
	f.Add("b=2; a=1; junk; a=0", "a*")
	f.Add("=x; ;;; n=v=w", "?")
	f.Add("auth0=s%3Aabc; did_compat=\"q\"", "did*")
	f.Fuzz(func(t *testing.T, cookie, pattern string) {
		h := http.Header{"Cookie": {cookie}}
		all := string(AppendCookieHeader(nil, h, &portico.CookiePreference{Forward: "all"}))
		again := string(AppendCookieHeader(nil, h, &portico.CookiePreference{Forward: "all"}))
		if all != again {
			t.Fatalf("not deterministic: %q then %q", all, again)
		}
		var names []string
		if all != "" {
			for pair := range strings.SplitSeq(all, "; ") {
				name, _, ok := strings.Cut(pair, "=")
				if !ok || strings.Trim(name, " \t") == "" {
					t.Fatalf("forwarded %q without a name=value pair in %q", pair, all)
				}
				if !strings.Contains(cookie, pair) {
					t.Fatalf("forwarded %q, which the viewer did not send", pair)
				}
				names = append(names, strings.TrimRight(name, " \t"))
			}
		}
		if !slices.IsSorted(names) {
			t.Fatalf("cookies not sorted by name: %q", all)
		}
		wl := string(AppendCookieHeader(nil, h, &portico.CookiePreference{Forward: "whitelist",
			WhitelistedNames: &portico.Names{Quantity: 1, Items: []string{pattern}}}))
		if len(wl) > len(all) {
			t.Fatalf("a whitelist forwarded more than all: %q vs %q", wl, all)
		}
		if got := AppendCookieHeader(nil, h, &portico.CookiePreference{Forward: "none"}); len(got) != 0 {
			t.Fatalf("none forwarded %q", got)
		}
	})
}

func FuzzAcceptEncoding(f *testing.F) {
	f.Add("gzip, deflate, br")
	f.Add("br;q=0, gzip;q=0.001")
	f.Add(";;,,q=0")
	f.Fuzz(func(t *testing.T, v string) {
		switch got := AcceptEncoding(http.Header{"Accept-Encoding": {v}}); got {
		case "", "gzip", "br", "br,gzip":
		default:
			t.Fatalf("AcceptEncoding(%q) = %q", v, got)
		}
	})
}

func FuzzViewerAddress(f *testing.F) {
	f.Add("192.0.2.1:80")
	f.Add("[2001:db8::1%zone]:443")
	f.Add("[::]: 00") // found by fuzzing: the port was not checked
	f.Fuzz(func(t *testing.T, remote string) {
		ip, ipPort, ok := viewerAddress(remote)
		if !ok {
			return
		}
		port, err := strconv.Atoi(strings.TrimPrefix(ipPort, ip+":"))
		if net.ParseIP(ip) == nil || !strings.HasPrefix(ipPort, ip+":") || strings.ContainsAny(ip+ipPort, " ,\r\n[]+-") ||
			err != nil || port < 0 || port > 65535 {
			t.Fatalf("viewerAddress(%q) = %q, %q", remote, ip, ipPort)
		}
	})
}

func BenchmarkAppendCookieHeader(b *testing.B) {
	h := http.Header{"Cookie": {"did=s%3Av0%3A1; auth0=s%3Aabc.def; did_compat=s%3Av0; auth0_compat=s%3Aabc; _ga=GA1.2.3"}}
	pref := &portico.CookiePreference{Forward: "all"}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendCookieHeader(buf[:0], h, pref)
	}
}

// TestTransportsShared checks that proxies for the same origin settings
// share one transport (and so its connections) while different settings
// get their own, and that a transport nobody uses is forgotten.
func TestTransportsShared(t *testing.T) {
	ts := NewTransports(nil, nil)
	b := &portico.CacheBehavior{ForwardedValues: &portico.ForwardedValues{}}
	cfg := func(read int) *portico.Origin {
		return &portico.Origin{ID: "o", DomainName: "origin.test", CustomOriginConfig: &portico.CustomOriginConfig{
			HTTPSPort: 443, OriginProtocolPolicy: "https-only", OriginReadTimeout: &read}}
	}
	transport := func(p *Proxy) *http.Transport { return p.rp.Transport.(*retryTransport).next.(*http.Transport) }
	h1 := func(p *Proxy) *h1Client { return p.transport.h1 }

	p1, _ := New(cfg(30), b, legacyPolicy(b), ts, nil)
	p2, _ := New(cfg(30), b, legacyPolicy(b), ts, nil)
	p3, _ := New(cfg(5), b, legacyPolicy(b), ts, nil)
	if transport(p1) != transport(p2) || h1(p1) != h1(p2) {
		t.Error("two proxies for the same origin settings got different transports")
	}
	if transport(p1) == transport(p3) || h1(p1) == h1(p3) {
		t.Error("proxies with different read timeouts share a transport")
	}
	if got := ts.len(); got != 2 {
		t.Errorf("registry holds %d transports, want 2", got)
	}
	runtime.KeepAlive(p1)
	runtime.KeepAlive(p2)
	runtime.KeepAlive(p3)
	p1, p2, p3 = nil, nil, nil
	for i := 0; i < 100 && ts.len() > 0; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // cleanups run on their own goroutine
	}
	if got := ts.len(); got != 0 {
		t.Errorf("registry still holds %d transports that no proxy uses", got)
	}
}

// TestTransportSettings checks the transport built from an origin's
// settings.
func TestTransportSettings(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ts := NewTransports(nil, nil)
	ts.Resolve = func(string) string { return ln.Addr().String() }
	o := &portico.Origin{ID: "o", DomainName: "origin.test", ConnectionTimeout: portico.Ptr(4),
		CustomOriginConfig: &portico.CustomOriginConfig{HTTPSPort: 443, OriginProtocolPolicy: "https-only",
			OriginReadTimeout: portico.Ptr(7), OriginKeepaliveTimeout: portico.Ptr(9),
			OriginSslProtocols: &portico.SslProtocols{Quantity: 1, Items: []string{"TLSv1"}}}}
	p, err := New(o, &portico.CacheBehavior{}, portico.ResolvedPolicy{}, ts, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := p.rp.Transport.(*retryTransport).next.(*http.Transport)
	switch {
	case tr.Proxy != nil:
		t.Error("the transport uses a proxy from the environment")
	case tr.TLSClientConfig.ServerName != "origin.test":
		t.Errorf("ServerName = %q", tr.TLSClientConfig.ServerName)
	case tr.TLSClientConfig.MinVersion != 0x0303:
		t.Errorf("MinVersion = %x, want TLS 1.2 even for TLSv1 in OriginSslProtocols", tr.TLSClientConfig.MinVersion)
	case tr.TLSClientConfig.InsecureSkipVerify:
		t.Error("certificate verification is off")
	case tr.IdleConnTimeout != 9*time.Second, tr.TLSHandshakeTimeout != 4*time.Second:
		t.Errorf("timeouts: idle %v, handshake %v", tr.IdleConnTimeout, tr.TLSHandshakeTimeout)
	case tr.ResponseHeaderTimeout != 0:
		t.Errorf("ResponseHeaderTimeout = %v: a timer per request, where the connection's read deadline bounds the wait", tr.ResponseHeaderTimeout)
	case !tr.DisableCompression:
		t.Error("the transport would decompress origin bodies")
	case tr.Protocols == nil || tr.Protocols.HTTP2() || !tr.Protocols.HTTP1():
		t.Error("the transport does not speak HTTP/1.1 only")
	case tr.MaxResponseHeaderBytes != 20480:
		t.Errorf("MaxResponseHeaderBytes = %d, want CloudFront's 20,480", tr.MaxResponseHeaderBytes)
	}
	// The HTTP/1.1 client of GET and HEAD requests: the same TLS settings,
	// timeouts and session cache, and no ALPN, as net/http's for HTTP/1.1
	// only.
	h1 := p.transport.tls
	switch {
	case p.transport.h1 == nil:
		t.Error("no HTTP/1.1 client")
	case h1.ServerName != "origin.test", h1.MinVersion != 0x0303, h1.MaxVersion != 0x0304, h1.InsecureSkipVerify:
		t.Errorf("HTTP/1.1 client's TLS: ServerName %q, versions %x-%x, skip verify %v", h1.ServerName, h1.MinVersion, h1.MaxVersion, h1.InsecureSkipVerify)
	case h1.ClientSessionCache == nil || h1.ClientSessionCache != tr.TLSClientConfig.ClientSessionCache:
		t.Error("the HTTP/1.1 client does not share the transport's TLS session cache")
	case h1.NextProtos != nil:
		t.Errorf("HTTP/1.1 client's ALPN %q, want none", h1.NextProtos)
	case p.transport.key.connect != 4*time.Second, p.transport.key.read != 7*time.Second, p.transport.key.keepalive != 9*time.Second:
		t.Errorf("HTTP/1.1 client's timeouts: %+v", p.transport.key)
	}
	if p.rp.BufferPool == nil || p.rp.ErrorHandler == nil || p.rp.Rewrite == nil || p.rp.Director != nil {
		t.Error("ReverseProxy lacks BufferPool, ErrorHandler or Rewrite, or has a Director")
	}

	// The read timeout is the deadline of every connection the transport
	// dials.
	c, err := tr.DialContext(context.Background(), "tcp", "origin.test:443")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ic, ok := c.(*idleTimeoutConn); !ok || ic.timeout != 7*time.Second {
		t.Errorf("dialed %T, want an *idleTimeoutConn with the 7 s read timeout", c)
	}
}

// deadlineConn records the read deadlines set on a connection.
type deadlineConn struct {
	net.Conn
	set []time.Time
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.set = append(c.set, t)
	return c.Conn.SetReadDeadline(t)
}

// TestIdleTimeoutConnDeadline checks that reads and writes push the read
// deadline to at least the timeout ahead, and that a burst of them sets it
// once, not once each.
func TestIdleTimeoutConnDeadline(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go io.Copy(b, b) // an echo

	const timeout = time.Hour // slack: 112.5 s, longer than the test
	dc := &deadlineConn{Conn: a}
	c := newIdleTimeoutConn(dc, timeout)
	start := time.Now()
	buf := make([]byte, 1)
	for range 50 {
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	if len(dc.set) != 1 {
		t.Fatalf("50 writes and reads set the deadline %d times, want once", len(dc.set))
	}
	if d := dc.set[0]; d.Before(start.Add(timeout)) || d.After(time.Now().Add(timeout+timeout/32)) {
		t.Errorf("deadline %v after the first write, want between the timeout and the timeout and a 32nd", d.Sub(start))
	}

	// Once the slack has passed, the next read pushes the deadline again.
	const short = 32 * time.Millisecond // slack: 1 ms
	dc = &deadlineConn{Conn: a}
	c = newIdleTimeoutConn(dc, short)
	for range 3 {
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if len(dc.set) < 3 {
		t.Errorf("3 writes and reads 2 ms apart set the deadline %d times, want at least 3 (slack 1 ms)", len(dc.set))
	}
	for i := 1; i < len(dc.set); i++ {
		if dc.set[i].Before(dc.set[i-1]) {
			t.Errorf("deadline %d moved back", i)
		}
	}
}

// TestFailureClasses checks which real errors give a 504 and which are
// transient, so that a GET is sent again.
func TestFailureClasses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	_, dialTimeout := (&net.Dialer{}).DialContext(ctx, "tcp", "127.0.0.1:1")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, refused := net.Dial("tcp", addr)

	tests := []struct {
		name               string
		err                error
		timeout, transient bool
	}{
		{"dial timeout", dialTimeout, true, true},
		{"connection refused", refused, false, true},
		{"response completion timeout", context.DeadlineExceeded, true, true},
		{"read timeout", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, true, true},
		{"closed before the response", fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w", io.EOF), false, true},
		{"closed in the headers", io.ErrUnexpectedEOF, false, true},
		{"reset", &net.OpError{Op: "read", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}, false, true},
		{"certificate", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, false, false},
		{"malformed response", errors.New(`malformed HTTP response "SMTP"`), false, false},
	}
	get := httptestRequest("GET")
	for _, tt := range tests {
		if tt.err == nil {
			t.Fatalf("%s: no error to classify", tt.name)
		}
		if got := isTimeout(tt.err); got != tt.timeout {
			t.Errorf("%s (%v): isTimeout = %v, want %v", tt.name, tt.err, got, tt.timeout)
		}
		if got := retryable(get, tt.err); got != tt.transient {
			t.Errorf("%s (%v): retryable = %v, want %v", tt.name, tt.err, got, tt.transient)
		}
		if retryable(httptestRequest("POST"), tt.err) {
			t.Errorf("%s: a POST is retried", tt.name)
		}
	}
}

func httptestRequest(method string) *http.Request {
	r, _ := http.NewRequest(method, "https://origin.test/", nil)
	return r
}

// TestIsExtendedConnect checks which requests open an HTTP/2 WebSocket.
func TestIsExtendedConnect(t *testing.T) {
	tests := []struct {
		method   string
		major    int
		protocol []string
		want     bool
	}{
		{"CONNECT", 2, []string{"websocket"}, true},
		{"CONNECT", 2, []string{"WebSocket"}, true},
		{"CONNECT", 3, []string{"websocket"}, true},
		{"CONNECT", 2, nil, false},                           // a tunnel
		{"CONNECT", 2, []string{"webtransport"}, false},      // another protocol
		{"CONNECT", 2, []string{"websocket", "chat"}, false}, // not one value
		{"CONNECT", 1, []string{"websocket"}, false},         // no :protocol in HTTP/1
		{"GET", 2, []string{"websocket"}, false},             // not a CONNECT
		{"CONNECT", 2, []string{"websocket\x00"}, false},     // not quite
	}
	for _, tt := range tests {
		r := &http.Request{Method: tt.method, ProtoMajor: tt.major, Header: http.Header{}}
		if tt.protocol != nil {
			r.Header[":protocol"] = tt.protocol
		}
		if got := IsExtendedConnect(r); got != tt.want {
			t.Errorf("%s HTTP/%d :protocol %q: IsExtendedConnect = %v, want %v", tt.method, tt.major, tt.protocol, got, tt.want)
		}
	}
}

// FuzzIsUpgrade checks the Connection and Upgrade parsing of isUpgrade
// against a plain reading of RFC 9110 §7.6.1 and §7.8.
func FuzzIsUpgrade(f *testing.F) {
	f.Add("websocket", "Upgrade")
	f.Add("WebSocket", "keep-alive, Upgrade")
	f.Add("websocket", "upgradex")
	f.Add("h2c", "Upgrade, HTTP2-Settings")
	f.Add("websocket", " ,\tupgrade\t,")
	f.Add("websoc\u212aet", "upgrade")
	f.Fuzz(func(t *testing.T, upgrade, connection string) {
		h := http.Header{"Upgrade": {upgrade}, "Connection": {connection}}
		// Tokens are ASCII: no Unicode folding (the Kelvin sign is not K).
		asciiFold := func(s, token string) bool { return len(s) == len(token) && strings.EqualFold(s, token) }
		want := asciiFold(upgrade, "websocket") && slices.ContainsFunc(strings.Split(connection, ","), func(token string) bool {
			return asciiFold(strings.Trim(token, " \t"), "upgrade")
		})
		if got := isUpgrade(h); got != want {
			t.Errorf("Upgrade %q, Connection %q: isUpgrade = %v, want %v", upgrade, connection, got, want)
		}
	})
}

// legacyPolicy resolves what behaviour b, which uses legacy
// ForwardedValues, keys and forwards.
func legacyPolicy(b *portico.CacheBehavior) portico.ResolvedPolicy {
	pol, err := portico.ResolveBehavior(b, nil, nil)
	if err != nil {
		panic(err)
	}
	return pol
}

func TestAppendQuery(t *testing.T) {
	const raw = "b=2&a=1;c&a=3&&=x&a"
	tests := []struct {
		sel  portico.Selection
		want string
	}{
		{portico.Selection{}, ""},
		{portico.Selection{Mode: portico.SelectAll}, raw},
		{portico.Selection{Mode: portico.SelectWhitelist, Names: []string{"a"}}, "a=1&a=3&a"},
		{portico.Selection{Mode: portico.SelectWhitelist, Names: []string{"a", "c"}}, "a=1&c&a=3&a"},
		{portico.Selection{Mode: portico.SelectAllExcept, Names: []string{"a"}}, "b=2&c&=x"},
		{portico.Selection{Mode: portico.SelectWhitelist, Names: []string{"A"}}, ""},
	}
	for _, tt := range tests {
		if got := string(AppendQuery(nil, raw, tt.sel)); got != tt.want {
			t.Errorf("AppendQuery(%q, %v) = %q, want %q", raw, tt.sel, got, tt.want)
		}
	}
	buf := make([]byte, 0, 64)
	sel := portico.Selection{Mode: portico.SelectAllExcept, Names: []string{"a"}}
	if allocs := testing.AllocsPerRun(100, func() { buf = AppendQuery(buf[:0], raw, sel) }); allocs != 0 {
		t.Errorf("AppendQuery allocated %v times per run, want 0", allocs)
	}
}

func TestNormalizedAcceptEncoding(t *testing.T) {
	h := http.Header{"Accept-Encoding": {"br;q=1, gzip, deflate"}}
	tests := []struct {
		gzip, br bool
		want     string
	}{
		{true, true, "br,gzip"},
		{true, false, "gzip"},
		{false, true, "br"},
		{false, false, ""},
	}
	for _, tt := range tests {
		if got := NormalizedAcceptEncoding(h, tt.gzip, tt.br); got != tt.want {
			t.Errorf("NormalizedAcceptEncoding(gzip %v, br %v) = %q, want %q", tt.gzip, tt.br, got, tt.want)
		}
	}
}

func FuzzAppendQuery(f *testing.F) {
	f.Add("a=1&b=2;c=3", "a")
	f.Add("&&;=x&a", "")
	f.Fuzz(func(t *testing.T, raw, name string) {
		in := string(AppendQuery(nil, raw, portico.Selection{Mode: portico.SelectWhitelist, Names: []string{name}}))
		out := string(AppendQuery(nil, raw, portico.Selection{Mode: portico.SelectAllExcept, Names: []string{name}}))
		// Each selected parameter is one the viewer sent, and the two
		// selections together keep every non-empty parameter.
		count := func(s string) int {
			n := 0
			for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == '&' || r == ';' }) {
				if p != "" {
					n++
				}
			}
			return n
		}
		if count(in)+count(out) != count(raw) {
			t.Fatalf("AppendQuery(%q) split by %q: %q + %q", raw, name, in, out)
		}
		if again := string(AppendQuery(nil, in, portico.Selection{Mode: portico.SelectWhitelist, Names: []string{name}})); again != in {
			t.Fatalf("selecting %q twice: %q then %q", name, in, again)
		}
	})
}

// TestBufferPoolAllocs pins that lending and returning a copy buffer does
// not allocate once the pool holds one.
func TestBufferPoolAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	bp := bufferPool{newBufferPool()}
	bp.Put(bp.Get())
	allocs := testing.AllocsPerRun(100, func() {
		buf := bp.Get()
		if len(buf) != copyBufferSize {
			t.Fatalf("buffer of %d bytes, want %d", len(buf), copyBufferSize)
		}
		bp.Put(buf)
	})
	if allocs != 0 {
		t.Errorf("Get and Put allocated %v times per run, want 0", allocs)
	}
}

// FuzzRemoveHopByHop checks that removeHopByHop removes the hop-by-hop
// fields and every field that Connection lists, whatever its spelling, and
// nothing else.
func FuzzRemoveHopByHop(f *testing.F) {
	f.Add("keep-alive, X-Hop", "X-Hop")
	f.Add("x-hop,,Upgrade ", "X-Other")
	f.Add("", "Keep-Alive")
	f.Fuzz(func(t *testing.T, connection, name string) {
		h := http.Header{"Connection": {connection}, "X-Kept": {"1"}, "Keep-Alive": {"timeout=5"}}
		if name != "" {
			h[name] = []string{"v"}
		}
		removeHopByHop(h)
		var tokens []string
		for token := range strings.SplitSeq(connection, ",") {
			tokens = append(tokens, asciiLower(strings.Trim(token, " \t")))
		}
		for _, k := range []string{"Connection", "Keep-Alive"} {
			if _, ok := h[k]; ok {
				t.Errorf("Connection %q: %s kept", connection, k)
			}
		}
		for _, k := range []string{"X-Kept", name} {
			if k == "" || k == "Connection" || k == "Keep-Alive" {
				continue
			}
			_, ok := h[k]
			if want := !slices.Contains(tokens, asciiLower(k)) && !isHopByHop(k); ok != want {
				t.Errorf("Connection %q: %s kept = %v, want %v", connection, k, ok, want)
			}
		}
	})
}

// asciiLower lowers the ASCII letters of s alone: field names are ASCII
// tokens, compared without Unicode folding.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
