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

func TestCreateInvalidationBatch(t *testing.T) {
	e := newDistEnv(t)
	d := e.create(t, seedConfig("ref", ""))

	batch := InvalidationBatch{CallerReference: "soft-1", Tags: []string{"product-42", "Category:shoes/v=2"}, Soft: true}
	inv, err := e.svc.CreateInvalidationBatch(t.Context(), d.ID, batch)
	if err != nil {
		t.Fatal(err)
	}
	if !inv.Soft || !slices.Equal(inv.Tags, batch.Tags) || len(inv.Paths) != 0 || inv.Status != portico.StatusInProgress {
		t.Errorf("invalidation = %+v, want soft, the tags, no paths, InProgress", inv)
	}

	// The same batch, tags in another order, is the same invalidation; a
	// change of mode or tags under the same caller reference is refused.
	same, err := e.svc.CreateInvalidationBatch(t.Context(), d.ID, InvalidationBatch{CallerReference: "soft-1", Tags: []string{"Category:shoes/v=2", "product-42"}, Soft: true})
	if err != nil || same.ID != inv.ID {
		t.Errorf("repeated batch = %+v, %v; want invalidation %s", same, err, inv.ID)
	}
	for name, other := range map[string]InvalidationBatch{
		"hard":       {CallerReference: "soft-1", Tags: batch.Tags},
		"other tags": {CallerReference: "soft-1", Tags: []string{"product-42"}, Soft: true},
		"with paths": {CallerReference: "soft-1", Paths: []string{"/a"}, Tags: batch.Tags, Soft: true},
	} {
		t.Run(name, func(t *testing.T) {
			e.wantUnchanged(t, portico.ErrInvalidationBatchAlreadyExists, 409, func() error {
				_, err := e.svc.CreateInvalidationBatch(t.Context(), d.ID, other)
				return err
			})
		})
	}
	// A CloudFront batch reusing a caller reference of an extended one is
	// refused too, and the other way round.
	if _, err := e.svc.CreateInvalidation(t.Context(), d.ID, "plain", []string{"/a"}); err != nil {
		t.Fatal(err)
	}
	e.wantUnchanged(t, portico.ErrInvalidationBatchAlreadyExists, 409, func() error {
		_, err := e.svc.CreateInvalidationBatch(t.Context(), d.ID, InvalidationBatch{CallerReference: "plain", Paths: []string{"/a"}, Soft: true})
		return err
	})

	// Read back, and in the state the edges compile.
	got, err := e.svc.GetInvalidation(t.Context(), d.ID, inv.ID)
	if err != nil || !got.Soft || !slices.Equal(got.Tags, batch.Tags) {
		t.Errorf("GetInvalidation = %+v, %v; want the soft batch with its tags", got, err)
	}
	st, err := e.svc.State(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(st.Invalidations, func(x portico.Invalidation) bool { return x.ID == inv.ID })
	if i < 0 || !st.Invalidations[i].Soft || !slices.Equal(st.Invalidations[i].Tags, batch.Tags) {
		t.Errorf("state invalidations = %+v, want %s soft with its tags", st.Invalidations, inv.ID)
	}
	// A CloudFront invalidation is stored exactly as before: no new fields.
	kv, err := e.store.Get(t.Context(), invalidationKey(d.ID, mustInvalidationID(t, e, d.ID, "plain")))
	if err != nil {
		t.Fatal(err)
	}
	if s := string(kv.Value); strings.Contains(s, "Tags") || strings.Contains(s, "Soft") {
		t.Errorf("a CloudFront invalidation is stored as %s, want no Tags or Soft", s)
	}
}

// mustInvalidationID returns the ID of the invalidation of distID created
// with callerRef.
func mustInvalidationID(t *testing.T, e *distEnv, distID, callerRef string) string {
	t.Helper()
	kv, err := e.store.Get(t.Context(), keyInvalRef+distID+"/"+callerRef)
	if err != nil {
		t.Fatal(err)
	}
	return string(kv.Value)
}

func TestCreateInvalidationBatchErrors(t *testing.T) {
	e := newDistEnv(t)
	d := e.create(t, seedConfig("ref", ""))
	tags := make([]string, MaxInvalidationPaths)
	for i := range tags {
		tags[i] = fmt.Sprint("tag-", i)
	}
	tests := []struct {
		name   string
		batch  InvalidationBatch
		code   string
		status int
	}{
		{"soft without paths or tags", InvalidationBatch{Soft: true}, portico.ErrInvalidArgument, 400},
		{"empty tag", InvalidationBatch{Tags: []string{""}}, portico.ErrInvalidArgument, 400},
		{"tag with a space", InvalidationBatch{Tags: []string{"a b"}}, portico.ErrInvalidArgument, 400},
		{"tag with a comma", InvalidationBatch{Tags: []string{"a,b"}}, portico.ErrInvalidArgument, 400},
		{"tag with a tab", InvalidationBatch{Tags: []string{"a\tb"}}, portico.ErrInvalidArgument, 400},
		{"tag with DEL", InvalidationBatch{Tags: []string{"a\x7fb"}}, portico.ErrInvalidArgument, 400},
		{"tag outside ASCII", InvalidationBatch{Tags: []string{"café"}}, portico.ErrInvalidArgument, 400},
		{"tag too long", InvalidationBatch{Tags: []string{strings.Repeat("t", MaxInvalidationTagLength+1)}}, portico.ErrInvalidArgument, 400},
		{"one good tag, one bad", InvalidationBatch{Tags: []string{"ok", " "}}, portico.ErrInvalidArgument, 400},
		{"bad path with tags", InvalidationBatch{Paths: []string{"no-slash"}, Tags: []string{"ok"}}, portico.ErrInvalidArgument, 400},
		{"paths and tags past the batch limit", InvalidationBatch{Paths: []string{"/a"}, Tags: tags}, portico.ErrBatchTooLarge, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.batch.CallerReference = "r"
			e.wantUnchanged(t, tt.code, tt.status, func() error {
				_, err := e.svc.CreateInvalidationBatch(t.Context(), d.ID, tt.batch)
				return err
			})
		})
	}

	// The longest tag, every visible ASCII character but the comma, and a
	// full batch of tags are fine.
	var visible []byte
	for c := byte('!'); c <= '~'; c++ {
		if c != ',' {
			visible = append(visible, c)
		}
	}
	ok := InvalidationBatch{CallerReference: "edge-cases", Tags: []string{strings.Repeat("t", MaxInvalidationTagLength), string(visible)}}
	if _, err := e.svc.CreateInvalidationBatch(t.Context(), d.ID, ok); err != nil {
		t.Errorf("valid tags refused: %v", err)
	}
	e.deploy(t)
	if _, err := e.svc.CreateInvalidationBatch(t.Context(), d.ID, InvalidationBatch{CallerReference: "full", Tags: tags}); err != nil {
		t.Errorf("a batch of %d tags refused: %v", len(tags), err)
	}
}

