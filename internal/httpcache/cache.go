// Package httpcache is Portico's response cache: RFC 9111 with
// CloudFront's cache keys, TTL and error-caching rules where CloudFront has
// them (DG Expiration, header-caching, Cookies, QueryStringParameters,
// controlling-the-cache-key, HTTPStatusCodes, ServingCompressedFiles), with
// safety rules stricter than CloudFront's. A behaviour's key and TTLs come
// from its legacy ForwardedValues or its cache and origin request policies,
// as portico.ResolveBehavior resolves them.
//
// Keys. Responses to the behaviour's cached methods (GET and HEAD, and
// OPTIONS when listed) are keyed on the distribution (scope), host, path,
// the keyed query string parameters (all, a whitelist such as legacy
// QueryStringCacheKeys, or all but some), the keyed cookies as the origin
// receives them, the keyed header values (names case-insensitive, values
// case-sensitive) and the normalised Accept-Encoding. What an origin
// request policy forwards besides is not in the key; a response that
// varies on it, or on other request fields, is
// stored once per variant of them (RFC 9111 §4.1). A HEAD is answered from
// the GET's entry. Viewer Cache-Control and Pragma are ignored, as
// CloudFront ignores them.
//
// Freshness. s-maxage, then max-age, then Expires relative to Date,
// clamped to [MinTTL, MaxTTL]; DefaultTTL when the origin says nothing (no
// heuristic freshness); the origin's Age counts against it. no-cache, and
// a lifetime of zero with a validator, store the response to revalidate it
// before every use (at MinTTL 0; CloudFront keeps it MinTTL otherwise).
// Stale entries are revalidated with If-None-Match / If-Modified-Since; a
// 304 refreshes them ("RefreshHit"). stale-while-revalidate serves a stale
// entry while one background request refreshes it; stale-if-error serves
// it in place of an origin 500, 502, 503 or 504, and any stale entry
// stands in for an origin Portico cannot reach or that times out (RFC 9111
// §4.2.4, DG HTTPStatusCodes), each then for ErrorCachingMinTTL without
// asking again; must-revalidate, proxy-revalidate, s-maxage and no-cache
// forbid all stale use. Errors are cached as CloudFront caches them: 404,
// 414, 500, 501, 502, 503 and 504 for ErrorCachingMinTTL (10 s unless the
// distribution's CustomErrorResponses say otherwise) or their s-maxage or
// max-age if longer; 400, 403, 405, 412 and 415 only with s-maxage or
// max-age. Portico's own 502 and 504 pages are never stored.
//
// Requests. Viewers' preconditions (If-None-Match, If-Modified-Since,
// If-Match, If-Unmodified-Since) are answered from the cache, with 304 or
// 412, except when the behaviour forwards cookies (CloudFront does not
// support them then, DG Cookies): such viewers get the whole response.
// Range requests are answered from a stored 200 (206, multipart/byteranges,
// 416, If-Range); one with nothing stored goes to the origin as sent, and
// only a whole response is stored. A successful POST, PUT, PATCH or DELETE
// invalidates its URI and the same-host URIs in Location and
// Content-Location (RFC 9111 §4.4). Concurrent misses for one key make one
// origin request (see Handler).
//
// Never stored, by deliberate choice and unlike CloudFront: a response
// with Set-Cookie (unless a qualified no-cache or private names it, which
// stores the response without it), no-store or unqualified private, even
// when MinTTL > 0; Vary: *; a 206; a response to a request carrying
// Authorization unless Authorization is whitelisted (and so in the key);
// anything when the behaviour keys on all headers (legacy "*") or its
// cache policy disables caching (MaxTTL 0); and any body that did not
// arrive whole (Content-Length mismatch, a broken chunked body, the viewer
// gone) or is larger than the object size limit.
//
// Responses. Every response carries X-Cache ("Hit", "Miss" or "RefreshHit
// from portico", or the origin proxy's "Error") and an RFC 9211
// Cache-Status member (e.g. "portico; hit; ttl=42", "portico;
// fwd=uri-miss; stored", "portico; fwd=bypass; detail=method"); responses
// from the cache carry Age. The Vary sent to viewers keeps only
// Accept-Encoding, Cookie, User-Agent and whitelisted header names (under
// policies, the forwarded header names), as CloudFront's does. Behaviours
// with Compress get gzip or br (under policies, those of the two the cache
// policy normalises Accept-Encoding to).
//
// Storage. Memory is bounded by a byte budget, with S3-FIFO eviction,
// which keeps a scan from flushing what is popular. An optional disk tier
// with a byte budget keeps a copy of every response, checked on every read,
// and survives restarts and crashes. Invalidations (Purge, SoftPurge,
// PurgeTag, SoftPurgeTag) take time independent of the number of cached
// objects. All of it is safe for concurrent use, and no lock is held while
// talking to an origin or a viewer.
package httpcache

