package ike

import (
	"bytes"
	"testing"

	ikecrypto "github.com/cygnet-ipsec/cygnet/ike/crypto"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// ppkCreds are PSKs plus postquantum preshared keys by PPK_ID.
type ppkCreds struct {
	psks
	ppks map[string]string
}

func (c ppkCreds) PPK(id []byte) ([]byte, bool) {
	k, ok := c.ppks[string(id)]
	return []byte(k), ok
}

func (c ppkCreds) HasPPK() bool { return len(c.ppks) > 0 }

var _ PPKCredentials = ppkCreds{}

const testPPK = "a postquantum preshared key of more than 32 octets"

// ppkPair is the site-to-site pair with PPK settings and credentials.
func ppkPair(t *testing.T, props string, idA, idB string, reqA, reqB bool, ppksA, ppksB map[string]string) *pair {
	ca, cb := siteConfig(t, 1, 2), siteConfig(t, 2, 1)
	if props != "" {
		ca.Proposals = mustProposals(t, wire.ProtocolIKE, props)
		cb.Proposals = mustProposals(t, wire.ProtocolIKE, props)
	}
	if idA != "" {
		ca.PPKID = []byte(idA)
	}
	if idB != "" {
		cb.PPKID = []byte(idB)
	}
	ca.PPKRequired, cb.PPKRequired = reqA, reqB
	return newPair(t, ca, cb, ppkCreds{testPSK, ppksA}, ppkCreds{testPSK, ppksB})
}

// initNotifies records whether each side's IKE_SA_INIT carried USE_PPK.
func initNotifies(p *pair) map[string]bool {
	seen := map[string]bool{}
	p.drop = func(from *peer, d datagram) bool {
		if msg, err := wire.ParseMessage(d.b); err == nil && msg.Exchange == wire.IKE_SA_INIT {
			seen[from.name] = findNotify(msg.Payloads, wire.USE_PPK) != nil
		}
		return false
	}
	return seen
}

// With the same PPK on both ends, the IKE SA comes up with SK_d, SK_pi and
// SK_pr derived with it (RFC 8784 section 3): the same exchange without a
// PPK, from the same randomness, gives the keys the PPK's are derived from.
// With IKE_INTERMEDIATE the PPK applies to the keys after the last
// additional key exchange.
func TestPPKEstablishes(t *testing.T) {
	for _, props := range []string{"", "aes256gcm16-prfsha384-x25519-ke1_mlkem768"} {
		t.Run("props="+props, func(t *testing.T) {
			ppks := map[string]string{"ppk-1": testPPK}
			p := ppkPair(t, props, "ppk-1", "ppk-1", false, false, ppks, ppks)
			use := initNotifies(p)
			a, b := establish(t, p)
			if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" || !a.PPK || !b.PPK {
				t.Fatalf("states %s / %s, PPK %v / %v", a.State(), b.State(), a.PPK, b.PPK)
			}
			if !use["a"] || !use["b"] {
				t.Fatalf("USE_PPK in IKE_SA_INIT: %v", use)
			}
			if !logHas(p.a, "using PPK") || !logHas(p.b, "using PPK") {
				t.Fatal("no \"using PPK\" in the logs")
			}
			withPPK := keyMap(a.keys)
			if bk := keyMap(b.keys); !equalKeys(withPPK, bk) {
				t.Fatal("the two ends disagree on the keys")
			}
			if props != "" {
				// ML-KEM encapsulation draws its own randomness, so a
				// second run does not repeat the keys; the relation is
				// checked on the classical run.
				return
			}
			// The same run without PPK settings.
			q := ppkPair(t, props, "", "", false, false, nil, nil)
			qa, _ := establish(t, q)
			if qa.PPK {
				t.Fatal("PPK used without PPK settings")
			}
			without := keyMap(qa.keys)
			for _, l := range []string{"SK_ai", "SK_ar", "SK_ei", "SK_er"} {
				if !bytes.Equal(withPPK[l], without[l]) {
					t.Fatalf("%s differs: the runs did not share randomness or the PPK touched it", l)
				}
			}
			prf := a.keys.PRF()
			for _, l := range []string{"SK_d", "SK_pi", "SK_pr"} {
				want, err := prf.Plus([]byte(testPPK), len(without[l]), without[l])
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(withPPK[l], want) {
					t.Errorf("%s is not prf+(PPK, %s without PPK)", l, l)
				}
			}
			// The first Child SA's keys come from the new SK_d: they differ
			// from those of the run without PPK and agree between the ends.
			ca, cb := a.Children()[0], b.Children()[0]
			if !bytes.Equal(ca.EncrKeyOut, cb.EncrKeyIn) && ca.EncrKeyOut != nil {
				t.Fatal("Child SA keys disagree")
			}
			if bytes.Equal(p.a.keys[ca.SPIIn][0], q.a.keys[qa.Children()[0].SPIIn][0]) {
				t.Fatal("Child SA keys do not depend on the PPK")
			}
		})
	}
}

func keyMap(k *ikecrypto.IKESAKeys) map[string][]byte {
	out := map[string][]byte{}
	k.RevealKeys(func(l string, b []byte) { out[l] = bytes.Clone(b) })
	return out
}

func equalKeys(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for l, v := range a {
		if !bytes.Equal(v, b[l]) {
			return false
		}
	}
	return true
}

