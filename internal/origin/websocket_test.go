package origin_test

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-edge/portico"
)

// acceptFor is the Sec-WebSocket-Accept for key (RFC 6455 §4.2.2).
func acceptFor(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// newWebSocketOrigin starts an origin that accepts WebSocket upgrades and
// then speaks a line protocol: it answers "echo <line>" to each line,
// nothing to a line starting "quiet", to "tick N" N lines "tick", a tenth
// of a second apart, and to "flood" as much data as it can send until the
// connection fails. Paths choose a misbehaviour: /refuse answers
// 403, /no-upgrade a plain 200, /bad-accept a 101 with a wrong
// Sec-WebSocket-Accept. ended tells when the upgraded connection of a
// path has ended.
func newWebSocketOrigin(t testing.TB, ca *testCA) (o *testOrigin, ended *endings) {
	t.Helper()
	done := &endings{}
	o = newTestOrigin(t, ca, func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "not an upgrade", http.StatusBadRequest)
			return
		}
		switch r.URL.Path {
		case "/refuse":
			http.Error(w, "no WebSocket for you", http.StatusForbidden)
			return
		case "/no-upgrade":
			io.WriteString(w, "not upgraded")
			return
		}
		accept := acceptFor(r.Header.Get("Sec-Websocket-Key"))
		if r.URL.Path == "/bad-accept" {
			accept = acceptFor("another key")
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer func() {
			c.Close()
			done.end(r.URL.Path)
		}()
		fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n", accept)
		if p, _, ok := strings.Cut(r.Header.Get("Sec-Websocket-Protocol"), ","); ok || p != "" {
			fmt.Fprintf(c, "Sec-WebSocket-Protocol: %s\r\n", strings.TrimSpace(p))
		}
		io.WriteString(c, "\r\n")
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			switch {
			case strings.HasPrefix(line, "quiet"):
			case strings.HasPrefix(line, "flood"):
				junk := []byte(strings.Repeat("flood\n", 5000))
				for {
					if _, err := c.Write(junk); err != nil {
						return
					}
				}
			case strings.HasPrefix(line, "tick "):
				n, _ := strconv.Atoi(strings.TrimSpace(line[len("tick "):]))
				for range n {
					if _, err := io.WriteString(c, "tick\n"); err != nil {
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
			default:
				if _, err := io.WriteString(c, "echo "+line); err != nil {
					return
				}
			}
		}
	})
	return o, done
}

// openWebSocket sends an HTTP/1.1 upgrade request with the extra header
// lines to the edge at url and returns the connection and the response.
func openWebSocket(t testing.TB, url, path, extra string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second)) // a watchdog, not a speed check
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: login.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n%s\r\n", path, extra)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, br, resp
}

// TestWebSocketUpgradeForwarded checks that a WebSocket upgrade reaches the
// origin with its Upgrade, Connection and Sec-WebSocket-* fields whatever
// the behaviour whitelists, that the origin's 101 reaches the viewer with
// its own, and that other upgrades are not forwarded, as CloudFront's.
func TestWebSocketUpgradeForwarded(t *testing.T) {
	ca := newTestCA(t)
	o, _ := newWebSocketOrigin(t, ca)
	const extra = "Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Extensions: permessage-deflate\r\nOrigin: https://login.example.com\r\n"
	tests := []struct {
		name     string
		behavior *portico.CacheBehavior
	}{
		{"nothing whitelisted", behavior(forwarded(false, nil))},
		{"Origin whitelisted", behavior(forwarded(true, []string{"all"}, "Origin"))},
		{"all headers", behavior(forwarded(true, []string{"all"}, "*"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newProxyEdge(t, ca, o.addr(), originConfig(), tt.behavior)
			c, br, resp := openWebSocket(t, e.URL, "/ws", extra)
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d, want 101", resp.StatusCode)
			}
			if got, want := resp.Header.Get("Sec-Websocket-Accept"), acceptFor("dGhlIHNhbXBsZSBub25jZQ=="); got != want {
				t.Errorf("viewer got Sec-WebSocket-Accept %q, want %q", got, want)
			}
			if got := resp.Header.Get("Sec-Websocket-Protocol"); got != "chat" {
				t.Errorf("viewer got Sec-WebSocket-Protocol %q, want chat", got)
			}
			got := o.last(t).Header
			for name, want := range map[string]string{
				"Upgrade":                  "websocket",
				"Connection":               "Upgrade",
				"Sec-Websocket-Key":        "dGhlIHNhbXBsZSBub25jZQ==",
				"Sec-Websocket-Version":    "13",
				"Sec-Websocket-Protocol":   "chat, superchat",
				"Sec-Websocket-Extensions": "permessage-deflate",
				"Origin":                   "https://login.example.com",
				"Cname-Api-Key":            secret,
			} {
				if v := got.Get(name); v != want {
					t.Errorf("origin got %s %q, want %q", name, v, want)
				}
			}
			io.WriteString(c, "hello\n")
			if line, err := br.ReadString('\n'); err != nil || line != "echo hello\n" {
				t.Errorf("read %q, %v; want the echo", line, err)
			}
		})
	}

	t.Run("other upgrades are not forwarded", func(t *testing.T) {
		e := newProxyEdge(t, ca, o.addr(), originConfig(), behavior(forwarded(false, nil)))
		req := newRequest(t, "GET", e.URL+"/h2c", nil)
		req.Header.Set("Upgrade", "h2c")
		req.Header.Set("Connection", "Upgrade, HTTP2-Settings")
		req.Header.Set("HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA")
		resp, _ := do(t, req)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d, want the origin's 400 for a request without upgrade", resp.StatusCode)
		}
		if h := o.last(t).Header; h.Get("Upgrade") != "" || h.Get("Connection") != "" || h.Get("Http2-Settings") != "" {
			t.Errorf("origin got Upgrade %q, Connection %q, HTTP2-Settings %q", h.Get("Upgrade"), h.Get("Connection"), h.Get("Http2-Settings"))
		}
	})
}

