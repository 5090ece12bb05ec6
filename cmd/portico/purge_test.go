package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/cfapi"
)

func TestParseInvalidation(t *testing.T) {
	tests := []struct {
		name, body string
		wantID     string
		wantErr    string
	}{
		{"an Invalidation", `<?xml version="1.0"?><Invalidation xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Id>I1</Id><Status>InProgress</Status></Invalidation>`, "I1", ""},
		{"no Id", `<Invalidation><Status>Completed</Status></Invalidation>`, "", "it has no Id"},
		{"not XML", `{"Id":"I1"}`, "", "not an Invalidation: EOF"},
		{"empty", ``, "", "not an Invalidation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := parseInvalidation([]byte(tt.body))
			switch {
			case tt.wantErr == "" && (err != nil || inv.ID != tt.wantID):
				t.Errorf("parseInvalidation = %+v, %v; want Id %s", inv, err, tt.wantID)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "<nil>")):
				t.Errorf("parseInvalidation = %+v, %v; want an error saying %q", inv, err, tt.wantErr)
			}
		})
	}
}

// invalidationAPI answers GetInvalidation for I1: InProgress until the
// pending polls are done, Completed after. It counts the polls.
type invalidationAPI struct {
	pending int
	polls   atomic.Int64
}

func (a *invalidationAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status := "InProgress"
	if n := a.polls.Add(1); a.pending >= 0 && n > int64(a.pending) {
		status = "Completed"
	}
	if r.Method != http.MethodGet || r.URL.Path != cfapi.Prefix+"distribution/E1/invalidation/I1" {
		http.NotFound(w, r)
		return
	}
	fmt.Fprintf(w, `<Invalidation><Id>I1</Id><Status>%s</Status></Invalidation>`, status)
}

