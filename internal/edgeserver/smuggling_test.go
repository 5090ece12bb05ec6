package edgeserver

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-edge/portico"
)

// rawHost is the alias of the distribution the raw-request tests talk to.
const rawHost = "raw.example.com"

// newRawEdge returns an edge serving rawHost (and its punycode alias
// xn--bcher-kva.example) over HTTP and HTTPS: every method on every path
// but /ro/*, which allows GET and HEAD only.
func newRawEdge(t *testing.T) *edge {
	t.Helper()
	return newRawEdgeWith(t, Limits{})
}

// newRawEdgeWith is newRawEdge with limits other than the defaults.
func newRawEdgeWith(t *testing.T, limits Limits) *edge {
	t.Helper()
	e := newEdgeWith(t, limits)
	arn := e.importCert(t, "", rawHost, "xn--bcher-kva.example")
	cfg := distConfig("raw", true, arn, rawHost, "xn--bcher-kva.example")
	cfg.DefaultCacheBehavior.ViewerProtocolPolicy = "allow-all"
	cfg.DefaultCacheBehavior.AllowedMethods = &portico.AllowedMethods{
		Quantity: len(allMethods), Items: allMethods,
		CachedMethods: &portico.Methods{Quantity: 2, Items: []string{"GET", "HEAD"}},
	}
	ro := cfg.CacheBehaviors.Items[0]
	ro.PathPattern = portico.Ptr("/ro/*")
	ro.ViewerProtocolPolicy = "allow-all"
	ro.AllowedMethods = nil
	cfg.CacheBehaviors.Items[0] = ro
	e.createDistribution(t, cfg)
	return e
}

// rawResult is what one raw exchange produced.
type rawResult struct {
	statuses []int
	closed   bool     // the edge closed the connection after its answers
	origin   []string // the requests that reached the origin in full
}

// probe is the request sent after a case's answers, on the same
// connection, to tell an open connection from a closed one.
const probe = "GET /probe HTTP/1.1\r\nHost: " + rawHost + "\r\n\r\n"

// exchange writes raw on a new connection to addr (over TLS with ALPN
// http/1.1 if useTLS), reads want answers, then sends the probe: the
// connection is open if the probe is answered, closed if the edge ends it.
func (e *edge) exchange(t *testing.T, raw string, want int, useTLS bool) rawResult {
	t.Helper()
	e.origin.reset()
	var c net.Conn
	var err error
	if useTLS {
		c, err = tls.Dial("tcp", e.httpsAddr, &tls.Config{ServerName: rawHost, RootCAs: e.viewerCA.pool, NextProtos: []string{"http/1.1"}})
	} else {
		c, err = net.Dial("tcp", e.httpAddr)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	var res rawResult
	br := bufio.NewReader(c)
	for range want {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("after %d answers: %v", len(res.statuses), err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		res.statuses = append(res.statuses, resp.StatusCode)
	}
	io.WriteString(c, probe) // fails, or is reset, on a closed connection
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		res.closed = true
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "/probe") {
			t.Fatalf("the probe got %d %q: an answer more than expected", resp.StatusCode, body)
		}
	}
	res.origin = e.origin.complete("/probe")
	return res
}

