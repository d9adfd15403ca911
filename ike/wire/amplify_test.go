package wire

import (
	"errors"
	"testing"

	"github.com/cygnet-ipsec/cygnet/internal/alloctest"
)

// The Delete bomb: a spoofed 1.5 KB IKE_SA_INIT of Delete payloads with SPI size 0 and 65535 SPIs made the parser
// allocate a 65535-entry slice per 8-octet payload, about 270 MB, before any cookie or authentication. It is
// refused now, having allocated next to nothing.
func TestDeleteBombRefused(t *testing.T) {
	b := alloctest.InitWith(1, 1500, alloctest.DeleteBomb())
	var err error
	n := alloctest.Bytes(func() { _, err = ParseMessage(b) })
	t.Logf("%d-byte message: %d bytes allocated, err %v", len(b), n, err)
	if n >= 64<<10 {
		t.Errorf("parsing the %d-byte Delete bomb allocated %d bytes", len(b), n)
	}
	if !errors.Is(err, ErrInvalidSyntax) {
		t.Errorf("Delete bomb: err = %v, want %v", err, ErrInvalidSyntax)
	}
}

// Every message stuffed with payloads whose parsed form is larger than their wire form stays within the linear
// allocation budget the fuzz targets enforce, whether it parses or not; so do the captures.
func TestParseAllocationBound(t *testing.T) {
	for _, size := range []int{1500, 60000} {
		for name, b := range alloctest.Amplifiers(size) {
			var err error
			n := alloctest.Bytes(func() { _, err = ParseMessage(b) })
			t.Logf("%s, %d bytes: %d bytes allocated (%.1f per input byte), err %v", name, len(b), n, float64(n)/float64(len(b)), err)
			if n > alloctest.Budget(len(b)) {
				t.Errorf("%s: %d-byte message allocated %d bytes, budget %d", name, len(b), n, alloctest.Budget(len(b)))
			}
			// The budget's linear term is generous; the densest payloads (traffic selectors of 4 octets, about
			// 80 in their parsed form) stay under 24 bytes per input byte.
			if n > 24*uint64(len(b))+64<<10 {
				t.Errorf("%s: %d-byte message allocated %d bytes, more than 24 per input byte", name, len(b), n)
			}
		}
	}
}
