package control

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/store"
)

// policyKind describes one kind of policy (cache, origin request or
// response headers) to the operations they share. C is its configuration
// type.
type policyKind[C any] struct {
	noun   string // "cache policy", for messages and logs
	prefix string // store key prefix, also the kind's part of its name claims
	// arnType is the kind's resource type in ARNs: "cache-policy".
	arnType string

	// CloudFront's error codes for the kind.
	noSuch, exists, inUse, tooMany, tooManyDistributions string
	// limit is how many custom policies of the kind may exist.
	limit int

	managed  func() []portico.Policy[C]
	validate func(*C) error
	name     func(*C) string
}

func cachePolicies() *policyKind[portico.CachePolicyConfig] {
	return &policyKind[portico.CachePolicyConfig]{
		noun: "cache policy", arnType: "cache-policy", prefix: keyCachePolicy,
		noSuch: portico.ErrNoSuchCachePolicy, exists: portico.ErrCachePolicyAlreadyExists, inUse: portico.ErrCachePolicyInUse,
		tooMany: portico.ErrTooManyCachePolicies, tooManyDistributions: portico.ErrTooManyDistributionsAssociatedToCachePolicy,
		limit:    portico.MaxCachePolicies,
		managed:  portico.ManagedCachePolicies,
		validate: (*portico.CachePolicyConfig).Validate,
		name:     func(c *portico.CachePolicyConfig) string { return c.Name },
	}
}

func originRequestPolicies() *policyKind[portico.OriginRequestPolicyConfig] {
	return &policyKind[portico.OriginRequestPolicyConfig]{
		noun: "origin request policy", arnType: "origin-request-policy", prefix: keyOriginPolicy,
		noSuch: portico.ErrNoSuchOriginRequestPolicy, exists: portico.ErrOriginRequestPolicyAlreadyExists, inUse: portico.ErrOriginRequestPolicyInUse,
		tooMany: portico.ErrTooManyOriginRequestPolicies, tooManyDistributions: portico.ErrTooManyDistributionsAssociatedToOriginRequestPolicy,
		limit:    portico.MaxOriginRequestPolicies,
		managed:  portico.ManagedOriginRequestPolicies,
		validate: (*portico.OriginRequestPolicyConfig).Validate,
		name:     func(c *portico.OriginRequestPolicyConfig) string { return c.Name },
	}
}

func responseHeadersPolicies() *policyKind[portico.ResponseHeadersPolicyConfig] {
	return &policyKind[portico.ResponseHeadersPolicyConfig]{
		noun: "response headers policy", arnType: "response-headers-policy", prefix: keyHeadersPolicy,
		noSuch: portico.ErrNoSuchResponseHeadersPolicy, exists: portico.ErrResponseHeadersPolicyAlreadyExists, inUse: portico.ErrResponseHeadersPolicyInUse,
		tooMany: portico.ErrTooManyResponseHeadersPolicies, tooManyDistributions: portico.ErrTooManyDistributionsAssociatedToResponseHeadersPolicy,
		limit:    portico.MaxResponseHeadersPolicies,
		managed:  portico.ManagedResponseHeadersPolicies,
		validate: (*portico.ResponseHeadersPolicyConfig).Validate,
		name:     func(c *portico.ResponseHeadersPolicyConfig) string { return c.Name },
	}
}

// CreateCachePolicy validates cfg and stores it as a new cache policy with
// a new ID and ETag. Its name must not be used by another cache policy,
// managed ones included.
func (s *Service) CreateCachePolicy(ctx context.Context, cfg *portico.CachePolicyConfig) (*portico.CachePolicy, error) {
	return createPolicy(ctx, s, cachePolicies(), cfg)
}

// GetCachePolicy returns the cache policy with the given ID, managed or
// custom.
func (s *Service) GetCachePolicy(ctx context.Context, id string) (*portico.CachePolicy, error) {
	p, _, err := readPolicy(ctx, s, cachePolicies(), id)
	return p, err
}

