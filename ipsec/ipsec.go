// Package ipsec holds the small vocabulary that the SAD, the SPD, the ESP and AH
// engines and the IKE daemon share: security protocols, modes and directions.
package ipsec

import "fmt"

// Protocol is an IPsec security protocol, numbered as in the IP protocol
// registry (RFC 4303, RFC 4302).
type Protocol uint8

// The two IPsec security protocols.
const (
	ProtoESP Protocol = 50
	ProtoAH  Protocol = 51
)

func (p Protocol) String() string {
	switch p {
	case ProtoESP:
		return "ESP"
	case ProtoAH:
		return "AH"
	}
	return fmt.Sprintf("protocol(%d)", uint8(p))
}

// Mode is the IPsec mode of an SA (RFC 4301 section 4.1).
type Mode uint8

// Tunnel mode wraps the whole inner IP packet; transport mode protects only
// the payload of the original packet and keeps its IP header.
const (
	ModeTunnel Mode = iota
	ModeTransport
)

func (m Mode) String() string {
	switch m {
	case ModeTunnel:
		return "TUNNEL"
	case ModeTransport:
		return "TRANSPORT"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// Direction says which way traffic crosses the IPsec boundary (RFC 4301 section 4.4.1).
type Direction uint8

// Outbound traffic leaves the protected side; inbound traffic arrives from the peer.
const (
	Outbound Direction = iota
	Inbound
)

func (d Direction) String() string {
	if d == Inbound {
		return "in"
	}
	return "out"
}
