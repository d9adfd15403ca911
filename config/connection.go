package config

import (
	"math"
	"net/netip"
	"strings"
	"time"
)

// connections.<name>: the IKE SA options and the addresses they name.

func (d *decoder) connection(sec *Section) *Connection {
	path := "connections." + sec.Name
	c := &Connection{
		Name:        sec.Name,
		Pos:         sec.Pos,
		LocalPort:   500,
		RemotePort:  500,
		MOBIKE:      true,
		SendCertReq: true,
		Keyingtries: 1,
		Pull:        true,
	}
	var rekeySet, reauthSet, overSet, randSet bool
	h := handlers{
		"version": func(kv *Setting) {
			v, ok := parseUint(kv.Value, math.MaxUint32)
			switch {
			case !ok || v > 2:
				d.invalid(path, kv, "want 0 (any) or 2")
			case v == 1:
				d.unsupportedValue(path, kv, "IKEv1 is not implemented, use version = 2")
			default:
				c.Version = int(v)
			}
		},
		"local_addrs":  func(kv *Setting) { c.LocalAddrs = d.addrs(path, kv) },
		"remote_addrs": func(kv *Setting) { c.RemoteAddrs = d.addrs(path, kv) },
		"local_port":   d.portOpt(path, &c.LocalPort),
		"remote_port":  d.portOpt(path, &c.RemotePort),
		"proposals":    func(kv *Setting) { c.Proposals = d.proposals("ike", kv) },
		"vips": func(kv *Setting) {
			for _, item := range splitList(kv.Value) {
				a, ok := parseHost(item)
				if !ok {
					d.problems.add(kv.Pos, "%s: invalid vips entry %q: want an IP address, 0.0.0.0 or ::", path, item)
					continue
				}
				c.VIPs = append(c.VIPs, a)
			}
		},
		"pools":      func(kv *Setting) { c.Pools = values(kv) },
		"aggressive": d.boolNotSupported(path, false, "IKEv1 Aggressive Mode"),
		"pull":       d.boolOpt(path, &c.Pull),
		"dscp": func(kv *Setting) {
			v, rest, ok := uint64(0), kv.Value, kv.Value != ""
			for _, ch := range rest {
				if ch != '0' && ch != '1' || v > math.MaxUint32 {
					ok = false
					break
				}
				v = v<<1 | uint64(ch-'0')
			}
			if !ok {
				d.invalid(path, kv, "want six binary digits, like 101110")
				return
			}
			c.DSCP = uint8(v & 0x3f)
		},
		"encap": d.boolOpt(path, &c.Encap),
		"encap_tcp": enumOpt(d, path, &c.EncapTCP, map[string]EncapTCP{
			"no": EncapTCPNo, "yes": EncapTCPYes, "fallback": EncapTCPFallback,
		}),
		"tcp_fallback_timeout": d.durationOpt(path, &c.TCPFallbackTimeout, nil),
		"mobike":               d.boolOpt(path, &c.MOBIKE),
		"redirect_to":          d.stringOpt(&c.RedirectTo),
		"redirect_in": enumOpt(d, path, &c.RedirectIn, map[string]RedirectIn{
			"init": RedirectInInit, "auth": RedirectInAuth,
		}),
		"redirect_when_sas": d.uint32Opt(path, &c.RedirectWhenSAs),
		"fragmentation": enumOpt(d, path, &c.Fragmentation, map[string]Fragmentation{
			"yes": FragmentationYes, "accept": FragmentationAccept, "no": FragmentationNo, "force": FragmentationForce,
		}),
		"childless": enumOpt(d, path, &c.Childless, map[string]Childless{
			"allow": ChildlessAllow, "prefer": ChildlessPrefer, "never": ChildlessNever, "force": ChildlessForce,
		}),
		"send_certreq": d.boolOpt(path, &c.SendCertReq),
		"send_cert": enumOpt(d, path, &c.SendCert, map[string]SendCert{
			"ifasked": SendCertIfAsked, "always": SendCertAlways, "never": SendCertNever,
		}),
		"ocsp": func(kv *Setting) {
			switch strings.ToLower(kv.Value) {
			case "reply":
				c.OCSP = OCSPReply
			case "never":
				c.OCSP = OCSPNever
			case "both", "request":
				d.unsupportedValue(path, kv, "no OCSP")
			default:
				d.invalid(path, kv, "want one of both, never, reply, request")
			}
		},
		"ppk_id":       d.stringOpt(&c.PPKID),
		"ppk_required": d.boolOpt(path, &c.PPKRequired),
		"keyingtries":  d.uint32Opt(path, &c.Keyingtries),
		"unique": enumOpt(d, path, &c.Unique, map[string]Unique{
			"no": UniqueNo, "never": UniqueNever, "replace": UniqueReplace, "keep": UniqueKeep,
		}),
		"reauth_time":    d.durationOpt(path, &c.ReauthTime, &reauthSet),
		"rekey_time":     d.durationOpt(path, &c.RekeyTime, &rekeySet),
		"over_time":      d.durationOpt(path, &c.OverTime, &overSet),
		"rand_time":      d.durationOpt(path, &c.RandTime, &randSet),
		"dpd_delay":      d.durationOpt(path, &c.DPDDelay, nil),
		"dpd_timeout":    d.durationOpt(path, &c.DPDTimeout, nil),
		"if_id_in":       d.ifIDOpt(path, &c.IfIDIn),
		"if_id_out":      d.ifIDOpt(path, &c.IfIDOut),
		"mediation":      d.boolNotSupported(path, false, "IKEv2 mediation extension"),
		"mediated_by":    d.notSupported(path, "IKEv2 mediation extension"),
		"mediation_peer": d.notSupported(path, "IKEv2 mediation extension"),
	}
	c.Set = d.settings(sec, path, h)

	// IKE_SA lifetimes as vici_config.c derives them.
	if !rekeySet && !reauthSet {
		c.RekeyTime = 4 * time.Hour
	}
	if !overSet {
		c.OverTime = max(c.RekeyTime, c.ReauthTime) / 10
		c.OverTime = c.OverTime.Truncate(time.Second)
	}
	if !randSet {
		var base time.Duration
		if c.RekeyTime != 0 && c.ReauthTime != 0 {
			base = min(c.RekeyTime, c.ReauthTime)
		} else {
			base = max(c.RekeyTime, c.ReauthTime)
		}
		c.RandTime = min(c.OverTime, (base / 2).Truncate(time.Second))
	}
	if c.Proposals == nil {
		c.Proposals = []Proposal{{Text: "default", Pos: sec.Pos, Implicit: true}}
	}
	if c.LocalAddrs == nil {
		c.LocalAddrs = []Value{{Text: "%any", Pos: sec.Pos}}
	}
	if c.RemoteAddrs == nil {
		c.RemoteAddrs = []Value{{Text: "%any", Pos: sec.Pos}}
	}

	for _, sub := range sec.Sections {
		lower := strings.ToLower(sub.Name)
		switch {
		case sub.Name == "children":
			d.noSettings(sub, path+".children")
			for _, ch := range sub.Sections {
				c.Children = append(c.Children, d.child(ch, path+".children."+ch.Name))
			}
		case strings.HasPrefix(lower, "local"):
			c.Local = append(c.Local, d.auth(sub, path+"."+sub.Name, true))
		case strings.HasPrefix(lower, "remote"):
			c.Remote = append(c.Remote, d.auth(sub, path+"."+sub.Name, false))
		default:
			d.unknown(sub.Pos, path, sub.Name, true, []string{"children", "local", "remote"})
		}
	}
	sortRounds(c.Local)
	sortRounds(c.Remote)
	if len(c.Local) == 0 {
		c.Local = []*Auth{defaultAuth("local", sec.Pos, true)}
	}
	if len(c.Remote) == 0 {
		c.Remote = []*Auth{defaultAuth("remote", sec.Pos, false)}
	}
	return c
}

