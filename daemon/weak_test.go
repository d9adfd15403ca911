package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/ipsec"
)

// TestWeakAlgorithmsOptIn: the legacy algorithms native clients default to
// load only when a proposal names them, with a warning at its line from
// check-config (Warnings) and in the daemon's log, for Child SAs and for
// the IKE SA (Windows' aes256-sha1-modp1024, 3des-sha1-modp1024); what
// cygnet cannot run (MD5, DES, MODP-1536) is refused at its line; no
// default proposal contains one.
func TestWeakAlgorithmsOptIn(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "swanctl.conf")
	conf := `connections {
    win {
        remote_addrs = 192.0.2.2
        local { auth = psk }
        remote { auth = psk }
        children {
            net {
                esp_proposals = aes256-sha1, 3des-sha1, aes128gcm16
            }
        }
    }
}
secrets {
    ike-win { secret = "twenty characters ok" }
}
`
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatalf("a proposal naming sha1 and 3des was refused: %v", err)
	}
	pcs, err := PeerConfigs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		path + `:8: connections.win.children.net.esp_proposals: "aes256-sha1" uses the weak legacy algorithms AUTH_HMAC_SHA1_96`,
		path + `:8: connections.win.children.net.esp_proposals: "3des-sha1" uses the weak legacy algorithms ENCR_3DES, AUTH_HMAC_SHA1_96`,
	}
	ws := Warnings(cfg)
	if len(ws) != len(want) {
		t.Errorf("got %d warnings, want %d:\n%v", len(ws), len(want), ws)
	}
	var buf bytes.Buffer
	_, err = New(Options{ConfigPath: path, Log: slog.New(slog.NewTextHandler(&buf, nil))}, func() (PacketPath, error) {
		return nil, errors.New("no packet path in this test")
	})
	if err == nil {
		t.Fatal("New without a packet path succeeded")
	}
	for _, w := range want {
		found := false
		for _, p := range ws {
			found = found || strings.HasPrefix(p.Error(), w)
		}
		if !found {
			t.Errorf("no warning %q in\n%v", w, ws)
		}
		if !strings.Contains(buf.String(), strings.ReplaceAll(w, `"`, `\"`)) {
			t.Errorf("daemon log lacks %q:\n%s", w, buf.String())
		}
	}

	// The negotiated legacy Child SA installs in the ESP engine: 3DES and
	// HMAC-SHA1-96 keys cut and accepted.
	cc := pcs[0].Children[0]
	c := &ike.ChildSA{Config: cc, Mode: ipsec.ModeTunnel, Protocol: ipsec.ProtoESP, SPIIn: 0x1001, SPIOut: 0x2002,
		Encr: uint16(wire.ENCR_3DES), Integ: uint16(wire.AUTH_HMAC_SHA1_96),
		EncrKeyIn: bytes.Repeat([]byte{1}, 24), EncrKeyOut: bytes.Repeat([]byte{2}, 24),
		IntegKeyIn: bytes.Repeat([]byte{3}, 20), IntegKeyOut: bytes.Repeat([]byte{4}, 20),
		Local: netip.MustParseAddrPort("192.0.2.1:500"), Remote: netip.MustParseAddrPort("192.0.2.2:500")}
	if _, _, err := engines(c); err != nil {
		t.Errorf("3des-sha1 Child SA does not install: %v", err)
	}

	// The IKE SA runs what Windows offers by default once the proposal
	// names it: loaded, warned about at its line in check-config and the
	// log; the legacy algorithms cygnet does not implement stay refused.
	ikeConf := strings.Replace(conf, "        remote { auth = psk }\n", "        remote { auth = psk }\n        proposals = aes256-sha1-modp1024, 3des-sha1-modp1024\n", 1)
	if err := os.WriteFile(path, []byte(ikeConf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = LoadConfig(path)
	if err != nil {
		t.Fatalf("IKE proposals naming sha1, 3des and modp1024 refused: %v", err)
	}
	if pcs, err = PeerConfigs(cfg); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(pcs[0].Proposals); got != "[aes256-sha1-modp1024 3des-sha1-modp1024]" {
		t.Errorf("IKE proposals of the connection: %s", got)
	}
	buf.Reset()
	_, _ = New(Options{ConfigPath: path, Log: slog.New(slog.NewTextHandler(&buf, nil))}, func() (PacketPath, error) {
		return nil, errors.New("no packet path in this test")
	})
	for _, w := range []string{
		path + `:6: connections.win.proposals: "aes256-sha1-modp1024" uses the weak legacy algorithms AUTH_HMAC_SHA1_96, PRF_HMAC_SHA1, MODP_1024`,
		path + `:6: connections.win.proposals: "3des-sha1-modp1024" uses the weak legacy algorithms ENCR_3DES, AUTH_HMAC_SHA1_96, PRF_HMAC_SHA1, MODP_1024`,
	} {
		found := false
		for _, p := range Warnings(cfg) {
			found = found || strings.HasPrefix(p.Error(), w)
		}
		if !found {
			t.Errorf("no warning %q in\n%v", w, Warnings(cfg))
		}
		if !strings.Contains(buf.String(), strings.ReplaceAll(w, `"`, `\"`)) {
			t.Errorf("daemon log lacks %q:\n%s", w, buf.String())
		}
	}
	for _, refused := range []string{"aes256-md5-modp2048", "aes256-sha256-modp1536", "des-sha1-modp1024"} {
		bad := strings.Replace(conf, "        remote { auth = psk }\n", "        remote { auth = psk }\n        proposals = "+refused+"\n", 1)
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), path+":6:") ||
			!strings.Contains(err.Error(), "not implemented by cygnet") {
			t.Errorf("IKE proposal %s: %v, want a refusal at line 6", refused, err)
		}
	}

	for _, proto := range []wire.ProtocolID{wire.ProtocolIKE, wire.ProtocolESP, wire.ProtocolAH} {
		for _, p := range proposal.Default(proto) {
			if w := p.Weak(); len(w) > 0 {
				t.Errorf("default %v proposal %s contains %v", proto, p, w)
			}
		}
	}
}
