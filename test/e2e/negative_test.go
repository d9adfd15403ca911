package e2e

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// negativeCase is a misconfiguration of the peer that makes the tunnel
// fail with a known notification.
type negativeCase struct {
	name string
	auth string // "psk" or "pubkey"
	// breakConf misconfigures the peer's connection (nil: only the
	// credentials are wrong, see untrusted).
	breakConf func(c *testnet.TunnelConfig)
	// untrusted gives the peer a certificate from another CA (it still
	// trusts cygnet's CA).
	untrusted bool
	// notify is the notification the exchange fails with.
	notify string
	// swanNotify is how strongSwan abbreviates it in message logs.
	swanNotify string
	// cygnetDetects and cygnetReceives match cygnet's log line when
	// cygnet is the side that finds the problem (and says why), or the
	// side that is told.
	cygnetDetects, cygnetReceives *regexp.Regexp
	// swanDetects matches strongSwan's reason when it is the side that
	// finds the problem (as responder, cygnet initiating).
	swanDetects *regexp.Regexp
	// childOnly: the IKE SA comes up, only the Child SA is refused.
	childOnly bool
}

var badSubnet = netip.MustParsePrefix("10.99.3.0/24")

func negativeCases() []negativeCase {
	authFailedRecv := regexp.MustCompile(`AUTHENTICATION_FAILED: peer \S+ rejected our authentication as a\.cygnet\.test`)
	return []negativeCase{
		{
			name: "wrong-psk", auth: "psk",
			breakConf: func(c *testnet.TunnelConfig) { c.PSK = "not-the-" + testnet.PSK },
			notify:    "AUTHENTICATION_FAILED", swanNotify: "AUTH_FAILED",
			cygnetDetects: regexp.MustCompile(`AUTHENTICATION_FAILED: a\.cygnet\.test: PSK of a\.cygnet\.test does not match ours`),
			// cygnet as initiator: strongSwan finds the MAC mismatch and tells us.
			cygnetReceives: authFailedRecv,
			swanDetects:    regexp.MustCompile(`tried 1 shared key for 'b\.cygnet\.test' - 'a\.cygnet\.test', but MAC mismatched`),
		},
		{
			name: "untrusted-certificate", auth: "pubkey", untrusted: true,
			notify: "AUTHENTICATION_FAILED", swanNotify: "AUTH_FAILED",
			cygnetDetects: regexp.MustCompile(`AUTHENTICATION_FAILED: .*(unknown authority|not trusted|untrusted|no trusted|chain)`),
		},
		{
			name: "identity-mismatch", auth: "psk",
			breakConf: func(c *testnet.TunnelConfig) {
				c.LocalID = "c." + testnet.CertDomain
			},
			notify: "AUTHENTICATION_FAILED", swanNotify: "AUTH_FAILED",
			cygnetDetects:  regexp.MustCompile(`AUTHENTICATION_FAILED: no connection for peer identity c\.cygnet\.test`),
			cygnetReceives: authFailedRecv,
			swanDetects:    regexp.MustCompile(`no matching peer config found`),
		},
		{
			name: "no-common-ike-proposal", auth: "psk",
			breakConf: func(c *testnet.TunnelConfig) { c.Proposals = "aes256-sha384-x25519" },
			notify:    "NO_PROPOSAL_CHOSEN", swanNotify: "NO_PROP",
			cygnetDetects:  regexp.MustCompile(`NO_PROPOSAL_CHOSEN: peer offered aes256-sha384-x25519, we accept aes128gcm16-prfsha256-x25519`),
			cygnetReceives: regexp.MustCompile(`NO_PROPOSAL_CHOSEN: peer \S+ refused IKE_SA_INIT; we offered aes128gcm16-prfsha256-x25519`),
			swanDetects:    regexp.MustCompile(`received proposals unacceptable`),
		},
		{
			name: "no-common-esp-proposal", auth: "psk", childOnly: true,
			breakConf: func(c *testnet.TunnelConfig) {
				c.Children[0].ESPProposals = "aes256-sha256"
			},
			notify: "NO_PROPOSAL_CHOSEN", swanNotify: "NO_PROP",
			cygnetDetects:  regexp.MustCompile(`NO_PROPOSAL_CHOSEN: peer offered aes256-sha256, we accept aes128gcm16`),
			cygnetReceives: regexp.MustCompile(`NO_PROPOSAL_CHOSEN: peer refused Child SA net`),
			swanDetects:    regexp.MustCompile(`no acceptable proposal found`),
		},
		{
			name: "traffic-selectors-do-not-fit", auth: "psk", childOnly: true,
			breakConf: func(c *testnet.TunnelConfig) {
				c.Children[0].RemoteTS = []netip.Prefix{badSubnet}
			},
			notify: "TS_UNACCEPTABLE", swanNotify: "TS_UNACCEPT",
			cygnetDetects:  regexp.MustCompile(`TS_UNACCEPTABLE: peer proposed TSi \S+ TSr \S+ .*no child of tun accepts them`),
			cygnetReceives: regexp.MustCompile(`TS_UNACCEPTABLE: peer refused Child SA net`),
			swanDetects:    regexp.MustCompile(`traffic selectors 10\.99\.2\.0/24 === 10\.99\.1\.0/24 unacceptable`),
		},
	}
}

