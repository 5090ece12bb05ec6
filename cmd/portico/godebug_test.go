package main

import (
	"crypto/tls"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// TestExtendedConnectWithGODEBUG checks that serve turns HTTP/2 extended
// CONNECT (WebSockets over HTTP/2) on whatever GODEBUG the environment
// holds, keeping its settings, and leaves it off when told to. (serve
// re-executes itself to set it: with a GODEBUG already in the
// environment, it used to re-execute itself without end.)
func TestExtendedConnectWithGODEBUG(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		godebug string
		want    bool
	}{
		{"", true},
		{"GODEBUG=gctrace=0", true},
		{"GODEBUG=gctrace=0,http2xconnect=0", false},
	} {
		t.Run(tt.godebug, func(t *testing.T) {
			t.Parallel()
			var env []string
			if tt.godebug != "" {
				env = append(env, tt.godebug)
			}
			p := startPortico(t, t.TempDir(), env)
			if got := enablesConnectProtocol(t, p.https); got != tt.want {
				t.Errorf("SETTINGS_ENABLE_CONNECT_PROTOCOL = %v, want %v", got, tt.want)
			}
		})
	}
}

// enablesConnectProtocol reports whether the HTTP/2 server at addr
// advertises SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441) in its first
// SETTINGS frame.
func enablesConnectProtocol(t *testing.T, addr string) bool {
	t.Helper()
	// Only the settings are looked at: the edge's own certificate is not
	// what this test is about.
	conn, err := tls.Dial("tcp", addr, &tls.Config{NextProtos: []string{"h2"}, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN chose %q, want h2", p)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		t.Fatalf("first frame %v, want the server's SETTINGS", f)
	}
	v, ok := sf.Value(http2.SettingEnableConnectProtocol)
	return ok && v == 1
}
