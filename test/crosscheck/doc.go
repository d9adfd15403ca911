// Package crosscheck holds tests only: independent cross-checks of cygnet's
// ESP and AH engines against scapy's IPsec layer (scapy.layers.ipsec), in
// both directions and with real bytes. cygnet seals and scapy decrypts or
// verifies, and scapy encrypts or signs and cygnet opens; the inner packets
// must come back byte for byte, and a flipped octet must be refused.
//
// The tests need Debian's python3-scapy, imported by /usr/bin/python3; they
// skip when it is missing (CYGNET_REQUIRE_SCAPY=1 turns the skip into a
// failure). One Python process (scapy_ipsec.py) serves each
// test over JSON lines.
package crosscheck
