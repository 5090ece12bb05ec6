package router

import (
	"fmt"
	"strings"
	"testing"
)

func testTable(t testing.TB) *Table[string] {
	t.Helper()
	tab, err := NewTable(map[string]string{
		"login.example.com": "login",
		"*.example.com":     "wild-com",
		"example.com":       "apex",
		"*.Example.ORG":     "wild-org",
		"www.example.org.":  "www-org",
		"e1.portico.local":  "dist",
	})
	if err != nil {
		t.Fatalf("NewTable: %v", err)
	}
	return tab
}

func TestTableLookup(t *testing.T) {
	tab := testTable(t)
	tests := []struct {
		host   string
		want   string
		wantOK bool
	}{
		{"login.example.com", "login", true},
		{"LOGIN.Example.Com", "login", true},
		{"login.example.com.", "login", true},
		{"login.example.com:8443", "login", true},
		{"Login.Example.Com.:443", "login", true},
		{"other.example.com", "wild-com", true},
		{"OTHER.EXAMPLE.COM", "wild-com", true},
		{"example.com", "apex", true},
		{"a.b.example.com", "", false}, // a wildcard covers one label only
		{".example.com", "", false},
		{"a'b.example.com", "", false}, // a Host header may hold this; no DNS label does
		{"a%2f.example.com", "", false},
		{"*a.example.com", "", false},
		{"**.example.com", "", false},
		{"under_score.example.com", "wild-com", true},
		{"x-1.example.com", "wild-com", true},
		{"www.example.org", "www-org", true}, // exact beats wildcard
		{"api.example.org", "wild-org", true},
		{"example.org", "", false},
		{"*.example.org", "wild-org", true}, // the wildcard name itself
		{"e1.portico.local", "dist", true},
		{"e2.portico.local", "", false},
		{"", "", false},
		{".", "", false},
		{":443", "", false},
		{"[::1]:443", "", false},
		{"127.0.0.1", "", false},
		{strings.Repeat("a", 300) + ".example.com", "", false},
	}
	for _, tt := range tests {
		got, ok := tab.Lookup(tt.host)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tt.host, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestNewTableLeavesOutBadNames(t *testing.T) {
	tests := []struct {
		name string
		bad  string
	}{
		{"empty", ""},
		{"lone star", "*"},
		{"star in the middle", "a.*.example.com"},
		{"partial star", "a*.example.com"},
		{"empty label", "a..example.com"},
		{"too long", strings.Repeat("a.", 130) + "com"},
		{"long label", strings.Repeat("a", 64) + ".com"},
		{"duplicate by case", "GOOD.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := NewTable(map[string]int{"good.example.com": 1, tt.bad: 2})
			if err == nil {
				t.Fatalf("NewTable with %q: no error", tt.bad)
			}
			if tab.Len() != 1 {
				t.Errorf("Len() = %d, want 1", tab.Len())
			}
			// The good name survives whichever of the two came first.
			if _, ok := tab.Lookup("good.example.com"); !ok {
				t.Errorf("good.example.com was dropped")
			}
		})
	}
}

func TestCanonicalHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"example.com", "example.com"},
		{"Example.COM", "example.com"},
		{"example.com.", "example.com"},
		{"example.com:8080", "example.com"},
		{"EXAMPLE.com.:8080", "example.com"},
		{"[::1]:8443", "[::1]"},
		{"[::1]", "[::1]"},
		{"ÉXAMPLE.com", "Éxample.com"}, // only ASCII letters are folded
		{"", ""},
	}
	for _, tt := range tests {
		if got := CanonicalHost(tt.in); got != tt.want {
			t.Errorf("CanonicalHost(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSameHost(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"login.example.com", "login.example.com", true},
		{"login.example.com", "LOGIN.Example.com:8443", true},
		{"login.example.com.", "login.example.com", true},
		{"login.example.com", "www.example.com", false},
		{"login.example.com", "login.example.co", false},
		{"", "", true},
		{"[::1]:443", "[::1]", true},
	}
	for _, tt := range tests {
		if got := SameHost(tt.a, tt.b); got != tt.want {
			t.Errorf("SameHost(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { SameHost("Login.Example.com", "login.EXAMPLE.com:443") }); allocs != 0 {
		t.Errorf("SameHost allocated %v times per run, want 0", allocs)
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	tab := bigTable(t, 1000)
	for _, host := range []string{
		"Alias-500.Example.COM",             // exact
		"Whatever.Wild-500.Example.com:443", // wildcard
		"NoSuch.Host.Example.net.",          // miss
	} {
		allocs := testing.AllocsPerRun(100, func() { tab.Lookup(host) })
		if allocs != 0 {
			t.Errorf("Lookup(%q) allocated %v times per run, want 0", host, allocs)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { CanonicalHost("already.canonical.example") }); allocs != 0 {
		t.Errorf("CanonicalHost of a canonical name allocated %v times per run, want 0", allocs)
	}
}

// bigTable holds n exact aliases alias-<i>.example.com and n wildcards
// *.wild-<i>.example.com.
func bigTable(t testing.TB, n int) *Table[int] {
	t.Helper()
	m := make(map[string]int, 2*n)
	for i := range n {
		m[fmt.Sprintf("alias-%d.example.com", i)] = i
		m[fmt.Sprintf("*.wild-%d.example.com", i)] = i
	}
	tab, err := NewTable(m)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		tab := bigTable(b, n)
		for _, c := range []struct{ name, host string }{
			{"exact", fmt.Sprintf("Alias-%d.Example.com", n/2)},
			{"wildcard", fmt.Sprintf("www.WILD-%d.example.com", n/2)},
			{"miss", "www.unknown.example.net"},
		} {
			b.Run(fmt.Sprintf("%s/aliases=%d", c.name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					tab.Lookup(c.host)
				}
			})
		}
	}
}

// FuzzCanonicalHost checks the properties every host normalisation must
// have: the result is canonical and stable, and Lookup treats a host and its
// canonical form alike.
func FuzzCanonicalHost(f *testing.F) {
	for _, s := range []string{
		"login.example.com", "LOGIN.Example.Com.:443", "a.b.example.com", "*.example.org",
		"[::1]:8443", "[::1", "::1", ".", "..", ":", "x.", "É.example.com", "\x00.example.com",
		"www.example.org.", strings.Repeat("a", 254),
	} {
		f.Add(s)
	}
	tab := testTable(f)
	f.Fuzz(func(t *testing.T, host string) {
		c := CanonicalHost(host)
		if CanonicalHost(c) != c {
			t.Fatalf("CanonicalHost not idempotent: %q → %q → %q", host, c, CanonicalHost(c))
		}
		if strings.ContainsAny(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			t.Fatalf("CanonicalHost(%q) = %q has upper-case letters", host, c)
		}
		if !strings.HasPrefix(c, "[") && (strings.HasSuffix(c, ".") || strings.Contains(c, ":")) {
			t.Fatalf("CanonicalHost(%q) = %q keeps a port or its trailing dot", host, c)
		}
		if !SameHost(host, c) {
			t.Fatalf("SameHost(%q, %q) = false for a host and its canonical form", host, c)
		}
		v1, ok1 := tab.Lookup(host)
		v2, ok2 := tab.Lookup(c)
		if v1 != v2 || ok1 != ok2 {
			t.Fatalf("Lookup(%q) = %q, %v but Lookup(%q) = %q, %v", host, v1, ok1, c, v2, ok2)
		}
	})
}
