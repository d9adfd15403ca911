package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Charon is what cygnet takes from the charon section of strongswan.conf,
// where strongSwan keeps its daemon-wide settings. Every setting of that
// section is used, refused (Load's error) or warned about (Warnings), each
// at its file:line; settings of other programs' sections (swanctl, pki,
// starter, libstrongswan, ...) are warned about when set.
type Charon struct {
	// Path is the file given to LoadCharon; Files every file read.
	Path  string
	Files []string

	// DoSProtection is charon.dos_protection (default yes): with no, cookies
	// are never demanded and no source is blocked, whatever the thresholds.
	DoSProtection bool
	// CookieThreshold (cookie_threshold), CookieThresholdIP
	// (cookie_threshold_ip), BlockThreshold (block_threshold) and
	// InitLimitHalfOpen (init_limit_half_open) count half-open IKE SAs, in
	// total or per source; zero disables the check, as in strongSwan.
	CookieThreshold   IntSetting
	CookieThresholdIP IntSetting
	BlockThreshold    IntSetting
	InitLimitHalfOpen IntSetting
	// RetransmitTimeout (seconds, fractions allowed), RetransmitBase,
	// RetransmitTries, RetransmitLimit (the longest wait, zero for none) and
	// RetransmitJitter (percent taken off each wait at random, at most 20)
	// shape the retransmission of IKE requests: timeout * base^n for try n.
	RetransmitTimeout FloatSetting
	RetransmitBase    FloatSetting
	RetransmitTries   IntSetting
	RetransmitLimit   IntSetting
	RetransmitJitter  IntSetting

	// TLSVersionMax is charon.tls.version_max, the highest TLS version of
	// EAP-TLS: 0x0304 for "1.3", 0 (TLS 1.2) when unset or "1.2".
	TLSVersionMax uint16
	// EAPTLSFragmentSize is charon.plugins.eap-tls.fragment_size, the
	// largest EAP-TLS packet sent (strongSwan's default 1024).
	EAPTLSFragmentSize IntSetting

	// EAPRadius is charon.plugins.eap-radius, nil when it sets nothing.
	EAPRadius *EAPRadius

	// Warnings are settings cygnet accepts but does not use, each at its
	// file:line.
	Warnings Problems
}

// IntSetting is an integer setting and where it was set; Set is false when
// the file does not set it (strongSwan's default applies).
type IntSetting struct {
	Value int
	Set   bool
	Pos   Pos
}

// FloatSetting is a floating-point setting and where it was set.
type FloatSetting struct {
	Value float64
	Set   bool
	Pos   Pos
}

// EAPRadius is the eap-radius plugin's configuration: the RADIUS servers the
// gateway passes EAP to (RFC 3579).
type EAPRadius struct {
	Pos     Pos
	Servers []*RadiusServer
	// Accounting enables RADIUS accounting (RFC 2866), set at
	// AccountingPos.
	Accounting    bool
	AccountingPos Pos
	// NASIdentifier is sent in every request (default "strongSwan").
	NASIdentifier string
	// RetransmitTimeout, RetransmitBase and RetransmitTries are the
	// plugin-wide defaults (2 s, 1.4, 4), overridden per server.
	RetransmitTimeout time.Duration
	RetransmitBase    float64
	RetransmitTries   int
}

// RadiusServer is one RADIUS server: eap-radius.servers.NAME, or the
// plugin-wide server/secret/port settings (named by their address).
type RadiusServer struct {
	Name    string
	Pos     Pos
	Address string
	Secret  Secret
	// AuthPort and AcctPort default to 1812 and 1813.
	AuthPort, AcctPort uint16
	NASIdentifier      string
	RetransmitTimeout  time.Duration
	RetransmitBase     float64
	RetransmitTries    int
}

