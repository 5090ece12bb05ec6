package edgeserver

import (
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// An accessLine is one request's access log entry. Both the pipeline and
// the fast path fill one in, so the two write the same line.
type accessLine struct {
	at     time.Time // when the response was written
	id     string    // X-Amz-Cf-Id
	proto  string
	method string
	host   string
	path   string // escaped, without the query
	status int
	bytes  int64 // body bytes sent
	dur    time.Duration
	cache  string // X-Cache
}

// appendTo appends the line, newline included, as log/slog's
// TextHandler would write the record "request" at level Info with the
// line's fields as attributes, so that access lines and Portico's other
// log lines read alike. It is written by hand because formatting the
// record through slog costs a fifth of a cache hit and an allocation;
// TestAccessLineMatchesSlog holds the two to the same output.
func (l *accessLine) appendTo(b []byte) []byte {
	b = append(b, "time="...)
	b = appendRFC3339Millis(b, l.at)
	b = append(b, " level=INFO msg=request id="...)
	b = appendLogValue(b, l.id)
	b = append(b, " proto="...)
	b = appendLogValue(b, l.proto)
	b = append(b, " method="...)
	b = appendLogValue(b, l.method)
	b = append(b, " host="...)
	b = appendLogValue(b, l.host)
	b = append(b, " path="...)
	b = appendLogValue(b, l.path)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(l.status), 10)
	b = append(b, " bytes="...)
	b = strconv.AppendInt(b, l.bytes, 10)
	b = append(b, " duration="...)
	b = appendDuration(b, l.dur)
	b = append(b, " cache="...)
	b = appendLogValue(b, l.cache)
	return append(b, '\n')
}

// accessLineSize is the buffer each line starts from: enough for a
// line with a long path without growing.
const accessLineSize = 512

var accessBufs = sync.Pool{New: func() any { b := make([]byte, 0, accessLineSize); return &b }}

// logAccess writes l to the access log in one Write, so that lines from
// concurrent requests never interleave. The caller has checked that the
// access log is on.
func (p *pipeline) logAccess(l *accessLine) {
	bp := accessBufs.Get().(*[]byte)
	b := l.appendTo((*bp)[:0])
	p.access.Write(b) // a failing log does not fail the request
	if cap(b) <= 4*accessLineSize {
		*bp = b[:0]
		accessBufs.Put(bp)
	}
}

// appendRFC3339Millis appends t as slog's TextHandler writes times:
// RFC 3339 with exactly three digits of milliseconds.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	// RFC3339Nano trims trailing zeros, so a tenth of a millisecond is
	// added to keep four digits, and the fourth dropped.
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...)
}

// appendDuration appends d as d.String() would, without allocating for
// durations under a minute (every request, in practice).
func appendDuration(b []byte, d time.Duration) []byte {
	var unit string
	var scale float64
	switch {
	case d >= time.Minute || d <= -time.Minute:
		return append(b, d.String()...)
	case d == 0:
		return append(b, "0s"...)
	case d < time.Microsecond && d > -time.Microsecond:
		return append(strconv.AppendInt(b, int64(d), 10), "ns"...)
	case d < time.Millisecond && d > -time.Millisecond:
		unit, scale = "µs", 1e3
	case d < time.Second && d > -time.Second:
		unit, scale = "ms", 1e6
	default:
		unit, scale = "s", 1e9
	}
	// A whole number of nanoseconds over a power of ten has a decimal
	// expansion of at most nine places, which the shortest formatting
	// that round-trips reproduces exactly.
	return append(strconv.AppendFloat(b, float64(d)/scale, 'f', -1, 64), unit...)
}

// appendLogValue appends s as slog's TextHandler writes a string value:
// bare when it holds nothing that could be mistaken for a separator,
// quoted otherwise.
func appendLogValue(b []byte, s string) []byte {
	quote := s == ""
	for i := 0; i < len(s); i++ {
		switch logByte[s[i]] {
		case logSeparator:
			quote = true
		case logOther:
			// Rare in an access line: slog's rule, and Go's quoting.
			if needsQuoting(s) {
				return strconv.AppendQuote(b, s)
			}
			return append(b, s...)
		}
	}
	if quote {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	return append(b, s...)
}

// Classes of bytes in a log value.
const (
	logPlain     = iota // written as is, and as is inside quotes
	logSeparator        // space or '=': the value is quoted, the byte kept
	logOther            // anything else: see needsQuoting
)

var logByte = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c == ' ' || c == '=':
			t[c] = logSeparator
		case c < ' ' || c == '"' || c == '\\' || c >= 0x7f:
			t[c] = logOther
		}
	}
	return t
}()

// needsQuoting is slog's rule: empty, or holding a space, '=', '"', an
// ASCII control character (DEL aside), invalid UTF-8 or a rune that is
// not printable.
func needsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c <= ' ' || c == '=' || c == '"' {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}
