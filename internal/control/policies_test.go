package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/store"
)

// policyOps are the operations and error codes of one kind of policy, so
// that one test covers all three kinds.
type policyOps[C any] struct {
	kind      string
	prefix    string
	managedID string // a managed policy of the kind
	// newConfig returns a valid configuration named name.
	newConfig func(name string) *C
	name      func(*C) string

	create func(context.Context, *C) (*portico.Policy[C], error)
	get    func(context.Context, string) (*portico.Policy[C], error)
	update func(context.Context, string, string, *C) (*portico.Policy[C], error)
	delete func(context.Context, string, string) error
	list   func(ctx context.Context, typ, marker string, maxItems int) ([]*portico.Policy[C], string, error)

	noSuch, exists, tooMany string
	managed                 []portico.Policy[C]
}

func cacheOps(s *Service) policyOps[portico.CachePolicyConfig] {
	return policyOps[portico.CachePolicyConfig]{
		kind: "cache", prefix: keyCachePolicy, managedID: portico.ManagedCachingOptimized,
		newConfig: func(name string) *portico.CachePolicyConfig {
			return &portico.CachePolicyConfig{
				Name: name, MinTTL: portico.Ptr[int64](0), DefaultTTL: portico.Ptr[int64](60), MaxTTL: portico.Ptr[int64](3600),
				ParametersInCacheKeyAndForwardedToOrigin: &portico.CacheKeyParameters{
					EnableAcceptEncodingGzip: portico.Ptr(true),
					HeadersConfig:            &portico.HeadersConfig{HeaderBehavior: "whitelist", Headers: &portico.Names{Quantity: 1, Items: []string{"Authorization"}}},
					CookiesConfig:            &portico.CookiesConfig{CookieBehavior: "all"},
					QueryStringsConfig:       &portico.QueryStringsConfig{QueryStringBehavior: "all"},
				},
			}
		},
		name:   func(c *portico.CachePolicyConfig) string { return c.Name },
		create: s.CreateCachePolicy, get: s.GetCachePolicy, update: s.UpdateCachePolicy, delete: s.DeleteCachePolicy, list: s.ListCachePolicies,
		noSuch: portico.ErrNoSuchCachePolicy, exists: portico.ErrCachePolicyAlreadyExists, tooMany: portico.ErrTooManyCachePolicies,
		managed: portico.ManagedCachePolicies(),
	}
}

func originOps(s *Service) policyOps[portico.OriginRequestPolicyConfig] {
	return policyOps[portico.OriginRequestPolicyConfig]{
		kind: "origin request", prefix: keyOriginPolicy, managedID: portico.ManagedAllViewer,
		newConfig: func(name string) *portico.OriginRequestPolicyConfig {
			return &portico.OriginRequestPolicyConfig{
				Name:               name,
				HeadersConfig:      &portico.HeadersConfig{HeaderBehavior: "allViewer"},
				CookiesConfig:      &portico.CookiesConfig{CookieBehavior: "all"},
				QueryStringsConfig: &portico.QueryStringsConfig{QueryStringBehavior: "all"},
			}
		},
		name:   func(c *portico.OriginRequestPolicyConfig) string { return c.Name },
		create: s.CreateOriginRequestPolicy, get: s.GetOriginRequestPolicy, update: s.UpdateOriginRequestPolicy, delete: s.DeleteOriginRequestPolicy, list: s.ListOriginRequestPolicies,
		noSuch: portico.ErrNoSuchOriginRequestPolicy, exists: portico.ErrOriginRequestPolicyAlreadyExists, tooMany: portico.ErrTooManyOriginRequestPolicies,
		managed: portico.ManagedOriginRequestPolicies(),
	}
}

