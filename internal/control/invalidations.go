package control

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/portico-edge/portico"
)

// Invalidation limits, from CloudFront's quotas: the defaults of
// InvalidationLimits.
const (
	// MaxInvalidationPaths is the most paths one batch may hold.
	MaxInvalidationPaths = 3000
	// MaxInvalidationPathLength is the longest path, in bytes.
	MaxInvalidationPathLength = 4000
	// MaxFilesInProgress is how many file (non-wildcard) paths may be
	// awaiting completion on one distribution. It equals
	// MaxInvalidationPaths, and InvalidationLimits.Paths raises both.
	MaxFilesInProgress = MaxInvalidationPaths
	// MaxWildcardsInProgress is how many wildcard paths may be awaiting
	// completion on one distribution.
	MaxWildcardsInProgress = 15
)

// MaxInvalidationTagLength is the longest cache tag an invalidation may
// name, in bytes.
const MaxInvalidationTagLength = 1024

// InvalidationLimits bounds the invalidations of each distribution. The
// zero value is CloudFront's quotas; an installation may raise them.
type InvalidationLimits struct {
	// Paths is the most paths and tags one batch may hold (BatchTooLarge
	// beyond), and the most file paths and tags that may be awaiting
	// completion on one distribution (TooManyInvalidationsInProgress
	// beyond). 0 means MaxInvalidationPaths.
	Paths int
	// Wildcards is the most wildcard paths that may be awaiting completion
	// on one distribution (TooManyInvalidationsInProgress beyond). 0 means
	// MaxWildcardsInProgress.
	Wildcards int
}

func (l InvalidationLimits) paths() int {
	if l.Paths > 0 {
		return l.Paths
	}
	return MaxInvalidationPaths
}

func (l InvalidationLimits) wildcards() int {
	if l.Wildcards > 0 {
		return l.Wildcards
	}
	return MaxWildcardsInProgress
}

// InvalidationBatch is what an invalidation is asked to purge: CloudFront's
// InvalidationBatch, with Portico's extension (Tags, Soft).
type InvalidationBatch struct {
	// CallerReference makes the request idempotent: see
	// CreateInvalidationBatch.
	CallerReference string
	// Paths start with "/" and may end with a "*" wildcard.
	Paths []string
	// Tags purge the responses whose Cache-Tag header named one of them:
	// each is 1 to MaxInvalidationTagLength visible ASCII characters other
	// than a comma, compared case-sensitively.
	Tags []string
	// Soft marks what the batch matches stale, so that it is revalidated
	// with the origin before it is served again (and may still be served
	// meanwhile, as its Cache-Control allows), instead of removing it.
	Soft bool
}

// extended reports whether b uses Portico's extension.
func (b *InvalidationBatch) extended() bool { return len(b.Tags) > 0 || b.Soft }

// CreateInvalidation asks the edges to drop the cached objects under paths
// of the distribution distID: CreateInvalidationBatch without Portico's
// extension.
func (s *Service) CreateInvalidation(ctx context.Context, distID, callerRef string, paths []string) (*portico.Invalidation, error) {
	return s.CreateInvalidationBatch(ctx, distID, InvalidationBatch{CallerReference: callerRef, Paths: paths})
}

