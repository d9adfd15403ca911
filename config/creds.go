package config

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The credential folders swanctl reads, beside swanctl.conf.
const (
	DirX509    = "x509"    // end-entity certificates (certs = ...)
	DirX509CA  = "x509ca"  // CA certificates (cacerts = ..., authorities)
	DirPubkey  = "pubkey"  // raw public keys (pubkeys = ...)
	DirPrivate = "private" // private keys of any type
	DirRSA     = "rsa"     // RSA private keys
	DirECDSA   = "ecdsa"   // ECDSA private keys
	DirPKCS8   = "pkcs8"   // PKCS#8 private keys
)

// Folders swanctl reads that cygnet has no use for yet; files in them are
// reported rather than ignored.
var unsupportedDirs = []struct{ dir, what string }{
	{"x509aa", "attribute authority certificates"},
	{"x509ac", "attribute certificates"},
	{"x509crl", "CRLs"},
	{"x509ocsp", "OCSP signer certificates"},
	{"pkcs12", "PKCS#12 containers"},
}

// Cert is an X.509 certificate named in the configuration or found in a
// credential folder.
type Cert struct {
	// Name is the file name as written (or the folder entry), Path the
	// resolved path ("" for an inline 0x/0s blob).
	Name string
	Path string
	Pos  Pos
	X509 *x509.Certificate
}

// PublicKey is a raw public key (pubkeys = ..., pubkey/ folder).
type PublicKey struct {
	Name string
	Path string
	Pos  Pos
	Key  crypto.PublicKey
}

// PrivateKey is a private key from private/, rsa/, ecdsa/ or pkcs8/. It
// never prints its key material: every fmt verb writes its path.
type PrivateKey struct {
	Path string
	// Signer is an *rsa.PrivateKey, *ecdsa.PrivateKey or ed25519.PrivateKey.
	Signer crypto.Signer
}

// String names the key by its file.
func (k *PrivateKey) String() string { return "private key " + k.Path }

// Format writes the same as String for every verb.
func (k *PrivateKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// Credentials is what the credential folders hold.
type Credentials struct {
	Certs       []*Cert
	CACerts     []*Cert
	Pubkeys     []*PublicKey
	PrivateKeys []*PrivateKey
}

// PrivateKeyFor returns the private key matching pub, or nil.
func (c *Credentials) PrivateKeyFor(pub crypto.PublicKey) *PrivateKey {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	for _, k := range c.PrivateKeys {
		if e, ok := k.Signer.Public().(equaler); ok && e.Equal(pub) {
			return k
		}
	}
	return nil
}

// credLoader reads credential files once each and reports problems.
type credLoader struct {
	dir      string // folder of the configuration file
	problems *Problems
	certs    map[string]*x509.Certificate
	certErr  map[string]error
}

func newCredLoader(dir string, problems *Problems) *credLoader {
	return &credLoader{dir: dir, problems: problems, certs: map[string]*x509.Certificate{}, certErr: map[string]error{}}
}

// resolve finds a credential file the way swanctl does: absolute paths as
// they are, others in the folder sub beside the configuration file.
func (l *credLoader) resolve(sub, name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(l.dir, sub, name)
}

// inlineBlob decodes "0x<hex>" and "0s<base64>" values, which swanctl
// accepts in place of a file name.
func inlineBlob(s string) ([]byte, bool, error) {
	if len(s) < 2 || s[0] != '0' {
		return nil, false, nil
	}
	switch s[1] {
	case 'x', 'X':
		b, err := hex.DecodeString(s[2:])
		if err != nil {
			return nil, true, fmt.Errorf("invalid hex: %w", err)
		}
		return b, true, nil
	case 's', 'S':
		b, err := base64.StdEncoding.DecodeString(s[2:])
		if err != nil {
			return nil, true, fmt.Errorf("invalid base64: %w", err)
		}
		return b, true, nil
	}
	return nil, false, nil
}

// readCredFile reads a credential file, with errors that say what is wrong
// without repeating the path.
func readCredFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errors.New("no such file")
		}
		return nil, unwrapPathError(err)
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	return b, nil
}

