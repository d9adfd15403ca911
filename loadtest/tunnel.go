package loadtest

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/cygnet-ipsec/cygnet/esp"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/transform"
)

// tunnel is one client's Child SA as the in-process installer keeps it:
// the ESP SAs built from its keys, for the traffic sample.
type tunnel struct {
	in, out *esp.SA
	vip     netip.Addr
	id      uint16 // ICMP echo identifier
	sent    bool
	passed  bool
}

// InstallChildSA implements ike.Installer: it builds the ESP SAs (the
// engines take their own copies of the keys) and keeps them by inbound SPI.
func (r *runner) InstallChildSA(c *ike.ChildSA) error {
	if c.Protocol != ipsec.ProtoESP || c.Mode != ipsec.ModeTunnel {
		return fmt.Errorf("load-test: only tunnel-mode ESP, not %v %v", c.Protocol, c.Mode)
	}
	mk := func(dir ipsec.Direction, spi uint32, encrKey, integKey []byte) (*esp.SA, error) {
		key := append(append([]byte(nil), encrKey...), integKey...)
		defer clear(key)
		x, err := transform.NewESP(transform.EncrID(c.Encr), c.EncrKeyBits, transform.IntegID(c.Integ), key, transform.Options{})
		if err != nil {
			return nil, fmt.Errorf("load-test: ESP transform: %w", err)
		}
		cfg := esp.Config{SPI: spi, Mode: ipsec.ModeTunnel, Direction: dir, Transform: x, Src: c.Local.Addr(), Dst: c.Remote.Addr(),
			ESN: c.ESN, ReplayWindow: 128, CopyDF: true}
		if c.Encap {
			cfg.UDP = &esp.UDPEncap{SrcPort: c.Local.Port(), DstPort: c.Remote.Port()}
		}
		return esp.New(cfg)
	}
	in, err := mk(ipsec.Inbound, c.SPIIn, c.EncrKeyIn, c.IntegKeyIn)
	if err != nil {
		return err
	}
	out, err := mk(ipsec.Outbound, c.SPIOut, c.EncrKeyOut, c.IntegKeyOut)
	if err != nil {
		in.Wipe()
		return err
	}
	r.children[c.SPIIn] = &tunnel{in: in, out: out, id: uint16(len(r.children))}
	return nil
}

// DeleteChildSA implements ike.Installer.
func (r *runner) DeleteChildSA(c *ike.ChildSA) {
	if t := r.children[c.SPIIn]; t != nil {
		t.in.Wipe()
		t.out.Wipe()
		delete(r.children, c.SPIIn)
	}
}

// sendTraffic sends one sealed ICMP echo request through each sampled tunnel.
func (r *runner) sendTraffic() {
	for _, t := range r.sample {
		if t.sent {
			continue
		}
		head, tail := t.out.Overhead()
		buf := make([]byte, head+84+tail)
		n := echoRequest(buf[head:], t.vip, r.cfg.TrafficTarget, t.id)
		p, err := t.out.Seal(buf, head, n)
		if err != nil {
			r.cfg.Log.Warn("sealing the traffic sample failed", "vip", t.vip, "err", err)
			continue
		}
		t.sent = true
		r.res.TrafficSent++
		if _, err := r.conn.WriteToUDPAddrPort(p.Bytes[p.ESP:], netip.AddrPortFrom(r.cfg.Gateway.Addr(), 4500)); err != nil {
			r.cfg.Log.Warn("sending the traffic sample failed", "err", err)
		}
	}
}

// espIn opens an ESP packet from the gateway and checks it is the echo
// reply of its tunnel's sample.
func (r *runner) espIn(b []byte) {
	t := r.children[binary.BigEndian.Uint32(b)]
	if t == nil || !t.sent {
		return
	}
	o, err := t.in.OpenESP(b, 0)
	if err != nil || len(o.Packet) < 28 {
		return
	}
	p := o.Packet
	src, _ := netip.AddrFromSlice(p[12:16])
	dst, _ := netip.AddrFromSlice(p[16:20])
	hl := int(p[0]&0x0f) * 4
	if p[0]>>4 != 4 || p[9] != 1 || len(p) < hl+8 || src != r.cfg.TrafficTarget || dst != t.vip {
		return
	}
	icmp := p[hl:]
	if icmp[0] == 0 && binary.BigEndian.Uint16(icmp[4:]) == t.id {
		t.passed = true
	}
}

func (r *runner) samplesAnswered() bool {
	for _, t := range r.sample {
		if !t.passed {
			return false
		}
	}
	return true
}

// echoRequest writes an IPv4 ICMP echo request of 84 octets into b.
func echoRequest(b []byte, src, dst netip.Addr, id uint16) int {
	const n = 84
	clear(b[:n])
	b[0], b[8], b[9] = 0x45, 64, 1
	binary.BigEndian.PutUint16(b[2:], n)
	binary.BigEndian.PutUint16(b[4:], id)
	s, d := src.As4(), dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	binary.BigEndian.PutUint16(b[10:], checksum(b[:20]))
	icmp := b[20:n]
	icmp[0] = 8
	binary.BigEndian.PutUint16(icmp[4:], id)
	binary.BigEndian.PutUint16(icmp[6:], 1)
	copy(icmp[8:], "cygnet load-test")
	binary.BigEndian.PutUint16(icmp[2:], checksum(icmp))
	return n
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}
