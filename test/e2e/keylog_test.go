package e2e

import (
	"context"
	"github.com/cygnet-ipsec/cygnet/control"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// tshark runs tshark on a capture with the key tables in dir as its
// configuration folder, and returns one line per packet with the fields.
func tshark(t *testing.T, dir, pcap, filter string, fields ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := []string{"-n", "-r", pcap, "-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE",
		"-Y", filter, "-T", "fields"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.CommandContext(ctx, "tshark", args...)
	cmd.Env = append(os.Environ(), "WIRESHARK_CONFIG_DIR="+dir, "HOME="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -Y %q: %v\n%s", filter, err, stderr.String())
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestKeylog decrypts a capture of a cygnet tunnel with tshark and the key
// tables cygnet daemon --keylog writes: the identities in IKE_AUTH and the
// pings inside ESP are readable, and every ESP packet's ICV checks out.
func TestKeylog(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireTools(t, "tshark")
	for _, tc := range []struct {
		name, ike, esp   string
		encap, transport bool
	}{
		{"gcm", "aes128gcm16-prfsha256-x25519", "aes128gcm16", false, false},
		{"cbc-sha256-udp", "aes256-sha256-x25519", "aes128-sha256", true, false},
		{"transport", "aes128gcm16-prfsha256-x25519", "aes256gcm16", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testnet.NewPair(t, testnet.PairOptions{})
			confA, confB := pairConfigs("psk")
			for _, c := range []*testnet.TunnelConfig{&confA, &confB} {
				c.Proposals, c.Encap = tc.ike, tc.encap
				c.Children = c.Children[:1]
				c.Children[0].ESPProposals = tc.esp
			}
			src, dst := testnet.HostA, testnet.HostB
			if tc.transport {
				// host to host: the underlay addresses themselves
				src, dst = testnet.UnderlayA, testnet.UnderlayB
				for _, c := range []*testnet.TunnelConfig{&confA, &confB} {
					c.Children[0].Mode = "transport"
					c.Children[0].LocalTS, c.Children[0].RemoteTS = nil, nil
				}
			}
			dir := filepath.Join(t.TempDir(), "keys")
			b := startCygnet(t, p.B, confB.Swanctl(), nil, "")
			a := startCygnetArgs(t, p.A, confA.Swanctl(), "--keylog", dir)
			capture := p.Capture(p.B)
			a.initiate("tun", "net")
			testnet.PingFrom(t, p.A, src, dst, 3)
			pcap, err := capture.Stop()
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"ikev2_decryption_table", "esp_sa"} {
				fi, err := os.Stat(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
				}
			}
			esp, _ := os.ReadFile(filepath.Join(dir, "esp_sa"))
			if n := strings.Count(string(esp), "\n"); n != 2 {
				t.Errorf("esp_sa has %d lines for one Child SA, want 2:\n%s", n, esp)
			}

			// IKE_AUTH (exchange type 35): the identities inside SK
			ids := tshark(t, dir, pcap, "isakmp.exchangetype == 35", "isakmp.id.data.fqdn")
			joined := strings.Join(ids, "\n")
			if len(ids) < 2 || !strings.Contains(joined, confA.LocalID) || !strings.Contains(joined, confA.RemoteID) {
				t.Errorf("IKE_AUTH decrypted by tshark shows identities %q, want %s and %s", ids, confA.LocalID, confA.RemoteID)
			}
			// the pings inside ESP, both ways
			pings := tshark(t, dir, pcap, "esp && icmp", "ip.src", "icmp.type")
			if len(pings) < 6 {
				t.Errorf("tshark decrypted %d ICMP packets inside ESP, want 6: %q", len(pings), pings)
			}
			if bad := tshark(t, dir, pcap, "esp.icv_bad == 1", "frame.number"); len(bad) != 0 {
				t.Errorf("tshark reports an ICV failure in frames %v", bad)
			}
			// every ESP packet's ICV (HMAC, or GCM's tag) checks out
			if good := tshark(t, dir, pcap, "esp.icv_good == 1", "frame.number"); len(good) < 6 {
				t.Errorf("tshark verified %d ESP ICVs, want 6", len(good))
			}
			t.Logf("tshark: IKE_AUTH identities %q; %d pings decrypted", ids, len(pings))

			// the peer rekeys the Child SA: the key log follows it, and the
			// logging end's traffic moves to the new SA (a key log that
			// wrapped the packet path once hid the path's outbound switch
			// from the rekey's responder, and traffic stopped)
			_, old := a.waitChild("net", 5*time.Second)
			resp, err := control.Call(b.socket, control.Request{Command: control.CmdRekey, Child: "net"}, 10*time.Second)
			if err != nil || resp.Error != "" {
				t.Fatalf("rekey at the peer: %v %s", err, resp.Error)
			}
			var now control.ChildSA
			if err := pollFor(10*time.Second, func() bool {
				sas := a.listSAs()
				if len(sas) != 1 || len(sas[0].ChildSAs) != 1 {
					return false
				}
				now = sas[0].ChildSAs[0]
				return now.SPIIn != old.SPIIn && now.State == "INSTALLED"
			}); err != nil {
				t.Fatalf("Child SA not rekeyed: %+v", a.listSAs())
			}
			testnet.PingFrom(t, p.A, src, dst, 3)
			if _, c := a.waitChild("net", time.Second); c.PacketsOut < 3 || c.PacketsIn < 3 {
				t.Errorf("after the rekey the new Child SA carried %d packets out and %d in, want 3 each", c.PacketsOut, c.PacketsIn)
			}
			if err := pollFor(10*time.Second, func() bool {
				esp, _ := os.ReadFile(filepath.Join(dir, "esp_sa"))
				return strings.Contains(string(esp), "0x"+now.SPIIn) && !strings.Contains(string(esp), "0x"+old.SPIIn)
			}); err != nil {
				esp, _ := os.ReadFile(filepath.Join(dir, "esp_sa"))
				t.Errorf("esp_sa after the rekey lacks SPI %s or still has %s:\n%s", now.SPIIn, old.SPIIn, esp)
			}
		})
	}
}
