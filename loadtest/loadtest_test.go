package loadtest

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
)

// TestConfigRefused: bad load-test settings are refused with a message
// that names the flag, before any socket is opened.
func TestConfigRefused(t *testing.T) {
	gw := netip.MustParseAddrPort("192.0.2.1:500")
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Clients: 1, Auth: AuthPSK, PSK: []byte("k"), IDPattern: "c%d"}, "no gateway"},
		{Config{Gateway: gw, Clients: 0, Auth: AuthPSK, PSK: []byte("k"), IDPattern: "c%d"}, "clients must be positive"},
		{Config{Gateway: gw, Clients: 1, Auth: AuthPSK, PSK: []byte("k"), IDPattern: "client"}, "needs exactly one %d"},
		{Config{Gateway: gw, Clients: 1, Auth: AuthPSK, IDPattern: "c%d"}, "--auth psk needs --psk"},
		{Config{Gateway: gw, Clients: 1, Auth: AuthCert, IDPattern: "c%d"}, "--auth cert needs --ca-cert and --ca-key"},
		{Config{Gateway: gw, Clients: 1, Auth: "eap-mschapv2", IDPattern: "c%d"}, `--auth eap-mschapv2 needs --ca-cert`},
		{Config{Gateway: gw, Clients: 1, Auth: "eap-tls", IDPattern: "c%d"}, `unsupported --auth "eap-tls"`},
		{Config{Gateway: gw, Clients: 1, Auth: AuthPSK, PSK: []byte("k"), IDPattern: "c%d", Traffic: 1}, "--traffic needs an IPv4 --traffic-target"},
	} {
		if _, err := Run(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

// TestEchoRequest: the traffic sample's ping is a valid IPv4 ICMP echo
// request (checksums verify) from the virtual IP to the target.
func TestEchoRequest(t *testing.T) {
	b := make([]byte, 84)
	n := echoRequest(b, netip.MustParseAddr("10.200.0.7"), netip.MustParseAddr("10.99.2.1"), 42)
	if n != 84 || checksum(b[:20]) != 0 || checksum(b[20:n]) != 0 {
		t.Fatalf("length %d, header checksum %#x, ICMP checksum %#x", n, checksum(b[:20]), checksum(b[20:n]))
	}
	if b[9] != 1 || b[20] != 8 || binary.BigEndian.Uint16(b[24:]) != 42 || netip.AddrFrom4([4]byte(b[12:16])).String() != "10.200.0.7" {
		t.Fatalf("not an echo request from 10.200.0.7 with id 42: % x", b[:28])
	}
}

// TestReasonClass: failures group by reason without their numbers.
func TestReasonClass(t *testing.T) {
	a := reasonClass("giving up after 3 retransmits of IKE_AUTH request 1: peer 10.99.0.2:4500 not answering")
	b := reasonClass("giving up after 3 retransmits of IKE_AUTH request 1: peer 10.99.0.2:500 not answering")
	if a != b || strings.ContainsAny(a, "0123456789") {
		t.Fatalf("%q and %q", a, b)
	}
}
