package dataplane

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The XDP program that steers ESP to the data plane's AF_XDP sockets
// (xsk.go) is a few dozen eBPF instructions, assembled here rather than
// compiled: there is no C toolchain at run time, and a library that loads
// ELF objects would be a large dependency for three system calls.
//
// It redirects a frame to the socket of the queue it arrived on when the
// frame is, all of it:
//   - Ethernet without a VLAN tag, carrying IPv4 without options and not a
//     fragment, or IPv6 with ESP as its first next header (a fragment's
//     next header is 44, so fragments stay out);
//   - protocol 50 (ESP);
//   - addressed to one of the data plane's local addresses;
//   - no longer than a UMEM frame holds.
//
// Everything else, and a frame whose queue has no socket (bpf_redirect_map's
// fallback action), passes to the kernel's stack as before: ESP there
// reaches the raw socket, so a frame the program does not take is slower,
// never lost.

// eBPF opcodes (include/uapi/linux/bpf.h, bpf_common.h).
const (
	bpfLdxW    = 0x61 // BPF_LDX | BPF_MEM | BPF_W
	bpfLdxH    = 0x69 // BPF_LDX | BPF_MEM | BPF_H
	bpfLdxB    = 0x71 // BPF_LDX | BPF_MEM | BPF_B
	bpfMovX    = 0xbf // BPF_ALU64 | BPF_MOV | BPF_X
	bpfMovK    = 0xb7 // BPF_ALU64 | BPF_MOV | BPF_K
	bpfAddK    = 0x07 // BPF_ALU64 | BPF_ADD | BPF_K
	bpfAndK    = 0x57 // BPF_ALU64 | BPF_AND | BPF_K
	bpfJa      = 0x05 // BPF_JMP | BPF_JA
	bpfJgtX    = 0x2d // BPF_JMP | BPF_JGT | BPF_X
	bpfJeqK    = 0x15 // BPF_JMP | BPF_JEQ | BPF_K
	bpfJneK    = 0x55 // BPF_JMP | BPF_JNE | BPF_K
	bpfJeq32K  = 0x16 // BPF_JMP32 | BPF_JEQ | BPF_K
	bpfJne32K  = 0x56 // BPF_JMP32 | BPF_JNE | BPF_K
	bpfCall    = 0x85 // BPF_JMP | BPF_CALL
	bpfExit    = 0x95 // BPF_JMP | BPF_EXIT
	bpfLdImm64 = 0x18 // BPF_LD | BPF_IMM | BPF_DW

	bpfPseudoMapFD    = 1  // src register of a map-fd BPF_LD_IMM64
	bpfRedirectMapFn  = 51 // bpf_redirect_map
	xdpPass           = 2  // XDP_PASS
	xdpMdData         = 0  // struct xdp_md offsets
	xdpMdDataEnd      = 4
	xdpMdRxQueueIndex = 16
)

// Frame offsets the program reads (Ethernet header, then IP).
const (
	ethHeaderLen = 14
	ethTypeAt    = 12
	ip4VerIHLAt  = ethHeaderLen
	ip4FragAt    = ethHeaderLen + 6
	ip4ProtoAt   = ethHeaderLen + 9
	ip4DstAt     = ethHeaderLen + 16
	ip6NextAt    = ethHeaderLen + 6
	ip6DstAt     = ethHeaderLen + 24
	// xdpMinFrame is what the program must be able to read: an Ethernet
	// and an IPv6 header. Any ESP packet is longer (over IPv4 at least 14
	// + 20 + 8 + 16 octets with its ICV).
	xdpMinFrame = ethHeaderLen + 40
)

// bpfInsn is one eBPF instruction (struct bpf_insn).
type bpfInsn struct {
	code uint8
	regs uint8 // dst in the low nibble, src in the high
	off  int16
	imm  int32
}

// bpfAsm assembles a program with forward jumps to named labels.
type bpfAsm struct {
	insns  []bpfInsn
	labels map[string]int
	fixups map[int]string // instruction index -> label it jumps to
}

func (a *bpfAsm) emit(code uint8, dst, src uint8, off int16, imm int32) {
	a.insns = append(a.insns, bpfInsn{code: code, regs: dst | src<<4, off: off, imm: imm})
}

