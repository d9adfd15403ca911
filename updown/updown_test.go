package updown

import (
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/spd"
)

func ep(t *testing.T, s string) spd.Endpoint {
	t.Helper()
	if a, err := netip.ParseAddr(s); err == nil {
		return spd.Endpoint{Addrs: spd.AddrRange{From: a, To: a}, Ports: spd.AnyPort}
	}
	if from, to, ok := strings.Cut(s, ".."); ok {
		return spd.Endpoint{Addrs: spd.AddrRange{From: netip.MustParseAddr(from), To: netip.MustParseAddr(to)}, Ports: spd.AnyPort}
	}
	return spd.Endpoint{Addrs: spd.PrefixRange(netip.MustParsePrefix(s)), Ports: spd.AnyPort}
}

// envMap turns an environment into a map, failing on duplicate names.
func envMap(t *testing.T, env []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("environment entry without '=': %q", kv)
		}
		if _, dup := m[k]; dup {
			t.Fatalf("%s set twice", k)
		}
		m[k] = v
	}
	return m
}

func checkEnv(t *testing.T, got []string, want map[string]string, absent ...string) {
	t.Helper()
	m := envMap(t, got)
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
	for _, k := range absent {
		if v, ok := m[k]; ok {
			t.Errorf("%s = %q is set, want it absent", k, v)
		}
	}
}

func tunnelEvent(t *testing.T) *Event {
	return &Event{
		Up: true, Name: "net", Interface: "eth0", ReqID: 7, Protocol: ipsec.ProtoESP, IKEUniqueID: 3,
		Me: netip.MustParseAddrPort("192.0.2.1:500"), Peer: netip.MustParseAddrPort("192.0.2.2:500"),
		MyID: "moon.example.org", PeerID: "C=CH, O=strongSwan, CN=sun",
		LocalTS: []spd.Endpoint{ep(t, "10.1.0.0/16")}, RemoteTS: []spd.Endpoint{ep(t, "10.2.0.0/16")},
	}
}

func TestEnvIPv4Client(t *testing.T) {
	e := tunnelEvent(t)
	pairs := e.Pairs()
	if len(pairs) != 1 {
		t.Fatalf("%d pairs, want 1", len(pairs))
	}
	env := e.Env(pairs[0], "/usr/bin:/bin")
	if env[0] != "PATH=/usr/bin:/bin" || env[1] != "PLUTO_VERSION=1.1" || env[2] != "PLUTO_VERB=up-client" {
		t.Errorf("environment starts %q, want PATH, PLUTO_VERSION, PLUTO_VERB as strongSwan orders them", env[:3])
	}
	checkEnv(t, env, map[string]string{
		"PLUTO_VERSION": "1.1", "PLUTO_VERB": "up-client", "PLUTO_CONNECTION": "net", "PLUTO_INTERFACE": "eth0",
		"PLUTO_REQID": "7", "PLUTO_PROTO": "esp", "PLUTO_UNIQUEID": "3",
		"PLUTO_ME": "192.0.2.1", "PLUTO_MY_ID": "moon.example.org",
		"PLUTO_MY_CLIENT": "10.1.0.0/16", "PLUTO_MY_CLIENT_NET": "10.1.0.0", "PLUTO_MY_CLIENT_MASK": "255.255.0.0",
		"PLUTO_MY_PORT": "0", "PLUTO_MY_PROTOCOL": "0",
		"PLUTO_PEER": "192.0.2.2", "PLUTO_PEER_ID": "C=CH, O=strongSwan, CN=sun",
		"PLUTO_PEER_CLIENT": "10.2.0.0/16", "PLUTO_PEER_CLIENT_NET": "10.2.0.0", "PLUTO_PEER_CLIENT_MASK": "255.255.0.0",
		"PLUTO_PEER_PORT": "0", "PLUTO_PEER_PROTOCOL": "0",
	}, "PLUTO_UDP_ENC", "PLUTO_HOST_ACCESS", "PLUTO_IPCOMP", "PLUTO_MY_SOURCEIP", "PLUTO_PEER_SOURCEIP",
		"PLUTO_MARK_IN", "PLUTO_MARK_OUT", "PLUTO_IF_ID_IN", "PLUTO_IF_ID_OUT", "PLUTO_XAUTH_ID")
	for _, kv := range env[1:] {
		if !strings.HasPrefix(kv, "PLUTO_") {
			t.Errorf("unexpected variable %q: strongSwan passes PATH and PLUTO_* only", kv)
		}
	}

	e.Up = false
	e.Interface = ""
	checkEnv(t, e.Env(pairs[0], ""), map[string]string{"PLUTO_VERB": "down-client", "PLUTO_INTERFACE": "unknown"})
}

