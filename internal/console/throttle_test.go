package console

import (
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSignInThrottled checks that a client is refused after
// maxSigninFailures failed sign-ins, even with the right secret, without
// the credentials being checked, and that the refusal says when to retry.
func TestSignInThrottled(t *testing.T) {
	e := newEnv(t)
	var logins atomic.Int32
	login := e.handler.Login
	e.handler.Login = func(id, secret string) bool {
		logins.Add(1)
		return login(id, secret)
	}
	b := e.browser()
	try := func(secret string) *served {
		f := b.get("/console/signin").form(t, "/console/signin")
		f.set("access_key_id", testAccessKeyID)
		f.set("secret_access_key", secret)
		return b.submit(f, "")
	}
	for i := range maxSigninFailures {
		if p := try("wrong"); p.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i+1, p.status)
		}
	}
	p := try(testSecret)
	if p.status != http.StatusTooManyRequests || !strings.Contains(p.body, "Too many failed sign-ins") {
		t.Fatalf("after %d failures the right secret got status %d, want 429 with a message", maxSigninFailures, p.status)
	}
	if ra := p.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q, want the seconds left in the window", ra)
	}
	if n := logins.Load(); n != maxSigninFailures {
		t.Errorf("credentials checked %d times, want %d: a throttled attempt must not reach Login", n, maxSigninFailures)
	}
	// The refusal still offers a working form for later.
	p.form(t, "/console/signin")
}

func TestThrottle(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	a, other := clientOf("192.0.2.1:5555"), clientOf("192.0.2.2:5555")

	var th throttle
	for i := range maxSigninFailures - 1 {
		if w := th.begin(a, t0); w != 0 {
			t.Fatalf("attempt %d: wait %v, want 0", i+1, w)
		}
	}
	if w := th.begin(a, t0.Add(time.Minute)); w != 0 {
		t.Fatalf("attempt %d: wait %v, want 0", maxSigninFailures, w)
	}
	if w := th.begin(a, t0.Add(time.Minute)); w != signinWindow-time.Minute {
		t.Errorf("attempt past the limit: wait %v, want the rest of the window since the first attempt (%v)", w, signinWindow-time.Minute)
	}
	if w := th.begin(other, t0); w != 0 {
		t.Errorf("another client waits %v, want 0", w)
	}
	if w := th.begin(a, t0.Add(signinWindow)); w != 0 {
		t.Errorf("once the window has passed: wait %v, want 0", w)
	}
	if f := th.failures[a]; f.n != 1 || !f.first.Equal(t0.Add(signinWindow)) {
		t.Errorf("after the window: record %+v, want a new window with one attempt", f)
	}

	// A success forgets the attempts.
	for range maxSigninFailures {
		th.begin(other, t0)
	}
	th.succeed(other)
	if w := th.begin(other, t0); w != 0 {
		t.Errorf("after a success: wait %v, want 0", w)
	}
}

// TestThrottleConcurrent checks that attempts made in parallel are counted
// before any of them is checked: no more than maxSigninFailures of them
// get through, however many run at once.
func TestThrottleConcurrent(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	client := clientOf("192.0.2.1:5555")
	var th throttle
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if th.begin(client, t0) == 0 {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != maxSigninFailures {
		t.Errorf("%d of 50 parallel attempts were let through, want %d", n, maxSigninFailures)
	}
}

func TestClientOf(t *testing.T) {
	for _, tc := range []struct{ remote, want string }{
		{"192.0.2.1:443", "192.0.2.1/32"},
		{"[::ffff:192.0.2.1]:443", "192.0.2.1/32"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:443", "fe80::/64"},
		{"192.0.2.1", "192.0.2.1/32"},
		{"not an address", "invalid Prefix"},
	} {
		if got := clientOf(tc.remote).String(); got != tc.want {
			t.Errorf("clientOf(%q) = %s, want %s", tc.remote, got, tc.want)
		}
	}
	// Two addresses of one /64 are one client.
	if clientOf("[2001:db8::1]:1") != clientOf("[2001:db8::ffff]:2") {
		t.Error("two addresses of one IPv6 /64 are counted apart")
	}
}

// TestThrottleBounded checks that the records stay within maxThrottled
// however many clients fail.
func TestThrottleBounded(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var th throttle
	for i := range maxThrottled + 100 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		th.begin(netip.PrefixFrom(a, 32), t0)
	}
	if n := len(th.failures); n > maxThrottled {
		t.Errorf("%d records kept, want at most %d", n, maxThrottled)
	}
}
