package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// strongSwan's kernel-libipsec data plane always asks for UDP
// encapsulation, so every tunnel with it is ESP-in-UDP on port 4500.

func TestCygnetInitiatesToStrongSwanPSK(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireStrongSwan(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	confA, confB := pairConfigs("psk")
	sw := testnet.StartStrongSwan(t, p.B, nil)
	if err := sw.Load(confB.Swanctl()); err != nil {
		t.Fatal(err)
	}
	a := startCygnet(t, p.A, confA.Swanctl(), nil, "")
	capture := p.Capture(p.B)
	d := a.initiate("tun", "net")
	t.Logf("cygnet -> strongSwan: initiate to usable tunnel %v", d)
	a.initiate("tun", "net6")
	ikeB, childB, err := sw.WaitChildSA("net", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	xfer := checkTraffic(t, p, capture)
	ikeA, childA := a.waitChild("net", time.Second)
	if !childA.Encap || !ikeA.NATLocal && !ikeA.NATRemote || ikeA.RemotePort != 4500 {
		t.Errorf("cygnet's view: encap %v nat %v/%v remote port %d", childA.Encap, ikeA.NATLocal, ikeA.NATRemote, ikeA.RemotePort)
	}
	if childA.SPIIn != fmt.Sprintf("%08x", childB.SPIOut) || childA.SPIOut != fmt.Sprintf("%08x", childB.SPIIn) {
		t.Errorf("SPIs: cygnet in %s out %s, strongSwan in %08x out %08x", childA.SPIIn, childA.SPIOut, childB.SPIIn, childB.SPIOut)
	}
	if ikeB.State != "ESTABLISHED" || childB.State != "INSTALLED" || !childB.Encap || childB.EncrAlg != "AES_GCM_16" {
		t.Errorf("strongSwan's view: %+v / %+v", ikeB, childB)
	}
	sw2, err := sw.ChildSA("net")
	if err != nil {
		t.Fatal(err)
	}
	if sw2.BytesIn < uint64(xfer.Bytes) {
		t.Errorf("strongSwan counted %d bytes in, we sent %d", sw2.BytesIn, xfer.Bytes)
	}
}

func TestStrongSwanInitiatesToCygnetPSK(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireStrongSwan(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	confA, confB := pairConfigs("psk")
	sw := testnet.StartStrongSwan(t, p.A, nil)
	if err := sw.Load(confA.Swanctl()); err != nil {
		t.Fatal(err)
	}
	b := startCygnet(t, p.B, confB.Swanctl(), nil, "")
	capture := p.Capture(p.B)
	start := time.Now()
	if err := sw.Initiate("tun", "net"); err != nil {
		t.Fatal(err)
	}
	t.Logf("strongSwan -> cygnet: tunnel up in %v", time.Since(start))
	if err := sw.Initiate("tun", "net6"); err != nil {
		t.Fatal(err)
	}
	b.waitChild("net", 5*time.Second)
	checkTraffic(t, p, capture)
	ikeB, childB := b.waitChild("net", time.Second)
	if ikeB.Initiator || !childB.Encap || ikeB.RemotePort != 4500 {
		t.Errorf("cygnet's view: %+v / %+v", ikeB, childB)
	}
}

func TestCygnetToStrongSwanCertificates(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireStrongSwan(t)
	for _, kt := range []testnet.KeyType{testnet.KeyECDSAP256, testnet.KeyRSA3072, testnet.KeyEd25519} {
		t.Run(string(kt), func(t *testing.T) {
			pki, err := testnet.GeneratePKI(kt, "a", "b")
			if err != nil {
				t.Fatal(err)
			}
			p := testnet.NewPair(t, testnet.PairOptions{})
			confA, confB := pairConfigs("pubkey")
			sw := testnet.StartStrongSwan(t, p.B, nil)
			if err := sw.InstallCerts(pki, "b"); err != nil {
				t.Fatal(err)
			}
			if err := sw.Load(confB.Swanctl()); err != nil {
				t.Fatal(err)
			}
			a := startCygnet(t, p.A, confA.Swanctl(), pki, "a")
			capture := p.Capture(p.B)
			d := a.initiate("tun", "net")
			t.Logf("cygnet -> strongSwan (%s): tunnel up in %v", kt, d)
			a.initiate("tun", "net6")
			if _, _, err := sw.WaitChildSA("net", 10*time.Second); err != nil {
				t.Fatal(err)
			}
			checkTraffic(t, p, capture)
		})
	}
}
