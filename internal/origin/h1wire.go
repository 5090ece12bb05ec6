package origin

import (
	"errors"
	"io"
	"math"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"

	"golang.org/x/net/http/httpguts"
)

// Errors of a request that the h1Client refuses to write. They never
// carry a field's value, which may be a secret.
var (
	errInvalidHost   = errors.New("invalid Host for the origin request")
	errInvalidTarget = errors.New("invalid request target for the origin request: not a path, or a control character or space in it")
)

// invalidFieldError is the failure of a request with a field that cannot
// be written.
type invalidFieldError struct{ name string }

func (e invalidFieldError) Error() string {
	return "invalid header field " + e.name + " for the origin request" // the name only, never the value
}

// appendRequest appends to dst the head of req, a GET or HEAD request
// without a body, as net/http writes it: the request line with req.URL's
// path and query, Host (req.Host, else the URL's; an internationalized
// name as its A-label), User-Agent when set and
// not empty, Connection: close when req.Close, then the other fields of
// req.Header sorted by name, values trimmed of surrounding white space,
// less those net/http leaves out (Host, Content-Length,
// Transfer-Encoding, Trailer). It adds no field of its own: no
// Accept-Encoding, no default User-Agent.
//
// It refuses to write what would break the message: a request target,
// Host, field name or value with a control character (CR, LF and NUL
// among them), a space in the target or Host, or a target that is not a
// path. It does not allocate
// when dst has room and req has at most 32 fields.
func appendRequest(dst []byte, req *http.Request) ([]byte, error) {
	start := len(dst)
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !isASCII(host) {
		// As net/http: an internationalized name goes as its A-label.
		var err error
		if host, err = httpguts.PunycodeHostPort(host); err != nil {
			return dst, errInvalidHost
		}
	}
	if host == "" || !httpguts.ValidHostHeader(host) {
		return dst, errInvalidHost
	}
	dst = append(dst, req.Method...)
	dst = append(dst, ' ')
	target := len(dst)
	dst = appendTarget(dst, req.URL)
	if dst[target] != '/' {
		return dst[:start], errInvalidTarget
	}
	for _, c := range dst[target:] {
		if c <= ' ' || c == 0x7f {
			return dst[:start], errInvalidTarget
		}
	}
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\n"...)

	h := req.Header
	if ua := h["User-Agent"]; len(ua) > 0 && ua[0] != "" {
		var err error
		if dst, err = appendField(dst, "User-Agent", ua[0]); err != nil {
			return dst[:start], err
		}
	}
	if req.Close {
		dst = append(dst, "Connection: close\r\n"...)
	}
	var buf [32]string
	names := buf[:0]
	for name := range h {
		if !excluded(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		for _, v := range h[name] {
			var err error
			if dst, err = appendField(dst, name, v); err != nil {
				return dst[:start], err
			}
		}
	}
	return append(dst, "\r\n"...), nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// excluded reports whether appendRequest leaves the field name out of the
// fields it copies from the header, in any case: Host and User-Agent,
// which it writes first, and the framing fields of a body.
func excluded(name string) bool {
	switch len(name) {
	case len("Host"):
		return equalFoldASCII(name, "Host")
	case len("Trailer"):
		return equalFoldASCII(name, "Trailer")
	case len("User-Agent"):
		return equalFoldASCII(name, "User-Agent")
	case len("Content-Length"):
		return equalFoldASCII(name, "Content-Length")
	case len("Transfer-Encoding"):
		return equalFoldASCII(name, "Transfer-Encoding")
	}
	return false
}

// appendField appends the field line "name: value", or fails when either
// cannot be written.
func appendField(dst []byte, name, value string) ([]byte, error) {
	value = textproto.TrimString(value)
	if !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(value) {
		return dst, invalidFieldError{name: strconv.Quote(name)}
	}
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...), nil
}

// appendTarget appends the request target of u, in origin form: its
// escaped path ("/" when empty) and its query, as url.URL.RequestURI
// makes it, without allocating when the path needs no escaping.
func appendTarget(dst []byte, u *url.URL) []byte {
	if u.Opaque != "" {
		return append(dst, u.RequestURI()...)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	dst = append(dst, path...)
	if u.ForceQuery || u.RawQuery != "" {
		dst = append(dst, '?')
		dst = append(dst, u.RawQuery...)
	}
	return dst
}

// headReader is what a connection's bufio.Reader reads from: the
// connection, limited to maxResponseHeaderBytes while a response head is
// read, as net/http limits it, and keeping a copy of what it read then (see
// framedTwice).
type headReader struct {
	r       io.Reader
	limit   int64  // bytes that reads may still return
	raw     []byte // what was read since begin, while capturing
	capture bool
	lost    bool // raw outgrew maxRawHead
}

// maxRawHead bounds the copy of a response head: the largest head and
// one read beyond it.
const maxRawHead = maxResponseHeaderBytes + readBufSize

// noLimit is a headReader's limit while a body is read.
const noLimit = math.MaxInt64

func (h *headReader) Read(p []byte) (int, error) {
	if h.limit <= 0 {
		return 0, errHeadTooLarge
	}
	if int64(len(p)) > h.limit {
		p = p[:h.limit]
	}
	n, err := h.r.Read(p)
	h.limit -= int64(n)
	if h.capture && n > 0 {
		if len(h.raw)+n > maxRawHead {
			h.capture, h.lost = false, true
		} else {
			h.raw = append(h.raw, p[:n]...)
		}
	}
	return n, err
}

// begin starts the reading of a response: its head is limited and copied.
// The connection's buffer is empty.
func (h *headReader) begin() {
	h.limit = maxResponseHeaderBytes
	h.raw = h.raw[:0]
	h.capture, h.lost = true, false
}

// end ends the reading of a response's head: its body is not limited.
func (h *headReader) end() {
	h.limit = noLimit
	h.capture = false
	if cap(h.raw) > readBufSize {
		h.raw = nil // a large head is rare: do not keep its copy
	}
}

// framedTwice reports whether the final head read since begin, which
// http.ReadResponse found chunked, carried a Content-Length too, which
// it then dropped: the framing the origin meant is in doubt, and the
// connection is not used again (RFC 9112 §6.3, "ought to be handled as an
// error"). It is true too when the head's copy was lost.
func (h *headReader) framedTwice() bool {
	return h.lost || finalHeadHas(h.raw, "content-length")
}

// finalHeadHas reports whether the first response head in raw that is
// not informational (1xx but 101) has a field line named name, which must
// be lower case. raw holds whole heads as http.ReadResponse read them,
// and then maybe some of a body. A head that is cut short counts as
// having the field.
func finalHeadHas(raw []byte, name string) bool {
	for {
		status, rest, ok := cutLine(raw)
		if !ok {
			return true
		}
		raw = rest
		informational := isInformational(status)
		for {
			var line []byte
			if line, raw, ok = cutLine(raw); !ok {
				return true
			}
			if len(line) == 0 {
				break
			}
			if !informational && len(line) > len(name) && line[len(name)] == ':' && equalFoldASCII(string(line[:len(name)]), name) {
				return true
			}
		}
		if !informational {
			return false
		}
	}
}

// cutLine cuts the first line off b, without its CRLF or LF, as
// bufio.Reader.ReadLine does.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	for i, c := range b {
		if c == '\n' {
			line = b[:i]
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
			return line, b[i+1:], true
		}
	}
	return nil, b, false
}

// isInformational reports whether a status line, as http.ReadResponse
// reads it ("HTTP/1.1 103 Early Hints"), has a 1xx status other than 101.
func isInformational(status []byte) bool {
	i := 0
	for i < len(status) && status[i] != ' ' {
		i++
	}
	for i < len(status) && status[i] == ' ' {
		i++
	}
	code := status[i:]
	return len(code) >= 3 && code[0] == '1' && !(code[1] == '0' && code[2] == '1')
}
