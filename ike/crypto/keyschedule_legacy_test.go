package crypto

import (
	"errors"
	"testing"

	"github.com/cygnet-ipsec/cygnet/iana"
)

// TestChildKeysLegacy3DES: a Child SA negotiated with 3des-sha1 (named in a
// proposal) gets 24-octet 3DES and 20-octet HMAC-SHA1 keys; the IKE SA
// protector still refuses 3DES.
func TestChildKeysLegacy3DES(t *testing.T) {
	if n, err := childEncrKeyLen(uint16(iana.ENCR_3DES), 0); n != 24 || err != nil {
		t.Fatalf("3DES Child SA key: %d octets, %v; want 24", n, err)
	}
	if _, _, _, err := EncrKeyLen(uint16(iana.ENCR_3DES), 0); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("3DES for the IKE SA: %v, want ErrUnsupported", err)
	}
	if n, err := IntegKeyLen(IntegHMACSHA196); n != 20 || err != nil {
		t.Fatalf("HMAC-SHA1-96 Child SA key: %d octets, %v; want 20", n, err)
	}
}