func TestEnvIPv6Client(t *testing.T) {
	e := &Event{
		Up: true, Name: "net6", ReqID: 1, Protocol: ipsec.ProtoAH, IKEUniqueID: 1,
		Me: netip.MustParseAddrPort("[2001:db8::1]:500"), Peer: netip.MustParseAddrPort("[2001:db8::2]:500"),
		LocalTS:  []spd.Endpoint{ep(t, "fd00:1::/64")},
		RemoteTS: []spd.Endpoint{ep(t, "fd00:2::/48")},
	}
	env := e.Env(e.Pairs()[0], "")
	checkEnv(t, env, map[string]string{
		"PLUTO_VERB": "up-client-v6", "PLUTO_PROTO": "ah", "PLUTO_ME": "2001:db8::1", "PLUTO_PEER": "2001:db8::2",
		"PLUTO_MY_CLIENT": "fd00:1::/64", "PLUTO_MY_CLIENT_NET": "fd00:1::", "PLUTO_MY_CLIENT_MASK": "ffff:ffff:ffff:ffff::",
		"PLUTO_PEER_CLIENT": "fd00:2::/48", "PLUTO_PEER_CLIENT_MASK": "ffff:ffff:ffff::",
	})
	e.Up = false
	checkEnv(t, e.Env(e.Pairs()[0], ""), map[string]string{"PLUTO_VERB": "down-client-v6"})

	// IPv6 selectors over an IPv4 IKE SA: the verb follows the selector.
	e.Me, e.Peer = netip.MustParseAddrPort("192.0.2.1:500"), netip.MustParseAddrPort("192.0.2.2:500")
	checkEnv(t, e.Env(e.Pairs()[0], ""), map[string]string{"PLUTO_VERB": "down-client-v6", "PLUTO_ME": "192.0.2.1"})
}

func TestEnvHost(t *testing.T) {
	e := tunnelEvent(t)
	e.LocalTS = []spd.Endpoint{ep(t, "192.0.2.1")}
	e.RemoteTS = []spd.Endpoint{ep(t, "192.0.2.2")}
	checkEnv(t, e.Env(e.Pairs()[0], ""), map[string]string{
		"PLUTO_VERB": "up-host", "PLUTO_MY_CLIENT": "192.0.2.1/32", "PLUTO_PEER_CLIENT": "192.0.2.2/32",
		"PLUTO_MY_CLIENT_MASK": "255.255.255.255",
	})

	// A single address that is not ours is a client.
	e.LocalTS = []spd.Endpoint{ep(t, "10.1.0.5")}
	checkEnv(t, e.Env(e.Pairs()[0], ""), map[string]string{"PLUTO_VERB": "up-client", "PLUTO_MY_CLIENT": "10.1.0.5/32"})

	e6 := &Event{
		Me: netip.MustParseAddrPort("[2001:db8::1]:4500"), Peer: netip.MustParseAddrPort("[2001:db8::2]:4500"),
		LocalTS: []spd.Endpoint{ep(t, "2001:db8::1")}, RemoteTS: []spd.Endpoint{ep(t, "2001:db8::2")},
	}
	checkEnv(t, e6.Env(e6.Pairs()[0], ""), map[string]string{"PLUTO_VERB": "down-host-v6", "PLUTO_MY_CLIENT": "2001:db8::1/128"})
}

