package origin_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/origin"
)

// Mobile and desktop User-Agents of real browsers.
const (
	uaIPhone  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
	uaDesktop = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)

// The canonical names of the CloudFront headers Portico computes.
var computedHeaders = []string{
	"Cloudfront-Viewer-Address", "Cloudfront-Forwarded-Proto", "Cloudfront-Viewer-Http-Version", "Cloudfront-Viewer-Tls",
	"Cloudfront-Is-Desktop-Viewer", "Cloudfront-Is-Mobile-Viewer", "Cloudfront-Is-Tablet-Viewer",
	"Cloudfront-Is-Smarttv-Viewer", "Cloudfront-Is-Ios-Viewer", "Cloudfront-Is-Android-Viewer",
}

// newTLSEdge serves p behind an HTTPS test server with the request ID in
// the context, as the edge server does; its client trusts the server and
// speaks HTTP/1.1.
func newTLSEdge(t *testing.T, p http.Handler) (url string, client *http.Client) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.ServeHTTP(w, r.WithContext(origin.WithRequestInfo(r.Context(), &origin.RequestInfo{ID: requestID})))
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL, srv.Client()
}

// TestViewerHeaders checks which CloudFront-* headers reach the origin
// under each way a behaviour can select them, with the values the edge
// computes, and that the viewer's own CloudFront-* headers never do (DG
// adding-cloudfront-headers; DG controlling-origin-requests, "All viewer
// headers and the following CloudFront headers").
func TestViewerHeaders(t *testing.T) {
	ca := newTestCA(t)
	o := newTestOrigin(t, ca, nil)
	managed, _ := portico.FindManaged(portico.ManagedOriginRequestPolicies(), "33f36d7e-f396-46d9-90e0-52428a34d9dc")
	tlsValue := regexp.MustCompile(`^TLSv1\.3:TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256):fullHandshake$`)
	noneHeaders := &portico.HeadersConfig{HeaderBehavior: portico.BehaviorNone}

	for _, tt := range []struct {
		name string
		// Either legacy ForwardedValues or a cache policy and an origin
		// request policy.
		legacy *portico.ForwardedValues
		orp    *portico.OriginRequestPolicyConfig
		want   []string // the computed headers the origin gets
	}{
		{name: "legacy settings select none", legacy: forwarded(false, nil, "Accept")},
		{name: "legacy forward-all selects none", legacy: forwarded(false, nil, "*")},
		{name: "legacy whitelist", legacy: forwarded(false, nil, "CloudFront-Is-Mobile-Viewer", "cloudfront-forwarded-proto"),
			want: []string{"Cloudfront-Forwarded-Proto", "Cloudfront-Is-Mobile-Viewer"}},
		{name: "origin request policy allViewer selects none", orp: originPolicy(&portico.HeadersConfig{HeaderBehavior: portico.BehaviorAllViewer}, "none", "none", nil, nil)},
		{name: "origin request policy whitelist", orp: originPolicy(&portico.HeadersConfig{HeaderBehavior: portico.BehaviorWhitelist, Headers: names("CloudFront-Viewer-Address", "CloudFront-Viewer-TLS", "X-One")}, "none", "none", nil, nil),
			want: []string{"Cloudfront-Viewer-Address", "Cloudfront-Viewer-Tls"}},
		{name: "managed AllViewerAndCloudFrontHeaders-2022-06", orp: &managed.Config, want: computedHeaders},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b *portico.CacheBehavior
			var pol portico.ResolvedPolicy
			if tt.legacy != nil {
				b = behavior(tt.legacy)
				pol = legacyPolicy(b)
			} else {
				b, pol = policyBehavior(t, cachePolicy(false, noneHeaders, nil, nil), tt.orp)
			}
			p, err := origin.New(originConfig(), b, pol, newTransports(ca, o.addr(), nil), nil)
			if err != nil {
				t.Fatal(err)
			}
			url, client := newTLSEdge(t, p)
			req := newRequest(t, "GET", url+"/", nil)
			req.Header.Set("User-Agent", uaIPhone)
			// Spoofed: the edge computes these, or sends none.
			req.Header.Set("CloudFront-Is-Mobile-Viewer", "false")
			req.Header.Set("CloudFront-Is-Desktop-Viewer", "true")
			req.Header.Set("CloudFront-Viewer-Country", "CH")
			req.Header.Set("CloudFront-Viewer-Address", "203.0.113.9:1")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := o.last(t).Header
			var sent []string
			for name := range got {
				if strings.HasPrefix(name, "Cloudfront-") {
					sent = append(sent, name)
				}
			}
			slices.Sort(sent)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(sent, want) {
				t.Fatalf("origin got CloudFront headers %q, want %q", sent, want)
			}
			wantValues := map[string]string{
				"Cloudfront-Forwarded-Proto":     "https",
				"Cloudfront-Viewer-Http-Version": "1.1",
				"Cloudfront-Is-Desktop-Viewer":   "false",
				"Cloudfront-Is-Mobile-Viewer":    "true",
				"Cloudfront-Is-Tablet-Viewer":    "false",
				"Cloudfront-Is-Smarttv-Viewer":   "false",
				"Cloudfront-Is-Ios-Viewer":       "true",
				"Cloudfront-Is-Android-Viewer":   "false",
			}
			for _, name := range sent {
				v := got[name]
				if len(v) != 1 {
					t.Errorf("%s = %q, want one value", name, v)
					continue
				}
				switch name {
				case "Cloudfront-Viewer-Address":
					if !strings.HasPrefix(v[0], "127.0.0.1:") || v[0] == "127.0.0.1:" {
						t.Errorf("%s = %q, want the viewer's 127.0.0.1:port", name, v[0])
					}
				case "Cloudfront-Viewer-Tls":
					if !tlsValue.MatchString(v[0]) {
						t.Errorf("%s = %q, want TLSv1.3:<suite>:fullHandshake", name, v[0])
					}
				default:
					if v[0] != wantValues[name] {
						t.Errorf("%s = %q, want %q", name, v[0], wantValues[name])
					}
				}
			}
		})
	}
}

