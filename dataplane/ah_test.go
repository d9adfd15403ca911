package dataplane

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ah"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/spd"
	"github.com/cygnet-ipsec/cygnet/transform"
)

func newAH(t *testing.T, dir ipsec.Direction, mode ipsec.Mode, spi uint32, src, dst netip.Addr) *ah.SA {
	t.Helper()
	key := bytes.Repeat([]byte{0x5a}, 32)
	integ, err := transform.NewIntegrity(transform.IntegHMACSHA256_128, key, transform.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sa, err := ah.New(ah.Config{SPI: spi, Mode: mode, Direction: dir, Integrity: integ, Src: src, Dst: dst, ReplayWindow: 64})
	if err != nil {
		t.Fatal(err)
	}
	return sa
}

// TestAHRoundTrip sends AH packets from A to B over raw IPv4 (whole packet
// on receive) and raw IPv6 (header rebuilt from the socket's addresses).
func TestAHRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name     string
		mode     ipsec.Mode
		ua, ub   netip.Addr
		src, dst netip.Addr
		local    netip.Prefix
		remote   netip.Prefix
	}{
		{"tunnel-ipv4", ipsec.ModeTunnel, ua4, ub4, hA4, hB4, netA4, netB4},
		{"tunnel-ipv6", ipsec.ModeTunnel, ua6, ub6, hA6, hB6, netA6, netB6},
		{"transport-ipv6", ipsec.ModeTransport, ua6, ub6, ua6, ub6, netip.PrefixFrom(ua6, 128), netip.PrefixFrom(ub6, 128)},
	} {
		t.Run(c.name, func(t *testing.T) {
			ra, rb := &Route{}, &Route{}
			out := &SA{AH: newAH(t, ipsec.Outbound, c.mode, 0x77, c.ua, c.ub), Direction: ipsec.Outbound, Mode: c.mode, Peer: netip.AddrPortFrom(c.ub, 0), Route: ra}
			in := &SA{AH: newAH(t, ipsec.Inbound, c.mode, 0x77, netip.Addr{}, netip.Addr{}), Direction: ipsec.Inbound, Mode: c.mode, Route: rb}
			ra.SetOutbound(out)
			a := &site{db: &spd.DB{}, route: ra, out: out}
			b := &site{db: &spd.DB{}, route: rb, in: in}
			if err := a.db.Replace([]spd.Policy{{ID: 1, Direction: spd.Out, Action: spd.Protect, Selectors: []spd.TrafficSelector{spd.NewSelector(c.local, c.remote)}, Handle: ra}}); err != nil {
				t.Fatal(err)
			}
			if err := b.db.Replace([]spd.Policy{{ID: 1, Direction: spd.In, Action: spd.Protect, Selectors: []spd.TrafficSelector{spd.NewSelector(c.remote, c.local)}, Handle: rb}}); err != nil {
				t.Fatal(err)
			}
			dpA, dpB := memDP(t, a), memDP(t, b)
			var recA, recB recorder
			pkt := udpPacket(c.src, c.dst, 300, false)
			pushOut(memOut(dpA, &recA, 4), pkt)
			role := pick(sockAH4, c.ua.Is6())
			if len(recA.sent[role]) != 1 {
				t.Fatalf("sent %v (stats %+v)", recA.sent, dpA.Stats())
			}
			d := recA.sent[role][0]
			if c.ua.Is6() {
				d = d[packet.IPv6HeaderLen:]
			}
			pushIn(memIn(dpB, role, &recB, 4), []rxMeta{{Src: netip.AddrPortFrom(c.ua, 0), Dst: c.ub}}, d)
			if len(recB.tun) != 1 {
				t.Fatalf("B delivered nothing: %+v", dpB.Stats())
			}
			if c.mode == ipsec.ModeTunnel && !bytes.Equal(recB.tun[0], pkt) {
				t.Error("inner packet differs")
			}
			if c.mode == ipsec.ModeTransport && !bytes.Equal(recB.tun[0][packet.IPv6HeaderLen:], pkt[packet.IPv6HeaderLen:]) {
				t.Error("payload differs")
			}
		})
	}
}