func headersOps(s *Service) policyOps[portico.ResponseHeadersPolicyConfig] {
	return policyOps[portico.ResponseHeadersPolicyConfig]{
		kind: "response headers", prefix: keyHeadersPolicy, managedID: "67f7725c-6f97-4210-82d7-5512b31e9d03",
		newConfig: func(name string) *portico.ResponseHeadersPolicyConfig {
			return &portico.ResponseHeadersPolicyConfig{
				Name: name,
				SecurityHeadersConfig: &portico.SecurityHeadersConfig{
					StrictTransportSecurity: &portico.StrictTransportSecurity{Override: portico.Ptr(true), AccessControlMaxAgeSec: portico.Ptr(63072000)},
				},
			}
		},
		name:   func(c *portico.ResponseHeadersPolicyConfig) string { return c.Name },
		create: s.CreateResponseHeadersPolicy, get: s.GetResponseHeadersPolicy, update: s.UpdateResponseHeadersPolicy, delete: s.DeleteResponseHeadersPolicy, list: s.ListResponseHeadersPolicies,
		noSuch: portico.ErrNoSuchResponseHeadersPolicy, exists: portico.ErrResponseHeadersPolicyAlreadyExists, tooMany: portico.ErrTooManyResponseHeadersPolicies,
		managed: portico.ManagedResponseHeadersPolicies(),
	}
}

func TestPolicyLifecycle(t *testing.T) {
	t.Run("cache", func(t *testing.T) { e := newDistEnv(t); testPolicyLifecycle(t, e, cacheOps(e.svc)) })
	t.Run("origin request", func(t *testing.T) { e := newDistEnv(t); testPolicyLifecycle(t, e, originOps(e.svc)) })
	t.Run("response headers", func(t *testing.T) { e := newDistEnv(t); testPolicyLifecycle(t, e, headersOps(e.svc)) })
}

