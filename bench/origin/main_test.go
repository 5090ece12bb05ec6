package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(newHandler())
	defer srv.Close()
	tests := []struct {
		method, path string
		status       int
		size         int
		cacheControl string
	}{
		{"GET", "/1k", 200, 1 << 10, "public, max-age=3600"},
		{"GET", "/100k", 200, 100 << 10, "public, max-age=3600"},
		{"GET", "/z/12345", 200, 1 << 10, "public, max-age=3600"},
		{"GET", "/nostore?u=1-2", 200, 1 << 10, "no-store"},
		{"HEAD", "/1k", 200, 0, "public, max-age=3600"},
		{"GET", "/other", 404, -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.size >= 0 && len(body) != tt.size {
				t.Errorf("body of %d bytes, want %d", len(body), tt.size)
			}
			if got := resp.Header.Get("Cache-Control"); got != tt.cacheControl {
				t.Errorf("Cache-Control %q, want %q", got, tt.cacheControl)
			}
			if tt.status == 200 && tt.method == "GET" && resp.ContentLength != int64(tt.size) {
				t.Errorf("Content-Length %d, want %d", resp.ContentLength, tt.size)
			}
		})
	}

	// Every request above was counted; reading the counter is not.
	for range 2 {
		resp, err := srv.Client().Get(srv.URL + "/__bench/stats")
		if err != nil {
			t.Fatal(err)
		}
		var stats struct{ Requests int64 }
		err = json.NewDecoder(resp.Body).Decode(&stats)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if stats.Requests != int64(len(tests)) {
			t.Errorf("stats say %d requests, want %d", stats.Requests, len(tests))
		}
	}
}
