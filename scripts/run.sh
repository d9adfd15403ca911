#!/usr/bin/env bash
# run.sh - cygnet's main job on a fresh Debian 12 machine, as root: builds the
# binary (fetching Go and the modules it needs) and runs the engine self-test,
# which seals and opens traffic with every algorithm and mode and prints the
# throughput.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$(scripts/ensure-go.sh):$PATH"
export PATH
go build -o bin/cygnet ./cmd/cygnet
exec bin/cygnet selftest "$@"
