package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/portico-edge/portico/internal/testpki"
)

const (
	shopDomain  = "shop.example.com"
	appDomain   = "app.origin.test"
	pagesDomain = "pages.origin.test"
	downDomain  = "down.origin.test"
	appOrigin   = "https://app.example.com" // the CORS origin the policy allows

	// Managed policies the distribution uses.
	managedAllViewerAndCloudFront = "33f36d7e-f396-46d9-90e0-52428a34d9dc"
)

// shopOrigin is an HTTPS origin that records the requests it gets.
type shopOrigin struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newShopOrigin(t *testing.T, ca *testpki.CA, domain string, respond http.HandlerFunc) *shopOrigin {
	t.Helper()
	o := &shopOrigin{}
	o.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.reqs = append(o.reqs, r.Clone(context.Background()))
		o.mu.Unlock()
		respond(w, r)
	}))
	o.TLS = &tls.Config{Certificates: []tls.Certificate{*ca.Issue(t, []string{domain}).TLSCertificate(t)}}
	o.StartTLS()
	t.Cleanup(o.Close)
	return o
}

func (o *shopOrigin) port() int { return o.Listener.Addr().(*net.TCPAddr).Port }

// count returns how many requests the origin got with method for path.
func (o *shopOrigin) count(method, path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, r := range o.reqs {
		if r.Method == method && r.URL.Path == path {
			n++
		}
	}
	return n
}

// lastFor returns the last request the origin got for path.
func (o *shopOrigin) lastFor(t *testing.T, path string) *http.Request {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.reqs) - 1; i >= 0; i-- {
		if o.reqs[i].URL.Path == path {
			return o.reqs[i]
		}
	}
	t.Fatalf("the origin got no request for %s", path)
	return nil
}

func shopOriginConfig(id, domain string, port int) cftypes.Origin {
	return cftypes.Origin{
		Id: aws.String(id), DomainName: aws.String(domain),
		CustomOriginConfig: &cftypes.CustomOriginConfig{
			HTTPPort: aws.Int32(80), HTTPSPort: aws.Int32(int32(port)),
			OriginProtocolPolicy: cftypes.OriginProtocolPolicyHttpsOnly,
			OriginReadTimeout:    aws.Int32(5),
		},
		ConnectionAttempts: aws.Int32(1),
		ConnectionTimeout:  aws.Int32(1),
	}
}

