package ike

import (
	"time"
)

// UniquePolicy is what happens when a peer sets up an IKE SA with the same
// identities as an existing one (swanctl unique), as strongSwan defines it.
type UniquePolicy uint8

// Uniqueness policies.
const (
	// UniqueNo allows duplicates, but INITIAL_CONTACT from the peer
	// replaces the old IKE SAs (the default).
	UniqueNo UniquePolicy = iota
	// UniqueNever allows duplicates and ignores INITIAL_CONTACT; we do not
	// send it either.
	UniqueNever
	// UniqueReplace deletes the old IKE SA when a new one authenticates.
	UniqueReplace
	// UniqueKeep refuses the new IKE SA (AUTHENTICATION_FAILED) when the
	// peer comes from another address; from the same address it is taken
	// for a reauthentication and allowed.
	UniqueKeep
)

func (u UniquePolicy) String() string {
	switch u {
	case UniqueNever:
		return "never"
	case UniqueReplace:
		return "replace"
	case UniqueKeep:
		return "keep"
	}
	return "no"
}

// reauthDeleteDelay is how long unique = replace keeps the old IKE SA when
// the new one comes from the same address (a suspected reauthentication),
// so the peer can move its Child SAs first; strongSwan waits 10 s.
const reauthDeleteDelay = 10 * time.Second

// duplicates returns the other established IKE SAs between the same
// identities over the same address family.
func (sa *IKESA) duplicates() []*IKESA {
	var out []*IKESA
	for _, o := range sa.m.peerSAs(sa.RemoteID) {
		if o == sa || o.state != stateEstablished || !o.LocalID.Equal(sa.LocalID) || !o.RemoteID.Equal(sa.RemoteID) ||
			o.Remote.Addr().Unmap().Is4() != sa.Remote.Addr().Unmap().Is4() {
			continue
		}
		out = append(out, o)
	}
	return out
}

// sendInitialContact says whether our IKE_AUTH carries INITIAL_CONTACT:
// as strongSwan, only when the peer's identity is configured exactly, the
// policy is not never, and no IKE SA with that peer exists (RFC 7296 2.4).
func (sa *IKESA) sendInitialContact() bool {
	if sa.cfg.Unique == UniqueNever || sa.cfg.RemoteID.HasWildcards() {
		return false
	}
	for _, o := range sa.m.peerSAs(sa.cfg.RemoteID) {
		if o != sa && o.state == stateEstablished && o.LocalID.Equal(sa.LocalID) && o.RemoteID.Equal(sa.cfg.RemoteID) {
			return false
		}
	}
	return true
}

// enforceUnique runs, as responder, once the initiator authenticated: it
// honours INITIAL_CONTACT (the peer forgot its old SAs: they go without a
// DELETE) and applies the uniqueness policy to duplicates of the same
// connection. It reports whether the new SA must be refused (unique = keep).
func (sa *IKESA) enforceUnique() (cancel bool) {
	policy := sa.cfg.Unique
	force := sa.peerInitialContact
	if policy == UniqueNever || (policy == UniqueNo && !force) {
		return false
	}
	for _, o := range sa.duplicates() {
		if force {
			o.log.Info("destroying duplicate IKE SA, peer sent INITIAL_CONTACT", "peer", sa.RemoteID.String(), "new_ike", sa.UniqueID)
			o.destroy("peer sent INITIAL_CONTACT")
			continue
		}
		if o.cfg == nil || o.cfg.Name != sa.cfg.Name {
			continue
		}
		switch policy {
		case UniqueReplace:
			if o.Remote.Addr() == sa.Remote.Addr() {
				o.log.Info("scheduling delete of duplicate IKE SA due to uniqueness policy and suspected reauthentication",
					"peer", sa.RemoteID.String(), "in", reauthDeleteDelay)
				sa.m.live.deletes = append(sa.m.live.deletes, deferredDelete{sa: o, at: sa.m.clock.Now().Add(reauthDeleteDelay), reason: "uniqueness policy (replace)"})
				continue
			}
			o.log.Info("deleting duplicate IKE SA due to uniqueness policy", "peer", sa.RemoteID.String(), "new_ike", sa.UniqueID)
			o.releaseVIPs() // the new IKE SA takes over the peer's address
			o.deleteIKE("uniqueness policy (replace)")
		case UniqueKeep:
			if o.Remote.Addr() != sa.Remote.Addr() {
				cancel = true
				// Keep the first IKE SA and delete any other duplicate.
				policy = UniqueReplace
			}
		}
	}
	return cancel
}
