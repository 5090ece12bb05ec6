package origin_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/origin"
)

// TestRequestHeaders checks which viewer headers reach the origin, per
// CloudFront's rules for custom origins (DG
// RequestAndResponseBehaviorCustomOrigin, "HTTP request headers and
// CloudFront behavior") and Portico's client-IP rule.
func TestRequestHeaders(t *testing.T) {
	ca := newTestCA(t)
	o := newTestOrigin(t, ca, nil)

	auth0Headers := []string{"User-Agent", "Origin", "Referer", "Accept", "Authorization", "Accept-Language"}
	cachedOptions := func(fv *portico.ForwardedValues) *portico.CacheBehavior {
		b := behavior(fv)
		b.AllowedMethods.CachedMethods = &portico.Methods{Quantity: 3, Items: []string{"GET", "HEAD", "OPTIONS"}}
		return b
	}
	absent := []string(nil)

	tests := []struct {
		name     string
		behavior *portico.CacheBehavior
		method   string
		host     string // viewer Host; "" = the edge's address
		send     map[string][]string
		want     map[string][]string // absent = nil
		wantHost string              // "" = originDomain
	}{
		{
			name:     "removed unless whitelisted",
			behavior: behavior(forwarded(false, nil)),
			method:   "GET",
			send: map[string][]string{
				"Accept":                 {"text/html"},
				"Accept-Charset":         {"utf-8"},
				"Accept-Language":        {"de-CH"},
				"Referer":                {"https://example.com/"},
				"X-Http-Method-Override": {"DELETE"},
				"User-Agent":             {"Mozilla/5.0"},
				"Authorization":          {"Bearer abc"},
				"Origin":                 {"https://app.example"},
				"X-Custom":               {"Kept"},
				"If-None-Match":          {`"v1"`},
			},
			want: map[string][]string{
				"Accept":                 absent,
				"Accept-Charset":         absent,
				"Accept-Language":        absent,
				"Referer":                absent,
				"X-Http-Method-Override": absent,
				"Authorization":          absent,
				"User-Agent":             {"Amazon CloudFront"},
				"Origin":                 {"https://app.example"},
				"X-Custom":               {"Kept"},
				"If-None-Match":          {`"v1"`},
			},
		},
		{
			name:     "whitelisted headers forwarded with their values",
			behavior: behavior(forwarded(true, []string{"all"}, auth0Headers...)),
			method:   "GET",
			send: map[string][]string{
				"Accept":          {"application/JSON"},
				"Accept-Language": {"de-CH"},
				"Referer":         {"https://example.com/Login"},
				"User-Agent":      {"Mozilla/5.0 (X11)"},
				"Authorization":   {"Bearer ABC"},
				"Origin":          {"https://app.example"},
				"Accept-Charset":  {"utf-8"},
			},
			want: map[string][]string{
				"Accept":          {"application/JSON"},
				"Accept-Language": {"de-CH"},
				"Referer":         {"https://example.com/Login"},
				"User-Agent":      {"Mozilla/5.0 (X11)"},
				"Authorization":   {"Bearer ABC"},
				"Origin":          {"https://app.example"},
				"Accept-Charset":  absent,
			},
		},
		{
			name:     "whitelist names are case-insensitive",
			behavior: behavior(forwarded(false, nil, "accept", "REFERER")),
			method:   "GET",
			send:     map[string][]string{"Accept": {"a/b"}, "Referer": {"r"}},
			want:     map[string][]string{"Accept": {"a/b"}, "Referer": {"r"}},
		},
		{
			name:     "authorization kept on POST",
			behavior: behavior(forwarded(false, nil)),
			method:   "POST",
			send:     map[string][]string{"Authorization": {"Basic dXNlcg=="}},
			want:     map[string][]string{"Authorization": {"Basic dXNlcg=="}},
		},
		{
			name:     "authorization kept on DELETE",
			behavior: behavior(forwarded(false, nil)),
			method:   "DELETE",
			send:     map[string][]string{"Authorization": {"Bearer x"}},
			want:     map[string][]string{"Authorization": {"Bearer x"}},
		},
		{
			name:     "authorization dropped on HEAD",
			behavior: behavior(forwarded(false, nil)),
			method:   "HEAD",
			send:     map[string][]string{"Authorization": {"Bearer x"}},
			want:     map[string][]string{"Authorization": absent},
		},
		{
			name:     "authorization kept on OPTIONS when OPTIONS is not cached",
			behavior: behavior(forwarded(false, nil)),
			method:   "OPTIONS",
			send:     map[string][]string{"Authorization": {"Bearer x"}},
			want:     map[string][]string{"Authorization": {"Bearer x"}},
		},
		{
			name:     "authorization dropped on OPTIONS when OPTIONS is cached",
			behavior: cachedOptions(forwarded(false, nil)),
			method:   "OPTIONS",
			send:     map[string][]string{"Authorization": {"Bearer x"}},
			want:     map[string][]string{"Authorization": absent},
		},
		{
			name:     "star forwards every header and the viewer's Host",
			behavior: behavior(forwarded(false, nil, "*")),
			method:   "GET",
			host:     "login.example.com",
			send: map[string][]string{
				"Accept":        {"text/html"},
				"User-Agent":    {"curl/8"},
				"Authorization": {"Bearer x"},
				"Referer":       {"r"},
			},
			want: map[string][]string{
				"Accept":        {"text/html"},
				"User-Agent":    {"curl/8"},
				"Authorization": {"Bearer x"},
				"Referer":       {"r"},
			},
			wantHost: "login.example.com",
		},
		{
			name:     "whitelisted Host is the viewer's",
			behavior: behavior(forwarded(false, nil, "Host")),
			method:   "GET",
			host:     "Login.Example.com",
			wantHost: "Login.Example.com",
		},
		{
			name:     "Host is the origin domain",
			behavior: behavior(forwarded(true, []string{"all"}, auth0Headers...)),
			method:   "GET",
			host:     "login.example.com",
		},
		{
			name:     "edge, proxy and client-IP headers never forwarded",
			behavior: behavior(forwarded(false, nil, "X-Real-IP", "True-Client-IP", "X-Forwarded-For")),
			method:   "GET",
			send: map[string][]string{
				"X-Forwarded-For":           {"203.0.113.9, 198.51.100.1"},
				"True-Client-Ip":            {"203.0.113.9"},
				"X-Real-Ip":                 {"203.0.113.9"},
				"Forwarded":                 {"for=203.0.113.9"},
				"X-Forwarded-Proto":         {"http"},
				"X-Forwarded-Host":          {"evil.example"},
				"X-Edge-Origin-Shield":      {"x"},
				"Proxy-Foo":                 {"x"},
				"Cloudfront-Viewer-Country": {"CH"},
				"Cloudfront-Viewer-Address": {"203.0.113.9:1"},
				"X-Amz-Cf-Id":               {"spoofed"},
				"Te":                        {"trailers"},
				"Upgrade":                   {"h2c"},
				"Connection":                {"Upgrade"},
			},
			want: map[string][]string{
				"X-Forwarded-For":           {"127.0.0.1"},
				"True-Client-Ip":            absent,
				"X-Real-Ip":                 absent,
				"Forwarded":                 absent,
				"X-Forwarded-Proto":         absent,
				"X-Forwarded-Host":          absent,
				"X-Edge-Origin-Shield":      absent,
				"Proxy-Foo":                 absent,
				"Cloudfront-Viewer-Country": absent,
				"X-Amz-Cf-Id":               {requestID},
				"Te":                        absent,
				"Upgrade":                   absent,
				"Connection":                absent,
			},
		},
		{
			name:     "custom origin header replaces the viewer's",
			behavior: behavior(forwarded(false, nil, "cname-api-key")),
			method:   "GET",
			send:     map[string][]string{"Cname-Api-Key": {"viewer-guess", "second"}},
			want:     map[string][]string{"Cname-Api-Key": {secret}},
		},
		{
			name:     "custom origin header on POST",
			behavior: behavior(forwarded(false, nil)),
			method:   "POST",
			want:     map[string][]string{"Cname-Api-Key": {secret}},
		},
		{
			name:     "Accept-Encoding normalised",
			behavior: behavior(forwarded(false, nil)),
			method:   "GET",
			send:     map[string][]string{"Accept-Encoding": {"gzip, deflate, br, zstd"}},
			want:     map[string][]string{"Accept-Encoding": {"br,gzip"}},
		},
		{
			name:     "Accept-Encoding without gzip or br removed",
			behavior: behavior(forwarded(false, nil)),
			method:   "GET",
			send:     map[string][]string{"Accept-Encoding": {"deflate, gzip;q=0"}},
			want:     map[string][]string{"Accept-Encoding": absent},
		},
		{
			name:     "Accept-Encoding whitelisted passes as sent",
			behavior: behavior(forwarded(false, nil, "Accept-Encoding")),
			method:   "GET",
			send:     map[string][]string{"Accept-Encoding": {"deflate, gzip;q=0.5"}},
			want:     map[string][]string{"Accept-Encoding": {"deflate, gzip;q=0.5"}},
		},
		{
			name:     "Via appended",
			behavior: behavior(forwarded(false, nil)),
			method:   "GET",
			send:     map[string][]string{"Via": {"1.1 upstream"}},
			want:     map[string][]string{"Via": {"1.1 upstream", "1.1 portico (Portico)"}},
		},
		{
			name:     "cookies removed when not forwarded",
			behavior: behavior(forwarded(false, nil)),
			method:   "GET",
			send:     map[string][]string{"Cookie": {"session=abc"}},
			want:     map[string][]string{"Cookie": absent},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newProxyEdge(t, ca, o.addr(), originConfig(), tt.behavior)
			var body []byte
			if tt.method == "POST" {
				body = []byte("payload")
			}
			req := newRequest(t, tt.method, e.URL+"/path", body)
			for k, v := range tt.send {
				req.Header[k] = v
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			resp, _ := do(t, req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200", resp.StatusCode)
			}
			got := o.last(t)
			for name, want := range tt.want {
				if have := got.Header[name]; !slices.Equal(have, want) {
					t.Errorf("origin got %s = %q, want %q", name, have, want)
				}
			}
			wantHost := tt.wantHost
			if wantHost == "" {
				wantHost = originDomain
			}
			if got.Host != wantHost {
				t.Errorf("origin got Host %q, want %q", got.Host, wantHost)
			}
			if got.SNI != originDomain {
				t.Errorf("origin got SNI %q, want %q", got.SNI, originDomain)
			}
			if got.Proto != "HTTP/1.1" {
				t.Errorf("origin got %s, want HTTP/1.1", got.Proto)
			}
			if got.TLSVersion < tls.VersionTLS12 {
				t.Errorf("origin got TLS version %x, want at least TLS 1.2", got.TLSVersion)
			}
		})
	}
}

