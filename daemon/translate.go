package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/cygnet-ipsec/cygnet/auth"
	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/spd"
)

// ValidateProposal checks a proposal string for config.LoadOptions, so that a
// bad one is refused with its file and line.
func ValidateProposal(kind, s string) error {
	proto := wire.ProtocolIKE
	switch kind {
	case "esp":
		proto = wire.ProtocolESP
	case "ah":
		proto = wire.ProtocolAH
	}
	_, err := proposal.ParseList(proto, s, proposal.Options{})
	return err
}

// LoadConfig reads a swanctl.conf the way the daemon and check-config do.
func LoadConfig(path string) (*config.Config, error) {
	return config.LoadOptions{ValidateProposal: ValidateProposal}.Load(path)
}

func parseProposals(proto wire.ProtocolID, list []config.Proposal) ([]proposal.Proposal, error) {
	var out []proposal.Proposal
	for _, p := range list {
		ps, err := proposal.ParseList(proto, p.Text, proposal.Options{})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Pos, err)
		}
		out = append(out, ps...)
	}
	if len(out) == 0 {
		out = proposal.Default(proto)
	}
	return out, nil
}

// parseAddrs reads local_addrs/remote_addrs: addresses or subnets; %any and
// host names match anything (host names are resolved when initiating).
func parseAddrs(vals []config.Value) []netip.Prefix {
	var out []netip.Prefix
	for _, v := range vals {
		for f := range strings.FieldsFuncSeq(v.Text, func(r rune) bool { return r == ',' || r == ' ' }) {
			if a, err := netip.ParseAddr(f); err == nil {
				out = append(out, netip.PrefixFrom(a, a.BitLen()))
			} else if p, err := netip.ParsePrefix(f); err == nil {
				out = append(out, p.Masked())
			} else if strings.HasPrefix(f, "%any") {
				return nil
			}
		}
	}
	return out
}

func authMethod(a *config.Auth) (ike.AuthMethod, error) {
	switch a.Method {
	case config.AuthPSK:
		return ike.AuthPSK, nil
	case config.AuthPubkey:
		return ike.AuthPubkey, nil
	}
	return 0, fmt.Errorf("%s: auth = %s is not supported by cygnet yet", a.Pos, a.AuthText)
}

// PeerConfigs turns the loaded connections into what the IKE state machine runs.
func PeerConfigs(cfg *config.Config) ([]*ike.PeerConfig, error) {
	var out []*ike.PeerConfig
	var errs []error
	for _, c := range cfg.Connections {
		pc, err := peerConfig(c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, pc)
	}
	return out, errors.Join(errs...)
}

// notImplemented lists swanctl.conf options that parse but that the daemon
// does not act on yet. Setting one is refused with its line rather than
// ignored, so nobody believes a tunnel does what it does not.
var notImplemented = map[string]map[string]string{
	"connection": {
		"vips": "virtual IPs", "pools": "address pools", "dscp": "DSCP of IKE packets",
		"if_id_in": "XFRM interfaces", "if_id_out": "XFRM interfaces",
	},
	"auth": {
		"eap_id": "EAP", "aaa_id": "EAP", "pubkeys": "raw public keys",
	},
	"child": {
		"inactivity": "inactivity timeouts", "reqid": "fixed reqids", "priority": "fixed policy priorities", "interface": "interface-bound policies",
		"mark_in": "marks", "mark_in_sa": "marks", "mark_out": "marks", "set_mark_in": "marks", "set_mark_out": "marks",
		"if_id_in": "XFRM interfaces", "if_id_out": "XFRM interfaces",
		"policies_fwd_out": "forward policies",
		"ah_proposals":     "AH over IKE (the engine has AH; negotiation follows)",
	},
}

// refuseUnimplemented reports the options of a section the daemon cannot honour yet.
func refuseUnimplemented(kind, path string, set map[string]config.Pos) error {
	var errs []error
	for opt, pos := range set {
		if why, ok := notImplemented[kind][opt]; ok {
			errs = append(errs, fmt.Errorf("%s: %s.%s: not implemented by cygnet yet (%s)", pos, path, opt, why))
		}
	}
	return errors.Join(errs...)
}

