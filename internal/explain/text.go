package explain

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes x for a person to read, as `portico cache explain`
// prints it.
func (x *Explanation) WriteText(w io.Writer) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	line := func(label, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t%s\n", label, fmt.Sprintf(format, args...))
	}

	line("Request:", "%s %s", x.Method, x.URL)
	d := &x.Distribution
	matched := d.MatchedName
	if d.MatchedBy != "" {
		matched = d.MatchedBy + " " + d.MatchedName
	}
	line("Distribution:", "%s (%s), matched by its %s", d.ID, d.DomainName, matched)
	line("Revision:", "%d%s", x.Revision, revisionNote(x))

	b := &x.Behavior
	if b.Default {
		line("Behavior:", "default (*)")
	} else {
		line("Behavior:", "%s (cache behavior %d of %d)", b.PathPattern, b.Index+1, b.Count)
	}
	line("", "origin %s (%s), %s, compress %s", b.TargetOriginID, b.OriginDomainName, b.ViewerProtocolPolicy, onOff(b.Compress))
	line("", "allowed %s; cached %s", strings.Join(b.AllowedMethods, ", "), strings.Join(b.CachedMethods, ", "))
	switch {
	case x.CachePolicy != nil:
		line("Cache policy:", "%s", policyRef(x.CachePolicy))
	case x.ForwardedValues != nil:
		fv := x.ForwardedValues
		line("Cache settings:", "legacy ForwardedValues: query string %s, cookies %s, headers %s",
			legacyQuery(fv), legacyCookies(fv), listOr(fv.Headers, "none"))
	}
	if x.OriginRequestPolicy != nil {
		line("Origin request policy:", "%s", policyRef(x.OriginRequestPolicy))
	} else if x.CachePolicy != nil {
		line("Origin request policy:", "none")
	}
	if x.ResponseHeadersPolicy != nil {
		line("Response headers policy:", "%s", policyRef(x.ResponseHeadersPolicy))
	}

	k := &x.Key
	line("Cache key:", "")
	line("  method", "%s", k.Method)
	line("  host", "%s", k.Host)
	line("  path", "%s", k.Path)
	line("  query strings", "%s → %s", sel(k.QueryStrings), valueOr(k.Query, "(none)"))
	line("  cookies", "%s → %s", sel(k.Cookies), valueOr(k.Cookie, "(none)"))
	line("  headers", "%s", sel(k.Headers))
	for _, h := range k.HeaderValues {
		line("", "%s: %s", h.Name, headerValues(h.Values))
	}
	switch ae := k.AcceptEncoding; {
	case ae.Normalized:
		line("  accept-encoding", "normalised (gzip %s, br %s) → %s", onOff(ae.Gzip), onOff(ae.Brotli), valueOr(k.NormalizedAcceptEncoding, "(none)"))
	default:
		line("  accept-encoding", "not normalised")
	}
	line("  purge path", "%s", k.PurgePath)

	f := &x.Forwarded
	line("Forwarded to origin:", "")
	line("  host", "%s", f.Host)
	line("  query string", "%s → %s", sel(f.QueryStrings), valueOr(f.Query, "(none)"))
	line("  cookies", "%s → %s", sel(f.Cookies), valueOr(f.Cookie, "(none)"))
	line("  headers", "%s → %s", sel(f.Headers), listOr(f.HeaderNames, "(none of this request's)"))
	if len(f.CloudFrontHeaders) > 0 {
		line("  CloudFront headers", "%s", strings.Join(f.CloudFrontHeaders, ", "))
	}

	line("TTL:", "min %d s, default %d s, max %d s", x.TTL.Min, x.TTL.Default, x.TTL.Max)
	c := &x.Cache
	result := c.Result
	if c.Detail != "" {
		result += " (" + c.Detail + ")"
	}
	line("Cache:", "%s; %d variant(s) in memory%s", result, c.Variants, diskNote(c))
	if s := c.Stored; s != nil {
		line("Stored:", "%d, %d bytes, stored %s", s.Status, s.BodyBytes, s.StoredAt.Format(time.RFC3339))
		state := "fresh"
		switch {
		case s.SoftPurged:
			state = "soft-purged: revalidated before use"
		case s.TTL <= 0:
			state = "stale"
		}
		line("", "age %d s, freshness lifetime %d s, TTL %d s left (%s)", s.Age, s.Lifetime, s.TTL, state)
		if s.StaleWhileRevalidate > 0 || s.StaleIfError > 0 || s.MustRevalidate {
			line("", "stale-while-revalidate %d s, stale-if-error %d s, must-revalidate %s", s.StaleWhileRevalidate, s.StaleIfError, onOff(s.MustRevalidate))
		}
		if len(s.Tags) > 0 {
			line("", "tags %s", strings.Join(s.Tags, ", "))
		}
		for _, v := range s.Vary {
			line("", "varies on %s: %s", v.Name, headerValues(v.Values))
		}
		if s.ETag != "" || s.LastModified != "" {
			line("", "validators %s", strings.TrimSpace(s.ETag+" "+s.LastModified))
		}
		if s.ContentEncoding != "" {
			line("", "compressed by Portico: %s", s.ContentEncoding)
		}
	} else {
		line("Stored:", "nothing; a response would be fresh for its s-maxage, max-age or Expires within [%d, %d] s, else %d s", x.TTL.Min, x.TTL.Max, x.TTL.Default)
	}
	for _, n := range x.Notes {
		line("Note:", "%s", n)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Section headings leave padding at the end of their lines.
	for l := range bytes.Lines(buf.Bytes()) {
		if _, err := w.Write(append(bytes.TrimRight(l, " \n"), '\n')); err != nil {
			return err
		}
	}
	return nil
}

func revisionNote(x *Explanation) string {
	if x.ConfigRevision > x.Revision {
		return fmt.Sprintf(" (stored configuration: %d)", x.ConfigRevision)
	}
	return ""
}

func policyRef(p *PolicyRef) string {
	name := p.Name
	if name == "" {
		name = "(unknown)"
	}
	if p.Managed {
		return fmt.Sprintf("%s (%s, managed)", name, p.ID)
	}
	return fmt.Sprintf("%s (%s)", name, p.ID)
}

func legacyQuery(fv *ForwardedValues) string {
	switch {
	case !fv.QueryString:
		return "not forwarded"
	case len(fv.QueryStringCacheKeys) > 0:
		return "forwarded, keyed on " + strings.Join(fv.QueryStringCacheKeys, ", ")
	}
	return "forwarded and keyed"
}

func legacyCookies(fv *ForwardedValues) string {
	if fv.Cookies == "whitelist" {
		return "whitelist(" + strings.Join(fv.CookieNames, ", ") + ")"
	}
	return valueOr(fv.Cookies, "none")
}

func sel(s Selection) string {
	if len(s.Names) == 0 {
		return s.Mode
	}
	return s.Mode + "(" + strings.Join(s.Names, ", ") + ")"
}

func headerValues(values []string) string {
	if len(values) == 0 {
		return "(absent)"
	}
	return strings.Join(values, ", ")
}

func diskNote(c *CacheState) string {
	if c.OnDisk {
		return "; on disk"
	}
	return ""
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func valueOr(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

func listOr(l []string, alt string) string {
	if len(l) == 0 {
		return alt
	}
	return strings.Join(l, ", ")
}
