package httpcache

import (
	"net/http"
	"slices"
	"sort"
)

// fields is the compact, immutable form of a stored response's header
// fields: the canonical names in order, the values of all of them in one
// slice, and where each name's values end. It takes about half the memory
// of an http.Header, and serving it allocates nothing: each name gets a
// capacity-limited sub-slice of vals, which an append copies rather than
// overwrites.
type fields struct {
	names []string
	ends  []uint32 // vals[ends[i-1]:ends[i]] are the values of names[i]
	vals  []string
}

// newFields returns the compact form of hd, without the names skip
// reports true for.
func newFields(hd http.Header, skip func(name string) bool) fields {
	var f fields
	n, nv := 0, 0
	for k, v := range hd {
		if skip == nil || !skip(k) {
			n++
			nv += len(v)
		}
	}
	f.names = make([]string, 0, n)
	for k := range hd {
		if skip == nil || !skip(k) {
			f.names = append(f.names, k)
		}
	}
	sort.Strings(f.names)
	f.ends = make([]uint32, n)
	f.vals = make([]string, 0, nv)
	for i, k := range f.names {
		f.vals = append(f.vals, hd[k]...)
		f.ends[i] = uint32(len(f.vals))
	}
	return f
}

// values returns the values of name (canonical), or nil.
func (f *fields) values(name string) []string {
	i, ok := slices.BinarySearch(f.names, name)
	if !ok {
		return nil
	}
	return f.at(i)
}

// get returns the first value of name (canonical), or "".
func (f *fields) get(name string) string {
	if v := f.values(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (f *fields) at(i int) []string {
	lo := uint32(0)
	if i > 0 {
		lo = f.ends[i-1]
	}
	hi := f.ends[i]
	return f.vals[lo:hi:hi]
}

// copyTo sets every field in hd. It does not allocate beyond what hd's
// map needs.
func (f *fields) copyTo(hd http.Header) {
	for i, name := range f.names {
		hd[name] = f.at(i)
	}
}

// header returns the fields as a new http.Header.
func (f *fields) header() http.Header {
	hd := make(http.Header, len(f.names))
	f.copyTo(hd)
	return hd
}

// size is what the fields count against the byte budget.
func (f *fields) size() int64 {
	n := int64(len(f.names)*(16+4) + len(f.vals)*16)
	for i, name := range f.names {
		n += int64(len(name))
		for _, v := range f.at(i) {
			n += int64(len(v))
		}
	}
	return n
}