// TestClientIP checks that the origin sees exactly one client IP, the TCP
// peer's, whatever the viewer claims, and CloudFront-Viewer-Address as
// ip:port when the behaviour selects it. Auth0 requires exactly one IP in
// X-Forwarded-For.
func TestClientIP(t *testing.T) {
	ca := newTestCA(t)
	o := newTestOrigin(t, ca, nil)
	e := newProxyEdge(t, ca, o.addr(), originConfig(), behavior(forwarded(true, []string{"all"}, "CloudFront-Viewer-Address")))

	claims := []map[string][]string{
		nil,
		{"X-Forwarded-For": {"1.2.3.4"}},
		{"X-Forwarded-For": {"1.2.3.4, 5.6.7.8", "9.9.9.9"}},
		{"True-Client-Ip": {"1.2.3.4"}, "X-Real-Ip": {"1.2.3.4"}, "Forwarded": {"for=1.2.3.4"}},
		{"X-Forwarded-For": {"127.0.0.1, 1.2.3.4"}},
	}
	for _, claim := range claims {
		req := newRequest(t, "GET", e.URL+"/", nil)
		for k, v := range claim {
			req.Header[k] = v
		}
		do(t, req)
		remote := <-e.remotes
		got := o.last(t).Header
		if xff := got["X-Forwarded-For"]; !slices.Equal(xff, []string{"127.0.0.1"}) {
			t.Errorf("viewer sent %v: origin got X-Forwarded-For %q, want [127.0.0.1]", claim, xff)
		}
		for _, name := range []string{"True-Client-Ip", "X-Real-Ip", "Forwarded"} {
			if v, ok := got[name]; ok {
				t.Errorf("viewer sent %v: origin got %s %q, want none", claim, name, v)
			}
		}
		if cva := got["Cloudfront-Viewer-Address"]; !slices.Equal(cva, []string{remote}) {
			t.Errorf("origin got CloudFront-Viewer-Address %q, want [%s]", cva, remote)
		}
	}
}

