#!/usr/bin/env bash
# bench-compare.sh - end-to-end throughput and handshake rate of cygnet side by
# side with strongSwan (kernel-libipsec) and wireguard-go, in one run, on this
# machine. Run as root. See docs/PERFORMANCE.md.
#
# Usage: scripts/bench-compare.sh [--seconds N] [--runs R] [--keep-logs]
#   --seconds N   length of one iperf3 run and of one handshake run (default 10)
#   --runs R      runs per contestant; the median is reported (default 3)
#   --keep-logs   keep the work directory (configs, daemon logs) afterwards
#
# Contestants, each in its own pair of network namespaces (test/netns.sh,
# underlay 10.99.0.1 <-> 10.99.0.2, protected hosts 10.99.1.1 and 10.99.2.1):
#   veth         no tunnel: iperf3 10.99.0.1 -> 10.99.0.2 (reference)
#   cygnet       cygnet daemon <-> cygnet daemon, IKEv2 PSK, x25519,
#                AES-128-GCM, raw ESP (protocol 50), TUN
#   cygnet-udp   the same with encap = yes: ESP in UDP/4500 (UDP GSO/GRO)
#   strongswan   charon + kernel-libipsec <-> same, IKEv2 PSK, x25519,
#                AES-128-GCM, ESP in UDP (kernel-libipsec encapsulates)
#   wireguard-go wireguard-go <-> wireguard-go, ChaCha20-Poly1305, TUN
# Throughput: iperf3 TCP 10.99.1.1 -> 10.99.2.1 through the tunnel, one
# stream, N seconds (first second omitted), R runs interleaved across the
# contestants; median of the receiver's Mbit/s.
# Handshake rate: for cygnet and strongSwan, initiate + terminate of the IKE SA
# (with its CHILD_SA) through the command-line client, as often as fits in N
# seconds; R runs; median tunnels per second. Not measured for WireGuard (its
# 1-RTT handshake has no IKE_SA/CHILD_SA negotiation to compare with).
#
# Every namespace, daemon and iperf3 it starts is removed on exit, also on
# Ctrl-C. Only 10.99.x addresses inside its own namespaces are used.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

SECS=10 RUNS=3 KEEP=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --seconds) SECS=${2:?--seconds needs a value}; shift 2 ;;
    --seconds=*) SECS=${1#*=}; shift ;;
    --runs) RUNS=${2:?--runs needs a value}; shift 2 ;;
    --runs=*) RUNS=${1#*=}; shift ;;
    --keep-logs) KEEP=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-compare.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
[[ $SECS =~ ^[0-9]+$ && $SECS -ge 2 && $SECS -le 600 ]] || { echo "bench-compare.sh: --seconds must be 2..600" >&2; exit 2; }
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 1 && $RUNS -le 50 ]] || { echo "bench-compare.sh: --runs must be 1..50" >&2; exit 2; }

