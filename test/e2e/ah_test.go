package e2e

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// TestCygnetAH negotiates AH (ah_proposals) by IKE between two cygnet
// daemons, in tunnel and in transport mode: the Child SA comes up as AH at
// both ends, pings cross both ways before and after a Child SA rekey, the
// capture on B's veth holds AH (IP protocol 51) and no ESP, and scapy's AH
// implementation (test/crosscheck/scapy_ipsec.py) verifies the ICV of every
// captured AH packet with the keys cygnet negotiated (from --keylog's ah_sa)
// and refuses a packet with one flipped octet.
//
// Only cygnet against cygnet: strongSwan 5.9.8's kernel-libipsec, the
// user-space data plane the interop tests run it with, implements ESP only
// (libipsec has no AH), so strongSwan cannot be an AH peer in these
// namespaces.
func TestCygnetAH(t *testing.T) {
	testnet.RequireRoot(t)
	for _, tc := range []struct {
		name, ah  string
		integ     string // list-sas integ_alg
		scapy     string // scapy's name of the algorithm
		esn       bool
		transport bool
	}{
		{"tunnel/sha256-esn", "sha256-esn", "HMAC_SHA2_256_128", "SHA2-256-128", true, false},
		{"transport/sha384", "sha384", "HMAC_SHA2_384_192", "SHA2-384-192", false, true},
		// scapy 2.5 has no AES-GMAC for AH; the engine's GMAC is checked
		// against RFC 4543's vectors in package transform
		{"tunnel/aes256gmac", "aes256gmac", "AES_256_GMAC", "", false, false},
		{"transport/aescmac-esn", "aescmac-esn", "AES_CMAC_96", "AES-CMAC-96", true, true},
		// scapy has no AES-XCBC; the engine's is checked against RFC 3566
		{"tunnel/aesxcbc", "aesxcbc", "AES_XCBC_96", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testnet.NewPair(t, testnet.PairOptions{})
			confA, confB := pairConfigs("psk")
			src, dst := testnet.HostA, testnet.HostB
			protected := []netip.Prefix{testnet.SubnetA, testnet.SubnetB}
			for _, c := range []*testnet.TunnelConfig{&confA, &confB} {
				c.Children = c.Children[:1]
				c.Children[0].AHProposals = tc.ah
				if tc.transport {
					c.Children[0].Mode = "transport"
					c.Children[0].LocalTS, c.Children[0].RemoteTS = nil, nil
				}
			}
			if tc.transport {
				// host to host: the underlay addresses themselves
				src, dst = testnet.UnderlayA, testnet.UnderlayB
				protected = []netip.Prefix{netip.PrefixFrom(src, 32), netip.PrefixFrom(dst, 32)}
				warmUnderlay(t, p, dst)
			}
			dir := filepath.Join(t.TempDir(), "keys")
			b := startCygnet(t, p.B, confB.Swanctl(), nil, "")
			a := startCygnetArgs(t, p.A, confA.Swanctl(), "--keylog", dir)
			capture := p.Capture(p.B)
			a.initiate("tun", "net")
			_, before := b.waitChild("net", 5*time.Second)
			_, beforeA := a.waitChild("net", 5*time.Second)
			keys := readAHKeys(t, dir, nil)
			testnet.PingFrom(t, p.A, src, dst, 3)
			testnet.PingFrom(t, p.B, dst, src, 3)

			// A Child SA rekey (CREATE_CHILD_SA with protocol AH) replaces
			// the SPIs; the traffic goes on in the new AH SA.
			if _, err := control.Call(a.socket, control.Request{Command: control.CmdRekey, Child: "net"}, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			after := waitNewChild(t, b, "net", before.SPIIn, 10*time.Second)
			waitNewChild(t, a, "net", beforeA.SPIIn, 10*time.Second) // A's key log has it
			keys = readAHKeys(t, dir, keys)
			testnet.PingFrom(t, p.A, src, dst, 3)
			testnet.PingFrom(t, p.B, dst, src, 3)
			pcap, err := capture.Stop()
			if err != nil {
				t.Fatal(err)
			}

			for _, end := range []*cygnet{a, b} {
				_, ch := end.waitChild("net", time.Second)
				if ch.Protocol != "AH" || ch.IntegAlg != tc.integ || ch.EncrAlg != "" || ch.ESN != tc.esn {
					t.Errorf("%s lists Child SA %s %s integ %q encr %q esn %v, want AH %s esn %v",
						end.ns, ch.Name, ch.Protocol, ch.IntegAlg, ch.EncrAlg, ch.ESN, tc.integ, tc.esn)
				}
				if want := map[bool]string{true: "TRANSPORT", false: "TUNNEL"}[tc.transport]; ch.Mode != want {
					t.Errorf("%s lists mode %s, want %s", end.ns, ch.Mode, want)
				}
			}
			if after.SPIIn == before.SPIIn || after.SPIOut == before.SPIOut {
				t.Errorf("rekey kept the SPIs: before in %s out %s, after in %s out %s", before.SPIIn, before.SPIOut, after.SPIIn, after.SPIOut)
			}

			s := testnet.AssertOnlyAH(t, pcap, protected...)
			t.Logf("on %s: %s", p.IfB, s)
			pkts := ahPackets(t, pcap)
			spis := map[uint32]int{}
			for _, pk := range pkts {
				spis[pk.spi]++
			}
			if len(spis) != 4 {
				t.Errorf("capture has AH packets of %d SPIs %v, want 4 (two SAs each way, before and after the rekey)", len(spis), spis)
			}
			if tc.scapy != "" {
				verifyAHWithScapy(t, pkts, keys, tc.scapy, tc.esn, !tc.transport, src, dst)
			}
		})
	}
}

