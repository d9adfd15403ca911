package e2e

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// ikeExchanges returns the IKE exchange types (IKE header octet 18) of
// every IKE message in a capture, UDP 500 and 4500 (after the non-ESP
// marker), in order.
func ikeExchanges(t *testing.T, path string) []int {
	t.Helper()
	pc, err := testnet.ReadPcapFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, pkt := range pc.Packets {
		d := testnet.ClassifyPacket(pc.LinkType, pkt.Data, nil)
		if d.Class != testnet.ClassIKE {
			continue
		}
		b := d.Payload
		if d.SrcPort == 4500 || d.DstPort == 4500 {
			if len(b) < 4 {
				continue
			}
			b = b[4:]
		}
		if len(b) >= 28 {
			out = append(out, int(b[18]))
		}
	}
	return out
}

// TestStrongSwan6Hybrid: cygnet and strongSwan 6.0.1 set up an IKE SA with
// the hybrid key exchange X25519 + ML-KEM-768 (RFC 9370: one
// IKE_INTERMEDIATE exchange, RFC 9242 IntAuth in both AUTH payloads), in
// both roles; traffic crosses the tunnel, the capture shows the
// IKE_INTERMEDIATE exchange, and both ends list the same key exchanges.
// Then each end rekeys the Child SA (ESP with hybrid PFS) and the IKE SA
// with CREATE_CHILD_SA + IKE_FOLLOWUP_KE (RFC 9370 2.2.4): new SPIs, both
// ends list both methods for the IKE SA and the Child SA, traffic flows.
func TestStrongSwan6Hybrid(t *testing.T) {
	testnet.RequireStrongSwan6(t)
	for _, tc := range []struct {
		name            string
		cygnetInitiates bool
		kem             string
	}{
		{"cygnet-initiates", true, "mlkem768"},
		{"strongswan6-initiates", false, "mlkem768"},
		// ML-KEM-1024's 1568-octet key exceeds the 1280-octet fragment
		// size: the IKE_INTERMEDIATE request goes in RFC 7383 fragments
		{"cygnet-initiates-mlkem1024", true, "mlkem1024"},
		{"strongswan6-initiates-mlkem1024", false, "mlkem1024"},
	} {
		cygnetInitiates := tc.cygnetInitiates
		ikeProps := "aes256gcm16-prfsha384-x25519-ke1_" + tc.kem
		t.Run(tc.name, func(t *testing.T) {
			p := testnet.NewPair(t, testnet.PairOptions{})
			confA, confB := pairConfigs("psk")
			for _, c := range []*testnet.TunnelConfig{&confA, &confB} {
				c.Proposals = ikeProps
				c.Children = c.Children[:1]
				// hybrid PFS for Child SAs made or rekeyed by CREATE_CHILD_SA
				c.Children[0].ESPProposals = "aes256gcm16-x25519-ke1_" + tc.kem
			}
			// A is cygnet, B strongSwan 6; the initiator varies.
			cyg := startCygnet(t, p.A, confA.Swanctl(), nil, "a")
			sw := testnet.StartStrongSwan6(t, p.B, nil)
			if err := sw.Load(confB.Swanctl()); err != nil {
				t.Fatal(err)
			}
			capture := p.Capture(p.B)
			start := time.Now()
			var err error
			if cygnetInitiates {
				_, err = cyg.tryInitiate("tun", "net")
			} else {
				warmUnderlay(t, p, testnet.UnderlayA)
				err = sw.Initiate("tun", "net")
			}
			if err != nil {
				t.Fatalf("initiate: %v\ncygnet log:\n%s", err, cyg.logText())
			}
			t.Logf("hybrid IKE SA + Child SA up in %v", time.Since(start).Round(time.Millisecond))
			ikeA, _ := cyg.waitChild("net", 10*time.Second)
			ikeB, _, err := sw.WaitChildSA("net", 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			testnet.Ping(t, p.A, testnet.HostB, 3)
			testnet.PingFrom(t, p.B, testnet.HostB, testnet.HostA, 3)

			want := []string{"CURVE_25519", map[string]string{"mlkem768": "ML_KEM_768", "mlkem1024": "ML_KEM_1024"}[tc.kem]}
			if !slices.Equal(ikeA.KeyExchanges, want) {
				t.Errorf("cygnet lists key exchanges %v, want %v", ikeA.KeyExchanges, want)
			}
			if got := []string{ikeB.DHGroup, ikeB.Fields["ake1"]}; !slices.Equal(got, want) {
				t.Errorf("strongSwan 6 lists key exchanges %v, want %v", got, want)
			}
			if ikeA.InitiatorSPI != ikeB.InitiatorSPI || ikeA.Initiator != cygnetInitiates {
				t.Errorf("IKE SAs differ: cygnet %s initiator=%v, strongSwan %s", ikeA.InitiatorSPI, ikeA.Initiator, ikeB.InitiatorSPI)
			}
			if _, err := capture.Stop(); err != nil {
				t.Fatal(err)
			}
			ex := ikeExchanges(t, capture.Path)
			// IKE_SA_INIT (34) request and response, then the IKE_INTERMEDIATE
			// (43) request (ML-KEM-768's 1184-octet key: may come in RFC 7383
			// fragments) and response, then IKE_AUTH (35)
			first, last := slices.Index(ex, 43), -1
			for i, x := range ex {
				if x == 43 {
					last = i
				}
			}
			if first < 0 || countOf(ex[:first], 34) != 2 || countOf(ex[first:last+1], 43) != last-first+1 || countOf(ex[first:], 43) < 2 ||
				countOf(ex[last+1:], 35) != 2 {
				t.Errorf("IKE exchanges on the wire %v: want 2 IKE_SA_INIT, the IKE_INTERMEDIATE request and response, 2 IKE_AUTH", ex)
			}
			t.Logf("IKE exchange types on the wire: %v", ex)
			if !strings.Contains(sw.LogTail(1<<20), "IKE_INTERMEDIATE") {
				t.Error("strongSwan's log shows no IKE_INTERMEDIATE")
			}

			// The Child SA made in IKE_AUTH runs no key exchange (RFC 9370
			// 2.2.3): strongSwan 6 strips KE and ADDKE from that proposal.
			v := hybridSnapshot(t, cyg, sw)
			if len(v.cygChild.KeyExchanges) != 0 || v.swChild.DHGroup != "" {
				t.Errorf("IKE_AUTH Child SA: cygnet lists key exchanges %v, strongSwan dh-group %q; want none", v.cygChild.KeyExchanges, v.swChild.DHGroup)
			}
			hybridRekeys(t, p, cyg, sw, v, want)
			if !strings.Contains(sw.LogTail(1<<20), "IKE_FOLLOWUP_KE") {
				t.Error("strongSwan's log shows no IKE_FOLLOWUP_KE")
			}
		})
	}
}

// hybridRekeys has each end rekey the Child SA and then the IKE SA, and
// checks each rekey on the wire, in both ends' SA lists and with traffic.
func hybridRekeys(t *testing.T, p *testnet.Pair, cyg *cygnet, sw *testnet.StrongSwan, v hybridView, want []string) {
	t.Helper()
	// Child SA and IKE SA rekeys by either end: CREATE_CHILD_SA
	// with the X25519 exchange, then IKE_FOLLOWUP_KE with ML-KEM
	// (RFC 9370 2.2.4); new SPIs, both ends list both methods.
	for _, st := range []struct {
		name string
		end  tunnelEnd
		ike  bool
	}{
		{"cygnet rekeys the Child SA", cygnetEnd{cyg}, false},
		{"strongSwan rekeys the Child SA", swanEnd{sw}, false},
		{"cygnet rekeys the IKE SA", cygnetEnd{cyg}, true},
		{"strongSwan rekeys the IKE SA", swanEnd{sw}, true},
	} {
		before := v
		capture := p.Capture(p.B)
		var err error
		if st.ike {
			err = rekeyIKE(st.end, "tun")
		} else {
			err = rekeyChild(st.end, "net")
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		var ok bool
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if v, ok = tryHybridSnapshot(cyg, sw); ok && ((st.ike && v.cyg.InitiatorSPI != before.cyg.InitiatorSPI) ||
				(!st.ike && v.cygChild.SPIIn != before.cygChild.SPIIn)) {
				break
			}
			ok = false
		}
		if _, err := capture.Stop(); err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Fatalf("%s: no new SA on both ends: cygnet %+v\ncygnet log:\n%s\nstrongSwan log:\n%s", st.name, cyg.listSAs(), cyg.logText(), sw.LogTail(80))
		}
		ex := ikeExchanges(t, capture.Path)
		// CREATE_CHILD_SA (36) request and response, then the
		// IKE_FOLLOWUP_KE (44) request (fragmented with ML-KEM-1024)
		// and response
		if i, j := slices.Index(ex, 36), slices.Index(ex, 44); i < 0 || j < i || countOf(ex[:j], 36) != 2 || countOf(ex, 44) < 2 {
			t.Errorf("%s: IKE exchanges on the wire %v, want CREATE_CHILD_SA then IKE_FOLLOWUP_KE", st.name, ex)
		}
		t.Logf("%s: IKE exchange types on the wire %v; IKE SA %s, Child SA %s/%s", st.name, ex, v.cyg.InitiatorSPI, v.cygChild.SPIIn, v.cygChild.SPIOut)
		if st.ike && v.cyg.Initiator != (st.end.impl() == implCygnet) {
			t.Errorf("%s: cygnet's new IKE SA has initiator=%v", st.name, v.cyg.Initiator)
		}
		if !slices.Equal(v.cyg.KeyExchanges, want) || !slices.Equal([]string{v.sw.DHGroup, v.sw.Fields["ake1"]}, want) {
			t.Errorf("%s: IKE SA key exchanges cygnet %v strongSwan %s+%s, want %v", st.name, v.cyg.KeyExchanges, v.sw.DHGroup, v.sw.Fields["ake1"], want)
		}
		if !st.ike && (!slices.Equal(v.cygChild.KeyExchanges, want) || !slices.Equal([]string{v.swChild.DHGroup, v.swChild.Fields["ake1"]}, want)) {
			t.Errorf("%s: Child SA key exchanges cygnet %v strongSwan %s+%s, want %v", st.name, v.cygChild.KeyExchanges, v.swChild.DHGroup, v.swChild.Fields["ake1"], want)
		}
		testnet.Ping(t, p.A, testnet.HostB, 3)
		testnet.PingFrom(t, p.B, testnet.HostB, testnet.HostA, 3)
	}
}

