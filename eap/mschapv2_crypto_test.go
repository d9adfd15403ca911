package eap

import (
	"encoding/hex"
	"strings"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 2759 section 9.2 and RFC 3079 section 3.5.3 (same user and password).
func TestMSCHAPv2KnownAnswers(t *testing.T) {
	authChallenge := unhex(t, "5B 5D 7C 7D 7B 3F 2F 3E 3C 2C 60 21 32 26 26 28")
	peerChallenge := unhex(t, "21 40 23 24 25 5E 26 2A 28 29 5F 2B 3A 33 7C 7E")
	password := []byte("clientPass")
	if got, want := challengeHash(peerChallenge, authChallenge, "User"), unhex(t, "D0 2E 43 86 BC E9 12 26"); !equalHex(got[:], want) {
		t.Errorf("ChallengeHash = %X, want %X", got, want)
	}
	ph := ntPasswordHash(password)
	if want := unhex(t, "44 EB BA 8D 53 12 B8 D6 11 47 44 11 F5 69 89 AE"); !equalHex(ph[:], want) {
		t.Errorf("NtPasswordHash = %X, want %X", ph, want)
	}
	resp := generateNTResponse(authChallenge, peerChallenge, "User", password)
	if want := unhex(t, "82 30 9E CD 8D 70 8B 5E A0 8F AA 39 81 CD 83 54 42 33 11 4A 3D 85 D6 DF"); !equalHex(resp[:], want) {
		t.Errorf("NT-Response = %X, want %X", resp, want)
	}
	phh := hashNTPasswordHash(ph)
	if want := unhex(t, "41 C0 0C 58 4B D2 D9 1C 40 17 A2 A1 2F A5 9F 3F"); !equalHex(phh[:], want) {
		t.Errorf("PasswordHashHash = %X, want %X", phh, want)
	}
	if got, want := generateAuthenticatorResponse(ph, resp[:], peerChallenge, authChallenge, "User"), "S=407A5589115FD0D6209F510FE9C04566932CDA56"; got != want {
		t.Errorf("AuthenticatorResponse = %s, want %s", got, want)
	}
	// A domain prefix does not enter the hash (RFC 2759 8.2).
	if got := generateNTResponse(authChallenge, peerChallenge, `EXAMPLE\User`, password); got != resp {
		t.Errorf("NT-Response with domain = %X, want %X", got, resp)
	}
	mk := masterKey(phh, resp[:])
	if want := unhex(t, "FD EC E3 71 7A 8C 83 8C B3 88 E5 27 AE 3C DD 31"); !equalHex(mk[:], want) {
		t.Errorf("MasterKey = %X, want %X", mk, want)
	}
	// RFC 3079 3.5.3 derives the send key of the side the sample
	// describes with Magic3, the server's send key.
	send := asymmetricStartKey(mk, keyMagic3)
	if want := unhex(t, "8B 7C DC 14 9B 99 3A 1B A1 18 CB 15 3F 56 DC CB"); !equalHex(send[:], want) {
		t.Errorf("SendStartKey128 = %X, want %X", send, want)
	}
	msk := mschapv2MSK(ph, resp[:])
	recv := asymmetricStartKey(mk, keyMagic2)
	if len(msk) != 64 || !equalHex(msk[:16], recv[:]) || !equalHex(msk[16:32], send[:]) || !equalHex(msk[32:], make([]byte, 32)) {
		t.Errorf("MSK = %X, want receive key | send key | 32 zeros", msk)
	}
}

func equalHex(a, b []byte) bool { return hex.EncodeToString(a) == hex.EncodeToString(b) }
