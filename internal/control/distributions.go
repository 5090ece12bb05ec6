package control

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/store"
)

// DefaultMaxItems is the page size of ListDistributions and
// ListInvalidations when the caller asks for none, as in CloudFront.
const DefaultMaxItems = 100

// txnAttempts bounds how often a distribution or invalidation write
// re-reads and re-validates after a concurrent writer won the
// compare-and-swap.
const txnAttempts = 16

// errContention means concurrent writers kept winning the compare-and-swap
// on the same keys for txnAttempts rounds.
var errContention = errors.New("too many concurrent changes, try again")

// CreateDistribution validates cfg, checks it against the stored state
// (CallerReference not used before, aliases free, viewer certificate
// present and covering every alias) and stores it as a new distribution
// with a new ID, domain name and ETag. The distribution is InProgress until
// every edge serves it.
func (s *Service) CreateDistribution(ctx context.Context, cfg *portico.DistributionConfig) (*portico.Distribution, error) {
	return s.createDistribution(ctx, cfg, nil)
}

// createDistribution is CreateDistribution, storing tags (already checked)
// with the distribution.
func (s *Service) createDistribution(ctx context.Context, cfg *portico.DistributionConfig, tags []Tag) (*portico.Distribution, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var d *portico.Distribution
	err := s.retryConflicts(ctx, func() error {
		var t txn
		if _, err := s.Store.Get(ctx, keyCallerRef+cfg.CallerReference); err == nil {
			return errDistributionAlreadyExists()
		} else if !isNotFound(err) {
			return fmt.Errorf("reading caller reference: %w", err)
		}
		t.require(keyCallerRef+cfg.CallerReference, 0)

		// A new ID must never have been used: neither live nor deleted.
		id := newID("E")
		t.require(keyDistribution+id, 0)
		t.require(keyTombstone+id, 0)

		if err := s.claimAliases(ctx, &t, id, nil, cfg.AliasList()); err != nil {
			return err
		}
		certID, err := s.checkViewerCertificate(ctx, &t, cfg)
		if err != nil {
			return err
		}
		if err := s.recordCertUse(ctx, &t, id, "", certID); err != nil {
			return err
		}
		if err := s.recordPolicyUse(ctx, &t, id, nil, cfg); err != nil {
			return err
		}

		d = &portico.Distribution{
			ID:               id,
			ARN:              s.distributionARN(id),
			DomainName:       s.distributionDomain(id),
			ETag:             newID("E"),
			LastModifiedTime: s.now().Truncate(time.Millisecond),
			Config:           *cfg,
		}
		t.put(keyDistribution+id, d)
		t.putString(keyCallerRef+cfg.CallerReference, id)
		putTags(&t, d.ARN, tags)
		rev, err := s.Store.Txn(ctx, t.conds, t.ops)
		if err != nil {
			return err
		}
		d.Rev = rev
		return nil
	})
	if err != nil {
		return nil, wrapInternal("creating distribution", err)
	}
	d.Status = s.distributionStatus(d.Rev)
	s.logger().InfoContext(ctx, "distribution created", "id", d.ID, "aliases", d.Config.AliasList(), "rev", d.Rev)
	return d, nil
}

// GetDistribution returns the distribution with the given ID, with its
// Status and InProgressInvalidationBatches. A distribution that is still
// InProgress is given up to s.DeployWait to become Deployed first.
func (s *Service) GetDistribution(ctx context.Context, id string) (*portico.Distribution, error) {
	d, _, err := s.readDistribution(ctx, id)
	if err != nil {
		return nil, err
	}
	if s.waitApplied(ctx, d.Rev) {
		d.Status = portico.StatusDeployed
	} else {
		d.Status = portico.StatusInProgress
	}
	if d.InProgressInvalidationBatches, err = s.invalidationsInProgress(ctx, id); err != nil {
		return nil, err
	}
	return d, nil
}