// shopConfig is a distribution for shop.example.com: the site on app, its
// error pages on pages behind /errors/*, and /down/* on an origin that
// refuses connections; 404 and Portico's 502 get custom error pages. The
// default behaviour forwards everything and every CloudFront header; every
// behaviour has the response headers policy headersPolicy.
func shopConfig(certARN, headersPolicy string, appPort, pagesPort, downPort int, responseCode404 string) *cftypes.DistributionConfig {
	methods := []cftypes.Method{"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"}
	cached := &cftypes.CachedMethods{Quantity: aws.Int32(2), Items: []cftypes.Method{"GET", "HEAD"}}
	behavior := func(pattern, target string) cftypes.CacheBehavior {
		return cftypes.CacheBehavior{
			PathPattern: aws.String(pattern), TargetOriginId: aws.String(target),
			ViewerProtocolPolicy:    cftypes.ViewerProtocolPolicyHttpsOnly,
			CachePolicyId:           aws.String("658327ea-f89d-4fab-a63d-7e88639e58f6"), // CachingOptimized
			ResponseHeadersPolicyId: aws.String(headersPolicy),
		}
	}
	return &cftypes.DistributionConfig{
		CallerReference: aws.String("shop-" + responseCode404),
		Comment:         aws.String("custom error pages, Server-Timing and CORS"),
		Enabled:         aws.Bool(true),
		Aliases:         &cftypes.Aliases{Quantity: aws.Int32(1), Items: []string{shopDomain}},
		Origins: &cftypes.Origins{Quantity: aws.Int32(3), Items: []cftypes.Origin{
			shopOriginConfig("app", appDomain, appPort),
			shopOriginConfig("pages", pagesDomain, pagesPort),
			shopOriginConfig("down", downDomain, downPort),
		}},
		DefaultCacheBehavior: &cftypes.DefaultCacheBehavior{
			TargetOriginId:          aws.String("app"),
			ViewerProtocolPolicy:    cftypes.ViewerProtocolPolicyRedirectToHttps,
			AllowedMethods:          &cftypes.AllowedMethods{Quantity: aws.Int32(7), Items: methods, CachedMethods: cached},
			CachePolicyId:           aws.String("658327ea-f89d-4fab-a63d-7e88639e58f6"), // CachingOptimized
			OriginRequestPolicyId:   aws.String(managedAllViewerAndCloudFront),
			ResponseHeadersPolicyId: aws.String(headersPolicy),
		},
		CacheBehaviors: &cftypes.CacheBehaviors{Quantity: aws.Int32(2), Items: []cftypes.CacheBehavior{
			behavior("/errors/*", "pages"), behavior("/down/*", "down"),
		}},
		CustomErrorResponses: &cftypes.CustomErrorResponses{Quantity: aws.Int32(2), Items: []cftypes.CustomErrorResponse{
			{ErrorCode: aws.Int32(404), ResponsePagePath: aws.String("/errors/404.html"), ResponseCode: aws.String(responseCode404), ErrorCachingMinTTL: aws.Int64(60)},
			{ErrorCode: aws.Int32(502), ResponsePagePath: aws.String("/errors/5xx.html"), ResponseCode: aws.String("503")},
		}},
		ViewerCertificate: &cftypes.ViewerCertificate{
			ACMCertificateArn:      aws.String(certARN),
			SSLSupportMethod:       cftypes.SSLSupportMethodSniOnly,
			MinimumProtocolVersion: cftypes.MinimumProtocolVersionTLSv122021,
		},
	}
}

