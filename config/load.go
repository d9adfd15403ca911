package config

import (
	"fmt"
	"math"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// LoadOptions adjusts Load and Check.
type LoadOptions struct {
	// ValidateProposal, when set, checks every proposal string the user
	// wrote; kind is "ike", "esp" or "ah". Its error becomes a problem at
	// the proposal's line. "default" is not passed (the daemon expands it).
	ValidateProposal func(kind, proposal string) error
	// SkipCredentials leaves certificate and key files unread (for parsing
	// a configuration away from its credential folders).
	SkipCredentials bool

	// probe, when set, receives the known option names of a section in
	// place of the problem for the option probeKey (see Options).
	probe func(path string, known []string)
}

// Load reads a swanctl.conf, everything it includes and the credentials
// beside it, and returns the model with defaults filled in. If anything is
// wrong or not supported by cygnet the error is a Problems list with every
// problem found, each as "file:line: text".
func Load(path string) (*Config, error) { return LoadOptions{}.Load(path) }

// Check returns every problem in a configuration, nil when cygnet can run
// it; for "cygnet check-config".
func Check(path string) []Problem { return LoadOptions{}.Check(path) }

// Check is Check with options.
func (o LoadOptions) Check(path string) []Problem {
	_, err := o.Load(path)
	if err == nil {
		return nil
	}
	if ps, ok := err.(Problems); ok {
		return ps
	}
	return []Problem{{Pos: Pos{File: path}, Text: err.Error()}}
}

// Load is Load with options.
func (o LoadOptions) Load(path string) (*Config, error) {
	root, ctx := parseFile(osFiles{}, path)
	if len(ctx.problems) > 0 {
		return nil, ctx.problems.sorted(ctx.files)
	}
	cfg, problems := o.build(path, root, ctx.files)
	if len(problems) > 0 {
		return nil, problems.sorted(ctx.files)
	}
	return cfg, nil
}

// build turns a parsed tree into the model.
func (o LoadOptions) build(path string, root *Section, files []string) (*Config, Problems) {
	d := &decoder{opts: o}
	d.creds = newCredLoader(filepath.Dir(path), &d.problems)
	cfg := &Config{Path: path, Files: files}
	tree := resolveRefs(root, &d.problems)
	templates := map[string]bool{}
	referenced(root, templates)

	for _, kv := range tree.Settings {
		d.unknown(kv.Pos, "", kv.Key, false, nil)
	}
	for _, sec := range tree.Sections {
		switch sec.Name {
		case "connections", "secrets", "authorities", "pools":
		default:
			if !templates[sec.Name] && !isTemplateParent(sec.Name, templates) {
				d.unknown(sec.Pos, "", sec.Name, true, []string{"connections", "secrets", "authorities", "pools"})
			}
		}
	}
	if !o.SkipCredentials {
		d.creds.folders(&cfg.Credentials)
	}
	if sec := tree.Sub("pools"); sec != nil {
		d.noSettings(sec, "pools")
		for _, p := range sec.Sections {
			cfg.Pools = append(cfg.Pools, d.pool(p))
		}
	}
	if sec := tree.Sub("authorities"); sec != nil {
		d.noSettings(sec, "authorities")
		for _, a := range sec.Sections {
			cfg.Authorities = append(cfg.Authorities, d.authority(a))
		}
	}
	if sec := tree.Sub("secrets"); sec != nil {
		d.secrets(sec, &cfg.Secrets)
	}
	if sec := tree.Sub("connections"); sec != nil {
		d.noSettings(sec, "connections")
		// a connection other connections reference is still a connection
		// of its own, as in strongSwan
		for _, c := range sec.Sections {
			cfg.Connections = append(cfg.Connections, d.connection(c))
		}
	}
	d.crossChecks(cfg)
	return cfg, d.problems
}

// isTemplateParent reports whether name is the first part of a referenced
// path ("tmpl" for a reference "tmpl.conn").
func isTemplateParent(name string, templates map[string]bool) bool {
	for t := range templates {
		if strings.HasPrefix(t, name+".") {
			return true
		}
	}
	return false
}

// decoder turns sections into model types, collecting problems.
type decoder struct {
	opts     LoadOptions
	problems Problems
	creds    *credLoader
	// ikeSecrets counts secrets.ike<suffix> sections, valid or not.
	ikeSecrets int
}

// unknown reports an option or section cygnet does not know, with a hint
// when the name looks like a typo of a known one.
func (d *decoder) unknown(pos Pos, path, name string, section bool, known []string) {
	if d.opts.probe != nil && name == probeKey {
		d.opts.probe(path, known)
		return
	}
	what := "option"
	if section {
		what = "section"
	}
	hint := ""
	if s := suggest(name, known); s != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", s)
	}
	if path == "" {
		d.problems.add(pos, "unknown top-level %s %q%s", what, name, hint)
		return
	}
	d.problems.add(pos, "%s: unknown %s %q%s", path, what, name, hint)
}

