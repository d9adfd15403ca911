package main

import "testing"

// list-sas names a hybrid SA's additional key exchanges after its first
// one, as swanctl --list-sas does.
func TestAdditionalKEsText(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"CURVE_25519"}, ""},
		{[]string{"CURVE_25519", "ML_KEM_768"}, "/KE1_ML_KEM_768"},
		{[]string{"CURVE_25519", "ML_KEM_768", "ML_KEM_1024"}, "/KE1_ML_KEM_768/KE2_ML_KEM_1024"},
	} {
		if got := additionalKEs(c.in); got != c.want {
			t.Errorf("%v: %q, want %q", c.in, got, c.want)
		}
	}
}
