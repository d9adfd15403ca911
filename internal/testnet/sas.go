package testnet

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// IKESA is one IKE_SA as listed by `swanctl --list-sas --raw`.
type IKESA struct {
	// Name is the connection name.
	Name         string
	UniqueID     uint32
	Version      int
	State        string // e.g. ESTABLISHED, CONNECTING
	LocalHost    netip.Addr
	LocalPort    uint16
	LocalID      string
	RemoteHost   netip.Addr
	RemotePort   uint16
	RemoteID     string
	Initiator    bool
	InitiatorSPI string // 16 hex digits
	ResponderSPI string
	NATLocal     bool // this end is behind a NAT
	NATRemote    bool // the peer is behind a NAT
	NATFake      bool // NAT faked to force UDP encapsulation
	NATAny       bool // any NAT detected or faked
	EncrAlg      string
	EncrKeySize  int
	IntegAlg     string
	IntegKeySize int
	PRFAlg       string
	DHGroup      string
	EstablishedS int64 // seconds since establishment
	RekeyTimeS   int64 // seconds until rekey
	ReauthTimeS  int64
	ChildSAs     []ChildSA
	// Fields holds every key/value of the IKE_SA as printed, including
	// the ones without a typed field above.
	Fields map[string]string
}

// ChildSA is one CHILD_SA of an IKESA.
type ChildSA struct {
	Name         string
	UniqueID     uint32
	ReqID        uint32
	State        string // e.g. INSTALLED, REKEYED
	Mode         string // TUNNEL, TRANSPORT
	Protocol     string // ESP, AH
	Encap        bool   // UDP encapsulation (ESP-in-UDP)
	SPIIn        uint32
	SPIOut       uint32
	EncrAlg      string
	EncrKeySize  int
	IntegAlg     string
	IntegKeySize int
	DHGroup      string
	ESN          bool
	BytesIn      uint64
	PacketsIn    uint64
	BytesOut     uint64
	PacketsOut   uint64
	RekeyTimeS   int64
	LifeTimeS    int64
	InstallTimeS int64
	LocalTS      []string
	RemoteTS     []string
	// Fields holds every key/value of the CHILD_SA as printed.
	Fields map[string]string
}

// FindChildSA returns the first CHILD_SA with the given name (any state
// when state is empty) and its IKE_SA.
func FindChildSA(sas []IKESA, name, state string) (IKESA, ChildSA, bool) {
	for _, ike := range sas {
		for _, c := range ike.ChildSAs {
			if c.Name == name && (state == "" || c.State == state) {
				return ike, c, true
			}
		}
	}
	return IKESA{}, ChildSA{}, false
}

// viciSection is one section of a VICI message as printed by swanctl.
type viciSection struct {
	name  string
	kv    map[string]string
	lists map[string][]string
	subs  []*viciSection
}

// ParseListSAs parses the output of `swanctl --list-sas --raw`: one
// "list-sa event {...}" line per IKE_SA and a final "list-sas reply {}".
func ParseListSAs(out string) ([]IKESA, error) {
	var sas []IKESA
	for n, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r ")
		if line == "" {
			continue
		}
		msg, err := parseViciRaw(line)
		if err != nil {
			return nil, fmt.Errorf("list-sas line %d: %w", n+1, err)
		}
		if msg.name != "list-sa event" {
			continue
		}
		for _, s := range msg.subs {
			ike, err := ikeFromSection(s)
			if err != nil {
				return nil, fmt.Errorf("list-sas line %d: IKE_SA %q: %w", n+1, s.name, err)
			}
			sas = append(sas, ike)
		}
	}
	return sas, nil
}

// parseViciRaw parses one message in swanctl's --raw notation:
//
//	label {key=value list=[a b] section {key=value}}
//
// Values are printed unquoted and may contain spaces (distinguished names),
// so a value ends only where a new lower-case key, a section or the closing
// brace of its section follows.
func parseViciRaw(s string) (*viciSection, error) {
	i := strings.Index(s, " {")
	if i <= 0 {
		return nil, errors.New("no message label")
	}
	root := newSection(s[:i])
	end, err := parseBody(s, i+2, root, 0)
	if err != nil {
		return nil, err
	}
	if end != len(s) {
		return nil, fmt.Errorf("trailing data at offset %d", end)
	}
	return root, nil
}