// TestQueryString checks that the query string reaches the origin exactly
// as the viewer sent it (order, encoding, repeated and unparsable
// parameters), or not at all when QueryString is false.
func TestQueryString(t *testing.T) {
	ca := newTestCA(t)
	o := newTestOrigin(t, ca, nil)
	forward := newProxyEdge(t, ca, o.addr(), originConfig(), behavior(forwarded(true, nil)))
	strip := newProxyEdge(t, ca, o.addr(), originConfig(), behavior(forwarded(false, nil)))

	tests := []struct {
		query string
	}{
		{"b=2&a=1&b=1"},
		{"redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=xyz&scope=openid+profile"},
		{"a=1;b=2"},
		{"x=%zz&y=1"},
		{"flag&empty=&=v"},
		{"Case=Sensitive&case=sensitive"},
	}
	for _, tt := range tests {
		do(t, newRequest(t, "GET", forward.URL+"/authorize?"+tt.query, nil))
		if got := o.last(t); got.RawQuery != tt.query {
			t.Errorf("forwarding: origin got query %q, want %q", got.RawQuery, tt.query)
		}
		do(t, newRequest(t, "GET", strip.URL+"/authorize?"+tt.query, nil))
		if got := o.last(t); got.RequestURI != "/authorize" {
			t.Errorf("not forwarding: origin got %q, want /authorize", got.RequestURI)
		}
	}
}

