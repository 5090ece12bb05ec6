package control

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/store"
)

// Tag limits, the same in CloudFront and ACM.
const (
	// MaxTags is the most tags one resource may carry.
	MaxTags       = 50
	maxTagKey     = 128
	maxTagValue   = 256
	reservedTagNS = "aws:"
)

// Tag is a key-value pair attached to a distribution or certificate.
type Tag struct {
	Key   string
	Value string
}

// tagProblem is why a tag set was refused, before it is given the error
// code of the API that refused it.
type tagProblem struct {
	msg     string
	tooMany bool
}

// cloudFront renders p as CloudFront does: InvalidTagging for every kind.
func (p *tagProblem) cloudFront() *portico.Error {
	return portico.Errorf(portico.ErrInvalidTagging, "%s", p.msg)
}

// acm renders p as ACM does.
func (p *tagProblem) acm() *portico.Error {
	if p.tooMany {
		return portico.Errorf(portico.ErrACMTooManyTags, "%s", p.msg)
	}
	return portico.Errorf(portico.ErrACMInvalidTag, "%s", p.msg)
}

// checkTags applies AWS's rules to tags a request sets: keys of 1 to 128
// and values of up to 256 letters, digits, spaces and _.:/=+-@, no key
// in the reserved aws: namespace, and no key twice.
func checkTags(tags []Tag) *tagProblem {
	seen := make(map[string]bool, len(tags))
	for _, tag := range tags {
		if err := checkTagKey(tag.Key); err != nil {
			return err
		}
		if n := utf8.RuneCountInString(tag.Value); n > maxTagValue || !validTagText(tag.Value) {
			return &tagProblem{msg: fmt.Sprintf("The value of tag %q must be at most %d letters, digits, spaces or _.:/=+-@ characters.", tag.Key, maxTagValue)}
		}
		if seen[tag.Key] {
			return &tagProblem{msg: fmt.Sprintf("The tag key %q appears more than once.", tag.Key)}
		}
		seen[tag.Key] = true
	}
	return nil
}

// checkTagKey applies AWS's rules to one tag key.
func checkTagKey(key string) *tagProblem {
	n := utf8.RuneCountInString(key)
	if n < 1 || n > maxTagKey || !validTagText(key) {
		return &tagProblem{msg: fmt.Sprintf("The tag key %q must be 1 to %d letters, digits, spaces or _.:/=+-@ characters.", shortTagText(key), maxTagKey)}
	}
	if strings.HasPrefix(strings.ToLower(key), reservedTagNS) {
		return &tagProblem{msg: fmt.Sprintf("The tag key %q uses the reserved prefix aws:.", key)}
	}
	return nil
}

// validTagText reports whether s is valid UTF-8 holding only what AWS's
// tag pattern [\p{L}\p{Z}\p{N}_.:/=+\-@]* allows.
func validTagText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.In(r, unicode.Z) && !unicode.IsNumber(r) && !strings.ContainsRune("_.:/=+-@", r) {
			return false
		}
	}
	return true
}

// shortTagText cuts s to a length fit for an error message.
func shortTagText(s string) string {
	const n = 64
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}

// mergeTags returns old with tags added, replacing the values of keys it
// already has, sorted by key; or a problem if the result has more than
// MaxTags.
func mergeTags(old, tags []Tag) ([]Tag, *tagProblem) {
	out := slices.Clone(old)
	for _, tag := range tags {
		if i := slices.IndexFunc(out, func(t Tag) bool { return t.Key == tag.Key }); i >= 0 {
			out[i].Value = tag.Value
		} else {
			out = append(out, tag)
		}
	}
	if len(out) > MaxTags {
		return nil, &tagProblem{msg: fmt.Sprintf("A resource can have at most %d tags; this change would give it %d.", MaxTags, len(out)), tooMany: true}
	}
	sortTags(out)
	return out, nil
}

func sortTags(tags []Tag) {
	slices.SortFunc(tags, func(a, b Tag) int { return cmp.Compare(a.Key, b.Key) })
}

// putTags adds to t the first tags of the resource with the given ARN, if
// there are any.
func putTags(t *txn, arn string, tags []Tag) {
	if len(tags) == 0 {
		return
	}
	tags = slices.Clone(tags)
	sortTags(tags)
	t.require(keyTags+arn, 0)
	t.put(keyTags+arn, tags)
}

// readTags returns the tags of the resource with the given ARN and the
// KV that holds them (ModRev 0 when it has none).
func (s *Service) readTags(ctx context.Context, arn string) (store.KV, []Tag, error) {
	var tags []Tag
	kv, err := s.getJSON(ctx, keyTags+arn, &tags)
	if isNotFound(err) {
		return store.KV{Key: keyTags + arn}, []Tag{}, nil
	}
	if err != nil {
		return kv, nil, fmt.Errorf("control: reading tags of %s: %w", arn, err)
	}
	return kv, tags, nil
}

