// Package portico holds the configuration that Portico stores and serves,
// shaped like CloudFront's 2020-05-31 wire format: distributions, their
// origins and cache behaviours, invalidations and imported certificates,
// with the rules that make a configuration valid.
//
// It uses the standard library only and does no I/O. The wire packages
// (internal/cfapi, internal/acmapi) encode and decode these types; the
// control service (internal/control) stores them; the data plane
// (internal/snapshot and below) compiles them into what serves requests.
package portico

import (
	"encoding/xml"
	"time"
)

// Namespace is the XML namespace of CloudFront's 2020-05-31 API. It is
// carried on the root element of every request and response body.
const Namespace = "http://cloudfront.amazonaws.com/doc/2020-05-31/"

// Distribution status values.
const (
	StatusInProgress = "InProgress"
	StatusDeployed   = "Deployed"
	StatusCompleted  = "Completed"
)

// Distribution is a stored distribution: its configuration and what
// Portico assigned to it.
type Distribution struct {
	ID               string
	ARN              string
	DomainName       string // <id>.<edge-domain>; never reused
	ETag             string // names this configuration version
	LastModifiedTime time.Time
	Config           DistributionConfig

	// Set when read, not stored: Rev is the store revision that last wrote
	// the distribution; Status and InProgressInvalidationBatches come from
	// the deployment state.
	Rev                           int64  `json:"-"`
	Status                        string `json:"-"`
	InProgressInvalidationBatches int    `json:"-"`
}

// Invalidation is a stored invalidation batch.
type Invalidation struct {
	ID              string
	DistributionID  string
	CallerReference string
	Paths           []string
	// Tags and Soft are Portico's extension to CloudFront's invalidations
	// (the PorticoPurge element of an InvalidationBatch): Tags purges the
	// responses whose Cache-Tag header named one of them, besides Paths;
	// Soft marks what the batch matches stale, to be revalidated, rather
	// than removing it. Both are empty for a CloudFront invalidation.
	Tags       []string `json:",omitempty"`
	Soft       bool     `json:",omitempty"`
	CreateTime time.Time

	// Set when read, not stored: Rev is the store revision that created the
	// invalidation; Status comes from the deployment state.
	Rev    int64  `json:"-"`
	Status string `json:"-"`
}

// State is the whole stored configuration at one store revision: what the
// data plane compiles into a snapshot.
type State struct {
	Rev           int64
	Distributions []Distribution
	Certificates  []Certificate
	Invalidations []Invalidation

	// The custom policies; the managed ones are built in
	// (ManagedCachePolicies and its siblings).
	CachePolicies           []CachePolicy
	OriginRequestPolicies   []OriginRequestPolicy
	ResponseHeadersPolicies []ResponseHeadersPolicy
}

// RawElement is an XML element that Portico accepts and returns without
// interpreting it. Every configuration struct keeps the elements it does not
// model in a field of this type, so that fields newer than Portico survive a
// round trip instead of being dropped.
type RawElement struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Inner   []byte     `xml:",innerxml"`
}
