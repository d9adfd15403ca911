package testnet

import (
	"bytes"
	"context"
	"crypto/des"
	"crypto/md5"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	//lint:ignore SA1019 MS-CHAPv2 (RFC 2759) is defined over MD4
	"golang.org/x/crypto/md4"

	"github.com/cygnet-ipsec/cygnet/radius"
)

const radiusSecret = "t3st-s3cret"

// radiusClient is a RADIUS client whose sockets live in namespace ns and
// talk to the server at B's underlay address.
func radiusClient(t *testing.T, ns string, secret string) *radius.Client {
	return &radius.Client{
		Servers: []radius.Server{{Name: "freeradius", Addr: netip.AddrPortFrom(UnderlayB, 1812).String(), Secret: []byte(secret)}},
		Timeout: 2 * time.Second, Tries: 2,
		Dial: func(ctx context.Context, addr string) (net.Conn, error) {
			var conn net.Conn
			err := InNamespace(ns, func() error {
				var d net.Dialer
				var err error
				conn, err = d.DialContext(ctx, "udp", addr)
				return err
			})
			return conn, err
		},
	}
}

func startRADIUS(t *testing.T) (*Pair, *FreeRADIUS) {
	p := NewPair(t, PairOptions{})
	fr := StartFreeRADIUS(t, p.B, FreeRADIUSOptions{Secret: radiusSecret, Users: map[string]string{"alice": "alice-pw", "bob": "bob-pw"}})
	return p, fr
}

func TestFreeRADIUS(t *testing.T) {
	p, fr := startRADIUS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := radiusClient(t, p.A, radiusSecret)

	t.Run("PAP", func(t *testing.T) {
		if code, err := c.PAP(ctx, "alice", []byte("alice-pw")); err != nil || code != radius.CodeAccessAccept {
			t.Fatalf("right password: %v, %v", code, err)
		}
		if code, err := c.PAP(ctx, "alice", []byte("wrong")); err != nil || code != radius.CodeAccessReject {
			t.Fatalf("wrong password: %v, %v", code, err)
		}
	})

	t.Run("EAP-MD5", func(t *testing.T) {
		res, err := eapMD5(ctx, c, "bob", "bob-pw")
		if err != nil {
			t.Fatal(err)
		}
		if res.Code != radius.CodeAccessAccept || !isEAP(res.EAP, 3) {
			t.Fatalf("right password: %v, EAP %x", res.Code, res.EAP)
		}
		if res.MSK != nil {
			t.Fatalf("EAP-MD5 made an MSK %x", res.MSK)
		}
		res, err = eapMD5(ctx, c, "bob", "alice-pw")
		if err != nil {
			t.Fatal(err)
		}
		if res.Code != radius.CodeAccessReject || !isEAP(res.EAP, 4) {
			t.Fatalf("wrong password: %v, EAP %x", res.Code, res.EAP)
		}
	})

	t.Run("EAP-MSCHAPv2", func(t *testing.T) {
		res, want, err := eapMSCHAPv2(ctx, c, "alice", "alice-pw")
		if err != nil {
			t.Fatal(err)
		}
		if res.Code != radius.CodeAccessAccept || !isEAP(res.EAP, 3) {
			t.Fatalf("right password: %v, EAP %x", res.Code, res.EAP)
		}
		if len(res.MSK) != 64 || !bytes.Equal(res.MSK, want) {
			t.Fatalf("MSK from the MPPE keys\n %x\nthe peer's MSK (RFC 3079)\n %x", res.MSK, want)
		}
		res, _, err = eapMSCHAPv2(ctx, c, "alice", "bob-pw")
		if err != nil {
			t.Fatal(err)
		}
		if res.Code != radius.CodeAccessReject || res.MSK != nil {
			t.Fatalf("wrong password: %v, MSK %x", res.Code, res.MSK)
		}
	})

	t.Run("accounting", func(t *testing.T) {
		for _, rec := range []radius.AccountingRecord{
			{Status: radius.AcctStart, SessionID: "cygnet-ike-1", UserName: "alice", FramedIP: netip.MustParseAddr("10.3.0.1")},
			{Status: radius.AcctStop, SessionID: "cygnet-ike-1", UserName: "alice", FramedIP: netip.MustParseAddr("10.3.0.1"),
				SessionTime: 42 * time.Second, InputOctets: 1000, OutputOctets: 2000, TerminateCause: radius.TerminateUserRequest},
		} {
			if err := c.Account(ctx, rec); err != nil {
				t.Fatalf("%v: %v", rec.Status, err)
			}
		}
		got, err := fr.AccountingRecords()
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Acct-Status-Type = Start", "Acct-Status-Type = Stop", "Acct-Session-Id = \"cygnet-ike-1\"",
			"Framed-IP-Address = 10.3.0.1", "Acct-Session-Time = 42", "Acct-Output-Octets = 2000", "Acct-Terminate-Cause = User-Request"} {
			if !strings.Contains(got, want) {
				t.Errorf("FreeRADIUS's detail file lacks %q:\n%s", want, got)
			}
		}
	})

	t.Run("wrong secret", func(t *testing.T) {
		bad := radiusClient(t, p.A, "not-the-secret")
		bad.Timeout, bad.Tries = 300*time.Millisecond, 1
		_, err := bad.PAP(ctx, "alice", []byte("alice-pw"))
		if !errors.Is(err, radius.ErrTimeout) {
			t.Fatalf("wrong shared secret: %v", err)
		}
		// the server checked our Message-Authenticator and dropped it
		if !strings.Contains(fr.Proc.Output(), "invalid Message-Authenticator!  (Shared secret is incorrect.)") {
			t.Fatalf("FreeRADIUS did not log the bad Message-Authenticator")
		}
	})
}

