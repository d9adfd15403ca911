package tcpencap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/cygnet-ipsec/cygnet/internal/alloctest"
)

func ikeMsg(n int) []byte {
	m := make([]byte, n)
	binary.BigEndian.PutUint64(m, 0x0102030405060708)
	m[17] = 0x20
	binary.BigEndian.PutUint32(m[24:], uint32(n))
	return m
}

func espPkt(spi uint32, n int) []byte {
	p := bytes.Repeat([]byte{0xab}, n)
	binary.BigEndian.PutUint32(p, spi)
	return p
}

// TestWireFormat pins the octets RFC 9329 sections 3 and 4 define.
func TestWireFormat(t *testing.T) {
	msg := ikeMsg(28)
	f, err := AppendIKE([]byte(Prefix), msg)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte{'I', 'K', 'E', 'T', 'C', 'P', 0, 2 + 4 + 28, 0, 0, 0, 0}, msg...)
	if !bytes.Equal(f, want) {
		t.Fatalf("IKE frame\n got %x\nwant %x", f, want)
	}
	esp := espPkt(0x11223344, 40)
	f, err = AppendESP(nil, esp)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f, append([]byte{0, 42}, esp...)) {
		t.Fatalf("ESP frame %x", f)
	}
	if _, err := AppendIKE(nil, make([]byte, MaxIKE+1)); !errors.Is(err, ErrTooLong) {
		t.Fatalf("oversized IKE: %v", err)
	}
	if f, err := AppendIKE(nil, ikeMsg(MaxIKE)); err != nil || len(f) != MaxFrame {
		t.Fatalf("largest IKE: %d, %v", len(f), err)
	}
	if _, err := AppendESP(nil, make([]byte, MaxContent+1)); !errors.Is(err, ErrTooLong) {
		t.Fatalf("oversized ESP: %v", err)
	}
}

func TestReadStream(t *testing.T) {
	var s []byte
	s = append(s, Prefix...)
	ike := ikeMsg(100)
	esp := espPkt(0xc0ffee, 1400)
	s, _ = AppendIKE(s, ike)
	s, _ = AppendESP(s, esp)
	s = append(s, 0, 3, 0xff)    // a one-octet frame: neither
	s = append(s, 0, 2)          // an empty frame: neither
	s, _ = AppendESP(s, esp[:8]) // the smallest ESP
	r := NewReader(bytes.NewReader(s))
	if err := r.ReadPrefix(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, MaxContent)
	want := []struct {
		k Kind
		b []byte
	}{{IKE, ike}, {ESP, esp}, {Invalid, nil}, {Invalid, nil}, {ESP, esp[:8]}}
	for i, w := range want {
		n, err := r.ReadFrame(buf)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		k, b := Classify(buf[:n])
		if k != w.k || !bytes.Equal(b, w.b) {
			t.Fatalf("frame %d: %v %x, want %v %x", i, k, b, w.k, w.b)
		}
	}
	if _, err := r.ReadFrame(buf); err != io.EOF {
		t.Fatalf("end: %v, want io.EOF", err)
	}
}

