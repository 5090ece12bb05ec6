package httpcache

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Invalidation without a scan. Every origin request records its scope's
// purge generation in the entry it stores; every purge takes the next
// generation and leaves a record: for the whole scope ("/*"), for a path or
// a path prefix (in a trie), or for a cache tag. An entry is purged when a
// record that matches it is newer than the entry. So a purge costs the
// length of its path, whatever the number of cached objects, and a lookup
// the length of the entry's path; a purged entry is dropped when a lookup
// or the eviction finds it. Records pile up with purges, so when they
// outnumber the cached objects by a fixed ratio, one sweep over the cache
// applies and forgets them: the amortised cost of a purge stays constant.

// Purge kinds: a hard purge removes, a soft purge marks stale.
const (
	hard = 0
	soft = 1
)

// gens holds the generations of a hard and a soft purge record.
type gens [2]uint64

func (g *gens) raise(kind int, gen uint64) { g[kind] = max(g[kind], gen) }

// scope is the cache state of one distribution.
type scope struct {
	name string
	// whole is the empty key prefix of the scope's entries that hold
	// their whole key.
	whole *keyPrefix
	// gen is the scope's purge generation: purges increment it.
	gen atomic.Uint64
	mu  sync.Mutex // serialises purges
	idx atomic.Pointer[purgeIndex]
}

// purgeIndex is an immutable set of purge records; a purge publishes a new
// one.
type purgeIndex struct {
	all gens // "/*"
	// floor refuses entries whose origin request started before the last
	// compaction: records they might match are gone.
	floor   uint64
	root    *trieNode // paths and prefixes; nil when none
	tags    map[string]gens
	records int
}

var emptyIndex = &purgeIndex{}

func newScope(name string) *scope {
	sc := &scope{name: name}
	sc.whole = &keyPrefix{sc: sc}
	sc.idx.Store(emptyIndex)
	return sc
}

// Verdicts on an entry.
const (
	valid  = iota
	stale  // soft-purged: usable only as a stale response
	purged // hard-purged: never used again
)

// verdict returns what the scope's purges say of e. It does not allocate.
func (sc *scope) verdict(e *entry) int {
	ix := sc.idx.Load()
	g := e.gen
	if ix.all[hard] > g {
		return purged
	}
	v := valid
	if ix.all[soft] > g || e.softStale.Load() {
		v = stale
	}
	if ix.root != nil {
		switch ix.root.verdict(e.path(), g) {
		case purged:
			return purged
		case stale:
			v = stale
		}
	}
	for _, t := range e.tags() {
		if tg, ok := ix.tags[t]; ok {
			if tg[hard] > g {
				return purged
			}
			if tg[soft] > g {
				v = stale
			}
		}
	}
	return v
}

// storable reports whether an entry may still be stored: no purge since
// its origin request started matches it.
func (sc *scope) storable(e *entry) bool {
	return e.gen >= sc.idx.Load().floor && sc.verdict(e) == valid
}

// trieNode is a node of a radix tree of purge paths: the path from the root
// to a node is the concatenation of the labels on the way.
type trieNode struct {
	label    string
	exact    gens // purges of exactly this path
	prefix   gens // purges of every path that starts with this path
	children []*trieNode
}

// verdict walks path down the tree from n (the root) and returns the
// strongest matching record newer than gen.
func (n *trieNode) verdict(path string, gen uint64) int {
	v := valid
	for {
		if n.prefix[hard] > gen {
			return purged
		}
		if n.prefix[soft] > gen {
			v = stale
		}
		if path == "" {
			if n.exact[hard] > gen {
				return purged
			}
			if n.exact[soft] > gen {
				v = stale
			}
			return v
		}
		child := n.child(path[0])
		if child == nil || !strings.HasPrefix(path, child.label) {
			return v
		}
		path, n = path[len(child.label):], child
	}
}

func (n *trieNode) child(c byte) *trieNode {
	for _, ch := range n.children {
		if ch.label[0] == c {
			return ch
		}
	}
	return nil
}

// with returns a copy of n (nil for an empty tree) with a record for path
// (relative to n) added; n itself is not modified, so readers of the old
// tree are undisturbed. It copies the nodes on the way, O(len(path)).
func (n *trieNode) with(path string, exact bool, kind int, gen uint64) *trieNode {
	c := &trieNode{}
	if n != nil {
		*c = *n
		c.children = append([]*trieNode(nil), n.children...)
	}
	if path == "" {
		if exact {
			c.exact.raise(kind, gen)
		} else {
			c.prefix.raise(kind, gen)
		}
		return c
	}
	for i, ch := range c.children {
		if ch.label[0] != path[0] {
			continue
		}
		common := commonPrefix(ch.label, path)
		if common < len(ch.label) {
			// Split the edge: a new node for the common part, over the
			// old child with the rest of its label.
			tail := *ch
			tail.label = ch.label[common:]
			ch = &trieNode{label: ch.label[:common], children: []*trieNode{&tail}}
		}
		c.children[i] = ch.with(path[common:], exact, kind, gen)
		return c
	}
	leaf := (&trieNode{}).with("", exact, kind, gen)
	leaf.label = path
	c.children = append(c.children, leaf)
	return c
}

