package cfapi

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/control"
)

// Portico's purge extension to CloudFront's invalidations. An
// InvalidationBatch may hold, after CloudFront's own elements, one
// PorticoPurge element in its own namespace:
//
//	<InvalidationBatch xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">
//	  <Paths><Quantity>0</Quantity></Paths>
//	  <CallerReference>release-42</CallerReference>
//	  <PorticoPurge xmlns="https://portico.dev/2026/purge">
//	    <Mode>soft</Mode>
//	    <Tags><Quantity>1</Quantity><Items><Tag>product-42</Tag></Items></Tags>
//	  </PorticoPurge>
//	</InvalidationBatch>
//
// Mode is "hard" (the default: what matches is removed, as CloudFront
// does) or "soft" (what matches is marked stale and revalidated before it
// is served again, and may be served meanwhile as its Cache-Control
// allows). Tags lists cache tags: the responses whose Cache-Tag header
// named one of them are purged besides those under Paths, which may then
// be empty. A tag is 1 to control.MaxInvalidationTagLength visible ASCII
// characters other than a comma; tags count as paths against the
// invalidation limits.
//
// The element comes back, in the same form, inside the InvalidationBatch of
// CreateInvalidation's and GetInvalidation's answers; the AWS SDKs skip
// elements they do not know, so they read such invalidations unchanged. A
// request without the element is CloudFront's, and is served exactly as
// CloudFront serves it.
const (
	// PurgeNamespace is the XML namespace of the PorticoPurge element.
	PurgeNamespace = "https://portico.dev/2026/purge"
	// PurgeElement is the local name of the extension element.
	PurgeElement = "PorticoPurge"
	// ModeHard and ModeSoft are the values of its Mode.
	ModeHard = "hard"
	ModeSoft = "soft"
)

// createInvalidation serves CreateInvalidation: 201 with Location.
func (h *Handler) createInvalidation(w http.ResponseWriter, r *http.Request, body []byte) error {
	batch, err := decodeCreateInvalidation(body)
	if err != nil {
		return err
	}
	distID := r.PathValue("id")
	inv, err := h.Service.CreateInvalidationBatch(r.Context(), distID, batch)
	if err != nil {
		return err
	}
	w.Header().Set("Location", location(r, "distribution/"+distID+"/invalidation/"+inv.ID))
	return writeXML(w, http.StatusCreated, "Invalidation", invalidationDocument(inv))
}

