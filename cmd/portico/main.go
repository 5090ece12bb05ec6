// Command portico runs Portico, a self-hosted edge that speaks CloudFront's
// and ACM's APIs: `portico serve` starts the control plane, the edge and the
// DNS server over one embedded store.
//
// Restarting: start the new `portico serve` with the same data directory
// while the old one runs. The old process hands over its listening
// sockets (API, HTTP, HTTPS, DNS) through the unix socket handoff.sock in
// the data directory, so the two share their queues and no waiting
// connection or query is dropped; it then drains and releases the store,
// and the new process loads the configuration and starts serving, at
// which the old one exits. If the new process fails before it serves, the
// old one serves again on the same sockets (see handoff.go and the
// README). Without a process to take over from, the listeners are bound
// anew, with SO_REUSEPORT on Linux.
//
// This is the only package that reads flags and the environment or calls
// os.Exit; everything else receives its configuration as arguments.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

// Exit codes.
const (
	exitOK       = 0
	exitFailure  = 1 // start-up or run-time failure
	exitBadUsage = 2 // bad flags or arguments
)

func main() {
	enableExtendedConnect()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// enableExtendedConnect turns on HTTP/2 extended CONNECT (RFC 8441), which
// carries WebSockets over HTTP/2 as CloudFront does. net/http reads the
// switch only from the GODEBUG environment variable, once, while the
// program initialises (a //go:debug directive does not reach it), so serve
// re-executes itself with the setting added; the process keeps its PID.
// Setting GODEBUG=http2xconnect=0 keeps it off.
func enableExtendedConnect() {
	godebug := os.Getenv("GODEBUG")
	if len(os.Args) < 2 || os.Args[1] != "serve" || strings.Contains(godebug, "http2xconnect=") {
		return
	}
	self, err := os.Executable()
	if err != nil {
		return
	}
	if godebug != "" {
		godebug += ","
	}
	// The environment's GODEBUG is replaced, not appended to: getenv
	// reads the first of two, and the new process would re-execute
	// itself again, without end.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GODEBUG=") })
	env = append(env, "GODEBUG="+godebug+"http2xconnect=1")
	err = syscall.Exec(self, os.Args, env)
	fmt.Fprintf(os.Stderr, "portico: WebSockets over HTTP/2 stay off: %v\n", err) // Exec returns only on failure
}

// usageError is a problem with the command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitBadUsage
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], getenv, stdout, stderr)
	case "cache":
		err = cacheCommand(ctx, args[1:], getenv, stdout, stderr)
	case "purge":
		err = purgeCommand(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		err = usageError{fmt.Sprintf("unknown command %q", args[0])}
	}
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "portico: %v (see 'portico help')\n", err)
		return exitBadUsage
	default:
		fmt.Fprintf(stderr, "portico: %v\n", err)
		return exitFailure
	}
}

const usage = `Portico: a self-hosted, CloudFront-compatible edge.

Usage:
  portico serve [--data DIR] [--api ADDR] [--http ADDR] [--https ADDR] [--dns ADDR]
                [--edge-domain NAME] [--public-ip IP,...] [--origin-ca FILE]
  portico cache explain [--api URL] [-H 'Name: value']... [--json] URL
  portico purge --distribution ID [--soft] [--tag TAG]... [--wait] [PATH]...

Credentials for the API and console come from PORTICO_ACCESS_KEY_ID and
PORTICO_SECRET_ACCESS_KEY; when unset, serve generates a pair into the data
directory and prints where it is. 'cache explain' and 'purge' sign with the
same credentials: from those variables, else from the data directory (--data).

Run 'portico serve -h', 'portico cache explain -h' or 'portico purge -h' for the flags.
`