// CreateInvalidationBatch asks the edges to purge what batch matches in the
// cache of the distribution distID: the objects under its paths and those
// tagged with its tags, removed or, for a soft batch, marked stale. A
// CallerReference already used on the distribution for the same batch
// (paths and tags in any order, same mode) returns the invalidation it
// created; for another batch it is refused. The invalidation is InProgress
// until every edge has purged the batch.
//
// The limits are s.InvalidationLimits. The in-flight limits are checked
// against the invalidations stored when the request is read; two
// concurrent batches may together pass them, as CloudFront's quotas are
// not exact either.
func (s *Service) CreateInvalidationBatch(ctx context.Context, distID string, batch InvalidationBatch) (*portico.Invalidation, error) {
	if err := validateInvalidationBatch(&batch, s.InvalidationLimits); err != nil {
		return nil, err
	}
	callerRef, paths := batch.CallerReference, batch.Paths
	var inv *portico.Invalidation
	existing := false
	err := s.retryConflicts(ctx, func() error {
		existing = false
		_, distKV, err := s.readDistribution(ctx, distID)
		if err != nil {
			return err
		}
		refKey := keyInvalRef + distID + "/" + callerRef
		refKV, err := s.Store.Get(ctx, refKey)
		if err == nil {
			inv, err = s.readInvalidation(ctx, distID, string(refKV.Value))
			if err != nil {
				return err
			}
			if !sameBatch(inv, &batch) {
				what := "of other paths"
				if batch.extended() || inv.Soft || len(inv.Tags) > 0 {
					what = "of other paths or tags, or of another mode"
				}
				return portico.Errorf(portico.ErrInvalidationBatchAlreadyExists,
					"The caller reference %q was already used on this distribution for an invalidation %s.", callerRef, what)
			}
			existing = true
			return nil
		}
		if !isNotFound(err) {
			return fmt.Errorf("reading invalidation caller reference: %w", err)
		}
		if err := s.checkInFlight(ctx, distID, &batch); err != nil {
			return err
		}

		inv = &portico.Invalidation{
			ID:              newID("I"),
			DistributionID:  distID,
			CallerReference: callerRef,
			Paths:           slices.Clone(paths),
			Tags:            slices.Clone(batch.Tags),
			Soft:            batch.Soft,
			CreateTime:      s.now().Truncate(time.Millisecond),
		}
		key := invalidationKey(distID, inv.ID)
		var t txn
		t.require(distKV.Key, distKV.ModRev)
		t.require(refKey, 0)
		t.require(key, 0)
		t.put(key, inv)
		t.putString(refKey, inv.ID)
		rev, err := s.Store.Txn(ctx, t.conds, t.ops)
		if err != nil {
			return err
		}
		inv.Rev = rev
		return nil
	})
	if err != nil {
		return nil, wrapInternal("creating invalidation for "+distID, err)
	}
	inv.Status = s.invalidationStatus(ctx, inv.Rev, false)
	if existing {
		return inv, nil
	}
	s.logger().InfoContext(ctx, "invalidation created", "distribution", distID, "id", inv.ID, "paths", len(paths),
		"tags", len(inv.Tags), "soft", inv.Soft, "rev", inv.Rev)
	return inv, nil
}

// GetInvalidation returns the invalidation id of distribution distID,
// with its Status. One that is still InProgress is given up to
// s.DeployWait to complete first.
func (s *Service) GetInvalidation(ctx context.Context, distID, id string) (*portico.Invalidation, error) {
	if _, _, err := s.readDistribution(ctx, distID); err != nil {
		return nil, err
	}
	inv, err := s.readInvalidation(ctx, distID, id)
	if err != nil {
		return nil, err
	}
	inv.Status = s.invalidationStatus(ctx, inv.Rev, true)
	return inv, nil
}

// ListInvalidations returns up to maxItems invalidations of distribution
// distID (DefaultMaxItems if maxItems is not positive), newest first,
// starting after the invalidation whose ID is marker. When more follow,
// truncated is true and next is the marker of the next page: the last
// returned ID. Statuses are as they stand: unlike GetInvalidation, a
// listing does not wait for the edges.
func (s *Service) ListInvalidations(ctx context.Context, distID, marker string, maxItems int) (page []*portico.Invalidation, next string, truncated bool, err error) {
	if maxItems <= 0 {
		maxItems = DefaultMaxItems
	}
	if _, _, err := s.readDistribution(ctx, distID); err != nil {
		return nil, "", false, err
	}
	all, err := s.listInvalidations(ctx, distID)
	if err != nil {
		return nil, "", false, err
	}
	slices.SortFunc(all, func(a, b *portico.Invalidation) int {
		return cmp.Or(cmp.Compare(b.Rev, a.Rev), strings.Compare(a.ID, b.ID))
	})
	start := 0
	if marker != "" {
		i := slices.IndexFunc(all, func(inv *portico.Invalidation) bool { return inv.ID == marker })
		if i < 0 {
			return nil, "", false, portico.Errorf(portico.ErrInvalidArgument, "The Marker %q does not name an invalidation of this distribution.", marker)
		}
		start = i + 1
	}
	end := min(start+maxItems, len(all))
	page = all[start:end]
	for _, inv := range page {
		inv.Status = s.invalidationStatus(ctx, inv.Rev, false)
	}
	if end < len(all) {
		return page, page[len(page)-1].ID, true, nil
	}
	return page, "", false, nil
}

