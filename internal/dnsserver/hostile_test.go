package dnsserver

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const (
	hostileID = 0xBEEF
	probeID   = 0x1234
	noReply   = -1 // the server must drop the packet
)

// pack returns the wire form of m with id hostileID.
func pack(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	m.Id = hostileID
	b, err := m.Pack()
	if err != nil {
		t.Fatalf("packing %v: %v", m, err)
	}
	return b
}

// edit returns a copy of b changed by f.
func edit(b []byte, f func(b []byte) []byte) []byte {
	return f(append([]byte(nil), b...))
}

// setOpcode sets the opcode in a packed header.
func setOpcode(op uint16) func([]byte) []byte {
	return func(b []byte) []byte {
		bits := binary.BigEndian.Uint16(b[2:])
		binary.BigEndian.PutUint16(b[2:], bits&^(0xF<<11)|op<<11)
		return b
	}
}

// setCount sets a section count in a packed header: 0 question, 1 answer,
// 2 authority, 3 additional.
func setCount(section int, n uint16) func([]byte) []byte {
	return func(b []byte) []byte {
		binary.BigEndian.PutUint16(b[4+2*section:], n)
		return b
	}
}

// header returns a bare 12-byte query header with id hostileID.
func rawHeader(qd, an, ns, ar uint16) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b[0:], hostileID)
	binary.BigEndian.PutUint16(b[4:], qd)
	binary.BigEndian.PutUint16(b[6:], an)
	binary.BigEndian.PutUint16(b[8:], ns)
	binary.BigEndian.PutUint16(b[10:], ar)
	return b
}

// typeClassA is QTYPE A, QCLASS IN.
var typeClassA = []byte{0, 1, 0, 1}

type hostileCase struct {
	name   string
	raw    []byte
	rcode  int // noReply: dropped
	opcode int // of the reply, when there is one
}

