package edgeserver

import (
	"context"
	"log/slog"
	"time"
)

// logAccess writes the access log line of one request, answered at t,
// for the pipeline and the fast path alike, so that the two write the
// same line. The
// caller has checked that the access log is on. The record carries no
// source position (the line is the same from either path, and finding
// the caller costs more than formatting the line): as LogAttrs, but
// without runtime.Callers.
func (p *pipeline) logAccess(ctx context.Context, t time.Time, id, proto, method, host, path string, status int, bytes int64, d time.Duration, cache string) {
	r := slog.NewRecord(t, slog.LevelInfo, "request", 0)
	r.AddAttrs(
		slog.String("id", id),
		slog.String("proto", proto),
		slog.String("method", method),
		slog.String("host", host),
		slog.String("path", path),
		slog.Int("status", status),
		slog.Int64("bytes", bytes),
		slog.Duration("duration", d),
		slog.String("cache", cache),
	)
	p.access.Handler().Handle(ctx, r)
}