// A responder without the initiator's PPK falls back to NO_PPK_AUTH when
// the initiator does not require it; one that announces no USE_PPK at all
// makes the initiator go on without.
func TestPPKFallback(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ppksB map[string]string
		logA  string
		logB  string
		useB  bool
	}{
		{"responder has other PPKs", map[string]string{"other": testPPK}, "peer did not use the PPK", "checking NO_PPK_AUTH", true},
		{"responder has no PPK", nil, "peer does not support PPK", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ppkPair(t, "", "ppk-1", "", false, false, map[string]string{"ppk-1": testPPK}, tc.ppksB)
			use := initNotifies(p)
			a, b := establish(t, p)
			if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" || a.PPK || b.PPK {
				t.Fatalf("states %s / %s, PPK %v / %v", a.State(), b.State(), a.PPK, b.PPK)
			}
			if use["b"] != tc.useB {
				t.Fatalf("responder's USE_PPK %v, want %v", use["b"], tc.useB)
			}
			if !logHas(p.a, tc.logA) || (tc.logB != "" && !logHas(p.b, tc.logB)) {
				t.Fatalf("logs lack %q / %q", tc.logA, tc.logB)
			}
			if !equalKeys(keyMap(a.keys), keyMap(b.keys)) {
				t.Fatal("the two ends disagree on the keys")
			}
		})
	}
}

// ppk_required refuses an IKE SA without the PPK, on either end, with the
// reason in the log, and no IKE SA stays behind.
func TestPPKRequired(t *testing.T) {
	for _, tc := range []struct {
		name         string
		idA, idB     string
		reqA, reqB   bool
		ppksA, ppksB map[string]string
		who          string // the end that says why
		want         string
	}{
		{"initiator requires, responder has no PPK", "ppk-1", "", true, false,
			map[string]string{"ppk-1": testPPK}, nil, "a",
			"PPK required (ppk_required = yes) but peer 10.99.0.2 does not support PPK (no USE_PPK in its IKE_SA_INIT response)"},
		{"initiator requires, responder lacks this PPK", "ppk-1", "", true, false,
			map[string]string{"ppk-1": testPPK}, map[string]string{"other": testPPK}, "b",
			"peer used a PPK we cannot use (no PPK with PPK_ID 'ppk-1') and sent no NO_PPK_AUTH"},
		{"initiator requires, secrets lack its PPK", "ppk-1", "", true, false,
			map[string]string{"other": testPPK}, map[string]string{"ppk-1": testPPK}, "a",
			"PPK required (ppk_required = yes) but secrets has no PPK with id 'ppk-1'"},
		{"responder requires, initiator has no ppk_id", "", "", false, true,
			nil, map[string]string{"ppk-1": testPPK}, "b",
			"PPK required (ppk_required = yes) but peer does not support PPK (no USE_PPK in IKE_SA_INIT)"},
		{"responder requires, initiator lacks the PPK", "ppk-1", "", false, true,
			map[string]string{"other": testPPK}, map[string]string{"ppk-1": testPPK}, "b",
			"PPK required (ppk_required = yes) but peer sent no PPK_IDENTITY"},
		{"responder requires another PPK_ID", "ppk-1", "ppk-2", false, true,
			map[string]string{"ppk-1": testPPK}, map[string]string{"ppk-1": testPPK, "ppk-2": testPPK}, "b",
			"peer's PPK_ID 'ppk-1' is not the connection's ppk_id 'ppk-2'"},
		{"different PPKs under one PPK_ID", "ppk-1", "", true, false,
			map[string]string{"ppk-1": testPPK}, map[string]string{"ppk-1": testPPK + "!"}, "b",
			"PSK of a.cygnet.test does not match ours"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ppkPair(t, "", tc.idA, tc.idB, tc.reqA, tc.reqB, tc.ppksA, tc.ppksB)
			if err := p.a.m.Initiate("site", "net"); err != nil {
				t.Fatal(err)
			}
			p.pump()
			// A responder the initiator gave up on before IKE_AUTH keeps
			// its half-open SA until the half-open timeout.
			if n := len(p.a.m.SAs()); n != 0 {
				t.Fatalf("initiator keeps %d IKE SAs", n)
			}
			for _, sa := range p.b.m.SAs() {
				if sa.State() == "ESTABLISHED" {
					t.Fatal("responder's IKE SA is up")
				}
			}
			who := p.a
			if tc.who == "b" {
				who = p.b
			}
			if !logHas(who, tc.want) {
				t.Fatalf("peer %s's log lacks %q", tc.who, tc.want)
			}
			if tc.who == "b" && !logHas(p.a, "AUTHENTICATION_FAILED") {
				t.Fatal("the initiator did not learn of the failure")
			}
		})
	}
}

// The PPK flag survives an IKE SA rekey: the new keys descend from SK_d.
func TestPPKSurvivesIKERekey(t *testing.T) {
	ppks := map[string]string{"ppk-1": testPPK}
	p := ppkPair(t, "", "ppk-1", "ppk-1", true, true, ppks, ppks)
	a, _ := establish(t, p)
	if err := p.a.m.RekeyIKE("site", false); err != nil {
		t.Fatal(err)
	}
	p.pump()
	na, nb := onlySA(t, p.a), onlySA(t, p.b)
	if na == a || !na.PPK || !nb.PPK {
		t.Fatalf("after the rekey: new SA %v, PPK %v / %v", na != a, na.PPK, nb.PPK)
	}
}