func (d *decoder) invalid(path string, kv *Setting, want string) {
	d.problems.add(kv.Pos, "%s: invalid %s %q: %s", path, kv.Key, kv.Value, want)
}

func (d *decoder) unsupportedValue(path string, kv *Setting, why string) {
	if why != "" {
		why = " (" + why + ")"
	}
	d.problems.add(kv.Pos, "%s: %s = %s is not supported by cygnet%s", path, kv.Key, kv.Value, why)
}

func (d *decoder) unsupportedOption(path string, kv *Setting, why string) {
	if why != "" {
		why = " (" + why + ")"
	}
	d.problems.add(kv.Pos, "%s: %s is not supported by cygnet%s", path, kv.Key, why)
}

// noSettings reports settings directly in a container section (connections,
// pools, authorities), which only hold subsections.
func (d *decoder) noSettings(sec *Section, path string) {
	for _, kv := range sec.Settings {
		d.problems.add(kv.Pos, "%s: unexpected option %q (%s holds only sections)", path, kv.Key, path)
	}
}

// handlers maps option names to their parsers for one section type.
type handlers map[string]func(kv *Setting)

func (h handlers) names() []string {
	out := make([]string, 0, len(h))
	for k := range h {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// settings runs the handler of every set option of sec; unknown options are
// problems. It returns where each option was set, so that later layers can
// name the line of an option they cannot honour.
func (d *decoder) settings(sec *Section, path string, h handlers) map[string]Pos {
	set := make(map[string]Pos, len(sec.Settings))
	for _, kv := range sec.Settings {
		f, ok := h[kv.Key]
		if !ok {
			d.unknown(kv.Pos, path, kv.Key, false, h.names())
			continue
		}
		if !kv.Set {
			continue // "key =": strongSwan's "not set", the default applies
		}
		set[kv.Key] = kv.Pos
		f(kv)
	}
	return set
}

// Typed option helpers: each parses kv.Value into *out or reports why not.

func (d *decoder) boolOpt(path string, out *bool) func(*Setting) {
	return func(kv *Setting) {
		v, ok := parseBool(kv.Value)
		if !ok {
			d.invalid(path, kv, "want yes or no")
			return
		}
		*out = v
	}
}

func (d *decoder) durationOpt(path string, out *time.Duration, set *bool) func(*Setting) {
	return func(kv *Setting) {
		v, ok := parseDuration(kv.Value)
		if !ok {
			d.invalid(path, kv, "want a duration in seconds or with a unit, like 30s, 10m, 4h or 1d")
			return
		}
		*out = v
		if set != nil {
			*set = true
		}
	}
}

func (d *decoder) bytesOpt(path string, out *uint64, set *bool) func(*Setting) {
	return func(kv *Setting) {
		v, ok := parseBytes(kv.Value)
		if !ok {
			d.invalid(path, kv, "want a byte count, optionally with k, M or G (1024-based)")
			return
		}
		*out, *set = v, true
	}
}

func (d *decoder) uint64Opt(path string, out *uint64, set *bool) func(*Setting) {
	return func(kv *Setting) {
		v, ok := parseUint(kv.Value, math.MaxUint64)
		if !ok {
			d.invalid(path, kv, "want a number")
			return
		}
		*out, *set = v, true
	}
}

func (d *decoder) uint32Opt(path string, out *uint32) func(*Setting) {
	return func(kv *Setting) {
		v, ok := parseUint(kv.Value, math.MaxUint32)
		if !ok {
			d.invalid(path, kv, "want a number from 0 to 4294967295")
			return
		}
		*out = uint32(v)
	}
}

func (d *decoder) portOpt(path string, out *uint16) func(*Setting) {
	return func(kv *Setting) {
		v, ok := parseUint(kv.Value, math.MaxUint16)
		if !ok {
			d.invalid(path, kv, "want a UDP port from 0 to 65535")
			return
		}
		*out = uint16(v)
	}
}

func (d *decoder) stringOpt(out *Value) func(*Setting) {
	return func(kv *Setting) { *out = Value{Text: kv.Value, Pos: kv.Pos} }
}

// enumOpt maps case-insensitive keywords to values of T.
func enumOpt[T any](d *decoder, path string, out *T, m map[string]T) func(*Setting) {
	return func(kv *Setting) {
		v, ok := m[strings.ToLower(kv.Value)]
		if !ok {
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			d.invalid(path, kv, "want one of "+strings.Join(keys, ", "))
			return
		}
		*out = v
	}
}

func (d *decoder) ifIDOpt(path string, out *IfID) func(*Setting) {
	return func(kv *Setting) {
		v, ok := parseIfID(kv.Value)
		if !ok {
			d.invalid(path, kv, "want a number, %unique or %unique-dir")
			return
		}
		*out = v
	}
}

// boolNotSupported accepts a boolean option only with the value cygnet
// implements (strongSwan's default), refusing the other precisely.
func (d *decoder) boolNotSupported(path string, supported bool, why string) func(*Setting) {
	return func(kv *Setting) {
		v, ok := parseBool(kv.Value)
		if !ok {
			d.invalid(path, kv, "want yes or no")
			return
		}
		if v != supported {
			d.unsupportedValue(path, kv, why)
		}
	}
}

// notSupported refuses an option cygnet does not implement.
func (d *decoder) notSupported(path, why string) func(*Setting) {
	return func(kv *Setting) { d.unsupportedOption(path, kv, why) }
}

// proposals splits a proposal list and passes each to the validation hook.
func (d *decoder) proposals(kind string, kv *Setting) []Proposal {
	var out []Proposal
	for _, item := range splitList(kv.Value) {
		out = append(out, Proposal{Text: item, Pos: kv.Pos})
		if d.opts.ValidateProposal != nil && !strings.EqualFold(item, "default") {
			if err := d.opts.ValidateProposal(kind, item); err != nil {
				d.problems.add(kv.Pos, "%s proposal %q: %v", kind, item, err)
			}
		}
	}
	return out
}

func values(kv *Setting) []Value {
	var out []Value
	for _, item := range splitList(kv.Value) {
		out = append(out, Value{Text: item, Pos: kv.Pos})
	}
	return out
}

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
		"encap":  d.boolOpt(path, &c.Encap),
		"mobike": d.boolOpt(path, &c.MOBIKE),
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
		"ppk_id":       d.notSupported(path, "postquantum preshared keys, RFC 8784"),
		"ppk_required": d.boolNotSupported(path, false, "postquantum preshared keys, RFC 8784"),
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

// sortRounds orders authentication rounds by round, keeping the order of
// appearance for equal rounds (vici inserts before the first higher round).
func sortRounds(a []*Auth) {
	sort.SliceStable(a, func(i, j int) bool { return a[i].Round < a[j].Round })
}

func defaultAuth(name string, pos Pos, local bool) *Auth {
	a := &Auth{Name: name, Pos: pos, Method: AuthPubkey, AuthText: "pubkey"}
	if !local {
		a.ID = Value{Text: "%any", Pos: pos}
	}
	return a
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

// Known EAP methods (eap-<method>), as strongSwan names them.
var eapMethods = map[string]bool{
	"md5": true, "otp": true, "gtc": true, "tls": true, "sim": true, "ttls": true,
	"aka": true, "aka'": true, "peap": true, "mschapv2": true, "tnc": true,
	"pt-eap": true, "dynamic": true, "radius": true, "identity": true,
}

// signature constraint tokens (auth = pubkey-sha256, rsa/pss-sha384, ...)
var constraintKeys = map[string]bool{"pubkey": true, "rsa": true, "rsa/pss": true, "ecdsa": true, "ed25519": true}
var constraintHashes = map[string]bool{
	"md5": true, "sha1": true, "sha224": true, "sha256": true, "sha384": true, "sha512": true, "identity": true,
}

// parseAuthValue parses the auth option as vici_config.c does.
func (d *decoder) parseAuthValue(path string, kv *Setting, a *Auth) {
	v := kv.Value
	lower := strings.ToLower(v)
	a.AuthText = v
	switch {
	case strings.HasPrefix(v, "ike:") || strings.HasPrefix(v, "pubkey") || strings.HasPrefix(v, "rsa") || strings.HasPrefix(v, "ecdsa"):
		a.Method = AuthPubkey
		a.Constraints = d.constraints(path, kv, v)
	case lower == "psk":
		a.Method = AuthPSK
	case strings.HasPrefix(lower, "xauth"):
		d.unsupportedValue(path, kv, "XAuth is IKEv1")
	case strings.HasPrefix(lower, "eap"):
		a.Method = AuthEAP
		method, cons, hasCons := strings.Cut(v, ":")
		if hasCons {
			a.Constraints = d.constraints(path, kv, cons)
		}
		lm := strings.ToLower(method)
		if lm != "eap" {
			name, ok := strings.CutPrefix(lm, "eap-")
			if !ok || !eapMethods[name] {
				d.invalid(path, kv, "want eap or eap-<method> with a known method such as eap-mschapv2, eap-tls, eap-md5")
				return
			}
			a.EAPType = name
		}
	default:
		hint := "want pubkey, psk or eap[-method]"
		if strings.HasPrefix(lower, "ed25519") || strings.HasPrefix(lower, "ed448") {
			hint = "want pubkey (Ed25519 keys are used with auth = pubkey), psk or eap[-method]"
		}
		d.invalid(path, kv, hint)
	}
}

// constraints checks signature scheme constraint tokens.
func (d *decoder) constraints(path string, kv *Setting, s string) []string {
	var out []string
	afterStrength := false
	for _, tok := range strings.Split(s, "-") {
		key := strings.TrimPrefix(tok, "ike:")
		switch {
		case constraintKeys[key]:
			afterStrength = key == "rsa" || key == "rsa/pss" || key == "ecdsa"
			out = append(out, tok)
			continue
		case key == "ed448":
			d.unsupportedValue(path, kv, "Ed448")
			return nil
		case afterStrength && isDigits(tok):
			out = append(out, tok)
		case constraintHashes[tok] || strings.HasPrefix(tok, "sha3_") && constraintHashes["sha"+tok[5:]]:
			out = append(out, tok)
		default:
			d.problems.add(kv.Pos, "%s: invalid auth %q: unknown signature constraint %q", path, kv.Value, tok)
			return nil
		}
		afterStrength = false
	}
	return out
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (d *decoder) auth(sec *Section, path string, local bool) *Auth {
	a := defaultAuth(sec.Name, sec.Pos, local)
	h := handlers{
		"round":       d.uint32Opt(path, &a.Round),
		"auth":        func(kv *Setting) { d.parseAuthValue(path, kv, a) },
		"id":          d.stringOpt(&a.ID),
		"eap_id":      d.stringOpt(&a.EAPID),
		"aaa_id":      d.stringOpt(&a.AAAID),
		"ca_id":       d.stringOpt(&a.CAID),
		"xauth_id":    d.notSupported(path, "XAuth is IKEv1"),
		"groups":      d.notSupported(path, "group membership rules"),
		"cert_policy": d.notSupported(path, "certificate policy rules"),
		"certs": func(kv *Setting) {
			for _, name := range splitList(kv.Value) {
				if c := d.creds.cert(DirX509, name, kv.Pos, path+".certs"); c != nil {
					a.Certs = append(a.Certs, c)
				}
			}
		},
		"cacerts": func(kv *Setting) {
			for _, name := range splitList(kv.Value) {
				if c := d.creds.cert(DirX509CA, name, kv.Pos, path+".cacerts"); c != nil {
					a.CACerts = append(a.CACerts, c)
				}
			}
		},
		"pubkeys": func(kv *Setting) {
			for _, name := range splitList(kv.Value) {
				if k := d.creds.pubkey(name, kv.Pos, path+".pubkeys"); k != nil {
					a.Pubkeys = append(a.Pubkeys, k)
				}
			}
		},
		"revocation": enumOpt(d, path, &a.Revocation, map[string]Revocation{
			"strict": RevocationStrict, "ifuri": RevocationIfURI, "relaxed": RevocationRelaxed,
		}),
	}
	if d.opts.SkipCredentials {
		for _, k := range []string{"certs", "cacerts", "pubkeys"} {
			h[k] = func(*Setting) {}
		}
	}
	a.Set = d.settings(sec, path, h)
	for _, sub := range sec.Sections {
		lower := strings.ToLower(sub.Name)
		switch {
		case strings.HasPrefix(lower, "cert"), strings.HasPrefix(lower, "cacert"):
			ca := strings.HasPrefix(lower, "cacert")
			c := d.certSection(sub, path+"."+sub.Name, ca)
			if c == nil {
				continue
			}
			if ca {
				a.CACerts = append(a.CACerts, c)
			} else {
				a.Certs = append(a.Certs, c)
			}
		default:
			d.unknown(sub.Pos, path, sub.Name, true, []string{"cert", "cacert"})
		}
	}
	if !local && a.ID.Text == "" {
		a.ID = Value{Text: "%any", Pos: sec.Pos}
	}
	if a.EAPID.Text == "" {
		a.EAPID = a.ID // swanctl.conf: eap_id defaults to id
	}
	return a
}

// certSection is cert<suffix> / cacert<suffix> { file = ... } (PKCS#11
// handle, slot, module are not supported).
func (d *decoder) certSection(sec *Section, path string, ca bool) *Cert {
	var file *Setting
	h := handlers{
		"file":   func(kv *Setting) { file = kv },
		"handle": d.notSupported(path, "PKCS#11 tokens"),
		"slot":   d.notSupported(path, "PKCS#11 tokens"),
		"module": d.notSupported(path, "PKCS#11 tokens"),
	}
	d.settings(sec, path, h)
	for _, sub := range sec.Sections {
		d.unknown(sub.Pos, path, sub.Name, true, nil)
	}
	if file == nil {
		d.problems.add(sec.Pos, "%s: missing file", path)
		return nil
	}
	if d.opts.SkipCredentials {
		return nil
	}
	// file is passed to charon as-is; relative paths are taken relative to
	// the configuration's folder here
	return d.creds.cert(".", file.Value, file.Pos, path+".file")
}

func (d *decoder) child(sec *Section, path string) *Child {
	ch := &Child{
		Name:         sec.Name,
		Pos:          sec.Pos,
		ReplayWindow: 32,
		CopyDF:       true,
		CopyECN:      true,
		Policies:     true,
	}
	var rekeyT, lifeT, randT time.Duration
	var rekeyTSet, lifeTSet, randTSet bool
	var rekeyB, lifeB, randB, rekeyP, lifeP, randP uint64
	var rekeyBSet, lifeBSet, randBSet, rekeyPSet, lifePSet, randPSet bool
	action := func(out *Action) func(*Setting) {
		return func(kv *Setting) {
			a, ok := parseAction(kv.Value)
			if !ok {
				d.invalid(path, kv, "want none, trap, start or trap|start")
				return
			}
			*out = a
		}
	}
	mark := func(out *Mark, unique, same bool) func(*Setting) {
		return func(kv *Setting) {
			m, ok := parseMark(kv.Value, unique, same)
			if !ok {
				want := "want value[/mask]"
				if unique {
					want += ", %unique or %unique-dir"
				}
				if same {
					want += " or %same"
				}
				d.invalid(path, kv, want)
				return
			}
			*out = m
		}
	}
	h := handlers{
		"mode": func(kv *Setting) {
			switch strings.ToLower(kv.Value) {
			case "tunnel":
				ch.Mode = ModeTunnel
			case "transport":
				ch.Mode = ModeTransport
			case "pass":
				ch.Mode = ModePass
			case "drop":
				ch.Mode = ModeDrop
			case "transport_proxy":
				d.unsupportedValue(path, kv, "Mobile IPv6 transport proxy mode")
			case "beet":
				d.unsupportedValue(path, kv, "BEET mode")
			case "iptfs":
				d.unsupportedValue(path, kv, "IP-TFS, RFC 9347")
			default:
				d.invalid(path, kv, "want tunnel, transport, pass or drop")
			}
		},
		"local_ts":      func(kv *Setting) { ch.LocalTS = d.selectors(path, kv) },
		"remote_ts":     func(kv *Setting) { ch.RemoteTS = d.selectors(path, kv) },
		"esp_proposals": func(kv *Setting) { ch.ESPProposals = d.proposals("esp", kv) },
		"ah_proposals":  func(kv *Setting) { ch.AHProposals = d.proposals("ah", kv) },
		"rekey_time":    d.durationOpt(path, &rekeyT, &rekeyTSet),
		"life_time":     d.durationOpt(path, &lifeT, &lifeTSet),
		"rand_time":     d.durationOpt(path, &randT, &randTSet),
		"rekey_bytes":   d.bytesOpt(path, &rekeyB, &rekeyBSet),
		"life_bytes":    d.bytesOpt(path, &lifeB, &lifeBSet),
		"rand_bytes":    d.bytesOpt(path, &randB, &randBSet),
		"rekey_packets": d.uint64Opt(path, &rekeyP, &rekeyPSet),
		"life_packets":  d.uint64Opt(path, &lifeP, &lifePSet),
		"rand_packets":  d.uint64Opt(path, &randP, &randPSet),
		"start_action":  action(&ch.StartAction),
		"close_action":  action(&ch.CloseAction),
		"dpd_action":    action(&ch.DPDAction),
		"updown":        d.stringOpt(&ch.Updown),
		"hostaccess":    d.boolOpt(path, &ch.HostAccess),
		"ipcomp":        d.boolNotSupported(path, false, "IPComp"),
		"inactivity": func(kv *Setting) {
			v, ok := parseDuration(kv.Value)
			if !ok || v > math.MaxUint32*time.Second {
				d.invalid(path, kv, "want a duration in seconds or with a unit, like 30s, 10m, 4h or 1d")
				return
			}
			ch.Inactivity = v
		},
		"reqid":        d.uint32Opt(path, &ch.Reqid),
		"priority":     d.uint32Opt(path, &ch.Priority),
		"interface":    d.stringOpt(&ch.Interface),
		"mark_in":      mark(&ch.MarkIn, true, false),
		"mark_in_sa":   d.boolOpt(path, &ch.MarkInSA),
		"mark_out":     mark(&ch.MarkOut, true, false),
		"set_mark_in":  mark(&ch.SetMarkIn, false, true),
		"set_mark_out": mark(&ch.SetMarkOut, false, true),
		"if_id_in":     d.ifIDOpt(path, &ch.IfIDIn),
		"if_id_out":    d.ifIDOpt(path, &ch.IfIDOut),
		"tfc_padding": func(kv *Setting) {
			if kv.Value == "mtu" {
				ch.TFCPadding = TFCPaddingMTU
				return
			}
			v, ok := parseUint(kv.Value, math.MaxUint32)
			if !ok {
				d.invalid(path, kv, "want a number of bytes or mtu")
				return
			}
			ch.TFCPadding = uint32(v)
		},
		"replay_window":    d.uint32Opt(path, &ch.ReplayWindow),
		"copy_df":          d.boolOpt(path, &ch.CopyDF),
		"copy_ecn":         d.boolOpt(path, &ch.CopyECN),
		"copy_dscp":        enumOpt(d, path, &ch.CopyDSCP, map[string]CopyDSCP{"out": CopyDSCPOut, "no": CopyDSCPNo, "in": CopyDSCPIn, "yes": CopyDSCPYes}),
		"policies":         d.boolOpt(path, &ch.Policies),
		"policies_fwd_out": d.boolOpt(path, &ch.PoliciesFwdOut),
		"sha256_96":        d.boolOpt(path, &ch.SHA256_96),
		"icmp":             d.boolOpt(path, &ch.ForwardICMP),
		"hw_offload": func(kv *Setting) {
			switch strings.ToLower(kv.Value) {
			case "no":
				ch.HWOffload = HWOffloadNo
			case "auto":
				ch.HWOffload = HWOffloadAuto
			case "yes", "crypto", "packet":
				d.unsupportedValue(path, kv, "no hardware offload in a user-space data plane")
			default:
				d.invalid(path, kv, "want no, auto, yes, crypto or packet")
			}
		},
		"per_cpu_sas": func(kv *Setting) {
			v, ok := parseBool(kv.Value)
			switch {
			case ok && !v:
			case ok || strings.EqualFold(kv.Value, "encap"):
				d.unsupportedValue(path, kv, "per-CPU SAs, RFC 9611")
			default:
				d.invalid(path, kv, "want yes, no or encap")
			}
		},
		"label":      d.notSupported(path, "security labels"),
		"label_mode": d.notSupported(path, "security labels"),
	}
	ch.Set = d.settings(sec, path, h)
	for _, sub := range sec.Sections {
		d.unknown(sub.Pos, path, sub.Name, true, nil)
	}
	if ch.LocalTS == nil {
		ch.LocalTS = []TrafficSelector{{Text: "dynamic", Pos: sec.Pos, Dynamic: true, ToPort: math.MaxUint16}}
	}
	if ch.RemoteTS == nil {
		ch.RemoteTS = []TrafficSelector{{Text: "dynamic", Pos: sec.Pos, Dynamic: true, ToPort: math.MaxUint16}}
	}
	if ch.ESPProposals == nil && ch.AHProposals == nil {
		ch.ESPProposals = []Proposal{{Text: "default", Pos: sec.Pos, Implicit: true}}
	}

	// CHILD_SA lifetimes as check_lifetimes() in vici_config.c derives them.
	secs := func(d time.Duration) uint64 { return uint64(d / time.Second) }
	rt, lt, jt := lifetimes(secs(rekeyT), rekeyTSet, secs(lifeT), lifeTSet, secs(randT), randTSet, 3600)
	ch.RekeyTime, ch.LifeTime, ch.RandTime = time.Duration(rt)*time.Second, time.Duration(lt)*time.Second, time.Duration(jt)*time.Second
	ch.RekeyBytes, ch.LifeBytes, ch.RandBytes = lifetimes(rekeyB, rekeyBSet, lifeB, lifeBSet, randB, randBSet, 0)
	ch.RekeyPackets, ch.LifePackets, ch.RandPackets = lifetimes(rekeyP, rekeyPSet, lifeP, lifePSet, randP, randPSet, 0)
	return ch
}

// lifetimes fills unset soft/hard/jitter values: rekey = life/1.1 or the
// default, life = rekey*1.1, jitter = life - rekey (computed in floating
// point like strongSwan, then truncated).
func lifetimes(rekey uint64, rekeySet bool, life uint64, lifeSet bool, jitter uint64, jitterSet bool, def uint64) (uint64, uint64, uint64) {
	if !rekeySet {
		if lifeSet {
			rekey = floatToUint(float64(life) / 1.1)
		} else {
			rekey = def
		}
	}
	if !lifeSet {
		life = floatToUint(float64(rekey) * 1.1)
	}
	if !jitterSet {
		jitter = life - min(life, rekey)
	}
	return rekey, life, jitter
}

func floatToUint(f float64) uint64 {
	if f >= math.MaxUint64 {
		return math.MaxUint64
	}
	return uint64(f)
}

// parseAction parses start_action, close_action and dpd_action: none/clear,
// trap/route, start/restart, or flags joined with '|' ("trap|start").
func parseAction(s string) (Action, bool) {
	var a Action
	for _, tok := range strings.Split(strings.ToLower(s), "|") {
		switch strings.TrimSpace(tok) {
		case "none", "clear":
		case "trap", "route":
			a |= ActionTrap
		case "start", "restart":
			a |= ActionStart
		default:
			return 0, false
		}
	}
	return a, true
}

func (d *decoder) selectors(path string, kv *Setting) []TrafficSelector {
	out := []TrafficSelector{}
	for _, item := range splitList(kv.Value) {
		ts, err := parseTS(item)
		if err != nil {
			d.problems.add(kv.Pos, "%s: invalid %s entry %q: %v", path, kv.Key, item, err)
			continue
		}
		ts.Pos = kv.Pos
		out = append(out, ts)
	}
	return out
}

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
	return AddrRange{Start: ts.Start, End: ts.End}, true
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

// secretTypes are the secrets.<type><suffix> sections, matched by prefix in
// this order as swanctl does.
var secretTypes = []string{"eap", "xauth", "ntlm", "ike", "ppk", "private", "rsa", "ecdsa", "pkcs8", "pkcs12", "token"}

func (d *decoder) secrets(sec *Section, out *Secrets) {
	d.noSettings(sec, "secrets")
	for _, s := range sec.Sections {
		path := "secrets." + s.Name
		typ := ""
		for _, t := range secretTypes {
			if strings.HasPrefix(s.Name, t) {
				typ = t
				break
			}
		}
		if typ == "ike" {
			d.ikeSecrets++
		}
		switch typ {
		case "ike", "eap", "xauth":
			ss := d.sharedSecret(s, path)
			if ss == nil {
				continue
			}
			switch typ {
			case "ike":
				out.IKE = append(out.IKE, ss)
			case "eap":
				out.EAP = append(out.EAP, ss)
			default:
				out.XAuth = append(out.XAuth, ss)
			}
		case "private", "rsa", "ecdsa", "pkcs8":
			if k := d.keyPassphrase(s, path, typ); k != nil {
				out.Keys = append(out.Keys, k)
			}
		case "ntlm":
			d.problems.add(s.Pos, "%s: NTLM secrets are not supported by cygnet", path)
		case "ppk":
			d.problems.add(s.Pos, "%s: postquantum preshared keys (RFC 8784) are not supported by cygnet", path)
		case "pkcs12":
			d.problems.add(s.Pos, "%s: PKCS#12 containers are not supported by cygnet", path)
		case "token":
			d.problems.add(s.Pos, "%s: PKCS#11 tokens are not supported by cygnet", path)
		default:
			d.problems.add(s.Pos, "secrets: unknown section %q: want ike<suffix>, eap<suffix>, xauth<suffix>, private<suffix>, rsa<suffix>, ecdsa<suffix> or pkcs8<suffix>", s.Name)
		}
	}
}

// decodeSecret decodes 0x<hex> and 0s<base64> secrets; others are taken
// as they are.
func decodeSecret(s string) ([]byte, error) {
	b, inline, err := inlineBlob(s)
	if err != nil {
		return nil, err
	}
	if !inline {
		return []byte(s), nil
	}
	return b, nil
}

func (d *decoder) sharedSecret(sec *Section, path string) *SharedSecret {
	ss := &SharedSecret{Name: sec.Name, Pos: sec.Pos}
	found, bad := false, false
	for _, kv := range sec.Settings {
		switch {
		case kv.Key == "secret":
			if !kv.Set {
				continue
			}
			b, err := decodeSecret(kv.Value)
			if err != nil {
				// never echo the secret itself
				d.problems.add(kv.Pos, "%s: invalid secret: %v", path, err)
				bad = true
				continue
			}
			ss.Secret, ss.SecretPos, found = NewSecret(b), kv.Pos, true
		case strings.HasPrefix(kv.Key, "id"):
			if kv.Set {
				ss.Owners = append(ss.Owners, Value{Text: kv.Value, Pos: kv.Pos})
			}
		default:
			d.unknown(kv.Pos, path, kv.Key, false, []string{"secret", "id"})
		}
	}
	for _, sub := range sec.Sections {
		d.unknown(sub.Pos, path, sub.Name, true, nil)
	}
	if !found {
		if !bad {
			d.problems.add(sec.Pos, "%s: missing secret", path)
		}
		return nil
	}
	return ss
}

func (d *decoder) keyPassphrase(sec *Section, path, typ string) *KeyPassphrase {
	k := &KeyPassphrase{Name: sec.Name, Pos: sec.Pos}
	var file *Setting
	found := false
	for _, kv := range sec.Settings {
		switch {
		case kv.Key == "file":
			if kv.Set {
				file = kv
			}
		case strings.HasPrefix(kv.Key, "secret"):
			if kv.Set {
				k.Secret, found = NewSecret([]byte(kv.Value)), true
			}
		default:
			d.unknown(kv.Pos, path, kv.Key, false, []string{"file", "secret"})
		}
	}
	for _, sub := range sec.Sections {
		d.unknown(sub.Pos, path, sub.Name, true, nil)
	}
	if file == nil {
		d.problems.add(sec.Pos, "%s: missing file", path)
		return nil
	}
	if !found {
		d.problems.add(sec.Pos, "%s: missing secret", path)
	}
	k.File = d.creds.resolve(typ, file.Value)
	if !d.opts.SkipCredentials {
		if _, err := readCredFile(k.File); err != nil {
			d.problems.add(file.Pos, "%s: key %s: %v", path, k.File, err)
		}
	}
	return k
}

// crossChecks finds problems that span sections: undefined pools, PSK
// without any secret, certificates without their private key.
func (d *decoder) crossChecks(cfg *Config) {
	for _, c := range cfg.Connections {
		path := "connections." + c.Name
		for _, p := range c.Pools {
			if cfg.Pool(p.Text) == nil {
				d.problems.add(p.Pos, "%s: pool %q is not defined in pools", path, p.Text)
			}
		}
		for _, a := range append(append([]*Auth{}, c.Local...), c.Remote...) {
			if a.Method == AuthPSK && d.ikeSecrets == 0 {
				d.problems.add(a.Pos, "%s.%s: auth = psk but secrets has no ike<suffix> section", path, a.Name)
			}
		}
		if d.opts.SkipCredentials {
			continue
		}
		for _, a := range c.Local {
			if a.Method != AuthPubkey {
				continue
			}
			for _, cert := range a.Certs {
				if cert.X509 != nil && cfg.Credentials.PrivateKeyFor(cert.X509.PublicKey) == nil {
					d.problems.add(cert.Pos, "%s.%s: no private key for certificate %s in %s/, %s/, %s/ or %s/",
						path, a.Name, cert.Name, DirPrivate, DirRSA, DirECDSA, DirPKCS8)
				}
			}
		}
	}
}
