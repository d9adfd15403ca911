package ah

import (
	"fmt"

	"github.com/cygnet-ipsec/cygnet/packet"
)

// The scratch area that keeps the original octets of the fields rewritten
// for the ICV computation. The fixed IPv4/IPv6 header fields and the ICV
// take under 100 octets; the rest is room for mutable option data. A packet
// needing more is refused with ErrUnsupportedHeader rather than copied.
const (
	undoBytes   = 1024
	undoEntries = 64
)

// IPv4 option types (RFC 791 and the IANA registry) that RFC 4302 appendix
// A.1 names.
const (
	optEOL            = 0
	optNOP            = 1
	optSecurity       = 130
	optLSRR           = 131
	optExtSecurity    = 133
	optCommercialSec  = 134
	optSSRR           = 137
	optRouterAlert    = 148
	optSenderDirected = 149
)

// IPv6 routing header types whose processing at the destination AH can
// predict.
const (
	routingType0   = 0 // RFC 2460, deprecated by RFC 5095 but still specified for AH
	routingType2   = 2 // RFC 6275 (Mobile IPv6)
	routingTypeSRH = 4 // RFC 8754 (Segment Routing Header)
)

var errTooMuchMutable = fmt.Errorf("%w: more than %d octets or %d fields of mutable header data",
	ErrUnsupportedHeader, undoBytes, undoEntries)

// undoEntry is one saved range of the packet.
type undoEntry struct{ off, n int32 }

// undoLog keeps the original octets of every range rewritten for the ICV
// computation, to put them back afterwards.
type undoLog struct {
	buf  [undoBytes]byte
	used int
	ents [undoEntries]undoEntry
	n    int
}

// rotation is the in-place rearrangement of a type 0 or type 2 routing
// header: the destination address and the addresses still to be visited,
// rotated by one, as RFC 4302 appendix A.2 asks. It is undone by the
// inverse rotation, so the (up to 127) addresses are never saved.
type rotation struct {
	active      bool
	first, last int // offsets of the first and last address rotated
}

// scratch is the per-call state of an ICV computation; SAs pool them.
type scratch struct {
	parts    [1][]byte
	icv      [maxICVLen]byte // the received ICV while the field is zeroed
	undo     undoLog
	rot      rotation
	dstMoved bool // the destination address was set to its final value
}

// begin starts a computation with an empty log.
func (st *scratch) begin() {
	st.undo.used, st.undo.n = 0, 0
	st.rot.active = false
	st.dstMoved = false
}

// save records pkt[off:off+n] so that restore can put it back.
func (st *scratch) save(pkt []byte, off, n int) error {
	u := &st.undo
	if u.n == undoEntries || u.used+n > undoBytes {
		return errTooMuchMutable
	}
	copy(u.buf[u.used:], pkt[off:off+n])
	u.used += n
	u.ents[u.n] = undoEntry{int32(off), int32(n)}
	u.n++
	return nil
}

// zero saves and clears pkt[off:off+n].
func (st *scratch) zero(pkt []byte, off, n int) error {
	if n == 0 {
		return nil
	}
	if err := st.save(pkt, off, n); err != nil {
		return err
	}
	clear(pkt[off : off+n])
	return nil
}

// restore puts back everything rewritten since begin, newest first.
func (st *scratch) restore(pkt []byte) {
	if st.rot.active {
		st.rot.undo(pkt)
		st.rot.active = false
	}
	u := &st.undo
	for i := u.n - 1; i >= 0; i-- {
		e := u.ents[i]
		u.used -= int(e.n)
		copy(pkt[e.off:e.off+e.n], u.buf[u.used:u.used+int(e.n)])
	}
	u.n = 0
	st.dstMoved = false
}

// ipv6Dst is where the destination address sits in the IPv6 header.
const ipv6Dst = 24

func (r *rotation) apply(pkt []byte) {
	var tmp [16]byte
	copy(tmp[:], pkt[r.last:r.last+16])
	copy(pkt[r.first+16:r.last+16], pkt[r.first:r.last])
	copy(pkt[r.first:r.first+16], pkt[ipv6Dst:ipv6Dst+16])
	copy(pkt[ipv6Dst:ipv6Dst+16], tmp[:])
}

func (r *rotation) undo(pkt []byte) {
	var tmp [16]byte
	copy(tmp[:], pkt[ipv6Dst:ipv6Dst+16])
	copy(pkt[ipv6Dst:ipv6Dst+16], pkt[r.first:r.first+16])
	copy(pkt[r.first:r.last], pkt[r.first+16:r.last+16])
	copy(pkt[r.last:r.last+16], tmp[:])
}

// canonicalize rewrites the IP header and the headers before AH (which
// starts at ahOff) in place to the form the ICV covers: mutable fields
// zeroed, predictable ones set to their values at the destination. The
// caller has called begin and calls restore afterwards; on error restore
// has already run.
func (st *scratch) canonicalize(pkt []byte, ahOff int) error {
	var err error
	if packet.Version(pkt) == 4 {
		err = st.canonicalize4(pkt, ahOff)
	} else {
		err = st.canonicalize6(pkt, ahOff)
	}
	if err != nil {
		st.restore(pkt)
	}
	return err
}

