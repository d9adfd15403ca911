package daemon

import (
	"bytes"
	"errors"
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
// check-config (Warnings) and in the daemon's log; what cygnet cannot run
// (SHA-1, MD5 or MODP-1024 for the IKE SA) is refused at its line; no
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

	// IKE SAs cannot run the legacy algorithms: refused at the line.
	bad := strings.Replace(conf, "        remote { auth = psk }\n", "        remote { auth = psk }\n        proposals = aes256-sha1-modp1024\n", 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), path+":6:") ||
		!strings.Contains(err.Error(), "not implemented for IKE SAs") {
		t.Errorf("IKE proposal with sha1 and modp1024: %v, want a refusal at line 6", err)
	}

	for _, proto := range []wire.ProtocolID{wire.ProtocolIKE, wire.ProtocolESP, wire.ProtocolAH} {
		for _, p := range proposal.Default(proto) {
			if w := p.Weak(); len(w) > 0 {
				t.Errorf("default %v proposal %s contains %v", proto, p, w)
			}
		}
	}
}
