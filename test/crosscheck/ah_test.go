package crosscheck

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ah"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/transform"
)

// ahAlg is an AH integrity algorithm as cygnet and scapy name it.
type ahAlg struct {
	name      string
	integ     transform.IntegID
	keyLen    int
	scapyAuth string
}

var ahAlgs = []ahAlg{
	{"HMAC-SHA2-256-128", transform.IntegHMACSHA256_128, 32, "SHA2-256-128"},
	{"HMAC-SHA2-384-192", transform.IntegHMACSHA384_192, 48, "SHA2-384-192"},
	{"HMAC-SHA2-512-256", transform.IntegHMACSHA512_256, 64, "SHA2-512-256"},
	{"AES-CMAC-96", transform.IntegAESCMAC96, 16, "AES-CMAC-96"},
}

// ahCase is one combination, run in both directions.
type ahCase struct {
	alg ahAlg
	lay layout
	esn bool
	n   int // packets each way as sent; as many again changed en route
}

func (c ahCase) name() string {
	n := c.alg.name + "/" + c.lay.name
	if c.esn {
		return n + "/esn"
	}
	return n + "/no-esn"
}

func (c ahCase) spec(spi uint32, key []byte) saSpec {
	_, _, tun := c.lay.endpoints()
	return saSpec{SPI: spi, Auth: c.alg.scapyAuth, AKey: key, ESN: c.esn, Tunnel: tun}
}

// newSA builds a cygnet AH SA for the case with a fresh key.
func (c ahCase) newSA(t *testing.T, rng *rand.Rand, dir ipsec.Direction) (*ah.SA, uint32, []byte) {
	t.Helper()
	key := randBytes(rng, c.alg.keyLen)
	spi := rng.Uint32() | 0x100
	x, err := transform.NewIntegrity(c.alg.integ, key, transform.Options{})
	if err != nil {
		t.Fatalf("transform.NewIntegrity: %v", err)
	}
	src, dst, _ := c.lay.endpoints()
	cfg := ah.Config{SPI: spi, Mode: c.lay.mode, Direction: dir, Integrity: x, ESN: c.esn}
	if dir == ipsec.Outbound {
		cfg.Src, cfg.Dst = src, dst
	} else {
		cfg.ReplayWindow = 64
	}
	sa, err := ah.New(cfg)
	if err != nil {
		t.Fatalf("ah.New: %v", err)
	}
	return sa, spi, key
}

// sealAH authenticates a copy of inner and returns the wire packet and its
// sequence number.
func sealAH(t *testing.T, sa *ah.SA, inner []byte) ([]byte, uint64) {
	t.Helper()
	head, tail := sa.Overhead()
	buf := make([]byte, head+len(inner)+tail)
	copy(buf[head:], inner)
	p, err := sa.Seal(buf, head, len(inner))
	if err != nil {
		t.Fatalf("cygnet Seal: %v", err)
	}
	return p.Bytes, sa.SeqUsed()
}

// afterTransit is what the receiver gets back from a packet whose fields
// mutateEnRoute changed on the way: in tunnel mode the inner packet is
// untouched, in transport mode its header carries the changes.
func (c ahCase) afterTransit(inner []byte) []byte {
	if c.lay.mode == ipsec.ModeTunnel {
		return inner
	}
	m := clone(inner)
	mutateEnRoute(m)
	return m
}

