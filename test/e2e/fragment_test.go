package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// chainPKI is a three-level RSA-4096 PKI: a root CA, an intermediate CA it
// signed, and end-entity certificates for "a" and "b" the intermediate
// signed. With 4096-bit keys an IKE_AUTH carrying the end-entity and the
// intermediate certificate, a 512-octet signature and a CERTREQ is some
// 3.5 KB: three to four IKE fragments at 1280 octets.
type chainPKI struct {
	rootPEM, interPEM []byte
	hosts             map[string]struct{ certPEM, keyPEM []byte }
	took              time.Duration
}

var rsaChain struct {
	sync.Mutex
	p *chainPKI
}

func rsa4096Chain(t *testing.T) *chainPKI {
	t.Helper()
	rsaChain.Lock()
	defer rsaChain.Unlock()
	if rsaChain.p != nil {
		return rsaChain.p
	}
	start := time.Now()
	now := time.Now()
	key := func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 4096)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	serial := int64(1)
	issue := func(tmpl, parent *x509.Certificate, pub *rsa.PublicKey, signer *rsa.PrivateKey) (*x509.Certificate, []byte) {
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(24*time.Hour)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	ca := func(cn string) *x509.Certificate {
		return &x509.Certificate{
			Subject: pkix.Name{Country: []string{"XX"}, Organization: []string{"cygnet test"}, CommonName: cn},
			IsCA:    true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		}
	}
	rootKey, interKey := key(), key()
	rootTmpl := ca("cygnet test RSA-4096 root CA")
	root, rootPEM := issue(rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	inter, interPEM := issue(ca("cygnet test RSA-4096 intermediate CA"), root, &interKey.PublicKey, rootKey)
	p := &chainPKI{rootPEM: rootPEM, interPEM: interPEM, hosts: map[string]struct{ certPEM, keyPEM []byte }{}}
	for _, n := range []string{"a", "b"} {
		k := key()
		id := n + "." + testnet.CertDomain
		_, certPEM := issue(&x509.Certificate{
			Subject:     pkix.Name{Country: []string{"XX"}, Organization: []string{"cygnet test"}, CommonName: id},
			DNSNames:    []string{id},
			KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		}, inter, &k.PublicKey, interKey)
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		p.hosts[n] = struct{ certPEM, keyPEM []byte }{certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})}
	}
	p.took = time.Since(start)
	rsaChain.p = p
	return p
}

// files are host's credentials in the swanctl layout: the root and the
// intermediate as CAs, the end-entity certificate and its key.
func (p *chainPKI) files(host string) map[string][]byte {
	return map[string][]byte{
		"x509ca/ca.crt":            p.rootPEM,
		"x509ca/intermediate.crt":  p.interPEM,
		"x509/" + host + ".crt":    p.hosts[host].certPEM,
		"private/" + host + ".key": p.hosts[host].keyPEM,
	}
}