// UpdateCachePolicy replaces the whole configuration of the custom cache
// policy with the given ID, whose current ETag ifMatch must be. Managed
// policies cannot be changed. The distributions that use the policy serve
// the new configuration once the edges load it.
func (s *Service) UpdateCachePolicy(ctx context.Context, id, ifMatch string, cfg *portico.CachePolicyConfig) (*portico.CachePolicy, error) {
	return updatePolicy(ctx, s, cachePolicies(), id, ifMatch, cfg)
}

// DeleteCachePolicy deletes the custom cache policy with the given ID,
// whose current ETag ifMatch must be. A policy that a cache behaviour uses
// cannot be deleted (CachePolicyInUse), nor can a managed one.
func (s *Service) DeleteCachePolicy(ctx context.Context, id, ifMatch string) error {
	return deletePolicy(ctx, s, cachePolicies(), id, ifMatch)
}

// ListCachePolicies returns up to maxItems cache policies (DefaultMaxItems
// if maxItems is not positive) of the given type ("managed", "custom", or
// "" for both), managed first, each in ID order, starting after the policy
// whose ID is marker. When more follow, next is the marker of the next
// page.
func (s *Service) ListCachePolicies(ctx context.Context, typ, marker string, maxItems int) (page []*portico.CachePolicy, next string, err error) {
	return listPolicies(ctx, s, cachePolicies(), typ, marker, maxItems)
}

// CreateOriginRequestPolicy is CreateCachePolicy for origin request
// policies.
func (s *Service) CreateOriginRequestPolicy(ctx context.Context, cfg *portico.OriginRequestPolicyConfig) (*portico.OriginRequestPolicy, error) {
	return createPolicy(ctx, s, originRequestPolicies(), cfg)
}

// GetOriginRequestPolicy is GetCachePolicy for origin request policies.
func (s *Service) GetOriginRequestPolicy(ctx context.Context, id string) (*portico.OriginRequestPolicy, error) {
	p, _, err := readPolicy(ctx, s, originRequestPolicies(), id)
	return p, err
}

// UpdateOriginRequestPolicy is UpdateCachePolicy for origin request
// policies.
func (s *Service) UpdateOriginRequestPolicy(ctx context.Context, id, ifMatch string, cfg *portico.OriginRequestPolicyConfig) (*portico.OriginRequestPolicy, error) {
	return updatePolicy(ctx, s, originRequestPolicies(), id, ifMatch, cfg)
}

// DeleteOriginRequestPolicy is DeleteCachePolicy for origin request
// policies.
func (s *Service) DeleteOriginRequestPolicy(ctx context.Context, id, ifMatch string) error {
	return deletePolicy(ctx, s, originRequestPolicies(), id, ifMatch)
}

// ListOriginRequestPolicies is ListCachePolicies for origin request
// policies.
func (s *Service) ListOriginRequestPolicies(ctx context.Context, typ, marker string, maxItems int) (page []*portico.OriginRequestPolicy, next string, err error) {
	return listPolicies(ctx, s, originRequestPolicies(), typ, marker, maxItems)
}

// CreateResponseHeadersPolicy is CreateCachePolicy for response headers
// policies.
func (s *Service) CreateResponseHeadersPolicy(ctx context.Context, cfg *portico.ResponseHeadersPolicyConfig) (*portico.ResponseHeadersPolicy, error) {
	return createPolicy(ctx, s, responseHeadersPolicies(), cfg)
}

// GetResponseHeadersPolicy is GetCachePolicy for response headers policies.
func (s *Service) GetResponseHeadersPolicy(ctx context.Context, id string) (*portico.ResponseHeadersPolicy, error) {
	p, _, err := readPolicy(ctx, s, responseHeadersPolicies(), id)
	return p, err
}

