package ah

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/replay"
	"github.com/cygnet-ipsec/cygnet/transform"
)

const (
	// headerLen is the fixed part of the AH header: next header, payload
	// length, reserved, SPI, sequence number.
	headerLen = 12
	// maxICVLen bounds the ICV length of a transform the SA accepts.
	maxICVLen = 64
	// defaultTTL is the outer IPv4 TTL / IPv6 hop limit in tunnel mode.
	defaultTTL = 64
)

// Config describes one direction of an AH SA.
type Config struct {
	// SPI is the Security Parameters Index the receiver chose.
	SPI uint32
	// Mode is tunnel or transport.
	Mode ipsec.Mode
	// Direction: Outbound SAs seal, Inbound SAs open.
	Direction ipsec.Direction
	// Integrity is the SA's keyed algorithm (transform.NewIntegrity). The
	// SA owns it from now on and wipes it in Wipe.
	Integrity transform.Integrity
	// Src and Dst are the tunnel endpoints of the outer header (tunnel
	// mode, outbound); both IPv4 or both IPv6. Inbound SAs ignore them.
	Src, Dst netip.Addr
	// ESN enables 64-bit extended sequence numbers.
	ESN bool
	// ReplayWindow is the inbound anti-replay window in packets (at least
	// 32, default 64 in RFC 4302); 0 disables replay protection.
	ReplayWindow int
	// CopyDSCP copies the DSCP from the inner to the outer header on
	// encapsulation and from the outer to the inner one on decapsulation
	// (the uniform model of RFC 2983); off, the outer DSCP is 0 and the
	// inner one is left alone (the pipe model). The outer TOS / traffic
	// class is not covered by the ICV either way.
	CopyDSCP bool
	// CopyDF sets DF in the outer IPv4 header of tunnel mode when the inner
	// IPv4 packet has it (swanctl's copy_df), as ESP does; the flags are
	// mutable, outside the ICV (RFC 4302 section 3.3.3.1.1.1).
	CopyDF bool
	// ECN is the RFC 6040 mode for tunnel mode.
	ECN packet.ECNMode
	// SoftSeqLimit is the outbound sequence number at which NeedsRekey
	// turns true, so IKE can rekey before ErrSequenceExhausted; 0 means
	// 2^32 - 2^24 without ESN and 2^63 with.
	SoftSeqLimit uint64
	// TTL is the outer TTL / hop limit in tunnel mode; 0 means 64.
	TTL uint8
}

// SA is one direction of an AH Security Association.
type SA struct {
	spi      uint32
	mode     ipsec.Mode
	dir      ipsec.Direction
	x        transform.Integrity
	src, dst netip.Addr
	outer6   bool
	esn      bool
	copyDSCP bool
	copyDF   bool
	ecn      packet.ECNMode
	ttl      uint8
	icvLen   int
	len4     int // AH header length over IPv4: ICV padded to 4 octets
	len6     int // AH header length over IPv6: ICV padded to 8 octets
	win      *replay.Window
	scratch  sync.Pool

	seq   ipsec.SequenceCounter // outbound
	ipID  atomic.Uint32
	wiped atomic.Bool
}

