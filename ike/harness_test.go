package ike

import (
	"bytes"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/ipsec"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

// datagram is one message in flight between the two peers.
type datagram struct {
	b             []byte
	local, remote netip.AddrPort // as seen by the sender
}

// peer is one side of an in-process IKE test: a Manager with a fake transport
// that queues what it sends, and an installer that records Child SAs.
type peer struct {
	name    string
	addr    netip.Addr
	m       *Manager
	out     []datagram
	logs    *bytes.Buffer
	childUp []*ChildSA
	keys    map[uint32][4][]byte // SPIIn -> encrIn, integIn, encrOut, integOut
	deleted []uint32
}

func (p *peer) SendIKE(b []byte, local, remote netip.AddrPort) error {
	p.out = append(p.out, datagram{append([]byte(nil), b...), local, remote})
	return nil
}

func (p *peer) Source(remote netip.AddrPort) (netip.AddrPort, error) {
	return netip.AddrPortFrom(p.addr, 500), nil
}

func (p *peer) InstallChildSA(c *ChildSA) error {
	p.childUp = append(p.childUp, c)
	p.keys[c.SPIIn] = [4][]byte{clone(c.EncrKeyIn), clone(c.IntegKeyIn), clone(c.EncrKeyOut), clone(c.IntegKeyOut)}
	return nil
}

func (p *peer) DeleteChildSA(c *ChildSA) { p.deleted = append(p.deleted, c.SPIIn) }

type psks map[string]string

func (s psks) SharedKey(local, remote identity.ID) ([]byte, bool) {
	if k, ok := s[local.String()+"|"+remote.String()]; ok {
		return []byte(k), true
	}
	if k, ok := s[remote.String()+"|"+local.String()]; ok {
		return []byte(k), true
	}
	return nil, false
}

// pair is two peers wired together through queues, with one fake clock.
type pair struct {
	t     testing.TB
	clock *fakeClock
	a, b  *peer
	// drop, when set, decides whether a datagram from -> to is lost.
	drop func(from *peer, d datagram) bool
}

func mustProposals(t testing.TB, proto wire.ProtocolID, s string) []proposal.Proposal {
	t.Helper()
	ps, err := proposal.ParseList(proto, s, proposal.Options{})
	if err != nil {
		t.Fatalf("proposals %q: %v", s, err)
	}
	return ps
}

// siteConfig is a site-to-site PSK connection from self (10.99.0.x) to the
// other side, protecting 10.99.<self>.0/24.
func siteConfig(t testing.TB, self, other int) *PeerConfig {
	local := netip.MustParseAddr(fmt.Sprintf("10.99.0.%d", self))
	remote := netip.MustParseAddr(fmt.Sprintf("10.99.0.%d", other))
	lid, _ := identity.Parse(fmt.Sprintf("%c.cygnet.test", 'a'+self-1))
	rid, _ := identity.Parse(fmt.Sprintf("%c.cygnet.test", 'a'+other-1))
	return &PeerConfig{
		Name:        "site",
		LocalAddrs:  []netip.Prefix{netip.PrefixFrom(local, 32)},
		RemoteAddrs: []netip.Prefix{netip.PrefixFrom(remote, 32)},
		Remote:      netip.AddrPortFrom(remote, 500),
		Proposals:   mustProposals(t, wire.ProtocolIKE, "aes128gcm16-prfsha256-x25519"),
		LocalID:     lid, RemoteID: rid,
		LocalAuth: AuthPSK, RemoteAuth: AuthPSK,
		Children: []*ChildConfig{{
			Name: "net", Mode: ipsec.ModeTunnel, Protocol: ipsec.ProtoESP,
			LocalTS:   []TrafficSelector{PrefixSelector(netip.MustParsePrefix(fmt.Sprintf("10.99.%d.0/24", self)))},
			RemoteTS:  []TrafficSelector{PrefixSelector(netip.MustParsePrefix(fmt.Sprintf("10.99.%d.0/24", other)))},
			Proposals: mustProposals(t, wire.ProtocolESP, "aes128gcm16-x25519"),
		}},
	}
}

var testPSK = psks{"a.cygnet.test|b.cygnet.test": "cygnet-test-psk-0123456789"}

func newPair(t testing.TB, ca, cb *PeerConfig, credsA, credsB Credentials) *pair {
	clock := &fakeClock{now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	mk := func(name string, addr string, cfg *PeerConfig, creds Credentials, seed uint64) *peer {
		p := &peer{name: name, addr: netip.MustParseAddr(addr), logs: &bytes.Buffer{}, keys: map[uint32][4][]byte{}}
		var seedb [32]byte
		seedb[0] = byte(seed)
		p.m = NewManager(Config{
			Conns: []*PeerConfig{cfg}, Creds: creds, Transport: p, Installer: p, Clock: clock,
			Rand: rand.NewChaCha8(seedb),
			Log:  slog.New(slog.NewTextHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
		return p
	}
	pr := &pair{t: t, clock: clock, a: mk("a", "10.99.0.1", ca, credsA, 1), b: mk("b", "10.99.0.2", cb, credsB, 2)}
	t.Cleanup(func() {
		// Not in a fuzz worker: there a failure without a message of
		// ours is the coordinator stopping it at the end of -fuzztime,
		// which scripts/test.sh recognises only when that message is
		// alone; a real finding is saved and rerun as a plain test,
		// which prints the logs.
		if t.Failed() && !inFuzzWorker() {
			t.Logf("peer a log:\n%s\npeer b log:\n%s", pr.a.logs, pr.b.logs)
		}
	})
	return pr
}

// pump delivers queued datagrams both ways until none are left (bounded).
func (p *pair) pump() {
	for range 200 {
		if len(p.a.out) == 0 && len(p.b.out) == 0 {
			return
		}
		for _, from := range []*peer{p.a, p.b} {
			to := p.b
			if from == p.b {
				to = p.a
			}
			q := from.out
			from.out = nil
			for _, d := range q {
				if p.drop != nil && p.drop(from, d) {
					continue
				}
				// The receiver sees the sender's addresses swapped.
				to.m.HandleIKE(d.b, d.remote, d.local)
			}
		}
	}
	p.t.Fatal("pump: peers kept talking for 200 rounds")
}

// advance moves the clock and runs both peers' timers.
func (p *pair) advance(d time.Duration) {
	p.clock.now = p.clock.now.Add(d)
	p.a.m.Tick()
	p.b.m.Tick()
	p.pump()
}

func onlySA(t testing.TB, p *peer) *IKESA {
	t.Helper()
	sas := p.m.SAs()
	if len(sas) != 1 {
		t.Fatalf("peer %s has %d IKE SAs, want 1", p.name, len(sas))
	}
	return sas[0]
}

func logHas(p *peer, s string) bool { return strings.Contains(p.logs.String(), s) }

// inFuzzWorker reports whether the test runs in a fuzzing worker process.
func inFuzzWorker() bool {
	f := flag.Lookup("test.fuzzworker")
	return f != nil && f.Value.String() == "true"
}