func TestValidateCacheTag(t *testing.T) {
	for _, tag := range []string{"a", "product-42", "Category:shoes/v=2", "\"quoted\"", strings.Repeat("x", MaxInvalidationTagLength)} {
		if err := ValidateCacheTag(tag); err != nil {
			t.Errorf("ValidateCacheTag(%q) = %v, want nil", tag, err)
		}
	}
	for _, tag := range []string{"", " ", "a b", "a,b", "a\x00", "\x80", "é", strings.Repeat("x", MaxInvalidationTagLength+1)} {
		err := ValidateCacheTag(tag)
		wantError(t, err, portico.ErrInvalidArgument, 400)
	}
}

func TestInvalidationTagsCountAsFilesInFlight(t *testing.T) {
	e := newDistEnv(t)
	d := e.create(t, seedConfig("ref", ""))
	files := make([]string, MaxFilesInProgress-1)
	for i := range files {
		files[i] = fmt.Sprint("/f", i)
	}
	if _, err := e.svc.CreateInvalidation(t.Context(), d.ID, "files", files); err != nil {
		t.Fatal(err)
	}
	e.wantUnchanged(t, portico.ErrTooManyInvalidationsInProgress, 400, func() error {
		_, err := e.svc.CreateInvalidationBatch(t.Context(), d.ID, InvalidationBatch{CallerReference: "two-tags", Tags: []string{"a", "b"}})
		return err
	})
	if _, err := e.svc.CreateInvalidationBatch(t.Context(), d.ID, InvalidationBatch{CallerReference: "one-tag", Tags: []string{"a"}, Soft: true}); err != nil {
		t.Fatalf("the 3,000th file or tag refused: %v", err)
	}
	e.wantUnchanged(t, portico.ErrTooManyInvalidationsInProgress, 400, func() error {
		_, err := e.svc.CreateInvalidation(t.Context(), d.ID, "one-more", []string{"/g"})
		return err
	})
}

// TestRaisedInvalidationLimits checks that InvalidationLimits raises every
// limit, and that its zero value is CloudFront's.
func TestRaisedInvalidationLimits(t *testing.T) {
	if got := (InvalidationLimits{}); got.paths() != MaxInvalidationPaths || got.wildcards() != MaxWildcardsInProgress {
		t.Errorf("zero limits = %d paths, %d wildcards; want CloudFront's %d, %d", got.paths(), got.wildcards(), MaxInvalidationPaths, MaxWildcardsInProgress)
	}
	const paths, wildcards = 5000, 40
	e := newDistEnv(t)
	e.svc.InvalidationLimits = InvalidationLimits{Paths: paths, Wildcards: wildcards}
	d := e.create(t, seedConfig("ref", ""))

	big := make([]string, paths+1)
	for i := range big {
		big[i] = fmt.Sprint("/f", i)
	}
	e.wantUnchanged(t, portico.ErrBatchTooLarge, 413, func() error {
		_, err := e.svc.CreateInvalidation(t.Context(), d.ID, "too-big", big)
		return err
	})
	if _, err := e.svc.CreateInvalidation(t.Context(), d.ID, "big", big[:paths]); err != nil {
		t.Fatalf("a batch of %d paths refused under raised limits: %v", paths, err)
	}
	e.wantUnchanged(t, portico.ErrTooManyInvalidationsInProgress, 400, func() error {
		_, err := e.svc.CreateInvalidationBatch(t.Context(), d.ID, InvalidationBatch{CallerReference: "a-tag", Tags: []string{"t"}})
		return err
	})

	stars := make([]string, wildcards)
	for i := range stars {
		stars[i] = fmt.Sprintf("/w%d/*", i)
	}
	if _, err := e.svc.CreateInvalidation(t.Context(), d.ID, "stars", stars); err != nil {
		t.Fatalf("%d wildcards refused under raised limits: %v", wildcards, err)
	}
	err := func() error {
		_, err := e.svc.CreateInvalidation(t.Context(), d.ID, "one-more-star", []string{"/x/*"})
		return err
	}()
	wantError(t, err, portico.ErrTooManyInvalidationsInProgress, 400)
	if !strings.Contains(err.Error(), fmt.Sprintf("(%d)", wildcards)) {
		t.Errorf("error %q does not name the raised limit %d", err, wildcards)
	}
	e.deploy(t)
	if _, err := e.svc.CreateInvalidation(t.Context(), d.ID, "after", stars); err != nil {
		t.Errorf("after completion: %v", err)
	}
}
