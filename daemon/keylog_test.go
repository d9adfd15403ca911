package daemon

import (
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ipsec"
)

func TestKeylogESPTable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	k, err := newKeylog(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c := &ike.ChildSA{
		Name: "net", Protocol: ipsec.ProtoESP, SPIIn: 0xc0000001, SPIOut: 0x00000abc, Encr: 12, EncrKeyBits: 128, Integ: 12,
		EncrKeyIn: []byte{1, 2}, IntegKeyIn: []byte{3}, EncrKeyOut: []byte{4}, IntegKeyOut: []byte{5, 6},
		Local: netip.MustParseAddrPort("10.0.0.1:4500"), Remote: netip.MustParseAddrPort("10.0.0.2:4500"),
	}
	k.installChild(c)
	b, err := os.ReadFile(filepath.Join(dir, "esp_sa"))
	if err != nil {
		t.Fatal(err)
	}
	want := `"IPv4","10.0.0.1","10.0.0.2","0x00000abc","AES-CBC [RFC3602]","0x04","HMAC-SHA-256-128 [RFC4868]","0x0506"` + "\n" +
		`"IPv4","10.0.0.2","10.0.0.1","0xc0000001","AES-CBC [RFC3602]","0x0102","HMAC-SHA-256-128 [RFC4868]","0x03"` + "\n"
	if string(b) != want {
		t.Errorf("esp_sa:\n%s\nwant\n%s", b, want)
	}
	for _, name := range []string{"esp_sa", "ikev2_decryption_table"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v mode %v", name, err, fi.Mode().Perm())
		}
	}
	k.deleteChild(c)
	if b, _ := os.ReadFile(filepath.Join(dir, "esp_sa")); len(b) != 0 {
		t.Errorf("esp_sa after the Child SA went: %q", b)
	}
	if enc, auth := wiresharkESP(20, 0); enc != "AES-GCM with 16 octet ICV [RFC4106]" || auth != "NULL" {
		t.Errorf("GCM-16: %q %q", enc, auth)
	}
	if enc, _ := wiresharkESP(28, 0); enc != "" {
		t.Errorf("ChaCha20-Poly1305 named %q; the key log leaves out SAs it has no Wireshark name for", enc)
	}
	if got := wiresharkIKEEncr(20, 256); got != "AES-GCM-256 with 16 octet ICV [RFC5282]" {
		t.Errorf("IKE GCM-16/256: %q", got)
	}
}

// TestKeylogAHTable: AH SAs go to ah_sa (Wireshark has no AH key table),
// one line per direction with the IKEv2 integrity name and the key, and
// leave it with their Child SA.
func TestKeylogAHTable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	k, err := newKeylog(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c := &ike.ChildSA{
		Name: "net", Protocol: ipsec.ProtoAH, SPIIn: 0xc0000001, SPIOut: 0x00000abc, Integ: 12,
		IntegKeyIn: []byte{3}, IntegKeyOut: []byte{5, 6},
		Local: netip.MustParseAddrPort("[2001:db8::1]:500"), Remote: netip.MustParseAddrPort("[2001:db8::2]:500"),
	}
	k.installChild(c)
	b, err := os.ReadFile(filepath.Join(dir, "ah_sa"))
	if err != nil {
		t.Fatal(err)
	}
	want := `"IPv6","2001:db8::1","2001:db8::2","0x00000abc","AUTH_HMAC_SHA2_256_128","0x0506"` + "\n" +
		`"IPv6","2001:db8::2","2001:db8::1","0xc0000001","AUTH_HMAC_SHA2_256_128","0x03"` + "\n"
	if string(b) != want {
		t.Errorf("ah_sa:\n%s\nwant\n%s", b, want)
	}
	if esp, _ := os.ReadFile(filepath.Join(dir, "esp_sa")); len(esp) != 0 {
		t.Errorf("an AH SA in esp_sa: %q", esp)
	}
	if fi, err := os.Stat(filepath.Join(dir, "ah_sa")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("ah_sa: %v", err)
	}
	k.deleteChild(c)
	if b, _ := os.ReadFile(filepath.Join(dir, "ah_sa")); len(b) != 0 {
		t.Errorf("ah_sa after the Child SA went: %q", b)
	}
	if enc, auth := wiresharkESP(12, 8); enc != "AES-CBC [RFC3602]" || auth != "ANY 96 bit authentication [no checking]" {
		t.Errorf("AES-CBC with AES-CMAC-96: %q %q", enc, auth)
	}
}
