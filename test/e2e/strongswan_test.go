package e2e

import (
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// strongSwan's kernel-libipsec data plane always asks for UDP
// encapsulation, so every tunnel with it is ESP-in-UDP on port 4500, and
// it has no transport mode: those cases run cygnet against cygnet.

// swanEnd is a strongSwan charon as a tunnelEnd.
type swanEnd struct{ *testnet.StrongSwan }

func (s swanEnd) impl() string { return implStrongSwan }

func (s swanEnd) initiate(ike, child string) (time.Duration, error) {
	start := time.Now()
	err := s.Initiate(ike, child)
	return time.Since(start), err
}

func (s swanEnd) load(conf string) error { return s.Load(conf) }

func (s swanEnd) logText() string { return s.LogTail(1 << 20) }

func (s swanEnd) terminate(ike string) error { return s.Terminate(ike) }

func (s swanEnd) ikeSAs() ([]string, error) {
	sas, err := s.ListSAs()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, sa := range sas {
		out = append(out, sa.State)
	}
	return out, nil
}

func (s swanEnd) view(child string, timeout time.Duration) (saView, error) {
	ike, c, err := s.WaitChildSA(child, timeout)
	if err != nil {
		return saView{}, err
	}
	return saView{
		IKEState: ike.State, Initiator: ike.Initiator,
		LocalHost: ike.LocalHost, RemoteHost: ike.RemoteHost, LocalPort: ike.LocalPort, RemotePort: ike.RemotePort,
		LocalID: ike.LocalID, RemoteID: ike.RemoteID, SPIi: ike.InitiatorSPI, SPIr: ike.ResponderSPI,
		IKEEncr: ike.EncrAlg, IKEKeySize: ike.EncrKeySize, PRF: ike.PRFAlg, DH: ike.DHGroup,
		Child: c.Name, ChildState: c.State, Mode: c.Mode, Protocol: c.Protocol, Encap: c.Encap,
		SPIIn: c.SPIIn, SPIOut: c.SPIOut, Encr: c.EncrAlg, KeySize: c.EncrKeySize,
		LocalTS: c.LocalTS, RemoteTS: c.RemoteTS,
		BytesIn: c.BytesIn, PacketsIn: c.PacketsIn, BytesOut: c.BytesOut, PacketsOut: c.PacketsOut,
	}, nil
}
