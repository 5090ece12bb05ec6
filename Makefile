# Portico's build and test entry points. `make test` is the one command CI
# runs (through .ci/run): it installs what the tests need on a fresh Debian
# machine, then checks formatting, vets and runs every test with the race
# detector.

GO      ?= go
PKGS    ?= ./...
TESTFLAGS ?= -race -timeout 25m

.PHONY: test test-deps check build run fuzz crash-soak

test: test-deps check
	$(GO) test $(TESTFLAGS) $(PKGS)

# test-deps installs the Debian packages and Go tools the tests use.
test-deps:
	bash scripts/install-test-deps.sh

# check fails on unformatted files and vet findings.
check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

# fuzz runs every native fuzz target for FUZZTIME each (default 10s; CI
# runs 2s each). For a long run: make fuzz FUZZTIME=10m.
FUZZTIME ?= 10s
fuzz:
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

build:
	$(GO) build -o bin/portico ./cmd/portico

run:
	$(GO) run ./cmd/portico serve

# crash-soak runs the crash-safety test of internal/crashtest with the full
# 100 kill cycles (plain `go test` runs 10): the real server under 8
# concurrent API writers, killed with SIGKILL at random moments, each
# restart checked for lost writes, the store with bbolt's check and the
# whole history for linearizability.
crash-soak:
	PORTICO_CRASH_CYCLES=100 $(GO) test -count=1 -timeout 60m -v -run 'Kill9|Linearizable' ./internal/crashtest

# bench runs Portico side by side with nginx, Varnish and HAProxy on this
# machine (about 10 minutes on 2 cores) and writes the results to
# bench/results; see the README's "Benchmarks". bench-quick runs every case
# for 2 s without writing results, to check that the harness works: CI runs
# it after `make test` (.ci/run).
.PHONY: bench bench-quick
bench:
	bash bench/run

bench-quick:
	bash bench/run --quick
