package control

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/portico-edge/portico"
)

func TestCreateInvalidation(t *testing.T) {
	e := newDistEnv(t)
	d := e.create(t, seedConfig("ref", ""))
	e.deploy(t)

	inv, err := e.svc.CreateInvalidation(t.Context(), d.ID, "inv-1", []string{"/index.html", "/images/*"})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.ID) != 14 || inv.ID[0] != 'I' || inv.Status != portico.StatusInProgress || inv.DistributionID != d.ID {
		t.Errorf("invalidation = %+v, want an I… ID, InProgress, on %s", inv, d.ID)
	}
	got, err := e.svc.GetDistribution(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.InProgressInvalidationBatches != 1 || got.Status != portico.StatusDeployed {
		t.Errorf("distribution: %d batches in progress, %s; want 1, Deployed (an invalidation does not redeploy)", got.InProgressInvalidationBatches, got.Status)
	}
	if got.ETag != d.ETag {
		t.Errorf("ETag changed by an invalidation: %q → %q", d.ETag, got.ETag)
	}

	// The same caller reference with the same paths, in any order, is the
	// same invalidation.
	before := e.dump(t)
	same, err := e.svc.CreateInvalidation(t.Context(), d.ID, "inv-1", []string{"/images/*", "/index.html"})
	if err != nil {
		t.Fatal(err)
	}
	if same.ID != inv.ID || !slices.Equal(same.Paths, inv.Paths) {
		t.Errorf("retry with the same caller reference = %+v, want %+v", same, inv)
	}
	if after := e.dump(t); len(after) != len(before) {
		t.Errorf("a repeated batch stored something: %d keys → %d", len(before), len(after))
	}
	e.wantUnchanged(t, portico.ErrInvalidationBatchAlreadyExists, 409, func() error {
		_, err := e.svc.CreateInvalidation(t.Context(), d.ID, "inv-1", []string{"/other"})
		return err
	})

	e.deploy(t)
	done, err := e.svc.GetInvalidation(t.Context(), d.ID, inv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != portico.StatusCompleted || !slices.Equal(done.Paths, inv.Paths) || done.CallerReference != "inv-1" {
		t.Errorf("after the edge purged: %+v, want Completed with the same batch", done)
	}
	if got, _ := e.svc.GetDistribution(t.Context(), d.ID); got.InProgressInvalidationBatches != 0 {
		t.Errorf("InProgressInvalidationBatches = %d after completion, want 0", got.InProgressInvalidationBatches)
	}
}

func TestCreateInvalidationErrors(t *testing.T) {
	e := newDistEnv(t)
	d := e.create(t, seedConfig("ref", ""))
	many := make([]string, MaxInvalidationPaths+1)
	for i := range many {
		many[i] = fmt.Sprint("/file-", i)
	}
	tests := []struct {
		name      string
		dist, ref string
		paths     []string
		code      string
		status    int
	}{
		{"no such distribution", "ENOSUCHDIST000", "r", []string{"/a"}, portico.ErrNoSuchDistribution, 404},
		{"no caller reference", d.ID, "", []string{"/a"}, portico.ErrInvalidArgument, 400},
		{"caller reference too long", d.ID, strings.Repeat("r", 129), []string{"/a"}, portico.ErrInvalidArgument, 400},
		{"no paths", d.ID, "r", nil, portico.ErrInvalidArgument, 400},
		{"path without slash", d.ID, "r", []string{"/ok", "index.html"}, portico.ErrInvalidArgument, 400},
		{"empty path", d.ID, "r", []string{""}, portico.ErrInvalidArgument, 400},
		{"star in the middle", d.ID, "r", []string{"/a*/b"}, portico.ErrInvalidArgument, 400},
		{"two stars", d.ID, "r", []string{"/a**"}, portico.ErrInvalidArgument, 400},
		{"space", d.ID, "r", []string{"/a b"}, portico.ErrInvalidArgument, 400},
		{"control character", d.ID, "r", []string{"/a\nb"}, portico.ErrInvalidArgument, 400},
		{"path too long", d.ID, "r", []string{"/" + strings.Repeat("a", MaxInvalidationPathLength)}, portico.ErrInvalidArgument, 400},
		{"batch too large", d.ID, "r", many, portico.ErrBatchTooLarge, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.wantUnchanged(t, tt.code, tt.status, func() error {
				_, err := e.svc.CreateInvalidation(t.Context(), tt.dist, tt.ref, tt.paths)
				return err
			})
		})
	}

	// The longest path, a lone "*" wildcard and a full batch are fine.
	longest := "/" + strings.Repeat("a", MaxInvalidationPathLength-1)
	if _, err := e.svc.CreateInvalidation(t.Context(), d.ID, "edge-cases", []string{longest, "/*", "/a*"}); err != nil {
		t.Errorf("valid edge cases refused: %v", err)
	}
}