// hybridView is one IKE SA with its installed Child SA "net" as cygnet and
// strongSwan list them.
type hybridView struct {
	cyg      control.IKESA
	cygChild control.ChildSA
	sw       testnet.IKESA
	swChild  testnet.ChildSA
}

// tryHybridSnapshot reads both ends; ok when each has exactly one
// ESTABLISHED IKE SA, the same one, with exactly one INSTALLED Child SA
// "net", the same pair.
func tryHybridSnapshot(cyg *cygnet, sw *testnet.StrongSwan) (v hybridView, ok bool) {
	var cn, sn int
	for _, s := range cyg.listSAs() {
		if s.State != "ESTABLISHED" {
			continue
		}
		cn++
		v.cyg = s
		for _, c := range s.ChildSAs {
			if c.Name == "net" && c.State == "INSTALLED" {
				v.cygChild = c
			}
		}
	}
	sas, err := sw.ListSAs()
	if err != nil {
		return v, false
	}
	for _, s := range sas {
		if s.State != "ESTABLISHED" {
			continue
		}
		sn++
		v.sw = s
		n := 0
		for _, c := range s.ChildSAs {
			if c.Name == "net" && c.State == "INSTALLED" {
				v.swChild = c
				n++
			}
		}
		if n != 1 {
			return v, false
		}
	}
	return v, cn == 1 && sn == 1 && v.cyg.InitiatorSPI == v.sw.InitiatorSPI && v.cyg.ResponderSPI == v.sw.ResponderSPI &&
		v.cygChild.SPIIn == fmt.Sprintf("%08x", v.swChild.SPIOut) && v.cygChild.SPIOut == fmt.Sprintf("%08x", v.swChild.SPIIn)
}

