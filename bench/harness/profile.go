package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// profile runs the HIT 1 KiB load (or the first case -cases names)
// against Portico (built with bench/pprofhook) and saves, in <out>/profile: the CPU profile taken
// under the load, the allocation profiles before and after it, and the
// `go tool pprof -top` views of both, with the allocations per request
// (from runtime.MemStats.Mallocs) in summary.txt.
func (b *bench) profile(ctx context.Context) error {
	var portico *target
	for _, t := range b.targets {
		if t.name == porticoName {
			portico = t
		}
	}
	hit := cases[0]
	if name, _, _ := strings.Cut(b.cfg.cases, ","); name != "" {
		i := slices.IndexFunc(cases, func(c loadCase) bool { return c.name == name })
		if i < 0 {
			return fmt.Errorf("-cases: no case %q", name)
		}
		hit = cases[i]
	}
	dir := filepath.Join(b.cfg.out, "profile")
	if b.cfg.out == "" {
		dir = filepath.Join(b.work, "profile")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if _, err := b.load.run(ctx, hit, portico.addr(hit), 2*time.Second); err != nil { // warm up
		return err
	}
	base := "http://" + b.cfg.pprofAddr
	allocsBefore := filepath.Join(dir, "allocs-before.pb.gz")
	if err := b.fetch(ctx, base+"/debug/pprof/allocs", allocsBefore); err != nil {
		return err
	}
	mallocs0, err := b.mallocs(ctx, base)
	if err != nil {
		return err
	}
	cpu0, err := portico.proc.cpuSeconds()
	if err != nil {
		return err
	}

	// The CPU profile covers the middle of the load, away from its ramp-up
	// and end.
	d := b.cfg.profile
	cpuProfile := filepath.Join(dir, "cpu.pb.gz")
	profErr := make(chan error, 1)
	go func() {
		time.Sleep(time.Second)
		profErr <- b.fetch(ctx, base+"/debug/pprof/profile?seconds="+strconv.Itoa(max(1, int(d/time.Second))), cpuProfile)
	}()
	res, err := b.load.run(ctx, hit, portico.addr(hit), d+2*time.Second)
	if err != nil {
		return err
	}
	if err := <-profErr; err != nil {
		return err
	}
	cpu1, err := portico.proc.cpuSeconds()
	if err != nil {
		return err
	}
	mallocs1, err := b.mallocs(ctx, base)
	if err != nil {
		return err
	}
	allocsAfter := filepath.Join(dir, "allocs-after.pb.gz")
	if err := b.fetch(ctx, base+"/debug/pprof/allocs", allocsAfter); err != nil {
		return err
	}

	summary := fmt.Sprintf("Portico under %s for %s: %.0f req/s, p99 %.2f ms, %.1f µs CPU and %.1f allocations per request, %d errors.\n",
		hit.title, b.cfg.profile+2*time.Second, float64(res.Requests)/res.Seconds, res.P99ms,
		(cpu1-cpu0)*1e6/float64(res.Requests), float64(mallocs1-mallocs0)/float64(res.Requests), res.Errors)
	views := []struct {
		file string
		args []string
	}{
		{"cpu-top.txt", []string{"-top", "-nodecount=30", cpuProfile}},
		{"cpu-top-cum.txt", []string{"-top", "-cum", "-nodecount=30", cpuProfile}},
		{"allocs-top.txt", []string{"-top", "-nodecount=30", "-sample_index=alloc_objects", "-base", allocsBefore, allocsAfter}},
		{"allocs-space-top.txt", []string{"-top", "-nodecount=20", "-sample_index=alloc_space", "-base", allocsBefore, allocsAfter}},
	}
	for _, v := range views {
		out, err := exec.CommandContext(ctx, "go", append([]string{"tool", "pprof"}, v.args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go tool pprof %v: %w\n%s", v.args, err, out)
		}
		if err := os.WriteFile(filepath.Join(dir, v.file), out, 0o644); err != nil {
			return err
		}
		fmt.Printf("== %s\n%s\n", v.file, out)
	}
	fmt.Print(summary)
	fmt.Printf("Profiles and views: %s\n", dir)
	return os.WriteFile(filepath.Join(dir, "summary.txt"), []byte(summary), 0o644)
}

// fetch saves the body of url to path.
func (b *bench) fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: b.cfg.profile + time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return f.Close()
}

// mallocs returns the process's cumulative count of heap allocations.
func (b *bench) mallocs(ctx context.Context, base string) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/debug/vars", nil)
	if err != nil {
		return 0, err
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var vars struct{ Memstats struct{ Mallocs uint64 } }
	if err := json.NewDecoder(resp.Body).Decode(&vars); err != nil {
		return 0, fmt.Errorf("/debug/vars: %w", err)
	}
	return vars.Memstats.Mallocs, nil
}
