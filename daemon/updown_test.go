package daemon

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/spd"
)

// updownFixture drives updowns with hand-made SAs and a script that
// appends one line per run to a file.
type updownFixture struct {
	t     *testing.T
	u     *updowns
	out   string
	cc    *ike.ChildConfig
	alive map[*ike.ChildSA]bool
}

func newUpdownFixture(t *testing.T) *updownFixture {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "runs")
	script := filepath.Join(dir, "updown.sh")
	body := "#!/bin/sh\necho \"$PLUTO_VERB $PLUTO_CONNECTION reqid=$PLUTO_REQID ike=$PLUTO_UNIQUEID if=$PLUTO_INTERFACE ha=$PLUTO_HOST_ACCESS $1\" >> " + out + "\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	f := &updownFixture{t: t, u: newUpdowns(slog.New(slog.DiscardHandler)), out: out, alive: map[*ike.ChildSA]bool{}}
	f.u.iface = func(me, peer netip.Addr) string { return "eth9" }
	f.u.installed = func(c *ike.ChildSA) bool { return f.alive[c] }
	f.cc = &ike.ChildConfig{Name: "net", Updown: script + " iptables"}
	conns := []*ike.PeerConfig{{Name: "gw", Children: []*ike.ChildConfig{f.cc}}}
	cfg := &config.Config{Connections: []*config.Connection{{Name: "gw", Children: []*config.Child{{Name: "net", HostAccess: true}}}}}
	f.u.configure(cfg, conns)
	return f
}

func (f *updownFixture) ike(unique uint32) *ike.IKESA {
	return &ike.IKESA{
		UniqueID: unique,
		Local:    netip.MustParseAddrPort("192.0.2.1:500"), Remote: netip.MustParseAddrPort("192.0.2.2:500"),
		LocalID: identity.ID{Type: wire.ID_FQDN, Data: []byte("moon")}, RemoteID: identity.ID{Type: wire.ID_FQDN, Data: []byte("sun")},
	}
}

func (f *updownFixture) child(sa *ike.IKESA, unique uint32) *ike.ChildSA {
	pfx := func(s string) spd.Endpoint {
		return spd.Endpoint{Addrs: spd.PrefixRange(netip.MustParsePrefix(s)), Ports: spd.AnyPort}
	}
	c := &ike.ChildSA{
		Name: "net", UniqueID: unique, IKE: sa, Config: f.cc, Protocol: ipsec.ProtoESP,
		LocalTS: []spd.Endpoint{pfx("10.1.0.0/16")}, RemoteTS: []spd.Endpoint{pfx("10.2.0.0/16")},
	}
	f.alive[c] = true
	return c
}

func (f *updownFixture) send(kind ike.EventKind, c *ike.ChildSA) {
	if kind == ike.EventChildDown {
		f.alive[c] = false
	}
	f.u.event(ike.Event{Kind: kind, IKE: c.IKE, Child: c})
}

