package console

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func testKeys(t testing.TB, fill byte) *keys {
	t.Helper()
	k, err := deriveKeys(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDeriveKeysRefusesShortKeys(t *testing.T) {
	for _, n := range []int{0, 16, 31} {
		if _, err := deriveKeys(make([]byte, n)); err == nil {
			t.Errorf("deriveKeys accepted a %d-byte key", n)
		}
	}
}

func TestSessionCookie(t *testing.T) {
	k, other := testKeys(t, 1), testKeys(t, 2)
	now := time.Unix(1_800_000_000, 0)
	s := newSession("AKPTEXAMPLE", now)
	good := k.encodeSession(s)
	payload, tag, _ := strings.Cut(good, ".")
	tampered := b64.EncodeToString([]byte(strings.Replace(mustDecode(t, payload), "AKPTEXAMPLE", "AKPTATTACKER", 1))) + "." + tag

	tests := []struct {
		name  string
		value string
		now   time.Time
		want  bool
	}{
		{"valid", good, now, true},
		{"just before expiry", good, s.Expires.Add(-time.Second), true},
		{"expired", good, s.Expires, false},
		{"signed with another key", other.encodeSession(s), now, false},
		{"payload changed", tampered, now, false},
		{"tag dropped", payload, now, false},
		{"tag truncated", good[:len(good)-2], now, false},
		{"empty", "", now, false},
		{"garbage", "not a cookie", now, false},
		{"dots", "....", now, false},
		{"oversized", strings.Repeat("A", 2000) + "." + tag, now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := k.decodeSession(tt.value, tt.now)
			if (got != nil) != tt.want {
				t.Fatalf("decodeSession = %+v, want valid %v", got, tt.want)
			}
			if got != nil && (got.ID != s.ID || got.AccessKeyID != s.AccessKeyID || !got.Expires.Equal(s.Expires)) {
				t.Errorf("decodeSession = %+v, want %+v", got, s)
			}
		})
	}
}

func mustDecode(t *testing.T, s string) string {
	t.Helper()
	b, err := b64.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTokens(t *testing.T) {
	k, other := testKeys(t, 1), testKeys(t, 2)
	s1, s2 := newSession("AKPT1", time.Now()), newSession("AKPT1", time.Now())
	tests := []struct {
		name  string
		token string
		want  bool
	}{
		{"own session", k.csrfToken(s1), true},
		{"other session", k.csrfToken(s2), false},
		{"other key", other.csrfToken(s1), false},
		{"sign-in token for the ID", k.signinToken(s1.ID), false},
		{"empty", "", false},
		{"not base64", "!!!", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := k.verify(tt.token, "csrf", s1.ID); got != tt.want {
				t.Errorf("verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSealedValues(t *testing.T) {
	k, other := testKeys(t, 1), testKeys(t, 2)
	s1, s2 := newSession("AKPT1", time.Now()), newSession("AKPT1", time.Now())
	sealed := k.sealValue(s1, cnameAPIKey)
	if strings.Contains(sealed, cnameAPIKey) || sealed == k.sealValue(s1, cnameAPIKey) {
		t.Fatal("sealing shows the value or is deterministic")
	}
	if got, ok := k.openValue(s1, sealed); !ok || got != cnameAPIKey {
		t.Errorf("openValue = %q, %v; want the value", got, ok)
	}
	flipped := []byte(sealed)
	flipped[len(flipped)/2] ^= 1
	for name, open := range map[string]func() (string, bool){
		"other session": func() (string, bool) { return k.openValue(s2, sealed) },
		"other key":     func() (string, bool) { return other.openValue(s1, sealed) },
		"changed":       func() (string, bool) { return k.openValue(s1, string(flipped)) },
		"short":         func() (string, bool) { return k.openValue(s1, "AAAA") },
		"empty":         func() (string, bool) { return k.openValue(s1, "") },
	} {
		if got, ok := open(); ok {
			t.Errorf("%s: openValue = %q, true; want failure", name, got)
		}
	}
}

func TestSafeNext(t *testing.T) {
	const fallback = "/console/distributions"
	tests := []struct{ next, want string }{
		{"/console/certificates", "/console/certificates"},
		{"/console/distributions/E123?notice=created", "/console/distributions/E123?notice=created"},
		{"", fallback},
		{"https://evil.example/console/", fallback},
		{"//evil.example/console/", fallback},
		{"/\\evil.example", fallback},
		{"/console/\\evil", fallback},
		{"/other", fallback},
		{"/console/signin", fallback},
		{"javascript:alert(1)", fallback},
		{"/console/x\r\nSet-Cookie: a=b", fallback},
	}
	for _, tt := range tests {
		if got := safeNext(tt.next); got != tt.want {
			t.Errorf("safeNext(%q) = %q, want %q", tt.next, got, tt.want)
		}
	}
}

func TestIsAccessKeyID(t *testing.T) {
	for id, want := range map[string]bool{
		"AKPTTESTACCESSKEY01":    true,
		"":                       false,
		"AKPT|x":                 false,
		"AKPT x":                 false,
		strings.Repeat("A", 129): false,
	} {
		if got := isAccessKeyID(id); got != want {
			t.Errorf("isAccessKeyID(%q) = %v, want %v", id, got, want)
		}
	}
}

// FuzzDecodeSession feeds the cookie parser arbitrary values: it must never
// panic, and must accept only what the key signed.
func FuzzDecodeSession(f *testing.F) {
	k := testKeys(f, 1)
	now := time.Unix(1_800_000_000, 0)
	good := k.encodeSession(newSession("AKPTEXAMPLE", now))
	for _, seed := range []string{good, "", ".", "a.b", good + "x", strings.ToUpper(good), "djE.AAAA"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		s := k.decodeSession(value, now)
		if s != nil && value != good {
			// Another encoding of a signed payload is only possible by
			// forging the MAC.
			if k.encodeSession(s) != value {
				t.Fatalf("accepted a value the key did not sign: %q", value)
			}
		}
	})
}