// TestPath checks OriginPath and that the viewer's path encoding is kept.
func TestPath(t *testing.T) {
	ca := newTestCA(t)
	o := newTestOrigin(t, ca, nil)
	cfg := originConfig()
	cfg.OriginPath = portico.Ptr("/base")
	e := newProxyEdge(t, ca, o.addr(), cfg, behavior(forwarded(true, nil)))
	plain := newProxyEdge(t, ca, o.addr(), originConfig(), behavior(forwarded(true, nil)))

	tests := []struct {
		edge *edge
		path string
		want string
	}{
		{e, "/userinfo", "/base/userinfo"},
		{e, "/", "/base/"},
		{e, "/a%2Fb/c%20d?q=1", "/base/a%2Fb/c%20d?q=1"},
		{plain, "/a%2Fb", "/a%2Fb"},
		{plain, "/.well-known/jwks.json", "/.well-known/jwks.json"},
	}
	for _, tt := range tests {
		do(t, newRequest(t, "GET", tt.edge.URL+tt.path, nil))
		if got := o.last(t).RequestURI; got != tt.want {
			t.Errorf("GET %s: origin got %q, want %q", tt.path, got, tt.want)
		}
	}
}

// TestCookies checks the Cookie header the origin gets for each cookie
// preference: none, a whitelist (with wildcards) or all; name=value pairs
// only, sorted by name (DG Cookies).
func TestCookies(t *testing.T) {
	ca := newTestCA(t)
	o := newTestOrigin(t, ca, nil)
	const sent = "b=2; auth0=s%3Aabc; junk; a=1; did_compat=x; a=0"

	tests := []struct {
		name    string
		cookies []string
		want    []string
	}{
		{"none", []string{"none"}, nil},
		{"all", []string{"all"}, []string{"a=1; a=0; auth0=s%3Aabc; b=2; did_compat=x"}},
		{"whitelist", []string{"auth0", "b"}, []string{"auth0=s%3Aabc; b=2"}},
		{"whitelist with wildcards", []string{"did*", "?"}, []string{"a=1; a=0; b=2; did_compat=x"}},
		{"whitelist matching nothing", []string{"session"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newProxyEdge(t, ca, o.addr(), originConfig(), behavior(forwarded(false, tt.cookies)))
			req := newRequest(t, "GET", e.URL+"/", nil)
			req.Header.Set("Cookie", sent)
			do(t, req)
			if got := o.last(t).Header["Cookie"]; !slices.Equal(got, tt.want) {
				t.Errorf("origin got Cookie %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSetCookie checks that every Set-Cookie of the origin reaches the
// viewer when cookies are forwarded, and none when they are not
// (DG RequestAndResponseBehaviorCustomOrigin, response headers).
func TestSetCookie(t *testing.T) {
	ca := newTestCA(t)
	o := newTestOrigin(t, ca, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "auth0=abc; Path=/; Secure; HttpOnly; SameSite=None")
		w.Header().Add("Set-Cookie", "auth0_compat=abc; Path=/; Secure; HttpOnly")
		w.Header().Set("Location", "https://app.example/callback?code=1")
		w.WriteHeader(http.StatusFound)
	})
	tests := []struct {
		cookies []string
		want    int
	}{
		{[]string{"all"}, 2},
		{[]string{"auth0"}, 2},
		{[]string{"none"}, 0},
	}
	for _, tt := range tests {
		e := newProxyEdge(t, ca, o.addr(), originConfig(), behavior(forwarded(true, tt.cookies)))
		resp, _ := do(t, newRequest(t, "POST", e.URL+"/u/login?state=s", []byte("username=a")))
		if resp.StatusCode != http.StatusFound {
			t.Errorf("cookies %v: status %d, want 302", tt.cookies, resp.StatusCode)
		}
		if got := resp.Header["Set-Cookie"]; len(got) != tt.want {
			t.Errorf("cookies %v: viewer got Set-Cookie %q, want %d of them", tt.cookies, got, tt.want)
		}
		if got := resp.Header.Get("Location"); got != "https://app.example/callback?code=1" {
			t.Errorf("Location = %q", got)
		}
	}
}

// TestMethods checks that all seven methods reach the origin with their
// bodies, and the origin's answer reaches the viewer.
func TestMethods(t *testing.T) {
	ca := newTestCA(t)
	o := newTestOrigin(t, ca, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Method", r.Method)
		if r.Method != "HEAD" {
			io.WriteString(w, "answer to "+r.Method)
		}
	})
	e := newProxyEdge(t, ca, o.addr(), originConfig(), behavior(forwarded(true, []string{"all"})))
	large := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB

	for _, method := range []string{"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"} {
		var body []byte
		if method != "GET" && method != "HEAD" {
			body = []byte(`{"method":"` + method + `"}`)
		}
		if method == "PUT" {
			body = large
		}
		req := newRequest(t, method, e.URL+"/api/v2/users", body)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, answer := do(t, req)
		got := o.last(t)
		if got.Method != method {
			t.Errorf("%s: origin got method %s", method, got.Method)
		}
		if !bytes.Equal(got.Body, body) {
			t.Errorf("%s: origin got a body of %d bytes, want %d", method, len(got.Body), len(body))
		}
		if body != nil && got.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: origin got Content-Type %q", method, got.Header.Get("Content-Type"))
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Method") != method {
			t.Errorf("%s: viewer got %d, X-Method %q", method, resp.StatusCode, resp.Header.Get("X-Method"))
		}
		if want := "answer to " + method; method != "HEAD" && string(answer) != want {
			t.Errorf("%s: viewer got body %q, want %q", method, answer, want)
		}
	}
}

// TestRetries checks that GET and HEAD are tried ConnectionAttempts times
// when the origin cannot be reached, and other methods once (DG
// RequestAndResponseBehaviorCustomOrigin, origin connection attempts).
func TestRetries(t *testing.T) {
	ca := newTestCA(t)
	dead := deadAddr(t)
	tests := []struct {
		method   string
		attempts int
		want     int
	}{
		{"GET", 0, 3}, // CloudFront's default
		{"GET", 2, 2},
		{"HEAD", 3, 3},
		{"GET", 1, 1},
		{"POST", 3, 1},
		{"PUT", 3, 1},
		{"DELETE", 3, 1},
		{"OPTIONS", 3, 1},
		{"PATCH", 3, 1},
	}
	for _, tt := range tests {
		var dials atomic.Int32
		tr := origin.NewTransports(ca.pool, nil)
		tr.Resolve = func(string) string { dials.Add(1); return dead }
		cfg := originConfig()
		if tt.attempts > 0 {
			cfg.ConnectionAttempts = portico.Ptr(tt.attempts)
		}
		p, err := newProxy(cfg, behavior(forwarded(false, nil)), tr, nil)
		if err != nil {
			t.Fatal(err)
		}
		e := newEdge(t, p)
		var body []byte
		if tt.method != "GET" && tt.method != "HEAD" {
			body = []byte("x")
		}
		resp, _ := do(t, newRequest(t, tt.method, e.URL+"/", body))
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("%s: status %d, want 502", tt.method, resp.StatusCode)
		}
		if got := int(dials.Load()); got != tt.want {
			t.Errorf("%s with ConnectionAttempts %d: %d connection attempts, want %d", tt.method, tt.attempts, got, tt.want)
		}
	}
}

// TestStreaming checks that an event stream reaches the viewer event by
// event, not when the origin finishes.
func TestStreaming(t *testing.T) {
	ca := newTestCA(t)
	next := make(chan struct{})
	o := newTestOrigin(t, ca, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			io.WriteString(w, "data: "+string(rune('0'+i))+"\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	})
	e := newProxyEdge(t, ca, o.addr(), originConfig(), behavior(forwarded(false, nil)))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a watchdog, not a speed check
	defer cancel()
	req := newRequest(t, "GET", e.URL+"/events", nil).WithContext(ctx)
	resp, err := viewer.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("event %d: %v (was the stream buffered?)", i, err)
		}
		if want := "data: " + string(rune('0'+i)) + "\n"; line != want {
			t.Fatalf("event %d = %q, want %q", i, line, want)
		}
		br.ReadString('\n')
		next <- struct{}{}
	}
}

// TestWebSocket checks that a WebSocket upgrade is forwarded and the
// connection then carries bytes both ways.
func TestWebSocket(t *testing.T) {
	ca := newTestCA(t)
	o := newTestOrigin(t, ca, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "not an upgrade", http.StatusBadRequest)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		line, _ := brw.ReadString('\n')
		io.WriteString(c, "echo "+line)
	})
	e := newProxyEdge(t, ca, o.addr(), originConfig(), behavior(forwarded(false, nil)))

	c, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second)) // a watchdog, not a speed check
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: login.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	io.WriteString(c, "hello\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo hello\n" {
		t.Fatalf("read %q, %v; want the echo", line, err)
	}
}

