package ike

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// A peer may split any encrypted message into RFC 7383 fragments; the
// responder's IKE_AUTH answer arriving in three fragments, out of order and
// with one duplicated, must still establish the SAs.
func TestFragmentedResponseReassembled(t *testing.T) {
	p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, testPSK)
	var fragmented int
	p.drop = func(from *peer, d datagram) bool {
		if from != p.b {
			return false
		}
		h, err := wire.ParseHeader(d.b)
		if err != nil || h.Exchange != wire.IKE_AUTH || !h.IsResponse() {
			return false
		}
		b := onlySA(t, p.b)
		msg, err := wire.ParseMessage(d.b)
		if err != nil {
			t.Fatal(err)
		}
		// Re-create the response's inner payloads from B's own cache by
		// decrypting it with the initiator's keys.
		a := onlySA(t, p.a)
		inner, err := a.open(msg)
		if err != nil {
			t.Fatal(err)
		}
		frags, err := b.sealFragments(msg.Header, inner, 60)
		if err != nil {
			t.Fatal(err)
		}
		if len(frags) < 3 {
			t.Fatalf("want at least 3 fragments, got %d", len(frags))
		}
		fragmented = len(frags)
		order := append([][]byte{frags[len(frags)-1], frags[0]}, frags[1:]...)
		order = append(order, frags[0])
		for _, f := range order {
			p.a.m.HandleIKE(f, d.remote, d.local)
		}
		return true
	}
	a, b := establish(t, p)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" || len(a.Children()) != 1 {
		t.Fatalf("states %s/%s, children %d", a.State(), b.State(), len(a.Children()))
	}
	if fragmented == 0 {
		t.Fatal("the response was never fragmented")
	}
}

func TestFragmentLimits(t *testing.T) {
	p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, testPSK)
	a, _ := establish(t, p)
	msg := &wire.Message{Payloads: []wire.Payload{&wire.EncryptedFragment{Number: 2, Total: 1, Body: make([]byte, 40)}}}
	if _, _, err := a.collectFragment(msg, msg.Payloads[0].(*wire.EncryptedFragment)); err == nil {
		t.Fatal("fragment 2 of 1 accepted")
	}
	f := &wire.EncryptedFragment{Number: 1, Total: maxFragments + 1}
	if _, _, err := a.collectFragment(msg, f); err == nil {
		t.Fatal("too many fragments accepted")
	}
}

// bigCerts are test credentials for certificate authentication whose
// "certificates" are opaque 1500-octet blobs and whose "signature" is a
// hash: enough to make IKE_AUTH exceed any MTU both ways.
type bigCerts struct{ psks }

func (bigCerts) blob(id identity.ID, n byte) []byte {
	return bytes.Repeat([]byte(id.String()+string('0'+n)), 1500/len(id.String())+1)[:1500]
}

func (c bigCerts) LocalCertificates(_ string, local identity.ID) ([][]byte, error) {
	return [][]byte{c.blob(local, 0), c.blob(local, 1)}, nil
}

func (bigCerts) Sign(_ string, local identity.ID, octets []byte, _ []uint16) (wire.AuthMethod, []byte, error) {
	h := sha256.Sum256(append([]byte(local.String()), octets...))
	return wire.AuthDigitalSignature, h[:], nil
}

func (c bigCerts) VerifyPeer(_ string, remote identity.ID, certs [][]byte, method wire.AuthMethod, auth, octets []byte) error {
	want, _ := c.LocalCertificates("", remote)
	if len(certs) != 2 || !bytes.Equal(certs[0], want[0]) || !bytes.Equal(certs[1], want[1]) {
		return fmt.Errorf("peer sent %d certificates, not the expected chain", len(certs))
	}
	if _, sig, _ := c.Sign("", remote, octets, nil); method != wire.AuthDigitalSignature || !bytes.Equal(sig, auth) {
		return errors.New("signature does not verify")
	}
	return nil
}

func (bigCerts) CertReq(string) []byte { return nil }

