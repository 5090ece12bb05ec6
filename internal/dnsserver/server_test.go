package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/portico-edge/portico/internal/testlog"
)

// nameMap is a Names held in a map: name → CNAME target, "" for a
// distribution's own domain name. Like a snapshot, it knows exact names
// only; wildcard aliases are keys such as "*.example.com".
type nameMap map[string]string

func (m nameMap) Lookup(name string) (string, bool) {
	t, ok := m[name]
	return t, ok
}

// testNames is the configuration most tests serve.
var testNames = nameMap{
	"e1abc.portico.localhost": "",
	"e2def.portico.localhost": "",
	"login.example.com":       "e1abc.portico.localhost",
	"*.wild.example.net":      "e2def.portico.localhost",
	"exact.wild.example.net":  "e1abc.portico.localhost",
	"dangling.example.org":    "e9zzz.portico.localhost", // its distribution is gone
	"away.example.org":        "cdn.elsewhere.example",   // a target outside Portico
	"loop1.example.org":       "loop2.example.org",
	"loop2.example.org":       "loop1.example.org",
	"chain.example.org":       "login.example.com",
}

var testAddrs = []netip.Addr{
	netip.MustParseAddr("192.0.2.1"),
	netip.MustParseAddr("192.0.2.2"),
	netip.MustParseAddr("2001:db8::1"),
}

// start runs s on 127.0.0.1:0 until the test ends and returns its address.
func start(t testing.TB, s *Server) string {
	t.Helper()
	addr := listenLoopback(t, s)
	serveUntilCleanup(t, s)
	return addr
}

// listenLoopback has s listen on 127.0.0.1:0 and returns its address.
func listenLoopback(t testing.TB, s *Server) string {
	t.Helper()
	addr, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	return addr.String()
}

// serve runs s.Serve in the background; its result arrives on the
// channel.
func serve(s *Server) <-chan error {
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	return served
}

// shutdown shuts s down, giving it 10 s, and checks that Shutdown and then
// Serve, whose result served delivers, return nil.
func shutdown(t testing.TB, s *Server, served <-chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// serveUntilCleanup runs s.Serve until the test ends.
func serveUntilCleanup(t testing.TB, s *Server) {
	served := serve(s)
	t.Cleanup(func() { shutdown(t, s, served) })
}

// startNames runs a server for the zone portico.localhost and testAddrs
// that serves the names names returns.
func startNames(t testing.TB, names func() Names) string {
	t.Helper()
	return start(t, &Server{Zone: "portico.localhost", Addrs: testAddrs, Names: names})
}

func static(n Names) func() Names { return func() Names { return n } }

func exchange(t testing.TB, network, addr string, q *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(q, addr)
	if err != nil {
		t.Fatalf("%s exchange %v: %v", network, q.Question, err)
	}
	return r
}

func query(name string, qtype uint16) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = false
	return q
}

// rrStrings renders records in presentation format with single spaces,
// leaving out OPT records.
func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	return out
}

const (
	soaRR = "portico.localhost. 60 IN SOA ns1.portico.localhost. hostmaster.portico.localhost. 1 7200 900 1209600 60"
	e1A1  = "e1abc.portico.localhost. 60 IN A 192.0.2.1"
	e1A2  = "e1abc.portico.localhost. 60 IN A 192.0.2.2"
	e1AAA = "e1abc.portico.localhost. 60 IN AAAA 2001:db8::1"
)

