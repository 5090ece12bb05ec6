package httpcache

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// TestNewEntry checks that an entry gives back what it was made of, and
// keeps none of the strings it was made from.
func TestNewEntry(t *testing.T) {
	sc := newScope("E1")
	spec := newKeySpec("E1", ptr(legacyPolicy(defaults())))
	key := func(target string) string {
		return string(spec.appendKey(nil, httptest.NewRequest("GET", target, nil), classGet))
	}
	header := func() http.Header {
		return http.Header{
			"Etag":          {clone(`"e1"`)},
			"Last-Modified": {clone("Tue, 15 Nov 2022 08:12:31 GMT")},
			"Cache-Control": {clone("max-age=60"), clone("stale-if-error=600")},
			"Set-Cookie":    {clone("s=1")},
			"X-Custom":      {clone("custom")},
		}
	}
	tests := []struct {
		name string
		r    response
	}{
		{"plain", response{key: key("https://a.example/img/1.png"), path: clone("/img/1.png"), header: header()}},
		{"query in the purge path", response{key: key("https://a.example/p?v=2"), path: clone("/p?v=2"), header: header()}},
		{"not a key", response{key: clone("k\x00ey"), path: clone("/k")}},
		{"empty path", response{key: clone(""), path: ""}},
		{"vary and tags", response{key: key("https://a.example/v"), path: clone("/v"), header: header(),
			vary: []string{clone("Origin"), clone("https://b.example"), clone("X-Tenant"), absentField},
			tags: []string{clone("t1"), clone("t2")}}},
		{"validators apart", response{key: key("https://a.example/s"), path: clone("/s"), header: header(),
			skip: func(name string) bool { return name == "Etag" || name == "Set-Cookie" }}},
		{"no fields", response{key: key("https://a.example/n"), path: clone("/n"), status: 204}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			r.sc, r.gen, r.body = sc, 7, []byte("body")
			if r.status == 0 {
				r.status = http.StatusOK
			}
			r.responseTime, r.age = 1e18, 3*time.Second
			r.policy = storePolicy{ttl: time.Minute, swr: 30 * time.Second, sie: time.Hour, mustRevalidate: true}
			r.etag, r.lastModified = headerValue(r.header, "Etag"), headerValue(r.header, "Last-Modified")
			r.compressed = true
			e := newEntry(&r)

			want := maps.Clone(r.header)
			if want == nil {
				want = http.Header{}
			}
			maps.DeleteFunc(want, func(name string, _ []string) bool { return r.skip != nil && r.skip(name) })
			if got := e.header.header(); !maps.EqualFunc(got, want, slices.Equal) {
				t.Errorf("header = %v, want %v", got, want)
			}
			if e.fullKey() != r.key || e.path() != r.path || e.sc() != sc || e.gen != 7 || int(e.status) != r.status ||
				string(e.body) != "body" || e.responseTime != 1e18 || e.age != 3*time.Second ||
				e.policy() != r.policy || !e.compressed() {
				t.Errorf("entry %+v, want %+v", e, r)
			}
			if !slices.Equal(e.vary(), r.vary) || !slices.Equal(e.tags(), r.tags) {
				t.Errorf("vary %q, tags %q; want %q, %q", e.vary(), e.tags(), r.vary, r.tags)
			}
			if e.etag() != r.etag || e.lastModified() != r.lastModified {
				t.Errorf("validators %q, %q; want %q, %q", e.etag(), e.lastModified(), r.etag, r.lastModified)
			}
			kept := []string{e.key, e.path(), e.etag(), e.lastModified()}
			kept = append(append(kept, e.vary()...), e.tags()...)
			made := []string{r.key, r.path, r.etag, r.lastModified}
			made = append(append(made, r.vary...), r.tags...)
			for _, v := range r.header {
				made = append(made, v...)
			}
			for _, k := range kept {
				for _, m := range made {
					if k != "" && unsafeSameData(k, m) {
						t.Errorf("the entry keeps the string %q it was made from", k)
					}
				}
			}
			if e.size < int32(len(r.key)+len(r.body)) {
				t.Errorf("size %d, less than the key and body", e.size)
			}
			// The key starts the one string, the fields end it.
			if e.key != "" && e.header.t != "" {
				keyStart := uintptr(unsafe.Pointer(unsafe.StringData(e.key)))
				fieldsEnd := uintptr(unsafe.Pointer(unsafe.StringData(e.header.t))) + uintptr(len(e.header.t))
				if got := int(fieldsEnd - keyStart); got != e.textLen() {
					t.Errorf("textLen %d, the string is %d bytes long", e.textLen(), got)
				}
			}
		})
	}
}

