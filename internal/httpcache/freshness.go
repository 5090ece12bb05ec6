package httpcache

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxDeltaSeconds is the largest delta-seconds value a cache keeps; larger
// ones mean it (RFC 9111 §1.2.2).
const maxDeltaSeconds = 1 << 31

// errorCachingTTL is how long CloudFront keeps a 404 or 414 from the origin
// that says nothing about freshness: ErrorCachingMinTTL's default (DG
// HTTPStatusCodes).
const errorCachingTTL = 10 * time.Second

// cacheControl is what a response's Cache-Control says to a shared cache.
type cacheControl struct {
	maxAge  int64 // seconds; -1 when absent
	sMaxAge int64 // seconds; -1 when absent
	noStore bool
	noCache bool // with or without field names
	private bool // with or without field names
}

// parseCacheControl parses the Cache-Control field lines of a response
// (RFC 9111 §5.2). Directive names are case-insensitive; values may be
// tokens or quoted strings, which may hold commas. A max-age or s-maxage
// whose value is not delta-seconds, or that is repeated with a different
// value, counts as 0: RFC 9111 §4.2.1 encourages treating such responses
// as stale.
func parseCacheControl(lines []string) cacheControl {
	cc := cacheControl{maxAge: -1, sMaxAge: -1}
	for _, line := range lines {
		for line != "" {
			var name, value string
			name, value, line = nextDirective(line)
			switch {
			case strings.EqualFold(name, "max-age"):
				cc.maxAge = mergeDelta(cc.maxAge, value)
			case strings.EqualFold(name, "s-maxage"):
				cc.sMaxAge = mergeDelta(cc.sMaxAge, value)
			case strings.EqualFold(name, "no-store"):
				cc.noStore = true
			case strings.EqualFold(name, "no-cache"):
				cc.noCache = true
			case strings.EqualFold(name, "private"):
				cc.private = true
			}
		}
	}
	return cc
}

// nextDirective cuts the first directive off a Cache-Control line: its name,
// its value (unquoted, escapes left as sent) and the rest of the line.
func nextDirective(s string) (name, value, rest string) {
	i := 0
	for i < len(s) && s[i] != ',' && s[i] != '=' {
		i++
	}
	name = strings.Trim(s[:i], " \t")
	if i == len(s) {
		return name, "", ""
	}
	if s[i] == ',' {
		return name, "", s[i+1:]
	}
	// A value follows the '='.
	s = strings.TrimLeft(s[i+1:], " \t")
	if strings.HasPrefix(s, `"`) {
		j := 1
		for j < len(s) && s[j] != '"' {
			if s[j] == '\\' {
				j++
			}
			j++
		}
		value = s[1:min(j, len(s))]
		s = s[min(j+1, len(s)):]
		// Skip anything up to the next comma.
		if k := strings.IndexByte(s, ','); k >= 0 {
			return name, value, s[k+1:]
		}
		return name, value, ""
	}
	value, rest, _ = strings.Cut(s, ",")
	return name, strings.Trim(value, " \t"), rest
}

// mergeDelta folds one more occurrence of a delta-seconds directive into
// the value seen so far (-1 for none).
func mergeDelta(prev int64, value string) int64 {
	v := parseDelta(value)
	if prev >= 0 && prev != v {
		return 0
	}
	return v
}

// parseDelta parses delta-seconds: digits only, saturating at 2^31. Any
// other value gives 0.
func parseDelta(s string) int64 {
	if s == "" {
		return 0
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int64(c-'0')
		if n >= maxDeltaSeconds {
			return maxDeltaSeconds
		}
	}
	return n
}

// ttlRules are a behaviour's MinTTL, DefaultTTL and MaxTTL.
type ttlRules struct {
	min, def, max time.Duration
}

