// Command harness runs Portico, nginx, Varnish and HAProxy side by side on
// one machine, each doing the same job in front of the same origin, and
// compares them. bench/run installs the peers, builds the binaries and
// calls it; see the README's "Benchmarks" section.
//
// Each server runs one worker pinned to one core; the load generators (wrk
// for HTTP/1.1, h2load for HTTP/2) and the origin run on the other core.
// Rounds are interleaved: round 1 of every case and target, then round 2,
// and so on, with the targets' order rotated from round to round, so that
// the machine's noise spreads evenly. For every run the harness records
// requests per second, p50 and p99 latency, errors, and the CPU time of the
// server's process tree read from /proc, so that the CPU per request is
// known even when the load generator saturates first. It prints the ratios
// Portico / each peer (min–median–max over rounds) and writes the report to
// the results directory as JSON and Markdown.
//
// With -profile it instead runs the HIT 1 KiB load against a Portico built
// with a pprof listener and saves its CPU and allocation profiles.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config is the harness's command line.
type config struct {
	quick       bool
	rounds      int
	duration    time.Duration
	connections int
	streams     int
	serverCPU   int
	loadCPU     int
	cacheMB     int
	zipfKeys    int
	zipfS       float64
	zipfLen     int
	portBase    int
	cases       string
	targets     string

	porticoBin, originBin string
	confDir, lua          string
	work, out             string

	profile   time.Duration
	pprofAddr string
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("harness", flag.ContinueOnError)
	fs.BoolVar(&c.quick, "quick", false, "one round of 2 s per run, results not written unless -out is given: checks that the harness works (CI)")
	fs.IntVar(&c.rounds, "rounds", 3, "interleaved `rounds`")
	fs.DurationVar(&c.duration, "duration", 7*time.Second, "`duration` of each run")
	fs.IntVar(&c.connections, "connections", 50, "concurrent connections of the load generator")
	fs.IntVar(&c.streams, "h2-streams", 10, "concurrent HTTP/2 streams per connection")
	fs.IntVar(&c.serverCPU, "server-cpu", 0, "`CPU` the server under test is pinned to (-1: no pinning)")
	fs.IntVar(&c.loadCPU, "load-cpu", 1, "`CPU` the load generator and the origin are pinned to (-1: no pinning)")
	fs.IntVar(&c.cacheMB, "cache-mb", 16, "memory tier of every cache, in `MiB` (Portico --cache-memory, Varnish malloc, HAProxy total-max-size, nginx max_size)")
	fs.IntVar(&c.zipfKeys, "zipf-keys", 100000, "distinct 1 KiB objects of the Zipf case (the default is about 6× the memory tier)")
	fs.Float64Var(&c.zipfS, "zipf-s", 1.1, "exponent of the Zipf case (> 1)")
	fs.IntVar(&c.zipfLen, "zipf-requests", 100000, "length of the Zipf path sequence that wrk cycles through")
	fs.IntVar(&c.portBase, "port-base", 18100, "first of the loopback `port`s the harness uses (it takes base+1 to base+42)")
	fs.StringVar(&c.cases, "cases", "", "comma-separated `cases` to run (default all: "+caseNames()+")")
	fs.StringVar(&c.targets, "targets", "", "comma-separated `targets` to run (default all: portico,nginx,varnish,haproxy)")
	fs.StringVar(&c.porticoBin, "portico", "", "Portico `binary`")
	fs.StringVar(&c.originBin, "origin", "", "bench origin `binary`")
	fs.StringVar(&c.confDir, "conf", "bench/conf", "`directory` of the peers' configuration templates")
	fs.StringVar(&c.lua, "lua", "bench/wrk.lua", "wrk `script`")
	fs.StringVar(&c.work, "work", "", "work `directory` (configurations, logs, caches)")
	fs.StringVar(&c.out, "out", "", "results `directory` (default bench/results, none with -quick)")
	fs.DurationVar(&c.profile, "profile", 0, "profile Portico under the HIT 1 KiB load (or the first of -cases) for this `duration` instead of benchmarking (the binary must be built with bench/pprofhook)")
	fs.StringVar(&c.pprofAddr, "pprof", "", "`address` of the pprof listener of the profiling build (default 127.0.0.1:<port-base+50>)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.quick {
		if !set["rounds"] {
			c.rounds = 1
		}
		if !set["duration"] {
			c.duration = 2 * time.Second
		}
	} else if !set["out"] {
		c.out = "bench/results"
	}
	if runtime.NumCPU() < 2 {
		// Nothing to pin to: the figures are rough, the harness still runs.
		if !set["server-cpu"] {
			c.serverCPU = -1
		}
		if !set["load-cpu"] {
			c.loadCPU = -1
		}
	}
	switch {
	case c.porticoBin == "" || c.originBin == "" || c.work == "":
		return c, errors.New("-portico, -origin and -work are required (bench/run sets them)")
	case c.rounds < 1 || c.duration < time.Second:
		return c, errors.New("-rounds must be at least 1 and -duration at least 1s")
	case c.zipfS <= 1 || c.zipfKeys < 2:
		return c, errors.New("-zipf-s must be above 1 and -zipf-keys at least 2")
	}
	if c.profile > 0 && c.pprofAddr == "" {
		c.pprofAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(c.portBase+50))
	}
	return c, nil
}

