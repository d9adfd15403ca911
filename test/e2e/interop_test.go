package e2e

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// Implementations an end of a tunnel can run.
const (
	implCygnet     = "cygnet"
	implStrongSwan = "strongswan"
)

// tunnelEnd is one end of a tunnel under test, a cygnet daemon or a
// strongSwan charon, seen through its own control interface.
type tunnelEnd interface {
	impl() string
	// initiate brings up child of connection ike (and the IKE SA first if
	// needed) and returns how long the command took.
	initiate(ike, child string) (time.Duration, error)
	// view returns the INSTALLED Child SA named child with its IKE SA,
	// polling up to timeout.
	view(child string, timeout time.Duration) (saView, error)
	// ikeSAs returns the states of all IKE SAs.
	ikeSAs() ([]string, error)
	// terminate deletes the IKE SA of connection ike.
	terminate(ike string) error
	// load replaces the configuration without restarting: swanctl
	// --load-all for strongSwan, `cygnet reload` for cygnet.
	load(conf string) error
	// logText is the daemon's log so far.
	logText() string
}

// saView is one Child SA and its IKE SA as either implementation lists
// them, in common terms.
type saView struct {
	IKEState              string
	Initiator             bool
	LocalHost, RemoteHost netip.Addr
	LocalPort, RemotePort uint16
	LocalID, RemoteID     string
	SPIi, SPIr            string
	IKEEncr               string
	IKEKeySize            int
	PRF, DH               string

	Child                                    string
	ChildState, Mode, Protocol               string
	Encap                                    bool
	SPIIn, SPIOut                            uint32
	Encr                                     string
	KeySize                                  int
	LocalTS, RemoteTS                        []string
	BytesIn, PacketsIn, BytesOut, PacketsOut uint64
}

// cygnetEnd is a cygnet daemon as a tunnelEnd.
type cygnetEnd struct{ *cygnet }

func (c cygnetEnd) impl() string { return implCygnet }

func (c cygnetEnd) initiate(ike, child string) (time.Duration, error) {
	return c.tryInitiate(ike, child)
}

func (c cygnetEnd) load(conf string) error { return c.reload(conf) }

func (c cygnetEnd) ikeSAs() ([]string, error) {
	var out []string
	for _, sa := range c.listSAs() {
		out = append(out, sa.State)
	}
	return out, nil
}

