// Package control is Portico's control plane: the operations on
// distributions, invalidations, certificates and cache, origin request and
// response headers policies that the CloudFront API,
// the ACM API and the web console share. It validates, enforces the
// cross-object rules (alias uniqueness, certificate coverage, If-Match
// versions) and writes through the store in single transactions, so that a
// failed request leaves stored state as it was.
//
// Errors meant for API clients are *portico.Error; the wire packages render
// them. Any other error is an internal failure.
package control

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/portico-edge/portico/internal/store"
)

// Progress reports how far the data plane has got: the newest store
// revision that every live edge serves. A distribution or invalidation
// written at or before that revision is Deployed or Completed.
type Progress interface {
	AppliedRev() int64
	// Changed returns a channel closed the next time AppliedRev advances.
	Changed() <-chan struct{}
}

// waitApplied waits until every edge serves rev, ctx is done, or
// s.DeployWait has passed, and reports whether rev is served. Reads use it
// so that a client polling for Deployed sees the change as soon as the edge
// has it, rather than one poll interval later.
func (s *Service) waitApplied(ctx context.Context, rev int64) bool {
	if s.applied() >= rev {
		return true
	}
	timer := time.NewTimer(s.DeployWait)
	defer timer.Stop()
	for {
		changed := s.Progress.Changed()
		if s.applied() >= rev {
			return true
		}
		select {
		case <-changed:
		case <-timer.C:
			return s.applied() >= rev
		case <-ctx.Done():
			return false
		}
	}
}

// Service carries out control-plane operations against a store.
type Service struct {
	Store    store.Store
	Progress Progress

	// EdgeDomain is the suffix of distribution domain names: a distribution
	// with ID E123 is served as e123.<EdgeDomain>.
	EdgeDomain string
	// AccountID is the 12-digit account in ARNs. Region is the region in
	// ACM ARNs.
	AccountID string
	Region    string

	// DeployWait bounds how long a read of an InProgress distribution or
	// invalidation waits for the edges to catch up before it answers
	// InProgress. Zero means it does not wait.
	DeployWait time.Duration

	// InvalidationLimits bounds each distribution's invalidations; the
	// zero value is CloudFront's quotas.
	InvalidationLimits InvalidationLimits

	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger

	writeMu sync.Mutex // held by write transactions: see retryConflicts
	state   stateCache
}

// Store key layout. Every key the control plane writes is named here.
const (
	keyDistribution = "dist/"      // dist/<ID> → portico.Distribution (JSON)
	keyAlias        = "alias/"     // alias/<lower-case name> → distribution ID
	keyCallerRef    = "callerref/" // callerref/<CallerReference> → distribution ID
	keyTombstone    = "tomb/"      // tomb/<ID> → "" for every deleted ID: IDs are never reused
	keyInvalidation = "inval/"     // inval/<distribution ID>/<ID> → invalidation (JSON)
	keyInvalRef     = "invalref/"  // invalref/<distribution ID>/<CallerReference> → invalidation ID
	keyCertificate  = "cert/"      // cert/<certificate ID> → portico.Certificate (JSON)
	keyCertUse      = "certuse/"   // certuse/<certificate ID> → JSON []string of the IDs of distributions using it

	keyCachePolicy   = "cachepolicy/"   // cachepolicy/<ID> → portico.CachePolicy (JSON)
	keyOriginPolicy  = "originpolicy/"  // originpolicy/<ID> → portico.OriginRequestPolicy (JSON)
	keyHeadersPolicy = "headerspolicy/" // headerspolicy/<ID> → portico.ResponseHeadersPolicy (JSON)
	keyPolicyName    = "policyname/"    // policyname/<kind prefix><Name> → policy ID: names are unique per kind
	keyPolicyUse     = "policyuse/"     // policyuse/<policy ID> → JSON []string of the IDs of distributions using it

	// tags/<ARN> → JSON []Tag sorted by key, for a distribution, custom
	// policy or certificate with at least one tag. Written with the
	// resource when it is created with tags, and deleted with it.
	keyTags = "tags/"
)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// logger returns s.Log, or a logger that discards.
func (s *Service) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// applied returns the newest revision every edge serves.
func (s *Service) applied() int64 { return s.Progress.AppliedRev() }

// newID returns prefix followed by 13 random upper-case letters and
// digits, the shape of CloudFront's IDs and ETags.
func newID(prefix string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b [13]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b[:])
}

// newUUID returns a random RFC 4122 version 4 UUID, the shape of ACM
// certificate IDs.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// getJSON reads key into v and returns the stored KV.
func (s *Service) getJSON(ctx context.Context, key string, v any) (store.KV, error) {
	kv, err := s.Store.Get(ctx, key)
	if err != nil {
		return kv, err
	}
	return kv, decode(kv, v)
}

// putJSON returns a put of v as JSON at key.
func putJSON(key string, v any) store.Op {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("control: encoding %s: %v", key, err)) // only plain data is stored
	}
	return store.Op{Key: key, Value: b}
}

// isNotFound reports whether err is the store's ErrNotFound.
func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// Shorten returns s cut to a length fit for an error message: its first
// 200 bytes (less a rune cut in two) and "…" when it is longer.
func Shorten(s string) string {
	const n = 200
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
