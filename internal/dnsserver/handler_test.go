package dnsserver

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func newTestHandler(tb testing.TB, s *Server) *handler {
	tb.Helper()
	h, err := newHandler(s)
	if err != nil {
		tb.Fatalf("newHandler: %v", err)
	}
	return h
}

func TestResolve(t *testing.T) {
	h := newTestHandler(t, &Server{Zone: "portico.localhost", Names: static(testNames)})
	tests := []struct {
		name   string
		kind   kind
		target string
	}{
		{"portico.localhost", kindApex, ""},
		{"PORTICO.localhost.", kindApex, ""},
		{"ns1.portico.localhost", kindNameserver, ""},
		{"Ns1.Portico.Localhost.", kindNameserver, ""},
		{"ns2.portico.localhost", kindMissing, ""},
		{"e1abc.portico.localhost", kindDistribution, ""},
		{"E1ABC.PORTICO.LOCALHOST.", kindDistribution, ""},
		{"e1abc.portico.localhost..", kindOutside, ""}, // an empty label: no host name
		{"x.e1abc.portico.localhost", kindMissing, ""},
		{"login.example.com.", kindAlias, "e1abc.portico.localhost"},
		{"LOGIN.EXAMPLE.COM", kindAlias, "e1abc.portico.localhost"},
		{"a.wild.example.net.", kindAlias, "e2def.portico.localhost"},
		{"A-Long-Label-0123456789.Wild.Example.Net.", kindAlias, "e2def.portico.localhost"},
		{"exact.wild.example.net.", kindAlias, "e1abc.portico.localhost"},
		{"*.wild.example.net.", kindAlias, "e2def.portico.localhost"},
		{"*.*.wild.example.net.", kindOutside, ""},
		{"a.b.wild.example.net.", kindOutside, ""},
		{"wild.example.net.", kindOutside, ""},
		{"example.com.", kindOutside, ""},
		{".", kindOutside, ""},
		{"", kindOutside, ""},
		{"com.", kindOutside, ""},
		{"localhost.", kindOutside, ""},
		{"xportico.localhost.", kindOutside, ""},
		{`a\.portico.localhost.`, kindOutside, ""},
		{`a\\.portico.localhost.`, kindMissing, ""},
		{`a\\\.portico.localhost.`, kindOutside, ""},
		{`login\.example.com.`, kindOutside, ""},
		{`login.example\.com.`, kindOutside, ""},
		{`e1abc\000.portico.localhost.`, kindMissing, ""},
		{strings.Repeat("a.", 126) + "portico.localhost.", kindMissing, ""},
		{strings.Repeat("a.", 200) + "example.com.", kindOutside, ""},
	}
	for _, tt := range tests {
		k, target := h.resolve(testNames, tt.name)
		if k != tt.kind || target != tt.target {
			t.Errorf("resolve(%q) = %d, %q; want %d, %q", tt.name, k, target, tt.kind, tt.target)
		}
	}
	if k, _ := h.resolve(nil, "e1abc.portico.localhost."); k != kindUnavailable {
		t.Errorf("resolve with no Names = %d, want kindUnavailable", k)
	}
}

// recordingNames is a Names that remembers what it was asked.
type recordingNames struct {
	nameMap
	asked []string
}

func (r *recordingNames) Lookup(name string) (string, bool) {
	r.asked = append(r.asked, strings.Clone(name)) // name may not be retained
	return r.nameMap.Lookup(name)
}

// TestLookupContract checks what Names.Lookup is asked: lower-case names
// without the trailing dot, the exact name first, then the wildcard.
func TestLookupContract(t *testing.T) {
	h := newTestHandler(t, &Server{Names: static(testNames)})
	tests := []struct {
		qname string
		asked []string
	}{
		{"E1ABC.Portico.Localhost.", []string{"e1abc.portico.localhost"}},
		{"Login.Example.COM.", []string{"login.example.com"}},
		{"Tenant.Wild.Example.NET.", []string{"tenant.wild.example.net", "*.wild.example.net"}},
		{"Exact.Wild.Example.Net.", []string{"exact.wild.example.net"}},
		{"*.Wild.Example.Net.", []string{"*.wild.example.net"}},
		{"*.none.example.", []string{"*.none.example"}},
		{"x.none.example.", []string{"x.none.example", "*.none.example"}},
		{"none.", []string{"none"}},
		{"portico.localhost.", nil},
		{"ns1.portico.localhost.", nil},
		{`a\000.example.`, nil},
	}
	for _, tt := range tests {
		names := &recordingNames{nameMap: testNames}
		h.resolve(names, tt.qname)
		if !slices.Equal(names.asked, tt.asked) {
			t.Errorf("resolve(%q) asked Lookup %q, want %q", tt.qname, names.asked, tt.asked)
		}
	}
}

// resolveNames are names of every kind, in mixed case as 0x20 makes them.
var resolveNames = []string{
	"E1aBc.PorTiCo.LOCALhost.",
	"LOGIN.Example.COM.",
	"TeNaNt.Wild.Example.NET.",
	"nOpE.portico.localhost.",
	"www.GOOGLE.com.",
	"Portico.Localhost.",
	"NS1.portico.localhost.",
}

