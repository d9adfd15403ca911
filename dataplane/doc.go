// Package dataplane is cygnet's packet path and its I/O edges: a TUN device
// on the protected side, and on the network side UDP 500 and 4500 for IKE
// and ESP-in-UDP (RFC 3948) plus raw IP protocol 50 and 51 sockets for ESP
// and AH without encapsulation, over IPv4 and IPv6.
//
// Outbound, one goroutine reads a batch from the TUN, looks every packet up
// in the SPD (Out; once per run of one flow), queues the packets of protect
// policies for sealing with the outbound SA of the policy's [Route] (the
// policy's Handle) and reserves their sequence numbers in the batch's order
// (one atomic operation per run of one SA). The batch is then sealed in
// place and, in order, sent with one sendmmsg per socket.
// On the NAT-T socket, runs of equal-size datagrams to one
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
// SPI among those given to [DataPlane.AddSA] and queues the packet for
// opening (rebuilding the outer header in the buffer's head room when the
// socket stripped it and the engine needs it). The ICVs are checked and the
// batch decrypted (esp.SA.Verify, which reads the replay window but does
// not move it, and checks the padding); the in-order stage then moves the
// window for each
// sequence number (esp.SA.Finish) in arrival order, so it only moves for
// authentic packets, in order, whatever its size, checks the inner packet
// against the SPD (In: it must match a protect policy whose Handle is the
// SA's Route) and writes the batch to the TUN with one call. The NAT-T
// sockets ask for
// UDP GRO: a datagram the kernel coalesced from one flow is split by its
// segment size, every segment after the first copied into a buffer of its
// own (the TUN's write coalescing grows a packet over what follows it). IKE messages go to
// Config.IKE, with the non-ESP marker stripped on port 4500;
// NAT-keepalives are counted and ignored. [DataPlane] implements the IKE
// transport (SendIKE, Source).
//
// Each source (the TUN, each ESP socket) runs on lanes (pipeline.go), one
// goroutine per core: a lane takes the source's read lock, reads a batch
// and does the in-order first stage above (SPD, sequence numbers, SA
// lookup), lets go of the lock, seals or opens the batch itself, and hands
// it to a sequencer that hands the batches on (sends them, or moves the
// replay window and writes the TUN) in the order they were read. So one
// SA's packets are sealed and opened on every core and still leave and
// arrive in order, and a batch's data stays in the cache of the core that
// read it. A batch that must be flushed before it is full (its jobs or
// spare buffers ran out) first waits for the batches ahead of it.
//
// IKE and ESP also travel over TCP (RFC 9329, tcp.go): a listener on the
// TCP port, and connections this host opens to the gateways
// [DataPlane.SetTCPGateways] names. A connection's frames are read in
// batches of what has arrived and its ESP packets opened as above; sealed
// packets for a peer reached over TCP are framed and written on its
// connection, one write per batch.
//
// Buffers are allocated once per batch ([HeadRoom] + packet + [TailRoom]);
// the per-packet path does not allocate. Every dropped packet is counted by
// reason in [Stats]; every SA counts its bytes and packets.
//
// The TUN device uses the kernel's offloads when it offers them (wireguard's
// tun package negotiates IFF_VNET_HDR with TSO and USO): one read can carry
// a whole TCP segment burst, split into MTU-sized packets, and writes are
// coalesced (GRO), which is why inbound buffers are 64 KiB: coalescing
// grows the first packet of a flow in place.
package dataplane