// TestViewerHeadersPlainHTTP checks the values for a viewer on plain
// HTTP: no CloudFront-Viewer-TLS, and http as the protocol.
func TestViewerHeadersPlainHTTP(t *testing.T) {
	ca := newTestCA(t)
	o := newTestOrigin(t, ca, nil)
	e := newProxyEdge(t, ca, o.addr(), originConfig(), behavior(forwarded(false, nil,
		"CloudFront-Forwarded-Proto", "CloudFront-Viewer-TLS", "CloudFront-Viewer-Http-Version", "CloudFront-Is-Desktop-Viewer")))
	req := newRequest(t, "GET", e.URL+"/", nil)
	req.Header.Set("User-Agent", uaDesktop)
	req.Header.Set("CloudFront-Viewer-TLS", "TLSv1.3:forged:fullHandshake")
	do(t, req)
	got := o.last(t).Header
	for name, want := range map[string][]string{
		"Cloudfront-Forwarded-Proto":     {"http"},
		"Cloudfront-Viewer-Tls":          nil,
		"Cloudfront-Viewer-Http-Version": {"1.1"},
		"Cloudfront-Is-Desktop-Viewer":   {"true"},
	} {
		if !slices.Equal(got[name], want) {
			t.Errorf("%s = %q, want %q", name, got[name], want)
		}
	}
}

// TestViewerTLSHandshakes checks CloudFront-Viewer-TLS for a TLS 1.2
// suite, named as OpenSSL names it, and for a resumed session.
func TestViewerTLSHandshakes(t *testing.T) {
	var (
		mu  sync.Mutex
		got []string
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := http.Header{}
		v := origin.NewViewerHeaders([]string{"CloudFront-Viewer-TLS"})
		v.Replace(h, r)
		mu.Lock()
		got = append(got, h.Get("CloudFront-Viewer-TLS"))
		mu.Unlock()
	}))
	srv.StartTLS()
	defer srv.Close()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true // a new connection, and handshake, for each request
	tr.TLSClientConfig.MaxVersion = tls.VersionTLS12
	tr.TLSClientConfig.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	tr.TLSClientConfig.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	for range 2 {
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"TLSv1.2:ECDHE-RSA-AES128-GCM-SHA256:fullHandshake",
		"TLSv1.2:ECDHE-RSA-AES128-GCM-SHA256:sessionResumed",
	}
	if !slices.Equal(got, want) {
		t.Errorf("CloudFront-Viewer-TLS = %q, want %q", got, want)
	}
}

// TestViewerTLS checks the version and cipher names of
// CloudFront-Viewer-TLS against CloudFront's examples (DG
// adding-cloudfront-headers, "Other CloudFront headers").
func TestViewerTLS(t *testing.T) {
	for _, tt := range []struct {
		cs   tls.ConnectionState
		want string
	}{
		{tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256, DidResume: true}, "TLSv1.3:TLS_AES_128_GCM_SHA256:sessionResumed"},
		{tls.ConnectionState{Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, "TLSv1.2:ECDHE-ECDSA-AES128-GCM-SHA256:fullHandshake"},
		{tls.ConnectionState{Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}, "TLSv1.2:ECDHE-RSA-CHACHA20-POLY1305:fullHandshake"},
		{tls.ConnectionState{Version: tls.VersionTLS11, CipherSuite: tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}, "TLSv1.1:ECDHE-RSA-AES128-SHA:fullHandshake"},
		{tls.ConnectionState{Version: tls.VersionTLS10, CipherSuite: tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA}, "TLSv1:ECDHE-RSA-AES256-SHA:fullHandshake"},
		{tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: 0x1304}, "TLSv1.3:0x1304:fullHandshake"},
	} {
		if got := origin.ViewerTLS(&tt.cs); got != tt.want {
			t.Errorf("ViewerTLS(%x, %x) = %q, want %q", tt.cs.Version, tt.cs.CipherSuite, got, tt.want)
		}
	}
}

