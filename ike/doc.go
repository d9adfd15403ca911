// Package ike is the IKEv2 state machine (RFC 7296): the IKE SAs, their
// exchanges and the Child SAs they negotiate.
//
// It does no I/O of its own. A Manager owns the IKE SAs; the daemon feeds it
// datagrams, timer ticks and operator commands from one goroutine, and it
// answers through injected interfaces: Transport sends datagrams, Installer
// puts negotiated Child SAs into the SAD and SPD, Clock and a random source
// make every run reproducible. Two Managers wired together in one process are
// a complete test bed for every exchange and failure path.
//
// Each exchange lives in its own file: init.go (IKE_SA_INIT), auth.go
// (IKE_AUTH), create_child.go (CREATE_CHILD_SA for new Child SAs), rekey.go
// and rekey_ike.go (rekeying), delete.go and dpd.go (INFORMATIONAL),
// natd.go (NAT detection), fragment.go (RFC 7383), cookie.go (RFC 7296 2.6);
// docs/IKE.md has the full map.
package ike