// changeTags replaces the tags of the resource stored at resourceKey (ARN
// arn) with change(current tags), in one transaction that requires the
// resource to be unchanged, so that tags never outlive their resource.
// missing is returned when the resource does not exist.
func (s *Service) changeTags(ctx context.Context, resourceKey, arn string, missing error, change func([]Tag) ([]Tag, error)) error {
	err := s.retryConflicts(ctx, func() error {
		res, err := s.Store.Get(ctx, resourceKey)
		if isNotFound(err) {
			return missing
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", arn, err)
		}
		kv, old, err := s.readTags(ctx, arn)
		if err != nil {
			return err
		}
		tags, err := change(old)
		if err != nil {
			return err
		}
		var t txn
		t.require(res.Key, res.ModRev)
		t.require(kv.Key, kv.ModRev)
		if len(tags) == 0 {
			if kv.ModRev == 0 {
				return nil // nothing to write
			}
			t.del(kv.Key)
		} else {
			t.put(kv.Key, tags)
		}
		_, err = s.Store.Txn(ctx, t.conds, t.ops)
		return err
	})
	if err != nil {
		return wrapInternal("changing tags of "+arn, err)
	}
	return nil
}

// listTags returns the tags of the resource stored at resourceKey, or
// missing if there is no such resource.
func (s *Service) listTags(ctx context.Context, resourceKey, arn string, missing error) ([]Tag, error) {
	if _, err := s.Store.Get(ctx, resourceKey); isNotFound(err) {
		return nil, missing
	} else if err != nil {
		return nil, fmt.Errorf("control: reading %s: %w", arn, err)
	}
	_, tags, err := s.readTags(ctx, arn)
	return tags, err
}

// removeKeys returns tags without those whose key is in keys.
func removeKeys(tags []Tag, keys []string) []Tag {
	return slices.DeleteFunc(slices.Clone(tags), func(t Tag) bool { return slices.Contains(keys, t.Key) })
}

// CloudFront.

// CreateDistributionWithTags is CreateDistribution that also tags the new
// distribution, in the same transaction. Tags that break CloudFront's
// rules are refused with InvalidTagging and nothing is created.
func (s *Service) CreateDistributionWithTags(ctx context.Context, cfg *portico.DistributionConfig, tags []Tag) (*portico.Distribution, error) {
	if p := checkCreateTags(tags); p != nil {
		return nil, p.cloudFront()
	}
	return s.createDistribution(ctx, cfg, tags)
}

// checkCreateTags checks the tags a new resource is created with.
func checkCreateTags(tags []Tag) *tagProblem {
	if p := checkTags(tags); p != nil {
		return p
	}
	if len(tags) > MaxTags {
		return &tagProblem{msg: fmt.Sprintf("A resource can have at most %d tags, not %d.", MaxTags, len(tags)), tooMany: true}
	}
	return nil
}

// TagResource adds tags to the CloudFront resource with the given ARN (a
// distribution or custom policy), replacing the values of keys it already has.
func (s *Service) TagResource(ctx context.Context, arn string, tags []Tag) error {
	key, err := s.cloudFrontResourceKey(arn)
	if err != nil {
		return err
	}
	if p := checkTags(tags); p != nil {
		return p.cloudFront()
	}
	err = s.changeTags(ctx, key, arn, errNoSuchResource(arn), func(old []Tag) ([]Tag, error) {
		merged, p := mergeTags(old, tags)
		if p != nil {
			return nil, p.cloudFront()
		}
		return merged, nil
	})
	if err == nil {
		s.logger().InfoContext(ctx, "resource tagged", "arn", arn, "tags", len(tags))
	}
	return err
}

// UntagResource removes the tags with the given keys from the CloudFront
// resource with the given ARN. Keys it does not have are ignored.
func (s *Service) UntagResource(ctx context.Context, arn string, keys []string) error {
	key, err := s.cloudFrontResourceKey(arn)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if p := checkTagKey(k); p != nil {
			return p.cloudFront()
		}
	}
	err = s.changeTags(ctx, key, arn, errNoSuchResource(arn), func(old []Tag) ([]Tag, error) {
		return removeKeys(old, keys), nil
	})
	if err == nil {
		s.logger().InfoContext(ctx, "resource untagged", "arn", arn, "keys", len(keys))
	}
	return err
}

// ListTagsForResource returns the tags of the CloudFront resource with the
// given ARN, sorted by key.
func (s *Service) ListTagsForResource(ctx context.Context, arn string) ([]Tag, error) {
	key, err := s.cloudFrontResourceKey(arn)
	if err != nil {
		return nil, err
	}
	return s.listTags(ctx, key, arn, errNoSuchResource(arn))
}

// cloudFrontResourceTypes maps the resource types of the CloudFront ARNs
// that can be tagged to the store key prefixes of their resources.
var cloudFrontResourceTypes = map[string]string{
	"distribution":            keyDistribution,
	"cache-policy":            keyCachePolicy,
	"origin-request-policy":   keyOriginPolicy,
	"response-headers-policy": keyHeadersPolicy,
}

