package testnet

import (
	"net/netip"
	"strings"
	"testing"
)

func TestTunnelConfigSwanctl(t *testing.T) {
	psk := TunnelConfig{
		Name: "tun", LocalAddrs: "10.99.0.1", RemoteAddrs: "10.99.0.2", LocalID: "a.cygnet.test", RemoteID: "b.cygnet.test",
		Encap:    true,
		Children: []ChildConfig{{Name: "net", LocalTS: []netip.Prefix{SubnetA, SubnetA6}, RemoteTS: []netip.Prefix{SubnetB}, Extra: "start_action = none"}},
	}.Swanctl()
	for _, want := range []string{
		"  tun {\n    version = 2\n    local_addrs = 10.99.0.1\n    remote_addrs = 10.99.0.2\n    proposals = aes128gcm16-prfsha256-x25519\n    encap = yes\n",
		"    local {\n      auth = psk\n      id = a.cygnet.test\n    }\n",
		"local_ts = 10.99.1.0/24,fd00:99:1::/64\n        remote_ts = 10.99.2.0/24\n        esp_proposals = aes128gcm16\n        start_action = none\n",
		"secrets {\n  ike-tun {\n    id-1 = a.cygnet.test\n    id-2 = b.cygnet.test\n    secret = \"" + PSK + "\"\n",
	} {
		if !strings.Contains(psk, want) {
			t.Errorf("PSK config lacks %q:\n%s", want, psk)
		}
	}
	cert := TunnelConfig{Name: "c", LocalID: "a.cygnet.test", RemoteID: "b.cygnet.test", Auth: "pubkey", LocalCert: "a.crt", CACert: "ca.crt",
		Children: []ChildConfig{{Name: "h", Mode: "transport"}}}.Swanctl()
	for _, want := range []string{"local_addrs = %any", "send_cert = always", "certs = a.crt", "cacerts = ca.crt", "mode = transport", "local_ts = dynamic"} {
		if !strings.Contains(cert, want) {
			t.Errorf("cert config lacks %q:\n%s", want, cert)
		}
	}
	if strings.Contains(cert, "secrets") {
		t.Errorf("cert config has a PSK secret:\n%s", cert)
	}
}
