#!/usr/bin/env bash
# install-deps.sh - install what cygnet's builds and tests need on a fresh
# Debian 12 machine. Run as root. Idempotent and non-interactive: when
# everything is present it is a fast no-op (no apt-get update, no network).
#
#   strongSwan (interop peer, run only inside test network namespaces):
#     strongswan-charon strongswan-swanctl   charon + swanctl/vici
#     libcharon-extra-plugins                kernel-libipsec (userspace ESP over TUN)
#     libcharon-extauth-plugins              eap-mschapv2
#     libstrongswan-standard-plugins         openssl plugin (AES-GCM, ChaCha20, X25519, ...)
#     libstrongswan-extra-plugins            cmac plugin (AES-CMAC-96 in the ESP algorithm interop test)
#     strongswan-pki                         pki (optional cross-checks of our certs)
#   freeradius (RADIUS server for the eap-radius tests, run only in the foreground
#     inside test network namespaces; its service start is blocked like strongSwan's)
#   network test tools: iproute2 iputils-ping iperf3 tcpdump nftables conntrack procps
#     util-linux (unshare, mount) python3-scapy tshark
#   wireguard-tools (wg; configures wireguard-go in scripts/bench-compare.sh)
#   mmdebstrap, then scripts/strongswan6-root.sh: the Debian 13 root holding the
#     strongSwan 6.0.1 peer (ML-KEM), built once into /var/cache/cygnet/sw6-root
#   Go: the toolchain is expected at /usr/local/go (not installed here);
#     staticcheck is installed with `go install` at a pinned version.
#
# Environment:
#   CYGNET_SKIP_APT=1        skip the Debian packages (Go tools only)
#   CYGNET_SKIP_GO_TOOLS=1   skip staticcheck
#   CYGNET_SKIP_SW6=1        skip the strongSwan 6 root
#   STATICCHECK_VERSION      default below
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

STATICCHECK_VERSION=${STATICCHECK_VERSION:-v0.8.2}
APT_OPTS=(-o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

log() { echo "install-deps.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root"

PKGS=(strongswan-charon strongswan-swanctl libcharon-extra-plugins libcharon-extauth-plugins
      libstrongswan-standard-plugins libstrongswan-extra-plugins strongswan-pki freeradius
      iproute2 iputils-ping iperf3 tcpdump nftables conntrack procps util-linux python3-scapy tshark
      wireguard-tools ca-certificates git mmdebstrap)

install_apt() {
  local missing=() p st
  for p in "${PKGS[@]}"; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $st == "install ok installed" ]] || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  log "installing ${missing[*]}"
  # strongswan-starter (pulled in by strongswan-charon) would start an IPsec
  # service in the HOST network namespace, freeradius a RADIUS server; tshark's postinst asks a debconf
  # question. Forbid service starts for the duration of the install (unless a
  # policy is already in place) and pre-answer the question.
  local tmp_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    tmp_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
  # update only when a package cannot be found in the current lists (a fresh
  # machine has none); the lock timeout waits for a concurrent apt/dpkg run
  if ! apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    # the lists lock may be held by a concurrent update: retry a few times
    local try
    for try in 1 2 3 4 5; do
      apt-get "${APT_OPTS[@]}" update -qq && break
      [[ $try == 5 ]] && die "apt-get update failed"
      log "apt-get update failed (try $try), retrying in 10 s"
      sleep 10
    done
    apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if [[ $tmp_policy == 1 ]]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
}

check_strongswan() {
  [[ -x /usr/lib/ipsec/charon ]] || die "/usr/lib/ipsec/charon missing"
  [[ -f /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so ]] || die "kernel-libipsec plugin missing"
  [[ -c /dev/net/tun ]] || log "warning: /dev/net/tun missing; kernel-libipsec (and cygnet) cannot work"
  # a charon/starter/freeradius started by the packages in the host namespace is a bug
  local pid
  for pid in $(pgrep -x charon 2>/dev/null; pgrep -x starter 2>/dev/null; pgrep -x freeradius 2>/dev/null); do
    if [[ $(readlink /proc/"$pid"/ns/net) == "$(readlink /proc/1/ns/net)" ]]; then
      log "warning: a charon/starter/freeradius (pid $pid) runs in the host network namespace"
    fi
  done
}

find_go() {
  if command -v go >/dev/null 2>&1; then command -v go; return 0; fi
  if [[ -x /usr/local/go/bin/go ]]; then echo /usr/local/go/bin/go; return 0; fi
  return 1
}

install_go_tools() {
  local gobin go
  if ! go=$(find_go); then
    die "Go toolchain not found (expected 'go' on PATH or /usr/local/go/bin/go); install Go 1.26+ first"
  fi
  gobin=$("$go" env GOBIN); [[ -n $gobin ]] || gobin="$("$go" env GOPATH)/bin"
  if [[ -x $gobin/staticcheck ]] && "$gobin/staticcheck" -version 2>/dev/null | grep -q "(${STATICCHECK_VERSION#v})"; then
    return 0
  fi
  log "installing staticcheck $STATICCHECK_VERSION into $gobin"
  "$go" install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
}

[[ ${CYGNET_SKIP_APT:-0} == 1 ]] || { install_apt; check_strongswan; }
[[ ${CYGNET_SKIP_APT:-0} == 1 || ${CYGNET_SKIP_SW6:-0} == 1 ]] || "$(dirname "${BASH_SOURCE[0]}")/strongswan6-root.sh"
[[ ${CYGNET_SKIP_GO_TOOLS:-0} == 1 ]] || install_go_tools
log "ok (strongswan-charon $(dpkg-query -W -f='${Version}' strongswan-charon 2>/dev/null || echo absent), $( (find_go >/dev/null && "$(find_go)" version) || echo 'no go'))"