// cert loads a certificate named in the configuration (certs, cacerts,
// authorities.*.cacert) from folder sub.
func (l *credLoader) cert(sub, name string, pos Pos, path string) *Cert {
	c := &Cert{Name: name, Pos: pos}
	data, inline, err := inlineBlob(name)
	if err != nil {
		l.problems.add(pos, "%s: %v", path, err)
		return nil
	}
	if !inline {
		c.Path = l.resolve(sub, name)
		if x, ok := l.certs[c.Path]; ok {
			c.X509 = x
			return c
		}
		if err, ok := l.certErr[c.Path]; ok {
			l.problems.add(pos, "%s: certificate %s: %v", path, c.Path, err)
			return nil
		}
		data, err = readCredFile(c.Path)
		if err != nil {
			l.certErr[c.Path] = err
			l.problems.add(pos, "%s: certificate %s: %v", path, c.Path, err)
			return nil
		}
	}
	x, err := parseCertificate(data)
	if err != nil {
		if c.Path != "" {
			l.certErr[c.Path] = err
			l.problems.add(pos, "%s: certificate %s: %v", path, c.Path, err)
		} else {
			l.problems.add(pos, "%s: inline certificate: %v", path, err)
		}
		return nil
	}
	if c.Path != "" {
		l.certs[c.Path] = x
	}
	c.X509 = x
	return c
}

// pubkey loads a raw public key named in pubkeys = ... from pubkey/.
func (l *credLoader) pubkey(name string, pos Pos, path string) *PublicKey {
	k := &PublicKey{Name: name, Pos: pos}
	data, inline, err := inlineBlob(name)
	if err != nil {
		l.problems.add(pos, "%s: %v", path, err)
		return nil
	}
	if !inline {
		k.Path = l.resolve(DirPubkey, name)
		if data, err = readCredFile(k.Path); err != nil {
			l.problems.add(pos, "%s: public key %s: %v", path, k.Path, err)
			return nil
		}
	}
	if k.Key, err = parsePublicKey(data); err != nil {
		where := k.Path
		if where == "" {
			where = "(inline)"
		}
		l.problems.add(pos, "%s: public key %s: %v", path, where, err)
		return nil
	}
	return k
}

// folder lists the regular files of one credential folder, sorted; a
// missing folder is empty.
func (l *credLoader) folder(sub string) []string {
	dir := filepath.Join(l.dir, sub)
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			l.problems.add(Pos{File: dir}, "cannot read credential folder: %v", unwrapPathError(err))
		}
		return nil
	}
	var files []string
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		st, err := os.Stat(p)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		files = append(files, p)
	}
	sort.Strings(files)
	return files
}

// folders loads every credential folder the way swanctl --load-creds does.
func (l *credLoader) folders(creds *Credentials) {
	for _, sub := range []string{DirX509, DirX509CA} {
		for _, p := range l.folder(sub) {
			data, err := readCredFile(p)
			var x *x509.Certificate
			if err == nil {
				x, err = parseCertificate(data)
			}
			if err != nil {
				l.problems.add(Pos{File: p}, "certificate: %v", err)
				continue
			}
			l.certs[p] = x
			c := &Cert{Name: filepath.Base(p), Path: p, Pos: Pos{File: p}, X509: x}
			if sub == DirX509 {
				creds.Certs = append(creds.Certs, c)
			} else {
				creds.CACerts = append(creds.CACerts, c)
			}
		}
	}
	for _, p := range l.folder(DirPubkey) {
		data, err := readCredFile(p)
		var k crypto.PublicKey
		if err == nil {
			k, err = parsePublicKey(data)
		}
		if err != nil {
			l.problems.add(Pos{File: p}, "public key: %v", err)
			continue
		}
		creds.Pubkeys = append(creds.Pubkeys, &PublicKey{Name: filepath.Base(p), Path: p, Pos: Pos{File: p}, Key: k})
	}
	for _, sub := range []string{DirPrivate, DirRSA, DirECDSA, DirPKCS8} {
		for _, p := range l.folder(sub) {
			data, err := readCredFile(p)
			var k crypto.Signer
			if err == nil {
				k, err = parsePrivateKey(sub, data)
			}
			if err != nil {
				l.problems.add(Pos{File: p}, "private key: %v", err)
				continue
			}
			creds.PrivateKeys = append(creds.PrivateKeys, &PrivateKey{Path: p, Signer: k})
		}
	}
	for _, u := range unsupportedDirs {
		for _, p := range l.folder(u.dir) {
			l.problems.add(Pos{File: p}, "%s (%s/) are not supported by cygnet", u.what, u.dir)
		}
	}
}

