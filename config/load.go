package config

import (
	"fmt"
	"math"
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

// ppkDefined reports whether a secrets.ppk<suffix> section names the PPK id.
func ppkDefined(ppks []*SharedSecret, id string) bool {
	for _, p := range ppks {
		for _, o := range p.Owners {
			if o.Text == id {
				return true
			}
		}
	}
	return false
}

// crossChecks finds problems that span sections: undefined pools, PSK
// without any secret, a ppk_id without its PPK, certificates without their
// private key.
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
		if c.PPKID.Text != "" && !ppkDefined(cfg.Secrets.PPK, c.PPKID.Text) {
			d.problems.add(c.PPKID.Pos, "%s.ppk_id: no secrets.ppk<suffix> section has id = %s", path, c.PPKID.Text)
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
