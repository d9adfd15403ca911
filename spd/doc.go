// Package spd implements the Security Policy Database of RFC 4301 section 4.4.1.
//
// A [Policy] says what to do with traffic whose addresses, protocol and ports fall within
// one of its [TrafficSelector]s: protect it with IPsec, let it bypass IPsec, or discard it.
// Policies are ordered by an explicit priority (lower is preferred), ties broken by
// insertion order; traffic no policy matches is discarded.
//
// A [DB] holds an immutable, compiled [Table] behind an atomic pointer. Writers build a
// whole new table and swap it in, so a lookup sees either the old policy set or the new
// one, never a mix, and readers take no lock. Lookups do not allocate and do not scan
// every policy: each (direction, address family) pair has an index of elementary
// intervals over the remote address, a second one over the local address for selectors
// too wide to list on the first, and a short priority-ordered list for the rest. See
// [Table] for the cost and memory bounds. [ExtractFlow] reads the lookup key from a
// raw IPv4 or IPv6 packet.
//
// The package is pure: no I/O, no goroutines, no global state.
package spd
