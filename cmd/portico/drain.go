package main

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"
)

// newConnGrace is how long a connection that has sent nothing may hold up
// a drain: a browser's speculative preconnection may never send a
// request. It is net/http's own threshold for treating such a connection
// as idle when shutting down.
const newConnGrace = 5 * time.Second

// connDrain tracks the HTTP/1.x connections of the servers it is hooked
// into, so that a stopping process answers every request on a connection
// it has accepted. http.Server.Shutdown closes a connection whose first
// request it reads once Shutdown has begun without answering it; so the
// servers first stop keep-alive (SetKeepAlivesEnabled(false)), which
// closes idle connections and each of the others after its response, and
// wait until no connection is being served or has just been accepted,
// before Shutdown closes what is left. HTTP/2 connections are not tracked:
// Shutdown ends them with GOAWAY, after which clients retry what the
// server did not process. They are told apart at StateNew by the
// protocol their TLS handshake negotiated, which is known then only
// because edgeserver's TLS listener completes each handshake before
// Accept returns the connection: a listener that returned connections
// before their handshake (as tls.NewListener does) would have them
// tracked as HTTP/1.x ones, and quiesce would wait for each HTTP/2
// connection, busy until it closes, for the whole drain
// (TestDrainSkipsHTTP2 guards this). Nor are the HTTP/1.x connections
// that edgeserver's fast path for cache hits holds: net/http sees a
// connection only once the fast path hands it over, and when the
// listener closes the fast path hands each over at its next request or
// closes it idle, answering the request it is writing first.
type connDrain struct {
	mu    sync.Mutex
	conns map[net.Conn]connState
}

type connState struct {
	state http.ConnState
	since time.Time
}

// hook makes srv report its connections' states to d, besides its own
// ConnState hook.
func (d *connDrain) hook(srv *http.Server) {
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		d.track(c, st)
		if prev != nil {
			prev(c, st)
		}
	}
}

func (d *connDrain) track(c net.Conn, st http.ConnState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch st {
	case http.StateNew:
		if tc, ok := c.(interface{ ConnectionState() tls.ConnectionState }); ok && tc.ConnectionState().NegotiatedProtocol == "h2" {
			return
		}
		if d.conns == nil {
			d.conns = make(map[net.Conn]connState)
		}
		d.conns[c] = connState{st, time.Now()}
	case http.StateActive, http.StateIdle:
		if _, ok := d.conns[c]; ok {
			d.conns[c] = connState{st, time.Now()}
		}
	default: // hijacked or closed
		delete(d.conns, c)
	}
}

// settled reports whether no tracked connection is being served or has
// been accepted less than newConnGrace ago.
func (d *connDrain) settled(now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, cs := range d.conns {
		switch {
		case cs.state == http.StateActive:
			return false
		case cs.state == http.StateNew && now.Sub(cs.since) < newConnGrace:
			return false
		}
	}
	return true
}

// quiesce turns keep-alive off on srvs, whose listeners are closed, and
// waits until d is settled or ctx is done: then Shutdown answers nothing
// less than what was accepted.
func (d *connDrain) quiesce(ctx context.Context, srvs ...*http.Server) {
	for _, srv := range srvs {
		srv.SetKeepAlivesEnabled(false)
	}
	d.wait(ctx)
}

// wait returns once d is settled, or ctx is done.
func (d *connDrain) wait(ctx context.Context) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !d.settled(time.Now()) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
