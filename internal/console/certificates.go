package console

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/portico-edge/portico"
)

// certView is what pages show of a certificate. It has no private key, so
// no template can show one.
type certView struct {
	ARN        string
	DomainName string
	Names      []string // subject alternative names
	NotBefore  time.Time
	NotAfter   time.Time
	InUseBy    []string // IDs of the distributions that use it
}

// certificates returns every imported certificate, by domain name.
func (h *Handler) certificates(ctx context.Context) ([]certView, error) {
	certs, err := h.Service.ListCertificates(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]certView, 0, len(certs))
	for _, c := range certs {
		out = append(out, certView{
			ARN:        c.ARN,
			DomainName: c.DomainName,
			Names:      c.SubjectAlternativeNames,
			NotBefore:  c.NotBefore,
			NotAfter:   c.NotAfter,
		})
	}
	slices.SortFunc(out, func(a, b certView) int {
		return cmp.Or(cmp.Compare(a.DomainName, b.DomainName), cmp.Compare(a.ARN, b.ARN))
	})
	return out, nil
}

// certificatesPage returns the certificates list, with what uses each.
func (h *Handler) certificatesPage(ctx context.Context, s *session) (*page, error) {
	certs, err := h.certificates(ctx)
	if err != nil {
		return nil, err
	}
	for i := range certs {
		arns, err := h.Service.CertificateInUseBy(ctx, certs[i].ARN)
		if err != nil {
			if _, ok := errors.AsType[*portico.Error](err); ok {
				continue // deleted since it was listed
			}
			return nil, err
		}
		for _, arn := range arns {
			certs[i].InUseBy = append(certs[i].InUseBy, arn[strings.LastIndexByte(arn, '/')+1:])
		}
	}
	return h.newPage(s, "certificates", "Certificates", "certificates", certs), nil
}

func (h *Handler) listCertificates(w http.ResponseWriter, r *http.Request, s *session) error {
	p, err := h.certificatesPage(r.Context(), s)
	if err != nil {
		return err
	}
	p.Notice = noticeFor(r)
	return h.render(w, p)
}

func (h *Handler) deleteCertificate(w http.ResponseWriter, r *http.Request, s *session) error {
	arn := r.PostFormValue("arn")
	err := h.Service.DeleteCertificate(r.Context(), arn)
	if err != nil {
		p, perr := h.certificatesPage(r.Context(), s)
		if perr != nil {
			return perr
		}
		return p.fail(err)
	}
	h.logger().Info("console: certificate deleted", "arn", arn, "access_key_id", s.AccessKeyID)
	redirect(w, r, "/console/certificates", "certdeleted")
	return nil
}

// importData is the import form's data. It has no field for the private
// key: the key is never sent back, not even after an error.
type importData struct {
	Certificate string
	Chain       string
	Return      string // "create" to go back to the create distribution form
}

func (h *Handler) importForm(w http.ResponseWriter, r *http.Request, s *session) error {
	data := &importData{Return: returnTo(r.URL.Query().Get("return"))}
	return h.render(w, h.newPage(s, "certimport", "Import certificate", "certificates", data))
}

func (h *Handler) importCertificate(w http.ResponseWriter, r *http.Request, s *session) error {
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	certPEM, err := formFile(r, "certificate")
	if err != nil {
		return err
	}
	keyPEM, err := formFile(r, "private_key")
	if err != nil {
		return err
	}
	chainPEM, err := formFile(r, "chain")
	if err != nil {
		return err
	}
	data := &importData{Certificate: string(certPEM), Chain: string(chainPEM), Return: returnTo(r.PostFormValue("return"))}
	p := h.newPage(s, "certimport", "Import certificate", "certificates", data)
	if len(certPEM) == 0 || len(keyPEM) == 0 {
		return p.fail(portico.Errorf(portico.ErrACMValidation, "Enter or choose the certificate body and its private key."))
	}
	c, err := h.Service.ImportCertificate(r.Context(), "", certPEM, chainPEM, keyPEM)
	if err != nil {
		return p.fail(err)
	}
	h.logger().Info("console: certificate imported", "arn", c.ARN, "domain", c.DomainName, "access_key_id", s.AccessKeyID)
	if data.Return == "create" {
		http.Redirect(w, r, "/console/distributions/create?"+url.Values{"certificate": {c.ARN}, "notice": {"imported"}}.Encode(), http.StatusSeeOther)
		return nil
	}
	redirect(w, r, "/console/certificates", "imported")
	return nil
}

// formFile returns a PEM field of the import form: the file chosen for it
// (field name + "_file") if there is one, or the text pasted into it.
func formFile(r *http.Request, name string) ([]byte, error) {
	if r.MultipartForm != nil {
		if fhs := r.MultipartForm.File[name+"_file"]; len(fhs) > 0 && fhs[0].Size > 0 {
			f, err := fhs[0].Open()
			if err != nil {
				return nil, err
			}
			defer f.Close()
			return io.ReadAll(io.LimitReader(f, maxMultipartBytes))
		}
	}
	return []byte(strings.TrimSpace(r.PostFormValue(name))), nil
}

// returnTo returns the page to go back to after an import: only the create
// distribution form can be asked for.
func returnTo(v string) string {
	if v == "create" {
		return v
	}
	return ""
}
