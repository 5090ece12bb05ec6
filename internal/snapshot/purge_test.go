package snapshot

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/control"
	"github.com/portico-edge/portico/internal/httpcache"
	"github.com/portico-edge/portico/internal/origin"
	"github.com/portico-edge/portico/internal/testpki"
)

// taggedOrigin is an HTTPS origin whose responses carry the Cache-Tag
// header given by the "tags" query parameter, an ETag, and
// "s-maxage=300", which forbids serving them stale: a soft-purged
// response is revalidated before it is served again. It answers
// If-None-Match with 304 and counts the requests for each path, and the
// conditional ones apart.
type taggedOrigin struct {
	srv *httptest.Server
	ca  *testpki.CA

	mu                 sync.Mutex
	full, conditionals map[string]int
}

func newTaggedOrigin(t *testing.T) *taggedOrigin {
	t.Helper()
	o := &taggedOrigin{ca: testpki.NewCA(t, "Tagged Origin CA"), full: map[string]int{}, conditionals: map[string]int{}}
	o.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		etag := `"v1` + r.URL.Path + `"`
		w.Header().Set("Cache-Control", "s-maxage=300")
		w.Header().Set("ETag", etag)
		if tags := r.URL.Query().Get("tags"); tags != "" {
			w.Header().Set("Cache-Tag", tags)
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		if r.Header.Get("If-None-Match") == etag {
			o.conditionals[r.URL.Path]++
			w.WriteHeader(http.StatusNotModified)
			return
		}
		o.full[r.URL.Path]++
		fmt.Fprintf(w, "%s #%d", r.URL.Path, o.full[r.URL.Path])
	}))
	o.srv.TLS = &tls.Config{Certificates: []tls.Certificate{*o.ca.Issue(t, []string{originHost}).TLSCertificate(t)}}
	o.srv.StartTLS()
	t.Cleanup(o.srv.Close)
	return o
}

// counts returns the full and the conditional requests for path so far.
func (o *taggedOrigin) counts(path string) (full, conditional int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.full[path], o.conditionals[path]
}

// TestWatcherCarriesOutPurgeExtension checks that the watcher applies the
// tags and mode of Portico's invalidation extension to the cache: a hard
// tag purge removes what carries the tag (and nothing else), a soft purge
// of paths or tags has the response revalidated (RefreshHit) instead of
// fetched again, and each invalidation completes once purged.
func TestWatcherCarriesOutPurgeExtension(t *testing.T) {
	e := newEnv(t)
	o := newTaggedOrigin(t)
	tr := origin.NewTransports(o.ca.Pool(), slog.New(slog.DiscardHandler))
	addr := o.srv.Listener.Addr().String()
	tr.Resolve = func(hostport string) string {
		if hostport == originHost+":443" {
			return addr
		}
		return hostport
	}
	e.deps.Transports, e.deps.Cache = tr, httpcache.New(16<<20, nil)
	d := e.createDistribution(t, "purge-ext", "www.example.com")
	w := e.start(t)

	// Each page is tagged as its query says; the query is in the key.
	pages := map[string]string{
		"/product":  "/product?tags=product-42,shoes",
		"/category": "/category?tags=shoes",
		"/other":    "/other?tags=hats",
		"/soft":     "/soft?tags=soft-tag",
		"/plain":    "/plain",
	}
	for _, uri := range pages {
		if got := get(t, w, "www.example.com", uri); !strings.HasPrefix(got, "Miss") {
			t.Fatalf("first GET %s: X-Cache %q, want a Miss", uri, got)
		}
		if got := get(t, w, "www.example.com", uri); !strings.HasPrefix(got, "Hit") {
			t.Fatalf("second GET %s: X-Cache %q, want a Hit", uri, got)
		}
	}

	steps := []struct {
		name  string
		batch control.InvalidationBatch
		// want is the X-Cache prefix of each page afterwards (then each is
		// a Hit again).
		want map[string]string
	}{
		{
			name:  "hard purge of a tag",
			batch: control.InvalidationBatch{Tags: []string{"shoes"}},
			want:  map[string]string{"/product": "Miss", "/category": "Miss", "/other": "Hit", "/soft": "Hit", "/plain": "Hit"},
		},
		{
			name:  "soft purge of a path",
			batch: control.InvalidationBatch{Paths: []string{"/plain"}, Soft: true},
			want:  map[string]string{"/product": "Hit", "/category": "Hit", "/other": "Hit", "/soft": "Hit", "/plain": "RefreshHit"},
		},
		{
			name:  "soft purge of tags",
			batch: control.InvalidationBatch{Tags: []string{"soft-tag", "hats"}, Soft: true},
			want:  map[string]string{"/product": "Hit", "/category": "Hit", "/other": "RefreshHit", "/soft": "RefreshHit", "/plain": "Hit"},
		},
		{
			name:  "hard purge of a path and a tag",
			batch: control.InvalidationBatch{Paths: []string{"/other*"}, Tags: []string{"product-42"}},
			want:  map[string]string{"/product": "Miss", "/category": "Hit", "/other": "Miss", "/soft": "Hit", "/plain": "Hit"},
		},
	}
	for i, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			before := map[string][2]int{}
			for path := range pages {
				f, c := o.counts(path)
				before[path] = [2]int{f, c}
			}
			step.batch.CallerReference = fmt.Sprint("step-", i)
			inv, err := e.svc.CreateInvalidationBatch(t.Context(), d.ID, step.batch)
			if err != nil {
				t.Fatal(err)
			}
			e.waitApplied(t, inv.Rev)
			if got, err := e.svc.GetInvalidation(t.Context(), d.ID, inv.ID); err != nil || got.Status != portico.StatusCompleted {
				t.Errorf("invalidation after the edge applied it: %+v, %v; want Completed", got, err)
			}
			for path, uri := range pages {
				want := step.want[path]
				if got := get(t, w, "www.example.com", uri); !strings.HasPrefix(got, want+" ") {
					t.Errorf("GET %s: X-Cache %q, want %s", path, got, want)
				}
				if got := get(t, w, "www.example.com", uri); !strings.HasPrefix(got, "Hit ") {
					t.Errorf("GET %s again: X-Cache %q, want Hit", path, got)
				}
				f, c := o.counts(path)
				wantFull, wantCond := before[path][0], before[path][1]
				switch want {
				case "Miss":
					wantFull++
				case "RefreshHit":
					wantCond++
				}
				if f != wantFull || c != wantCond {
					t.Errorf("origin saw %s %d times in full and %d conditionally, want %d and %d", path, f, c, wantFull, wantCond)
				}
			}
		})
	}
}
