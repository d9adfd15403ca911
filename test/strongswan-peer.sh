#!/usr/bin/env bash
# strongswan-peer.sh - run a private strongSwan (charon + kernel-libipsec)
# instance inside a network namespace (made by test/netns.sh), without touching
# the host's /etc/strongswan.conf, /etc/swanctl, /run/charon.* or network.
#
# Usage: strongswan-peer.sh CMD NETNS WORKDIR [ARGS...]
#   start    NETNS WORKDIR            write WORKDIR/strongswan.conf, start
#                                     charon in NETNS, wait for VICI, print
#                                     charon's pid
#   load     NETNS WORKDIR [FILE]     swanctl --load-all (FILE defaults to
#                                     WORKDIR/swanctl.conf; credential dirs
#                                     x509/, x509ca/, private/ ... are taken
#                                     next to FILE)
#   initiate NETNS WORKDIR CHILD [IKE] [TIMEOUT_S]   initiate CHILD (and IKE)
#   terminate NETNS WORKDIR IKE
#   sas      NETNS WORKDIR            swanctl --list-sas
#   wait-sa  NETNS WORKDIR CHILD [TIMEOUT_S]  wait until CHILD is INSTALLED
#                                     (use when the *other* peer initiates)
#   counters NETNS WORKDIR CHILD      print "bytes_in bytes_out packets_in
#                                     packets_out" of the first installed CHILD
#   swanctl  NETNS WORKDIR ARGS...    any swanctl command against this charon
#                                     (--uri is appended for you)
#   stop     NETNS WORKDIR            stop charon (SIGTERM, then SIGKILL)
#   status   NETNS WORKDIR            exit 0 if charon runs and answers
#
# Files in WORKDIR:
#   strongswan.conf   private daemon config, rewritten by every `start`
#                     (CYGNET_SS_KEEP_CONF=1 keeps a hand-edited one)
#   strongswan.d/*.conf  extra settings merged into it (e.g.
#                     charon { plugins { kernel-libipsec { allow_peer_ts = yes } } })
#   charon.vici       VICI socket      charon.log   daemon log (filelog)
#   charon.out        stdout/stderr    charon.pid   pid recorded by `start`
#   run/              bind-mounted over /run for charon only (it insists on
#                     writing /run/charon.pid, which would clash between two
#                     instances; a private mount namespace avoids that)
#
# Environment:
#   CYGNET_SS_CHARON        charon binary (default /usr/lib/ipsec/charon)
#   CYGNET_SS_PLUGINS       plugin load list (default below)
#   CYGNET_SS_LOGLEVEL      filelog default level (default 1) ; CYGNET_SS_LOGLEVEL_IKE (2)
#   CYGNET_SS_START_TIMEOUT seconds to wait for VICI (default 15)
set -euo pipefail

CHARON=${CYGNET_SS_CHARON:-/usr/lib/ipsec/charon}
# kernel-libipsec MUST come before kernel-netlink: the first registered
# kernel-ipsec backend wins; kernel-netlink is still needed for kernel-net
# (addresses, routes in table 220, TUN addressing).
DEFAULT_PLUGINS="random nonce openssl pem pkcs1 pkcs8 x509 pubkey revocation constraints aes sha1 sha2 hmac gcm kdf kernel-libipsec kernel-netlink socket-default vici"
PLUGINS=${CYGNET_SS_PLUGINS:-$DEFAULT_PLUGINS}
SWANCTL_PLUGINS="pem pkcs1 pkcs8 x509 pubkey openssl random nonce aes sha1 sha2 hmac gcm"

die() { echo "strongswan-peer.sh: error: $*" >&2; exit 1; }
log() { echo "strongswan-peer.sh: $*" >&2; }

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2; }

