#!/usr/bin/env bash
# capture.sh OUTDIR NAME CONF_A CONF_B [IKE_PROPOSAL ESP_PROPOSAL] - run two strongSwans, capture IKE on B's veth
set -euo pipefail
H=/work/shared/interop
OUT=$1 NAME=$2 CA=$3 CB=$4
P=wcap
W=$(mktemp -d); mkdir $W/a $W/b
cleanup() {
  $H/strongswan-peer.sh stop $P-a $W/a >/dev/null 2>&1 || true
  $H/strongswan-peer.sh stop $P-b $W/b >/dev/null 2>&1 || true
  [[ -n "${TD:-}" ]] && kill $TD 2>/dev/null || true
  $H/netns-pair.sh down $P >/dev/null 2>&1 || true
}
trap cleanup EXIT
$H/netns-pair.sh up $P >/dev/null
if [[ $# -ge 6 ]]; then
  sed -e "s/@IKE_PROPOSAL@/$5/" -e "s/@ESP_PROPOSAL@/$6/" $CA > $W/a/swanctl.conf
else
  cp $CA $W/a/swanctl.conf
fi
cp $CB $W/b/swanctl.conf
if grep -q pubkey $CA; then
  $H/gen-certs.sh $W/certs a b >/dev/null 2>&1
  $H/gen-certs.sh install $W/certs a $W/a >/dev/null 2>&1
  $H/gen-certs.sh install $W/certs b $W/b >/dev/null 2>&1
fi
$H/strongswan-peer.sh start $P-a $W/a >/dev/null
$H/strongswan-peer.sh start $P-b $W/b >/dev/null
$H/strongswan-peer.sh load $P-a $W/a >/dev/null
$H/strongswan-peer.sh load $P-b $W/b >/dev/null
ip netns exec $P-b tcpdump -i ${P}b0 -U --immediate-mode -w $OUT/$NAME.pcap 'udp port 500 or udp port 4500' >/dev/null 2>&1 &
TD=$!
sleep 1
CONN=$(grep -m1 -B0 -A0 '^  [a-z-]* {' $CA | awk '{print $1}')
$H/strongswan-peer.sh initiate $P-a $W/a net $CONN 20 || cat $W/a/charon.log >&2
sleep 0.5
$H/strongswan-peer.sh swanctl $P-a $W/a --rekey --ike $CONN >/dev/null 2>&1 || true
sleep 1
$H/strongswan-peer.sh swanctl $P-a $W/a --rekey --child net >/dev/null 2>&1 || true
sleep 1
$H/strongswan-peer.sh terminate $P-a $W/a $CONN >/dev/null 2>&1 || true
sleep 1
kill $TD; wait $TD 2>/dev/null || true
TD=
cp $W/a/charon.log $OUT/$NAME.a.log