// refuseValues reports options whose value (not their mere presence) asks
// for something cygnet does not do; the defaults, often written out in
// real configurations, are what cygnet does and pass.
func refuseValues(c *config.Connection) []error {
	var errs []error
	refuse := func(set map[string]config.Pos, path, opt string, bad bool, why string) {
		if pos, ok := set[opt]; ok && bad {
			errs = append(errs, fmt.Errorf("%s: %s.%s: not implemented by cygnet yet (%s)", pos, path, opt, why))
		}
	}
	path := "connections." + c.Name
	refuse(c.Set, path, "mobike", c.MOBIKE, "MOBIKE; mobike = no is what cygnet does")
	refuse(c.Set, path, "childless", c.Childless != config.ChildlessAllow, "childless IKE SAs")
	for _, a := range c.Remote {
		refuse(a.Set, path+"."+a.Name, "revocation", a.Revocation != config.RevocationRelaxed, "revocation checking")
	}
	for _, ch := range c.Children {
		p := path + ".children." + ch.Name
		refuse(ch.Set, p, "policies", !ch.Policies, "policy-less SAs")
		refuse(ch.Set, p, "sha256_96", ch.SHA256_96, "truncated SHA-256")
		refuse(ch.Set, p, "icmp", ch.ForwardICMP, "ICMP forwarding")
	}
	return errs
}

func peerConfig(c *config.Connection) (*ike.PeerConfig, error) {
	refused := refuseValues(c)
	refused = append(refused, refuseUnimplemented("connection", "connections."+c.Name, c.Set))
	for _, a := range append(append([]*config.Auth(nil), c.Local...), c.Remote...) {
		refused = append(refused, refuseUnimplemented("auth", "connections."+c.Name+"."+a.Name, a.Set))
	}
	for _, ch := range c.Children {
		refused = append(refused, refuseUnimplemented("child", "connections."+c.Name+".children."+ch.Name, ch.Set))
	}
	refused = append(refused, auth.ConfigProblems(c))
	if err := errors.Join(refused...); err != nil {
		return nil, err
	}
	pc := &ike.PeerConfig{
		Name:        c.Name,
		LocalAddrs:  parseAddrs(c.LocalAddrs),
		RemoteAddrs: parseAddrs(c.RemoteAddrs),
		Encap:       c.Encap,
		RekeyTime:   c.RekeyTime, ReauthTime: c.ReauthTime, OverTime: c.OverTime, RandTime: c.RandTime,
		DPDDelay: c.DPDDelay, DPDTimeout: c.DPDTimeout,
		SendCertReq: c.SendCertReq,
		Unique:      uniquePolicy(c.Unique), KeyingTries: keyingTries(c.Keyingtries),
	}
	pc.Fragmentation = fragmentation(c.Fragmentation)
	switch c.SendCert {
	case config.SendCertAlways:
		pc.SendCert = ike.SendCertAlways
	case config.SendCertNever:
		pc.SendCert = ike.SendCertNever
	}
	for _, p := range pc.RemoteAddrs {
		if p.IsSingleIP() {
			port := c.RemotePort
			if port == 0 {
				port = 500
			}
			pc.Remote = netip.AddrPortFrom(p.Addr(), port)
			break
		}
	}
	var err error
	if pc.Proposals, err = parseProposals(wire.ProtocolIKE, c.Proposals); err != nil {
		return nil, err
	}
	if len(c.Local) != 1 || len(c.Remote) != 1 {
		return nil, fmt.Errorf("%s: connection %s: several authentication rounds are not supported by cygnet yet", c.Pos, c.Name)
	}
	if pc.LocalAuth, err = authMethod(c.Local[0]); err != nil {
		return nil, err
	}
	if pc.RemoteAuth, err = authMethod(c.Remote[0]); err != nil {
		return nil, err
	}
	if pc.LocalID, err = identity.Parse(c.Local[0].ID.Text); err != nil {
		return nil, fmt.Errorf("%s: %w", c.Local[0].ID.Pos, err)
	}
	if pc.LocalID.IsAny() && len(c.Local[0].Certs) > 0 {
		// strongSwan's default: the certificate's subject.
		pc.LocalID = identity.ID{Type: wire.ID_DER_ASN1_DN, Data: c.Local[0].Certs[0].X509.RawSubject}
	}
	if pc.RemoteID, err = identity.Parse(c.Remote[0].ID.Text); err != nil {
		return nil, fmt.Errorf("%s: %w", c.Remote[0].ID.Pos, err)
	}
	for _, ch := range c.Children {
		cc, err := childConfig(ch)
		if err != nil {
			return nil, err
		}
		pc.Children = append(pc.Children, cc)
	}
	return pc, nil
}