// Status classes for storing (RFC 9110 §15.1 heuristically cacheable codes,
// narrowed by CloudFront's error caching in DG HTTPStatusCodes and by
// Portico's safety rules).
const (
	statusNever        = iota // 1xx, 206, 304, 5xx and anything unlisted
	statusDefault             // stored with DefaultTTL when the origin says nothing
	statusExplicitOnly        // stored only with s-maxage, max-age or Expires
	statusError               // stored for errorCachingTTL when the origin says nothing
)

func statusClass(code int) int {
	switch code {
	case 200, 203, 204, 300, 301, 308:
		return statusDefault
	case 302, 303, 307, 400, 403, 405, 410, 412, 415:
		return statusExplicitOnly
	case 404, 414:
		return statusError
	}
	// 206 needs range support, 5xx are never stored (origin errors must
	// not outlive the outage), 1xx and 304 are not final representations.
	return statusNever
}

// lifetime decides whether a response with status and header h may be
// stored and for how long it is fresh (its TTL), following CloudFront's
// rules (DG Expiration):
//
//   - s-maxage, else max-age, else Expires minus Date, clamped to
//     [MinTTL, MaxTTL];
//   - none of them: DefaultTTL, clamped likewise;
//   - no-cache: not stored when MinTTL is 0, else stored for MinTTL;
//
// and Portico's safety rules, stricter than CloudFront's: a response with
// Set-Cookie, no-store or private is never stored, whatever MinTTL says.
// responseTime stands in for a missing Date. why says why a response is not
// stored.
func (t ttlRules) lifetime(status int, h http.Header, responseTime time.Time) (ttl time.Duration, why string) {
	class := statusClass(status)
	if class == statusNever {
		return 0, "status"
	}
	if len(h["Set-Cookie"]) > 0 {
		return 0, "set-cookie"
	}
	cc := parseCacheControl(h["Cache-Control"])
	switch {
	case cc.noStore:
		return 0, "no-store"
	case cc.private:
		return 0, "private"
	case cc.noCache:
		if t.min <= 0 {
			return 0, "no-cache"
		}
		return t.min, ""
	}
	explicit, ok := explicitLifetime(cc, h, responseTime)
	switch {
	case ok:
		ttl = min(max(explicit, t.min), t.max)
	case class == statusDefault:
		ttl = min(max(t.def, t.min), t.max)
	case class == statusError:
		ttl = errorCachingTTL
	default:
		return 0, "no explicit freshness"
	}
	if ttl <= 0 {
		return 0, "ttl 0"
	}
	return ttl, ""
}

// explicitLifetime is the freshness lifetime the origin gave: s-maxage, then
// max-age, then Expires relative to Date (RFC 9111 §4.2.1). An Expires that
// does not parse means already expired (RFC 9111 §5.3).
func explicitLifetime(cc cacheControl, h http.Header, responseTime time.Time) (time.Duration, bool) {
	switch {
	case cc.sMaxAge >= 0:
		return time.Duration(cc.sMaxAge) * time.Second, true
	case cc.maxAge >= 0:
		return time.Duration(cc.maxAge) * time.Second, true
	}
	exp, ok := h["Expires"]
	if !ok || len(exp) == 0 {
		return 0, false
	}
	expires, err := http.ParseTime(exp[0])
	if err != nil {
		return 0, true
	}
	date := responseTime
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		date = d
	}
	return max(expires.Sub(date), 0), true
}

// initialAge is the corrected initial age of a response (RFC 9111 §4.2.3):
// the larger of its apparent age (received after its Date) and the origin's
// Age plus the time the request took.
func initialAge(h http.Header, requestTime, responseTime time.Time) time.Duration {
	apparent := time.Duration(0)
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		apparent = max(responseTime.Sub(d), 0)
	}
	corrected := responseTime.Sub(requestTime)
	if v, ok := h["Age"]; ok && len(v) > 0 {
		if age, err := strconv.ParseInt(strings.TrimSpace(v[0]), 10, 64); err == nil && age > 0 {
			corrected += time.Duration(min(age, maxDeltaSeconds)) * time.Second
		}
	}
	return max(apparent, corrected)
}
