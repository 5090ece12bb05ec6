package cfapi

import (
	"encoding/xml"
	"time"

	"github.com/portico-edge/portico"
)

// timeLayout is how CloudFront writes times: RFC 3339 in UTC with
// milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// distributionXML is CloudFront's Distribution element.
type distributionXML struct {
	ID                            string                      `xml:"Id"`
	ARN                           string                      `xml:"ARN"`
	Status                        string                      `xml:"Status"`
	LastModifiedTime              string                      `xml:"LastModifiedTime"`
	InProgressInvalidationBatches int                         `xml:"InProgressInvalidationBatches"`
	DomainName                    string                      `xml:"DomainName"`
	ActiveTrustedSigners          activeTrusted               `xml:"ActiveTrustedSigners"`
	ActiveTrustedKeyGroups        activeTrusted               `xml:"ActiveTrustedKeyGroups"`
	DistributionConfig            *portico.DistributionConfig `xml:"DistributionConfig"`
}

// activeTrusted is an ActiveTrustedSigners or ActiveTrustedKeyGroups
// element. Portico has no signed URLs, so both are always empty.
type activeTrusted struct {
	Enabled  bool `xml:"Enabled"`
	Quantity int  `xml:"Quantity"`
}

func newDistributionXML(d *portico.Distribution) *distributionXML {
	return &distributionXML{
		ID:                            d.ID,
		ARN:                           d.ARN,
		Status:                        d.Status,
		LastModifiedTime:              formatTime(d.LastModifiedTime),
		InProgressInvalidationBatches: d.InProgressInvalidationBatches,
		DomainName:                    d.DomainName,
		DistributionConfig:            &d.Config,
	}
}

// distributionList is CloudFront's DistributionList element.
type distributionList struct {
	Marker      string                `xml:"Marker"`
	NextMarker  string                `xml:"NextMarker,omitempty"`
	MaxItems    int                   `xml:"MaxItems"`
	IsTruncated bool                  `xml:"IsTruncated"`
	Quantity    int                   `xml:"Quantity"`
	Items       []distributionSummary `xml:"Items>DistributionSummary"`
}

// distributionSummary is CloudFront's DistributionSummary element: a
// distribution's state and the main parts of its configuration, with
// CloudFront's defaults for the required parts the configuration leaves
// out.
type distributionSummary struct {
	ID                   string                        `xml:"Id"`
	ARN                  string                        `xml:"ARN"`
	ETag                 string                        `xml:"ETag"`
	Status               string                        `xml:"Status"`
	LastModifiedTime     string                        `xml:"LastModifiedTime"`
	DomainName           string                        `xml:"DomainName"`
	Aliases              *portico.Aliases              `xml:"Aliases"`
	Origins              *portico.Origins              `xml:"Origins"`
	OriginGroups         *portico.RawElement           `xml:"OriginGroups,omitempty"`
	DefaultCacheBehavior *portico.CacheBehavior        `xml:"DefaultCacheBehavior"`
	CacheBehaviors       *portico.CacheBehaviors       `xml:"CacheBehaviors"`
	CustomErrorResponses *portico.CustomErrorResponses `xml:"CustomErrorResponses"`
	Comment              string                        `xml:"Comment"`
	PriceClass           string                        `xml:"PriceClass"`
	Enabled              bool                          `xml:"Enabled"`
	ViewerCertificate    *portico.ViewerCertificate    `xml:"ViewerCertificate"`
	Restrictions         *portico.RawElement           `xml:"Restrictions"`
	WebACLID             *portico.RawElement           `xml:"WebACLId"`
	HTTPVersion          *portico.RawElement           `xml:"HttpVersion"`
	IsIPV6Enabled        *portico.RawElement           `xml:"IsIPV6Enabled"`
	Staging              *portico.RawElement           `xml:"Staging"`
}

