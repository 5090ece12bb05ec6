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

// throttle counts failed sign-ins by client. The zero value is ready to
// use.
type throttle struct {
	mu       sync.Mutex
	failures map[netip.Prefix]failures
}

// failures is one client's record: how many sign-ins failed since first.
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

// wait returns how long client must wait before it may try to sign in
// again: zero when it may now.
func (t *throttle) wait(client netip.Prefix, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.failures[client]
	if !ok {
		return 0
	}
	if end := f.first.Add(signinWindow); !now.Before(end) {
		delete(t.failures, client)
		return 0
	} else if f.n >= maxSigninFailures {
		return end.Sub(now)
	}
	return 0
}

// fail records a failed sign-in by client.
func (t *throttle) fail(client netip.Prefix, now time.Time) {
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
	f.n++
	t.failures[client] = f
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