func hybridSnapshot(t *testing.T, cyg *cygnet, sw *testnet.StrongSwan) hybridView {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if v, ok := tryHybridSnapshot(cyg, sw); ok {
			return v
		}
	}
	t.Fatalf("the ends do not agree on one IKE SA and Child SA: cygnet %+v", cyg.listSAs())
	return hybridView{}
}

func countOf(s []int, v int) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

// TestStrongSwan598HybridFallback: against strongSwan 5.9.8, which knows no
// additional key exchanges, a cygnet initiator whose first proposal is
// hybrid gets its classical one; with the hybrid proposal alone it fails
// with NO_PROPOSAL_CHOSEN naming what it offered.
func TestStrongSwan598HybridFallback(t *testing.T) {
	testnet.RequireStrongSwan(t)
	for _, tc := range []struct {
		name, props string
		up          bool
	}{
		{"hybrid-first", "aes256gcm16-prfsha384-x25519-ke1_mlkem768, aes256gcm16-prfsha384-x25519", true},
		{"hybrid-only", "aes256gcm16-prfsha384-x25519-ke1_mlkem768", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testnet.NewPair(t, testnet.PairOptions{})
			confA, confB := pairConfigs("psk")
			confA.Children, confB.Children = confA.Children[:1], confB.Children[:1]
			confA.Proposals = tc.props
			confB.Proposals = "aes256gcm16-prfsha384-x25519"
			cyg := startCygnet(t, p.A, confA.Swanctl(), nil, "a")
			sw := testnet.StartStrongSwan(t, p.B, nil)
			if err := sw.Load(confB.Swanctl()); err != nil {
				t.Fatal(err)
			}
			_, err := cyg.tryInitiate("tun", "net")
			if !tc.up {
				if err == nil || !strings.Contains(err.Error(), "NO_PROPOSAL_CHOSEN") || !strings.Contains(err.Error(), "ke1_mlkem768") {
					t.Fatalf("hybrid-only against strongSwan 5.9.8: %v, want NO_PROPOSAL_CHOSEN naming ke1_mlkem768", err)
				}
				t.Logf("refused as expected: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("initiate: %v", err)
			}
			ikeA, _ := cyg.waitChild("net", 10*time.Second)
			if !slices.Equal(ikeA.KeyExchanges, []string{"CURVE_25519"}) {
				t.Errorf("key exchanges %v, want the classical CURVE_25519 alone", ikeA.KeyExchanges)
			}
			testnet.Ping(t, p.A, testnet.HostB, 3)
		})
	}
}

