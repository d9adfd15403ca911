package daemon

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/transform"
)

// TestAHAndESPProposalsTogether: a child is AH or ESP in cygnet; naming
// both lists is refused at the esp_proposals line rather than one list
// being dropped silently.
func TestAHAndESPProposalsTogether(t *testing.T) {
	path := filepath.Join(t.TempDir(), "swanctl.conf")
	conf := `connections {
    gw {
        remote_addrs = 192.0.2.2
        local { auth = psk }
        remote { auth = psk }
        children {
            net {
                esp_proposals = aes128gcm16
                ah_proposals = sha256
            }
        }
    }
}
secrets {
    ike-gw { secret = "twenty characters ok" }
}
`
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err == nil {
		_, err = PeerConfigs(cfg)
	}
	want := path + ":8: child net: esp_proposals and ah_proposals together are not supported by cygnet"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}
}

// TestNullEncryptionOptIn: ESP without encryption (RFC 2410) loads only
// when a proposal names "null", which check-config and the daemon warn
// about at its line; it is never in a default proposal, and an IKE
// proposal naming it is refused.
func TestNullEncryptionOptIn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "swanctl.conf")
	conf := `connections {
    gw {
        remote_addrs = 192.0.2.2
        local { auth = psk }
        remote { auth = psk }
        children {
            net {
                esp_proposals = null-sha256
            }
        }
    }
}
secrets {
    ike-gw { secret = "twenty characters ok" }
}
`
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	pcs, err := PeerConfigs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := pcs[0].Children[0].Proposals[0].String(); got != "null-sha256" {
		t.Errorf("proposal %q", got)
	}
	ws := Warnings(cfg)
	want := path + `:8: connections.gw.children.net.esp_proposals: "null-sha256" uses ENCR_NULL: ESP without encryption (RFC 2410)`
	if len(ws) != 1 || !strings.HasPrefix(ws[0].Error(), want) {
		t.Errorf("warnings %v, want one starting %q", ws, want)
	}
	if err := ValidateProposal("ike", "null-sha256-x25519"); err == nil || !strings.Contains(err.Error(), "null provides no confidentiality") {
		t.Errorf("IKE null: %v", err)
	}
}

// TestAHChildOptions: an AH child's copy_df reaches the AH engine (outer DF
// in tunnel mode, as for ESP), and tfc_padding, which only ESP can carry,
// is warned about at its line.
func TestAHChildOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "swanctl.conf")
	conf := `connections {
    gw {
        remote_addrs = 192.0.2.2
        local { auth = psk }
        remote { auth = psk }
        children {
            net {
                ah_proposals = sha256
                tfc_padding = 100
            }
        }
    }
}
secrets {
    ike-gw { secret = "twenty characters ok" }
}
`
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	ws := Warnings(cfg)
	want := path + ":9: connections.gw.children.net.tfc_padding: TFC padding is ESP's"
	if len(ws) != 1 || !strings.HasPrefix(ws[0].Error(), want) {
		t.Errorf("warnings %v, want one starting %q", ws, want)
	}
	pcs, err := PeerConfigs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cc := pcs[0].Children[0]
	for _, copyDF := range []bool{true, false} {
		cc.CopyDF = copyDF
		key := make([]byte, 32)
		c := &ike.ChildSA{
			Config: cc, Name: cc.Name, Protocol: ipsec.ProtoAH, Mode: ipsec.ModeTunnel, SPIIn: 0x1234, SPIOut: 0x1234,
			Integ: uint16(transform.IntegHMACSHA256_128), IntegKeyIn: key, IntegKeyOut: bytes.Clone(key),
			Local: netip.MustParseAddrPort("192.0.2.1:500"), Remote: netip.MustParseAddrPort("192.0.2.2:500"),
		}
		_, out, err := engines(c)
		if err != nil {
			t.Fatal(err)
		}
		inner := innerPacket(0)
		inner[6] |= 0x40 // DF
		head, _ := out.AH.Overhead()
		buf := make([]byte, head+len(inner))
		copy(buf[head:], inner)
		p, err := out.AH.Seal(buf, head, len(inner))
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Bytes[6]&0x40 != 0; got != copyDF {
			t.Errorf("copy_df %v: outer DF %v", copyDF, got)
		}
	}
}

// TestAHWithUDPEncap: AH cannot be carried in UDP (RFC 3948 covers ESP):
// encap = yes with an AH child is refused at load, and an AH Child SA that
// IKE negotiated behind a NAT is refused when it would be installed.
func TestAHWithUDPEncap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "swanctl.conf")
	conf := `connections {
    gw {
        remote_addrs = 192.0.2.2
        encap = yes
        local { auth = psk }
        remote { auth = psk }
        children {
            net {
                ah_proposals = sha256
            }
        }
    }
}
secrets {
    ike-gw { secret = "twenty characters ok" }
}
`
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err == nil {
		_, err = PeerConfigs(cfg)
	}
	want := path + ":9: connections.gw.children.net.ah_proposals: AH cannot be encapsulated in UDP"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}
	key := make([]byte, 32)
	c := &ike.ChildSA{
		Name: "net", Protocol: ipsec.ProtoAH, Mode: ipsec.ModeTunnel, SPIIn: 0x1234, SPIOut: 0x1234, Encap: true,
		Integ: uint16(transform.IntegHMACSHA256_128), IntegKeyIn: key, IntegKeyOut: bytes.Clone(key),
		Local: netip.MustParseAddrPort("192.0.2.1:4500"), Remote: netip.MustParseAddrPort("192.0.2.2:4500"),
	}
	if _, _, err := engines(c); err == nil || !strings.Contains(err.Error(), "AH cannot cross a NAT") {
		t.Errorf("engines for AH behind a NAT: %v", err)
	}
}
