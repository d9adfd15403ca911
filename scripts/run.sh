#!/usr/bin/env bash
# run.sh - cygnet's main job on a fresh Debian 12 machine, as root: builds the
# binary (fetching Go and the modules it needs), then `cygnet demo`: two
# network namespaces, a cygnet daemon in each, an IKEv2 tunnel between them
# and a ping through it; everything is removed afterwards.
# Extra arguments go to the demo (e.g. --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$(scripts/ensure-go.sh):$PATH"
export PATH
missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v ping >/dev/null || missing+=(iputils-ping)
if [[ ${#missing[@]} -gt 0 ]]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
go build -o bin/cygnet ./cmd/cygnet
exec bin/cygnet demo "$@"
