// Package ah is the AH packet engine (RFC 4302): it authenticates IP packets
// for one Security Association, in tunnel or transport mode, over IPv4 or
// IPv6, with the integrity algorithms of package transform.
//
// AH covers the IP header too, except the fields routers may change: the ICV
// is computed over the packet as the final destination will see it, with the
// mutable fields (IPv4 TOS, flags, fragment offset, TTL and checksum, mutable
// IPv4 options; IPv6 traffic class, flow label, hop limit and the data of
// options marked as changing en route) zeroed and the mutable but
// predictable ones (the destination address and the addresses of a source
// route or routing header) set to their final values (RFC 4302 section
// 3.3.3.1 and appendix A). The engine does this in place: it rewrites those
// fields in the caller's buffer, computes the ICV and puts the original
// octets back, keeping them in a small fixed scratch area, so a packet is
// never copied.
//
// It is pure: no I/O, no goroutines, no global state. Seal and Open work in
// place on caller buffers and do not allocate; Overhead tells the data plane
// how much head room to leave in front of each inner packet. The API has
// the shape of package esp so that the data plane treats both alike.
//
// An SA is one direction: an outbound SA seals, an inbound SA opens. Seal
// and Open are safe for concurrent use on one SA.
package ah
