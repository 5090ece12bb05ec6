package httpcache

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxDeltaSeconds is the largest delta-seconds value a cache keeps; larger
// ones mean it (RFC 9111 §1.2.2).
const maxDeltaSeconds = 1 << 31

// errorCachingTTL is CloudFront's default ErrorCachingMinTTL: how long an
// error from the origin is cached when the distribution does not say
// otherwise (DG custom-error-pages-expiration).
const errorCachingTTL = 10 * time.Second

// cacheControl is what a response's Cache-Control says to a shared cache
// (RFC 9111 §5.2.2, RFC 5861).
type cacheControl struct {
	maxAge  int64 // seconds; -1 when absent
	sMaxAge int64 // seconds; -1 when absent
	noStore bool
	// noCache is the unqualified no-cache: the response may be stored
	// but must be revalidated before every use. noCacheFields holds the
	// field names of the qualified form (no-cache="Set-Cookie"), which
	// only keeps those fields from being reused.
	noCache       bool
	noCacheFields string
	// private is the unqualified private: a shared cache does not store
	// the response. privateFields holds the field names of the qualified
	// form, which only keeps those fields out of a shared cache.
	private       bool
	privateFields string
	// mustRevalidate is must-revalidate, proxy-revalidate or s-maxage
	// (which implies proxy-revalidate): once stale, the response is never
	// used without a successful revalidation.
	mustRevalidate bool
	// staleWhileRevalidate and staleIfError are RFC 5861's windows, in
	// seconds; -1 when absent.
	staleWhileRevalidate int64
	staleIfError         int64
	// noTransform forbids changing the content, compression included
	// (RFC 9110 §7.7).
	noTransform bool
}

// parseCacheControl parses the Cache-Control field lines of a response
// (RFC 9111 §5.2). Directive names are case-insensitive; values may be
// tokens or quoted strings, which may hold commas. A max-age or s-maxage
// whose value is not delta-seconds, or that is repeated with a different
// value, counts as 0: RFC 9111 §4.2.1 encourages treating such responses
// as stale. A no-cache or private with an empty field list counts as
// unqualified, the safe reading.
func parseCacheControl(lines []string) cacheControl {
	cc := cacheControl{maxAge: -1, sMaxAge: -1, staleWhileRevalidate: -1, staleIfError: -1}
	for _, line := range lines {
		for line != "" {
			var name, value string
			name, value, line = nextDirective(line)
			switch {
			case strings.EqualFold(name, "max-age"):
				cc.maxAge = mergeDelta(cc.maxAge, value)
			case strings.EqualFold(name, "s-maxage"):
				cc.sMaxAge = mergeDelta(cc.sMaxAge, value)
				cc.mustRevalidate = true
			case strings.EqualFold(name, "no-store"):
				cc.noStore = true
			case strings.EqualFold(name, "no-cache"):
				if strings.Trim(value, " \t,") == "" {
					cc.noCache = true
				} else {
					cc.noCacheFields = joinFields(cc.noCacheFields, value)
				}
			case strings.EqualFold(name, "private"):
				if strings.Trim(value, " \t,") == "" {
					cc.private = true
				} else {
					cc.privateFields = joinFields(cc.privateFields, value)
				}
			case strings.EqualFold(name, "must-revalidate"), strings.EqualFold(name, "proxy-revalidate"):
				cc.mustRevalidate = true
			case strings.EqualFold(name, "stale-while-revalidate"):
				cc.staleWhileRevalidate = mergeDelta(cc.staleWhileRevalidate, value)
			case strings.EqualFold(name, "stale-if-error"):
				cc.staleIfError = mergeDelta(cc.staleIfError, value)
			case strings.EqualFold(name, "no-transform"):
				cc.noTransform = true
			}
		}
	}
	return cc
}

