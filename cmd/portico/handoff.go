package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
)

// Listener hand-off: restarting without resetting a connection or leaving
// a DNS query unanswered.
//
// A serving process offers its TCP listeners (API, HTTP, HTTPS) and its
// DNS server's UDP and TCP sockets on a unix socket in the data directory,
// handoffFile. A new `portico serve` on the same data directory asks there
// first: it receives duplicates of the sockets themselves (SCM_RIGHTS),
// not new sockets bound to the same addresses, so the two processes share
// one accept queue, or one UDP receive queue, and nothing waiting in it is
// lost when the old process stops reading. Once the new process holds
// every listener it needs, it says so; the old one then closes its
// hand-off socket and its own TCP listeners, finishes the TLS handshakes
// under way, drains what it accepted and releases the store. The new
// process reads nothing until it has the store and has loaded the
// configuration: connections wait in the shared queues meanwhile. The old
// process goes on answering DNS, from the configuration it holds, until
// the new one says that it serves too; only then does it stop reading the
// DNS sockets and exit. Until then it also holds duplicates of all its
// sockets (see hold), reading none of them: should the new process fail
// to start (it exits, or is stopped, or says nothing for successorWait),
// the old one opens the store again and serves on them, and whatever
// waited in their queues meanwhile is served after all. When no process
// answers, the sockets are bound anew, with SO_REUSEPORT on Linux (see
// reusePort).

// handoffFile is the unix socket, in the data directory, on which the
// serving process hands over its listeners.
const handoffFile = "handoff.sock"

// listenSpec is a TCP listener that serve needs: its role, which is also
// its flag's name, and the address the flag asks for.
type listenSpec struct {
	name string // "api", "http" or "https"
	addr string
}

// dnsRole is the role of the DNS server's two sockets in a hand-off.
const dnsRole = "dns"

// namedListener is a listening socket and its role, as offered to the
// next process: a TCP listener (ln) or a UDP socket (pc).
type namedListener struct {
	name string
	ln   net.Listener
	pc   net.PacketConn
}

// addr is the address the socket is bound to.
func (nl namedListener) addr() net.Addr {
	if nl.pc != nil {
		return nl.pc.LocalAddr()
	}
	return nl.ln.Addr()
}

// What the new process says on the exchange once it holds every listener
// it needs, and once it serves.
const (
	handoffTaken   = "taken"
	handoffServing = "serving"
)

// handOff is what a serving process offered, each socket until it is
// taken, and the exchange with it, kept open after the sockets are taken
// so as to tell it when this process serves.
type handOff struct {
	pid     int
	offered []namedListener            // an entry is zero once taken
	send    func(message string) error // says taken or serving
	close   func() error               // ends the exchange; idempotent
}

// take returns the offered listener for sp, or nil: one of the same role
// bound to the address sp asks for (see sameAddress). A nil handOff offers
// nothing.
func (h *handOff) take(sp listenSpec) net.Listener {
	if h == nil {
		return nil
	}
	for i, o := range h.offered {
		if o.ln != nil && o.name == sp.name && sameAddress(sp.addr, o.ln.Addr()) {
			h.offered[i] = namedListener{}
			return o.ln
		}
	}
	return nil
}

// takeDNS returns the DNS server's offered sockets when both are bound to
// the address addr asks for, else nils.
func (h *handOff) takeDNS(addr string) (net.PacketConn, net.Listener) {
	if h == nil {
		return nil, nil
	}
	udp, tcp := -1, -1
	for i, o := range h.offered {
		switch {
		case o.name != dnsRole || !sameAddress(addr, o.addr()):
		case o.pc != nil:
			udp = i
		case o.ln != nil:
			tcp = i
		}
	}
	if udp < 0 || tcp < 0 {
		return nil, nil
	}
	pc, ln := h.offered[udp].pc, h.offered[tcp].ln
	h.offered[udp], h.offered[tcp] = namedListener{}, namedListener{}
	return pc, ln
}

// finish closes the sockets that were not taken and, when taken is true,
// tells the offering process that it may stop accepting, and keeps the
// exchange open for serving; otherwise it ends the exchange.
func (h *handOff) finish(taken bool) error {
	if h == nil {
		return nil
	}
	for _, o := range h.offered {
		switch {
		case o.ln != nil:
			o.ln.Close()
		case o.pc != nil:
			o.pc.Close()
		}
	}
	if !taken {
		return h.close()
	}
	if err := h.send(handoffTaken); err != nil {
		return errors.Join(err, h.close())
	}
	return nil
}

// serving tells the offering process that this one now serves, so that
// it stops answering DNS, and ends the exchange.
func (h *handOff) serving() error {
	if h == nil {
		return nil
	}
	return errors.Join(h.send(handoffServing), h.close())
}

// end ends the exchange, if serving has not: the offering process then
// stops waiting for this one to serve.
func (h *handOff) end() {
	if h != nil {
		h.close()
	}
}

// acquired is what a starting process holds before it opens the store.
type acquired struct {
	lns []net.Listener // one per spec, in order

	// dnsUDP and dnsTCP are the serving process's DNS sockets when it
	// offered them for the address asked; else nil, and they are bound
	// once the store is open (see serve).
	dnsUDP net.PacketConn
	dnsTCP net.Listener

	// from is the exchange with the process that handed the sockets over,
	// which waits to be told once this one serves (see handOff.serving);
	// nil when none did.
	from *handOff
}

