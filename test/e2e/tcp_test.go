package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// dropUDP makes the router forward no UDP and no raw ESP (protocol 50),
// as a hotel or corporate network that passes only TCP.
const dropUDP = `table inet cygnet_tcponly {
  chain forward { type filter hook forward priority filter; policy accept; meta l4proto { udp, esp } counter drop; }
}
`

// tcpSAs is what the TCP test compares before and after a reconnection:
// the IKE SA's SPIs and the Child SA's.
type tcpSAs struct {
	ike, child string
	packetsIn  uint64
	tcp        bool // list-sas --json "tcp"
}

func cygnetTCPSAs(t *testing.T, c *cygnet) tcpSAs {
	t.Helper()
	for _, sa := range c.listSAs() {
		if sa.State != "ESTABLISHED" {
			continue
		}
		for _, ch := range sa.ChildSAs {
			if ch.Name == "net" && ch.State == "INSTALLED" {
				return tcpSAs{ike: sa.InitiatorSPI + "_" + sa.ResponderSPI, child: ch.SPIIn + "_" + ch.SPIOut, packetsIn: ch.PacketsIn, tcp: sa.TCP}
			}
		}
	}
	t.Fatalf("cygnet in %s: no ESTABLISHED IKE SA with an INSTALLED Child SA net", c.ns)
	return tcpSAs{}
}

// tcpWire counts a capture's packets by what they are.
type tcpWire struct {
	tcp4500, udp, esp, other int
	samples                  []string
	// firstTCP is the index of the first TCP packet; udpAfterTCP counts
	// UDP packets after it.
	firstTCP, udpAfterTCP int
	syns                  int
}

func countTCPWire(t *testing.T, path string) tcpWire {
	t.Helper()
	pc, err := testnet.ReadPcapFile(path)
	if err != nil {
		t.Fatal(err)
	}
	w := tcpWire{firstTCP: -1}
	for i, pkt := range pc.Packets {
		d := testnet.ClassifyPacket(pc.LinkType, pkt.Data, testnet.ProtectedSubnets())
		switch {
		case d.Class == testnet.ClassLinkControl:
		case d.Proto == 6 && (d.SrcPort == 4500 || d.DstPort == 4500):
			w.tcp4500++
			if w.firstTCP < 0 {
				w.firstTCP = i
			}
			// the SYN without ACK opens a connection: octet 13 of the TCP header
			if off := tcpHeaderAt(pkt.Data); off > 0 && off+14 <= len(pkt.Data) && pkt.Data[off+13]&0x12 == 0x02 {
				w.syns++
			}
		case d.Proto == 17:
			w.udp++
			if w.firstTCP >= 0 {
				w.udpAfterTCP++
			}
			w.samples = append(w.samples, d.String())
		case d.Proto == 50:
			w.esp++
			w.samples = append(w.samples, d.String())
		default:
			w.other++
			w.samples = append(w.samples, d.String())
		}
	}
	return w
}

// tcpHeaderAt returns where the TCP header of an Ethernet frame with an
// IPv4 packet starts, 0 if it is not one.
func tcpHeaderAt(f []byte) int {
	const eth = 14
	if len(f) < eth+20 || f[12] != 0x08 || f[13] != 0x00 || f[eth+9] != 6 {
		return 0
	}
	return eth + int(f[eth]&0x0f)*4
}

// TestTCPEncapsulation runs cygnet to cygnet through a router that drops
// all UDP and ESP (and masquerades, as such networks do): the client's
// connection has encap_tcp = fallback, so its IKE_SA_INIT goes over UDP,
// gets no answer, and the retransmission opens a TCP connection to the
// gateway's port 4500 (RFC 9329). Ping and a 10 MB TCP transfer must be
// intact, B's veth must carry only TCP to or from port 4500, and A's no
// UDP after the first TCP packet. Then the client's TCP connection is
// killed (ss -K): the next packets reopen it and traffic resumes with the
// same IKE and Child SAs.
// With encap_tcp = yes, A's veth carries no UDP at all.
func TestTCPEncapsulation(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireTools(t, "nft", "tcpdump", "ss")
	for _, mode := range []string{"fallback", "yes"} {
		t.Run(mode, func(t *testing.T) { runTCPEncap(t, mode) })
	}
}

