package esp

// UDPKind classifies the payload of a datagram received on the IKE NAT-T
// port (UDP 4500), RFC 3948 section 2.
type UDPKind uint8

const (
	// UDPInvalid is too short to be anything.
	UDPInvalid UDPKind = iota
	// UDPKeepalive is a NAT-keepalive: the single octet 0xFF; ignore it.
	UDPKeepalive
	// UDPIKE starts with the four-zero-octet non-ESP marker: an IKE
	// message follows the marker.
	UDPIKE
	// UDPESP is an ESP packet (non-zero SPI first).
	UDPESP
)

// String names the kind.
func (k UDPKind) String() string {
	switch k {
	case UDPKeepalive:
		return "NAT-keepalive"
	case UDPIKE:
		return "IKE"
	case UDPESP:
		return "ESP"
	}
	return "invalid"
}

// ClassifyUDP tells what a UDP/4500 payload carries.
func ClassifyUDP(payload []byte) UDPKind {
	if len(payload) == 1 && payload[0] == 0xff {
		return UDPKeepalive
	}
	if len(payload) < 4 {
		return UDPInvalid
	}
	if payload[0]|payload[1]|payload[2]|payload[3] == 0 {
		return UDPIKE
	}
	if len(payload) < espHeaderLen {
		return UDPInvalid
	}
	return UDPESP
}