// LoadCharon reads a strongswan.conf with everything it includes. The error
// is a Problems list, each "file:line: reason", when the syntax is wrong or
// a setting cygnet uses has a bad value, or a setting of the eap-radius
// plugin is unknown (a typo would silently change where passwords go).
func LoadCharon(path string) (*Charon, error) {
	root, ctx := parseFile(osFiles{}, path)
	if len(ctx.problems) > 0 {
		return nil, ctx.problems.sorted(ctx.files)
	}
	c, problems := buildCharon(path, root)
	c.Files = ctx.files
	c.Warnings = c.Warnings.sorted(ctx.files)
	if len(problems) > 0 {
		return nil, problems.sorted(ctx.files)
	}
	return c, nil
}

// charonDecoder collects problems and warnings while reading the tree.
type charonDecoder struct {
	problems, warnings Problems
}

func (d *charonDecoder) warn(pos Pos, format string, args ...any) {
	d.warnings.add(pos, format, args...)
}

// otherSettings warns about every setting in sec and below: they belong to
// something cygnet does not do.
func (d *charonDecoder) otherSettings(sec *Section, path, why string) {
	for _, kv := range sec.Settings {
		if kv.Set {
			d.warn(kv.Pos, "%s.%s: %s; ignored", path, kv.Key, why)
		}
	}
	for _, s := range sec.Sections {
		d.otherSettings(s, path+"."+s.Name, why)
	}
}

func buildCharon(path string, root *Section) (*Charon, Problems) {
	d := &charonDecoder{}
	c := &Charon{Path: path, DoSProtection: true}
	tree := resolveRefs(root, &d.problems)
	for _, kv := range tree.Settings {
		if kv.Set {
			d.warn(kv.Pos, "%s: top-level setting, not used by cygnet; ignored", kv.Key)
		}
	}
	for _, sec := range tree.Sections {
		if sec.Name == "charon" {
			d.charon(sec, c)
			continue
		}
		d.otherSettings(sec, sec.Name, "a setting of another strongSwan program, not used by cygnet")
	}
	c.Warnings = d.warnings
	return c, d.problems
}

// charonKeys are the settings of the charon section cygnet uses.
var charonKeys = []string{
	"dos_protection", "cookie_threshold", "cookie_threshold_ip", "block_threshold", "init_limit_half_open",
	"retransmit_timeout", "retransmit_base", "retransmit_tries", "retransmit_limit", "retransmit_jitter",
}

func (d *charonDecoder) charon(sec *Section, c *Charon) {
	for _, orig := range sec.Settings {
		if !orig.Set {
			continue
		}
		kv := &Setting{Key: "charon." + orig.Key, Value: orig.Value, Set: true, Pos: orig.Pos}
		switch orig.Key {
		case "dos_protection":
			v, ok := parseBool(kv.Value)
			if !ok {
				d.invalid(kv, "want yes or no")
				continue
			}
			c.DoSProtection = v
		case "cookie_threshold":
			d.intOpt(kv, &c.CookieThreshold, 0, math.MaxInt32)
		case "cookie_threshold_ip":
			d.intOpt(kv, &c.CookieThresholdIP, 0, math.MaxInt32)
		case "block_threshold":
			d.intOpt(kv, &c.BlockThreshold, 0, math.MaxInt32)
		case "init_limit_half_open":
			d.intOpt(kv, &c.InitLimitHalfOpen, 0, math.MaxInt32)
		case "retransmit_timeout":
			d.floatOpt(kv, &c.RetransmitTimeout, 0.001, 3600, "seconds from 0.001 to 3600")
		case "retransmit_base":
			d.floatOpt(kv, &c.RetransmitBase, 1, 10, "a factor from 1 to 10")
		case "retransmit_tries":
			d.intOpt(kv, &c.RetransmitTries, 0, 100)
		case "retransmit_limit":
			d.intOpt(kv, &c.RetransmitLimit, 0, 86400)
		case "retransmit_jitter":
			if d.intOpt(kv, &c.RetransmitJitter, 0, 100) && c.RetransmitJitter.Value > 20 {
				d.warn(kv.Pos, "charon.retransmit_jitter: %d%% is more than strongSwan's maximum; 20%% is used", c.RetransmitJitter.Value)
				c.RetransmitJitter.Value = 20
			}
		case "load_modular":
			// which plugins to load is strongSwan's business; cygnet has none
		default:
			hint := ""
			if s := suggest(orig.Key, charonKeys); s != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.warn(kv.Pos, "%s: not supported by cygnet; ignored%s", kv.Key, hint)
		}
	}
	if !c.DoSProtection {
		for _, s := range []IntSetting{c.CookieThreshold, c.CookieThresholdIP, c.BlockThreshold} {
			if s.Set {
				d.warn(s.Pos, "charon.dos_protection = no disables cookies and blocking: this threshold has no effect")
			}
		}
	}
	for _, s := range sec.Sections {
		switch s.Name {
		case "plugins":
			d.plugins(s, c)
		case "tls":
			d.tls(s, c)
		default:
			d.otherSettings(s, "charon."+s.Name, "not supported by cygnet")
		}
	}
}