// isEAP reports whether msg is an EAP packet with code (3 Success, 4 Failure).
func isEAP(msg []byte, code byte) bool { return len(msg) == 4 && msg[0] == code }

func eapPacket(code, id, typ byte, data []byte) []byte {
	b := []byte{code, id, 0, 0, typ}
	b = append(b, data...)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	return b
}

// eapMD5 runs EAP-Identity and EAP-MD5 (RFC 3748 5.4) as the peer.
func eapMD5(ctx context.Context, c *radius.Client, user, password string) (*radius.EAPResult, error) {
	r, err := c.EAP(ctx, radius.EAPRequest{UserName: user, EAP: eapPacket(2, 0, 1, []byte(user))})
	if err != nil {
		return nil, err
	}
	if r.Code != radius.CodeAccessChallenge || len(r.EAP) < 6 || r.EAP[4] != 4 || int(r.EAP[5]) > len(r.EAP)-6 {
		return nil, errors.New("no EAP-MD5 challenge: " + r.Code.String())
	}
	id, challenge := r.EAP[1], r.EAP[6:6+int(r.EAP[5])]
	h := md5.New()
	h.Write([]byte{id})
	h.Write([]byte(password))
	h.Write(challenge)
	resp := append([]byte{16}, h.Sum(nil)...)
	return c.EAP(ctx, radius.EAPRequest{UserName: user, EAP: eapPacket(2, id, 4, resp), State: r.State})
}