// UpdateResponseHeadersPolicy is UpdateCachePolicy for response headers
// policies.
func (s *Service) UpdateResponseHeadersPolicy(ctx context.Context, id, ifMatch string, cfg *portico.ResponseHeadersPolicyConfig) (*portico.ResponseHeadersPolicy, error) {
	return updatePolicy(ctx, s, responseHeadersPolicies(), id, ifMatch, cfg)
}

// DeleteResponseHeadersPolicy is DeleteCachePolicy for response headers
// policies.
func (s *Service) DeleteResponseHeadersPolicy(ctx context.Context, id, ifMatch string) error {
	return deletePolicy(ctx, s, responseHeadersPolicies(), id, ifMatch)
}

// ListResponseHeadersPolicies is ListCachePolicies for response headers
// policies.
func (s *Service) ListResponseHeadersPolicies(ctx context.Context, typ, marker string, maxItems int) (page []*portico.ResponseHeadersPolicy, next string, err error) {
	return listPolicies(ctx, s, responseHeadersPolicies(), typ, marker, maxItems)
}

// createPolicy stores cfg as a new policy of kind k, claiming its name in
// the same transaction.
//
// The limit on custom policies is checked against the policies stored when
// the request is read; two concurrent creations may together pass it by
// one, as with CreateInvalidation's limits.
func createPolicy[C any](ctx context.Context, s *Service, k *policyKind[C], cfg *C) (*portico.Policy[C], error) {
	if err := k.validate(cfg); err != nil {
		return nil, err
	}
	name := k.name(cfg)
	if k.managedNamed(name) {
		return nil, k.errExists(name)
	}
	var p *portico.Policy[C]
	err := s.retryConflicts(ctx, func() error {
		var t txn
		nameKey := keyPolicyName + k.prefix + name
		if _, err := s.Store.Get(ctx, nameKey); err == nil {
			return k.errExists(name)
		} else if !isNotFound(err) {
			return fmt.Errorf("reading %s name claim: %w", k.noun, err)
		}
		t.require(nameKey, 0)
		kvs, _, err := s.Store.List(ctx, k.prefix)
		if err != nil {
			return fmt.Errorf("listing %s: %w", k.noun, err)
		}
		if len(kvs) >= k.limit {
			return portico.Errorf(k.tooMany, "You have reached the maximum number of %d custom %s objects.", k.limit, k.noun)
		}
		id := newUUID()
		t.require(k.prefix+id, 0)
		p = &portico.Policy[C]{
			ID:               id,
			ETag:             newID("E"),
			LastModifiedTime: s.now().Truncate(time.Millisecond),
			Config:           *cfg,
		}
		t.put(k.prefix+id, p)
		t.putString(nameKey, id)
		_, err = s.Store.Txn(ctx, t.conds, t.ops)
		return err
	})
	if err != nil {
		return nil, wrapInternal("creating "+k.noun, err)
	}
	s.logger().InfoContext(ctx, k.noun+" created", "id", p.ID, "name", name)
	return p, nil
}

// readPolicy returns the policy of kind k with the given ID, and the KV it
// is stored in (zero for a managed policy); k's NoSuch error if there is
// none.
func readPolicy[C any](ctx context.Context, s *Service, k *policyKind[C], id string) (*portico.Policy[C], store.KV, error) {
	if p, ok := portico.FindManaged(k.managed(), id); ok {
		return &p, store.KV{}, nil
	}
	if !isPolicyID(id) {
		return nil, store.KV{}, k.errNoSuch(id)
	}
	p := new(portico.Policy[C])
	kv, err := s.getJSON(ctx, k.prefix+id, p)
	if isNotFound(err) {
		return nil, kv, k.errNoSuch(id)
	}
	if err != nil {
		return nil, kv, fmt.Errorf("control: reading %s %s: %w", k.noun, id, err)
	}
	return p, kv, nil
}