// tls reads charon.tls, libtls's settings: version_max decides whether
// EAP-TLS may use TLS 1.3.
func (d *charonDecoder) tls(sec *Section, c *Charon) {
	for _, orig := range sec.Settings {
		if !orig.Set {
			continue
		}
		kv := &Setting{Key: "charon.tls." + orig.Key, Value: orig.Value, Set: true, Pos: orig.Pos}
		switch orig.Key {
		case "version_max":
			switch strings.TrimSpace(kv.Value) {
			case "1.2":
				c.TLSVersionMax = 0
			case "1.3":
				c.TLSVersionMax = 0x0304
			default:
				d.invalid(kv, "want 1.2 or 1.3 (cygnet's EAP-TLS speaks nothing older than TLS 1.2)")
			}
		default:
			d.warn(kv.Pos, "%s: not supported by cygnet; ignored", kv.Key)
		}
	}
	for _, s := range sec.Sections {
		d.otherSettings(s, "charon.tls."+s.Name, "not supported by cygnet")
	}
}

func (d *charonDecoder) invalid(kv *Setting, want string) {
	d.problems.add(kv.Pos, "%s: invalid value %q: %s", kv.Key, kv.Value, want)
}

func (d *charonDecoder) intOpt(kv *Setting, out *IntSetting, lo, hi int) bool {
	v, err := strconv.ParseInt(strings.TrimSpace(kv.Value), 10, 64)
	if err != nil || v < int64(lo) || v > int64(hi) {
		d.invalid(kv, fmt.Sprintf("want a whole number from %d to %d", lo, hi))
		return false
	}
	*out = IntSetting{Value: int(v), Set: true, Pos: kv.Pos}
	return true
}

func (d *charonDecoder) floatOpt(kv *Setting, out *FloatSetting, lo, hi float64, want string) bool {
	v, err := strconv.ParseFloat(strings.TrimSpace(kv.Value), 64)
	if err != nil || !(v >= lo && v <= hi) {
		d.invalid(kv, "want "+want)
		return false
	}
	*out = FloatSetting{Value: v, Set: true, Pos: kv.Pos}
	return true
}

func (d *charonDecoder) plugins(sec *Section, c *Charon) {
	for _, kv := range sec.Settings {
		if kv.Set {
			d.warn(kv.Pos, "charon.plugins.%s: not a plugin section; ignored", kv.Key)
		}
	}
	for _, p := range sec.Sections {
		if p.Name == "eap-radius" {
			d.eapRadius(p, c)
			continue
		}
		if p.Name == "eap-tls" {
			d.eapTLS(p, c)
			continue
		}
		// "load" only decides whether strongSwan loads the plugin; anything
		// else configures a plugin cygnet does not have
		for _, kv := range p.Settings {
			if kv.Set && kv.Key != "load" {
				d.warn(kv.Pos, "charon.plugins.%s.%s: cygnet has no %s plugin; ignored", p.Name, kv.Key, p.Name)
			}
		}
		for _, s := range p.Sections {
			d.otherSettings(s, "charon.plugins."+p.Name+"."+s.Name, "cygnet has no "+p.Name+" plugin")
		}
	}
}

