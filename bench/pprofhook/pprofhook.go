// Package pprofhook serves Go's profiling endpoints (net/http/pprof) and
// runtime statistics (expvar) from a Portico built for profiling by
// `bench/run --profile`. The run script adds one file to cmd/portico
// through `go build -overlay` (portico_pprof.go.in) that calls Serve, so
// that neither the repository's code nor the benchmarked binary carries a
// profiling listener.
package pprofhook

import (
	"expvar"
	"net/http"
	"net/http/pprof"
	"time"
)

// Env names the environment variable that holds the listen address; the
// overlay file starts Serve only when it is set.
const Env = "PORTICO_BENCH_PPROF"

// Serve serves Handler on addr until the listener fails.
func Serve(addr string) error {
	srv := &http.Server{Addr: addr, Handler: Handler(), ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}

// Handler serves the profiles under /debug/pprof/ and the runtime
// statistics (runtime.MemStats among them) at /debug/vars.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/debug/vars", expvar.Handler())
	return mux
}
