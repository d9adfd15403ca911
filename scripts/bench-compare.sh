#!/usr/bin/env bash
# bench-compare.sh - the data plane's yardstick: cygnet side by side with
# strongSwan (kernel-libipsec) and wireguard-go, in one run, on this machine.
# Run as root. See docs/PERFORMANCE.md.
#
# Usage: scripts/bench-compare.sh [--seconds N] [--runs R] [--ciphers LIST] [--only LIST] [--tcp1] [--keep-logs]
#   --seconds N     length of one measurement (default 10)
#   --runs R        runs per contestant, interleaved; medians are reported (default 3)
#   --ciphers LIST  ESP ciphers for cygnet and strongSwan, comma-separated
#                   (default aes128gcm16,aes256gcm16,chacha20poly1305)
#   --only LIST     only these contestants, comma-separated, of veth, cygnet,
#                   cygnet-link, cygnet-xdp, cygnet-udp, strongswan, wireguard-go (default all); the
#                   handshake rate is measured only when cygnet and strongswan
#                   both run
#   --tcp1          only the tcp1 measurement (and its cpu), no handshakes:
#                   a quick before/after check of one path
#   --keep-logs     keep the work directory (configs, daemon logs, both cygnet
#                   daemons' counters after the runs: stats-TAG-a.txt, -b.txt) afterwards
#
# Contestants, each in its own pair of network namespaces (test/netns.sh,
# underlay 10.99.0.1 <-> 10.99.0.2, protected hosts 10.99.1.1 and 10.99.2.1):
#   veth          no tunnel: 10.99.0.1 -> 10.99.0.2 (reference)
#   cygnet/C      cygnet daemon <-> cygnet daemon, IKEv2 PSK, x25519, ESP cipher C,
#                 raw ESP (protocol 50), TUN
#   cygnet-link/C the same with `cygnet daemon --esp-link-socket` (raw ESP
#                 through an AF_PACKET socket to the next hop); first cipher only
#   cygnet-xdp/C  raw ESP out through the link socket and in through AF_XDP
#                 (`--esp-link-socket --esp-xdp`); first cipher only
#   cygnet-udp/C  the same with encap = yes: ESP in UDP/4500 (UDP GSO/GRO)
#   strongswan/C  charon + kernel-libipsec <-> same, ESP cipher C, ESP in UDP
#   wireguard-go  wireguard-go <-> wireguard-go, ChaCha20-Poly1305, TUN
# Measured for each, run by run (run 1 of every contestant, then run 2, ...):
#   tcp1    iperf3 TCP, one stream, receiver Mbit/s (first second omitted),
#           and the sender's retransmissions
#   tcp4    iperf3 TCP, four streams, receiver Mbit/s
#   udp64, udp1400   iperf3 UDP at full speed with IP packets of 64 and 1400
#           octets: packets per second that arrived
#   ping    ICMP echo every 10 ms during a one-stream TCP bulk transfer:
#           round trip p50 and p99 in ms
#   cpu     CPU time (user + system, /proc/PID/stat) of both daemons
#           together, in us: per 1400 octets moved in the tcp1 run, and per
#           packet that arrived in the udp1400 run
# Handshake rate: for cygnet (raw ESP, first cipher) and strongSwan, initiate +
# terminate of the IKE SA (with its CHILD_SA) through the command-line client,
# as often as fits in N seconds; median tunnels per second.
#
# Every namespace, daemon and iperf3 it starts is removed on exit, also on
# Ctrl-C. Only 10.99.x addresses inside its own namespaces are used.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

SECS=10 RUNS=3 KEEP=0 CIPHERS=aes128gcm16,aes256gcm16,chacha20poly1305
ONLY=veth,cygnet,cygnet-link,cygnet-xdp,cygnet-udp,strongswan,wireguard-go TCP1ONLY=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --seconds) SECS=${2:?--seconds needs a value}; shift 2 ;;
    --seconds=*) SECS=${1#*=}; shift ;;
    --runs) RUNS=${2:?--runs needs a value}; shift 2 ;;
    --runs=*) RUNS=${1#*=}; shift ;;
    --ciphers) CIPHERS=${2:?--ciphers needs a value}; shift 2 ;;
    --ciphers=*) CIPHERS=${1#*=}; shift ;;
    --only) ONLY=${2:?--only needs a value}; shift 2 ;;
    --only=*) ONLY=${1#*=}; shift ;;
    --tcp1) TCP1ONLY=1; shift ;;
    --keep-logs) KEEP=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-compare.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