// UpdateDistribution replaces the whole configuration of the distribution
// with the given ID. ifMatch must be the distribution's current ETag, and
// the CallerReference cannot change. The distribution gets a new ETag and
// is InProgress until every edge serves the new configuration.
func (s *Service) UpdateDistribution(ctx context.Context, id, ifMatch string, cfg *portico.DistributionConfig) (*portico.Distribution, error) {
	if ifMatch == "" {
		return nil, errIfMatchMissing()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var d *portico.Distribution
	err := s.retryConflicts(ctx, func() error {
		old, kv, err := s.readDistribution(ctx, id)
		if err != nil {
			return err
		}
		if ifMatch != old.ETag {
			return errPreconditionFailed()
		}
		if cfg.CallerReference != old.Config.CallerReference {
			return portico.Errorf(portico.ErrIllegalUpdate, "The CallerReference of a distribution cannot be changed; it is %q.", old.Config.CallerReference)
		}
		var t txn
		t.require(kv.Key, kv.ModRev)
		if err := s.claimAliases(ctx, &t, id, old.Config.AliasList(), cfg.AliasList()); err != nil {
			return err
		}
		certID, err := s.checkViewerCertificate(ctx, &t, cfg)
		if err != nil {
			return err
		}
		if err := s.recordCertUse(ctx, &t, id, certificateID(old.Config.CertificateARN()), certID); err != nil {
			return err
		}
		if err := s.recordPolicyUse(ctx, &t, id, &old.Config, cfg); err != nil {
			return err
		}

		d = old
		d.Config = *cfg
		d.ETag = newID("E")
		d.LastModifiedTime = s.now().Truncate(time.Millisecond)
		t.put(kv.Key, d)
		rev, err := s.Store.Txn(ctx, t.conds, t.ops)
		if err != nil {
			return err
		}
		d.Rev = rev
		return nil
	})
	if err != nil {
		return nil, wrapInternal("updating distribution "+id, err)
	}
	d.Status = s.distributionStatus(d.Rev)
	if d.InProgressInvalidationBatches, err = s.invalidationsInProgress(ctx, id); err != nil {
		return nil, err
	}
	s.logger().InfoContext(ctx, "distribution updated", "id", d.ID, "aliases", d.Config.AliasList(), "enabled", d.Config.IsEnabled(), "rev", d.Rev)
	return d, nil
}

// DeleteDistribution deletes the distribution with the given ID, whose
// current ETag ifMatch must be. The distribution must be disabled and that
// configuration Deployed. Its aliases and CallerReference become free; its
// ID and domain name are never used again.
func (s *Service) DeleteDistribution(ctx context.Context, id, ifMatch string) error {
	if ifMatch == "" {
		return errIfMatchMissing()
	}
	err := s.retryConflicts(ctx, func() error {
		d, kv, err := s.readDistribution(ctx, id)
		if err != nil {
			return err
		}
		if ifMatch != d.ETag {
			return errPreconditionFailed()
		}
		if d.Config.IsEnabled() {
			return portico.Errorf(portico.ErrDistributionNotDisabled, "The distribution you are trying to delete has not been disabled.")
		}
		if !s.waitApplied(ctx, kv.ModRev) {
			return portico.Errorf(portico.ErrDistributionNotDisabled, "The distribution you are trying to delete has been disabled but is not yet Deployed; wait until its status is Deployed.")
		}
		var t txn
		t.require(kv.Key, kv.ModRev)
		t.del(kv.Key)
		t.require(keyTombstone+id, 0)
		t.putString(keyTombstone+id, "")
		t.del(keyCallerRef + d.Config.CallerReference)
		t.del(keyTags + d.ARN)
		for _, alias := range d.Config.AliasList() {
			t.del(keyAlias + alias)
		}
		if err := s.recordCertUse(ctx, &t, id, certificateID(d.Config.CertificateARN()), ""); err != nil {
			return err
		}
		if err := s.recordPolicyUse(ctx, &t, id, &d.Config, nil); err != nil {
			return err
		}
		if err := s.deleteInvalidations(ctx, &t, id); err != nil {
			return err
		}
		_, err = s.Store.Txn(ctx, t.conds, t.ops)
		return err
	})
	if err != nil {
		return wrapInternal("deleting distribution "+id, err)
	}
	// An invalidation created between the listing above and the commit
	// escaped the transaction. The distribution is gone now, so no more can
	// appear: sweep them.
	var t txn
	if err := s.deleteInvalidations(ctx, &t, id); err != nil {
		return wrapInternal("deleting invalidations of "+id, err)
	}
	if len(t.ops) > 0 {
		if _, err := s.Store.Txn(ctx, nil, t.ops); err != nil {
			return fmt.Errorf("control: deleting invalidations of %s: %w", id, err)
		}
	}
	s.logger().InfoContext(ctx, "distribution deleted", "id", id)
	return nil
}

// ListDistributions returns up to maxItems distributions (DefaultMaxItems
// if maxItems is not positive) in ID order, starting after marker. When
// more follow, truncated is true and next is the marker of the next page:
// the last returned ID. Statuses are as they stand: unlike
// GetDistribution, a listing does not wait for the edges.
func (s *Service) ListDistributions(ctx context.Context, marker string, maxItems int) (page []*portico.Distribution, next string, truncated bool, err error) {
	if maxItems <= 0 {
		maxItems = DefaultMaxItems
	}
	kvs, _, err := s.Store.List(ctx, keyDistribution)
	if err != nil {
		return nil, "", false, fmt.Errorf("control: listing distributions: %w", err)
	}
	start := sort.Search(len(kvs), func(i int) bool { return kvs[i].Key > keyDistribution+marker })
	end := min(start+maxItems, len(kvs))
	for _, kv := range kvs[start:end] {
		d := new(portico.Distribution)
		if err := decode(kv, d); err != nil {
			return nil, "", false, err
		}
		d.Rev = kv.ModRev
		d.Status = s.distributionStatus(d.Rev)
		page = append(page, d)
	}
	if end < len(kvs) {
		return page, page[len(page)-1].ID, true, nil
	}
	return page, "", false, nil
}

// readDistribution returns the stored distribution with the given ID, with
// Rev set, and its KV; NoSuchDistribution if there is none.
func (s *Service) readDistribution(ctx context.Context, id string) (*portico.Distribution, store.KV, error) {
	if !isResourceID(id) {
		return nil, store.KV{}, errNoSuchDistribution()
	}
	d := new(portico.Distribution)
	kv, err := s.getJSON(ctx, keyDistribution+id, d)
	if isNotFound(err) {
		return nil, kv, errNoSuchDistribution()
	}
	if err != nil {
		return nil, kv, fmt.Errorf("control: reading distribution %s: %w", id, err)
	}
	d.Rev = kv.ModRev
	return d, kv, nil
}

// claimAliases adds to t what moves the alias claims of distribution id
// from old to aliases (both lower-case): new aliases must be unclaimed and
// are claimed; aliases no longer used are released.
func (s *Service) claimAliases(ctx context.Context, t *txn, id string, old, aliases []string) error {
	for _, alias := range aliases {
		if slices.Contains(old, alias) {
			continue
		}
		kv, err := s.Store.Get(ctx, keyAlias+alias)
		switch {
		case isNotFound(err):
			t.require(keyAlias+alias, 0)
			t.putString(keyAlias+alias, id)
		case err != nil:
			return fmt.Errorf("reading alias claim: %w", err)
		case string(kv.Value) != id:
			return portico.Errorf(portico.ErrCNAMEAlreadyExists,
				"One or more of the CNAMEs you provided are already associated with a different resource: %s.", alias)
		default:
			// Already ours; keep it as it is.
			t.require(kv.Key, kv.ModRev)
		}
	}
	for _, alias := range old {
		if !slices.Contains(aliases, alias) {
			t.del(keyAlias + alias)
		}
	}
	return nil
}

// checkViewerCertificate checks that the ACM certificate cfg names, if
// any, exists, is valid now and covers every alias, and adds a condition
// on it to t. It returns the certificate's ID, or "" when cfg names none.
func (s *Service) checkViewerCertificate(ctx context.Context, t *txn, cfg *portico.DistributionConfig) (string, error) {
	arn := cfg.CertificateARN()
	if arn == "" {
		return "", nil
	}
	c, kv, err := s.certificate(ctx, arn)
	if err != nil && !isNotFound(err) {
		return "", fmt.Errorf("reading certificate: %w", err)
	}
	now := s.now()
	if err != nil || c.ARN != arn || now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return "", portico.Errorf(portico.ErrInvalidViewerCertificate,
			"The specified SSL certificate doesn't exist, isn't in us-east-1 region, isn't valid, or doesn't include a valid certificate chain.")
	}
	t.require(kv.Key, kv.ModRev)
	for _, alias := range cfg.AliasList() {
		if !c.Covers(alias) {
			return "", portico.Errorf(portico.ErrInvalidViewerCertificate,
				"The certificate that is attached to your distribution doesn't cover the alternate domain name (CNAME) %s.", alias)
		}
	}
	return certificateID(arn), nil
}