// TestNegotiationFailures misconfigures the peer of a cygnet daemon in one
// way at a time, with cygnet responding and initiating, the peer being
// strongSwan or another cygnet. Each attempt must fail with the right
// notification, cygnet must log why, and after the peer's configuration is
// fixed (swanctl --load-all, or cygnet reload) the same cygnet daemon,
// never restarted, must establish a working tunnel with it.
func TestNegotiationFailures(t *testing.T) {
	testnet.RequireRoot(t)
	for _, peerImpl := range []string{implStrongSwan, implCygnet} {
		for _, nc := range negativeCases() {
			for _, cygnetRole := range []string{"responder", "initiator"} {
				t.Run(fmt.Sprintf("%s/%s/cygnet-%s", peerImpl, nc.name, cygnetRole), func(t *testing.T) {
					if peerImpl == implStrongSwan {
						testnet.RequireStrongSwan(t)
					}
					runNegative(t, nc, peerImpl, cygnetRole == "initiator")
				})
			}
		}
	}
}

func runNegative(t *testing.T, nc negativeCase, peerImpl string, cygnetInitiates bool) {
	p := testnet.NewPair(t, testnet.PairOptions{})
	confA, confB := pairConfigs(nc.auth)
	// A always initiates; cygnet under test is A or B, the peer the other.
	cygnetNS, peerNS, cygnetHost, peerHost := p.B, p.A, "b", "a"
	cygnetConf, peerConf := &confB, &confA
	if cygnetInitiates {
		cygnetNS, peerNS, cygnetHost, peerHost = p.A, p.B, "a", "b"
		cygnetConf, peerConf = &confA, &confB
	}
	goodPeer := *peerConf
	goodPeer.Children = append([]testnet.ChildConfig(nil), peerConf.Children...)
	badPeer := goodPeer
	badPeer.Children = append([]testnet.ChildConfig(nil), goodPeer.Children...)
	if nc.breakConf != nil {
		nc.breakConf(&badPeer)
	}
	var pki, peerPKI *testnet.PKI
	if nc.auth == "pubkey" {
		pki = pkiFor(t, testnet.KeyECDSAP256)
		peerPKI = pki
		if nc.untrusted {
			other, err := testnet.GeneratePKI(testnet.KeyECDSAP256, "a", "b")
			if err != nil {
				t.Fatal(err)
			}
			// The peer's own certificate comes from the other CA, but it
			// trusts ours.
			mixed := *other
			mixed.CA, mixed.CAPEM = pki.CA, pki.CAPEM
			peerPKI = &mixed
		}
	}
	var cyg *cygnet
	var peer tunnelEnd
	start := func(cygnetSide bool) {
		if cygnetSide {
			cyg = startCygnet(t, cygnetNS, cygnetConf.Swanctl(), pki, cygnetHost)
		} else {
			peer = startEnd(t, peerImpl, peerNS, badPeer.Swanctl(), peerPKI, peerHost)
		}
	}
	// the responder first
	start(!cygnetInitiates)
	start(cygnetInitiates)
	cygEnd := cygnetEnd{cyg}
	initiator := tunnelEnd(cygEnd)
	if !cygnetInitiates {
		initiator = peer
	}
	warmUnderlay(t, p, testnet.UnderlayB)

	// 1. The misconfigured attempt fails, with the notification on the wire
	// and the reason in cygnet's log.
	d, err := initiator.initiate("tun", "net")
	if err == nil {
		t.Fatalf("%s initiating against a peer with %s succeeded", initiator.impl(), nc.name)
	}
	t.Logf("misconfigured attempt failed after %v: %v", d.Round(time.Millisecond), firstLine(err.Error()))
	cygnetSaysWhy := nc.cygnetDetects
	detects := !cygnetInitiates || nc.untrusted
	if !detects {
		cygnetSaysWhy = nc.cygnetReceives
	}
	if cygnetSaysWhy == nil {
		t.Fatalf("test table: no expected cygnet log line for %s with cygnet initiating", nc.name)
	}
	if !logHas(cygEnd, cygnetSaysWhy, 3*time.Second) {
		t.Errorf("cygnet's log has no line matching %q:\n%s", cygnetSaysWhy, cyg.logText())
	} else {
		t.Logf("cygnet logged: %s", grepLine(cyg.logText(), cygnetSaysWhy))
	}
	peerNotify := regexp.MustCompile(regexp.QuoteMeta(nc.notify))
	if peerImpl == implStrongSwan {
		// charon logs the message it sent or received as N(ABBREVIATION)
		// and, when it received it, "received NOTIFY notify error".
		peerNotify = regexp.MustCompile(`N\(` + regexp.QuoteMeta(nc.swanNotify) + `\)|received ` + nc.notify)
	}
	if !logHas(peer, peerNotify, 3*time.Second) {
		t.Errorf("%s peer's log does not show %s (%q):\n%s", peerImpl, nc.notify, peerNotify, tailLines(peer.logText(), 40))
	} else {
		t.Logf("%s peer logged: %s", peerImpl, grepLine(peer.logText(), peerNotify))
	}
	if peerImpl == implStrongSwan && cygnetInitiates && nc.swanDetects != nil {
		if !logHas(peer, nc.swanDetects, 3*time.Second) {
			t.Errorf("strongSwan's log does not say why (%q):\n%s", nc.swanDetects, tailLines(peer.logText(), 40))
		} else {
			t.Logf("strongSwan says why: %s", grepLine(peer.logText(), nc.swanDetects))
		}
	}
	if nc.childOnly {
		// The IKE SA itself is fine; the initiator deletes it so the retry
		// starts from scratch under the fixed configuration.
		if err := initiator.terminate("tun"); err != nil {
			t.Logf("terminate after the refused Child SA: %v", err)
		}
	}
	// Neither side keeps anything of the failed attempt (when cygnet, as
	// initiator, refuses the responder's certificate, it must tell the
	// responder, which has already installed its side).
	waitNoIKESAs(t, cygEnd, 5*time.Second)
	waitNoIKESAs(t, peer, 5*time.Second)

	// 2. The peer is fixed without restarting anything; the same cygnet
	// daemon establishes a tunnel with it.
	if nc.untrusted {
		if err := installCreds(peer, pki, peerHost); err != nil {
			t.Fatal(err)
		}
	}
	if err := peer.load(goodPeer.Swanctl()); err != nil {
		t.Fatalf("reloading the fixed peer: %v", err)
	}
	if d, err = initiator.initiate("tun", "net"); err != nil {
		t.Fatalf("after fixing the peer, %s initiating again: %v\ncygnet's log:\n%s", initiator.impl(), err, tailLines(cyg.logText(), 20))
	}
	cyg.waitChild("net", 5*time.Second)
	if cyg.proc.Exited() {
		t.Fatal("cygnet exited")
	}
	testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 2)
	t.Logf("fixed peer: tunnel up in %v with the same cygnet daemon (pid %d)", d.Round(time.Millisecond), cyg.proc.Pid())
}

// installCreds gives an end host's certificate and key from pki, and pki's
// CA as the one it trusts; a load or reload picks them up.
func installCreds(e tunnelEnd, pki *testnet.PKI, host string) error {
	switch e := e.(type) {
	case cygnetEnd:
		return pki.WriteSwanctl(e.dir, host)
	case swanEnd:
		return e.InstallCerts(pki, host)
	}
	return fmt.Errorf("unknown end %T", e)
}

// waitNoIKESAs waits until an end lists no IKE SA.
func waitNoIKESAs(t *testing.T, e tunnelEnd, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		sas, err := e.ikeSAs()
		if err == nil && len(sas) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s still lists IKE SAs %v (%v) after the failure", e.impl(), sas, err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func grepLine(text string, re *regexp.Regexp) string {
	for _, l := range strings.Split(text, "\n") {
		if re.MatchString(l) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
