#!/usr/bin/env bash
# capture strongSwan key derivation logs for given IKE/ESP proposals
set -euo pipefail
H=/work/shared/interop
P=kcap
OUT=/tmp/kcap/out; mkdir -p $OUT
export ISW_LOGLEVEL=4 ISW_LOGLEVEL_IKE=4
cleanup() { set +e; $H/strongswan-peer.sh stop $P-a $W/a; $H/strongswan-peer.sh stop $P-b $W/b; $H/netns-pair.sh down $P; }
run() {
  local name=$1 ike=$2 esp=$3
  W=$(mktemp -d /tmp/kcap/w.XXXX); mkdir $W/a $W/b
  trap cleanup EXIT
  $H/netns-pair.sh up $P >/dev/null
  for s in a b; do
    sed -e "s/proposals = aes128gcm16-prfsha256-x25519/proposals = $ike/" -e "s/esp_proposals = aes128gcm16-x25519/esp_proposals = $esp/" \
      $H/configs/psk-tunnel.$s.conf > $W/$s/swanctl.conf
  done
  $H/strongswan-peer.sh start $P-a $W/a >/dev/null
  $H/strongswan-peer.sh start $P-b $W/b >/dev/null
  $H/strongswan-peer.sh load $P-a $W/a >/dev/null; $H/strongswan-peer.sh load $P-b $W/b >/dev/null
  $H/strongswan-peer.sh initiate $P-a $W/a net psk-tunnel > $W/init.txt 2>&1
  sleep 0.5
  $H/strongswan-peer.sh swanctl $P-a $W/a --rekey --child net >/dev/null 2>&1 || echo "child rekey failed"
  sleep 1
  $H/strongswan-peer.sh swanctl $P-a $W/a --rekey --ike psk-tunnel >/dev/null 2>&1 || echo "ike rekey failed"
  sleep 1
  cp $W/a/charon.log $OUT/$name.a.log
  cp $W/b/charon.log $OUT/$name.b.log
  cleanup; trap - EXIT
}
run gcm128 aes128gcm16-prfsha256-x25519 aes128gcm16-x25519
run cbc256 aes256-sha384-ecp384 aes256-sha384-ecp384
run chacha chacha20poly1305-prfsha512-modp2048 chacha20poly1305-modp2048
run gcm256 aes256gcm16-prfsha384-ecp256 aes256gcm16-ecp521
echo done