func TestAnswers(t *testing.T) {
	addr := startNames(t, static(testNames))
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		aa     bool
		answer []string
		ns     []string
		extra  []string
	}{
		{
			name: "distribution A", qname: "e1abc.portico.localhost.", qtype: dns.TypeA,
			aa: true, answer: []string{e1A1, e1A2},
		},
		{
			name: "distribution AAAA", qname: "e1abc.portico.localhost.", qtype: dns.TypeAAAA,
			aa: true, answer: []string{e1AAA},
		},
		{
			name: "case preserved (0x20)", qname: "E1aBc.PorTiCo.LOCALhost.", qtype: dns.TypeA,
			aa: true, answer: []string{
				"E1aBc.PorTiCo.LOCALhost. 60 IN A 192.0.2.1",
				"E1aBc.PorTiCo.LOCALhost. 60 IN A 192.0.2.2",
			},
		},
		{
			name: "distribution without the type", qname: "e1abc.portico.localhost.", qtype: dns.TypeTXT,
			aa: true, ns: []string{soaRR},
		},
		{
			name: "distribution MX", qname: "e2def.portico.localhost.", qtype: dns.TypeMX,
			aa: true, ns: []string{soaRR},
		},
		{
			name: "distribution ANY is its A RRset (RFC 8482)", qname: "e1abc.portico.localhost.", qtype: dns.TypeANY,
			aa: true, answer: []string{e1A1, e1A2},
		},
		{
			name: "no such distribution", qname: "e0000.portico.localhost.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, aa: true, ns: []string{soaRR},
		},
		{
			name: "no such distribution, upper case", qname: "NOPE.PORTICO.LOCALHOST.", qtype: dns.TypeAAAA,
			rcode: dns.RcodeNameError, aa: true, ns: []string{soaRR},
		},
		{
			name: "under a distribution", qname: "www.e1abc.portico.localhost.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, aa: true, ns: []string{soaRR},
		},
		{
			name: "escaped label under the zone", qname: `a\000b.portico.localhost.`, qtype: dns.TypeA,
			rcode: dns.RcodeNameError, aa: true, ns: []string{soaRR},
		},
		{
			name: "apex SOA", qname: "portico.localhost.", qtype: dns.TypeSOA,
			aa: true, answer: []string{soaRR},
		},
		{
			name: "apex SOA keeps the case", qname: "Portico.LocalHost.", qtype: dns.TypeSOA,
			aa: true, answer: []string{strings.Replace(soaRR, "portico.localhost.", "Portico.LocalHost.", 1)},
		},
		{
			name: "apex NS with glue", qname: "portico.localhost.", qtype: dns.TypeNS,
			aa: true, answer: []string{"portico.localhost. 300 IN NS ns1.portico.localhost."},
			extra: []string{
				"ns1.portico.localhost. 60 IN A 192.0.2.1",
				"ns1.portico.localhost. 60 IN A 192.0.2.2",
				"ns1.portico.localhost. 60 IN AAAA 2001:db8::1",
			},
		},
		{
			name: "apex ANY is its SOA", qname: "portico.localhost.", qtype: dns.TypeANY,
			aa: true, answer: []string{soaRR},
		},
		{
			name: "apex A", qname: "portico.localhost.", qtype: dns.TypeA,
			aa: true, ns: []string{soaRR},
		},
		{
			name: "name server A", qname: "ns1.portico.localhost.", qtype: dns.TypeA,
			aa: true, answer: []string{
				"ns1.portico.localhost. 60 IN A 192.0.2.1",
				"ns1.portico.localhost. 60 IN A 192.0.2.2",
			},
		},
		{
			name: "name server AAAA", qname: "NS1.portico.localhost.", qtype: dns.TypeAAAA,
			aa: true, answer: []string{"NS1.portico.localhost. 60 IN AAAA 2001:db8::1"},
		},
		{
			name: "alias A follows the CNAME", qname: "login.example.com.", qtype: dns.TypeA,
			aa: true, answer: []string{
				"login.example.com. 300 IN CNAME e1abc.portico.localhost.", e1A1, e1A2,
			},
		},
		{
			name: "alias AAAA follows the CNAME", qname: "login.example.com.", qtype: dns.TypeAAAA,
			aa: true, answer: []string{
				"login.example.com. 300 IN CNAME e1abc.portico.localhost.", e1AAA,
			},
		},
		{
			name: "alias keeps the case", qname: "LOGIN.Example.COM.", qtype: dns.TypeA,
			aa: true, answer: []string{
				"LOGIN.Example.COM. 300 IN CNAME e1abc.portico.localhost.", e1A1, e1A2,
			},
		},
		{
			name: "alias CNAME", qname: "login.example.com.", qtype: dns.TypeCNAME,
			aa: true, answer: []string{"login.example.com. 300 IN CNAME e1abc.portico.localhost."},
		},
		{
			name: "alias ANY is its CNAME", qname: "login.example.com.", qtype: dns.TypeANY,
			aa: true, answer: []string{"login.example.com. 300 IN CNAME e1abc.portico.localhost."},
		},
		{
			name: "alias TXT: CNAME, then no data at the target", qname: "login.example.com.", qtype: dns.TypeTXT,
			aa: true, answer: []string{"login.example.com. 300 IN CNAME e1abc.portico.localhost."},
			ns: []string{soaRR},
		},
		{
			// Certificate authorities check CAA at an alias (RFC 8659);
			// no CAA anywhere on the chain means issuance is allowed.
			name: "alias CAA", qname: "login.example.com.", qtype: dns.TypeCAA,
			aa: true, answer: []string{"login.example.com. 300 IN CNAME e1abc.portico.localhost."},
			ns: []string{soaRR},
		},
		{
			name: "distribution URI (type 256)", qname: "e1abc.portico.localhost.", qtype: dns.TypeURI,
			aa: true, ns: []string{soaRR},
		},
		{
			name: "wildcard alias", qname: "tenant.wild.example.net.", qtype: dns.TypeA,
			aa: true, answer: []string{
				"tenant.wild.example.net. 300 IN CNAME e2def.portico.localhost.",
				"e2def.portico.localhost. 60 IN A 192.0.2.1",
				"e2def.portico.localhost. 60 IN A 192.0.2.2",
			},
		},
		{
			name: "wildcard alias, mixed case", qname: "TeNaNt.Wild.Example.NET.", qtype: dns.TypeCNAME,
			aa: true, answer: []string{"TeNaNt.Wild.Example.NET. 300 IN CNAME e2def.portico.localhost."},
		},
		{
			name: "more specific alias beats the wildcard", qname: "exact.wild.example.net.", qtype: dns.TypeCNAME,
			aa: true, answer: []string{"exact.wild.example.net. 300 IN CNAME e1abc.portico.localhost."},
		},
		{
			name: "the wildcard name itself", qname: "*.wild.example.net.", qtype: dns.TypeCNAME,
			aa: true, answer: []string{"*.wild.example.net. 300 IN CNAME e2def.portico.localhost."},
		},
		{
			name: "wildcard covers one label only", qname: "a.b.wild.example.net.", qtype: dns.TypeA,
			rcode: dns.RcodeRefused,
		},
		{
			name: "wildcard does not cover its parent", qname: "wild.example.net.", qtype: dns.TypeA,
			rcode: dns.RcodeRefused,
		},
		{
			name: "under an alias", qname: "www.login.example.com.", qtype: dns.TypeA,
			rcode: dns.RcodeRefused,
		},
		{
			name: "parent of an alias", qname: "example.com.", qtype: dns.TypeSOA,
			rcode: dns.RcodeRefused,
		},
		{
			name: "outside every zone", qname: "www.google.com.", qtype: dns.TypeA,
			rcode: dns.RcodeRefused,
		},
		{
			name: "zone look-alike", qname: "xportico.localhost.", qtype: dns.TypeA,
			rcode: dns.RcodeRefused,
		},
		{
			name: "escaped dot before the zone", qname: `a\.portico.localhost.`, qtype: dns.TypeA,
			rcode: dns.RcodeRefused,
		},
		{
			name: "root", qname: ".", qtype: dns.TypeNS,
			rcode: dns.RcodeRefused,
		},
		{
			name: "alias whose distribution is gone", qname: "dangling.example.org.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, aa: true,
			answer: []string{"dangling.example.org. 300 IN CNAME e9zzz.portico.localhost."},
			ns:     []string{soaRR},
		},
		{
			name: "alias to a name outside Portico", qname: "away.example.org.", qtype: dns.TypeA,
			aa: true, answer: []string{"away.example.org. 300 IN CNAME cdn.elsewhere.example."},
		},
		{
			name: "chain of aliases", qname: "chain.example.org.", qtype: dns.TypeA,
			aa: true, answer: []string{
				"chain.example.org. 300 IN CNAME login.example.com.",
				"login.example.com. 300 IN CNAME e1abc.portico.localhost.", e1A1, e1A2,
			},
		},
		{
			name: "loop of aliases", qname: "loop1.example.org.", qtype: dns.TypeA,
			rcode: dns.RcodeServerFailure,
		},
		{
			name: "class CH", qname: "version.bind.", qtype: dns.TypeTXT,
			rcode: dns.RcodeRefused,
		},
		{
			name: "zone transfer", qname: "portico.localhost.", qtype: dns.TypeAXFR,
			rcode: dns.RcodeRefused,
		},
		{
			name: "meta type MAILA", qname: "e1abc.portico.localhost.", qtype: dns.TypeMAILA,
			rcode: dns.RcodeNotImplemented,
		},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(network+"/"+tt.name, func(t *testing.T) {
				q := query(tt.qname, tt.qtype)
				if tt.name == "class CH" {
					q.Question[0].Qclass = dns.ClassCHAOS
				}
				r := exchange(t, network, addr, q)
				if r.Id != q.Id || !r.Response {
					t.Fatalf("reply id %d response %v, want id %d response true", r.Id, r.Response, q.Id)
				}
				if len(r.Question) != 1 || r.Question[0] != q.Question[0] {
					t.Errorf("question = %v, want %v echoed verbatim", r.Question, q.Question)
				}
				if r.Rcode != tt.rcode {
					t.Errorf("rcode = %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
				}
				if r.Authoritative != tt.aa {
					t.Errorf("AA = %v, want %v", r.Authoritative, tt.aa)
				}
				if r.Truncated || r.RecursionAvailable {
					t.Errorf("TC = %v, RA = %v, want both false", r.Truncated, r.RecursionAvailable)
				}
				if got := rrStrings(r.Answer); !slices.Equal(got, tt.answer) {
					t.Errorf("answer:\n got %q\nwant %q", got, tt.answer)
				}
				if got := rrStrings(r.Ns); !slices.Equal(got, tt.ns) {
					t.Errorf("authority:\n got %q\nwant %q", got, tt.ns)
				}
				if got := rrStrings(r.Extra); !slices.Equal(got, tt.extra) {
					t.Errorf("additional:\n got %q\nwant %q", got, tt.extra)
				}
			})
		}
	}
}