func newSection(name string) *viciSection {
	return &viciSection{name: name, kv: map[string]string{}, lists: map[string][]string{}}
}

const maxViciDepth = 16

// parseBody parses section contents from s[i:] up to and including the
// closing brace and returns the offset after it.
func parseBody(s string, i int, sec *viciSection, depth int) (int, error) {
	if depth > maxViciDepth {
		return 0, errors.New("sections nested too deeply")
	}
	for {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) {
			return 0, fmt.Errorf("section %q not closed", sec.name)
		}
		if s[i] == '}' {
			return i + 1, nil
		}
		name, kind := nameAt(s, i)
		switch kind {
		case nameSection:
			sub := newSection(name)
			end, err := parseBody(s, i+len(name)+2, sub, depth+1)
			if err != nil {
				return 0, err
			}
			sec.subs = append(sec.subs, sub)
			i = end
		case nameKey:
			i += len(name) + 1
			if i < len(s) && s[i] == '[' {
				items, end, err := parseList(s, i+1)
				if err != nil {
					return 0, fmt.Errorf("list %q: %w", name, err)
				}
				sec.lists[name] = items
				i = end
				continue
			}
			end := valueEnd(s, i)
			sec.kv[name] = s[i:end]
			i = end
		default:
			return 0, fmt.Errorf("unexpected %q at offset %d", clip(s[i:], 20), i)
		}
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

type nameKind int

const (
	nameNone nameKind = iota
	nameKey
	nameSection
)

func isKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// isSectionChar allows the parentheses of "(unnamed)", the name
// strongSwan lists a half-open responder IKE_SA under.
func isSectionChar(c byte) bool {
	return isKeyChar(c) || c >= 'A' && c <= 'Z' || c == '.' || c == '(' || c == ')'
}

// nameAt reports whether s[i:] starts with "key=" (key: lower-case VICI
// key) or "name {" (a section).
func nameAt(s string, i int) (string, nameKind) {
	j := i
	for j < len(s) && isSectionChar(s[j]) {
		j++
	}
	if j == i || j >= len(s) {
		return "", nameNone
	}
	if strings.HasPrefix(s[j:], " {") {
		return s[i:j], nameSection
	}
	if s[j] == '=' {
		for k := i; k < j; k++ {
			if !isKeyChar(s[k]) {
				return "", nameNone
			}
		}
		return s[i:j], nameKey
	}
	return "", nameNone
}

// valueEnd finds where a value starting at s[i] ends: before a space that
// starts a key or section, or before a brace that closes the section.
func valueEnd(s string, i int) int {
	for j := i; j < len(s); j++ {
		switch s[j] {
		case ' ':
			if _, k := nameAt(s, j+1); k != nameNone {
				return j
			}
		case '}':
			if closesSection(s, j+1) {
				return j
			}
		}
	}
	return len(s)
}

// closesSection reports whether what follows a '}' at s[i-1] is consistent
// with that brace closing a section.
func closesSection(s string, i int) bool {
	if i >= len(s) || s[i] == '}' {
		return true
	}
	if s[i] == ' ' {
		_, k := nameAt(s, i+1)
		return k != nameNone
	}
	return false
}

// parseList parses list items from s[i:] up to and including ']'.
func parseList(s string, i int) ([]string, int, error) {
	var items []string
	start := i
	for j := i; j < len(s); j++ {
		switch s[j] {
		case ' ':
			items = append(items, s[start:j])
			start = j + 1
		case ']':
			if j+1 == len(s) || s[j+1] == ' ' || s[j+1] == '}' {
				if j > start || len(items) > 0 {
					items = append(items, s[start:j])
				}
				return items, j + 1, nil
			}
		}
	}
	return nil, 0, errors.New("not closed")
}

// fieldReader converts a section's values and keeps the first error.
type fieldReader struct {
	kv  map[string]string
	err error
}

func (r *fieldReader) str(k string) string { return r.kv[k] }

func (r *fieldReader) yes(k string) bool { return r.kv[k] == "yes" }

func (r *fieldReader) uint(k string, bits int) uint64 {
	v, ok := r.kv[k]
	if !ok {
		return 0
	}
	n, err := strconv.ParseUint(v, 10, bits)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("%s: %w", k, err)
	}
	return n
}

