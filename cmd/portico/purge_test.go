package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/portico-edge/portico/internal/cfapi"
)

func TestPurgeDocument(t *testing.T) {
	ns := `xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"`
	ext := `<PorticoPurge xmlns="` + cfapi.PurgeNamespace + `">`
	tests := []struct {
		name        string
		paths, tags []string
		soft        bool
		want        string
	}{
		{"paths: CloudFront's own batch", []string{"/a", "/b*"}, nil, false,
			`<InvalidationBatch ` + ns + `><Paths><Quantity>2</Quantity><Items><Path>/a</Path><Path>/b*</Path></Items></Paths><CallerReference>r</CallerReference></InvalidationBatch>`},
		{"soft paths", []string{"/a"}, nil, true,
			`<InvalidationBatch ` + ns + `><Paths><Quantity>1</Quantity><Items><Path>/a</Path></Items></Paths><CallerReference>r</CallerReference>` +
				ext + `<Mode>soft</Mode></PorticoPurge></InvalidationBatch>`},
		{"tags only", nil, []string{"t&1", "t2"}, false,
			`<InvalidationBatch ` + ns + `><Paths><Quantity>0</Quantity></Paths><CallerReference>r</CallerReference>` +
				ext + `<Mode>hard</Mode><Tags><Quantity>2</Quantity><Items><Tag>t&amp;1</Tag><Tag>t2</Tag></Items></Tags></PorticoPurge></InvalidationBatch>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := purgeDocument("r", tt.paths, tt.tags, tt.soft)
			if err != nil {
				t.Fatal(err)
			}
			if want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + tt.want; string(got) != want {
				t.Errorf("document =\n%s\nwant\n%s", got, want)
			}
		})
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
	if c, err := readCredentials(dir, env("PORTICO_ACCESS_KEY_ID", "ENVID", "PORTICO_SECRET_ACCESS_KEY", "ENVSECRET")); err != nil || c != (credentials{"ENVID", "ENVSECRET"}) {
		t.Errorf("from the environment: %+v, %v", c, err)
	}
	if c, err := readCredentials(dir, env()); err != nil || c != (credentials{"FILEID", "FILESECRET"}) {
		t.Errorf("from the data directory: %+v, %v", c, err)
	}
	if _, err := readCredentials(dir, env("PORTICO_ACCESS_KEY_ID", "ENVID")); !errors.As(err, new(usageError)) {
		t.Errorf("half the environment: %v, want a usage error", err)
	}
	empty := t.TempDir()
	if _, err := readCredentials(empty, env()); err == nil || !strings.Contains(err.Error(), "no credentials") {
		t.Errorf("no credentials anywhere: %v", err)
	}
	if _, err := os.Stat(filepath.Join(empty, credentialsFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("readCredentials generated a credentials file: %v", err)
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
