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

// maxCertificateARN is the longest certificate ARN ACM accepts.
const maxCertificateARN = 2048

// acmKeyAlgorithms are the key algorithms ACM accepts for an imported
// certificate, in ACM's names.
var acmKeyAlgorithms = []string{
	"RSA_1024", "RSA_2048", "RSA_3072", "RSA_4096",
	"EC_prime256v1", "EC_secp384r1", "EC_secp521r1",
}

// ImportCertificate validates a certificate, its chain and private key and
// stores them. With arn "" it imports a new certificate under a new ARN;
// otherwise it replaces the certificate with that ARN, keeping its ARN and
// CreatedAt, as ACM's re-import does. The certificate must be valid now and
// use a key algorithm ACM accepts.
//
// A certificate that distributions use may only be replaced by one that
// still covers every alias of those distributions: Portico is stricter than
// ACM here so that a re-import cannot break a live site.
//
// The returned Certificate includes the private key; callers must not
// expose it.
func (s *Service) ImportCertificate(ctx context.Context, arn string, certPEM, chainPEM, keyPEM []byte) (*portico.Certificate, error) {
	return s.importCertificate(ctx, arn, certPEM, chainPEM, keyPEM, nil)
}

// importCertificate is ImportCertificate, storing tags (already checked)
// with a new certificate.
func (s *Service) importCertificate(ctx context.Context, arn string, certPEM, chainPEM, keyPEM []byte, tags []Tag) (*portico.Certificate, error) {
	var id string
	if arn != "" {
		var err error
		if id, err = parseCertificateARN(arn); err != nil {
			return nil, err
		}
	}
	c, err := portico.ParseCertificate(certPEM, chainPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if err := checkImportable(c, now); err != nil {
		return nil, err
	}
	c.ImportedAt = now
	if arn == "" {
		id = newUUID()
		c.ARN = "arn:aws:acm:" + s.Region + ":" + s.AccountID + ":certificate/" + id
		c.CreatedAt = now
		t := txn{conds: []store.Cmp{{Key: keyCertificate + id}, {Key: keyCertUse + id}}}
		t.put(keyCertificate+id, c)
		putTags(&t, c.ARN, tags)
		if _, err := s.Store.Txn(ctx, t.conds, t.ops); err != nil {
			return nil, fmt.Errorf("control: importing certificate %s: %w", c.ARN, err)
		}
		s.logger().InfoContext(ctx, "certificate imported", "arn", c.ARN, "domain", c.DomainName)
		return c, nil
	}

	err = s.retryConflicts(ctx, func() error {
		old, kv, err := s.storedCertificate(ctx, arn)
		if err != nil {
			return err
		}
		useKV, users, err := s.certificateUsers(ctx, id)
		if err != nil {
			return err
		}
		conds := []store.Cmp{{Key: kv.Key, ModRev: kv.ModRev}, {Key: keyCertUse + id, ModRev: useKV.ModRev}}
		for _, distID := range users {
			distKV, err := s.checkCertCoverage(ctx, c, distID)
			if err != nil {
				return err
			}
			// The distribution's aliases must not change under the check.
			conds = append(conds, store.Cmp{Key: keyDistribution + distID, ModRev: distKV.ModRev})
		}
		c.ARN, c.CreatedAt = old.ARN, old.CreatedAt
		_, err = s.Store.Txn(ctx, conds, []store.Op{putJSON(kv.Key, c)})
		return err
	})
	if err != nil {
		return nil, wrapInternal("re-importing certificate "+arn, err)
	}
	s.logger().InfoContext(ctx, "certificate re-imported", "arn", c.ARN, "domain", c.DomainName)
	return c, nil
}

// GetCertificate returns the certificate with the given ARN. It includes
// the private key: callers must not expose it.
func (s *Service) GetCertificate(ctx context.Context, arn string) (*portico.Certificate, error) {
	if _, err := parseCertificateARN(arn); err != nil {
		return nil, err
	}
	c, _, err := s.storedCertificate(ctx, arn)
	return c, err
}

// ListCertificates returns every stored certificate in store key order.
// They include their private keys: callers must not expose them.
func (s *Service) ListCertificates(ctx context.Context) ([]*portico.Certificate, error) {
	kvs, _, err := s.Store.List(ctx, keyCertificate)
	if err != nil {
		return nil, fmt.Errorf("control: listing certificates: %w", err)
	}
	out := make([]*portico.Certificate, 0, len(kvs))
	for _, kv := range kvs {
		var c portico.Certificate
		if err := decode(kv, &c); err != nil {
			return nil, err
		}
		out = append(out, &c)
	}
	return out, nil
}

// DeleteCertificate deletes the certificate with the given ARN. A
// certificate that a distribution uses is refused with
// ResourceInUseException.
func (s *Service) DeleteCertificate(ctx context.Context, arn string) error {
	id, err := parseCertificateARN(arn)
	if err != nil {
		return err
	}
	err = s.retryConflicts(ctx, func() error {
		_, kv, err := s.storedCertificate(ctx, arn)
		if err != nil {
			return err
		}
		useKV, users, err := s.certificateUsers(ctx, id)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return portico.Errorf(portico.ErrResourceInUse, "Certificate %s is in use by %s.", arn, strings.Join(s.inUseARNs(users), ", "))
		}
		conds := []store.Cmp{{Key: kv.Key, ModRev: kv.ModRev}, {Key: keyCertUse + id, ModRev: useKV.ModRev}}
		ops := []store.Op{{Key: kv.Key, Delete: true}, {Key: keyCertUse + id, Delete: true}, {Key: keyTags + arn, Delete: true}}
		_, err = s.Store.Txn(ctx, conds, ops)
		return err
	})
	if err != nil {
		return wrapInternal("deleting certificate "+arn, err)
	}
	s.logger().InfoContext(ctx, "certificate deleted", "arn", arn)
	return nil
}

