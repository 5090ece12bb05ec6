// Package edgeserver is the viewer-facing side of Portico: the HTTP and
// HTTPS listeners' http.Server and tls.Config, and the request pipeline
// that every viewer request goes through before the cache and the origin.
//
// The pipeline is declared in one place, (*pipeline).route in
// pipeline.go: each step either answers the request (an error page, a
// redirect) or passes it on, in the order CloudFront applies them. Every
// response, whoever writes it, carries X-Amz-Cf-Pop, X-Amz-Cf-Id, Via and
// X-Cache, as CloudFront's do.
//
// # Listeners
//
// Serve the HTTPServer with Serve(s.Listener(ln)) and the HTTPSServer with
// Serve(s.TLSListener(ln)). Both listeners close the connections of an IP
// address that already has Limits.MaxConnsPerIP open (256 by default,
// counted per listener) as they are accepted. The TLS listener performs
// the handshakes itself, each in its own goroutine within
// TLSHandshakeTimeout, then hands HTTP/2 connections to net/http as they
// are and HTTP/1.x ones to the fast path and through the request-head
// guard, as the plain-HTTP listener does with all of its connections.
//
// # The fast path (HTTP/1.1 cache hits)
//
// HTTP/1.x connections start on a fast path of their own (fastpath.go),
// which answers cache hits without net/http: it reads each request head
// through the guard below, and answers a GET or HEAD over HTTP/1.1 that
// has no body, Expect, Upgrade or Range, passes the pipeline's steps (the
// same code), gets the same response headers whatever its Origin, and
// that the cache answers with a fresh stored response or a 304. The
// response head is rendered once per cached response and second by the
// code that renders it on the slow path, then sent with the body in one
// write (large bodies with sendfile from the cache's disk tier); only
// X-Amz-Cf-Id (and Date, if the response has none) changes per request. Any other request hands the connection, that request still
// unread, to net/http for the rest of its life, between two responses, so
// that pipelined requests are answered in order. The fast path keeps every
// limit and timeout below and writes the same access log line; closing
// the listener's underlying listener hands its connections to net/http at
// their next request. Tests compare it byte for byte with the slow path
// (TestFastPathMatchesSlowPath).
//
// # The request-head guard (HTTP/1.x)
//
// net/http's HTTP/1 parser is laxer than an edge may be: it accepts a
// request with both Content-Length and Transfer-Encoding and keeps the
// connection open, joins folded lines, takes bare LF as a line end, lets
// CONNECT, asterisk-form and absolute-form targets through with the Host
// taken from the target, and answers oversized heads with 431 only past
// its limit plus 4 KiB. A check in the handler comes too late for a
// request pipelined behind another, which net/http has already read and
// will parse its own way. So Portico puts its own parser between the
// connection and net/http (guardConn): it holds each request head back
// until it is complete and checked, and replaces a refused head, and
// everything after it, with a stand-in request that the pipeline answers
// with the refusal and "Connection: close". net/http therefore only ever
// parses heads that Portico has accepted, and a smuggled request is never
// parsed at all. The guard frames bodies exactly as net/http does, so it
// always knows where the next head starts; it steps aside once a
// connection is hijacked for an upgrade (WebSocket).
//
// A request head (the request line, the header fields and the empty line)
// is refused, and the connection closed after the answer, when:
//
//	it is over 20,480 bytes (MaxHeaderBytes), counted exactly   413
//	its target is over 8,192 bytes (MaxURLBytes)                414
//	its version is HTTP/x.y other than 1.0 and 1.1              505
//	its request line is not "method SP target SP HTTP/1.x", the
//	  method is not a token of at most 32 bytes, or the target
//	  holds a control character, space, "#" or, in the path, an
//	  invalid percent-encoding                                  400
//	the method is CONNECT, or the target is "*" (asterisk-form)
//	  or host:port (authority-form)                             400
//	the target is absolute but not http(s), has user
//	  information, or names another host than the Host field    400
//	a line ends in a bare LF, or holds a bare CR                 400
//	a line starts with white space (obsolete line folding, or
//	  white space before the first field)                       400
//	a field name is empty or not a token (white space before
//	  the colon included), or a value holds a control character
//	  other than HTAB (NUL and DEL included)                    400
//	it has no Host field (HTTP/1.1), more than one, or a Host
//	  that is not an ASCII host name, IPv4 or [IPv6] address
//	  with an optional numeric port (so no UTF-8 IDN: send
//	  punycode)                                                 400
//	it has more than one Content-Length field (even equal ones),
//	  or one that is not 1*DIGIT (no sign, list or space)       400
//	it has a Transfer-Encoding other than one field "chunked"
//	  (any case; RFC 9112 would allow 501 for unknown codings),
//	  on HTTP/1.0, or together with Content-Length              400
//
// Up to 20,480 bytes of empty lines before a request line are dropped
// (RFC 9112 §2.2). A chunked body whose chunk-size line is not hex digits
// (at most 15), optional ";" extensions and CRLF within 1,024 bytes, whose
// data is not followed by CRLF, or whose trailer section is over 4 KiB or
// not valid fields ending in CRLF, fails the body's reads and closes the
// connection: whatever was pipelined behind it is never read.
//
// # Normalisation
//
// A request that passes is forwarded as received, except that:
//
//   - the Host is compared, routed, logged and cached lower-case, without
//     its port and trailing dot;
//   - an absolute-form target becomes origin-form, "/" if its path is
//     empty;
//   - in the path, the bytes RFC 3986 does not allow there (controls
//     aside, which are refused: UTF-8 and other bytes over 0x7F, and
//     `"<>\^`{|}`) are percent-encoded with upper-case hex digits. Every
//     other byte is kept: percent-encodings keep their case and are not
//     decoded ("%2F" stays an encoded slash, "%2e%2e" stays encoded), and
//     dot segments and double slashes are not removed, as CloudFront
//     forwards paths as received. The cache behaviour is chosen by that
//     path, the cache key holds it and the origin receives it, so the three
//     always agree;
//   - the query is forwarded byte for byte;
//   - a method that is not upper case is a method of its own (RFC 9110
//     §9.1), which no cache behaviour allows: 403, as any unknown method.
//
// Over HTTP/2, where net/http's server enforces the protocol's own rules
// (connection-specific fields such as Connection or TE other than
// "trailers" get 400), the pipeline adds: an asterisk target, a missing or
// invalid :authority, a Host field that differs from :authority, and
// CONNECT without :protocol get 400; the request line and fields, as
// HTTP/1.1 would carry them, are held to 20,480 bytes (413). Before it
// answers an HTTP/2 request it refuses, the pipeline reads up to 64 KiB of
// its body, so that a body that contradicts its content-length resets the
// stream (RFC 9113 §8.1.1) instead of being answered.
//
// # Limits and timeouts
//
// Go's defaults are not an edge's; every limit is set (see Limits for the
// configurable ones and their defaults):
//
//   - a request head must arrive within ReadHeaderTimeout (10 s) of its
//     first byte, on a new connection and on a kept-alive one alike (the
//     guard times it, since net/http sees no byte of a head before its
//     end); an idle keep-alive connection closes after IdleTimeout (75 s);
//   - a body may not pause for more than BodyReadTimeout (60 s): on
//     HTTP/1.x the guard sets a read deadline on each read of the body,
//     which each read extends; on HTTP/2 the pipeline does the same with
//     http.ResponseController.SetReadDeadline. A slow client thus holds one
//     goroutine and one connection, and never a deadline shared with other
//     viewers;
//   - a write to the viewer that makes no progress for WriteTimeout (60 s)
//     fails (HTTP/2: WriteByteTimeout);
//   - a body is bounded by its method's limit (MaxBodyBytes: 64 MiB for
//     POST, PUT and PATCH, 1 MiB for the others): a declared length over it
//     gets 413 before anything is read, a chunked body that grows past it
//     fails;
//   - an HTTP/1.x connection serves MaxRequestsPerConn (1,000) requests, the
//     last answered with "Connection: close";
//   - HTTP/2: 100 concurrent streams, 16 KiB frames, 4 KiB HPACK tables,
//     256 KiB per stream and 1 MiB per connection of flow-control window,
//     a 20 KiB (plus net/http's 4 KiB) header list, and pings after
//     IdleTimeout of silence. net/http bounds rapid resets (CVE-2023-44487)
//     and resets the edge makes itself (MadeYouReset, CVE-2025-8671) by
//     counting handlers, not streams, against the stream limit, and ends a
//     CONTINUATION flood (CVE-2023-45288) at the header list limit.
//
// # TLS
//
// TLS 1.2 and 1.3, Mozilla's "intermediate" suites for TLS 1.2 (ECDHE with
// AES-GCM or ChaCha20-Poly1305, nothing else), and the certificate chosen
// by SNI from the current snapshot. A certificate presented within 30 days
// of its expiry is logged, at most once a day.
package edgeserver