func commonPrefix(a, b string) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// compactRatio bounds the purge records of a scope: when they outnumber
// the cached objects divided by it (and minRecords), the next purge sweeps
// the cache once and forgets them.
const (
	compactRatio = 4
	minRecords   = 1024
)

// invalidate purges from scope the entries that match pattern: a path, a
// path prefix ending in "*", or a tag. soft marks them stale instead.
// durable makes the purge survive a power loss on the disk tier, at the
// cost of a sync.
func (c *Cache) invalidate(scopeName, pattern string, tag, softly, durable bool) {
	sc := c.scope(scopeName)
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if c.disk != nil {
		defer c.disk.purge(scopeName, pattern, tag, durable)
	}
	kind := hard
	if softly {
		kind = soft
	}
	old := sc.idx.Load()
	ix := *old
	gen := sc.gen.Add(1)
	switch prefix, wildcard := strings.CutSuffix(pattern, "*"); {
	case tag:
		ix.tags = maps.Clone(old.tags)
		if ix.tags == nil {
			ix.tags = make(map[string]gens)
		}
		g := ix.tags[pattern]
		g.raise(kind, gen)
		ix.tags[pattern] = g
		ix.records++
	case wildcard && (prefix == "" || prefix == "/"):
		ix.all.raise(kind, gen)
		if kind == hard {
			// Every older record is moot.
			ix.root, ix.tags, ix.records = nil, nil, 0
		}
	default:
		ix.root = ix.root.with(prefix, !wildcard, kind, gen)
		ix.records++
	}
	if ix.records > max(minRecords, c.Len()/compactRatio) {
		c.compact(sc, &ix)
	}
	sc.idx.Store(&ix)
}

// compact applies the records of ix to every entry of sc and forgets them.
// sc.mu is held.
func (c *Cache) compact(sc *scope, ix *purgeIndex) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Judge with the new records in place.
	sc.idx.Store(ix)
	var doomed []*entry
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		for _, head := range sh.m {
			for e := head; e != nil; e = e.nextVariant {
				if e.sc() != sc {
					continue
				}
				switch sc.verdict(e) {
				case purged:
					doomed = append(doomed, e)
				case stale:
					e.softStale.Store(true)
				}
			}
		}
		sh.mu.RUnlock()
	}
	for _, e := range doomed {
		c.removeLocked(e)
	}
	ix.floor = sc.gen.Load()
	ix.root, ix.tags, ix.records = nil, nil, 0
	// ix.all stays: it costs nothing and keeps judging entries fetched
	// before it.
}

// maxTags bounds the tags an entry keeps from its Cache-Tag field.
const maxTags = 64

// parseTags returns the tags of the Cache-Tag field lines of a response
// (comma-separated, white space trimmed, duplicates dropped), at most
// maxTags.
func parseTags(lines []string) []string {
	var tags []string
	for _, line := range lines {
		for line != "" && len(tags) < maxTags {
			var tag string
			tag, line, _ = strings.Cut(line, ",")
			if tag = trimOWS(tag); tag != "" && !slices.Contains(tags, tag) {
				tags = append(tags, tag)
			}
		}
	}
	return tags
}

// Purge removes from scope every entry whose path matches pattern, in every
// variant (host, query, cookies, headers, Vary) and stale copies too.
// pattern is an invalidation path: "/img.jpg" matches that path without a
// query string, "/img.jpg?v=2" that query exactly, and a pattern ending in
// "*" every path (query included) that starts with what precedes the "*",
// so "/img.jpg*" covers every query variant and "/*" the whole scope, as
// CloudFront's invalidations do. Paths are compared as the viewer sent them
// (URL-escaped), case-sensitively. A response being fetched while Purge
// runs is not stored.
//
// Purge takes time proportional to the length of pattern, not to the
// number of cached objects: purged entries are found lazily.
func (c *Cache) Purge(scope, pattern string) { c.invalidate(scope, pattern, false, false, true) }

// SoftPurge marks as stale every entry of scope whose path matches pattern
// (as in Purge): each is revalidated with the origin before it is served
// again, and may still be served while that happens
// (stale-while-revalidate) or when the origin fails (stale-if-error), as
// its Cache-Control allows.
func (c *Cache) SoftPurge(scope, pattern string) { c.invalidate(scope, pattern, false, true, true) }

// PurgeTag removes from scope every entry whose response carried tag in its
// Cache-Tag header (a comma-separated list of tags).
func (c *Cache) PurgeTag(scope, tag string) { c.invalidate(scope, tag, true, false, true) }

// SoftPurgeTag marks as stale every entry of scope whose response carried
// tag in its Cache-Tag header.
func (c *Cache) SoftPurgeTag(scope, tag string) { c.invalidate(scope, tag, true, true, true) }
