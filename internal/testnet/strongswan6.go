package testnet

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// DefaultStrongSwan6Plugins is the plugin list of the strongSwan 6.0.1 peer.
// In 6.0 the openssl plugin covers AES, SHA-2/3, HMAC, the KDF and X25519;
// ml is the ML-KEM plugin scripts/strongswan6-root.sh builds (Debian ships
// none). kernel-libipsec comes before kernel-netlink, as with 5.9.8.
var DefaultStrongSwan6Plugins = []string{
	"random", "nonce", "openssl", "pem", "pkcs1", "pkcs8", "x509", "pubkey", "revocation", "constraints",
	"ml", "kernel-libipsec", "kernel-netlink", "socket-default", "vici",
}

// StrongSwan6Root returns the Debian 13 root file system holding strongSwan
// 6.0.1: $CYGNET_SW6_ROOT or /var/cache/cygnet/sw6-root, as
// scripts/strongswan6-root.sh builds it.
func StrongSwan6Root() string {
	if r := os.Getenv("CYGNET_SW6_ROOT"); r != "" {
		return r
	}
	return "/var/cache/cygnet/sw6-root"
}

// RequireStrongSwan6 is RequireStrongSwan plus a complete strongSwan 6 root
// (its completion stamp, charon-systemd and the ML-KEM plugin).
func RequireStrongSwan6(t testing.TB) {
	t.Helper()
	RequireStrongSwan(t)
	root := StrongSwan6Root()
	for _, p := range []string{".cygnet-sw6-complete", "usr/sbin/charon-systemd", "usr/lib/ipsec/plugins/libstrongswan-ml.so"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			skipOrFail(t, "testnet: needs the strongSwan 6 root %s (run scripts/strongswan6-root.sh or scripts/install-deps.sh): %v", root, err)
		}
	}
}

// StartStrongSwan6 starts strongSwan 6.0.1's charon-systemd, chrooted into
// StrongSwan6Root, in namespace ns: the same StrongSwan handle as
// StartStrongSwan (the host's swanctl talks to it over VICI, whose messages
// did not change between 5.9 and 6.0), with ML-KEM and RFC 9370 multiple key
// exchanges on the peer's side.
func StartStrongSwan6(t testing.TB, ns string, opts *StrongSwanOptions) *StrongSwan {
	t.Helper()
	RequireStrongSwan6(t)
	return startStrongSwan(t, ns, opts, StrongSwan6Root())
}

// strongSwan6Command is charon-systemd from root in namespace ns, in a
// private mount namespace: a tmpfs on root/run (its pid file and sockets
// stay private), dir bound at the same path inside root (so every path in
// strongswan.conf and the VICI socket mean the same inside and out), and
// /dev, /proc, /sys for TUN and netlink. Every step exec()s, so the pid is
// charon's own; the mounts vanish with it.
func strongSwan6Command(ns, root, dir string) *exec.Cmd {
	const sh = `r=$1 d=$2
mount -t tmpfs -o mode=0755,size=16m cygnet-sw6 "$r/run" &&
mount -t tmpfs -o mode=0755,size=1m cygnet-sw6 "$r/tmp" &&
mkdir -p "$r$d" && mount --bind "$d" "$r$d" &&
mount --rbind /dev "$r/dev" && mount -t proc proc "$r/proc" &&
{ mount -t sysfs sysfs "$r/sys" 2>/dev/null || mount --rbind /sys "$r/sys"; } || exit 125
exec chroot "$r" /usr/sbin/charon-systemd`
	return exec.Command("ip", "netns", "exec", ns, "unshare", "--mount", "--propagation", "private", "--",
		"/bin/sh", "-c", sh, "cygnet-charon6", root, dir)
}