func TestEnvEncapAndHostAccess(t *testing.T) {
	e := tunnelEvent(t)
	e.Peer = netip.MustParseAddrPort("198.51.100.7:4500")
	e.Encap, e.HostAccess = true, true
	checkEnv(t, e.Env(e.Pairs()[0], ""), map[string]string{"PLUTO_UDP_ENC": "4500", "PLUTO_HOST_ACCESS": "1", "PLUTO_PEER": "198.51.100.7"})

	e.Peer = netip.MustParseAddrPort("198.51.100.7:31337") // behind a NAT that moved the port
	checkEnv(t, e.Env(e.Pairs()[0], ""), map[string]string{"PLUTO_UDP_ENC": "31337"})
}

func TestEnvMarksVIPsAndOptionals(t *testing.T) {
	e := tunnelEvent(t)
	e.MarkIn = Mark{Value: 42, Mask: 0xffffffff}
	e.MarkOut = Mark{Value: 7, Mask: 0xff}
	e.IfIDIn, e.IfIDOut = 1, 2
	e.IPComp = true
	e.XAuthID = "carol"
	e.MyVIPs = []netip.Addr{netip.MustParseAddr("10.3.0.1"), netip.MustParseAddr("fd00:3::1"), netip.MustParseAddr("10.3.0.2")}
	e.PeerVIPs = []netip.Addr{netip.MustParseAddr("fd00:4::9")}
	e.DNS = []netip.Addr{netip.MustParseAddr("10.0.0.53"), netip.MustParseAddr("fd00::53")}
	checkEnv(t, e.Env(e.Pairs()[0], ""), map[string]string{
		"PLUTO_MARK_IN": "42/0xffffffff", "PLUTO_MARK_OUT": "7/0x000000ff",
		"PLUTO_IF_ID_IN": "1", "PLUTO_IF_ID_OUT": "2", "PLUTO_IPCOMP": "1", "PLUTO_XAUTH_ID": "carol",
		"PLUTO_MY_SOURCEIP": "10.3.0.1", "PLUTO_MY_SOURCEIP4_1": "10.3.0.1", "PLUTO_MY_SOURCEIP4_2": "10.3.0.2",
		"PLUTO_MY_SOURCEIP6_1": "fd00:3::1",
		"PLUTO_PEER_SOURCEIP":  "fd00:4::9", "PLUTO_PEER_SOURCEIP6_1": "fd00:4::9",
		"PLUTO_DNS4_1": "10.0.0.53", "PLUTO_DNS6_1": "fd00::53",
	})
}

func TestEnvPortsAndProtocols(t *testing.T) {
	tcp := func(s string, from, to uint16) spd.Endpoint {
		e := ep(t, s)
		e.Proto, e.Ports = spd.ProtoTCP, spd.PortRange{From: from, To: to}
		return e
	}
	e := tunnelEvent(t)
	e.LocalTS = []spd.Endpoint{tcp("10.1.0.0/16", 80, 80)}
	e.RemoteTS = []spd.Endpoint{tcp("10.2.0.0/16", 1024, 65535)}
	checkEnv(t, e.Env(e.Pairs()[0], ""), map[string]string{
		"PLUTO_MY_PORT": "80", "PLUTO_PEER_PORT": "1024:65535", "PLUTO_MY_PROTOCOL": "6", "PLUTO_PEER_PROTOCOL": "6",
	})

	// ICMP echo request (type 8, code 0) travels as port 8<<8 in IKEv2.
	icmp := ep(t, "10.1.0.0/16")
	icmp.Proto, icmp.Ports = spd.ProtoICMP, spd.PortRange{From: 8 << 8, To: 8<<8 | 0xff}
	any := ep(t, "10.2.0.0/16")
	e.LocalTS, e.RemoteTS = []spd.Endpoint{icmp}, []spd.Endpoint{any}
	checkEnv(t, e.Env(e.Pairs()[0], ""), map[string]string{
		"PLUTO_MY_PORT": "8", "PLUTO_PEER_PORT": "0", "PLUTO_MY_PROTOCOL": "1", "PLUTO_PEER_PROTOCOL": "0",
	})
	icmp.Ports = spd.PortRange{From: 3<<8 | 4, To: 3<<8 | 4}
	e.LocalTS = []spd.Endpoint{icmp}
	checkEnv(t, e.Env(e.Pairs()[0], ""), map[string]string{"PLUTO_MY_PORT": "3", "PLUTO_PEER_PORT": "4"})
}

