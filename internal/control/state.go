package control

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/store"
)

// State returns the whole stored configuration at one revision, for the
// data plane to compile. Distributions, certificates, invalidations and
// custom policies are listed in key order.
//
// Objects that have not changed since the previous call are not decoded
// again (see stateCache), so the values State returns share their nested
// slices and pointers with earlier results: callers must treat them as
// read-only.
func (s *Service) State(ctx context.Context) (*portico.State, error) {
	// One listing of the whole store keeps every part at the same revision.
	kvs, rev, err := s.Store.List(ctx, "")
	if err != nil {
		return nil, err
	}
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	prev, next := s.state.objs, make(map[string]decoded, len(s.state.objs))
	st := &portico.State{Rev: rev}
	for _, kv := range kvs {
		var err error
		switch {
		case strings.HasPrefix(kv.Key, keyDistribution):
			err = appendCached(kv, prev, next, &st.Distributions, func(d *portico.Distribution) { d.Rev = kv.ModRev })
		case strings.HasPrefix(kv.Key, keyCertificate):
			err = appendCached(kv, prev, next, &st.Certificates, nil)
		case strings.HasPrefix(kv.Key, keyCachePolicy):
			err = appendCached(kv, prev, next, &st.CachePolicies, nil)
		case strings.HasPrefix(kv.Key, keyOriginPolicy):
			err = appendCached(kv, prev, next, &st.OriginRequestPolicies, nil)
		case strings.HasPrefix(kv.Key, keyHeadersPolicy):
			err = appendCached(kv, prev, next, &st.ResponseHeadersPolicies, nil)
		case strings.HasPrefix(kv.Key, keyInvalidation):
			err = appendCached(kv, prev, next, &st.Invalidations, func(inv *portico.Invalidation) { inv.Rev = kv.CreateRev })
		}
		if err != nil {
			return nil, err
		}
	}
	s.state.objs = next
	return st, nil
}

// stateCache keeps what State decoded, by store key, so that the next call
// decodes only the objects written since. The edge compiles the whole
// configuration on every revision; with 10,000 distributions stored,
// decoding them all each time would be most of the time a change takes to
// deploy.
type stateCache struct {
	mu   sync.Mutex
	objs map[string]decoded
}

// decoded is an object as State decoded it from the value of its key at
// modRev (after fix, if any, was applied).
type decoded struct {
	modRev int64
	value  any
}

// appendCached appends the object stored in kv to list: the one decoded by
// the previous State call if kv has not been written since, or else kv's
// value decoded and passed to fix. It records the object in next.
func appendCached[T any](kv store.KV, prev, next map[string]decoded, list *[]T, fix func(*T)) error {
	if d, ok := prev[kv.Key]; ok && d.modRev == kv.ModRev {
		if v, ok := d.value.(T); ok {
			next[kv.Key] = d
			*list = append(*list, v)
			return nil
		}
	}
	var v T
	if err := decode(kv, &v); err != nil {
		return err
	}
	if fix != nil {
		fix(&v)
	}
	next[kv.Key] = decoded{modRev: kv.ModRev, value: v}
	*list = append(*list, v)
	return nil
}

// Watch reports new store revisions; see store.Store.Watch.
func (s *Service) Watch(ctx context.Context, afterRev int64) <-chan int64 {
	return s.Store.Watch(ctx, afterRev)
}

func decode(kv store.KV, v any) error {
	if err := json.Unmarshal(kv.Value, v); err != nil {
		return fmt.Errorf("control: decoding %s: %w", kv.Key, err)
	}
	return nil
}

// certificateID returns the certificate ID of an ACM certificate ARN
// (arn:aws:acm:<region>:<account>:certificate/<id>), or "" if arn is not
// one.
func certificateID(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "acm" {
		return ""
	}
	id, ok := strings.CutPrefix(parts[5], "certificate/")
	if !ok || id == "" || strings.ContainsAny(id, "/") {
		return ""
	}
	return id
}

// certificate returns the stored certificate with the given ARN and its
// KV (for compare-and-swap), or store.ErrNotFound.
func (s *Service) certificate(ctx context.Context, arn string) (*portico.Certificate, store.KV, error) {
	id := certificateID(arn)
	if id == "" {
		return nil, store.KV{}, store.ErrNotFound
	}
	var c portico.Certificate
	kv, err := s.getJSON(ctx, keyCertificate+id, &c)
	if err != nil {
		return nil, kv, err
	}
	return &c, kv, nil
}
