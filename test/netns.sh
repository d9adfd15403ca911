#!/usr/bin/env bash
# netns.sh - create/remove a pair of network namespaces joined by veth for
# cygnet's IPsec tests. Everything lives inside namespaces this script creates;
# the host network namespace is never touched (the veth pair is created inside
# PREFIX-a and its peer moved straight into PREFIX-b).
#
# Usage:
#   netns.sh up     [PREFIX]   # two namespaces A <-> B
#   netns.sh up-nat [PREFIX]   # A <-> R(NAT, masquerade) <-> B
#   netns.sh down   [PREFIX]   # remove every namespace PREFIX-{a,b,r}
#   netns.sh show   [PREFIX]
#   netns.sh env    [PREFIX]   # print the fixed addresses as shell vars
#
# PREFIX defaults to "cyg" and must be 1-8 chars [a-z0-9] (interface names
# are built from it and Linux limits them to 15 chars).
#
# Fixed addressing (private ranges, exist only inside the namespaces):
#   "up":      A underlay 10.99.0.1/24  fd00:99::1/64   (dev PREFIXa0)
#              B underlay 10.99.0.2/24  fd00:99::2/64   (dev PREFIXb0)
#   "up-nat":  A underlay 10.99.10.2/24 (gw 10.99.10.1 = R), fd00:99:10::2/64
#              R 10.99.10.1/24 <-> 10.99.0.1/24 (masquerades A's traffic,
#              with random source ports unless CYGNET_NAT_PORTS=keep)
#              B underlay 10.99.0.2/24 (B sees A as 10.99.0.1)
#   both:      A protected subnet 10.99.1.0/24, host 10.99.1.1 on lo
#                                 fd00:99:1::/64, host fd00:99:1::1 on lo
#              B protected subnet 10.99.2.0/24, host 10.99.2.1 on lo
#                                 fd00:99:2::/64, host fd00:99:2::1 on lo
set -euo pipefail

die() { echo "netns.sh: error: $*" >&2; exit 1; }

cmd=${1:-}
PREFIX=${2:-cyg}
[[ $PREFIX =~ ^[a-z0-9]{1,8}$ ]] || die "PREFIX must be 1-8 chars [a-z0-9], got '$PREFIX'"
[[ $(id -u) -eq 0 ]] || die "must run as root"

NSA="$PREFIX-a"; NSB="$PREFIX-b"; NSR="$PREFIX-r"
IFA="${PREFIX}a0"; IFB="${PREFIX}b0"; IFRA="${PREFIX}ra"; IFRB="${PREFIX}rb"

ns_exists() { ip netns list | awk '{print $1}' | grep -qx -- "$1"; }

print_env() {
  local mode=plain
  ns_exists "$NSR" && mode=nat
  cat <<EOF
NS_A=$NSA
NS_B=$NSB
IF_A=$IFA
IF_B=$IFB
MODE=$mode
A_UNDERLAY=$([[ $mode == nat ]] && echo 10.99.10.2 || echo 10.99.0.1)
A_UNDERLAY6=$([[ $mode == nat ]] && echo fd00:99:10::2 || echo fd00:99::1)
B_UNDERLAY=10.99.0.2
B_UNDERLAY6=fd00:99::2
A_SUBNET=10.99.1.0/24
A_HOST=10.99.1.1
A_SUBNET6=fd00:99:1::/64
A_HOST6=fd00:99:1::1
B_SUBNET=10.99.2.0/24
B_HOST=10.99.2.1
B_SUBNET6=fd00:99:2::/64
B_HOST6=fd00:99:2::1
EOF
  [[ $mode == nat ]] && echo "NS_R=$NSR" || true
}

