package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/portico-edge/portico"
)

// The sets of allowed methods the form offers, as form values.
const (
	methodsGetHead        = "GET,HEAD"
	methodsGetHeadOptions = "GET,HEAD,OPTIONS"
	methodsAll            = "GET,HEAD,OPTIONS,PUT,POST,PATCH,DELETE"
)

// maxRows bounds every repeated row of the form: it is well above what the
// API accepts, so that a valid configuration always fits.
const maxRows = 200

// distForm is the create and edit distribution form as the user filled it
// in. Its fields hold what was typed, so that a form shown again after an
// error keeps the user's input. Radio groups and selects hold form values
// ("yes", "none", "https-only", ...).
type distForm struct {
	// Origin.
	OriginDomain   string
	OriginID       string
	OriginPath     string
	OriginProtocol string
	HTTPPort       string
	HTTPSPort      string
	OriginSSL      string // minimum origin SSL protocol
	CustomHeaders  []headerRow

	// Default cache behavior.
	ViewerProtocol string
	AllowedMethods string
	CacheOptions   bool // cache OPTIONS responses too
	Compress       string
	CachePolicyID  string // read only: a behaviour that uses a cache policy keeps it

	// Cache key and origin requests (legacy cache settings).
	HeadersMode   string
	Headers       []string
	QueryStrings  string
	Cookies       string
	CookieNames   []string
	ObjectCaching string
	MinTTL        string
	DefaultTTL    string
	MaxTTL        string

	// Settings.
	PriceClass        string
	Aliases           []string
	Certificate       string // ACM certificate ARN, or "" for the default certificate
	SecurityPolicy    string
	DefaultRootObject string
	Comment           string
	Enabled           string // on create only

	ETag string // on edit: the version the form was loaded from, sent as If-Match
}

// headerRow is one custom origin header row. Its value is a secret: once
// submitted it is never rendered again. A value typed in this request sits
// in an unexported field, which templates cannot read; before the form is
// shown again it is sealed (encrypted for this session) into Sealed.
type headerRow struct {
	Name   string
	Sealed string // a value typed earlier but not saved yet, encrypted
	Stored string // the saved header whose value this row keeps unless replaced
	value  string // typed in this request
}

// HasValue reports whether the row has a value that is not shown: saved, or
// typed earlier.
func (r headerRow) HasValue() bool { return r.Sealed != "" || r.Stored != "" }

// newDistForm returns the create form with CloudFront's defaults.
func newDistForm() *distForm {
	return &distForm{
		OriginProtocol: "https-only",
		HTTPPort:       "80",
		HTTPSPort:      "443",
		OriginSSL:      "TLSv1.2",
		ViewerProtocol: "allow-all",
		AllowedMethods: methodsGetHead,
		Compress:       "no",
		HeadersMode:    "none",
		QueryStrings:   "none",
		Cookies:        "none",
		ObjectCaching:  "origin",
		MinTTL:         strconv.Itoa(portico.DefaultMinTTL),
		DefaultTTL:     strconv.Itoa(portico.DefaultDefaultTTL),
		MaxTTL:         strconv.Itoa(portico.DefaultMaxTTL),
		PriceClass:     "PriceClass_All",
		SecurityPolicy: "TLSv1.2_2021",
		Enabled:        "yes",
	}
}

