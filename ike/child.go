package ike

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"time"

	ikecrypto "github.com/cygnet-ipsec/cygnet/ike/crypto"
	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/spd"
)

type childState uint8

const (
	childCreating childState = iota + 1
	childInstalled
	childDeleting
	childDeleted
	childRekeyed // replaced by a rekey; lingers so packets in flight decrypt
)

func (s childState) String() string {
	switch s {
	case childCreating:
		return "CREATING"
	case childInstalled:
		return "INSTALLED"
	case childDeleting:
		return "DELETING"
	case childRekeyed:
		return "REKEYED"
	}
	return "DELETED"
}

// ChildSA is a pair of IPsec SAs (one inbound, one outbound) negotiated by an
// IKE SA, with the traffic selectors they protect.
type ChildSA struct {
	Name     string
	UniqueID uint32
	IKE      *IKESA
	Config   *ChildConfig
	state    childState

	Protocol ipsec.Protocol
	Mode     ipsec.Mode
	// SPIIn is ours (the peer sends with it); SPIOut is the peer's.
	SPIIn, SPIOut uint32
	Encr          uint16
	EncrKeyBits   int
	Integ         uint16
	ESN           bool
	Group         uint16 // the PFS key exchange, 0 without
	// AdditionalKEs are the RFC 9370 additional key exchanges run with
	// IKE_FOLLOWUP_KE after the PFS one, in order; none for a Child SA
	// made in IKE_AUTH (RFC 9370 2.2.3: no key exchange there).
	AdditionalKEs []uint16

	// EncrKeyIn, IntegKeyIn, EncrKeyOut and IntegKeyOut are the keys; the
	// Installer copies them into the SAD, after which they are wiped here.
	EncrKeyIn, IntegKeyIn, EncrKeyOut, IntegKeyOut []byte

	LocalTS, RemoteTS []spd.Endpoint
	// Local and Remote are the IKE SA's endpoints; with Encap, ESP goes in
	// UDP between them (RFC 3948).
	Local, Remote netip.AddrPort
	Encap         bool

	Installed          time.Time
	RekeyAt, ExpiresAt time.Time

	// Rekeys is the Child SA this one replaces (rekey or reauthentication):
	// the Installer installs it under the old one's route and policies.
	Rekeys *ChildSA

	rekey        *childRekey // our rekey of this SA, while in flight (rekey.go)
	supersededBy *ChildSA    // the Child SA that replaced this one
	successor    *ChildSA    // installed to replace this one, not sealing yet
	outbound     bool        // the data plane seals with this SA's outbound SA
	adopted      bool        // Rekeys was found by reauthentication, not a rekey
	redundant    bool        // lost a simultaneous rekey; being deleted
	deleteSent   bool        // we sent a DELETE for it
	retireAt     time.Time   // when a replaced SA leaves the SAD
	retryAt      time.Time   // next rekey attempt after a failure
}

// State returns the Child SA's state as strongSwan names it (INSTALLED,
// REKEYING, REKEYED, ...).
func (c *ChildSA) State() string {
	if c.rekey != nil && c.state == childInstalled {
		return "REKEYING"
	}
	return c.state.String()
}

// KeyExchanges returns the key exchange methods of the Child SA: the PFS
// one, then the additional ones (RFC 9370) in order; none without PFS.
func (c *ChildSA) KeyExchanges() []uint16 {
	if c.Group == 0 {
		return nil
	}
	return append([]uint16{c.Group}, c.AdditionalKEs...)
}

func (c *ChildSA) wipeKeys() {
	for _, k := range [][]byte{c.EncrKeyIn, c.IntegKeyIn, c.EncrKeyOut, c.IntegKeyOut} {
		clear(k)
	}
	c.EncrKeyIn, c.IntegKeyIn, c.EncrKeyOut, c.IntegKeyOut = nil, nil, nil, nil
}

// allocSPI reserves a fresh inbound SPI for a Child SA.
func (m *Manager) allocSPI(c *ChildSA) (uint32, error) {
	var b [4]byte
	for range 32 {
		if _, err := io.ReadFull(m.rand, b[:]); err != nil {
			return 0, fmt.Errorf("read random SPI: %w", err)
		}
		spi := binary.BigEndian.Uint32(b[:])
		if spi < 0x100 || m.childSPI[spi] != nil {
			continue // 1-255 are reserved by IANA (RFC 4303 2.1)
		}
		m.childSPI[spi] = c
		m.childByID[c.UniqueID] = c
		return spi, nil
	}
	return 0, fmt.Errorf("no free Child SA SPI")
}

