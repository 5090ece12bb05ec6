package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSpreadAndPercentile(t *testing.T) {
	if got, want := spreadOf([]float64{3, 1, 2}), (spread{1, 2, 3}); got != want {
		t.Errorf("spreadOf(3,1,2) = %v, want %v", got, want)
	}
	if got, want := spreadOf([]float64{4, 1, 2, 3}), (spread{1, 2.5, 4}); got != want {
		t.Errorf("spreadOf(4,1,2,3) = %v, want %v", got, want)
	}
	if got := spreadOf(nil); !math.IsNaN(got.Median) {
		t.Errorf("spreadOf(nil) = %v, want NaN", got)
	}
	sorted := make([]float64, 100)
	for i := range sorted {
		sorted[i] = float64(i + 1)
	}
	for p, want := range map[float64]float64{50: 50, 99: 99, 100: 100, 0: 1, 0.5: 1} {
		if got := percentile(sorted, p); got != want {
			t.Errorf("percentile(1..100, %v) = %v, want %v", p, got, want)
		}
	}
	if got := percentile(nil, 50); !math.IsNaN(got) {
		t.Errorf("percentile(nil) = %v, want NaN", got)
	}
}

// runOf is a measurement for the report tests.
func runOf(round int, c, target string, rps, cpu, p99 float64) measurement {
	return measurement{Round: round, Case: c, Target: target, RPS: rps, CPUPerRequest: cpu,
		result: result{Requests: int64(rps), Seconds: 1, P50ms: p99 / 2, P99ms: p99}}
}

func TestSummarize(t *testing.T) {
	r := &report{
		Cases: []caseInfo{{"hit-1k", "HIT 1 KiB"}, {"tls-rsa", "TLS RSA"}},
		Runs: []measurement{
			runOf(1, "hit-1k", porticoName, 100, 10, 2),
			runOf(1, "hit-1k", haproxyName, 200, 20, 4),
			runOf(2, "hit-1k", porticoName, 300, 10, 2),
			runOf(2, "hit-1k", haproxyName, 100, 40, 1),
			runOf(3, "hit-1k", porticoName, 100, 30, 2),
			runOf(3, "hit-1k", haproxyName, 100, 10, 2),
			// Varnish takes no part in TLS cases: no ratio.
			runOf(1, "tls-rsa", porticoName, 10, 400, 9),
			runOf(1, "tls-rsa", nginxName, 20, 200, 9),
		},
	}
	r.Runs[1].Errors = 2
	r.Runs[1].OriginRequests = 50 // 25% of its 200 requests
	r.summarize([]string{porticoName, nginxName, varnishName, haproxyName})

	wantRatios := []ratio{
		{Case: "hit-1k", Peer: haproxyName, Rounds: 3,
			RPS:           spread{0.5, 1, 3},
			CPUPerRequest: spread{0.25, 0.5, 3},
			P99:           spread{0.5, 1, 2}},
		{Case: "tls-rsa", Peer: nginxName, Rounds: 1,
			RPS: spread{0.5, 0.5, 0.5}, CPUPerRequest: spread{2, 2, 2}, P99: spread{1, 1, 1}},
	}
	if len(r.Ratios) != len(wantRatios) {
		t.Fatalf("ratios = %+v, want %+v", r.Ratios, wantRatios)
	}
	for i, want := range wantRatios {
		if r.Ratios[i] != want {
			t.Errorf("ratio %d = %+v, want %+v", i, r.Ratios[i], want)
		}
	}
	if len(r.Summary) != 4 {
		t.Fatalf("summary has %d rows, want 4 (portico and haproxy; portico and nginx)", len(r.Summary))
	}
	h := r.Summary[1]
	if h.Target != haproxyName || h.RPS != (spread{100, 100, 200}) || h.Errors != 2 || h.OriginShare.Max != 0.25 {
		t.Errorf("haproxy's hit-1k summary = %+v", h)
	}
}

func TestReportOutput(t *testing.T) {
	r := &report{
		Date:     time.Date(2026, 11, 25, 14, 5, 0, 0, time.UTC),
		Machine:  machine{CPU: "Test CPU", Cores: 2, Kernel: "6.1", Go: "go1.26", Versions: map[string]string{nginxName: "nginx/1.22.1"}},
		Settings: settings{Rounds: 1, Duration: "7s", Connections: 50, H2Streams: 10, LoadCPU: 1, CacheMB: 16},
		Cases:    []caseInfo{{"hit-1k", "HIT 1 KiB"}},
		Runs: []measurement{
			runOf(1, "hit-1k", porticoName, 100, 10, 2),
			runOf(1, "hit-1k", nginxName, 50, 20, 4),
		},
	}
	r.Runs[1].Errors, r.Runs[1].ErrorsText = 3, "timeout 3"
	r.summarize([]string{porticoName, nginxName})

	var md bytes.Buffer
	r.writeMarkdown(&md)
	for _, want := range []string{
		"Run 2026-11-25 14:05 UTC on 2 cores (Test CPU)",
		"| HIT 1 KiB | nginx | 2.00 | 0.50 | 0.50 |",
		"| HIT 1 KiB | portico | 100 | 1.00 | 2.00 | 10.0 | 0.0% | 0 |",
		"- round 1, hit-1k, nginx: 3 errors (timeout 3)",
		"nginx/1.22.1",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("the Markdown lacks %q:\n%s", want, md.String())
		}
	}

	dir := t.TempDir()
	jsonPath, mdPath, err := r.writeFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(jsonPath) != "2026-11-25T1405Z.json" || filepath.Base(mdPath) != "2026-11-25T1405Z.md" {
		t.Errorf("wrote %s and %s", jsonPath, mdPath)
	}
	for _, name := range []string{"latest.json", "latest.md"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Runs) != 2 || back.Runs[1].Errors != 3 || len(back.Ratios) != 1 || back.Ratios[0].RPS.Median != 2 {
		t.Errorf("latest.json does not hold the report: %+v", back)
	}
}