// TestConfigChange swaps what Names returns, as the snapshot watcher does on
// a new revision, and expects the very next query to see it.
func TestConfigChange(t *testing.T) {
	var current atomic.Pointer[nameMap]
	current.Store(&nameMap{"e1abc.portico.localhost": ""})
	addr := startNames(t, func() Names { return *current.Load() })

	steps := []struct {
		names  nameMap
		qname  string
		rcode  int
		answer int
	}{
		{nil, "e1abc.portico.localhost.", dns.RcodeSuccess, 2},
		{nil, "e2new.portico.localhost.", dns.RcodeNameError, 0},
		{nil, "login.example.com.", dns.RcodeRefused, 0},
		{nameMap{"e1abc.portico.localhost": "", "e2new.portico.localhost": ""}, "e2new.portico.localhost.", dns.RcodeSuccess, 2},
		{nameMap{"e2new.portico.localhost": "", "login.example.com": "e2new.portico.localhost"}, "login.example.com.", dns.RcodeSuccess, 3},
		{nil, "e1abc.portico.localhost.", dns.RcodeNameError, 0},
		{nameMap{"e2new.portico.localhost": ""}, "login.example.com.", dns.RcodeRefused, 0},
	}
	for i, st := range steps {
		if st.names != nil {
			current.Store(&st.names)
		}
		for _, network := range []string{"udp", "tcp"} {
			r := exchange(t, network, addr, query(st.qname, dns.TypeA))
			if r.Rcode != st.rcode || len(r.Answer) != st.answer {
				t.Errorf("step %d, %s %s: rcode %s with %d answers, want %s with %d",
					i, network, st.qname, dns.RcodeToString[r.Rcode], len(r.Answer),
					dns.RcodeToString[st.rcode], st.answer)
			}
		}
	}
}

