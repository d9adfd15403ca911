package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// check-config checks the strongswan.conf the daemon would read (beside
// swanctl.conf) and names each problem and warning with its line.
func TestCheckConfigStrongswanConf(t *testing.T) {
	swanctl := writeConf(t, goodConf)
	ss := filepath.Join(filepath.Dir(swanctl), "strongswan.conf")
	if err := os.WriteFile(ss, []byte("charon {\n  block_threshold = 20\n  port = 600\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCmd("check-config", swanctl)
	if code != 0 || !strings.Contains(out, ss+":3: warning: charon.port: not supported by cygnet; ignored\n") {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	if err := os.WriteFile(ss, []byte("charon {\n  block_threshold = lots\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCmd("check-config", swanctl)
	if code != 1 || out != ss+":2: charon.block_threshold: invalid value \"lots\": want a whole number from 0 to 2147483647\n" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	// --strongswan-conf names another file, "none" none
	other := filepath.Join(t.TempDir(), "other.conf")
	if err := os.WriteFile(other, []byte("charon {\n  cookie_threshold = 100\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{other, "none"} {
		if code, out, _ := runCmd("check-config", "--strongswan-conf", arg, swanctl); code != 0 || strings.Contains(out, "strongswan.conf") || strings.Contains(out, "other.conf") {
			t.Fatalf("--strongswan-conf %s: exit %d, stdout %q", arg, code, out)
		}
	}
}

func TestDaemonStrongswanConfFlag(t *testing.T) {
	a, err := parseDaemonArgs([]string{"--config", "x.conf", "--strongswan-conf", "/etc/ss.conf"}, "")
	if err != nil || a.strongswanConf != "/etc/ss.conf" {
		t.Fatalf("%+v, %v", a, err)
	}
}