// eapTLS reads charon.plugins.eap-tls: fragment_size is used; cygnet
// always includes the TLS Message Length (include_length = yes) and bounds
// a conversation by the size of its messages rather than their count.
func (d *charonDecoder) eapTLS(sec *Section, c *Charon) {
	for _, orig := range sec.Settings {
		if !orig.Set {
			continue
		}
		kv := &Setting{Key: "charon.plugins.eap-tls." + orig.Key, Value: orig.Value, Set: true, Pos: orig.Pos}
		switch orig.Key {
		case "load":
		case "fragment_size":
			d.intOpt(kv, &c.EAPTLSFragmentSize, 128, 65535)
		case "include_length":
			if v, ok := parseBool(kv.Value); !ok || !v {
				d.warn(kv.Pos, "%s: cygnet always includes the TLS message length in the first packet; ignored", kv.Key)
			}
		default:
			d.warn(kv.Pos, "%s: not supported by cygnet; ignored", kv.Key)
		}
	}
	for _, s := range sec.Sections {
		d.otherSettings(s, "charon.plugins.eap-tls."+s.Name, "not supported by cygnet")
	}
}

// eapRadiusKeys are the plugin-wide settings of eap-radius cygnet uses;
// eapRadiusServerKeys those of one server.
var (
	eapRadiusKeys = []string{"load", "server", "secret", "port", "nas_identifier", "accounting",
		"retransmit_timeout", "retransmit_base", "retransmit_tries"}
	eapRadiusServerKeys = []string{"address", "secret", "auth_port", "port", "acct_port", "nas_identifier",
		"retransmit_timeout", "retransmit_base", "retransmit_tries"}
	// eapRadiusOther are strongSwan's eap-radius settings cygnet does not
	// implement (strongswan.conf(5)); they are warned about, anything else
	// is refused as a typo.
	eapRadiusOther = []string{"accounting_close_on_timeout", "accounting_interval", "accounting_requires_vip",
		"accounting_send_class", "class_group", "close_all_on_timeout", "eap_start", "filter_id", "id_prefix",
		"sockets", "source", "station_id_with_port", "preference", "dae", "forward", "xauth"}
)

func (d *charonDecoder) eapRadius(sec *Section, c *Charon) {
	const path = "charon.plugins.eap-radius"
	r := &EAPRadius{Pos: sec.Pos, NASIdentifier: "strongSwan", RetransmitTimeout: 2 * time.Second, RetransmitBase: 1.4, RetransmitTries: 4}
	var server, secret *Setting
	port := uint16(1812)
	used := false
	for _, kv := range sec.Settings {
		if !kv.Set {
			continue
		}
		switch kv.Key {
		case "load":
		case "server":
			server, used = kv, true
		case "secret":
			secret, used = kv, true
		case "port":
			port = d.port(kv, path)
		case "nas_identifier":
			r.NASIdentifier = kv.Value
		case "accounting":
			v, ok := parseBool(kv.Value)
			if !ok {
				d.problems.add(kv.Pos, "%s.accounting: invalid value %q: want yes or no", path, kv.Value)
			}
			r.Accounting, r.AccountingPos = v, kv.Pos
		case "retransmit_timeout", "retransmit_base", "retransmit_tries":
			d.radiusRetransmit(kv, path, &r.RetransmitTimeout, &r.RetransmitBase, &r.RetransmitTries)
		default:
			d.eapRadiusUnknown(kv.Pos, path, kv.Key, eapRadiusKeys)
		}
	}
	if server != nil {
		s := &RadiusServer{Name: server.Value, Pos: server.Pos, Address: server.Value, AuthPort: port, AcctPort: 1813,
			NASIdentifier: r.NASIdentifier, RetransmitTimeout: r.RetransmitTimeout, RetransmitBase: r.RetransmitBase, RetransmitTries: r.RetransmitTries}
		if secret == nil {
			d.problems.add(server.Pos, "%s.server: no secret for RADIUS server %s", path, server.Value)
		} else {
			s.Secret = NewSecret([]byte(secret.Value))
		}
		r.Servers = append(r.Servers, s)
	} else if secret != nil {
		d.problems.add(secret.Pos, "%s.secret: a secret without a server", path)
	}
	for _, s := range sec.Sections {
		switch s.Name {
		case "servers":
			for _, kv := range s.Settings {
				d.problems.add(kv.Pos, "%s.servers: unexpected option %q (servers holds only sections)", path, kv.Key)
			}
			for _, srv := range s.Sections {
				if rs := d.radiusServer(srv, r, port); rs != nil {
					r.Servers = append(r.Servers, rs)
				}
			}
			if len(s.Sections) > 0 {
				used = true
			}
		default:
			if !slices.Contains(eapRadiusOther, s.Name) {
				d.eapRadiusUnknown(s.Pos, path, s.Name, append([]string{"servers"}, eapRadiusOther...))
				continue
			}
			d.otherSettings(s, path+"."+s.Name, "not supported by cygnet")
		}
	}
	if used || r.Accounting {
		c.EAPRadius = r
	}
}