// formFromConfig returns the form showing a stored configuration. Custom
// header values are not copied: rows only name the stored header.
func formFromConfig(c *portico.DistributionConfig) *distForm {
	f := newDistForm()
	f.Enabled = yesNo(c.IsEnabled())
	f.Comment = deref(c.Comment)
	if c.PriceClass != nil {
		f.PriceClass = *c.PriceClass
	}
	f.DefaultRootObject = deref(c.DefaultRootObject)
	if c.Aliases != nil {
		f.Aliases = slices.Clone(c.Aliases.Items)
	}
	if arn := c.CertificateARN(); arn != "" {
		f.Certificate = arn
		f.SecurityPolicy = deref(c.ViewerCertificate.MinimumProtocolVersion)
	}
	if o := primaryOrigin(c); o != nil {
		f.OriginDomain, f.OriginID, f.OriginPath = o.DomainName, o.ID, deref(o.OriginPath)
		if co := o.CustomOriginConfig; co != nil {
			f.OriginProtocol = co.OriginProtocolPolicy
			f.HTTPPort, f.HTTPSPort = strconv.Itoa(co.HTTPPort), strconv.Itoa(co.HTTPSPort)
			if p := co.OriginSslProtocols; p != nil && len(p.Items) > 0 {
				f.OriginSSL = minSSLProtocol(p.Items)
			}
		}
		if o.CustomHeaders != nil {
			for _, h := range o.CustomHeaders.Items {
				f.CustomHeaders = append(f.CustomHeaders, headerRow{Name: h.HeaderName, Stored: h.HeaderName})
			}
		}
	}
	b := c.DefaultCacheBehavior
	if b == nil {
		return f
	}
	f.ViewerProtocol = b.ViewerProtocolPolicy
	allowed, cached := b.Methods()
	f.AllowedMethods = methodSetName(allowed)
	f.CacheOptions = slices.Contains(cached, http.MethodOptions)
	f.Compress = yesNo(b.Compress != nil && *b.Compress)
	f.CachePolicyID = deref(b.CachePolicyID)
	if fv := b.ForwardedValues; fv != nil {
		if fv.Headers != nil && len(fv.Headers.Items) > 0 {
			f.HeadersMode, f.Headers = "whitelist", slices.Clone(fv.Headers.Items)
		}
		if fv.QueryString != nil && *fv.QueryString {
			f.QueryStrings = "all"
		}
		if fv.Cookies != nil {
			f.Cookies = fv.Cookies.Forward
			if fv.Cookies.WhitelistedNames != nil {
				f.CookieNames = slices.Clone(fv.Cookies.WhitelistedNames.Items)
			}
		}
	}
	minTTL, defTTL, maxTTL := b.TTLs()
	f.MinTTL, f.DefaultTTL, f.MaxTTL = strconv.FormatInt(minTTL, 10), strconv.FormatInt(defTTL, 10), strconv.FormatInt(maxTTL, 10)
	if minTTL != portico.DefaultMinTTL || defTTL != portico.DefaultDefaultTTL || maxTTL != portico.DefaultMaxTTL {
		f.ObjectCaching = "customize"
	}
	return f
}

// parseDistForm reads a submitted distribution form. It fails only on a
// form no console page produces; what the user typed is checked by apply
// and the control service.
func parseDistForm(v url.Values) (*distForm, error) {
	get := func(key string) string { return strings.TrimSpace(v.Get(key)) }
	f := &distForm{
		OriginDomain:      get("origin_domain"),
		OriginID:          get("origin_id"),
		OriginPath:        get("origin_path"),
		OriginProtocol:    get("origin_protocol"),
		HTTPPort:          get("http_port"),
		HTTPSPort:         get("https_port"),
		OriginSSL:         get("origin_ssl"),
		ViewerProtocol:    get("viewer_protocol"),
		AllowedMethods:    get("allowed_methods"),
		CacheOptions:      get("cache_options") == "on",
		Compress:          get("compress"),
		HeadersMode:       get("headers"),
		QueryStrings:      get("query_strings"),
		Cookies:           get("cookies"),
		ObjectCaching:     get("object_caching"),
		MinTTL:            get("min_ttl"),
		DefaultTTL:        get("default_ttl"),
		MaxTTL:            get("max_ttl"),
		PriceClass:        get("price_class"),
		Certificate:       get("certificate"),
		SecurityPolicy:    get("security_policy"),
		DefaultRootObject: get("default_root_object"),
		Comment:           get("comment"),
		Enabled:           get("enabled"),
		ETag:              get("etag"),
		Aliases:           trimAll(v["alias"]),
		Headers:           trimAll(v["fwd_header"]),
		CookieNames:       trimAll(v["cookie_name"]),
	}
	names, values, sealed, stored := v["ch_name"], v["ch_value"], v["ch_sealed"], v["ch_stored"]
	if len(values) != len(names) || len(sealed) != len(names) || len(stored) != len(names) {
		return nil, &httpError{http.StatusBadRequest, "The custom header rows of the form are incomplete."}
	}
	if max(len(names), len(f.Aliases), len(f.Headers), len(f.CookieNames)) > maxRows {
		return nil, &httpError{http.StatusBadRequest, "The form has too many rows."}
	}
	for i := range names {
		f.CustomHeaders = append(f.CustomHeaders, headerRow{
			Name:   strings.TrimSpace(names[i]),
			Sealed: sealed[i],
			Stored: stored[i],
			value:  strings.TrimSpace(values[i]),
		})
	}
	return f, nil
}

