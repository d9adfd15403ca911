package dataplane

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/cygnet-ipsec/cygnet/internal/testnet"
	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/spd"
)

// testRunXDP runs prog on frame with bpf(BPF_PROG_TEST_RUN) as if it had
// arrived on queue 0 of the link ifindex, and returns the program's
// verdict.
func testRunXDP(t *testing.T, prog, ifindex int, frame []byte) uint32 {
	t.Helper()
	ctx := struct {
		data, dataEnd, dataMeta, ingressIfindex, rxQueueIndex, egressIfindex uint32
	}{dataEnd: uint32(len(frame)), ingressIfindex: uint32(ifindex)}
	attr := struct {
		progFD, retval          uint32
		dataSizeIn, dataSizeOut uint32
		dataIn, dataOut         bpfPtr
		repeat, duration        uint32
		ctxSizeIn, ctxSizeOut   uint32
		ctxIn, ctxOut           bpfPtr
	}{
		progFD:     uint32(prog),
		dataSizeIn: uint32(len(frame)),
		dataIn:     bpfPtr{p: unsafe.Pointer(&frame[0])},
		ctxSizeIn:  uint32(unsafe.Sizeof(ctx)),
		ctxIn:      bpfPtr{p: unsafe.Pointer(&ctx)},
	}
	if _, err := bpf(unix.BPF_PROG_TEST_RUN, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
		t.Fatalf("test run: %v", err)
	}
	return attr.retval
}

// espFrame is an Ethernet frame of an IP packet from src to dst carrying
// proto and n octets of payload; edit changes the IP header after it is
// written.
func espFrame(src, dst netip.Addr, proto uint8, n int) []byte {
	f := make([]byte, ethHeaderLen+packet.IPv6HeaderLen+n)
	ip := f[ethHeaderLen:]
	if dst.Is4() {
		binary.BigEndian.PutUint16(f[ethTypeAt:], 0x0800)
		h := packet.IPv4Header{TotalLen: packet.IPv4HeaderLen + n, TTL: 64, Protocol: proto, Src: src, Dst: dst}
		h.Put(ip)
		return f[:ethHeaderLen+packet.IPv4HeaderLen+n]
	}
	binary.BigEndian.PutUint16(f[ethTypeAt:], 0x86dd)
	h := packet.IPv6Header{PayloadLen: n, NextHeader: proto, HopLimit: 64, Src: src, Dst: dst}
	h.Put(ip)
	return f
}

