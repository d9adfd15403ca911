package spd

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
)

func TestPrefixRange(t *testing.T) {
	tests := []struct{ prefix, from, to, str string }{
		{"10.1.2.0/24", "10.1.2.0", "10.1.2.255", "10.1.2.0/24"},
		{"10.1.2.3/20", "10.1.0.0", "10.1.15.255", "10.1.0.0/20"},
		{"0.0.0.0/0", "0.0.0.0", "255.255.255.255", "0.0.0.0/0"},
		{"192.0.2.9/32", "192.0.2.9", "192.0.2.9", "192.0.2.9/32"},
		{"2001:db8::/33", "2001:db8::", "2001:db8:7fff:ffff:ffff:ffff:ffff:ffff", "2001:db8::/33"},
		{"::/0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::/0"},
	}
	for _, tt := range tests {
		r := PrefixRange(mustPrefix(tt.prefix))
		if r.From != mustAddr(tt.from) || r.To != mustAddr(tt.to) {
			t.Errorf("PrefixRange(%s) = %v-%v, want %s-%s", tt.prefix, r.From, r.To, tt.from, tt.to)
		}
		if s := r.String(); s != tt.str {
			t.Errorf("String() = %q, want %q", s, tt.str)
		}
	}
	if s := (AddrRange{mustAddr("10.0.0.5"), mustAddr("10.0.0.9")}).String(); s != "10.0.0.5-10.0.0.9" {
		t.Errorf("range String() = %q", s)
	}
	if !AnyIPv4().IsAny() || !AnyIPv6().IsAny() || PrefixRange(mustPrefix("10.0.0.0/8")).IsAny() {
		t.Error("IsAny wrong")
	}
	if r := PrefixRange(netip.Prefix{}); r != (AddrRange{}) {
		t.Errorf("invalid prefix gives %v", r)
	}
}

func TestSelectorString(t *testing.T) {
	s := NewSelector(mustPrefix("10.0.0.0/8"), mustPrefix("192.0.2.0/24"))
	s.Proto, s.RemotePorts = ProtoTCP, PortRange{80, 90}
	if got, want := s.String(), "10.0.0.0/8[any] <-> 192.0.2.0/24[80-90] proto 6"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	s.Proto, s.LocalPorts, s.RemotePorts = ProtoICMP, Port(3), Port(4)
	if got, want := s.String(), "10.0.0.0/8 <-> 192.0.2.0/24 proto 1 type 3 code 4"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

func TestICMPPortRange(t *testing.T) {
	tc := func(t1, t2, c1, c2 uint16) ICMPTypeCodes {
		return ICMPTypeCodes{PortRange{t1, t2}, PortRange{c1, c2}}
	}
	tests := []struct {
		start, end uint16
		want       []ICMPTypeCodes
	}{
		{0, 65535, []ICMPTypeCodes{{AnyPort, AnyPort}}},
		{0x0800, 0x0800, []ICMPTypeCodes{tc(8, 8, 0, 0)}},              // echo request
		{0x0300, 0x03ff, []ICMPTypeCodes{{Port(3), AnyPort}}},          // destination unreachable, any code
		{0x0300, 0x0304, []ICMPTypeCodes{tc(3, 3, 0, 4)}},              // some codes
		{0x0000, 0x0bff, []ICMPTypeCodes{{PortRange{0, 11}, AnyPort}}}, // types 0-11
		{0x0305, 0x0b02, []ICMPTypeCodes{tc(3, 3, 5, 255), {PortRange{4, 10}, AnyPort}, tc(11, 11, 0, 2)}},
		{0x0305, 0x0402, []ICMPTypeCodes{tc(3, 3, 5, 255), tc(4, 4, 0, 2)}},
	}
	for _, tt := range tests {
		got, err := ICMPPortRange(tt.start, tt.end)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ICMPPortRange(%#04x, %#04x) = %v, %v; want %v", tt.start, tt.end, got, err, tt.want)
		}
	}
	if _, err := ICMPPortRange(65535, 0); err == nil {
		t.Error("OPAQUE range accepted")
	}
	// The union of the parts is exactly the input range.
	r := rand.New(rand.NewPCG(4, 4))
	for range 300 {
		a, b := uint16(r.IntN(65536)), uint16(r.IntN(65536))
		start, end := min(a, b), max(a, b)
		parts, err := ICMPPortRange(start, end)
		if err != nil {
			t.Fatal(err)
		}
		for v := range 65536 {
			typ, code := uint16(v>>8), uint16(v&0xff)
			in := false
			for _, p := range parts {
				if p.Types.Contains(typ) && p.Codes.Contains(code) {
					in = true
				}
			}
			if want := start <= uint16(v) && uint16(v) <= end; in != want {
				t.Fatalf("ICMPPortRange(%d, %d) = %v: type %d code %d included %v, want %v", start, end, parts, typ, code, in, want)
			}
		}
	}
}

func TestCrossProduct(t *testing.T) {
	l4 := Endpoint{Addrs: PrefixRange(mustPrefix("10.0.0.0/8")), Ports: AnyPort}
	l6 := Endpoint{Addrs: PrefixRange(mustPrefix("2001:db8::/32")), Ports: AnyPort}
	r4tcp := Endpoint{Addrs: PrefixRange(mustPrefix("192.0.2.0/24")), Proto: ProtoTCP, Ports: Port(443)}
	r4udp := Endpoint{Addrs: PrefixRange(mustPrefix("192.0.2.0/24")), Proto: ProtoUDP, Ports: AnyPort}
	l4tcp := Endpoint{Addrs: PrefixRange(mustPrefix("10.0.0.0/8")), Proto: ProtoTCP, Ports: AnyPort}
	got := CrossProduct([]Endpoint{l4, l6, l4tcp}, []Endpoint{r4tcp, r4udp})
	want := []TrafficSelector{
		{Local: l4.Addrs, Remote: r4tcp.Addrs, Proto: ProtoTCP, LocalPorts: AnyPort, RemotePorts: Port(443)},
		{Local: l4.Addrs, Remote: r4udp.Addrs, Proto: ProtoUDP, LocalPorts: AnyPort, RemotePorts: AnyPort},
		{Local: l4.Addrs, Remote: r4tcp.Addrs, Proto: ProtoTCP, LocalPorts: AnyPort, RemotePorts: Port(443)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CrossProduct:\n got %v\nwant %v", got, want)
	}
}