// editRows carries out a row button pressed without the console script:
// "add:<list>" adds an empty row, "remove:<list>:<index>" removes one. It
// reports whether action was one of these.
func (f *distForm) editRows(action string) bool {
	parts := strings.Split(action, ":")
	switch {
	case len(parts) == 2 && parts[0] == "add":
		switch parts[1] {
		case "alias":
			f.Aliases = append(f.Aliases, "")
		case "header":
			f.Headers = append(f.Headers, "")
		case "cookie":
			f.CookieNames = append(f.CookieNames, "")
		case "custom-header":
			f.CustomHeaders = append(f.CustomHeaders, headerRow{})
		default:
			return false
		}
		return true
	case len(parts) == 3 && parts[0] == "remove":
		i, err := strconv.Atoi(parts[2])
		if err != nil {
			return false
		}
		switch parts[1] {
		case "alias":
			f.Aliases = removeAt(f.Aliases, i)
		case "header":
			f.Headers = removeAt(f.Headers, i)
		case "cookie":
			f.CookieNames = removeAt(f.CookieNames, i)
		case "custom-header":
			f.CustomHeaders = removeAt(f.CustomHeaders, i)
		default:
			return false
		}
		return true
	}
	return false
}

// prepare readies the form to be shown: every repeated list gets at least
// one (empty) row, and header values typed in this request are sealed, so
// that nothing but seal's output of them reaches a page.
func (f *distForm) prepare(seal func(string) string) {
	for i := range f.CustomHeaders {
		if r := &f.CustomHeaders[i]; r.value != "" {
			r.Sealed, r.value = seal(r.value), ""
		}
	}
	if len(f.CustomHeaders) == 0 {
		f.CustomHeaders = []headerRow{{}}
	}
	for _, list := range []*[]string{&f.Aliases, &f.Headers, &f.CookieNames} {
		if len(*list) == 0 {
			*list = []string{""}
		}
	}
}

// apply writes the form's settings into c: a new configuration when
// creating, or a copy of the stored one when editing, in which everything
// the form does not show is kept as it was. open decrypts a sealed header
// value. Input the form cannot turn into a configuration gives a
// *portico.Error; the rest is the control service's to validate.
func (f *distForm) apply(c *portico.DistributionConfig, creating bool, open func(string) (string, bool)) error {
	if c.DefaultCacheBehavior == nil {
		c.DefaultCacheBehavior = &portico.CacheBehavior{}
	}
	if err := f.applyOrigin(c, open); err != nil {
		return err
	}
	if err := f.applyBehavior(c.DefaultCacheBehavior); err != nil {
		return err
	}

	aliases := nonEmpty(f.Aliases)
	switch {
	case len(aliases) > 0:
		c.Aliases = &portico.Aliases{Quantity: len(aliases), Items: aliases}
	case c.Aliases != nil:
		c.Aliases = &portico.Aliases{}
	}

	if f.Certificate != "" {
		vc := &portico.ViewerCertificate{
			ACMCertificateArn: portico.Ptr(f.Certificate),
			SSLSupportMethod:  portico.Ptr("sni-only"),
		}
		if old := c.ViewerCertificate; old != nil && old.ACMCertificateArn != nil {
			if old.SSLSupportMethod != nil {
				vc.SSLSupportMethod = old.SSLSupportMethod
			}
			vc.Extra = old.Extra
		}
		if f.SecurityPolicy != "" {
			vc.MinimumProtocolVersion = portico.Ptr(f.SecurityPolicy)
		}
		c.ViewerCertificate = vc
	} else if c.ViewerCertificate != nil && c.CertificateARN() != "" {
		c.ViewerCertificate = &portico.ViewerCertificate{CloudFrontDefaultCertificate: portico.Ptr(true)}
	}

	c.Comment = portico.Ptr(f.Comment)
	if f.PriceClass != "" {
		c.PriceClass = portico.Ptr(f.PriceClass)
	}
	setString(&c.DefaultRootObject, f.DefaultRootObject)
	if creating {
		switch f.Enabled {
		case "yes", "no":
			c.Enabled = portico.Ptr(f.Enabled == "yes")
		default:
			return invalid("Choose whether the distribution is enabled.")
		}
	}
	return nil
}