// getInvalidation serves GetInvalidation.
func (h *Handler) getInvalidation(w http.ResponseWriter, r *http.Request, _ []byte) error {
	inv, err := h.Service.GetInvalidation(r.Context(), r.PathValue("id"), r.PathValue("invalidationID"))
	if err != nil {
		return err
	}
	return writeXML(w, http.StatusOK, "Invalidation", invalidationDocument(inv))
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

// decodeCreateInvalidation reads the body of a CreateInvalidation request,
// with or without the PorticoPurge element.
func decodeCreateInvalidation(body []byte) (control.InvalidationBatch, error) {
	body, ext, err := splitPurge(body)
	if err != nil {
		return control.InvalidationBatch{}, err
	}
	batch, err := decodeInvalidationBatch(body)
	if err != nil {
		return control.InvalidationBatch{}, err
	}
	out := control.InvalidationBatch{CallerReference: batch.CallerReference, Paths: batch.Paths.Items}
	if ext != nil {
		out.Tags, out.Soft = ext.tags, ext.soft
	}
	return out, nil
}

// EncodeInvalidationBatch returns the body of a CreateInvalidation request
// for batch, as a client sends it: CloudFront's own InvalidationBatch
// document, with the PorticoPurge element when batch has tags or is soft.
func EncodeInvalidationBatch(batch control.InvalidationBatch) ([]byte, error) {
	return encodeDocument(documentHeader, "InvalidationBatch", newExtInvalidationBatch(batch.Paths, batch.CallerReference, batch.Tags, batch.Soft))
}

// invalidationDocument returns the Invalidation element of inv: CloudFront's
// own, or with the PorticoPurge element in its InvalidationBatch when inv
// uses the extension.
func invalidationDocument(inv *portico.Invalidation) any {
	doc := newInvalidationXML(inv)
	if len(inv.Tags) == 0 && !inv.Soft {
		return doc
	}
	return &extInvalidationXML{
		ID:                doc.ID,
		Status:            doc.Status,
		CreateTime:        doc.CreateTime,
		InvalidationBatch: *newExtInvalidationBatch(inv.Paths, inv.CallerReference, inv.Tags, inv.Soft),
	}
}

// extInvalidationXML is an Invalidation element whose batch carries the
// PorticoPurge element.
type extInvalidationXML struct {
	ID                string               `xml:"Id"`
	Status            string               `xml:"Status"`
	CreateTime        string               `xml:"CreateTime"`
	InvalidationBatch extInvalidationBatch `xml:"InvalidationBatch"`
}

// extInvalidationBatch is an InvalidationBatch element followed by the
// PorticoPurge element.
type extInvalidationBatch struct {
	Paths           paths                `xml:"Paths"`
	CallerReference string               `xml:"CallerReference"`
	Extension       []portico.RawElement `xml:",any"`
}

// newExtInvalidationBatch returns the InvalidationBatch element of paths
// and callerRef, followed by the PorticoPurge element of tags and soft
// when either asks for more than CloudFront's invalidation.
func newExtInvalidationBatch(paths []string, callerRef string, tags []string, soft bool) *extInvalidationBatch {
	b := &extInvalidationBatch{Paths: newPaths(paths), CallerReference: callerRef}
	if len(tags) > 0 || soft {
		b.Extension = []portico.RawElement{purgeElement(tags, soft)}
	}
	return b
}

// purgeTags is the Tags element of PorticoPurge.
type purgeTags struct {
	Quantity int      `xml:"Quantity"`
	Items    []string `xml:"Items>Tag"`
}

// purgeElement returns the PorticoPurge element of a purge of tags,
// soft or hard.
func purgeElement(tags []string, soft bool) portico.RawElement {
	mode := ModeHard
	if soft {
		mode = ModeSoft
	}
	var inner bytes.Buffer
	enc := xml.NewEncoder(&inner)
	// Strings and ints only: encoding cannot fail.
	enc.EncodeElement(mode, xml.StartElement{Name: xml.Name{Local: "Mode"}})
	if len(tags) > 0 {
		enc.EncodeElement(purgeTags{Quantity: len(tags), Items: tags}, xml.StartElement{Name: xml.Name{Local: "Tags"}})
	}
	enc.Flush()
	return portico.RawElement{
		XMLName: xml.Name{Local: PurgeElement},
		Attrs:   []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: PurgeNamespace}},
		Inner:   inner.Bytes(),
	}
}

// purgeRequest is what a PorticoPurge element asks for.
type purgeRequest struct {
	soft bool
	tags []string
}

