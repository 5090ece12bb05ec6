package control

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestShorten(t *testing.T) {
	long := strings.Repeat("a", 199) + "é" + strings.Repeat("b", 50) // é straddles byte 200
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"/short/path", "/short/path"},
		{strings.Repeat("x", 200), strings.Repeat("x", 200)},
		{strings.Repeat("x", 201), strings.Repeat("x", 200) + "…"},
		{long, strings.Repeat("a", 199) + "…"},
	}
	for _, tt := range tests {
		got := Shorten(tt.in)
		if got != tt.want {
			t.Errorf("Shorten(%d bytes) = %q, want %q", len(tt.in), got, tt.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("Shorten(%d bytes) = %q: not UTF-8", len(tt.in), got)
		}
	}
}
