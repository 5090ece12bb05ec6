package console

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/portico-edge/portico"
)

// TestInvalidationPurgeOptions creates invalidations through the console's
// form with object paths, cache tags and soft purge in their combinations,
// and checks what is stored and how the list shows each.
func TestInvalidationPurgeOptions(t *testing.T) {
	e, b, d, tab := invalidationsTab(t, "purge-options")
	ctx := context.Background()

	tests := []struct {
		name        string
		paths, tags string
		soft        bool
		want        portico.Invalidation // Paths, Tags and Soft
		row         []string             // in the invalidation's row of the list
		notRow      []string             // not in it
	}{
		{
			name:   "paths",
			paths:  "/index.html\r\n\r\n/images/*\r\n",
			want:   portico.Invalidation{Paths: []string{"/index.html", "/images/*"}},
			row:    []string{"/index.html", "/images/*"},
			notRow: []string{"Tags:", "Soft purge"},
		},
		{
			name: "tags, soft",
			tags: " product-42 \r\n\r\nProduct-42\r\n",
			soft: true,
			want: portico.Invalidation{Tags: []string{"product-42", "Product-42"}, Soft: true},
			row:  []string{`Tags: <span class="mono">product-42, Product-42</span>`, "Soft purge"},
		},
		{
			name:   "paths and tags",
			paths:  "/a",
			tags:   "t1\nt2",
			want:   portico.Invalidation{Paths: []string{"/a"}, Tags: []string{"t1", "t2"}},
			row:    []string{"/a", `Tags: <span class="mono">t1, t2</span>`},
			notRow: []string{"Soft purge"},
		},
		{
			name:   "paths, soft",
			paths:  "/*",
			soft:   true,
			want:   portico.Invalidation{Paths: []string{"/*"}, Soft: true},
			row:    []string{"/*", "Soft purge"},
			notRow: []string{"Tags:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := b.get(tab).form(t, tab)
			if f.get("soft") != "" {
				t.Fatal("the form starts with soft purge checked")
			}
			fillPurge(f, tt.paths, tt.tags, tt.soft)
			p := b.submit(f, "")
			if p.url.Path != tab || !strings.Contains(p.body, "Invalidation created.") {
				t.Fatalf("creating ended at %s (status %d):\n%s", p.url, p.status, p.body)
			}
			invs, _, _, err := e.svc.ListInvalidations(ctx, d.ID, "", 1)
			if err != nil || len(invs) != 1 {
				t.Fatalf("ListInvalidations = %v, %v", invs, err)
			}
			got := invs[0]
			if !reflect.DeepEqual(got.Paths, tt.want.Paths) || !reflect.DeepEqual(got.Tags, tt.want.Tags) || got.Soft != tt.want.Soft {
				t.Errorf("stored paths %q, tags %q, soft %v; want %q, %q, %v", got.Paths, got.Tags, got.Soft, tt.want.Paths, tt.want.Tags, tt.want.Soft)
			}
			row := listRow(t, p.body, got.ID)
			for _, want := range tt.row {
				if !strings.Contains(row, want) {
					t.Errorf("the invalidation's row lacks %q:\n%s", want, row)
				}
			}
			for _, unwanted := range tt.notRow {
				if strings.Contains(row, unwanted) {
					t.Errorf("the invalidation's row shows %q:\n%s", unwanted, row)
				}
			}
		})
	}
}

// TestInvalidationFormErrors submits invalidations that are refused: the
// message is shown with the form as it was filled in, and nothing is
// created.
func TestInvalidationFormErrors(t *testing.T) {
	e, b, d, tab := invalidationsTab(t, "purge-errors")
	ctx := context.Background()

	tests := []struct {
		name        string
		paths, tags string
		soft        bool
		want        string
	}{
		{"nothing to purge", "\r\n", "  ", true, "Enter at least one object path, such as /index.html or /images/*, or a cache tag."},
		{"tag with a comma", "/x", "a,b", true, "invalid cache tag"},
		{"tag with a space", "", "a b", false, "invalid cache tag"},
		{"path without a slash", "x", "t", false, "does not start with a slash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := b.get(tab).form(t, tab)
			fillPurge(f, tt.paths, tt.tags, tt.soft)
			p := b.submit(f, "")
			if p.status != http.StatusBadRequest || !strings.Contains(p.body, tt.want) {
				t.Fatalf("status %d, want 400 with %q on the page:\n%s", p.status, tt.want, p.body)
			}
			again := p.form(t, tab)
			for name, want := range map[string]string{"paths": tt.paths, "tags": tt.tags} {
				// The textarea gives back what was typed, but for the
				// newline that HTML drops right after its start tag.
				if got := again.get(name); strings.TrimLeft(got, "\r\n") != strings.TrimLeft(want, "\r\n") {
					t.Errorf("after the error, %s = %q, want %q", name, got, want)
				}
			}
			if got := again.get("soft") != ""; got != tt.soft {
				t.Errorf("after the error, soft purge checked = %v, want %v", got, tt.soft)
			}
		})
	}
	if invs, _, _, err := e.svc.ListInvalidations(ctx, d.ID, "", 10); err != nil || len(invs) != 0 {
		t.Errorf("ListInvalidations = %d, %v; want none created from refused forms", len(invs), err)
	}
}

// invalidationsTab starts a console with a browser signed in, creates a
// distribution of the seed's settings with callerRef, and returns them
// with the path of the distribution's Invalidations tab.
func invalidationsTab(t *testing.T, callerRef string) (e *env, b *browser, d *portico.Distribution, tab string) {
	t.Helper()
	e = newEnv(t)
	b = e.browser()
	b.signIn()
	ctx := context.Background()
	cert := issueCert(t, customDomain)
	c, err := e.svc.ImportCertificate(ctx, "", []byte(cert.certPEM), []byte(cert.chainPEM), []byte(cert.keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	d, err = e.svc.CreateDistribution(ctx, seedConfig(callerRef, c.ARN))
	if err != nil {
		t.Fatal(err)
	}
	return e, b, d, "/console/distributions/" + d.ID + "/invalidations"
}

// fillPurge fills in the invalidation form f as a user would.
func fillPurge(f *form, paths, tags string, soft bool) {
	f.set("paths", paths)
	f.set("tags", tags)
	if soft {
		f.set("soft", "on") // as checking the box does
	}
}

// listRow returns the table row of the list that shows id.
func listRow(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, ">"+id+"<")
	if i < 0 {
		t.Fatalf("the list does not show %s:\n%s", id, body)
	}
	start := strings.LastIndex(body[:i], "<tr")
	end := strings.Index(body[i:], "</tr>")
	if start < 0 || end < 0 {
		t.Fatalf("%s is not in a table row:\n%s", id, body)
	}
	return body[start : i+end]
}
