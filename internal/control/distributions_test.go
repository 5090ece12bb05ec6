package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/deploy"
	"github.com/portico-edge/portico/internal/store"
	"github.com/portico-edge/portico/internal/store/boltstore"
	"github.com/portico-edge/portico/internal/testpki"
)

// distEnv is a Service over a real bbolt store and deploy tracker.
type distEnv struct {
	svc     *Service
	store   store.Store
	tracker *deploy.Tracker
}

func newDistEnv(t *testing.T) *distEnv {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "portico.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tracker := &deploy.Tracker{}
	return &distEnv{
		svc: &Service{
			Store:      st,
			Progress:   tracker,
			EdgeDomain: "portico.test",
			AccountID:  "123456789012",
			Region:     "us-east-1",
		},
		store:   st,
		tracker: tracker,
	}
}

// deploy makes the edge report the store's current revision.
func (e *distEnv) deploy(t *testing.T) {
	t.Helper()
	rev, err := e.store.Txn(t.Context(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.tracker.Applied("edge", rev)
}

// dump returns every stored key, value and revision.
func (e *distEnv) dump(t *testing.T) []store.KV {
	t.Helper()
	kvs, _, err := e.store.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	return kvs
}

// keys returns the stored keys with the prefix.
func (e *distEnv) keys(t *testing.T, prefix string) []string {
	t.Helper()
	kvs, _, err := e.store.List(t.Context(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range kvs {
		keys = append(keys, kv.Key)
	}
	return keys
}

// certUsers returns the decoded certuse entry of the certificate arn.
func (e *distEnv) certUsers(t *testing.T, arn string) []string {
	t.Helper()
	kv, err := e.store.Get(t.Context(), keyCertUse+certificateID(arn))
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

// importCert imports a fresh self-signed certificate for names, valid for
// a day either side of now, and returns its ARN.
func (e *distEnv) importCert(t *testing.T, names ...string) string {
	t.Helper()
	now := time.Now()
	l := testpki.SelfSigned(t, names, testpki.Validity(now.Add(-24*time.Hour), now.Add(24*time.Hour)))
	c, err := e.svc.ImportCertificate(t.Context(), "", l.CertPEM, nil, l.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c.ARN
}

// create creates a distribution and fails the test on error.
func (e *distEnv) create(t *testing.T, cfg *portico.DistributionConfig) *portico.Distribution {
	t.Helper()
	d, err := e.svc.CreateDistribution(t.Context(), cfg)
	if err != nil {
		t.Fatalf("CreateDistribution: %v", err)
	}
	return d
}

// seedConfig returns the configuration of the Auth0 custom domain guide:
// one https-only origin with the cname-api-key header, the aliases, the
// certificate certARN (or CloudFront's default one when ""), all seven
// methods and the legacy forwarded values.
func seedConfig(callerRef, certARN string, aliases ...string) *portico.DistributionConfig {
	cfg := &portico.DistributionConfig{
		CallerReference: callerRef,
		Origins: &portico.Origins{Quantity: 1, Items: []portico.Origin{{
			ID:         "auth0-origin",
			DomainName: "tenant-cd-abc123.edge.tenants.us.auth0.com",
			CustomHeaders: &portico.CustomHeaders{Quantity: 1, Items: []portico.OriginCustomHeader{
				{HeaderName: "cname-api-key", HeaderValue: "secret-api-key"},
			}},
			CustomOriginConfig: &portico.CustomOriginConfig{
				HTTPPort: 80, HTTPSPort: 443, OriginProtocolPolicy: "https-only",
				OriginSslProtocols: &portico.SslProtocols{Quantity: 1, Items: []string{"TLSv1.2"}},
			},
		}}},
		DefaultCacheBehavior: &portico.CacheBehavior{
			TargetOriginID:       "auth0-origin",
			ViewerProtocolPolicy: "redirect-to-https",
			AllowedMethods: &portico.AllowedMethods{
				Quantity:      7,
				Items:         []string{"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"},
				CachedMethods: &portico.Methods{Quantity: 2, Items: []string{"GET", "HEAD"}},
			},
			ForwardedValues: &portico.ForwardedValues{
				QueryString: portico.Ptr(true),
				Cookies:     &portico.CookiePreference{Forward: "all"},
				Headers: &portico.Names{Quantity: 6, Items: []string{
					"User-Agent", "Origin", "Referer", "Authorization", "Accept", "Accept-Language",
				}},
			},
			MinTTL:     portico.Ptr[int64](0),
			DefaultTTL: portico.Ptr[int64](86400),
			MaxTTL:     portico.Ptr[int64](31536000),
		},
		Comment:    portico.Ptr("Auth0 custom domain"),
		PriceClass: portico.Ptr("PriceClass_All"),
		Enabled:    portico.Ptr(true),
	}
	if len(aliases) > 0 {
		cfg.Aliases = &portico.Aliases{Quantity: len(aliases), Items: aliases}
	}
	if certARN != "" {
		cfg.ViewerCertificate = &portico.ViewerCertificate{
			ACMCertificateArn:      portico.Ptr(certARN),
			SSLSupportMethod:       portico.Ptr("sni-only"),
			MinimumProtocolVersion: portico.Ptr("TLSv1.2_2021"),
		}
	}
	return cfg
}

// wantError fails the test unless err is a *portico.Error with the code
// and status.
func wantError(t *testing.T, err error, code string, status int) {
	t.Helper()
	var pe *portico.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v, want a *portico.Error %s", err, code)
	}
	if pe.Code != code || pe.Status != status {
		t.Fatalf("error = %s (status %d), want %s (status %d)", pe, pe.Status, code, status)
	}
}

// wantUnchanged runs f, which must fail with code and status, and checks
// that the store is exactly as it was.
func (e *distEnv) wantUnchanged(t *testing.T, code string, status int, f func() error) {
	t.Helper()
	before := e.dump(t)
	wantError(t, f(), code, status)
	if after := e.dump(t); !reflect.DeepEqual(after, before) {
		t.Fatalf("a failed request changed the store:\nbefore %v\nafter  %v", before, after)
	}
}

var idShape = regexp.MustCompile(`^E[A-Z0-9]{13}$`)

func TestCreateDistribution(t *testing.T) {
	e := newDistEnv(t)
	now := time.Date(2026, 11, 25, 12, 0, 0, 123456789, time.UTC)
	e.svc.Now = func() time.Time { return now }
	arn := e.importCert(t, "login.example.com")
	cfg := seedConfig("ref-1", arn, "Login.Example.com")

	d := e.create(t, cfg)
	if !idShape.MatchString(d.ID) || !idShape.MatchString(d.ETag) || d.ID == d.ETag {
		t.Errorf("ID, ETag = %q, %q; want two different E + 13 upper-case letters or digits", d.ID, d.ETag)
	}
	if want := "arn:aws:cloudfront::123456789012:distribution/" + d.ID; d.ARN != want {
		t.Errorf("ARN = %q, want %q", d.ARN, want)
	}
	if want := strings.ToLower(d.ID) + ".portico.test"; d.DomainName != want {
		t.Errorf("DomainName = %q, want %q", d.DomainName, want)
	}
	if want := now.Truncate(time.Millisecond); !d.LastModifiedTime.Equal(want) {
		t.Errorf("LastModifiedTime = %v, want %v", d.LastModifiedTime, want)
	}
	if d.Status != portico.StatusInProgress || d.InProgressInvalidationBatches != 0 {
		t.Errorf("Status, InProgressInvalidationBatches = %q, %d; want InProgress, 0", d.Status, d.InProgressInvalidationBatches)
	}
	if !reflect.DeepEqual(d.Config, *cfg) {
		t.Errorf("Config = %+v, want %+v", d.Config, *cfg)
	}

	// The claims: alias (lower-cased), caller reference, certificate use.
	for key, want := range map[string]string{
		keyAlias + "login.example.com": d.ID,
		keyCallerRef + "ref-1":         d.ID,
	} {
		kv, err := e.store.Get(t.Context(), key)
		if err != nil || string(kv.Value) != want {
			t.Errorf("%s = %q, %v; want %q", key, kv.Value, err, want)
		}
	}
	if users := e.certUsers(t, arn); !slices.Equal(users, []string{d.ID}) {
		t.Errorf("certuse = %q, want [%s]", users, d.ID)
	}

	got, err := e.svc.GetDistribution(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != portico.StatusInProgress {
		t.Errorf("Status before the edge loaded it = %q, want InProgress", got.Status)
	}
	e.deploy(t)
	got, err = e.svc.GetDistribution(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != portico.StatusDeployed || got.ETag != d.ETag || got.Rev != d.Rev {
		t.Errorf("after deploy: Status %q ETag %q Rev %d; want Deployed, %q, %d (a status change keeps the ETag)",
			got.Status, got.ETag, got.Rev, d.ETag, d.Rev)
	}
	if !reflect.DeepEqual(got.Config, *cfg) || !got.LastModifiedTime.Equal(d.LastModifiedTime) {
		t.Errorf("stored distribution differs from the created one:\n got %+v\nwant %+v", got, d)
	}
}

func TestCreateDistributionWildcardAlias(t *testing.T) {
	e := newDistEnv(t)
	wild := e.importCert(t, "*.example.com")
	e.create(t, seedConfig("wild", wild, "*.example.com", "a.example.com"))
	if got := e.keys(t, keyAlias); !slices.Equal(got, []string{"alias/*.example.com", "alias/a.example.com"}) {
		t.Errorf("alias claims = %q", got)
	}
	// The wildcard is claimed as written: a specific name under it is a
	// different alias and may live in another distribution.
	e.create(t, seedConfig("specific", wild, "b.example.com"))
	e.wantUnchanged(t, portico.ErrCNAMEAlreadyExists, 409, func() error {
		_, err := e.svc.CreateDistribution(t.Context(), seedConfig("again", wild, "*.EXAMPLE.com"))
		return err
	})
}

func TestCreateDistributionErrors(t *testing.T) {
	e := newDistEnv(t)
	login := e.importCert(t, "login.example.com")
	www := e.importCert(t, "www.example.com")
	expired := e.importCert(t, "old.example.com") // used below at a time after its expiry
	e.create(t, seedConfig("taken-ref", login, "login.example.com"))

	tests := []struct {
		name   string
		cfg    *portico.DistributionConfig
		now    time.Time
		code   string
		status int
	}{
		{"invalid config", func() *portico.DistributionConfig {
			c := seedConfig("r1", "")
			c.Comment = nil
			return c
		}(), time.Time{}, portico.ErrInvalidArgument, 400},
		{"inconsistent quantities", func() *portico.DistributionConfig {
			c := seedConfig("r2", www, "www.example.com")
			c.Aliases.Quantity = 2
			return c
		}(), time.Time{}, portico.ErrInconsistentQuantities, 400},
		{"caller reference reused", seedConfig("taken-ref", www, "www.example.com"), time.Time{}, portico.ErrDistributionAlreadyExists, 409},
		{"alias taken", seedConfig("r3", login, "login.example.com"), time.Time{}, portico.ErrCNAMEAlreadyExists, 409},
		{"alias taken, other case", seedConfig("r4", login, "LOGIN.example.COM"), time.Time{}, portico.ErrCNAMEAlreadyExists, 409},
		{"certificate missing", seedConfig("r5", "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-4000-8000-000000000000", "www.example.com"), time.Time{}, portico.ErrInvalidViewerCertificate, 400},
		{"certificate in another region", seedConfig("r6", strings.Replace(www, "us-east-1", "eu-west-1", 1), "www.example.com"), time.Time{}, portico.ErrInvalidViewerCertificate, 400},
		{"certificate not an ARN", seedConfig("r7", "not-an-arn", "www.example.com"), time.Time{}, portico.ErrInvalidViewerCertificate, 400},
		{"alias not covered", seedConfig("r8", www, "www.example.com", "api.example.com"), time.Time{}, portico.ErrInvalidViewerCertificate, 400},
		{"wildcard alias needs a wildcard certificate", seedConfig("r9", www, "*.example.com"), time.Time{}, portico.ErrInvalidViewerCertificate, 400},
		{"alias without certificate", seedConfig("r10", "", "www.example.com"), time.Time{}, portico.ErrInvalidViewerCertificate, 400},
		{"certificate expired", seedConfig("r11", expired, "old.example.com"), time.Now().Add(48 * time.Hour), portico.ErrInvalidViewerCertificate, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.svc.Now = nil
			if !tt.now.IsZero() {
				e.svc.Now = func() time.Time { return tt.now }
			}
			e.wantUnchanged(t, tt.code, tt.status, func() error {
				_, err := e.svc.CreateDistribution(t.Context(), tt.cfg)
				return err
			})
		})
	}
	e.svc.Now = nil

	// The message names the alias that the certificate does not cover.
	_, err := e.svc.CreateDistribution(t.Context(), seedConfig("r12", www, "www.example.com", "api.example.com"))
	if err == nil || !strings.Contains(err.Error(), "api.example.com") {
		t.Errorf("error = %v, want it to name api.example.com", err)
	}
}

func TestConcurrentCreatesClaimOneAlias(t *testing.T) {
	e := newDistEnv(t)
	arn := e.importCert(t, "login.example.com")
	const n = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		won     []string
		refused int
	)
	for i := range n {
		wg.Go(func() {
			d, err := e.svc.CreateDistribution(context.Background(), seedConfig(fmt.Sprint("racer-", i), arn, "login.example.com"))
			mu.Lock()
			defer mu.Unlock()
			var pe *portico.Error
			switch {
			case err == nil:
				won = append(won, d.ID)
			case errors.As(err, &pe) && pe.Code == portico.ErrCNAMEAlreadyExists:
				refused++
			default:
				t.Errorf("CreateDistribution: %v", err)
			}
		})
	}
	wg.Wait()
	if len(won) != 1 || refused != n-1 {
		t.Fatalf("%d creates won and %d were refused; want exactly 1 and %d", len(won), refused, n-1)
	}
	if got := e.keys(t, keyDistribution); len(got) != 1 || got[0] != keyDistribution+won[0] {
		t.Errorf("stored distributions = %q, want only %s", got, won[0])
	}
	if users := e.certUsers(t, arn); !slices.Equal(users, won) {
		t.Errorf("certuse = %q, want %q", users, won)
	}
}

// TestConcurrentUpdateAndCreateClaimOneAlias races an update that adds an
// alias against creates that want it: exactly one writer gets it.
func TestConcurrentUpdateAndCreateClaimOneAlias(t *testing.T) {
	for round := range 5 {
		e := newDistEnv(t)
		arn := e.importCert(t, "login.example.com", "www.example.com")
		d := e.create(t, seedConfig("existing", arn, "login.example.com"))
		var wg sync.WaitGroup
		errs := make([]error, 3)
		wg.Go(func() {
			_, errs[0] = e.svc.UpdateDistribution(context.Background(), d.ID, d.ETag,
				seedConfig("existing", arn, "login.example.com", "www.example.com"))
		})
		for i := 1; i < len(errs); i++ {
			wg.Go(func() {
				_, errs[i] = e.svc.CreateDistribution(context.Background(), seedConfig(fmt.Sprint("new-", i), arn, "www.example.com"))
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			var pe *portico.Error
			switch {
			case err == nil:
				won++
			case !errors.As(err, &pe) || pe.Code != portico.ErrCNAMEAlreadyExists:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		kv, err := e.store.Get(t.Context(), keyAlias+"www.example.com")
		if won != 1 || err != nil {
			t.Fatalf("round %d: %d writers got the alias (claim: %v); want exactly 1", round, won, err)
		}
		// The claim names the distribution that lists the alias.
		var owner portico.Distribution
		if _, err := e.svc.getJSON(t.Context(), keyDistribution+string(kv.Value), &owner); err != nil ||
			!slices.Contains(owner.Config.AliasList(), "www.example.com") {
			t.Fatalf("round %d: alias claimed by %s, which does not list it (%v)", round, kv.Value, err)
		}
	}
}

func TestUpdateDistribution(t *testing.T) {
	e := newDistEnv(t)
	certA := e.importCert(t, "login.example.com")
	certB := e.importCert(t, "www.example.com", "shop.example.com")
	d := e.create(t, seedConfig("ref", certA, "login.example.com"))
	e.deploy(t)

	cfg := seedConfig("ref", certB, "www.example.com", "shop.example.com")
	cfg.Comment = portico.Ptr("moved")
	u, err := e.svc.UpdateDistribution(t.Context(), d.ID, d.ETag, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if u.ETag == d.ETag || !idShape.MatchString(u.ETag) {
		t.Errorf("ETag after update = %q, want a new one (was %q)", u.ETag, d.ETag)
	}
	if u.ID != d.ID || u.ARN != d.ARN || u.DomainName != d.DomainName {
		t.Errorf("update changed identity: %s %s %s", u.ID, u.ARN, u.DomainName)
	}
	if u.Status != portico.StatusInProgress {
		t.Errorf("Status after update = %q, want InProgress", u.Status)
	}
	if !reflect.DeepEqual(u.Config, *cfg) {
		t.Errorf("Config = %+v, want the whole new one %+v", u.Config, *cfg)
	}
	if got := e.keys(t, keyAlias); !slices.Equal(got, []string{"alias/shop.example.com", "alias/www.example.com"}) {
		t.Errorf("alias claims = %q: the old alias must be released and the new ones claimed", got)
	}
	if a, b := e.certUsers(t, certA), e.certUsers(t, certB); len(a) != 0 || !slices.Equal(b, []string{d.ID}) {
		t.Errorf("certuse: A = %q, B = %q; want the distribution moved from A to B", a, b)
	}
	// The released certificate may be deleted now; the used one may not.
	if err := e.svc.DeleteCertificate(t.Context(), certA); err != nil {
		t.Errorf("DeleteCertificate(unused) = %v", err)
	}
	wantError(t, e.svc.DeleteCertificate(t.Context(), certB), portico.ErrResourceInUse, portico.StatusOf(portico.ErrResourceInUse))

	// The freed alias is free for another distribution.
	certC := e.importCert(t, "login.example.com")
	e.create(t, seedConfig("other", certC, "login.example.com"))

	// Removing the certificate (and the aliases) clears its use.
	plain := seedConfig("ref", "")
	u2, err := e.svc.UpdateDistribution(t.Context(), d.ID, u.ETag, plain)
	if err != nil {
		t.Fatal(err)
	}
	if b := e.certUsers(t, certB); len(b) != 0 {
		t.Errorf("certuse of B after removing it = %q, want none", b)
	}
	if got := e.keys(t, keyAlias); !slices.Equal(got, []string{"alias/login.example.com"}) {
		t.Errorf("alias claims = %q, want only the other distribution's", got)
	}
	e.deploy(t)
	got, err := e.svc.GetDistribution(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != portico.StatusDeployed || got.ETag != u2.ETag {
		t.Errorf("after deploy: %q %q, want Deployed %q", got.Status, got.ETag, u2.ETag)
	}
}

func TestUpdateDistributionErrors(t *testing.T) {
	e := newDistEnv(t)
	login := e.importCert(t, "login.example.com", "www.example.com")
	d := e.create(t, seedConfig("ref", login, "login.example.com"))
	other := e.create(t, seedConfig("other", login, "www.example.com"))

	tests := []struct {
		name    string
		id      string
		ifMatch string
		cfg     *portico.DistributionConfig
		code    string
		status  int
	}{
		{"If-Match missing", d.ID, "", seedConfig("ref", login, "login.example.com"), portico.ErrInvalidIfMatchVersion, 400},
		{"If-Match stale", d.ID, other.ETag, seedConfig("ref", login, "login.example.com"), portico.ErrPreconditionFailed, 412},
		{"no such distribution", "ENOSUCHDIST000", d.ETag, seedConfig("ref", login, "login.example.com"), portico.ErrNoSuchDistribution, 404},
		{"ID of another shape", "../dist", d.ETag, seedConfig("ref", login, "login.example.com"), portico.ErrNoSuchDistribution, 404},
		{"caller reference changed", d.ID, d.ETag, seedConfig("changed", login, "login.example.com"), portico.ErrIllegalUpdate, 400},
		{"alias of another distribution", d.ID, d.ETag, seedConfig("ref", login, "login.example.com", "WWW.example.com"), portico.ErrCNAMEAlreadyExists, 409},
		{"alias not covered", d.ID, d.ETag, seedConfig("ref", login, "login.example.com", "api.example.com"), portico.ErrInvalidViewerCertificate, 400},
		{"invalid config", d.ID, d.ETag, func() *portico.DistributionConfig {
			c := seedConfig("ref", login, "login.example.com")
			c.DefaultCacheBehavior.ViewerProtocolPolicy = "sometimes"
			return c
		}(), portico.ErrInvalidArgument, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.wantUnchanged(t, tt.code, tt.status, func() error {
				_, err := e.svc.UpdateDistribution(t.Context(), tt.id, tt.ifMatch, tt.cfg)
				return err
			})
		})
	}
}

func TestDeleteDistribution(t *testing.T) {
	e := newDistEnv(t)
	arn := e.importCert(t, "login.example.com")
	d := e.create(t, seedConfig("ref", arn, "login.example.com"))
	if _, err := e.svc.CreateInvalidation(t.Context(), d.ID, "inv-1", []string{"/*"}); err != nil {
		t.Fatal(err)
	}
	e.deploy(t)

	steps := []struct {
		name    string
		id      string
		ifMatch func() string
		code    string
		status  int
	}{
		{"If-Match missing", d.ID, func() string { return "" }, portico.ErrInvalidIfMatchVersion, 400},
		{"If-Match stale", d.ID, func() string { return "EWRONGETAG0000" }, portico.ErrPreconditionFailed, 412},
		{"no such distribution", "ENOSUCHDIST000", func() string { return d.ETag }, portico.ErrNoSuchDistribution, 404},
		{"still enabled", d.ID, func() string { return d.ETag }, portico.ErrDistributionNotDisabled, 409},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			e.wantUnchanged(t, s.code, s.status, func() error {
				return e.svc.DeleteDistribution(t.Context(), s.id, s.ifMatch())
			})
		})
	}

	disabled := seedConfig("ref", arn, "login.example.com")
	disabled.Enabled = portico.Ptr(false)
	u, err := e.svc.UpdateDistribution(t.Context(), d.ID, d.ETag, disabled)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("disabled but not deployed", func(t *testing.T) {
		e.wantUnchanged(t, portico.ErrDistributionNotDisabled, 409, func() error {
			return e.svc.DeleteDistribution(t.Context(), d.ID, u.ETag)
		})
	})
	t.Run("old ETag after the update", func(t *testing.T) {
		e.wantUnchanged(t, portico.ErrPreconditionFailed, 412, func() error {
			return e.svc.DeleteDistribution(t.Context(), d.ID, d.ETag)
		})
	})

	e.deploy(t)
	if err := e.svc.DeleteDistribution(t.Context(), d.ID, u.ETag); err != nil {
		t.Fatalf("DeleteDistribution of a disabled, deployed distribution: %v", err)
	}
	if _, err := e.svc.GetDistribution(t.Context(), d.ID); err == nil {
		t.Fatal("GetDistribution after delete succeeded")
	} else {
		wantError(t, err, portico.ErrNoSuchDistribution, 404)
	}
	// Only the tombstone and the certificate remain.
	var keys []string
	for _, kv := range e.dump(t) {
		keys = append(keys, kv.Key)
	}
	want := []string{keyCertificate + certificateID(arn), keyTombstone + d.ID}
	if !slices.Equal(keys, want) {
		t.Errorf("stored keys after delete = %q, want %q", keys, want)
	}
	wantError(t, e.svc.DeleteDistribution(t.Context(), d.ID, u.ETag), portico.ErrNoSuchDistribution, 404)

	// Alias and caller reference are free again; the certificate is unused.
	again := e.create(t, seedConfig("ref", arn, "login.example.com"))
	if again.ID == d.ID || again.DomainName == d.DomainName {
		t.Errorf("a deleted ID or domain name was reused: %s %s", again.ID, again.DomainName)
	}
}

func TestDeleteDistributionFreesCertificate(t *testing.T) {
	e := newDistEnv(t)
	arn := e.importCert(t, "login.example.com")
	cfg := seedConfig("ref", arn, "login.example.com")
	cfg.Enabled = portico.Ptr(false)
	d := e.create(t, cfg)
	wantError(t, e.svc.DeleteCertificate(t.Context(), arn), portico.ErrResourceInUse, portico.StatusOf(portico.ErrResourceInUse))
	e.deploy(t)
	if err := e.svc.DeleteDistribution(t.Context(), d.ID, d.ETag); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteCertificate(t.Context(), arn); err != nil {
		t.Errorf("DeleteCertificate after its only distribution was deleted: %v", err)
	}
}

func TestListDistributions(t *testing.T) {
	e := newDistEnv(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, e.create(t, seedConfig(fmt.Sprint("ref-", i), "")).ID)
	}
	slices.Sort(ids)
	e.deploy(t)
	extra := e.create(t, seedConfig("late", "")) // InProgress
	ids = append(ids, extra.ID)
	slices.Sort(ids)

	tests := []struct {
		marker    string
		maxItems  int
		want      []string
		next      string
		truncated bool
	}{
		{"", 0, ids, "", false},
		{"", 100, ids, "", false},
		{"", 2, ids[:2], ids[1], true},
		{ids[1], 2, ids[2:4], ids[3], true},
		{ids[3], 2, ids[4:], "", false},
		{ids[5], 2, nil, "", false},
		{"E", 1, ids[:1], ids[0], true},
		{"ZZZ", 10, nil, "", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.marker, tt.maxItems), func(t *testing.T) {
			page, next, truncated, err := e.svc.ListDistributions(t.Context(), tt.marker, tt.maxItems)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range page {
				got = append(got, d.ID)
				want := portico.StatusDeployed
				if d.ID == extra.ID {
					want = portico.StatusInProgress
				}
				if d.Status != want {
					t.Errorf("%s: Status = %q, want %q", d.ID, d.Status, want)
				}
			}
			if !slices.Equal(got, tt.want) || next != tt.next || truncated != tt.truncated {
				t.Errorf("got %q next %q truncated %v; want %q next %q truncated %v", got, next, truncated, tt.want, tt.next, tt.truncated)
			}
		})
	}
}

// watchedProgress is the real tracker, reporting when a reader starts
// waiting on it.
type watchedProgress struct {
	*deploy.Tracker
	waiting chan struct{}
}

func (p watchedProgress) Changed() <-chan struct{} {
	select {
	case p.waiting <- struct{}{}:
	default:
	}
	return p.Tracker.Changed()
}

func TestGetDistributionWaitsForDeploy(t *testing.T) {
	e := newDistEnv(t)
	progress := watchedProgress{Tracker: e.tracker, waiting: make(chan struct{}, 1)}
	e.svc.Progress = progress
	e.svc.DeployWait = time.Minute

	// waits checks that get, started while the edge lags, waits for the
	// edge and then reports want.
	waits := func(t *testing.T, get func() (string, error), want string) {
		t.Helper()
		select {
		case <-progress.waiting: // left over from an earlier wait
		default:
		}
		type result struct {
			status string
			err    error
		}
		done := make(chan result, 1)
		go func() {
			status, err := get()
			done <- result{status, err}
		}()
		select {
		case <-progress.waiting:
		case r := <-done:
			t.Fatalf("returned %q, %v without waiting for the edge", r.status, r.err)
		}
		e.deploy(t)
		if r := <-done; r.err != nil || r.status != want {
			t.Errorf("got %q, %v; want %s once the edge caught up", r.status, r.err, want)
		}
	}

	d := e.create(t, seedConfig("ref", ""))
	waits(t, func() (string, error) {
		d, err := e.svc.GetDistribution(context.Background(), d.ID)
		if err != nil {
			return "", err
		}
		return d.Status, nil
	}, portico.StatusDeployed)

	inv, err := e.svc.CreateInvalidation(t.Context(), d.ID, "r", []string{"/*"})
	if err != nil {
		t.Fatal(err)
	}
	waits(t, func() (string, error) {
		inv, err := e.svc.GetInvalidation(context.Background(), d.ID, inv.ID)
		if err != nil {
			return "", err
		}
		return inv.Status, nil
	}, portico.StatusCompleted)
}
