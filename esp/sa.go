package esp

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/replay"
	"github.com/cygnet-ipsec/cygnet/transform"
)

const (
	espHeaderLen = 8
	udpHeaderLen = 8
	// trailerLen is the pad length and next header octets.
	trailerLen = 2
	// defaultTTL is the outer IPv4 TTL / IPv6 hop limit in tunnel mode.
	defaultTTL = 64
)

// UDPEncap is the UDP encapsulation of ESP (RFC 3948), used behind NAT.
type UDPEncap struct {
	SrcPort, DstPort uint16
}

// Config describes one direction of an ESP SA.
type Config struct {
	// SPI is the Security Parameters Index the receiver chose.
	SPI uint32
	// Mode is tunnel or transport.
	Mode ipsec.Mode
	// Direction: Outbound SAs seal, Inbound SAs open.
	Direction ipsec.Direction
	// Transform is the SA's keyed algorithm. The SA owns it from now on
	// and wipes it in Wipe.
	Transform transform.ESP
	// Src and Dst are the tunnel endpoints of the outer header (tunnel
	// mode, outbound); both IPv4 or both IPv6. Inbound SAs ignore them.
	Src, Dst netip.Addr
	// ESN enables 64-bit extended sequence numbers.
	ESN bool
	// ReplayWindow is the inbound anti-replay window in packets (RFC 4303
	// asks for at least 32, default 64); 0 disables replay protection.
	ReplayWindow int
	// TFCPadTo pads the inner packet of outbound tunnel-mode packets with
	// zeros up to this many octets (RFC 4303 section 2.4); 0 is off.
	TFCPadTo int
	// CopyDSCP copies the DSCP from the inner to the outer header on
	// encapsulation (an outbound SA) and from the outer to the inner one on
	// decapsulation (an inbound SA), the uniform model of RFC 2983; off,
	// the outer DSCP is 0 and the inner one is left alone (the pipe model).
	// Being per SA, it is per direction: swanctl's copy_dscp = out sets it
	// on the outbound SA only, in on the inbound one, yes on both.
	CopyDSCP bool
	// CopyDF sets DF in the outer IPv4 header of tunnel mode when the inner
	// IPv4 packet has it (swanctl's copy_df, on by default there), so
	// path-MTU discovery works through the tunnel.
	CopyDF bool
	// ECN is the RFC 6040 mode for tunnel mode; packet.ECNOff is swanctl's
	// copy_ecn = no.
	ECN packet.ECNMode
	// UDP, if set, encapsulates ESP in UDP (RFC 3948).
	UDP *UDPEncap
	// SoftSeqLimit is the outbound sequence number at which NeedsRekey
	// turns true, so IKE can rekey before ErrSequenceExhausted; 0 means
	// 2^32 - 2^24 without ESN and 2^63 with.
	SoftSeqLimit uint64
	// TTL is the outer TTL / hop limit in tunnel mode; 0 means 64.
	TTL uint8
}

// SA is one direction of an ESP Security Association.
type SA struct {
	spi  uint32
	mode ipsec.Mode
	dir  ipsec.Direction
	x    transform.ESP
	// xTo is x when it decrypts out of place (VerifyESPFrom).
	xTo      transform.OpenerTo
	src, dst netip.Addr
	outer6   bool
	esn      bool
	tfc      int
	copyDSCP bool
	copyDF   bool
	ecn      packet.ECNMode
	udp      bool
	sport    uint16
	dport    uint16
	ttl      uint8
	ivLen    int
	icvLen   int
	align    int
	win      *replay.Window

	// outer is the outer header of tunnel mode; per packet only the TOS /
	// Traffic Class, the length, the IPv4 ID and checksum change. It is
	// replaced whole when the endpoints move (SetEndpoints, MOBIKE), so
	// a packet is sealed with either the old or the new one.
	outer atomic.Pointer[outerHeader]

	seq   ipsec.SequenceCounter // outbound
	wiped atomic.Bool
}

