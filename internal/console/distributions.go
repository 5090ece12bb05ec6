package console

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/control"
)

// Page sizes of the lists.
const (
	distributionsPerPage = 50
	invalidationsPerPage = 50
)

// refreshInProgress is how often a page showing something in progress
// reloads itself.
const refreshInProgress = 5

// listData is the distributions list's data.
type listData struct {
	Distributions []*portico.Distribution // redacted
	Marker        string                  // this page's marker; "" on the first page
	Next          string                  // the next page's marker, if there is one
}

func (h *Handler) listDistributions(w http.ResponseWriter, r *http.Request, s *session) error {
	marker := r.URL.Query().Get("marker")
	ds, next, truncated, err := h.Service.ListDistributions(r.Context(), marker, distributionsPerPage)
	if err != nil {
		return err
	}
	data := &listData{Marker: marker}
	if truncated {
		data.Next = next
	}
	p := h.newPage(s, "distributions", "Distributions", "distributions", data)
	for _, d := range ds {
		data.Distributions = append(data.Distributions, redact(d))
		if d.Status == portico.StatusInProgress {
			p.Refresh = refreshInProgress
		}
	}
	p.Notice = noticeFor(r)
	return h.render(w, p)
}

// formData is the create and edit form's data.
type formData struct {
	Form         *distForm
	Creating     bool
	ID           string // on edit
	Certificates []certView
}

// CertificateListed reports whether the form's certificate is one of the
// imported certificates.
func (d *formData) CertificateListed() bool {
	return slices.ContainsFunc(d.Certificates, func(c certView) bool { return c.ARN == d.Form.Certificate })
}

// formPage returns the create (d nil) or edit form page. It prepares f for
// showing: after this, f holds no header value in the clear.
func (h *Handler) formPage(ctx context.Context, s *session, f *distForm, d *portico.Distribution) (*page, error) {
	certs, err := h.certificates(ctx)
	if err != nil {
		return nil, err
	}
	f.prepare(func(v string) string { return h.keys.sealValue(s, v) })
	data := &formData{Form: f, Creating: d == nil, Certificates: certs}
	if d == nil {
		return h.newPage(s, "distform", "Create distribution", "distributions", data), nil
	}
	data.ID = d.ID
	return h.newPage(s, "distform", "Edit "+d.ID, "distributions", data), nil
}

func (h *Handler) createForm(w http.ResponseWriter, r *http.Request, s *session) error {
	f := newDistForm()
	f.Certificate = r.URL.Query().Get("certificate")
	p, err := h.formPage(r.Context(), s, f, nil)
	if err != nil {
		return err
	}
	p.Notice = noticeFor(r)
	return h.render(w, p)
}

func (h *Handler) createDistribution(w http.ResponseWriter, r *http.Request, s *session) error {
	f, err := parseDistForm(r.PostForm)
	if err != nil {
		return err
	}
	if f.editRows(r.PostFormValue("action")) {
		p, err := h.formPage(r.Context(), s, f, nil)
		if err != nil {
			return err
		}
		return h.render(w, p)
	}
	cfg := &portico.DistributionConfig{CallerReference: randomHex(16)}
	if err := f.apply(cfg, true, h.opener(s)); err != nil {
		return h.formFailed(r.Context(), s, f, nil, err)
	}
	d, err := h.Service.CreateDistribution(r.Context(), cfg)
	if err != nil {
		return h.formFailed(r.Context(), s, f, nil, err)
	}
	h.logger().Info("console: distribution created", "id", d.ID, "access_key_id", s.AccessKeyID)
	redirect(w, r, "/console/distributions/"+d.ID, "created")
	return nil
}

