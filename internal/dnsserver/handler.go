package dnsserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/miekg/dns"
)

// Record TTLs, in seconds. Names come and go with distributions, so they
// are short; a negative answer is cached for soaTTL (RFC 2308 §5 takes the
// smaller of the SOA's TTL and its MINIMUM field).
const (
	addrTTL  = 60
	cnameTTL = 300
	soaTTL   = 60
	nsTTL    = 300
)

const (
	defaultZone = "portico.localhost"

	// maxName is the longest name, without its trailing dot, that can be
	// a host name: 255 octets on the wire.
	maxName = 253

	// maxChain bounds how many CNAMEs one answer follows. Portico's aliases
	// point at distributions, so a longer chain is a loop.
	maxChain = 8
)

// kind says how Portico serves a name.
type kind uint8

const (
	kindOutside      kind = iota // in no zone Portico serves: REFUSED
	kindMissing                  // under the edge domain, but not there: NXDOMAIN
	kindApex                     // the edge domain itself
	kindNameserver               // ns1.<edge domain>
	kindDistribution             // a distribution's own domain name
	kindAlias                    // an alias, named exactly or by a wildcard
	kindUnavailable              // no configuration loaded yet: SERVFAIL
)

// handler answers queries. It is built once by Listen from the Server's
// fields, so that nothing is derived from them per query.
type handler struct {
	zone   string // lower-case, no trailing dot
	nsName string // "ns1." + zone
	v4, v6 []net.IP
	names  func() Names
	log    *slog.Logger

	// Records that do not depend on the question. miekg/dns only reads
	// records when packing a message, so queries share them.
	soa  *dns.SOA // the zone's SOA, for authority sections
	glue []dns.RR // ns1's addresses, for the additional section

	// bufs holds *[maxName]byte buffers in which resolve lower-cases names.
	bufs sync.Pool
}

func newHandler(s *Server) (*handler, error) {
	if s.Names == nil {
		return nil, errors.New("dnsserver: Server.Names is nil")
	}
	zone := strings.TrimSuffix(strings.ToLower(s.Zone), ".")
	if s.Zone == "" {
		zone = defaultZone
	}
	if !isZoneName(zone) {
		return nil, fmt.Errorf("dnsserver: zone %q is not a domain name", s.Zone)
	}
	h := &handler{
		zone:   zone,
		nsName: "ns1." + zone,
		names:  s.Names,
		log:    s.Log,
		bufs:   sync.Pool{New: func() any { return new([maxName]byte) }},
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	addrs := s.Addrs
	if addrs == nil {
		addrs = []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1})}
	}
	for _, a := range addrs {
		switch a = a.Unmap(); {
		case a.Is4():
			h.v4 = append(h.v4, a.AsSlice())
		case a.Is6():
			h.v6 = append(h.v6, a.AsSlice())
		default:
			return nil, fmt.Errorf("dnsserver: public address %v is not an IP address", a)
		}
	}
	zoneFQDN, nsFQDN := zone+".", h.nsName+"."
	h.soa = &dns.SOA{
		Hdr:     header(zoneFQDN, dns.TypeSOA, soaTTL),
		Ns:      nsFQDN,
		Mbox:    "hostmaster." + zoneFQDN,
		Serial:  1,
		Refresh: 7200,
		Retry:   900,
		Expire:  1209600,
		Minttl:  soaTTL,
	}
	var glue dns.Msg
	h.appendAddrs(&glue, nsFQDN, dns.TypeA)
	h.appendAddrs(&glue, nsFQDN, dns.TypeAAAA)
	h.glue = glue.Answer
	return h, nil
}

// ServeDNS implements dns.Handler.
func (h *handler) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	m := h.safeRespond(r, tcp)
	if m == nil {
		return
	}
	if err := w.WriteMsg(m); err != nil {
		h.log.Debug("dns: writing an answer", "remote", w.RemoteAddr(), "err", err)
	}
}

// safeRespond is respond, except that a panic, which would otherwise stop
// the whole process, is logged and answered with SERVFAIL.
func (h *handler) safeRespond(r *dns.Msg, tcp bool) (m *dns.Msg) {
	defer func() {
		if v := recover(); v != nil {
			h.log.Error("dns: panic answering a query", "panic", v, "stack", string(debug.Stack()))
			m = new(dns.Msg).SetRcode(r, dns.RcodeServerFailure)
		}
	}()
	return h.respond(r, tcp)
}