// New builds an SA from its configuration.
func New(cfg Config) (*SA, error) {
	if cfg.Transform == nil {
		return nil, errors.New("esp: SA without transform")
	}
	if cfg.Mode != ipsec.ModeTunnel && cfg.Mode != ipsec.ModeTransport {
		return nil, fmt.Errorf("esp: unknown mode %v", cfg.Mode)
	}
	sa := &SA{
		spi:      cfg.SPI,
		mode:     cfg.Mode,
		dir:      cfg.Direction,
		x:        cfg.Transform,
		src:      cfg.Src.Unmap(),
		dst:      cfg.Dst.Unmap(),
		esn:      cfg.ESN,
		tfc:      cfg.TFCPadTo,
		copyDSCP: cfg.CopyDSCP,
		copyDF:   cfg.CopyDF,
		ecn:      cfg.ECN,
		ttl:      cfg.TTL,
		ivLen:    cfg.Transform.IVLen(),
		icvLen:   cfg.Transform.ICVLen(),
		align:    max(cfg.Transform.BlockSize(), 4),
	}
	sa.xTo, _ = cfg.Transform.(transform.OpenerTo)
	if sa.align&(sa.align-1) != 0 || sa.align > 256 {
		return nil, fmt.Errorf("esp: transform block size %d is not a power of two", sa.align)
	}
	if sa.ttl == 0 {
		sa.ttl = defaultTTL
	}
	if cfg.UDP != nil {
		sa.udp, sa.sport, sa.dport = true, cfg.UDP.SrcPort, cfg.UDP.DstPort
	}
	if sa.tfc < 0 || sa.tfc > 65535 {
		return nil, fmt.Errorf("esp: TFC padding size %d", sa.tfc)
	}
	if cfg.Direction == ipsec.Outbound && cfg.Mode == ipsec.ModeTunnel {
		if !sa.src.IsValid() || !sa.dst.IsValid() || sa.src.Is4() != sa.dst.Is4() {
			return nil, fmt.Errorf("esp: tunnel endpoints %v -> %v are not of one family", cfg.Src, cfg.Dst)
		}
		sa.outer6 = sa.src.Is6()
		sa.outer.Store(sa.outerHeader(sa.src, sa.dst))
	}
	sa.seq.Init(cfg.ESN, cfg.SoftSeqLimit)
	if cfg.Direction == ipsec.Inbound {
		w, err := replay.New(cfg.ReplayWindow, cfg.ESN)
		if err != nil {
			return nil, fmt.Errorf("esp: replay window: %w", err)
		}
		sa.win = w
	}
	return sa, nil
}

// outerHeader is a tunnel-mode SA's outer IP header template; sum is the
// checksum sum of its constant IPv4 words.
type outerHeader struct {
	b   [packet.IPv6HeaderLen]byte
	sum uint64
}

func (sa *SA) outerHeader(src, dst netip.Addr) *outerHeader {
	oh := &outerHeader{}
	proto := uint8(packet.ProtoESP)
	if sa.udp {
		proto = packet.ProtoUDP
	}
	if sa.outer6 {
		h := packet.IPv6Header{NextHeader: proto, HopLimit: sa.ttl, Src: src, Dst: dst}
		h.Put(oh.b[:])
	} else {
		h := packet.IPv4Header{TTL: sa.ttl, Protocol: proto, Src: src, Dst: dst}
		h.Put(oh.b[:])
		oh.b[10], oh.b[11] = 0, 0
		oh.sum = packet.Sum(oh.b[:packet.IPv4HeaderLen], 0)
	}
	return oh
}

// SetEndpoints moves an outbound tunnel-mode SA's outer header to new
// tunnel endpoints (MOBIKE, RFC 4555): packets sealed from now on carry
// them; keys and sequence numbers stay. The address family cannot change.
// Other SAs have no outer header of their own and are left alone.
func (sa *SA) SetEndpoints(src, dst netip.Addr) error {
	if sa.dir != ipsec.Outbound || sa.mode != ipsec.ModeTunnel {
		return nil
	}
	src, dst = src.Unmap(), dst.Unmap()
	if !src.IsValid() || !dst.IsValid() || src.Is6() != sa.outer6 || dst.Is6() != sa.outer6 {
		return fmt.Errorf("esp: SA %08x: cannot move tunnel endpoints %v -> %v to %v -> %v (another address family)", sa.spi, sa.src, sa.dst, src, dst)
	}
	sa.outer.Store(sa.outerHeader(src, dst))
	return nil
}

// SPI returns the SA's SPI.
func (sa *SA) SPI() uint32 { return sa.spi }

// Overhead returns the head room Seal needs in front of the inner packet and
// the most tail room it needs after it (TFC padding, ESP padding, trailer and
// ICV), so the data plane can lay out its buffers once.
func (sa *SA) Overhead() (head, tail int) {
	head = espHeaderLen + sa.ivLen
	if sa.udp {
		head += udpHeaderLen
	}
	if sa.mode == ipsec.ModeTunnel {
		if sa.outer6 {
			head += packet.IPv6HeaderLen
		} else {
			head += packet.IPv4HeaderLen
		}
	}
	tail = sa.align - 1 + trailerLen + sa.icvLen
	if sa.mode == ipsec.ModeTunnel {
		tail += sa.tfc
	}
	return head, tail
}

// SeqUsed returns the last outbound sequence number used, 0 before the
// first packet.
func (sa *SA) SeqUsed() uint64 { return sa.seq.Used() }

// SetSeq sets the last outbound sequence number used, so the next packet
// carries seq+1. It is for tests and for restoring state; it never lets the
// counter go backwards.
func (sa *SA) SetSeq(seq uint64) { sa.seq.Set(seq) }

// NeedsRekey reports that the outbound sequence numbers are running out
// (the soft limit is reached): IKE should rekey the Child SA now.
func (sa *SA) NeedsRekey() bool { return sa.seq.NeedsRekey() }

// ReplayWindow returns the inbound anti-replay window, nil for outbound SAs.
func (sa *SA) ReplayWindow() *replay.Window { return sa.win }

// Wipe zeroes the keys of the SA's transform; the SA is unusable
// afterwards. The SAD calls it when it deletes the SA.
func (sa *SA) Wipe() {
	sa.wiped.Store(true)
	sa.x.Wipe()
}
