package dataplane

import (
	"reflect"
	"testing"
)

// Every counter of Stats is a drop that stats and metrics name on their
// own, a drop that OtherDrops sums, or not a drop: a new counter fails
// here until it is placed.
func TestOtherDrops(t *testing.T) {
	other := map[string]bool{"Bypassed": true, "TooBig": true, "Expired": true, "ECNDrop": true,
		"SendErrors": true, "TUNErrors": true, "XDPDropped": true, "Other": true}
	notOther := map[string]bool{
		// named drops
		"Replay": true, "AuthFailed": true, "NoSA": true, "PolicyMismatch": true, "Discarded": true, "Malformed": true,
		// traffic and events, not drops
		"OutPackets": true, "OutBytes": true, "InPackets": true, "InBytes": true, "Fragmented": true, "Dummy": true,
		"LinkSent": true, "XDPReceived": true, "EarlyOpened": true, "Keepalives": true, "IKE": true, "TCPRetransmits": true,
	}
	typ := reflect.TypeFor[Stats]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		var st Stats
		reflect.ValueOf(&st).Elem().Field(i).SetUint(1)
		switch got := st.OtherDrops(); {
		case other[f.Name] && got != 1:
			t.Errorf("%s: OtherDrops %d, want 1", f.Name, got)
		case notOther[f.Name] && got != 0:
			t.Errorf("%s: OtherDrops %d, want 0", f.Name, got)
		case !other[f.Name] && !notOther[f.Name]:
			t.Errorf("%s: neither a named drop, another drop nor traffic: place it", f.Name)
		}
	}
}