// runAH checks one case: cygnet -> scapy, then scapy -> cygnet, each with
// packets as sent and packets whose mutable fields routers changed.
func runAH(t *testing.T, sp *scapyPeer, rng *rand.Rand, c ahCase) {
	kinds := c.lay.kinds()

	// cygnet seals, scapy verifies and signs the inner packet again.
	out, spi, key := c.newSA(t, rng, ipsec.Outbound)
	first := firstSeq(rng, c.esn)
	out.SetSeq(first - 1)
	spec := c.spec(spi, key)
	for i := range c.n {
		kind := kinds[i%len(kinds)]
		inner := innerPacket(rng, c.lay.inner, kind, rng.IntN(300))
		wire, seq := sealAH(t, out, inner)
		r := sp.call(t, request{Op: "ah_verify", saSpec: spec, Pkt: wire, Seq: seq, Again: true})
		if !r.OK {
			t.Errorf("cygnet->scapy packet %d (%s, seq %#x): scapy refuses it: %s\n%s\npacket: %x", i, kind, seq, r.Err, r.Trace, wire)
			continue
		}
		if !bytes.Equal(r.Inner, inner) {
			t.Errorf("cygnet->scapy packet %d (%s, seq %#x): scapy's inner packet differs: %s", i, kind, seq, diff(r.Inner, inner))
		}
		if !bytes.Equal(r.Again, wire) {
			t.Errorf("cygnet->scapy packet %d (%s, seq %#x): scapy, given cygnet's header fields, builds another packet: %s", i, kind, seq, diff(wire, r.Again))
		}
	}
	for i, kind := range kinds {
		inner := innerPacket(rng, c.lay.inner, kind, rng.IntN(100))
		wire, seq := sealAH(t, out, inner)
		mutateEnRoute(wire)
		r := sp.call(t, request{Op: "ah_verify", saSpec: spec, Pkt: wire, Seq: seq})
		if !r.OK {
			t.Errorf("cygnet->scapy mutated packet %d (%s, seq %#x): scapy refuses it: %s\npacket: %x", i, kind, seq, r.Err, wire)
		} else if want := c.afterTransit(inner); !bytes.Equal(r.Inner, want) {
			t.Errorf("cygnet->scapy mutated packet %d (%s, seq %#x): scapy's inner packet differs: %s", i, kind, seq, diff(r.Inner, want))
		}
	}
	inner := innerPacket(rng, c.lay.inner, kinds[0], 40)
	wire, seq := sealAH(t, out, inner)
	bad := clone(wire)
	bad[len(bad)-1] ^= 0x01
	if r := sp.call(t, request{Op: "ah_verify", saSpec: spec, Pkt: bad, Seq: seq}); !isIntegrityError(r) {
		t.Errorf("cygnet->scapy: scapy accepts a packet with a flipped octet (ok=%v err=%q)", r.OK, r.Err)
	}
	if c.esn {
		if r := sp.call(t, request{Op: "ah_verify", saSpec: spec, Pkt: wire, Seq: seq + 1<<32}); !isIntegrityError(r) {
			t.Errorf("cygnet->scapy: scapy accepts seq %#x as %#x: the ESN high bits are not authenticated (ok=%v err=%q)", seq, seq+1<<32, r.OK, r.Err)
		}
		if r := sp.call(t, request{Op: "ah_verify", saSpec: spec, Pkt: wire, Seq: seq}); !r.OK {
			t.Errorf("cygnet->scapy seq %#x: %s", seq, r.Err)
		}
	}

	// scapy signs, cygnet verifies; the second round of kinds is changed
	// en route.
	in, spi, key := c.newSA(t, rng, ipsec.Inbound)
	spec = c.spec(spi, key)
	first = firstSeq(rng, c.esn)
	primeWindow(t, in.ReplayWindow(), first)
	scapySign := func(inner []byte, seq uint64) []byte {
		t.Helper()
		r := sp.call(t, request{Op: "ah_sign", saSpec: spec, Pkt: inner, Seq: seq})
		if !r.OK {
			t.Fatalf("scapy cannot sign packet %x: %s\n%s", inner, r.Err, r.Trace)
		}
		return r.Out
	}
	seq = first
	for i := range 2 * c.n {
		kind := kinds[i%len(kinds)]
		inner := innerPacket(rng, c.lay.inner, kind, rng.IntN(300))
		wire := scapySign(inner, seq)
		want, how := inner, "as sent"
		if i >= c.n {
			mutateEnRoute(wire)
			want, how = c.afterTransit(inner), "changed en route"
		}
		o, err := in.Open(clone(wire))
		if err != nil {
			t.Errorf("scapy->cygnet packet %d (%s, %s, seq %#x): cygnet refuses it: %v\npacket: %x", i, kind, how, seq, err, wire)
		} else {
			if o.Seq != seq {
				t.Errorf("scapy->cygnet packet %d: cygnet infers seq %#x, scapy sent %#x", i, o.Seq, seq)
			}
			if !bytes.Equal(o.Packet, want) {
				t.Errorf("scapy->cygnet packet %d (%s, %s, seq %#x): cygnet's packet differs: %s", i, kind, how, seq, diff(o.Packet, want))
			}
		}
		seq++
	}
	wire = scapySign(inner, seq)
	bad = clone(wire)
	bad[len(bad)-1] ^= 0x01
	if _, err := in.Open(bad); !errors.Is(err, ah.ErrAuth) {
		t.Errorf("scapy->cygnet: a flipped octet gives %v, want %v", err, ah.ErrAuth)
	}
	if c.esn {
		if _, err := in.Open(scapySign(inner, seq+1<<32)); !errors.Is(err, ah.ErrAuth) {
			t.Errorf("scapy->cygnet: a packet signed with seq %#x is taken as %#x: %v, want %v", seq+1<<32, seq, err, ah.ErrAuth)
		}
	}
	if _, err := in.Open(wire); err != nil {
		t.Errorf("scapy->cygnet seq %#x after the refused ones: %v", seq, err)
	}
}

