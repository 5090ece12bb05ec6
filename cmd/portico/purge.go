package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/cfapi"
	"github.com/portico-edge/portico/internal/control"
)

// purgeWait bounds how long `portico purge --wait` waits for Completed.
const purgeWait = 5 * time.Minute

// Pauses between the polls of `portico purge --wait`: the first, doubled
// after each poll up to the last. (GetInvalidation itself waits a few
// seconds for the edges, but need not.)
const (
	minPollPause = 200 * time.Millisecond
	maxPollPause = 2 * time.Second
)

// purgeCommand runs `portico purge --distribution ID [--soft] [--tag T]...
// [path...]`: it creates an invalidation, with Portico's purge extension
// for tags and soft purges, through the CloudFront API.
func purgeCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("portico purge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: portico purge --distribution ID [--soft] [--tag TAG]... [--wait] [--api URL] [--data DIR] [PATH]...

Purges a distribution's cached responses: those under each PATH ("/img.png",
"/img/*", "/*"), and those whose origin response carried TAG in its
Cache-Tag header. By default they are removed, as a CloudFront invalidation
removes them; with --soft they are marked stale instead, and revalidated with
the origin before they are served fresh again (they may still be served
meanwhile, as their Cache-Control allows). Also 'portico cache purge'.

`)
		fs.PrintDefaults()
	}
	var cf clientFlags
	addClientFlags(fs, &cf)
	dist := fs.String("distribution", "", "`ID` of the distribution (required)")
	soft := fs.Bool("soft", false, "mark what matches stale instead of removing it")
	var tags stringsFlag
	fs.Var(&tags, "tag", "purge the responses tagged `TAG` (Cache-Tag); repeat for more")
	ref := fs.String("caller-reference", "", "CallerReference of the invalidation, which makes a retry safe (default: a random one)")
	wait := fs.Bool("wait", false, "wait until every edge has purged (Completed)")
	paths, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case *dist == "":
		return usageError{"purge: --distribution is required"}
	case len(paths) == 0 && len(tags) == 0:
		return usageError{"purge: give paths, --tag, or both"}
	}
	if *ref == "" {
		var b [12]byte
		rand.Read(b[:])
		*ref = "portico-purge-" + hex.EncodeToString(b[:])
	}
	body, err := cfapi.EncodeInvalidationBatch(control.InvalidationBatch{CallerReference: *ref, Paths: paths, Tags: tags, Soft: *soft})
	if err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	client, err := newAPIClient(cf, getenv)
	if err != nil {
		return err
	}
	path := cfapi.Prefix + "distribution/" + url.PathEscape(*dist) + "/invalidation"
	out, err := client.do(ctx, http.MethodPost, path, nil, body)
	if err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	inv, err := parseInvalidation(out)
	if err != nil {
		return err
	}
	kind := "purge"
	if *soft {
		kind = "soft purge"
	}
	fmt.Fprintf(stdout, "Invalidation %s (%s of %d path(s) and %d tag(s) on %s): %s\n", inv.ID, kind, len(paths), len(tags), *dist, inv.Status)
	if !*wait || inv.Status == portico.StatusCompleted {
		return nil
	}
	if inv, err = waitCompleted(ctx, client, path, inv.ID); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Invalidation %s: %s\n", inv.ID, inv.Status)
	return nil
}

// waitCompleted polls the invalidation id, whose distribution's
// invalidations are at path, until it is Completed, at most purgeWait,
// pausing between polls from minPollPause doubling up to maxPollPause.
func waitCompleted(ctx context.Context, client *apiClient, path, id string) (*invalidation, error) {
	ctx, cancel := context.WithTimeout(ctx, purgeWait)
	defer cancel()
	pause := minPollPause
	timer := time.NewTimer(pause)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-ctx.Done():
			return nil, fmt.Errorf("purge: waiting for %s: %w", id, ctx.Err())
		}
		out, err := client.do(ctx, http.MethodGet, path+"/"+url.PathEscape(id), nil, nil)
		if err != nil {
			return nil, fmt.Errorf("purge: waiting for %s: %w", id, err)
		}
		inv, err := parseInvalidation(out)
		if err != nil || inv.Status == portico.StatusCompleted {
			return inv, err
		}
		pause = min(2*pause, maxPollPause)
		timer.Reset(pause)
	}
}

// invalidation is what purge reads of an Invalidation answer.
type invalidation struct {
	ID     string `xml:"Id"`
	Status string `xml:"Status"`
}

// parseInvalidation reads an Invalidation answer, which must have an Id.
func parseInvalidation(body []byte) (*invalidation, error) {
	var inv invalidation
	if err := xml.Unmarshal(body, &inv); err != nil {
		return nil, fmt.Errorf("purge: the API's answer is not an Invalidation: %w", err)
	}
	if inv.ID == "" {
		return nil, errors.New("purge: the API's answer is not an Invalidation: it has no Id")
	}
	return &inv, nil
}