// recordCertUse adds to t what moves distribution id from the use list of
// certificate oldID to that of newID. Either may be "" for no certificate.
// Each list it changes is guarded by a condition on its revision, so that
// it never loses a concurrent change and DeleteCertificate never misses a
// user.
func (s *Service) recordCertUse(ctx context.Context, t *txn, id, oldID, newID string) error {
	if oldID == newID {
		return nil
	}
	for _, certID := range []string{oldID, newID} {
		if certID == "" {
			continue
		}
		kv, users, err := s.certificateUsers(ctx, certID)
		if err != nil {
			return err
		}
		t.require(kv.Key, kv.ModRev)
		users = slices.DeleteFunc(users, func(u string) bool { return u == id })
		if certID == newID {
			users = append(users, id)
			slices.Sort(users)
		}
		if len(users) == 0 {
			t.del(kv.Key)
		} else {
			t.put(kv.Key, users)
		}
	}
	return nil
}

// distributionStatus returns the status of a distribution last written at
// rev, without waiting.
func (s *Service) distributionStatus(rev int64) string {
	if s.applied() >= rev {
		return portico.StatusDeployed
	}
	return portico.StatusInProgress
}

func (s *Service) distributionARN(id string) string {
	return "arn:aws:cloudfront::" + s.AccountID + ":distribution/" + id
}