// applyOrigin writes the origin settings into the distribution's primary
// origin, the target of its default cache behaviour.
func (f *distForm) applyOrigin(c *portico.DistributionConfig, open func(string) (string, bool)) error {
	o := primaryOrigin(c)
	if o == nil {
		c.Origins = &portico.Origins{Quantity: 1, Items: []portico.Origin{{}}}
		o = &c.Origins.Items[0]
	}
	if f.OriginDomain == "" {
		return invalid("Enter the origin domain.")
	}
	oldID, newID := o.ID, f.OriginID
	if newID == "" {
		newID = f.OriginDomain // as the CloudFront console names a new origin
	}
	o.ID, o.DomainName = newID, f.OriginDomain
	setString(&o.OriginPath, f.OriginPath)
	for _, b := range c.Behaviors() {
		if b.TargetOriginID == oldID {
			b.TargetOriginID = newID
		}
	}

	httpPort, err := parsePort("HTTP port", f.HTTPPort)
	if err != nil {
		return err
	}
	httpsPort, err := parsePort("HTTPS port", f.HTTPSPort)
	if err != nil {
		return err
	}
	co := o.CustomOriginConfig
	if co == nil {
		co = &portico.CustomOriginConfig{}
	}
	o.S3OriginConfig, o.CustomOriginConfig = nil, co
	co.HTTPPort, co.HTTPSPort, co.OriginProtocolPolicy = httpPort, httpsPort, f.OriginProtocol
	protocols, ok := sslProtocolsFrom(f.OriginSSL)
	if !ok {
		return invalid("Choose the minimum origin SSL protocol.")
	}
	if co.OriginSslProtocols == nil || !slices.Equal(co.OriginSslProtocols.Items, protocols) {
		co.OriginSslProtocols = &portico.SslProtocols{Quantity: len(protocols), Items: protocols}
	}

	stored := map[string]string{}
	if o.CustomHeaders != nil {
		for _, h := range o.CustomHeaders.Items {
			stored[h.HeaderName] = h.HeaderValue
		}
	}
	var headers []portico.OriginCustomHeader
	for _, r := range f.CustomHeaders {
		if r.Name == "" {
			if r.value != "" || r.Sealed != "" {
				return invalid("Enter a header name for every custom header value.")
			}
			continue
		}
		value, ok := r.value, r.value != ""
		if !ok && r.Sealed != "" {
			if value, ok = open(r.Sealed); !ok {
				return invalid("Enter the value of the custom header %s again.", r.Name)
			}
		}
		if !ok && r.Stored != "" {
			value, ok = stored[r.Stored]
		}
		if !ok {
			return invalid("Enter a value for the custom header %s.", r.Name)
		}
		headers = append(headers, portico.OriginCustomHeader{HeaderName: r.Name, HeaderValue: value})
	}
	switch {
	case len(headers) > 0:
		o.CustomHeaders = &portico.CustomHeaders{Quantity: len(headers), Items: headers}
	case o.CustomHeaders != nil:
		o.CustomHeaders = &portico.CustomHeaders{}
	}
	return nil
}

// applyBehavior writes the cache behaviour settings into b.
func (f *distForm) applyBehavior(b *portico.CacheBehavior) error {
	b.ViewerProtocolPolicy = f.ViewerProtocol
	allowed, ok := methodSets[f.AllowedMethods]
	if !ok {
		return invalid("Choose the allowed HTTP methods.")
	}
	cached := []string{http.MethodGet, http.MethodHead}
	if f.CacheOptions && slices.Contains(allowed, http.MethodOptions) {
		cached = append(cached, http.MethodOptions)
	}
	// Keep the stored lists, and their order, when the sets did not change.
	am := b.AllowedMethods
	if am == nil || !sameSet(am.Items, allowed) {
		am = &portico.AllowedMethods{Quantity: len(allowed), Items: slices.Clone(allowed)}
	}
	if am.CachedMethods == nil || !sameSet(am.CachedMethods.Items, cached) {
		am.CachedMethods = &portico.Methods{Quantity: len(cached), Items: cached}
	}
	b.AllowedMethods = am
	switch f.Compress {
	case "yes", "no":
		setBool(&b.Compress, f.Compress == "yes")
	default:
		return invalid("Choose whether to compress objects automatically.")
	}
	if b.CachePolicyID != nil {
		return nil // cache key and TTLs come from the cache policy
	}

	fv := b.ForwardedValues
	if fv == nil {
		fv = &portico.ForwardedValues{}
		b.ForwardedValues = fv
	}
	switch f.QueryStrings {
	case "none", "all":
		fv.QueryString = portico.Ptr(f.QueryStrings == "all")
	default:
		return invalid("Choose which query strings to include.")
	}
	switch f.Cookies {
	case "none", "all":
		fv.Cookies = &portico.CookiePreference{Forward: f.Cookies}
	case "whitelist":
		names := nonEmpty(f.CookieNames)
		if len(names) == 0 {
			return invalid("Add the names of the cookies to include, or choose None or All.")
		}
		fv.Cookies = &portico.CookiePreference{Forward: "whitelist", WhitelistedNames: &portico.Names{Quantity: len(names), Items: names}}
	default:
		return invalid("Choose which cookies to include.")
	}
	var headers []string
	switch f.HeadersMode {
	case "none":
	case "whitelist":
		if headers = nonEmpty(f.Headers); len(headers) == 0 {
			return invalid("Add the headers to include, or choose None.")
		}
	default:
		return invalid("Choose which headers to include.")
	}
	switch {
	case len(headers) > 0:
		fv.Headers = &portico.Names{Quantity: len(headers), Items: headers}
	case fv.Headers != nil:
		fv.Headers = &portico.Names{}
	}

	ttls := [3]int64{portico.DefaultMinTTL, portico.DefaultDefaultTTL, portico.DefaultMaxTTL}
	switch f.ObjectCaching {
	case "origin":
	case "customize":
		for i, v := range []struct{ label, value string }{
			{"Minimum TTL", f.MinTTL}, {"Default TTL", f.DefaultTTL}, {"Maximum TTL", f.MaxTTL},
		} {
			n, err := strconv.ParseInt(v.value, 10, 64)
			if err != nil || n < 0 {
				return invalid("%s must be a whole number of seconds, 0 or more.", v.label)
			}
			ttls[i] = n
		}
	default:
		return invalid("Choose how objects are cached.")
	}
	b.MinTTL, b.DefaultTTL, b.MaxTTL = portico.Ptr(ttls[0]), portico.Ptr(ttls[1]), portico.Ptr(ttls[2])
	return nil
}

