package cfapi

import (
	"net/http"
	"reflect"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/control"
)

// Request documents of the tagging operations.
var (
	distributionConfigWithTagsSchema = schemaOf("DistributionConfigWithTags", reflect.TypeFor[distributionConfigWithTags]())
	tagsSchema                       = schemaOf("Tags", reflect.TypeFor[tagsXML]())
	tagKeysSchema                    = schemaOf("TagKeys", reflect.TypeFor[tagKeysXML]())
)

// distributionConfigWithTags is the body of CreateDistributionWithTags.
type distributionConfigWithTags struct {
	DistributionConfig portico.DistributionConfig `xml:"DistributionConfig"`
	Tags               tagsXML                    `xml:"Tags"`
}

// tagsXML is CloudFront's Tags: the body of TagResource and the response
// of ListTagsForResource.
type tagsXML struct {
	Items []tagXML `xml:"Items>Tag"`
}

type tagXML struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

// tagKeysXML is CloudFront's TagKeys, the body of UntagResource.
type tagKeysXML struct {
	Items []string `xml:"Items>Key"`
}

func (x tagsXML) tags() []control.Tag {
	tags := make([]control.Tag, len(x.Items))
	for i, t := range x.Items {
		tags[i] = control.Tag{Key: t.Key, Value: t.Value}
	}
	return tags
}

func newTagsXML(tags []control.Tag) *tagsXML {
	x := &tagsXML{Items: make([]tagXML, len(tags))}
	for i, t := range tags {
		x.Items[i] = tagXML{Key: t.Key, Value: t.Value}
	}
	return x
}

// tagRoutes returns the routes of the tagging operations.
func (h *Handler) tagRoutes() []route {
	return []route{
		{http.MethodPost, Prefix + "tagging", h.tagging},
		{http.MethodGet, Prefix + "tagging", h.listTagsForResource},
	}
}

// createDistributionWithTags serves CreateDistributionWithTags
// (POST distribution?WithTags): the response is CreateDistribution's.
func (h *Handler) createDistributionWithTags(w http.ResponseWriter, r *http.Request, body []byte) error {
	in := new(distributionConfigWithTags)
	if err := decodeDocument(body, distributionConfigWithTagsSchema, in); err != nil {
		return err
	}
	d, err := h.Service.CreateDistributionWithTags(r.Context(), &in.DistributionConfig, in.Tags.tags())
	if err != nil {
		return err
	}
	w.Header().Set("Location", location(r, "distribution/"+d.ID))
	w.Header().Set("ETag", d.ETag)
	return writeXML(w, http.StatusCreated, "Distribution", newDistributionXML(d))
}

// tagging serves TagResource (?Operation=Tag) and UntagResource
// (?Operation=Untag), both answered 204.
func (h *Handler) tagging(w http.ResponseWriter, r *http.Request, body []byte) error {
	q := r.URL.Query()
	arn := q.Get("Resource")
	switch op := q.Get("Operation"); op {
	case "Tag":
		var in tagsXML
		if err := decodeDocument(body, tagsSchema, &in); err != nil {
			return err
		}
		if err := h.Service.TagResource(r.Context(), arn, in.tags()); err != nil {
			return err
		}
	case "Untag":
		var in tagKeysXML
		if err := decodeDocument(body, tagKeysSchema, &in); err != nil {
			return err
		}
		if err := h.Service.UntagResource(r.Context(), arn, in.Items); err != nil {
			return err
		}
	default:
		return portico.Errorf(portico.ErrInvalidArgument, "The Operation parameter must be Tag or Untag, not %q.", shortText([]byte(op)))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listTagsForResource serves ListTagsForResource.
func (h *Handler) listTagsForResource(w http.ResponseWriter, r *http.Request, _ []byte) error {
	tags, err := h.Service.ListTagsForResource(r.Context(), r.URL.Query().Get("Resource"))
	if err != nil {
		return err
	}
	return writeXML(w, http.StatusOK, "Tags", newTagsXML(tags))
}
