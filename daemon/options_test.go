package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/dataplane"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/replay"
	"github.com/cygnet-ipsec/cygnet/transform"
)

// confWithChild writes a swanctl.conf with one PSK connection whose child
// "net" has the given options (one "key = value" per line), so a test sees
// a child option the way the daemon and check-config read it.
func confWithChild(t *testing.T, childOpts string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "swanctl.conf")
	body := `connections {
    gw {
        local_addrs = 192.0.2.1
        remote_addrs = 192.0.2.2
        local { auth = psk
                id = gw1 }
        remote { auth = psk
                 id = gw2 }
        children {
            net {
                local_ts = 10.1.0.0/16
                remote_ts = 10.2.0.0/16
` + childOpts + `
            }
        }
    }
}
secrets { ike { secret = "a shared secret of more than twenty characters" } }
`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// translateChild loads a configuration as the daemon does and returns the
// IKE configuration of its only child.
func translateChild(t *testing.T, childOpts string) *ike.ChildConfig {
	t.Helper()
	cfg, err := LoadConfig(confWithChild(t, childOpts))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	pcs, err := PeerConfigs(cfg)
	if err != nil {
		t.Fatalf("translate: %v", err)
	}
	return pcs[0].Children[0]
}

// refusal loads a configuration whose child has the given options and
// returns what check-config reports (LoadConfig, then PeerConfigs).
func refusal(t *testing.T, childOpts string) string {
	t.Helper()
	cfg, err := LoadConfig(confWithChild(t, childOpts))
	if err == nil {
		_, err = PeerConfigs(cfg)
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

// childSAPair installs a Child SA with the given configuration the way the
// packet path does (engines) and returns its outbound and inbound ESP SAs,
// keyed alike so the outbound SA's packets open on the inbound one.
func childSAPair(t *testing.T, cc *ike.ChildConfig, encr transform.EncrID, keyBits int, integ transform.IntegID, encrKeyLen, integKeyLen int) (out, in *dataplane.SA) {
	t.Helper()
	ek, ik := make([]byte, encrKeyLen), make([]byte, integKeyLen)
	for i := range ek {
		ek[i] = byte(i + 1)
	}
	for i := range ik {
		ik[i] = byte(0x80 + i)
	}
	c := &ike.ChildSA{
		Config: cc, Name: cc.Name, Protocol: ipsec.ProtoESP, Mode: cc.Mode,
		SPIIn: 0x1234, SPIOut: 0x1234, Encr: uint16(encr), EncrKeyBits: keyBits, Integ: uint16(integ),
		EncrKeyIn: ek, IntegKeyIn: ik, EncrKeyOut: append([]byte(nil), ek...), IntegKeyOut: append([]byte(nil), ik...),
		Local: netip.MustParseAddrPort("192.0.2.1:500"), Remote: netip.MustParseAddrPort("192.0.2.2:500"),
	}
	in, out, err := engines(c)
	if err != nil {
		t.Fatalf("engines: %v", err)
	}
	return out, in
}

func gcmPair(t *testing.T, cc *ike.ChildConfig) (out, in *dataplane.SA) {
	return childSAPair(t, cc, transform.EncrAESGCM16, 128, transform.IntegNone, 20, 0)
}

// innerPacket is a 60-octet IPv4 packet from 10.1.0.1 to 10.2.0.1 with the
// given TOS octet.
func innerPacket(tos uint8) []byte {
	p := make([]byte, 60)
	h := packet.IPv4Header{TOS: tos, TotalLen: len(p), TTL: 64, Protocol: 253,
		Src: netip.MustParseAddr("10.1.0.1"), Dst: netip.MustParseAddr("10.2.0.1")}
	h.Put(p)
	return p
}

// seal encrypts inner with the outbound SA and returns the outer packet.
func seal(t *testing.T, out *dataplane.SA, inner []byte) sealedESP {
	t.Helper()
	buf := make([]byte, dataplane.HeadRoom+len(inner)+dataplane.TailRoom)
	copy(buf[dataplane.HeadRoom:], inner)
	p, err := out.ESP.Seal(buf, dataplane.HeadRoom, len(inner))
	if err != nil {
		t.Fatalf("seal: %v", err)
	}
	return sealedESP{outer: p.Bytes, esp: p.Bytes[p.ESP:]}
}

type sealedESP struct{ outer, esp []byte }

// open decrypts an ESP packet as if its outer header carried outerTC and
// returns the inner packet.
func open(t *testing.T, in *dataplane.SA, esp []byte, outerTC uint8) ([]byte, error) {
	t.Helper()
	o, err := in.ESP.OpenESP(append([]byte(nil), esp...), outerTC)
	return o.Packet, err
}

// TestChildOptionsTakeEffect: copy_ecn, copy_dscp, replay_window and
// tfc_padding as written in swanctl.conf reach the installed SAs and show
// in the packets they produce and accept.
func TestChildOptionsTakeEffect(t *testing.T) {
	const dscpEF = 46 << 2 // Expedited Forwarding in the TOS octet
	t.Run("copy_ecn", func(t *testing.T) {
		for _, c := range []struct {
			opt      string
			outerECN uint8 // outer ECN field for an ECT(0) inner packet
			innerCE  uint8 // inner ECN field after decapsulation with outer CE
		}{
			{"", packet.ECT0, packet.CE}, // strongSwan's default: yes
			{"copy_ecn = yes", packet.ECT0, packet.CE},
			{"copy_ecn = no", packet.NotECT, packet.ECT0},
		} {
			out, in := gcmPair(t, translateChild(t, c.opt))
			p := seal(t, out, innerPacket(packet.ECT0))
			if got := packet.TrafficClass(p.outer) & 3; got != c.outerECN {
				t.Errorf("%q: outer ECN %02b, want %02b", c.opt, got, c.outerECN)
			}
			inner, err := open(t, in, p.esp, packet.CE)
			if err != nil {
				t.Fatalf("%q: open: %v", c.opt, err)
			}
			if got := packet.TrafficClass(inner) & 3; got != c.innerCE {
				t.Errorf("%q: inner ECN after an outer CE %02b, want %02b", c.opt, got, c.innerCE)
			}
		}
	})
	t.Run("copy_dscp", func(t *testing.T) {
		// strongSwan: out copies inner to outer on the way out only, in
		// outer to inner on the way in only, yes both, no neither.
		for _, c := range []struct {
			opt            string
			outerDSCP      uint8 // outer DSCP for an EF inner packet
			innerDSCPAfter uint8 // inner DSCP (sent 0) after an outer EF header
		}{
			{"", dscpEF, 0},
			{"copy_dscp = out", dscpEF, 0},
			{"copy_dscp = in", 0, dscpEF},
			{"copy_dscp = yes", dscpEF, dscpEF},
			{"copy_dscp = no", 0, 0},
		} {
			out, in := gcmPair(t, translateChild(t, c.opt))
			p := seal(t, out, innerPacket(dscpEF))
			if got := packet.TrafficClass(p.outer) &^ 3; got != c.outerDSCP {
				t.Errorf("%q: outer DSCP %#x, want %#x", c.opt, got, c.outerDSCP)
			}
			p = seal(t, out, innerPacket(0))
			inner, err := open(t, in, p.esp, dscpEF)
			if err != nil {
				t.Fatalf("%q: open: %v", c.opt, err)
			}
			if got := packet.TrafficClass(inner) &^ 3; got != c.innerDSCPAfter {
				t.Errorf("%q: inner DSCP after an EF outer header %#x, want %#x", c.opt, got, c.innerDSCPAfter)
			}
		}
	})
	t.Run("replay_window", func(t *testing.T) {
		for _, c := range []struct {
			opt    string
			size   int
			replay bool // a replayed packet is dropped
		}{
			{"", 64, true}, // 32, rounded up to 64-packet blocks
			{"replay_window = 1024", 1024, true},
			{"replay_window = 0", 0, false}, // anti-replay off, as in strongSwan
			{"replay_window = 5", 64, true},
		} {
			out, in := gcmPair(t, translateChild(t, c.opt))
			if got := in.ESP.ReplayWindow().Size(); got != c.size {
				t.Errorf("%q: window of %d packets, want %d", c.opt, got, c.size)
			}
			p := seal(t, out, innerPacket(0))
			if _, err := open(t, in, p.esp, 0); err != nil {
				t.Fatalf("%q: first open: %v", c.opt, err)
			}
			_, err := open(t, in, p.esp, 0)
			if c.replay && !errors.Is(err, replay.ErrReplayed) {
				t.Errorf("%q: replayed packet: %v, want %v", c.opt, err, replay.ErrReplayed)
			}
			if !c.replay && err != nil {
				t.Errorf("%q: replayed packet refused with anti-replay off: %v", c.opt, err)
			}
		}
	})
	t.Run("tfc_padding", func(t *testing.T) {
		plain, _ := gcmPair(t, translateChild(t, ""))
		padded, in := gcmPair(t, translateChild(t, "tfc_padding = 150"))
		a, b := seal(t, plain, innerPacket(0)), seal(t, padded, innerPacket(0))
		// AES-GCM pads to 4 octets: 60 + 2 -> 64, 150 + 2 -> 152.
		if d := len(b.outer) - len(a.outer); d != 88 {
			t.Errorf("tfc_padding = 150: packet grew by %d octets, want 88", d)
		}
		inner, err := open(t, in, b.esp, 0)
		if err != nil || len(inner) != 60 {
			t.Errorf("padded packet opens to %d octets (%v), want the 60-octet inner packet", len(inner), err)
		}
		// The largest accepted padding fits the data plane's tail room
		// with the heaviest transform (AES-CBC, 16-octet blocks, a
		// 32-octet ICV), so it never fails only when a tunnel comes up.
		big, _ := childSAPair(t, translateChild(t, fmt.Sprintf("tfc_padding = %d", 200)),
			transform.EncrAESCBC, 256, transform.IntegHMACSHA512_256, 32, 64)
		if _, tail := big.ESP.Overhead(); tail > dataplane.TailRoom {
			t.Errorf("tfc_padding = %d needs %d octets of tail room, the data plane has %d", 200, tail, dataplane.TailRoom)
		}
	})
}

// TestChildOptionsRefused: values cygnet cannot install are refused by
// check-config with their line instead of failing when a tunnel comes up.
func TestChildOptionsRefused(t *testing.T) {
	for _, c := range []struct{ opt, want string }{
		{"tfc_padding = mtu", "swanctl.conf:13: connections.gw.children.net.tfc_padding: not implemented by cygnet yet (padding to the path MTU"},
		{"tfc_padding = 201", "swanctl.conf:13: connections.gw.children.net.tfc_padding: not implemented by cygnet yet (the data plane has tail room for up to 200 octets"},
		{"replay_window = 70000", "swanctl.conf:13: connections.gw.children.net.replay_window: not implemented by cygnet yet (replay windows hold up to 65536 packets)"},
		{"esp_proposals = camellia128-sha256", "swanctl.conf:13: esp proposal \"camellia128-sha256\": camellia128 (ENCR_CAMELLIA_CBC_128): algorithm not supported by cygnet"},
	} {
		got := refusal(t, c.opt)
		if !strings.Contains(got, c.want) {
			t.Errorf("%q:\n got %q\nwant %q", c.opt, got, c.want)
		}
	}
	for _, ok := range []string{"tfc_padding = 200", "replay_window = 65536", "copy_dscp = in", "copy_ecn = no", "esp_proposals = aes128ctr-sha256",
		"esp_proposals = aes128gcm12, aes192ccm8, aes128-aesxcbc, aes256-aescmac", "ah_proposals = aesxcbc-esn",
		// RFC 9370 hybrid PFS: CREATE_CHILD_SA + IKE_FOLLOWUP_KE
		"esp_proposals = aes256gcm16-x25519-ke1_mlkem768"} {
		if got := refusal(t, ok); got != "" {
			t.Errorf("%q refused: %s", ok, got)
		}
	}
}