// primaryOrigin returns the origin the form edits: the target of the
// default cache behaviour, or the first origin.
func primaryOrigin(c *portico.DistributionConfig) *portico.Origin {
	if c.Origins == nil || len(c.Origins.Items) == 0 {
		return nil
	}
	if c.DefaultCacheBehavior != nil {
		if o := c.Origin(c.DefaultCacheBehavior.TargetOriginID); o != nil {
			return o
		}
	}
	return &c.Origins.Items[0]
}

// cloneConfig returns a deep copy of c, for an edit to change.
func cloneConfig(c *portico.DistributionConfig) (*portico.DistributionConfig, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("console: copying configuration: %w", err)
	}
	var out portico.DistributionConfig
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("console: copying configuration: %w", err)
	}
	return &out, nil
}

var methodSets = map[string][]string{
	methodsGetHead:        {"GET", "HEAD"},
	methodsGetHeadOptions: {"GET", "HEAD", "OPTIONS"},
	methodsAll:            {"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"},
}

// methodSetName returns the form value of a set of allowed methods.
func methodSetName(methods []string) string {
	for name, set := range methodSets {
		if sameSet(methods, set) {
			return name
		}
	}
	return strings.Join(methods, ",")
}

// sslProtocolOrder lists the origin SSL protocols from oldest to newest.
var sslProtocolOrder = []string{"SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2"}

// sslProtocolsFrom returns the protocols from minimum up to TLSv1.2.
func sslProtocolsFrom(minimum string) ([]string, bool) {
	i := slices.Index(sslProtocolOrder, minimum)
	if i < 0 {
		return nil, false
	}
	return slices.Clone(sslProtocolOrder[i:]), true
}

// minSSLProtocol returns the oldest of the protocols.
func minSSLProtocol(protocols []string) string {
	for _, p := range sslProtocolOrder {
		if slices.Contains(protocols, p) {
			return p
		}
	}
	return protocols[0]
}

func parsePort(label, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, invalid("%s must be a number from 1 to 65535.", label)
	}
	return n, nil
}

func invalid(format string, args ...any) *portico.Error {
	return portico.Errorf(portico.ErrInvalidArgument, format, args...)
}

// setString sets an optional string. An empty value leaves an absent or
// empty one as it is, so that editing changes nothing the user did not.
func setString(dst **string, v string) {
	if v == "" && (*dst == nil || **dst == "") {
		return
	}
	*dst = portico.Ptr(v)
}

// setBool sets an optional flag. False leaves an absent one absent:
// CloudFront's default for every flag the form sets is false.
func setBool(dst **bool, v bool) {
	if !v && *dst == nil {
		return
	}
	*dst = portico.Ptr(v)
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

func trimAll(values []string) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = strings.TrimSpace(v)
	}
	return out
}

func nonEmpty(values []string) []string {
	var out []string
	for _, v := range values {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

func removeAt[T any](s []T, i int) []T {
	if i < 0 || i >= len(s) {
		return s
	}
	return slices.Delete(s, i, i+1)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