// waitNewChild waits until end lists an installed Child SA name whose
// inbound SPI is not old.
func waitNewChild(t *testing.T, end *cygnet, name, old string, timeout time.Duration) control.ChildSA {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, sa := range end.listSAs() {
			for _, ch := range sa.ChildSAs {
				if ch.Name == name && ch.State == "INSTALLED" && ch.SPIIn != old {
					return ch
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no new Child SA %s after %v (old SPI %s):\n%s", end.ns, name, timeout, old, end.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ahKey is one line of --keylog's ah_sa.
type ahKey struct {
	src, dst netip.Addr
	alg      string
	key      []byte
}

// readAHKeys adds the SAs of DIR/ah_sa to keys (keyed by SPI).
func readAHKeys(t *testing.T, dir string, keys map[uint32]ahKey) map[uint32]ahKey {
	t.Helper()
	if keys == nil {
		keys = map[uint32]ahKey{}
	}
	path := filepath.Join(dir, "ah_sa")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("ah_sa has mode %v, want 0600", fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.Lines(string(b)) {
		f := strings.Split(strings.TrimSpace(line), ",")
		for i := range f {
			f[i] = strings.Trim(f[i], `"`)
		}
		if len(f) != 6 {
			t.Fatalf("ah_sa line %q has %d fields, want 6", line, len(f))
		}
		spi, err1 := strconv.ParseUint(strings.TrimPrefix(f[3], "0x"), 16, 32)
		key, err2 := hex.DecodeString(strings.TrimPrefix(f[5], "0x"))
		src, err3 := netip.ParseAddr(f[1])
		dst, err4 := netip.ParseAddr(f[2])
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			t.Fatalf("ah_sa line %q: %v %v %v %v", line, err1, err2, err3, err4)
		}
		keys[uint32(spi)] = ahKey{src, dst, f[4], key}
		n++
	}
	// one Child SA; after a rekey its predecessor lingers for a while
	if n != 2 && n != 4 {
		t.Errorf("ah_sa has %d lines for one Child SA (and maybe the one it replaced), want 2 or 4:\n%s", n, b)
	}
	return keys
}

// ahPacket is one captured AH packet: the whole IP packet and its AH
// header's SPI and sequence number.
type ahPacket struct {
	ip  []byte
	spi uint32
	seq uint32
}

// ahPackets returns the IPv4 AH packets of a capture.
func ahPackets(t *testing.T, path string) []ahPacket {
	t.Helper()
	pc, err := testnet.ReadPcapFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []ahPacket
	for _, f := range pc.Packets {
		ip, ok := testnet.IPPacket(pc.LinkType, f.Data)
		if !ok || len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != 51 {
			continue
		}
		hl := int(ip[0]&15) * 4
		if len(ip) < hl+12 {
			t.Fatalf("AH packet of %d octets is truncated", len(ip))
		}
		out = append(out, ahPacket{ip: ip, spi: binary.BigEndian.Uint32(ip[hl+4:]), seq: binary.BigEndian.Uint32(ip[hl+8:])})
	}
	return out
}

// verifyAHWithScapy has scapy verify every AH packet with its SA's key and
// checks what it unwraps: ICMP echo between src and dst (tunnel mode: the
// inner IPv4 packet; transport mode: the packet without AH). A copy with one
// octet of the payload flipped must fail scapy's ICV check.
func verifyAHWithScapy(t *testing.T, pkts []ahPacket, keys map[uint32]ahKey, alg string, esn, tunnel bool, src, dst netip.Addr) {
	t.Helper()
	if len(pkts) == 0 {
		t.Fatal("no AH packets to verify")
	}
	py := startScapyHelper(t)
	icmp := 0
	for i, pk := range pkts {
		k, ok := keys[pk.spi]
		if !ok {
			t.Errorf("AH packet %d: SPI %08x is in no SA of ah_sa", i, pk.spi)
			continue
		}
		req := map[string]any{"op": "ah_verify", "spi": pk.spi, "auth": alg, "akey": hex.EncodeToString(k.key),
			"esn": esn, "seq": pk.seq, "pkt": hex.EncodeToString(pk.ip)}
		if tunnel {
			req["tunnel"] = map[string]string{"src": k.src.String(), "dst": k.dst.String()}
		}
		r := py.call(t, req)
		if !r.OK {
			t.Errorf("AH packet %d (SPI %08x seq %d): scapy: %s", i, pk.spi, pk.seq, r.Err)
			continue
		}
		inner := r.Inner
		if len(inner) >= 20 && inner[9] == 1 {
			s, d := netip.AddrFrom4([4]byte(inner[12:16])), netip.AddrFrom4([4]byte(inner[16:20]))
			if (s == src && d == dst) || (s == dst && d == src) {
				icmp++
			}
		}
		if i == 0 {
			bad := append([]byte(nil), pk.ip...)
			bad[len(bad)-1] ^= 0x01
			req["pkt"] = hex.EncodeToString(bad)
			if r := py.call(t, req); r.OK || !strings.HasPrefix(r.Err, "IPSecIntegrityError") {
				t.Errorf("scapy accepted an AH packet with a flipped octet (ok %v, err %q)", r.OK, r.Err)
			}
		}
	}
	// 3 pings each way before and after the rekey: 24 packets.
	if icmp < 24 {
		t.Errorf("scapy unwrapped %d ICMP packets between %s and %s from %d AH packets, want 24", icmp, src, dst, len(pkts))
	}
	t.Logf("scapy verified %d AH packets, %d of them ICMP between %s and %s", len(pkts), icmp, src, dst)
}

// scapyHelper is test/crosscheck/scapy_ipsec.py serving one test over JSON
// lines.
type scapyHelper struct {
	in  *json.Encoder
	out *bufio.Scanner
}

type scapyResponse struct {
	OK    bool   `json:"ok"`
	Err   string `json:"err"`
	Inner hexStr `json:"inner"`
}

// hexStr is a byte string that travels as hex in JSON.
type hexStr []byte

func (h *hexStr) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

// startScapyHelper starts the cross-check helper with Debian's python3 and
// its scapy; the test skips without it unless CYGNET_REQUIRE_SCAPY=1.
func startScapyHelper(t *testing.T) *scapyHelper {
	t.Helper()
	const python = "/usr/bin/python3"
	if out, err := exec.Command(python, "-c", "import scapy.layers.ipsec as i, cryptography; assert i.conf.crypto_valid").CombinedOutput(); err != nil {
		msg := fmt.Sprintf("%s cannot import scapy.layers.ipsec: %v: %s", python, err, strings.TrimSpace(string(out)))
		if os.Getenv("CYGNET_REQUIRE_SCAPY") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cmd := exec.Command(python, "-u", "../crosscheck/scapy_ipsec.py")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	return &scapyHelper{in: json.NewEncoder(stdin), out: sc}
}

// call sends one request and reads its response (the helper answers every
// line; a stuck helper ends the test at the go test timeout).
func (s *scapyHelper) call(t *testing.T, req map[string]any) scapyResponse {
	t.Helper()
	if err := s.in.Encode(req); err != nil {
		t.Fatalf("scapy helper: %v", err)
	}
	if !s.out.Scan() {
		t.Fatalf("scapy helper exited: %v", s.out.Err())
	}
	var r scapyResponse
	if err := json.Unmarshal(s.out.Bytes(), &r); err != nil {
		t.Fatalf("scapy helper answered %q: %v", s.out.Text(), err)
	}
	return r
}
