package e2e

import (
	"encoding/json"
	"net/netip"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// TestCygnetModes covers what strongSwan's user-space data plane cannot
// peer with: transport mode, and the choice between raw ESP (protocol 50)
// and ESP-in-UDP forced with encap = yes, cygnet against cygnet.
func TestCygnetModes(t *testing.T) {
	testnet.RequireRoot(t)
	for _, c := range []struct {
		name      string
		transport bool
		encap     bool
		six       bool // IKE, ESP and (in transport mode) the protected hosts on IPv6
		flags     []string
	}{
		{"transport/raw-esp/ipv4", true, false, false, nil},
		{"transport/raw-esp/ipv6", true, false, true, nil},
		{"transport/esp-in-udp/ipv4", true, true, false, nil},
		{"tunnel/esp-in-udp/ipv4", false, true, false, nil},
		{"tunnel/esp-in-udp/ipv6", false, true, true, nil},
		// Raw ESP out through the AF_PACKET socket to the next hop and in
		// through AF_XDP: the counters below show they carried the
		// traffic.
		{"tunnel/raw-esp-link-socket-xdp", false, false, false, []string{"--esp-link-socket", "--esp-xdp"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := testnet.NewPair(t, testnet.PairOptions{})
			confA, confB := pairConfigsOn("psk", c.six)
			confA.Encap, confB.Encap = c.encap, c.encap
			hostA, hostB := testnet.UnderlayA, testnet.UnderlayB
			if c.six {
				hostA, hostB = testnet.UnderlayA6, testnet.UnderlayB6
			}
			child := "net"
			tr := tunnelTraffic(c.encap)
			wantTSA, wantTSB := []string{testnet.SubnetA.String()}, []string{testnet.SubnetB.String()}
			if c.transport {
				// Host to host between the underlay addresses, the
				// addresses IKE itself runs between.
				child = "host"
				confA.Children = []testnet.ChildConfig{{Name: child, Mode: "transport"}}
				confB.Children = []testnet.ChildConfig{{Name: child, Mode: "transport"}}
				pa, pb := netip.PrefixFrom(hostA, hostA.BitLen()), netip.PrefixFrom(hostB, hostB.BitLen())
				tr = traffic{protected: []netip.Prefix{pa, pb}, encap: c.encap}
				if c.six {
					tr.a6, tr.b6 = hostA, hostB
				} else {
					tr.a4, tr.b4 = hostA, hostB
				}
				wantTSA, wantTSB = []string{pa.String()}, []string{pb.String()}
			}
			// Before the daemons start: a transport-mode configuration
			// protects the peer's address itself, so afterwards only IKE
			// and ESP reach it until the SA is up.
			warmUnderlay(t, p, hostB)
			b := startCygnet(t, p.B, confB.Swanctl(), nil, "", c.flags...)
			a := startCygnet(t, p.A, confA.Swanctl(), nil, "", c.flags...)
			if c.transport {
				if r, err := testnet.TryPing(p.A, netip.Addr{}, hostB, 1); err == nil && r.Received > 0 {
					t.Fatalf("plain ping to the transport-mode peer %s crossed before the SA was up", hostB)
				}
			}
			capture := p.Capture(p.B)
			children := []string{child}
			if !c.transport {
				children = append(children, "net6")
			}
			bEnd := cygnetEnd{b}
			for _, ch := range children {
				up, err := a.tryInitiate("tun", ch)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s: initiate to usable Child SA %s: %v", c.name, ch, up)
				if _, err := bEnd.view(ch, 5*time.Second); err != nil {
					t.Fatal(err)
				}
			}
			res := checkTraffic(t, p, capture, tr)
			mode := "TUNNEL"
			if c.transport {
				mode = "TRANSPORT"
			}
			for i, ch := range children {
				bytes := res.xfer4.Bytes
				if i == 1 || c.six && c.transport {
					bytes = res.xfer6.Bytes
				}
				if i == 1 {
					wantTSA, wantTSB = []string{testnet.SubnetA6.String()}, []string{testnet.SubnetB6.String()}
				}
				va, err := cygnetEnd{a}.view(ch, time.Second)
				if err != nil {
					t.Fatal(err)
				}
				vb, err := bEnd.view(ch, time.Second)
				if err != nil {
					t.Fatal(err)
				}
				checkSAs(t, va, vb, wantSA{hostA: hostA, hostB: hostB, mode: mode, encap: c.encap,
					tsA: wantTSA, tsB: wantTSB, bytesAToB: bytes, implA: implCygnet, implB: implCygnet})
			}
			t.Logf("%s: %.0f Mbit/s IPv4, %.0f Mbit/s IPv6", c.name, res.xfer4.Mbps(), res.xfer6.Mbps())
			linkOn, xdpOn := slices.Contains(c.flags, "--esp-link-socket"), slices.Contains(c.flags, "--esp-xdp")
			sa, sb := dataplaneStats(t, a), dataplaneStats(t, b)
			for _, e := range []struct {
				ns       string
				st, peer dpStats
			}{{a.ns, sa, sb}, {b.ns, sb, sa}} {
				if linkOn && e.st.LinkSent < e.st.OutPackets/2 || !linkOn && e.st.LinkSent != 0 {
					t.Errorf("%s: %d of %d ESP packets left through the link socket (flags %v)", e.ns, e.st.LinkSent, e.st.OutPackets, c.flags)
				}
				// The peer's sealed packets, IKE's own not among them.
				if xdpOn && e.st.XDPReceived < e.peer.OutPackets/2 || !xdpOn && e.st.XDPReceived != 0 {
					t.Errorf("%s: %d of the peer's %d ESP packets came in through AF_XDP (flags %v)", e.ns, e.st.XDPReceived, e.peer.OutPackets, c.flags)
				}
			}

			// IKE still reaches the peer while the SA's policy and route
			// cover the peer's whole address: the DELETE gets through.
			if err := a.terminate("tun"); err != nil {
				t.Fatal(err)
			}
			if !logHas(bEnd, regexp.MustCompile(`msg="IKE SA deleted".*reason="deleted by peer"`), 5*time.Second) {
				t.Errorf("B never saw A's DELETE:\n%s", b.logText())
			}
			if sas, err := bEnd.ikeSAs(); err != nil || len(sas) != 0 {
				t.Errorf("B still lists IKE SAs %v after the DELETE (%v)", sas, err)
			}
		})
	}
}

// dpStats are the data plane's counters the modes check.
type dpStats struct {
	LinkSent, XDPReceived, OutPackets uint64
}

// dataplaneStats returns a daemon's data-plane counters (stats --json).
func dataplaneStats(t *testing.T, c *cygnet) dpStats {
	t.Helper()
	resp, err := control.Call(c.socket, control.Request{Command: control.CmdStats}, 5*time.Second)
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	var st struct {
		Dataplane struct {
			LinkSent, XDPReceived *uint64
			OutPackets            uint64
		} `json:"dataplane"`
	}
	if err := json.Unmarshal(resp.Stats, &st); err != nil || st.Dataplane.LinkSent == nil || st.Dataplane.XDPReceived == nil {
		t.Fatalf("stats without the data plane's LinkSent and XDPReceived: %s (%v)", resp.Stats, err)
	}
	return dpStats{LinkSent: *st.Dataplane.LinkSent, XDPReceived: *st.Dataplane.XDPReceived, OutPackets: st.Dataplane.OutPackets}
}
