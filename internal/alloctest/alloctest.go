// Package alloctest measures the heap bytes a call allocates and builds the IKE messages that once made the
// parser allocate far more than their size (pre-authentication memory amplification), for the tests and fuzz
// targets that keep that class of bug out: a parser of N bytes of untrusted input must allocate O(N).
package alloctest

import (
	"encoding/binary"
	"runtime"
	"runtime/metrics"
)

// Bytes returns the heap bytes allocated while f ran (runtime.MemStats.TotalAlloc). Other goroutines allocating
// meanwhile are counted too, so callers bound it generously rather than expect an exact figure.
func Bytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Approx is Bytes without stopping the world: 40 times cheaper, for fuzz targets that run it on every input, but it
// counts small objects only when their span leaves the allocating P's cache, so it may miss some of f's and
// include some of earlier calls'. Confirm an excess with Bytes before reporting it.
func Approx(f func()) uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	before := s[0].Value.Uint64()
	f()
	metrics.Read(s)
	return s[0].Value.Uint64() - before
}

// Budget is the allocation a parser or handler may spend on an input of n bytes: a constant for the fixed costs
// (including a responder's key exchange for a well-formed IKE_SA_INIT) plus a linear term that covers the
// parsed form of the densest payloads. Today's parser stays far below it; the Delete bomb exceeded it a
// thousandfold.
func Budget(n int) uint64 { return 1<<20 + 256*uint64(n) }

// Payload is one payload for Message: its type and body.
type Payload struct {
	Type uint8
	Body []byte
}

// Message builds an IKE message with the given exchange type (34 is IKE_SA_INIT), initiator SPI, flags (0x08 is
// the initiator's request) and payload chain, setting every length and Next Payload field.
func Message(exchange uint8, spiI uint64, flags uint8, payloads []Payload) []byte {
	b := make([]byte, 28, 28+len(payloads)*8)
	binary.BigEndian.PutUint64(b[0:8], spiI)
	if len(payloads) > 0 {
		b[16] = payloads[0].Type
	}
	b[17], b[18], b[19] = 0x20, exchange, flags
	for i, p := range payloads {
		next := uint8(0)
		if i+1 < len(payloads) {
			next = payloads[i+1].Type
		}
		b = append(b, next, 0, 0, 0)
		binary.BigEndian.PutUint16(b[len(b)-2:], uint16(4+len(p.Body)))
		b = append(b, p.Body...)
	}
	binary.BigEndian.PutUint32(b[24:28], uint32(len(b)))
	return b
}

// Payload type numbers (RFC 7296 3.2).
const (
	typeSA    = 33
	typeKE    = 34
	typeNonce = 40
	typeD     = 42
	typeTSi   = 44
	typeCP    = 47
)

// DeleteBomb is a Delete payload claiming 65535 SPIs of size zero: 8 octets on the wire that the old parser
// turned into a 65535-entry slice (1.5 MB).
func DeleteBomb() Payload { return Payload{Type: typeD, Body: []byte{1, 0, 0xff, 0xff}} }

// InitWith is a well-formed-looking IKE_SA_INIT request (SA, KE, Ni) from initiator SPI spiI with extra payloads
// inserted before the nonce, padded with extra copies of pad until the message reaches size octets.
func InitWith(spiI uint64, size int, pad Payload) []byte {
	sa := []byte{ // one IKE proposal: AES-CBC-128, HMAC-SHA2-256-128, PRF-HMAC-SHA2-256, MODP-2048
		0, 0, 0, 44, 1, 1, 0, 4,
		3, 0, 0, 12, 1, 0, 0, 12, 0x80, 0x0e, 0, 128,
		3, 0, 0, 8, 2, 0, 0, 5,
		3, 0, 0, 8, 3, 0, 0, 12,
		0, 0, 0, 8, 4, 0, 0, 14,
	}
	ke := make([]byte, 4+256)
	ke[1] = 14
	ke[len(ke)-1] = 2
	nonce := make([]byte, 32)
	for i := range nonce {
		nonce[i] = byte(i + 1)
	}
	fixed := []Payload{{typeSA, sa}, {typeKE, ke}, {typeNonce, nonce}}
	n := 28
	for _, p := range fixed {
		n += 4 + len(p.Body)
	}
	var extra []Payload
	for n+4+len(pad.Body) <= size {
		extra = append(extra, pad)
		n += 4 + len(pad.Body)
	}
	return Message(34, spiI, 0x08, append(append(fixed[:2:2], extra...), fixed[2]))
}

// Amplifiers returns IKE_SA_INIT requests of about size octets, each stuffed with one kind of payload whose parsed
// form could outgrow the wire form: the Delete bomb, empty unknown payloads, Delete payloads of ESP SPIs,
// traffic selectors of four octets, configuration attributes of four octets, and an SA of minimal transforms full
// of empty attributes.
func Amplifiers(size int) map[string][]byte {
	ts := []byte{255, 0, 0, 0}
	for range 255 {
		ts = append(ts, 99, 0, 0, 4) // unknown TS type, no body
	}
	cp := []byte{1, 0, 0, 0}
	for range 250 {
		cp = append(cp, 0, 1, 0, 0)
	}
	del := []byte{3, 4, 0, 250} // ESP, 250 SPIs
	del = append(del, make([]byte, 1000)...)
	// One proposal with 255 transforms of 8 octets, the last full of 4-octet TLV attributes.
	tr := []byte{}
	for i := range 255 {
		last := uint8(3)
		if i == 254 {
			last = 0
		}
		tr = append(tr, last, 0, 0, 8, 1, 0, 0, 12)
	}
	attrs := make([]byte, 0, 4000)
	for range 1000 {
		attrs = append(attrs, 0, 1, 0, 0)
	}
	tlen := 8 + len(attrs)
	tr[len(tr)-8+2], tr[len(tr)-8+3] = byte(tlen>>8), byte(tlen)
	tr = append(tr, attrs...)
	plen := 8 + len(tr)
	sa := append([]byte{0, 0, byte(plen >> 8), byte(plen), 1, 1, 0, 255}, tr...)
	return map[string][]byte{
		"delete-bomb":   InitWith(1, size, DeleteBomb()),
		"empty-unknown": InitWith(2, size, Payload{Type: 200}),
		"delete-esp":    InitWith(3, size, Payload{Type: typeD, Body: del}),
		"ts-minimal":    InitWith(4, size, Payload{Type: typeTSi, Body: ts}),
		"cp-minimal":    InitWith(5, size, Payload{Type: typeCP, Body: cp}),
		"sa-transforms": InitWith(6, size, Payload{Type: typeSA, Body: sa}),
	}
}