// TestErrorPagesServerTimingAndCORS creates, with the AWS SDK against the
// real binary, a response headers policy with CORS and Server-Timing and a
// distribution with custom error responses, then checks them as a browser
// would: 404s and Portico's own 502 replaced by pages from another origin,
// cached like any object, with their ResponseCode; Server-Timing on every
// response, naming the response's POP and request ID; CORS headers added
// to the origin's responses, preflights included, which the origin
// answers; and the CloudFront-* headers the managed
// AllViewerAndCloudFrontHeaders-2022-06 policy selects, computed by the
// edge.
func TestErrorPagesServerTimingAndCORS(t *testing.T) {
	ctx := context.Background()
	originCA, viewerCA := testpki.NewCA(t, "origin CA"), testpki.NewCA(t, "viewer CA")
	app := newShopOrigin(t, originCA, appDomain, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodOptions:
			w.WriteHeader(http.StatusNoContent) // the origin answers preflights
		case r.URL.Path == "/products":
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Server-Timing", "db;dur=7")
			io.WriteString(w, "products")
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "app: no such page")
		}
	})
	pages := newShopOrigin(t, originCA, pagesDomain, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, "<h1>%s</h1>", r.URL.Path)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // connections to it are refused

	dir := t.TempDir()
	caFile := filepath.Join(dir, "origin-ca.pem")
	if err := os.WriteFile(caFile, originCA.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PORTICO_ACCESS_KEY_ID=" + accessKeyID, "PORTICO_SECRET_ACCESS_KEY=" + secretKey}
	resolve := strings.Join([]string{appDomain + "=127.0.0.1", pagesDomain + "=127.0.0.1", downDomain + "=127.0.0.1"}, ",")
	p := startPortico(t, filepath.Join(dir, "data"), env, "--origin-ca", caFile, "--origin-resolve", resolve)
	cf, certs := clients(p.api)

	leaf := viewerCA.Issue(t, []string{shopDomain})
	imported := must(certs.ImportCertificate(ctx, &acm.ImportCertificateInput{
		Certificate: leaf.CertPEM, PrivateKey: leaf.KeyPEM, CertificateChain: leaf.ChainPEM,
	}))(t)
	policy := must(cf.CreateResponseHeadersPolicy(ctx, &cloudfront.CreateResponseHeadersPolicyInput{
		ResponseHeadersPolicyConfig: &cftypes.ResponseHeadersPolicyConfig{
			Name: aws.String("shop-cors-timing"),
			CorsConfig: &cftypes.ResponseHeadersPolicyCorsConfig{
				AccessControlAllowOrigins:     &cftypes.ResponseHeadersPolicyAccessControlAllowOrigins{Quantity: aws.Int32(1), Items: []string{appOrigin}},
				AccessControlAllowHeaders:     &cftypes.ResponseHeadersPolicyAccessControlAllowHeaders{Quantity: aws.Int32(1), Items: []string{"X-Token"}},
				AccessControlAllowMethods:     &cftypes.ResponseHeadersPolicyAccessControlAllowMethods{Quantity: aws.Int32(2), Items: []cftypes.ResponseHeadersPolicyAccessControlAllowMethodsValues{"GET", "POST"}},
				AccessControlAllowCredentials: aws.Bool(true),
				AccessControlExposeHeaders:    &cftypes.ResponseHeadersPolicyAccessControlExposeHeaders{Quantity: aws.Int32(1), Items: []string{"Server-Timing"}},
				AccessControlMaxAgeSec:        aws.Int32(600),
				OriginOverride:                aws.Bool(false),
			},
			ServerTimingHeadersConfig: &cftypes.ResponseHeadersPolicyServerTimingHeadersConfig{Enabled: aws.Bool(true), SamplingRate: aws.Float64(100)},
		},
	}))(t)
	policyID := aws.ToString(policy.ResponseHeadersPolicy.Id)

	t.Run("invalid settings are refused", func(t *testing.T) {
		_, err := cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{
			DistributionConfig: shopConfig(aws.ToString(imported.CertificateArn), policyID, app.port(), pages.port(), downPort, "299"),
		})
		var badCode *cftypes.InvalidResponseCode
		if !errors.As(err, &badCode) {
			t.Errorf("CreateDistribution with ResponseCode 299: %v, want InvalidResponseCode", err)
		}
		_, err = cf.CreateCachePolicy(ctx, &cloudfront.CreateCachePolicyInput{CachePolicyConfig: &cftypes.CachePolicyConfig{
			Name: aws.String("keyed-on-address"), MinTTL: aws.Int64(0),
			ParametersInCacheKeyAndForwardedToOrigin: &cftypes.ParametersInCacheKeyAndForwardedToOrigin{
				EnableAcceptEncodingGzip: aws.Bool(false),
				HeadersConfig: &cftypes.CachePolicyHeadersConfig{HeaderBehavior: cftypes.CachePolicyHeaderBehaviorWhitelist,
					Headers: &cftypes.Headers{Quantity: aws.Int32(1), Items: []string{"CloudFront-Viewer-Address"}}},
				CookiesConfig:      &cftypes.CachePolicyCookiesConfig{CookieBehavior: cftypes.CachePolicyCookieBehaviorNone},
				QueryStringsConfig: &cftypes.CachePolicyQueryStringsConfig{QueryStringBehavior: cftypes.CachePolicyQueryStringBehaviorNone},
			},
		}})
		var invalid *cftypes.InvalidArgument
		if !errors.As(err, &invalid) {
			t.Errorf("CreateCachePolicy keyed on CloudFront-Viewer-Address: %v, want InvalidArgument", err)
		}
	})

	out := must(cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{
		DistributionConfig: shopConfig(aws.ToString(imported.CertificateArn), policyID, app.port(), pages.port(), downPort, "200"),
	}))(t)
	w := cloudfront.NewDistributionDeployedWaiter(cf, func(o *cloudfront.DistributionDeployedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
	})
	if err := w.Wait(ctx, &cloudfront.GetDistributionInput{Id: out.Distribution.Id}, 30*time.Second); err != nil {
		t.Fatalf("waiting for Deployed: %v", err)
	}
	got := must(cf.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: out.Distribution.Id}))(t)
	if e := got.DistributionConfig.CustomErrorResponses; e == nil || aws.ToInt32(e.Quantity) != 2 || aws.ToString(e.Items[0].ResponseCode) != "200" {
		t.Errorf("CustomErrorResponses did not round-trip: %+v", e)
	}

	browser := viewer(p.https, viewerCA.Pool())
	get := func(t *testing.T, method, path string, header map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "https://"+shopDomain+path, nil)
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp := must(browser.Do(req))(t)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	// serverTiming checks that resp's Server-Timing is one field line
	// starting as start says, and naming resp's POP and request ID.
	serverTiming := func(t *testing.T, resp *http.Response, start string) {
		t.Helper()
		v := resp.Header.Values("Server-Timing")
		want := fmt.Sprintf(`,cdn-pop;desc="%s",cdn-rid;desc="%s",`, resp.Header.Get("X-Amz-Cf-Pop"), resp.Header.Get("X-Amz-Cf-Id"))
		if len(v) != 1 || !strings.HasPrefix(v[0], start) || !strings.Contains(v[0], want) || !regexp.MustCompile(`,cdn-downstream-fbl;dur=\d+$`).MatchString(v[0]) {
			t.Errorf("Server-Timing %q, want one line starting %q, with %q, ending with cdn-downstream-fbl", v, start, want)
		}
	}

	t.Run("custom error pages", func(t *testing.T) {
		for i, step := range []struct {
			path               string
			wantStatus         int
			wantBody           string
			wantTiming         string // how Server-Timing starts
			page               string
			wantApp, wantPages int // requests for path and for the page so far
		}{
			{"/missing", 200, "<h1>/errors/404.html</h1>", "cdn-upstream-layer", "/errors/404.html", 1, 1},
			// The 404 is cached for ErrorCachingMinTTL, the page for its
			// max-age: no origin is asked again.
			{"/missing", 200, "<h1>/errors/404.html</h1>", "cdn-cache-hit,", "/errors/404.html", 1, 1},
			// Portico's own 502, for an origin it cannot reach.
			{"/down/checkout", 503, "<h1>/errors/5xx.html</h1>", "cdn-upstream-layer", "/errors/5xx.html", 0, 1},
		} {
			resp, body := get(t, "GET", step.path, nil)
			if resp.StatusCode != step.wantStatus || body != step.wantBody || resp.Header.Get("X-Cache") != "Error from portico" {
				t.Errorf("step %d: GET %s: %d %q (X-Cache %q), want %d %q (Error from portico)", i, step.path, resp.StatusCode, body, resp.Header.Get("X-Cache"), step.wantStatus, step.wantBody)
			}
			serverTiming(t, resp, step.wantTiming)
			if n := app.count("GET", step.path); n != step.wantApp {
				t.Errorf("step %d: app got %d requests for %s, want %d", i, n, step.path, step.wantApp)
			}
			if n := pages.count("GET", step.page); n != step.wantPages {
				t.Errorf("step %d: pages got %d requests for %s, want %d", i, n, step.page, step.wantPages)
			}
		}
	})

	t.Run("Server-Timing on a miss and a hit", func(t *testing.T) {
		resp, body := get(t, "GET", "/products", nil)
		if resp.StatusCode != 200 || body != "products" {
			t.Fatalf("GET /products: %d %q", resp.StatusCode, body)
		}
		// The origin's own metric follows the upstream ones on a miss.
		serverTiming(t, resp, `cdn-upstream-layer;desc="EDGE",cdn-upstream-dns;dur=0,cdn-upstream-connect;dur=`)
		if v := resp.Header.Get("Server-Timing"); !strings.Contains(v, ",db;dur=7,cdn-cache-miss,") {
			t.Errorf("miss: Server-Timing %q, want the origin's db;dur=7 before cdn-cache-miss", v)
		}
		resp, _ = get(t, "GET", "/products", nil)
		serverTiming(t, resp, "cdn-cache-hit,")
		if v := resp.Header.Get("Server-Timing"); strings.Contains(v, "db;dur") || !strings.Contains(v, `cdn-hit-layer;desc="EDGE"`) {
			t.Errorf("hit: Server-Timing %q, want the edge's metrics alone", v)
		}
	})

	t.Run("CORS", func(t *testing.T) {
		for _, tt := range []struct {
			name, method, origin, requestMethod string
			wantStatus                          int
			want                                map[string]string // "" for absent
		}{
			{"allowed origin", "GET", appOrigin, "", 200, map[string]string{
				"Access-Control-Allow-Origin": appOrigin, "Access-Control-Allow-Credentials": "true",
				"Access-Control-Expose-Headers": "Server-Timing", "Access-Control-Allow-Methods": "", "Access-Control-Max-Age": "",
			}},
			{"other origin", "GET", "https://evil.example.net", "", 200, map[string]string{
				"Access-Control-Allow-Origin": "", "Access-Control-Allow-Credentials": "",
			}},
			{"preflight, answered by the origin", "OPTIONS", appOrigin, "POST", 204, map[string]string{
				"Access-Control-Allow-Origin": appOrigin, "Access-Control-Allow-Methods": "GET, POST",
				"Access-Control-Allow-Headers": "X-Token", "Access-Control-Max-Age": "600",
			}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				before := app.count(tt.method, "/products")
				header := map[string]string{"Origin": tt.origin}
				if tt.requestMethod != "" {
					header["Access-Control-Request-Method"] = tt.requestMethod
				}
				resp, _ := get(t, tt.method, "/products", header)
				if resp.StatusCode != tt.wantStatus {
					t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
				}
				for name, want := range tt.want {
					if got := resp.Header.Get(name); got != want {
						t.Errorf("%s %q, want %q", name, got, want)
					}
				}
				if tt.method == "OPTIONS" && app.count("OPTIONS", "/products") != before+1 {
					t.Errorf("the preflight did not reach the origin")
				}
			})
		}
	})

	t.Run("preflight on a behaviour without OPTIONS", func(t *testing.T) {
		// /errors/* allows GET and HEAD: the edge refuses the preflight
		// before the cache or the policy see it.
		resp, _ := get(t, "OPTIONS", "/errors/404.html", map[string]string{"Origin": appOrigin, "Access-Control-Request-Method": "GET"})
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" || pages.count("OPTIONS", "/errors/404.html") != 0 {
			t.Errorf("%d, Access-Control-Allow-Origin %q; want 403 without CORS headers, and no origin request", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	})

	t.Run("CloudFront headers computed by the edge", func(t *testing.T) {
		get(t, "GET", "/headers", map[string]string{
			"CloudFront-Viewer-Country":   "CH",
			"CloudFront-Is-Mobile-Viewer": "true",
		})
		h := app.lastFor(t, "/headers").Header
		for name, want := range map[string]string{
			"Cloudfront-Forwarded-Proto":     "https",
			"Cloudfront-Viewer-Http-Version": "2.0",
			"Cloudfront-Is-Desktop-Viewer":   "true",
			"Cloudfront-Is-Mobile-Viewer":    "false",
			"Cloudfront-Viewer-Country":      "", // no geolocation database
		} {
			if got := strings.Join(h.Values(name), ","); got != want {
				t.Errorf("origin got %s %q, want %q", name, got, want)
			}
		}
		if a := h.Get("Cloudfront-Viewer-Address"); !strings.HasPrefix(a, "127.0.0.1:") {
			t.Errorf("origin got CloudFront-Viewer-Address %q, want 127.0.0.1:port", a)
		}
		if v := h.Get("Cloudfront-Viewer-Tls"); !strings.HasPrefix(v, "TLSv1.3:TLS_") {
			t.Errorf("origin got CloudFront-Viewer-TLS %q, want TLSv1.3:<suite>:<handshake>", v)
		}
	})
}
