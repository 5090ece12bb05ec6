package acmapi

import (
	"context"
	"fmt"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/control"
)

// tagInput is ACM's Tag as a request carries it.
type tagInput struct {
	Key, Value *string
}

// tagOutput is ACM's Tag as ListTagsForCertificate returns it.
type tagOutput struct {
	Key   string
	Value string
}

type certificateTagsInput struct {
	CertificateArn *string
	Tags           []tagInput
}

type listTagsForCertificateOutput struct {
	Tags []tagOutput
}

// tagsOf checks the Keys of tags, which ACM's model requires, and
// returns them as the control plane takes them. The tags' contents are
// the control plane's to check.
func tagsOf(member string, in []tagInput) ([]control.Tag, error) {
	var v validation
	tags := make([]control.Tag, len(in))
	for i, t := range in {
		v.required(fmt.Sprintf("%s.%d.member.key", member, i+1), t.Key != nil)
		if t.Key != nil {
			tags[i].Key = *t.Key
		}
		if t.Value != nil {
			tags[i].Value = *t.Value
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return tags, nil
}

// decodeCertificateTags decodes the input of AddTagsToCertificate and
// RemoveTagsFromCertificate: a required ARN and at least one tag.
func decodeCertificateTags(payload []byte) (string, []tagInput, error) {
	var in certificateTagsInput
	if err := decodeInput(payload, &in); err != nil {
		return "", nil, err
	}
	var v validation
	v.required("certificateArn", in.CertificateArn != nil)
	v.required("tags", in.Tags != nil)
	if in.Tags != nil && len(in.Tags) == 0 {
		v.add("Value '[]' at 'tags' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if err := v.err(); err != nil {
		return "", nil, err
	}
	return *in.CertificateArn, in.Tags, nil
}

// addTagsToCertificate adds tags, replacing the values of keys the
// certificate already has.
func (h *Handler) addTagsToCertificate(ctx context.Context, payload []byte) (any, error) {
	arn, in, err := decodeCertificateTags(payload)
	if err != nil {
		return nil, err
	}
	tags, err := tagsOf("tags", in)
	if err != nil {
		return nil, err
	}
	if err := h.Service.AddTagsToCertificate(ctx, arn, tags); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// removeTagsFromCertificate removes tags: by key, and by value too when
// the request gives one.
func (h *Handler) removeTagsFromCertificate(ctx context.Context, payload []byte) (any, error) {
	arn, in, err := decodeCertificateTags(payload)
	if err != nil {
		return nil, err
	}
	if _, err := tagsOf("tags", in); err != nil {
		return nil, err
	}
	tags := make([]control.RemoveTag, len(in))
	for i, t := range in {
		tags[i] = control.RemoveTag{Key: *t.Key, Value: t.Value}
	}
	if err := h.Service.RemoveTagsFromCertificate(ctx, arn, tags); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// listTagsForCertificate returns the certificate's tags, sorted by key.
func (h *Handler) listTagsForCertificate(ctx context.Context, payload []byte) (any, error) {
	arn, err := decodeARN(payload)
	if err != nil {
		return nil, err
	}
	tags, err := h.Service.ListTagsForCertificate(ctx, arn)
	if err != nil {
		return nil, err
	}
	out := listTagsForCertificateOutput{Tags: make([]tagOutput, len(tags))}
	for i, t := range tags {
		out.Tags[i] = tagOutput{Key: t.Key, Value: t.Value}
	}
	return out, nil
}

// importWithTags carries out ImportCertificate for a request with Tags:
// only a new certificate may be tagged on import, as in ACM.
func (h *Handler) importWithTags(ctx context.Context, arn string, cert, chain, key []byte, in []tagInput) (*portico.Certificate, error) {
	if arn != "" {
		return nil, portico.Errorf(portico.ErrACMValidation, "Tags cannot be applied when re-importing a certificate: use AddTagsToCertificate.")
	}
	tags, err := tagsOf("tags", in)
	if err != nil {
		return nil, err
	}
	return h.Service.ImportCertificateWithTags(ctx, cert, chain, key, tags)
}