// pemBlocks returns the PEM blocks in data, or nil when data is not PEM.
func pemBlocks(data []byte) []*pem.Block {
	var blocks []*pem.Block
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return blocks
		}
		blocks = append(blocks, b)
	}
}

func isPEM(data []byte) bool { return bytes.Contains(data, []byte("-----BEGIN ")) }

// parseCertificate reads a PEM or DER X.509 certificate (the first one of a
// PEM file).
func parseCertificate(data []byte) (*x509.Certificate, error) {
	if isPEM(data) {
		for _, b := range pemBlocks(data) {
			if b.Type == "CERTIFICATE" || b.Type == "X509 CERTIFICATE" {
				c, err := x509.ParseCertificate(b.Bytes)
				if err != nil {
					return nil, fmt.Errorf("not a valid X.509 certificate: %w", err)
				}
				return c, nil
			}
		}
		return nil, errors.New("no CERTIFICATE block in PEM file")
	}
	c, err := x509.ParseCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("neither PEM nor a valid DER X.509 certificate: %w", err)
	}
	return c, nil
}

// parsePublicKey reads a PEM or DER public key: SubjectPublicKeyInfo or
// PKCS#1 RSA, or the key of a certificate.
func parsePublicKey(data []byte) (crypto.PublicKey, error) {
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("ssh-")) {
		return nil, errors.New("SSH public keys are not supported by cygnet; convert to PEM (ssh-keygen -e -m PKCS8)")
	}
	der := [][]byte{data}
	if isPEM(data) {
		der = nil
		for _, b := range pemBlocks(data) {
			switch b.Type {
			case "PUBLIC KEY", "RSA PUBLIC KEY":
				der = append(der, b.Bytes)
			case "CERTIFICATE":
				c, err := x509.ParseCertificate(b.Bytes)
				if err != nil {
					return nil, fmt.Errorf("not a valid X.509 certificate: %w", err)
				}
				return c.PublicKey, nil
			}
		}
		if len(der) == 0 {
			return nil, errors.New("no PUBLIC KEY block in PEM file")
		}
	}
	if k, err := x509.ParsePKIXPublicKey(der[0]); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PublicKey(der[0]); err == nil {
		return k, nil
	}
	return nil, errors.New("not a valid public key (PKIX or PKCS#1)")
}

// parsePrivateKey reads a PEM or DER private key: PKCS#1 RSA, SEC1 EC or
// PKCS#8 (RSA, ECDSA, Ed25519). Encrypted keys are refused.
func parsePrivateKey(kind string, data []byte) (crypto.Signer, error) {
	der := data
	if isPEM(data) {
		der = nil
		for _, b := range pemBlocks(data) {
			if b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] != "" {
				return nil, errors.New("encrypted private keys are not supported by cygnet; store it decrypted (openssl pkey -in KEY -out KEY.dec) with mode 0600")
			}
			if strings.HasSuffix(b.Type, "PRIVATE KEY") {
				der = b.Bytes
				break
			}
		}
		if der == nil {
			return nil, errors.New("no PRIVATE KEY block in PEM file")
		}
	}
	var key any
	var err error
	if key, err = x509.ParsePKCS8PrivateKey(der); err != nil {
		if key, err = x509.ParsePKCS1PrivateKey(der); err != nil {
			if key, err = x509.ParseECPrivateKey(der); err != nil {
				return nil, errors.New("not a valid private key (PKCS#1, SEC1 or PKCS#8)")
			}
		}
	}
	var s crypto.Signer
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if kind == DirECDSA {
			return nil, errors.New("RSA key in the ecdsa/ folder")
		}
		s = k
	case *ecdsa.PrivateKey:
		if kind == DirRSA {
			return nil, errors.New("ECDSA key in the rsa/ folder")
		}
		s = k
	case ed25519.PrivateKey:
		if kind == DirRSA || kind == DirECDSA {
			return nil, fmt.Errorf("Ed25519 key in the %s/ folder", kind)
		}
		s = k
	default:
		return nil, fmt.Errorf("private key type %T is not supported by cygnet", key)
	}
	return s, nil
}