// runs waits for the queued runs and returns the lines written so far.
func (f *updownFixture) runs() []string {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.u.run.Wait(ctx); err != nil {
		f.t.Fatal(err)
	}
	b, err := os.ReadFile(f.out)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func wantRuns(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("runs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestUpdownUpDown(t *testing.T) {
	f := newUpdownFixture(t)
	sa := f.ike(1)
	a := f.child(sa, 1)
	f.send(ike.EventChildUp, a)
	wantRuns(t, f.runs(), "up-client net reqid=1 ike=1 if=eth9 ha=1 iptables")
	f.send(ike.EventChildDown, a)
	wantRuns(t, f.runs(), "up-client net reqid=1 ike=1 if=eth9 ha=1 iptables", "down-client net reqid=1 ike=1 if=eth9 ha=1 iptables")
	if len(f.u.records) != 0 || len(f.u.member) != 0 || len(f.u.reqids) != 0 {
		t.Errorf("state left after the down run: %d records, %d members, %d reqids", len(f.u.records), len(f.u.member), len(f.u.reqids))
	}
	// A second tunnel gets a fresh reqid, as strongSwan allocates them.
	b := f.child(sa, 2)
	f.send(ike.EventChildUp, b)
	if got := f.runs(); got[len(got)-1] != "up-client net reqid=2 ike=1 if=eth9 ha=1 iptables" {
		t.Errorf("second up run: %q", got[len(got)-1])
	}
}

// A rekey is make-before-break: whatever events package ike raises for it
// (a rekey event, or up for the new SA before down for the old), no script runs.
func TestUpdownRekeyRunsNothing(t *testing.T) {
	const rekeyEvent = ike.EventChildRekeyed
	for _, tc := range []struct {
		name   string
		events func(f *updownFixture, old, new *ike.ChildSA)
	}{
		{"rekey event, old deleted silently", func(f *updownFixture, old, new *ike.ChildSA) {
			f.send(rekeyEvent, new)
			f.alive[old] = false
		}},
		{"rekey event, then old deleted", func(f *updownFixture, old, new *ike.ChildSA) {
			f.send(rekeyEvent, new)
			f.send(ike.EventChildDown, old)
		}},
		{"up new, then down old", func(f *updownFixture, old, new *ike.ChildSA) {
			f.send(ike.EventChildUp, new)
			f.send(ike.EventChildDown, old)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newUpdownFixture(t)
			sa := f.ike(1)
			old := f.child(sa, 1)
			f.send(ike.EventChildUp, old)
			// The new SA may even sit on a new IKE SA (reauthentication).
			new := f.child(f.ike(2), 2)
			tc.events(f, old, new)
			wantRuns(t, f.runs(), "up-client net reqid=1 ike=1 if=eth9 ha=1 iptables")
			f.send(ike.EventChildDown, new)
			wantRuns(t, f.runs(), "up-client net reqid=1 ike=1 if=eth9 ha=1 iptables", "down-client net reqid=1 ike=2 if=eth9 ha=1 iptables")
		})
	}
}

func TestUpdownOwedDownRun(t *testing.T) {
	f := newUpdownFixture(t)
	a := f.child(f.ike(1), 1)
	f.send(ike.EventChildUp, a)
	f.alive[a] = false // gone without an event
	b := f.child(f.ike(2), 2)
	f.send(ike.EventChildUp, b)
	wantRuns(t, f.runs(),
		"up-client net reqid=1 ike=1 if=eth9 ha=1 iptables",
		"down-client net reqid=1 ike=1 if=eth9 ha=1 iptables",
		"up-client net reqid=2 ike=2 if=eth9 ha=1 iptables")
}

func TestUpdownWithoutScript(t *testing.T) {
	f := newUpdownFixture(t)
	f.cc.Updown = ""
	a := f.child(f.ike(1), 1)
	f.send(ike.EventChildUp, a)
	f.send(ike.EventChildDown, a)
	f.u.event(ike.Event{Kind: ike.EventIKEDown, IKE: a.IKE})
	wantRuns(t, f.runs())
	if len(f.u.records) != 0 {
		t.Errorf("records kept for a child without updown")
	}
}

func TestUpdownConfigureHostAccess(t *testing.T) {
	f := newUpdownFixture(t)
	a := f.child(f.ike(1), 1)
	f.send(ike.EventChildUp, a)
	// A reload without hostaccess: the running SA's down run still reports it.
	cc := &ike.ChildConfig{Name: "net", Updown: f.cc.Updown}
	f.u.configure(&config.Config{Connections: []*config.Connection{{Name: "gw", Children: []*config.Child{{Name: "net"}}}}},
		[]*ike.PeerConfig{{Name: "gw", Children: []*ike.ChildConfig{cc}}})
	if f.u.hostAccess[cc] || !f.u.hostAccess[f.cc] {
		t.Errorf("hostaccess after reload: new %v, old %v", f.u.hostAccess[cc], f.u.hostAccess[f.cc])
	}
	f.send(ike.EventChildDown, a)
	wantRuns(t, f.runs(), "up-client net reqid=1 ike=1 if=eth9 ha=1 iptables", "down-client net reqid=1 ike=1 if=eth9 ha=1 iptables")
}

func TestUpdownNotRefused(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "swanctl.conf")
	err := os.WriteFile(conf, []byte(`connections {
  gw {
    remote_addrs = 192.0.2.2
    local { auth = psk }
    remote { auth = psk }
    children {
      net {
        local_ts = 10.1.0.0/16
        remote_ts = 10.2.0.0/16
        updown = /usr/lib/ipsec/_updown iptables
        hostaccess = yes
      }
    }
  }
}
secrets {
  ike-gw { secret = 0sc2VjcmV0c2VjcmV0 }
}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(conf)
	if err != nil {
		t.Fatal(err)
	}
	conns, err := PeerConfigs(cfg)
	if err != nil {
		t.Fatalf("updown and hostaccess refused: %v", err)
	}
	if got := conns[0].Children[0].Updown; got != "/usr/lib/ipsec/_updown iptables" {
		t.Errorf("Updown = %q", got)
	}
	u := newUpdowns(slog.New(slog.DiscardHandler))
	u.configure(cfg, conns)
	if !u.hostAccess[conns[0].Children[0]] {
		t.Error("hostaccess = yes not picked up")
	}
}
