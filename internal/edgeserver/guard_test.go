package edgeserver

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// runGuard feeds input to a guardConn, chunk bytes per write (all at once
// if chunk is 0), and returns everything the guard hands out until it ends
// the stream, and the guard.
func runGuard(t testing.TB, input []byte, chunk int) ([]byte, *guardConn) {
	t.Helper()
	viewer, server := net.Pipe()
	lim := (&Server{}).limits()
	g := newGuardConn(server, lim)
	go func() {
		defer viewer.Close()
		for rest := input; len(rest) > 0; {
			n := len(rest)
			if chunk > 0 {
				n = min(n, chunk)
			}
			if _, err := viewer.Write(rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
		}
	}()
	server.SetDeadline(time.Now().Add(10 * time.Second))
	var out bytes.Buffer
	buf := make([]byte, 512)
	for {
		n, err := g.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	server.Close()
	return out.Bytes(), g
}

// FuzzGuard checks the request-head guard on arbitrary byte streams: it
// hands out the same bytes however the stream is split, and net/http,
// reading what it hands out, never finds more requests than the guard
// accepted (plus the stand-in for a refused head).
func FuzzGuard(f *testing.F) {
	for _, c := range rawCases {
		f.Add([]byte(c.raw))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		whole, g := runGuard(t, input, 0)
		split, _ := runGuard(t, input, 1)
		if !bytes.Equal(whole, split) {
			t.Fatalf("the guard hands out %q at once but %q byte by byte", whole, split)
		}
		br := bufio.NewReader(bytes.NewReader(whole))
		parsed, refused := 0, false
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				break
			}
			if req.RequestURI == "*" && req.Host == "refused.portico.invalid" {
				refused = true
				break
			}
			if _, err := io.Copy(io.Discard, req.Body); err != nil {
				break
			}
			parsed++
		}
		if parsed > g.requests {
			t.Fatalf("net/http read %d requests, the guard accepted %d, from %q", parsed, g.requests, input)
		}
		if refused != (g.refusal.Load() != nil) {
			t.Fatalf("stand-in read %v, refusal %v, from %q", refused, g.refusal.Load(), input)
		}
	})
}

// testConnKey is the context key of the connection in TestGuardPassesUpgrades.
type testConnKey struct{}

// TestGuardPassesUpgrades hijacks a connection after an upgrade request:
// bytes the viewer sends after it, even ones that are no valid HTTP,
// reach the handler unexamined. A refused upgrade resumes parsing.
func TestGuardPassesUpgrades(t *testing.T) {
	s := &Server{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &responseWriter{ResponseWriter: w, p: &pipeline{}}
		if r.URL.Path != "/upgrade" {
			w.Write([]byte("not upgraded"))
			if g := guardOf(r.Context().Value(testConnKey{}).(net.Conn)); g != nil {
				defer g.upgradeDone()
			}
			return
		}
		c, brw, err := rw.Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		line, _ := brw.ReadString('\n')
		io.WriteString(c, "echo: "+line)
	}), ConnContext: func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, testConnKey{}, c)
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(s.Listener(ln))
	t.Cleanup(func() { srv.Close() })

	c := dialRaw(t, "", ln.Addr().String())
	// Refused: the next request is parsed as usual.
	io.WriteString(c, "GET /no HTTP/1.1\r\nHost: a.example\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "not upgraded" {
		t.Fatalf("refused upgrade: %d %q", resp.StatusCode, b)
	}
	io.WriteString(c, "GET /upgrade HTTP/1.1\r\nHost: a.example\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n\x00not HTTP\r\n")
	resp, err = http.ReadResponse(c.br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v, %v", resp, err)
	}
	line, err := c.br.ReadString('\n')
	if err != nil || line != "echo: \x00not HTTP\r\n" {
		t.Errorf("after the upgrade the handler got %q, %v", line, err)
	}
}