// invalid is the dns.Server's MsgInvalidFunc: it sees queries that could
// not be parsed.
func (h *handler) invalid(m []byte, err error) {
	if h.log.Enabled(context.Background(), slog.LevelDebug) {
		h.log.Debug("dns: malformed query", "size", len(m), "err", err)
	}
}

// respond returns the answer to the query r, received over TCP if tcp is
// set, or nil if r gets no answer. r has passed acceptMsg and been parsed.
func (h *handler) respond(r *dns.Msg, tcp bool) *dns.Msg {
	m := new(dns.Msg)
	switch {
	case r.Response:
		return nil
	case r.Opcode != dns.OpcodeQuery:
		return m.SetRcode(r, dns.RcodeNotImplemented)
	case len(r.Question) != 1: // the header's count lied
		return m.SetRcode(r, dns.RcodeFormatError)
	}
	var opt *dns.OPT
	for _, rr := range r.Extra {
		if o, ok := rr.(*dns.OPT); ok {
			if opt != nil || o.Hdr.Name != "." { // RFC 6891 §6.1.1
				return m.SetRcode(r, dns.RcodeFormatError)
			}
			opt = o
		}
	}
	m.SetReply(r)
	if opt != nil && opt.Version() != 0 { // RFC 6891 §6.1.3
		m.Rcode = dns.RcodeBadVers
		m.SetEdns0(maxUDPSize, false)
		return m
	}

	switch q := r.Question[0]; {
	case q.Qclass == 0 || q.Qtype == dns.TypeOPT:
		// Class 0 is reserved, and it is what miekg/dns reports for a
		// question cut short after its name or type.
		m.Rcode = dns.RcodeFormatError
	case q.Qclass != dns.ClassINET:
		m.Rcode = dns.RcodeRefused
	case q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR:
		m.Rcode = dns.RcodeRefused // no zone transfers
	case 128 <= q.Qtype && q.Qtype <= 255 && q.Qtype != dns.TypeANY: // other meta types (RFC 6895 §3.1)
		m.Rcode = dns.RcodeNotImplemented
	default:
		h.answer(m, h.names(), q)
	}

	size := dns.MaxMsgSize
	if !tcp {
		size = dns.MinMsgSize
		if opt != nil {
			size = min(max(int(opt.UDPSize()), dns.MinMsgSize), maxUDPSize)
		}
	}
	if opt != nil {
		m.SetEdns0(maxUDPSize, opt.Do()) // RFC 3225 §3: copy the DO bit
	}
	m.Compress = true
	m.Truncate(size)
	return m
}

// answer fills m with the answer to q, following CNAMEs through the names
// Portico serves.
func (h *handler) answer(m *dns.Msg, names Names, q dns.Question) {
	owner, name := q.Name, q.Name
	for hop := 0; hop <= maxChain; hop++ {
		k, target := h.resolve(names, name)
		switch k {
		case kindOutside:
			if hop == 0 {
				m.Rcode = dns.RcodeRefused
			}
			// Otherwise the chain leaves Portico's zones: the client
			// follows it from here.
			return
		case kindUnavailable:
			m.Rcode, m.Answer, m.Authoritative = dns.RcodeServerFailure, nil, false
			return
		}
		m.Authoritative = true
		switch k {
		case kindMissing:
			m.Rcode = dns.RcodeNameError
			m.Ns = append(m.Ns, h.soa)
		case kindApex:
			h.apex(m, owner, q.Qtype)
		case kindNameserver, kindDistribution:
			if !h.appendAddrs(m, owner, q.Qtype) {
				m.Ns = append(m.Ns, h.soa)
			}
		case kindAlias:
			target = dns.Fqdn(target)
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: header(owner, dns.TypeCNAME, cnameTTL), Target: target})
			if q.Qtype == dns.TypeCNAME || q.Qtype == dns.TypeANY {
				return
			}
			owner, name = target, target
			continue
		}
		return
	}
	// A loop of aliases: a broken configuration, not a name to deny.
	m.Rcode, m.Answer, m.Ns, m.Authoritative = dns.RcodeServerFailure, nil, nil, false
}

// apex answers for the edge domain itself.
func (h *handler) apex(m *dns.Msg, owner string, qtype uint16) {
	switch qtype {
	case dns.TypeSOA, dns.TypeANY:
		soa := *h.soa
		soa.Hdr.Name = owner
		m.Answer = append(m.Answer, &soa)
	case dns.TypeNS:
		m.Answer = append(m.Answer, &dns.NS{Hdr: header(owner, dns.TypeNS, nsTTL), Ns: h.soa.Ns})
		m.Extra = append(m.Extra, h.glue...)
	default:
		m.Ns = append(m.Ns, h.soa)
	}
}

