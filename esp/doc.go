// Package esp is the ESP packet engine (RFC 4303): it encapsulates and
// decapsulates IP packets for one Security Association, in tunnel or
// transport mode, over IPv4 or IPv6, optionally inside UDP (RFC 3948).
//
// It is pure: no I/O, no goroutines, no global state. Seal and Open work in
// place on caller buffers and do not allocate; Overhead tells the data plane
// how much head and tail room to leave around each inner packet.
//
// An SA is one direction: an outbound SA seals, an inbound SA opens. Seal
// and Open are safe for concurrent use on one SA.
package esp