// parseHost parses a single IP address; %any and %any6 stand for 0.0.0.0
// and ::.
func parseHost(s string) (netip.Addr, bool) {
	switch strings.ToLower(s) {
	case "%any", "%any4":
		return netip.IPv4Unspecified(), true
	case "%any6":
		return netip.IPv6Unspecified(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// addrs checks local_addrs / remote_addrs entries: addresses, subnets,
// ranges, %any variants or DNS names (resolved by the daemon).
func (d *decoder) addrs(path string, kv *Setting) []Value {
	var out []Value
	for _, item := range splitList(kv.Value) {
		if !validAddrSpec(item) {
			d.problems.add(kv.Pos, "%s: invalid %s entry %q: want an IP address, subnet, range, host name or %%any", path, kv.Key, item)
			continue
		}
		out = append(out, Value{Text: item, Pos: kv.Pos})
	}
	return out
}

func validAddrSpec(s string) bool {
	switch strings.ToLower(s) {
	case "%any", "%any4", "%any6":
		return true
	}
	if strings.HasPrefix(s, "%") {
		return false
	}
	if _, ok := parseHost(s); ok {
		return true
	}
	if _, err := netip.ParsePrefix(s); err == nil {
		return true
	}
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, err1 := netip.ParseAddr(lo)
		b, err2 := netip.ParseAddr(hi)
		if err1 == nil && err2 == nil {
			return a.Is4() == b.Is4() && !b.Less(a)
		}
	}
	// a DNS name: letters, digits, '-', '.', '_'
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return s != ""
}
