#!/usr/bin/env bash
# profile-bulk.sh - where cygnet's CPU goes during a bulk transfer: two cygnet
# daemons in a pair of network namespaces (test/netns.sh), one iperf3 TCP
# stream through the tunnel, `perf record -g` on both daemons, and the
# samples summed by kind: crypto, the kernel (syscalls, copies, the UDP, raw
# and TUN paths, softirqs), Go's scheduler and wake-ups, the TUN's offload
# code, and the rest of cygnet.
# Run as root. See docs/PERFORMANCE.md.
#
# Usage: scripts/profile-bulk.sh [--encap yes|no] [--esp PROPOSAL] [--seconds N] [--keep]
#   --encap yes|no   ESP in UDP (default yes) or raw ESP (IP protocol 50)
#   --esp P          ESP proposal (default aes128gcm16)
#   --seconds N      length of the profiled transfer (default 8)
#   --binary PATH    profile this cygnet binary instead of building bin/cygnet
#                    (to compare two builds back to back)
#   --daemon-flag F  pass F to both `cygnet daemon`s (repeatable), e.g.
#                    --daemon-flag --esp-xdp
#   --keep           keep the work directory (perf.data, logs) afterwards
#
# Only 10.99.x addresses inside the namespaces it creates are used; they, the
# daemons and iperf3 are removed on exit, also on Ctrl-C.
set -euo pipefail

cd "$(dirname "$0")/.."
ENCAP=yes ESP=aes128gcm16 SECS=8 KEEP=0 BINARY= DFLAGS=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --encap) ENCAP=${2:?}; shift 2 ;;
    --esp) ESP=${2:?}; shift 2 ;;
    --seconds) SECS=${2:?}; shift 2 ;;
    --binary) BINARY=${2:?}; shift 2 ;;
    --daemon-flag) DFLAGS+=("${2:?}"); shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "profile-bulk.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $ENCAP == yes || $ENCAP == no ]] || { echo "profile-bulk.sh: --encap is yes or no" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "profile-bulk.sh: must run as root" >&2; exit 1; }

log() { echo "profile-bulk.sh: $*" >&2; }
PATH="$(scripts/ensure-go.sh):$PATH"
CYGNET_SKIP_GO_TOOLS=1 scripts/install-deps.sh >/dev/null
command -v perf >/dev/null || { apt-get install -y -qq linux-perf >/dev/null 2>&1 || true; }
command -v perf >/dev/null || { log "perf not found (Debian: linux-perf)"; exit 1; }
if [[ -n $BINARY ]]; then
  CYGNET=$(realpath "$BINARY")
else
  go build -o bin/cygnet ./cmd/cygnet
  CYGNET=$(pwd)/bin/cygnet
fi