func joinFields(prev, value string) string {
	if prev == "" {
		return value
	}
	return prev + "," + value
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

// ttlRules are a behaviour's MinTTL, DefaultTTL and MaxTTL, and the
// distribution's ErrorCachingMinTTL per status code.
type ttlRules struct {
	min, def, max time.Duration
	errMin        map[int]time.Duration
}

// errorTTL is the ErrorCachingMinTTL of an error status.
func (t ttlRules) errorTTL(status int) time.Duration {
	if d, ok := t.errMin[status]; ok {
		return d
	}
	return errorCachingTTL
}

// Status classes for storing.
const (
	// statusNever: 1xx, 206, 304, 416 and anything not listed.
	statusNever = iota
	// statusDefault: stored with DefaultTTL when the origin says nothing
	// (the codes RFC 9110 §15.1 makes heuristically cacheable, where
	// CloudFront applies DefaultTTL instead of a heuristic).
	statusDefault
	// statusExplicitOnly: stored only with s-maxage, max-age or Expires
	// (RFC 9111 §3: no heuristic freshness for these codes).
	statusExplicitOnly
	// statusError: an error CloudFront always caches, for the longer of
	// ErrorCachingMinTTL and s-maxage or max-age (DG HTTPStatusCodes).
	statusError
	// statusErrorExplicit: an error CloudFront caches only with s-maxage
	// or max-age, again for at least ErrorCachingMinTTL.
	statusErrorExplicit
)

func statusClass(code int) int {
	switch code {
	case 200, 203, 204, 300, 301, 308:
		return statusDefault
	case 302, 303, 307, 410:
		return statusExplicitOnly
	case 404, 414, 500, 501, 502, 503, 504:
		return statusError
	case 400, 403, 405, 412, 415:
		return statusErrorExplicit
	}
	// 206 needs the whole representation, 1xx and 304 are not final
	// representations, and CloudFront never caches 416 (DG
	// custom-error-pages-expiration).
	return statusNever
}

// storePolicy says how a stored response may be reused.
type storePolicy struct {
	// ttl is the freshness lifetime; 0 for a response that is stale from
	// the start and only stored to be revalidated.
	ttl time.Duration
	// swr and sie are the stale-while-revalidate and stale-if-error
	// windows past ttl (RFC 5861); 0 for none.
	swr, sie time.Duration
	// mustRevalidate forbids any use once stale without a successful
	// revalidation: must-revalidate, proxy-revalidate, s-maxage or
	// no-cache (RFC 9111 §4.2.4, §5.2.2.2, §5.2.2.8, §5.2.2.10).
	mustRevalidate bool
}

// policy decides whether a response with status and header h may be stored,
// for how long it is fresh and how it may be reused stale, following
// CloudFront's rules (DG Expiration) where it has them and RFC 9111
// elsewhere:
//
//   - s-maxage, else max-age, else Expires minus Date, clamped to
//     [MinTTL, MaxTTL];
//   - none of them: DefaultTTL, clamped likewise;
//   - no-cache: stored to be revalidated before every use (RFC 9111
//     §5.2.2.4) when MinTTL is 0, stored for MinTTL otherwise (CloudFront);
//   - a lifetime of zero (max-age=0, an Expires in the past, no-cache) is
//     stored only when the response has a validator to revalidate with;
//   - the qualified forms private="…" and no-cache="…" store the response
//     without the named fields (RFC 9111 §5.2.2.4, §5.2.2.7);
//
// and Portico's safety rules, stricter than CloudFront's: a response with
// Set-Cookie (unless a qualified directive names it), no-store or private
// is never stored, whatever MinTTL says. responseTime stands in for a
// missing Date. strip lists the canonical names of the fields the stored
// response must not carry: those of a qualified private or no-cache. why
// says why a response is not stored.
func (t ttlRules) policy(status int, h http.Header, responseTime time.Time) (p storePolicy, strip []string, why string) {
	class := statusClass(status)
	if class == statusNever {
		return p, nil, detailStatus
	}
	cc := parseCacheControl(h["Cache-Control"])
	switch {
	case cc.noStore:
		return p, nil, detailNoStore
	case cc.private:
		return p, nil, detailPrivate
	}
	strip = appendFieldNames(appendFieldNames(nil, cc.privateFields), cc.noCacheFields)
	if len(h["Set-Cookie"]) > 0 && !slices.Contains(strip, "Set-Cookie") {
		return p, nil, detailSetCookie
	}
	p.mustRevalidate = cc.mustRevalidate
	if cc.staleWhileRevalidate > 0 {
		p.swr = time.Duration(cc.staleWhileRevalidate) * time.Second
	}
	if cc.staleIfError > 0 {
		p.sie = time.Duration(cc.staleIfError) * time.Second
	}
	if class == statusError || class == statusErrorExplicit {
		p, why = t.errorPolicy(class, status, cc, p)
		return p, strip, why
	}
	explicit, ok := explicitLifetime(cc, h, responseTime)
	switch {
	case cc.noCache && t.min > 0:
		p.ttl = t.min
	case cc.noCache:
		p.ttl, p.mustRevalidate = 0, true
	case ok:
		p.ttl = min(max(explicit, t.min), t.max)
	case class == statusDefault:
		p.ttl = min(max(t.def, t.min), t.max)
	default:
		return p, nil, detailNoFreshness
	}
	if p.ttl <= 0 {
		p.ttl = 0
		if headerValue(h, "Etag") == "" && headerValue(h, "Last-Modified") == "" {
			if cc.noCache {
				return p, nil, detailNoCache
			}
			return p, nil, detailTTLZero
		}
	}
	return p, strip, ""
}

// errorPolicy is the policy of an error response from the origin (DG
// HTTPStatusCodes, custom-error-pages-expiration): cached for the longer of
// the status's ErrorCachingMinTTL and the response's s-maxage or max-age,
// capped at MaxTTL; the statuses of statusErrorExplicit only with s-maxage
// or max-age. Unlike CloudFront, which ignores them for most codes,
// Portico never stores an error with no-store or private (checked before),
// nor one with no-cache. An error is never served stale.
func (t ttlRules) errorPolicy(class, status int, cc cacheControl, p storePolicy) (storePolicy, string) {
	if cc.noCache {
		return p, detailNoCache
	}
	explicit := time.Duration(-1)
	switch {
	case cc.sMaxAge >= 0:
		explicit = time.Duration(cc.sMaxAge) * time.Second
	case cc.maxAge >= 0:
		explicit = time.Duration(cc.maxAge) * time.Second
	}
	if class == statusErrorExplicit && explicit < 0 {
		return p, detailNoFreshness
	}
	p.ttl = min(max(t.errorTTL(status), explicit), t.max)
	p.swr, p.sie, p.mustRevalidate = 0, 0, true
	if p.ttl <= 0 {
		return p, detailTTLZero
	}
	return p, ""
}

// appendFieldNames appends the canonical field names of a comma-separated
// list (the value of a qualified private or no-cache) to dst.
func appendFieldNames(dst []string, list string) []string {
	for list != "" {
		var name string
		name, list, _ = strings.Cut(list, ",")
		if name = strings.Trim(name, " \t"); name != "" {
			dst = append(dst, http.CanonicalHeaderKey(name))
		}
	}
	return dst
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