// CertificateInUseBy returns the ARNs of the distributions that use the
// certificate with the given ARN, sorted.
func (s *Service) CertificateInUseBy(ctx context.Context, arn string) ([]string, error) {
	id, err := parseCertificateARN(arn)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.storedCertificate(ctx, arn); err != nil {
		return nil, err
	}
	_, users, err := s.certificateUsers(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.inUseARNs(users), nil
}

// parseCertificateARN returns the certificate ID of an ACM certificate ARN,
// or an InvalidArnException.
func parseCertificateARN(arn string) (string, error) {
	if len(arn) > maxCertificateARN {
		return "", portico.Errorf(portico.ErrACMInvalidArn, "The certificate ARN is longer than %d characters.", maxCertificateARN)
	}
	id := certificateID(arn)
	if id == "" {
		return "", portico.Errorf(portico.ErrACMInvalidArn, "%q is not a valid certificate ARN: it must look like arn:aws:acm:<region>:<account>:certificate/<id>.", arn)
	}
	return id, nil
}

// storedCertificate returns the certificate with the given ARN and its KV,
// or a ResourceNotFoundException. An ARN naming another region or account
// than the stored certificate's is not found.
func (s *Service) storedCertificate(ctx context.Context, arn string) (*portico.Certificate, store.KV, error) {
	c, kv, err := s.certificate(ctx, arn)
	if isNotFound(err) || err == nil && c.ARN != arn {
		return nil, kv, portico.Errorf(portico.ErrResourceNotFound, "Could not find certificate with ARN %s.", arn)
	}
	if err != nil {
		return nil, kv, fmt.Errorf("control: reading certificate %s: %w", arn, err)
	}
	return c, kv, nil
}

// certificateUsers returns the IDs of the distributions that use the
// certificate with the given ID, with the KV that records them (ModRev 0
// when none ever did).
func (s *Service) certificateUsers(ctx context.Context, id string) (store.KV, []string, error) {
	var users []string
	kv, err := s.getJSON(ctx, keyCertUse+id, &users)
	if isNotFound(err) {
		return store.KV{Key: keyCertUse + id}, nil, nil
	}
	if err != nil {
		return kv, nil, fmt.Errorf("control: reading certificate use: %w", err)
	}
	return kv, users, nil
}

// checkCertCoverage returns a ValidationException unless c covers every alias
// of the distribution, and the distribution's KV otherwise. A distribution
// that no longer exists has nothing to cover; its KV has ModRev 0.
func (s *Service) checkCertCoverage(ctx context.Context, c *portico.Certificate, distID string) (store.KV, error) {
	var d portico.Distribution
	kv, err := s.getJSON(ctx, keyDistribution+distID, &d)
	if isNotFound(err) {
		return store.KV{Key: keyDistribution + distID}, nil
	}
	if err != nil {
		return kv, fmt.Errorf("control: reading distribution %s: %w", distID, err)
	}
	for _, alias := range d.Config.AliasList() {
		if !c.Covers(alias) {
			return kv, portico.Errorf(portico.ErrACMValidation,
				"The certificate does not cover %s, an alias of distribution %s that uses this certificate; import a certificate that covers every alias of the distributions that use it.",
				alias, distID)
		}
	}
	return kv, nil
}

// checkImportable applies ACM's import rules that ParseCertificate does not:
// the certificate must be valid at the time of import and use a key
// algorithm ACM supports.
func checkImportable(c *portico.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) {
		return portico.Errorf(portico.ErrACMValidation, "The certificate is not valid yet: its validity period starts at %s.", c.NotBefore.Format(time.RFC3339))
	}
	if now.After(c.NotAfter) {
		return portico.Errorf(portico.ErrACMValidation, "The certificate expired at %s.", c.NotAfter.Format(time.RFC3339))
	}
	if !slices.Contains(acmKeyAlgorithms, c.KeyAlgorithm) {
		return portico.Errorf(portico.ErrACMValidation, "The certificate's key algorithm %s is not supported; use one of %v.", c.KeyAlgorithm, acmKeyAlgorithms)
	}
	return nil
}

// inUseARNs returns the sorted ARNs of the distributions with the given
// IDs, as ACM's InUseBy lists them.
func (s *Service) inUseARNs(distIDs []string) []string {
	arns := make([]string, len(distIDs))
	for i, id := range distIDs {
		arns[i] = "arn:aws:cloudfront::" + s.AccountID + ":distribution/" + id
	}
	slices.Sort(arns)
	return slices.Compact(arns)
}
