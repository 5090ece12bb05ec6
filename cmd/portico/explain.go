package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/portico-edge/portico/internal/explain"
)

// cacheCommand runs `portico cache explain|purge ...`.
func cacheCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"cache: name a subcommand: explain or purge"}
	}
	switch args[0] {
	case "explain":
		return explainCommand(ctx, args[1:], getenv, stdout, stderr)
	case "purge":
		return purgeCommand(ctx, args[1:], getenv, stdout, stderr)
	}
	return usageError{fmt.Sprintf("cache: unknown subcommand %q: use explain or purge", args[0])}
}

// explainCommand runs `portico cache explain [flags] URL`: it asks the API
// what the edge does with a request for URL and prints the answer.
func explainCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("portico cache explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: portico cache explain [--api URL] [--data DIR] [-H 'Name: value']... [-X METHOD] [--json] URL

Prints what the edge does with a request for URL: the distribution and alias
it matches, the cache behavior and policies in force, the cache key as the
cache computes it for this request, what the origin is sent, the TTLs, and
what the cache holds under that key (age, TTL left, tags). Nothing is
fetched from the origin and the cache is not changed.

`)
		fs.PrintDefaults()
	}
	var cf clientFlags
	addClientFlags(fs, &cf)
	var headers stringsFlag
	fs.Var(&headers, "H", "request `header` \"Name: value\" (Cookie, Accept-Encoding, Host, ...); repeat for more")
	method := fs.String("X", http.MethodGet, "request `method`")
	asJSON := fs.Bool("json", false, "print the explanation as JSON")
	rest, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError{"cache explain: give one URL"}
	}
	client, err := newAPIClient(cf, getenv)
	if err != nil {
		return err
	}
	q := url.Values{explain.ParamURL: {rest[0]}, explain.ParamMethod: {*method}}
	if len(headers) > 0 {
		q[explain.ParamHeader] = headers
	}
	body, err := client.do(ctx, http.MethodGet, explain.Path, q, nil)
	if err != nil {
		return fmt.Errorf("cache explain: %w", err)
	}
	if *asJSON {
		_, err := stdout.Write(body)
		return err
	}
	var x explain.Explanation
	if err := json.Unmarshal(body, &x); err != nil {
		return fmt.Errorf("cache explain: the API's answer does not decode: %w", err)
	}
	return x.WriteText(stdout)
}

// addClientFlags defines the flags of every client subcommand.
func addClientFlags(fs *flag.FlagSet, f *clientFlags) {
	fs.StringVar(&f.api, "api", defaultAPI, "`URL` (or host:port) of the API, as serve's --api")
	fs.StringVar(&f.dataDir, "data", "./portico-data", "the server's data `directory`, for its credentials file when PORTICO_ACCESS_KEY_ID and PORTICO_SECRET_ACCESS_KEY are not set")
}

// parseInterspersed parses args with fs, allowing flags after the
// positional arguments too ("URL -H x"), and returns the positional ones.
// A "--" ends the flags. -h prints the usage and returns flag.ErrHelp.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		if n := len(args) - fs.NArg(); n > 0 && args[n-1] == "--" {
			return append(rest, fs.Args()...), nil
		}
		args = fs.Args()
		if len(args) == 0 {
			return rest, nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}