// ikeDatagram is one IKE datagram of a capture: its source, exchange type,
// whether it is a response and whether it carries an SKF payload (an RFC
// 7383 fragment).
type ikeDatagram struct {
	src      netip.Addr
	exchange int
	response bool
	skf      bool
}

func ikeDatagrams(t *testing.T, path string) []ikeDatagram {
	t.Helper()
	pc, err := testnet.ReadPcapFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []ikeDatagram
	for _, pkt := range pc.Packets {
		d := testnet.ClassifyPacket(pc.LinkType, pkt.Data, nil)
		if d.Class != testnet.ClassIKE {
			continue
		}
		b := d.Payload
		if d.SrcPort == 4500 || d.DstPort == 4500 {
			b = b[min(4, len(b)):]
		}
		if len(b) >= 28 {
			out = append(out, ikeDatagram{src: d.Src, exchange: int(b[18]), response: b[19]&0x20 != 0, skf: b[16] == 53})
		}
	}
	return out
}

// fragmentsOf counts the SKF datagrams of one exchange type sent by src,
// requests or responses.
func fragmentsOf(ds []ikeDatagram, src netip.Addr, exchange int, response bool) int {
	n := 0
	for _, d := range ds {
		if d.src == src && d.exchange == exchange && d.response == response && d.skf {
			n++
		}
	}
	return n
}