// eapMSCHAPv2 runs EAP-MSCHAPv2 (draft-kamath-pppext-eap-mschapv2, RFC
// 2759) as the peer and returns the server's answer and the MSK the peer
// derives (RFC 3079 3.4, as strongSwan's eap-mschapv2 lays it out).
func eapMSCHAPv2(ctx context.Context, c *radius.Client, user, password string) (*radius.EAPResult, []byte, error) {
	r, err := c.EAP(ctx, radius.EAPRequest{UserName: user, EAP: eapPacket(2, 0, 1, []byte(user))})
	if err != nil {
		return nil, nil, err
	}
	// FreeRADIUS starts with its default type, MD5: ask for MSCHAPv2 (Nak)
	if r.Code == radius.CodeAccessChallenge && len(r.EAP) >= 5 && r.EAP[4] == 4 {
		r, err = c.EAP(ctx, radius.EAPRequest{UserName: user, EAP: eapPacket(2, r.EAP[1], 3, []byte{26}), State: r.State})
		if err != nil {
			return nil, nil, err
		}
	}
	if r.Code != radius.CodeAccessChallenge || len(r.EAP) < 26 || r.EAP[4] != 26 || r.EAP[5] != 1 || r.EAP[9] != 16 {
		return nil, nil, errors.New("no MSCHAPv2 challenge: " + r.Code.String())
	}
	eapID, msID, authChallenge := r.EAP[1], r.EAP[6], r.EAP[10:26]
	peerChallenge := bytes.Repeat([]byte{0x5a}, 16)
	ntHash := ntPasswordHash(password)
	ch := sha1.Sum(append(append(append([]byte(nil), peerChallenge...), authChallenge...), user...))
	ntResponse := challengeResponse(ch[:8], ntHash)
	value := append(append(append(append([]byte(nil), peerChallenge...), make([]byte, 8)...), ntResponse...), 0)
	data := []byte{2, msID, 0, 0, 49}
	data = append(append(data, value...), user...)
	binary.BigEndian.PutUint16(data[2:4], uint16(len(data)))
	r, err = c.EAP(ctx, radius.EAPRequest{UserName: user, EAP: eapPacket(2, eapID, 26, data), State: r.State})
	if err != nil {
		return nil, nil, err
	}
	if r.Code != radius.CodeAccessChallenge {
		return r, nil, nil // Access-Reject for a wrong password
	}
	if len(r.EAP) < 6 || r.EAP[4] != 26 {
		return nil, nil, errors.New("unexpected EAP after the MSCHAPv2 response")
	}
	if r.EAP[5] != 3 { // Failure request: acknowledge it, the server rejects
		r, err = c.EAP(ctx, radius.EAPRequest{UserName: user, EAP: eapPacket(2, r.EAP[1], 26, []byte{4}), State: r.State})
		return r, nil, err
	}
	r, err = c.EAP(ctx, radius.EAPRequest{UserName: user, EAP: eapPacket(2, r.EAP[1], 26, []byte{3}), State: r.State})
	if err != nil {
		return nil, nil, err
	}
	// RFC 3079 3.4
	hh := md4.New()
	hh.Write(ntHash)
	mk := sha1.Sum(append(append(hh.Sum(nil), ntResponse...), "This is the MPPE Master Key"...))
	asym := func(magic string) []byte {
		h := sha1.New()
		h.Write(mk[:16])
		h.Write(make([]byte, 40))
		h.Write([]byte(magic))
		h.Write(bytes.Repeat([]byte{0xf2}, 40))
		return h.Sum(nil)[:16]
	}
	msk := append(asym("On the client side, this is the send key; on the server side, it is the receive key."),
		asym("On the client side, this is the receive key; on the server side, it is the send key.")...)
	return r, append(msk, make([]byte, 32)...), nil
}

func ntPasswordHash(password string) []byte {
	u := utf16.Encode([]rune(password))
	b := make([]byte, 2*len(u))
	for i, v := range u {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	h := md4.New()
	h.Write(b)
	return h.Sum(nil)
}

// challengeResponse is RFC 2759 8.5: three DES encryptions of the challenge
// under the zero-padded 21-octet password hash.
func challengeResponse(challenge, hash []byte) []byte {
	z := append(append([]byte(nil), hash...), make([]byte, 5)...)
	out := make([]byte, 0, 24)
	for i := range 3 {
		k := z[7*i : 7*i+7]
		key := []byte{k[0], k[0]<<7 | k[1]>>1, k[1]<<6 | k[2]>>2, k[2]<<5 | k[3]>>3, k[3]<<4 | k[4]>>4, k[4]<<3 | k[5]>>5, k[5]<<2 | k[6]>>6, k[6] << 1}
		block, err := des.NewCipher(key)
		if err != nil {
			panic(err)
		}
		var dst [8]byte
		block.Encrypt(dst[:], challenge)
		out = append(out, dst[:]...)
	}
	return out
}