// hostileCases are queries a server on the Internet receives. They also
// seed FuzzRespond.
func hostileCases(t testing.TB) []hostileCase {
	valid := pack(t, query("e1abc.portico.localhost.", dns.TypeA))

	two := query("e1abc.portico.localhost.", dns.TypeA)
	two.Question = append(two.Question, dns.Question{Name: "login.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET})

	withAnswer := query("e1abc.portico.localhost.", dns.TypeA)
	withAnswer.Answer = []dns.RR{&dns.A{Hdr: header("e1abc.portico.localhost.", dns.TypeA, 60), A: net.IPv4(192, 0, 2, 9)}}
	withAuthority := query("e1abc.portico.localhost.", dns.TypeA)
	withAuthority.Ns = []dns.RR{&dns.NS{Hdr: header("portico.localhost.", dns.TypeNS, 60), Ns: "evil.example."}}

	twoOPT := query("e1abc.portico.localhost.", dns.TypeA)
	twoOPT.SetEdns0(1232, false)
	twoOPT.SetEdns0(4096, true)

	optNotRoot := query("e1abc.portico.localhost.", dns.TypeA)
	optNotRoot.SetEdns0(1232, false)
	optNotRoot.Extra[0].Header().Name = "example.com."

	badVersion := query("e1abc.portico.localhost.", dns.TypeA)
	badVersion.SetEdns0(1232, false)
	badVersion.IsEdns0().SetVersion(1)

	hugeEDNS := query("login.example.com.", dns.TypeA)
	hugeEDNS.SetEdns0(65535, true)

	classANY := query("e1abc.portico.localhost.", dns.TypeA)
	classANY.Question[0].Qclass = dns.ClassANY

	longName := rawHeader(1, 0, 0, 0)
	for range 5 { // 5 × 64 bytes: longer than 255
		longName = append(longName, 63)
		longName = append(longName, strings.Repeat("a", 63)...)
	}
	longName = append(append(longName, 0), typeClassA...)

	return []hostileCase{
		{name: "empty datagram", raw: []byte{}, rcode: noReply},
		{name: "shorter than a header", raw: valid[:11], rcode: noReply},
		{name: "response", raw: edit(valid, func(b []byte) []byte { b[2] |= 0x80; return b }), rcode: noReply},
		{name: "response with an error", raw: edit(valid, func(b []byte) []byte { b[2] |= 0x80; b[3] |= 2; return b }), rcode: noReply},
		{name: "opcode IQUERY", raw: edit(valid, setOpcode(dns.OpcodeIQuery)), rcode: dns.RcodeNotImplemented, opcode: dns.OpcodeIQuery},
		{name: "opcode STATUS", raw: edit(valid, setOpcode(dns.OpcodeStatus)), rcode: dns.RcodeNotImplemented, opcode: dns.OpcodeStatus},
		{name: "opcode NOTIFY", raw: edit(valid, setOpcode(dns.OpcodeNotify)), rcode: dns.RcodeNotImplemented, opcode: dns.OpcodeNotify},
		{name: "opcode UPDATE", raw: edit(valid, setOpcode(dns.OpcodeUpdate)), rcode: dns.RcodeNotImplemented, opcode: dns.OpcodeUpdate},
		{name: "opcode 15", raw: edit(valid, setOpcode(15)), rcode: dns.RcodeNotImplemented, opcode: 15},
		{name: "no question", raw: rawHeader(0, 0, 0, 0), rcode: dns.RcodeFormatError},
		{name: "two questions", raw: pack(t, two), rcode: dns.RcodeFormatError},
		{name: "question counted but missing", raw: valid[:12], rcode: dns.RcodeFormatError},
		{name: "name cut short", raw: valid[:12+4], rcode: dns.RcodeFormatError},
		{name: "compression pointer loop", raw: append(append(rawHeader(1, 0, 0, 0), 0xC0, 12), typeClassA...), rcode: dns.RcodeFormatError},
		{name: "compression pointer forward", raw: append(append(rawHeader(1, 0, 0, 0), 0xC0, 200), typeClassA...), rcode: dns.RcodeFormatError},
		{name: "label type 01", raw: append(append(rawHeader(1, 0, 0, 0), 0x40, 'a', 0), typeClassA...), rcode: dns.RcodeFormatError},
		{name: "name longer than 255 bytes", raw: longName, rcode: dns.RcodeFormatError},
		{name: "answer section", raw: pack(t, withAnswer), rcode: dns.RcodeFormatError},
		{name: "authority section", raw: pack(t, withAuthority), rcode: dns.RcodeFormatError},
		{name: "two OPT records", raw: pack(t, twoOPT), rcode: dns.RcodeFormatError},
		// miekg/dns reads the records that are there; a count too high
		// for them is harmless.
		{name: "additional count lies", raw: edit(valid, setCount(3, 1)), rcode: dns.RcodeSuccess},
		{name: "question without class", raw: valid[:len(valid)-2], rcode: dns.RcodeFormatError},
		{name: "question without type", raw: valid[:len(valid)-4], rcode: dns.RcodeFormatError},
		{name: "question type cut short", raw: valid[:len(valid)-3], rcode: dns.RcodeFormatError},
		{name: "OPT not owned by the root", raw: pack(t, optNotRoot), rcode: dns.RcodeFormatError},
		{name: "query type OPT", raw: pack(t, query("e1abc.portico.localhost.", dns.TypeOPT)), rcode: dns.RcodeFormatError},
		{name: "EDNS version 1", raw: pack(t, badVersion), rcode: dns.RcodeBadVers},
		{name: "EDNS size 65535", raw: pack(t, hugeEDNS), rcode: dns.RcodeSuccess},
		{name: "trailing bytes", raw: append(edit(valid, func(b []byte) []byte { return b }), 0xDE, 0xAD), rcode: dns.RcodeSuccess},
		{name: "class ANY", raw: pack(t, classANY), rcode: dns.RcodeRefused},
		{name: "AXFR over UDP", raw: pack(t, query("portico.localhost.", dns.TypeAXFR)), rcode: dns.RcodeRefused},
		{name: "IXFR", raw: pack(t, query("portico.localhost.", dns.TypeIXFR)), rcode: dns.RcodeRefused},
		{name: "TSIG as query type", raw: pack(t, query("portico.localhost.", dns.TypeTSIG)), rcode: dns.RcodeNotImplemented},
	}
}

// TestHostileUDP sends each hostile packet to a real server, then a valid
// query from the same socket, and checks the reply to the first (or that
// there is none) and that the server still answers.
func TestHostileUDP(t *testing.T) {
	addr := startNames(t, static(testNames))
	probe := query("e1abc.portico.localhost.", dns.TypeA)
	probe.Id = probeID
	probeRaw, err := probe.Pack()
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range hostileCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("udp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write(tc.raw); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Write(probeRaw); err != nil {
				t.Fatal(err)
			}

			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			var reply *dns.Msg
			probed := false
			for !probed || (tc.rcode != noReply && reply == nil) {
				buf := make([]byte, 65535)
				n, err := conn.Read(buf)
				if err != nil {
					t.Fatalf("reading replies (probe answered: %v, reply: %v): %v", probed, reply != nil, err)
				}
				m := new(dns.Msg)
				if err := m.Unpack(buf[:n]); err != nil {
					t.Fatalf("the server sent a malformed reply %x: %v", buf[:n], err)
				}
				switch m.Id {
				case probeID:
					if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 2 {
						t.Fatalf("probe answered %s with %d records", dns.RcodeToString[m.Rcode], len(m.Answer))
					}
					probed = true
				case hostileID:
					if tc.rcode == noReply {
						t.Fatalf("got a reply to a packet that must be dropped:\n%v", m)
					}
					reply = m
				default:
					t.Fatalf("reply with unexpected id %d", m.Id)
				}
			}
			if reply == nil {
				return
			}
			if !reply.Response || reply.Rcode != tc.rcode || reply.Opcode != tc.opcode {
				t.Errorf("reply QR %v, rcode %s, opcode %d; want QR, %s, %d",
					reply.Response, dns.RcodeToString[reply.Rcode], reply.Opcode, dns.RcodeToString[tc.rcode], tc.opcode)
			}
			if reply.Rcode != dns.RcodeSuccess && len(reply.Answer) != 0 {
				t.Errorf("error reply carries answers: %v", reply.Answer)
			}
		})
	}
}

