package httpcache

import (
	"net/http"
	"slices"
	"strings"
)

// fields is the compact, immutable form of a stored response's header
// fields: the canonical names in order, each with its values.
//
// It is one slice of strings: s[1:] holds the values of all the names, back
// to back, and s[0] the table of the names (see fieldsPlan.write). Serving
// it allocates nothing: a name is a substring of the table, and its values
// a capacity-limited sub-slice of s, which an append copies rather than
// overwrites. The table and the values are substrings of one string, which
// may hold an entry's key too (see newEntry), but for values that many
// responses share (see sharedValues): a stored response keeps none of the
// strings of the response it was made from.
type fields struct {
	s []string
}

// The table of fields with n names, every number in it w bytes long,
// big-endian:
//
//	w        1 byte: 1, 2 or 4, as the largest number needs
//	n        the number of names
//	nameEnd  n numbers: where each name ends in names
//	valEnd   n numbers: where the values of each name end in s[1:]
//	common   n bytes: 1 + the index of the name in commonNames, or 0
//	names    the names not in commonNames, back to back

// commonNames are the names of response header fields that most responses
// carry, canonical and sorted: the table of fields refers to them rather
// than holding them. Those marked shared have values that many responses
// share, which entries may refer to (see sharedValues) rather than hold.
var commonNames = [...]commonField{
	{"Accept-Ch", true},
	{"Accept-Ranges", true},
	{"Access-Control-Allow-Credentials", true},
	{"Access-Control-Allow-Headers", true},
	{"Access-Control-Allow-Methods", true},
	{"Access-Control-Allow-Origin", true},
	{"Access-Control-Expose-Headers", true},
	{"Access-Control-Max-Age", true},
	{"Age", false},
	{"Alt-Svc", true},
	{"Cache-Control", true},
	{"Cache-Status", false},
	{"Content-Disposition", false},
	{"Content-Encoding", true},
	{"Content-Language", true},
	{"Content-Length", false},
	{"Content-Location", false},
	{"Content-Security-Policy", true},
	{"Content-Security-Policy-Report-Only", true},
	{"Content-Type", true},
	{"Cross-Origin-Embedder-Policy", true},
	{"Cross-Origin-Opener-Policy", true},
	{"Cross-Origin-Resource-Policy", true},
	{"Date", false},
	{"Etag", false},
	{"Expires", false},
	{"Last-Modified", false},
	{"Link", false},
	{"Location", false},
	{"Nel", true},
	{"Origin-Agent-Cluster", true},
	{"Permissions-Policy", true},
	{"Pragma", true},
	{"Referrer-Policy", true},
	{"Report-To", true},
	{"Reporting-Endpoints", true},
	{"Retry-After", false},
	{"Server", true},
	{"Server-Timing", false},
	{"Strict-Transport-Security", true},
	{"Surrogate-Control", true},
	{"Surrogate-Key", false},
	{"Timing-Allow-Origin", true},
	{"Vary", true},
	{"Via", true},
	{"Www-Authenticate", false},
	{"X-Content-Type-Options", true},
	{"X-Frame-Options", true},
	{"X-Powered-By", true},
	{"X-Robots-Tag", true},
	{"X-Xss-Protection", true},
}

type commonField struct {
	name   string
	shared bool
}

// commonName returns 1 + the index of name in commonNames, or 0.
func commonName(name string) byte {
	i, ok := slices.BinarySearchFunc(commonNames[:], name, func(c commonField, name string) int {
		return strings.Compare(c.name, name)
	})
	if ok {
		return byte(1 + i)
	}
	return 0
}

// fieldsPlan is the layout of the compact form of some header fields,
// measured before it is written.
type fieldsPlan struct {
	hd        http.Header
	names     []string // the names kept, sorted
	nv        int      // the number of values
	namesLen  int      // the bytes of the names
	valuesLen int      // the bytes of the values written
	w         int      // the bytes of a number in the table
	// shared holds, for each value in order, the shared copy to refer to,
	// or "" to write the value; nil when there is none.
	shared []string
}

// planFields measures the compact form of hd without the names skip
// reports true for, referring to the copies of sv (which may be nil) for
// the values it shares.
func planFields(hd http.Header, skip func(name string) bool, sv *sharedValues) fieldsPlan {
	p := fieldsPlan{hd: hd}
	for k, v := range hd {
		if skip != nil && skip(k) {
			continue
		}
		p.names = append(p.names, k)
		p.nv += len(v)
		if commonName(k) == 0 {
			p.namesLen += len(k)
		}
	}
	slices.Sort(p.names)
	i := 0
	for _, name := range p.names {
		c := commonName(name)
		for _, v := range hd[name] {
			if c != 0 && commonNames[c-1].shared {
				if dup, ok := sv.get(v); ok {
					if p.shared == nil {
						p.shared = make([]string, p.nv)
					}
					p.shared[i] = dup
					i++
					continue
				}
			}
			p.valuesLen += len(v)
			i++
		}
	}
	switch m := max(len(p.names), p.nv, p.namesLen); {
	case m <= 0xff:
		p.w = 1
	case m <= 0xffff:
		p.w = 2
	default:
		p.w = 4
	}
	return p
}