// cloudFrontResourceKey returns the store key of the resource that a
// CloudFront ARN names (arn:aws:cloudfront::<account>:<type>/<ID>, where
// type is distribution or a custom policy's): InvalidArgument when arn is
// empty, NoSuchResource when it names nothing Portico could store.
func (s *Service) cloudFrontResourceKey(arn string) (string, error) {
	if arn == "" {
		return "", portico.Errorf(portico.ErrInvalidArgument, "The Resource parameter, the ARN of the resource to tag, is required.")
	}
	rest, ok := strings.CutPrefix(arn, "arn:aws:cloudfront::"+s.AccountID+":")
	typ, id, _ := strings.Cut(rest, "/")
	prefix := cloudFrontResourceTypes[typ]
	if !ok || prefix == "" || !isTaggableID(id) {
		return "", errNoSuchResource(arn)
	}
	return prefix + id, nil
}

// cloudFrontARN returns the ARN of the CloudFront resource of type typ
// ("distribution", "cache-policy", …) with the given ID.
func (s *Service) cloudFrontARN(typ, id string) string {
	return "arn:aws:cloudfront::" + s.AccountID + ":" + typ + "/" + id
}

// isTaggableID reports whether id has the shape of a distribution ID or a
// policy ID (a UUID): letters, digits and dashes. Anything else is kept out
// of store keys.
func isTaggableID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func errNoSuchResource(arn string) *portico.Error {
	return portico.Errorf(portico.ErrNoSuchResource, "The specified resource %s does not exist.", shortTagText(arn))
}

// ACM.

// ImportCertificateWithTags imports a new certificate as ImportCertificate
// does with arn "", and tags it in the same transaction. Tags that break
// ACM's rules are refused with InvalidTagException or
// TooManyTagsException and nothing is imported.
func (s *Service) ImportCertificateWithTags(ctx context.Context, certPEM, chainPEM, keyPEM []byte, tags []Tag) (*portico.Certificate, error) {
	if p := checkCreateTags(tags); p != nil {
		return nil, p.acm()
	}
	return s.importCertificate(ctx, "", certPEM, chainPEM, keyPEM, tags)
}

// AddTagsToCertificate adds tags to the certificate with the given ARN,
// replacing the values of keys it already has.
func (s *Service) AddTagsToCertificate(ctx context.Context, arn string, tags []Tag) error {
	id, err := parseCertificateARN(arn)
	if err != nil {
		return err
	}
	if p := checkTags(tags); p != nil {
		return p.acm()
	}
	err = s.changeCertificateTags(ctx, id, arn, func(old []Tag) ([]Tag, error) {
		merged, p := mergeTags(old, tags)
		if p != nil {
			return nil, p.acm()
		}
		return merged, nil
	})
	if err == nil {
		s.logger().InfoContext(ctx, "certificate tagged", "arn", arn, "tags", len(tags))
	}
	return err
}

// RemoveTagsFromCertificate removes tags from the certificate with the
// given ARN. As in ACM, a tag given with a Value is removed only if its
// value matches; one given with Value nil is removed whatever its value.
// Tags it does not have are ignored.
func (s *Service) RemoveTagsFromCertificate(ctx context.Context, arn string, tags []RemoveTag) error {
	id, err := parseCertificateARN(arn)
	if err != nil {
		return err
	}
	for _, tag := range tags {
		if p := checkTagKey(tag.Key); p != nil {
			return p.acm()
		}
	}
	err = s.changeCertificateTags(ctx, id, arn, func(old []Tag) ([]Tag, error) {
		return slices.DeleteFunc(slices.Clone(old), func(t Tag) bool {
			return slices.ContainsFunc(tags, func(r RemoveTag) bool {
				return r.Key == t.Key && (r.Value == nil || *r.Value == t.Value)
			})
		}), nil
	})
	if err == nil {
		s.logger().InfoContext(ctx, "certificate untagged", "arn", arn, "tags", len(tags))
	}
	return err
}

// RemoveTag names a tag to remove: by key, and by value too if Value is
// not nil.
type RemoveTag struct {
	Key   string
	Value *string
}

// ListTagsForCertificate returns the tags of the certificate with the
// given ARN, sorted by key.
func (s *Service) ListTagsForCertificate(ctx context.Context, arn string) ([]Tag, error) {
	if _, err := parseCertificateARN(arn); err != nil {
		return nil, err
	}
	if _, _, err := s.storedCertificate(ctx, arn); err != nil {
		return nil, err
	}
	_, tags, err := s.readTags(ctx, arn)
	return tags, err
}

// changeCertificateTags is changeTags for the certificate with the given
// ID and ARN. An ARN naming another region or account than the stored
// certificate's is not found, as in storedCertificate.
func (s *Service) changeCertificateTags(ctx context.Context, id, arn string, change func([]Tag) ([]Tag, error)) error {
	if _, _, err := s.storedCertificate(ctx, arn); err != nil {
		return err
	}
	missing := portico.Errorf(portico.ErrResourceNotFound, "Could not find certificate with ARN %s.", arn)
	return s.changeTags(ctx, keyCertificate+id, arn, missing, change)
}
