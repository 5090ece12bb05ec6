#!/usr/bin/env bash
# Installs what Portico's tests need on a fresh Debian machine: the AWS CLI
# v2 (the README walkthrough is tested with it) and Chromium (the console's
# browser test). Go modules come from the module proxy through `go test`.
set -euo pipefail

packages=(awscli chromium)
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
