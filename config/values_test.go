package config

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"30", 30 * time.Second, true},
		{"30s", 30 * time.Second, true},
		{"30S", 30 * time.Second, true},
		{"10m", 10 * time.Minute, true},
		{"10M", 10 * time.Minute, true},
		{"4h", 4 * time.Hour, true},
		{"4H", 4 * time.Hour, true},
		{"1d", 24 * time.Hour, true},
		{"2D", 48 * time.Hour, true},
		{"90 m", 90 * time.Minute, true}, // strongSwan skips spaces before the unit
		{"0x10", 16 * time.Second, true}, // strtoul base 0
		{"010", 8 * time.Second, true},   // leading zero is octal, as in strongSwan
		{"08", 0, false},
		{"", 0, false},
		{"h", 0, false},
		{"1w", 0, false},
		{"1hs", 0, false},
		{"-1s", 0, false},
		{"1.5h", 0, false},
		{"99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseDuration(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"500000", 500000, true},
		{"512k", 512 << 10, true},
		{"512K", 512 << 10, true},
		{"1m", 1 << 20, true},
		{"1M", 1 << 20, true},
		{"2g", 2 << 30, true},
		{"2G", 2 << 30, true},
		{"3 G", 3 << 30, true},
		{"99999999999G", math.MaxUint64, true}, // saturates like strongSwan
		{"1T", 0, false},
		{"1kB", 0, false},
		{"k", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseBytes(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseBytes(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseBool(t *testing.T) {
	for _, s := range []string{"yes", "YES", "true", "True", "enabled", "1"} {
		if v, ok := parseBool(s); !ok || !v {
			t.Errorf("parseBool(%q) = %v, %v", s, v, ok)
		}
	}
	for _, s := range []string{"no", "No", "false", "FALSE", "disabled", "0"} {
		if v, ok := parseBool(s); !ok || v {
			t.Errorf("parseBool(%q) = %v, %v", s, v, ok)
		}
	}
	for _, s := range []string{"", "y", "on", "off", "2", "yes please"} {
		if _, ok := parseBool(s); ok {
			t.Errorf("parseBool(%q) accepted", s)
		}
	}
}

func TestParseMark(t *testing.T) {
	tests := []struct {
		in           string
		unique, same bool
		want         Mark
		ok           bool
	}{
		{"10", true, false, Mark{Value: 10, Mask: 0xffffffff}, true},
		{"0x2a/0xff", true, false, Mark{Value: 0x2a, Mask: 0xff}, true},
		{"0x1ff/0xff", true, false, Mark{Value: 0xff, Mask: 0xff}, true},
		{"%unique", true, false, Mark{Special: "%unique", Mask: 0xffffffff}, true},
		{"%unique-dir/0xf0", true, false, Mark{Special: "%unique-dir", Mask: 0xf0}, true},
		{"%same", false, true, Mark{Special: "%same", Mask: 0xffffffff}, true},
		{"%same", true, false, Mark{}, false},
		{"%unique", false, true, Mark{}, false},
		{"10/", true, false, Mark{}, false},
		{"ten", true, false, Mark{}, false},
		{"0x100000000", true, false, Mark{}, false},
	}
	for _, tt := range tests {
		got, ok := parseMark(tt.in, tt.unique, tt.same)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseMark(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseAction(t *testing.T) {
	tests := map[string]Action{
		"none": ActionNone, "clear": ActionNone, "trap": ActionTrap, "route": ActionTrap,
		"start": ActionStart, "restart": ActionStart, "trap|start": ActionTrap | ActionStart,
		"START|Trap": ActionTrap | ActionStart,
	}
	for in, want := range tests {
		if got, ok := parseAction(in); !ok || got != want {
			t.Errorf("parseAction(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "hold", "trap,start", "trap|"} {
		if _, ok := parseAction(in); ok {
			t.Errorf("parseAction(%q) accepted", in)
		}
	}
}

func TestParseTS(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		in         string
		start, end string
		dynamic    bool
		proto      uint8
		from, to   uint16
		str        string
	}{
		{"10.0.0.0/24", "10.0.0.0", "10.0.0.255", false, 0, 0, 65535, "10.0.0.0/24"},
		{"10.0.0.77/24", "10.0.0.0", "10.0.0.255", false, 0, 0, 65535, "10.0.0.0/24"},
		{"10.0.0.1", "10.0.0.1", "10.0.0.1", false, 0, 0, 65535, "10.0.0.1/32"},
		{"0.0.0.0/0", "0.0.0.0", "255.255.255.255", false, 0, 0, 65535, "0.0.0.0/0"},
		{"fd00:99:1::/64", "fd00:99:1::", "fd00:99:1::ffff:ffff:ffff:ffff", false, 0, 0, 65535, "fd00:99:1::/64"},
		{"::/0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, 0, 0, 65535, "::/0"},
		{"10.0.0.5-10.0.0.9", "10.0.0.5", "10.0.0.9", false, 0, 0, 65535, "10.0.0.5-10.0.0.9"},
		{"dynamic", "", "", true, 0, 0, 65535, "dynamic"},
		{"%dynamic", "", "", true, 0, 0, 65535, "dynamic"},
		{"10.0.0.0/24[tcp/80]", "10.0.0.0", "10.0.0.255", false, 6, 80, 80, "10.0.0.0/24[6/80]"},
		{"10.0.0.0/24[tcp/http]", "10.0.0.0", "10.0.0.255", false, 6, 80, 80, "10.0.0.0/24[6/80]"},
		{"dynamic[udp/1000-2000]", "", "", true, 17, 1000, 2000, "dynamic[17/1000-2000]"},
		{"10.1.0.0/16[udp]", "10.1.0.0", "10.1.255.255", false, 17, 0, 65535, "10.1.0.0/16[17/]"},
		{"10.1.0.0/16[17/any]", "10.1.0.0", "10.1.255.255", false, 17, 0, 65535, "10.1.0.0/16[17/]"},
		{"10.1.0.0/16[/53]", "10.1.0.0", "10.1.255.255", false, 0, 53, 53, "10.1.0.0/16[0/53]"},
		{"10.1.0.0/16[any/opaque]", "10.1.0.0", "10.1.255.255", false, 0, 65535, 0, "10.1.0.0/16[0/opaque]"},
		{"0.0.0.0/0[icmp/8]", "0.0.0.0", "255.255.255.255", false, 1, 8 << 8, 8<<8 | 0xff, "0.0.0.0/0[1/2048-2303]"},
		{"0.0.0.0/0[icmp/0x0300]", "0.0.0.0", "255.255.255.255", false, 1, 0x300, 0x300, "0.0.0.0/0[1/768]"},
		{"::/0[ipv6-icmp/135]", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, 58, 135 << 8, 135<<8 | 0xff, "::/0[58/34560-34815]"},
		{"10.0.0.0/8[47]", "10.0.0.0", "10.255.255.255", false, 47, 0, 65535, "10.0.0.0/8[47/]"},
	}
	for _, tt := range tests {
		ts, err := parseTS(tt.in)
		if err != nil {
			t.Errorf("parseTS(%q): %v", tt.in, err)
			continue
		}
		if ts.Dynamic != tt.dynamic || ts.Protocol != tt.proto || ts.FromPort != tt.from || ts.ToPort != tt.to {
			t.Errorf("parseTS(%q) = %+v", tt.in, ts)
		}
		if !tt.dynamic && (ts.Start != a(tt.start) || ts.End != a(tt.end)) {
			t.Errorf("parseTS(%q) range %v-%v, want %s-%s", tt.in, ts.Start, ts.End, tt.start, tt.end)
		}
		if got := ts.String(); got != tt.str {
			t.Errorf("parseTS(%q).String() = %q, want %q", tt.in, got, tt.str)
		}
	}
	bad := map[string]string{
		"10.0.0.0/33":            `"10.0.0.0/33" is not a subnet`,
		"10.0.0.9-10.0.0.5":      `range "10.0.0.9-10.0.0.5" ends before it starts`,
		"10.0.0.1-::1":           `range "10.0.0.1-::1" mixes IPv4 and IPv6`,
		"host.example":           `"host.example" is not an address or subnet`,
		"10.0.0.0/24[tcp/80":     `missing ']'`,
		"10.0.0.0/24[tcpx]":      `unknown protocol "tcpx"`,
		"10.0.0.0/24[tcp/x]":     `invalid port "x"`,
		"10.0.0.0/24[256]":       `unknown protocol "256"`,
		"10.0.0.0/24[tcp/70000]": `invalid port "70000"`,
		"10.0.0.0/24[tcp/9-1]":   `port range "9-1" ends before it starts`,
		"10.0.0.0/24[tcp/80]x":   `unexpected "x" after ']'`,
		"dynamic[tcp/1-x]":       `invalid port range "1-x"`,
	}
	for in, want := range bad {
		if _, err := parseTS(in); err == nil || err.Error() != want {
			t.Errorf("parseTS(%q) error %v, want %s", in, err, want)
		}
	}
}

func TestTSPrefix(t *testing.T) {
	ts, _ := parseTS("10.0.0.0-10.0.0.255")
	if p, ok := ts.Prefix(); !ok || p != netip.MustParsePrefix("10.0.0.0/24") {
		t.Errorf("Prefix() = %v, %v", p, ok)
	}
	ts, _ = parseTS("10.0.0.1-10.0.0.2")
	if _, ok := ts.Prefix(); ok {
		t.Error("1-2 is not a prefix")
	}
}

func TestSecretRedacted(t *testing.T) {
	s := NewSecret([]byte("hunter2-very-secret"))
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		if got := fmt.Sprintf(f, s); got != "<redacted>" {
			t.Errorf("%s printed %q", f, got)
		}
	}
	// inside a struct too
	ss := &SharedSecret{Name: "ike-1", Secret: s}
	if got := fmt.Sprintf("%+v", ss); strings.Contains(got, "hunter2") {
		t.Errorf("%%+v of SharedSecret leaks: %s", got)
	}
	if !s.Equal(NewSecret([]byte("hunter2-very-secret"))) || s.Equal(NewSecret([]byte("hunter3-very-secret"))) || s.Equal(Secret{}) {
		t.Error("Equal is wrong")
	}
	if string(s.Bytes()) != "hunter2-very-secret" {
		t.Error("Bytes is wrong")
	}
}
