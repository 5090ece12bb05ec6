package control

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/store"
)

// State returns the whole stored configuration at one revision, for the
// data plane to compile. Distributions, certificates, invalidations and
// custom policies are listed in key order.
func (s *Service) State(ctx context.Context) (*portico.State, error) {
	// One listing of the whole store keeps every part at the same revision.
	kvs, rev, err := s.Store.List(ctx, "")
	if err != nil {
		return nil, err
	}
	st := &portico.State{Rev: rev}
	for _, kv := range kvs {
		var err error
		switch {
		case strings.HasPrefix(kv.Key, keyDistribution):
			var d portico.Distribution
			if err := decode(kv, &d); err != nil {
				return nil, err
			}
			d.Rev = kv.ModRev
			st.Distributions = append(st.Distributions, d)
		case strings.HasPrefix(kv.Key, keyCertificate):
			err = appendDecoded(kv, &st.Certificates)
		case strings.HasPrefix(kv.Key, keyCachePolicy):
			err = appendDecoded(kv, &st.CachePolicies)
		case strings.HasPrefix(kv.Key, keyOriginPolicy):
			err = appendDecoded(kv, &st.OriginRequestPolicies)
		case strings.HasPrefix(kv.Key, keyHeadersPolicy):
			err = appendDecoded(kv, &st.ResponseHeadersPolicies)
		case strings.HasPrefix(kv.Key, keyInvalidation):
			var inv portico.Invalidation
			if err := decode(kv, &inv); err != nil {
				return nil, err
			}
			inv.Rev = kv.CreateRev
			st.Invalidations = append(st.Invalidations, inv)
		}
		if err != nil {
			return nil, err
		}
	}
	return st, nil
}

// appendDecoded decodes kv and appends it to list.
func appendDecoded[T any](kv store.KV, list *[]T) error {
	var v T
	if err := decode(kv, &v); err != nil {
		return err
	}
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
