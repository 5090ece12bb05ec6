package cfapi

import (
	"context"
	"net/http"
	"reflect"

	"github.com/portico-edge/portico"
)

// Request documents of the policy operations.
var (
	cachePolicyConfigSchema           = schemaOf("CachePolicyConfig", reflect.TypeFor[portico.CachePolicyConfig]())
	originRequestPolicyConfigSchema   = schemaOf("OriginRequestPolicyConfig", reflect.TypeFor[portico.OriginRequestPolicyConfig]())
	responseHeadersPolicyConfigSchema = schemaOf("ResponseHeadersPolicyConfig", reflect.TypeFor[portico.ResponseHeadersPolicyConfig]())
)

// policyEndpoint serves the six operations of one kind of policy: Create,
// Get, GetConfig, Update, Delete and List. C is the kind's configuration
// type.
type policyEndpoint[C any] struct {
	path       string // under Prefix: "cache-policy"
	root       string // the policy element: "CachePolicy"
	configRoot string // the configuration element: "CachePolicyConfig"
	listRoot   string // the list element: "CachePolicyList"
	schema     *node

	// element returns the policy element's value; list the list
	// element's, for a page of policies.
	element func(*portico.Policy[C]) any
	list    func(page []*portico.Policy[C], next string, maxItems int) any

	create func(context.Context, *C) (*portico.Policy[C], error)
	get    func(context.Context, string) (*portico.Policy[C], error)
	update func(ctx context.Context, id, ifMatch string, cfg *C) (*portico.Policy[C], error)
	delete func(ctx context.Context, id, ifMatch string) error
	page   func(ctx context.Context, typ, marker string, maxItems int) ([]*portico.Policy[C], string, error)
}

// policyRoutes returns the routes of the cache, origin request and
// response headers policy operations.
func (h *Handler) policyRoutes() []route {
	s := h.Service
	var routes []route
	routes = append(routes, (&policyEndpoint[portico.CachePolicyConfig]{
		path: "cache-policy", root: "CachePolicy", configRoot: "CachePolicyConfig", listRoot: "CachePolicyList",
		schema: cachePolicyConfigSchema,
		element: func(p *portico.CachePolicy) any {
			return &cachePolicyXML{ID: p.ID, LastModifiedTime: formatTime(p.LastModifiedTime), Config: &p.Config}
		},
		list: func(page []*portico.CachePolicy, next string, maxItems int) any {
			l := &cachePolicyList{NextMarker: next, MaxItems: maxItems, Quantity: len(page)}
			for _, p := range page {
				l.Items = append(l.Items, cachePolicySummary{Type: policyType(p.Managed),
					Policy: &cachePolicyXML{ID: p.ID, LastModifiedTime: formatTime(p.LastModifiedTime), Config: &p.Config}})
			}
			return l
		},
		create: s.CreateCachePolicy, get: s.GetCachePolicy, update: s.UpdateCachePolicy, delete: s.DeleteCachePolicy, page: s.ListCachePolicies,
	}).routes()...)
	routes = append(routes, (&policyEndpoint[portico.OriginRequestPolicyConfig]{
		path: "origin-request-policy", root: "OriginRequestPolicy", configRoot: "OriginRequestPolicyConfig", listRoot: "OriginRequestPolicyList",
		schema: originRequestPolicyConfigSchema,
		element: func(p *portico.OriginRequestPolicy) any {
			return &originRequestPolicyXML{ID: p.ID, LastModifiedTime: formatTime(p.LastModifiedTime), Config: &p.Config}
		},
		list: func(page []*portico.OriginRequestPolicy, next string, maxItems int) any {
			l := &originRequestPolicyList{NextMarker: next, MaxItems: maxItems, Quantity: len(page)}
			for _, p := range page {
				l.Items = append(l.Items, originRequestPolicySummary{Type: policyType(p.Managed),
					Policy: &originRequestPolicyXML{ID: p.ID, LastModifiedTime: formatTime(p.LastModifiedTime), Config: &p.Config}})
			}
			return l
		},
		create: s.CreateOriginRequestPolicy, get: s.GetOriginRequestPolicy, update: s.UpdateOriginRequestPolicy, delete: s.DeleteOriginRequestPolicy, page: s.ListOriginRequestPolicies,
	}).routes()...)
	routes = append(routes, (&policyEndpoint[portico.ResponseHeadersPolicyConfig]{
		path: "response-headers-policy", root: "ResponseHeadersPolicy", configRoot: "ResponseHeadersPolicyConfig", listRoot: "ResponseHeadersPolicyList",
		schema: responseHeadersPolicyConfigSchema,
		element: func(p *portico.ResponseHeadersPolicy) any {
			return &responseHeadersPolicyXML{ID: p.ID, LastModifiedTime: formatTime(p.LastModifiedTime), Config: &p.Config}
		},
		list: func(page []*portico.ResponseHeadersPolicy, next string, maxItems int) any {
			l := &responseHeadersPolicyList{NextMarker: next, MaxItems: maxItems, Quantity: len(page)}
			for _, p := range page {
				l.Items = append(l.Items, responseHeadersPolicySummary{Type: policyType(p.Managed),
					Policy: &responseHeadersPolicyXML{ID: p.ID, LastModifiedTime: formatTime(p.LastModifiedTime), Config: &p.Config}})
			}
			return l
		},
		create: s.CreateResponseHeadersPolicy, get: s.GetResponseHeadersPolicy, update: s.UpdateResponseHeadersPolicy, delete: s.DeleteResponseHeadersPolicy, page: s.ListResponseHeadersPolicies,
	}).routes()...)
	return routes
}

