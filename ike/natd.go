package ike

import (
	"bytes"
	"net/netip"

	ikecrypto "github.com/cygnet-ipsec/cygnet/ike/crypto"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// natPort is where IKE moves, and ESP is encapsulated, once a NAT is found
// (RFC 3948, RFC 7296 2.23).
const natPort = 4500

// natdPayloads returns our NAT_DETECTION_SOURCE_IP and
// NAT_DETECTION_DESTINATION_IP notifications. With fake set the source hash is
// random, so the peer sees a NAT and both sides encapsulate ESP in UDP: that is
// how swanctl's encap = yes works, and what RFC 7296 2.23 permits.
func (sa *IKESA) natdPayloads(fake bool) ([]wire.Payload, error) {
	src := ikecrypto.NATDetectionHash(sa.SPIi, sa.SPIr, sa.Local.Addr(), sa.Local.Port())
	if fake {
		if _, err := sa.m.rand.Read(src[:]); err != nil {
			return nil, err
		}
	}
	dst := ikecrypto.NATDetectionHash(sa.SPIi, sa.SPIr, sa.Remote.Addr(), sa.Remote.Port())
	return []wire.Payload{
		&wire.Notify{NotifyType: wire.NAT_DETECTION_SOURCE_IP, Data: src[:]},
		&wire.Notify{NotifyType: wire.NAT_DETECTION_DESTINATION_IP, Data: dst[:]},
	}, nil
}

// detectNAT compares the peer's NAT-D hashes with what the addresses we see
// give. It returns false, false when the peer sent none (no NAT-T support).
// spiR is zero in the hashes of an IKE_SA_INIT request.
func detectNAT(payloads []wire.Payload, spiI, spiR uint64, local, remote netip.AddrPort) (natLocal, natRemote, present bool) {
	wantLocal := ikecrypto.NATDetectionHash(spiI, spiR, local.Addr(), local.Port())
	wantRemote := ikecrypto.NATDetectionHash(spiI, spiR, remote.Addr(), remote.Port())
	natLocal, natRemote = true, true
	var sawSrc, sawDst bool
	for _, p := range payloads {
		n, ok := p.(*wire.Notify)
		if !ok {
			continue
		}
		switch n.NotifyType {
		case wire.NAT_DETECTION_SOURCE_IP:
			sawSrc = true
			if bytes.Equal(n.Data, wantRemote[:]) {
				natRemote = false
			}
		case wire.NAT_DETECTION_DESTINATION_IP:
			sawDst = true
			if bytes.Equal(n.Data, wantLocal[:]) {
				natLocal = false
			}
		}
	}
	if !sawSrc || !sawDst {
		return false, false, false
	}
	return natLocal, natRemote, true
}

// floatToNATPort moves IKE to port 4500 after NAT-D found a NAT (or encap is
// forced): both ends switch for IKE_AUTH and all later messages.
func (sa *IKESA) floatToNATPort() {
	if sa.Remote.Port() == 500 {
		sa.Remote = netip.AddrPortFrom(sa.Remote.Addr(), natPort)
	}
	if sa.Local.Port() == 500 {
		sa.Local = netip.AddrPortFrom(sa.Local.Addr(), natPort)
	}
}

// UDPEncap reports whether ESP of this IKE SA's Child SAs is UDP-encapsulated.
func (sa *IKESA) UDPEncap() bool { return sa.NATLocal || sa.NATRemote }