// TestKeyPath checks that the path a key holds is the escaped path of the
// request, whatever else the key holds.
func TestKeyPath(t *testing.T) {
	b := behavior(0, 60, 60, forwarded(true, "all", "X-Tenant", "Accept-Language"))
	spec := newKeySpec("E2", ptr(legacyPolicy(b)))
	for _, target := range []string{
		"https://a.example/",
		"https://A.Example:8443/a%20b/c?x=1&y=2",
		"https://a.example/caf%C3%A9/%2F?" + strings.Repeat("q", 300),
		"https://a.example/*",
	} {
		r := httptest.NewRequest("GET", target, nil)
		r.Header.Set("Cookie", "a=1; b=2")
		r.Header.Set("X-Tenant", "t")
		key := string(spec.appendKey(nil, r, classOptions))
		if got, ok := keyPath(key); !ok || got != r.URL.EscapedPath() {
			t.Errorf("%s: keyPath = %q, %v; want %q", target, got, ok, r.URL.EscapedPath())
		}
	}
	for _, key := range []string{"", "\x00\x00\x00", "\x00\x00\x00\x09E1", "\x00\x00\x00\x02E1", "\x00\x00\x00\x02E1G\x00\x00\x00\x01a\x00\x00\x01"} {
		if got, ok := keyPath(key); ok {
			t.Errorf("keyPath(%q) = %q, want none", key, got)
		}
	}
}

func clone(s string) string { return strings.Clone(s) }

func ptr[T any](v T) *T { return &v }

// TestHashCollision checks that keys of the same hash, whose variants
// share a list in the index, are told apart by lookups, stores and
// removals. (Real collisions of 64-bit hashes are too rare to find: the
// test puts another key's entry in the list by hand.)
func TestHashCollision(t *testing.T) {
	c := New(1<<20, nil)
	sc := c.scope(testScope)
	r := &http.Request{Header: http.Header{}}
	a := newEntry(&response{key: "a", sc: sc, path: "/a", policy: storePolicy{ttl: time.Hour}})
	other := newEntry(&response{key: "b", sc: sc, path: "/b", policy: storePolicy{ttl: time.Hour}})
	if !c.store(a) {
		t.Fatal("not stored")
	}
	hash := c.hashKey("a")
	sh := c.shard(hash)
	sh.mu.Lock()
	other.nextVariant = sh.m[hash]
	sh.m[hash] = other // the newest in the list, yet of another key
	sh.mu.Unlock()

	if e, found := c.lookupString("a", r); e != a || !found {
		t.Errorf("lookup a = %p, %v; want %p", e, found, a)
	}
	if e, found := c.lookup([]byte("a"), r); e != a || !found {
		t.Errorf("lookup a as bytes = %p, %v; want %p", e, found, a)
	}
	a2 := newEntry(&response{key: "a", sc: sc, path: "/a", policy: storePolicy{ttl: time.Hour}})
	if !c.store(a2) {
		t.Fatal("a refresh was not stored")
	}
	if e, _ := c.lookupString("a", r); e != a2 {
		t.Errorf("after a refresh, lookup a = %p, want %p", e, a2)
	}
	sh.mu.RLock()
	kept := false
	for v := sh.m[hash]; v != nil; v = v.nextVariant {
		kept = kept || v == other
		if v == a {
			t.Error("the replaced variant is still listed")
		}
	}
	sh.mu.RUnlock()
	if !kept {
		t.Error("storing a's variant dropped the other key's entry")
	}
	c.remove(a2)
	if e, found := c.lookupString("a", r); e != nil || found {
		t.Errorf("after removal, lookup a = %p, %v", e, found)
	}
	sh.mu.RLock()
	if sh.m[hash] != other {
		t.Error("removing a dropped the other key's entry")
	}
	sh.mu.RUnlock()
}

