package router

import (
	"strings"
	"testing"
)

func TestMatchPath(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"*", "/", true},
		{"*", "/anything/at/all.html", true},
		{"/images/*.jpg", "/images/a.jpg", true},
		{"images/*.jpg", "/images/a.jpg", true}, // the leading slash is optional
		{"/images/*.jpg", "images/a.jpg", true},
		{"/images/*.jpg", "/images/sub/dir/a.jpg", true}, // "*" crosses "/"
		{"/images/*.jpg", "/images/a.JPG", false},        // case-sensitive
		{"/images/*.jpg", "/Images/a.jpg", false},
		{"/images/*.jpg", "/images/a.jpg/x", false},
		{"*.jpg", "/a/b/c.jpg", true},
		{"/a?c", "/abc", true},
		{"/a?c", "/ac", false},
		{"/a?c", "/abbc", false},
		{"/a?c", "/a/c", true}, // "?" is any one byte
		{"/api/*", "/api/", true},
		{"/api/*", "/api", false},
		{"/api/*/users", "/api/v1/users", true},
		{"/api/*/users", "/api/v1/users/1", false},
		{"/a*b*c", "/aXbYc", true},
		{"/a*b*c", "/aXcYb", false},
		{"/a*b*c", "/abbbbbc", true},
		{"/a**", "/a", true},
		{"/login", "/login", true},
		{"/login", "/login/", false},
		{"/%7Euser/*", "/%7Euser/x", true}, // percent-encoding is matched as sent
		{"/%7Euser/*", "/~user/x", false},
		{"", "/", true},
		{"", "/x", false},
	}
	for _, tt := range tests {
		if got := MatchPath(tt.pattern, tt.path); got != tt.want {
			t.Errorf("MatchPath(%q, %q) = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
	}
}

func TestPathsLookup(t *testing.T) {
	p := NewPaths([]PathRoute[string]{
		{"/api/v1/*", "v1"},
		{"/api/*", "api"}, // listed after the more specific one, as CloudFront requires
		{"*.css", "css"},
		{"/api/v1/special", "never"}, // shadowed by the first route: first match wins
	}, "default")
	tests := []struct{ path, want string }{
		{"/api/v1/special", "v1"},
		{"/api/v2/x", "api"},
		{"/static/site.css", "css"},
		{"/api/site.css", "api"},
		{"/", "default"},
		{"/API/v1/x", "default"},
	}
	for _, tt := range tests {
		if got := p.Lookup(tt.path); got != tt.want {
			t.Errorf("Lookup(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestPathsLookupDoesNotAllocate(t *testing.T) {
	p := NewPaths([]PathRoute[int]{{"/a/*", 1}, {"/b/*.jpg", 2}, {"/c?/*", 3}}, 0)
	for _, path := range []string{"/a/x", "/b/one/two.jpg", "/nothing/matches/here"} {
		if allocs := testing.AllocsPerRun(100, func() { p.Lookup(path) }); allocs != 0 {
			t.Errorf("Lookup(%q) allocated %v times per run, want 0", path, allocs)
		}
	}
}

func BenchmarkPathsLookup(b *testing.B) {
	routes := make([]PathRoute[int], 25) // CloudFront's default quota of cache behaviours
	for i := range routes {
		routes[i] = PathRoute[int]{Pattern: "/section-" + strings.Repeat("x", i) + "/*.jpg", Value: i}
	}
	p := NewPaths(routes, -1)
	b.ReportAllocs()
	for b.Loop() {
		p.Lookup("/section-none/images/2024/photo.jpg")
	}
}

// matchRef is an obviously correct matcher: dynamic programming over every
// (pattern, path) prefix pair.
func matchRef(p, s string) bool {
	p, s = strings.TrimPrefix(p, "/"), strings.TrimPrefix(s, "/")
	// ok[j] is whether p[:i] matches s[:j] for the current i.
	ok := make([]bool, len(s)+1)
	ok[0] = true
	for i := 0; i < len(p); i++ {
		next := make([]bool, len(s)+1)
		switch p[i] {
		case '*':
			any := false
			for j := 0; j <= len(s); j++ {
				any = any || ok[j]
				next[j] = any
			}
		default:
			for j := 1; j <= len(s); j++ {
				next[j] = ok[j-1] && (p[i] == '?' || p[i] == s[j-1])
			}
		}
		ok = next
	}
	return ok[len(s)]
}

func FuzzMatchPath(f *testing.F) {
	for _, s := range [][2]string{
		{"*", "/"}, {"/images/*.jpg", "/images/a/b.jpg"}, {"/a?c", "/abc"}, {"/a*b*c", "/aXcYb"},
		{"api/*", "/api/v1"}, {"**?", "/x"}, {"", ""}, {"/%2F*", "/%2Fx"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, path string) {
		if len(pattern) > 64 || len(path) > 256 {
			return // keep the quadratic reference fast
		}
		if got, want := MatchPath(pattern, path), matchRef(pattern, path); got != want {
			t.Fatalf("MatchPath(%q, %q) = %v, reference says %v", pattern, path, got, want)
		}
	})
}
