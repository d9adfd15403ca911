package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fakeXSK is an xskSocket whose rings and UMEM are ordinary memory, so
// that take can be tried without a kernel: the test plays the kernel's
// part (it produces receive descriptors and consumes the fill ring).
type fakeXSK struct {
	s              *xskSocket
	rxProd, rxCons uint32
	fillProd       uint32
	fillCons       uint32
	rxDescs        []unix.XDPDesc
	fillAddrs      []uint64
	received       atomic.Uint64
}

func newFakeXSK(frames, ring int) *fakeXSK {
	f := &fakeXSK{rxDescs: make([]unix.XDPDesc, ring), fillAddrs: make([]uint64, ring)}
	f.s = &xskSocket{
		umem:     make([]byte, frames*xskFrameSize),
		rx:       xskRing{producer: &f.rxProd, consumer: &f.rxCons, descs: unsafe.Pointer(&f.rxDescs[0]), mask: uint32(ring - 1)},
		fill:     xskRing{producer: &f.fillProd, consumer: &f.fillCons, descs: unsafe.Pointer(&f.fillAddrs[0]), mask: uint32(ring - 1)},
		received: &f.received,
	}
	return f
}

// deliver puts frame into UMEM frame i at the offset the kernel leaves
// in front and publishes its descriptor.
func (f *fakeXSK) deliver(i int, frame []byte) {
	addr := uint64(i*xskFrameSize + unix.XDP_PACKET_HEADROOM)
	copy(f.s.umem[addr:], frame)
	f.rxDescs[f.rxProd&f.s.rx.mask] = unix.XDPDesc{Addr: addr, Len: uint32(len(frame))}
	f.rxProd++
}

// The reader copies the IP packets out of the ring's frames without the
// Ethernet header or the link's padding, marks a packet that does not fit
// its buffer as truncated, and gives every frame back to the fill ring at
// its start, also when the ring positions wrap around.
func TestXSKTake(t *testing.T) {
	f := newFakeXSK(8, 4)
	// The ring positions start just below the wrap of a uint32.
	start := ^uint32(0) - 2
	f.rxProd, f.rxCons, f.s.rxCons = start, start, start
	f.fillProd, f.s.fillProd = start, start

	src, dst := netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("10.99.0.1")
	small := espFrame(src, dst, unix.IPPROTO_ESP, 10)         // 44 octets of IP
	padded := append(bytes.Clone(small), make([]byte, 16)...) // Ethernet padding
	v6 := espFrame(netip.MustParseAddr("fd00:99::2"), netip.MustParseAddr("fd00:99::1"), unix.IPPROTO_ESP, 200)
	big := espFrame(src, dst, unix.IPPROTO_ESP, 300)
	liar := bytes.Clone(small)
	binary.BigEndian.PutUint16(liar[ethHeaderLen+2:], 9000) // claims more than it has

	f.deliver(3, padded)
	f.deliver(5, v6)
	f.deliver(0, big)
	bufs := [][]byte{make([]byte, 100), make([]byte, 300), make([]byte, 100)}
	meta := make([]rxMeta, 3)
	f.s.bufs, f.s.meta = bufs, meta
	if !f.s.take(0) || f.s.got != 3 {
		t.Fatalf("took %d, want 3", f.s.got)
	}
	if meta[0].N != len(small)-ethHeaderLen || meta[0].Trunc || !bytes.Equal(bufs[0][:meta[0].N], small[ethHeaderLen:]) {
		t.Errorf("padded IPv4 frame: %+v", meta[0])
	}
	if meta[1].N != len(v6)-ethHeaderLen || meta[1].Trunc || !bytes.Equal(bufs[1][:meta[1].N], v6[ethHeaderLen:]) {
		t.Errorf("IPv6 frame: %+v", meta[1])
	}
	if !meta[2].Trunc {
		t.Errorf("a 320-octet packet in a 100-octet buffer: %+v, want truncated", meta[2])
	}
	if f.rxCons != start+3 || f.fillProd != start+3 {
		t.Errorf("positions rx consumer %d, fill producer %d, want %d", f.rxCons, f.fillProd, start+3)
	}
	for i, want := range []uint64{3 * xskFrameSize, 5 * xskFrameSize, 0} {
		if got := f.fillAddrs[(start+uint32(i))&f.s.fill.mask]; got != want {
			t.Errorf("fill ring slot %d: frame %#x, want %#x", i, got, want)
		}
	}

	// A length field longer than the frame is cut to the frame (the
	// parser then refuses the packet); an empty ring takes nothing.
	f.deliver(1, liar)
	f.s.bufs, f.s.meta = bufs, meta
	if !f.s.take(0) || f.s.got != 1 || meta[0].N != len(liar)-ethHeaderLen {
		t.Errorf("lying length: took %d, %+v", f.s.got, meta[0])
	}
	if f.s.take(0) || f.s.got != 0 {
		t.Errorf("empty ring: took %d", f.s.got)
	}
	if f.received.Load() != 4 {
		t.Errorf("received %d, want 4", f.received.Load())
	}
}

// ipPacketLen never reaches past the packet, whatever its header says.
func FuzzIPPacketLen(f *testing.F) {
	f.Add(espFrame(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 50, 20)[ethHeaderLen:])
	f.Add(espFrame(netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2"), 50, 20)[ethHeaderLen:])
	f.Add([]byte{0x45, 0, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		n := ipPacketLen(pkt)
		if n < 0 || n > len(pkt) {
			t.Fatalf("length %d of a %d-octet packet", n, len(pkt))
		}
		if n < len(pkt) && len(pkt) >= 20 && pkt[0]>>4 == 4 && n != int(binary.BigEndian.Uint16(pkt[2:])) {
			t.Fatalf("IPv4 cut to %d, header says %d", n, binary.BigEndian.Uint16(pkt[2:]))
		}
	})
}
