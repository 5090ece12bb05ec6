package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

// handshakeCommand is the harness's own load generator for the TLS
// handshake cases, run as `harness handshakes ...` on the load core.
//
// Neither wrk nor h2load can keep up a steady load of full handshakes: both
// resume the previous TLS session when they reconnect (nginx logs
// $ssl_session_reused "r" for 85–90% of their Connection: close requests),
// and h2load's one-request-per-client mode opens every connection at once.
// Here each worker loops: a new TCP connection, a full TLS 1.3 handshake
// (the client keeps no session cache, so it never resumes, and it offers
// the X25519 key share only, as OpenSSL 3.0 clients do), one GET with
// Connection: close, the response read to its end. It prints the same
// BENCH-RESULT line as bench/wrk.lua.
func handshakeCommand(args []string) error {
	fs := flag.NewFlagSet("harness handshakes", flag.ContinueOnError)
	connect := fs.String("connect", "", "`address` to connect to")
	host := fs.String("host", "", "Host and SNI, host[:port]")
	path := fs.String("path", "/", "request `path`")
	workers := fs.Int("c", 50, "concurrent connections")
	d := fs.Duration("d", 7*time.Second, "`duration`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	out, err := runHandshakes(*connect, *host, *path, *workers, *d)
	if err != nil {
		return err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	fmt.Printf("BENCH-RESULT %s\n", b)
	return nil
}

// runHandshakes applies the handshake load to connect for d with workers
// concurrent connections, each request for path with Host and SNI host.
func runHandshakes(connect, host, path string, workers int, d time.Duration) (resultLine, error) {
	if connect == "" || host == "" {
		return resultLine{}, errors.New("-connect and -host are required")
	}
	sni, _, err := net.SplitHostPort(host)
	if err != nil {
		sni = host
	}
	cfg := &tls.Config{
		ServerName: sni,
		// The setup check verified every certificate; the load measures
		// the server's side of the handshake.
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS13,
		CurvePreferences:   []tls.CurveID{tls.X25519},
		NextProtos:         []string{"http/1.1"},
	}
	request := []byte("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" +
		keyHeader + ": en-US\r\nConnection: close\r\n\r\n")

	start := time.Now()
	end := start.Add(d)
	ctx, cancel := context.WithDeadline(context.Background(), end)
	defer cancel()
	var (
		mu     sync.Mutex
		lat    []float64 // µs
		errs   errorCounts
		copied int64
	)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var mine []float64
			var e errorCounts
			var bytes int64
			for time.Now().Before(end) {
				t0 := time.Now()
				n, err := oneHandshake(ctx, connect, cfg, request)
				if !time.Now().Before(end) {
					break // cut short by the end of the run: not counted
				}
				bytes += n
				e.add(err)
				if err == nil {
					mine = append(mine, float64(time.Since(t0).Microseconds()))
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs.addAll(e)
			copied += bytes
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	out := resultLine{
		Requests: int64(len(lat)) + errs.status, DurationUS: elapsed.Microseconds(), Bytes: copied,
		ConnectErrors: errs.connect, ReadErrors: errs.read, StatusErrors: errs.status,
	}
	if len(lat) > 0 {
		out.P50US, out.P99US = int64(percentile(lat, 50)), int64(percentile(lat, 99))
	}
	return out, nil
}

// Kinds of failed requests of the handshake load.
var (
	errConnect = errors.New("connect")
	errStatus  = errors.New("status")
)

type errorCounts struct{ connect, read, status int64 }

func (c *errorCounts) add(err error) {
	switch {
	case err == nil:
	case errors.Is(err, errConnect):
		c.connect++
	case errors.Is(err, errStatus):
		c.status++
	default:
		c.read++
	}
}

func (c *errorCounts) addAll(o errorCounts) {
	c.connect += o.connect
	c.read += o.read
	c.status += o.status
}

// oneHandshake makes one request on a new connection with a full TLS
// handshake and returns the size of the response body.
func oneHandshake(ctx context.Context, addr string, cfg *tls.Config, request []byte) (int64, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errConnect, err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		return 0, fmt.Errorf("%w: handshake: %w", errConnect, err)
	}
	if conn.ConnectionState().DidResume {
		return 0, fmt.Errorf("%w: the session was resumed", errConnect)
	}
	if _, err := conn.Write(request); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return n, err
	}
	if resp.StatusCode != http.StatusOK {
		return n, fmt.Errorf("%w: %s", errStatus, resp.Status)
	}
	return n, nil
}

// runHandshakeCommand is main for `harness handshakes`.
func runHandshakeCommand(args []string) {
	if err := handshakeCommand(args); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "harness handshakes:", err)
		os.Exit(2)
	}
}