func (c cygnetEnd) view(child string, timeout time.Duration) (saView, error) {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := control.Call(c.socket, control.Request{Command: control.CmdListSAs}, 5*time.Second)
		if err != nil {
			return saView{}, err
		}
		for _, sa := range resp.IKESAs {
			for _, ch := range sa.ChildSAs {
				if ch.Name == child && ch.State == "INSTALLED" {
					return cygnetView(sa, ch)
				}
			}
		}
		if time.Now().After(deadline) {
			return saView{}, fmt.Errorf("cygnet in %s: no INSTALLED Child SA %s after %v", c.ns, child, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func cygnetView(sa control.IKESA, ch control.ChildSA) (saView, error) {
	var errs []error
	addr := func(s string) netip.Addr {
		a, err := netip.ParseAddr(s)
		errs = append(errs, err)
		return a
	}
	spi := func(s string) uint32 {
		v, err := strconv.ParseUint(s, 16, 32)
		errs = append(errs, err)
		return uint32(v)
	}
	v := saView{
		IKEState: sa.State, Initiator: sa.Initiator,
		LocalHost: addr(sa.LocalHost), RemoteHost: addr(sa.RemoteHost), LocalPort: sa.LocalPort, RemotePort: sa.RemotePort,
		LocalID: sa.LocalID, RemoteID: sa.RemoteID, SPIi: sa.InitiatorSPI, SPIr: sa.ResponderSPI,
		IKEEncr: sa.EncrAlg, IKEKeySize: sa.EncrKeysize, PRF: sa.PRFAlg, DH: sa.DHGroup,
		Child: ch.Name, ChildState: ch.State, Mode: ch.Mode, Protocol: ch.Protocol, Encap: ch.Encap,
		SPIIn: spi(ch.SPIIn), SPIOut: spi(ch.SPIOut), Encr: ch.EncrAlg, KeySize: ch.EncrKeysize,
		LocalTS: ch.LocalTS, RemoteTS: ch.RemoteTS,
		BytesIn: ch.BytesIn, PacketsIn: ch.PacketsIn, BytesOut: ch.BytesOut, PacketsOut: ch.PacketsOut,
	}
	if err := errors.Join(errs...); err != nil {
		return saView{}, fmt.Errorf("cygnet list-sas: %w", err)
	}
	return v, nil
}

// startEnd starts impl in namespace ns with the connection conf, and the
// credentials of host from pki when it is not nil.
func startEnd(t *testing.T, impl, ns string, conf string, pki *testnet.PKI, host string) tunnelEnd {
	t.Helper()
	switch impl {
	case implCygnet:
		return cygnetEnd{startCygnet(t, ns, conf, pki, host)}
	case implStrongSwan:
		sw := testnet.StartStrongSwan(t, ns, nil)
		if pki != nil {
			if err := sw.InstallCerts(pki, host); err != nil {
				t.Fatal(err)
			}
		}
		if err := sw.Load(conf); err != nil {
			t.Fatal(err)
		}
		return swanEnd{sw}
	}
	t.Fatalf("unknown implementation %q", impl)
	return nil
}

// wantSA is what checkSAs expects of both ends' views of one Child SA.
type wantSA struct {
	hostA, hostB netip.Addr // underlay addresses
	mode         string     // TUNNEL or TRANSPORT
	encap        bool
	tsA, tsB     []string // A's and B's local traffic selectors
	bytesAToB    int64    // at least this much went from A to B
	implA, implB string   // implementations of A and B
}

// checkSAs compares A's (the initiator's) and B's views of one Child SA
// with each other and with want: states, roles, identities, addresses, IKE
// and ESP SPIs, algorithms, mode, encapsulation, traffic selectors and
// counters.
func checkSAs(t *testing.T, a, b saView, want wantSA) {
	t.Helper()
	bad := func(format string, args ...any) {
		t.Helper()
		t.Errorf("Child SA %s: "+format, append([]any{a.Child}, args...)...)
	}
	for _, v := range []saView{a, b} {
		if v.IKEState != "ESTABLISHED" || v.ChildState != "INSTALLED" {
			bad("states %s/%s", v.IKEState, v.ChildState)
		}
		if v.IKEEncr != "AES_GCM_16" || v.IKEKeySize != 128 || v.PRF != "PRF_HMAC_SHA2_256" || v.DH != "CURVE_25519" {
			bad("IKE algorithms %s-%d %s %s, want AES_GCM_16-128 PRF_HMAC_SHA2_256 CURVE_25519", v.IKEEncr, v.IKEKeySize, v.PRF, v.DH)
		}
		if v.Encr != "AES_GCM_16" || v.KeySize != 128 || v.Protocol != "ESP" {
			bad("ESP algorithm %s %s-%d, want ESP AES_GCM_16-128", v.Protocol, v.Encr, v.KeySize)
		}
		if v.Mode != want.mode || v.Encap != want.encap {
			bad("mode %s encap %v, want %s encap %v", v.Mode, v.Encap, want.mode, want.encap)
		}
	}
	if !a.Initiator || b.Initiator {
		bad("initiator flags: A %v, B %v", a.Initiator, b.Initiator)
	}
	if a.SPIi != b.SPIi || a.SPIr != b.SPIr {
		bad("IKE SPIs: A %s_i %s_r, B %s_i %s_r", a.SPIi, a.SPIr, b.SPIi, b.SPIr)
	}
	idA, idB := "a."+testnet.CertDomain, "b."+testnet.CertDomain
	if a.LocalID != idA || a.RemoteID != idB || b.LocalID != idB || b.RemoteID != idA {
		bad("identities: A %s -> %s, B %s -> %s", a.LocalID, a.RemoteID, b.LocalID, b.RemoteID)
	}
	if a.LocalHost != want.hostA || a.RemoteHost != want.hostB || b.LocalHost != want.hostB || b.RemoteHost != want.hostA {
		bad("hosts: A %s -> %s, B %s -> %s", a.LocalHost, a.RemoteHost, b.LocalHost, b.RemoteHost)
	}
	if a.LocalPort != b.RemotePort || a.RemotePort != b.LocalPort || want.encap && (a.LocalPort != 4500 || a.RemotePort != 4500) {
		bad("IKE ports: A %d -> %d, B %d -> %d", a.LocalPort, a.RemotePort, b.LocalPort, b.RemotePort)
	}
	if a.SPIIn != b.SPIOut || a.SPIOut != b.SPIIn || a.SPIIn == 0 || a.SPIOut == 0 {
		bad("ESP SPIs do not pair up: A in %08x out %08x, B in %08x out %08x", a.SPIIn, a.SPIOut, b.SPIIn, b.SPIOut)
	}
	if !slices.Equal(a.LocalTS, want.tsA) || !slices.Equal(b.RemoteTS, want.tsA) ||
		!slices.Equal(a.RemoteTS, want.tsB) || !slices.Equal(b.LocalTS, want.tsB) {
		bad("traffic selectors: A %v === %v, B %v === %v; want %v === %v", a.LocalTS, a.RemoteTS, b.LocalTS, b.RemoteTS, want.tsA, want.tsB)
	}
	if a.BytesOut < uint64(want.bytesAToB) || b.BytesIn < uint64(want.bytesAToB) || a.PacketsIn == 0 || b.PacketsOut == 0 {
		bad("counters: A out %d bytes, B in %d bytes (sent %d), A in %d packets, B out %d packets",
			a.BytesOut, b.BytesIn, want.bytesAToB, a.PacketsIn, b.PacketsOut)
	}
	// A veth loses nothing, so a receiver counts every packet its peer
	// sealed, unless its own receive path drops some: cygnet must not,
	// strongSwan's kernel-libipsec does under load (its counters count
	// only what it accepted).
	for _, d := range []struct {
		from, to   saView
		sent, rcvd uint64
		receiver   string
	}{{a, b, a.PacketsOut, b.PacketsIn, want.implB}, {b, a, b.PacketsOut, a.PacketsIn, want.implA}} {
		if d.rcvd > d.sent || d.receiver == implCygnet && d.rcvd != d.sent {
			bad("packet counters disagree: %d sealed, %d opened by %s", d.sent, d.rcvd, d.receiver)
		} else if d.rcvd < d.sent {
			t.Logf("Child SA %s: %s accepted %d of the %d packets sealed for it (%.1f%% lost in its receive path)",
				a.Child, d.receiver, d.rcvd, d.sent, 100*float64(d.sent-d.rcvd)/float64(d.sent))
		}
	}
}

// pkis caches one throwaway PKI per key type for the whole run: RSA-3072
// keys are slow to make on a small machine.
var pkis = struct {
	sync.Mutex
	m map[testnet.KeyType]*testnet.PKI
}{m: map[testnet.KeyType]*testnet.PKI{}}

func pkiFor(t *testing.T, kt testnet.KeyType) *testnet.PKI {
	t.Helper()
	pkis.Lock()
	defer pkis.Unlock()
	if p := pkis.m[kt]; p != nil {
		return p
	}
	p, err := testnet.GeneratePKI(kt, "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	pkis.m[kt] = p
	return p
}

// interopCase is one tunnel of the matrix: A initiates to B.
type interopCase struct {
	a, b string // implementations
	auth string // "psk" or a testnet.KeyType
	six  bool   // IKE and ESP over the IPv6 underlay
}

func (c interopCase) name() string {
	under := "ipv4"
	if c.six {
		under = "ipv6"
	}
	return fmt.Sprintf("%s-%s/%s/%s", c.a, c.b, c.auth, under)
}

func interopCases() []interopCase {
	var cases []interopCase
	auths := []string{"psk", string(testnet.KeyECDSAP256), string(testnet.KeyRSA3072), string(testnet.KeyEd25519)}
	for _, ends := range [][2]string{{implCygnet, implCygnet}, {implCygnet, implStrongSwan}, {implStrongSwan, implCygnet}} {
		for _, auth := range auths {
			cases = append(cases, interopCase{a: ends[0], b: ends[1], auth: auth})
		}
	}
	for _, auth := range auths {
		cases = append(cases, interopCase{a: implCygnet, b: implCygnet, auth: auth, six: true})
	}
	return append(cases,
		interopCase{a: implCygnet, b: implStrongSwan, auth: "psk", six: true},
		interopCase{a: implStrongSwan, b: implCygnet, auth: string(testnet.KeyECDSAP256), six: true},
	)
}

// figures are the timings one scenario saw, for the summary table.
type figures struct {
	name                string
	up, up6             time.Duration // initiate to usable Child SA, first and second
	mbps4, mbps6        float64
	espPackets, ikePkts int
}

// TestInterop is the matrix of tunnels between cygnet and cygnet or
// strongSwan, cygnet initiating and responding, with PSK and ECDSA P-256,
// RSA-3072 and Ed25519 certificates under a test CA, IKE over the IPv4 and
// the IPv6 underlay, each tunnel carrying an IPv4 and an IPv6 subnet.
func TestInterop(t *testing.T) {
	testnet.RequireRoot(t)
	var table []figures
	for _, c := range interopCases() {
		t.Run(c.name(), func(t *testing.T) {
			if c.a == implStrongSwan || c.b == implStrongSwan {
				testnet.RequireStrongSwan(t)
			}
			f := runInterop(t, c)
			f.name = c.name()
			table = append(table, f)
		})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-40s %10s %10s %10s %10s %6s %5s\n", "scenario", "up", "up (2nd)", "IPv4 Mb/s", "IPv6 Mb/s", "ESP", "IKE")
	for _, f := range table {
		fmt.Fprintf(&b, "%-40s %10v %10v %10.0f %10.0f %6d %5d\n", f.name, f.up.Round(10*time.Microsecond), f.up6.Round(10*time.Microsecond), f.mbps4, f.mbps6, f.espPackets, f.ikePkts)
	}
	t.Logf("interop figures (up: initiate command to INSTALLED Child SA on the initiator):\n%s", b.String())
}

func runInterop(t *testing.T, c interopCase) figures {
	p := testnet.NewPair(t, testnet.PairOptions{})
	auth, kt := c.auth, testnet.KeyType("")
	var pki *testnet.PKI
	if auth != "psk" {
		kt, auth = testnet.KeyType(c.auth), "pubkey"
		pki = pkiFor(t, kt)
	}
	confA, confB := pairConfigsOn(auth, c.six)
	b := startEnd(t, c.b, p.B, confB.Swanctl(), pki, "b")
	a := startEnd(t, c.a, p.A, confA.Swanctl(), pki, "a")
	hostA, hostB := testnet.UnderlayA, testnet.UnderlayB
	if c.six {
		hostA, hostB = testnet.UnderlayA6, testnet.UnderlayB6
	}
	warmUnderlay(t, p, hostB)
	capture := p.Capture(p.B)

	var f figures
	var err error
	if f.up, err = a.initiate("tun", "net"); err != nil {
		t.Fatalf("%s initiating: %v", c.a, err)
	}
	if f.up6, err = a.initiate("tun", "net6"); err != nil {
		t.Fatalf("%s initiating the second Child SA: %v", c.a, err)
	}
	t.Logf("%s -> %s: initiate to usable tunnel %v (IKE_SA_INIT + IKE_AUTH), second Child SA %v (CREATE_CHILD_SA)", c.a, c.b, f.up, f.up6)
	for _, e := range []tunnelEnd{a, b} {
		if _, err := e.view("net6", 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// strongSwan's kernel-libipsec asks for UDP encapsulation; cygnet
	// alone sends raw ESP unless told otherwise.
	encap := c.a == implStrongSwan || c.b == implStrongSwan
	res := checkTraffic(t, p, capture, tunnelTraffic(encap))
	f.mbps4, f.mbps6 = res.xfer4.Mbps(), res.xfer6.Mbps()
	f.espPackets, f.ikePkts = res.capture.Encrypted(), res.capture.IKE500+res.capture.IKE4500

	for _, ch := range []struct {
		name     string
		tsA, tsB netip.Prefix
		bytes    int64
	}{
		{"net", testnet.SubnetA, testnet.SubnetB, res.xfer4.Bytes},
		{"net6", testnet.SubnetA6, testnet.SubnetB6, res.xfer6.Bytes},
	} {
		va, err := a.view(ch.name, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		vb, err := b.view(ch.name, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		checkSAs(t, va, vb, wantSA{hostA: hostA, hostB: hostB, mode: "TUNNEL", encap: encap,
			tsA: []string{ch.tsA.String()}, tsB: []string{ch.tsB.String()}, bytesAToB: ch.bytes, implA: c.a, implB: c.b})
		t.Logf("%s: A %s in %08x out %08x, %d/%d packets in/out, %d bytes out; B %s %d bytes in",
			ch.name, c.a, va.SPIIn, va.SPIOut, va.PacketsIn, va.PacketsOut, va.BytesOut, c.b, vb.BytesIn)
	}
	return f
}

// logHas reports whether a daemon's log has a line matching re, polling up
// to timeout (logs are written asynchronously).
func logHas(e tunnelEnd, re *regexp.Regexp, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if re.MatchString(e.logText()) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// warmUnderlay pings B's underlay address from A once, so that neighbour
// discovery is done before a timing starts: on a fresh veth the first IPv6
// neighbour solicitation goes unanswered and the kernel retries after a
// second, which would otherwise be measured as IKE setup time.
func warmUnderlay(t *testing.T, p *testnet.Pair, hostB netip.Addr) {
	t.Helper()
	if r, err := testnet.TryPing(p.A, netip.Addr{}, hostB, 1); err != nil || r.Received != 1 {
		t.Logf("warming up the underlay: ping %s: %v %+v", hostB, err, r)
	}
}
