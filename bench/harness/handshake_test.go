package main

import (
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunHandshakes runs the handshake load against a TLS server that
// offers session tickets, as every peer does: every request must come with
// a full handshake, and answers other than 200 count as errors.
func TestRunHandshakes(t *testing.T) {
	p, err := newPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(p.ECDSACert, p.ECDSAKey)
	if err != nil {
		t.Fatal(err)
	}
	var full, resumed, wrongSNI atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS.DidResume {
			resumed.Add(1)
		} else {
			full.Add(1)
		}
		if r.TLS.ServerName != ecdsaHost || r.Host != ecdsaHost+":443" || r.Header.Get(keyHeader) != "en-US" {
			wrongSNI.Add(1)
		}
		if r.URL.Path != "/1k" {
			http.NotFound(w, r)
			return
		}
		w.Write(make([]byte, 1024))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}} // session tickets on
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)             // handshakes cut by the end of a run
	srv.StartTLS()
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	got, err := runHandshakes(addr, ecdsaHost+":443", "/1k", 4, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if got.Requests == 0 || got.ConnectErrors+got.ReadErrors+got.StatusErrors != 0 {
		t.Errorf("runHandshakes = %+v, want requests and no errors", got)
	}
	if got.Bytes != 1024*got.Requests {
		t.Errorf("%d bytes for %d requests, want 1 KiB each", got.Bytes, got.Requests)
	}
	if resumed.Load() != 0 || full.Load() < got.Requests {
		t.Errorf("the server saw %d full and %d resumed handshakes for %d requests, want only full ones",
			full.Load(), resumed.Load(), got.Requests)
	}
	if wrongSNI.Load() != 0 {
		t.Errorf("%d requests had the wrong SNI, Host or %s", wrongSNI.Load(), keyHeader)
	}

	got, err = runHandshakes(addr, ecdsaHost+":443", "/missing", 2, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if got.StatusErrors == 0 || got.StatusErrors != got.Requests {
		t.Errorf("404s: %+v, want every request counted as a status error", got)
	}
}
