package replay

import (
	"encoding/binary"
	"testing"
)

// FuzzWindow drives a window with sequence numbers taken from the input
// (as a peer on the network would choose them) and compares every verdict
// with the naive model. Each 4-byte record is a signed offset from the
// highest number accepted so far; the first byte picks size and ESN.
func FuzzWindow(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Add([]byte{3, 0x00, 0x10, 0, 0, 0xc0, 0xff, 0xff, 0xff, 0xc1, 0xff, 0xff, 0xff, 1, 0, 0, 0})
	f.Add([]byte{0x81, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0x80, 5, 0, 0, 0})
	f.Add([]byte{0x86, 0, 0, 1, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		sizes := []int{32, 64, 100, 128, 1000, 4096, 8192, MaxSize}
		size := sizes[int(data[0]&0x7f)%len(sizes)]
		esn := data[0]&0x80 != 0
		w, err := New(size, esn)
		if err != nil {
			t.Fatal(err)
		}
		m := &model{esn: esn, size: uint64(w.Size()), seen: map[uint64]bool{}}
		for rec := data[1:]; len(rec) >= 4; rec = rec[4:] {
			off := int64(int32(binary.LittleEndian.Uint32(rec)))
			seq := uint64(int64(m.top) + off)
			if off < 0 && uint64(-off) > m.top {
				seq = 0
			}
			if esn {
				// Go through the wire: only the low half is sent.
				seq = w.Infer(uint32(seq))
			}
			if got, want := reason(w.Check(seq)), m.check(seq); got != want {
				t.Fatalf("Check(%d) = %v, model %v (top %d)", seq, got, want, m.top)
			}
			if got, want := reason(w.Accept(seq)), m.accept(seq); got != want {
				t.Fatalf("Accept(%d) = %v, model %v (top %d)", seq, got, want, m.top)
			}
		}
	})
}