// hold returns duplicates of a serving process's sockets: of the
// listeners lns, in order, and of the DNS server's. Each is a new
// descriptor for the same socket, which keeps the socket open, and what
// waits in its queue, once the originals are closed: a process that has
// handed its sockets over keeps them so, without reading them, to serve on
// them again should the new process fail to start.
func hold(lns []net.Listener, dnsUDP net.PacketConn, dnsTCP net.Listener) (*acquired, error) {
	a := &acquired{}
	for _, ln := range lns {
		d, err := duplicate(ln, net.FileListener)
		if err != nil {
			a.closeSockets()
			return nil, err
		}
		a.lns = append(a.lns, d)
	}
	if dnsUDP == nil || dnsTCP == nil {
		return a, nil
	}
	var err error
	if a.dnsUDP, err = duplicate(dnsUDP, net.FilePacketConn); err == nil {
		a.dnsTCP, err = duplicate(dnsTCP, net.FileListener)
	}
	if err != nil {
		a.closeSockets()
		return nil, err
	}
	return a, nil
}

// duplicate returns a new descriptor for sock's socket, made into a T by
// fromFile (net.FileListener or net.FilePacketConn).
func duplicate[T any](sock any, fromFile func(*os.File) (T, error)) (T, error) {
	var zero T
	fl, ok := sock.(interface{ File() (*os.File, error) })
	if !ok {
		return zero, fmt.Errorf("%T has no descriptor", sock)
	}
	f, err := fl.File() // a duplicate; never f.Fd(), which would make the socket blocking
	if err != nil {
		return zero, err
	}
	defer f.Close()
	return fromFile(f) // another one
}

// closeSockets closes the sockets that a holds. A nil acquired holds none.
func (a *acquired) closeSockets() {
	if a == nil {
		return
	}
	for _, ln := range a.lns {
		ln.Close()
	}
	if a.dnsUDP != nil {
		a.dnsUDP.Close()
	}
	if a.dnsTCP != nil {
		a.dnsTCP.Close()
	}
}

// acquireListeners returns a listener for each spec, in order, and the DNS
// server's sockets for dnsAddr when the serving process offers them: the
// serving process's sockets for that role and address when that process
// offers them on the hand-off socket in dataDir, else, for the specs, a
// new socket bound with lc. Only once it has them all does it tell the
// serving process, which then drains; if a bind fails, it closes what it
// has and returns the error, and the serving process carries on.
func acquireListeners(ctx context.Context, log *slog.Logger, dataDir string, lc net.ListenConfig, specs []listenSpec, dnsAddr string) (*acquired, error) {
	h, err := requestHandOff(ctx, filepath.Join(dataDir, handoffFile))
	if err != nil {
		log.Warn("listener hand-off failed; binding new sockets", "err", err)
		h = nil
	}
	a := &acquired{lns: make([]net.Listener, 0, len(specs))}
	var taken []string
	for _, sp := range specs {
		if ln := h.take(sp); ln != nil {
			a.lns = append(a.lns, ln)
			taken = append(taken, sp.name)
			continue
		}
		ln, err := lc.Listen(ctx, "tcp", sp.addr)
		if err != nil {
			for _, ln := range a.lns {
				ln.Close()
			}
			h.finish(false)
			return nil, fmt.Errorf("--%s: %w", sp.name, err)
		}
		a.lns = append(a.lns, ln)
	}
	if a.dnsUDP, a.dnsTCP = h.takeDNS(dnsAddr); a.dnsUDP != nil {
		taken = append(taken, dnsRole)
	}
	if h != nil {
		if err := h.finish(true); err != nil {
			// The serving process goes on accepting on the same sockets
			// until it is stopped: nothing is lost, but the store stays
			// locked until then.
			log.Warn("listener hand-off: the serving process was not told; stop it with SIGTERM", "pid", h.pid, "err", err)
		} else {
			log.Info("took over the listeners of the serving process; it drains and exits", "pid", h.pid, "listeners", taken)
			a.from = h
		}
	}
	return a, nil
}

// sameAddress reports whether a socket bound to have serves the address
// a flag asks for: the same IP address (the unspecified one for an empty
// host) and the same port, or any port when the flag's port is 0.
func sameAddress(want string, have net.Addr) bool {
	var ip net.IP
	var port int
	switch a := have.(type) {
	case *net.TCPAddr:
		ip, port = a.IP, a.Port
	case *net.UDPAddr:
		ip, port = a.IP, a.Port
	default:
		return false
	}
	host, wantPort, err := net.SplitHostPort(want)
	if err != nil {
		return false
	}
	if p, err := net.LookupPort(have.Network(), wantPort); err != nil || (p != 0 && p != port) {
		return false
	}
	if host == "" {
		return ip.IsUnspecified()
	}
	// As net.Listen does: the first address the name resolves to,
	// IPv4 first.
	addr, err := net.ResolveTCPAddr("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	return err == nil && addr.IP.Equal(ip)
}