// certPair is a harness pair that authenticates with bigCerts, sending the
// certificates always.
func certPair(t *testing.T, tweak func(a, b *PeerConfig)) *pair {
	t.Helper()
	ca, cb := siteConfig(t, 1, 2), siteConfig(t, 2, 1)
	for _, c := range []*PeerConfig{ca, cb} {
		c.LocalAuth, c.RemoteAuth, c.SendCert = AuthPubkey, AuthPubkey, SendCertAlways
	}
	if tweak != nil {
		tweak(ca, cb)
	}
	return newPair(t, ca, cb, bigCerts{testPSK}, bigCerts{testPSK})
}

// wireLog records the IKE_AUTH datagrams each peer sent.
type wireLog struct {
	t          *testing.T
	auth       map[*peer][][]byte // IKE_AUTH datagrams, as sent
	fragments  map[*peer]int      // of which SKF
	biggest    map[*peer]int
	dropFirst  func(from *peer, h wire.Header, frag *wire.EncryptedFragment) bool
	droppedOne bool
}

func watchAuth(t *testing.T, p *pair) *wireLog {
	w := &wireLog{t: t, auth: map[*peer][][]byte{}, fragments: map[*peer]int{}, biggest: map[*peer]int{}}
	p.drop = func(from *peer, d datagram) bool {
		h, err := wire.ParseHeader(d.b)
		if err != nil || h.Exchange != wire.IKE_AUTH {
			return false
		}
		w.auth[from] = append(w.auth[from], d.b)
		w.biggest[from] = max(w.biggest[from], len(d.b))
		msg, err := wire.ParseMessage(d.b)
		if err != nil {
			t.Fatalf("IKE_AUTH datagram does not parse: %v", err)
		}
		f, ok := isFragment(msg)
		if ok {
			w.fragments[from]++
		}
		if w.dropFirst != nil && !w.droppedOne && w.dropFirst(from, h, f) {
			w.droppedOne = true
			return true
		}
		return false
	}
	return w
}

// IKE_AUTH with two 1500-octet certificates does not fit in 1280 octets:
// both the request and the response go as RFC 7383 fragments that fit, and
// both sides reassemble them.
func TestFragmentedAuthBothWays(t *testing.T) {
	p := certPair(t, nil)
	w := watchAuth(t, p)
	a, b := establish(t, p)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" || len(a.Children()) != 1 || len(b.Children()) != 1 {
		t.Fatalf("states %s/%s", a.State(), b.State())
	}
	for _, pe := range []*peer{p.a, p.b} {
		n := len(w.auth[pe])
		if n < 3 || w.fragments[pe] != n {
			t.Fatalf("peer %s sent %d IKE_AUTH datagrams, %d of them fragments", pe.name, n, w.fragments[pe])
		}
		// IPv4 and UDP headers on top must stay within the fragment size.
		if w.biggest[pe]+28 > pe.m.opts.FragmentSize {
			t.Fatalf("peer %s: fragment of %d octets exceeds %d with headers", pe.name, w.biggest[pe], pe.m.opts.FragmentSize)
		}
		s := pe.m.Stats
		if s.FragmentsSent != uint64(n) || s.FragmentsReassembled != 1 || s.FragmentsDropped != 0 {
			t.Fatalf("peer %s stats %+v", pe.name, s)
		}
	}
	if a.RemoteID.String() != "b.cygnet.test" {
		t.Fatalf("remote identity %s", a.RemoteID)
	}
}

