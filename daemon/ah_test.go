package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