// TestNoConfiguration: before a configuration is loaded, names that need
// one get SERVFAIL, which resolvers do not cache as a negative answer, while
// the zone's own records are served.
func TestNoConfiguration(t *testing.T) {
	addr := startNames(t, func() Names { return nil })
	tests := []struct {
		qname string
		qtype uint16
		rcode int
	}{
		{"e1abc.portico.localhost.", dns.TypeA, dns.RcodeServerFailure},
		{"login.example.com.", dns.TypeA, dns.RcodeServerFailure},
		{"portico.localhost.", dns.TypeSOA, dns.RcodeSuccess},
		{"ns1.portico.localhost.", dns.TypeA, dns.RcodeSuccess},
	}
	for _, tt := range tests {
		r := exchange(t, "udp", addr, query(tt.qname, tt.qtype))
		if r.Rcode != tt.rcode {
			t.Errorf("%s: rcode = %s, want %s", tt.qname, dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
		}
	}
}

func TestDefaults(t *testing.T) {
	addr := start(t, &Server{Names: static(nameMap{"e1abc.portico.localhost": ""})})
	r := exchange(t, "udp", addr, query("e1abc.portico.localhost.", dns.TypeA))
	want := []string{"e1abc.portico.localhost. 60 IN A 127.0.0.1"}
	if got := rrStrings(r.Answer); !slices.Equal(got, want) {
		t.Errorf("answer = %q, want %q", got, want)
	}
	r = exchange(t, "udp", addr, query("e1abc.portico.localhost.", dns.TypeAAAA))
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
		t.Errorf("AAAA without IPv6 addresses: rcode %s, answer %v, authority %v; want NOERROR, none, the SOA",
			dns.RcodeToString[r.Rcode], r.Answer, r.Ns)
	}
}

