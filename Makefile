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

build:
	$(GO) build -o bin/portico ./cmd/portico

run:
	$(GO) run ./cmd/portico serve
