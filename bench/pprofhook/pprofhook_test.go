package pprofhook

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/debug/vars")
	if err != nil {
		t.Fatal(err)
	}
	var vars struct{ Memstats struct{ Mallocs uint64 } }
	err = json.NewDecoder(resp.Body).Decode(&vars)
	resp.Body.Close()
	if err != nil || vars.Memstats.Mallocs == 0 {
		t.Errorf("/debug/vars: %v, Mallocs %d; want the memory statistics", err, vars.Memstats.Mallocs)
	}

	for path, want := range map[string]string{
		"/debug/pprof/":                  "allocs",
		"/debug/pprof/allocs?debug=1":    "heap profile",
		"/debug/pprof/cmdline":           "pprofhook",
		"/debug/pprof/goroutine?debug=1": "goroutine profile",
	} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %s, body lacks %q", path, resp.Status, want)
		}
	}
}
