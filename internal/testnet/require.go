package testnet

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Paths of the strongSwan pieces the harness runs (Debian 12 layout).
const (
	CharonPath         = "/usr/lib/ipsec/charon"
	KernelLibipsecPath = "/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so"
)

// skipOrFail skips the test, or fails it when CYGNET_REQUIRE_NETNS=1 so that
// CI notices a machine that silently lost its test prerequisites.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CYGNET_REQUIRE_NETNS") == "1" {
		t.Fatalf("%s (CYGNET_REQUIRE_NETNS=1)", msg)
	}
	t.Skip(msg)
}

// RequireRoot skips the test unless it runs as root with /dev/net/tun and a
// working `ip netns`.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "testnet: needs root")
	}
	if fi, err := os.Stat("/dev/net/tun"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		skipOrFail(t, "testnet: needs /dev/net/tun")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		skipOrFail(t, "testnet: needs the ip command (iproute2; run scripts/install-deps.sh)")
	}
	if out, err := runCmd(context.Background(), 10*time.Second, nil, "ip", "netns", "list"); err != nil {
		skipOrFail(t, "testnet: `ip netns` does not work: %v: %s", err, out)
	}
}

// RequireTools skips the test unless every named program is on PATH.
func RequireTools(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			skipOrFail(t, "testnet: needs %s (run scripts/install-deps.sh)", n)
		}
	}
}

// RequireStrongSwan is RequireRoot plus charon, swanctl and the
// kernel-libipsec plugin.
func RequireStrongSwan(t testing.TB) {
	t.Helper()
	RequireRoot(t)
	RequireTools(t, "swanctl", "unshare")
	for _, p := range []string{CharonPath, KernelLibipsecPath} {
		if _, err := os.Stat(p); err != nil {
			skipOrFail(t, "testnet: needs %s (run scripts/install-deps.sh)", p)
		}
	}
}

// RequireStrongSwanPlugins skips (or fails, as RequireStrongSwan does) unless
// the host's strongSwan has the named plugins, e.g. "cmac" from
// libstrongswan-extra-plugins.
func RequireStrongSwanPlugins(t testing.TB, names ...string) {
	t.Helper()
	RequireStrongSwan(t)
	for _, n := range names {
		p := filepath.Join(filepath.Dir(KernelLibipsecPath), "libstrongswan-"+n+".so")
		if _, err := os.Stat(p); err != nil {
			skipOrFail(t, "testnet: needs strongSwan's %s plugin %s (run scripts/install-deps.sh)", n, p)
		}
	}
}