// wsIdleTimeout is the WebSocket idle timeout of the idle tests: longer
// than their origins' read and completion timeouts (1 s), which must not
// apply to a WebSocket.
const wsIdleTimeout = 3 * time.Second

// idleOrigin is an origin config whose read and completion timeouts are
// shorter than wsIdleTimeout.
func idleOrigin() *portico.Origin {
	o := impatient()
	o.ResponseCompletionTimeout = portico.Ptr(1)
	return o
}

// TestWebSocketIdleTimeout checks that a WebSocket with no data in either
// direction for the idle timeout is closed at both ends, that data in
// either direction keeps it open, and that the origin's read and response
// completion timeouts do not apply to it.
func TestWebSocketIdleTimeout(t *testing.T) {
	ca := newTestCA(t)
	o, ended := newWebSocketOrigin(t, ca)
	tr := newTransports(ca, o.addr(), nil)
	tr.WebSocketIdleTimeout = wsIdleTimeout
	p, err := newProxy(idleOrigin(), behavior(forwarded(false, nil)), tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newEdge(t, p)

	const gap = 100 * time.Millisecond // between messages
	talks := int(4 * wsIdleTimeout / 3 / gap)
	echo := func(c net.Conn, br *bufio.Reader) error {
		io.WriteString(c, "ping\n")
		if line, err := br.ReadString('\n'); err != nil || line != "echo ping\n" {
			return fmt.Errorf("read %q, %v; want the echo of an open WebSocket", line, err)
		}
		return nil
	}
	tests := []struct {
		name string
		path string
		run  func(c net.Conn, br *bufio.Reader) error
	}{
		{"silent past the read timeout: open", "/ws/pause", func(c net.Conn, br *bufio.Reader) error {
			time.Sleep(wsIdleTimeout / 2)
			return echo(c, br)
		}},
		{"viewer talks, origin silent: open", "/ws/viewer-talks", func(c net.Conn, br *bufio.Reader) error {
			for range talks {
				io.WriteString(c, "quiet\n")
				time.Sleep(gap)
			}
			return echo(c, br)
		}},
		{"origin talks, viewer silent: open", "/ws/origin-talks", func(c net.Conn, br *bufio.Reader) error {
			fmt.Fprintf(c, "tick %d\n", talks)
			for i := range talks {
				if line, err := br.ReadString('\n'); err != nil || line != "tick\n" {
					return fmt.Errorf("tick %d: read %q, %v", i, line, err)
				}
			}
			return echo(c, br)
		}},
		{"silent both ways: closed at both ends", "/ws/idle", func(c net.Conn, br *bufio.Reader) error {
			if err := echo(c, br); err != nil {
				return err
			}
			// The watchdog deadline of openWebSocket is far beyond the
			// idle timeout: a read error before it is Portico closing.
			if n, err := br.Read(make([]byte, 1)); err != io.EOF {
				return fmt.Errorf("read %d bytes, %v; want the viewer's end closed", n, err)
			}
			return awaitEnd(ended, "/ws/idle")
		}},
		{"viewer stops reading, origin floods: closed at both ends", "/ws/flood", func(c net.Conn, br *bufio.Reader) error {
			// Portico's copying blocks on writing to the viewer: no
			// data flows, and no read is pending to time out.
			io.WriteString(c, "flood\n")
			return awaitEnd(ended, "/ws/flood")
		}},
	}
	// Open every WebSocket, then run the scenarios at once: they mostly
	// wait.
	errs := make([]error, len(tests))
	var wg sync.WaitGroup
	for i, tt := range tests {
		c, br, resp := openWebSocket(t, e.URL, tt.path, "")
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("%s: status %d, want 101", tt.path, resp.StatusCode)
		}
		wg.Go(func() { errs[i] = tt.run(c, br) })
	}
	wg.Wait()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if errs[i] != nil {
				t.Error(errs[i])
			}
		})
	}
}

// endings tells when the origin's end of a WebSocket has closed, by the
// path it was opened on.
type endings struct {
	mu     sync.Mutex
	closed map[string]chan struct{}
}

func (e *endings) of(path string) chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed == nil {
		e.closed = make(map[string]chan struct{})
	}
	ch, ok := e.closed[path]
	if !ok {
		ch = make(chan struct{})
		e.closed[path] = ch
	}
	return ch
}

func (e *endings) end(path string) {
	ch := e.of(path)
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// awaitEnd waits until the origin's end of the WebSocket opened on path
// has closed.
func awaitEnd(ended *endings, path string) error {
	select {
	case <-ended.of(path):
		return nil
	case <-time.After(wsIdleTimeout + 10*time.Second): // a watchdog, not a speed check
		return fmt.Errorf("the origin's end of the WebSocket on %s stayed open", path)
	}
}