func spiBytes(spi uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, spi)
}

// newChild prepares a Child SA of this IKE SA with an inbound SPI.
func (sa *IKESA) newChild(cc *ChildConfig) (*ChildSA, error) {
	sa.m.nextChildUnique++
	c := &ChildSA{
		Name: cc.Name, UniqueID: sa.m.nextChildUnique, IKE: sa, Config: cc, state: childCreating,
		Protocol: cc.Protocol, Mode: cc.Mode,
	}
	spi, err := sa.m.allocSPI(c)
	if err != nil {
		return nil, err
	}
	c.SPIIn = spi
	return c, nil
}

// childProposals returns the child's proposals as an SA payload with our SPI;
// withKE keeps the KE transforms (CREATE_CHILD_SA with PFS).
func childProposals(cc *ChildConfig, spi uint32, withKE bool) *wire.SA {
	ps := cc.Proposals
	if !withKE {
		ps = withoutKE(ps)
	}
	return proposal.ToWire(ps, spiBytes(spi))
}

// completeChild applies a negotiated proposal, selectors and keys to c and
// installs it. ourNonce and peerNonce are of the exchange that created it;
// initiator says whether we started that exchange.
func (sa *IKESA) completeChild(c *ChildSA, chosen proposal.Proposal, localTS, remoteTS []spd.Endpoint, initiator bool, ni, nr []byte, secrets ...[]byte) error {
	if len(chosen.SPI) != 4 {
		return fmt.Errorf("peer's %v SPI has %d octets", chosen.Protocol, len(chosen.SPI))
	}
	c.SPIOut = binary.BigEndian.Uint32(chosen.SPI)
	neg := transformsOf(chosen)
	c.Encr, c.EncrKeyBits, c.Integ, c.ESN = neg.encr, neg.encrKeyBits, neg.integ, neg.esn
	if len(secrets) > 0 {
		c.Group = neg.group
		c.AdditionalKEs = nonNone(chosen.AdditionalKEs())
		if len(secrets) != 1+len(c.AdditionalKEs) {
			return fmt.Errorf("derive Child SA keys: %d shared secrets for %d additional key exchanges", len(secrets), len(c.AdditionalKEs))
		}
	}
	if chosen.Protocol == wire.ProtocolAH {
		c.Protocol = ipsec.ProtoAH
	} else {
		c.Protocol = ipsec.ProtoESP
	}
	keys, err := sa.keys.DeriveChildSAKeys(ikecrypto.ChildSuite{Encr: c.Encr, EncrKeyBits: c.EncrKeyBits, Integ: c.Integ}, ni, nr, secrets...)
	if err != nil {
		return fmt.Errorf("derive Child SA keys: %w", err)
	}
	defer keys.Wipe()
	ei, ii := keys.InitiatorToResponder()
	er, ir := keys.ResponderToInitiator()
	if initiator {
		c.EncrKeyOut, c.IntegKeyOut, c.EncrKeyIn, c.IntegKeyIn = clone(ei), clone(ii), clone(er), clone(ir)
	} else {
		c.EncrKeyIn, c.IntegKeyIn, c.EncrKeyOut, c.IntegKeyOut = clone(ei), clone(ii), clone(er), clone(ir)
	}
	c.LocalTS, c.RemoteTS = localTS, remoteTS
	c.Local, c.Remote, c.Encap = sa.Local, sa.Remote, sa.UDPEncap()
	now := sa.m.clock.Now()
	c.Installed = now
	sa.setChildLifetimes(c, now)
	sa.adoptReplaced(c)
	if sa.m.installer != nil {
		if err := sa.m.installer.InstallChildSA(c); err != nil {
			c.wipeKeys()
			return fmt.Errorf("install Child SA: %w", err)
		}
	}
	c.wipeKeys()
	c.state = childInstalled
	sa.children = append(sa.children, c)
	sa.log.Info("Child SA installed", "child", c.Name, "spi_in", fmt.Sprintf("%08x", c.SPIIn), "spi_out", fmt.Sprintf("%08x", c.SPIOut),
		"mode", c.Mode, "encap", c.Encap, "local_ts", tsStrings(c.LocalTS), "remote_ts", tsStrings(c.RemoteTS))
	sa.childInstalled(c, initiator)
	return nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func tsStrings(ts []spd.Endpoint) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = FormatTS(t)
	}
	return out
}