// testPolicyLifecycle creates, reads, updates, lists and deletes policies of
// one kind, with every error CloudFront's model gives those operations.
func testPolicyLifecycle[C any](t *testing.T, e *distEnv, ops policyOps[C]) {
	ctx := t.Context()
	now := time.Date(2026, 11, 25, 12, 0, 0, 123456789, time.UTC)
	e.svc.Now = func() time.Time { return now }

	p, err := ops.create(ctx, ops.newConfig("first"))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !isPolicyID(p.ID) || !idShape.MatchString(p.ETag) || p.Managed || !p.LastModifiedTime.Equal(now.Truncate(time.Millisecond)) {
		t.Errorf("created %+v: want a UUID, an ETag, the time to the millisecond", p)
	}
	if got, err := ops.get(ctx, p.ID); err != nil || !reflect.DeepEqual(got, p) {
		t.Errorf("get = %+v, %v; want %+v", got, err, p)
	}
	if got := e.keys(t, keyPolicyName); !reflect.DeepEqual(got, []string{keyPolicyName + ops.prefix + "first"}) {
		t.Errorf("name claims = %q", got)
	}
	managed, err := ops.get(ctx, ops.managedID)
	if err != nil || !managed.Managed {
		t.Fatalf("get managed = %+v, %v", managed, err)
	}

	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name   string
			code   string
			status int
			call   func() error
		}{
			{"name taken", ops.exists, http.StatusConflict, func() error { _, err := ops.create(ctx, ops.newConfig("first")); return err }},
			{"managed name taken", ops.exists, http.StatusConflict, func() error {
				_, err := ops.create(ctx, ops.newConfig(ops.name(&managed.Config)))
				return err
			}},
			{"invalid name", portico.ErrInvalidArgument, 400, func() error { _, err := ops.create(ctx, ops.newConfig("no spaces")); return err }},
			{"no such ID", ops.noSuch, http.StatusNotFound, func() error { _, err := ops.get(ctx, "00000000-0000-4000-8000-000000000000"); return err }},
			{"malformed ID", ops.noSuch, http.StatusNotFound, func() error { _, err := ops.get(ctx, "../dist/x"); return err }},
			{"update without If-Match", portico.ErrInvalidIfMatchVersion, 400, func() error {
				_, err := ops.update(ctx, p.ID, "", ops.newConfig("first"))
				return err
			}},
			{"update with a stale If-Match", portico.ErrPreconditionFailed, http.StatusPreconditionFailed, func() error {
				_, err := ops.update(ctx, p.ID, "ESTALEETAG0000", ops.newConfig("first"))
				return err
			}},
			{"update of no such policy", ops.noSuch, http.StatusNotFound, func() error {
				_, err := ops.update(ctx, "00000000-0000-4000-8000-000000000000", p.ETag, ops.newConfig("first"))
				return err
			}},
			{"update of a managed policy", portico.ErrIllegalUpdate, 400, func() error {
				_, err := ops.update(ctx, ops.managedID, managed.ETag, ops.newConfig("mine"))
				return err
			}},
			{"delete of a managed policy", portico.ErrIllegalDelete, 400, func() error { return ops.delete(ctx, ops.managedID, managed.ETag) }},
			{"delete without If-Match", portico.ErrInvalidIfMatchVersion, 400, func() error { return ops.delete(ctx, p.ID, "") }},
			{"delete with a stale If-Match", portico.ErrPreconditionFailed, http.StatusPreconditionFailed, func() error { return ops.delete(ctx, p.ID, "ESTALEETAG0000") }},
			{"list of an unknown type", portico.ErrInvalidArgument, 400, func() error { _, _, err := ops.list(ctx, "aws", "", 0); return err }},
			{"list after an unknown marker", ops.noSuch, http.StatusNotFound, func() error {
				_, _, err := ops.list(ctx, "", "00000000-0000-4000-8000-000000000000", 0)
				return err
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) { e.wantUnchanged(t, tt.code, tt.status, tt.call) })
		}
	})

	// A rename moves the name claim; the old name is free again.
	second, err := ops.create(ctx, ops.newConfig("second"))
	if err != nil {
		t.Fatal(err)
	}
	e.wantUnchanged(t, ops.exists, http.StatusConflict, func() error {
		_, err := ops.update(ctx, p.ID, p.ETag, ops.newConfig("second"))
		return err
	})
	renamed, err := ops.update(ctx, p.ID, p.ETag, ops.newConfig("renamed"))
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if renamed.ETag == p.ETag || renamed.ID != p.ID || ops.name(&renamed.Config) != "renamed" {
		t.Errorf("updated %+v", renamed)
	}
	want := []string{keyPolicyName + ops.prefix + "renamed", keyPolicyName + ops.prefix + "second"}
	if got := e.keys(t, keyPolicyName); !reflect.DeepEqual(got, want) {
		t.Errorf("name claims after rename = %q, want %q", got, want)
	}

	// Listing: managed first, then custom, each by ID; paged by marker.
	custom := []string{renamed.ID, second.ID}
	slices.Sort(custom)
	var managedIDs []string
	for _, m := range ops.managed {
		managedIDs = append(managedIDs, m.ID)
	}
	for _, tt := range []struct {
		typ  string
		want []string
	}{
		{"", append(slices.Clone(managedIDs), custom...)},
		{portico.PolicyTypeManaged, managedIDs},
		{portico.PolicyTypeCustom, custom},
	} {
		var got []string
		marker, pages := "", 0
		for {
			page, next, err := ops.list(ctx, tt.typ, marker, 2)
			if err != nil {
				t.Fatalf("list %q after %q: %v", tt.typ, marker, err)
			}
			pages++
			for _, p := range page {
				got = append(got, p.ID)
				if p.Managed != slices.Contains(managedIDs, p.ID) {
					t.Errorf("policy %s Managed = %v", p.ID, p.Managed)
				}
			}
			if next == "" {
				break
			}
			marker = next
		}
		if !reflect.DeepEqual(got, tt.want) || pages != (len(tt.want)+1)/2 {
			t.Errorf("list %q = %q in %d pages, want %q", tt.typ, got, pages, tt.want)
		}
	}

	if err := ops.delete(ctx, renamed.ID, renamed.ETag); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err = ops.get(ctx, renamed.ID)
	wantError(t, err, ops.noSuch, http.StatusNotFound)
	if _, err := ops.create(ctx, ops.newConfig("renamed")); err != nil {
		t.Errorf("the name of a deleted policy is not free: %v", err)
	}
}

func TestPolicyLimit(t *testing.T) {
	e := newDistEnv(t)
	ops := cacheOps(e.svc)
	for i := range portico.MaxCachePolicies {
		if _, err := ops.create(t.Context(), ops.newConfig(fmt.Sprint("p", i))); err != nil {
			t.Fatal(err)
		}
	}
	e.wantUnchanged(t, portico.ErrTooManyCachePolicies, 400, func() error {
		_, err := ops.create(t.Context(), ops.newConfig("one-too-many"))
		return err
	})
}

