package auth

import (
	"fmt"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
)

// Secrets holds the IKE pre-shared keys of swanctl.conf's secrets.ike*
// sections. It never prints a key.
type Secrets struct {
	entries []secretEntry
}

type secretEntry struct {
	name   string
	owners []identity.ID
	secret config.Secret
}

// NewSecrets builds the PSK table from the configuration's secrets.ike*
// sections (config.Config.Secrets.IKE), in file order.
func NewSecrets(ike []*config.SharedSecret) (*Secrets, error) {
	s := &Secrets{}
	for _, e := range ike {
		owners := make([]string, len(e.Owners))
		for i, o := range e.Owners {
			owners[i] = o.Text
		}
		if err := s.add(e.Name, e.Secret, owners); err != nil {
			return nil, fmt.Errorf("%v: %w", e.Pos, err)
		}
	}
	return s, nil
}

// Add appends a secret owned by the given identities (swanctl's id<suffix>
// values); none means %any.
func (s *Secrets) Add(name string, secret []byte, owners ...string) error {
	return s.add(name, config.NewSecret(secret), owners)
}

func (s *Secrets) add(name string, secret config.Secret, owners []string) error {
	e := secretEntry{name: name, secret: secret}
	for _, o := range owners {
		p, err := identity.Parse(o)
		if err != nil {
			return fmt.Errorf("secrets.%s: %w", name, err)
		}
		e.owners = append(e.owners, p)
	}
	if len(e.owners) == 0 {
		e.owners = []identity.ID{identity.Any}
	}
	s.entries = append(s.entries, e)
	return nil
}

// Len is the number of secrets.
func (s *Secrets) Len() int { return len(s.entries) }

// String shows the number of secrets, never their values.
func (s *Secrets) String() string { return fmt.Sprintf("%d IKE secrets", len(s.entries)) }

// Lookup returns a copy of the PSK for an IKE SA between the local and remote
// identities, chosen as strongSwan's credential manager does:
//
//   - each secret scores the best match of its ids against the local
//     identity and, separately, against the remote one (perfect, wildcard,
//     %any or none; a secret without ids has the single id %any);
//   - a secret that matches neither identity is skipped, so a secret whose
//     ids name only the local identity serves every peer;
//   - the best remote match wins, then the best local match; on a tie the
//     secret defined later wins (strongSwan inserts each loaded secret at
//     the front of its list).
//
// The name of the chosen section is returned for logging.
func (s *Secrets) Lookup(local, remote identity.ID) (secret []byte, name string, ok bool) {
	bestLocal, bestRemote := identity.MatchNone, identity.MatchNone
	found := -1
	for i := len(s.entries) - 1; i >= 0; i-- {
		e := &s.entries[i]
		ml, mr := identity.MatchNone, identity.MatchNone
		for _, o := range e.owners {
			ml = max(ml, o.Match(local))
			mr = max(mr, o.Match(remote))
		}
		if ml == identity.MatchNone && mr == identity.MatchNone {
			continue
		}
		if found < 0 || mr > bestRemote || (mr == bestRemote && ml > bestLocal) {
			found, bestLocal, bestRemote = i, ml, mr
		}
		if bestLocal == identity.MatchPerfect && bestRemote == identity.MatchPerfect {
			break
		}
	}
	if found < 0 {
		return nil, "", false
	}
	return s.entries[found].secret.Bytes(), s.entries[found].name, true
}

// SharedKey is Lookup without the section name, in the shape of
// ike.Credentials.SharedKey.
func (s *Secrets) SharedKey(local, remote identity.ID) ([]byte, bool) {
	k, _, ok := s.Lookup(local, remote)
	return k, ok
}

// PPKs holds the postquantum preshared keys (RFC 8784) of swanctl.conf's
// secrets.ppk<suffix> sections. A PPK is found by its PPK_ID: the encoding
// of one of its id<suffix> identities (the text of "ppk-1", or of "@ppk-1"
// without the '@'), which is what strongSwan sends in PPK_IDENTITY. It
// never prints a key.
type PPKs struct {
	entries []ppkEntry
}

type ppkEntry struct {
	ids    [][]byte
	secret config.Secret
}

// NewPPKs builds the PPK table from config.Config.Secrets.PPK.
func NewPPKs(secs []*config.SharedSecret) (*PPKs, error) {
	p := &PPKs{}
	for _, s := range secs {
		e := ppkEntry{secret: s.Secret}
		for _, o := range s.Owners {
			id, err := identity.Parse(o.Text)
			if err != nil || id.IsAny() {
				return nil, fmt.Errorf("%v: secrets.%s: PPK id %q is not a PPK identity", o.Pos, s.Name, o.Text)
			}
			e.ids = append(e.ids, id.Data)
		}
		p.entries = append(p.entries, e)
	}
	return p, nil
}

// Lookup returns a copy of the PPK of PPK_ID id; a later section wins over
// an earlier one, as for IKE secrets.
func (p *PPKs) Lookup(id []byte) ([]byte, bool) {
	if p == nil {
		return nil, false
	}
	for i := len(p.entries) - 1; i >= 0; i-- {
		for _, o := range p.entries[i].ids {
			if string(o) == string(id) {
				return p.entries[i].secret.Bytes(), true
			}
		}
	}
	return nil, false
}

// Len is the number of PPKs.
func (p *PPKs) Len() int {
	if p == nil {
		return 0
	}
	return len(p.entries)
}

// String shows the number of PPKs, never their values.
func (p *PPKs) String() string { return fmt.Sprintf("%d PPKs", p.Len()) }
