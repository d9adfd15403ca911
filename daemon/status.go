package daemon

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/spd"
)

// strongSwan's names for algorithms, as swanctl --list-sas prints them: the
// IANA names without their ENCR_/AUTH_ prefixes.
// encrName is the list-sas name of an encryption algorithm as strongSwan's
// VICI names it: the IANA name without "ENCR_", 3DES_CBC for ENCR_3DES,
// and "" for AH, which has none.
func encrName(id uint16) string {
	switch id {
	case 0:
		return ""
	case uint16(wire.ENCR_3DES):
		return "3DES_CBC"
	}
	return strings.TrimPrefix(wire.EncrID(id).String(), "ENCR_")
}

func integName(id uint16) string {
	if id == 0 {
		return ""
	}
	return strings.TrimPrefix(wire.IntegID(id).String(), "AUTH_")
}

func groupName(id uint16) string {
	if id == 0 {
		return ""
	}
	return wire.KEMethod(id).String()
}

// CounterSource reads a Child SA's traffic counters from the SAD.
type CounterSource interface {
	Counters(c *ike.ChildSA) (bytesIn, packetsIn, bytesOut, packetsOut uint64)
}

func secondsUntil(t, now time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return int64(t.Sub(now).Round(time.Second) / time.Second)
}

// ListSAs renders the IKE SAs for list-sas.
func ListSAs(sas []*ike.IKESA, counters CounterSource, now time.Time) []control.IKESA {
	out := make([]control.IKESA, 0, len(sas))
	for _, sa := range sas {
		s := sa.Suite()
		keyBits := s.EncrKeyBits
		if keyBits == 0 && s.Encr == 28 {
			keyBits = 256
		}
		is := control.IKESA{
			Name: sa.Config().Name, UniqueID: sa.UniqueID, State: sa.State(), Version: 2,
			LocalHost: sa.Local.Addr().String(), LocalPort: sa.Local.Port(), LocalID: sa.LocalID.String(),
			RemoteHost: sa.Remote.Addr().String(), RemotePort: sa.Remote.Port(), RemoteID: sa.RemoteID.String(), RemoteEAPID: sa.RemoteEAPID,
			Initiator:    sa.Initiator,
			InitiatorSPI: fmt.Sprintf("%016x", sa.SPIi), ResponderSPI: fmt.Sprintf("%016x", sa.SPIr),
			EncrAlg: encrName(s.Encr), EncrKeysize: keyBits, IntegAlg: integName(s.Integ),
			PRFAlg: wire.PRFID(s.PRF).String(), DHGroup: groupName(sa.Group),
			NATLocal: sa.NATLocal, NATRemote: sa.NATRemote, PPK: sa.PPK,
			RekeyTime: secondsUntil(sa.RekeyAt, now),
			ChildSAs:  []control.ChildSA{},
			LocalVIPs: addrStrings(sa.LocalVIPs()), RemoteVIPs: addrStrings(sa.RemoteVIPs()), DNS: addrStrings(sa.DNS()),
		}
		for _, m := range sa.KeyExchanges() {
			is.KeyExchanges = append(is.KeyExchanges, groupName(m))
		}
		if t, ok := counters.(interface{ OverTCP(netip.AddrPort) bool }); ok {
			is.TCP = t.OverTCP(sa.Remote)
		}
		if !sa.Established.IsZero() {
			is.Established = int64(now.Sub(sa.Established) / time.Second)
		}
		for _, c := range sa.Children() {
			is.ChildSAs = append(is.ChildSAs, childStatus(c, counters, now))
		}
		out = append(out, is)
	}
	return out
}

// childStatus renders one Child SA for list-sas (and VICI's events).
func childStatus(c *ike.ChildSA, counters CounterSource, now time.Time) control.ChildSA {
	cs := control.ChildSA{
		Name: c.Name, UniqueID: c.UniqueID, State: c.State(), Mode: c.Mode.String(), Protocol: c.Protocol.String(),
		Encap: c.Encap, SPIIn: fmt.Sprintf("%08x", c.SPIIn), SPIOut: fmt.Sprintf("%08x", c.SPIOut),
		EncrAlg: encrName(c.Encr), EncrKeysize: c.EncrKeyBits, IntegAlg: integName(c.Integ), DHGroup: groupName(c.Group),
		ESN:         c.ESN,
		InstallTime: int64(now.Sub(c.Installed) / time.Second),
		RekeyTime:   secondsUntil(c.RekeyAt, now), LifeTime: secondsUntil(c.ExpiresAt, now),
		LocalTS: tsList(c.LocalTS), RemoteTS: tsList(c.RemoteTS),
	}
	for _, m := range c.KeyExchanges() {
		cs.KeyExchanges = append(cs.KeyExchanges, groupName(m))
	}
	if c.Encr == 28 {
		cs.EncrKeysize = 256
	}
	if counters != nil {
		cs.BytesIn, cs.PacketsIn, cs.BytesOut, cs.PacketsOut = counters.Counters(c)
	}
	return cs
}

// addrStrings renders addresses, [] (not null) when there are none.
func addrStrings(as []netip.Addr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

func tsList(ts []spd.Endpoint) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = ike.FormatTS(t)
	}
	return out
}

func confTS(ts []ike.TrafficSelector) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		if t.Dynamic {
			out[i] = "dynamic"
		} else {
			out[i] = ike.FormatTS(t.Endpoint)
		}
	}
	return out
}

// ListConns renders the loaded connections for list-conns.
func ListConns(conns []*ike.PeerConfig) []control.Conn {
	out := make([]control.Conn, 0, len(conns))
	for _, c := range conns {
		cc := control.Conn{
			Name: c.Name, Version: "IKEv2",
			LocalAuth: c.LocalAuth.String(), LocalID: c.LocalID.String(),
			RemoteAuth: c.RemoteAuth.String(), RemoteID: c.RemoteID.String(),
			LocalAddrs: prefixes(c.LocalAddrs), RemoteAddrs: prefixes(c.RemoteAddrs),
			Proposals: []string{proposal.Format(c.Proposals)},
		}
		for _, ch := range c.Children {
			cc.Children = append(cc.Children, control.ConnChild{
				Name: ch.Name, Mode: ch.Mode.String(), LocalTS: confTS(ch.LocalTS), RemoteTS: confTS(ch.RemoteTS),
				Proposals: []string{proposal.Format(ch.Proposals)}, StartAction: actionName(ch.StartAction),
			})
		}
		out = append(out, cc)
	}
	return out
}

func actionName(a ike.Action) string {
	switch a {
	case ike.ActionStart:
		return "start"
	case ike.ActionTrap:
		return "trap"
	}
	return "none"
}

func prefixes(ps []netip.Prefix) []string {
	if len(ps) == 0 {
		return []string{"%any"}
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		if p.IsSingleIP() {
			out[i] = p.Addr().String()
		} else {
			out[i] = p.String()
		}
	}
	return out
}