func TestSubnet(t *testing.T) {
	for _, c := range []struct {
		r    string
		want string
	}{
		{"10.1.0.0/16", "10.1.0.0/16"},
		{"10.0.0.1..10.0.0.9", "10.0.0.0/28"},
		{"10.0.0.0..10.0.1.255", "10.0.0.0/23"},
		{"0.0.0.0/0", "0.0.0.0/0"},
		{"::/0", "::/0"},
		{"fd00::1..fd00::1", "fd00::1/128"},
		{"::ffff:10.0.0.1", "10.0.0.1/32"},
	} {
		a, bits := Subnet(ep(t, c.r).Addrs)
		if got := netip.PrefixFrom(a, bits).String(); got != c.want {
			t.Errorf("Subnet(%s) = %s, want %s", c.r, got, c.want)
		}
	}
	if a, bits := Subnet(spd.AddrRange{}); a != netip.IPv4Unspecified() || bits != 0 {
		t.Errorf("Subnet of an empty range = %v/%d", a, bits)
	}
}

func TestPairs(t *testing.T) {
	udp := ep(t, "10.9.0.0/16")
	udp.Proto = spd.ProtoUDP
	tcp := ep(t, "10.8.0.0/16")
	tcp.Proto = spd.ProtoTCP
	e := &Event{
		LocalTS:  []spd.Endpoint{ep(t, "10.1.0.0/16"), ep(t, "fd00:1::/64"), tcp},
		RemoteTS: []spd.Endpoint{ep(t, "10.2.0.0/16"), ep(t, "fd00:2::/64"), udp},
	}
	var got []string
	for _, p := range e.Pairs() {
		a, ab := Subnet(p.Local.Addrs)
		b, bb := Subnet(p.Remote.Addrs)
		got = append(got, netip.PrefixFrom(a, ab).String()+" "+netip.PrefixFrom(b, bb).String())
	}
	want := []string{
		"10.1.0.0/16 10.2.0.0/16", "10.1.0.0/16 10.9.0.0/16",
		"fd00:1::/64 fd00:2::/64",
		"10.8.0.0/16 10.2.0.0/16", // tcp with any, but not tcp with udp
	}
	if !slices.Equal(got, want) {
		t.Errorf("pairs\n got %q\nwant %q", got, want)
	}
}

func TestVerb(t *testing.T) {
	me4, me6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	for _, c := range []struct {
		up    bool
		local string
		me    netip.Addr
		want  string
	}{
		{true, "10.0.0.0/8", me4, "up-client"},
		{false, "10.0.0.0/8", me4, "down-client"},
		{true, "192.0.2.1", me4, "up-host"},
		{false, "192.0.2.1", me4, "down-host"},
		{true, "192.0.2.0/24", me4, "up-client"},
		{true, "fd00::/8", me4, "up-client-v6"},
		{true, "2001:db8::1", me6, "up-host-v6"},
		{false, "2001:db8::1", me6, "down-host-v6"},
		{false, "fd00::/8", me6, "down-client-v6"},
		{true, "10.0.0.0/8", netip.Addr{}, "up-client"},
	} {
		if got := Verb(c.up, ep(t, c.local), c.me); got != c.want {
			t.Errorf("Verb(%v, %s, %v) = %s, want %s", c.up, c.local, c.me, got, c.want)
		}
	}
}