// TestAHScapy runs every AH algorithm in every layout, with and without
// ESN, both ways, with IPv4 options and IPv6 hop-by-hop and destination
// options in transport mode.
func TestAHScapy(t *testing.T) {
	t.Parallel()
	sp := startScapy(t)
	rng := rand.New(rand.NewPCG(seed, 3))
	for _, alg := range ahAlgs {
		for _, lay := range layouts {
			for _, esn := range []bool{false, true} {
				c := ahCase{alg: alg, lay: lay, esn: esn, n: 4}
				t.Run(c.name(), func(t *testing.T) { runAH(t, sp, rng, c) })
			}
		}
	}
}

// TestAHRoutingHeaderScapy checks the AH ICV over an IPv6 type 0 routing
// header, whose destination address and addresses list change at every
// hop (RFC 4302 appendix A.2): the sender computes the ICV over the
// packet as it will arrive. scapy verifies only packets that completed
// their route (at the receiver it takes the header as it is); cygnet is
// given them before, during and after the route.
func TestAHRoutingHeaderScapy(t *testing.T) {
	t.Parallel()
	sp := startScapy(t)
	rng := rand.New(rand.NewPCG(seed, 4))
	c := ahCase{alg: ahAlgs[0], lay: layouts[5]}
	routeAll := func(pkt []byte) []byte {
		pkt = clone(pkt)
		for routeHop(pkt) {
		}
		return pkt
	}
	for _, hops := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("%d-hops", hops), func(t *testing.T) {
			out, spi, key := c.newSA(t, rng, ipsec.Outbound)
			spec := c.spec(spi, key)
			inner := routedPacket(rng, hops, 50)
			wire, seq := sealAH(t, out, inner)
			r := sp.call(t, request{Op: "ah_verify", saSpec: spec, Pkt: routeAll(wire), Seq: seq})
			if !r.OK {
				t.Errorf("cygnet->scapy: scapy refuses the routed packet: %s\npacket: %x", r.Err, routeAll(wire))
			} else if want := routeAll(inner); !bytes.Equal(r.Inner, want) {
				t.Errorf("cygnet->scapy: scapy's packet differs: %s", diff(r.Inner, want))
			}

			in, spi, key := c.newSA(t, rng, ipsec.Inbound)
			spec = c.spec(spi, key)
			for done := 0; done <= hops; done++ {
				inner := routedPacket(rng, hops, 50)
				r := sp.call(t, request{Op: "ah_sign", saSpec: spec, Pkt: inner, Seq: uint64(done + 1)})
				if !r.OK {
					t.Fatalf("scapy cannot sign %x: %s\n%s", inner, r.Err, r.Trace)
				}
				wire, want := r.Out, clone(inner)
				for range done {
					routeHop(wire)
					routeHop(want)
				}
				o, err := in.Open(clone(wire))
				if err != nil {
					t.Errorf("scapy->cygnet after %d of %d hops: cygnet refuses it: %v\npacket: %x", done, hops, err, wire)
				} else if !bytes.Equal(o.Packet, want) {
					t.Errorf("scapy->cygnet after %d of %d hops: cygnet's packet differs: %s", done, hops, diff(o.Packet, want))
				}
			}
		})
	}
}