func TestZoneNormalised(t *testing.T) {
	addr := start(t, &Server{
		Zone:  "Edge.Example.",
		Addrs: []netip.Addr{netip.MustParseAddr("::ffff:198.51.100.7"), netip.MustParseAddr("2001:db8::7")},
		Names: static(nameMap{"e1.edge.example": ""}),
	})
	r := exchange(t, "udp", addr, query("e1.edge.example.", dns.TypeANY))
	want := []string{"e1.edge.example. 60 IN A 198.51.100.7"}
	if got := rrStrings(r.Answer); !slices.Equal(got, want) {
		t.Errorf("answer = %q, want %q", got, want)
	}
	r = exchange(t, "udp", addr, query("edge.example.", dns.TypeSOA))
	want = []string{"edge.example. 60 IN SOA ns1.edge.example. hostmaster.edge.example. 1 7200 900 1209600 60"}
	if got := rrStrings(r.Answer); !slices.Equal(got, want) {
		t.Errorf("answer = %q, want %q", got, want)
	}
}

// TestIPv6Only: with only IPv6 public addresses, ANY answers the AAAA
// RRset.
func TestIPv6Only(t *testing.T) {
	addr := start(t, &Server{
		Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::7")},
		Names: static(nameMap{"e1.portico.localhost": ""}),
	})
	r := exchange(t, "udp", addr, query("e1.portico.localhost.", dns.TypeANY))
	want := []string{"e1.portico.localhost. 60 IN AAAA 2001:db8::7"}
	if got := rrStrings(r.Answer); !slices.Equal(got, want) {
		t.Errorf("answer = %q, want %q", got, want)
	}
}

