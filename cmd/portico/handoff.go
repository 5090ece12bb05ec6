package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
)

// Listener hand-off: restarting without resetting a connection.
//
// A serving process offers its TCP listeners (API, HTTP, HTTPS) on a unix
// socket in the data directory, handoffFile. A new `portico serve` on the
// same data directory asks there first: it receives duplicates of the
// listening sockets themselves (SCM_RIGHTS), not new sockets bound to the
// same addresses, so the two processes share one accept queue and no
// connection waiting in it is lost when the old process stops accepting.
// Once the new process holds every listener it needs, it says so; the old
// one then closes its hand-off socket and its own descriptors, finishes
// the TLS handshakes under way, drains what it accepted and exits, which
// releases the store. The new process accepts nothing until it has the
// store and has loaded the configuration: connections wait in the shared
// queue meanwhile. When no process answers, the listeners are bound anew,
// with SO_REUSEPORT on Linux (see reusePort).

// handoffFile is the unix socket, in the data directory, on which the
// serving process hands over its listeners.
const handoffFile = "handoff.sock"

// listenSpec is a TCP listener that serve needs: its role, which is also
// its flag's name, and the address the flag asks for.
type listenSpec struct {
	name string // "api", "http" or "https"
	addr string
}

// namedListener is a listener and its role, as offered to the next
// process.
type namedListener struct {
	name string
	ln   net.Listener
}

// handOff is what a serving process offered: its listeners, each until it
// is taken, and the connection on which to say that they were.
type handOff struct {
	pid     int
	offered []namedListener // an entry's ln is nil once taken
	confirm func() error    // tells the offering process that its listeners were taken
	close   func() error    // ends the exchange
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
			h.offered[i].ln = nil
			return o.ln
		}
	}
	return nil
}

// finish closes the listeners that were not taken and, when taken is
// true, tells the offering process that it may stop accepting. It ends
// the exchange either way.
func (h *handOff) finish(taken bool) error {
	if h == nil {
		return nil
	}
	for _, o := range h.offered {
		if o.ln != nil {
			o.ln.Close()
		}
	}
	var err error
	if taken {
		err = h.confirm()
	}
	return errors.Join(err, h.close())
}

// acquireListeners returns a listener for each spec, in order: the
// serving process's listener for that role and address when that process
// offers its listeners on the hand-off socket in dataDir, else a new
// socket bound with lc. Only once it has them all does it tell the
// serving process, which then drains and exits; if a bind fails, it closes
// what it has and returns the error, and the serving process carries on.
func acquireListeners(ctx context.Context, log *slog.Logger, dataDir string, lc net.ListenConfig, specs []listenSpec) ([]net.Listener, error) {
	h, err := requestHandOff(ctx, filepath.Join(dataDir, handoffFile))
	if err != nil {
		log.Warn("listener hand-off failed; binding new sockets", "err", err)
		h = nil
	}
	lns := make([]net.Listener, 0, len(specs))
	var taken []string
	for _, sp := range specs {
		if ln := h.take(sp); ln != nil {
			lns = append(lns, ln)
			taken = append(taken, sp.name)
			continue
		}
		ln, err := lc.Listen(ctx, "tcp", sp.addr)
		if err != nil {
			for _, ln := range lns {
				ln.Close()
			}
			h.finish(false)
			return nil, fmt.Errorf("--%s: %w", sp.name, err)
		}
		lns = append(lns, ln)
	}
	if h != nil {
		if err := h.finish(true); err != nil {
			// The serving process goes on accepting on the same sockets
			// until it is stopped: nothing is lost, but the store stays
			// locked until then.
			log.Warn("listener hand-off: the serving process was not told; stop it with SIGTERM", "pid", h.pid, "err", err)
		} else {
			log.Info("took over the listeners of the serving process; it drains and exits", "pid", h.pid, "listeners", taken)
		}
	}
	return lns, nil
}

// sameAddress reports whether a listener bound to have serves the address
// a flag asks for: the same IP address (the unspecified one for an empty
// host) and the same port, or any port when the flag's port is 0.
func sameAddress(want string, have net.Addr) bool {
	ta, ok := have.(*net.TCPAddr)
	if !ok {
		return false
	}
	host, port, err := net.SplitHostPort(want)
	if err != nil {
		return false
	}
	if p, err := net.LookupPort("tcp", port); err != nil || (p != 0 && p != ta.Port) {
		return false
	}
	if host == "" {
		return ta.IP.IsUnspecified()
	}
	// As net.Listen does: the first address the name resolves to,
	// IPv4 first.
	addr, err := net.ResolveTCPAddr("tcp", net.JoinHostPort(host, strconv.Itoa(ta.Port)))
	return err == nil && addr.IP.Equal(ta.IP)
}
