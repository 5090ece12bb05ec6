package origin

import (
	"context"
	"crypto/tls"
	"net/http/httptrace"
	"sync"
	"time"
)

// RequestInfo is what the edge knows of a viewer request before a cache
// behaviour serves it. The edge puts it in the request's context with
// WithRequestInfo; the Proxy sends ID as X-Amz-Cf-Id, and a response
// headers policy's Server-Timing header reports all three.
type RequestInfo struct {
	// ID is the request's X-Amz-Cf-Id.
	ID string
	// Pop names the edge that received the request (X-Amz-Cf-Pop).
	Pop string
	// Received is when the edge had read the request's head: the start
	// of Server-Timing's cdn-downstream-fbl.
	Received time.Time
}

type requestInfoKey struct{}

// WithRequestInfo returns a context that carries info, which must not be
// changed afterwards: a background revalidation may read it after the
// response.
func WithRequestInfo(ctx context.Context, info *RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

// requestInfo returns the RequestInfo ctx carries, or nil.
func requestInfo(ctx context.Context) *RequestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(*RequestInfo)
	return info
}

// RequestID returns the ID of the RequestInfo ctx carries, or "".
func RequestID(ctx context.Context) string {
	if info := requestInfo(ctx); info != nil {
		return info.ID
	}
	return ""
}

type validatorsKey struct{}

// WithCacheValidators returns a context that marks its request as the
// cache's own revalidation: its If-None-Match and If-Modified-Since fields
// carry a stored response's validators, put there by the cache, and the
// Proxy forwards them whatever the behaviour's policy says of viewer
// headers, as CloudFront's revalidations do. (A viewer's own conditional
// fields are forwarded only when the policy selects them.)
func WithCacheValidators(ctx context.Context) context.Context {
	return context.WithValue(ctx, validatorsKey{}, true)
}

// cacheValidators reports whether ctx was made by WithCacheValidators.
func cacheValidators(ctx context.Context) bool {
	v, _ := ctx.Value(validatorsKey{}).(bool)
	return v
}

// Info returns the RequestInfo ctx carries (see WithRequestInfo), or the
// zero value.
func Info(ctx context.Context) RequestInfo {
	if info := requestInfo(ctx); info != nil {
		return *info
	}
	return RequestInfo{}
}

// Timing records how the origin requests made for one viewer request went,
// for the cdn-upstream-* metrics of Server-Timing (DG
// understanding-response-headers-policies, "Server-Timing header
// metrics"). A Proxy fills the Timing that the request's context carries
// (see WithTiming) for every origin request it makes; when there were
// several (a retry, a custom error page fetched after the error), the
// last one counts. Measuring costs an httptrace per origin request, so a
// Timing is put in the context only of the requests that report it.
//
// A Timing is safe for concurrent use: the origin's transport calls its
// hooks from its own goroutines.
type Timing struct {
	mu sync.Mutex
	// Of the origin request in progress, or the last one.
	contacted bool          // an origin request was made
	dns       time.Duration // looking up the origin's address
	connect   time.Duration // TCP connect and TLS handshake
	firstByte time.Duration // request written → first response byte
	gotFirst  bool          // firstByte is known
	dnsStart  time.Time
	dnsDone   time.Time
	connStart time.Time
	wroteAt   time.Time
}

type timingKey struct{}

// WithTiming returns a context that carries t, for the Proxy to fill.
func WithTiming(ctx context.Context, t *Timing) context.Context {
	return context.WithValue(ctx, timingKey{}, t)
}

// timingOf returns the Timing ctx carries, or nil.
func timingOf(ctx context.Context) *Timing {
	t, _ := ctx.Value(timingKey{}).(*Timing)
	return t
}

// Upstream is what a Timing recorded of the last origin request.
type Upstream struct {
	// Contacted is false when no origin request was made.
	Contacted bool
	// DNS and Connect are the time spent looking up the origin's address
	// and connecting to it (TCP and TLS); both zero on a reused
	// connection.
	DNS, Connect time.Duration
	// FirstByte is the time from the end of the request to the first byte
	// of the response, when GotFirstByte is true; no response came
	// otherwise.
	FirstByte    time.Duration
	GotFirstByte bool
}

// Upstream returns what t recorded of the last origin request.
func (t *Timing) Upstream() Upstream {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Upstream{Contacted: t.contacted, DNS: t.dns, Connect: t.connect, FirstByte: t.firstByte, GotFirstByte: t.gotFirst}
}

// begin starts recording an attempt of an origin request, forgetting the
// previous one.
func (t *Timing) begin() {
	t.mu.Lock()
	t.contacted, t.gotFirst = true, false
	t.dns, t.connect, t.firstByte = 0, 0, 0
	t.dnsStart, t.dnsDone, t.connStart, t.wroteAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	t.mu.Unlock()
}

// trace returns the hooks that fill t, calling base's GotConn and
// GotFirstResponseByte too.
func (t *Timing) trace(base *httptrace.ClientTrace) *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		DNSStart: func(httptrace.DNSStartInfo) {
			t.mu.Lock()
			t.dnsStart = time.Now()
			t.mu.Unlock()
		},
		DNSDone: func(httptrace.DNSDoneInfo) {
			t.mu.Lock()
			t.dnsDone = time.Now()
			if !t.dnsStart.IsZero() {
				t.dns = t.dnsDone.Sub(t.dnsStart)
			}
			t.mu.Unlock()
		},
		ConnectStart: func(string, string) {
			t.mu.Lock()
			if t.connStart.IsZero() {
				t.connStart = time.Now()
				if !t.dnsDone.IsZero() {
					// "between when the origin DNS request completed
					// and a TCP (and TLS) connection completed"
					t.connStart = t.dnsDone
				}
			}
			t.mu.Unlock()
		},
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			t.mu.Lock()
			if err == nil && !t.connStart.IsZero() {
				t.connect = time.Since(t.connStart)
			}
			t.mu.Unlock()
		},
		GotConn: func(info httptrace.GotConnInfo) {
			if base != nil && base.GotConn != nil {
				base.GotConn(info)
			}
			if info.Reused {
				t.mu.Lock()
				t.dns, t.connect = 0, 0
				t.mu.Unlock()
			}
		},
		WroteRequest: func(httptrace.WroteRequestInfo) {
			t.mu.Lock()
			t.wroteAt = time.Now()
			t.mu.Unlock()
		},
		GotFirstResponseByte: func() {
			if base != nil && base.GotFirstResponseByte != nil {
				base.GotFirstResponseByte()
			}
			t.mu.Lock()
			if !t.wroteAt.IsZero() {
				t.firstByte = time.Since(t.wroteAt)
			}
			t.gotFirst = true
			t.mu.Unlock()
		},
	}
}
