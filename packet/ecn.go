package packet

// ECN codepoints in the low two bits of the TOS / Traffic Class octet (RFC 3168).
const (
	NotECT = 0b00
	ECT1   = 0b01
	ECT0   = 0b10
	CE     = 0b11
)

// ECNEncapsulate gives the outer ECN field for a tunnel-mode packet whose inner
// field is inner: RFC 6040 normal mode copies it, CE included, so congestion
// marks survive the tunnel.
func ECNEncapsulate(inner uint8) uint8 { return inner & 0b11 }

// ECNDecapsulate combines the inner and outer ECN fields at the tunnel egress
// (RFC 6040 section 4.2, figure 4). It returns the ECN field for the forwarded
// inner packet; drop is true when the outer header says CE but the inner packet
// is not ECN-capable, where the only way to signal congestion is a drop.
func ECNDecapsulate(inner, outer uint8) (ecn uint8, drop bool) {
	inner, outer = inner&0b11, outer&0b11
	switch {
	case inner == NotECT:
		return NotECT, outer == CE
	case outer == CE:
		return CE, false
	case inner == ECT0 && outer == ECT1:
		return ECT1, false
	}
	return inner, false
}

// DSCP returns the Differentiated Services codepoint of a TOS / Traffic Class octet.
func DSCP(tc uint8) uint8 { return tc >> 2 }

// ECNMode selects how tunnel mode treats the ECN field (RFC 6040).
type ECNMode uint8

const (
	// ECNNormal is RFC 6040 normal mode: the outer header copies the inner
	// ECN field, and decapsulation combines them per RFC 6040 figure 4.
	ECNNormal ECNMode = iota
	// ECNCompat is RFC 6040 compatibility mode: the outer header is
	// Not-ECT; decapsulation still applies figure 4.
	ECNCompat
	// ECNOff does not propagate ECN at all (swanctl's copy_ecn = no, Linux's
	// XFRM_STATE_NOECN): the outer header is Not-ECT and decapsulation
	// ignores the outer ECN field, leaving the inner one as it was sent.
	ECNOff
)

// OuterTrafficClass is the TOS / Traffic Class octet of a tunnel's outer
// header for an inner packet's innerTC: the DSCP copied when copyDSCP (the
// uniform model of RFC 2983; otherwise 0, the pipe model) and the ECN field
// as the RFC 6040 mode says.
func OuterTrafficClass(innerTC uint8, copyDSCP bool, mode ECNMode) uint8 {
	var tc uint8
	if copyDSCP {
		tc = innerTC &^ 0x03
	}
	if mode == ECNNormal {
		tc |= ECNEncapsulate(innerTC & 0x03)
	}
	return tc
}