[[ $# -ge 3 ]] || usage
CMD=$1 NETNS=$2 WORKDIR=$3
shift 3
[[ $(id -u) -eq 0 ]] || die "must run as root"
if [[ $CMD == start ]]; then
  ip netns list | awk '{print $1}' | grep -qx -- "$NETNS" || die "network namespace '$NETNS' does not exist"
fi
case "$WORKDIR" in /*) ;; *) WORKDIR="$(pwd)/$WORKDIR" ;; esac
[[ $WORKDIR != *[[:space:]\"\']* ]] || die "WORKDIR must not contain spaces or quotes: $WORKDIR"
CONF="$WORKDIR/strongswan.conf"
URI="unix://$WORKDIR/charon.vici"

swan() { STRONGSWAN_CONF="$CONF" swanctl "$@" --uri "$URI"; }

charon_pid() { # prints pid if our charon is alive
  local pid
  [[ -f $WORKDIR/charon.pid ]] || return 1
  pid=$(<"$WORKDIR/charon.pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  [[ $(cat /proc/"$pid"/comm 2>/dev/null) == charon ]] || return 1
  echo "$pid"
}

write_conf() {
  mkdir -p "$WORKDIR/run" "$WORKDIR/strongswan.d"
  # the include below must match at least one file, or every swanctl call
  # prints "no files found matching"
  [[ -f $WORKDIR/strongswan.d/00-placeholder.conf ]] ||
    echo "# put extra strongswan.conf settings in other *.conf files here" \
      >"$WORKDIR/strongswan.d/00-placeholder.conf"
  cat >"$CONF" <<EOF
# private strongswan.conf written by strongswan-peer.sh (netns $NETNS)
charon {
  load_modular = no
  load = $PLUGINS
  # one instance per namespace, standard ports (500/4500)
  port = 500
  port_nat_t = 4500
  # a test peer: do not wait long for retransmits
  retransmit_tries = 3
  retransmit_timeout = 2.0
  install_routes = yes
  plugins {
    vici { socket = $URI }
    kernel-libipsec { allow_peer_ts = no }
  }
  filelog {
    cygnet {
      path = $WORKDIR/charon.log
      time_format = %H:%M:%S
      time_add_ms = yes
      default = ${CYGNET_SS_LOGLEVEL:-1}
      ike = ${CYGNET_SS_LOGLEVEL_IKE:-2}
      cfg = ${CYGNET_SS_LOGLEVEL_IKE:-2}
      knl = ${CYGNET_SS_LOGLEVEL_IKE:-2}
      esp = ${CYGNET_SS_LOGLEVEL:-1}
      flush_line = yes
      append = yes
    }
  }
  # no syslog output from test instances
  syslog { }
}
swanctl {
  load = $SWANCTL_PLUGINS
  socket = $URI
}
include $WORKDIR/strongswan.d/*.conf
EOF
}

cmd_start() {
  command -v swanctl >/dev/null || die "swanctl not installed (run scripts/install-deps.sh)"
  [[ -x $CHARON ]] || die "$CHARON not found (run scripts/install-deps.sh)"
  [[ -c /dev/net/tun ]] || die "/dev/net/tun missing (kernel-libipsec needs TUN)"
  if pid=$(charon_pid); then die "charon already running for $WORKDIR (pid $pid)"; fi
  mkdir -p "$WORKDIR/run" "$WORKDIR/strongswan.d"
  # swanctl looks for credential dirs next to swanctl.conf: create them so
  # --load-all does not complain
  (cd "$WORKDIR" && mkdir -p x509 x509ca x509ocsp x509aa x509ac x509crl pubkey private rsa ecdsa bliss pkcs8 pkcs12)
  if [[ ! -f $CONF || ${CYGNET_SS_KEEP_CONF:-0} != 1 ]]; then write_conf; fi
  rm -f "$WORKDIR/charon.vici" "$WORKDIR/run/charon.pid" "$WORKDIR/charon.pid"
  # ip netns exec -> unshare -> sh -> charon: every step exec()s, so $! is
  # charon's own pid. The private mount namespace gets WORKDIR/run on /run.
  STRONGSWAN_CONF="$CONF" ip netns exec "$NETNS" \
    unshare --mount --propagation private -- \
    /bin/sh -c 'mount --bind "$1" /run && exec "$2"' \
    cygnet-charon "$WORKDIR/run" "$CHARON" \
    </dev/null >>"$WORKDIR/charon.out" 2>&1 &
  local pid=$!
  echo "$pid" >"$WORKDIR/charon.pid"
  local deadline=$(( $(date +%s) + ${CYGNET_SS_START_TIMEOUT:-15} ))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "charon exited during startup; last lines of $WORKDIR/charon.out and charon.log:"
      tail -n 20 "$WORKDIR/charon.out" >&2 || true
      tail -n 20 "$WORKDIR/charon.log" >&2 2>/dev/null || true
      rm -f "$WORKDIR/charon.pid"
      exit 1
    fi
    if [[ -S $WORKDIR/charon.vici ]] && swan --stats >/dev/null 2>&1; then break; fi
    if (( $(date +%s) >= deadline )); then
      log "charon (pid $pid) did not answer on $URI within ${CYGNET_SS_START_TIMEOUT:-15}s; stopping it"
      kill "$pid" 2>/dev/null || true
      exit 1
    fi
    sleep 0.1
  done
  echo "$pid"
}

cmd_stop() {
  local pid
  if ! pid=$(charon_pid); then
    rm -f "$WORKDIR/charon.pid" "$WORKDIR/charon.vici"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "charon pid $pid ignored SIGTERM, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$WORKDIR/charon.pid" "$WORKDIR/charon.vici"
}

need_running() { charon_pid >/dev/null || die "charon for $WORKDIR is not running (use: $0 start $NETNS $WORKDIR)"; }

cmd_load() {
  need_running
  local file=${1:-$WORKDIR/swanctl.conf}
  [[ -f $file ]] || die "swanctl config $file not found"
  local dir; dir=$(cd "$(dirname "$file")" && pwd)
  (cd "$dir" && mkdir -p x509 x509ca x509ocsp x509aa x509ac x509crl pubkey private rsa ecdsa bliss pkcs8 pkcs12)
  swan --load-all --noprompt --file "$dir/$(basename "$file")"
}

# raw VICI output of list-sas, one CHILD per line: "name state bytes-in ..."
child_lines() {
  swan --list-sas --raw 2>/dev/null | grep -o 'child-sas {.*' || true
}

child_state() { # CHILD -> prints INSTALLED/... of first child with that name
  local child=$1
  swan --list-sas --child "$child" --raw 2>/dev/null \
    | grep -oE "name=$child [^}]*" | grep -oE 'state=[A-Z_]+' | head -n1 | cut -d= -f2
}

cmd_wait_sa() {
  need_running
  local child=${1:?CHILD name required} timeout=${2:-20} st=""
  local deadline=$(( $(date +%s) + timeout ))
  while (( $(date +%s) < deadline )); do
    st=$(child_state "$child" || true)
    [[ $st == INSTALLED ]] && { echo INSTALLED; return 0; }
    sleep 0.2
  done
  log "CHILD_SA '$child' not INSTALLED after ${timeout}s (state: ${st:-none}); see $WORKDIR/charon.log"
  return 1
}

cmd_counters() {
  need_running
  local child=${1:?CHILD name required} raw
  raw=$(swan --list-sas --child "$child" --raw 2>/dev/null | grep -oE "name=$child [^}]*state=INSTALLED[^}]*" | head -n1 || true)
  [[ -n $raw ]] || die "no INSTALLED CHILD_SA named '$child'"
  get() { grep -oE "(^| )$1=[0-9]+" <<<"$raw" | head -n1 | cut -d= -f2; }
  echo "$(get bytes-in) $(get bytes-out) $(get packets-in) $(get packets-out)"
}

case "$CMD" in
  start)     cmd_start ;;
  stop)      cmd_stop ;;
  status)    need_running; swan --stats >/dev/null || die "charon not answering on $URI"; charon_pid ;;
  load)      cmd_load "$@" ;;
  initiate)
    need_running
    child=${1:?CHILD name required}; ike=${2:-}; to=${3:-15}
    if [[ -n $ike ]]; then swan --initiate --child "$child" --ike "$ike" --timeout "$to"
    else swan --initiate --child "$child" --timeout "$to"; fi ;;
  terminate) need_running; swan --terminate --ike "${1:?IKE name required}" --timeout "${2:-10}" ;;
  sas)       need_running; swan --list-sas ;;
  wait-sa)   cmd_wait_sa "$@" ;;
  counters)  cmd_counters "$@" ;;
  swanctl)   need_running; swan "$@" ;;
  *)         usage ;;
esac