// jump emits a conditional or unconditional jump to label.
func (a *bpfAsm) jump(code uint8, dst, src uint8, imm int32, label string) {
	if a.fixups == nil {
		a.fixups = map[int]string{}
	}
	a.fixups[len(a.insns)] = label
	a.emit(code, dst, src, 0, imm)
}

func (a *bpfAsm) label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[name] = len(a.insns)
}

// assemble resolves the jumps and returns the instructions' octets.
func (a *bpfAsm) assemble() ([]byte, error) {
	for at, l := range a.fixups {
		to, ok := a.labels[l]
		if !ok {
			return nil, fmt.Errorf("xdp program: no label %q", l)
		}
		if to <= at {
			return nil, fmt.Errorf("xdp program: jump back to %q", l)
		}
		a.insns[at].off = int16(to - at - 1)
	}
	b := make([]byte, 0, 8*len(a.insns))
	for _, in := range a.insns {
		b = append(b, in.code, in.regs)
		b = binary.LittleEndian.AppendUint16(b, uint16(in.off))
		b = binary.LittleEndian.AppendUint32(b, uint32(in.imm))
	}
	return b, nil
}

// wire32 is the 32-bit immediate that equals four octets of a packet as
// the little-endian BPF machine loads them.
func wire32(b []byte) int32 {
	return int32(binary.LittleEndian.Uint32(b))
}

// espSteeringProgram returns the XDP program's instructions for a map
// whose descriptor is mapFD, taking ESP to any of locals, and frames up to
// maxFrame octets.
func espSteeringProgram(mapFD int, locals []netip.Addr, maxFrame int) ([]byte, error) {
	const (
		r0, r1, r2, r3, r4, r5 = 0, 1, 2, 3, 4, 5
	)
	var a bpfAsm
	a.emit(bpfLdxW, r2, r1, xdpMdData, 0)
	a.emit(bpfLdxW, r3, r1, xdpMdDataEnd, 0)
	// Too short to read the headers: pass.
	a.emit(bpfMovX, r4, r2, 0, 0)
	a.emit(bpfAddK, r4, 0, 0, xdpMinFrame)
	a.jump(bpfJgtX, r4, r3, 0, "pass")
	// Longer than a frame: pass (data + maxFrame < data_end).
	a.emit(bpfMovX, r4, r2, 0, 0)
	a.emit(bpfAddK, r4, 0, 0, int32(maxFrame))
	a.jump(bpfJgtX, r3, r4, 0, "pass")
	a.emit(bpfLdxH, r5, r2, ethTypeAt, 0)
	a.jump(bpfJeqK, r5, 0, int32(wire16(0x0800)), "ipv4")
	a.jump(bpfJneK, r5, 0, int32(wire16(0x86dd)), "pass")

	a.emit(bpfLdxB, r5, r2, ip6NextAt, 0)
	a.jump(bpfJneK, r5, 0, unix.IPPROTO_ESP, "pass")
	for i, l := range locals {
		if !l.Is6() || l.Is4In6() {
			continue
		}
		next := fmt.Sprintf("v6next%d", i)
		b := l.As16()
		for w := range 4 {
			a.emit(bpfLdxW, r5, r2, int16(ip6DstAt+4*w), 0)
			a.jump(bpfJne32K, r5, 0, wire32(b[4*w:]), next)
		}
		a.jump(bpfJa, 0, 0, 0, "redirect")
		a.label(next)
	}
	a.jump(bpfJa, 0, 0, 0, "pass")

	a.label("ipv4")
	a.emit(bpfLdxB, r5, r2, ip4VerIHLAt, 0)
	a.jump(bpfJneK, r5, 0, 0x45, "pass") // options: let the stack parse them
	a.emit(bpfLdxB, r5, r2, ip4ProtoAt, 0)
	a.jump(bpfJneK, r5, 0, unix.IPPROTO_ESP, "pass")
	a.emit(bpfLdxH, r5, r2, ip4FragAt, 0)
	a.emit(bpfAndK, r5, 0, 0, int32(wire16(0x3fff))) // MF and the offset
	a.jump(bpfJneK, r5, 0, 0, "pass")
	a.emit(bpfLdxW, r5, r2, ip4DstAt, 0)
	for _, l := range locals {
		if !l.Unmap().Is4() {
			continue
		}
		b := l.Unmap().As4()
		a.jump(bpfJeq32K, r5, 0, wire32(b[:]), "redirect")
	}
	a.jump(bpfJa, 0, 0, 0, "pass")

	a.label("redirect")
	a.emit(bpfLdxW, r2, r1, xdpMdRxQueueIndex, 0)
	a.emit(bpfLdImm64, r1, bpfPseudoMapFD, 0, int32(mapFD))
	a.emit(0, 0, 0, 0, 0)
	a.emit(bpfMovK, r3, 0, 0, xdpPass) // no socket on this queue: pass
	a.emit(bpfCall, 0, 0, 0, bpfRedirectMapFn)
	a.emit(bpfExit, 0, 0, 0, 0)

	a.label("pass")
	a.emit(bpfMovK, r0, 0, 0, xdpPass)
	a.emit(bpfExit, 0, 0, 0, 0)
	return a.assemble()
}