func (e *policyEndpoint[C]) routes() []route {
	base := Prefix + e.path
	return []route{
		{http.MethodPost, base, e.serveCreate},
		{http.MethodGet, base, e.serveList},
		{http.MethodGet, base + "/{id}", e.serveGet},
		{http.MethodPut, base + "/{id}", e.serveUpdate},
		{http.MethodDelete, base + "/{id}", e.serveDelete},
		{http.MethodGet, base + "/{id}/config", e.serveGetConfig},
	}
}

// decode parses a configuration request body. It accepts exactly what it
// can return unchanged, as decodeDistributionConfig does.
func (e *policyEndpoint[C]) decode(body []byte) (*C, error) {
	cfg := new(C)
	if err := decodeDocument(body, e.schema, cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// serveCreate serves CreateCachePolicy and its kin: 201 with Location and
// ETag.
func (e *policyEndpoint[C]) serveCreate(w http.ResponseWriter, r *http.Request, body []byte) error {
	cfg, err := e.decode(body)
	if err != nil {
		return err
	}
	p, err := e.create(r.Context(), cfg)
	if err != nil {
		return err
	}
	w.Header().Set("Location", location(r, e.path+"/"+p.ID))
	w.Header().Set("ETag", p.ETag)
	return writeXML(w, http.StatusCreated, e.root, e.element(p))
}

// serveGet serves GetCachePolicy and its kin.
func (e *policyEndpoint[C]) serveGet(w http.ResponseWriter, r *http.Request, _ []byte) error {
	p, err := e.get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", p.ETag)
	return writeXML(w, http.StatusOK, e.root, e.element(p))
}

// serveGetConfig serves GetCachePolicyConfig and its kin: the
// configuration as it was last sent, with the ETag to update it with.
func (e *policyEndpoint[C]) serveGetConfig(w http.ResponseWriter, r *http.Request, _ []byte) error {
	p, err := e.get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", p.ETag)
	return writeXML(w, http.StatusOK, e.configRoot, &p.Config)
}

// serveUpdate serves UpdateCachePolicy and its kin: the whole
// configuration is replaced, guarded by If-Match.
func (e *policyEndpoint[C]) serveUpdate(w http.ResponseWriter, r *http.Request, body []byte) error {
	cfg, err := e.decode(body)
	if err != nil {
		return err
	}
	p, err := e.update(r.Context(), r.PathValue("id"), r.Header.Get("If-Match"), cfg)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", p.ETag)
	return writeXML(w, http.StatusOK, e.root, e.element(p))
}

// serveDelete serves DeleteCachePolicy and its kin: 204 once deleted.
func (e *policyEndpoint[C]) serveDelete(w http.ResponseWriter, r *http.Request, _ []byte) error {
	if err := e.delete(r.Context(), r.PathValue("id"), r.Header.Get("If-Match")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// serveList serves ListCachePolicies and its kin, filtered by Type and
// paged by Marker and MaxItems.
func (e *policyEndpoint[C]) serveList(w http.ResponseWriter, r *http.Request, _ []byte) error {
	q := r.URL.Query()
	maxItems, err := parseMaxItems(q)
	if err != nil {
		return err
	}
	page, next, err := e.page(r.Context(), q.Get("Type"), q.Get("Marker"), maxItems)
	if err != nil {
		return err
	}
	return writeXML(w, http.StatusOK, e.listRoot, e.list(page, next, maxItems))
}

func policyType(managed bool) string {
	if managed {
		return portico.PolicyTypeManaged
	}
	return portico.PolicyTypeCustom
}

// cachePolicyXML is CloudFront's CachePolicy element.
type cachePolicyXML struct {
	ID               string                     `xml:"Id"`
	LastModifiedTime string                     `xml:"LastModifiedTime"`
	Config           *portico.CachePolicyConfig `xml:"CachePolicyConfig"`
}

// cachePolicyList is CloudFront's CachePolicyList element. NextMarker is
// present only when more policies follow.
type cachePolicyList struct {
	NextMarker string               `xml:"NextMarker,omitempty"`
	MaxItems   int                  `xml:"MaxItems"`
	Quantity   int                  `xml:"Quantity"`
	Items      []cachePolicySummary `xml:"Items>CachePolicySummary"`
}

// cachePolicySummary is CloudFront's CachePolicySummary element.
type cachePolicySummary struct {
	Type   string          `xml:"Type"`
	Policy *cachePolicyXML `xml:"CachePolicy"`
}

// originRequestPolicyXML is CloudFront's OriginRequestPolicy element.
type originRequestPolicyXML struct {
	ID               string                             `xml:"Id"`
	LastModifiedTime string                             `xml:"LastModifiedTime"`
	Config           *portico.OriginRequestPolicyConfig `xml:"OriginRequestPolicyConfig"`
}

// originRequestPolicyList is CloudFront's OriginRequestPolicyList element.
type originRequestPolicyList struct {
	NextMarker string                       `xml:"NextMarker,omitempty"`
	MaxItems   int                          `xml:"MaxItems"`
	Quantity   int                          `xml:"Quantity"`
	Items      []originRequestPolicySummary `xml:"Items>OriginRequestPolicySummary"`
}

// originRequestPolicySummary is CloudFront's OriginRequestPolicySummary
// element.
type originRequestPolicySummary struct {
	Type   string                  `xml:"Type"`
	Policy *originRequestPolicyXML `xml:"OriginRequestPolicy"`
}

// responseHeadersPolicyXML is CloudFront's ResponseHeadersPolicy element.
type responseHeadersPolicyXML struct {
	ID               string                               `xml:"Id"`
	LastModifiedTime string                               `xml:"LastModifiedTime"`
	Config           *portico.ResponseHeadersPolicyConfig `xml:"ResponseHeadersPolicyConfig"`
}

// responseHeadersPolicyList is CloudFront's ResponseHeadersPolicyList
// element.
type responseHeadersPolicyList struct {
	NextMarker string                         `xml:"NextMarker,omitempty"`
	MaxItems   int                            `xml:"MaxItems"`
	Quantity   int                            `xml:"Quantity"`
	Items      []responseHeadersPolicySummary `xml:"Items>ResponseHeadersPolicySummary"`
}

// responseHeadersPolicySummary is CloudFront's ResponseHeadersPolicySummary
// element.
type responseHeadersPolicySummary struct {
	Type   string                    `xml:"Type"`
	Policy *responseHeadersPolicyXML `xml:"ResponseHeadersPolicy"`
}
