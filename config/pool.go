package config

import (
	"net/netip"
	"strings"
)

// pools.<name> and authorities.<name>.

func (d *decoder) pool(sec *Section) *Pool {
	path := "pools." + sec.Name
	p := &Pool{Name: sec.Name, Pos: sec.Pos}
	addrList := func(out *[]netip.Addr) func(*Setting) {
		return func(kv *Setting) {
			for _, item := range splitList(kv.Value) {
				a, err := netip.ParseAddr(item)
				if err != nil {
					d.problems.add(kv.Pos, "%s: invalid %s entry %q: want an IP address", path, kv.Key, item)
					continue
				}
				*out = append(*out, a.Unmap())
			}
		}
	}
	for _, kv := range sec.Settings {
		if !kv.Set {
			continue
		}
		switch kv.Key {
		case "addrs":
			p.AddrsPos = kv.Pos
			for _, item := range splitList(kv.Value) {
				r, ok := parseAddrRange(item)
				if !ok {
					d.problems.add(kv.Pos, "%s: invalid addrs entry %q: want a subnet, a range a-b or an address", path, item)
					continue
				}
				p.Addrs = append(p.Addrs, r)
			}
		case "dns":
			addrList(&p.DNS)(kv)
		case "nbns":
			addrList(&p.NBNS)(kv)
		case "dhcp", "netmask", "server", "subnet", "p_cscf", "split_include", "split_exclude":
			if p.Attrs == nil {
				p.Attrs = map[string][]Value{}
			}
			p.Attrs[kv.Key] = values(kv)
		default:
			if isDigits(kv.Key) {
				if p.Attrs == nil {
					p.Attrs = map[string][]Value{}
				}
				p.Attrs[kv.Key] = values(kv)
				continue
			}
			d.unknown(kv.Pos, path, kv.Key, false, []string{"addrs", "dns", "nbns", "dhcp", "netmask", "server", "subnet", "p_cscf", "split_include", "split_exclude"})
		}
	}
	for _, sub := range sec.Sections {
		d.unknown(sub.Pos, path, sub.Name, true, nil)
	}
	return p
}

// parseAddrRange parses a pool's addrs entry: CIDR, a-b range or address.
// The "%config" placeholder (addresses from elsewhere) is not supported.
func parseAddrRange(s string) (AddrRange, bool) {
	ts, err := parseTS(s)
	if err != nil || ts.Dynamic || strings.Contains(s, "[") {
		return AddrRange{}, false
	}
	r := AddrRange{Start: ts.Start, End: ts.End}
	if p, err := netip.ParsePrefix(strings.TrimSpace(s)); err == nil {
		r.Prefix = p.Masked()
	}
	return r, true
}

func (d *decoder) authority(sec *Section) *Authority {
	path := "authorities." + sec.Name
	a := &Authority{Name: sec.Name, Pos: sec.Pos}
	var cacert, file *Setting
	h := handlers{
		"cacert":        func(kv *Setting) { cacert = kv },
		"file":          func(kv *Setting) { file = kv },
		"handle":        d.notSupported(path, "PKCS#11 tokens"),
		"slot":          d.notSupported(path, "PKCS#11 tokens"),
		"module":        d.notSupported(path, "PKCS#11 tokens"),
		"crl_uris":      func(kv *Setting) { a.CRLURIs = values(kv) },
		"ocsp_uris":     func(kv *Setting) { a.OCSPURIs = values(kv) },
		"cert_uri_base": d.stringOpt(&a.CertURIBase),
	}
	d.settings(sec, path, h)
	for _, sub := range sec.Sections {
		d.unknown(sub.Pos, path, sub.Name, true, nil)
	}
	switch {
	case cacert != nil && file != nil:
		d.problems.add(file.Pos, "%s: cacert and file are both set; use one", path)
	case cacert == nil && file == nil:
		d.problems.add(sec.Pos, "%s: missing cacert (a file in %s/)", path, DirX509CA)
	case d.opts.SkipCredentials:
	case cacert != nil:
		a.CACert = d.creds.cert(DirX509CA, cacert.Value, cacert.Pos, path+".cacert")
	default:
		a.CACert = d.creds.cert(".", file.Value, file.Pos, path+".file")
	}
	return a
}
