package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigurations renders every template of bench/conf, and has the peer
// check its configuration when it is installed (bench/run installs them).
func TestConfigurations(t *testing.T) {
	dir := t.TempDir()
	p, err := newPKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{cfg: config{confDir: "../conf", cacheMB: 16, connections: 50}, work: dir, addrs: newAddrs(18100), pki: p}
	if err := os.MkdirAll(filepath.Join(dir, "nginx"), 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		template    string
		http, https string
		want        []string
		check       []string // the peer's own configuration check; the path is appended
	}{
		{
			template: "nginx.conf", http: b.addrs.nginxHTTP, https: b.addrs.nginxHTTPS,
			want: []string{"listen 127.0.0.1:18121;", "listen 127.0.0.1:18122 ssl http2;", "server 127.0.0.1:18102;",
				"proxy_cache_lock on;", "server_name rsa.bench.test;", "max_size=16m", "proxy_ssl_verify on;"},
			check: []string{"nginx", "-t", "-e", "stderr", "-p", filepath.Join(dir, "nginx"), "-c"},
		},
		{
			template: "default.vcl", http: b.addrs.varnishHTTP,
			want:  []string{`.port = "18101";`, `set bereq.http.Host = "origin.bench.test";`},
			check: []string{"varnishd", "-C", "-j", "none", "-n", filepath.Join(dir, "varnish"), "-f"},
		},
		{
			template: "haproxy.cfg", http: b.addrs.haproxyHTTP, https: b.addrs.haproxyHTTPS,
			want: []string{"bind 127.0.0.1:18141", "bind 127.0.0.1:18142 ssl crt " + p.ECDSAPEM + " crt " + p.RSAPEM,
				"total-max-size 16", "verifyhost origin.bench.test", "nbthread 1"},
			check: []string{"haproxy", "-c", "-f"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.template, func(t *testing.T) {
			path, err := b.render(tt.template, b.confData(tt.http, tt.https))
			if err != nil {
				t.Fatal(err)
			}
			out, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			conf := string(out)
			if strings.Contains(conf, "<no value>") || strings.Contains(conf, "{{") {
				t.Errorf("%s is not fully rendered:\n%s", tt.template, conf)
			}
			for _, w := range tt.want {
				if !strings.Contains(conf, w) {
					t.Errorf("%s lacks %q:\n%s", tt.template, w, conf)
				}
			}
			if _, err := exec.LookPath(tt.check[0]); err != nil {
				t.Skipf("%s is not installed: the configuration is not checked", tt.check[0])
			}
			argv := append(tt.check, path)
			if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
				t.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, out)
			}
		})
	}
}

func TestWithPort(t *testing.T) {
	if got := withPort(benchHost, "127.0.0.1:18111"); got != "bench.test:18111" {
		t.Errorf("withPort = %q", got)
	}
}