func TestBrokenStreams(t *testing.T) {
	buf := make([]byte, MaxContent)
	for name, c := range map[string]struct {
		s      []byte
		prefix bool
		want   error
	}{
		"wrong prefix":     {s: []byte("IKETCQ\x00\x08"), prefix: true, want: ErrPrefix},
		"short prefix":     {s: []byte("IKE"), prefix: true, want: ErrPrefix},
		"length 0":         {s: []byte{0, 0, 1, 2}, want: ErrLength},
		"length 1":         {s: []byte{0, 1}, want: ErrLength},
		"half a length":    {s: []byte{0}, want: ErrTruncated},
		"cut inside frame": {s: []byte{0, 20, 1, 2, 3}, want: ErrTruncated},
		"cut after length": {s: []byte{0, 20}, want: ErrTruncated},
	} {
		r := NewReader(bytes.NewReader(c.s))
		var err error
		if c.prefix {
			err = r.ReadPrefix()
		} else {
			_, err = r.ReadFrame(buf)
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	r := NewReader(bytes.NewReader([]byte{0, 100}))
	if _, err := r.ReadFrame(make([]byte, 10)); !errors.Is(err, ErrBuffer) {
		t.Errorf("small buffer: %v", err)
	}
}

func TestComplete(t *testing.T) {
	pr, pw := io.Pipe()
	r := NewReader(pr)
	buf := make([]byte, MaxContent)
	f1, _ := AppendESP(nil, espPkt(1, 20))
	f2, _ := AppendESP(nil, espPkt(2, 30))
	go func() { pw.Write(append(f1, f2[:10]...)); pw.Write(f2[10:]); pw.Close() }()
	if _, err := r.ReadFrame(buf); err != nil {
		t.Fatal(err)
	}
	// Only part of the second frame can be buffered after the first write.
	if r.Complete() {
		t.Fatal("Complete with a partial frame buffered")
	}
	n, err := r.ReadFrame(buf)
	if err != nil || n != 30 {
		t.Fatalf("second frame: %d %v", n, err)
	}
}

// TestReadDoesNotAllocate: a frame costs no allocation once the Reader exists.
func TestReadDoesNotAllocate(t *testing.T) {
	f, _ := AppendESP(nil, espPkt(9, 1000))
	src := bytes.NewReader(nil)
	r := NewReader(src)
	buf := make([]byte, MaxContent)
	allocs := testing.AllocsPerRun(100, func() {
		src.Reset(f)
		if _, err := r.ReadFrame(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame", allocs)
	}
}

// FuzzStream reads an arbitrary stream as a TCP responder would: prefix,
// then frames until the stream ends or breaks. Every frame read must
// re-encode to exactly the octets it came from, IKE and ESP frames must
// classify as they were built, and reading allocates O(N).
func FuzzStream(f *testing.F) {
	seed := []byte(Prefix)
	seed, _ = AppendIKE(seed, ikeMsg(28))
	seed, _ = AppendESP(seed, espPkt(0x1234, 64))
	f.Add(seed)
	f.Add([]byte(Prefix + "\x00\x00"))
	f.Add([]byte(Prefix + "\x00\x02\x00\x03\xff"))
	f.Add([]byte(Prefix + "\xff\xff\x00\x00\x00\x00"))
	f.Add([]byte("IKETC"))
	f.Add([]byte(Prefix + "\x00\x06\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, s []byte) {
		var frames [][]byte
		var err error
		prefixed := false
		used := alloctest.Approx(func() {
			r := NewReader(bytes.NewReader(s))
			if err = r.ReadPrefix(); err != nil {
				return
			}
			prefixed = true
			buf := make([]byte, MaxContent)
			for {
				var n int
				if n, err = r.ReadFrame(buf); err != nil {
					return
				}
				frames = append(frames, bytes.Clone(buf[:n]))
			}
		})
		if used > alloctest.Budget(len(s))+2*readBuf+MaxContent {
			t.Fatalf("%d octets of stream allocated %d", len(s), used)
		}
		if err == nil || (!errors.Is(err, io.EOF) && !errors.Is(err, ErrPrefix) && !errors.Is(err, ErrLength) && !errors.Is(err, ErrTruncated)) {
			t.Fatalf("stream ended with %v", err)
		}
		// Re-encode: the frames read are a prefix of the stream.
		var back []byte
		if prefixed {
			back = []byte(Prefix)
		}
		for _, c := range frames {
			k, b := Classify(c)
			var e error
			switch k {
			case IKE:
				back, e = AppendIKE(back, b)
			case ESP:
				if binary.BigEndian.Uint32(b) == 0 {
					t.Fatalf("ESP with SPI zero: %x", b)
				}
				back, e = AppendESP(back, b)
			default:
				back = binary.BigEndian.AppendUint16(back, uint16(LengthSize+len(c)))
				back = append(back, c...)
			}
			if e != nil {
				t.Fatal(e)
			}
		}
		if !bytes.HasPrefix(s, back) {
			t.Fatalf("re-encoded frames are not the stream's start\n got %x\nfrom %x", back, s)
		}
		if prefixed && err == io.EOF && len(back) != len(s) {
			t.Fatalf("clean end after %d of %d octets", len(back), len(s))
		}
	})
}
