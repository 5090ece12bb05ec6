package origin_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2/hpack"

	"github.com/portico-edge/portico/internal/origin"
)

// inChildWithGODEBUG runs the calling test in a child process whose
// GODEBUG adds setting, and reports whether the caller is that child (and
// should run the test). net/http reads http2xconnect from the environment
// alone, once, at start-up, so a test cannot turn it on in its own process.
func inChildWithGODEBUG(t *testing.T, setting string) bool {
	t.Helper()
	if strings.Contains(os.Getenv("GODEBUG"), setting) {
		return true
	}
	godebug := setting
	if prev := os.Getenv("GODEBUG"); prev != "" {
		godebug = prev + "," + setting
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), "GODEBUG="+godebug)
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("%s with GODEBUG=%s: %v\n%s", t.Name(), godebug, err, out)
	}
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, "--- ") {
			t.Logf("GODEBUG=%s: %s", godebug, strings.TrimSpace(line))
		}
	}
	return false
}

// h2Client is the least HTTP/2 client that opens an RFC 8441 WebSocket:
// net/http's client refuses the :protocol pseudo-header. It speaks raw
// frames over TLS, one stream (1) at a time.
type h2Client struct {
	t    testing.TB
	conn *tls.Conn
	br   *bufio.Reader
	dec  *hpack.Decoder
}

// HTTP/2 frame types and flags (RFC 9113 §6).
const (
	frameData         = 0x0
	frameHeaders      = 0x1
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePing         = 0x6
	frameGoAway       = 0x7
	flagEndStream     = 0x1
	flagAck           = 0x1
	flagEndHeaders    = 0x4
	settingEnableConn = 0x8
)

// dialH2 connects to an HTTP/2 server over TLS and exchanges SETTINGS. It
// fails the test unless the server allows extended CONNECT.
func dialH2(t testing.TB, addr string, roots *x509.CertPool) *h2Client {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(20 * time.Second)) // a watchdog, not a speed check
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q, want h2", p)
	}
	c := &h2Client{t: t, conn: conn, br: bufio.NewReader(conn), dec: hpack.NewDecoder(4096, nil)}
	io.WriteString(conn, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	c.write(frameSettings, 0, 0, nil)
	for {
		typ, flags, _, payload := c.read()
		if typ != frameSettings || flags&flagAck != 0 {
			continue
		}
		extended := false
		for i := 0; i+6 <= len(payload); i += 6 {
			if binary.BigEndian.Uint16(payload[i:]) == settingEnableConn && binary.BigEndian.Uint32(payload[i+2:]) == 1 {
				extended = true
			}
		}
		if !extended {
			t.Fatal("the server does not allow extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL)")
		}
		c.write(frameSettings, flagAck, 0, nil)
		return c
	}
}

func (c *h2Client) write(typ, flags byte, stream uint32, payload []byte) {
	c.t.Helper()
	var h [9]byte
	h[0], h[1], h[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	h[3], h[4] = typ, flags
	binary.BigEndian.PutUint32(h[5:], stream)
	if _, err := c.conn.Write(append(h[:], payload...)); err != nil {
		c.t.Fatalf("writing a frame: %v", err)
	}
}

// read returns the next frame, answering PINGs on the way.
func (c *h2Client) read() (typ, flags byte, stream uint32, payload []byte) {
	c.t.Helper()
	for {
		var h [9]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			c.t.Fatalf("reading a frame: %v", err)
		}
		n := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
		payload = make([]byte, n)
		if _, err := io.ReadFull(c.br, payload); err != nil {
			c.t.Fatalf("reading a frame: %v", err)
		}
		typ, flags, stream = h[3], h[4], binary.BigEndian.Uint32(h[5:])&0x7fffffff
		if typ == framePing && flags&flagAck == 0 {
			c.write(framePing, flagAck, 0, payload)
			continue
		}
		if typ == frameGoAway {
			c.t.Fatalf("the server sent GOAWAY: %x", payload)
		}
		return typ, flags, stream, payload
	}
}

// connect sends an extended CONNECT for path on stream 1 and returns the
// response's fields, pseudo-fields (":status") included.
func (c *h2Client) connect(path string, fields ...string) http.Header {
	c.t.Helper()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	all := append([]string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", path,
		":authority", "login.example.com", "sec-websocket-version", "13"}, fields...)
	for i := 0; i < len(all); i += 2 {
		enc.WriteField(hpack.HeaderField{Name: all[i], Value: all[i+1]})
	}
	c.write(frameHeaders, flagEndHeaders, 1, block.Bytes())
	for {
		typ, _, stream, payload := c.read()
		switch {
		case stream != 1:
		case typ == frameRSTStream:
			c.t.Fatalf("the server reset the stream: code %d", binary.BigEndian.Uint32(payload))
		case typ == frameHeaders:
			fs, err := c.dec.DecodeFull(payload)
			if err != nil {
				c.t.Fatal(err)
			}
			h := make(http.Header)
			for _, f := range fs {
				h.Add(f.Name, f.Value)
			}
			return h
		}
	}
}

// send writes data on stream 1.
func (c *h2Client) send(data string) { c.write(frameData, 0, 1, []byte(data)) }

// receive returns the next data on stream 1, or io.EOF once the stream has
// ended (END_STREAM or RST_STREAM).
func (c *h2Client) receive() (string, error) {
	c.t.Helper()
	for {
		typ, flags, stream, payload := c.read()
		switch {
		case stream != 1:
		case typ == frameRSTStream:
			return "", io.EOF
		case typ == frameData && len(payload) > 0:
			return string(payload), nil
		case flags&flagEndStream != 0:
			return "", io.EOF
		}
	}
}