// manyAddrs returns n IPv4 addresses: each A record costs 16 bytes, so a
// few dozen overflow 512 bytes.
func manyAddrs(n int) []netip.Addr {
	addrs := make([]netip.Addr, n)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{198, 51, byte(i / 250), byte(1 + i%250)})
	}
	return addrs
}

func TestTruncation(t *testing.T) {
	names := static(nameMap{"e1abc.portico.localhost": "", "login.example.com": "e1abc.portico.localhost"})
	addr40 := start(t, &Server{Addrs: manyAddrs(40), Names: names})
	addr100 := start(t, &Server{Addrs: manyAddrs(100), Names: names})
	tests := []struct {
		name     string
		addr     string
		network  string
		edns     uint16 // 0: no OPT
		qname    string
		tc       bool
		answers  int // when not truncated
		maxBytes int
	}{
		{"40 records, UDP without EDNS", addr40, "udp", 0, "e1abc.portico.localhost.", true, 0, 512},
		{"40 records, UDP with EDNS 4096", addr40, "udp", 4096, "e1abc.portico.localhost.", false, 40, 1232},
		{"40 records, UDP with EDNS 1232", addr40, "udp", 1232, "e1abc.portico.localhost.", false, 40, 1232},
		{"40 records, UDP with EDNS below 512", addr40, "udp", 100, "e1abc.portico.localhost.", true, 0, 512},
		{"40 records, TCP", addr40, "tcp", 0, "e1abc.portico.localhost.", false, 40, 65535},
		{"alias, UDP without EDNS", addr40, "udp", 0, "login.example.com.", true, 0, 512},
		{"100 records, UDP with EDNS 65535 is clamped", addr100, "udp", 65535, "e1abc.portico.localhost.", true, 0, 1232},
		{"100 records, TCP", addr100, "tcp", 0, "e1abc.portico.localhost.", false, 100, 65535},
		{"100 records via alias, TCP", addr100, "tcp", 4096, "login.example.com.", false, 101, 65535},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := query(tt.qname, dns.TypeA)
			if tt.edns != 0 {
				q.SetEdns0(tt.edns, false)
			}
			r := exchange(t, tt.network, tt.addr, q)
			if r.Truncated != tt.tc {
				t.Errorf("TC = %v, want %v", r.Truncated, tt.tc)
			}
			if !tt.tc && len(r.Answer) != tt.answers {
				t.Errorf("%d answers, want %d", len(r.Answer), tt.answers)
			}
			r.Compress = true // as the server packed it
			if r.Len() > tt.maxBytes {
				t.Errorf("reply is %d bytes, want at most %d", r.Len(), tt.maxBytes)
			}
			if (r.IsEdns0() != nil) != (tt.edns != 0) {
				t.Errorf("reply has OPT %v, want it when the query has one", r.IsEdns0())
			}
		})
	}
}

func TestEDNS(t *testing.T) {
	addr := startNames(t, static(testNames))
	tests := []struct {
		name    string
		version uint8
		do      bool
		rcode   int
	}{
		{"version 0", 0, false, dns.RcodeSuccess},
		{"version 0 with DO", 0, true, dns.RcodeSuccess},
		{"version 1", 1, false, dns.RcodeBadVers},
		{"version 255 with DO", 255, true, dns.RcodeBadVers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := query("e1abc.portico.localhost.", dns.TypeA)
			q.SetEdns0(4096, tt.do)
			q.IsEdns0().SetVersion(tt.version)
			r := exchange(t, "udp", addr, q)
			if r.Rcode != tt.rcode {
				t.Errorf("rcode = %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
			}
			opt := r.IsEdns0()
			if opt == nil {
				t.Fatal("reply has no OPT record")
			}
			if opt.Version() != 0 || opt.UDPSize() != maxUDPSize {
				t.Errorf("reply OPT version %d size %d, want 0 and %d", opt.Version(), opt.UDPSize(), maxUDPSize)
			}
			if tt.rcode == dns.RcodeSuccess && opt.Do() != tt.do {
				t.Errorf("reply DO = %v, want the query's %v", opt.Do(), tt.do)
			}
		})
	}
}