import (
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxObjectBytes is the largest body the cache stores; it is smaller
// when the budget is: one object never takes more than 1/16 of it.
const DefaultMaxObjectBytes = 8 << 20

// Cache is an in-memory HTTP cache shared by every behaviour of every
// distribution; each Handler works in a scope (the distribution ID). It is
// safe for concurrent use. No lock is held while a handler talks to the
// origin or writes to a viewer.
type Cache struct {
	maxBytes  int64
	maxObject int64
	log       *slog.Logger
	now       func() time.Time
	keys      sync.Pool // *[]byte key buffers
	seed      maphash.Seed
	shards    [numShards]shard

	mu    sync.Mutex // guards the queues, sizes and the ghost
	small fifo
	main  fifo
	size  int64
	count int
	ghost ghost
	// shared holds the copies of common field values that entries refer
	// to; the bytes it holds count against the budget besides size.
	shared *sharedValues
	// entries and sizeNow are count and size, for readers without mu.
	entries, sizeNow atomic.Int64

	// hits holds the Age and Cache-Status values of plain hits that
	// entries share, stamps the entries' hit stamps; the bytes they hold
	// count against the budget besides size.
	hits   *hitTable
	stamps stampRing

	scopesMu sync.Mutex
	scopes   map[string]*scope

	flights         flights
	collapseTimeout time.Duration
	bg              sync.WaitGroup // background revalidations
	encoders        encoderPools

	disk  *diskTier // nil without one
	epoch uint64    // this run's, in the disk tier's files
	// bodyFiles counts the disk tier's files open for Hit.BodyFile.
	bodyFiles atomic.Int64
}

// Config configures a Cache. Only MaxBytes has no default.
type Config struct {
	// MaxBytes is the memory budget: the bytes of responses (bodies,
	// header fields, keys and bookkeeping) kept in memory. 0 or less
	// disables the cache altogether.
	MaxBytes int64
	// Logger receives the cache's messages; nil discards them.
	Logger *slog.Logger
	// DiskDir is the directory of the disk tier; "" for none. The cache
	// keeps a copy of every response there and finds them again after a
	// restart.
	DiskDir string
	// DiskMaxBytes is the disk tier's budget: the bytes of its files.
	DiskMaxBytes int64
	// CollapseTimeout is how long a request waits for another with the
	// same key; 0 means DefaultCollapseTimeout.
	CollapseTimeout time.Duration
}

// Open returns a cache configured by cfg, opening its disk tier if it has
// one: it finds the responses a previous run left there, deleting any file
// that is not a whole response and any response that a purge journaled by
// that run matches. Close releases it.
func Open(cfg Config) (*Cache, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cache{
		maxBytes:        cfg.MaxBytes,
		maxObject:       min(DefaultMaxObjectBytes, cfg.MaxBytes/16),
		log:             log,
		now:             time.Now,
		keys:            sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }},
		seed:            maphash.MakeSeed(),
		epoch:           rand.Uint64(),
		scopes:          make(map[string]*scope),
		collapseTimeout: cfg.CollapseTimeout,
		shared:          newSharedValues(cfg.MaxBytes),
		hits:            newHitTable(cfg.MaxBytes),
	}
	if c.collapseTimeout <= 0 {
		c.collapseTimeout = DefaultCollapseTimeout
	}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*entry)
	}
	c.small.init()
	c.main.init()
	if cfg.DiskDir != "" && cfg.MaxBytes > 0 && cfg.DiskMaxBytes > 0 {
		d, err := openDisk(cfg.DiskDir, cfg.DiskMaxBytes, c.epoch, log)
		if err != nil {
			return nil, err
		}
		c.disk = d
	}
	return c, nil
}

// New returns a memory-only cache that keeps at most maxBytes of responses
// (bodies, headers and keys). A budget of 0 or less disables storing.
func New(maxBytes int64, log *slog.Logger) *Cache {
	c, _ := Open(Config{MaxBytes: maxBytes, Logger: log}) // no disk, no error
	return c
}

// Close waits for the background revalidations in progress to end, then
// for the disk tier to write what it has queued.
func (c *Cache) Close() error {
	c.bg.Wait()
	if c.disk != nil {
		return c.disk.close()
	}
	return nil
}

func (c *Cache) getKeyBuf() *[]byte { return c.keys.Get().(*[]byte) }

func (c *Cache) putKeyBuf(b *[]byte) {
	if cap(*b) <= 64<<10 {
		*b = (*b)[:0]
		c.keys.Put(b)
	}
}
