package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/cygnet-ipsec/cygnet/auth"
	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/eap"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/netcfg"
	"github.com/cygnet-ipsec/cygnet/replay"
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
	_, err := parseRunnable(proto, s)
	if inner := errors.Unwrap(err); inner != nil {
		return inner // the configuration's problem names the proposal already
	}
	return err
}

// parseRunnable parses a configured proposal list and refuses algorithms
// the syntax knows but cygnet's IKE or ESP engine cannot run, so that they
// are refused at load rather than when a tunnel comes up.
//
// Weak legacy algorithms load when a proposal names them: that is the
// opt-in (Warnings names them at their line); defaults never contain one.
func parseRunnable(proto wire.ProtocolID, s string) ([]proposal.Proposal, error) {
	ps, err := proposal.ParseList(proto, s, proposal.Options{AllowWeak: true})
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if err := p.Runnable(); err != nil {
			return nil, fmt.Errorf("%v proposal %q: %w", proto, p.String(), err)
		}
	}
	return ps, nil
}

// LoadConfig reads a swanctl.conf the way the daemon and check-config do.
func LoadConfig(path string) (*config.Config, error) {
	return config.LoadOptions{ValidateProposal: ValidateProposal}.Load(path)
}

func parseProposals(proto wire.ProtocolID, list []config.Proposal) ([]proposal.Proposal, error) {
	var out []proposal.Proposal
	for _, p := range list {
		ps, err := parseRunnable(proto, p.Text)
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

// lookupHost resolves a host name in local_addrs or remote_addrs; tests
// replace it. The daemon resolves names when it loads (and reloads) the
// configuration, so an initiator sends to, and a responder accepts, the
// addresses the name has then.
var lookupHost = func(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// resolveTimeout bounds one host name lookup at load.
const resolveTimeout = 5 * time.Second

// parseAddrs reads local_addrs/remote_addrs as strongSwan matches them:
// addresses, subnets, ranges a-b (split into the prefixes that cover them
// exactly), %any4 and %any6 (one address family), %any (anything: nil) and
// host names, resolved here. A name that does not resolve is an error with
// its line, never a silent match of any address. hosts are the entries that
// name one host (an address or a resolved name), which an initiator can
// send to; ranges and subnets only restrict what a responder accepts.
func parseAddrs(path, key string, vals []config.Value) (out []netip.Prefix, hosts []netip.Addr, err error) {
	anyAddr := false
	for _, v := range vals {
		for f := range strings.FieldsFuncSeq(v.Text, func(r rune) bool { return r == ',' || r == ' ' }) {
			if a, err := netip.ParseAddr(f); err == nil {
				a = a.Unmap()
				out, hosts = append(out, netip.PrefixFrom(a, a.BitLen())), append(hosts, a)
				continue
			}
			if p, err := netip.ParsePrefix(f); err == nil {
				out = append(out, p.Masked())
				continue
			}
			switch strings.ToLower(f) {
			case "%any":
				anyAddr = true // matches anything, but a host listed too is still where to initiate
				continue
			case "%any4":
				out = append(out, netip.PrefixFrom(netip.IPv4Unspecified(), 0))
				continue
			case "%any6":
				out = append(out, netip.PrefixFrom(netip.IPv6Unspecified(), 0))
				continue
			}
			if lo, hi, ok := strings.Cut(f, "-"); ok {
				a, err1 := netip.ParseAddr(lo)
				b, err2 := netip.ParseAddr(hi)
				if err1 == nil && err2 == nil {
					ps, err := netcfg.RangePrefixes(a, b)
					if err != nil {
						return nil, nil, fmt.Errorf("%s: %s.%s: range %q: %w", v.Pos, path, key, f, err)
					}
					out = append(out, ps...)
					continue
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
			addrs, err := lookupHost(ctx, f)
			cancel()
			if err == nil && len(addrs) == 0 {
				err = errors.New("no addresses")
			}
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %s.%s: cannot resolve host name %q: %w", v.Pos, path, key, f, err)
			}
			for _, a := range addrs {
				a = a.Unmap()
				out, hosts = append(out, netip.PrefixFrom(a, a.BitLen())), append(hosts, a)
			}
		}
	}
	if anyAddr {
		out = nil
	}
	return out, hosts, nil
}

func authMethod(a *config.Auth) (ike.AuthMethod, error) {
	switch a.Method {
	case config.AuthPSK:
		return ike.AuthPSK, nil
	case config.AuthPubkey:
		return ike.AuthPubkey, nil
	case config.AuthEAP:
		return ike.AuthEAP, nil
	}
	return 0, fmt.Errorf("%s: auth = %s is not supported by cygnet yet", a.Pos, a.AuthText)
}

// secondRounds reads a second authentication round (RFC 4739, local-2 and
// remote-2): cygnet does EAP after a certificate or PSK, the shape
// strongSwan documents for it; other combinations are refused.
func secondRounds(c *config.Connection, pc *ike.PeerConfig) error {
	for _, side := range []struct {
		rounds []*config.Auth
		local  bool
		out    **ike.AuthRound
	}{{c.Local, true, &pc.LocalRound2}, {c.Remote, false, &pc.RemoteRound2}} {
		switch len(side.rounds) {
		case 1:
			continue
		case 2:
		default:
			return fmt.Errorf("%s: connection %s: %d authentication rounds; cygnet does one, or two with EAP in the second", c.Pos, c.Name, len(side.rounds))
		}
		first, second := side.rounds[0], side.rounds[1]
		if second.Method != config.AuthEAP || first.Method == config.AuthEAP {
			return fmt.Errorf("%s: connection %s: authentication rounds %s then %s; cygnet does two rounds only as a certificate or PSK followed by EAP",
				second.Pos, c.Name, first.AuthText, second.AuthText)
		}
		r := &ike.AuthRound{}
		if t := second.ID.Text; t != "" && !strings.EqualFold(t, "%any") {
			id, err := identity.Parse(t)
			if err != nil {
				return fmt.Errorf("%s: %w", second.ID.Pos, err)
			}
			r.ID = id
		}
		var err error
		if r.EAP, err = eapConfig(second, side.local); err != nil {
			return err
		}
		*side.out = r
	}
	return nil
}

// eapSides reads the EAP configuration of the first round. EAP on both
// sides is EAP-only authentication (RFC 5998) as strongSwan writes it: a
// client's remote auth = eap accepts a gateway that proves itself with the
// mutual method alone; a gateway's local auth = eap authenticates itself
// that way, with the client's method named in remote auth = eap-mschapv2.
func eapSides(c *config.Connection, pc *ike.PeerConfig) error {
	local, remote := c.Local[0], c.Remote[0]
	var err error
	if pc.LocalAuth == ike.AuthEAP && pc.RemoteAuth == ike.AuthEAP {
		path := "connections." + c.Name
		other, client := remote, remote.EAPType == ""
		if !client {
			other = local
			if local.EAPType != "" {
				return fmt.Errorf("%s: connection %s: EAP methods named on both sides; for EAP-only authentication (RFC 5998) the gateway writes local auth = eap, the client remote auth = eap", c.Pos, c.Name)
			}
		}
		if pos, ok := other.Set["eap_id"]; ok {
			return fmt.Errorf("%s: %s.%s.eap_id: not used with EAP-only authentication (auth = eap on this side)", pos, path, other.Name)
		}
		if client {
			pc.LocalEAP, err = eapConfig(local, true)
		} else {
			pc.RemoteEAP, err = eapConfig(remote, false)
		}
		if err != nil {
			return err
		}
		if m := max(pc.LocalEAP.Method, pc.RemoteEAP.Method); m != 0 && m != eap.TypeMSCHAPv2 && m != eap.TypeTLS {
			return fmt.Errorf("%s: connection %s: EAP-only authentication (RFC 5998) needs a mutual method that derives keys (eap-mschapv2, eap-tls), not EAP-%s", c.Pos, c.Name, eap.TypeName(m))
		}
		return nil
	}
	if pc.LocalAuth == ike.AuthEAP {
		if pc.LocalEAP, err = eapConfig(local, true); err != nil {
			return err
		}
	}
	if pc.RemoteAuth == ike.AuthEAP {
		if pc.RemoteEAP, err = eapConfig(remote, false); err != nil {
			return err
		}
	}
	return nil
}

// eapMethods are the EAP methods cygnet implements, by swanctl name.
var eapMethods = map[string]uint8{"mschapv2": eap.TypeMSCHAPv2, "md5": eap.TypeMD5, "tls": eap.TypeTLS}

// eapConfig reads the EAP side of an auth round: the method (auth =
// eap-<method>; a client's plain eap takes what the gateway offers among
// the methods it implements, MD5 only when named) and eap_id.
func eapConfig(a *config.Auth, local bool) (ike.EAPConfig, error) {
	var c ike.EAPConfig
	pos := a.Pos
	if p, ok := a.Set["auth"]; ok {
		pos = p
	}
	if a.EAPType == "radius" {
		// The gateway relays the conversation to RADIUS (strongswan.conf's
		// eap-radius servers), which picks the method.
		if local {
			return c, fmt.Errorf("%s: auth = %s: eap-radius is how a gateway checks its clients (remote auth); a client names its method, e.g. eap-mschapv2", pos, a.AuthText)
		}
		c.Backend = true
	} else if a.EAPType != "" {
		m, ok := eapMethods[a.EAPType]
		if !ok {
			return c, fmt.Errorf("%s: auth = %s is not supported by cygnet yet (EAP methods: eap-mschapv2, eap-tls, eap-md5, and eap-radius on a gateway)", pos, a.AuthText)
		}
		c.Method = m
	} else if !local {
		return c, fmt.Errorf("%s: auth = %s: name the EAP method the gateway runs: eap-mschapv2, eap-tls or eap-md5", pos, a.AuthText)
	}
	explicit := a.EAPID != a.ID // eap_id defaults to id (config.Auth)
	switch {
	case !explicit:
	case strings.EqualFold(a.EAPID.Text, "%any"):
		if local {
			return c, fmt.Errorf("%s: eap_id = %%any: a client needs its own EAP identity", a.EAPID.Pos)
		}
		c.AskIdentity = true
	default:
		c.Identity = a.EAPID.Text
	}
	if local && c.Identity == "" && !strings.EqualFold(a.ID.Text, "%any") {
		c.Identity = a.ID.Text
	}
	return c, nil
}

// PeerConfigs turns the loaded connections into what the IKE state machine runs.
func PeerConfigs(cfg *config.Config) ([]*ike.PeerConfig, error) {
	var out []*ike.PeerConfig
	var errs []error
	for _, a := range cfg.Authorities {
		if a.CertURIBase.Text != "" {
			errs = append(errs, fmt.Errorf("%s: authorities.%s.cert_uri_base: not implemented by cygnet yet (hash-and-URL certificates, RFC 7296 3.6; cygnet sends whole certificates)",
				a.CertURIBase.Pos, a.Name))
		}
	}
	if _, _, err := buildPools(cfg); err != nil {
		errs = append(errs, err)
	}
	tcpHosts := map[netip.Addr]string{} // remote host -> the connection that reaches it over TCP
	for _, c := range cfg.Connections {
		pc, err := peerConfig(c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if pc.TCP.Mode != ike.TCPNo {
			// The data plane keeps one TCP connection per gateway, and
			// RFC 9329 one IKE SA per TCP connection.
			for _, h := range pc.RemoteHosts {
				if other, ok := tcpHosts[h]; ok {
					errs = append(errs, fmt.Errorf("%s: connections.%s.encap_tcp: connections.%s reaches %s over TCP too; cygnet keeps one TCP connection, so one connection, per gateway",
						c.Set["encap_tcp"], c.Name, other, h))
					continue
				}
				tcpHosts[h] = c.Name
			}
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
		"dscp":     "DSCP of IKE packets",
		"if_id_in": "XFRM interfaces", "if_id_out": "XFRM interfaces",
	},
	"auth": {
		"aaa_id": "AAA identities (EAP with an AAA backend)", "pubkeys": "raw public keys",
	},
	"child": {
		"inactivity": "inactivity timeouts", "reqid": "fixed reqids", "priority": "fixed policy priorities", "interface": "interface-bound policies",
		"mark_in": "marks", "mark_in_sa": "marks", "mark_out": "marks", "set_mark_in": "marks", "set_mark_out": "marks",
		"if_id_in": "XFRM interfaces", "if_id_out": "XFRM interfaces",
		"policies_fwd_out": "forward policies",
	},
}

// refuseUnimplemented reports the options of a section the daemon cannot honour yet.
func refuseUnimplemented(kind, path string, set map[string]config.Pos) error {
	var errs []error
	// in the order of the lines, so check-config's output is stable
	for _, opt := range slices.SortedFunc(maps.Keys(set), func(a, b string) int { return set[a].Line - set[b].Line }) {
		if why, ok := notImplemented[kind][opt]; ok {
			errs = append(errs, fmt.Errorf("%s: %s.%s: not implemented by cygnet yet (%s)", set[opt], path, opt, why))
		}
	}
	return errors.Join(errs...)
}

// maxTFCPadding is the largest tfc_padding cygnet installs: the data plane
// leaves dataplane.TailRoom (256) octets behind every packet, which also
// hold the ESP padding (up to 15), the trailer (2) and the ICV (up to 32).
// TestChildOptionsTakeEffect checks that it fits every transform.
const maxTFCPadding = 200

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
	refuse(c.Set, path, "childless", c.Childless != config.ChildlessAllow, "childless IKE SAs")
	refuse(c.Set, path, "local_port", c.LocalPort != 500, "IKE on another port than 500 (and 4500 for NAT traversal)")
	severalRounds := len(c.Local) > 1 || len(c.Remote) > 1 || c.Local[0].Method == config.AuthEAP || c.Remote[0].Method == config.AuthEAP
	refuse(c.Set, path, "ppk_id", severalRounds, "postquantum preshared keys with EAP or a second authentication round")
	refuse(c.Set, path, "ppk_required", c.PPKRequired && severalRounds, "postquantum preshared keys with EAP or a second authentication round")
	if pos, ok := c.Set["encap_tcp"]; ok && c.EncapTCP != config.EncapTCPNo && !hasHost(c.RemoteAddrs) {
		errs = append(errs, fmt.Errorf("%s: %s.encap_tcp: needs a remote host in remote_addrs to connect to (a responder accepts TCP on the daemon's --tcp-port without it)", pos, path))
	}
	if pos, ok := c.Set["encap_tcp"]; ok && c.EncapTCP != config.EncapTCPNo {
		for _, ch := range c.Children {
			if ch.Mode != config.ModeTunnel {
				errs = append(errs, fmt.Errorf("%s: %s.encap_tcp: only with tunnel-mode children; %s.children.%s is not (transport mode over TCP is untested)", pos, path, path, ch.Name))
			}
		}
	}
	for _, opt := range []string{"redirect_in", "redirect_when_sas"} {
		if pos, ok := c.Set[opt]; ok && c.RedirectTo.Text == "" {
			errs = append(errs, fmt.Errorf("%s: %s.%s: only used with redirect_to", pos, path, opt))
		}
	}
	refuse(c.Set, path, "redirect_in", c.RedirectIn == config.RedirectInAuth && severalRounds, "redirect in IKE_AUTH with EAP or a second authentication round")
	if pos, ok := c.Set["tcp_fallback_timeout"]; ok && c.EncapTCP != config.EncapTCPFallback {
		errs = append(errs, fmt.Errorf("%s: %s.tcp_fallback_timeout: only used with encap_tcp = fallback", pos, path))
	}
	for _, a := range c.Remote {
		refuse(a.Set, path+"."+a.Name, "revocation", a.Revocation != config.RevocationRelaxed, "revocation checking")
	}
	for _, a := range append(append([]*config.Auth(nil), c.Local...), c.Remote...) {
		if pos, ok := a.Set["eap_id"]; ok && a.Method != config.AuthEAP {
			errs = append(errs, fmt.Errorf("%s: %s.%s.eap_id: only used with auth = eap-<method>, this round has auth = %s", pos, path, a.Name, a.AuthText))
		}
	}
	for _, ch := range c.Children {
		p := path + ".children." + ch.Name
		refuse(ch.Set, p, "policies", !ch.Policies, "policy-less SAs")
		refuse(ch.Set, p, "sha256_96", ch.SHA256_96, "truncated SHA-256")
		refuse(ch.Set, p, "icmp", ch.ForwardICMP, "ICMP forwarding")
		both := config.ActionTrap | config.ActionStart
		refuse(ch.Set, p, "start_action", ch.StartAction == both, "trap|start, both at once; choose trap or start")
		refuse(ch.Set, p, "close_action", ch.CloseAction == both, "trap|start, both at once; choose trap or start")
		refuse(ch.Set, p, "dpd_action", ch.DPDAction == both, "trap|restart, both at once; choose trap or restart")
		refuse(ch.Set, p, "tfc_padding", ch.TFCPadding == config.TFCPaddingMTU,
			fmt.Sprintf("padding to the path MTU; the data plane has tail room for up to %d octets of TFC padding, give a size", maxTFCPadding))
		refuse(ch.Set, p, "tfc_padding", ch.TFCPadding != config.TFCPaddingMTU && ch.TFCPadding > maxTFCPadding,
			fmt.Sprintf("the data plane has tail room for up to %d octets of TFC padding", maxTFCPadding))
		refuse(ch.Set, p, "replay_window", ch.ReplayWindow > replay.MaxSize,
			fmt.Sprintf("replay windows hold up to %d packets", replay.MaxSize))
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
		Name:      c.Name,
		Encap:     c.Encap,
		MOBIKE:    c.MOBIKE,
		RekeyTime: c.RekeyTime, ReauthTime: c.ReauthTime, OverTime: c.OverTime, RandTime: c.RandTime,
		DPDDelay: c.DPDDelay, DPDTimeout: c.DPDTimeout,
		SendCertReq: c.SendCertReq,
		Unique:      uniquePolicy(c.Unique), KeyingTries: keyingTries(c.Keyingtries),
	}
	var err error
	path := "connections." + c.Name
	if pc.LocalAddrs, _, err = parseAddrs(path, "local_addrs", c.LocalAddrs); err != nil {
		return nil, err
	}
	if pc.RemoteAddrs, pc.RemoteHosts, err = parseAddrs(path, "remote_addrs", c.RemoteAddrs); err != nil {
		return nil, err
	}
	if v := c.RedirectTo; v.Text != "" {
		a, err := netip.ParseAddr(v.Text)
		if err != nil {
			return nil, fmt.Errorf("%s: %s.redirect_to: want the IP address of the gateway to redirect clients to, not %q", v.Pos, path, v.Text)
		}
		pc.RedirectTo = a.Unmap()
		pc.RedirectWhenSAs = int(c.RedirectWhenSAs)
		if c.RedirectIn == config.RedirectInAuth {
			pc.RedirectIn = ike.RedirectInAuth
		}
	}
	pc.Fragmentation = fragmentation(c.Fragmentation)
	pc.TCP = ike.TCPEncap{Mode: ike.TCPMode(c.EncapTCP), Fallback: c.TCPFallbackTimeout}
	switch c.SendCert {
	case config.SendCertAlways:
		pc.SendCert = ike.SendCertAlways
	case config.SendCertNever:
		pc.SendCert = ike.SendCertNever
	}
	if len(pc.RemoteHosts) > 0 {
		port := c.RemotePort
		if port == 0 {
			port = 500
		}
		pc.Remote = netip.AddrPortFrom(pc.RemoteHosts[0], port)
	}
	if pc.Proposals, err = parseProposals(wire.ProtocolIKE, c.Proposals); err != nil {
		return nil, err
	}
	if err := secondRounds(c, pc); err != nil {
		return nil, err
	}
	if pc.LocalAuth, err = authMethod(c.Local[0]); err != nil {
		return nil, err
	}
	if pc.RemoteAuth, err = authMethod(c.Remote[0]); err != nil {
		return nil, err
	}
	if err := eapSides(c, pc); err != nil {
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
	if c.PPKID.Text != "" {
		id, err := identity.Parse(c.PPKID.Text)
		if err != nil || id.IsAny() {
			return nil, fmt.Errorf("%s: connections.%s.ppk_id: want a PPK identity, not %q", c.PPKID.Pos, c.Name, c.PPKID.Text)
		}
		pc.PPKID = id.Data
	}
	pc.PPKRequired = c.PPKRequired
	pc.VIPs = c.VIPs
	for _, p := range c.Pools {
		pc.Pools = append(pc.Pools, p.Text)
	}
	for _, ch := range c.Children {
		cc, err := childConfig(ch)
		if err != nil {
			return nil, err
		}
		if c.Encap && len(ch.AHProposals) > 0 {
			// RFC 3948 encapsulates ESP only, and AH's ICV covers the
			// addresses a NAT rewrites.
			return nil, fmt.Errorf("%s: connections.%s.children.%s.ah_proposals: AH cannot be encapsulated in UDP (encap = yes); use esp_proposals",
				ch.AHProposals[0].Pos, c.Name, ch.Name)
		}
		if len(pc.VIPs) > 0 {
			// A trap policy stands for the local selector before IKE
			// runs; with a virtual IP it is not known yet.
			for opt, a := range map[string]config.Action{"start_action": ch.StartAction, "close_action": ch.CloseAction, "dpd_action": ch.DPDAction} {
				if pos, ok := ch.Set[opt]; ok && a&config.ActionTrap != 0 {
					return nil, fmt.Errorf("%s: connections.%s.children.%s.%s: not implemented by cygnet yet (trap policies with virtual IPs)", pos, c.Name, ch.Name, opt)
				}
			}
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
		CopyDSCPOut: ch.CopyDSCP == config.CopyDSCPYes || ch.CopyDSCP == config.CopyDSCPOut,
		CopyDSCPIn:  ch.CopyDSCP == config.CopyDSCPYes || ch.CopyDSCP == config.CopyDSCPIn,
		CopyECN:     ch.CopyECN, CopyDF: ch.CopyDF,
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
	if len(ch.AHProposals) > 0 && len(ch.ESPProposals) > 0 {
		// strongSwan offers both and lets the responder pick; cygnet
		// offers and accepts one protocol per child, so it says so
		// rather than drop one list silently.
		return nil, fmt.Errorf("%s: child %s: esp_proposals and ah_proposals together are not supported by cygnet; give one (a child is AH or ESP)",
			ch.ESPProposals[0].Pos, ch.Name)
	}
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

// hasHost reports whether remote_addrs names one host (an address or a
// name), not only ranges, subnets or %any: the host encap_tcp connects to.
func hasHost(addrs []config.Value) bool {
	for _, a := range addrs {
		t := a.Text
		if t != "" && !strings.HasPrefix(t, "%") && !strings.ContainsAny(t, "/-") {
			return true
		}
	}
	return false
}
