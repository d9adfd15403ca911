#!/usr/bin/env bash
# ensure-go.sh - make a Go toolchain able to build cygnet available, on a fresh
# Debian 12 machine too. Prints the directory to put first on PATH.
#
# A go >= 1.21 already installed is enough: it fetches the toolchain go.mod asks
# for by itself (GOTOOLCHAIN=auto). With no go at all, the release named below
# is taken from the Go module proxy (golang.org/toolchain) into /usr/local/go.
set -euo pipefail
GO_RELEASE=${GO_RELEASE:-go1.26.8}
log() { echo "ensure-go.sh: $*" >&2; }

for d in /usr/local/go/bin $(dirname "$(command -v go 2>/dev/null || echo /nonexistent/go)"); do
  if [[ -x $d/go ]]; then echo "$d"; exit 0; fi
done

[[ $(id -u) -eq 0 ]] || { log "no Go toolchain found and not root: install Go $GO_RELEASE"; exit 1; }
for tool in curl unzip; do
  if ! command -v "$tool" >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends curl unzip ca-certificates >/dev/null
    break
  fi
done
proxy=${GOPROXY:-https://proxy.golang.org}
proxy=${proxy%%,*}
mod="golang.org/toolchain@v0.0.1-$GO_RELEASE.linux-amd64"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log "downloading $mod from the Go module proxy"
curl -fsSL -o "$tmp/go.zip" "$proxy/golang.org/toolchain/@v/v0.0.1-$GO_RELEASE.linux-amd64.zip"
unzip -q "$tmp/go.zip" -d "$tmp/x"
rm -rf /usr/local/go
mv "$tmp/x/$mod" /usr/local/go
chmod -R a+rX /usr/local/go
chmod +x /usr/local/go/bin/* /usr/local/go/pkg/tool/*/* 2>/dev/null || true
/usr/local/go/bin/go version >&2
echo /usr/local/go/bin