// TestHostileTCP sends malformed messages on a TCP connection and checks
// that the server answers what it can and keeps serving the connection.
func TestHostileTCP(t *testing.T) {
	addr := startNames(t, static(testNames))
	valid := pack(t, query("e1abc.portico.localhost.", dns.TypeA))
	tests := []struct {
		name  string
		raw   []byte
		rcode int // noReply: none
	}{
		{"empty message", []byte{}, noReply},
		{"garbage shorter than a header", []byte("hello"), noReply},
		{"response", edit(valid, func(b []byte) []byte { b[2] |= 0x80; return b }), noReply},
		{"question cut short", valid[:len(valid)-2], dns.RcodeFormatError},
		{"opcode UPDATE", edit(valid, setOpcode(dns.OpcodeUpdate)), dns.RcodeNotImplemented},
		{"AXFR", pack(t, query("portico.localhost.", dns.TypeAXFR)), dns.RcodeRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := dns.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := conn.Write(tt.raw); err != nil { // framed with its length
				t.Fatal(err)
			}
			probe := query("e1abc.portico.localhost.", dns.TypeA)
			probe.Id = probeID
			if err := conn.WriteMsg(probe); err != nil {
				t.Fatal(err)
			}
			r, err := conn.ReadMsg()
			if err != nil {
				t.Fatalf("first reply: %v", err)
			}
			if tt.rcode != noReply {
				if r.Id != hostileID || r.Rcode != tt.rcode {
					t.Errorf("reply id %#x rcode %s, want %#x %s", r.Id, dns.RcodeToString[r.Rcode], hostileID, dns.RcodeToString[tt.rcode])
				}
				if r, err = conn.ReadMsg(); err != nil {
					t.Fatalf("reply to the probe: %v", err)
				}
			}
			if r.Id != probeID || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 2 {
				t.Errorf("probe: id %#x rcode %s with %d answers; want the answer on the same connection",
					r.Id, dns.RcodeToString[r.Rcode], len(r.Answer))
			}
		})
	}

	t.Run("message cut short", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// Announce 256 bytes, send 10, then nothing: the server gives up
		// after its read timeout and closes the connection.
		if _, err := conn.Write(append([]byte{1, 0}, valid[:10]...)); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(10 * tcpReadTimeout))
		if n, err := conn.Read(make([]byte, 512)); !errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("read = %d, %v; want the server to close the connection", n, err)
		}
	})
}