// The raw cases. Each is one byte string sent on a new connection; it is
// either answered as the package documentation says (normalised) or
// refused (400, 413, 414, 505) and the connection closed, and the origin
// sees only unambiguous requests.
var rawCases = []struct {
	name     string
	raw      string
	statuses []int
	closed   bool
	origin   []string // complete requests at the origin: "METHOD target[ body=...]"
	tls      bool     // over the HTTPS listener (ALPN http/1.1)
}{
	// Baseline framing.
	{name: "GET", raw: "GET /get HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{200}, origin: []string{"GET /get"}},
	{name: "POST with Content-Length", raw: "POST /cl HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length: 5\r\n\r\nhello",
		statuses: []int{200}, origin: []string{"POST /cl body=hello"}},
	{name: "POST chunked", raw: "POST /chunked HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		statuses: []int{200}, origin: []string{"POST /chunked body=hello"}},
	{name: "chunk extension", raw: "POST /chunk-ext HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: chunked\r\n\r\n5;name=\"v\"\r\nhello\r\n0;last\r\n\r\n",
		statuses: []int{200}, origin: []string{"POST /chunk-ext body=hello"}},
	{name: "upper-case chunk size", raw: "POST /chunk-hex HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n",
		statuses: []int{200}, origin: []string{"POST /chunk-hex body=0123456789"}},
	{name: "chunked trailer", raw: "POST /trailer HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-Check: 1\r\n\r\n",
		statuses: []int{200}, origin: []string{"POST /trailer body=hi"}},
	{name: "Transfer-Encoding: Chunked", raw: "POST /te-case HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
		statuses: []int{200}, origin: []string{"POST /te-case body=hi"}},
	{name: "Transfer-Encoding with white space", raw: "POST /te-ows HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding:\tchunked \r\n\r\n2\r\nhi\r\n0\r\n\r\n",
		statuses: []int{200}, origin: []string{"POST /te-ows body=hi"}},
	{name: "request in chunk data stays data", raw: "POST /inner HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: chunked\r\n\r\n1f\r\nGET /hidden HTTP/1.1\r\nHost: x\r\n\r\n0\r\n\r\n",
		statuses: []int{200}, origin: []string{"POST /inner body=GET /hidden HTTP/1.1\r\nHost: x\r\n"}},

	// Content-Length with Transfer-Encoding.
	{name: "CL then TE", raw: "POST /clte HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "TE then CL", raw: "POST /tecl HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGET /smuggled HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length: 15\r\n\r\nx=1\r\n0\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "CL and TE: Chunked", raw: "POST /clte2 HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length: 3\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "CL and TE over TLS", tls: true, raw: "POST /clte-tls HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "pipelined GETs over TLS", tls: true, raw: "GET /tls1 HTTP/1.1\r\nHost: raw.example.com\r\n\r\nGET /tls2 HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{200, 200}, origin: []string{"GET /tls1", "GET /tls2"}},
	{name: "bare LF over TLS", tls: true, raw: "GET /tls-lf HTTP/1.1\nHost: raw.example.com\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "obs-fold over TLS", tls: true, raw: "GET /tls-fold HTTP/1.1\r\nHost: raw.example.com\r\nX-Fold: a\r\n\tb\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "CL and TE pipelined behind a good request", raw: "GET /before HTTP/1.1\r\nHost: raw.example.com\r\n\r\nPOST /clte3 HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
		statuses: []int{200, 400}, closed: true, origin: []string{"GET /before"}},

	// Content-Length.
	{name: "two different CL", raw: "POST /cl2 HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
		statuses: []int{400}, closed: true},
	{name: "two identical CL", raw: "POST /cl2same HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
		statuses: []int{400}, closed: true},
	{name: "CL list", raw: "POST /cllist HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length: 5, 5\r\n\r\nhello",
		statuses: []int{400}, closed: true},
	{name: "CL with plus sign", raw: "POST /clplus HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length: +5\r\n\r\nhello",
		statuses: []int{400}, closed: true},
	{name: "negative CL", raw: "POST /clneg HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length: -1\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "hexadecimal CL", raw: "POST /clhex HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length: 0x5\r\n\r\nhello",
		statuses: []int{400}, closed: true},
	{name: "empty CL", raw: "POST /clempty HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length:\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "CL with inner space", raw: "POST /clspace HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length: 1 0\r\n\r\n0123456789",
		statuses: []int{400}, closed: true},
	{name: "CL overflow", raw: "POST /clbig HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length: 99999999999999999999\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "CL with white space", raw: "POST /clows HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length:  5 \r\n\r\nhello",
		statuses: []int{200}, origin: []string{"POST /clows body=hello"}},
	{name: "CL with leading zeros", raw: "POST /clzeros HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length: 005\r\n\r\nhello",
		statuses: []int{200}, origin: []string{"POST /clzeros body=hello"}},

	// Transfer-Encoding.
	{name: "TE gzip, chunked", raw: "POST /tegzip HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "TE chunked, chunked", raw: "POST /te2 HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "TE field twice", raw: "POST /tetwice HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "TE gzip", raw: "POST /teonly HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: gzip\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "TE xchunked", raw: "POST /tex HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "TE with a parameter", raw: "POST /teparam HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "TE on HTTP/1.0", raw: "POST /te10 HTTP/1.0\r\nHost: raw.example.com\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "TE with vertical tab", raw: "POST /tevt HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "space before colon", raw: "POST /tesp HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "Transfer_Encoding is another field", raw: "POST /te-underscore HTTP/1.1\r\nHost: raw.example.com\r\nTransfer_Encoding: chunked\r\n\r\n0\r\n\r\n",
		statuses: []int{200, 400}, closed: true, origin: []string{"POST /te-underscore"}},

	// Line syntax.
	{name: "obs-fold", raw: "GET /fold HTTP/1.1\r\nHost: raw.example.com\r\nX-Fold: a\r\n b\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "obs-fold in TE", raw: "POST /foldte HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: identity\r\n chunked\r\n\r\n0\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "white space before the first field", raw: "GET /ws HTTP/1.1\r\n Host: raw.example.com\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "bare CR in a value", raw: "GET /cr HTTP/1.1\r\nHost: raw.example.com\r\nX-A: 1\rX-B: 2\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "bare LF after a field", raw: "GET /lf HTTP/1.1\r\nHost: raw.example.com\nX-A: 1\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "bare LF request line", raw: "GET /lf2 HTTP/1.1\nHost: raw.example.com\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "bare LF head", raw: "GET /lf3 HTTP/1.1\nHost: raw.example.com\n\n",
		statuses: []int{400}, closed: true},
	{name: "bare CR in the request line", raw: "GET /a\rb HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "space in a field name", raw: "GET /name HTTP/1.1\r\nHost: raw.example.com\r\nX Y: z\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "empty field name", raw: "GET /noname HTTP/1.1\r\nHost: raw.example.com\r\n: z\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "at sign in a field name", raw: "GET /at HTTP/1.1\r\nHost: raw.example.com\r\nX@Y: z\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "field without colon", raw: "GET /nocolon HTTP/1.1\r\nHost: raw.example.com\r\nX-NoColon\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "NUL in a value", raw: "GET /nul HTTP/1.1\r\nHost: raw.example.com\r\nX-A: a\x00b\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "NUL in the target", raw: "GET /nul\x00x HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "DEL in a value", raw: "GET /del HTTP/1.1\r\nHost: raw.example.com\r\nX-A: a\x7fb\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "obs-text in a value", raw: "GET /obstext HTTP/1.1\r\nHost: raw.example.com\r\nX-A: caf\xe9\r\n\r\n",
		statuses: []int{200}, origin: []string{"GET /obstext"}},
	{name: "empty lines before the request line", raw: "\r\n\r\nGET /leading HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{200}, origin: []string{"GET /leading"}},
	{name: "two spaces in the request line", raw: "GET  /twospaces HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "tab in the request line", raw: "GET\t/tab HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{400}, closed: true},

	// Expect.
	{name: "Expect: 100-continue", raw: "POST /expect HTTP/1.1\r\nHost: raw.example.com\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
		statuses: []int{100, 200}, origin: []string{"POST /expect body=hello"}},
	{name: "Expect: 100-continue refused", raw: "POST /ro/expect HTTP/1.1\r\nHost: raw.example.com\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
		statuses: []int{403}, closed: true},
	{name: "unknown expectation", raw: "POST /expect2 HTTP/1.1\r\nHost: raw.example.com\r\nExpect: teapot\r\nContent-Length: 0\r\n\r\n",
		statuses: []int{417}, closed: true},

	// Pipelining.
	{name: "two pipelined GETs", raw: "GET /p1 HTTP/1.1\r\nHost: raw.example.com\r\n\r\nGET /p2 HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{200, 200}, origin: []string{"GET /p1", "GET /p2"}},
	{name: "POST then GET pipelined", raw: "POST /p3 HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length: 3\r\n\r\nabcGET /p4 HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{200, 200}, origin: []string{"POST /p3 body=abc", "GET /p4"}},
	{name: "refused GET with a body, then GET", raw: "GET /p5 HTTP/1.1\r\nHost: raw.example.com\r\nContent-Length: 3\r\n\r\nabcGET /p6 HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{403, 200}, origin: []string{"GET /p6"}},
	{name: "chunked POST then GET pipelined", raw: "POST /p7 HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /p8 HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{200, 200}, origin: []string{"POST /p7 body=abc", "GET /p8"}},
	{name: "good request then a bad head", raw: "GET /p9 HTTP/1.1\r\nHost: raw.example.com\r\n\r\nGET /p10 HTTP/1.1\nHost: raw.example.com\r\n\r\n",
		statuses: []int{200, 400}, closed: true, origin: []string{"GET /p9"}},

	// Methods.
	{name: "CONNECT", raw: "CONNECT raw.example.com:443 HTTP/1.1\r\nHost: raw.example.com:443\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "CONNECT with a path", raw: "CONNECT /connect HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "lower-case method", raw: "get /lower HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{403}},
	{name: "unknown method", raw: "FOO /foo HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{403}},
	{name: "invalid method", raw: "GE(T /paren HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "asterisk-form", raw: "OPTIONS * HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{400}, closed: true},

	// Absolute-form and authority-form targets.
	{name: "absolute-form", raw: "GET http://raw.example.com/abs?q=1 HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{200}, origin: []string{"GET /abs?q=1"}},
	{name: "absolute-form for another host", raw: "GET http://other.example.com/abs2 HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "absolute-form with a port", raw: "GET http://raw.example.com:80/abs3 HTTP/1.1\r\nHost: RAW.example.com\r\n\r\n",
		statuses: []int{200}, origin: []string{"GET /abs3"}},
	{name: "absolute-form upper-case", raw: "GET HTTPS://RAW.EXAMPLE.COM/abs4 HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{200}, origin: []string{"GET /abs4"}},
	{name: "absolute-form with user information", raw: "GET http://user@raw.example.com/abs5 HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "absolute-form, other scheme", raw: "GET ftp://raw.example.com/abs6 HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "absolute-form without a path", raw: "GET http://raw.example.com?empty HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{200}, origin: []string{"GET /?empty"}},
	{name: "absolute-form without Host on HTTP/1.0", raw: "GET http://raw.example.com/abs7 HTTP/1.0\r\n\r\n",
		statuses: []int{200}, closed: true, origin: []string{"GET /abs7"}},
	{name: "authority-form on GET", raw: "GET raw.example.com:80 HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{400}, closed: true},

	// Host.
	{name: "Host with port", raw: "GET /h-port HTTP/1.1\r\nHost: raw.example.com:8080\r\n\r\n",
		statuses: []int{200}, origin: []string{"GET /h-port"}},
	{name: "Host with trailing dot", raw: "GET /h-dot HTTP/1.1\r\nHost: raw.example.com.\r\n\r\n",
		statuses: []int{200}, origin: []string{"GET /h-dot"}},
	{name: "upper-case Host", raw: "GET /h-upper HTTP/1.1\r\nHost: RAW.Example.COM\r\n\r\n",
		statuses: []int{200}, origin: []string{"GET /h-upper"}},
	{name: "punycode Host", raw: "GET /h-puny HTTP/1.1\r\nHost: xn--bcher-kva.example\r\n\r\n",
		statuses: []int{200}, origin: []string{"GET /h-puny"}},
	{name: "UTF-8 Host", raw: "GET /h-idn HTTP/1.1\r\nHost: b\xc3\xbccher.example\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "Host with user information", raw: "GET /h-user HTTP/1.1\r\nHost: user@raw.example.com\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "Host with a named port", raw: "GET /h-named HTTP/1.1\r\nHost: raw.example.com:http\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "two Host fields", raw: "GET /h-two HTTP/1.1\r\nHost: raw.example.com\r\nHost: other.example.com\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "no Host on HTTP/1.1", raw: "GET /h-none HTTP/1.1\r\nX-A: 1\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "empty Host", raw: "GET /h-empty HTTP/1.1\r\nHost:\r\n\r\n",
		statuses: []int{400}},
	{name: "no Host on HTTP/1.0", raw: "GET /h-10 HTTP/1.0\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "HTTP/1.0 with Host", raw: "GET /h-10b HTTP/1.0\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{200}, closed: true, origin: []string{"GET /h-10b"}},
	{name: "unknown Host", raw: "GET /h-unknown HTTP/1.1\r\nHost: unknown.example.net\r\n\r\n",
		statuses: []int{403}},

	// Paths: forwarded as received, but for bytes RFC 3986 does not allow.
	{name: "dot segments", raw: "GET /dots/../x HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{200}, origin: []string{"GET /dots/../x"}},
	{name: "encoded dot segments", raw: "GET /edots/%2e%2e/x HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{200}, origin: []string{"GET /edots/%2e%2e/x"}},
	{name: "encoded slash", raw: "GET /a%2fb HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{200}, origin: []string{"GET /a%2fb"}},
	{name: "encoded slash, upper-case hex", raw: "GET /a%2Fc HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{200}, origin: []string{"GET /a%2Fc"}},
	{name: "double slashes", raw: "GET //double//slash HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{200}, origin: []string{"GET //double//slash"}},
	{name: "bytes RFC 3986 leaves out", raw: "GET /pipe|caret^'q' HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{200}, origin: []string{"GET /pipe%7Ccaret%5E'q'"}},
	{name: "backslash", raw: "GET /back\\slash HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{200}, origin: []string{"GET /back%5Cslash"}},
	{name: "UTF-8 path", raw: "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{200}, origin: []string{"GET /caf%C3%A9"}},
	{name: "query as received", raw: "GET /query?b=2&a=100%&c=|x HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{200}, origin: []string{"GET /query?b=2&a=100%&c=|x"}},
	{name: "fragment", raw: "GET /frag#x HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "invalid percent-encoding", raw: "GET /pct%zz HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{400}, closed: true},

	// Versions.
	{name: "HTTP/1.2", raw: "GET /v12 HTTP/1.2\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{505}, closed: true},
	{name: "HTTP/2.0 in text", raw: "GET /v20 HTTP/2.0\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{505}, closed: true},
	{name: "HTTP/2 preface", raw: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		statuses: []int{505}, closed: true},
	{name: "lower-case version", raw: "GET /vlower http/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{400}, closed: true},
	{name: "no version", raw: "GET /vnone\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{400}, closed: true},

	// Chunked bodies that break the framing: the POST is refused (/ro/
	// allows GET and HEAD), net/http's attempt to read past the body
	// fails, and the connection closes before the request behind it.
	{name: "chunk size with bare LF", raw: "POST /ro/c1 HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\nGET /c1-after HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{403}, closed: true},
	{name: "chunk size with leading space", raw: "POST /ro/c2 HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\nGET /c2-after HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{403}, closed: true},
	{name: "chunk size 0x5", raw: "POST /ro/c3 HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\nGET /c3-after HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{403}, closed: true},
	{name: "chunk data longer than its size", raw: "POST /ro/c4 HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\nGET /c4-after HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{403}, closed: true},
	{name: "chunk size of 16 digits", raw: "POST /ro/c5 HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000005\r\nhello\r\n0\r\n\r\n",
		statuses: []int{403}, closed: true},
	{name: "long chunk extension", raw: "POST /ro/c6 HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: chunked\r\n\r\n5;" + strings.Repeat("x", 2000) + "\r\nhello\r\n0\r\n\r\nGET /c6-after HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{403}, closed: true},
	{name: "empty chunk size", raw: "POST /ro/c7 HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n",
		statuses: []int{403}, closed: true},
	{name: "trailer with bare LF", raw: "POST /ro/c8 HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\n\r\nGET /c8-after HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{403}, closed: true},
	{name: "valid chunked body on a refused POST keeps the connection", raw: "POST /ro/c9 HTTP/1.1\r\nHost: raw.example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /c9-after HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{403, 200}, origin: []string{"GET /c9-after"}},

	// Size quotas.
	{name: "URL over 8,192 bytes", raw: "GET /" + strings.Repeat("u", MaxURLBytes) + " HTTP/1.1\r\nHost: raw.example.com\r\n\r\n",
		statuses: []int{414}, closed: true},
	{name: "head over 20,480 bytes", raw: "GET /big HTTP/1.1\r\nHost: raw.example.com\r\nX-Big: " + strings.Repeat("b", MaxHeaderBytes) + "\r\n\r\n",
		statuses: []int{413}, closed: true},
}

// TestRawRequestsAreNormalisedOrRefused sends each raw case over a TCP
// socket to the real edge (and a few over TLS) and checks the answers,
// whether the connection stayed open, and what the origin received.
func TestRawRequestsAreNormalisedOrRefused(t *testing.T) {
	e := newRawEdge(t)
	names := make(map[string]bool)
	for _, tt := range rawCases {
		if names[tt.name] {
			t.Fatalf("case %q twice", tt.name)
		}
		names[tt.name] = true
		t.Run(tt.name, func(t *testing.T) {
			got := e.exchange(t, tt.raw, len(tt.statuses), tt.tls)
			if !slices.Equal(got.statuses, tt.statuses) {
				t.Errorf("statuses %v, want %v", got.statuses, tt.statuses)
			}
			if got.closed != tt.closed {
				t.Errorf("connection closed = %v, want %v", got.closed, tt.closed)
			}
			if !slices.Equal(got.origin, tt.origin) {
				t.Errorf("the origin received %q, want %q", got.origin, tt.origin)
			}
		})
	}
	t.Logf("%d raw requests", len(rawCases))
}
