package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    procStat
		wantErr bool
	}{
		{
			name: "nginx worker",
			line: "4215 (nginx) S 4214 4214 4214 0 -1 4194624 1052 0 0 0 1234 567 8 9 20 0 1 0 11882 63193088 1722 18446744073709551615",
			want: procStat{pgrp: 4214, utime: 1234, stime: 567, cutime: 8, cstime: 9},
		},
		{
			name: "a command name with spaces and parentheses",
			line: "77 (cache (main) x) R 1 76 76 0 -1 0 0 0 0 0 10 20 30 40 20 0 17 0 5 6 7",
			want: procStat{pgrp: 76, utime: 10, stime: 20, cutime: 30, cstime: 40},
		},
		{name: "truncated", line: "77 (x) R 1 76 76 0", wantErr: true},
		{name: "no command name", line: "77 x R 1 76", wantErr: true},
		{name: "not a number", line: "77 (x) R 1 76 76 0 -1 0 0 0 0 0 ten 20 30 40 20 0 17 0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.line))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseStat: error %v, want error %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("parseStat = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestGroupCPUSeconds reads a /proc made for the test: the processes of
// one group are summed, reaped children included, and no other.
func TestGroupCPUSeconds(t *testing.T) {
	proc := t.TempDir()
	stat := map[string]string{
		"100": "100 (nginx) S 1 100 100 0 -1 0 0 0 0 0 50 25 10 5 20 0 1 0",    // master: 90 ticks
		"101": "101 (nginx) S 100 100 100 0 -1 0 0 0 0 0 300 100 0 0 20 0 1 0", // worker: 400
		"200": "200 (other) S 1 200 200 0 -1 0 0 0 0 0 999 999 0 0 20 0 1 0",   // another group
	}
	for pid, line := range stat {
		if err := os.MkdirAll(filepath.Join(proc, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, pid, "stat"), []byte(line+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(proc, "self"), 0o755) // not a PID: skipped
	got, err := groupCPUSeconds(proc, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got != 4.9 {
		t.Errorf("groupCPUSeconds(100) = %v, want 4.9 (490 ticks)", got)
	}
	if _, err := groupCPUSeconds(proc, 300); err == nil {
		t.Error("groupCPUSeconds of a group with no process succeeded, want an error")
	}
}
