package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// measurement is one run of one case against one target in one round.
type measurement struct {
	Round  int    `json:"round"`
	Case   string `json:"case"`
	Target string `json:"target"`
	result
	RPS        float64 `json:"rps"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUPerRequest is the server's CPU time per request, in µs: its
	// whole process tree's user and system time over the run, divided
	// by the requests answered.
	CPUPerRequest float64 `json:"cpu_us_per_request"`
	// OriginRequests is how many requests reached the origin during the
	// run.
	OriginRequests int64 `json:"origin_requests"`
}

// spread is the minimum, median and maximum of a value over rounds.
type spread struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

func spreadOf(v []float64) spread {
	if len(v) == 0 {
		return spread{math.NaN(), math.NaN(), math.NaN()}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return spread{Min: s[0], Median: median(s), Max: s[len(s)-1]}
}

// median returns the median of sorted values.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// percentile returns the p-th percentile (nearest rank) of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// targetSummary is one target's figures for one case, over rounds.
type targetSummary struct {
	Case          string `json:"case"`
	Target        string `json:"target"`
	RPS           spread `json:"rps"`
	P50ms         spread `json:"p50_ms"`
	P99ms         spread `json:"p99_ms"`
	CPUPerRequest spread `json:"cpu_us_per_request"`
	// OriginShare is the fraction of requests that reached the origin
	// (1 − hit ratio).
	OriginShare spread `json:"origin_share"`
	Errors      int64  `json:"errors"`
}

// ratio compares Portico with one peer on one case. Each round's Portico
// figure is divided by the same round's peer figure; the spread is over
// rounds. req/s above 1 and CPU and p99 below 1 favour Portico.
type ratio struct {
	Case          string `json:"case"`
	Peer          string `json:"peer"`
	Rounds        int    `json:"rounds"`
	RPS           spread `json:"rps"`
	CPUPerRequest spread `json:"cpu_us_per_request"`
	P99           spread `json:"p99"`
}

// machine describes where the benchmark ran.
type machine struct {
	CPU      string            `json:"cpu"`
	Cores    int               `json:"cores"`
	Kernel   string            `json:"kernel"`
	LoadAvg  string            `json:"loadavg_at_start"`
	Go       string            `json:"go"`
	Versions map[string]string `json:"versions"`
}

// settings are the benchmark's parameters.
type settings struct {
	Rounds         int     `json:"rounds"`
	Duration       string  `json:"duration_per_run"`
	Connections    int     `json:"connections"`
	H2Streams      int     `json:"h2_streams_per_connection"`
	ServerCPU      int     `json:"server_cpu"`
	LoadCPU        int     `json:"load_cpu"`
	CacheMB        int     `json:"memory_tier_mb"`
	ZipfKeys       int     `json:"zipf_keys"`
	ZipfExponent   float64 `json:"zipf_exponent"`
	ZipfSequence   int     `json:"zipf_sequence"`
	Quick          bool    `json:"quick"`
	AccessLogsNote string  `json:"access_logs"`
}

// report is the whole outcome of a run, as written to bench/results.
type report struct {
	Date     time.Time       `json:"date"`
	Machine  machine         `json:"machine"`
	Settings settings        `json:"settings"`
	Cases    []caseInfo      `json:"cases"`
	Ratios   []ratio         `json:"ratios"`
	Summary  []targetSummary `json:"summary"`
	Runs     []measurement   `json:"runs"`
}

type caseInfo struct {
	Name  string `json:"name"`
	Title string `json:"title"`
}

// summarize computes the per-target summaries and the ratios of the runs,
// in the order of cases and targets.
func (r *report) summarize(targets []string) {
	r.Summary, r.Ratios = nil, nil
	for _, c := range r.Cases {
		for _, t := range targets {
			var rps, p50, p99, cpu, share []float64
			var errs int64
			for _, m := range r.Runs {
				if m.Case != c.Name || m.Target != t {
					continue
				}
				rps, p50, p99, cpu = append(rps, m.RPS), append(p50, m.P50ms), append(p99, m.P99ms), append(cpu, m.CPUPerRequest)
				share = append(share, float64(m.OriginRequests)/float64(max(m.Requests, 1)))
				errs += m.Errors
			}
			if len(rps) == 0 {
				continue
			}
			r.Summary = append(r.Summary, targetSummary{Case: c.Name, Target: t,
				RPS: spreadOf(rps), P50ms: spreadOf(p50), P99ms: spreadOf(p99),
				CPUPerRequest: spreadOf(cpu), OriginShare: spreadOf(share), Errors: errs})
		}
		for _, peer := range targets {
			if peer == porticoName {
				continue
			}
			var rps, cpu, p99 []float64
			for _, p := range r.Runs {
				if p.Case != c.Name || p.Target != porticoName {
					continue
				}
				for _, q := range r.Runs {
					if q.Case == c.Name && q.Target == peer && q.Round == p.Round {
						rps = append(rps, p.RPS/q.RPS)
						cpu = append(cpu, p.CPUPerRequest/q.CPUPerRequest)
						p99 = append(p99, p.P99ms/q.P99ms)
					}
				}
			}
			if len(rps) == 0 {
				continue
			}
			r.Ratios = append(r.Ratios, ratio{Case: c.Name, Peer: peer, Rounds: len(rps),
				RPS: spreadOf(rps), CPUPerRequest: spreadOf(cpu), P99: spreadOf(p99)})
		}
	}
}

// errors returns a line for each run that had errors.
func (r *report) errors() []string {
	var lines []string
	for _, m := range r.Runs {
		if m.Errors > 0 {
			lines = append(lines, fmt.Sprintf("round %d, %s, %s: %d errors (%s)", m.Round, m.Case, m.Target, m.Errors, m.ErrorsText))
		}
	}
	return lines
}

func (r *report) title(name string) string {
	for _, c := range r.Cases {
		if c.Name == name {
			return c.Title
		}
	}
	return name
}

// writeMarkdown writes the report's tables: the ratios Portico / peer, then
// every target's own figures.
func (r *report) writeMarkdown(w io.Writer) {
	s := r.Settings
	fmt.Fprintf(w, "Run %s on %d cores (%s), Linux %s, %s; load average at start %s.\n",
		r.Date.UTC().Format("2006-01-02 15:04 MST"), r.Machine.Cores, r.Machine.CPU, r.Machine.Kernel, r.Machine.Go, r.Machine.LoadAvg)
	fmt.Fprintf(w, "%d round(s) × %s per run, interleaved; each server on CPU %d (one worker), load generator and origin on CPU %d; %d connections (HTTP/2: × %d streams); memory tier %d MiB.\n",
		s.Rounds, s.Duration, s.ServerCPU, s.LoadCPU, s.Connections, s.H2Streams, s.CacheMB)
	var vs []string
	for _, k := range []string{nginxName, varnishName, haproxyName, "wrk", "h2load"} {
		if v := r.Machine.Versions[k]; v != "" {
			vs = append(vs, v)
		}
	}
	fmt.Fprintf(w, "Versions: %s.\n\n", strings.Join(vs, "; "))

	fmt.Fprintf(w, "**Portico / peer**, min–median–max over rounds (req/s above 1, CPU per request and p99 below 1 favour Portico):\n\n")
	fmt.Fprintln(w, "| Case | Peer | req/s | CPU µs per request | p99 latency |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, q := range r.Ratios {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", r.title(q.Case), q.Peer, q.RPS.format("%.2f"), q.CPUPerRequest.format("%.2f"), q.P99.format("%.2f"))
	}
	fmt.Fprintf(w, "\n**Each server**, median over rounds (CPU µs per request: the server's user + system time over the run / requests; to origin: share of requests that reached the origin):\n\n")
	fmt.Fprintln(w, "| Case | Server | req/s | p50 ms | p99 ms | CPU µs/req | to origin | errors |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|")
	for _, t := range r.Summary {
		fmt.Fprintf(w, "| %s | %s | %.0f | %.2f | %.2f | %.1f | %.1f%% | %d |\n", r.title(t.Case), t.Target,
			t.RPS.Median, t.P50ms.Median, t.P99ms.Median, t.CPUPerRequest.Median, 100*t.OriginShare.Median, t.Errors)
	}
	if errs := r.errors(); len(errs) > 0 {
		fmt.Fprintf(w, "\nErrors:\n\n")
		for _, e := range errs {
			fmt.Fprintf(w, "- %s\n", e)
		}
	}
}

func (s spread) format(verb string) string {
	if s.Min == s.Max {
		return fmt.Sprintf(verb, s.Median)
	}
	return fmt.Sprintf(verb+"–"+verb+"–"+verb, s.Min, s.Median, s.Max)
}

// writeFiles writes the report as <dir>/<stamp>.json and .md and copies
// both to latest.json and latest.md.
func (r *report) writeFiles(dir string) (jsonPath, mdPath string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", "", err
	}
	js = append(js, '\n')
	var md bytes.Buffer
	fmt.Fprintf(&md, "# Portico benchmark, %s\n\n", r.Date.UTC().Format("2006-01-02"))
	r.writeMarkdown(&md)
	stamp := r.Date.UTC().Format("2006-01-02T1504Z")
	jsonPath, mdPath = dir+"/"+stamp+".json", dir+"/"+stamp+".md"
	for path, data := range map[string][]byte{
		jsonPath: js, mdPath: md.Bytes(),
		dir + "/latest.json": js, dir + "/latest.md": md.Bytes(),
	} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return "", "", err
		}
	}
	return jsonPath, mdPath, nil
}

// describeMachine collects what the report says about the machine and the
// peers' versions.
func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), Versions: map[string]string{}}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	for name, argv := range map[string][]string{
		nginxName:   {"nginx", "-v"},
		varnishName: {"varnishd", "-V"},
		haproxyName: {"haproxy", "-v"},
		"wrk":       {"wrk", "-v"},
		"h2load":    {"h2load", "--version"},
	} {
		out, _ := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		line, _, _ = strings.Cut(line, " Copyright") // wrk
		line, _, _ = strings.Cut(line, " - http")    // HAProxy
		m.Versions[name] = strings.TrimSpace(strings.TrimPrefix(line, "nginx version: "))
	}
	return m
}