func newDistributionSummary(d *portico.Distribution) distributionSummary {
	c := &d.Config
	s := distributionSummary{
		ID:                   d.ID,
		ARN:                  d.ARN,
		ETag:                 d.ETag,
		Status:               d.Status,
		LastModifiedTime:     formatTime(d.LastModifiedTime),
		DomainName:           d.DomainName,
		Aliases:              c.Aliases,
		Origins:              c.Origins,
		OriginGroups:         findExtra(c, "OriginGroups"),
		DefaultCacheBehavior: c.DefaultCacheBehavior,
		CacheBehaviors:       c.CacheBehaviors,
		CustomErrorResponses: c.CustomErrorResponses,
		Comment:              deref(c.Comment, ""),
		PriceClass:           deref(c.PriceClass, "PriceClass_All"),
		Enabled:              c.IsEnabled(),
		ViewerCertificate:    c.ViewerCertificate,
		Restrictions:         extraElement(c, "Restrictions", "<GeoRestriction><RestrictionType>none</RestrictionType><Quantity>0</Quantity></GeoRestriction>"),
		WebACLID:             extraElement(c, "WebACLId", ""),
		HTTPVersion:          extraElement(c, "HttpVersion", "http2"),
		IsIPV6Enabled:        extraElement(c, "IsIPV6Enabled", "false"),
		Staging:              extraElement(c, "Staging", "false"),
	}
	if s.Aliases == nil {
		s.Aliases = &portico.Aliases{}
	}
	if s.CacheBehaviors == nil {
		s.CacheBehaviors = &portico.CacheBehaviors{}
	}
	if s.CustomErrorResponses == nil {
		s.CustomErrorResponses = &portico.CustomErrorResponses{}
	}
	if s.ViewerCertificate == nil {
		s.ViewerCertificate = &portico.ViewerCertificate{
			CloudFrontDefaultCertificate: portico.Ptr(true),
			MinimumProtocolVersion:       portico.Ptr("TLSv1"),
			CertificateSource:            portico.Ptr("cloudfront"),
		}
	}
	return s
}

// extraElement returns the element name that the configuration keeps
// verbatim, or one holding def (XML) if it has none.
func extraElement(c *portico.DistributionConfig, name, def string) *portico.RawElement {
	if e := findExtra(c, name); e != nil {
		return e
	}
	return &portico.RawElement{XMLName: xml.Name{Local: name}, Inner: []byte(def)}
}

// findExtra returns the element name that the configuration keeps
// verbatim, or nil.
func findExtra(c *portico.DistributionConfig, name string) *portico.RawElement {
	for i := range c.Extra {
		if c.Extra[i].XMLName.Local == name {
			return &c.Extra[i]
		}
	}
	return nil
}

// invalidationBatch is CloudFront's InvalidationBatch element: the body of
// CreateInvalidation and part of every Invalidation.
type invalidationBatch struct {
	XMLName         xml.Name `xml:"InvalidationBatch"`
	Paths           paths    `xml:"Paths"`
	CallerReference string   `xml:"CallerReference"`
}

// paths is the Paths element of an InvalidationBatch.
type paths struct {
	Quantity int      `xml:"Quantity"`
	Items    []string `xml:"Items>Path"`
}

func newPaths(items []string) paths { return paths{Quantity: len(items), Items: items} }

// invalidationXML is CloudFront's Invalidation element.
type invalidationXML struct {
	ID                string            `xml:"Id"`
	Status            string            `xml:"Status"`
	CreateTime        string            `xml:"CreateTime"`
	InvalidationBatch invalidationBatch `xml:"InvalidationBatch"`
}

func newInvalidationXML(inv *portico.Invalidation) *invalidationXML {
	return &invalidationXML{
		ID:         inv.ID,
		Status:     inv.Status,
		CreateTime: formatTime(inv.CreateTime),
		InvalidationBatch: invalidationBatch{
			Paths:           newPaths(inv.Paths),
			CallerReference: inv.CallerReference,
		},
	}
}

// invalidationList is CloudFront's InvalidationList element.
type invalidationList struct {
	Marker      string                `xml:"Marker"`
	NextMarker  string                `xml:"NextMarker,omitempty"`
	MaxItems    int                   `xml:"MaxItems"`
	IsTruncated bool                  `xml:"IsTruncated"`
	Quantity    int                   `xml:"Quantity"`
	Items       []invalidationSummary `xml:"Items>InvalidationSummary"`
}

// invalidationSummary is CloudFront's InvalidationSummary element.
type invalidationSummary struct {
	ID         string `xml:"Id"`
	CreateTime string `xml:"CreateTime"`
	Status     string `xml:"Status"`
}

// errorResponse is CloudFront's error envelope.
type errorResponse struct {
	Error     errorDetail `xml:"Error"`
	RequestID string      `xml:"RequestId"`
}

type errorDetail struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