// The steering program, loaded by the kernel's verifier and run by the
// kernel on crafted frames: ESP for a local address is redirected to the
// queue's AF_XDP socket; ESP for another address, other protocols,
// fragments, IPv4 options, VLAN tags, runts and frames longer than a UMEM
// frame pass to the stack.
func TestXDPSteeringVerdicts(t *testing.T) {
	testnet.RequireRoot(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	local4, local6 := testnet.UnderlayA, testnet.UnderlayA6
	peer4, peer6 := testnet.UnderlayB, testnet.UnderlayB6
	other4, other6 := netip.MustParseAddr("10.99.0.9"), netip.MustParseAddr("fd00:99::9")
	const redirect, pass = 4, 2 // XDP_REDIRECT, XDP_PASS
	// The kernel's test run hands a program at most 3520 octets in one
	// piece, so the length check is tried on a smaller limit.
	const maxFrame = 1000
	err := testnet.InNamespace(p.A, func() error {
		link, err := netlink.LinkByName(p.IfA)
		if err != nil {
			return err
		}
		ifindex := link.Attrs().Index
		var received atomic.Uint64
		s, err := newXSKSocket(ifindex, 0, xskFramesFor(1), &received)
		if err != nil {
			return err
		}
		defer s.unmap()
		defer s.close()
		xmap, err := newXSKMap(1)
		if err != nil {
			return err
		}
		defer unix.Close(xmap)
		if err := xskMapSet(xmap, 0, s.conn.fd); err != nil {
			return err
		}
		insns, err := espSteeringProgram(xmap, []netip.Addr{local4, local6}, maxFrame)
		if err != nil {
			return err
		}
		prog, err := loadXDP(insns)
		if err != nil {
			return err
		}
		defer unix.Close(prog)

		frag := espFrame(peer4, local4, unix.IPPROTO_ESP, 100)
		binary.BigEndian.PutUint16(frag[ip4FragAt:], 0x2000) // MF
		fragOff := espFrame(peer4, local4, unix.IPPROTO_ESP, 100)
		binary.BigEndian.PutUint16(fragOff[ip4FragAt:], 185) // offset only
		df := espFrame(peer4, local4, unix.IPPROTO_ESP, 100)
		binary.BigEndian.PutUint16(df[ip4FragAt:], 0x4000) // DF: whole
		opts := espFrame(peer4, local4, unix.IPPROTO_ESP, 100)
		opts[ip4VerIHLAt] = 0x46
		vlan := append(espFrame(peer4, local4, unix.IPPROTO_ESP, 100)[:ethTypeAt], 0x81, 0x00, 0, 1, 0x08, 0x00)
		vlan = append(vlan, espFrame(peer4, local4, unix.IPPROTO_ESP, 100)[ethHeaderLen:]...)
		longest := maxFrame - ethHeaderLen - packet.IPv4HeaderLen
		for _, c := range []struct {
			name  string
			frame []byte
			want  uint32
		}{
			{"ESP to the local IPv4 address", espFrame(peer4, local4, unix.IPPROTO_ESP, 100), redirect},
			{"ESP with DF", df, redirect},
			{"ESP to another IPv4 address", espFrame(peer4, other4, unix.IPPROTO_ESP, 100), pass},
			{"UDP to the local IPv4 address", espFrame(peer4, local4, unix.IPPROTO_UDP, 100), pass},
			{"AH to the local IPv4 address", espFrame(peer4, local4, unix.IPPROTO_AH, 100), pass},
			{"first IPv4 fragment", frag, pass},
			{"later IPv4 fragment", fragOff, pass},
			{"IPv4 options", opts, pass},
			{"VLAN tag", vlan, pass},
			{"ESP to the local IPv6 address", espFrame(peer6, local6, unix.IPPROTO_ESP, 100), redirect},
			{"ESP to another IPv6 address", espFrame(peer6, other6, unix.IPPROTO_ESP, 100), pass},
			{"IPv6 fragment header", espFrame(peer6, local6, 44, 100), pass},
			{"runt", espFrame(peer4, local4, unix.IPPROTO_ESP, 100)[:xdpMinFrame-1], pass},
			{"longest frame a UMEM frame holds", espFrame(peer4, local4, unix.IPPROTO_ESP, longest), redirect},
			{"one octet longer", espFrame(peer4, local4, unix.IPPROTO_ESP, longest+1), pass},
		} {
			if got := testRunXDP(t, prog, ifindex, c.frame); got != c.want {
				t.Errorf("%s: verdict %d, want %d", c.name, got, c.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Raw ESP arrives through the AF_XDP sockets: pings both ways and a TCP
// transfer over IPv4 and IPv6 outer headers; every ESP packet a site sent
// was received by its peer either through AF_XDP or through the IP stack
// (netfilter's INPUT hook), almost all through AF_XDP, none dropped; the
// underlay's own traffic still passes; closing the data plane takes the
// program off the link.
func TestNetnsXDP(t *testing.T) {
	testnet.RequireRoot(t)
	for _, outer6 := range []bool{false, true} {
		name := "ipv4"
		if outer6 {
			name = "ipv6"
		}
		t.Run(name, func(t *testing.T) {
			p, sa, sb := rawPair(t, outer6, Config{XDP: true, LinkSend: true}, Config{XDP: true})
			if got, want := sa.dp.XDPLinks(), []string{p.IfA + " (driver, 1 queue)"}; !slices.Equal(got, want) {
				t.Errorf("XDPLinks %q, want %q", got, want)
			}
			inA := countESP(t, p, p.A, "input")
			inB := countESP(t, p, p.B, "input")
			testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 3)
			testnet.PingFrom(t, p.B, testnet.HostB, testnet.HostA, 3)
			testnet.PingFrom(t, p.A, testnet.HostA6, testnet.HostB6, 3)
			testnet.PingFrom(t, p.B, testnet.HostB6, testnet.HostA6, 3)
			res := testnet.TCPTransfer(t, p.A, p.B, testnet.HostB, 4<<20)
			t.Logf("%s: %.0f Mbit/s", name, res.Mbps())
			// Plain traffic between the underlay addresses is not ESP.
			p.Exec(p.A, "ping", "-c", "1", "-W", "2", testnet.UnderlayB.String())
			p.Exec(p.A, "ping", "-c", "1", "-W", "2", testnet.UnderlayB6.String())
			for _, c := range []struct {
				s, peer *nsSite
				in      *espCounter
			}{{sa, sb, inA}, {sb, sa, inB}} {
				// The last packets (the transfer's final ACKs) may still be
				// on their way: wait, boundedly, for the counts to meet.
				var st Stats
				var sent, viaIP uint64
				for deadline := time.Now().Add(3 * time.Second); ; {
					sent = c.peer.dp.Stats().OutPackets
					st, viaIP = c.s.dp.Stats(), c.in.packets(t)
					if st.XDPReceived+viaIP >= sent || time.Now().After(deadline) {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				t.Logf("%s: peer sealed %d, %d through AF_XDP, %d through the IP stack, %d dropped by AF_XDP", c.s.ns, sent, st.XDPReceived, viaIP, st.XDPDropped)
				if st.AuthFailed+st.Replay+st.Malformed+st.PolicyMismatch+st.NoSA+st.XDPDropped != 0 {
					t.Errorf("%s: unexpected drops %+v", c.s.ns, st)
				}
				if st.XDPReceived < sent*9/10 {
					t.Errorf("%s: %d of %d ESP packets through AF_XDP", c.s.ns, st.XDPReceived, sent)
				}
				if st.XDPReceived+viaIP != sent {
					t.Errorf("%s: AF_XDP %d + IP stack %d != sealed by the peer %d", c.s.ns, st.XDPReceived, viaIP, sent)
				}
			}
			sb.dp.Close()
			err := testnet.InNamespace(p.B, func() error {
				l, err := netlink.LinkByName(p.IfB)
				if err != nil {
					return err
				}
				if x := l.Attrs().Xdp; x != nil && x.Attached {
					t.Errorf("%s: an XDP program (id %d) stays on %s after Close", p.B, x.ProgId, p.IfB)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A data plane does not take a link that another XDP program or another
// data plane's AF_XDP sockets hold: New fails and says why, and what holds
// the link stays.
func TestNetnsXDPRefusesTakenLink(t *testing.T) {
	testnet.RequireRoot(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	xdpOn := func(ns, ifname string) (id uint32) {
		t.Helper()
		err := testnet.InNamespace(ns, func() error {
			l, err := netlink.LinkByName(ifname)
			if err != nil {
				return err
			}
			if x := l.Attrs().Xdp; x != nil && x.Attached {
				id = x.ProgId
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}

	// B's link carries an XDP program of someone else's.
	err := testnet.InNamespace(p.B, func() error {
		var a bpfAsm
		a.emit(bpfMovK, 0, 0, 0, xdpPass)
		a.emit(bpfExit, 0, 0, 0, 0)
		insns, err := a.assemble()
		if err != nil {
			return err
		}
		prog, err := loadXDP(insns)
		if err != nil {
			return err
		}
		defer unix.Close(prog)
		l, err := netlink.LinkByName(p.IfB)
		if err != nil {
			return err
		}
		return netlink.LinkSetXdpFdWithFlags(l, prog, unix.XDP_FLAGS_SKB_MODE)
	})
	if err != nil {
		t.Fatal(err)
	}
	theirs := xdpOn(p.B, p.IfB)
	err = tryNew(p.B, Config{TUNName: "cy0", SPD: &spd.DB{}, XDP: true, NoTCP: true})
	if err == nil || !strings.Contains(err.Error(), p.IfB+": the link has an XDP program already") {
		t.Errorf("data plane on %s with another XDP program: %v", p.IfB, err)
	}
	if id := xdpOn(p.B, p.IfB); id != theirs || id == 0 {
		t.Errorf("XDP program on %s: id %d, want the other's %d", p.IfB, id, theirs)
	}

	// A's link is held by a first data plane.
	var first *DataPlane
	err = testnet.InNamespace(p.A, func() error {
		var err error
		first, err = New(Config{TUNName: "cy0", SPD: &spd.DB{}, XDP: true, NoTCP: true})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	ours := xdpOn(p.A, p.IfA)
	err = tryNew(p.A, Config{TUNName: "cy1", SPD: &spd.DB{}, XDP: true, NoTCP: true, IKEPort: 5500, NATTPort: 5501})
	if err == nil || !strings.Contains(err.Error(), p.IfA+": bind AF_XDP socket to queue 0: another AF_XDP socket has it") {
		t.Errorf("second data plane on %s: %v", p.IfA, err)
	}
	if id := xdpOn(p.A, p.IfA); id != ours || id == 0 {
		t.Errorf("XDP program on %s: id %d, want the first data plane's %d", p.IfA, id, ours)
	}
}

// tryNew makes a data plane with cfg in ns and closes it again: New's error.
func tryNew(ns string, cfg Config) error {
	return testnet.InNamespace(ns, func() error {
		dp, err := New(cfg)
		if err == nil {
			dp.Close()
		}
		return err
	})
}
