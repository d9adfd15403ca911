package daemon

import (
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/cygnet-ipsec/cygnet/iana"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ipsec"
)

// keylog writes the SAs' keys in the files Wireshark reads from its
// configuration folder (cygnet daemon --keylog DIR, then tshark with
// WIRESHARK_CONFIG_DIR=DIR): ikev2_decryption_table for IKE SAs, esp_sa for
// ESP SAs. Wireshark has no key table for AH (it shows AH packets without
// checking their ICV), so AH SAs go to a third file of cygnet's own, ah_sa,
// one CSV line per SA in esp_sa's manner: family, source, destination, SPI,
// the IKEv2 integrity transform name and the key (for scripts and the
// scapy cross-check). All are rewritten whole, mode 0600, as SAs come and
// go, so they hold the keys of the SAs that exist now. It is for debugging:
// anyone who reads the files can decrypt or forge the traffic.
type keylog struct {
	dir string
	log *slog.Logger
	mu  sync.Mutex
	ike map[uint32]string       // IKE SA unique id -> its line
	esp map[*ike.ChildSA]string // ESP Child SA -> its two lines
	ah  map[*ike.ChildSA]string // AH Child SA -> its two lines
}

func newKeylog(dir string, log *slog.Logger) (*keylog, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keylog: %w", err)
	}
	k := &keylog{dir: dir, log: log, ike: map[uint32]string{}, esp: map[*ike.ChildSA]string{}, ah: map[*ike.ChildSA]string{}}
	log.Warn("writing IKE and ESP keys for Wireshark; anyone who reads them can decrypt the traffic", "dir", dir)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.writeLocked(); err != nil {
		return nil, err
	}
	return k, nil
}

// Wireshark's names for IKEv2 algorithms (its ikev2_decryption_table).
func wiresharkIKEEncr(id uint16, bits int) string {
	switch id {
	case 3:
		return "3DES [RFC2451]"
	case 11:
		return "NULL [RFC2410]"
	case 12:
		return fmt.Sprintf("AES-CBC-%d [RFC3602]", bits)
	case 13:
		return fmt.Sprintf("AES-CTR-%d [RFC5930]", bits)
	case 14, 15, 16:
		return fmt.Sprintf("AES-CCM-%d with %d octet ICV [RFC5282]", bits, map[uint16]int{14: 8, 15: 12, 16: 16}[id])
	case 18, 19, 20:
		return fmt.Sprintf("AES-GCM-%d with %d octet ICV [RFC5282]", bits, map[uint16]int{18: 8, 19: 12, 20: 16}[id])
	}
	return ""
}

func wiresharkIKEInteg(id uint16) string {
	switch id {
	case 0:
		return "NONE [RFC4306]"
	case 1:
		return "HMAC_MD5_96 [RFC2403]"
	case 2:
		return "HMAC_SHA1_96 [RFC2404]"
	case 12:
		return "HMAC_SHA2_256_128 [RFC4868]"
	case 13:
		return "HMAC_SHA2_384_192 [RFC4868]"
	case 14:
		return "HMAC_SHA2_512_256 [RFC4868]"
	}
	return ""
}

// Wireshark's names for ESP algorithms (its esp_sa table).
func wiresharkESP(encr, integ uint16) (enc, auth string) {
	switch encr {
	case 11:
		enc = "NULL"
	case 3:
		enc = "TripleDes-CBC [RFC2451]"
	case 12:
		enc = "AES-CBC [RFC3602]"
	case 13:
		enc = "AES-CTR [RFC3686]"
	case 18, 19, 20:
		// the ICV length in the name; NULL integrity (the ICV is GCM's tag)
		return fmt.Sprintf("AES-GCM with %d octet ICV [RFC4106]", map[uint16]int{18: 8, 19: 12, 20: 16}[encr]), "NULL"
	default:
		return "", ""
	}
	switch integ {
	case 0:
		auth = "NULL"
	case 1:
		auth = "HMAC-MD5-96 [RFC2403]"
	case 2:
		auth = "HMAC-SHA-1-96 [RFC2404]"
	case 12:
		auth = "HMAC-SHA-256-128 [RFC4868]"
	case 13:
		auth = "HMAC-SHA-384-192 [RFC4868]"
	case 14:
		auth = "HMAC-SHA-512-256 [RFC4868]"
	case 5, 8:
		// Wireshark has no AES-XCBC or AES-CMAC; it still decrypts
		// with the ICV's length, without checking it
		auth = "ANY 96 bit authentication [no checking]"
	default:
		return "", ""
	}
	return enc, auth
}