func TestInvalidationsInFlightLimits(t *testing.T) {
	e := newDistEnv(t)
	d := e.create(t, seedConfig("ref", ""))

	// Wildcards: 15 in flight, then the 16th is refused until they complete.
	for i := range MaxWildcardsInProgress - 1 {
		if _, err := e.svc.CreateInvalidation(t.Context(), d.ID, fmt.Sprint("w", i), []string{fmt.Sprintf("/w%d/*", i)}); err != nil {
			t.Fatal(err)
		}
	}
	e.wantUnchanged(t, portico.ErrTooManyInvalidationsInProgress, 400, func() error {
		_, err := e.svc.CreateInvalidation(t.Context(), d.ID, "two-more", []string{"/x/*", "/y/*"})
		return err
	})
	if _, err := e.svc.CreateInvalidation(t.Context(), d.ID, "15th", []string{"/x/*"}); err != nil {
		t.Fatalf("15th wildcard refused: %v", err)
	}
	e.wantUnchanged(t, portico.ErrTooManyInvalidationsInProgress, 400, func() error {
		_, err := e.svc.CreateInvalidation(t.Context(), d.ID, "16th", []string{"/y/*"})
		return err
	})

	// Files: 3,000 in flight.
	files := make([]string, MaxFilesInProgress)
	for i := range files {
		files[i] = fmt.Sprint("/f", i)
	}
	if _, err := e.svc.CreateInvalidation(t.Context(), d.ID, "files", files); err != nil {
		t.Fatalf("3,000 files refused: %v", err)
	}
	e.wantUnchanged(t, portico.ErrTooManyInvalidationsInProgress, 400, func() error {
		_, err := e.svc.CreateInvalidation(t.Context(), d.ID, "one-more-file", []string{"/g"})
		return err
	})

	// Once the edge has purged them, the limits are free again.
	e.deploy(t)
	if _, err := e.svc.CreateInvalidation(t.Context(), d.ID, "after", []string{"/y/*", "/g"}); err != nil {
		t.Errorf("after completion: %v", err)
	}
}

func TestGetInvalidationErrors(t *testing.T) {
	e := newDistEnv(t)
	d := e.create(t, seedConfig("ref", ""))
	other := e.create(t, seedConfig("other", ""))
	inv, err := e.svc.CreateInvalidation(t.Context(), d.ID, "r", []string{"/a"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dist, id string
		code           string
		status         int
	}{
		{"no such distribution", "ENOSUCHDIST000", inv.ID, portico.ErrNoSuchDistribution, 404},
		{"no such invalidation", d.ID, "INOSUCHINVAL00", portico.ErrNoSuchInvalidation, 404},
		{"invalidation of another distribution", other.ID, inv.ID, portico.ErrNoSuchInvalidation, 404},
		{"ID of another shape", d.ID, "../" + inv.ID, portico.ErrNoSuchInvalidation, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.GetInvalidation(t.Context(), tt.dist, tt.id)
			wantError(t, err, tt.code, tt.status)
		})
	}
}

func TestListInvalidations(t *testing.T) {
	e := newDistEnv(t)
	d := e.create(t, seedConfig("ref", ""))
	var newestFirst []string
	for i := range 5 {
		inv, err := e.svc.CreateInvalidation(t.Context(), d.ID, fmt.Sprint("r", i), []string{fmt.Sprint("/", i)})
		if err != nil {
			t.Fatal(err)
		}
		newestFirst = append([]string{inv.ID}, newestFirst...)
		if i == 2 {
			e.deploy(t) // the three oldest are Completed
		}
	}

	tests := []struct {
		marker    string
		maxItems  int
		want      []string
		next      string
		truncated bool
	}{
		{"", 0, newestFirst, "", false},
		{"", 2, newestFirst[:2], newestFirst[1], true},
		{newestFirst[1], 2, newestFirst[2:4], newestFirst[3], true},
		{newestFirst[3], 2, newestFirst[4:], "", false},
		{newestFirst[4], 2, nil, "", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.marker, tt.maxItems), func(t *testing.T) {
			page, next, truncated, err := e.svc.ListInvalidations(t.Context(), d.ID, tt.marker, tt.maxItems)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, inv := range page {
				got = append(got, inv.ID)
				want := portico.StatusCompleted
				if slices.Index(newestFirst, inv.ID) < 2 {
					want = portico.StatusInProgress
				}
				if inv.Status != want {
					t.Errorf("%s: Status = %q, want %q", inv.ID, inv.Status, want)
				}
			}
			if !slices.Equal(got, tt.want) || next != tt.next || truncated != tt.truncated {
				t.Errorf("got %q next %q truncated %v; want %q next %q truncated %v", got, next, truncated, tt.want, tt.next, tt.truncated)
			}
		})
	}

	_, _, _, err := e.svc.ListInvalidations(t.Context(), d.ID, "INOSUCHINVAL00", 10)
	wantError(t, err, portico.ErrInvalidArgument, 400)
	_, _, _, err = e.svc.ListInvalidations(t.Context(), "ENOSUCHDIST000", "", 10)
	wantError(t, err, portico.ErrNoSuchDistribution, 404)
}
