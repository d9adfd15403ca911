package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/control"
)

func runCmd(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func writeConf(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "swanctl.conf")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodConf = `connections {
  home {
    remote_addrs = 192.0.2.1
    proposals = aes256gcm16-prfsha384-ecp384
    local {
      auth = psk
      id = moon.example
    }
    remote {
      auth = psk
      id = sun.example
    }
    children {
      net {
        local_ts = 10.1.0.0/16
        remote_ts = 10.2.0.0/16
        esp_proposals = aes256gcm16
        start_action = start
      }
    }
  }
}
secrets {
  ike-1 {
    id = sun.example
    secret = 0sdGVzdC1zZWNyZXQtdmFsdWU=
  }
}
`

func TestCheckConfigAcceptsGoodConfig(t *testing.T) {
	code, out, errOut := runCmd("check-config", writeConf(t, goodConf))
	if code != 0 || !strings.Contains(out, "ok (1 connections)") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestCheckConfigNamesEveryProblemWithFileAndLine(t *testing.T) {
	bad := strings.NewReplacer(
		"proposals = aes256gcm16-prfsha384-ecp384", "proposals = aes256-md5-modp2048",
		"esp_proposals = aes256gcm16", "esp_proposals = aes256gcm16\n        ipcomp = yes\n        frobnicate = 1",
	).Replace(goodConf)
	path := writeConf(t, bad)
	code, out, _ := runCmd("check-config", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{
		path + ":4: ",  // legacy proposal cygnet does not implement
		path + ":18: ", // ipcomp
		path + ":19: ", // unknown option
	}
	for _, w := range want {
		found := false
		for _, l := range lines {
			if strings.HasPrefix(l, w) {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem reported at %s; got:\n%s", w, out)
		}
	}
	if !strings.Contains(out, "md5") || !strings.Contains(out, `unknown option "frobnicate"`) || !strings.Contains(out, "ipcomp") {
		t.Errorf("reasons missing:\n%s", out)
	}
}

func TestCheckConfigMissingCertificate(t *testing.T) {
	conf := strings.Replace(goodConf, "      auth = psk\n      id = moon.example", "      auth = pubkey\n      certs = moon.crt", 1)
	path := writeConf(t, conf)
	code, out, _ := runCmd("check-config", path)
	if code != 1 || !strings.Contains(out, path+":") || !strings.Contains(out, "moon.crt") {
		t.Fatalf("exit %d, output %q", code, out)
	}
}

// list-sas --json is a contract: scripts read these field names, which are
// strongSwan's VICI names.
func TestListSAsJSONFieldNames(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "c.sock")
	l, err := control.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go control.Serve(ctx, l, func(req control.Request) control.Response {
		if req.Command != control.CmdListSAs {
			return control.Response{Error: "unexpected " + req.Command}
		}
		return control.Response{IKESAs: []control.IKESA{{Name: "home", State: "ESTABLISHED", Version: 2,
			ChildSAs: []control.ChildSA{{Name: "net", State: "INSTALLED", LocalTS: []string{"10.1.0.0/16"}, RemoteTS: []string{"10.2.0.0/16"}}}}}}
	})
	code, out, errOut := runCmd("--socket", sock, "list-sas", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var sas []map[string]any
	if err := json.Unmarshal([]byte(out), &sas); err != nil || len(sas) != 1 {
		t.Fatalf("not a JSON array of one SA: %v\n%s", err, out)
	}
	for _, k := range []string{"name", "uniqueid", "state", "version", "local_host", "local_port", "local_id", "remote_host",
		"remote_port", "remote_id", "initiator", "encr_alg", "encr_keysize", "integ_alg", "prf_alg", "dh_group", "nat_local",
		"nat_remote", "established", "rekey_time", "local_vips", "remote_vips", "dns", "child_sas"} {
		if _, ok := sas[0][k]; !ok {
			t.Errorf("IKE SA lacks %q", k)
		}
	}
	children, _ := sas[0]["child_sas"].([]any)
	if len(children) != 1 {
		t.Fatalf("child_sas: %v", sas[0]["child_sas"])
	}
	child := children[0].(map[string]any)
	for _, k := range []string{"name", "uniqueid", "state", "mode", "protocol", "encap", "spi_in", "spi_out", "encr_alg",
		"encr_keysize", "integ_alg", "dh_group", "bytes_in", "packets_in", "bytes_out", "packets_out", "rekey_time",
		"life_time", "local_ts", "remote_ts"} {
		if _, ok := child[k]; !ok {
			t.Errorf("Child SA lacks %q", k)
		}
	}
	if ts, _ := child["local_ts"].([]any); len(ts) != 1 || ts[0] != "10.1.0.0/16" {
		t.Errorf("local_ts %v", child["local_ts"])
	}
	// With an AEAD and without PFS the fields are there, empty.
	if sas[0]["integ_alg"] != "" || child["integ_alg"] != "" || child["dh_group"] != "" {
		t.Errorf("integ_alg %q / %q, dh_group %q; want empty strings", sas[0]["integ_alg"], child["integ_alg"], child["dh_group"])
	}
}

// stats takes --json as list-sas does, and prints the daemon's counters.
func TestStatsJSON(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "c.sock")
	l, err := control.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go control.Serve(ctx, l, func(req control.Request) control.Response {
		if req.Command != control.CmdStats {
			return control.Response{Error: "unexpected " + req.Command}
		}
		return control.Response{Stats: json.RawMessage(`{"ike_sas":1,"drops":{"replay":2}}`)}
	})
	for _, args := range [][]string{{"stats"}, {"stats", "--json"}} {
		code, out, errOut := runCmd(append([]string{"--socket", sock}, args...)...)
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, errOut)
		}
		var st struct {
			IKESAs int `json:"ike_sas"`
			Drops  struct{ Replay int }
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil || st.IKESAs != 1 || st.Drops.Replay != 2 {
			t.Errorf("%q: %v %+v\n%s", args, err, st, out)
		}
	}
}

func TestControlCommandWithoutDaemonSaysSo(t *testing.T) {
	code, _, errOut := runCmd("--socket", filepath.Join(t.TempDir(), "none.sock"), "list-sas")
	if code != 1 || !strings.Contains(errOut, "cannot reach the cygnet daemon") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestUsageErrors(t *testing.T) {
	if code, _, _ := runCmd("frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
	if code, _, errOut := runCmd("terminate"); code != 2 || !strings.Contains(errOut, "--ike") {
		t.Errorf("terminate without target: exit %d %q", code, errOut)
	}
	if code, _, errOut := runCmd("rekey", "--child", "net", "--ike", "tun"); code != 2 || !strings.Contains(errOut, "exactly one") {
		t.Errorf("rekey with two targets: exit %d %q", code, errOut)
	}
	if code, _, errOut := runCmd("rekey", "--child", "net", "--reauth"); code != 2 || !strings.Contains(errOut, "--reauth needs --ike") {
		t.Errorf("rekey --reauth of a Child SA: exit %d %q", code, errOut)
	}
}

// Real configurations spell out defaults; cygnet accepts those and refuses
// only values that ask for something it does not do.
func TestCheckConfigRefusesOnlyUnimplementedValues(t *testing.T) {
	ok := strings.Replace(goodConf, "    proposals =", "    mobike = yes\n    childless = allow\n    proposals =", 1)
	ok = strings.Replace(ok, "        start_action = start", "        start_action = start\n        copy_df = yes\n        policies = yes", 1)
	if code, out, _ := runCmd("check-config", writeConf(t, ok)); code != 0 {
		t.Fatalf("defaults written out refused (exit %d):\n%s", code, out)
	}
	bad := strings.Replace(goodConf, "    proposals =", "    childless = force\n    proposals =", 1)
	path := writeConf(t, bad)
	code, out, _ := runCmd("check-config", path)
	if code != 1 || !strings.Contains(out, path+":4: connections.home.childless: not implemented by cygnet yet (childless") {
		t.Fatalf("childless = force: exit %d\n%s", code, out)
	}
}

// redirect_to takes an IP address; anything else is refused at its line.
func TestCheckConfigRedirectTo(t *testing.T) {
	ok := strings.Replace(goodConf, "    proposals =", "    redirect_to = 192.0.2.20\n    proposals =", 1)
	if code, out, _ := runCmd("check-config", writeConf(t, ok)); code != 0 {
		t.Fatalf("redirect_to = 192.0.2.20 refused (exit %d):\n%s", code, out)
	}
	bad := strings.Replace(goodConf, "    proposals =", "    redirect_to = gw.example.org\n    proposals =", 1)
	path := writeConf(t, bad)
	code, out, _ := runCmd("check-config", path)
	if code != 1 || !strings.Contains(out, path+":4: connections.home.redirect_to: want the IP address of the gateway") {
		t.Fatalf("redirect_to = gw.example.org: exit %d\n%s", code, out)
	}
}

// The daemon takes its control socket either before the command, as every
// control command does, or as its own flag in the order the documentation
// gives: `cygnet daemon --config FILE --socket PATH`.
func TestDaemonSocketFlagBothForms(t *testing.T) {
	for _, tc := range []struct {
		args         []string
		config, sock string
	}{
		{[]string{"--socket", "/g.sock", "daemon", "--config", "/c.conf"}, "/c.conf", "/g.sock"},
		{[]string{"daemon", "--config", "/c.conf", "--socket", "/d.sock"}, "/c.conf", "/d.sock"},
		{[]string{"daemon", "--config", "/c.conf", "--socket=/e.sock"}, "/c.conf", "/e.sock"},
		{[]string{"daemon", "--socket", "/f.sock", "--config=/c.conf"}, "/c.conf", "/f.sock"},
		{[]string{"--socket=/g.sock", "daemon", "--socket", "/h.sock"}, "/etc/swanctl/swanctl.conf", "/h.sock"},
		{[]string{"daemon"}, "/etc/swanctl/swanctl.conf", control.DefaultSocket},
	} {
		// run's own parsing of the global flags, then the daemon's.
		global := control.DefaultSocket
		args := tc.args
		for args[0] != "daemon" {
			if v, ok := strings.CutPrefix(args[0], "--socket="); ok {
				global, args = v, args[1:]
			} else {
				global, args = args[1], args[2:]
			}
		}
		a, err := parseDaemonArgs(args[1:], global)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if a.config != tc.config || a.socket != tc.sock {
			t.Errorf("%q: config %q socket %q, want %q %q", tc.args, a.config, a.socket, tc.config, tc.sock)
		}
	}
	// Through run: the daemon form with its own --socket gets as far as
	// loading the configuration (a usage error would exit 2).
	missing := filepath.Join(t.TempDir(), "missing.conf")
	code, _, errOut := runCmd("daemon", "--config", missing, "--socket", filepath.Join(t.TempDir(), "s.sock"))
	if code != 1 || !strings.Contains(errOut, "missing.conf") {
		t.Errorf("daemon --config MISSING --socket PATH: exit %d, stderr %q; want exit 1 naming the file", code, errOut)
	}
}

// check-config prints warnings with their line and still exits 0: a PSK
// shorter than 20 characters is accepted, but the user is told.
func TestCheckConfigWarnsShortPSK(t *testing.T) {
	path := writeConf(t, goodConf)
	line := 0
	for i, l := range strings.Split(goodConf, "\n") {
		if strings.Contains(l, "secret =") {
			line = i + 1
		}
	}
	code, out, _ := runCmd("check-config", path)
	want := fmt.Sprintf("%s:%d: warning: secrets.ike-1: the pre-shared key has 17 characters; use at least 20", path, line)
	if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "ok (1 connections)") {
		t.Fatalf("exit %d, output:\n%s\nwant a line starting %q", code, out, want)
	}
	long := strings.Replace(goodConf, "0sdGVzdC1zZWNyZXQtdmFsdWU=", `"a pre-shared key of 30 letters"`, 1)
	if code, out, _ := runCmd("check-config", writeConf(t, long)); code != 0 || strings.Contains(out, "warning") {
		t.Errorf("a 30-character PSK: exit %d, output:\n%s", code, out)
	}
}

// list-pools shows each pool with its leases, in VICI's names.
func TestListPools(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "c.sock")
	l, err := control.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go control.Serve(ctx, l, func(req control.Request) control.Response {
		if req.Command != control.CmdListPools {
			return control.Response{Error: "unexpected " + req.Command}
		}
		return control.Response{Pools: []control.Pool{{Name: "rw", Base: "10.3.0.1", Size: 254, Online: 1, Offline: 1, Leases: []control.Lease{
			{Address: "10.3.0.1", Identity: "carol@example.org", Status: "online"},
			{Address: "10.3.0.2", Identity: "dave@example.org", Status: "offline"},
		}}}}
	})
	code, out, errOut := runCmd("--socket", sock, "list-pools", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var pools []map[string]any
	if err := json.Unmarshal([]byte(out), &pools); err != nil || len(pools) != 1 {
		t.Fatalf("not a JSON array of one pool: %v\n%s", err, out)
	}
	for k, want := range map[string]any{"name": "rw", "base": "10.3.0.1", "size": 254.0, "online": 1.0, "offline": 1.0} {
		if pools[0][k] != want {
			t.Errorf("%s = %v, want %v", k, pools[0][k], want)
		}
	}
	leases, _ := pools[0]["leases"].([]any)
	if len(leases) != 2 {
		t.Fatalf("leases %v", pools[0]["leases"])
	}
	if l := leases[1].(map[string]any); l["address"] != "10.3.0.2" || l["identity"] != "dave@example.org" || l["status"] != "offline" {
		t.Errorf("lease %v", l)
	}
	code, out, errOut = runCmd("--socket", sock, "list-pools")
	if code != 0 || !strings.Contains(out, "rw") || !strings.Contains(out, "1 / 1 / 254") || !strings.Contains(out, "10.3.0.2") || !strings.Contains(out, "offline 'dave@example.org'") {
		t.Fatalf("exit %d, output:\n%s%s", code, out, errOut)
	}
}
