package sad_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/sad"
)

type keys struct{ k [16]byte }

func (k *keys) Wipe() { clear(k.k[:]) }

// The packet path looks an SA up and accounts each packet; the daemon
// drives time lifetimes with Expire and reads the events to rekey.
func ExampleDB() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	db := sad.New(sad.Config{Now: func() time.Time { return start }})
	id := sad.ID{SPI: 0xc001d00d, Protocol: ipsec.ProtoESP, Dst: netip.MustParseAddr("192.0.2.1")}
	if _, err := db.Add(id, &keys{}, sad.Lifetime{SoftPackets: 2, HardTime: time.Hour}); err != nil {
		panic(err)
	}
	for range 2 {
		if err := db.Lookup(id).Account(1400); err != nil {
			fmt.Println("drop:", err)
		}
	}
	fmt.Println(<-db.Events())
	db.Expire(start.Add(time.Hour))
	fmt.Println(<-db.Events())
	fmt.Println(db.Lookup(id) == nil)
	// Output:
	// soft expire of ESP SPI 0xc001d00d dst 192.0.2.1 (packets): 2800 bytes, 2 packets
	// hard expire of ESP SPI 0xc001d00d dst 192.0.2.1 (time): 2800 bytes, 2 packets
	// true
}