down() {
  local ns rc=0 pids pid
  for ns in "$NSA" "$NSB" "$NSR"; do
    ns_exists "$ns" || continue
    # Processes still running inside a namespace this script created (a
    # charon, tcpdump, iperf3 left by a failed test) were started by the
    # harness: stop them by pid, or they would keep the namespace alive.
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ' || true)
    if [[ -n ${pids// /} ]]; then
      echo "netns.sh: stopping leftover processes in $ns: $pids" >&2
      for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
      for _ in $(seq 1 30); do
        pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ' || true)
        [[ -z ${pids// /} ]] && break
        sleep 0.1
      done
      for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
    fi
    ip netns del "$ns" || rc=1
  done
  return $rc
}

setup_common_end() { # ns ifname addr4/len addr6/len subnet-host4 subnet-host6
  local ns=$1 ifn=$2 a4=$3 a6=$4 h4=$5 h6=$6
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$a4" dev "$ifn"
  ip -n "$ns" addr add "$a6" dev "$ifn" nodad
  ip -n "$ns" link set "$ifn" up
  ip -n "$ns" addr add "$h4/32" dev lo
  ip -n "$ns" addr add "$h6/128" dev lo
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null
}

up() {
  for ns in "$NSA" "$NSB" "$NSR"; do
    ns_exists "$ns" && die "namespace $ns already exists (run: $0 down $PREFIX)"
  done
  trap 'echo "netns.sh: setup failed, removing namespaces" >&2; down || true' ERR
  ip netns add "$NSA"
  ip netns add "$NSB"
  ip -n "$NSA" link add "$IFA" type veth peer name "$IFB" netns "$NSB"
  setup_common_end "$NSA" "$IFA" 10.99.0.1/24 fd00:99::1/64 10.99.1.1 fd00:99:1::1
  setup_common_end "$NSB" "$IFB" 10.99.0.2/24 fd00:99::2/64 10.99.2.1 fd00:99:2::1
  trap - ERR
}

up_nat() {
  for ns in "$NSA" "$NSB" "$NSR"; do
    ns_exists "$ns" && die "namespace $ns already exists (run: $0 down $PREFIX)"
  done
  trap 'echo "netns.sh: setup failed, removing namespaces" >&2; down || true' ERR
  ip netns add "$NSA"
  ip netns add "$NSB"
  ip netns add "$NSR"
  ip -n "$NSA" link add "$IFA" type veth peer name "$IFRA" netns "$NSR"
  ip -n "$NSB" link add "$IFB" type veth peer name "$IFRB" netns "$NSR"
  setup_common_end "$NSA" "$IFA" 10.99.10.2/24 fd00:99:10::2/64 10.99.1.1 fd00:99:1::1
  setup_common_end "$NSB" "$IFB" 10.99.0.2/24 fd00:99::2/64 10.99.2.1 fd00:99:2::1
  ip -n "$NSR" link set lo up
  ip -n "$NSR" addr add 10.99.10.1/24 dev "$IFRA"
  ip -n "$NSR" addr add fd00:99:10::1/64 dev "$IFRA" nodad
  ip -n "$NSR" addr add 10.99.0.1/24 dev "$IFRB"
  ip -n "$NSR" addr add fd00:99::1/64 dev "$IFRB" nodad
  ip -n "$NSR" link set "$IFRA" up
  ip -n "$NSR" link set "$IFRB" up
  ip netns exec "$NSR" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null
  ip -n "$NSA" route add default via 10.99.10.1
  ip -n "$NSA" -6 route add default via fd00:99:10::1
  # B has no route back to 10.99.10.0/24: it only ever sees R's address.
  command -v nft >/dev/null || die "nft not found (apt-get install nftables)"
  # "random": translate source ports too (500 -> random, 4500 -> random), a
  # harder NAT-T case than plain masquerade, which keeps ports when it can.
  local masq="masquerade random"
  [[ ${CYGNET_NAT_PORTS:-random} == keep ]] && masq="masquerade"
  ip netns exec "$NSR" nft -f - <<EOF
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "$IFRB" $masq
  }
}
table ip6 nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "$IFRB" $masq
  }
}
EOF
  trap - ERR
}

case "$cmd" in
  up)     up; print_env ;;
  up-nat) up_nat; print_env ;;
  down)   down ;;
  env)    ns_exists "$NSA" || die "namespace $NSA does not exist"; print_env ;;
  show)
    for ns in "$NSA" "$NSR" "$NSB"; do
      ns_exists "$ns" || continue
      echo "== $ns"; ip -n "$ns" -br addr; ip -n "$ns" route
    done ;;
  *) echo "usage: $0 up|up-nat|down|show|env [PREFIX]" >&2; exit 2 ;;
esac
