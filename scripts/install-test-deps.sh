#!/usr/bin/env bash
# Installs what Portico's tests need on a fresh Debian machine: the AWS CLI
# v2 (the README walkthrough is tested with it), Chromium (the console's
# browser test), testssl.sh (the edge's TLS scan) and h2spec (the edge's
# HTTP/2 conformance test). Go modules come from the module proxy through
# `go test`.
set -euo pipefail

packages=(awscli chromium testssl.sh)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
go mod download
# h2spec, into GOBIN or the first GOPATH's bin, where internal/edgeserver's
# test looks for it.
gobin="$(go env GOBIN)"
[ -n "$gobin" ] || gobin="$(go env GOPATH | cut -d: -f1)/bin"
[ -x "$gobin/h2spec" ] || go install github.com/summerwind/h2spec/cmd/h2spec@latest