func BenchmarkEnv(b *testing.B) {
	e := &Event{
		Up: true, Name: "net", Interface: "eth0", ReqID: 7, IKEUniqueID: 3,
		Me: netip.MustParseAddrPort("192.0.2.1:500"), Peer: netip.MustParseAddrPort("192.0.2.2:500"),
		LocalTS:  []spd.Endpoint{{Addrs: spd.PrefixRange(netip.MustParsePrefix("10.1.0.0/16")), Ports: spd.AnyPort}},
		RemoteTS: []spd.Endpoint{{Addrs: spd.PrefixRange(netip.MustParsePrefix("10.2.0.0/16")), Ports: spd.AnyPort}},
	}
	p := e.Pairs()[0]
	b.ReportAllocs()
	for b.Loop() {
		e.Env(p, "/usr/bin:/bin")
	}
}

// FuzzEnv feeds selectors as a peer may send them (any addresses, mixed
// families, reversed ranges, any ports and protocols) through Pairs and Env:
// no panic, one value per variable, and a verb and client strongSwan's
// syntax allows.
func FuzzEnv(f *testing.F) {
	f.Add([]byte{10, 1, 0, 0}, []byte{10, 1, 255, 255}, uint8(0), uint16(0), uint16(65535), []byte{10, 2, 0, 0}, []byte{10, 2, 255, 255}, uint8(0), uint16(0), uint16(65535), true)
	f.Add([]byte{192, 0, 2, 1}, []byte{192, 0, 2, 1}, uint8(6), uint16(80), uint16(80), []byte{10, 2, 0, 0}, []byte{10, 2, 0, 9}, uint8(6), uint16(1024), uint16(2048), false)
	f.Add(netip.MustParseAddr("fd00::").AsSlice(), netip.MustParseAddr("fd00::ffff").AsSlice(), uint8(58), uint16(128<<8), uint16(128<<8|255),
		netip.MustParseAddr("fd01::").AsSlice(), []byte{10, 0, 0, 1}, uint8(1), uint16(0), uint16(0), true)
	f.Fuzz(func(t *testing.T, lf, lt []byte, lp uint8, lpf, lpt uint16, rf, rt []byte, rp uint8, rpf, rpt uint16, up bool) {
		mk := func(from, to []byte, proto uint8, pf, pt uint16) spd.Endpoint {
			a, _ := netip.AddrFromSlice(from)
			b, _ := netip.AddrFromSlice(to)
			return spd.Endpoint{Addrs: spd.AddrRange{From: a, To: b}, Proto: proto, Ports: spd.PortRange{From: pf, To: pt}}
		}
		e := &Event{
			Up: up, Name: "fuzz", Me: netip.MustParseAddrPort("192.0.2.1:4500"), Peer: netip.MustParseAddrPort("192.0.2.2:4500"),
			LocalTS:  []spd.Endpoint{mk(lf, lt, lp, lpf, lpt)},
			RemoteTS: []spd.Endpoint{mk(rf, rt, rp, rpf, rpt)},
		}
		for _, p := range e.Pairs() {
			m := envMap(t, e.Env(p, "/bin"))
			if !verbRE.MatchString(m["PLUTO_VERB"]) {
				t.Fatalf("PLUTO_VERB=%q", m["PLUTO_VERB"])
			}
			for _, k := range []string{"PLUTO_MY_CLIENT", "PLUTO_PEER_CLIENT"} {
				if _, err := netip.ParsePrefix(m[k]); err != nil {
					t.Fatalf("%s=%q: %v", k, m[k], err)
				}
			}
			for _, k := range []string{"PLUTO_MY_CLIENT_MASK", "PLUTO_PEER_CLIENT_MASK", "PLUTO_MY_CLIENT_NET"} {
				if _, err := netip.ParseAddr(m[k]); err != nil {
					t.Fatalf("%s=%q: %v", k, m[k], err)
				}
			}
		}
	})
}

var verbRE = regexp.MustCompile(`^(up|down)-(host|client)(-v6)?$`)
