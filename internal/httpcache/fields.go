package httpcache

import (
	"net/http"
	"slices"
	"strings"
)

// fields is the compact, immutable form of a stored response's header
// fields: the canonical names in order, each with its values.
//
// It is one string, t: a table of the names and of where each value is
// (see fieldsPlan.write), then the values the response holds, back to
// back. The string may hold an entry's key and more before it (see
// newEntry). Values that many responses share are not in it: the table
// gives their index in sv (see sharedValues). A stored response keeps none
// of the strings of the response it was made from.
//
// A server's header map wants a []string for each name: a view (see view)
// holds every value, and a name's values are a capacity-limited sub-slice
// of it, which an append copies rather than overwrites. An entry keeps a
// view only while it is hit (see hitStamp): most entries hold none.
type fields struct {
	t  string
	sv *sharedValues // nil when the table refers to no shared value
}

// The table of fields with n names and nv values, every number in it w
// bytes long, big-endian:
//
//	w        1 byte: 1, 2 or 4, as the largest number needs (see below)
//	n        the number of names
//	nameEnd  n numbers: where each name ends in names
//	valEnd   n numbers: where the values of each name end among the values
//	value    nv numbers: where each value held ends in the values held, or,
//	         for a shared value, sharedBit(w) plus its index in sv
//	common   n bytes: 1 + the index of the name in commonNames, or 0
//	names    the names not in commonNames, back to back
//
// Every number is less than sharedBit(w), the top bit of a number.

// sharedBit returns the bit that marks a shared value in a table whose
// numbers are w bytes long.
func sharedBit(w int) int { return 1 << (8*w - 1) }

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
	valuesLen int      // the bytes of the values held
	w         int      // the bytes of a number in the table
	// shared holds, for each value in order, 1 + the index in sv of the
	// copy to refer to, or 0 to hold the value; nil when there is none.
	shared []uint32
	sv     *sharedValues
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
	i, largest := 0, 0
	for _, name := range p.names {
		c := commonName(name)
		for _, v := range hd[name] {
			if c != 0 && commonNames[c-1].shared {
				if id, ok := sv.get(v); ok {
					if p.shared == nil {
						p.shared = make([]uint32, p.nv)
						p.sv = sv
					}
					p.shared[i] = 1 + id
					largest = max(largest, int(id))
					i++
					continue
				}
			}
			p.valuesLen += len(v)
			i++
		}
	}
	switch m := max(len(p.names), p.nv, p.namesLen, p.valuesLen, largest); {
	case m < sharedBit(1):
		p.w = 1
	case m < sharedBit(2):
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
	return 1 + p.w*(1+2*len(p.names)+p.nv) + len(p.names) + p.namesLen
}

// textLen is the length of the text write writes: the table, then the
// values held.
func (p *fieldsPlan) textLen() int { return p.tableLen() + p.valuesLen }

