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