// updatePolicy replaces a custom policy's configuration, moving its name
// claim if the name changes.
func updatePolicy[C any](ctx context.Context, s *Service, k *policyKind[C], id, ifMatch string, cfg *C) (*portico.Policy[C], error) {
	if _, ok := portico.FindManaged(k.managed(), id); ok {
		return nil, portico.Errorf(portico.ErrIllegalUpdate, "The %s %s is managed by AWS and cannot be updated.", k.noun, id)
	}
	if ifMatch == "" {
		return nil, errPolicyIfMatchMissing(k.noun)
	}
	if err := k.validate(cfg); err != nil {
		return nil, err
	}
	name := k.name(cfg)
	var p *portico.Policy[C]
	err := s.retryConflicts(ctx, func() error {
		old, kv, err := readPolicy(ctx, s, k, id)
		if err != nil {
			return err
		}
		if ifMatch != old.ETag {
			return errPolicyPreconditionFailed(k.noun)
		}
		var t txn
		t.require(kv.Key, kv.ModRev)
		if oldName := k.name(&old.Config); oldName != name {
			if k.managedNamed(name) {
				return k.errExists(name)
			}
			nameKey := keyPolicyName + k.prefix + name
			if _, err := s.Store.Get(ctx, nameKey); err == nil {
				return k.errExists(name)
			} else if !isNotFound(err) {
				return fmt.Errorf("reading %s name claim: %w", k.noun, err)
			}
			t.require(nameKey, 0)
			t.putString(nameKey, id)
			t.del(keyPolicyName + k.prefix + oldName)
		}
		p = old
		p.Config = *cfg
		p.ETag = newID("E")
		p.LastModifiedTime = s.now().Truncate(time.Millisecond)
		t.put(kv.Key, p)
		_, err = s.Store.Txn(ctx, t.conds, t.ops)
		return err
	})
	if err != nil {
		return nil, wrapInternal("updating "+k.noun+" "+id, err)
	}
	s.logger().InfoContext(ctx, k.noun+" updated", "id", id, "name", name)
	return p, nil
}

// deletePolicy deletes a custom policy that no distribution uses, with its
// name claim.
func deletePolicy[C any](ctx context.Context, s *Service, k *policyKind[C], id, ifMatch string) error {
	if _, ok := portico.FindManaged(k.managed(), id); ok {
		return portico.Errorf(portico.ErrIllegalDelete, "The %s %s is managed by AWS and cannot be deleted.", k.noun, id)
	}
	if ifMatch == "" {
		return errPolicyIfMatchMissing(k.noun)
	}
	err := s.retryConflicts(ctx, func() error {
		p, kv, err := readPolicy(ctx, s, k, id)
		if err != nil {
			return err
		}
		if ifMatch != p.ETag {
			return errPolicyPreconditionFailed(k.noun)
		}
		useKV, users, err := s.policyUsers(ctx, id)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return portico.Errorf(k.inUse, "Cannot delete the %s because it is attached to one or more cache behaviors, in distributions %s.", k.noun, strings.Join(users, ", "))
		}
		var t txn
		t.require(kv.Key, kv.ModRev)
		t.require(useKV.Key, useKV.ModRev)
		t.del(kv.Key)
		t.del(keyPolicyName + k.prefix + k.name(&p.Config))
		t.del(useKV.Key)
		t.del(keyTags + s.cloudFrontARN(k.arnType, id))
		_, err = s.Store.Txn(ctx, t.conds, t.ops)
		return err
	})
	if err != nil {
		return wrapInternal("deleting "+k.noun+" "+id, err)
	}
	s.logger().InfoContext(ctx, k.noun+" deleted", "id", id)
	return nil
}

