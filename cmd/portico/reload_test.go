package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/portico-edge/portico/internal/testpki"
)

// secondDomain is the alias of the second distribution of the restart and
// reload tests.
const secondDomain = "b.example.com"

// edgeFixture is a running portico with an HTTPS origin it trusts and a
// viewer certificate for customDomain and secondDomain imported into ACM.
type edgeFixture struct {
	p        *server
	args     []string // what the process was started with
	env      []string
	dataDir  string
	cf       *cloudfront.Client
	viewerCA *testpki.CA
	certARN  string
	origin   *httptest.Server
}

// newEdgeFixture starts an origin serving handler for originDomain, and
// portico with extra arguments.
func newEdgeFixture(t *testing.T, handler http.Handler, extra ...string) *edgeFixture {
	t.Helper()
	originCA, viewerCA := testpki.NewCA(t, "origin CA"), testpki.NewCA(t, "viewer CA")
	origin := httptest.NewUnstartedServer(handler)
	origin.TLS = &tls.Config{Certificates: []tls.Certificate{*originCA.Issue(t, []string{originDomain}, testpki.Serial(2)).TLSCertificate(t)}}
	origin.StartTLS()
	t.Cleanup(origin.Close)

	dir := t.TempDir()
	caFile := filepath.Join(dir, "origin-ca.pem")
	if err := os.WriteFile(caFile, originCA.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	f := &edgeFixture{
		env:      []string{"PORTICO_ACCESS_KEY_ID=" + accessKeyID, "PORTICO_SECRET_ACCESS_KEY=" + secretKey},
		args:     append([]string{"--origin-ca", caFile, "--origin-resolve", originDomain + "=127.0.0.1"}, extra...),
		dataDir:  filepath.Join(dir, "data"),
		viewerCA: viewerCA,
		origin:   origin,
	}
	f.p = startPortico(t, f.dataDir, f.env, f.args...)
	var certs *acm.Client
	f.cf, certs = clients(f.p.api)
	leaf := viewerCA.Issue(t, []string{customDomain, secondDomain}, testpki.Serial(10))
	imported := must(certs.ImportCertificate(context.Background(), &acm.ImportCertificateInput{
		Certificate: leaf.CertPEM, PrivateKey: leaf.KeyPEM, CertificateChain: leaf.ChainPEM,
	}))(t)
	f.certARN = aws.ToString(imported.CertificateArn)
	return f
}

// create creates the seed distribution under alias, waits until it is
// Deployed, and returns its ID.
func (f *edgeFixture) create(t *testing.T, alias string) string {
	t.Helper()
	ctx := context.Background()
	cfg := seedConfig("ref-"+alias, f.certARN, f.origin.Listener.Addr().(*net.TCPAddr).Port)
	cfg.Aliases.Items = []string{alias}
	out := must(f.cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: cfg}))(t)
	id := aws.ToString(out.Distribution.Id)
	w := cloudfront.NewDistributionDeployedWaiter(f.cf, func(o *cloudfront.DistributionDeployedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
	})
	if err := w.Wait(ctx, &cloudfront.GetDistributionInput{Id: aws.String(id)}, 30*time.Second); err != nil {
		t.Fatalf("waiting for %s to be Deployed: %v", alias, err)
	}
	return id
}

// reloadOrigin is the origin of TestConfigurationChangesKeepConnections:
// a WebSocket echo at /ws, a slow download at /slow that streams until
// finish is closed, and /version, which answers the x-config-version header
// that the distribution adds.
type reloadOrigin struct {
	finish chan struct{}
	sent   atomic.Int64 // bytes of /slow written, once it has ended
}

// slowChunk is chunk i of /slow: 1 KiB of one letter.
func slowChunk(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 1024) }

func (o *reloadOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/version":
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, r.Header.Get("x-config-version"))
	case "/slow":
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "application/octet-stream")
		rc := http.NewResponseController(w)
		var n int64
		defer func() { o.sent.Store(n) }()
		// Streams until finish, then three more chunks.
		tail := -1
		for i := 0; tail != 0; i++ {
			written, err := w.Write(slowChunk(i))
			n += int64(written)
			if err != nil || rc.Flush() != nil {
				return
			}
			select {
			case <-o.finish:
				if tail < 0 {
					tail = 3
				}
				tail--
			default:
			}
			time.Sleep(20 * time.Millisecond)
		}
	case "/ws":
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "not a WebSocket", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			websocketAccept(r.Header.Get("Sec-WebSocket-Key")))
		if brw.Flush() != nil {
			return
		}
		// Echoes every line: the edge passes the upgraded bytes through
		// unexamined, so framing would add nothing to this test.
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			if _, err := io.WriteString(brw, "echo "+line); err != nil || brw.Flush() != nil {
				return
			}
		}
	default:
		http.NotFound(w, r)
	}
}