// readInvalidation returns the stored invalidation id of distribution
// distID, with Rev set, or NoSuchInvalidation.
func (s *Service) readInvalidation(ctx context.Context, distID, id string) (*portico.Invalidation, error) {
	if !isResourceID(id) {
		return nil, errNoSuchInvalidation()
	}
	inv := new(portico.Invalidation)
	kv, err := s.getJSON(ctx, invalidationKey(distID, id), inv)
	if isNotFound(err) {
		return nil, errNoSuchInvalidation()
	}
	if err != nil {
		return nil, fmt.Errorf("control: reading invalidation %s: %w", id, err)
	}
	inv.Rev = kv.CreateRev
	return inv, nil
}

// listInvalidations returns every invalidation of distribution distID in
// key order, with Rev set.
func (s *Service) listInvalidations(ctx context.Context, distID string) ([]*portico.Invalidation, error) {
	kvs, _, err := s.Store.List(ctx, keyInvalidation+distID+"/")
	if err != nil {
		return nil, fmt.Errorf("control: listing invalidations of %s: %w", distID, err)
	}
	out := make([]*portico.Invalidation, 0, len(kvs))
	for _, kv := range kvs {
		inv := new(portico.Invalidation)
		if err := decode(kv, inv); err != nil {
			return nil, err
		}
		inv.Rev = kv.CreateRev
		out = append(out, inv)
	}
	return out, nil
}

// invalidationsInProgress counts the invalidations of distribution distID
// that not every edge has carried out yet.
func (s *Service) invalidationsInProgress(ctx context.Context, distID string) (int, error) {
	kvs, _, err := s.Store.List(ctx, keyInvalidation+distID+"/")
	if err != nil {
		return 0, fmt.Errorf("control: listing invalidations of %s: %w", distID, err)
	}
	applied, n := s.applied(), 0
	for _, kv := range kvs {
		if kv.CreateRev > applied {
			n++
		}
	}
	return n, nil
}

// checkInFlight refuses a batch that would take distribution distID past
// the limits on paths awaiting completion. A tag counts as a file path.
func (s *Service) checkInFlight(ctx context.Context, distID string, batch *InvalidationBatch) error {
	invs, err := s.listInvalidations(ctx, distID)
	if err != nil {
		return err
	}
	files, wildcards := countPaths(batch.Paths)
	files += len(batch.Tags)
	applied := s.applied()
	for _, inv := range invs {
		if inv.Rev > applied {
			f, w := countPaths(inv.Paths)
			files, wildcards = files+f+len(inv.Tags), wildcards+w
		}
	}
	lim := s.InvalidationLimits
	switch {
	case wildcards > lim.wildcards():
		return portico.Errorf(portico.ErrTooManyInvalidationsInProgress,
			"Processing your request will cause you to exceed the maximum number of in-progress wildcard invalidations (%d).", lim.wildcards())
	case files > lim.paths():
		return portico.Errorf(portico.ErrTooManyInvalidationsInProgress,
			"Processing your request will cause you to exceed the maximum number of in-progress file invalidations (%d).", lim.paths())
	}
	return nil
}

// deleteInvalidations adds to t the deletion of every invalidation of
// distribution distID and of their caller references.
func (s *Service) deleteInvalidations(ctx context.Context, t *txn, distID string) error {
	for _, prefix := range []string{keyInvalidation + distID + "/", keyInvalRef + distID + "/"} {
		kvs, _, err := s.Store.List(ctx, prefix)
		if err != nil {
			return fmt.Errorf("listing %s: %w", prefix, err)
		}
		for _, kv := range kvs {
			t.del(kv.Key)
		}
	}
	return nil
}

// invalidationStatus returns the status of an invalidation created at rev:
// Completed once every edge serves rev, since an edge purges the
// invalidations up to a revision before it reports it. With wait, it gives
// the edges up to s.DeployWait.
func (s *Service) invalidationStatus(ctx context.Context, rev int64, wait bool) string {
	if wait && s.waitApplied(ctx, rev) || s.applied() >= rev {
		return portico.StatusCompleted
	}
	return portico.StatusInProgress
}