// installChild records a Child SA's keys; it runs before the Installer
// copies them into the SAD and wipes them.
func (k *keylog) installChild(c *ike.ChildSA) {
	if c.Protocol == ipsec.ProtoAH {
		k.installAH(c)
		return
	}
	enc, auth := wiresharkESP(c.Encr, c.Integ)
	if enc == "" {
		k.log.Warn("keylog: Wireshark cannot decrypt this Child SA's algorithms", "child", c.Name, "spi_in", fmt.Sprintf("%08x", c.SPIIn))
		return
	}
	fam := "IPv4"
	if c.Local.Addr().Is6() {
		fam = "IPv6"
	}
	line := func(src, dst string, spi uint32, ek, ak []byte) string {
		return fmt.Sprintf("\"%s\",\"%s\",\"%s\",\"0x%08x\",\"%s\",\"0x%s\",\"%s\",\"0x%s\"\n",
			fam, src, dst, spi, enc, hex.EncodeToString(ek), auth, hex.EncodeToString(ak))
	}
	l, r := c.Local.Addr().Unmap().String(), c.Remote.Addr().Unmap().String()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.esp[c] = line(l, r, c.SPIOut, c.EncrKeyOut, c.IntegKeyOut) + line(r, l, c.SPIIn, c.EncrKeyIn, c.IntegKeyIn)
	k.write()
}

// installAH records an AH Child SA's integrity keys in ah_sa.
func (k *keylog) installAH(c *ike.ChildSA) {
	fam := "IPv4"
	if c.Local.Addr().Is6() {
		fam = "IPv6"
	}
	alg := iana.IntegID(c.Integ).String()
	line := func(src, dst string, spi uint32, ak []byte) string {
		return fmt.Sprintf("\"%s\",\"%s\",\"%s\",\"0x%08x\",\"%s\",\"0x%s\"\n", fam, src, dst, spi, alg, hex.EncodeToString(ak))
	}
	l, r := c.Local.Addr().Unmap().String(), c.Remote.Addr().Unmap().String()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ah[c] = line(l, r, c.SPIOut, c.IntegKeyOut) + line(r, l, c.SPIIn, c.IntegKeyIn)
	k.write()
}

func (k *keylog) deleteChild(c *ike.ChildSA) {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, e := k.esp[c]
	_, a := k.ah[c]
	if e || a {
		delete(k.esp, c)
		delete(k.ah, c)
		k.write()
	}
}

// syncIKE brings the IKE table in line with the IKE SAs that have keys now
// (called after every step of the event loop; it writes only on change).
func (k *keylog) syncIKE(sas []*ike.IKESA) {
	k.mu.Lock()
	defer k.mu.Unlock()
	seen := make(map[uint32]bool, len(sas))
	changed := false
	for _, sa := range sas {
		keys := sa.Keys()
		if keys == nil {
			continue
		}
		seen[sa.UniqueID] = true
		if _, ok := k.ike[sa.UniqueID]; ok {
			continue
		}
		s := sa.Suite()
		enc, integ := wiresharkIKEEncr(s.Encr, s.EncrKeyBits), wiresharkIKEInteg(s.Integ)
		if enc == "" || integ == "" {
			k.ike[sa.UniqueID] = ""
			continue
		}
		var ei, er, ai, ar string
		keys.RevealKeys(func(label string, b []byte) {
			switch label {
			case "SK_ei":
				ei = hex.EncodeToString(b)
			case "SK_er":
				er = hex.EncodeToString(b)
			case "SK_ai":
				ai = hex.EncodeToString(b)
			case "SK_ar":
				ar = hex.EncodeToString(b)
			}
		})
		k.ike[sa.UniqueID] = fmt.Sprintf("%016x,%016x,%s,%s,\"%s\",%s,%s,\"%s\"\n", sa.SPIi, sa.SPIr, ei, er, enc, ai, ar, integ)
		changed = true
	}
	for id := range k.ike {
		if !seen[id] {
			delete(k.ike, id)
			changed = true
		}
	}
	if changed {
		k.write()
	}
}

func (k *keylog) write() {
	if err := k.writeLocked(); err != nil {
		k.log.Warn("keylog: writing the key tables failed", "err", err)
	}
}

// writeLocked replaces the files atomically (a reader never sees half a
// table), mode 0600.
func (k *keylog) writeLocked() error {
	var ikeLines, espLines, ahLines []string
	for _, l := range k.ike {
		if l != "" {
			ikeLines = append(ikeLines, l)
		}
	}
	for _, l := range k.esp {
		espLines = append(espLines, l)
	}
	for _, l := range k.ah {
		ahLines = append(ahLines, l)
	}
	sort.Strings(ikeLines)
	sort.Strings(espLines)
	sort.Strings(ahLines)
	for name, lines := range map[string][]string{"ikev2_decryption_table": ikeLines, "esp_sa": espLines, "ah_sa": ahLines} {
		tmp, err := os.CreateTemp(k.dir, "."+name+"-*")
		if err != nil {
			return fmt.Errorf("keylog: %w", err)
		}
		_, werr := tmp.WriteString(strings.Join(lines, ""))
		if cerr := tmp.Close(); werr == nil {
			werr = cerr
		}
		if werr == nil {
			werr = os.Chmod(tmp.Name(), 0o600)
		}
		if werr == nil {
			werr = os.Rename(tmp.Name(), filepath.Join(k.dir, name))
		}
		if werr != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("keylog: %s: %w", name, werr)
		}
	}
	return nil
}
