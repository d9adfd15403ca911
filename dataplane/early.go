package dataplane

import (
	"sync"
	"time"
)

// earlyHold keeps, for a moment, the last ESP packets that arrived for an
// SPI no SA has. A peer answering IKE_AUTH or CREATE_CHILD_SA installs the
// new Child SA before its answer is on the wire (strongSwan does) and may
// seal with it at once; without the hold, what it sends before the answer
// has been processed here is lost at every reauthentication and at rekeys
// it answers. Once IKE has installed the SA, [DataPlane.OpenEarly] opens
// the packets held for it; anything else ages out. The packets are only
// copied: they are authenticated, replay-checked and matched against the
// SPD when opened, like any other.
type earlyHold struct {
	mu   sync.Mutex
	pkts []earlyPacket // a ring, made on first use
	next int
	// paths open held packets, one per socket role, made on first use.
	paths [numSocks]*inPath
}

// earlyPacket is one held datagram: as its socket read it (the whole IP
// packet from a raw IPv4 socket, the ESP packet alone otherwise).
type earlyPacket struct {
	spi  uint32
	at   time.Time
	role int
	meta rxMeta
	buf  []byte // earlyLen octets, the datagram at the start
}

const (
	// earlyPackets is how many packets the hold keeps: a few round
	// trips of a busy tunnel's packets, while IKE finishes an exchange.
	earlyPackets = 64
	// earlyLen is the longest packet held (a jumbo frame).
	earlyLen = 9216
	// earlyAge is how long a packet is held: an exchange's answer that
	// takes longer has been lost and is retransmitted, and so were the
	// packets.
	earlyAge = 2 * time.Second
)

// hold keeps the ESP packet at slot[HeadRoom:HeadRoom+m.N], which arrived on
// a socket of role for an SPI the SAD does not know, and counts it as NoSA.
// Packets of an ESP-in-TCP stream are not held: their sender is the
// stream, not an address.
func (p *inPath) hold(slot []byte, m *rxMeta, spi uint32) {
	dp := p.dp
	dp.ctr.noSA.Add(1)
	if p.tcp != nil || p.early || m.N > earlyLen {
		return
	}
	h := &dp.early
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pkts == nil {
		h.pkts = make([]earlyPacket, earlyPackets)
		for i, b := range slab(earlyPackets, earlyLen) {
			h.pkts[i].buf = b
		}
	}
	e := &h.pkts[h.next]
	h.next = (h.next + 1) % len(h.pkts)
	e.spi, e.at, e.role, e.meta = spi, time.Now(), p.role, *m
	copy(e.buf, slot[HeadRoom:HeadRoom+m.N])
}

// OpenEarly opens the ESP packets held because they arrived for SPI spi
// before its SA was in the SAD, in their order of arrival, and writes what
// they carry to the TUN. IKE calls it once the Child SA, with its
// policies, is installed. Each counts as NoSA when it arrived and as
// received (or dropped for its reason) now.
func (dp *DataPlane) OpenEarly(spi uint32) int {
	h := &dp.early
	h.mu.Lock()
	defer h.mu.Unlock()
	opened := 0
	now := time.Now()
	for k := range h.pkts {
		e := &h.pkts[(h.next+k)%len(h.pkts)]
		if e.spi != spi || now.Sub(e.at) > earlyAge {
			continue
		}
		p := h.paths[e.role]
		if p == nil {
			p = dp.newInPath(e.role, 1)
			p.early = true
			h.paths[e.role] = p
		}
		copy(p.slots[0][HeadRoom:], e.buf[:e.meta.N])
		p.meta[0] = e.meta
		e.spi, e.at = 0, time.Time{}
		p.process(1)
		opened++
	}
	if opened > 0 {
		dp.ctr.early.Add(uint64(opened))
	}
	return opened
}