// New builds an SA from its configuration.
func New(cfg Config) (*SA, error) {
	if cfg.Integrity == nil {
		return nil, errors.New("ah: SA without integrity algorithm")
	}
	if cfg.Mode != ipsec.ModeTunnel && cfg.Mode != ipsec.ModeTransport {
		return nil, fmt.Errorf("ah: unknown mode %v", cfg.Mode)
	}
	if cfg.Direction != ipsec.Outbound && cfg.Direction != ipsec.Inbound {
		return nil, fmt.Errorf("ah: unknown direction %v", cfg.Direction)
	}
	icvLen := cfg.Integrity.ICVLen()
	if icvLen <= 0 || icvLen > maxICVLen {
		return nil, fmt.Errorf("ah: %s: ICV of %d octets", cfg.Integrity.Name(), icvLen)
	}
	sa := &SA{
		spi:      cfg.SPI,
		mode:     cfg.Mode,
		dir:      cfg.Direction,
		x:        cfg.Integrity,
		src:      cfg.Src.Unmap(),
		dst:      cfg.Dst.Unmap(),
		esn:      cfg.ESN,
		copyDSCP: cfg.CopyDSCP,
		copyDF:   cfg.CopyDF,
		ecn:      cfg.ECN,
		ttl:      cfg.TTL,
		icvLen:   icvLen,
		len4:     align(headerLen+icvLen, 4),
		len6:     align(headerLen+icvLen, 8),
	}
	sa.scratch.New = func() any { return new(scratch) }
	if sa.ttl == 0 {
		sa.ttl = defaultTTL
	}
	if cfg.Direction == ipsec.Outbound && cfg.Mode == ipsec.ModeTunnel {
		if !sa.src.IsValid() || !sa.dst.IsValid() || sa.src.Is4() != sa.dst.Is4() {
			return nil, fmt.Errorf("ah: tunnel endpoints %v -> %v are not of one family", cfg.Src, cfg.Dst)
		}
		sa.outer6 = sa.src.Is6()
	}
	sa.seq.Init(cfg.ESN, cfg.SoftSeqLimit)
	if cfg.Direction == ipsec.Inbound {
		w, err := replay.New(cfg.ReplayWindow, cfg.ESN)
		if err != nil {
			return nil, fmt.Errorf("ah: replay window: %w", err)
		}
		sa.win = w
	}
	return sa, nil
}

func align(n, to int) int { return (n + to - 1) / to * to }

// SPI returns the SA's SPI.
func (sa *SA) SPI() uint32 { return sa.spi }

// Mode returns the SA's mode.
func (sa *SA) Mode() ipsec.Mode { return sa.mode }

// HeaderLen returns the length of the AH header, ICV and padding included,
// over IPv4 (ipVersion 4) or IPv6 (6): RFC 4302 section 2.6 pads the ICV
// to a multiple of 4 and 8 octets respectively.
func (sa *SA) HeaderLen(ipVersion int) int {
	if ipVersion == 6 {
		return sa.len6
	}
	return sa.len4
}

// Overhead returns the head room Seal needs in front of the inner packet
// (the AH header and, in tunnel mode, the outer IP header) and the tail room
// after it, which is always 0 for AH. In transport mode the head room is
// the larger IPv6 value, so one layout fits both families.
func (sa *SA) Overhead() (head, tail int) {
	if sa.mode == ipsec.ModeTunnel {
		if sa.outer6 {
			return packet.IPv6HeaderLen + sa.len6, 0
		}
		return packet.IPv4HeaderLen + sa.len4, 0
	}
	return max(sa.len4, sa.len6), 0
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

// Wipe zeroes the keys of the SA's integrity algorithm; the SA is unusable
// afterwards (Seal and Open return transform.ErrWiped). The SAD calls it
// when it deletes the SA.
func (sa *SA) Wipe() {
	sa.wiped.Store(true)
	sa.x.Wipe()
}

// icv computes (seal) or verifies (open) the ICV of pkt, whose AH header
// starts at ahOff, over its immutable and predictable fields. The packet is
// rewritten in place for the computation and restored before it returns.
// On open the ICV field is zeroed for the computation and compared with the
// received value; on seal the field must already be zero and receives the
// ICV.
func (sa *SA) icv(pkt []byte, ahOff int, seq uint64, open bool) error {
	st := sa.scratch.Get().(*scratch)
	defer sa.scratch.Put(st)
	st.begin()
	icvAt := ahOff + headerLen
	field := pkt[icvAt : icvAt+sa.icvLen]
	if open {
		copy(st.icv[:sa.icvLen], field)
		if err := st.zero(pkt, icvAt, sa.icvLen); err != nil {
			return err
		}
	}
	if err := st.canonicalize(pkt, ahOff); err != nil {
		return err
	}
	st.parts[0] = pkt
	var err error
	if open {
		err = sa.x.Verify(st.icv[:sa.icvLen], seq, sa.esn, st.parts[:]...)
	} else {
		err = sa.x.Sum(field, seq, sa.esn, st.parts[:]...)
	}
	st.parts[0] = nil
	st.restore(pkt)
	return err
}
