#!/usr/bin/env bash
# strongswan6-root.sh - build, once, the Debian 13 ("trixie") root file system
# that holds the strongSwan 6.0.1 interop peer (internal/testnet
# StartStrongSwan6). strongSwan 6 needs trixie's C library and OpenSSL, so it
# runs chrooted inside the test's namespaces and is never installed on the host.
#
# Usage: scripts/strongswan6-root.sh [DIR]
#   DIR: default $CYGNET_SW6_ROOT or /var/cache/cygnet/sw6-root
#
# Idempotent: a complete DIR is only checked (well under a second). Otherwise
# mmdebstrap (installed by scripts/install-deps.sh) creates it, variant
# minbase plus charon-systemd, swanctl, kernel-libipsec and the openssl
# plugin. Debian builds strongSwan 6.0.1 without ML-KEM (no `ml` plugin), so
# only that plugin is compiled from Debian's own source package of the
# installed version; the build tools are purged again. Needs root and the
# Debian mirrors of this machine's apt sources (override with
# CYGNET_SW6_MIRROR / CYGNET_SW6_SECURITY_MIRROR).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

ROOT=${1:-${CYGNET_SW6_ROOT:-/var/cache/cygnet/sw6-root}}
SUITE=trixie
log() { echo "strongswan6-root.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }
[[ $(id -u) -eq 0 ]] || die "must run as root"
case "$ROOT" in /*) ;; *) ROOT="$(pwd)/$ROOT" ;; esac
[[ $ROOT != / ]] || die "refusing DIR /"
PLUGDIR=$ROOT/usr/lib/ipsec/plugins
STAMP=$ROOT/.cygnet-sw6-complete

if [[ -f $STAMP && -x $ROOT/usr/sbin/charon-systemd && -f $PLUGDIR/libstrongswan-ml.so ]]; then
  chroot "$ROOT" /usr/sbin/swanctl --help >/dev/null 2>&1 || die "swanctl in $ROOT does not run; remove $ROOT to rebuild"
  exit 0
fi

# The first URI of this machine's apt sources for Debian's main (or
# security) suites: the root uses the same mirrors as the host.
mirror() {
  local want=$1 uri
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk -v want="$want" '
      /^deb / { for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { u = $i; s = $(i+1); break }
                if ((s ~ /-security$/) == (want == "security")) { print u; exit } }
      /^URIs:/ { u = $2 }
      /^Suites:/ && u != "" { for (i = 2; i <= NF; i++) if (($i ~ /-security$/) == (want == "security")) { print u; exit } }')
  echo "${uri%/}"
}
MIRROR=${CYGNET_SW6_MIRROR:-$(mirror main)}
SECMIRROR=${CYGNET_SW6_SECURITY_MIRROR:-$(mirror security)}
[[ -n $MIRROR && -n $SECMIRROR ]] || die "no Debian mirrors in the apt sources; set CYGNET_SW6_MIRROR and CYGNET_SW6_SECURITY_MIRROR"
SOURCES=("deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" "deb $SECMIRROR $SUITE-security main")
PKGS=charon-systemd,strongswan-swanctl,libcharon-extra-plugins,libstrongswan-standard-plugins,iproute2
T0=$(date +%s)

command -v mmdebstrap >/dev/null || die "mmdebstrap missing (scripts/install-deps.sh installs it)"
mkdir -p "$(dirname "$ROOT")"
rm -rf --one-file-system "$ROOT"
TMP=$ROOT.tmp.$$
trap 'rm -rf --one-file-system "$TMP"' EXIT
log "mmdebstrap $SUITE into $ROOT (a few minutes, once)"
mmdebstrap --quiet --mode=root --variant=minbase --include="$PKGS" --aptopt='Acquire::Retries "3"' \
  "$SUITE" "$TMP" "${SOURCES[@]}" >&2 || die "mmdebstrap failed"
# the root never starts services of its own
printf '#!/bin/sh\nexit 101\n' >"$TMP/usr/sbin/policy-rc.d"
chmod 755 "$TMP/usr/sbin/policy-rc.d"
T1=$(date +%s)

# The ml plugin from Debian's source of the installed version. The source is
# sometimes only on the security mirror, and apt-get source does not fall back
# to another archive, so each deb-src line is tried alone, security first.
VER=$(dpkg-query --admindir="$TMP/var/lib/dpkg" -W -f='${Version}' libstrongswan)
cp -L /etc/resolv.conf "$TMP/etc/resolv.conf" 2>/dev/null || true
SRCS=$(printf 'deb-src %s %s-security main\ndeb-src %s %s-updates main\ndeb-src %s %s main\n' \
  "$SECMIRROR" "$SUITE" "$MIRROR" "$SUITE" "$MIRROR" "$SUITE")
unshare --mount --propagation private -- /bin/sh -c '
  r=$1; shift
  mount -t proc proc "$r/proc" && mount --rbind /dev "$r/dev" && exec chroot "$r" "$@"' sw6 "$TMP" \
  /bin/bash -s "$VER" "$SRCS" <<'EOF' >&2 || die "building the ml plugin failed"
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
VER=$1 SRCS=$2
BUILD="gcc make libc6-dev dpkg-dev pkgconf bzip2 xz-utils"
LIST=/etc/apt/sources.list.d/sw6-src.list
pkgs() { dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | awk '$1 == "ii" { print $2 }' | sort; }
pkgs >/tmp/before
cleanup() {
  rm -f "$LIST"; cd /; rm -rf /usr/src/sw6-ml
  extra=$(pkgs | comm -13 /tmp/before - | tr '\n' ' ')
  [ -z "$extra" ] || apt-get purge -y -qq $extra >/dev/null 2>&1 || true
  apt-get clean; rm -rf /var/lib/apt/lists/* /tmp/before
}
trap cleanup EXIT
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get install -y -qq --no-install-recommends $BUILD >/dev/null
mkdir -p /usr/src/sw6-ml && cd /usr/src/sw6-ml
got=0
while read -r line; do
  echo "$line" >"$LIST"
  apt-get update -qq -o Dir::Etc::sourcelist=/dev/null || continue
  if apt-get source -qq -o Dir::Etc::sourcelist=/dev/null "strongswan=$VER" >/dev/null 2>&1; then got=1; break; fi
done <<<"$SRCS"
[ "$got" = 1 ] || { echo "cannot download the source of strongswan $VER"; exit 1; }
cd strongswan-*/
# Debian's patches touch configure.ac and a Makefile.am: age the autotools
# inputs so make does not try to rerun automake (not installed)
find . \( -name configure.ac -o -name Makefile.am -o -name '*.m4' \) -exec touch -d 2000-01-01 {} +
./configure -q --disable-defaults --enable-ml --prefix=/usr --sysconfdir=/etc --libdir=/usr/lib \
  --with-ipseclibdir=/usr/lib/ipsec --with-plugindir=/usr/lib/ipsec/plugins >/dev/null
make -s -C src/libstrongswan/plugins/ml >/dev/null
install -s -m 0644 src/libstrongswan/plugins/ml/.libs/libstrongswan-ml.so /usr/lib/ipsec/plugins/
EOF
[[ -f $TMP/usr/lib/ipsec/plugins/libstrongswan-ml.so ]] || die "ml plugin not built"
chroot "$TMP" /usr/sbin/swanctl --help >/dev/null 2>&1 || die "swanctl does not run in the new root"
echo "strongSwan $VER, built by scripts/strongswan6-root.sh on $(date -u +%F)" >"$TMP/.cygnet-sw6-complete"
mv "$TMP" "$ROOT"
trap - EXIT
log "done: $ROOT (strongSwan $VER, mmdebstrap $((T1 - T0)) s, ml plugin $(( $(date +%s) - T1 )) s, $(du -sh --one-file-system "$ROOT" | cut -f1))"
