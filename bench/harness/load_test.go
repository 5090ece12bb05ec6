package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    result
		wantErr bool
	}{
		{
			name: "clean run",
			out: "Running 7s test @ http://bench.test:18111/1k\n  1 threads and 50 connections\n" +
				`BENCH-RESULT {"requests":210000,"duration_us":7000000,"bytes":1,"connect_errors":0,"read_errors":0,"write_errors":0,"status_errors":0,"timeouts":0,"p50_us":1250,"p99_us":9000,"max_us":20000}` + "\n",
			want: result{Requests: 210000, Seconds: 7, P50ms: 1.25, P99ms: 9},
		},
		{
			name: "errors of every kind are summed",
			out:  `BENCH-RESULT {"requests":10,"duration_us":2000000,"bytes":1,"connect_errors":1,"read_errors":2,"write_errors":3,"status_errors":4,"timeouts":5,"p50_us":1,"p99_us":2,"max_us":3}`,
			want: result{Requests: 10, Seconds: 2, P50ms: 0.001, P99ms: 0.002, Errors: 15,
				ErrorsText: "connect 1, read 2, write 3, non-2xx/3xx 4, timeout 5"},
		},
		{name: "no result line", out: "unable to connect to bench.test:18111 Connection refused\n", wantErr: true},
		{name: "broken JSON", out: "BENCH-RESULT {\"requests\":\n", wantErr: true},
		{name: "no duration", out: `BENCH-RESULT {"requests":1,"duration_us":0}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWrk([]byte(tt.out))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseWrk: error %v, want error %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("parseWrk = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// h2loadOutput is h2load 1.52's summary, with the given finish line,
// request line and status line.
func h2loadOutput(finished, requests, status string) string {
	return "starting benchmark...\nspawning thread #0: 50 total client(s).\n" +
		"TLS Protocol: TLSv1.3\nApplication protocol: h2\n\n" +
		finished + "\n" + requests + "\n" + status + "\n" +
		"traffic: 4.17MB (4377558) total, 357.18KB (365751) headers (space savings 37.50%), 3.76MB (3942400) data\n"
}

func TestParseH2load(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    result
		wantErr bool
	}{
		{
			name: "clean run",
			out: h2loadOutput("finished in 7.00s, 40000.00 req/s, 44.00MB/s",
				"requests: 280000 total, 280050 started, 280000 done, 280000 succeeded, 0 failed, 0 errored, 0 timeout",
				"status codes: 280000 2xx, 0 3xx, 0 4xx, 0 5xx"),
			want: result{Requests: 280000, Seconds: 7},
		},
		{
			name: "milliseconds, and 4xx answers are failures",
			out: h2loadOutput("finished in 717.23ms, 27.89 req/s, 3.29KB/s",
				"requests: 20 total, 20 started, 20 done, 0 succeeded, 20 failed, 0 errored, 0 timeout",
				"status codes: 0 2xx, 0 3xx, 20 4xx, 0 5xx"),
			want: result{Requests: 20, Seconds: 0.71723, Errors: 20,
				ErrorsText: "failed 20 (errored 0, timeout 0); status 4xx 20, 5xx 0"},
		},
		{
			name: "microseconds: nothing was answered",
			out: h2loadOutput("finished in 5us, 0.00 req/s, 0B/s",
				"requests: 20 total, 0 started, 0 done, 0 succeeded, 20 failed, 20 errored, 0 timeout",
				"status codes: 0 2xx, 0 3xx, 0 4xx, 0 5xx"),
			want: result{Requests: 0, Seconds: 5e-6, Errors: 20,
				ErrorsText: "failed 20 (errored 20, timeout 0); status 4xx 0, 5xx 0"},
		},
		{name: "no summary", out: "h2load: could not connect\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseH2load([]byte(tt.out))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseH2load: error %v, want error %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("parseH2load = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseH2loadLog(t *testing.T) {
	log := "1795613408363034\t200\t15322\n1795613408378394\t200\t929\n1795613408394935\t200\t4000\n"
	got, err := parseH2loadLog(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{929, 4000, 15322}
	if len(got) != len(want) {
		t.Fatalf("parseH2loadLog = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("parseH2loadLog = %v, want %v (sorted)", got, want)
		}
	}
	for _, bad := range []string{"", "1\t200\n", "1\t200\tslow\n"} {
		if _, err := parseH2loadLog(strings.NewReader(bad)); err == nil {
			t.Errorf("parseH2loadLog(%q) succeeded, want an error", bad)
		}
	}
}

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		7 * time.Second:         "7s",
		1500 * time.Millisecond: "2s",
		100 * time.Millisecond:  "1s",
		0:                       "1s",
	} {
		if got := seconds(d); got != want {
			t.Errorf("seconds(%v) = %q, want %q", d, got, want)
		}
	}
}
