package main

import (
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
)

// usageCommands are the commands the usage text lists.
func usageCommands() []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z-]+)`).FindAllStringSubmatch(usage, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestHelpPages: every command of the usage text has a manual page with
// the usual sections; the daemon's lists every one of its flags; an
// unknown command is a usage error that names the ones there are.
func TestHelpPages(t *testing.T) {
	cmds := usageCommands()
	if len(cmds) < 10 {
		t.Fatalf("usage lists only %v", cmds)
	}
	for _, c := range cmds {
		code, out, errOut := runCmd("help", c)
		if code != 0 {
			t.Errorf("help %s: exit %d, %s", c, code, errOut)
			continue
		}
		for _, sec := range []string{"NAME\n       cygnet " + c + " - ", "SYNOPSIS\n       cygnet ", "DESCRIPTION\n", "EXIT STATUS\n"} {
			if !strings.Contains(out, sec) {
				t.Errorf("help %s lacks %q:\n%s", c, sec, out)
			}
		}
	}
	_, out, _ := runCmd("help", "daemon")
	daemonFlags(&daemonArgs{}, "").VisitAll(func(f *flag.Flag) {
		if !strings.Contains(out, "\n       --"+f.Name+" ") {
			t.Errorf("help daemon does not describe --%s", f.Name)
		}
	})
	for _, want := range []string{"SIGHUP", "--log-format", "ike=debug", "audit", "0600", "subsys"} {
		if !strings.Contains(out, want) {
			t.Errorf("help daemon does not mention %q", want)
		}
	}
	code, _, errOut := runCmd("help", "frobnicate")
	if code != 2 || !strings.Contains(errOut, `no help for "frobnicate"`) || !strings.Contains(errOut, "reload") {
		t.Errorf("help frobnicate: exit %d, %q", code, errOut)
	}
	code, out, _ = runCmd("help")
	if code != 0 || !strings.Contains(out, "cygnet help COMMAND") {
		t.Errorf("help: exit %d, %q", code, out)
	}
}

// TestContribExampleConfig: the example swanctl.conf shipped in contrib/
// passes check-config without a warning.
func TestContribExampleConfig(t *testing.T) {
	code, out, errOut := runCmd("check-config", "../../contrib/swanctl.conf.example")
	if code != 0 || !strings.Contains(out, "ok (2 connections)") || strings.Contains(out+errOut, "warning") {
		t.Fatalf("check-config contrib/swanctl.conf.example: exit %d\n%s%s", code, out, errOut)
	}
}

// TestSystemdUnit: the unit's ExecStart is a daemon command line cygnet
// accepts, and it checks and reloads the same file it runs with.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("../../contrib/systemd/cygnet.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	var start string
	var reloads []string
	for _, l := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
			start = v
		}
		if v, ok := strings.CutPrefix(l, "ExecReload="); ok {
			reloads = append(reloads, v)
		}
	}
	f := strings.Fields(start)
	if len(f) < 2 || f[1] != "daemon" {
		t.Fatalf("ExecStart=%q is not `cygnet daemon ...`", start)
	}
	a, err := parseDaemonArgs(f[2:], "")
	if err != nil {
		t.Fatalf("ExecStart flags: %v", err)
	}
	if len(reloads) != 2 || !strings.Contains(reloads[0], "check-config "+a.config) || !strings.Contains(reloads[1], "-HUP $MAINPID") {
		t.Errorf("ExecReload %q: want check-config %s, then SIGHUP", reloads, a.config)
	}
	if !strings.Contains(a.socket, "/run/cygnet/") || !strings.Contains(unit, "RuntimeDirectory=cygnet") {
		t.Errorf("socket %s is not in the unit's RuntimeDirectory", a.socket)
	}
	for _, want := range []string{"CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "/dev/net/tun", "WantedBy=multi-user.target"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %s", want)
		}
	}
}

// TestDemoNonRoot: as a non-root user the demo says in one sentence what
// it needs, and makes nothing.
func TestDemoNonRoot(t *testing.T) {
	old := demoEUID
	demoEUID = func() int { return 1000 }
	defer func() { demoEUID = old }()
	code, out, errOut := runCmd("demo")
	if code != 1 || out != "" {
		t.Fatalf("demo as non-root: exit %d, stdout %q", code, out)
	}
	msg := strings.TrimSpace(strings.TrimPrefix(errOut, "cygnet demo: "))
	if !strings.Contains(msg, "needs root") || !strings.Contains(msg, "sudo") || strings.Contains(msg, "\n") || strings.Count(msg, ". ") > 0 {
		t.Errorf("demo as non-root says %q, want one sentence saying it needs root", errOut)
	}
}