func (r *fieldReader) int(k string) int64 {
	v, ok := r.kv[k]
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("%s: %w", k, err)
	}
	return n
}

func (r *fieldReader) hex32(k string) uint32 {
	v, ok := r.kv[k]
	if !ok {
		return 0
	}
	n, err := strconv.ParseUint(v, 16, 32)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("%s: %w", k, err)
	}
	return uint32(n)
}

func (r *fieldReader) addr(k string) netip.Addr {
	v, ok := r.kv[k]
	if !ok || v == "%any" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(v)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("%s: %w", k, err)
	}
	return a
}

func ikeFromSection(s *viciSection) (IKESA, error) {
	r := &fieldReader{kv: s.kv}
	ike := IKESA{
		Name:         s.name,
		UniqueID:     uint32(r.uint("uniqueid", 32)),
		Version:      int(r.uint("version", 8)),
		State:        r.str("state"),
		LocalHost:    r.addr("local-host"),
		LocalPort:    uint16(r.uint("local-port", 16)),
		LocalID:      r.str("local-id"),
		RemoteHost:   r.addr("remote-host"),
		RemotePort:   uint16(r.uint("remote-port", 16)),
		RemoteID:     r.str("remote-id"),
		Initiator:    r.yes("initiator"),
		InitiatorSPI: r.str("initiator-spi"),
		ResponderSPI: r.str("responder-spi"),
		NATLocal:     r.yes("nat-local"),
		NATRemote:    r.yes("nat-remote"),
		NATFake:      r.yes("nat-fake"),
		NATAny:       r.yes("nat-any"),
		EncrAlg:      r.str("encr-alg"),
		EncrKeySize:  int(r.uint("encr-keysize", 16)),
		IntegAlg:     r.str("integ-alg"),
		IntegKeySize: int(r.uint("integ-keysize", 16)),
		PRFAlg:       r.str("prf-alg"),
		DHGroup:      r.str("dh-group"),
		EstablishedS: r.int("established"),
		RekeyTimeS:   r.int("rekey-time"),
		ReauthTimeS:  r.int("reauth-time"),
		Fields:       s.kv,
	}
	if r.err != nil {
		return IKESA{}, r.err
	}
	for _, sub := range s.subs {
		if sub.name != "child-sas" {
			continue
		}
		for _, cs := range sub.subs {
			c, err := childFromSection(cs)
			if err != nil {
				return IKESA{}, fmt.Errorf("CHILD_SA %q: %w", cs.name, err)
			}
			ike.ChildSAs = append(ike.ChildSAs, c)
		}
	}
	return ike, nil
}

func childFromSection(s *viciSection) (ChildSA, error) {
	r := &fieldReader{kv: s.kv}
	c := ChildSA{
		Name:         r.str("name"),
		UniqueID:     uint32(r.uint("uniqueid", 32)),
		ReqID:        uint32(r.uint("reqid", 32)),
		State:        r.str("state"),
		Mode:         r.str("mode"),
		Protocol:     r.str("protocol"),
		Encap:        r.yes("encap"),
		SPIIn:        r.hex32("spi-in"),
		SPIOut:       r.hex32("spi-out"),
		EncrAlg:      r.str("encr-alg"),
		EncrKeySize:  int(r.uint("encr-keysize", 16)),
		IntegAlg:     r.str("integ-alg"),
		IntegKeySize: int(r.uint("integ-keysize", 16)),
		DHGroup:      r.str("dh-group"),
		ESN:          r.str("esn") == "1" || r.yes("esn"),
		BytesIn:      r.uint("bytes-in", 64),
		PacketsIn:    r.uint("packets-in", 64),
		BytesOut:     r.uint("bytes-out", 64),
		PacketsOut:   r.uint("packets-out", 64),
		RekeyTimeS:   r.int("rekey-time"),
		LifeTimeS:    r.int("life-time"),
		InstallTimeS: r.int("install-time"),
		LocalTS:      s.lists["local-ts"],
		RemoteTS:     s.lists["remote-ts"],
		Fields:       s.kv,
	}
	if c.Name == "" {
		// the section is named "<child>-<uniqueid>"
		if i := strings.LastIndexByte(s.name, '-'); i > 0 {
			c.Name = s.name[:i]
		}
	}
	return c, r.err
}