// TestNewRejectsHTTPOnly checks that an origin Portico cannot reach over
// HTTPS is refused.
func TestNewRejectsHTTPOnly(t *testing.T) {
	cfg := originConfig()
	cfg.CustomOriginConfig.OriginProtocolPolicy = "http-only"
	if _, err := newProxy(cfg, behavior(forwarded(false, nil)), origin.NewTransports(nil, nil), nil); err == nil {
		t.Fatal("New accepted an http-only origin")
	}
}

// TestS3AndMatchViewerUseHTTPS checks that S3 and match-viewer origins are
// reached over HTTPS: S3 on port 443, match-viewer on HTTPSPort.
func TestS3AndMatchViewerUseHTTPS(t *testing.T) {
	ca := newTestCA(t)
	o := newTestOrigin(t, ca, nil)
	s3 := &portico.Origin{ID: "origin-1", DomainName: originDomain, S3OriginConfig: &portico.S3OriginConfig{}}
	mv := originConfig()
	mv.CustomOriginConfig.OriginProtocolPolicy = "match-viewer"
	mv.CustomOriginConfig.HTTPSPort = 8443

	for _, tt := range []struct {
		cfg  *portico.Origin
		dial string
	}{{s3, originDomain + ":443"}, {mv, originDomain + ":8443"}} {
		var dialed atomic.Value
		tr := origin.NewTransports(ca.pool, nil)
		tr.Resolve = func(hostport string) string { dialed.Store(hostport); return o.addr() }
		p, err := newProxy(tt.cfg, behavior(forwarded(false, nil)), tr, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, _ := do(t, newRequest(t, "GET", newEdge(t, p).URL+"/x", nil))
		if resp.StatusCode != http.StatusOK {
			t.Errorf("status %d, want 200", resp.StatusCode)
		}
		if got := dialed.Load(); got != tt.dial {
			t.Errorf("dialed %v, want %s", got, tt.dial)
		}
		if got := o.last(t); got.SNI != originDomain || got.Host != originDomain {
			t.Errorf("origin got SNI %q, Host %q", got.SNI, got.Host)
		}
	}
}

// BenchmarkProxy measures a GET through the proxy to a TLS origin over a
// kept-alive connection.
func BenchmarkProxy(b *testing.B) {
	ca := newTestCA(b)
	o := newTestOrigin(b, ca, nil)
	p, err := newProxy(originConfig(), behavior(forwarded(true, []string{"all"}, "User-Agent", "Origin", "Referer", "Accept")), newTransports(ca, o.addr(), nil), nil)
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "https://login.example.com/authorize?client_id=abc&state=xyz", nil)
	req.RemoteAddr = "192.0.2.10:51000"
	req.Header.Set("Cookie", "auth0=abc; did=xyz")
	req.Header.Set("User-Agent", "Mozilla/5.0")
	req = req.WithContext(origin.WithRequestInfo(req.Context(), &origin.RequestInfo{ID: requestID}))
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		p.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// TestConnectionReuse checks that proxies built for successive
// configuration snapshots share the origin connection, and that
// CloseIdleConnections closes it.
func TestConnectionReuse(t *testing.T) {
	ca := newTestCA(t)
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, originDomain)}}
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	tr := newTransports(ca, srv.Listener.Addr().String(), nil)
	get := func() {
		// A new Proxy each time, as a new snapshot builds one.
		p, err := newProxy(originConfig(), behavior(forwarded(false, nil)), tr, nil)
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		p.ServeHTTP(w, httptest.NewRequest("GET", "https://login.example.com/", nil))
		if w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
	}
	get()
	get()
	get()
	if got := conns.Load(); got != 1 {
		t.Errorf("three requests through three proxies opened %d origin connections, want 1", got)
	}
	tr.CloseIdleConnections()
	get()
	if got := conns.Load(); got != 2 {
		t.Errorf("after CloseIdleConnections: %d origin connections in all, want 2", got)
	}
}

