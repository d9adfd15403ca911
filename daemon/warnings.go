package daemon

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// MinPSKLen is the shortest pre-shared key check-config and the daemon
// accept without a warning. A PSK is used directly in the AUTH payload
// (RFC 7296 2.15), so one captured IKE_AUTH lets an attacker try keys
// offline; RFC 7296 section 2.15 asks for keys with as much entropy as the
// strongest key being negotiated, and strongSwan's documentation suggests
// at least 20 random characters.
const MinPSKLen = 20

// Warnings returns what a configuration asks for that cygnet accepts but
// that does not do all the option suggests, or that is weak: refusing them
// would break configurations that are fine otherwise, keeping quiet would
// let users believe in a protection they do not have. check-config prints
// them and the daemon logs them at load and reload, each "file:line: text".
func Warnings(cfg *config.Config) config.Problems {
	var ws config.Problems
	warn := func(pos config.Pos, format string, args ...any) {
		ws = append(ws, config.Problem{Pos: pos, Text: fmt.Sprintf(format, args...)})
	}
	for _, s := range cfg.Secrets.IKE {
		if n := s.Secret.Len(); n < MinPSKLen {
			warn(s.SecretPos, "secrets.%s: the pre-shared key has %d characters; use at least %d random ones, "+
				"a short key can be guessed offline from one captured IKE_AUTH", s.Name, n, MinPSKLen)
		}
	}
	for _, list := range []struct {
		secrets []*config.SharedSecret
		why     string
	}{{cfg.Secrets.XAuth, "XAuth belongs to IKEv1, which cygnet does not speak"}} {
		for _, s := range list.secrets {
			warn(s.Pos, "secrets.%s: %s; this secret is not used", s.Name, list.why)
		}
	}
	for _, k := range cfg.Secrets.Keys {
		warn(k.Pos, "secrets.%s: cygnet reads only unencrypted private keys, so this passphrase is not used", k.Name)
	}
	for _, a := range cfg.Authorities {
		path := "authorities." + a.Name
		for _, u := range a.CRLURIs {
			warn(u.Pos, "%s.crl_uris: cygnet does not check certificate revocation yet; %s is not fetched and revoked certificates are accepted", path, u.Text)
		}
		for _, u := range a.OCSPURIs {
			warn(u.Pos, "%s.ocsp_uris: cygnet does not check certificate revocation yet; %s is not queried and revoked certificates are accepted", path, u.Text)
		}
	}
	for _, c := range cfg.Connections {
		for _, r := range c.Remote {
			// strict and ifuri are refused (refuseValues): without
			// revocation data they would fail every certificate.
			if pos, ok := r.Set["revocation"]; ok && r.Revocation == config.RevocationRelaxed {
				warn(pos, "connections.%s.%s.revocation: cygnet does not check certificate revocation yet; revoked certificates are accepted", c.Name, r.Name)
			}
		}
		for _, l := range c.Local {
			if pos, ok := l.Set["revocation"]; ok {
				warn(pos, "connections.%s.%s.revocation: revocation checks the peer's certificates; it has no effect in a local round", c.Name, l.Name)
			}
		}
	}
	for _, c := range cfg.Connections {
		weakProposals(warn, "connections."+c.Name+".proposals", wire.ProtocolIKE, c.Proposals)
		for _, ch := range c.Children {
			path := "connections." + c.Name + ".children." + ch.Name
			weakProposals(warn, path+".esp_proposals", wire.ProtocolESP, ch.ESPProposals)
			weakProposals(warn, path+".ah_proposals", wire.ProtocolAH, ch.AHProposals)
			if pos, ok := ch.Set["tfc_padding"]; ok && len(ch.AHProposals) > 0 {
				warn(pos, "%s.tfc_padding: TFC padding is ESP's (RFC 4303 section 2.7); this child is AH, which carries no padding, so none is sent", path)
			}
		}
	}
	// in the order of the files as read, then of the lines
	rank := func(f string) int {
		if i := slices.Index(cfg.Files, f); i >= 0 {
			return i
		}
		return len(cfg.Files)
	}
	slices.SortStableFunc(ws, func(a, b config.Problem) int {
		if c := cmp.Compare(rank(a.Pos.File), rank(b.Pos.File)); c != 0 {
			return c
		}
		return cmp.Compare(a.Pos.Line, b.Pos.Line)
	})
	return ws
}

// weakProposals warns about each proposal that names weak legacy
// algorithms: they load because the proposal names them (the opt-in that
// native clients' defaults need), but they are broken or too short.
func weakProposals(warn func(config.Pos, string, ...any), path string, proto wire.ProtocolID, list []config.Proposal) {
	for _, p := range list {
		ps, err := proposal.ParseList(proto, p.Text, proposal.Options{AllowWeak: true})
		if err != nil {
			continue // refused at load, with its line
		}
		for _, x := range ps {
			weak := x.Weak()
			if i := slices.Index(weak, "ENCR_NULL"); i >= 0 {
				warn(p.Pos, "%s: %q uses ENCR_NULL: ESP without encryption (RFC 2410), the traffic crosses in clear with only its integrity "+
					"protected; accepted because the proposal names it, for debugging only", path, x.String())
				weak = slices.Delete(weak, i, i+1)
			}
			if len(weak) > 0 {
				warn(p.Pos, "%s: %q uses the weak legacy algorithms %s, accepted because the proposal names them; "+
					"offer them only to clients that cannot do better", path, x.String(), strings.Join(weak, ", "))
			}
		}
	}
}

// logWarnings logs a configuration's warnings, one entry each.
func logWarnings(log *slog.Logger, cfg *config.Config) {
	for _, w := range Warnings(cfg) {
		log.Warn("configuration: " + w.Error())
	}
}