// policyUsers returns the decoded policyuse entry of the policy id.
func (e *distEnv) policyUsers(t *testing.T, id string) []string {
	t.Helper()
	kv, err := e.store.Get(t.Context(), keyPolicyUse+id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	if err := json.Unmarshal(kv.Value, &users); err != nil {
		t.Fatal(err)
	}
	return users
}

// withPolicies returns cfg with its default behaviour using the given
// policies instead of legacy settings.
func withPolicies(cfg *portico.DistributionConfig, cacheID, originID, headersID string) *portico.DistributionConfig {
	b := cfg.DefaultCacheBehavior
	b.ForwardedValues, b.MinTTL, b.DefaultTTL, b.MaxTTL = nil, nil, nil, nil
	b.CachePolicyID, b.OriginRequestPolicyID, b.ResponseHeadersPolicyID = nil, nil, nil
	for _, v := range []struct {
		id  string
		dst **string
	}{{cacheID, &b.CachePolicyID}, {originID, &b.OriginRequestPolicyID}, {headersID, &b.ResponseHeadersPolicyID}} {
		if v.id != "" {
			*v.dst = portico.Ptr(v.id)
		}
	}
	return cfg
}

// TestPolicyInUse: a policy a cache behaviour uses cannot be deleted
// (CloudFront API reference, DeleteCachePolicy: "You cannot delete a cache
// policy if it's attached to a cache behavior").
func TestPolicyInUse(t *testing.T) {
	e := newDistEnv(t)
	ctx := t.Context()
	cp, err := e.svc.CreateCachePolicy(ctx, cacheOps(e.svc).newConfig("auth0"))
	if err != nil {
		t.Fatal(err)
	}
	op, err := e.svc.CreateOriginRequestPolicy(ctx, originOps(e.svc).newConfig("auth0"))
	if err != nil {
		t.Fatal(err)
	}
	hp, err := e.svc.CreateResponseHeadersPolicy(ctx, headersOps(e.svc).newConfig("auth0"))
	if err != nil {
		t.Fatal(err)
	}

	cfg := withPolicies(seedConfig("ref-1", ""), cp.ID, op.ID, hp.ID)
	// An ordered behaviour naming the same cache policy and a managed one.
	ordered := *cfg.DefaultCacheBehavior
	ordered.PathPattern = portico.Ptr("/static/*")
	ordered.OriginRequestPolicyID, ordered.ResponseHeadersPolicyID = portico.Ptr(portico.ManagedAllViewer), nil
	cfg.CacheBehaviors = &portico.CacheBehaviors{Quantity: 1, Items: []portico.CacheBehavior{ordered}}
	d := e.create(t, cfg)
	for _, id := range []string{cp.ID, op.ID, hp.ID} {
		if got := e.policyUsers(t, id); !reflect.DeepEqual(got, []string{d.ID}) {
			t.Errorf("policyuse %s = %q, want [%s]", id, got, d.ID)
		}
	}
	if got := e.keys(t, keyPolicyUse); len(got) != 3 {
		t.Errorf("policyuse keys = %q: managed policies are not recorded", got)
	}

	e.wantUnchanged(t, portico.ErrCachePolicyInUse, http.StatusConflict, func() error { return e.svc.DeleteCachePolicy(ctx, cp.ID, cp.ETag) })
	e.wantUnchanged(t, portico.ErrOriginRequestPolicyInUse, http.StatusConflict, func() error { return e.svc.DeleteOriginRequestPolicy(ctx, op.ID, op.ETag) })
	e.wantUnchanged(t, portico.ErrResponseHeadersPolicyInUse, http.StatusConflict, func() error {
		return e.svc.DeleteResponseHeadersPolicy(ctx, hp.ID, hp.ETag)
	})

	// Updating the policy is allowed while it is in use.
	if _, err := e.svc.UpdateCachePolicy(ctx, cp.ID, cp.ETag, cacheOps(e.svc).newConfig("auth0")); err != nil {
		t.Errorf("updating a policy in use: %v", err)
	}

	// Switch the distribution to managed policies: the custom ones are free.
	d, err = e.svc.UpdateDistribution(ctx, d.ID, d.ETag, withPolicies(seedConfig("ref-1", ""), portico.ManagedCachingDisabled, portico.ManagedAllViewer, ""))
	if err != nil {
		t.Fatalf("UpdateDistribution: %v", err)
	}
	if got := e.keys(t, keyPolicyUse); len(got) != 0 {
		t.Errorf("policyuse keys after switching to managed policies = %q", got)
	}
	if err := e.svc.DeleteOriginRequestPolicy(ctx, op.ID, op.ETag); err != nil {
		t.Errorf("deleting a policy no longer in use: %v", err)
	}

	// Back to the custom cache policy; deleting the distribution frees it.
	d, err = e.svc.UpdateDistribution(ctx, d.ID, d.ETag, withPolicies(seedConfig("ref-1", ""), cp.ID, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	disabled := withPolicies(seedConfig("ref-1", ""), cp.ID, "", "")
	disabled.Enabled = portico.Ptr(false)
	if d, err = e.svc.UpdateDistribution(ctx, d.ID, d.ETag, disabled); err != nil {
		t.Fatal(err)
	}
	e.deploy(t)
	if err := e.svc.DeleteDistribution(ctx, d.ID, d.ETag); err != nil {
		t.Fatal(err)
	}
	if got := e.keys(t, keyPolicyUse); len(got) != 0 {
		t.Errorf("policyuse keys after deleting the distribution = %q", got)
	}
	cur, err := e.svc.GetCachePolicy(ctx, cp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteCachePolicy(ctx, cp.ID, cur.ETag); err != nil {
		t.Errorf("deleting the policy after its distribution: %v", err)
	}
}

// TestDistributionPolicyErrors: a behaviour must name policies that exist
// (CloudFront API reference, CreateDistribution: NoSuchCachePolicy and its
// kin), and an origin request policy needs a cache policy (DG
// controlling-origin-requests).
func TestDistributionPolicyErrors(t *testing.T) {
	e := newDistEnv(t)
	ctx := t.Context()
	cp, err := e.svc.CreateCachePolicy(ctx, cacheOps(e.svc).newConfig("c"))
	if err != nil {
		t.Fatal(err)
	}
	const unknown = "00000000-0000-4000-8000-000000000000"
	tests := []struct {
		name                 string
		cache, origin, heads string
		code                 string
		status               int
	}{
		{"unknown cache policy", unknown, "", "", portico.ErrNoSuchCachePolicy, http.StatusNotFound},
		{"malformed cache policy ID", "CachingOptimized", "", "", portico.ErrNoSuchCachePolicy, http.StatusNotFound},
		{"cache policy ID as an origin request policy", cp.ID, cp.ID, "", portico.ErrNoSuchOriginRequestPolicy, http.StatusNotFound},
		{"managed cache policy as an origin request policy", cp.ID, portico.ManagedCachingOptimized, "", portico.ErrNoSuchOriginRequestPolicy, http.StatusNotFound},
		{"unknown response headers policy", cp.ID, "", unknown, portico.ErrNoSuchResponseHeadersPolicy, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := withPolicies(seedConfig("ref-"+tt.name, ""), tt.cache, tt.origin, tt.heads)
			e.wantUnchanged(t, tt.code, tt.status, func() error { _, err := e.svc.CreateDistribution(ctx, cfg); return err })
		})
	}
	t.Run("origin request policy without a cache policy", func(t *testing.T) {
		cfg := seedConfig("ref-orp", "")
		cfg.DefaultCacheBehavior.OriginRequestPolicyID = portico.Ptr(portico.ManagedAllViewer)
		e.wantUnchanged(t, portico.ErrInvalidArgument, 400, func() error { _, err := e.svc.CreateDistribution(ctx, cfg); return err })
	})
	t.Run("update to an unknown policy", func(t *testing.T) {
		d := e.create(t, withPolicies(seedConfig("ref-upd", ""), cp.ID, "", ""))
		e.wantUnchanged(t, portico.ErrNoSuchCachePolicy, http.StatusNotFound, func() error {
			_, err := e.svc.UpdateDistribution(ctx, d.ID, d.ETag, withPolicies(seedConfig("ref-upd", ""), unknown, "", ""))
			return err
		})
	})
}

// TestConcurrentPolicyDeleteAndUse races a policy's deletion against a
// distribution that starts using it: either the distribution is created
// and the deletion fails with CachePolicyInUse, or the policy is deleted
// and the distribution fails with NoSuchCachePolicy, never both
// succeeding.
func TestConcurrentPolicyDeleteAndUse(t *testing.T) {
	e := newDistEnv(t)
	ctx := t.Context()
	for round := range 8 {
		cp, err := e.svc.CreateCachePolicy(ctx, cacheOps(e.svc).newConfig(fmt.Sprint("race", round)))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var createErr, deleteErr error
		wg.Go(func() {
			_, createErr = e.svc.CreateDistribution(ctx, withPolicies(seedConfig(fmt.Sprint("race-", round), ""), cp.ID, "", ""))
		})
		wg.Go(func() { deleteErr = e.svc.DeleteCachePolicy(ctx, cp.ID, cp.ETag) })
		wg.Wait()
		switch {
		case createErr == nil && deleteErr == nil:
			t.Fatalf("round %d: the distribution uses policy %s, which was deleted", round, cp.ID)
		case createErr == nil:
			wantError(t, deleteErr, portico.ErrCachePolicyInUse, http.StatusConflict)
			if _, err := e.svc.GetCachePolicy(ctx, cp.ID); err != nil {
				t.Fatalf("round %d: policy in use is gone: %v", round, err)
			}
		case deleteErr == nil:
			wantError(t, createErr, portico.ErrNoSuchCachePolicy, http.StatusNotFound)
		default:
			t.Fatalf("round %d: both failed: %v; %v", round, createErr, deleteErr)
		}
	}
}

// TestPolicyDistributionLimit: a custom policy serves at most 100
// distributions (DG cloudfront-limits, "Distributions associated with the
// same cache policy"); managed policies have no such limit.
func TestPolicyDistributionLimit(t *testing.T) {
	e := newDistEnv(t)
	ctx := t.Context()
	cp, err := e.svc.CreateCachePolicy(ctx, cacheOps(e.svc).newConfig("popular"))
	if err != nil {
		t.Fatal(err)
	}
	users := make([]string, portico.MaxDistributionsPerPolicy)
	for i := range users {
		users[i] = fmt.Sprintf("EOTHER%08d", i)
	}
	b, err := json.Marshal(users)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Txn(ctx, nil, []store.Op{{Key: keyPolicyUse + cp.ID, Value: b}}); err != nil {
		t.Fatal(err)
	}
	e.wantUnchanged(t, portico.ErrTooManyDistributionsAssociatedToCachePolicy, 400, func() error {
		_, err := e.svc.CreateDistribution(ctx, withPolicies(seedConfig("ref-101", ""), cp.ID, "", ""))
		return err
	})
	e.create(t, withPolicies(seedConfig("ref-managed", ""), portico.ManagedCachingOptimized, "", ""))
}

// TestStateHasCustomPolicies: the data plane gets the custom policies with
// the rest of the configuration, at the same revision.
func TestStateHasCustomPolicies(t *testing.T) {
	e := newDistEnv(t)
	ctx := t.Context()
	cp, err := e.svc.CreateCachePolicy(ctx, cacheOps(e.svc).newConfig("state"))
	if err != nil {
		t.Fatal(err)
	}
	op, err := e.svc.CreateOriginRequestPolicy(ctx, originOps(e.svc).newConfig("state"))
	if err != nil {
		t.Fatal(err)
	}
	hp, err := e.svc.CreateResponseHeadersPolicy(ctx, headersOps(e.svc).newConfig("state"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.svc.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.CachePolicies) != 1 || st.CachePolicies[0].ID != cp.ID ||
		len(st.OriginRequestPolicies) != 1 || st.OriginRequestPolicies[0].ID != op.ID ||
		len(st.ResponseHeadersPolicies) != 1 || st.ResponseHeadersPolicies[0].ID != hp.ID {
		t.Errorf("State policies = %d cache, %d origin request, %d response headers; want the three created",
			len(st.CachePolicies), len(st.OriginRequestPolicies), len(st.ResponseHeadersPolicies))
	}
}