func (s *Service) distributionDomain(id string) string {
	return strings.ToLower(id) + "." + s.EdgeDomain
}

// txn collects the conditions and writes of one store transaction.
type txn struct {
	conds []store.Cmp
	ops   []store.Op
}

// require makes the transaction conditional on key's ModRev (0: absent).
func (t *txn) require(key string, modRev int64) {
	t.conds = append(t.conds, store.Cmp{Key: key, ModRev: modRev})
}

// put writes v as JSON at key.
func (t *txn) put(key string, v any) { t.ops = append(t.ops, putJSON(key, v)) }

// putString writes value at key.
func (t *txn) putString(key, value string) {
	t.ops = append(t.ops, store.Op{Key: key, Value: []byte(value)})
}

// del deletes key.
func (t *txn) del(key string) { t.ops = append(t.ops, store.Op{Key: key, Delete: true}) }

// retryConflicts runs attempt until it returns anything but
// store.ErrConflict, at most txnAttempts times, or until ctx is done. Each
// attempt re-reads what it relies on, so a retry re-validates against the
// newer state.
//
// The writers of this process take turns (s.writeMu), so they never
// conflict with each other: many concurrent writes that touch one key,
// such as distributions created in parallel with one certificate (whose
// user list each updates), all succeed. A store shared by several
// processes can still report conflicts; those are retried after a short,
// growing, randomised pause so that the contenders spread out.
func (s *Service) retryConflicts(ctx context.Context, attempt func() error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	pause := time.Millisecond
	for i := range txnAttempts {
		if i > 0 {
			t := time.NewTimer(pause/2 + rand.N(pause))
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			pause = min(2*pause, 100*time.Millisecond)
		} else if err := ctx.Err(); err != nil {
			return err
		}
		if err := attempt(); !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return errContention
}

// wrapInternal returns err unchanged if it is meant for the client (a
// *portico.Error), and otherwise wraps it with the failed operation.
func wrapInternal(op string, err error) error {
	if _, ok := errors.AsType[*portico.Error](err); ok {
		return err
	}
	return fmt.Errorf("control: %s: %w", op, err)
}

// isResourceID reports whether id has the shape of a CloudFront
// distribution or invalidation ID: upper-case letters and digits. Anything
// else cannot name a stored object, and is kept out of store keys.
func isResourceID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func errNoSuchDistribution() *portico.Error {
	return portico.Errorf(portico.ErrNoSuchDistribution, "The specified distribution does not exist.")
}

func errDistributionAlreadyExists() *portico.Error {
	return portico.Errorf(portico.ErrDistributionAlreadyExists,
		"The caller reference that you are using to create a distribution is associated with another distribution.")
}

func errIfMatchMissing() *portico.Error {
	return portico.Errorf(portico.ErrInvalidIfMatchVersion,
		"The If-Match version is missing or not valid for the resource: send the ETag of the distribution's current configuration.")
}

func errPreconditionFailed() *portico.Error {
	return portico.Errorf(portico.ErrPreconditionFailed,
		"The precondition given in one or more of the request-header fields evaluated to false: the If-Match version is not the distribution's current ETag.")
}
