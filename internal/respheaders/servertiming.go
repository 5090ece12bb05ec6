package respheaders

import (
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/origin"
)

const hdrServerTiming = "Server-Timing"

// samplingScale is the sampling rate's resolution: a SamplingRate has up
// to four decimal places of a percentage, so a rate is a whole number of
// millionths.
const samplingScale = 1_000_000

// serverTiming is a compiled ServerTimingHeadersConfig (DG
// understanding-response-headers-policies, "Server-Timing header").
type serverTiming struct {
	// rate is the share of requests sampled, in millionths.
	rate uint32
}

// compileServerTiming returns the compiled configuration, or nil when the
// header is not enabled. A missing SamplingRate samples no request, though
// a request that asks with Pragma: server-timing still gets the header.
func compileServerTiming(c *portico.ServerTimingHeadersConfig) (*serverTiming, error) {
	if c == nil || !isTrue(c.Enabled) {
		return nil, nil
	}
	st := &serverTiming{}
	if c.SamplingRate != nil {
		f, err := strconv.ParseFloat(strings.TrimSpace(*c.SamplingRate), 64)
		if err != nil || math.IsNaN(f) || f < 0 || f > 100 {
			return nil, errBadSamplingRate
		}
		st.rate = uint32(math.Round(f * samplingScale / 100))
	}
	return st, nil
}

var errBadSamplingRate = errors.New("respheaders: SamplingRate is not a number from 0 to 100")

// sampled reports whether the response to r gets a Server-Timing header:
// for the policy's share of requests, drawn at random without a lock, and
// for every request that carries Pragma: server-timing, whatever the rate
// (DG understanding-response-headers-policies, "Sampling rate and Pragma
// request header").
func (st *serverTiming) sampled(r *http.Request) bool {
	switch {
	case st.rate >= samplingScale:
		return true
	case st.rate > 0 && rand.Uint32N(samplingScale) < st.rate:
		return true
	}
	return askedForServerTiming(r.Header["Pragma"])
}

// askedForServerTiming reports whether the Pragma field lines hold the
// directive server-timing, in any case. It does not allocate.
func askedForServerTiming(pragma []string) bool {
	for _, line := range pragma {
		for line != "" {
			var d string
			d, line, _ = strings.Cut(line, ",")
			if d = strings.Trim(d, " \t"); strings.EqualFold(d, "server-timing") {
				return true
			}
		}
	}
	return false
}

// timingState is the Server-Timing record of one sampled request.
type timingState struct {
	upstream origin.Timing // the origin requests, filled by the Proxy
	start    time.Time     // when the edge had read the request
	pop, id  string
}

// newTimingState starts the record of r, and returns it with the request
// whose context lets the origin Proxy fill it.
func newTimingState(r *http.Request) (*timingState, *http.Request) {
	info := origin.Info(r.Context())
	ts := &timingState{start: info.Received, pop: info.Pop, id: info.ID}
	if ts.start.IsZero() {
		ts.start = time.Now()
	}
	return ts, r.WithContext(origin.WithTiming(r.Context(), &ts.upstream))
}

// Cache results, by the X-Cache values of internal/httpcache.
const (
	resultHit     = "cdn-cache-hit"
	resultMiss    = "cdn-cache-miss"
	resultRefresh = "cdn-cache-refresh"
)

// setHeader sets the response's Server-Timing to CloudFront's metrics,
// in the order of CloudFront's examples:
//
//	cdn-upstream-layer;desc="EDGE",cdn-upstream-dns;dur=0,
//	cdn-upstream-connect;dur=114,cdn-upstream-fbl;dur=177,cdn-cache-miss,
//	cdn-pop;desc="PHX50-C2",cdn-rid;desc="…",cdn-downstream-fbl;dur=436
//
//	cdn-cache-hit,cdn-pop;desc="SEA19-C1",cdn-rid;desc="…",
//	cdn-hit-layer;desc="EDGE",cdn-downstream-fbl;dur=137
//
// The upstream metrics come when an origin request was made for the
// response, followed by the origin's own Server-Timing value, if any;
// a response served from the cache carries the edge's metrics alone,
// never a Server-Timing value stored with it (DG
// understanding-response-headers-policies, "Server-Timing header from the
// origin"). Portico has one cache layer, so the layers are always EDGE;
// durations are whole milliseconds.
func (ts *timingState) setHeader(h http.Header, now time.Time) {
	u := ts.upstream.Upstream()
	dns, connect, firstByte, contacted, gotFirst := u.DNS, u.Connect, u.FirstByte, u.Contacted, u.GotFirstByte
	result := resultMiss
	switch x := headerValue(h, "X-Cache"); {
	case strings.HasPrefix(x, "RefreshHit"):
		result = resultRefresh
	case strings.HasPrefix(x, "Hit"):
		result = resultHit
	case strings.HasPrefix(x, "Miss"):
	case !contacted:
		// An error or redirect answered without asking the origin: a
		// cached error, a custom error page from the cache.
		result = resultHit
	}
	b := make([]byte, 0, 256)
	if contacted {
		b = append(b, `cdn-upstream-layer;desc="EDGE",cdn-upstream-dns;dur=`...)
		b = strconv.AppendInt(b, dns.Milliseconds(), 10)
		b = append(b, ",cdn-upstream-connect;dur="...)
		b = strconv.AppendInt(b, connect.Milliseconds(), 10)
		if gotFirst {
			b = append(b, ",cdn-upstream-fbl;dur="...)
			b = strconv.AppendInt(b, firstByte.Milliseconds(), 10)
		}
		b = append(b, ',')
		if result != resultHit {
			for _, v := range h[hdrServerTiming] {
				if v = strings.Trim(v, " \t,"); v != "" {
					b = append(b, v...)
					b = append(b, ',')
				}
			}
		}
	}
	b = append(b, result...)
	b = append(b, ",cdn-pop;desc="...)
	b = appendQuoted(b, ts.pop)
	b = append(b, ",cdn-rid;desc="...)
	b = appendQuoted(b, ts.id)
	if result == resultHit && !contacted {
		b = append(b, `,cdn-hit-layer;desc="EDGE"`...)
	}
	b = append(b, ",cdn-downstream-fbl;dur="...)
	b = strconv.AppendInt(b, max(now.Sub(ts.start), 0).Milliseconds(), 10)
	h[hdrServerTiming] = []string{string(b)}
}

// appendQuoted appends s as an HTTP quoted-string, leaving out the bytes a
// field value may not hold.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < ' ' && c != '\t' || c == 0x7f:
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

func headerValue(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}