// TestKeyPrefixShared checks that the entries of a host share their key's
// prefix from the second on, and that an entry with a prefix and one
// without have the same primary key, hash, path and place in the index.
func TestKeyPrefixShared(t *testing.T) {
	c := New(1<<20, nil)
	sc := c.scope("E1")
	spec := newKeySpec("E1", ptr(legacyPolicy(defaults())))
	key := func(target string) string {
		return string(spec.appendKey(nil, httptest.NewRequest("GET", target, nil), classGet))
	}
	entryFor := func(target, path string) *entry {
		return newEntry(&response{key: key(target), sc: sc, path: path, status: 200, shared: c.shared,
			policy: storePolicy{ttl: time.Minute}, responseTime: time.Now().UnixNano()})
	}
	first, second := entryFor("https://a.example/x", "/x"), entryFor("https://a.example/y", "/y")
	if first.pre != sc.whole || second.pre == sc.whole || second.pre.s != key("https://a.example/")[:keyPrefixLen(key("https://a.example/"))] {
		t.Fatalf("prefixes %q and %q, want none, then the host's", first.pre.s, second.pre.s)
	}
	if c.shared.bytes() == 0 {
		t.Error("the shared prefix counts no bytes")
	}
	again := entryFor("https://a.example/x", "/x") // first's key, with the prefix
	for _, tt := range []struct {
		e      *entry
		target string
	}{{first, "https://a.example/x"}, {second, "https://a.example/y"}, {again, "https://a.example/x"}} {
		k := key(tt.target)
		if tt.e.fullKey() != k || !keyIs(tt.e, k) || !keyIs(tt.e, []byte(k)) || keyIs(tt.e, k+"x") || keyIs(tt.e, k[1:]) {
			t.Errorf("%s: key %q", tt.target, tt.e.fullKey())
		}
		if c.entryHash(tt.e) != c.hashKey(k) {
			t.Errorf("%s: entryHash differs from the key's hash", tt.target)
		}
		if tt.e.path() != tt.target[len("https://a.example"):] || tt.e.sc() != sc {
			t.Errorf("%s: path %q, scope %v", tt.target, tt.e.path(), tt.e.sc())
		}
	}
	if !sameKey(first, again) || sameKey(first, second) || sameKey(second, again) {
		t.Error("sameKey is wrong")
	}
	// The entry with the prefix replaces the one without.
	c.store(first)
	c.store(again)
	r := httptest.NewRequest("GET", "https://a.example/x", nil)
	if e, _ := c.lookupString(key("https://a.example/x"), r); e != again || c.Len() != 1 {
		t.Errorf("found %p (of %d entries), want the later entry %p", e, c.Len(), again)
	}
	// A key that appendKey did not make, or no shared values: no prefix.
	for _, r := range []response{{key: "k\x00ey", sc: sc, shared: c.shared}, {key: key("https://a.example/z"), sc: sc}} {
		if e := newEntry(&r); e.pre != sc.whole || e.fullKey() != r.key {
			t.Errorf("%q: prefix %q", r.key, e.pre.s)
		}
	}
}

func TestConcatEqual(t *testing.T) {
	tests := []struct {
		a1, a2, b1, b2 string
		want           bool
	}{
		{"", "", "", "", true},
		{"ab", "cd", "a", "bcd", true},
		{"a", "bcd", "abc", "d", true},
		{"abcd", "", "", "abcd", true},
		{"ab", "cd", "ab", "ce", false},
		{"ab", "cd", "abc", "", false},
		{"xb", "cd", "a", "bcd", false},
		{"a", "bcx", "ab", "cd", false},
	}
	for _, tt := range tests {
		if got := concatEqual(tt.a1, tt.a2, tt.b1, tt.b2); got != tt.want {
			t.Errorf("concatEqual(%q, %q, %q, %q) = %v, want %v", tt.a1, tt.a2, tt.b1, tt.b2, got, tt.want)
		}
		if got := concatEqual(tt.b1, tt.b2, tt.a1, tt.a2); got != tt.want {
			t.Errorf("concatEqual(%q, %q, %q, %q) = %v, want %v", tt.b1, tt.b2, tt.a1, tt.a2, got, tt.want)
		}
	}
}
