package packet

import (
	"errors"
	"fmt"
)

// ErrECNDrop means RFC 6040 decapsulation requires the drop: the outer header
// says CE and the inner packet is not ECN-capable.
var ErrECNDrop = errors.New("ECN decapsulation drop (CE on Not-ECT inner)")

// TunnelInner checks the inner packet of a tunnel-mode ESP or AH payload,
// whose next header said IP version want (4 or 6), cuts it to the length it
// claims (which strips ESP TFC padding), and applies RFC 6040 ECN
// decapsulation and, with copyDSCP, the outer DSCP. Errors other than
// ErrECNDrop mean the inner packet is malformed.
func TunnelInner(data []byte, want int, outerTC uint8, copyDSCP bool) ([]byte, error) {
	if Version(data) != want {
		return nil, fmt.Errorf("next header says IPv%d but the inner packet is version %d", want, Version(data))
	}
	tl, err := TotalLen(data)
	if err != nil {
		return nil, fmt.Errorf("inner packet: %w", err)
	}
	minLen := IPv4HeaderLen
	if want == 6 {
		minLen = IPv6HeaderLen
	}
	if tl < minLen || tl > len(data) {
		return nil, fmt.Errorf("inner packet claims %d octets, payload has %d", tl, len(data))
	}
	inner := data[:tl]
	innerTC := TrafficClass(inner)
	ecn, drop := ECNDecapsulate(innerTC&0x03, outerTC&0x03)
	if drop {
		return nil, ErrECNDrop
	}
	tc := innerTC&^0x03 | ecn
	if copyDSCP {
		tc = outerTC&^0x03 | ecn
	}
	if tc != innerTC {
		SetTrafficClass(inner, tc)
	}
	return inner, nil
}
