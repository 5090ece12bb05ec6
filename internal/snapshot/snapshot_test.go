package snapshot

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/testpki"
)

// testState is a state with every kind of distribution Build must handle.
func testState(t testing.TB, ca *testpki.CA) *portico.State {
	t.Helper()
	broken := distConfig("broken", true, "")
	broken.DefaultCacheBehavior.TargetOriginID = "nowhere"
	return &portico.State{
		Rev: 42,
		Distributions: []portico.Distribution{
			dist("E1", distConfig("one", true, "arn:login", "login.example.com", "*.example.org")),
			dist("E2", distConfig("two", false, "arn:disabled", "off.example.com")),
			dist("E3", broken),
			dist("E4", distConfig("four", true, "")),
		},
		Certificates: []portico.Certificate{
			issue(t, ca, "arn:login", "login.example.com", "*.example.org"),
			issue(t, ca, "arn:disabled", "off.example.com"),
			issue(t, ca, "arn:unused", "unused.example.net"),
		},
	}
}

func TestBuild(t *testing.T) {
	ca := testpki.NewCA(t, "Viewer Test CA")
	o := newOrigin(t)
	snap, err := Build(testState(t, ca), o.deps(t, ca.Issue(t, []string{"*.portico.localhost"}).TLSCertificate(t)))
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if snap.Rev() != 42 {
		t.Errorf("Rev() = %d, want 42", snap.Rev())
	}

	t.Run("sites", func(t *testing.T) {
		tests := []struct {
			host string
			want string // distribution ID, "" for none
			name string // the name matched
		}{
			{"login.example.com", "E1", "login.example.com"},
			{"LOGIN.Example.com.:443", "E1", "login.example.com"},
			{"www.example.org", "E1", "*.example.org"},
			{"E1.portico.localhost", "E1", "e1.portico.localhost"},
			{"off.example.com", "", ""}, // disabled distributions stop serving
			{"e2.portico.localhost", "", ""},
			{"e3.portico.localhost", "", ""}, // could not be built
			{"e4.portico.localhost", "E4", "e4.portico.localhost"},
			{"unused.example.net", "", ""},
			{"a.b.example.org", "", ""},
		}
		for _, tt := range tests {
			site, ok := snap.Site(tt.host)
			got := ""
			if ok {
				got = site.ID
			}
			if got != tt.want {
				t.Errorf("Site(%q) = %q, want %q", tt.host, got, tt.want)
			}
			m, ok := snap.Match(tt.host)
			if ok != (tt.want != "") || ok && (m.Site != site || m.Name != tt.name) {
				t.Errorf("Match(%q) = %+v, %v; want %s by %q", tt.host, m, ok, tt.want, tt.name)
			}
		}
		if allocs := testing.AllocsPerRun(100, func() { snap.Match("WWW.example.org:443") }); allocs != 0 {
			t.Errorf("Match allocated %v times, want 0", allocs)
		}
	})

	t.Run("dns", func(t *testing.T) {
		tests := []struct {
			name, target string
			ok           bool
		}{
			{"e1.portico.localhost", "", true},
			{"login.example.com", "e1.portico.localhost", true},
			{"www.example.org", "e1.portico.localhost", true},
			{"*.example.org", "e1.portico.localhost", true},
			{"e4.portico.localhost", "", true},
			{"off.example.com", "", false},
			{"e2.portico.localhost", "", false},
			{"nothing.example.com", "", false},
		}
		for _, tt := range tests {
			target, ok := snap.Lookup(tt.name)
			if target != tt.target || ok != tt.ok {
				t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tt.name, target, ok, tt.target, tt.ok)
			}
		}
	})

	t.Run("behaviors", func(t *testing.T) {
		site, ok := snap.Site("login.example.com")
		if !ok {
			t.Fatal("login.example.com not served")
		}
		tests := []struct {
			path, pattern, policy string
			post                  bool
		}{
			{"/", "*", "redirect-to-https", false},
			{"/api/users", "/api/*", "https-only", true},
			{"/API/users", "*", "redirect-to-https", false},
		}
		all := site.Behaviors()
		if len(all) != 2 || all[0].Index != 0 || all[0].PathPattern != "/api/*" || all[1].Index != -1 || all[1].PathPattern != "*" {
			t.Fatalf("Behaviors() = %+v, want /api/* (0), then the default (-1)", all)
		}
		for _, tt := range tests {
			b := site.Behavior(tt.path)
			if !slices.Contains(all, b) {
				t.Errorf("Behavior(%q) is not among Behaviors()", tt.path)
			}
			if b.PathPattern != tt.pattern || b.ViewerProtocolPolicy != tt.policy || b.Allows("POST") != tt.post {
				t.Errorf("Behavior(%q) = %q, %s, POST allowed %v; want %q, %s, %v",
					tt.path, b.PathPattern, b.ViewerProtocolPolicy, b.Allows("POST"), tt.pattern, tt.policy, tt.post)
			}
			if !b.Allows("GET") || b.Allows("get") {
				t.Errorf("Behavior(%q): Allows(GET) = %v, Allows(get) = %v; want true, false", tt.path, b.Allows("GET"), b.Allows("get"))
			}
		}
	})

	t.Run("certificates", func(t *testing.T) {
		tests := []struct{ sni, want string }{
			{"login.example.com", "login.example.com"},
			{"www.example.org", "login.example.com"},
			{"off.example.com", "*.portico.localhost"},    // used only by a disabled distribution
			{"unused.example.net", "*.portico.localhost"}, // used by none
			{"e4.portico.localhost", "*.portico.localhost"},
		}
		for _, tt := range tests {
			c, err := snap.GetCertificate(&tls.ClientHelloInfo{ServerName: tt.sni})
			if err != nil {
				t.Errorf("GetCertificate(%q): %v", tt.sni, err)
				continue
			}
			if got := c.Leaf.DNSNames[0]; got != tt.want {
				t.Errorf("GetCertificate(%q) = certificate for %q, want %q", tt.sni, got, tt.want)
			}
		}
	})

	t.Run("skipped", func(t *testing.T) {
		if len(snap.Skipped()) != 1 || !strings.Contains(snap.Skipped()[0].Error(), "distribution E3") {
			t.Errorf("Skipped() = %v, want one error about distribution E3", snap.Skipped())
		}
	})

	t.Run("handler", func(t *testing.T) {
		site, _ := snap.Site("login.example.com")
		for i, want := range []string{"Miss", "Hit"} {
			rec := httptest.NewRecorder()
			site.Behavior("/page").Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://login.example.com/page", nil))
			if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("X-Cache"), want) {
				t.Errorf("request %d: status %d, X-Cache %q; want 200, %s", i+1, rec.Code, rec.Header().Get("X-Cache"), want)
			}
		}
		if n := o.requests("/page"); n != 1 {
			t.Errorf("origin saw /page %d times, want 1", n)
		}
	})
}

