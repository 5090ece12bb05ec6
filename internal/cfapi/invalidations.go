package cfapi

import (
	"net/http"
)

// createInvalidation serves CreateInvalidation: 201 with Location.
func (h *Handler) createInvalidation(w http.ResponseWriter, r *http.Request, body []byte) error {
	batch, err := decodeInvalidationBatch(body)
	if err != nil {
		return err
	}
	distID := r.PathValue("id")
	inv, err := h.Service.CreateInvalidation(r.Context(), distID, batch.CallerReference, batch.Paths.Items)
	if err != nil {
		return err
	}
	w.Header().Set("Location", location(r, "distribution/"+distID+"/invalidation/"+inv.ID))
	return writeXML(w, http.StatusCreated, "Invalidation", newInvalidationXML(inv))
}

// getInvalidation serves GetInvalidation.
func (h *Handler) getInvalidation(w http.ResponseWriter, r *http.Request, _ []byte) error {
	inv, err := h.Service.GetInvalidation(r.Context(), r.PathValue("id"), r.PathValue("invalidationID"))
	if err != nil {
		return err
	}
	return writeXML(w, http.StatusOK, "Invalidation", newInvalidationXML(inv))
}

// listInvalidations serves ListInvalidations, newest first, paged by
// Marker and MaxItems.
func (h *Handler) listInvalidations(w http.ResponseWriter, r *http.Request, _ []byte) error {
	q := r.URL.Query()
	maxItems, err := parseMaxItems(q)
	if err != nil {
		return err
	}
	marker := q.Get("Marker")
	page, next, truncated, err := h.Service.ListInvalidations(r.Context(), r.PathValue("id"), marker, maxItems)
	if err != nil {
		return err
	}
	list := invalidationList{
		Marker:      marker,
		NextMarker:  next,
		MaxItems:    maxItems,
		IsTruncated: truncated,
		Quantity:    len(page),
	}
	for _, inv := range page {
		list.Items = append(list.Items, invalidationSummary{
			ID:         inv.ID,
			CreateTime: formatTime(inv.CreateTime),
			Status:     inv.Status,
		})
	}
	return writeXML(w, http.StatusOK, "InvalidationList", &list)
}