// splitPurge finds the PorticoPurge element among the children of the root
// of an InvalidationBatch document, and returns the document without it,
// for CloudFront's strict decoding, and what it asks for. A body without
// one is returned as it is, with a nil request; so is a body that does not
// parse, for decodeInvalidationBatch to report.
//
// The element is checked as strictly as CloudFront's own: declared with
// xmlns="https://portico.dev/2026/purge" and no prefix or other attribute,
// at most once, holding at most one Mode ("hard" or "soft") and one Tags
// (a Quantity and an Items of Tag elements that agree), and nothing else.
func splitPurge(body []byte) ([]byte, *purgeRequest, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	var (
		depth      int
		start, end int64 = -1, -1
		req        *purgeRequest
	)
	for {
		off := d.InputOffset()
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return body, nil, nil
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 1 && t.Name.Local == PurgeElement {
				if req != nil {
					return nil, nil, malformed("The element %s appears more than once in InvalidationBatch.", PurgeElement)
				}
				if req, err = decodePurge(d, t); err != nil {
					return nil, nil, err
				}
				start, end = off, d.InputOffset()
				continue
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if req == nil {
		return body, nil, nil
	}
	rest := make([]byte, 0, len(body)-int(end-start))
	rest = append(append(rest, body[:start]...), body[end:]...)
	return rest, req, nil
}

// decodePurge reads the PorticoPurge element that start opens, through its
// end tag.
func decodePurge(d *xml.Decoder, start xml.StartElement) (*purgeRequest, error) {
	if start.Name.Space != "" || len(start.Attr) != 1 || start.Attr[0].Name != (xml.Name{Local: "xmlns"}) || start.Attr[0].Value != PurgeNamespace {
		return nil, malformed("The element %s must be written <%s xmlns=%q>, without a namespace prefix or other attributes.", PurgeElement, PurgeElement, PurgeNamespace)
	}
	req := new(purgeRequest)
	var sawMode, sawTags bool
	return req, walkChildren(d, PurgeElement, func(name string) error {
		switch {
		case name == "Mode" && !sawMode:
			sawMode = true
			mode, err := leafText(d, name)
			if err != nil {
				return err
			}
			switch mode {
			case ModeHard:
			case ModeSoft:
				req.soft = true
			default:
				return portico.Errorf(portico.ErrInvalidArgument, "The Mode %q of %s is not valid: use %s or %s.", shortText([]byte(mode)), PurgeElement, ModeHard, ModeSoft)
			}
			return nil
		case name == "Tags" && !sawTags:
			sawTags = true
			tags, err := decodeTags(d)
			req.tags = tags
			return err
		case name == "Mode" || name == "Tags":
			return malformed("The element %s appears more than once in %s.", name, PurgeElement)
		}
		return malformed("Unexpected element %s in %s.", name, PurgeElement)
	})
}

// decodeTags reads a Tags element, whose start tag has been read, through
// its end tag.
func decodeTags(d *xml.Decoder) ([]string, error) {
	var (
		quantity              int64
		sawQuantity, sawItems bool
		tags                  []string
	)
	err := walkChildren(d, "Tags", func(name string) error {
		switch {
		case name == "Quantity" && !sawQuantity:
			sawQuantity = true
			text, err := leafText(d, name)
			if err != nil {
				return err
			}
			if quantity, err = strconv.ParseInt(text, 10, 32); err != nil {
				return malformed("The Quantity %q of Tags is not an integer.", shortText([]byte(text)))
			}
			return nil
		case name == "Items" && !sawItems:
			sawItems = true
			return walkChildren(d, "Items", func(name string) error {
				if name != "Tag" {
					return malformed("Unexpected element %s in Items of Tags: use Tag.", name)
				}
				tag, err := leafText(d, name)
				tags = append(tags, tag)
				return err
			})
		case name == "Quantity" || name == "Items":
			return malformed("The element %s appears more than once in Tags.", name)
		}
		return malformed("Unexpected element %s in Tags.", name)
	})
	switch {
	case err != nil:
		return nil, err
	case !sawQuantity:
		return nil, malformed("The element Tags of %s must hold a Quantity.", PurgeElement)
	case quantity != int64(len(tags)):
		return nil, portico.Errorf(portico.ErrInconsistentQuantities,
			"The value of Quantity (%d) and the size of Items (%d) for Tags don't match.", quantity, len(tags))
	}
	return tags, nil
}

// walkChildren reads the content of the element parent, whose start tag
// has been read, through its end tag: each child element's start tag is
// handed to child, which must read the child through its end tag. White
// space and comments may separate them; anything else is refused.
func walkChildren(d *xml.Decoder, parent string, child func(name string) error) error {
	for {
		tok, err := d.RawToken()
		if err != nil {
			return purgeSyntaxError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := checkPlain(t); err != nil {
				return err
			}
			if err := child(t.Name.Local); err != nil {
				return err
			}
		case xml.EndElement:
			if t.Name != (xml.Name{Local: parent}) {
				return malformed("The element %s is not closed properly.", parent)
			}
			return nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return malformed("The element %s cannot hold text.", parent)
			}
		case xml.Comment:
		default:
			return malformed("The element %s may hold only elements.", parent)
		}
	}
}

// leafText reads the text of the element name, whose start tag has been
// read, through its end tag.
func leafText(d *xml.Decoder, name string) (string, error) {
	var text []byte
	for {
		tok, err := d.RawToken()
		if err != nil {
			return "", purgeSyntaxError(err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			text = append(text, t...)
		case xml.Comment:
		case xml.EndElement:
			if t.Name != (xml.Name{Local: name}) {
				return "", malformed("The element %s is not closed properly.", name)
			}
			return string(text), nil
		default:
			return "", malformed("The element %s may hold only text.", name)
		}
	}
}

// checkPlain refuses a namespace prefix or an attribute on an element
// inside PorticoPurge: its children are in its namespace.
func checkPlain(t xml.StartElement) error {
	if t.Name.Space != "" || len(t.Attr) > 0 {
		return malformed("The element %s inside %s must have no namespace prefix or attributes.", t.Name.Local, PurgeElement)
	}
	return nil
}

func purgeSyntaxError(err error) error {
	if se, ok := errors.AsType[*xml.SyntaxError](err); ok {
		return malformed("The XML document is malformed at line %d: %s.", se.Line, se.Msg)
	}
	return malformed("The XML document is malformed: the element %s is not closed.", PurgeElement)
}