// wire16 is the 16-bit value that equals two octets in network order as
// the little-endian BPF machine loads them.
func wire16(v uint16) uint16 {
	return v>>8 | v<<8
}

// bpfPtr is a pointer field of bpf(2)'s attributes (a __u64). Held as a
// pointer, not an integer, so that the object it points to stays where it
// is (a stack can move) and alive until the call returns. It is 8 octets
// on 64-bit platforms only; attachXDP refuses the others.
type bpfPtr struct {
	p unsafe.Pointer
}

// bpf calls bpf(2) with an attribute structure of its own size.
func bpf(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// newXSKMap creates an XSKMAP of n queues.
func newXSKMap(n int) (int, error) {
	attr := struct {
		mapType, keySize, valueSize, maxEntries, flags uint32
	}{unix.BPF_MAP_TYPE_XSKMAP, 4, 4, uint32(n), 0}
	fd, err := bpf(unix.BPF_MAP_CREATE, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		return -1, fmt.Errorf("create XSKMAP: %w", err)
	}
	return fd, nil
}

// xskMapSet points queue's entry of the map at the socket sock.
func xskMapSet(mapFD, queue, sock int) error {
	key, val := uint32(queue), uint32(sock)
	attr := struct {
		mapFD uint32
		_     uint32
		key   bpfPtr
		value bpfPtr
		flags uint64
	}{mapFD: uint32(mapFD), key: bpfPtr{p: unsafe.Pointer(&key)}, value: bpfPtr{p: unsafe.Pointer(&val)}}
	if _, err := bpf(unix.BPF_MAP_UPDATE_ELEM, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
		return fmt.Errorf("XSKMAP queue %d: %w", queue, err)
	}
	return nil
}

// loadXDP loads insns as an XDP program; the verifier's log is in the
// error when it refuses.
func loadXDP(insns []byte) (int, error) {
	license := []byte("Apache-2.0\x00")
	log := make([]byte, 64<<10)
	attr := struct {
		progType, insnCnt uint32
		insns, license    bpfPtr
		logLevel, logSize uint32
		logBuf            bpfPtr
	}{
		progType: unix.BPF_PROG_TYPE_XDP,
		insnCnt:  uint32(len(insns) / 8),
		insns:    bpfPtr{p: unsafe.Pointer(&insns[0])},
		license:  bpfPtr{p: unsafe.Pointer(&license[0])},
		logLevel: 1,
		logSize:  uint32(len(log)),
		logBuf:   bpfPtr{p: unsafe.Pointer(&log[0])},
	}
	fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		msg := string(log[:max(0, indexZero(log))])
		return -1, fmt.Errorf("load XDP program: %w: %s", err, msg)
	}
	return fd, nil
}

// linkXDP attaches prog to the link ifindex in mode (XDP_FLAGS_DRV_MODE or
// XDP_FLAGS_SKB_MODE) through a BPF link: closing the returned descriptor,
// which the kernel does when the process ends however it ends, detaches
// the program, so a daemon that was killed leaves nothing on the link.
func linkXDP(prog, ifindex int, mode uint32) (int, error) {
	attr := struct {
		progFD, ifindex, attachType, flags uint32
	}{uint32(prog), uint32(ifindex), unix.BPF_XDP, mode}
	fd, err := bpf(unix.BPF_LINK_CREATE, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		return -1, err
	}
	return fd, nil
}

func indexZero(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}
