package alloctest_test

import (
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/internal/alloctest"
)

var sink []byte

func TestBytes(t *testing.T) {
	for name, measure := range map[string]func(func()) uint64{"Bytes": alloctest.Bytes, "Approx": alloctest.Approx} {
		n := measure(func() { sink = make([]byte, 1<<20) })
		if n < 1<<20 || n > 2<<20 {
			t.Errorf("%s: a 1 MiB allocation measured as %d bytes", name, n)
		}
	}
}

// The builders make what they say: a plain IKE_SA_INIT request that parses, and stuffed ones of about the size
// asked for whose structure is sound (only the Delete bomb is refused, for its SPI count).
func TestMessages(t *testing.T) {
	m, err := wire.ParseMessage(alloctest.InitWith(7, 0, alloctest.Payload{}))
	if err != nil {
		t.Fatal(err)
	}
	if m.Exchange != wire.IKE_SA_INIT || m.IsResponse() || wire.PayloadSummary(m.Payloads) != "SA KE No" {
		t.Fatalf("plain request: %v", m)
	}
	for name, b := range alloctest.Amplifiers(8000) {
		if len(b) > 8000 || len(b) < 4000 {
			t.Errorf("%s: %d bytes", name, len(b))
		}
		c := wire.MessageChain(b)
		for c.Next() {
		}
		if c.Err() != nil {
			t.Errorf("%s: %v", name, c.Err())
		}
		if _, err := wire.ParseMessage(b); (err != nil) != (name == "delete-bomb") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
