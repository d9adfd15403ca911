package netcfg

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

func TestRangePrefixes(t *testing.T) {
	cases := []struct {
		from, to string
		want     []string
	}{
		{"10.0.0.0", "10.0.0.255", []string{"10.0.0.0/24"}},
		{"10.0.0.1", "10.0.0.1", []string{"10.0.0.1/32"}},
		{"10.0.0.1", "10.0.0.6", []string{"10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"}},
		{"0.0.0.0", "255.255.255.255", []string{"0.0.0.0/0"}},
		{"192.168.1.100", "192.168.2.3", []string{"192.168.1.100/30", "192.168.1.104/29", "192.168.1.112/28", "192.168.1.128/25", "192.168.2.0/30"}},
		{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", []string{"::/0"}},
		{"fd00::1", "fd00::2", []string{"fd00::1/128", "fd00::2/128"}},
		{"fd00::", "fd00::ffff:ffff", []string{"fd00::/96"}},
	}
	for _, c := range cases {
		got, err := RangePrefixes(netip.MustParseAddr(c.from), netip.MustParseAddr(c.to))
		if err != nil {
			t.Fatalf("%s-%s: %v", c.from, c.to, err)
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if !slices.Equal(s, c.want) {
			t.Errorf("%s-%s: %v, want %v", c.from, c.to, s, c.want)
		}
	}
	if _, err := RangePrefixes(netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1")); err == nil {
		t.Error("reversed range accepted")
	}
	if _, err := RangePrefixes(netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("fd00::1")); err == nil {
		t.Error("mixed families accepted")
	}
}

// TestLeakProtection: with the TUN gone (the daemon killed), traffic for a
// protected subnet fails locally and nothing leaves in clear, although a
// default route would carry it; after Unprotect it would leak, which shows
// the capture would have seen it.
func TestLeakProtection(t *testing.T) {
	testnet.RequireRoot(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	p.Exec(p.A, "ip", "route", "add", "default", "via", testnet.UnderlayB.String())
	p.Exec(p.A, "ip", "-6", "route", "add", "default", "via", testnet.UnderlayB6.String())
	p.Exec(p.A, "ip", "tuntap", "add", "dev", "cy0", "mode", "tun")

	m, err := New(Config{Namespace: p.A})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	protected := []netip.Prefix{testnet.SubnetB, testnet.SubnetB6}
	if err := m.LinkUp("cy0"); err != nil {
		t.Fatal(err)
	}
	if err := m.AddAddress("cy0", netip.MustParsePrefix("10.99.1.254/32")); err != nil {
		t.Fatal(err)
	}
	for range 2 { // idempotent
		if err := m.AddRule(); err != nil {
			t.Fatal(err)
		}
		if err := m.Protect(protected); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.AddRoutes("cy0", protected[:1], testnet.HostA); err != nil {
		t.Fatal(err)
	}
	if err := m.AddRoutes("cy0", protected[1:], testnet.HostA6); err != nil {
		t.Fatal(err)
	}
	rules := p.Exec(p.A, "ip", "rule", "show")
	if !strings.Contains(rules, "220:\tnot from all fwmark 0xc7e7 lookup 220") {
		t.Errorf("rule missing:\n%s", rules)
	}
	routes := p.Exec(p.A, "ip", "route", "show", "table", "220")
	for _, want := range []string{"unreachable 10.99.2.0/24 proto 199 metric 4000", "10.99.2.0/24 dev cy0 proto 199 scope link src 10.99.1.1 metric 100"} {
		if !strings.Contains(routes, want) {
			t.Errorf("table 220 lacks %q:\n%s", want, routes)
		}
	}
	if got := p.Exec(p.A, "ip", "route", "get", testnet.HostB.String(), "from", testnet.HostA.String()); !strings.Contains(got, "dev cy0") {
		t.Errorf("route to HostB does not use the TUN: %s", got)
	}

	// The daemon dies: its TUN and the routes into it vanish.
	p.Exec(p.A, "ip", "link", "del", "cy0")
	capt := p.Capture(p.A)
	for _, dst := range []netip.Addr{testnet.HostB, testnet.HostB6} {
		r, _ := testnet.TryPing(p.A, netip.Addr{}, dst, 2)
		if r.Received != 0 {
			t.Errorf("ping %v answered without the TUN: %s", dst, r.Output)
		}
	}
	if out, err := p.TryExec(p.A, "ping", "-n", "-c", "1", "-W", "1", testnet.HostB.String()); err == nil || !strings.Contains(out, "No route to host") {
		t.Errorf("ping did not fail locally (EHOSTUNREACH): %v\n%s", err, out)
	}
	sum, err := capt.Summary(protected...)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Plaintext != 0 || sum.Other != 0 {
		t.Errorf("traffic left while protected: %s", sum)
	}

	// Unprotected, the same ping leaves in clear through the default route.
	if err := m.Unprotect(protected); err != nil {
		t.Fatal(err)
	}
	if err := m.Unprotect(protected); err != nil {
		t.Errorf("second Unprotect: %v", err)
	}
	capt = p.Capture(p.A)
	_, _ = testnet.TryPing(p.A, netip.Addr{}, testnet.HostB, 1)
	sum, err = capt.Summary(protected...)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Plaintext == 0 && sum.Other == 0 {
		t.Errorf("the unprotected ping was not seen, so the capture proves nothing: %s", sum)
	}
	if err := m.RemoveRule(); err != nil {
		t.Fatal(err)
	}
	if rules := p.Exec(p.A, "ip", "rule", "show"); strings.Contains(rules, "lookup 220") {
		t.Errorf("rule left behind:\n%s", rules)
	}
}
