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
	// The keys are cut from buf by length: copy it and overwrite SK_d,
	// SK_pi and SK_pr of the copy in place.
	n := &ikeMaterial{suite: m.suite, prf: m.prf, buf: append([]byte(nil), m.buf...), integLen: m.integLen, encrLen: m.encrLen}
	for _, key := range [][]byte{n.d(), n.pi(), n.pr()} {
		derived, err := m.prf.Plus(ppk, len(key), key)
		if err != nil {
			clear(n.buf)
			return nil, fmt.Errorf("apply PPK: %w", err)
		}
		copy(key, derived)
		clear(derived)
	}
	return &IKESAKeys{m: n}, nil
}