func caseNames() string {
	var names []string
	for _, c := range cases {
		names = append(names, c.name)
	}
	return strings.Join(names, ",")
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "handshakes" {
		runHandshakeCommand(os.Args[2:])
		return
	}
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(1)
	}
}

// bench is one benchmark run: its servers and what it measures them with.
type bench struct {
	cfg     config
	work    string
	addrs   addrs
	pki     *pki
	origin  *process
	targets []*target
	load    *loadGen
	client  *http.Client // for the origin's request counter
}

func run(ctx context.Context, cfg config) error {
	work, err := filepath.Abs(cfg.work)
	if err != nil {
		return err
	}
	b := &bench{cfg: cfg, work: work, addrs: newAddrs(cfg.portBase), client: &http.Client{Timeout: 10 * time.Second}}
	defer b.stopAll()
	ports := b.addrs.all()
	if cfg.profile > 0 {
		ports = append(ports, cfg.pprofAddr)
	}
	if err := checkPortsFree(ports...); err != nil {
		return err
	}
	if b.pki, err = newPKI(work); err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	zipfPath := filepath.Join(work, "zipf-paths.txt")
	if err := writeLines(zipfPath, zipfPaths(cfg.zipfLen, cfg.zipfKeys, cfg.zipfS, 1)); err != nil {
		return err
	}
	lua, err := filepath.Abs(cfg.lua)
	if err != nil {
		return err
	}
	b.load = &loadGen{cpu: cfg.loadCPU, connections: cfg.connections, streams: cfg.streams, lua: lua, zipfPaths: zipfPath, work: work}

	if err := b.startOrigin(ctx); err != nil {
		return err
	}
	wanted := func(name string) bool {
		if cfg.profile > 0 {
			return name == porticoName
		}
		return cfg.targets == "" || slices.Contains(strings.Split(cfg.targets, ","), name)
	}
	starts := []struct {
		name  string
		start func(context.Context) (*target, error)
	}{
		{porticoName, b.startPortico},
		{nginxName, b.startNginx},
		{varnishName, b.startVarnish},
		{haproxyName, b.startHAProxy},
	}
	for _, s := range starts {
		if !wanted(s.name) {
			continue
		}
		t, err := s.start(ctx)
		if t != nil {
			b.targets = append(b.targets, t)
		}
		if err != nil {
			return fmt.Errorf("starting %s: %w", s.name, err)
		}
		if err := b.checkTarget(ctx, t); err != nil {
			return fmt.Errorf("checking %s's setup: %w", s.name, err)
		}
		fmt.Printf("%-8s ready: http %s", t.name, t.http)
		if t.https != "" {
			fmt.Printf(", https %s", t.https)
		}
		fmt.Println()
	}
	if len(b.targets) == 0 {
		return fmt.Errorf("-targets %q names no target", cfg.targets)
	}
	if cfg.profile > 0 {
		return b.profile(ctx)
	}
	return b.benchmark(ctx)
}

