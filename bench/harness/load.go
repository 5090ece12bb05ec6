package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// loadCase is one kind of load, run against every target that can take it.
type loadCase struct {
	name  string // short name, in tables and file names
	title string // what it measures
	// tool is the load generator: "wrk" (HTTP/1.1), "h2load" (HTTP/2)
	// or "handshakes" (a new connection and a full TLS handshake per
	// request; see handshakeCommand).
	tool string
	tls  bool   // over the HTTPS listener
	host string // Host and SNI
	path string
	size int // of the response body
	// zipf draws each request's path from the Zipf-distributed list
	// instead of path.
	zipf bool
	// unique gives every request a query string of its own, so that no
	// proxy collapses them (nginx's proxy_cache_lock, for one, would make
	// concurrent requests for one uncacheable URL wait in 500 ms steps).
	unique bool
}

// cases are the benchmark's loads, in the order they run in each round.
var cases = []loadCase{
	{name: "hit-1k", title: "HIT 1 KiB, HTTP/1.1 keep-alive", tool: "wrk", host: benchHost, path: "/1k", size: 1 << 10},
	{name: "hit-100k", title: "HIT 100 KiB, HTTP/1.1 keep-alive", tool: "wrk", host: benchHost, path: "/100k", size: 100 << 10},
	{name: "hit-1k-h2", title: "HIT 1 KiB, TLS 1.3 + HTTP/2", tool: "h2load", tls: true, host: benchHost, path: "/1k", size: 1 << 10},
	{name: "miss", title: "MISS (no-store, unique URLs), HTTP/1.1", tool: "wrk", host: benchHost, path: "/nostore", size: 1 << 10, unique: true},
	{name: "tls-ecdsa", title: "TLS 1.3 full handshake per request, ECDSA P-256", tool: "handshakes", tls: true, host: ecdsaHost, path: "/1k", size: 1 << 10},
	{name: "tls-rsa", title: "TLS 1.3 full handshake per request, RSA-2048", tool: "handshakes", tls: true, host: rsaHost, path: "/1k", size: 1 << 10},
	{name: "zipf", title: "Zipf keys > memory tier, HTTP/1.1 keep-alive", tool: "wrk", host: benchHost, size: 1 << 10, zipf: true},
}

// result is what one load run measured.
type result struct {
	Requests   int64   `json:"requests"`
	Seconds    float64 `json:"seconds"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	Errors     int64   `json:"errors"`
	ErrorsText string  `json:"errors_detail,omitempty"`
}

// loadGen runs the load generators, pinned to the load core.
type loadGen struct {
	cpu         int    // -1: not pinned
	connections int    // concurrent connections
	streams     int    // HTTP/2 streams per connection
	lua         string // bench/wrk.lua
	zipfPaths   string // file of the Zipf case's paths
	work        string // for h2load's request log
}

// run applies case c to the listener at addr for d.
func (g *loadGen) run(ctx context.Context, c loadCase, addr string, d time.Duration) (result, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return result{}, err
	}
	scheme := "http"
	if c.tls {
		scheme = "https"
	}
	url := scheme + "://" + net.JoinHostPort(c.host, port) + c.path
	if c.zipf {
		url = scheme + "://" + net.JoinHostPort(c.host, port) + "/"
	}
	switch c.tool {
	case "wrk":
		return g.wrk(ctx, c, host, url, d)
	case "h2load":
		return g.h2load(ctx, c, addr, url, d)
	case "handshakes":
		return g.handshakes(ctx, c, addr, d)
	}
	return result{}, fmt.Errorf("unknown load tool %q", c.tool)
}

func (g *loadGen) command(ctx context.Context, env []string, argv ...string) *exec.Cmd {
	if g.cpu >= 0 {
		argv = append([]string{"taskset", "-c", strconv.Itoa(g.cpu)}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

func (g *loadGen) wrk(ctx context.Context, c loadCase, connect, url string, d time.Duration) (result, error) {
	// BENCH_RUN makes each run's unique URLs its own, and starts each
	// run at another place in the Zipf sequence.
	env := []string{"BENCH_CONNECT=" + connect, "BENCH_RUN=" + strconv.FormatInt(time.Now().UnixNano()/1e3, 10)}
	if c.zipf {
		env = append(env, "BENCH_PATHS="+g.zipfPaths)
	}
	if c.unique {
		env = append(env, "BENCH_UNIQUE=1")
	}
	args := []string{"wrk", "-t1", "-c" + strconv.Itoa(g.connections), "-d" + seconds(d), "--timeout", "10s",
		"-s", g.lua, "-H", keyHeader + ": en-US"}
	out, err := g.command(ctx, env, append(args, url)...).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	return parseWrk(out)
}

// resultLine is the BENCH-RESULT line that bench/wrk.lua's done() and
// `harness handshakes` print.
type resultLine struct {
	Requests      int64 `json:"requests"`
	DurationUS    int64 `json:"duration_us"`
	Bytes         int64 `json:"bytes"`
	ConnectErrors int64 `json:"connect_errors"`
	ReadErrors    int64 `json:"read_errors"`
	WriteErrors   int64 `json:"write_errors"`
	StatusErrors  int64 `json:"status_errors"`
	Timeouts      int64 `json:"timeouts"`
	P50US         int64 `json:"p50_us"`
	P99US         int64 `json:"p99_us"`
}

// parseWrk reads the BENCH-RESULT line of the output of wrk (or of
// `harness handshakes`).
func parseWrk(out []byte) (result, error) {
	const prefix = "BENCH-RESULT "
	for line := range bytes.Lines(out) {
		rest, ok := bytes.CutPrefix(line, []byte(prefix))
		if !ok {
			continue
		}
		var w resultLine
		if err := json.Unmarshal(rest, &w); err != nil {
			return result{}, fmt.Errorf("wrk result %q: %w", bytes.TrimSpace(line), err)
		}
		if w.DurationUS <= 0 {
			return result{}, fmt.Errorf("wrk result %q: no duration", bytes.TrimSpace(line))
		}
		r := result{
			Requests: w.Requests,
			Seconds:  float64(w.DurationUS) / 1e6,
			P50ms:    float64(w.P50US) / 1e3,
			P99ms:    float64(w.P99US) / 1e3,
			Errors:   w.ConnectErrors + w.ReadErrors + w.WriteErrors + w.StatusErrors + w.Timeouts,
		}
		if r.Errors > 0 {
			r.ErrorsText = fmt.Sprintf("connect %d, read %d, write %d, non-2xx/3xx %d, timeout %d",
				w.ConnectErrors, w.ReadErrors, w.WriteErrors, w.StatusErrors, w.Timeouts)
		}
		return r, nil
	}
	return result{}, fmt.Errorf("wrk printed no %sline:\n%s", prefix, out)
}

func (g *loadGen) h2load(ctx context.Context, c loadCase, addr, url string, d time.Duration) (result, error) {
	logPath := filepath.Join(g.work, "h2load-requests.log")
	defer os.Remove(logPath)
	streams := max(g.streams, 1)
	args := []string{"h2load", "-t1", "-c" + strconv.Itoa(g.connections), "-m" + strconv.Itoa(streams),
		"-D" + seconds(d), "--connect-to=" + addr, "--log-file=" + logPath,
		"-H", strings.ToLower(keyHeader) + ": en-US", url}
	out, err := g.command(ctx, nil, args...).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("h2load: %w\n%s", err, out)
	}
	r, err := parseH2load(out)
	if err != nil {
		return r, err
	}
	f, err := os.Open(logPath)
	if err != nil {
		return r, err
	}
	defer f.Close()
	lat, err := parseH2loadLog(f)
	if err != nil {
		return r, err
	}
	r.P50ms, r.P99ms = percentile(lat, 50)/1e3, percentile(lat, 99)/1e3
	return r, nil
}

// handshakes runs the harness's own handshake load generator (`harness
// handshakes`, this binary) on the load core.
func (g *loadGen) handshakes(ctx context.Context, c loadCase, addr string, d time.Duration) (result, error) {
	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	out, err := g.command(ctx, []string{"GOMAXPROCS=1"}, self, "handshakes", "-connect", addr,
		"-host", withPort(c.host, addr), "-path", c.path, "-c", strconv.Itoa(g.connections), "-d", d.String()).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("harness handshakes: %w\n%s", err, out)
	}
	return parseWrk(out)
}