// TestDeviceOf checks the device headers' classification of real
// User-Agents (DG adding-cloudfront-headers, "Headers for determining the
// viewer's device type").
func TestDeviceOf(t *testing.T) {
	type d = origin.Device
	for _, tt := range []struct {
		name, ua string
		want     d
	}{
		{"empty", "", d{Desktop: true}},
		{"Chrome on Linux", uaDesktop, d{Desktop: true}},
		{"Safari on macOS", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15", d{Desktop: true}},
		{"IE with Tablet PC token", "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0; Tablet PC 2.0)", d{Desktop: true}},
		{"curl", "curl/8.5.0", d{Desktop: true}},
		{"iPhone", uaIPhone, d{Mobile: true, IOS: true}},
		{"iPad", "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", d{Mobile: true, Tablet: true, IOS: true}},
		{"Android phone", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36", d{Mobile: true, Android: true}},
		{"Android tablet", "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", d{Tablet: true, Android: true}},
		{"Kindle Fire", "Mozilla/5.0 (Linux; U; Android 4.0.3; en-us; KFTT Build/IML74K) AppleWebKit/537.36 (KHTML, like Gecko) Silk/3.68 like Chrome/39.0.2171.93 Safari/537.36", d{Tablet: true, Android: true}},
		{"Samsung smart TV", "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 76.0.3809.146/6.0 TV Safari/537.36", d{SmartTV: true}},
		{"LG webOS TV", "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.79 Safari/537.36 WebAppManager", d{SmartTV: true}},
		{"Android TV", "Mozilla/5.0 (Linux; Android 9; BRAVIA 4K GB) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/96.0.4664.104 Safari/537.36", d{SmartTV: true, Android: true}},
		{"Windows Phone", "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.15063", d{Mobile: true, Android: true}},
	} {
		if got := origin.DeviceOf(tt.ua); got != tt.want {
			t.Errorf("%s: DeviceOf = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// TestDeviceOfAllocs pins the classification of a User-Agent of a usual
// length at zero allocations, and checks that a long one is classified
// as a short one is.
func TestDeviceOfAllocs(t *testing.T) {
	if allocs := testing.AllocsPerRun(100, func() { origin.DeviceOf(uaIPhone) }); allocs != 0 {
		t.Errorf("DeviceOf allocated %v times, want 0", allocs)
	}
	long := strings.Repeat("X", 600) + uaIPhone
	if got, want := origin.DeviceOf(long), origin.DeviceOf(uaIPhone); got != want {
		t.Errorf("DeviceOf(long) = %+v, want %+v", got, want)
	}
}

func BenchmarkDeviceOf(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		origin.DeviceOf(uaIPhone)
	}
}

// FuzzDeviceOf checks the device classification's invariants on any
// User-Agent: a desktop is nothing else, and iOS and Android devices are
// never desktops.
func FuzzDeviceOf(f *testing.F) {
	for _, s := range []string{"", uaIPhone, uaDesktop, "Android", "ANDROID mobile", "SmartTV Android", "iPad", "Tablet PC", "tablet", "\xff\x00Mobile"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ua string) {
		d := origin.DeviceOf(ua)
		if d.Desktop != (!d.Mobile && !d.Tablet && !d.SmartTV) {
			t.Errorf("%q: %+v: Desktop must be none of the others", ua, d)
		}
		if (d.IOS || d.Android) && d.Desktop {
			t.Errorf("%q: %+v: an iOS or Android device is not a desktop", ua, d)
		}
		if d.SmartTV && (d.Mobile || d.Tablet) {
			t.Errorf("%q: %+v: a smart TV is neither mobile nor a tablet", ua, d)
		}
	})
}

// TestViewerHeadersReplaceDoesNotAllocate checks that the device headers,
// the protocol and the HTTP version cost no allocation.
func TestViewerHeadersReplaceDoesNotAllocate(t *testing.T) {
	v := origin.NewViewerHeaders([]string{"CloudFront-Is-Mobile-Viewer", "CloudFront-Is-Desktop-Viewer", "CloudFront-Forwarded-Proto", "CloudFront-Viewer-Http-Version", "CloudFront-Viewer-Country"})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("User-Agent", uaIPhone)
	h := http.Header{}
	v.Replace(h, r)
	if allocs := testing.AllocsPerRun(100, func() { v.Replace(h, r) }); allocs != 0 {
		t.Errorf("Replace allocated %v times, want 0", allocs)
	}
	if h.Get("CloudFront-Is-Mobile-Viewer") != "true" || h.Get("CloudFront-Forwarded-Proto") != "http" {
		t.Errorf("header %v", h)
	}
}

// TestViewerValue checks that ViewerValue gives each computed header the
// value Replace sets, whatever the viewer sent under its name, and none
// for the headers Portico does not compute.
func TestViewerValue(t *testing.T) {
	names := append(slices.Clone(computedHeaders), "Cloudfront-Viewer-Country", "Cloudfront-Viewer-Ja3-Fingerprint")
	for _, tt := range []struct {
		name string
		r    *http.Request
	}{
		{"https, HTTP/2, an iPhone", func() *http.Request {
			r := httptest.NewRequest("GET", "https://a.example/", nil)
			r.ProtoMajor, r.ProtoMinor = 2, 0
			r.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256}
			r.RemoteAddr = "[2001:db8::1]:4711"
			r.Header.Set("User-Agent", uaIPhone)
			return r
		}()},
		{"http, a desktop", func() *http.Request {
			r := httptest.NewRequest("GET", "http://a.example/", nil)
			r.Header.Set("User-Agent", uaDesktop)
			return r
		}()},
		{"no User-Agent, no address", func() *http.Request {
			r := httptest.NewRequest("GET", "http://a.example/", nil)
			r.RemoteAddr = ""
			return r
		}()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, n := range names {
				tt.r.Header.Set(n, "spoofed")
			}
			v := origin.NewViewerHeaders(names)
			want := http.Header{}
			v.Replace(want, tt.r)
			for _, n := range names {
				got, ok := origin.ViewerValue(n, tt.r)
				if w := want[n]; ok != (len(w) == 1) || ok && got != w[0] {
					t.Errorf("ViewerValue(%s) = %q, %v; Replace sets %q", n, got, ok, w)
				}
			}
		})
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("User-Agent", uaIPhone)
	if allocs := testing.AllocsPerRun(100, func() {
		for _, n := range []string{"Cloudfront-Is-Mobile-Viewer", "Cloudfront-Forwarded-Proto", "Cloudfront-Viewer-Http-Version", "Cloudfront-Viewer-Country"} {
			origin.ViewerValue(n, r)
		}
	}); allocs != 0 {
		t.Errorf("ViewerValue of the device, protocol and version headers allocated %v times, want 0", allocs)
	}
}

// TestUpstreamTiming checks what a Proxy records for Server-Timing: the
// connection's setup on a new connection and none on a reused one, and
// the first-byte latency, which includes the time the origin takes to
// answer.
func TestUpstreamTiming(t *testing.T) {
	const think = 30 * time.Millisecond
	ca := newTestCA(t)
	o := newTestOrigin(t, ca, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(think)
		w.Write([]byte("ok"))
	})
	p, err := newProxy(originConfig(), behavior(forwarded(false, nil)), newTransports(ca, o.addr(), nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	fetch := func() *origin.Timing {
		tm := new(origin.Timing)
		r := httptest.NewRequest("GET", "/", nil)
		r = r.WithContext(origin.WithTiming(origin.WithRequestInfo(r.Context(), &origin.RequestInfo{ID: requestID}), tm))
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
		return tm
	}
	u := fetch().Upstream()
	if !u.Contacted || !u.GotFirstByte || u.Connect <= 0 || u.DNS != 0 || u.FirstByte < think {
		t.Errorf("new connection: %+v; want no DNS (an IP is dialed), a connect time and a first byte after at least %v", u, think)
	}
	u = fetch().Upstream()
	if !u.Contacted || !u.GotFirstByte || u.Connect != 0 || u.DNS != 0 || u.FirstByte < think {
		t.Errorf("reused connection: %+v; want no DNS or connect time", u)
	}

	down, err := newProxy(originConfig(), behavior(forwarded(false, nil)), newTransports(ca, deadAddr(t), nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	tm := new(origin.Timing)
	r := httptest.NewRequest("GET", "/", nil)
	down.ServeHTTP(httptest.NewRecorder(), r.WithContext(origin.WithTiming(r.Context(), tm)))
	if u := tm.Upstream(); !u.Contacted || u.GotFirstByte {
		t.Errorf("origin down: %+v; want contacted without a response", u)
	}
}
