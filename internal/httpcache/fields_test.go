package httpcache

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestFields checks that the compact form of header fields gives back
// every name and value, in order, and no skipped name.
func TestFields(t *testing.T) {
	many := http.Header{}
	for i := range 300 {
		many["X-Field-"+strconv.Itoa(i)] = []string{strings.Repeat("v", i), ""}
	}
	tests := []struct {
		name string
		hd   http.Header
		skip []string
	}{
		{"none", http.Header{}, nil},
		{"nil", nil, nil},
		{"typical", http.Header{
			"Content-Type":   {"application/javascript"},
			"Cache-Control":  {"public, max-age=31536000, immutable"},
			"Etag":           {`"5d8c72a5edda8d6a"`},
			"Last-Modified":  {"Tue, 15 Nov 2022 08:12:31 GMT"},
			"Content-Length": {"1024"},
		}, nil},
		{"lines and empty values", http.Header{
			"Vary":   {"Accept-Encoding", "", "Origin"},
			"Link":   {"</a.css>; rel=preload", "</b.js>; rel=preload"},
			"X-Tags": {""},
		}, nil},
		{"skipped", http.Header{"A": {"1"}, "Set-Cookie": {"s=1"}, "Z": {"2", "3"}}, []string{"Set-Cookie"}},
		{"all skipped", http.Header{"Set-Cookie": {"s=1"}}, []string{"Set-Cookie"}},
		{"large", many, []string{"X-Field-7"}},
		{"long value", http.Header{"A": {strings.Repeat("a", 70000)}, "B": {"b"}}, nil},
		{"long name", http.Header{"X-" + strings.Repeat("N", 70000): {"1"}, "B": {"b"}, "Date": {"d"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFields(tt.hd, func(name string) bool { return slices.Contains(tt.skip, name) })
			want := maps.Clone(tt.hd)
			if want == nil {
				want = http.Header{}
			}
			for _, name := range tt.skip {
				delete(want, name)
			}
			names := slices.Sorted(maps.Keys(want))
			if f.len() != len(names) {
				t.Fatalf("len() = %d, want %d", f.len(), len(names))
			}
			for i, name := range names {
				if got := f.name(i); got != name {
					t.Errorf("name(%d) = %q, want %q", i, got, name)
				}
				if got := f.at(i); !slices.Equal(got, want[name]) || cap(got) != len(got) {
					t.Errorf("at(%d) = %q (cap %d), want %q", i, got, cap(got), want[name])
				}
				if got := f.values(name); !slices.Equal(got, want[name]) {
					t.Errorf("values(%q) = %q, want %q", name, got, want[name])
				}
				if got := f.get(name); got != want[name][0] {
					t.Errorf("get(%q) = %q, want %q", name, got, want[name][0])
				}
			}
			for _, name := range append([]string{"", "0", "Zzz", "Content-Typf", "Aa"}, tt.skip...) {
				if f.values(name) != nil || f.get(name) != "" {
					t.Errorf("values(%q) = %q, want none", name, f.values(name))
				}
			}
			if got := f.header(); !maps.EqualFunc(got, want, slices.Equal) {
				t.Errorf("header() = %v, want %v", got, want)
			}
			hd := http.Header{}
			f.copyTo(hd, f.view())
			for name, v := range hd {
				if !slices.Equal(v, want[name]) || cap(v) != len(v) {
					t.Errorf("copyTo: %q = %q (cap %d), want %q", name, v, cap(v), want[name])
				}
			}
		})
	}
}

// TestFieldsShared checks fields that refer to shared copies of values,
// among values they hold, whatever the width of the table's numbers.
func TestFieldsShared(t *testing.T) {
	sv := newSharedValues(1 << 30)
	share := func(v string) {
		for range 2 {
			sv.get(v)
		}
	}
	// Indices past what a one-byte table holds.
	for i := range 200 {
		share("text/x-" + strconv.Itoa(i))
	}
	share("public, max-age=60")
	tests := []http.Header{
		{"Content-Type": {"text/x-3"}, "Cache-Control": {"public, max-age=60"}, "Etag": {`"a"`}, "Date": {"d"}},
		{"Content-Type": {"text/x-199"}, "Etag": {`"a"`}},
		{"Vary": {"Origin"}, "Content-Type": {"text/x-1", "unshared", "text/x-2"}, "X-A": {"", "b"}},
		{"Content-Type": {"text/x-5"}, "X-Long": {strings.Repeat("l", 300)}},
	}
	for _, hd := range tests {
		p := planFields(hd, nil, sv)
		var b strings.Builder
		p.write(&b)
		if b.Len() != p.textLen() {
			t.Fatalf("%v: wrote %d bytes, planned %d", hd, b.Len(), p.textLen())
		}
		f := p.fields(b.String())
		if f.sv == nil {
			t.Fatalf("%v: no shared value", hd)
		}
		if got := f.header(); !maps.EqualFunc(got, hd, slices.Equal) {
			t.Errorf("header() = %v, want %v", got, hd)
		}
		for name, v := range hd {
			if got := f.values(name); !slices.Equal(got, v) {
				t.Errorf("values(%q) = %q, want %q", name, got, v)
			}
			if got := f.get(name); got != v[0] {
				t.Errorf("get(%q) = %q, want %q", name, got, v[0])
			}
		}
		if ct := f.get("Content-Type"); !unsafeSameData(ct, sv.at(sv.m[ct])) {
			t.Errorf("%v: Content-Type %q is not the shared copy", hd, ct)
		}
	}
}

// TestFieldsAppendCopies checks that appending to the values of a served
// field leaves the view they come from alone.
func TestFieldsAppendCopies(t *testing.T) {
	f := newFields(http.Header{"A": {"1"}, "B": {"2"}}, nil)
	view := f.view()
	hd := http.Header{}
	f.copyTo(hd, view)
	hd["A"] = append(hd["A"], "x")
	hd.Add("A", "y")
	if !slices.Equal(view, []string{"1", "2"}) {
		t.Errorf("after appends, the view holds %q, want [1 2]", view)
	}
}

// TestFieldsKeepNoStrings checks that the compact form does not refer to
// the strings it was made from: one allocation holds them all.
func TestFieldsKeepNoStrings(t *testing.T) {
	value := strings.Repeat("v", 40)
	f := newFields(http.Header{"X-Long-Name": {value}, "B": {"bb"}}, nil)
	got := f.get("X-Long-Name")
	if got != value || strings.Clone(got) != got {
		t.Fatalf("get = %q", got)
	}
	if unsafeSameData(got, value) {
		t.Error("the stored value shares the origin's string")
	}
}

func BenchmarkFieldsCopyTo(b *testing.B) {
	f := newFields(http.Header{
		"Content-Type":   {"application/javascript"},
		"Cache-Control":  {"public, max-age=31536000, immutable"},
		"Etag":           {`"5d8c72a5edda8d6a"`},
		"Last-Modified":  {"Tue, 15 Nov 2022 08:12:31 GMT"},
		"Date":           {"Wed, 21 Oct 2026 07:28:00 GMT"},
		"Content-Length": {"1024"},
		"Server":         {"nginx"},
	}, nil)
	hd := http.Header{}
	view := f.view()
	b.ReportAllocs()
	for b.Loop() {
		clear(hd)
		f.copyTo(hd, view)
	}
}

// fieldsWith returns the compact form of hd, referring to the copies of sv.
func fieldsWith(hd http.Header, sv *sharedValues) fields {
	p := planFields(hd, nil, sv)
	var b strings.Builder
	p.write(&b)
	return p.fields(b.String())
}

// unsafeSameData reports whether a and b start at the same byte in memory.
func unsafeSameData(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }

// TestCommonNames checks that the table of common names is canonical,
// sorted and short enough for a byte to index it.
func TestCommonNames(t *testing.T) {
	if len(commonNames) > 255 {
		t.Fatalf("%d common names; at most 255 fit a byte", len(commonNames))
	}
	for i, c := range commonNames {
		if http.CanonicalHeaderKey(c.name) != c.name {
			t.Errorf("%q is not canonical", c.name)
		}
		if i > 0 && commonNames[i-1].name >= c.name {
			t.Errorf("%q is out of order", c.name)
		}
		if got := commonName(c.name); got != byte(i+1) {
			t.Errorf("commonName(%q) = %d, want %d", c.name, got, i+1)
		}
	}
}

// FuzzFields checks that the compact form of any header fields gives them
// back. Each line of the input is a field, "name:value"; a line without a
// colon is a name without values.
func FuzzFields(f *testing.F) {
	f.Add("Content-Type:text/html\nEtag:\"x\"\nVary:Origin\nVary:Accept-Encoding\nX-Empty")
	f.Add(":\n:\n\x00:\xff")
	f.Add("Date:" + strings.Repeat("d", 300) + "\n" + strings.Repeat("N", 260) + ":v")
	f.Add("Content-Type:a\nContent-Type:b\nEtag:e\nServer:s\nVary:" + strings.Repeat("v", 200))
	f.Fuzz(func(t *testing.T, in string) {
		hd := http.Header{}
		for line := range strings.SplitSeq(in, "\n") {
			name, value, ok := strings.Cut(line, ":")
			if !ok {
				hd[name] = hd[name][:0:0]
				continue
			}
			hd[name] = append(hd[name], value)
		}
		// Held, then shared where the names are those of shared values.
		sv := newSharedValues(1 << 30)
		for _, v := range hd {
			for _, s := range v {
				sv.get(s)
				sv.get(s)
			}
		}
		for _, fs := range []fields{newFields(hd, nil), fieldsWith(hd, sv)} {
			got := fs.header()
			if !maps.EqualFunc(got, hd, slices.Equal) || fs.len() != len(hd) {
				t.Fatalf("fields of %q give back %q", hd, got)
			}
			for name, v := range hd {
				if !slices.Equal(fs.values(name), v) || fs.count(name) != len(v) {
					t.Fatalf("values(%q) = %q, want %q", name, fs.values(name), v)
				}
			}
		}
	})
}
