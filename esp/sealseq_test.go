package esp

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// TestSealSeq: numbers reserved for a batch are used as given, whatever
// order the packets are sealed in (as on several cores), and the peer
// opens every packet; Verify alone leaves the replay window alone, so a
// packet verified twice is accepted once.
func TestSealSeq(t *testing.T) {
	out, in := pair(t, gcm128, tunnel4())
	inner := udpPacket(in4a, in4b, 0, []byte("reserved"))
	first, got, err := out.ReserveSeq(3)
	if err != nil || got != 3 || first != 1 {
		t.Fatalf("ReserveSeq(3) = %d, %d, %v", first, got, err)
	}
	head, tail := out.Overhead()
	sealed := make([][]byte, 3)
	for _, i := range []int{2, 0, 1} {
		buf := make([]byte, head+len(inner)+tail)
		copy(buf[head:], inner)
		p, err := out.SealSeq(buf, head, len(inner), first+uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		if s := binary.BigEndian.Uint32(p.Bytes[p.ESP+4:]); s != uint32(first)+uint32(i) {
			t.Fatalf("packet %d sealed with sequence number %d", i, s)
		}
		sealed[i] = p.Bytes
	}
	if _, err := out.SealSeq(make([]byte, 200), head, len(inner), 0); err == nil {
		t.Error("SealSeq took sequence number 0")
	}
	for i, s := range sealed {
		v, err := in.Verify(s)
		if err != nil {
			t.Fatalf("Verify %d: %v", i, err)
		}
		op, err := in.Finish(&v)
		if err != nil || !bytes.Equal(op.Packet, inner) || op.Seq != first+uint64(i) {
			t.Fatalf("Finish %d: seq %d, %v", i, op.Seq, err)
		}
	}
	// Two Verify calls for one sequence number both pass (the window has
	// not moved); only the first Finish does.
	buf := make([]byte, head+len(inner)+tail)
	copy(buf[head:], inner)
	p, err := out.Seal(buf, head, len(inner))
	if err != nil {
		t.Fatal(err)
	}
	dup := bytes.Clone(p.Bytes)
	v1, err1 := in.Verify(p.Bytes)
	v2, err2 := in.Verify(dup)
	if err1 != nil || err2 != nil {
		t.Fatalf("Verify: %v, %v", err1, err2)
	}
	if _, err := in.Finish(&v1); err != nil {
		t.Fatalf("first Finish: %v", err)
	}
	if _, err := in.Finish(&v2); err == nil {
		t.Error("a duplicate passed Finish: the replay window did not hold")
	}
}