// benchmark runs the rounds and writes the report.
func (b *bench) benchmark(ctx context.Context) error {
	cfg := b.cfg
	rep := &report{
		Date:    time.Now(),
		Machine: describeMachine(),
		Settings: settings{
			Rounds: cfg.rounds, Duration: cfg.duration.String(), Connections: cfg.connections, H2Streams: cfg.streams,
			ServerCPU: cfg.serverCPU, LoadCPU: cfg.loadCPU, CacheMB: cfg.cacheMB,
			ZipfKeys: cfg.zipfKeys, ZipfExponent: cfg.zipfS, ZipfSequence: cfg.zipfLen, Quick: cfg.quick,
			AccessLogsNote: "one line per request for every server: Portico to stderr, nginx access_log, HAProxy log stdout (files); Varnish its shared-memory log",
		},
	}
	var run []loadCase
	for _, c := range cases {
		if cfg.cases == "" || slices.Contains(strings.Split(cfg.cases, ","), c.name) {
			run = append(run, c)
			rep.Cases = append(rep.Cases, caseInfo{Name: c.name, Title: c.title})
		}
	}
	if len(run) == 0 {
		return fmt.Errorf("-cases %q names no case", cfg.cases)
	}
	warm := map[string]bool{}
	for round := 1; round <= cfg.rounds; round++ {
		for _, c := range run {
			var ts []*target
			for _, t := range b.targets {
				if !c.tls || t.https != "" {
					ts = append(ts, t)
				}
			}
			// Rotate the order from round to round.
			k := (round - 1) % len(ts)
			ts = slices.Concat(ts[k:], ts[:k])
			for _, t := range ts {
				if c.zipf && !warm[t.name] {
					// The first pass over the keys fills the
					// cache; it is not measured.
					if _, err := b.load.run(ctx, c, t.addr(c), min(cfg.duration, 5*time.Second)); err != nil {
						return fmt.Errorf("warming %s for %s: %w", t.name, c.name, err)
					}
					warm[t.name] = true
				}
				m, err := b.measure(ctx, round, c, t)
				if err != nil {
					return err
				}
				rep.Runs = append(rep.Runs, m)
				fmt.Printf("round %d/%d  %-9s  %-7s  %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  CPU %7.1f µs/req  origin %5.1f%%  errors %d\n",
					round, cfg.rounds, c.name, t.name, m.RPS, m.P50ms, m.P99ms, m.CPUPerRequest,
					100*float64(m.OriginRequests)/float64(max(m.Requests, 1)), m.Errors)
			}
		}
	}
	var names []string
	for _, t := range b.targets {
		names = append(names, t.name)
	}
	rep.summarize(names)
	fmt.Println()
	rep.writeMarkdown(os.Stdout)
	if cfg.out != "" {
		jsonPath, mdPath, err := rep.writeFiles(cfg.out)
		if err != nil {
			return fmt.Errorf("writing results: %w", err)
		}
		fmt.Printf("\nResults: %s, %s (and latest.json, latest.md)\n", jsonPath, mdPath)
	}
	if errs := rep.errors(); len(errs) > 0 {
		return fmt.Errorf("%d run(s) had errors:\n%s", len(errs), strings.Join(errs, "\n"))
	}
	return nil
}

// measure runs case c against target t once, reading the server's CPU time
// and the origin's request counter before and after.
func (b *bench) measure(ctx context.Context, round int, c loadCase, t *target) (measurement, error) {
	if !c.zipf && !c.unique {
		// The Zipf case of the round before may have evicted the path:
		// a HIT case starts with it in the cache.
		if err := b.prime(ctx, c, t); err != nil {
			return measurement{}, err
		}
	}
	origin0, err := b.originRequests(ctx)
	if err != nil {
		return measurement{}, err
	}
	cpu0, err := t.proc.cpuSeconds()
	if err != nil {
		return measurement{}, fmt.Errorf("%s: %w", t.name, err)
	}
	res, err := b.load.run(ctx, c, t.addr(c), b.cfg.duration)
	if err != nil {
		return measurement{}, fmt.Errorf("%s against %s: %w", c.name, t.name, err)
	}
	cpu1, err := t.proc.cpuSeconds()
	if err != nil {
		return measurement{}, fmt.Errorf("%s: %w", t.name, err)
	}
	origin1, err := b.originRequests(ctx)
	if err != nil {
		return measurement{}, err
	}
	if !t.proc.alive() {
		return measurement{}, fmt.Errorf("%s exited during %s:\n%s", t.name, c.name, t.proc.logTail())
	}
	if res.Requests == 0 {
		return measurement{}, fmt.Errorf("%s against %s: no request was answered", c.name, t.name)
	}
	m := measurement{Round: round, Case: c.name, Target: t.name, result: res,
		RPS:            float64(res.Requests) / res.Seconds,
		CPUSeconds:     cpu1 - cpu0,
		OriginRequests: origin1 - origin0,
	}
	m.CPUPerRequest = m.CPUSeconds * 1e6 / float64(res.Requests)
	return m, nil
}

// stopAll stops every server the harness started.
func (b *bench) stopAll() {
	for _, t := range b.targets {
		t.proc.stop(10 * time.Second)
	}
	if b.origin != nil {
		b.origin.stop(5 * time.Second)
	}
}