log() { echo "bench-compare.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }
[[ $(id -u) -eq 0 ]] || die "must run as root (it creates network namespaces)"

PATH="$(scripts/ensure-go.sh):$PATH"
export PATH

# ---------------------------------------------------------------- state + cleanup
PFX="bc$(( $$ % 10000 ))"          # + one letter per contestant: <= 7 chars
WORK=$(mktemp -d /tmp/cygnet-bench.XXXXXX)
PAIRS=()                            # netns.sh prefixes created by us
PIDS=()                             # background processes started by us
WG_SOCKS=()                         # wireguard-go's UAPI sockets (left behind by a SIGKILL)
FAILED=1

cleanup() {
  local pid
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  for p in "${WG_SOCKS[@]}"; do rm -f "$p"; done
  # netns.sh down also stops anything still running inside the namespaces
  for p in "${PAIRS[@]}"; do test/netns.sh down "$p" >/dev/null 2>&1 || log "warning: could not remove namespaces $p-*"; done
  if [[ $KEEP == 1 || $FAILED == 1 ]]; then
    log "logs and configs kept in $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

now_ns() { date +%s%N; }

# wait_for TIMEOUT_S WHAT CMD... : poll CMD every 0.1 s until it succeeds
wait_for() {
  local timeout=$1 what=$2; shift 2
  local deadline=$(( $(date +%s) + timeout ))
  while ! "$@" >/dev/null 2>&1; do
    (( $(date +%s) < deadline )) || { log "timed out after ${timeout}s waiting for $what"; return 1; }
    sleep 0.1
  done
}

# start_bg LOGFILE CMD... : start CMD in the background, remember its pid
start_bg() {
  local logf=$1; shift
  "$@" </dev/null >>"$logf" 2>&1 &
  PIDS+=("$!")
}

median() { # numbers on stdin -> median (empty input -> "n/a")
  sort -g | awk '{v[NR]=$1} END {
    if (NR == 0) { print "n/a"; exit }
    if (NR % 2) printf "%.1f\n", v[(NR+1)/2]; else printf "%.1f\n", (v[NR/2]+v[NR/2+1])/2 }'
}

ratio() { # a b -> a/b with two decimals, or n/a
  awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.2f\n", a/b; else print "n/a" }'
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# ---------------------------------------------------------------- prerequisites
log "installing/checking dependencies (scripts/install-deps.sh)"
CYGNET_SKIP_GO_TOOLS=1 scripts/install-deps.sh >/dev/null 2>"$WORK/install-deps.log" ||
  { cat "$WORK/install-deps.log" >&2; die "scripts/install-deps.sh failed"; }
for tool in ip iperf3 swanctl wg ss timeout; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/install-deps.sh should have installed it)"
done
log "building bin/cygnet and bin/wireguard-go"
go build -o bin/cygnet ./cmd/cygnet
go build -o bin/wireguard-go golang.zx2c4.com/wireguard
CYGNET=$ROOT/bin/cygnet
WGGO=$ROOT/bin/wireguard-go

for c in p c u s w; do
  test/netns.sh up "$PFX$c" >/dev/null || die "could not create namespaces $PFX$c-a/-b"
  PAIRS+=("$PFX$c")
done

A_UL=10.99.0.1 B_UL=10.99.0.2 A_HOST=10.99.1.1 B_HOST=10.99.2.1
A_NET=10.99.1.0/24 B_NET=10.99.2.0/24
PSK="cygnet-bench-psk-0123456789abcdef"

# tunnel_ping NS : one ping from A's protected host to B's, through the tunnel
tunnel_ping() { ip netns exec "$1" ping -c 1 -W 1 -I "$A_HOST" "$B_HOST"; }

# ---------------------------------------------------------------- cygnet
swanctl_conf() { # LOCAL REMOTE LOCALID REMOTEID LOCALTS REMOTETS [ENCAP]
  cat <<EOF
connections {
  bench {
    version = 2
    encap = ${7:-no}
    local_addrs = $1
    remote_addrs = $2
    proposals = aes128gcm16-prfsha256-x25519
    local {
      auth = psk
      id = $3
    }
    remote {
      auth = psk
      id = $4
    }
    children {
      net {
        mode = tunnel
        local_ts = $5
        remote_ts = $6
        esp_proposals = aes128gcm16
      }
    }
  }
}
secrets {
  ike-bench {
    id-a = a.bench.cygnet
    id-b = b.bench.cygnet
    secret = "$PSK"
  }
}
EOF
}

CYG_A_SOCK=$WORK/cygnet-a/cygnet.sock
cyg() { timeout 40 "$CYGNET" --socket "$CYG_A_SOCK" "$@"; }
cygu() { timeout 40 "$CYGNET" --socket "$WORK/cygnetu-a/cygnet.sock" "$@"; }

setup_cygnet() { # [u] : the ESP-in-UDP pair
  local side ns dir v=${1:-} encap=no
  [[ $v == u ]] && encap=yes
  for side in a b; do
    ns="${PFX}${v:-c}-$side" dir="$WORK/cygnet$v-$side"
    mkdir -p "$dir"
    if [[ $side == a ]]; then
      swanctl_conf $A_UL $B_UL a.bench.cygnet b.bench.cygnet $A_NET $B_NET $encap >"$dir/swanctl.conf"
    else
      swanctl_conf $B_UL $A_UL b.bench.cygnet a.bench.cygnet $B_NET $A_NET $encap >"$dir/swanctl.conf"
    fi
    start_bg "$dir/daemon.log" ip netns exec "$ns" "$CYGNET" --socket "$dir/cygnet.sock" daemon --config "$dir/swanctl.conf"
    wait_for 15 "cygnet daemon in $ns" timeout 5 "$CYGNET" --socket "$dir/cygnet.sock" list-conns ||
      { tail -n 20 "$dir/daemon.log" >&2; return 1; }
  done
}

cygnet_up() {
  cyg initiate --ike bench --child net >/dev/null || { tail -n 20 "$WORK/cygnet-a/daemon.log" >&2; return 1; }
  wait_for 10 "ping through the cygnet tunnel" tunnel_ping "${PFX}c-a"
}
cygnetu_up() {
  cygu initiate --ike bench --child net >/dev/null || { tail -n 20 "$WORK/cygnetu-a/daemon.log" >&2; return 1; }
  wait_for 10 "ping through the cygnet ESP-in-UDP tunnel" tunnel_ping "${PFX}u-a"
}

cygnet_down() {
  local out deadline
  cyg terminate --ike bench >/dev/null || return 1
  # terminate answers once the delete is under way (swanctl --terminate waits
  # for the peer's answer): poll list-sas until the SA is gone. No sleep
  # between polls: a 0.1 s step would dominate a handshake of a few ms, and
  # each poll is a process start anyway.
  deadline=$(( $(date +%s) + 10 ))
  while :; do
    out=$(cyg list-sas) || return 1
    [[ -z $out ]] && return 0
    (( $(date +%s) < deadline )) || { log "cygnet IKE SA still there 10 s after terminate"; return 1; }
  done
}

# ---------------------------------------------------------------- strongSwan
SS=test/strongswan-peer.sh
setup_strongswan() {
  local side ns dir
  for side in a b; do
    ns="${PFX}s-$side" dir="$WORK/swan-$side"
    mkdir -p "$dir"
    if [[ $side == a ]]; then
      swanctl_conf $A_UL $B_UL a.bench.cygnet b.bench.cygnet $A_NET $B_NET >"$dir/swanctl.conf"
    else
      swanctl_conf $B_UL $A_UL b.bench.cygnet a.bench.cygnet $B_NET $A_NET >"$dir/swanctl.conf"
    fi
    # charon is started in the background by strongswan-peer.sh; its pid is
    # recorded so that cleanup stops it even if netns.sh down does not get to
    CYGNET_SS_LOGLEVEL=0 CYGNET_SS_LOGLEVEL_IKE=0 timeout 30 $SS start "$ns" "$dir" >"$dir/start.out" ||
      { cat "$dir/start.out" >&2; return 1; }
    PIDS+=("$(tail -n 1 "$dir/start.out")")
    timeout 30 $SS load "$ns" "$dir" >/dev/null || return 1
  done
}
swan_a() { timeout 40 $SS swanctl "${PFX}s-a" "$WORK/swan-a" "$@"; }
swan_up() {
  swan_a --initiate --ike bench --child net --timeout 20 >/dev/null || { tail -n 20 "$WORK/swan-a/charon.log" >&2; return 1; }
}
swan_down() { swan_a --terminate --ike bench --timeout 20 >/dev/null; }

# ---------------------------------------------------------------- wireguard-go
setup_wireguard() {
  local side ns dir ifn peer_pub endpoint peer_net route_net src
  mkdir -p "$WORK/wg"
  (umask 077; wg genkey >"$WORK/wg/a.key"; wg genkey >"$WORK/wg/b.key") || return 1
  wg pubkey <"$WORK/wg/a.key" >"$WORK/wg/a.pub"; wg pubkey <"$WORK/wg/b.key" >"$WORK/wg/b.pub"
  for side in a b; do
    ns="${PFX}w-$side" ifn="${PFX}w$side"
    if [[ $side == a ]]; then
      peer_pub=$(<"$WORK/wg/b.pub") endpoint=$B_UL peer_net=$B_NET src=$A_HOST
    else
      peer_pub=$(<"$WORK/wg/a.pub") endpoint=$A_UL peer_net=$A_NET src=$B_HOST
    fi
    start_bg "$WORK/wg/$side.log" env WG_PROCESS_FOREGROUND=1 ip netns exec "$ns" "$WGGO" -f "$ifn"
    WG_SOCKS+=("/var/run/wireguard/$ifn.sock")
    wait_for 10 "wireguard-go $ifn in $ns" ip netns exec "$ns" wg show "$ifn" || return 1
    ip netns exec "$ns" wg set "$ifn" private-key "$WORK/wg/$side.key" listen-port 51820 \
      peer "$peer_pub" endpoint "$endpoint:51820" allowed-ips "$peer_net" || return 1
    ip -n "$ns" link set "$ifn" up || return 1
    ip -n "$ns" route add "$peer_net" dev "$ifn" src "$src" || return 1
  done
  wait_for 10 "ping through the WireGuard tunnel" tunnel_ping "${PFX}w-a"
}

# ---------------------------------------------------------------- measurements
# iperf_server NS ADDR : iperf3 server in NS bound to ADDR, port 5201
iperf_server() {
  start_bg "$WORK/iperf-$1.log" ip netns exec "$1" iperf3 -s -B "$2" -p 5201
  wait_for 10 "iperf3 server in $1" bash -c "ip netns exec '$1' ss -Hltn 'sport = :5201' | grep -q LISTEN"
}

# iperf_run NS SRC DST : prints the receiver's Mbit/s of one TCP run
iperf_run() {
  local out
  out=$(timeout $(( SECS + 30 )) ip netns exec "$1" iperf3 -c "$3" -B "$2" -p 5201 -t "$SECS" -O 1 \
    -f m --connect-timeout 5000 2>&1) || { log "iperf3 in $1 failed: $(tail -n 3 <<<"$out")"; echo "0"; return 0; }
  awk '/receiver/ { for (i = 1; i <= NF; i++) if ($i == "Mbits/sec") v = $(i-1) } END { print (v == "" ? 0 : v) }' <<<"$out"
}

# handshake_run UP DOWN : tunnels per second for one run of SECS seconds
handshake_run() {
  local up=$1 down=$2 n=0 fails=0 t0 t end
  t0=$(now_ns); end=$(( t0 + SECS * 1000000000 ))
  while :; do
    t=$(now_ns)
    (( t < end )) || break
    if $up && $down; then
      n=$(( n + 1 ))
    else
      fails=$(( fails + 1 ))
      (( fails <= 3 )) || { log "$up/$down failed $fails times; giving up this run"; break; }
    fi
  done
  t=$(now_ns)
  (( fails == 0 )) || log "$up: $fails failed cycles in this run"
  awk -v n="$n" -v ns="$(( t - t0 ))" 'BEGIN { printf "%.1f\n", n / (ns / 1e9) }'
}

# initiate only (for the handshake loop; the throughput path also pings)
cygnet_initiate() {
  local out
  out=$(cyg initiate --ike bench --child net) || return 1
  # "already established" would mean the previous SA was not gone: not a new tunnel
  [[ $out != *already* ]]
}

# ---------------------------------------------------------------- run
LOAD_START=$(loadavg)
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
log "start: $DATE, load average $LOAD_START, $(nproc) CPUs, $SECS s x $RUNS runs"

setup_cygnet || die "cygnet setup failed"
setup_cygnet u || die "cygnet ESP-in-UDP setup failed"
setup_strongswan || die "strongSwan setup failed"
setup_wireguard || die "wireguard-go setup failed"
cygnet_up || die "cygnet tunnel did not come up"
cygnetu_up || die "cygnet ESP-in-UDP tunnel did not come up"
swan_up || die "strongSwan tunnel did not come up"
wait_for 10 "ping through the strongSwan tunnel" tunnel_ping "${PFX}s-a" || die "strongSwan tunnel carries no traffic"
# what the SAs really are, not what the configs ask for
cyg list-sas >"$WORK/cygnet-sas.txt"
cygu list-sas >"$WORK/cygnetu-sas.txt"
swan_a --list-sas >"$WORK/swan-sas.txt"
encap_of() { if grep -q -- '-in-UDP' "$1"; then echo ESP-in-UDP; else echo raw ESP; fi; }
CYG_ENC=$(encap_of "$WORK/cygnet-sas.txt") CYGU_ENC=$(encap_of "$WORK/cygnetu-sas.txt") SS_ENC=$(encap_of "$WORK/swan-sas.txt")
log "cygnet CHILD_SAs: $CYG_ENC, $CYGU_ENC; strongSwan CHILD_SA: $SS_ENC"

iperf_server "${PFX}p-b" "$B_UL"
for c in c u s w; do iperf_server "$PFX$c-b" "$B_HOST"; done

declare -A TP
NAMES=(veth cygnet cygnet-udp strongswan wireguard-go)
declare -A NS=([veth]="${PFX}p-a" [cygnet]="${PFX}c-a" [cygnet-udp]="${PFX}u-a" [strongswan]="${PFX}s-a" [wireguard-go]="${PFX}w-a")
for r in $(seq 1 "$RUNS"); do
  for name in "${NAMES[@]}"; do
    if [[ $name == veth ]]; then v=$(iperf_run "${NS[$name]}" "$A_UL" "$B_UL")
    else v=$(iperf_run "${NS[$name]}" "$A_HOST" "$B_HOST"); fi
    log "throughput run $r/$RUNS $name: $v Mbit/s"
    TP[$name]+="$v "
  done
done

cygnet_down || die "cygnet tunnel did not go down"
swan_down || die "strongSwan tunnel did not go down"
declare -A HS
for r in $(seq 1 "$RUNS"); do
  v=$(handshake_run cygnet_initiate cygnet_down); log "handshake run $r/$RUNS cygnet: $v tunnels/s"; HS[cygnet]+="$v "
  v=$(handshake_run swan_up swan_down); log "handshake run $r/$RUNS strongswan: $v tunnels/s"; HS[strongswan]+="$v "
done
LOAD_END=$(loadavg)

declare -A TPM HSM
for name in "${NAMES[@]}"; do TPM[$name]=$(tr ' ' '\n' <<<"${TP[$name]}" | grep . | median); done
for name in cygnet strongswan; do HSM[$name]=$(tr ' ' '\n' <<<"${HS[$name]}" | grep . | median); done
HSM[veth]="-" HSM[wireguard-go]="n/a" HSM[cygnet-udp]="-"

echo
echo "cygnet benchmark comparison, $DATE, $(nproc) CPUs, kernel $(uname -r)"
echo "strongSwan $(dpkg-query -W -f='${Version}' strongswan-charon 2>/dev/null || echo '?') (kernel-libipsec), wireguard-go $(go list -m -f '{{.Version}}' golang.zx2c4.com/wireguard 2>/dev/null || echo '?'), iperf3 $(iperf3 --version 2>/dev/null | awk 'NR==1 {print $2}')"
echo "runs: $RUNS x $SECS s, medians; load average start $LOAD_START, end $LOAD_END"
echo
printf '%-14s %-36s %16s %16s\n' contestant "data path" "TCP Mbit/s" "tunnels/s"
printf '%-14s %-36s %16s %16s\n' -------------- ------------------------------------ ---------------- ----------------
declare -A DESC=([veth]="plain veth, no tunnel" [cygnet]="AES-128-GCM, $CYG_ENC, TUN" [cygnet-udp]="AES-128-GCM, $CYGU_ENC, TUN"
  [strongswan]="AES-128-GCM, $SS_ENC, libipsec TUN" [wireguard-go]="ChaCha20-Poly1305, UDP, TUN")
for name in "${NAMES[@]}"; do
  printf '%-14s %-36s %16s %16s\n' "$name" "${DESC[$name]}" "${TPM[$name]}" "${HSM[$name]}"
done
echo
echo "per-run values:"
for name in "${NAMES[@]}"; do
  printf '  %-14s Mbit/s: %s' "$name" "${TP[$name]}"
  [[ -n ${HS[$name]:-} ]] && printf '  tunnels/s: %s' "${HS[$name]}"
  echo
done
echo
echo "ratios (medians):"
echo "  throughput cygnet/strongswan:   $(ratio "${TPM[cygnet]}" "${TPM[strongswan]}")"
echo "  throughput cygnet/wireguard-go: $(ratio "${TPM[cygnet]}" "${TPM[wireguard-go]}")"
echo "  throughput cygnet/veth:         $(ratio "${TPM[cygnet]}" "${TPM[veth]}")"
echo "  throughput cygnet-udp/strongswan:   $(ratio "${TPM[cygnet-udp]}" "${TPM[strongswan]}")"
echo "  throughput cygnet-udp/wireguard-go: $(ratio "${TPM[cygnet-udp]}" "${TPM[wireguard-go]}")"
echo "  handshakes cygnet/strongswan:   $(ratio "${HSM[cygnet]}" "${HSM[strongswan]}")"
echo "  handshakes cygnet/wireguard-go: n/a (WireGuard handshake not comparable)"
FAILED=0
