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

	"github.com/portico-edge/portico/internal/cfapi"
)

// purgeWait bounds how long `portico purge --wait` waits for Completed.
const purgeWait = 5 * time.Minute

// statusCompleted is the Status of an invalidation every edge has carried
// out (portico.StatusCompleted; the package's name is taken here by the
// tests' portico type).
const statusCompleted = "Completed"

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
	body, err := purgeDocument(*ref, paths, tags, *soft)
	if err != nil {
		return err
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
	if !*wait || inv.Status == statusCompleted {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, purgeWait)
	defer cancel()
	for inv.Status != statusCompleted {
		// GetInvalidation itself waits a few seconds for the edges.
		out, err := client.do(ctx, http.MethodGet, path+"/"+url.PathEscape(inv.ID), nil, nil)
		if err != nil {
			return fmt.Errorf("purge: waiting for %s: %w", inv.ID, err)
		}
		if inv, err = parseInvalidation(out); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "Invalidation %s: %s\n", inv.ID, inv.Status)
	return nil
}

// purgeBatch is a CreateInvalidation request with Portico's purge
// extension (see package cfapi).
type purgeBatch struct {
	XMLName xml.Name `xml:"http://cloudfront.amazonaws.com/doc/2020-05-31/ InvalidationBatch"`
	Paths   struct {
		Quantity int `xml:"Quantity"`
		// A pointer: encoding/xml writes an empty Items for an empty
		// "Items>Path" slice.
		Items *pathItems `xml:"Items"`
	} `xml:"Paths"`
	CallerReference string        `xml:"CallerReference"`
	Purge           *purgeElement `xml:"https://portico.dev/2026/purge PorticoPurge"`
}

// pathItems is the Items element of Paths.
type pathItems struct {
	Path []string `xml:"Path"`
}

// purgeElement is the PorticoPurge element.
type purgeElement struct {
	Mode string     `xml:"Mode"`
	Tags *purgeTags `xml:"Tags"`
}

type purgeTags struct {
	Quantity int      `xml:"Quantity"`
	Items    []string `xml:"Items>Tag"`
}

// purgeDocument returns the InvalidationBatch document of a purge: a plain
// CloudFront batch for a hard purge of paths, with the PorticoPurge element
// for tags or a soft purge.
func purgeDocument(ref string, paths, tags []string, soft bool) ([]byte, error) {
	b := purgeBatch{CallerReference: ref}
	b.Paths.Quantity = len(paths)
	if len(paths) > 0 {
		b.Paths.Items = &pathItems{Path: paths}
	}
	if soft || len(tags) > 0 {
		b.Purge = &purgeElement{Mode: cfapi.ModeHard}
		if soft {
			b.Purge.Mode = cfapi.ModeSoft
		}
		if len(tags) > 0 {
			b.Purge.Tags = &purgeTags{Quantity: len(tags), Items: tags}
		}
	}
	out, err := xml.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("purge: encoding the request: %w", err)
	}
	return append([]byte(xml.Header), out...), nil
}

// invalidation is what purge reads of an Invalidation answer.
type invalidation struct {
	ID     string `xml:"Id"`
	Status string `xml:"Status"`
}

func parseInvalidation(body []byte) (*invalidation, error) {
	var inv invalidation
	if err := xml.Unmarshal(body, &inv); err != nil || inv.ID == "" {
		return nil, fmt.Errorf("purge: the API's answer is not an Invalidation: %v", err)
	}
	return &inv, nil
}
