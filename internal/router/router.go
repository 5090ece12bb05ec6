// Package router answers the two routing questions of the data plane: which
// configured name a viewer's host name falls under (Table), and which of a
// distribution's ordered cache behaviours a request path selects (Paths).
//
// Both are built once from a configuration snapshot and are immutable
// afterwards, so any number of goroutines may use them without locks. Their
// lookups do not allocate.
package router

import (
	"errors"
	"fmt"
	"strings"
)

// MaxHostLen is the longest host name, in bytes and without a trailing dot,
// that a Table holds or finds: the longest DNS name in text form.
const MaxHostLen = 253

// Table maps host names to values. A name is either exact
// ("login.example.com") or a wildcard ("*.example.com") that covers exactly
// one more label, so "a.example.com" but neither "example.com" nor
// "a.b.example.com"; that label must be made of letters, digits, hyphens
// and underscores (or be "*", so that the wildcard's own name finds it). Lookups are case-insensitive and prefer an exact name
// to the wildcard; since a wildcard covers one label, the wildcard that
// covers a host is unique, and so is the most specific one.
//
// The zero Table is empty. A Table must not be changed once built.
type Table[T any] struct {
	exact map[string]T
	wild  map[string]T // keyed by the suffix after "*."
}

// NewTable returns a table of the given names and values. Names are
// normalised as by CanonicalHost. A name that is not a host name or
// wildcard, or that normalises to a name already added, is left out, and
// the returned error (which joins one error per name left out) says why;
// the table holds every other name either way.
func NewTable[T any](entries map[string]T) (*Table[T], error) {
	t := &Table[T]{exact: make(map[string]T), wild: make(map[string]T)}
	var errs []error
	for name, v := range entries {
		if err := t.add(name, v); err != nil {
			errs = append(errs, err)
		}
	}
	return t, errors.Join(errs...)
}

// Len returns the number of names in the table.
func (t *Table[T]) Len() int { return len(t.exact) + len(t.wild) }

func (t *Table[T]) add(name string, v T) error {
	canon := CanonicalHost(name)
	if err := checkName(canon); err != nil {
		return fmt.Errorf("router: name %q: %w", name, err)
	}
	m, key := t.exact, canon
	if suffix, ok := strings.CutPrefix(canon, "*."); ok {
		m, key = t.wild, suffix
	}
	if _, dup := m[key]; dup {
		return fmt.Errorf("router: name %q: %w", name, errDuplicate)
	}
	m[key] = v
	return nil
}

var errDuplicate = errors.New("added twice")

// checkName reports whether a canonical name can be stored: non-empty
// labels of at most 63 bytes, at most MaxHostLen bytes in all, and a "*"
// only as a whole first label followed by at least one more label. It does
// not insist on letters, digits and hyphens: the control plane validates
// aliases, and the table only needs names it can find.
func checkName(name string) error {
	if name == "" || len(name) > MaxHostLen {
		return errors.New("empty or longer than 253 bytes")
	}
	rest, wildcard := strings.CutPrefix(name, "*.")
	if wildcard && rest == "" {
		return errors.New("wildcard without a suffix")
	}
	for label := range strings.SplitSeq(rest, ".") {
		switch {
		case label == "" || len(label) > 63:
			return errors.New("empty label or label longer than 63 bytes")
		case strings.ContainsAny(label, "*:/[] "):
			return errors.New("wildcard or separator inside a label")
		}
	}
	return nil
}

// Lookup returns the value for host: the exact name, else the wildcard that
// covers it. host may be a Host header or a TLS server name in any case,
// with a port (":8443") and trailing dots, which Lookup ignores. Lookup
// does not allocate.
func (t *Table[T]) Lookup(host string) (v T, ok bool) {
	host = trimHost(host)
	if len(host) > MaxHostLen || host == "" {
		return v, false
	}
	// Lower-case into a stack buffer: map lookups keyed by string(b) do not
	// allocate.
	var buf [MaxHostLen]byte
	b := buf[:len(host)]
	for i := 0; i < len(host); i++ {
		b[i] = lower(host[i])
	}
	if v, ok := t.exact[string(b)]; ok {
		return v, true
	}
	// The wildcard covers the first label only if it could be a DNS label:
	// letters, digits, hyphens and underscores (or "*" itself). So a Host
	// such as "a'b.example.com" never reaches a site, nor a redirect.
	for i, c := range b {
		if c == '.' {
			if i == 0 || i == len(b)-1 {
				break
			}
			v, ok = t.wild[string(b[i+1:])]
			return v, ok
		}
		if !isLabelByte(c) && !(c == '*' && i == 0 && len(b) > 1 && b[1] == '.') {
			break
		}
	}
	return v, false
}

// isLabelByte reports whether c may appear in a lower-case DNS label as
// host names use them.
func isLabelByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// CanonicalHost returns host with ASCII letters lower-cased, without a port
// and without a trailing dot: the form in which Portico compares, logs and
// redirects to host names. (Host names on the wire are ASCII; international
// names travel as punycode.) It returns host itself, without allocating,
// when it is already canonical. A bracketed IPv6 literal keeps its
// brackets.
func CanonicalHost(host string) string {
	host = trimHost(host)
	for i := 0; i < len(host); i++ {
		if c := host[i]; 'A' <= c && c <= 'Z' {
			b := []byte(host)
			for j := i; j < len(b); j++ {
				b[j] = lower(b[j])
			}
			return string(b)
		}
	}
	return host
}

// SameHost reports whether two host names are the same once both are
// canonical (see CanonicalHost). It does not allocate.
func SameHost(a, b string) bool {
	a, b = trimHost(a), trimHost(b)
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

// trimHost strips a port and then trailing dots from host. (One trailing dot
// is the absolute form of a name; more are stripped too, so that
// normalising twice changes nothing.)
func trimHost(host string) string {
	if strings.HasPrefix(host, "[") {
		// An IPv6 literal: "[::1]" or "[::1]:8080".
		if i := strings.IndexByte(host, ']'); i >= 0 {
			return host[:i+1]
		}
		return host
	}
	if i := strings.IndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.TrimRight(host, ".")
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}