func TestListen(t *testing.T) {
	t.Run("same port for UDP and TCP", func(t *testing.T) {
		s := &Server{Names: static(testNames)}
		addr := start(t, s)
		for _, network := range []string{"udp", "tcp"} {
			if r := exchange(t, network, addr, query("portico.localhost.", dns.TypeSOA)); r.Rcode != dns.RcodeSuccess {
				t.Errorf("%s: rcode %s", network, dns.RcodeToString[r.Rcode])
			}
		}
		if _, err := s.Listen("127.0.0.1:0"); err == nil {
			t.Error("second Listen succeeded, want an error")
		}
	})
	t.Run("TCP port taken", func(t *testing.T) {
		taken, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer taken.Close()
		addr := taken.Addr().String()
		s := &Server{Names: static(testNames)}
		if _, err := s.Listen(addr); err == nil {
			s.Shutdown(context.Background())
			t.Fatalf("Listen(%s) succeeded with the TCP port taken", addr)
		}
		// The UDP socket bound before TCP failed must have been released.
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			t.Fatalf("UDP port still held after a failed Listen: %v", err)
		}
		pc.Close()
	})
	t.Run("bad address", func(t *testing.T) {
		s := &Server{Names: static(testNames)}
		if _, err := s.Listen("no-port"); err == nil {
			t.Error("Listen(no-port) succeeded")
		}
	})
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		s    *Server
	}{
		{"no Names", &Server{}},
		{"zone with a space", &Server{Zone: "portico local", Names: static(testNames)}},
		{"wildcard zone", &Server{Zone: "*.portico.localhost", Names: static(testNames)}},
		{"root zone", &Server{Zone: ".", Names: static(testNames)}},
		{"empty label", &Server{Zone: "portico..localhost", Names: static(testNames)}},
		{"zone too long", &Server{Zone: strings.Repeat("a.", 125) + "com", Names: static(testNames)}},
		{"invalid address", &Server{Addrs: []netip.Addr{{}}, Names: static(testNames)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if addr, err := tt.s.Listen("127.0.0.1:0"); err == nil {
				tt.s.Shutdown(context.Background())
				t.Fatalf("Listen succeeded on %v, want a configuration error", addr)
			}
		})
	}
}

func TestShutdown(t *testing.T) {
	t.Run("before Serve", func(t *testing.T) {
		s := &Server{Names: static(testNames)}
		addr, err := s.Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if err := s.Serve(); err != nil {
			t.Errorf("Serve after Shutdown = %v, want nil", err)
		}
		// The sockets are released.
		pc, err := net.ListenPacket("udp", addr.String())
		if err != nil {
			t.Fatalf("UDP port still held: %v", err)
		}
		pc.Close()
		ln, err := net.Listen("tcp", addr.String())
		if err != nil {
			t.Fatalf("TCP port still held: %v", err)
		}
		ln.Close()
	})
	t.Run("Serve before Listen", func(t *testing.T) {
		s := &Server{Names: static(testNames)}
		if err := s.Serve(); err == nil {
			t.Error("Serve before Listen succeeded")
		}
	})
	t.Run("drains an idle TCP connection", func(t *testing.T) {
		s := &Server{Names: static(testNames)}
		addr := listenLoopback(t, s)
		served := serve(s)

		conn, err := dns.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.WriteMsg(query("portico.localhost.", dns.TypeSOA)); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ReadMsg(); err != nil {
			t.Fatal(err)
		}
		// The connection is now idle between queries; Shutdown must not
		// wait for its idle timeout, nor fail.
		shutdown(t, s, served)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.ReadMsg(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("read on the drained connection = %v, want it closed", err)
		}
		if err := s.Shutdown(context.Background()); err != nil {
			t.Errorf("second Shutdown: %v", err)
		}
	})
}

