package origin_test

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// largeBody is the size of the large upload and download: 50 MiB.
const largeBody = 50 << 20

// pattern is the content of large bodies, repeated: random, so that no
// layer can compress it.
var pattern = func() []byte {
	b := make([]byte, 64<<10)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

// writeLarge writes n bytes of pattern to w, calling mid once after the
// first MiB, and returns the SHA-256 of what it wrote.
func writeLarge(w io.Writer, n int, mid func() error) (string, error) {
	h := sha256.New()
	for written := 0; written < n; {
		chunk := pattern[:min(len(pattern), n-written)]
		if _, err := w.Write(chunk); err != nil {
			return "", err
		}
		h.Write(chunk)
		if written < 1<<20 && written+len(chunk) >= 1<<20 && mid != nil {
			if err := mid(); err != nil {
				return "", err
			}
		}
		written += len(chunk)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// errBuffered is what a large-body test reports when one end saw nothing
// of the body before the other end had sent a whole MiB of it.
var errBuffered = errors.New("the other end saw nothing of the first MiB: the body was buffered")

// await waits for ch, with a watchdog.
func await(ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-time.After(20 * time.Second): // a watchdog, not a speed check
		return errBuffered
	}
}

// TestLargeBodiesStream checks that a 50 MiB upload reaches the origin, and
// a 50 MiB download the viewer, while the other end is still sending, and
// arrive whole: the writer of each body stops after the first MiB until
// the reader has seen a byte, which it could not if Portico held the body.
func TestLargeBodiesStream(t *testing.T) {
	ca := newTestCA(t)
	originSaw := make(chan struct{})  // the origin has read upload bytes
	viewerSaw := make(chan struct{})  // the viewer has read download bytes
	originSum := make(chan string, 1) // the SHA-256 of the download
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case "POST":
			var first [1]byte
			if _, err := io.ReadFull(r.Body, first[:]); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			close(originSaw)
			h := sha256.New()
			h.Write(first[:])
			n, err := io.Copy(h, r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			fmt.Fprintf(w, "%d %x", n+1, h.Sum(nil))
		case "GET":
			w.Header().Set("Content-Length", strconv.Itoa(largeBody))
			sum, err := writeLarge(w, largeBody, func() error {
				http.NewResponseController(w).Flush()
				return await(viewerSaw)
			})
			if err != nil {
				panic(http.ErrAbortHandler)
			}
			originSum <- sum
		}
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, originDomain)}}
	srv.Config.ErrorLog = quiet
	srv.StartTLS()
	t.Cleanup(srv.Close)
	e := newProxyEdge(t, ca, srv.Listener.Addr().String(), originConfig(), behavior(forwarded(false, nil)))

	t.Run("50 MiB upload", func(t *testing.T) {
		pr, pw := io.Pipe()
		sent := make(chan string, 1)
		go func() {
			sum, err := writeLarge(pw, largeBody, func() error { return await(originSaw) })
			pw.CloseWithError(err)
			sent <- sum
		}()
		req := newRequest(t, "POST", e.URL+"/upload", nil)
		req.Body, req.ContentLength = pr, largeBody
		resp, body := do(t, req)
		if want := fmt.Sprintf("%d %s", largeBody, <-sent); resp.StatusCode != 200 || string(body) != want {
			t.Errorf("origin answered %d %q, want 200 %q", resp.StatusCode, body, want)
		}
	})

	t.Run("50 MiB download", func(t *testing.T) {
		resp, err := viewer.RoundTrip(newRequest(t, "GET", e.URL+"/download", nil))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var first [1]byte
		if _, err := io.ReadFull(resp.Body, first[:]); err != nil {
			t.Fatal(err)
		}
		close(viewerSaw)
		h := sha256.New()
		h.Write(first[:])
		n, err := io.Copy(h, resp.Body)
		if err != nil {
			t.Fatalf("after %d bytes: %v", n+1, err)
		}
		if got, want := hex.EncodeToString(h.Sum(nil)), <-originSum; n+1 != largeBody || got != want {
			t.Errorf("viewer got %d bytes with SHA-256 %s, want %d with %s", n+1, got, largeBody, want)
		}
	})
}