func TestBuildNameClaimedTwice(t *testing.T) {
	ca := testpki.NewCA(t, "Viewer Test CA")
	o := newOrigin(t)
	st := &portico.State{
		Rev: 7,
		Distributions: []portico.Distribution{
			dist("E1", distConfig("one", true, "arn:c", "www.example.com")),
			dist("E2", distConfig("two", true, "arn:c", "WWW.example.com", "api.example.com")),
		},
		Certificates: []portico.Certificate{issue(t, ca, "arn:c", "www.example.com", "api.example.com")},
	}
	snap, err := Build(st, o.deps(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]string{"www.example.com": "E1", "api.example.com": "E2", "e2.portico.localhost": "E2"} {
		if site, ok := snap.Site(host); !ok || site.ID != want {
			t.Errorf("Site(%q) = %v, %v; want %s", host, site, ok, want)
		}
	}
	if len(snap.Skipped()) != 1 || !strings.Contains(snap.Skipped()[0].Error(), "www.example.com is already served by distribution E1") {
		t.Errorf("Skipped() = %v, want the duplicate name", snap.Skipped())
	}
}

func TestBuildReportsMissingAndBrokenCertificates(t *testing.T) {
	ca := testpki.NewCA(t, "Viewer Test CA")
	o := newOrigin(t)
	bad := issue(t, ca, "arn:bad", "bad.example.com")
	bad.PrivateKeyPEM = []byte("-----BEGIN PRIVATE KEY-----\nTk9UQUtFWQ==\n-----END PRIVATE KEY-----\n")
	st := &portico.State{
		Distributions: []portico.Distribution{
			dist("E1", distConfig("one", true, "arn:bad", "bad.example.com")),
			dist("E2", distConfig("two", true, "arn:gone", "gone.example.com")),
		},
		Certificates: []portico.Certificate{bad},
	}
	snap, err := Build(st, o.deps(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	// Both distributions are still routed; their viewers get the default.
	for _, host := range []string{"bad.example.com", "gone.example.com"} {
		if _, ok := snap.Site(host); !ok {
			t.Errorf("Site(%q): not served", host)
		}
	}
	var all []string
	for _, err := range snap.Skipped() {
		all = append(all, err.Error())
	}
	joined := strings.Join(all, "\n")
	for _, want := range []string{"arn:bad", "arn:gone"} {
		if !strings.Contains(joined, want) {
			t.Errorf("Skipped() = %q, want a problem naming %s", joined, want)
		}
	}
	if strings.Contains(joined, "Tk9UQUtFWQ") {
		t.Errorf("Skipped() quotes a private key: %q", joined)
	}
}

func TestBuildNeedsItsParts(t *testing.T) {
	o := newOrigin(t)
	good := o.deps(t, nil)
	tests := []struct {
		name string
		st   *portico.State
		deps Deps
	}{
		{"no state", nil, good},
		{"no transports", &portico.State{}, Deps{Cache: good.Cache}},
		{"no cache", &portico.State{}, Deps{Transports: good.Transports}},
	}
	for _, tt := range tests {
		if _, err := Build(tt.st, tt.deps); err == nil {
			t.Errorf("%s: Build succeeded, want an error", tt.name)
		}
	}
}

func TestLookupsDoNotAllocate(t *testing.T) {
	ca := testpki.NewCA(t, "Viewer Test CA")
	o := newOrigin(t)
	snap, err := Build(testState(t, ca), o.deps(t, ca.Issue(t, []string{"*.portico.localhost"}).TLSCertificate(t)))
	if err != nil {
		t.Fatal(err)
	}
	site, _ := snap.Site("login.example.com")
	hello := &tls.ClientHelloInfo{ServerName: "Login.Example.com"}
	checks := map[string]func(){
		"Site exact":    func() { snap.Site("LOGIN.example.com:443") },
		"Site wildcard": func() { snap.Site("WWW.Example.org") },
		"Site miss":     func() { snap.Site("Nothing.Example.net") },
		"Lookup alias":  func() { snap.Lookup("www.example.org") },
		"Lookup own":    func() { snap.Lookup("e1.portico.localhost") },
		"Behavior":      func() { site.Behavior("/api/v1/users") },
		"Allows":        func() { site.Behavior("/").Allows("DELETE") },
		"Certificate":   func() { snap.GetCertificate(hello) },
	}
	for name, f := range checks {
		if allocs := testing.AllocsPerRun(100, f); allocs != 0 {
			t.Errorf("%s allocated %v times per run, want 0", name, allocs)
		}
	}
}