// listPolicies pages through the managed and custom policies of kind k.
func listPolicies[C any](ctx context.Context, s *Service, k *policyKind[C], typ, marker string, maxItems int) ([]*portico.Policy[C], string, error) {
	if typ != "" && typ != portico.PolicyTypeManaged && typ != portico.PolicyTypeCustom {
		return nil, "", portico.Errorf(portico.ErrInvalidArgument, "The parameter Type must be %s or %s, not %q.", portico.PolicyTypeManaged, portico.PolicyTypeCustom, typ)
	}
	if maxItems <= 0 {
		maxItems = DefaultMaxItems
	}
	var all []*portico.Policy[C]
	if typ != portico.PolicyTypeCustom {
		for _, p := range k.managed() {
			all = append(all, &p)
		}
	}
	if typ != portico.PolicyTypeManaged {
		kvs, _, err := s.Store.List(ctx, k.prefix)
		if err != nil {
			return nil, "", fmt.Errorf("control: listing %s: %w", k.noun, err)
		}
		for _, kv := range kvs {
			p := new(portico.Policy[C])
			if err := decode(kv, p); err != nil {
				return nil, "", err
			}
			all = append(all, p)
		}
	}
	start := 0
	if marker != "" {
		i := slices.IndexFunc(all, func(p *portico.Policy[C]) bool { return p.ID == marker })
		if i < 0 {
			return nil, "", portico.Errorf(k.noSuch, "The Marker %q names no %s in this listing.", marker, k.noun)
		}
		start = i + 1
	}
	end := min(start+maxItems, len(all))
	page := all[start:end]
	if end < len(all) {
		return page, page[len(page)-1].ID, nil
	}
	return page, "", nil
}

// managedNamed reports whether a managed policy of the kind is named name.
func (k *policyKind[C]) managedNamed(name string) bool {
	return slices.ContainsFunc(k.managed(), func(p portico.Policy[C]) bool { return k.name(&p.Config) == name })
}

func (k *policyKind[C]) errNoSuch(id string) *portico.Error {
	return portico.Errorf(k.noSuch, "The %s %s does not exist.", k.noun, id)
}

func (k *policyKind[C]) errExists(name string) *portico.Error {
	return portico.Errorf(k.exists, "A %s with the name %s already exists.", k.noun, name)
}

func errPolicyIfMatchMissing(noun string) *portico.Error {
	return portico.Errorf(portico.ErrInvalidIfMatchVersion,
		"The If-Match version is missing or not valid for the resource: send the ETag of the %s's current configuration.", noun)
}

func errPolicyPreconditionFailed(noun string) *portico.Error {
	return portico.Errorf(portico.ErrPreconditionFailed,
		"The precondition given in one or more of the request-header fields evaluated to false: the If-Match version is not the %s's current ETag.", noun)
}

// policyUsers returns the IDs of the distributions that use the policy with
// the given ID, with the KV that records them (ModRev 0 when none does).
func (s *Service) policyUsers(ctx context.Context, id string) (store.KV, []string, error) {
	var users []string
	kv, err := s.getJSON(ctx, keyPolicyUse+id, &users)
	if isNotFound(err) {
		return store.KV{Key: keyPolicyUse + id}, nil, nil
	}
	if err != nil {
		return kv, nil, fmt.Errorf("control: reading policy use: %w", err)
	}
	return kv, users, nil
}

// policyRef is a policy that a cache behaviour names.
type policyRef struct {
	id        string
	prefix    string // the kind's store key prefix
	noSuch    string // the kind's NoSuch… code
	noun      string
	tooMany   string // the kind's TooManyDistributionsAssociatedTo… code
	isManaged bool
}

// policyRefs returns the policies cfg's cache behaviours name, each once,
// in the order they are met.
func policyRefs(cfg *portico.DistributionConfig) []policyRef {
	if cfg == nil {
		return nil
	}
	cache, origin, headers := cachePolicies(), originRequestPolicies(), responseHeadersPolicies()
	var refs []policyRef
	add := func(id *string, prefix, noSuch, noun, tooMany string, managed bool) {
		if id == nil || *id == "" || slices.ContainsFunc(refs, func(r policyRef) bool { return r.id == *id && r.prefix == prefix }) {
			return
		}
		refs = append(refs, policyRef{id: *id, prefix: prefix, noSuch: noSuch, noun: noun, tooMany: tooMany, isManaged: managed})
	}
	for _, b := range cfg.Behaviors() {
		_, m := portico.FindManaged(cache.managed(), deref(b.CachePolicyID))
		add(b.CachePolicyID, cache.prefix, cache.noSuch, cache.noun, cache.tooManyDistributions, m)
		_, m = portico.FindManaged(origin.managed(), deref(b.OriginRequestPolicyID))
		add(b.OriginRequestPolicyID, origin.prefix, origin.noSuch, origin.noun, origin.tooManyDistributions, m)
		_, m = portico.FindManaged(headers.managed(), deref(b.ResponseHeadersPolicyID))
		add(b.ResponseHeadersPolicyID, headers.prefix, headers.noSuch, headers.noun, headers.tooManyDistributions, m)
	}
	return refs
}