// tableLen is the length of the table.
func (p *fieldsPlan) tableLen() int {
	if len(p.names) == 0 {
		return 0
	}
	return 1 + p.w*(1+2*len(p.names)) + len(p.names) + p.namesLen
}

// textLen is the length of the text write writes: the table, then the
// values.
func (p *fieldsPlan) textLen() int { return p.tableLen() + p.valuesLen }

// write writes the table, then the values, to b.
func (p *fieldsPlan) write(b *strings.Builder) {
	if len(p.names) == 0 {
		return
	}
	b.WriteByte(byte(p.w))
	p.writeNum(b, len(p.names))
	end := 0
	for _, name := range p.names {
		if commonName(name) == 0 {
			end += len(name)
		}
		p.writeNum(b, end)
	}
	end = 0
	for _, name := range p.names {
		end += len(p.hd[name])
		p.writeNum(b, end)
	}
	for _, name := range p.names {
		b.WriteByte(commonName(name))
	}
	for _, name := range p.names {
		if commonName(name) == 0 {
			b.WriteString(name)
		}
	}
	i := 0
	for _, name := range p.names {
		for _, v := range p.hd[name] {
			if p.shared == nil || p.shared[i] == "" {
				b.WriteString(v)
			}
			i++
		}
	}
}

func (p *fieldsPlan) writeNum(b *strings.Builder, v int) {
	for i := p.w - 1; i >= 0; i-- {
		b.WriteByte(byte(v >> (8 * i)))
	}
}

// fields returns the fields over text, what write wrote.
func (p *fieldsPlan) fields(text string) fields {
	if len(p.names) == 0 {
		return fields{}
	}
	s := make([]string, 1, 1+p.nv)
	n := p.tableLen()
	s[0] = text[:n]
	for _, name := range p.names {
		for _, v := range p.hd[name] {
			if p.shared != nil && p.shared[len(s)-1] != "" {
				s = append(s, p.shared[len(s)-1])
				continue
			}
			s = append(s, text[n:n+len(v)])
			n += len(v)
		}
	}
	return fields{s: s}
}

// newFields returns the compact form of hd, without the names skip
// reports true for.
func newFields(hd http.Header, skip func(name string) bool) fields {
	p := planFields(hd, skip, nil)
	var b strings.Builder
	b.Grow(p.textLen())
	p.write(&b)
	return p.fields(b.String())
}

// table returns the table, the length of its numbers and the number of
// names.
func (f *fields) table() (t string, w, n int) {
	if len(f.s) == 0 {
		return "", 0, 0
	}
	t = f.s[0]
	w = int(t[0])
	return t, w, num(t, 1, w)
}

// num returns the w-byte number at t[off:].
func num(t string, off, w int) int {
	switch w {
	case 1:
		return int(t[off])
	case 2:
		return int(t[off])<<8 | int(t[off+1])
	}
	return int(t[off])<<24 | int(t[off+1])<<16 | int(t[off+2])<<8 | int(t[off+3])
}

// len returns the number of names.
func (f *fields) len() int {
	_, _, n := f.table()
	return n
}

// name returns the i-th name.
func (f *fields) name(i int) string {
	t, w, n := f.table()
	return nameAt(t, w, n, i)
}

func nameAt(t string, w, n, i int) string {
	base := 1 + w*(1+2*n)
	if c := t[base+i]; c != 0 {
		return commonNames[c-1].name
	}
	base += n
	lo := 0
	if i > 0 {
		lo = num(t, 1+w*i, w)
	}
	return t[base+lo : base+num(t, 1+w*(1+i), w)]
}

// at returns the values of the i-th name.
func (f *fields) at(i int) []string {
	t, w, n := f.table()
	return f.valuesAt(t, w, n, i)
}

func (f *fields) valuesAt(t string, w, n, i int) []string {
	lo := 0
	if i > 0 {
		lo = num(t, 1+w*(n+i), w)
	}
	hi := num(t, 1+w*(n+1+i), w)
	return f.s[1+lo : 1+hi : 1+hi]
}

// values returns the values of name (canonical), or nil.
func (f *fields) values(name string) []string {
	t, w, n := f.table()
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch c := strings.Compare(nameAt(t, w, n, m), name); {
		case c == 0:
			return f.valuesAt(t, w, n, m)
		case c < 0:
			lo = m + 1
		default:
			hi = m
		}
	}
	return nil
}

// get returns the first value of name (canonical), or "".
func (f *fields) get(name string) string {
	if v := f.values(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

// copyTo sets every field in hd. It does not allocate beyond what hd's
// map needs.
func (f *fields) copyTo(hd http.Header) {
	t, w, n := f.table()
	for i := range n {
		hd[nameAt(t, w, n, i)] = f.valuesAt(t, w, n, i)
	}
}

// header returns the fields as a new http.Header.
func (f *fields) header() http.Header {
	hd := make(http.Header, f.len())
	f.copyTo(hd)
	return hd
}
