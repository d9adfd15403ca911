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