func runTCPEncap(t *testing.T, mode string) {
	p := testnet.NewPair(t, testnet.PairOptions{NAT: true})
	if out, err := testnet.ExecIn(p.R, 10*time.Second, "sh", "-c", "printf '%s' '"+dropUDP+"' | nft -f -"); err != nil {
		t.Fatalf("router rules: %v\n%s", err, out)
	}
	a, b := pairConfigs("psk")
	a.LocalAddrs = "" // behind the router
	b.RemoteAddrs = testnet.UnderlayA.String()
	a.Children, b.Children = a.Children[:1], b.Children[:1]
	// With encap_tcp = yes the reconnection is left to IKE: DPD finds
	// the connection gone and its INFORMATIONAL opens the new one.
	a.Extra = "encap_tcp = yes\n    dpd_delay = 2s"
	if mode == "fallback" {
		a.Extra = "encap_tcp = fallback\n    tcp_fallback_timeout = 1s"
	}
	server := startCygnet(t, p.B, b.Swanctl(), nil, "")
	client := startCygnet(t, p.A, a.Swanctl(), nil, "")
	capB := p.Capture(p.B)
	capA := p.Capture(p.A)

	setup := client.initiate("tun", "net")
	t.Logf("encap_tcp = %s: tunnel up through the UDP-dropping router in %v", mode, setup.Round(time.Millisecond))
	if err := poll(10*time.Second, func() bool {
		for _, sa := range server.listSAs() {
			if sa.State == "ESTABLISHED" {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatal("the server has no ESTABLISHED IKE SA")
	}
	ping := testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 5)
	t.Logf("ping over TCP: %d/%d", ping.Received, ping.Transmitted)
	testnet.PingFrom(t, p.B, testnet.HostB, testnet.HostA, 3)
	xfer := testnet.TCPTransfer(t, p.A, p.B, testnet.HostB, 10<<20)
	back := testnet.TCPTransfer(t, p.B, p.A, testnet.HostA, 10<<20)

	beforeC, beforeS := cygnetTCPSAs(t, client), cygnetTCPSAs(t, server)
	if !beforeC.tcp || !beforeS.tcp {
		t.Errorf("list-sas tcp: client %v, server %v; want true on both", beforeC.tcp, beforeS.tcp)
	}
	conn1 := p.Exec(p.A, "ss", "-Htn", "state", "established", "dst", testnet.UnderlayB.String(), "dport", "= :4500")
	if strings.Count(strings.TrimSpace(conn1), "\n") != 0 || strings.TrimSpace(conn1) == "" {
		t.Fatalf("want one TCP connection from A to B's port 4500, ss shows:\n%s", conn1)
	}

	// Kill the connection in the client's namespace: the kernel resets it.
	killed := time.Now()
	p.Exec(p.A, "ss", "-K", "dst", testnet.UnderlayB.String(), "dport", "= :4500")
	if mode == "yes" {
		if err := poll(15*time.Second, func() bool {
			c, _ := p.TryExec(p.A, "ss", "-Htn", "state", "established", "dst", testnet.UnderlayB.String(), "dport", "= :4500")
			return strings.TrimSpace(c) != ""
		}); err != nil {
			t.Fatalf("DPD did not reopen the TCP connection within 15 s:\nclient:\n%s", tail(client.proc.Output(), 30))
		}
		t.Logf("DPD reopened the TCP connection %v after the kill", time.Since(killed).Round(time.Millisecond))
		// Two more DPD rounds over the new connection: the IKE SA stays.
		dpds := strings.Count(client.proc.Output(), "sending DPD request")
		if err := poll(15*time.Second, func() bool { return strings.Count(client.proc.Output(), "sending DPD request") >= dpds+2 }); err != nil {
			t.Fatalf("no further DPD rounds:\nclient:\n%s", tail(client.proc.Output(), 30))
		}
		killed = time.Now() // the pings measure from here
	}
	// Pings every 100 ms reopen it (RFC 9329 section 6: the initiator
	// reconnects when it has something to send); replies come back once
	// the server's first authentic ESP packet from the new connection
	// moved its peer there.
	const count = 30
	pings := p.Start(p.A, "ping", "-n", "-D", "-i", "0.1", "-W", "1", "-c", strconv.Itoa(count), "-I", testnet.HostA.String(), testnet.HostB.String())
	if err := pings.Wait(count*100*time.Millisecond + 15*time.Second); err != nil && !strings.Contains(pings.Output(), "received") {
		t.Fatalf("ping: %v\n%s", err, pings.Output())
	}
	times := replyTimes(pings.Output())
	if len(times) == 0 {
		t.Fatalf("no ping reply after the TCP connection was killed:\n%s\nclient:\n%s\nserver:\n%s", pings.Output(), tail(client.proc.Output(), 30), tail(server.proc.Output(), 30))
	}
	recovered, lost := times[0].Sub(killed), count-len(times)
	t.Logf("after the kill: first reply %v later, %d of %d pings (every 100 ms) lost", recovered.Round(time.Millisecond), lost, count)
	if lost > 3 || recovered > 2*time.Second {
		t.Errorf("reconnection too slow: %d pings lost, first reply after %v", lost, recovered)
	}
	testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 5)
	testnet.PingFrom(t, p.B, testnet.HostB, testnet.HostA, 3)
	after := testnet.TCPTransfer(t, p.A, p.B, testnet.HostB, 2<<20)
	conn2 := p.Exec(p.A, "ss", "-Htn", "state", "established", "dst", testnet.UnderlayB.String(), "dport", "= :4500")
	if strings.TrimSpace(conn2) == "" || strings.TrimSpace(conn2) == strings.TrimSpace(conn1) {
		t.Errorf("want a new TCP connection after the kill: before %q, after %q", conn1, conn2)
	}
	afterC, afterS := cygnetTCPSAs(t, client), cygnetTCPSAs(t, server)
	if !afterC.tcp || !afterS.tcp {
		t.Errorf("list-sas tcp after the reconnection: client %v, server %v; want true on both", afterC.tcp, afterS.tcp)
	}
	if afterC.ike != beforeC.ike || afterC.child != beforeC.child || afterS.ike != beforeS.ike || afterS.child != beforeS.child {
		t.Errorf("the SAs changed across the reconnection: client %+v -> %+v, server %+v -> %+v", beforeC, afterC, beforeS, afterS)
	}
	if afterS.packetsIn <= beforeS.packetsIn {
		t.Errorf("server Child SA counted no packets after the reconnection: %d -> %d", beforeS.packetsIn, afterS.packetsIn)
	}

	pathB, err := capB.Stop()
	if err != nil {
		t.Fatal(err)
	}
	pathA, err := capA.Stop()
	if err != nil {
		t.Fatal(err)
	}
	wb, wa := countTCPWire(t, pathB), countTCPWire(t, pathA)
	t.Logf("B's veth: %d TCP/4500, %d UDP, %d ESP, %d other, %d SYNs; A's veth: %d TCP/4500, %d UDP (%d after the first TCP), %d ESP, %d SYNs",
		wb.tcp4500, wb.udp, wb.esp, wb.other, wb.syns, wa.tcp4500, wa.udp, wa.udpAfterTCP, wa.esp, wa.syns)
	if wb.udp+wb.esp+wb.other > 0 {
		t.Errorf("B's veth carried %d packets that are not TCP to or from port 4500, e.g. %s", wb.udp+wb.esp+wb.other, strings.Join(wb.samples[:min(5, len(wb.samples))], "; "))
	}
	if wa.udpAfterTCP+wa.esp+wa.other > 0 {
		t.Errorf("A's veth carried %d UDP packets after TCP took over, %d ESP, %d other: %s", wa.udpAfterTCP, wa.esp, wa.other, strings.Join(wa.samples[:min(5, len(wa.samples))], "; "))
	}
	if mode == "fallback" && wa.udp == 0 {
		t.Errorf("A sent no UDP before the fallback: was encap_tcp = fallback used?")
	}
	if mode == "yes" && wa.udp > 0 {
		t.Errorf("encap_tcp = yes: A sent %d UDP packets: %s", wa.udp, strings.Join(wa.samples[:min(5, len(wa.samples))], "; "))
	}
	if wb.tcp4500 == 0 || wb.syns != 2 {
		t.Errorf("B's veth: %d TCP packets, %d connection openings; want two (the first and the reconnection)", wb.tcp4500, wb.syns)
	}
	if after.Bytes != 2<<20 || xfer.Bytes != 10<<20 || back.Bytes != 10<<20 {
		t.Errorf("transfers: %d, %d, %d bytes", xfer.Bytes, back.Bytes, after.Bytes)
	}
}
