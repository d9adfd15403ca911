package e2e

import (
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// TestIKEFragmentation: with RSA-3072 certificates an IKE_AUTH message is
// larger than the 1500-octet link. Both ends announce
// IKEV2_FRAGMENTATION_SUPPORTED, so neither should send it as IP
// fragments, which middleboxes commonly drop (RFC 7383); strongSwan uses
// IKE fragments, and cygnet must reassemble them.
func TestIKEFragmentation(t *testing.T) {
	testnet.RequireStrongSwan(t)
	pki := pkiFor(t, testnet.KeyRSA3072)
	for _, c := range []struct{ name, a, b string }{
		{"cygnet-initiates", implCygnet, implStrongSwan},
		{"strongswan-initiates", implStrongSwan, implCygnet},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := testnet.NewPair(t, testnet.PairOptions{})
			confA, confB := pairConfigs("pubkey")
			b := startEnd(t, c.b, p.B, confB.Swanctl(), pki, "b")
			a := startEnd(t, c.a, p.A, confA.Swanctl(), pki, "a")
			warmUnderlay(t, p, testnet.UnderlayB)
			capture := p.Capture(p.B)
			if _, err := a.initiate("tun", "net"); err != nil {
				t.Fatal(err)
			}
			if _, err := b.view("net", 5*time.Second); err != nil {
				t.Fatal(err)
			}
			path, err := capture.Stop()
			if err != nil {
				t.Fatal(err)
			}
			pc, err := testnet.ReadPcapFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ipFragsFrom := map[string]int{}
			ike := 0
			for _, pkt := range pc.Packets {
				d := testnet.ClassifyPacket(pc.LinkType, pkt.Data, nil)
				switch {
				case d.Class == testnet.ClassIKE:
					ike++
				case d.Class == testnet.ClassOther && d.Proto == 17 && d.SrcPort == 0:
					ipFragsFrom[d.Src.String()]++
				}
			}
			t.Logf("%d IKE datagrams; non-first IP fragments of UDP by source: %v", ike, ipFragsFrom)
			if ipFragsFrom[testnet.UnderlayB.String()] > 0 && c.b == implStrongSwan ||
				ipFragsFrom[testnet.UnderlayA.String()] > 0 && c.a == implStrongSwan {
				t.Errorf("strongSwan sent IP-fragmented IKE although cygnet announced RFC 7383 support")
			}
			cygnetAddr := testnet.UnderlayA.String()
			if c.b == implCygnet {
				cygnetAddr = testnet.UnderlayB.String()
			}
			if n := ipFragsFrom[cygnetAddr]; n > 0 {
				t.Errorf("cygnet and its peer both announce IKEV2_FRAGMENTATION_SUPPORTED, but cygnet sent an IKE "+
					"message over 1500 octets (RSA-3072 certificate) as one datagram, which the kernel split into IP "+
					"fragments (%d non-first fragments seen) instead of RFC 7383 fragments", n)
			}
		})
	}
}
