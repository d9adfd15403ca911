package crypto

import (
	"errors"
	"fmt"
)

// WithPPK returns the keys of k with SK_d, SK_pi and SK_pr replaced as RFC
// 8784 section 3 says when a postquantum preshared key is used:
//
//	SK_d  = prf+(PPK, SK_d')
//	SK_pi = prf+(PPK, SK_pi')
//	SK_pr = prf+(PPK, SK_pr')
//
// each as long as the key it replaces (the PRF's output size). SK_a and SK_e
// stay: IKE_AUTH is protected by the keys of IKE_SA_INIT (and of any
// IKE_INTERMEDIATE exchanges), the PPK only enters AUTH and everything
// derived from SK_d (Child SAs, the next IKE SA). k is left as it is, since
// the initiator needs both sets until it knows whether the responder used
// the PPK; the caller wipes the one it drops.
func (k *IKESAKeys) WithPPK(ppk []byte) (*IKESAKeys, error) {
	if k == nil || k.m == nil {
		return nil, fmt.Errorf("apply PPK: %w", ErrWiped)
	}
	if len(ppk) == 0 {
		return nil, errors.New("apply PPK: empty PPK")
	}
	m := k.m
	buf := append([]byte(nil), m.buf...)
	n := &ikeMaterial{suite: m.suite, prf: m.prf, buf: buf}
	// The old keys are slices of m.buf back to back; take the same slices
	// of the copy, then overwrite SK_d, SK_pi and SK_pr in place.
	off := 0
	take := func(old []byte) []byte {
		b := buf[off : off+len(old) : off+len(old)]
		off += len(old)
		return b
	}
	n.d, n.ai, n.ar, n.ei, n.er, n.pi, n.pr = take(m.d), take(m.ai), take(m.ar), take(m.ei), take(m.er), take(m.pi), take(m.pr)
	for _, key := range [][]byte{n.d, n.pi, n.pr} {
		derived, err := m.prf.Plus(ppk, len(key), key)
		if err != nil {
			clear(buf)
			return nil, fmt.Errorf("apply PPK: %w", err)
		}
		copy(key, derived)
		clear(derived)
	}
	return &IKESAKeys{m: n}, nil
}