// TestStrongSwan6HybridMLKEM1024CertChain: X25519 + ML-KEM-1024 with
// RSA-4096 certificates (root -> intermediate -> end entity, the
// intermediate sent along) over 1280-octet links, cygnet and strongSwan
// 6.0.1 in both roles: the initiator's IKE_INTERMEDIATE (a 1568-octet
// ML-KEM-1024 key) and both IKE_AUTH messages (certificate, intermediate,
// 512-octet signature) go in RFC 7383 fragments, no IP fragments; the
// tunnel comes up with both key exchanges on both ends, traffic flows, and
// both ends rekey the Child SA (hybrid PFS) and the IKE SA with
// IKE_FOLLOWUP_KE.
func TestStrongSwan6HybridMLKEM1024CertChain(t *testing.T) {
	testnet.RequireStrongSwan6(t)
	pki := rsa4096Chain(t)
	want := []string{"CURVE_25519", "ML_KEM_1024"}
	for _, tc := range []struct {
		name            string
		cygnetInitiates bool
	}{{"cygnet-initiates", true}, {"strongswan6-initiates", false}} {
		t.Run(tc.name, func(t *testing.T) {
			p := testnet.NewPair(t, testnet.PairOptions{})
			p.Exec(p.A, "ip", "link", "set", p.IfA, "mtu", "1280")
			p.Exec(p.B, "ip", "link", "set", p.IfB, "mtu", "1280")
			confA, confB := pairConfigs("pubkey")
			for _, c := range []*testnet.TunnelConfig{&confA, &confB} {
				c.Proposals = "aes256gcm16-prfsha384-x25519-ke1_mlkem1024"
				c.Children = c.Children[:1]
				c.Children[0].ESPProposals = "aes256gcm16-x25519-ke1_mlkem1024"
			}
			cyg := startCygnetWithFiles(t, p.A, confA.Swanctl(), pki.files("a"))
			sw := testnet.StartStrongSwan6(t, p.B, nil)
			for rel, data := range pki.files("b") {
				if err := sw.WriteFile(rel, data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := sw.Load(confB.Swanctl()); err != nil {
				t.Fatal(err)
			}
			capture := p.Capture(p.B)
			var err error
			if tc.cygnetInitiates {
				warmUnderlay(t, p, testnet.UnderlayB)
				_, err = cyg.tryInitiate("tun", "net")
			} else {
				warmUnderlay(t, p, testnet.UnderlayA)
				err = sw.Initiate("tun", "net")
			}
			if err != nil {
				t.Fatalf("initiate: %v\ncygnet log:\n%s\nstrongSwan log:\n%s", err, cyg.logText(), sw.LogTail(80))
			}
			v := hybridSnapshot(t, cyg, sw)
			testnet.Ping(t, p.A, testnet.HostB, 3)
			path, err := capture.Stop()
			if err != nil {
				t.Fatal(err)
			}
			ds := ikeDatagrams(t, path)
			ini, resp := testnet.UnderlayA, testnet.UnderlayB
			if !tc.cygnetInitiates {
				ini, resp = resp, ini
			}
			interFrags := fragmentsOf(ds, ini, 43, false)
			authI, authR := fragmentsOf(ds, ini, 35, false), fragmentsOf(ds, resp, 35, true)
			w := readIKEWire(t, path)
			t.Logf("IKE_INTERMEDIATE request in %d fragments, IKE_AUTH request in %d, response in %d; %d IKE datagrams, largest IP packet %d octets, %d IP fragments",
				interFrags, authI, authR, w.datagrams, w.biggest, w.ipFrags)
			if interFrags < 2 || authI < 2 || authR < 2 {
				t.Errorf("want the IKE_INTERMEDIATE request and both IKE_AUTH messages in RFC 7383 fragments, got %d, %d, %d", interFrags, authI, authR)
			}
			if w.ipFrags != 0 || w.biggest > 1280 {
				t.Errorf("%d IP fragments, largest packet %d octets on a 1280-octet link", w.ipFrags, w.biggest)
			}
			if !strings.Contains(sw.LogTail(1<<20), "received issuer cert") {
				t.Error("strongSwan's log does not show cygnet's intermediate certificate")
			}
			if !slices.Equal(v.cyg.KeyExchanges, want) || !slices.Equal([]string{v.sw.DHGroup, v.sw.Fields["ake1"]}, want) {
				t.Errorf("IKE SA key exchanges cygnet %v strongSwan %s+%s, want %v", v.cyg.KeyExchanges, v.sw.DHGroup, v.sw.Fields["ake1"], want)
			}
			hybridRekeys(t, p, cyg, sw, v, want)
		})
	}
}

// TestStrongSwan598ChildHybridFallback: against strongSwan 5.9.8, which
// knows no additional key exchanges, the Child SA made in IKE_AUTH comes
// up either way (no key exchange there); cygnet's rekey with a hybrid-first
// esp_proposals falls back to classical X25519 PFS, and with the hybrid
// proposal alone it is refused with NO_PROPOSAL_CHOSEN while the old Child
// SA keeps carrying traffic.
func TestStrongSwan598ChildHybridFallback(t *testing.T) {
	testnet.RequireStrongSwan(t)
	for _, tc := range []struct {
		name, esp string
		rekeyed   bool
	}{
		{"hybrid-first", "aes256gcm16-x25519-ke1_mlkem768, aes256gcm16-x25519", true},
		{"hybrid-only", "aes256gcm16-x25519-ke1_mlkem768", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testnet.NewPair(t, testnet.PairOptions{})
			confA, confB := pairConfigs("psk")
			confA.Children, confB.Children = confA.Children[:1], confB.Children[:1]
			confA.Children[0].ESPProposals = tc.esp
			confB.Children[0].ESPProposals = "aes256gcm16-x25519"
			cyg := startCygnet(t, p.A, confA.Swanctl(), nil, "a")
			sw := testnet.StartStrongSwan(t, p.B, nil)
			if err := sw.Load(confB.Swanctl()); err != nil {
				t.Fatal(err)
			}
			if _, err := cyg.tryInitiate("tun", "net"); err != nil {
				t.Fatalf("initiate: %v\n%s", err, cyg.logText())
			}
			_, c0 := cyg.waitChild("net", 10*time.Second)
			testnet.Ping(t, p.A, testnet.HostB, 3)
			if err := rekeyChild(cygnetEnd{cyg}, "net"); err != nil {
				t.Fatal(err)
			}
			var c1 control.ChildSA
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if tc.rekeyed {
					for _, s := range cyg.listSAs() {
						for _, c := range s.ChildSAs {
							if c.State == "INSTALLED" && c.SPIIn != c0.SPIIn {
								c1 = c
							}
						}
					}
					if c1.SPIIn != "" {
						break
					}
				} else if strings.Contains(cyg.logText(), "NO_PROPOSAL_CHOSEN: peer refused to rekey Child SA net") {
					break
				}
			}
			if tc.rekeyed {
				if c1.SPIIn == "" || !slices.Equal(c1.KeyExchanges, []string{"CURVE_25519"}) {
					t.Fatalf("rekeyed Child SA %+v, want classical CURVE_25519 PFS\n%s", c1, cyg.logText())
				}
				t.Logf("rekeyed with %v: %s/%s", c1.KeyExchanges, c1.SPIIn, c1.SPIOut)
			} else {
				if !strings.Contains(cyg.logText(), "NO_PROPOSAL_CHOSEN: peer refused to rekey Child SA net") {
					t.Fatalf("hybrid-only rekey against strongSwan 5.9.8 not refused with NO_PROPOSAL_CHOSEN:\n%s", cyg.logText())
				}
				if strings.Contains(cyg.logText(), "IKE_FOLLOWUP_KE: additional") {
					t.Error("cygnet ran IKE_FOLLOWUP_KE against a peer that chose no additional key exchange")
				}
				_, still := cyg.waitChild("net", 5*time.Second)
				if still.SPIIn != c0.SPIIn {
					t.Errorf("the Child SA changed to %s after a refused rekey", still.SPIIn)
				}
			}
			testnet.Ping(t, p.A, testnet.HostB, 3)
		})
	}
}