func (d *charonDecoder) eapRadiusUnknown(pos Pos, path, key string, known []string) {
	if slices.Contains(eapRadiusOther, key) {
		d.warn(pos, "%s.%s: not supported by cygnet; ignored", path, key)
		return
	}
	hint := ""
	if s := suggest(key, known); s != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", s)
	}
	d.problems.add(pos, "%s: unknown option %q%s", path, key, hint)
}

func (d *charonDecoder) port(kv *Setting, path string) uint16 {
	v, ok := parseUint(kv.Value, math.MaxUint16)
	if !ok || v == 0 {
		d.problems.add(kv.Pos, "%s.%s: invalid value %q: want a UDP port from 1 to 65535", path, kv.Key, kv.Value)
		return 0
	}
	return uint16(v)
}

func (d *charonDecoder) radiusRetransmit(kv *Setting, path string, timeout *time.Duration, base *float64, tries *int) {
	var f FloatSetting
	var n IntSetting
	kv2 := *kv
	kv2.Key = path + "." + kv.Key
	switch kv.Key {
	case "retransmit_timeout":
		if d.floatOpt(&kv2, &f, 0.001, 3600, "seconds from 0.001 to 3600") {
			*timeout = time.Duration(f.Value * float64(time.Second))
		}
	case "retransmit_base":
		if d.floatOpt(&kv2, &f, 1, 10, "a factor from 1 to 10") {
			*base = f.Value
		}
	case "retransmit_tries":
		if d.intOpt(&kv2, &n, 1, 100) {
			*tries = n.Value
		}
	}
}

func (d *charonDecoder) radiusServer(sec *Section, r *EAPRadius, port uint16) *RadiusServer {
	path := "charon.plugins.eap-radius.servers." + sec.Name
	s := &RadiusServer{Name: sec.Name, Pos: sec.Pos, AuthPort: port, AcctPort: 1813, NASIdentifier: r.NASIdentifier,
		RetransmitTimeout: r.RetransmitTimeout, RetransmitBase: r.RetransmitBase, RetransmitTries: r.RetransmitTries}
	hasSecret, authPortSet := false, false
	for _, kv := range sec.Settings {
		if !kv.Set {
			continue
		}
		switch kv.Key {
		case "address":
			s.Address = kv.Value
		case "secret":
			s.Secret, hasSecret = NewSecret([]byte(kv.Value)), true
		case "auth_port":
			s.AuthPort, authPortSet = d.port(kv, path), true
		case "port":
			if !authPortSet { // auth_port wins, as in strongSwan
				s.AuthPort = d.port(kv, path)
			}
		case "acct_port":
			s.AcctPort = d.port(kv, path)
		case "nas_identifier":
			s.NASIdentifier = kv.Value
		case "retransmit_timeout", "retransmit_base", "retransmit_tries":
			d.radiusRetransmit(kv, path, &s.RetransmitTimeout, &s.RetransmitBase, &s.RetransmitTries)
		default:
			d.eapRadiusUnknown(kv.Pos, path, kv.Key, eapRadiusServerKeys)
		}
	}
	for _, sub := range sec.Sections {
		d.problems.add(sub.Pos, "%s: unknown section %q", path, sub.Name)
	}
	if s.Address == "" {
		d.problems.add(sec.Pos, "%s: no address", path)
		return nil
	}
	if !hasSecret {
		d.problems.add(sec.Pos, "%s: no secret", path)
		return nil
	}
	return s
}