// validateInvalidationBatch checks a batch on its own: a caller reference
// and 1 to lim.paths() paths and tags in all, each path starting with "/",
// at most MaxInvalidationPathLength long, with "*" only as the last
// character and no control characters or spaces (they must be
// URL-encoded), each tag valid for ValidateCacheTag.
func validateInvalidationBatch(b *InvalidationBatch, lim InvalidationLimits) error {
	n := len(b.Paths) + len(b.Tags)
	switch {
	case b.CallerReference == "":
		return portico.Errorf(portico.ErrInvalidArgument, "The parameter CallerReference is required.")
	case len(b.CallerReference) > portico.MaxCallerReferenceSize:
		return portico.Errorf(portico.ErrInvalidArgument, "CallerReference must be at most %d characters.", portico.MaxCallerReferenceSize)
	case n == 0 && b.extended():
		return portico.Errorf(portico.ErrInvalidArgument, "The parameter Paths must contain at least one path, or PorticoPurge at least one tag.")
	case n == 0:
		return portico.Errorf(portico.ErrInvalidArgument, "The parameter Paths must contain at least one path.")
	case n > lim.paths() && len(b.Tags) > 0:
		return portico.Errorf(portico.ErrBatchTooLarge, "Invalidation batch specified is too large: at most %d paths and tags are allowed.", lim.paths())
	case n > lim.paths():
		return portico.Errorf(portico.ErrBatchTooLarge, "Invalidation batch specified is too large: at most %d paths are allowed.", lim.paths())
	}
	for _, p := range b.Paths {
		if err := validateInvalidationPath(p); err != nil {
			return err
		}
	}
	for _, tag := range b.Tags {
		if err := ValidateCacheTag(tag); err != nil {
			return err
		}
	}
	return nil
}

// ValidateCacheTag checks a cache tag that an invalidation names: 1 to
// MaxInvalidationTagLength bytes of visible ASCII (0x21 to 0x7E) other
// than a comma, the separator of the Cache-Tag header. (A tag that the
// origin sends with spaces inside, or outside ASCII, can be stored but
// not purged by tag.) The error is an InvalidArgument *portico.Error.
func ValidateCacheTag(tag string) error {
	switch {
	case tag == "":
		return portico.Errorf(portico.ErrInvalidArgument, "Your request contains an empty cache tag.")
	case len(tag) > MaxInvalidationTagLength:
		return portico.Errorf(portico.ErrInvalidArgument, "Your request contains a cache tag longer than %d characters.", MaxInvalidationTagLength)
	}
	for i := 0; i < len(tag); i++ {
		if c := tag[i]; c <= ' ' || c >= 0x7f || c == ',' {
			return portico.Errorf(portico.ErrInvalidArgument,
				"Your request contains an invalid cache tag %q: a tag is visible ASCII characters other than a comma.", Shorten(tag))
		}
	}
	return nil
}

func validateInvalidationPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return portico.Errorf(portico.ErrInvalidArgument, "Your request contains one or more invalid invalidation paths: %q does not start with a slash.", Shorten(p))
	case len(p) > MaxInvalidationPathLength:
		return portico.Errorf(portico.ErrInvalidArgument, "Your request contains one or more invalid invalidation paths: a path is longer than %d characters.", MaxInvalidationPathLength)
	case strings.Contains(p[:len(p)-1], "*"):
		return portico.Errorf(portico.ErrInvalidArgument, "Your request contains one or more invalid invalidation paths: %q has a * that is not its last character.", Shorten(p))
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c == 0x7f {
			return portico.Errorf(portico.ErrInvalidArgument, "Your request contains one or more invalid invalidation paths: %q holds a space or control character; URL-encode it.", Shorten(p))
		}
	}
	return nil
}

// countPaths returns how many of paths are file paths and how many end in
// a wildcard.
func countPaths(paths []string) (files, wildcards int) {
	for _, p := range paths {
		if strings.HasSuffix(p, "*") {
			wildcards++
		} else {
			files++
		}
	}
	return files, wildcards
}

// sameBatch reports whether inv was created for batch: the same paths and
// tags, in any order, and the same mode.
func sameBatch(inv *portico.Invalidation, batch *InvalidationBatch) bool {
	return inv.Soft == batch.Soft && sameSet(inv.Paths, batch.Paths) && sameSet(inv.Tags, batch.Tags)
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

func invalidationKey(distID, id string) string { return keyInvalidation + distID + "/" + id }

func errNoSuchInvalidation() *portico.Error {
	return portico.Errorf(portico.ErrNoSuchInvalidation, "The specified invalidation does not exist.")
}