// recordPolicyUse checks that every policy cfg's cache behaviours name
// exists (guarding each custom one with a condition, so that it cannot be
// deleted under the transaction), and adds to t what moves distribution
// distID from the use lists of the custom policies old names to those cfg
// names. Either configuration may be nil: none before a create, none after
// a delete. Each use list it changes is guarded by its revision, so that
// DeleteCachePolicy and its kin never miss a user.
func (s *Service) recordPolicyUse(ctx context.Context, t *txn, distID string, old, cfg *portico.DistributionConfig) error {
	if cfg != nil {
		for _, b := range cfg.Behaviors() {
			if deref(b.OriginRequestPolicyID) != "" && deref(b.CachePolicyID) == "" {
				return portico.Errorf(portico.ErrInvalidArgument, "To use an origin request policy, the cache behavior must also use a cache policy.")
			}
		}
	}
	newRefs := policyRefs(cfg)
	for _, r := range newRefs {
		if r.isManaged {
			continue
		}
		if !isPolicyID(r.id) {
			return portico.Errorf(r.noSuch, "The %s %s does not exist.", r.noun, r.id)
		}
		kv, err := s.Store.Get(ctx, r.prefix+r.id)
		if isNotFound(err) {
			return portico.Errorf(r.noSuch, "The %s %s does not exist.", r.noun, r.id)
		}
		if err != nil {
			return fmt.Errorf("reading %s %s: %w", r.noun, r.id, err)
		}
		t.require(kv.Key, kv.ModRev)
	}

	custom := func(refs []policyRef) []string {
		var ids []string
		for _, r := range refs {
			if !r.isManaged && isPolicyID(r.id) {
				ids = append(ids, r.id)
			}
		}
		return ids
	}
	before, after := custom(policyRefs(old)), custom(newRefs)
	for _, id := range after {
		if slices.Contains(before, id) {
			continue
		}
		kv, users, err := s.policyUsers(ctx, id)
		if err != nil {
			return err
		}
		if !slices.Contains(users, distID) && len(users) >= portico.MaxDistributionsPerPolicy {
			r := newRefs[slices.IndexFunc(newRefs, func(r policyRef) bool { return r.id == id })]
			return portico.Errorf(r.tooMany, "The %s %s is already associated with the maximum of %d distributions.", r.noun, id, portico.MaxDistributionsPerPolicy)
		}
		users = append(slices.DeleteFunc(users, func(u string) bool { return u == distID }), distID)
		slices.Sort(users)
		t.require(kv.Key, kv.ModRev)
		t.put(kv.Key, users)
	}
	for _, id := range before {
		if slices.Contains(after, id) {
			continue
		}
		kv, users, err := s.policyUsers(ctx, id)
		if err != nil {
			return err
		}
		t.require(kv.Key, kv.ModRev)
		users = slices.DeleteFunc(users, func(u string) bool { return u == distID })
		if len(users) == 0 {
			t.del(kv.Key)
		} else {
			t.put(kv.Key, users)
		}
	}
	return nil
}

// isPolicyID reports whether id has the shape of a policy ID: a lower-case
// RFC 4122 UUID. Anything else cannot name a stored policy, and is kept out
// of store keys.
func isPolicyID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
