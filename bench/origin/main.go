// Command origin is the benchmark's origin server: the one upstream that
// Portico, nginx, Varnish and HAProxy all fetch from in bench/run.
//
// It serves fixed bodies over HTTPS (for the proxies that reach origins
// over TLS, as Portico always does) and over plain HTTP (for Varnish, which
// has no TLS to backends), HTTP/1.1 only, as proxies speak to origins:
//
//	/1k, /100k      1 KiB and 100 KiB, Cache-Control: public, max-age=3600
//	/z/<n>          1 KiB, cacheable as above: the keys of the Zipf case
//	/nostore        1 KiB, Cache-Control: no-store (the MISS case)
//	/__bench/stats  {"requests":N}: requests served so far, this one excluded
//
// Anything else is 404. The request counter tells the harness how many
// requests reached the origin, so that it can check that a proxy caches
// and measure hit ratios.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	httpAddr := flag.String("http", "127.0.0.1:19001", "`address` of the plain-HTTP listener")
	httpsAddr := flag.String("https", "127.0.0.1:19002", "`address` of the HTTPS listener")
	certFile := flag.String("cert", "", "PEM `file` of the HTTPS certificate chain")
	keyFile := flag.String("key", "", "PEM `file` of the HTTPS private key")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *httpAddr, *httpsAddr, *certFile, *keyFile, log); err != nil {
		log.Error("origin: " + err.Error())
		os.Exit(1)
	}
}

func run(ctx context.Context, httpAddr, httpsAddr, certFile, keyFile string, log *slog.Logger) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("loading the certificate: %w", err)
	}
	httpLn, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return err
	}
	httpsLn, err := net.Listen("tcp", httpsAddr)
	if err != nil {
		httpLn.Close()
		return err
	}
	h := newHandler()
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	servers := []*http.Server{
		{Handler: h, Protocols: &protocols, ReadHeaderTimeout: 10 * time.Second},
		{Handler: h, Protocols: &protocols, ReadHeaderTimeout: 10 * time.Second,
			TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}},
	}
	errc := make(chan error, 2)
	go func() { errc <- servers[0].Serve(httpLn) }()
	go func() { errc <- servers[1].ServeTLS(httpsLn, "", "") }()
	log.Info("listening", "http", httpLn.Addr().String(), "https", httpsLn.Addr().String())

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() { s.Shutdown(shutdownCtx) })
	}
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Response header values, shared by every response and never modified.
var (
	cacheable   = []string{"public, max-age=3600"}
	noStore     = []string{"no-store"}
	textPlain   = []string{"text/plain; charset=utf-8"}
	jsonContent = []string{"application/json"}
)

// handler serves the origin's paths and counts the requests it serves.
type handler struct {
	small, large []byte
	smallLen     []string // Content-Length of small
	largeLen     []string
	requests     atomic.Int64
}

func newHandler() *handler {
	h := &handler{small: body(1 << 10), large: body(100 << 10)}
	h.smallLen = []string{strconv.Itoa(len(h.small))}
	h.largeLen = []string{strconv.Itoa(len(h.large))}
	return h
}

// body returns n bytes of printable text.
func body(n int) []byte {
	line := []byte("Portico benchmark origin body: the quick brown fox jumps over the lazy dog.\n")
	return bytes.Repeat(line, n/len(line)+1)[:n]
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/__bench/stats" {
		w.Header()["Content-Type"] = jsonContent
		fmt.Fprintf(w, "{\"requests\":%d}\n", h.requests.Load())
		return
	}
	h.requests.Add(1)
	var b []byte
	var length, cc []string
	switch p := r.URL.Path; {
	case p == "/1k" || strings.HasPrefix(p, "/z/"):
		b, length, cc = h.small, h.smallLen, cacheable
	case p == "/100k":
		b, length, cc = h.large, h.largeLen, cacheable
	case p == "/nostore":
		b, length, cc = h.small, h.smallLen, noStore
	default:
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd["Content-Type"] = textPlain
	hd["Content-Length"] = length
	hd["Cache-Control"] = cc
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}
