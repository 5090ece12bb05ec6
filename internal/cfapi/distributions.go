package cfapi

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/portico-edge/portico"
)

// Page sizes of the List operations.
const (
	defaultMaxItems = 100
	maxMaxItems     = 1000
)

// createDistribution serves CreateDistribution, and
// CreateDistributionWithTags when the query has WithTags: 201 with
// Location and ETag.
func (h *Handler) createDistribution(w http.ResponseWriter, r *http.Request, body []byte) error {
	if r.URL.Query().Has("WithTags") {
		return h.createDistributionWithTags(w, r, body)
	}
	cfg, err := decodeDistributionConfig(body)
	if err != nil {
		return err
	}
	d, err := h.Service.CreateDistribution(r.Context(), cfg)
	if err != nil {
		return err
	}
	w.Header().Set("Location", location(r, "distribution/"+d.ID))
	w.Header().Set("ETag", d.ETag)
	return writeXML(w, http.StatusCreated, "Distribution", newDistributionXML(d))
}

// getDistribution serves GetDistribution.
func (h *Handler) getDistribution(w http.ResponseWriter, r *http.Request, _ []byte) error {
	d, err := h.Service.GetDistribution(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", d.ETag)
	return writeXML(w, http.StatusOK, "Distribution", newDistributionXML(d))
}

// getDistributionConfig serves GetDistributionConfig: the configuration
// exactly as it was last sent, with the ETag to update it with.
func (h *Handler) getDistributionConfig(w http.ResponseWriter, r *http.Request, _ []byte) error {
	d, err := h.Service.GetDistribution(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", d.ETag)
	return writeXML(w, http.StatusOK, "DistributionConfig", &d.Config)
}

// updateDistribution serves UpdateDistribution: the whole configuration is
// replaced, guarded by If-Match.
func (h *Handler) updateDistribution(w http.ResponseWriter, r *http.Request, body []byte) error {
	cfg, err := decodeDistributionConfig(body)
	if err != nil {
		return err
	}
	d, err := h.Service.UpdateDistribution(r.Context(), r.PathValue("id"), r.Header.Get("If-Match"), cfg)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", d.ETag)
	return writeXML(w, http.StatusOK, "Distribution", newDistributionXML(d))
}

// deleteDistribution serves DeleteDistribution: 204 once deleted.
func (h *Handler) deleteDistribution(w http.ResponseWriter, r *http.Request, _ []byte) error {
	if err := h.Service.DeleteDistribution(r.Context(), r.PathValue("id"), r.Header.Get("If-Match")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listDistributions serves ListDistributions, paged by Marker and
// MaxItems.
func (h *Handler) listDistributions(w http.ResponseWriter, r *http.Request, _ []byte) error {
	q := r.URL.Query()
	maxItems, err := parseMaxItems(q)
	if err != nil {
		return err
	}
	marker := q.Get("Marker")
	page, next, truncated, err := h.Service.ListDistributions(r.Context(), marker, maxItems)
	if err != nil {
		return err
	}
	list := distributionList{
		Marker:      marker,
		NextMarker:  next,
		MaxItems:    maxItems,
		IsTruncated: truncated,
		Quantity:    len(page),
	}
	for _, d := range page {
		list.Items = append(list.Items, newDistributionSummary(d))
	}
	return writeXML(w, http.StatusOK, "DistributionList", &list)
}

// parseMaxItems returns the MaxItems query parameter: a positive integer
// no greater than maxMaxItems, defaultMaxItems when absent.
func parseMaxItems(q url.Values) (int, error) {
	if !q.Has("MaxItems") {
		return defaultMaxItems, nil
	}
	n, err := strconv.Atoi(q.Get("MaxItems"))
	if err != nil || n < 1 || n > maxMaxItems {
		return 0, portico.Errorf(portico.ErrInvalidArgument, "MaxItems must be an integer from 1 to %d.", maxMaxItems)
	}
	return n, nil
}