var (
	h2Finished = regexp.MustCompile(`(?m)^finished in ([0-9.]+)(us|ms|s),`)
	h2Requests = regexp.MustCompile(`(?m)^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
	h2Status   = regexp.MustCompile(`(?m)^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx`)
)

// parseH2load reads h2load's summary: duration, requests and errors.
// Latencies come from its request log (parseH2loadLog). In h2load's terms,
// "done" requests were answered, and "failed" ones got a status other than
// 2xx or 3xx or none at all (it includes "errored" and "timeout").
func parseH2load(out []byte) (result, error) {
	fin, req, st := h2Finished.FindSubmatch(out), h2Requests.FindSubmatch(out), h2Status.FindSubmatch(out)
	if fin == nil || req == nil || st == nil {
		return result{}, fmt.Errorf("h2load printed no summary:\n%s", out)
	}
	secs, _ := strconv.ParseFloat(string(fin[1]), 64)
	switch string(fin[2]) {
	case "ms":
		secs /= 1e3
	case "us":
		secs /= 1e6
	}
	n := func(b []byte) int64 { v, _ := strconv.ParseInt(string(b), 10, 64); return v }
	r := result{Requests: n(req[3]), Seconds: secs, Errors: n(req[5])}
	if secs <= 0 {
		return r, fmt.Errorf("h2load ran for %s%s", fin[1], fin[2])
	}
	if r.Errors > 0 {
		r.ErrorsText = fmt.Sprintf("failed %s (errored %s, timeout %s); status 4xx %s, 5xx %s",
			req[5], req[6], req[7], st[3], st[4])
	}
	return r, nil
}

// parseH2loadLog reads h2load's --log-file, one request a line: start time,
// status and duration in microseconds, tab-separated. It returns the
// durations in microseconds.
func parseH2loadLog(r io.Reader) ([]float64, error) {
	var lat []float64
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 3 {
			return nil, fmt.Errorf("h2load log line %q: want 3 fields", sc.Text())
		}
		us, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			return nil, fmt.Errorf("h2load log line %q: %w", sc.Text(), err)
		}
		lat = append(lat, us)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(lat) == 0 {
		return nil, errors.New("h2load logged no request")
	}
	slices.Sort(lat)
	return lat, nil
}

// seconds renders d as a whole number of seconds with the unit, at least
// 1s, as wrk and h2load take it.
func seconds(d time.Duration) string {
	return strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second))) + "s"
}