// TestResolveAllocs pins the lookup path at zero allocations.
func TestResolveAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers")
	}
	h := newTestHandler(t, &Server{Names: static(testNames)})
	var names Names = testNames
	for _, name := range resolveNames {
		if allocs := testing.AllocsPerRun(100, func() { h.resolve(names, name) }); allocs != 0 {
			t.Errorf("resolve(%q) allocated %v times per run, want 0", name, allocs)
		}
	}
}

func BenchmarkResolve(b *testing.B) {
	h := newTestHandler(b, &Server{Names: static(testNames)})
	var names Names = testNames
	for _, name := range resolveNames {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h.resolve(names, name)
			}
		})
	}
}

// BenchmarkRespond measures a whole query short of the socket: building
// the answer and packing it.
func BenchmarkRespond(b *testing.B) {
	h := newTestHandler(b, &Server{Addrs: testAddrs, Names: static(testNames)})
	for _, tt := range []struct {
		qname string
		qtype uint16
	}{
		{"E1aBc.PorTiCo.LOCALhost.", dns.TypeA},
		{"LOGIN.Example.COM.", dns.TypeA},
		{"tenant.wild.example.net.", dns.TypeAAAA},
		{"nope.portico.localhost.", dns.TypeA},
		{"www.google.com.", dns.TypeA},
	} {
		q := query(tt.qname, tt.qtype)
		b.Run(tt.qname+dns.TypeToString[tt.qtype], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.respond(q, false).Pack(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzRespond feeds arbitrary packets through what the server does with
// them (screen the header, parse, answer) and checks that every answer
// packs, fits, echoes the query and says whether it is authoritative.
func FuzzRespond(f *testing.F) {
	for _, tc := range hostileCases(f) {
		f.Add(tc.raw, false)
	}
	for _, qname := range []string{"e1abc.portico.localhost.", "LOGIN.example.com.", "a.wild.example.net.", "loop1.example.org.", "portico.localhost."} {
		for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeANY, dns.TypeNS, dns.TypeTXT} {
			q := query(qname, qtype)
			q.SetEdns0(600, true)
			f.Add(pack(f, q), true)
		}
	}
	handlers := []*handler{
		newTestHandler(f, &Server{Addrs: testAddrs, Names: static(testNames)}),
		newTestHandler(f, &Server{Addrs: manyAddrs(70), Names: static(testNames)}),
		newTestHandler(f, &Server{Names: func() Names { return nil }}),
	}

	f.Fuzz(func(t *testing.T, raw []byte, tcp bool) {
		if len(raw) < 12 {
			return // dropped by dns.Server
		}
		dh := dns.Header{
			Id:      binary.BigEndian.Uint16(raw[0:]),
			Bits:    binary.BigEndian.Uint16(raw[2:]),
			Qdcount: binary.BigEndian.Uint16(raw[4:]),
			Ancount: binary.BigEndian.Uint16(raw[6:]),
			Nscount: binary.BigEndian.Uint16(raw[8:]),
			Arcount: binary.BigEndian.Uint16(raw[10:]),
		}
		if acceptMsg(dh) != dns.MsgAccept {
			return // answered or dropped by dns.Server
		}
		r := new(dns.Msg)
		if err := r.Unpack(raw); err != nil {
			return // answered FORMERR by dns.Server
		}
		for _, h := range handlers {
			m := h.respond(r, tcp)
			if m == nil {
				t.Fatalf("no answer to an accepted query %v", r)
			}
			out, err := m.Pack()
			if err != nil {
				t.Fatalf("answer does not pack: %v\n%v", err, m)
			}
			if err := new(dns.Msg).Unpack(out); err != nil {
				t.Fatalf("answer does not parse back: %v", err)
			}
			if m.Id != r.Id || !m.Response || m.Opcode != dns.OpcodeQuery {
				t.Fatalf("answer header id %d QR %v opcode %d; want id %d, QR, QUERY", m.Id, m.Response, m.Opcode, r.Id)
			}
			limit := dns.MaxMsgSize
			if !tcp {
				limit = dns.MinMsgSize
				if opt := r.IsEdns0(); opt != nil {
					limit = min(max(int(opt.UDPSize()), dns.MinMsgSize), maxUDPSize)
				}
			}
			if len(out) > limit {
				t.Fatalf("answer is %d bytes, over the limit of %d", len(out), limit)
			}
			if len(r.Question) == 1 && (len(m.Question) != 1 || m.Question[0] != r.Question[0]) {
				t.Fatalf("answer question %v, want %v", m.Question, r.Question)
			}
			switch m.Rcode {
			case dns.RcodeSuccess, dns.RcodeNameError:
				if !m.Authoritative {
					t.Fatalf("%s answer without AA", dns.RcodeToString[m.Rcode])
				}
				if len(m.Answer) > 0 && m.Answer[0].Header().Name != r.Question[0].Name {
					t.Fatalf("first answer owned by %q, want the question's %q", m.Answer[0].Header().Name, r.Question[0].Name)
				}
			case dns.RcodeRefused, dns.RcodeFormatError, dns.RcodeNotImplemented, dns.RcodeServerFailure, dns.RcodeBadVers:
				if m.Authoritative || len(m.Answer) > 0 {
					t.Fatalf("%s answer with AA %v and %d answers", dns.RcodeToString[m.Rcode], m.Authoritative, len(m.Answer))
				}
			default:
				t.Fatalf("unexpected rcode %d", m.Rcode)
			}
		}
	})
}