// TestSessionResumption checks that a new origin connection resumes the
// TLS session of an earlier one, with either TLS version, instead of a
// full handshake.
func TestSessionResumption(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			ca := newTestCA(t)
			o := newTestOrigin(t, ca, nil)
			o.srv.TLS.MaxVersion = version
			tr := newTransports(ca, o.addr(), nil)
			p, err := newProxy(originConfig(), behavior(forwarded(false, nil)), tr, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range []bool{false, true} {
				tr.CloseIdleConnections() // a new connection each time
				w := httptest.NewRecorder()
				p.ServeHTTP(w, httptest.NewRequest("GET", "https://login.example.com/", nil))
				if w.Code != http.StatusOK {
					t.Fatalf("request %d: status %d", i+1, w.Code)
				}
				if got := o.last(t); got.TLSVersion != version || got.Resumed != want {
					t.Errorf("request %d: TLS %s, resumed %v; want %s, resumed %v",
						i+1, tls.VersionName(got.TLSVersion), got.Resumed, tls.VersionName(version), want)
				}
			}
		})
	}
}

// TestConnectNotForwarded checks that a CONNECT that does not open an
// HTTP/2 WebSocket is answered 405 and never reaches the origin.
func TestConnectNotForwarded(t *testing.T) {
	ca := newTestCA(t)
	o := newTestOrigin(t, ca, nil)
	p, err := newProxy(originConfig(), behavior(forwarded(false, nil)), newTransports(ca, o.addr(), nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		major    int
		protocol string
	}{
		{"tunnel over HTTP/1.1", 1, ""},
		{"tunnel over HTTP/2", 2, ""},
		{"another protocol over HTTP/2", 2, "webtransport"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("CONNECT", "https://login.example.com/chat", nil)
		r.ProtoMajor = tt.major
		if tt.protocol != "" {
			r.Header[":protocol"] = []string{tt.protocol}
		}
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		if w.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: status %d, want 405", tt.name, w.Code)
		}
	}
	if n := o.count(); n != 0 {
		t.Errorf("the origin got %d requests, want none", n)
	}
}