// TestExtendedConnectWebSocket checks that a viewer on HTTP/2 opens a
// WebSocket with an extended CONNECT (RFC 8441): the origin gets an
// HTTP/1.1 upgrade that passed the forwarding rules, with a
// Sec-WebSocket-Key of Portico's whose Accept is checked; the viewer gets a
// 200 and then the bytes both ways. An origin that refuses passes its
// answer on, one that answers 2xx without upgrading or with the wrong
// Accept gives a 502, and an idle WebSocket is closed.
func TestExtendedConnectWebSocket(t *testing.T) {
	if !inChildWithGODEBUG(t, "http2xconnect=1") {
		return
	}
	ca := newTestCA(t)
	o, ended := newWebSocketOrigin(t, ca)
	tr := newTransports(ca, o.addr(), nil)
	tr.WebSocketIdleTimeout = 2 * time.Second // the HTTP/1.1 tests prove it outlasts the other timeouts
	p, err := newProxy(idleOrigin(), behavior(forwarded(true, nil)), tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	edge := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.ServeHTTP(w, r.WithContext(origin.WithRequestInfo(r.Context(), &origin.RequestInfo{ID: requestID})))
	}))
	edge.EnableHTTP2 = true
	edge.Config.ErrorLog = quiet
	edge.StartTLS()
	t.Cleanup(edge.Close)
	roots := x509.NewCertPool()
	roots.AddCert(edge.Certificate())
	addr := edge.Listener.Addr().String()

	t.Run("opens and carries data both ways", func(t *testing.T) {
		c := dialH2(t, addr, roots)
		h := c.connect("/chat?room=1", "sec-websocket-protocol", "chat, superchat", "origin", "https://login.example.com")
		if got := h.Get(":status"); got != "200" {
			t.Fatalf(":status %q, want 200", got)
		}
		if got := h.Get("Sec-Websocket-Protocol"); got != "chat" {
			t.Errorf("viewer got sec-websocket-protocol %q, want chat", got)
		}
		for _, name := range []string{"Sec-Websocket-Accept", "Upgrade", "Connection"} {
			if v, ok := h[name]; ok {
				t.Errorf("viewer got %s %q on HTTP/2", name, v)
			}
		}
		got := o.last(t)
		if got.Method != "GET" || got.Proto != "HTTP/1.1" || got.RequestURI != "/chat?room=1" || got.Host != originDomain {
			t.Errorf("origin got %s %s %s, Host %s; want GET /chat?room=1 HTTP/1.1, Host %s", got.Method, got.RequestURI, got.Proto, got.Host, originDomain)
		}
		for name, want := range map[string]string{
			"Upgrade":                "websocket",
			"Connection":             "Upgrade",
			"Sec-Websocket-Version":  "13",
			"Sec-Websocket-Protocol": "chat, superchat",
			"Origin":                 "https://login.example.com",
			"Cname-Api-Key":          secret,
			"X-Amz-Cf-Id":            requestID,
		} {
			if v := got.Header.Get(name); v != want {
				t.Errorf("origin got %s %q, want %q", name, v, want)
			}
		}
		if key, err := base64.StdEncoding.DecodeString(got.Header.Get("Sec-Websocket-Key")); err != nil || len(key) != 16 {
			t.Errorf("origin got Sec-WebSocket-Key %q, want 16 bytes in base64", got.Header.Get("Sec-Websocket-Key"))
		}
		if _, ok := got.Header[":protocol"]; ok {
			t.Error("origin got the :protocol pseudo-header as a field")
		}
		for _, msg := range []string{"hello\n", "again\n"} {
			c.send(msg)
			var echo string
			for !strings.HasSuffix(echo, "\n") {
				data, err := c.receive()
				if err != nil {
					t.Fatalf("after %q: %v", msg, err)
				}
				echo += data
			}
			if echo != "echo "+msg {
				t.Errorf("received %q, want the echo of %q", echo, msg)
			}
		}
	})

	for _, tt := range []struct {
		path   string
		status string
	}{
		{"/refuse", "403"},
		{"/no-upgrade", "502"},
		{"/bad-accept", "502"},
	} {
		t.Run("origin "+tt.path[1:]+" gives "+tt.status, func(t *testing.T) {
			c := dialH2(t, addr, roots)
			if got := c.connect(tt.path).Get(":status"); got != tt.status {
				t.Errorf(":status %q, want %s", got, tt.status)
			}
		})
	}

	t.Run("idle WebSocket closed at both ends", func(t *testing.T) {
		c := dialH2(t, addr, roots)
		if got := c.connect("/ws/h2-idle").Get(":status"); got != "200" {
			t.Fatalf(":status %q, want 200", got)
		}
		// The client's watchdog is far beyond the idle timeout: an end
		// of stream before it is Portico closing.
		if data, err := c.receive(); !errors.Is(err, io.EOF) {
			t.Fatalf("received %q, %v; want the stream ended", data, err)
		}
		if err := awaitEnd(ended, "/ws/h2-idle"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("viewer stops reading, origin floods: closed at both ends", func(t *testing.T) {
		c := dialH2(t, addr, roots)
		if got := c.connect("/ws/h2-flood").Get(":status"); got != "200" {
			t.Fatalf(":status %q, want 200", got)
		}
		// The client reads nothing more: the stream's flow-control
		// window fills, and Portico's write to it blocks.
		c.send("flood\n")
		if err := awaitEnd(ended, "/ws/h2-flood"); err != nil {
			t.Fatal(err)
		}
	})
}
