package router

import "strings"

// PathRoute is one ordered cache behaviour's path pattern and its value.
type PathRoute[T any] struct {
	Pattern string
	Value   T
}

// Paths selects the value of the first route whose path pattern matches a
// request path, or the default value when none does: CloudFront's rule for
// choosing among a distribution's cache behaviours, whose default behaviour
// comes last. Patterns follow MatchPath.
//
// A Paths must not be changed once built; any number of goroutines may use
// it.
type Paths[T any] struct {
	routes []PathRoute[T]
	def    T
}

// NewPaths returns a Paths that tries routes in order and falls back to def.
func NewPaths[T any](routes []PathRoute[T], def T) *Paths[T] {
	return &Paths[T]{routes: append([]PathRoute[T](nil), routes...), def: def}
}

// Lookup returns the value of the first route whose pattern matches path,
// else the default. It does not allocate.
func (p *Paths[T]) Lookup(path string) T {
	for i := range p.routes {
		if MatchPath(p.routes[i].Pattern, path) {
			return p.routes[i].Value
		}
	}
	return p.def
}

// MatchPath reports whether a CloudFront path pattern matches a request
// path. In the pattern, "*" matches any run of bytes, "/" included, and "?"
// exactly one byte; every other byte matches itself, case-sensitively. A
// leading "/" is optional in both: CloudFront treats "images/*.jpg" and
// "/images/*.jpg" alike. The path is matched as the viewer sent it, with its
// percent-encoding and without its query string.
//
// Matching takes time proportional to len(pattern)×len(path) at worst and
// does not allocate.
func MatchPath(pattern, path string) bool {
	return match(strings.TrimPrefix(pattern, "/"), strings.TrimPrefix(path, "/"))
}

// match is the classic wildcard matcher: on a mismatch it backtracks to the
// most recent "*" and lets it absorb one more byte. Earlier stars never need
// revisiting, which bounds the work without recursion.
func match(p, s string) bool {
	pi, si := 0, 0
	star, resume := -1, 0 // the last "*" seen, and where its match would end next
	for si < len(s) {
		if pi < len(p) {
			switch c := p[pi]; {
			case c == '*':
				star, resume = pi, si
				pi++
				continue
			case c == '?' || c == s[si]:
				pi++
				si++
				continue
			}
		}
		if star < 0 {
			return false
		}
		resume++
		pi, si = star+1, resume
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