// A fragment lost on the way: the initiator's retransmission sends every
// fragment again and the responder completes the message from them,
// dropping the copies of what it already had.
func TestLostFragmentRetransmitted(t *testing.T) {
	p := certPair(t, nil)
	w := watchAuth(t, p)
	w.dropFirst = func(from *peer, h wire.Header, f *wire.EncryptedFragment) bool {
		return from == p.a && f != nil && f.Number == 2
	}
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if !w.droppedOne || len(p.b.childUp) != 0 {
		t.Fatalf("dropped %v, responder children %d", w.droppedOne, len(p.b.childUp))
	}
	first := len(w.auth[p.a])
	p.advance(p.a.m.opts.RetransmitTimeout)
	a, b := onlySA(t, p.a), onlySA(t, p.b)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" {
		t.Fatalf("after the retransmission: %s/%s", a.State(), b.State())
	}
	if len(w.auth[p.a]) != 2*first {
		t.Fatalf("retransmission sent %d datagrams, first try %d", len(w.auth[p.a])-first, first)
	}
	// Fragment 1 again is a duplicate, fragment 2 completes the message, and
	// fragment 3 then belongs to a request already answered: not fragment
	// 1 of it, so it does not make the response go out twice.
	if s := p.b.m.Stats; s.FragmentsDropped != 1 || s.FragmentsReassembled != 1 || s.FragmentsSent != uint64(len(w.auth[p.b])) {
		t.Fatalf("responder stats %+v, %d response datagrams", s, len(w.auth[p.b]))
	}
}

// A retransmitted fragmented request is answered (with every fragment of
// the cached response) once, on its fragment 1 (RFC 7383 2.6.1).
func TestFragmentedRequestRetransmitAnswersOnce(t *testing.T) {
	p := certPair(t, nil)
	w := watchAuth(t, p)
	establish(t, p)
	req := slices.Clone(w.auth[p.a])
	resp := len(w.auth[p.b])
	p.b.out = nil
	for _, f := range req {
		p.b.m.HandleIKE(f, netip.MustParseAddrPort("10.99.0.2:500"), netip.MustParseAddrPort("10.99.0.1:500"))
	}
	if len(p.b.out) != resp {
		t.Fatalf("%d request fragments again made %d datagrams, want the %d of one response", len(req), len(p.b.out), resp)
	}
	for i, d := range p.b.out {
		if !bytes.Equal(d.b, w.auth[p.b][i]) {
			t.Fatalf("retransmitted response fragment %d differs", i+1)
		}
	}
}

func TestFragmentationPolicies(t *testing.T) {
	cases := []struct {
		a, b         Fragmentation
		fragA, fragB bool // who sends IKE_AUTH in fragments
	}{
		{FragmentationYes, FragmentationYes, true, true},
		{FragmentationForce, FragmentationYes, true, true},
		{FragmentationAccept, FragmentationYes, false, true},
		{FragmentationYes, FragmentationAccept, true, false},
		{FragmentationNo, FragmentationYes, false, false},
		{FragmentationYes, FragmentationNo, false, false},
	}
	for _, c := range cases {
		t.Run(c.a.String()+"-"+c.b.String(), func(t *testing.T) {
			p := certPair(t, func(a, b *PeerConfig) { a.Fragmentation, b.Fragmentation = c.a, c.b })
			w := watchAuth(t, p)
			a, b := establish(t, p)
			if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" {
				t.Fatalf("states %s/%s", a.State(), b.State())
			}
			if got := w.fragments[p.a] > 0; got != c.fragA {
				t.Fatalf("initiator fragmented: %v", got)
			}
			if got := w.fragments[p.b] > 0; got != c.fragB {
				t.Fatalf("responder fragmented: %v", got)
			}
			if !c.fragA && len(w.auth[p.a]) != 1 || !c.fragB && len(w.auth[p.b]) != 1 {
				t.Fatalf("unfragmented message in %d/%d datagrams", len(w.auth[p.a]), len(w.auth[p.b]))
			}
		})
	}
}

