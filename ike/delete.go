package ike

import (
	"encoding/binary"
	"fmt"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/ipsec"
)

// deleteIKE tells the peer the IKE SA (and with it every Child SA) is gone,
// then removes it (RFC 7296 1.4.1).
func (sa *IKESA) deleteIKE(reason string) {
	if sa.state != stateEstablished {
		sa.destroy(reason)
		return
	}
	sa.state = stateDeleting
	sa.queue = nil
	if sa.pending != nil {
		// The window is busy; deleting must not wait behind it.
		sa.pending = nil
	}
	err := sa.sendRequest(wire.INFORMATIONAL, []wire.Payload{&wire.Delete{Protocol: wire.ProtocolIKE}},
		func(*wire.Message, []wire.Payload) error { sa.destroy(reason); return nil },
		func(string) {})
	if err != nil {
		sa.destroy(reason)
	}
}

// deleteChild asks the peer to delete a Child SA; both directions go when
// the peer answers with its own SPI (RFC 7296 1.4.1).
func (sa *IKESA) deleteChild(c *ChildSA, reason string) {
	c.state = childDeleting
	d := &wire.Delete{Protocol: protocolID(c.Protocol), SPISize: 4, SPIs: [][]byte{spiBytes(c.SPIIn)}}
	err := sa.sendRequest(wire.INFORMATIONAL, []wire.Payload{d}, func(*wire.Message, []wire.Payload) error {
		sa.uninstallChild(c, reason)
		sa.removeChild(c)
		return nil
	}, nil)
	if err != nil {
		sa.log.Warn("sending DELETE failed", "err", err)
	}
}

func protocolID(p ipsec.Protocol) wire.ProtocolID {
	if p == ipsec.ProtoAH {
		return wire.ProtocolAH
	}
	return wire.ProtocolESP
}

// handleInformational answers DELETE, liveness checks and notifications.
func (sa *IKESA) handleInformational(msg *wire.Message, payloads, reply []wire.Payload) {
	if findNotify(payloads, wire.AUTHENTICATION_FAILED) != nil && !sa.Initiator {
		// The initiator refused our authentication after we answered its
		// IKE_AUTH (RFC 7296 2.21.2): the SA never was mutually
		// authenticated.
		sa.log.Warn(fmt.Sprintf("AUTHENTICATION_FAILED: peer %s rejected our authentication as %s", sa.Remote, sa.LocalID))
		sa.respond(wire.INFORMATIONAL, msg.MessageID, nil)
		sa.destroy("peer rejected our authentication")
		return
	}
	var closed []*ChildSA // deleted by the peer while installed: close_action applies
	for _, p := range payloads {
		d, ok := p.(*wire.Delete)
		if !ok {
			continue
		}
		switch d.Protocol {
		case wire.ProtocolIKE:
			if sa.rekeyedIKEDeleted(msg.MessageID) {
				return
			}
			sa.respond(wire.INFORMATIONAL, msg.MessageID, nil)
			sa.closedByPeer()
			return
		case wire.ProtocolESP, wire.ProtocolAH:
			var ours [][]byte
			for _, spi := range d.SPIs {
				if len(spi) != 4 {
					continue
				}
				out := binary.BigEndian.Uint32(spi)
				for _, c := range sa.children {
					if c.SPIOut == out && protocolID(c.Protocol) == d.Protocol {
						if spi, ok := sa.rekeyedDeletedByPeer(c); ok {
							if spi != nil {
								ours = append(ours, spi)
							}
							break
						}
						if c.state != childDeleting {
							ours = append(ours, spiBytes(c.SPIIn))
						}
						if c.state == childInstalled {
							closed = append(closed, c)
						}
						sa.uninstallChild(c, "deleted by peer")
						sa.removeChild(c)
						break
					}
				}
			}
			if len(ours) > 0 {
				reply = append(reply, &wire.Delete{Protocol: d.Protocol, SPISize: 4, SPIs: ours})
			}
		}
	}
	sa.respond(wire.INFORMATIONAL, msg.MessageID, reply)
	for _, c := range closed {
		sa.childClosedByPeer(c)
	}
}