// websocketAccept is the Sec-WebSocket-Accept for key (RFC 6455 §4.2.2).
func websocketAccept(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestConfigurationChangesKeepConnections proves that changing the
// configuration never drops a connection: a WebSocket and a slow download
// stay open on one distribution while another is updated 100 times through
// the API, both complete intact, and the last change is served.
func TestConfigurationChangesKeepConnections(t *testing.T) {
	ctx := context.Background()
	o := &reloadOrigin{finish: make(chan struct{})}
	f := newEdgeFixture(t, o)
	f.create(t, customDomain)
	idB := f.create(t, secondDomain)
	https := viewer(f.p.https, f.viewerCA.Pool())

	// The WebSocket on A, over HTTP/1.1.
	raw, err := tls.Dial("tcp", f.p.https, &tls.Config{ServerName: customDomain, RootCAs: f.viewerCA.Pool(), NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ws := bufio.NewReader(raw)
	fmt.Fprintf(raw, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", customDomain)
	resp, err := http.ReadResponse(ws, nil)
	if err != nil {
		t.Fatalf("WebSocket handshake: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != websocketAccept("dGhlIHNhbXBsZSBub25jZQ==") {
		t.Fatalf("WebSocket handshake: %s, accept %q", resp.Status, resp.Header.Get("Sec-WebSocket-Accept"))
	}
	echo := func(i int) error {
		if _, err := fmt.Fprintf(raw, "ping %d\n", i); err != nil {
			return err
		}
		line, err := ws.ReadString('\n')
		if err != nil {
			return err
		}
		if want := fmt.Sprintf("echo ping %d\n", i); line != want {
			return fmt.Errorf("got %q, want %q", line, want)
		}
		return nil
	}
	if err := echo(0); err != nil {
		t.Fatalf("WebSocket echo before the updates: %v", err)
	}

	// The slow download on A.
	dl := must(https.Get("https://" + customDomain + "/slow"))(t)
	defer dl.Body.Close()
	if dl.StatusCode != http.StatusOK {
		t.Fatalf("GET /slow: %s", dl.Status)
	}
	type download struct {
		n   int64
		err error
	}
	downloaded := make(chan download, 1)
	go func() {
		var n int64
		buf := make([]byte, 1024)
		for i := 0; ; i++ {
			k, err := io.ReadFull(dl.Body, buf)
			n += int64(k)
			if err == io.EOF {
				downloaded <- download{n, nil}
				return
			}
			if err != nil {
				downloaded <- download{n, err}
				return
			}
			if !bytes.Equal(buf, slowChunk(i)) {
				downloaded <- download{n, fmt.Errorf("chunk %d corrupted", i)}
				return
			}
		}
	}()

	// 100 updates of B, each through If-Match; the WebSocket carries a
	// message after every one.
	got := must(f.cf.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: aws.String(idB)}))(t)
	cfg, etag := got.DistributionConfig, got.ETag
	const updates = 100
	for i := 1; i <= updates; i++ {
		cfg.Comment = aws.String("update " + strconv.Itoa(i))
		cfg.DefaultCacheBehavior.DefaultTTL = aws.Int64(int64(60 + i))
		cfg.Origins.Items[0].CustomHeaders = &cftypes.CustomHeaders{Quantity: aws.Int32(1), Items: []cftypes.OriginCustomHeader{
			{HeaderName: aws.String("x-config-version"), HeaderValue: aws.String(strconv.Itoa(i))},
		}}
		out, err := f.cf.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{Id: aws.String(idB), IfMatch: etag, DistributionConfig: cfg})
		if err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		etag = out.ETag
		if err := echo(i); err != nil {
			t.Fatalf("WebSocket echo after update %d: %v", i, err)
		}
	}

	// B serves the last change.
	err = retry(15*time.Second, func() error {
		resp, err := https.Get("https://" + secondDomain + "/version")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != strconv.Itoa(updates) {
			return fmt.Errorf("GET /version on B: %s %q, want 200 %q", resp.Status, body, strconv.Itoa(updates))
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}

	// Both connections of A are still whole.
	if err := echo(updates + 1); err != nil {
		t.Errorf("WebSocket echo after the updates: %v", err)
	}
	close(o.finish)
	select {
	case d := <-downloaded:
		if d.err != nil {
			t.Errorf("slow download: %v after %d bytes", d.err, d.n)
		} else if sent := o.sent.Load(); d.n != sent || d.n < 10*1024 {
			t.Errorf("slow download: %d bytes received, origin sent %d", d.n, sent)
		} else {
			t.Logf("slow download: %d bytes across %d updates", d.n, updates)
		}
	case <-time.After(20 * time.Second):
		t.Error("slow download did not end")
	}
}