// appendAddrs adds owner's records of type qtype, which are the public
// addresses, to m's answer section and reports whether there were any. For
// ANY it adds one RRset (RFC 8482 §4.1): the A records, or the AAAA records
// when there are no IPv4 addresses.
func (h *handler) appendAddrs(m *dns.Msg, owner string, qtype uint16) bool {
	if qtype == dns.TypeANY {
		qtype = dns.TypeA
		if len(h.v4) == 0 {
			qtype = dns.TypeAAAA
		}
	}
	switch {
	case qtype == dns.TypeA && len(h.v4) > 0:
		rrs := make([]dns.A, len(h.v4))
		m.Answer = slices.Grow(m.Answer, len(rrs))
		for i, ip := range h.v4 {
			rrs[i] = dns.A{Hdr: header(owner, dns.TypeA, addrTTL), A: ip}
			m.Answer = append(m.Answer, &rrs[i])
		}
		return true
	case qtype == dns.TypeAAAA && len(h.v6) > 0:
		rrs := make([]dns.AAAA, len(h.v6))
		m.Answer = slices.Grow(m.Answer, len(rrs))
		for i, ip := range h.v6 {
			rrs[i] = dns.AAAA{Hdr: header(owner, dns.TypeAAAA, addrTTL), AAAA: ip}
			m.Answer = append(m.Answer, &rrs[i])
		}
		return true
	}
	return false
}

func header(owner string, rrtype uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: owner, Rrtype: rrtype, Class: dns.ClassINET, Ttl: ttl}
}

// resolve says how name, a domain name in presentation format with or
// without its trailing dot and in any case, is served, and for an alias
// returns its CNAME target. It does not allocate.
func (h *handler) resolve(names Names, name string) (kind, string) {
	name = strings.TrimSuffix(name, ".")
	inZone := h.inZone(name)
	if inZone && len(name) == len(h.zone) {
		return kindApex, ""
	}
	if inZone && len(name) == len(h.nsName) && strings.EqualFold(name[:4], "ns1.") {
		return kindNameserver, ""
	}
	if names == nil {
		return kindUnavailable, ""
	}
	notFound := kindOutside
	if inZone {
		notFound = kindMissing
	}
	if name == "" || len(name) > maxName {
		return notFound, ""
	}

	// Lower-case the name into a pooled buffer, and ask Names about it
	// through a string that shares the buffer's bytes: Names may not
	// retain it, and the buffer is not reused until Lookup has returned.
	bp := h.bufs.Get().(*[maxName]byte)
	defer h.bufs.Put(bp)
	buf := bp[:len(name)]
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '\\':
			// An escaped byte, which no host name has.
			return notFound, ""
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	if target, ok := names.Lookup(unsafe.String(&buf[0], len(buf))); ok {
		return found(target)
	}

	// A wildcard alias covers exactly one more label, and not a name whose
	// first label is itself "*". "a.example.com" becomes "*.example.com"
	// by overwriting the last byte of the first label.
	dot := bytes.IndexByte(buf, '.')
	if dot <= 0 || dot == len(buf)-1 || dot == 1 && buf[0] == '*' {
		return notFound, ""
	}
	buf = buf[dot-1:]
	buf[0] = '*'
	if target, ok := names.Lookup(unsafe.String(&buf[0], len(buf))); ok {
		return found(target)
	}
	return notFound, ""
}

// isZoneName reports whether zone, lower-case and without a trailing dot,
// can be the edge domain: labels of letters, digits, hyphens and
// underscores, short enough that ns1.<zone> is a name too.
func isZoneName(zone string) bool {
	if zone == "" || len(zone) > maxName-len("ns1.") {
		return false
	}
	for label := range strings.SplitSeq(zone, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func found(target string) (kind, string) {
	if target == "" {
		return kindDistribution, ""
	}
	return kindAlias, target
}

// inZone reports whether name, without its trailing dot, is the edge
// domain or under it, comparing case-insensitively.
func (h *handler) inZone(name string) bool {
	n := len(name) - len(h.zone)
	if n < 0 || !strings.EqualFold(name[n:], h.zone) {
		return false
	}
	if n == 0 {
		return true
	}
	// The byte before the zone must be a dot that ends a label, not an
	// escaped dot inside one ("a\.portico.localhost" is one label under
	// "localhost").
	if name[n-1] != '.' {
		return false
	}
	backslashes := 0
	for i := n - 2; i >= 0 && name[i] == '\\'; i-- {
		backslashes++
	}
	return backslashes%2 == 0
}