// canonicalize4 handles the IPv4 header of length hl (RFC 4302 3.3.3.1.1
// and appendix A.1). Options are taken as a unit: a mutable option is
// zeroed whole, type and length included.
func (st *scratch) canonicalize4(pkt []byte, hl int) error {
	// TOS, flags and fragment offset, TTL, header checksum.
	for _, f := range [...]struct{ off, n int }{{1, 1}, {6, 2}, {8, 1}, {10, 2}} {
		if err := st.zero(pkt, f.off, f.n); err != nil {
			return err
		}
	}
	srcRoute := false
	for i := packet.IPv4HeaderLen; i < hl; {
		t := pkt[i]
		if t == optEOL {
			break
		}
		if t == optNOP {
			i++
			continue
		}
		if i+2 > hl {
			return fmt.Errorf("%w: IPv4 option %d truncated", ErrMalformed, t)
		}
		l := int(pkt[i+1])
		if l < 2 || i+l > hl {
			return fmt.Errorf("%w: IPv4 option %d with length %d in %d octets", ErrMalformed, t, l, hl-i)
		}
		switch t {
		case optSecurity, optExtSecurity, optCommercialSec, optRouterAlert, optSenderDirected:
			// Immutable: covered as sent.
		case optLSRR, optSSRR:
			if srcRoute {
				return fmt.Errorf("%w: two IPv4 source route options", ErrMalformed)
			}
			srcRoute = true
			if err := st.sourceRoute4(pkt, i, l); err != nil {
				return err
			}
		default:
			// Mutable, experimental or unknown: zeroed.
			if err := st.zero(pkt, i, l); err != nil {
				return err
			}
		}
		i += l
	}
	return nil
}

// sourceRoute4 handles a loose or strict source route option at pkt[i:i+l].
// The option is mutable (zeroed), and it makes the destination address
// mutable but predictable: while the route is not complete the packet will
// arrive carrying the last address of the route as its destination.
func (st *scratch) sourceRoute4(pkt []byte, i, l int) error {
	if l < 3 || (l-3)%4 != 0 {
		return fmt.Errorf("%w: IPv4 source route option of length %d", ErrMalformed, l)
	}
	ptr := int(pkt[i+2])
	if ptr < 4 {
		return fmt.Errorf("%w: IPv4 source route pointer %d", ErrMalformed, ptr)
	}
	if ptr <= l && l >= 7 {
		if err := st.save(pkt, 16, 4); err != nil {
			return err
		}
		copy(pkt[16:20], pkt[i+l-4:i+l])
	}
	return st.zero(pkt, i, l)
}

// canonicalize6 handles the IPv6 header and the extension headers before
// AH (RFC 4302 3.3.3.1.2 and appendix A.2).
func (st *scratch) canonicalize6(pkt []byte, ahOff int) error {
	// Traffic class and flow label (the version nibble stays), hop limit.
	if err := st.save(pkt, 0, 4); err != nil {
		return err
	}
	pkt[0] &= 0xf0
	pkt[1], pkt[2], pkt[3] = 0, 0, 0
	if err := st.zero(pkt, 7, 1); err != nil {
		return err
	}
	next := pkt[6]
	off := packet.IPv6HeaderLen
	for off < ahOff {
		if off+8 > ahOff {
			return fmt.Errorf("%w: IPv6 extension header %d runs into AH", ErrMalformed, next)
		}
		l := (int(pkt[off+1]) + 1) * 8
		if off+l > ahOff {
			return fmt.Errorf("%w: IPv6 extension header %d runs into AH", ErrMalformed, next)
		}
		var err error
		switch next {
		case packet.ProtoHopByHop, packet.ProtoDstOpts:
			err = st.options6(pkt, off+2, off+l)
		case packet.ProtoRouting:
			err = st.routing6(pkt, off, l)
		case packet.ProtoFragment:
			err = fmt.Errorf("%w: fragment (reassemble before AH)", ErrMalformed)
		default:
			err = fmt.Errorf("%w: IPv6 header %d before AH", ErrMalformed, next)
		}
		if err != nil {
			return err
		}
		next = pkt[off]
		off += l
	}
	if off != ahOff || next != packet.ProtoAH {
		return fmt.Errorf("%w: IPv6 header chain does not lead to AH", ErrMalformed)
	}
	return nil
}

// options6 zeroes the data of the options in pkt[start:end] (a hop-by-hop or
// destination options header) whose type has the "may change en route" bit;
// type and length stay covered.
func (st *scratch) options6(pkt []byte, start, end int) error {
	for i := start; i < end; {
		t := pkt[i]
		if t == 0 { // Pad1
			i++
			continue
		}
		if i+2 > end {
			return fmt.Errorf("%w: IPv6 option %#x truncated", ErrMalformed, t)
		}
		dl := int(pkt[i+1])
		if i+2+dl > end {
			return fmt.Errorf("%w: IPv6 option %#x with %d octets of data in %d", ErrMalformed, t, dl, end-i-2)
		}
		if t&0x20 != 0 {
			if err := st.zero(pkt, i+2, dl); err != nil {
				return err
			}
		}
		i += 2 + dl
	}
	return nil
}