// TestTCPLimits: a connection carries at most maxTCPQueries queries, and
// one that sends nothing is closed after the read timeout.
func TestTCPLimits(t *testing.T) {
	addr := startNames(t, static(testNames))
	t.Run("queries per connection", func(t *testing.T) {
		t.Parallel()
		conn, err := dns.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// Pipeline as many queries as allowed, in one write.
		var buf []byte
		for i := range maxTCPQueries {
			q := query("e1abc.portico.localhost.", dns.TypeA)
			q.Id = uint16(i)
			b, err := q.Pack()
			if err != nil {
				t.Fatal(err)
			}
			buf = append(buf, byte(len(b)>>8), byte(len(b)))
			buf = append(buf, b...)
		}
		if _, err := conn.Conn.Write(buf); err != nil { // raw: dns.Conn.Write would frame buf as one message
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for i := range maxTCPQueries {
			r, err := conn.ReadMsg()
			if err != nil {
				t.Fatalf("answer %d: %v", i, err)
			}
			if r.Id != uint16(i) || len(r.Answer) != 2 {
				t.Fatalf("answer %d: id %d with %d records", i, r.Id, len(r.Answer))
			}
		}
		// One more gets no answer: the server has closed the connection
		// (the read sees its FIN, or the reset that answers this write).
		conn.WriteMsg(query("e1abc.portico.localhost.", dns.TypeA))
		if r, err := conn.ReadMsg(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("query %d: %v, %v; want the connection closed", maxTCPQueries+1, r, err)
		}
	})
	t.Run("silent connection", func(t *testing.T) {
		t.Parallel()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(10 * tcpReadTimeout))
		n, err := conn.Read(make([]byte, 1))
		if !errors.Is(err, io.EOF) {
			t.Errorf("read on a silent connection = %d, %v; want the server to close it", n, err)
		}
	})
}

func ExampleServer() {
	s := &Server{
		Zone:  "portico.localhost",
		Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")},
		Names: func() Names { return nameMap{"e1abc.portico.localhost": ""} },
	}
	addr, err := s.Listen("127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go s.Serve()
	defer s.Shutdown(context.Background())

	q := new(dns.Msg)
	q.SetQuestion("E1ABC.portico.localhost.", dns.TypeA)
	r, _, err := new(dns.Client).Exchange(q, addr.String())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Answer[0].(*dns.A).A, r.Answer[0].Header().Name, r.Authoritative)
	// Output: 192.0.2.1 E1ABC.portico.localhost. true
}

// panicNames panics on one name, as a Names holding a nil pointer would.
type panicNames struct{ nameMap }

func (p panicNames) Lookup(name string) (string, bool) {
	if name == "boom.example.com" {
		panic("boom")
	}
	return p.nameMap.Lookup(name)
}

// TestPanicRecovered: a panic answering one query is logged and answered
// with SERVFAIL, and the server goes on answering.
func TestPanicRecovered(t *testing.T) {
	var logs testlog.Buffer
	addr := start(t, &Server{
		Names: static(panicNames{testNames}),
		Log:   slog.New(slog.NewTextHandler(&logs, nil)),
	})
	for _, network := range []string{"udp", "tcp"} {
		r := exchange(t, network, addr, query("boom.example.com.", dns.TypeA))
		if r.Rcode != dns.RcodeServerFailure {
			t.Errorf("%s: rcode = %s, want SERVFAIL", network, dns.RcodeToString[r.Rcode])
		}
		r = exchange(t, network, addr, query("e1abc.portico.localhost.", dns.TypeA))
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Errorf("%s: after the panic: rcode %s with %d answers", network, dns.RcodeToString[r.Rcode], len(r.Answer))
		}
	}
	if got := logs.String(); !strings.Contains(got, "panic answering a query") || !strings.Contains(got, "boom") {
		t.Errorf("log = %q, want the panic logged", got)
	}
}
