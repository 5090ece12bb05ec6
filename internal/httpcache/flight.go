package httpcache

import (
	"context"
	"sync"
	"time"
)

// DefaultCollapseTimeout is how long a request waits for another request
// with the same key to bring the response from the origin before it goes to
// the origin itself: CloudFront's default origin response timeout.
const DefaultCollapseTimeout = 30 * time.Second

// flight is one origin request that concurrent requests for the same key
// wait for, instead of each making their own (request collapsing).
// The waiters look the key up again when it lands: they may use only what
// the leader stored, exactly as if they had come after it.
type flight struct {
	// done is closed when the flight lands. It is made, under
	// flights.mu, for the first waiter: most flights have none.
	done chan struct{}
}

// flights is the table of origin requests in progress, by cache key.
type flights struct {
	mu      sync.Mutex
	m       map[string]*flight
	waiters int // requests waiting, across flights
}

// join returns the flight for key. leader is true when there was none: the
// caller then makes the origin request and must call land, whatever
// happens.
func (fs *flights) join(key string) (fl *flight, leader bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fl := fs.m[key]; fl != nil {
		if fl.done == nil {
			fl.done = make(chan struct{})
		}
		return fl, false
	}
	if fs.m == nil {
		fs.m = make(map[string]*flight)
	}
	fl = new(flight)
	fs.m[key] = fl
	return fl, true
}

// busy reports whether an origin request for key is in progress.
func (fs *flights) busy(key string) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.m[key] != nil
}

// waiting returns the number of requests waiting for a flight.
func (fs *flights) waiting() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.waiters
}

// land ends the leader's flight for key: its waiters go on.
func (fs *flights) land(key string, fl *flight) {
	fs.mu.Lock()
	if fs.m[key] == fl {
		delete(fs.m, key)
	}
	done := fl.done
	fs.mu.Unlock()
	if done != nil {
		close(done)
	}
}

// wait waits for fl to land, for at most timeout. It reports false when the
// wait ended first: the viewer went away (ctx is done) or the leader took
// too long.
func (fs *flights) wait(ctx context.Context, fl *flight, timeout time.Duration) bool {
	fs.mu.Lock()
	fs.waiters++
	fs.mu.Unlock()
	defer func() {
		fs.mu.Lock()
		fs.waiters--
		fs.mu.Unlock()
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-fl.done:
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	return false
}
