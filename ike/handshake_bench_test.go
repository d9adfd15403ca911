package ike

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	mrand "math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// ecdsaCreds sign with real ECDSA P-256 keys (RFC 4754, AUTH method 9)
// and send a real self-signed certificate, so that a handshake costs what
// a certificate handshake costs: a signature, a verification and an X.509
// parse on each side.
type ecdsaCreds struct {
	psks
	key  *ecdsa.PrivateKey
	cert []byte
	peer *ecdsa.PublicKey
}

func newECDSACreds(tb testing.TB, name string) *ecdsaCreds {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	return &ecdsaCreds{psks: testPSK, key: key, cert: der}
}

func (c *ecdsaCreds) LocalCertificates(string, identity.ID) ([][]byte, error) {
	return [][]byte{c.cert}, nil
}

func (c *ecdsaCreds) Sign(_ string, _ identity.ID, octets []byte, _ []uint16) (wire.AuthMethod, []byte, error) {
	h := sha256.Sum256(octets)
	r, s, err := ecdsa.Sign(rand.Reader, c.key, h[:])
	if err != nil {
		return 0, nil, err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return wire.AuthECDSASHA256P256, sig, nil
}

func (c *ecdsaCreds) VerifyPeer(_ string, _ identity.ID, certs [][]byte, method wire.AuthMethod, auth, octets []byte) error {
	if len(certs) != 1 || method != wire.AuthECDSASHA256P256 || len(auth) != 64 {
		return errors.New("want one certificate and an ECDSA P-256 AUTH")
	}
	cert, err := x509.ParseCertificate(certs[0])
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(c.peer) {
		return errors.New("not the peer's key")
	}
	h := sha256.Sum256(octets)
	if !ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(auth[:32]), new(big.Int).SetBytes(auth[32:])) {
		return errors.New("signature does not verify")
	}
	return nil
}

func (*ecdsaCreds) CertReq(string) []byte { return nil }

// BenchmarkHandshake measures one full IKE_SA_INIT + IKE_AUTH with its
// Child SA between two in-process Managers (both ends' work, no I/O): PSK
// with X25519, ECDSA P-256 certificates with X25519, and PSK with X25519
// plus ML-KEM-768 (IKE_INTERMEDIATE). It reports handshakes per second of
// both ends' CPU and the octets and datagrams both ends put on the wire.
func BenchmarkHandshake(b *testing.B) {
	for _, tc := range []struct {
		name, ike, esp string
		cert           bool
	}{
		{"psk-x25519", "aes128gcm16-prfsha256-x25519", "aes128gcm16", false},
		{"ecdsa-p256-x25519", "aes128gcm16-prfsha256-x25519", "aes128gcm16", true},
		{"psk-x25519-mlkem768", "aes256gcm16-prfsha384-x25519-ke1_mlkem768", "aes256gcm16", false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ca, cb := siteConfig(b, 1, 2), siteConfig(b, 2, 1)
			var credsA, credsB Credentials = testPSK, testPSK
			if tc.cert {
				a, bb := newECDSACreds(b, "a.cygnet.test"), newECDSACreds(b, "b.cygnet.test")
				a.peer, bb.peer = &bb.key.PublicKey, &a.key.PublicKey
				credsA, credsB = a, bb
			}
			for _, c := range []*PeerConfig{ca, cb} {
				c.Proposals = mustProposals(b, wire.ProtocolIKE, tc.ike)
				c.Children[0].Proposals = mustProposals(b, wire.ProtocolESP, tc.esp)
				if tc.cert {
					c.LocalAuth, c.RemoteAuth, c.SendCert = AuthPubkey, AuthPubkey, SendCertAlways
				}
			}
			var octets, datagrams int
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				p := benchPair(ca, cb, credsA, credsB, uint64(i))
				if err := p.a.m.Initiate("site", "net"); err != nil {
					b.Fatal(err)
				}
				o, d := p.pumpCounting()
				octets, datagrams = o, d
				if len(p.a.childUp) != 1 || len(p.b.childUp) != 1 {
					b.Fatalf("handshake %d: Child SAs %d / %d", i, len(p.a.childUp), len(p.b.childUp))
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
			b.ReportMetric(float64(octets), "wire-octets")
			b.ReportMetric(float64(datagrams), "datagrams")
		})
	}
}

// benchPair is newPair without logs: a benchmark measures the handshake,
// not the debug log's formatting.
func benchPair(ca, cb *PeerConfig, credsA, credsB Credentials, seed uint64) *pair {
	clock := &fakeClock{now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	mk := func(name, addr string, cfg *PeerConfig, creds Credentials, s uint64) *peer {
		p := &peer{name: name, addr: netip.MustParseAddr(addr), keys: map[uint32][4][]byte{}}
		var seedb [32]byte
		copy(seedb[:], fmt.Sprintf("%d-%d", s, seed))
		p.m = NewManager(Config{Conns: []*PeerConfig{cfg}, Creds: creds, Transport: p, Installer: p, Clock: clock,
			Rand: mrand.NewChaCha8(seedb), Log: slog.New(slog.DiscardHandler)})
		return p
	}
	return &pair{clock: clock, a: mk("a", "10.99.0.1", ca, credsA, 1), b: mk("b", "10.99.0.2", cb, credsB, 2)}
}

// pumpCounting is pump for a benchmark: it delivers the datagrams both ways
// until none are left and returns their octets and number.
func (p *pair) pumpCounting() (octets, datagrams int) {
	for range 200 {
		if len(p.a.out) == 0 && len(p.b.out) == 0 {
			return
		}
		for _, from := range []*peer{p.a, p.b} {
			to := p.b
			if from == p.b {
				to = p.a
			}
			q := from.out
			from.out = nil
			for _, d := range q {
				octets += len(d.b)
				datagrams++
				to.m.HandleIKE(d.b, d.remote, d.local)
			}
		}
	}
	panic("pumpCounting: peers kept talking for 200 rounds")
}