// startCygnetWithFiles is startCygnet with extra credential files written
// below the configuration folder before the daemon starts.
func startCygnetWithFiles(t *testing.T, ns, conf string, files map[string][]byte) *cygnet {
	t.Helper()
	dir, err := os.MkdirTemp("", "cyg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	files["swanctl.conf"] = []byte(conf)
	for rel, data := range files {
		path := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := &cygnet{t: t, ns: ns, dir: dir, socket: filepath.Join(dir, "cygnet.sock")}
	c.proc = testnet.StartProcess(t, ns, cygnetBin, "--socket", c.socket, "daemon", "--debug", "--config", filepath.Join(dir, "swanctl.conf"))
	if err := pollFor(10*time.Second, func() bool {
		_, err := control.Call(c.socket, control.Request{Command: control.CmdListConns}, time.Second)
		return err == nil || c.proc.Exited()
	}); err != nil || c.proc.Exited() {
		t.Fatalf("cygnet in %s did not start:\n%s", ns, c.proc.Output())
	}
	return c
}

// startChainEnd starts impl in ns with the chain's credentials for host.
func startChainEnd(t *testing.T, impl, ns, conf string, pki *chainPKI, host string) (tunnelEnd, *cygnet) {
	t.Helper()
	if impl == implCygnet {
		c := startCygnetWithFiles(t, ns, conf, pki.files(host))
		return cygnetEnd{c}, c
	}
	sw := testnet.StartStrongSwan(t, ns, nil)
	for rel, data := range pki.files(host) {
		if err := sw.WriteFile(rel, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Load(conf); err != nil {
		t.Fatal(err)
	}
	return swanEnd{sw}, nil
}

// ikeWire is what a capture shows of IKE on the wire.
type ikeWire struct {
	skf       map[netip.Addr]int // IKE datagrams carrying an SKF payload, by source
	datagrams int
	ipFrags   int // IPv4 fragments of UDP (first and later ones)
	biggest   int // largest IP packet
}

func readIKEWire(t *testing.T, path string) ikeWire {
	t.Helper()
	pc, err := testnet.ReadPcapFile(path)
	if err != nil {
		t.Fatal(err)
	}
	w := ikeWire{skf: map[netip.Addr]int{}}
	for _, pkt := range pc.Packets {
		if pc.LinkType != testnet.LinkTypeEthernet || len(pkt.Data) < 14+20 || binary.BigEndian.Uint16(pkt.Data[12:]) != 0x0800 {
			continue
		}
		ip := pkt.Data[14:]
		if ip[9] == 17 && binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			w.ipFrags++
		}
		w.biggest = max(w.biggest, int(binary.BigEndian.Uint16(ip[2:])))
		d := testnet.ClassifyPacket(pc.LinkType, pkt.Data, nil)
		if d.Class != testnet.ClassIKE {
			continue
		}
		w.datagrams++
		ike := d.Payload
		if d.SrcPort == 4500 || d.DstPort == 4500 {
			ike = ike[min(4, len(ike)):] // non-ESP marker
		}
		if len(ike) > 16 && ike[16] == 53 { // next payload SKF (RFC 7383)
			w.skf[d.Src]++
		}
	}
	return w
}

// TestIKEFragmentsRSA4096Chain runs IKE_AUTH with an RSA-4096 chain (root
// -> intermediate -> end entity, the intermediate sent along) over veths
// with a 1280-octet MTU, cygnet against strongSwan both ways and against
// itself: both ends must send their IKE_AUTH as RFC 7383 fragments that
// fit the MTU, and no IKE message may leave as IP fragments.
func TestIKEFragmentsRSA4096Chain(t *testing.T) {
	testnet.RequireRoot(t)
	pki := rsa4096Chain(t)
	t.Logf("RSA-4096 root, intermediate and two end-entity keys made in %v", pki.took.Round(time.Millisecond))
	for _, c := range []struct{ name, a, b string }{
		{"cygnet-initiates-to-strongswan", implCygnet, implStrongSwan},
		{"strongswan-initiates-to-cygnet", implStrongSwan, implCygnet},
		{"cygnet-to-cygnet", implCygnet, implCygnet},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.a == implStrongSwan || c.b == implStrongSwan {
				testnet.RequireStrongSwan(t)
			}
			p := testnet.NewPair(t, testnet.PairOptions{})
			p.Exec(p.A, "ip", "link", "set", p.IfA, "mtu", "1280")
			p.Exec(p.B, "ip", "link", "set", p.IfB, "mtu", "1280")
			confA, confB := pairConfigs("pubkey")
			b, cb := startChainEnd(t, c.b, p.B, confB.Swanctl(), pki, "b")
			a, ca := startChainEnd(t, c.a, p.A, confA.Swanctl(), pki, "a")
			warmUnderlay(t, p, testnet.UnderlayB)
			capture := p.Capture(p.B)
			up, err := a.initiate("tun", "net")
			if err != nil {
				t.Fatalf("%s initiating: %v", c.a, err)
			}
			if _, err := b.view("net", 5*time.Second); err != nil {
				t.Fatal(err)
			}
			ping := testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 2)
			path, err := capture.Stop()
			if err != nil {
				t.Fatal(err)
			}
			w := readIKEWire(t, path)
			t.Logf("%s -> %s: tunnel up in %v over a 1280-octet MTU; ping %d/%d", c.a, c.b, up.Round(time.Millisecond), ping.Received, ping.Transmitted)
			t.Logf("capture on %s: %d IKE datagrams, SKF from A %d, from B %d; %d IP fragments of UDP; largest IP packet %d octets",
				p.IfB, w.datagrams, w.skf[testnet.UnderlayA], w.skf[testnet.UnderlayB], w.ipFrags, w.biggest)
			for _, cy := range []*cygnet{ca, cb} {
				if cy != nil {
					s := daemonStats(t, cy)
					t.Logf("cygnet in %s: fragments sent %d, received %d, reassembled %d, dropped %d",
						cy.ns, s["fragments_sent"], s["fragments_received"], s["fragments_reassembled"], s["fragments_dropped"])
					if s["fragments_sent"] == 0 || s["fragments_reassembled"] == 0 {
						t.Errorf("cygnet in %s did not both send and reassemble fragments", cy.ns)
					}
				}
			}
			// strongSwan names the certificates it received: cygnet's chain
			// must arrive whole, intermediate included.
			for _, e := range []tunnelEnd{a, b} {
				if e.impl() == implStrongSwan && !strings.Contains(e.logText(), "received issuer cert") {
					t.Errorf("strongSwan did not receive cygnet's intermediate certificate")
				}
			}
			if w.skf[testnet.UnderlayA] < 2 || w.skf[testnet.UnderlayB] < 2 {
				t.Errorf("want IKE_AUTH in SKF fragments both ways, got %d from A and %d from B", w.skf[testnet.UnderlayA], w.skf[testnet.UnderlayB])
			}
			if w.ipFrags != 0 {
				t.Errorf("%d IP fragments of UDP on the wire: IKE was not fragmented by IKE", w.ipFrags)
			}
			if w.biggest > 1280 {
				t.Errorf("a %d-octet packet on a 1280-octet link", w.biggest)
			}
		})
	}
}