func childConfig(ch *config.Child) (*ike.ChildConfig, error) {
	cc := &ike.ChildConfig{
		Name: ch.Name, Protocol: ipsec.ProtoESP,
		RekeyTime: ch.RekeyTime, LifeTime: ch.LifeTime, RandTime: ch.RandTime,
		RekeyBytes: ch.RekeyBytes, LifeBytes: ch.LifeBytes, RekeyPackets: ch.RekeyPackets, LifePackets: ch.LifePackets,
		RandBytes: ch.RandBytes, RandPackets: ch.RandPackets,
		ReplayWindow: ch.ReplayWindow, TFCPadding: ch.TFCPadding,
		StartAction: action(ch.StartAction), CloseAction: action(ch.CloseAction), DPDAction: action(ch.DPDAction),
		CopyDSCP: ch.CopyDSCP == config.CopyDSCPYes || ch.CopyDSCP == config.CopyDSCPOut, CopyECN: ch.CopyECN, CopyDF: ch.CopyDF,
		// hostaccess is not in ike.ChildConfig; the daemon's updown runner
		// reads it from the configuration (updowns.configure).
		Updown: ch.Updown.Text,
	}
	switch ch.Mode {
	case config.ModeTunnel:
		cc.Mode = ipsec.ModeTunnel
	case config.ModeTransport:
		cc.Mode = ipsec.ModeTransport
	default:
		return nil, fmt.Errorf("%s: child %s: mode = %s is not supported by cygnet yet", ch.Pos, ch.Name, ch.Mode)
	}
	var err error
	if len(ch.AHProposals) > 0 {
		cc.Protocol = ipsec.ProtoAH
		cc.Proposals, err = parseProposals(wire.ProtocolAH, ch.AHProposals)
	} else {
		cc.Proposals, err = parseProposals(wire.ProtocolESP, ch.ESPProposals)
	}
	if err != nil {
		return nil, err
	}
	cc.LocalTS = selectors(ch.LocalTS)
	cc.RemoteTS = selectors(ch.RemoteTS)
	return cc, nil
}

func action(a config.Action) ike.Action {
	switch {
	case a&config.ActionStart != 0:
		return ike.ActionStart
	case a&config.ActionTrap != 0:
		return ike.ActionTrap
	}
	return ike.ActionNone
}

func selectors(list []config.TrafficSelector) []ike.TrafficSelector {
	var out []ike.TrafficSelector
	for _, ts := range list {
		sel := ike.TrafficSelector{
			Dynamic: ts.Dynamic,
			Endpoint: spd.Endpoint{
				Addrs: spd.AddrRange{From: ts.Start, To: ts.End},
				Proto: ts.Protocol,
				Ports: spd.PortRange{From: ts.FromPort, To: ts.ToPort},
			},
		}
		out = append(out, sel)
	}
	if len(out) == 0 {
		out = []ike.TrafficSelector{{Dynamic: true, Endpoint: spd.Endpoint{Ports: spd.AnyPort}}}
	}
	return out
}

// fragmentation maps swanctl's fragmentation option to the IKE policy.
func fragmentation(f config.Fragmentation) ike.Fragmentation {
	switch f {
	case config.FragmentationAccept:
		return ike.FragmentationAccept
	case config.FragmentationNo:
		return ike.FragmentationNo
	case config.FragmentationForce:
		return ike.FragmentationForce
	}
	return ike.FragmentationYes
}
