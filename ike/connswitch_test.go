package ike

import (
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// remoteIDConn is the responder's site connection under another name, for
// peers whose identity matches pattern.
func remoteIDConn(t *testing.T, name, pattern string) *PeerConfig {
	c := siteConfig(t, 2, 1)
	c.Name = name
	var err error
	if c.RemoteID, err = identity.Parse(pattern); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestWildcardRemoteIDSelectsConnection: a responder whose connections name
// their peers by patterns picks the one the initiator's identity matches
// best, as strongSwan does: an exact id beats "*.cygnet.test", which beats
// %any; a pattern that does not match is never chosen.
func TestWildcardRemoteIDSelectsConnection(t *testing.T) {
	for _, tc := range []struct {
		name  string
		conns []string // name=pattern, in configuration order
		want  string
	}{
		{"suffix wildcard", []string{"other=*.example.org", "wild=*.cygnet.test"}, "wild"},
		{"exact beats wildcard", []string{"wild=*.cygnet.test", "exact=a.cygnet.test", "any=%any"}, "exact"},
		{"wildcard beats any", []string{"any=%any", "wild=*.CYGNET.test"}, "wild"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var conns []*PeerConfig
			for _, c := range tc.conns {
				name, pattern, _ := strings.Cut(c, "=")
				conns = append(conns, remoteIDConn(t, name, pattern))
			}
			p := newPair(t, siteConfig(t, 1, 2), conns[0], testPSK, wildPSK{})
			p.b.m.SetConns(conns)
			if err := p.a.m.Initiate("site", "net"); err != nil {
				t.Fatal(err)
			}
			p.pump()
			a, b := onlySA(t, p.a), onlySA(t, p.b)
			if a.state != stateEstablished || b.state != stateEstablished {
				t.Fatalf("not established: %v %v", a.State(), b.State())
			}
			if b.cfg.Name != tc.want {
				t.Fatalf("responder chose connection %s, want %s", b.cfg.Name, tc.want)
			}
			if b.RemoteID.String() != "a.cygnet.test" {
				t.Fatalf("responder's remote id %s", b.RemoteID)
			}
		})
	}
}

// TestWildcardRemoteIDInitiator: an initiator whose remote id is a pattern
// sends no IDr (it does not know the exact identity, and the responder
// would look for a connection whose local id is the pattern) and accepts a
// responder whose identity matches the pattern, but not one that does not.
func TestWildcardRemoteIDInitiator(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		ok      bool
	}{
		{"*.cygnet.test", true},
		{"*.example.org", false},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			ca := siteConfig(t, 1, 2)
			ca.RemoteID, _ = identity.Parse(tc.pattern)
			p := newPair(t, ca, siteConfig(t, 2, 1), wildPSK{}, testPSK)
			if err := p.a.m.Initiate("site", "net"); err != nil {
				t.Fatal(err)
			}
			p.pump()
			// An IDr of "*.cygnet.test" would make the responder, which is
			// b.cygnet.test, refuse: no connection of its is "*.cygnet.test".
			if logHas(p.b, "no connection for peer identity") {
				t.Fatalf("initiator sent IDr for a wildcard remote id:\n%s", p.b.logs)
			}
			up := len(p.a.m.SAs()) == 1 && onlySA(t, p.a).state == stateEstablished
			if up != tc.ok {
				t.Fatalf("established = %v, want %v", up, tc.ok)
			}
			if !tc.ok && !logHas(p.a, "peer identity b.cygnet.test does not match the configured *.example.org") {
				t.Fatalf("initiator log:\n%s", p.a.logs)
			}
		})
	}
}

// TestConnectionSwitchChecksProposals: IKE_SA_INIT picks the first
// connection whose proposals fit; when the initiator's identity then
// selects another connection in IKE_AUTH, the negotiated suite must be one
// that connection accepts too, or the exchange fails with
// AUTHENTICATION_FAILED and a log naming both connections and proposal sets.
func TestConnectionSwitchChecksProposals(t *testing.T) {
	for _, tc := range []struct {
		name      string
		proposals string // of the connection the identity selects
		ok        bool
	}{
		{"same suite", "aes128gcm16-prfsha256-x25519", true},
		{"other suite", "aes256-sha384-ecp384", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := remoteIDConn(t, "first", "someone-else.cygnet.test")
			second := remoteIDConn(t, "second", "a.cygnet.test")
			second.Proposals = mustProposals(t, wire.ProtocolIKE, tc.proposals)
			p := newPair(t, siteConfig(t, 1, 2), first, testPSK, testPSK)
			p.b.m.SetConns([]*PeerConfig{first, second})
			if err := p.a.m.Initiate("site", "net"); err != nil {
				t.Fatal(err)
			}
			p.pump()
			if tc.ok {
				b := onlySA(t, p.b)
				if b.state != stateEstablished || b.cfg.Name != "second" {
					t.Fatalf("responder SA %v on %s", b.State(), b.cfg.Name)
				}
				return
			}
			if n := len(p.a.m.SAs()) + len(p.b.m.SAs()); n != 0 {
				t.Fatalf("%d IKE SAs left after the refused switch", n)
			}
			want := "AUTHENTICATION_FAILED: peer identity a.cygnet.test selects connection second, whose proposals aes256-sha384-ecp384 do not allow the IKE SA's aes128gcm16-prfsha256-x25519 (negotiated for connection first, proposals aes128gcm16-prfsha256-x25519)"
			if !logHas(p.b, want) {
				t.Fatalf("responder log lacks %q:\n%s", want, p.b.logs)
			}
			if !logHas(p.a, "AUTHENTICATION_FAILED") {
				t.Fatalf("initiator log:\n%s", p.a.logs)
			}
		})
	}
}

// wildPSK gives the test PSK for any pair of identities.
type wildPSK struct{}

func (wildPSK) SharedKey(_, _ identity.ID) ([]byte, bool) {
	return []byte(testPSK["a.cygnet.test|b.cygnet.test"]), true
}
