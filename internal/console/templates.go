package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/portico-edge/portico"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages holds one template set per page: the layout plus the page's
// "content". They are parsed once and never change.
var pages = parsePages()

func parsePages() map[string]*template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, name := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		out[base] = template.Must(template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", name))
	}
	return out
}

// A page is one rendered console page: the layout's data, with the page's
// own in Data.
type page struct {
	Title   string
	Nav     string // the highlighted main navigation entry
	User    string // access key ID of the signed-in user; "" on the sign-in page
	CSRF    string // token that every form of the page carries
	Notice  string // a success message
	Error   *portico.Error
	Refresh int // reload the page after this many seconds, when > 0
	Data    any

	template string
	status   int
}

// render writes p, or returns an error without writing anything.
func (h *Handler) render(w http.ResponseWriter, p *page) error {
	t, ok := pages[p.template]
	if !ok {
		return fmt.Errorf("console: no template %q", p.template)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return fmt.Errorf("console: rendering %s: %w", p.template, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	status := p.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// A choice is one option of a radio group or select.
type choice struct {
	Value, Label string
}

// An option is a choice as rendered, with whether it is the current value.
type option struct {
	Value, Label string
	Selected     bool
}

// choiceSets are the options of every radio group and select, in CloudFront
// console wording and order.
var choiceSets = map[string][]choice{
	"originProtocol": {{"https-only", "HTTPS only"}, {"match-viewer", "Match viewer"}},
	"originSSL":      {{"TLSv1.2", "TLSv1.2"}, {"TLSv1.1", "TLSv1.1"}, {"TLSv1", "TLSv1"}},
	"viewerProtocol": {{"allow-all", "HTTP and HTTPS"}, {"redirect-to-https", "Redirect HTTP to HTTPS"}, {"https-only", "HTTPS only"}},
	"allowedMethods": {
		{methodsGetHead, "GET, HEAD"},
		{methodsGetHeadOptions, "GET, HEAD, OPTIONS"},
		{methodsAll, "GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE"},
	},
	"headers":       {{"none", "None"}, {"whitelist", "Include the following headers"}},
	"queryStrings":  {{"none", "None"}, {"all", "All"}},
	"cookies":       {{"none", "None"}, {"whitelist", "Include specified cookies"}, {"all", "All"}},
	"objectCaching": {{"origin", "Use origin cache headers"}, {"customize", "Customize"}},
	"compress":      {{"no", "No"}, {"yes", "Yes"}},
	"enabled":       {{"yes", "Enabled"}, {"no", "Disabled"}},
	"priceClass": {
		{"PriceClass_All", "Use all edge locations (best performance)"},
		{"PriceClass_200", "Use North America, Europe, Asia, Middle East, and Africa"},
		{"PriceClass_100", "Use only North America and Europe"},
	},
	"securityPolicy": {
		{"TLSv1.3_2025", "TLSv1.3_2025"},
		{"TLSv1.2_2025", "TLSv1.2_2025"},
		{"TLSv1.2_2021", "TLSv1.2_2021 (recommended)"},
		{"TLSv1.2_2019", "TLSv1.2_2019"},
		{"TLSv1.2_2018", "TLSv1.2_2018"},
		{"TLSv1.1_2016", "TLSv1.1_2016"},
		{"TLSv1_2016", "TLSv1_2016"},
	},
}

// options returns the options of a choice set with current selected. A
// current value that the set does not offer (one set through the API, or
// none) is added, so that showing and saving the form keeps it.
func options(set, current string) []option {
	cs := choiceSets[set]
	out := make([]option, 0, len(cs)+1)
	for _, c := range cs {
		out = append(out, option{c.Value, c.Label, c.Value == current})
	}
	if !slices.ContainsFunc(cs, func(c choice) bool { return c.Value == current }) {
		label := current
		if current == "" {
			label = "Not set (the API's default)"
		}
		out = append(out, option{current, label, true})
	}
	return out
}

// label returns the console wording of a value in a choice set.
func label(set, value string) string {
	for _, c := range choiceSets[set] {
		if c.Value == value {
			return c.Label
		}
	}
	return value
}

// statusLabel returns the console wording of a distribution or invalidation
// status.
func statusLabel(status string) string {
	switch status {
	case portico.StatusInProgress:
		return "In progress"
	case "":
		return "Unknown"
	}
	return status
}

var funcs = template.FuncMap{
	"options": options,
	"label":   label,
	"status":  statusLabel,
	"join":    strings.Join,
	"deref":   deref,
	"datetime": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("January 2, 2006 at 3:04:05 PM UTC")
	},
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("January 2, 2006")
	},
	"row":   func(i int, item any) rowData { return rowData{i, item} },
	"names": func(list, label, value string) nameItem { return nameItem{list, nameFields[list], label, value} },
}

// rowData is one repeated row of a form: its index, for the buttons that
// work without the script, and its item.
type rowData struct {
	Index int
	Item  any
}

// nameItem is a row of a list of names: aliases, forwarded headers or
// cookie names.
type nameItem struct {
	List  string // the list's name in row actions
	Field string // the input's name
	Label string
	Value string
}

// nameFields maps a list of names to its form field.
var nameFields = map[string]string{"alias": "alias", "header": "fwd_header", "cookie": "cookie_name"}