// Reassembly restarts when the sender fragments the same message again in
// more pieces (RFC 7383 2.6), ignores leftovers of the coarser one, and
// refuses messages beyond maxReassembled.
func TestFragmentReassemblyRestartAndBound(t *testing.T) {
	p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, testPSK)
	a, b := establish(t, p)
	h := b.header(wire.INFORMATIONAL, 7, true)
	inner := []wire.Payload{&wire.VendorID{Data: bytes.Repeat([]byte("v"), 900)}}
	feed := func(frags [][]byte, idx ...int) (payloads []wire.Payload, done bool, err error) {
		t.Helper()
		for _, i := range idx {
			msg, perr := wire.ParseMessage(frags[i])
			if perr != nil {
				t.Fatal(perr)
			}
			f, _ := isFragment(msg)
			if payloads, done, err = a.collectFragment(msg, f); err != nil || done {
				return
			}
		}
		return
	}
	coarse, err := b.sealFragments(h, inner, 400) // 3 fragments
	if err != nil {
		t.Fatal(err)
	}
	fine, err := b.sealFragments(h, inner, 200) // 5 fragments
	if err != nil {
		t.Fatal(err)
	}
	if _, done, err := feed(coarse, 0, 1); done || err != nil {
		t.Fatalf("two of three: done %v err %v", done, err)
	}
	if _, done, err := feed(fine, 0, 1, 2); done || err != nil {
		t.Fatalf("finer fragmentation: done %v err %v", done, err)
	}
	if _, done, err := feed(coarse, 2); done || err != nil {
		t.Fatalf("leftover of the coarse one: done %v err %v", done, err)
	}
	payloads, done, err := feed(fine, 3, 4)
	if err != nil || !done || len(payloads) != 1 {
		t.Fatalf("reassembly: done %v err %v, %d payloads", done, err, len(payloads))
	}
	if v, ok := payloads[0].(*wire.VendorID); !ok || len(v.Data) != 900 {
		t.Fatalf("reassembled %T", payloads[0])
	}
	huge := []wire.Payload{
		&wire.VendorID{Data: make([]byte, 30000)}, &wire.VendorID{Data: make([]byte, 30000)}, &wire.VendorID{Data: make([]byte, 30000)},
	}
	big, err := b.sealFragments(b.header(wire.INFORMATIONAL, 8, true), huge, 2000)
	if err != nil {
		t.Fatal(err)
	}
	all := make([]int, len(big))
	for i := range all {
		all[i] = i
	}
	if _, done, err := feed(big, all...); done || err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized message: done %v err %v", done, err)
	}
	if a.frags != nil {
		t.Fatal("buffer of the oversized message kept")
	}
}

// FuzzCollectFragment feeds arbitrary fragment headers and bodies, sealed
// with the right keys, to reassembly: it may refuse them but must not panic
// or keep more than its bound.
func FuzzCollectFragment(f *testing.F) {
	f.Add(uint16(1), uint16(2), uint32(3), []byte("abc"))
	f.Add(uint16(2), uint16(1), uint32(3), []byte{})
	f.Add(uint16(64), uint16(64), uint32(0), bytes.Repeat([]byte{0x29}, 300))
	p := newPair(f, siteConfig(f, 1, 2), siteConfig(f, 2, 1), testPSK, testPSK)
	if err := p.a.m.Initiate("site", "net"); err != nil {
		f.Fatal(err)
	}
	p.pump()
	a, b := p.a.m.SAs()[0], p.b.m.SAs()[0]
	f.Fuzz(func(t *testing.T, num, total uint16, id uint32, body []byte) {
		if num == 0 || total == 0 {
			return // the codec refuses these before reassembly sees them
		}
		fr := &wire.EncryptedFragment{Number: num, Total: total}
		msg := &wire.Message{Header: b.header(wire.INFORMATIONAL, id%4, true), Payloads: []wire.Payload{fr}}
		ad, err := msg.AssociatedData(b.out.SealedLen(len(body)))
		if err != nil {
			return
		}
		pkt, err := b.out.Seal(slices.Clone(ad), ad, body)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := wire.ParseMessage(pkt)
		if err != nil {
			return
		}
		pf, _ := isFragment(parsed)
		_, _, _ = a.collectFragment(parsed, pf)
		if a.frags != nil && a.frags.size > maxReassembled {
			t.Fatalf("buffered %d octets", a.frags.size)
		}
	})
}