PFX="pf$(( $$ % 1000 ))"
WORK=$(mktemp -d /tmp/cygnet-profile.XXXXXX)
PIDS=()
cleanup() {
  trap - EXIT INT TERM
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  test/netns.sh down "$PFX" >/dev/null 2>&1 || log "warning: could not remove namespaces $PFX-*"
  if [[ $KEEP == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

wait_for() { # TIMEOUT_S WHAT CMD...
  local deadline=$(( $(date +%s) + $1 )) what=$2; shift 2
  while ! "$@" >/dev/null 2>&1; do
    (( $(date +%s) < deadline )) || { log "timed out waiting for $what"; return 1; }
    sleep 0.1
  done
}

test/netns.sh up "$PFX" >/dev/null
conf() { # LOCAL REMOTE LOCALID REMOTEID LOCALTS REMOTETS
  cat <<EOF
connections {
  bulk {
    encap = $ENCAP
    local_addrs = $1
    remote_addrs = $2
    proposals = aes128gcm16-prfsha256-x25519
    local { auth = psk
      id = $3 }
    remote { auth = psk
      id = $4 }
    children { net { local_ts = $5
        remote_ts = $6
        esp_proposals = $ESP } }
  }
}
secrets { ike-bulk { id-a = a.profile.cygnet
    id-b = b.profile.cygnet
    secret = "cygnet-profile-psk-0123456789abcdef" } }
EOF
}
DPIDS=()
for side in a b; do
  dir=$WORK/$side
  mkdir -p "$dir"
  if [[ $side == a ]]; then
    conf 10.99.0.1 10.99.0.2 a.profile.cygnet b.profile.cygnet 10.99.1.0/24 10.99.2.0/24 >"$dir/swanctl.conf"
  else
    conf 10.99.0.2 10.99.0.1 b.profile.cygnet a.profile.cygnet 10.99.2.0/24 10.99.1.0/24 >"$dir/swanctl.conf"
  fi
  ip netns exec "$PFX-$side" "$CYGNET" --socket "$dir/cygnet.sock" daemon --config "$dir/swanctl.conf" "${DFLAGS[@]}" \
    </dev/null >"$dir/daemon.log" 2>&1 &
  PIDS+=("$!") DPIDS+=("$!")
  wait_for 15 "cygnet in $PFX-$side" "$CYGNET" --socket "$dir/cygnet.sock" list-conns
done
timeout 30 "$CYGNET" --socket "$WORK/a/cygnet.sock" initiate --ike bulk --child net >/dev/null
wait_for 10 "a ping through the tunnel" ip netns exec "$PFX-a" ping -c 1 -W 1 -I 10.99.1.1 10.99.2.1
ip netns exec "$PFX-b" iperf3 -s -B 10.99.2.1 -p 5201 </dev/null >"$WORK/iperf-server.log" 2>&1 &
PIDS+=("$!")
wait_for 10 "iperf3 server" bash -c "ip netns exec $PFX-b ss -Hltn 'sport = :5201' | grep -q LISTEN"

ip netns exec "$PFX-a" iperf3 -c 10.99.2.1 -B 10.99.1.1 -p 5201 -t $((SECS + 2)) -J >"$WORK/iperf.json" 2>&1 &
client=$!
sleep 1 # let the transfer reach its pace before sampling (not a synchronisation)
pids=$(IFS=,; echo "${DPIDS[*]}")
ticks() { local t=0 p; for p in "${DPIDS[@]}"; do t=$(( t + $(awk '{print $14 + $15}' "/proc/$p/stat") )); done; echo $t; }
t0=$(ticks)
perf stat -x, -e context-switches,cpu-migrations -o "$WORK/stat.csv" -p "$pids" -- \
  perf record -q -g -F 999 -o "$WORK/perf.data" -p "$pids" -- sleep "$SECS" 2>/dev/null
t1=$(ticks)
wait "$client" || true
mbits=$(python3 -c "import json; print(round(json.load(open('$WORK/iperf.json'))['end']['sum_received']['bits_per_second']/1e6))" 2>/dev/null || echo "?")
switches=$(awk -F, '$3 == "context-switches" {print $1}' "$WORK/stat.csv")

perf report -i "$WORK/perf.data" --no-children --sort sym --stdio 2>/dev/null | python3 -c '
import re, sys
kinds = {"crypto": 0.0, "kernel": 0.0, "scheduler and wake-ups": 0.0, "TUN offload code": 0.0, "rest of cygnet and Go": 0.0}
top = []
for line in sys.stdin:
    m = re.match(r"\s+([0-9.]+)%\s+\[(.)\]\s+(.*\S)", line)
    if not m:
        continue
    pct, where, sym = float(m.group(1)), m.group(2), m.group(3)
    top.append((pct, where, sym))
    if where == "k":
        if re.search(r"schedule|futex|switch_to|finish_task_switch|try_to_wake|ttwu|pick_next|enqueue_task|dequeue_task", sym):
            kinds["scheduler and wake-ups"] += pct
        else:
            kinds["kernel"] += pct
    elif re.search(r"gcmAes|aes\.|aes/gcm|chacha|poly1305|ghash|gcm\.|encryptBlock|decryptBlock", sym):
        kinds["crypto"] += pct
    elif re.search(r"^runtime\.(futex|usleep|osyield|mcall|park|schedule|findRunnable|stealWork|runqgrab|notesleep|notewakeup|wakep|startm|stopm|ready|goready|netpoll|lock|unlock|casgstatus|execute|gopark|goexit|exitsyscall|entersyscall|reentersyscall)", sym):
        kinds["scheduler and wake-ups"] += pct
    elif re.search(r"wireguard/tun|tun\.|checksum|Checksum|gsoSplit|coalesce", sym):
        kinds["TUN offload code"] += pct
    else:
        kinds["rest of cygnet and Go"] += pct
total = sum(kinds.values()) or 1
for k, v in kinds.items():
    print("  %-24s %5.1f %%" % (k, 100 * v / total))
print("top symbols:")
for pct, where, sym in top[:15]:
    print("  %5.2f%% [%s] %s" % (pct, where, sym[:90]))
' >"$WORK/summary.txt"
echo "cygnet bulk-transfer profile, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, kernel $(uname -r), cygnet $(git rev-parse --short HEAD)"
echo "encap=$ENCAP esp=$ESP, one TCP stream for ${SECS} s: $mbits Mbit/s while profiled; load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ $mbits =~ ^[0-9]+$ && $switches =~ ^[0-9]+$ ]]; then
  # 1400-octet packets that crossed while sampled, at the transfer's average rate
  echo "CPU time of both daemons: $(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v m="$mbits" -v s="$SECS" 'BEGIN { printf "%.2f", 1e6 * t / hz / (m * 1e6 * s / 8 / 1400) }') us per 1400 octets (perf running)"
  echo "context switches of both daemons: $switches, $(awk -v s="$switches" -v m="$mbits" -v t="$SECS" 'BEGIN { printf "%.1f", 1000 * s / (m * 1e6 * t / 8 / 1400) }') per 1000 packets of 1400 octets"
fi
echo "share of both daemons' samples:"
cat "$WORK/summary.txt"
