package edgeserver

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"
)

// TestAccessLineMatchesSlog holds the hand-written access line to what
// slog's TextHandler writes for the same record, quoting included.
func TestAccessLineMatchesSlog(t *testing.T) {
	at := time.Date(2026, 11, 25, 17, 18, 47, 120_456_789, time.FixedZone("X", 5*3600+1800))
	lines := []accessLine{
		{at: at, id: "abcDEF-_123", proto: "HTTP/1.1", method: "GET", host: "login.example.com", path: "/a/b%20c",
			status: 200, bytes: 1024, dur: 123456 * time.Nanosecond, cache: "Hit from portico"},
		{at: at.UTC(), id: "", proto: "HTTP/2.0", method: "HEAD", host: "x", path: "/",
			status: 304, dur: 0, cache: ""},
		{at: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), id: "i", proto: "HTTP/1.0", method: "OPTIONS", host: "[::1]", path: `/q="x"`,
			status: 502, bytes: -1, dur: 3 * time.Minute, cache: "Error from portico"},
		{at: at, id: "a=b", method: "G\x00T", host: "h\u00e9\u2028", path: "/\xff\x7f\\", cache: "\t", dur: -5 * time.Millisecond},
	}
	for _, l := range lines {
		var want bytes.Buffer
		h := slog.NewTextHandler(&want, nil)
		r := slog.NewRecord(l.at, slog.LevelInfo, "request", 0)
		r.AddAttrs(slog.String("id", l.id), slog.String("proto", l.proto), slog.String("method", l.method),
			slog.String("host", l.host), slog.String("path", l.path), slog.Int("status", l.status),
			slog.Int64("bytes", l.bytes), slog.Duration("duration", l.dur), slog.String("cache", l.cache))
		if err := h.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		if got := l.appendTo(nil); string(got) != want.String() {
			t.Errorf("access line\n got %q\nwant %q", got, want.String())
		}
	}
}

func TestAppendDuration(t *testing.T) {
	ds := []time.Duration{0, 1, -1, 999, 1000, 1001, 999_999, time.Millisecond, 1_234_567, 999_999_999,
		time.Second, 59*time.Second + 999_999_999, time.Minute, -time.Minute, 90 * time.Minute, -1_500_000}
	for range 100_000 {
		ds = append(ds, time.Duration(rand.Int64N(int64(2*time.Minute)))-time.Minute)
	}
	for _, d := range ds {
		if got := string(appendDuration(nil, d)); got != d.String() {
			t.Fatalf("appendDuration(%d) = %q, want %q", int64(d), got, d.String())
		}
	}
}

func BenchmarkAccessLine(b *testing.B) {
	l := accessLine{at: time.Now(), id: "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz0123", proto: "HTTP/1.1",
		method: "GET", host: "login.example.com", path: "/plain", status: 200, bytes: 1024, dur: 123456, cache: "Hit from portico"}
	buf := make([]byte, 0, accessLineSize)
	b.ReportAllocs()
	for b.Loop() {
		buf = l.appendTo(buf[:0])
	}
}