[[ $SECS =~ ^[0-9]+$ && $SECS -ge 2 && $SECS -le 600 ]] || { echo "bench-compare.sh: --seconds must be 2..600" >&2; exit 2; }
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 1 && $RUNS -le 50 ]] || { echo "bench-compare.sh: --runs must be 1..50" >&2; exit 2; }
IFS=, read -r -a CIPHER_LIST <<<"$CIPHERS"
for c in "${CIPHER_LIST[@]}"; do
  case $c in aes128gcm16|aes256gcm16|chacha20poly1305) ;;
    *) echo "bench-compare.sh: unknown cipher $c (aes128gcm16, aes256gcm16, chacha20poly1305)" >&2; exit 2 ;; esac
done
(( ${#CIPHER_LIST[@]} >= 1 && ${#CIPHER_LIST[@]} <= 3 )) || { echo "bench-compare.sh: --ciphers needs 1..3 ciphers" >&2; exit 2; }
declare -A WANT
IFS=, read -r -a ONLY_LIST <<<"$ONLY"
for c in "${ONLY_LIST[@]}"; do
  case $c in veth|cygnet|cygnet-link|cygnet-xdp|cygnet-udp|strongswan|wireguard-go) WANT[$c]=1 ;;
    *) echo "bench-compare.sh: unknown contestant $c in --only (veth, cygnet, cygnet-link, cygnet-xdp, cygnet-udp, strongswan, wireguard-go)" >&2; exit 2 ;; esac
done
(( ${#WANT[@]} >= 1 )) || { echo "bench-compare.sh: --only needs at least one contestant" >&2; exit 2; }
want() { [[ -n ${WANT[$1]:-} ]]; }
HANDSHAKES=0
if [[ $TCP1ONLY == 0 ]] && want cygnet && want strongswan; then HANDSHAKES=1; fi

log() { echo "bench-compare.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }
[[ $(id -u) -eq 0 ]] || die "must run as root (it creates network namespaces)"

PATH="$(scripts/ensure-go.sh):$PATH"
export PATH

# ---------------------------------------------------------------- state + cleanup
PFX="b$(( $$ % 1000 ))"            # + a letter and a digit per contestant: <= 6 chars
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
for tool in ip iperf3 swanctl wg ss timeout python3 getconf; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/install-deps.sh should have installed it)"
done
log "building bin/cygnet and bin/wireguard-go"
go build -o bin/cygnet ./cmd/cygnet
go build -o bin/wireguard-go golang.zx2c4.com/wireguard
CYGNET=$ROOT/bin/cygnet
WGGO=$ROOT/bin/wireguard-go

TAGS=()
want veth && TAGS+=(p)
want wireguard-go && TAGS+=(w)
for i in "${!CIPHER_LIST[@]}"; do
  want cygnet && TAGS+=("c$i")
  (( i == 0 )) && want cygnet-link && TAGS+=("k$i")
  (( i == 0 )) && want cygnet-xdp && TAGS+=("x$i")
  want cygnet-udp && TAGS+=("u$i")
  want strongswan && TAGS+=("s$i")
done
for t in "${TAGS[@]}"; do
  test/netns.sh up "$PFX$t" >/dev/null || die "could not create namespaces $PFX$t-a/-b"
  PAIRS+=("$PFX$t")
done

A_UL=10.99.0.1 B_UL=10.99.0.2 A_HOST=10.99.1.1 B_HOST=10.99.2.1
A_NET=10.99.1.0/24 B_NET=10.99.2.0/24
PSK="cygnet-bench-psk-0123456789abcdef"

# tunnel_ping NS : one ping from A's protected host to B's, through the tunnel
tunnel_ping() { ip netns exec "$1" ping -c 1 -W 1 -I "$A_HOST" "$B_HOST"; }

# ---------------------------------------------------------------- cygnet
swanctl_conf() { # LOCAL REMOTE LOCALID REMOTEID LOCALTS REMOTETS ENCAP ESP
  cat <<EOF
connections {
  bench {
    version = 2
    encap = $7
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
        esp_proposals = $8
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

declare -A PIDS_OF                  # contestant tag -> daemon pids (both ends)
cyg_sock() { echo "$WORK/cyg-$1-a/cygnet.sock"; }
cygt() { local tag=$1; shift; timeout 40 "$CYGNET" --socket "$(cyg_sock "$tag")" "$@"; }
cyg() { cygt c0 "$@"; }

setup_cygnet() { # TAG ENCAP ESP [DAEMON FLAG...]
  local tag=$1 encap=$2 esp=$3 side ns dir
  local extra=("${@:4}")
  for side in a b; do
    ns="$PFX$tag-$side" dir="$WORK/cyg-$tag-$side"
    mkdir -p "$dir"
    if [[ $side == a ]]; then
      swanctl_conf $A_UL $B_UL a.bench.cygnet b.bench.cygnet $A_NET $B_NET "$encap" "$esp" >"$dir/swanctl.conf"
    else
      swanctl_conf $B_UL $A_UL b.bench.cygnet a.bench.cygnet $B_NET $A_NET "$encap" "$esp" >"$dir/swanctl.conf"
    fi
    # ip netns exec execs the daemon: the pid is the daemon's
    start_bg "$dir/daemon.log" ip netns exec "$ns" "$CYGNET" --socket "$dir/cygnet.sock" daemon --config "$dir/swanctl.conf" "${extra[@]}"
    PIDS_OF[$tag]+="${PIDS[-1]} "
    wait_for 15 "cygnet daemon in $ns" timeout 5 "$CYGNET" --socket "$dir/cygnet.sock" list-conns ||
      { tail -n 20 "$dir/daemon.log" >&2; return 1; }
  done
}

cygnet_up() { # TAG
  cygt "$1" initiate --ike bench --child net >/dev/null || { tail -n 20 "$WORK/cyg-$1-a/daemon.log" >&2; return 1; }
  wait_for 10 "ping through the cygnet tunnel $1" tunnel_ping "$PFX$1-a"
}

# ---------------------------------------------------------------- strongSwan
SS=test/strongswan-peer.sh
setup_strongswan() { # TAG ESP
  local tag=$1 esp=$2 side ns dir
  for side in a b; do
    ns="$PFX$tag-$side" dir="$WORK/swan-$tag-$side"
    mkdir -p "$dir"
    if [[ $side == a ]]; then
      swanctl_conf $A_UL $B_UL a.bench.cygnet b.bench.cygnet $A_NET $B_NET no "$esp" >"$dir/swanctl.conf"
    else
      swanctl_conf $B_UL $A_UL b.bench.cygnet a.bench.cygnet $B_NET $A_NET no "$esp" >"$dir/swanctl.conf"
    fi
    # charon is started in the background by strongswan-peer.sh; its pid is
    # recorded so that cleanup stops it even if netns.sh down does not get to
    CYGNET_SS_LOGLEVEL=0 CYGNET_SS_LOGLEVEL_IKE=0 timeout 30 $SS start "$ns" "$dir" >"$dir/start.out" ||
      { cat "$dir/start.out" >&2; return 1; }
    PIDS+=("$(tail -n 1 "$dir/start.out")")
    PIDS_OF[$tag]+="${PIDS[-1]} "
    timeout 30 $SS load "$ns" "$dir" >/dev/null || return 1
  done
}
swant() { local tag=$1; shift; timeout 40 $SS swanctl "$PFX$tag-a" "$WORK/swan-$tag-a" "$@"; }
swan_a() { swant s0 "$@"; }
swan_up() { # [TAG]
  local tag=${1:-s0}
  swant "$tag" --initiate --ike bench --child net --timeout 20 >/dev/null || { tail -n 20 "$WORK/swan-$tag-a/charon.log" >&2; return 1; }
}
swan_down() { swan_a --terminate --ike bench --timeout 20 >/dev/null; }

# ---------------------------------------------------------------- wireguard-go
setup_wireguard() {
  local side ns dir ifn peer_pub endpoint peer_net route_net src
  mkdir -p "$WORK/wg"
  (umask 077; wg genkey >"$WORK/wg/a.key"; wg genkey >"$WORK/wg/b.key") || return 1
  wg pubkey <"$WORK/wg/a.key" >"$WORK/wg/a.pub"; wg pubkey <"$WORK/wg/b.key" >"$WORK/wg/b.pub"
  for side in a b; do
    ns="${PFX}w-$side" ifn="${PFX}wg$side"
    if [[ $side == a ]]; then
      peer_pub=$(<"$WORK/wg/b.pub") endpoint=$B_UL peer_net=$B_NET src=$A_HOST
    else
      peer_pub=$(<"$WORK/wg/a.pub") endpoint=$A_UL peer_net=$A_NET src=$B_HOST
    fi
    start_bg "$WORK/wg/$side.log" env WG_PROCESS_FOREGROUND=1 ip netns exec "$ns" "$WGGO" -f "$ifn"
    PIDS_OF[w]+="${PIDS[-1]} "
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

# iperf_server NS ADDR : iperf3 server in NS bound to ADDR, port 5201
iperf_server() {
  start_bg "$WORK/iperf-$1.log" ip netns exec "$1" iperf3 -s -B "$2" -p 5201
  wait_for 10 "iperf3 server in $1" bash -c "ip netns exec '$1' ss -Hltn 'sport = :5201' | grep -q LISTEN"
}

# iperf_json NS SRC DST ARGS... : one iperf3 client run, its JSON on stdout
# ("{}" when it failed)
iperf_json() {
  local ns=$1 src=$2 dst=$3 out; shift 3
  out=$(timeout $(( SECS + 30 )) ip netns exec "$ns" iperf3 -c "$dst" -B "$src" -p 5201 -t "$SECS" \
    --connect-timeout 5000 -J "$@" 2>/dev/null) || { log "iperf3 $* in $ns failed"; echo "{}"; return 0; }
  echo "$out"
}

# jq-less JSON reading: jget EXPR reads the JSON on stdin, prints EXPR of j (0 on failure)
jget() { python3 -c "import json,sys
try:
  j=json.load(sys.stdin); print($1)
except Exception: print(0)"; }

# cpu_ticks PIDS... : user + system clock ticks of the processes together
cpu_ticks() {
  local t=0 pid
  for pid in "$@"; do
    [[ -r /proc/$pid/stat ]] || continue
    t=$(( t + $(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}') ))
  done
  echo "$t"
}
HZ=$(getconf CLK_TCK)

# ping_under_load NS SRC DST : "p50 p99" of ping round trips (ms) during a
# one-stream TCP bulk transfer
ping_under_load() {
  local ns=$1 src=$2 dst=$3 bulk out
  timeout $(( SECS + 30 )) ip netns exec "$ns" iperf3 -c "$dst" -B "$src" -p 5201 -t "$SECS" \
    --connect-timeout 5000 >/dev/null 2>&1 &
  bulk=$!
  sleep 1 # the transfer is under way (slow start done) before the first echo
  out=$(ip netns exec "$ns" ping -I "$src" -i 0.01 -W 1 -w $(( SECS - 1 )) "$dst" 2>/dev/null) || true
  wait "$bulk" || true
  grep -o 'time=[0-9.]*' <<<"$out" | cut -d= -f2 | sort -g | awk '{v[NR]=$1} END {
    if (NR == 0) { print "0 0"; exit }
    i50 = int((NR+1)*0.50); i99 = int(NR*0.99 + 0.999); if (i50 < 1) i50 = 1; if (i99 > NR) i99 = NR
    printf "%.2f %.2f\n", v[i50], v[i99] }'
}

# measure NAME NS SRC DST PIDS : one run of every measurement, appended to M
declare -A M
measure() {
  local name=$1 ns=$2 src=$3 dst=$4 pids=$5 j v c0 c1 pk p
  # shellcheck disable=SC2086 # pids is a list
  c0=$(cpu_ticks $pids)
  j=$(iperf_json "$ns" "$src" "$dst" -O 1)
  # shellcheck disable=SC2086
  c1=$(cpu_ticks $pids)
  M[$name,tcp1]+="$(jget "round(j['end']['sum_received']['bits_per_second']/1e6)" <<<"$j") "
  # packets: 1400-octet equivalents over the whole run, the omitted second included
  pk=$(jget "int(j['end']['sum_received']['bits_per_second']/8/1400*($SECS+1))" <<<"$j")
  if [[ -n $pids && $pk -gt 0 ]]; then
    M[$name,cpu]+="$(awk -v t=$(( c1 - c0 )) -v hz="$HZ" -v n="$pk" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }') "
  fi
  M[$name,retr]+="$(jget "j['end']['sum_sent']['retransmits']" <<<"$j") "
  if [[ $TCP1ONLY == 1 ]]; then
    log "run $r/$RUNS $name: tcp1 $(last "${M[$name,tcp1]}") Mbit/s (retr $(last "${M[$name,retr]}")), cpu $(last "${M[$name,cpu]:-}") us/pkt"
    return 0
  fi
  j=$(iperf_json "$ns" "$src" "$dst" -O 1 -P 4)
  M[$name,tcp4]+="$(jget "round(j['end']['sum_received']['bits_per_second']/1e6)" <<<"$j") "
  j=$(iperf_json "$ns" "$src" "$dst" -u -b 0 -l 36)
  M[$name,udp64]+="$(jget "round((j['end']['sum']['packets']-j['end']['sum']['lost_packets'])/j['end']['sum']['seconds']/1e3,1)" <<<"$j") "
  # shellcheck disable=SC2086 # pids is a list
  c0=$(cpu_ticks $pids)
  j=$(iperf_json "$ns" "$src" "$dst" -u -b 0 -l 1372)
  # shellcheck disable=SC2086
  c1=$(cpu_ticks $pids)
  pk=$(jget "j['end']['sum']['packets']-j['end']['sum']['lost_packets']" <<<"$j")
  M[$name,udp1400]+="$(jget "round((j['end']['sum']['packets']-j['end']['sum']['lost_packets'])/j['end']['sum']['seconds']/1e3,1)" <<<"$j") "
  if [[ -n $pids && $pk -gt 0 ]]; then
    M[$name,cpuu]+="$(awk -v t=$(( c1 - c0 )) -v hz="$HZ" -v n="$pk" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }') "
  fi
  read -r p v <<<"$(ping_under_load "$ns" "$src" "$dst")"
  M[$name,p50]+="$p " M[$name,p99]+="$v "
  log "run $r/$RUNS $name: tcp1 $(last "${M[$name,tcp1]}") Mbit/s (retr $(last "${M[$name,retr]}")), tcp4 $(last "${M[$name,tcp4]}"), udp64 $(last "${M[$name,udp64]}") kpps, udp1400 $(last "${M[$name,udp1400]}") kpps, ping $p/$v ms, cpu $(last "${M[$name,cpu]:-}") us/pkt (tcp1), $(last "${M[$name,cpuu]:-}") (udp1400)"
}
last() { awk '{print $NF}' <<<"$1"; }

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
log "start: $DATE, load average $LOAD_START, $(nproc) CPUs, $SECS s x $RUNS runs, ciphers $CIPHERS"

NAMES=()
declare -A NS TAG_OF DESC
if want veth; then NAMES+=(veth) NS[veth]="${PFX}p-a" DESC[veth]="plain veth, no tunnel"; fi
for i in "${!CIPHER_LIST[@]}"; do
  c=${CIPHER_LIST[$i]}
  if want cygnet; then
    setup_cygnet "c$i" no "$c" || die "cygnet setup failed"
    NAMES+=("cygnet/$c") TAG_OF[cygnet/$c]=c$i
  fi
  if (( i == 0 )) && want cygnet-link; then
    setup_cygnet "k$i" no "$c" --esp-link-socket || die "cygnet link-socket setup failed"
    NAMES+=("cygnet-link/$c") TAG_OF[cygnet-link/$c]=k$i
  fi
  if (( i == 0 )) && want cygnet-xdp; then
    setup_cygnet "x$i" no "$c" --esp-link-socket --esp-xdp || die "cygnet AF_XDP setup failed"
    NAMES+=("cygnet-xdp/$c") TAG_OF[cygnet-xdp/$c]=x$i
  fi
  if want cygnet-udp; then
    setup_cygnet "u$i" yes "$c" || die "cygnet ESP-in-UDP setup failed"
    NAMES+=("cygnet-udp/$c") TAG_OF[cygnet-udp/$c]=u$i
  fi
  if want strongswan; then
    setup_strongswan "s$i" "$c" || die "strongSwan setup failed"
    NAMES+=("strongswan/$c") TAG_OF[strongswan/$c]=s$i
  fi
done
if want wireguard-go; then
  setup_wireguard || die "wireguard-go setup failed"
  NAMES+=(wireguard-go) TAG_OF[wireguard-go]=w
fi
for name in "${NAMES[@]}"; do
  [[ $name == veth ]] && continue
  t=${TAG_OF[$name]}
  NS[$name]="$PFX$t-a"
  case $name in
    cygnet*) cygnet_up "$t" || die "cygnet tunnel $name did not come up"
      cygt "$t" list-sas >"$WORK/sas-$t.txt" ;;
    strongswan*) swan_up "$t" || die "strongSwan tunnel $name did not come up"
      wait_for 10 "ping through the strongSwan tunnel $name" tunnel_ping "$PFX$t-a" || die "strongSwan tunnel $name carries no traffic"
      swant "$t" --list-sas >"$WORK/sas-$t.txt" ;;
  esac
done
# what the SAs really are, not what the configs ask for
encap_of() { if grep -q -- '-in-UDP' "$1"; then echo ESP-in-UDP; else echo raw ESP; fi; }
for name in "${NAMES[@]}"; do
  t=${TAG_OF[$name]:-}
  case $name in
    cygnet-link*) DESC[$name]="cygnet, raw ESP, link socket" ;;
    cygnet-xdp*) DESC[$name]="cygnet, raw ESP, link + AF_XDP" ;;
    cygnet*) DESC[$name]="cygnet, $(encap_of "$WORK/sas-$t.txt")" ;;
    strongswan*) DESC[$name]="kernel-libipsec, $(encap_of "$WORK/sas-$t.txt")" ;;
    wireguard-go) DESC[$name]="ChaCha20-Poly1305, UDP" ;;
  esac
done
for name in "${NAMES[@]}"; do log "$name: ${DESC[$name]}"; done

want veth && iperf_server "${PFX}p-b" "$B_UL"
for name in "${NAMES[@]}"; do [[ $name == veth ]] || iperf_server "${NS[$name]%-a}-b" "$B_HOST"; done

for r in $(seq 1 "$RUNS"); do
  for name in "${NAMES[@]}"; do
    if [[ $name == veth ]]; then measure "$name" "${NS[$name]}" "$A_UL" "$B_UL" ""
    else measure "$name" "${NS[$name]}" "$A_HOST" "$B_HOST" "${PIDS_OF[${TAG_OF[$name]}]}"; fi
  done
done

# Both ends' counters after the runs (drops by reason), kept with --keep-logs.
for name in "${NAMES[@]}"; do
  t=${TAG_OF[$name]:-}
  [[ $name == cygnet* ]] || continue
  for side in a b; do
    timeout 10 "$CYGNET" --socket "$WORK/cyg-$t-$side/cygnet.sock" stats >"$WORK/stats-$t-$side.txt" 2>&1 || true
  done
done

declare -A HS
if [[ $HANDSHAKES == 1 ]]; then
  swant c0 list-sas >/dev/null 2>&1 || true
  cygnet_down || die "cygnet tunnel did not go down"
  swan_down || die "strongSwan tunnel did not go down"
  for r in $(seq 1 "$RUNS"); do
    v=$(handshake_run cygnet_initiate cygnet_down); log "handshake run $r/$RUNS cygnet: $v tunnels/s"; HS[cygnet]+="$v "
    v=$(handshake_run swan_up swan_down); log "handshake run $r/$RUNS strongswan: $v tunnels/s"; HS[strongswan]+="$v "
  done
fi
LOAD_END=$(loadavg)

med() { tr ' ' '\n' <<<"${1:-}" | { grep . || true; } | median; }
METRICS=(tcp1 retr tcp4 udp64 udp1400 p50 p99 cpu cpuu)
declare -A MED
for name in "${NAMES[@]}"; do for m in "${METRICS[@]}"; do MED[$name,$m]=$(med "${M[$name,$m]:-}"); done; done
want veth && MED[veth,cpu]="-" MED[veth,cpuu]="-"

echo
echo "cygnet benchmark comparison, $DATE, $(nproc) CPUs, kernel $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "strongSwan $(dpkg-query -W -f='${Version}' strongswan-charon 2>/dev/null || echo '?') (kernel-libipsec), wireguard-go $(go list -m -f '{{.Version}}' golang.zx2c4.com/wireguard 2>/dev/null || echo '?'), iperf3 $(iperf3 --version 2>/dev/null | awk 'NR==1 {print $2}'), cygnet $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "runs: $RUNS x $SECS s per measurement, interleaved, medians; load average start $LOAD_START, end $LOAD_END"
echo
F='%-30s %-27s %7s %6s %7s %6s %7s %6s %6s %6s %7s\n'
# shellcheck disable=SC2059 # one format for every row
printf "$F" contestant "data path" "tcp1" retr "tcp4" "udp64" "udp1400" "p50" "p99" "cpu" "cpu"
# shellcheck disable=SC2059
printf "$F" "" "" "Mbit/s" "" "Mbit/s" "kpps" "kpps" "ms" "ms" "tcp1" "udp1400"
for name in "${NAMES[@]}"; do
  # shellcheck disable=SC2059
  printf "$F" "$name" "${DESC[$name]}" "${MED[$name,tcp1]}" "${MED[$name,retr]}" \
    "${MED[$name,tcp4]}" "${MED[$name,udp64]}" "${MED[$name,udp1400]}" "${MED[$name,p50]}" "${MED[$name,p99]}" "${MED[$name,cpu]}" "${MED[$name,cpuu]}"
done
echo "cpu: us of daemon CPU time (both ends) per 1400 octets moved (tcp1) and per packet that arrived (udp1400)"
echo
if [[ $HANDSHAKES == 1 ]]; then
  echo "handshakes (tunnels/s, median): cygnet $(med "${HS[cygnet]}")  strongswan $(med "${HS[strongswan]}")  (per run: cygnet ${HS[cygnet]}; strongswan ${HS[strongswan]})"
  echo
fi
echo "ratios of medians (tcp1 tcp4 udp64 udp1400):"
rat4() { echo "$(ratio "${MED[$1,tcp1]}" "${MED[$2,tcp1]}") $(ratio "${MED[$1,tcp4]}" "${MED[$2,tcp4]}") $(ratio "${MED[$1,udp64]}" "${MED[$2,udp64]}") $(ratio "${MED[$1,udp1400]}" "${MED[$2,udp1400]}")"; }
for c in "${CIPHER_LIST[@]}"; do
  for v in cygnet cygnet-link cygnet-xdp cygnet-udp; do
    want $v && [[ -n ${TAG_OF[$v/$c]:-} ]] || continue
    want wireguard-go && printf '  %-44s %s\n' "$v/$c / wireguard-go:" "$(rat4 "$v/$c" wireguard-go)"
    want strongswan && printf '  %-44s %s\n' "$v/$c / strongswan/$c:" "$(rat4 "$v/$c" "strongswan/$c")"
  done
done
echo
echo "per-run values:"
for name in "${NAMES[@]}"; do
  printf '  %-30s' "$name"
  for m in tcp1 tcp4 udp64 udp1400 cpu; do printf ' %s: %s|' "$m" "${M[$name,$m]:-}"; done
  echo
done
FAILED=0