// releaseChild frees a Child SA that never got installed.
func (sa *IKESA) releaseChild(c *ChildSA) {
	delete(sa.m.childSPI, c.SPIIn)
	sa.m.forgetChild(c)
	c.state = childDeleted
	c.wipeKeys()
}

// uninstallChild takes a Child SA out of the SAD/SPD.
func (sa *IKESA) uninstallChild(c *ChildSA, reason string) {
	if c.state == childDeleted {
		return
	}
	wasInstalled := c.state == childInstalled || c.state == childDeleting || c.state == childRekeyed
	quiet := wasInstalled && sa.quietGone(c)
	c.state = childDeleted
	delete(sa.m.childSPI, c.SPIIn)
	sa.m.forgetChild(c)
	if wasInstalled {
		if sa.m.installer != nil {
			sa.m.installer.DeleteChildSA(c)
		}
		sa.log.Info("Child SA deleted", "child", c.Name, "spi_in", fmt.Sprintf("%08x", c.SPIIn), "reason", reason)
		if !quiet {
			sa.m.emit(Event{Kind: EventChildDown, IKE: sa, Child: c, Reason: reason})
		}
	}
}

func (sa *IKESA) removeChild(c *ChildSA) {
	for i, x := range sa.children {
		if x == c {
			sa.children = append(sa.children[:i], sa.children[i+1:]...)
			return
		}
	}
}

// negotiateChildAsResponder picks a proposal and narrows selectors for a
// Child SA request. It returns the notification to send on failure.
//
// withKE is true in CREATE_CHILD_SA, where our key exchange methods take part
// in the selection: a proposal that names a method requires PFS, and a peer
// that proposes none is refused unless we also allow NONE (RFC 7296 1.3.1,
// 2.8). In IKE_AUTH the first Child SA takes its keys from the IKE SA, so our
// methods are ignored there (RFC 7296 1.2).
func (sa *IKESA) negotiateChildAsResponder(cfg *PeerConfig, payloads []wire.Payload, withKE bool) (cc *ChildConfig, chosen proposal.Proposal, localTS, remoteTS []spd.Endpoint, mode ipsec.Mode, fail wire.NotifyType, why string) {
	saP := payloadOf[*wire.SA](payloads)
	tsi, tsr := fromWire(tsPayload(payloads, false)), fromWire(tsPayload(payloads, true))
	if saP == nil || len(tsi) == 0 || len(tsr) == 0 {
		return nil, chosen, nil, nil, 0, wire.INVALID_SYNTAX, "Child SA request without SA, TSi or TSr"
	}
	wantTransport := findNotify(payloads, wire.USE_TRANSPORT_MODE) != nil
	theirs := proposal.FromSA(saP)
	var offered []proposal.Proposal
	tsFailed := false
	for _, c := range cfg.Children {
		remote := narrow(tsi, sa.remoteTS(c.RemoteTS))
		local := narrow(tsr, sa.localTS(c.LocalTS))
		if len(remote) == 0 || len(local) == 0 {
			tsFailed = true
			continue
		}
		if wantTransport != (c.Mode == ipsec.ModeTransport) {
			tsFailed = true
			continue
		}
		ours := c.Proposals
		if !withKE {
			ours = withoutKE(ours)
		}
		offered = append(offered, ours...)
		p, err := proposal.Select(ours, theirs)
		if err != nil {
			continue
		}
		m := ipsec.ModeTunnel
		if wantTransport {
			m = ipsec.ModeTransport
		}
		return c, p, local, remote, m, 0, ""
	}
	if len(offered) == 0 && tsFailed {
		return nil, chosen, nil, nil, 0, wire.TS_UNACCEPTABLE,
			fmt.Sprintf("TS_UNACCEPTABLE: peer proposed TSi %s TSr %s (mode %s), no child of %s accepts them", tsStrings(tsi), tsStrings(tsr), modeName(wantTransport), cfg.Name)
	}
	why = fmt.Sprintf("NO_PROPOSAL_CHOSEN: peer offered %s, we accept %s", proposal.Format(theirs), proposal.Format(offered))
	if withKE && payloadOf[*wire.KE](payloads) == nil && requireKE(offered) {
		why += " (PFS required: the peer sent no key exchange)"
	}
	return nil, chosen, nil, nil, 0, wire.NO_PROPOSAL_CHOSEN, why
}

func modeName(transport bool) string {
	if transport {
		return "transport"
	}
	return "tunnel"
}
