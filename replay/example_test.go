package replay_test

import (
	"errors"
	"fmt"

	"github.com/cygnet-ipsec/cygnet/replay"
)

// A receiver infers the full number, checks it before the ICV and accepts
// it after.
func ExampleWindow() {
	w, err := replay.New(64, true)
	if err != nil {
		panic(err)
	}
	receive := func(wireSeq uint32) {
		seq := w.Infer(wireSeq) // the high half goes into the ICV input
		if err := w.Check(seq); err != nil {
			fmt.Println("drop before ICV:", err, errors.Is(err, replay.ErrReplayed))
			return
		}
		// ... verify the ICV with seq here ...
		if err := w.Accept(seq); err != nil {
			fmt.Println("drop after ICV:", err)
			return
		}
		fmt.Println("accepted", seq)
	}
	receive(17)
	receive(16)
	receive(17)
	// Output:
	// accepted 17
	// accepted 16
	// drop before ICV: replayed packet: sequence number 17 already seen true
}