// write writes the table, then the values held, to b.
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
	i, end := 0, 0
	for _, name := range p.names {
		for _, v := range p.hd[name] {
			if p.shared != nil && p.shared[i] != 0 {
				p.writeNum(b, sharedBit(p.w)|int(p.shared[i]-1))
			} else {
				end += len(v)
				p.writeNum(b, end)
			}
			i++
		}
	}
	for _, name := range p.names {
		b.WriteByte(commonName(name))
	}
	for _, name := range p.names {
		if commonName(name) == 0 {
			b.WriteString(name)
		}
	}
	i = 0
	for _, name := range p.names {
		for _, v := range p.hd[name] {
			if p.shared == nil || p.shared[i] == 0 {
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
	return fields{t: text, sv: p.sv}
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

// fieldTable is the table of some fields, read.
type fieldTable struct {
	t      string
	w      int // the bytes of a number
	n, nv  int // the numbers of names and values
	common int // where the common bytes start
	held   int // where the values held start
}

// table returns the table of f.
func (f *fields) table() fieldTable {
	if f.t == "" {
		return fieldTable{}
	}
	t := f.t
	w := int(t[0])
	n := num(t, 1, w)
	nv := num(t, 1+w*2*n, w) // the last valEnd
	common := 1 + w*(1+2*n+nv)
	return fieldTable{t: t, w: w, n: n, nv: nv, common: common, held: common + n + num(t, 1+w*n, w)}
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

// name returns the i-th name.
func (tb *fieldTable) name(i int) string {
	if c := tb.t[tb.common+i]; c != 0 {
		return commonNames[c-1].name
	}
	base := tb.common + tb.n
	lo := 0
	if i > 0 {
		lo = num(tb.t, 1+tb.w*i, tb.w)
	}
	return tb.t[base+lo : base+num(tb.t, 1+tb.w*(1+i), tb.w)]
}

// valueRange returns the indices of the values of the i-th name: [lo, hi).
func (tb *fieldTable) valueRange(i int) (lo, hi int) {
	if i > 0 {
		lo = num(tb.t, 1+tb.w*(tb.n+i), tb.w)
	}
	return lo, num(tb.t, 1+tb.w*(tb.n+1+i), tb.w)
}

// value returns the j-th value, looking a shared one up in sv.
func (tb *fieldTable) value(j int, sv *sharedValues) string {
	off, bit := 1+tb.w*(1+2*tb.n), sharedBit(tb.w)
	end := num(tb.t, off+tb.w*j, tb.w)
	if end&bit != 0 {
		return sv.at(uint32(end &^ bit))
	}
	start := 0
	for k := j - 1; k >= 0; k-- {
		if x := num(tb.t, off+tb.w*k, tb.w); x&bit == 0 {
			start = x
			break
		}
	}
	return tb.t[tb.held+start : tb.held+end]
}

// find returns the index of name (canonical), or -1.
func (tb *fieldTable) find(name string) int {
	lo, hi := 0, tb.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch c := strings.Compare(tb.name(m), name); {
		case c == 0:
			return m
		case c < 0:
			lo = m + 1
		default:
			hi = m
		}
	}
	return -1
}

// len returns the number of names.
func (f *fields) len() int {
	tb := f.table()
	return tb.n
}

// name returns the i-th name.
func (f *fields) name(i int) string {
	tb := f.table()
	return tb.name(i)
}

// at returns the values of the i-th name, in a new slice.
func (f *fields) at(i int) []string {
	tb := f.table()
	lo, hi := tb.valueRange(i)
	v := make([]string, hi-lo)
	for j := range v {
		v[j] = tb.value(lo+j, f.sv)
	}
	return v
}

// values returns the values of name (canonical), in a new slice, or nil.
func (f *fields) values(name string) []string {
	tb := f.table()
	if i := tb.find(name); i >= 0 {
		return f.at(i)
	}
	return nil
}

// count returns the number of values of name (canonical).
func (f *fields) count(name string) int {
	tb := f.table()
	i := tb.find(name)
	if i < 0 {
		return 0
	}
	lo, hi := tb.valueRange(i)
	return hi - lo
}

// get returns the first value of name (canonical), or "".
func (f *fields) get(name string) string {
	tb := f.table()
	if i := tb.find(name); i >= 0 {
		if lo, hi := tb.valueRange(i); lo < hi {
			return tb.value(lo, f.sv)
		}
	}
	return ""
}

// view returns every value, in order, in a new slice.
func (f *fields) view() []string {
	tb := f.table()
	v := make([]string, tb.nv)
	for j := range v {
		v[j] = tb.value(j, f.sv)
	}
	return v
}

// copyTo sets every field in hd, with values from view, what f.view
// returned. It does not allocate beyond what hd's map needs.
func (f *fields) copyTo(hd http.Header, view []string) {
	t := f.t
	if t == "" {
		return
	}
	w := int(t[0])
	n := num(t, 1, w)
	common := 1 + w*(1+2*n+len(view))
	names := common + n
	nameLo, lo := 0, 0
	for i := range n {
		nameHi, hi := num(t, 1+w*(1+i), w), num(t, 1+w*(n+1+i), w)
		name := ""
		if c := t[common+i]; c != 0 {
			name = commonNames[c-1].name
		} else {
			name = t[names+nameLo : names+nameHi]
		}
		hd[name] = view[lo:hi:hi]
		nameLo, lo = nameHi, hi
	}
}

// header returns the fields as a new http.Header.
func (f *fields) header() http.Header {
	hd := make(http.Header, f.len())
	f.copyTo(hd, f.view())
	return hd
}