func (h *Handler) editForm(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := h.Service.GetDistribution(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	f := formFromConfig(&d.Config)
	f.ETag = d.ETag
	p, err := h.formPage(r.Context(), s, f, d)
	if err != nil {
		return err
	}
	return h.render(w, p)
}

func (h *Handler) updateDistribution(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := h.Service.GetDistribution(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	f, err := parseDistForm(r.PostForm)
	if err != nil {
		return err
	}
	if f.editRows(r.PostFormValue("action")) {
		p, err := h.formPage(r.Context(), s, f, d)
		if err != nil {
			return err
		}
		return h.render(w, p)
	}
	cfg, err := cloneConfig(&d.Config)
	if err != nil {
		return err
	}
	if err := f.apply(cfg, false, h.opener(s)); err != nil {
		return h.formFailed(r.Context(), s, f, d, err)
	}
	// The form's ETag, not the one just read: a change made since the form
	// was loaded must fail with PreconditionFailed, not be overwritten.
	if _, err := h.Service.UpdateDistribution(r.Context(), d.ID, f.ETag, cfg); err != nil {
		return h.formFailed(r.Context(), s, f, d, err)
	}
	h.logger().Info("console: distribution updated", "id", d.ID, "access_key_id", s.AccessKeyID)
	redirect(w, r, "/console/distributions/"+d.ID, "updated")
	return nil
}

// formFailed returns what to show when saving the form f failed with err:
// for a *portico.Error, the form again with the message and the input;
// any other error as it is.
func (h *Handler) formFailed(ctx context.Context, s *session, f *distForm, d *portico.Distribution, err error) error {
	if _, ok := errors.AsType[*portico.Error](err); !ok {
		return err
	}
	p, perr := h.formPage(ctx, s, f, d)
	if perr != nil {
		return perr
	}
	return p.fail(err)
}

// opener returns the function that opens header values sealed for s.
func (h *Handler) opener(s *session) func(string) (string, bool) {
	return func(sealed string) (string, bool) { return h.keys.openValue(s, sealed) }
}

// detailData is the distribution page's data.
type detailData struct {
	Distribution *portico.Distribution // redacted
	Settings     *distForm
	Enabled      bool
	// CanDelete is set when the distribution is disabled and Deployed: only
	// then does the console offer Delete, as CloudFront's does.
	CanDelete bool
	Tab       string
}

// detailPage returns the distribution's General tab.
func (h *Handler) detailPage(s *session, d *portico.Distribution) *page {
	enabled := d.Config.IsEnabled()
	p := h.newPage(s, "distribution", d.ID, "distributions", &detailData{
		Distribution: redact(d),
		Settings:     formFromConfig(&d.Config),
		Enabled:      enabled,
		CanDelete:    !enabled && d.Status == portico.StatusDeployed,
		Tab:          "general",
	})
	if d.Status == portico.StatusInProgress {
		p.Refresh = refreshInProgress
	}
	return p
}

func (h *Handler) showDistribution(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := h.Service.GetDistribution(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	p := h.detailPage(s, d)
	p.Notice = noticeFor(r)
	return h.render(w, p)
}

// setEnabled returns the handler of the Enable and Disable buttons.
func (h *Handler) setEnabled(enabled bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, s *session) error {
		d, err := h.Service.GetDistribution(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		cfg, err := cloneConfig(&d.Config)
		if err != nil {
			return err
		}
		cfg.Enabled = portico.Ptr(enabled)
		if _, err := h.Service.UpdateDistribution(r.Context(), d.ID, r.PostFormValue("etag"), cfg); err != nil {
			return h.detailPage(s, d).fail(err)
		}
		notice := "disabled"
		if enabled {
			notice = "enabled"
		}
		h.logger().Info("console: distribution "+notice, "id", d.ID, "access_key_id", s.AccessKeyID)
		redirect(w, r, "/console/distributions/"+d.ID, notice)
		return nil
	}
}

func (h *Handler) deleteDistribution(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := h.Service.GetDistribution(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := h.Service.DeleteDistribution(r.Context(), d.ID, r.PostFormValue("etag")); err != nil {
		return h.detailPage(s, d).fail(err)
	}
	h.logger().Info("console: distribution deleted", "id", d.ID, "access_key_id", s.AccessKeyID)
	redirect(w, r, "/console/distributions", "deleted")
	return nil
}

// invalidationsData is the Invalidations tab's data.
type invalidationsData struct {
	Distribution  *portico.Distribution // redacted
	Invalidations []*portico.Invalidation
	Marker, Next  string
	Input         invalidationInput // the create form's
	Tab           string
}

// invalidationInput is what the create-invalidation form holds: object
// paths and cache tags one per line, and whether to purge softly.
type invalidationInput struct {
	Paths, Tags string
	Soft        bool
}

// batch returns the invalidation batch that in asks for, under callerRef.
func (in invalidationInput) batch(callerRef string) control.InvalidationBatch {
	return control.InvalidationBatch{CallerReference: callerRef, Paths: nonEmptyLines(in.Paths), Tags: nonEmptyLines(in.Tags), Soft: in.Soft}
}

// nonEmptyLines returns the lines of s, trimmed, leaving out blank ones.
func nonEmptyLines(s string) []string {
	var out []string
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

func (h *Handler) invalidationsPage(r *http.Request, s *session, d *portico.Distribution, in invalidationInput) (*page, error) {
	marker := r.URL.Query().Get("marker")
	invs, next, truncated, err := h.Service.ListInvalidations(r.Context(), d.ID, marker, invalidationsPerPage)
	if err != nil {
		return nil, err
	}
	data := &invalidationsData{Distribution: redact(d), Invalidations: invs, Marker: marker, Input: in, Tab: "invalidations"}
	if truncated {
		data.Next = next
	}
	// No automatic reload here: it would lose paths being typed.
	return h.newPage(s, "invalidations", d.ID+" invalidations", "distributions", data), nil
}

func (h *Handler) listInvalidations(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := h.Service.GetDistribution(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	p, err := h.invalidationsPage(r, s, d, invalidationInput{})
	if err != nil {
		return err
	}
	p.Notice = noticeFor(r)
	return h.render(w, p)
}

func (h *Handler) createInvalidation(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := h.Service.GetDistribution(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	in := invalidationInput{
		Paths: r.PostFormValue("paths"),
		Tags:  r.PostFormValue("tags"),
		Soft:  r.PostFormValue("soft") != "",
	}
	p, err := h.invalidationsPage(r, s, d, in)
	if err != nil {
		return err
	}
	batch := in.batch(randomHex(16))
	if len(batch.Paths) == 0 && len(batch.Tags) == 0 {
		return p.fail(invalid("Enter at least one object path, such as /index.html or /images/*, or a cache tag."))
	}
	if _, err := h.Service.CreateInvalidationBatch(r.Context(), d.ID, batch); err != nil {
		return p.fail(err)
	}
	redirect(w, r, "/console/distributions/"+d.ID+"/invalidations", "invalidated")
	return nil
}

// redact returns a copy of d that carries no secret: custom origin header
// values are blanked, so that no template can show them by mistake.
func redact(d *portico.Distribution) *portico.Distribution {
	out := *d
	if o := d.Config.Origins; o != nil {
		items := slices.Clone(o.Items)
		for i := range items {
			if ch := items[i].CustomHeaders; ch != nil {
				hs := slices.Clone(ch.Items)
				for j := range hs {
					hs[j].HeaderValue = ""
				}
				items[i].CustomHeaders = &portico.CustomHeaders{Quantity: ch.Quantity, Items: hs}
			}
		}
		out.Config.Origins = &portico.Origins{Quantity: o.Quantity, Items: items}
	}
	return &out
}
