// Package dataplane is cygnet's packet path and its I/O edges: a TUN device
// on the protected side, and on the network side UDP 500 and 4500 for IKE
// and ESP-in-UDP (RFC 3948) plus raw IP protocol 50 and 51 sockets for ESP
// and AH without encapsulation, over IPv4 and IPv6.
//
// Outbound, one goroutine reads a batch from the TUN, looks every packet up
// in the SPD (Out; once per run of one flow), and for protect policies seals
// it in place with the outbound SA of the policy's [Route] (the policy's
// Handle), then sends the batch with one sendmmsg per socket. Sealing is
// three stages: sequence numbers are reserved in the batch's order (one
// atomic operation per run of one SA), the packets are sealed on a crew of
// GOMAXPROCS-1 helper goroutines and the owner together (fork-join, the
// next packet taken by an atomic index), and the datagrams are queued in the
// batch's order. On the NAT-T socket, runs of equal-size datagrams to one
// peer (the ESP packets of one TSO burst) leave as one UDP_SEGMENT send
// (UDP GSO), which the kernel may refuse (EIO, EINVAL): GSO is then off for
// that socket and the datagrams go one by one. Discard and bypass verdicts are
// counted and dropped (the TUN only sees traffic routed into it). A packet
// larger than the SA can carry in one underlay packet gets ICMP
// "fragmentation needed" / ICMPv6 "packet too big" written back into the
// TUN (DF or IPv6), or is fragmented before encryption (IPv4 without DF).
//
// Inbound, one goroutine per socket reads a batch with recvmmsg (and drains
// what else has arrived with a second, non-blocking one), finds the SA by
// SPI among those given to [DataPlane.AddSA], opens it in place (rebuilding
// the outer header in the buffer's head room when the socket stripped it
// and the engine needs it), checks the inner packet against the SPD (In: it
// must match a protect policy whose Handle is the SA's Route) and writes
// the batch to the TUN with one call. Opening is split like sealing: the
// ICV checks and decryption (esp.SA.Verify, which reads the replay window
// but does not move it) run on the crew, then the window takes each
// sequence number (esp.SA.Finish) in arrival order, so it only moves for
// authentic packets, in order, whatever its size. The NAT-T sockets ask for
// UDP GRO: a datagram the kernel coalesced from one flow is split by its
// segment size, every segment after the first copied into a buffer of its
// own (the TUN's write coalescing grows a packet over what follows it). IKE messages go to
// Config.IKE, with the non-ESP marker stripped on port 4500;
// NAT-keepalives are counted and ignored. [DataPlane] implements the IKE
// transport (SendIKE, Source).
//
// IKE and ESP also travel over TCP (RFC 9329, tcp.go): a listener on the
// TCP port, and connections this host opens to the gateways
// [DataPlane.SetTCPGateways] names. A connection's frames are read in
// batches of what has arrived and its ESP packets opened as above; sealed
// packets for a peer reached over TCP are framed and written on its
// connection, one write per batch.
//
// Buffers are allocated once per worker ([HeadRoom] + packet + [TailRoom]);
// the per-packet path does not allocate. Every dropped packet is counted by
// reason in [Stats]; every SA counts its bytes and packets.
//
// The TUN device uses the kernel's offloads when it offers them (wireguard's
// tun package negotiates IFF_VNET_HDR with TSO and USO): one read can carry
// a whole TCP segment burst, split into MTU-sized packets, and writes are
// coalesced (GRO), which is why inbound buffers are 64 KiB: coalescing
// grows the first packet of a flow in place.
package dataplane
