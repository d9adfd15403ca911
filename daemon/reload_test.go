package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike"
)

const reloadConfA = `
connections {
	keep {
		remote_addrs = 192.0.2.2
		local { auth = psk
			id = a }
		remote { auth = psk
			id = b }
		children { net { remote_ts = 10.1.0.0/16
			start_action = trap } }
	}
	edit {
		remote_addrs = 192.0.2.3
		local { auth = psk
			id = a }
		remote { auth = psk
			id = c }
		children { net { remote_ts = 10.2.0.0/16 } }
	}
	gone {
		remote_addrs = 192.0.2.4
		local { auth = psk
			id = a }
		remote { auth = psk
			id = d }
		children { net { remote_ts = 10.3.0.0/16 } }
	}
}
secrets { ike { secret = 0sc2VjcmV0c2VjcmV0 } }
`

func loadConns(t *testing.T, text string) []*ike.PeerConfig {
	t.Helper()
	path := filepath.Join(t.TempDir(), "swanctl.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	conns, err := PeerConfigs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return conns
}

// TestReconcileConns: a reload of the same text changes nothing and keeps
// the running configurations (the SAs point at them); moving a connection
// down the file (other line numbers) is no change either; a changed option,
// a new and a removed connection are told apart.
func TestReconcileConns(t *testing.T) {
	running := loadConns(t, reloadConfA)
	same, ch := reconcileConns(running, loadConns(t, "\n\n"+reloadConfA))
	if len(ch.Added)+len(ch.Removed)+len(ch.Changed) != 0 || len(ch.Unchanged) != 3 {
		t.Fatalf("same file: %+v", ch)
	}
	for i := range same {
		if same[i] != running[i] {
			t.Errorf("unchanged %s: a new configuration replaced the running one", same[i].Name)
		}
	}
	b := strings.Replace(reloadConfA, "10.2.0.0/16", "10.9.0.0/16", 1)
	b = strings.Replace(b, "gone {", "new {", 1)
	out, ch := reconcileConns(running, loadConns(t, b))
	want := connChanges{Added: []string{"new"}, Removed: []string{"gone"}, Changed: []string{"edit"}, Unchanged: []string{"keep"}}
	if !slices.Equal(ch.Added, want.Added) || !slices.Equal(ch.Removed, want.Removed) ||
		!slices.Equal(ch.Changed, want.Changed) || !slices.Equal(ch.Unchanged, want.Unchanged) {
		t.Fatalf("changes = %+v, want %+v", ch, want)
	}
	if got, want := ch.String(), "1 added (new), 1 removed (gone), 1 changed (edit), 1 unchanged"; got != want {
		t.Errorf("reload answer %q, want %q", got, want)
	}
	if out[0] != running[0] || out[1] == running[1] {
		t.Errorf("keep must stay the running config, edit must be the new one")
	}
}
