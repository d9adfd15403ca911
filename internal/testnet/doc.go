// Package testnet is cygnet's harness for tests that need real networking:
// throwaway network namespaces joined by veth (optionally through a NAT
// router), a private strongSwan peer (charon with kernel-libipsec) inside a
// namespace, a private FreeRADIUS server (freeradius.go), tcpdump captures with a small pcap reader that tells ESP, IKE and
// plaintext apart, ping and TCP transfer checks, and a throwaway X.509 PKI.
//
// Everything it creates lives inside namespaces it made itself and is removed
// by t.Cleanup, including processes left running in them. Tests that use it
// call RequireRoot or RequireStrongSwan first, so they skip cleanly on a
// machine without root, /dev/net/tun or the tools; set CYGNET_REQUIRE_NETNS=1
// to turn those skips into failures (CI).
//
// Fixed addressing, identical in every pair (namespaces keep pairs apart):
//
//	A underlay 10.99.0.1/24 fd00:99::1/64  <-veth->  B underlay 10.99.0.2/24 fd00:99::2/64
//	NAT:  A 10.99.10.2 -> R (masquerade) 10.99.0.1 -> B 10.99.0.2
//	A protects 10.99.1.0/24, fd00:99:1::/64 (hosts 10.99.1.1, fd00:99:1::1 on lo)
//	B protects 10.99.2.0/24, fd00:99:2::/64 (hosts 10.99.2.1, fd00:99:2::1 on lo)
//
// test/netns.sh and test/strongswan-peer.sh build the same setup from a shell.
package testnet

import "net/netip"

// Underlay and protected addresses of every Pair.
var (
	// UnderlayA is A's underlay address as B sees it (the NAT router's
	// outside address in a NAT pair, A's own address otherwise).
	UnderlayA = netip.MustParseAddr("10.99.0.1")
	// UnderlayB is B's underlay address.
	UnderlayB = netip.MustParseAddr("10.99.0.2")
	// UnderlayA6 is A's IPv6 underlay address in a plain pair.
	UnderlayA6 = netip.MustParseAddr("fd00:99::1")
	// UnderlayB6 is B's IPv6 underlay address.
	UnderlayB6 = netip.MustParseAddr("fd00:99::2")
	// NATInsideA is A's own underlay address behind the NAT router.
	NATInsideA = netip.MustParseAddr("10.99.10.2")
	// NATInsideA6 is A's own IPv6 underlay address behind the NAT router.
	NATInsideA6 = netip.MustParseAddr("fd00:99:10::2")
	// NATRouterInside is the router's address on A's side (A's gateway).
	NATRouterInside = netip.MustParseAddr("10.99.10.1")

	// SubnetA is the IPv4 subnet A protects.
	SubnetA = netip.MustParsePrefix("10.99.1.0/24")
	// SubnetB is the IPv4 subnet B protects.
	SubnetB = netip.MustParsePrefix("10.99.2.0/24")
	// SubnetA6 is the IPv6 subnet A protects.
	SubnetA6 = netip.MustParsePrefix("fd00:99:1::/64")
	// SubnetB6 is the IPv6 subnet B protects.
	SubnetB6 = netip.MustParsePrefix("fd00:99:2::/64")
	// HostA is A's host inside SubnetA (on A's lo).
	HostA = netip.MustParseAddr("10.99.1.1")
	// HostB is B's host inside SubnetB (on B's lo).
	HostB = netip.MustParseAddr("10.99.2.1")
	// HostA6 is A's host inside SubnetA6.
	HostA6 = netip.MustParseAddr("fd00:99:1::1")
	// HostB6 is B's host inside SubnetB6.
	HostB6 = netip.MustParseAddr("fd00:99:2::1")
)

// ProtectedSubnets returns the four protected subnets, the usual argument of
// AssertOnlyEncrypted.
func ProtectedSubnets() []netip.Prefix {
	return []netip.Prefix{SubnetA, SubnetB, SubnetA6, SubnetB6}
}
