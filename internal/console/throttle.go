package console

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Sign-in throttling: after maxSigninFailures failed sign-ins from one
// client within signinWindow, that client's sign-ins are refused (429, with
// Retry-After) until the window has passed since its first failure. The
// secret is an API secret access key, not a password a person chose, so
// guessing it is hopeless anyway; the limit keeps a guessing client from
// burning the server's CPU and from filling the log, and protects an
// operator who set a weak PORTICO_SECRET_ACCESS_KEY.
const (
	maxSigninFailures = 10
	signinWindow      = 5 * time.Minute
	// maxThrottled bounds the clients tracked at once; beyond it the
	// expired records are dropped, then arbitrary ones.
	maxThrottled = 1 << 16
)

// throttle counts sign-in attempts by client that have not (yet)
// succeeded. The zero value is ready to use.
type throttle struct {
	mu       sync.Mutex
	failures map[netip.Prefix]failures
}

// failures is one client's record: how many sign-ins it attempted without
// success since first.
type failures struct {
	first time.Time
	n     int
}

// clientOf returns the client a request is counted against: its IPv4
// address, or its IPv6 /64 (one host usually holds a whole /64). The
// zero Prefix when RemoteAddr is not an address (then every such request
// is counted together).
func clientOf(remoteAddr string) netip.Prefix {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}
	}
	addr = addr.Unmap()
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, _ := addr.WithZone("").Prefix(bits)
	return p
}

// begin counts a sign-in attempt by client before its credentials are
// checked, and returns how long the client must wait first: zero when it
// may try now. Counting before checking means that attempts made in
// parallel cannot all pass the limit before any of them is counted; a
// successful attempt then clears the count (succeed). A refused attempt is
// not counted.
func (t *throttle) begin(client netip.Prefix, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failures == nil {
		t.failures = make(map[netip.Prefix]failures)
	}
	f, ok := t.failures[client]
	if !ok || !now.Before(f.first.Add(signinWindow)) {
		if !ok && len(t.failures) >= maxThrottled {
			t.makeRoom(now)
		}
		f = failures{first: now}
	}
	if f.n >= maxSigninFailures {
		return f.first.Add(signinWindow).Sub(now)
	}
	f.n++
	t.failures[client] = f
	return 0
}

// succeed forgets client's failures.
func (t *throttle) succeed(client netip.Prefix) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.failures, client)
}

// makeRoom drops the expired records, and if none had expired, one
// arbitrary record (map iteration order is random), so that the map stays
// within maxThrottled.
func (t *throttle) makeRoom(now time.Time) {
	for c, f := range t.failures {
		if !now.Before(f.first.Add(signinWindow)) {
			delete(t.failures, c)
		}
	}
	if len(t.failures) < maxThrottled {
		return
	}
	for c := range t.failures {
		delete(t.failures, c)
		return
	}
}