// TestWaitCompleted checks that --wait polls until Completed, and pauses
// between polls: within a second, it asks at most three times.
func TestWaitCompleted(t *testing.T) {
	env := func(k string) string {
		return map[string]string{"PORTICO_ACCESS_KEY_ID": "a", "PORTICO_SECRET_ACCESS_KEY": "b"}[k]
	}
	const path = cfapi.Prefix + "distribution/E1/invalidation"

	api := &invalidationAPI{pending: 2}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	client, err := newAPIClient(clientFlags{api: srv.URL}, env)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := waitCompleted(t.Context(), client, path, "I1")
	if err != nil || inv.Status != portico.StatusCompleted || api.polls.Load() != 3 {
		t.Errorf("waitCompleted = %+v, %v after %d polls; want Completed after 3", inv, err, api.polls.Load())
	}

	never := &invalidationAPI{pending: -1}
	srv = httptest.NewServer(never)
	t.Cleanup(srv.Close)
	if client, err = newAPIClient(clientFlags{api: srv.URL}, env); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, err := waitCompleted(ctx, client, path, "I1"); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for I1") {
		t.Errorf("waitCompleted on an invalidation that never completes: %v, want the deadline", err)
	}
	// Polls come after 200 ms, then 400 ms more, then 800 ms more.
	if n := never.polls.Load(); n < 1 || n > 3 {
		t.Errorf("%d polls in a second, want 1 to 3", n)
	}
}

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args      []string
		rest, hdr []string
		json      bool
	}{
		{[]string{"-H", "a: 1", "https://x/"}, []string{"https://x/"}, []string{"a: 1"}, false},
		{[]string{"https://x/", "-H", "a: 1", "--json"}, []string{"https://x/"}, []string{"a: 1"}, true},
		{[]string{"/a", "--json", "/b", "-H", "b: 2"}, []string{"/a", "/b"}, []string{"b: 2"}, true},
		{[]string{"--json", "--", "-not-a-flag", "/b"}, []string{"-not-a-flag", "/b"}, nil, true},
		{nil, nil, nil, false},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		var hdr stringsFlag
		fs.Var(&hdr, "H", "")
		asJSON := fs.Bool("json", false, "")
		rest, err := parseInterspersed(fs, tt.args)
		if err != nil || !slices.Equal(rest, tt.rest) || !slices.Equal(hdr, tt.hdr) || *asJSON != tt.json {
			t.Errorf("parseInterspersed(%q) = %q, %v; -H %q, --json %v; want %q, -H %q, --json %v", tt.args, rest, err, hdr, *asJSON, tt.rest, tt.hdr, tt.json)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := parseInterspersed(fs, []string{"x", "--nope"}); !errors.As(err, new(usageError)) {
		t.Errorf("an unknown flag after an argument: %v, want a usage error", err)
	}
}

func TestReadCredentials(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, credentialsFile), []byte("[portico]\naws_access_key_id = FILEID\naws_secret_access_key = FILESECRET\n"), 0o600)
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	if c, path, err := readCredentials(dir, env("PORTICO_ACCESS_KEY_ID", "ENVID", "PORTICO_SECRET_ACCESS_KEY", "ENVSECRET")); err != nil || c != (credentials{"ENVID", "ENVSECRET"}) || path != "" {
		t.Errorf("from the environment: %+v, %q, %v", c, path, err)
	}
	if c, path, err := readCredentials(dir, env()); err != nil || c != (credentials{"FILEID", "FILESECRET"}) || path != filepath.Join(dir, credentialsFile) {
		t.Errorf("from the data directory: %+v, %q, %v", c, path, err)
	}
	if _, _, err := readCredentials(dir, env("PORTICO_ACCESS_KEY_ID", "ENVID")); !errors.As(err, new(usageError)) {
		t.Errorf("half the environment: %v, want a usage error", err)
	}
	empty := t.TempDir()
	if _, _, err := readCredentials(empty, env()); err == nil || !strings.Contains(err.Error(), "no credentials") || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no credentials anywhere: %v", err)
	}
	if _, err := os.Stat(filepath.Join(empty, credentialsFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("readCredentials generated a credentials file: %v", err)
	}

	// The server generates them once, then reads them as clients do.
	c, path, generated, err := loadCredentials(empty, env())
	if err != nil || !generated || path != filepath.Join(empty, credentialsFile) || c.AccessKeyID == "" || c.SecretAccessKey == "" {
		t.Fatalf("loadCredentials on an empty directory = %+v, %q, %v, %v; want new credentials in %s", c, path, generated, err, credentialsFile)
	}
	if again, _, generated, err := loadCredentials(empty, env()); err != nil || generated || again != c {
		t.Errorf("loadCredentials again = %+v, %v, %v; want the same, read", again, generated, err)
	}
	if read, _, err := readCredentials(empty, env()); err != nil || read != c {
		t.Errorf("readCredentials after loadCredentials = %+v, %v; want the generated ones", read, err)
	}
	if _, _, generated, err := loadCredentials(empty, env("PORTICO_SECRET_ACCESS_KEY", "x")); generated || !errors.As(err, new(usageError)) {
		t.Errorf("loadCredentials with half the environment: generated %v, %v; want a usage error", generated, err)
	}
}

func TestServeFlagsInvalidationLimits(t *testing.T) {
	cfg, err := parseServeFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if l := cfg.invalidationLimits; l.Paths != 3000 || l.Wildcards != 15 {
		t.Errorf("default limits = %+v, want CloudFront's 3000 and 15", l)
	}
	cfg, err = parseServeFlags([]string{"--max-invalidation-paths", "10000", "--max-invalidation-wildcards", "100"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if l := cfg.invalidationLimits; l.Paths != 10000 || l.Wildcards != 100 {
		t.Errorf("raised limits = %+v, want 10000 and 100", l)
	}
	for _, args := range [][]string{{"--max-invalidation-paths", "0"}, {"--max-invalidation-wildcards", "-1"}, {"--max-invalidation-paths", "x"}} {
		if _, err := parseServeFlags(args, io.Discard); !errors.As(err, new(usageError)) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}