// routing6 sets the routing header at pkt[off:off+l] and the destination
// address to the values they will have at the final destination.
func (st *scratch) routing6(pkt []byte, off, l int) error {
	typ, sl := pkt[off+2], int(pkt[off+3])
	if typ == routingTypeSRH {
		return st.srh(pkt, off, l, sl)
	}
	if sl == 0 {
		// Nothing left to visit: the header arrives as it is.
		return nil
	}
	if st.dstMoved {
		return fmt.Errorf("%w: two IPv6 routing headers with segments left", ErrUnsupportedHeader)
	}
	switch typ {
	case routingType0, routingType2:
	default:
		return fmt.Errorf("%w: IPv6 routing header type %d with %d segments left", ErrUnsupportedHeader, typ, sl)
	}
	hel := int(pkt[off+1])
	n := hel / 2
	if hel%2 != 0 || (typ == routingType2 && n != 1) {
		return fmt.Errorf("%w: IPv6 routing header type %d of length %d", ErrMalformed, typ, hel)
	}
	if sl > n {
		return fmt.Errorf("%w: IPv6 routing header with %d segments left of %d", ErrMalformed, sl, n)
	}
	// Each hop swaps the destination with the next address; at the end
	// the destination is the last address and the others have moved one
	// place on.
	if err := st.zero(pkt, off+3, 1); err != nil {
		return err
	}
	st.rot = rotation{active: true, first: off + 8 + 16*(n-sl), last: off + 8 + 16*(n-1)}
	st.rot.apply(pkt)
	st.dstMoved = true
	return nil
}

// srh handles a Segment Routing Header (RFC 8754): at the destination the
// destination address is Segment List[0] and segments left is 0; the list
// itself does not change. TLVs whose type has the high bit may change en
// route and have their data zeroed.
func (st *scratch) srh(pkt []byte, off, l, sl int) error {
	lastEntry := int(pkt[off+4])
	segEnd := off + 8 + 16*(lastEntry+1)
	if segEnd > off+l {
		return fmt.Errorf("%w: segment routing header with %d segments in %d octets", ErrMalformed, lastEntry+1, l)
	}
	if sl > lastEntry+1 {
		return fmt.Errorf("%w: segment routing header with %d segments left of %d", ErrMalformed, sl, lastEntry+1)
	}
	if sl > 0 {
		if st.dstMoved {
			return fmt.Errorf("%w: two IPv6 routing headers with segments left", ErrUnsupportedHeader)
		}
		if err := st.save(pkt, ipv6Dst, 16); err != nil {
			return err
		}
		copy(pkt[ipv6Dst:ipv6Dst+16], pkt[off+8:off+24])
		if err := st.zero(pkt, off+3, 1); err != nil {
			return err
		}
		st.dstMoved = true
	}
	end := off + l
	for i := segEnd; i < end; {
		t := pkt[i]
		if t == 0 { // Pad1
			i++
			continue
		}
		if i+2 > end {
			return fmt.Errorf("%w: SRH TLV %d truncated", ErrMalformed, t)
		}
		dl := int(pkt[i+1])
		if i+2+dl > end {
			return fmt.Errorf("%w: SRH TLV %d with %d octets of data in %d", ErrMalformed, t, dl, end-i-2)
		}
		if t&0x80 != 0 {
			if err := st.zero(pkt, i+2, dl); err != nil {
				return err
			}
		}
		i += 2 + dl
	}
	return nil
}

// findAH6 walks the IPv6 extension header chain to the AH header and
// returns its offset and the offset of the next-header octet naming it.
func findAH6(pkt []byte) (ahOff, nextAt int, err error) {
	next, nextAt, off := pkt[6], 6, packet.IPv6HeaderLen
	// A chain longer than this is an attack, not a packet.
	for range 16 {
		switch next {
		case packet.ProtoAH:
			return off, nextAt, nil
		case packet.ProtoHopByHop, packet.ProtoDstOpts, packet.ProtoRouting:
			if off+8 > len(pkt) {
				return 0, 0, fmt.Errorf("%w: IPv6 extension header %d truncated", ErrMalformed, next)
			}
			nextAt, next = off, pkt[off]
			off += (int(pkt[off+1]) + 1) * 8
		case packet.ProtoFragment:
			return 0, 0, fmt.Errorf("%w: fragment (reassemble before AH)", ErrMalformed)
		default:
			return 0, 0, fmt.Errorf("%w: protocol %d is not AH", ErrMalformed, next)
		}
	}
	return 0, 0, fmt.Errorf("%w: IPv6 extension header chain too long", ErrMalformed)
}
