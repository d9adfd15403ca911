package ike

import (
	"bytes"
	"fmt"

	ikecrypto "github.com/cygnet-ipsec/cygnet/ike/crypto"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// PPKCredentials is what postquantum preshared keys (RFC 8784) ask of the
// credentials; the daemon answers from swanctl.conf's secrets.ppk<suffix>.
// Without it no PPK is ever used.
type PPKCredentials interface {
	// PPK returns a copy of the PPK whose PPK_ID (the encoding of one of
	// its id<suffix> identities) is id.
	PPK(id []byte) ([]byte, bool)
	// HasPPK reports whether any PPK is configured: a responder announces
	// USE_PPK only then, as it cannot know the connection before IKE_AUTH.
	HasPPK() bool
}

// ppkIDFixed is the PPK_ID type of RFC 8784 section 3 that strongSwan sends
// and accepts: the PPK_ID is the rest of the notification data.
const ppkIDFixed = 2

// ppkExchange is the PPK state of the first IKE_AUTH exchange (RFC 8784
// section 3). The IKE SA holds it only while IKE_AUTH runs; once the PPK
// is used, the IKE SA's own keys are replaced by the ones derived with it.
type ppkExchange struct {
	// id is the PPK_ID in use.
	id []byte
	// keys are the IKE SA keys with SK_d, SK_pi and SK_pr derived with the
	// PPK; the initiator keeps its original ones next to them until the
	// responder tells whether it used the PPK.
	keys *ikecrypto.IKESAKeys
}

func (sa *IKESA) ppkCreds() PPKCredentials {
	p, _ := sa.m.creds.(PPKCredentials)
	return p
}

// offerPPK reports whether our IKE_SA_INIT request announces USE_PPK: the
// connection names a PPK.
func offerPPK(cfg *PeerConfig) bool { return len(cfg.PPKID) > 0 }

// answerPPK reports whether a responder answers USE_PPK: the peer offered
// it and we have PPKs.
func (m *Manager) answerPPK(payloads []wire.Payload) bool {
	p, ok := m.creds.(PPKCredentials)
	return ok && p.HasPPK() && findNotify(payloads, wire.USE_PPK) != nil
}

// lookupPPK finds the PPK of id and returns the IKE SA keys derived with
// it, nil without one.
func (sa *IKESA) lookupPPK(id []byte) (*ikecrypto.IKESAKeys, error) {
	creds := sa.ppkCreds()
	if creds == nil {
		return nil, nil
	}
	ppk, ok := creds.PPK(id)
	if !ok {
		return nil, nil
	}
	defer clear(ppk)
	keys, err := sa.keys.WithPPK(ppk)
	if err != nil {
		return nil, fmt.Errorf("deriving keys with the PPK of PPK_ID '%s': %w", id, err)
	}
	return keys, nil
}

// startPPK decides, before the initiator's first IKE_AUTH request, whether
// it uses a PPK, and fails as strongSwan does when ppk_required cannot be
// met.
func (sa *IKESA) startPPK() error {
	cfg := sa.cfg
	switch {
	case cfg.PPKRequired && !offerPPK(cfg):
		return fmt.Errorf("PPK required (ppk_required = yes) but connection %s has no ppk_id", cfg.Name)
	case !offerPPK(cfg):
		return nil
	case !sa.peerPPK:
		if cfg.PPKRequired {
			return fmt.Errorf("PPK required (ppk_required = yes) but peer %s does not support PPK (no USE_PPK in its IKE_SA_INIT response)", sa.Remote.Addr())
		}
		sa.log.Info("peer does not support PPK, continuing without", "ppk_id", string(cfg.PPKID))
		return nil
	}
	keys, err := sa.lookupPPK(cfg.PPKID)
	if err != nil {
		return err
	}
	if keys == nil {
		if cfg.PPKRequired {
			return fmt.Errorf("PPK required (ppk_required = yes) but secrets has no PPK with id '%s'", cfg.PPKID)
		}
		sa.log.Warn("no PPK for ppk_id in secrets, continuing without", "ppk_id", string(cfg.PPKID))
		return nil
	}
	sa.ppk = &ppkExchange{id: cfg.PPKID, keys: keys}
	return nil
}

// ppkNotifies are the initiator's PPK_IDENTITY and, unless the PPK is
// required, NO_PPK_AUTH: the AUTH data computed with the original SK_pi,
// for a responder without the PPK (RFC 8784 section 3). As strongSwan, the
// notification carries the Authentication Data alone; the method is that
// of the AUTH payload.
func (sa *IKESA) ppkNotifies(id *wire.ID) ([]wire.Payload, error) {
	if sa.ppk == nil {
		return nil, nil
	}
	out := []wire.Payload{&wire.Notify{NotifyType: wire.PPK_IDENTITY, Data: append([]byte{ppkIDFixed}, sa.ppk.id...)}}
	if sa.cfg.PPKRequired {
		return out, nil
	}
	auth, err := sa.authData(sa.keys, id)
	if err != nil {
		return nil, fmt.Errorf("computing NO_PPK_AUTH: %w", err)
	}
	return append(out, &wire.Notify{NotifyType: wire.NO_PPK_AUTH, Data: auth.Data}), nil
}

// ppkResponseKeys are the keys the initiator checks the responder's AUTH
// with: those with the PPK when the response carries PPK_IDENTITY, the
// original ones otherwise (unless the PPK is required).
func (sa *IKESA) ppkResponseKeys(payloads []wire.Payload) (*ikecrypto.IKESAKeys, error) {
	if sa.ppk == nil {
		return sa.keys, nil
	}
	if findNotify(payloads, wire.PPK_IDENTITY) != nil {
		return sa.ppk.keys, nil
	}
	if sa.cfg.PPKRequired {
		return nil, fmt.Errorf("PPK required (ppk_required = yes) but peer %s did not use the PPK (no PPK_IDENTITY in its IKE_AUTH response)", sa.Remote.Addr())
	}
	sa.log.Info("peer did not use the PPK (no PPK_IDENTITY), continuing without", "ppk_id", string(sa.ppk.id))
	sa.dropPPK()
	return sa.keys, nil
}

// usePPK makes the keys derived with the PPK those of the IKE SA, once
// the peer's AUTH proved it has the PPK too.
func (sa *IKESA) usePPK() {
	if sa.ppk == nil {
		return
	}
	sa.keys.Wipe()
	sa.keys = sa.ppk.keys
	sa.log.Info("using PPK", "ppk_id", string(sa.ppk.id))
	sa.PPK = true
	sa.ppk = nil
}

// dropPPK forgets the keys derived with a PPK that is not used.
func (sa *IKESA) dropPPK() {
	if sa.ppk != nil {
		sa.ppk.keys.Wipe()
		sa.ppk = nil
	}
}

// responderPPK is the responder's side of RFC 8784 for the first IKE_AUTH
// request: it returns the keys to check the peer's AUTH with and the AUTH
// to check (the NO_PPK_AUTH data when we do not use the PPK the peer did),
// or why the request is refused.
func (sa *IKESA) responderPPK(cfg *PeerConfig, payloads []wire.Payload, auth *wire.Auth) (*ikecrypto.IKESAKeys, *wire.Auth, error) {
	n := findNotify(payloads, wire.PPK_IDENTITY)
	var id []byte
	if n != nil && len(n.Data) >= 2 && n.Data[0] == ppkIDFixed {
		id = n.Data[1:]
	}
	switch {
	case !sa.peerPPK:
		if cfg.PPKRequired {
			return nil, nil, fmt.Errorf("PPK required (ppk_required = yes) but peer does not support PPK (no USE_PPK in IKE_SA_INIT)")
		}
		return sa.keys, auth, nil
	case n == nil:
		if cfg.PPKRequired {
			return nil, nil, fmt.Errorf("PPK required (ppk_required = yes) but peer sent no PPK_IDENTITY")
		}
		return sa.keys, auth, nil
	case id == nil:
		if cfg.PPKRequired {
			return nil, nil, fmt.Errorf("PPK required (ppk_required = yes) but the peer's PPK_IDENTITY is not of type PPK_ID_FIXED")
		}
		return sa.noPPKAuth(payloads, auth, "a PPK_IDENTITY of a type we do not support")
	case len(cfg.PPKID) > 0 && !bytes.Equal(id, cfg.PPKID):
		return nil, nil, fmt.Errorf("peer's PPK_ID '%s' is not the connection's ppk_id '%s'", id, cfg.PPKID)
	case cfg.RemoteRound2 != nil || cfg.RemoteAuth == AuthEAP || findNotify(payloads, wire.ANOTHER_AUTH_FOLLOWS) != nil:
		// RFC 8784 with EAP or a second round is not built; check-config
		// refuses ppk_id there, so this is a peer's PPK we may ignore.
		if cfg.PPKRequired {
			return nil, nil, fmt.Errorf("PPK required but connection %s has several authentication rounds", cfg.Name)
		}
		return sa.noPPKAuth(payloads, auth, "a connection with EAP or two rounds")
	}
	keys, err := sa.lookupPPK(id)
	if err != nil {
		return nil, nil, err
	}
	if keys == nil {
		if cfg.PPKRequired {
			return nil, nil, fmt.Errorf("PPK required (ppk_required = yes) but secrets has no PPK with the peer's PPK_ID '%s'", id)
		}
		return sa.noPPKAuth(payloads, auth, fmt.Sprintf("no PPK with PPK_ID '%s'", id))
	}
	sa.ppk = &ppkExchange{id: append([]byte(nil), id...), keys: keys}
	return keys, auth, nil
}

// noPPKAuth is the peer's AUTH without its PPK: the NO_PPK_AUTH data under
// the AUTH payload's method.
func (sa *IKESA) noPPKAuth(payloads []wire.Payload, auth *wire.Auth, why string) (*ikecrypto.IKESAKeys, *wire.Auth, error) {
	n := findNotify(payloads, wire.NO_PPK_AUTH)
	if n == nil {
		return nil, nil, fmt.Errorf("peer used a PPK we cannot use (%s) and sent no NO_PPK_AUTH", why)
	}
	sa.log.Info("not using the peer's PPK ("+why+"), checking NO_PPK_AUTH", "remote", sa.Remote)
	return sa.keys, &wire.Auth{Method: auth.Method, Data: n.Data}, nil
}
