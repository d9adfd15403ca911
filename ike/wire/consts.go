package wire

import "strconv"

// ExchangeType is the IKE header's Exchange Type (IANA "IKEv2 Exchange Types").
type ExchangeType uint8

// Exchange types.
const (
	IKE_SA_INIT        ExchangeType = 34
	IKE_AUTH           ExchangeType = 35
	CREATE_CHILD_SA    ExchangeType = 36
	INFORMATIONAL      ExchangeType = 37
	IKE_SESSION_RESUME ExchangeType = 38 // RFC 5723
	GSA_AUTH           ExchangeType = 39
	GSA_REGISTRATION   ExchangeType = 40
	GSA_REKEY          ExchangeType = 41
	GSA_INBAND_REKEY   ExchangeType = 42
	IKE_INTERMEDIATE   ExchangeType = 43 // RFC 9242
	IKE_FOLLOWUP_KE    ExchangeType = 44 // RFC 9370
)

var exchangeNames = map[ExchangeType]string{
	IKE_SA_INIT:        "IKE_SA_INIT",
	IKE_AUTH:           "IKE_AUTH",
	CREATE_CHILD_SA:    "CREATE_CHILD_SA",
	INFORMATIONAL:      "INFORMATIONAL",
	IKE_SESSION_RESUME: "IKE_SESSION_RESUME",
	GSA_AUTH:           "GSA_AUTH",
	GSA_REGISTRATION:   "GSA_REGISTRATION",
	GSA_REKEY:          "GSA_REKEY",
	GSA_INBAND_REKEY:   "GSA_INBAND_REKEY",
	IKE_INTERMEDIATE:   "IKE_INTERMEDIATE",
	IKE_FOLLOWUP_KE:    "IKE_FOLLOWUP_KE",
}

func (e ExchangeType) String() string { return name(exchangeNames, e, "EXCHANGE") }

// Flags are the IKE header flags (RFC 7296 3.1).
type Flags uint8

// Header flag bits. Bits other than these are kept as received but carry no meaning.
const (
	FlagInitiator Flags = 0x08 // I: sent by the original initiator of the IKE SA
	FlagVersion   Flags = 0x10 // V: sender can speak a higher major version
	FlagResponse  Flags = 0x20 // R: this message is a response
)

func (f Flags) String() string {
	s := ""
	for _, b := range []struct {
		f Flags
		n string
	}{{FlagInitiator, "I"}, {FlagVersion, "V"}, {FlagResponse, "R"}} {
		if f&b.f != 0 {
			s += b.n
		}
	}
	if rest := f &^ (FlagInitiator | FlagVersion | FlagResponse); rest != 0 {
		s += "+0x" + strconv.FormatUint(uint64(rest), 16)
	}
	return s
}

// PayloadType is a Next Payload value (IANA "IKEv2 Payload Types").
type PayloadType uint8

// Payload types.
const (
	PayloadNone    PayloadType = 0  // no next payload
	PayloadSA      PayloadType = 33 // Security Association
	PayloadKE      PayloadType = 34 // Key Exchange
	PayloadIDi     PayloadType = 35 // Identification - Initiator
	PayloadIDr     PayloadType = 36 // Identification - Responder
	PayloadCERT    PayloadType = 37 // Certificate
	PayloadCERTREQ PayloadType = 38 // Certificate Request
	PayloadAUTH    PayloadType = 39 // Authentication
	PayloadNonce   PayloadType = 40 // Nonce (Ni, Nr)
	PayloadN       PayloadType = 41 // Notify
	PayloadD       PayloadType = 42 // Delete
	PayloadV       PayloadType = 43 // Vendor ID
	PayloadTSi     PayloadType = 44 // Traffic Selector - Initiator
	PayloadTSr     PayloadType = 45 // Traffic Selector - Responder
	PayloadSK      PayloadType = 46 // Encrypted and Authenticated
	PayloadCP      PayloadType = 47 // Configuration
	PayloadEAP     PayloadType = 48 // Extensible Authentication
	PayloadGSPM    PayloadType = 49 // Generic Secure Password Methods (RFC 6467)
	PayloadIDg     PayloadType = 50 // Group Identification
	PayloadGSA     PayloadType = 51 // Group Security Association
	PayloadKD      PayloadType = 52 // Key Download
	PayloadSKF     PayloadType = 53 // Encrypted and Authenticated Fragment (RFC 7383)
	PayloadPS      PayloadType = 54 // Puzzle Solution (RFC 8019)
)

var payloadNames = map[PayloadType]string{
	PayloadNone: "NONE", PayloadSA: "SA", PayloadKE: "KE", PayloadIDi: "IDi", PayloadIDr: "IDr",
	PayloadCERT: "CERT", PayloadCERTREQ: "CERTREQ", PayloadAUTH: "AUTH", PayloadNonce: "No",
	PayloadN: "N", PayloadD: "D", PayloadV: "V", PayloadTSi: "TSi", PayloadTSr: "TSr",
	PayloadSK: "SK", PayloadCP: "CP", PayloadEAP: "EAP", PayloadGSPM: "GSPM", PayloadIDg: "IDg",
	PayloadGSA: "GSA", PayloadKD: "KD", PayloadSKF: "SKF", PayloadPS: "PS",
}

func (p PayloadType) String() string { return name(payloadNames, p, "PAYLOAD") }

// ProtocolID identifies the protocol of a proposal, notification or delete (IANA "IKEv2 Security Protocol Identifiers").
type ProtocolID uint8

// Security protocol identifiers.
const (
	ProtocolNone               ProtocolID = 0
	ProtocolIKE                ProtocolID = 1
	ProtocolAH                 ProtocolID = 2
	ProtocolESP                ProtocolID = 3
	ProtocolFCESPHeader        ProtocolID = 4 // RFC 4595
	ProtocolFCCTAuthentication ProtocolID = 5 // RFC 4595
)

var protocolNames = map[ProtocolID]string{
	ProtocolNone: "NONE", ProtocolIKE: "IKE", ProtocolAH: "AH", ProtocolESP: "ESP",
	ProtocolFCESPHeader: "FC_ESP_HEADER", ProtocolFCCTAuthentication: "FC_CT_AUTHENTICATION",
}

func (p ProtocolID) String() string { return name(protocolNames, p, "PROTOCOL") }

// TransformType is a transform's type (IANA "Transform Type Values").
type TransformType uint8

// Transform types.
const (
	TransformENCR   TransformType = 1 // Encryption Algorithm
	TransformPRF    TransformType = 2 // Pseudorandom Function
	TransformINTEG  TransformType = 3 // Integrity Algorithm
	TransformKE     TransformType = 4 // Key Exchange Method (formerly Diffie-Hellman Group)
	TransformESN    TransformType = 5 // Extended Sequence Numbers
	TransformADDKE1 TransformType = 6 // Additional Key Exchange 1 (RFC 9370)
	TransformADDKE2 TransformType = 7
	TransformADDKE3 TransformType = 8
	TransformADDKE4 TransformType = 9
	TransformADDKE5 TransformType = 10
	TransformADDKE6 TransformType = 11
	TransformADDKE7 TransformType = 12
)

// TransformDH is the RFC 7296 name of TransformKE.
const TransformDH = TransformKE

var transformTypeNames = map[TransformType]string{
	TransformENCR: "ENCR", TransformPRF: "PRF", TransformINTEG: "INTEG", TransformKE: "KE", TransformESN: "ESN",
	TransformADDKE1: "ADDKE1", TransformADDKE2: "ADDKE2", TransformADDKE3: "ADDKE3", TransformADDKE4: "ADDKE4",
	TransformADDKE5: "ADDKE5", TransformADDKE6: "ADDKE6", TransformADDKE7: "ADDKE7",
}

func (t TransformType) String() string { return name(transformTypeNames, t, "TRANSFORM") }

// IsKE reports whether t carries a key exchange method (KE or one of ADDKE1..7).
func (t TransformType) IsKE() bool {
	return t == TransformKE || (t >= TransformADDKE1 && t <= TransformADDKE7)
}

// EncrID is a Transform Type 1 (encryption algorithm) ID.
type EncrID uint16

// Encryption algorithm transform IDs.
const (
	ENCR_DES_IV64             EncrID = 1
	ENCR_DES                  EncrID = 2
	ENCR_3DES                 EncrID = 3
	ENCR_RC5                  EncrID = 4
	ENCR_IDEA                 EncrID = 5
	ENCR_CAST                 EncrID = 6
	ENCR_BLOWFISH             EncrID = 7
	ENCR_3IDEA                EncrID = 8
	ENCR_DES_IV32             EncrID = 9
	ENCR_NULL                 EncrID = 11
	ENCR_AES_CBC              EncrID = 12
	ENCR_AES_CTR              EncrID = 13
	ENCR_AES_CCM_8            EncrID = 14
	ENCR_AES_CCM_12           EncrID = 15
	ENCR_AES_CCM_16           EncrID = 16
	ENCR_AES_GCM_8            EncrID = 18
	ENCR_AES_GCM_12           EncrID = 19
	ENCR_AES_GCM_16           EncrID = 20
	ENCR_NULL_AUTH_AES_GMAC   EncrID = 21
	ENCR_CAMELLIA_CBC         EncrID = 23
	ENCR_CAMELLIA_CTR         EncrID = 24
	ENCR_CAMELLIA_CCM_8       EncrID = 25
	ENCR_CAMELLIA_CCM_12      EncrID = 26
	ENCR_CAMELLIA_CCM_16      EncrID = 27
	ENCR_CHACHA20_POLY1305    EncrID = 28
	ENCR_KUZNYECHIK_MGM_KTREE EncrID = 32
	ENCR_MAGMA_MGM_KTREE      EncrID = 33
)

var encrNames = map[EncrID]string{
	ENCR_DES_IV64: "ENCR_DES_IV64", ENCR_DES: "ENCR_DES", ENCR_3DES: "ENCR_3DES", ENCR_RC5: "ENCR_RC5",
	ENCR_IDEA: "ENCR_IDEA", ENCR_CAST: "ENCR_CAST", ENCR_BLOWFISH: "ENCR_BLOWFISH", ENCR_3IDEA: "ENCR_3IDEA",
	ENCR_DES_IV32: "ENCR_DES_IV32", ENCR_NULL: "ENCR_NULL", ENCR_AES_CBC: "ENCR_AES_CBC",
	ENCR_AES_CTR: "ENCR_AES_CTR", ENCR_AES_CCM_8: "ENCR_AES_CCM_8", ENCR_AES_CCM_12: "ENCR_AES_CCM_12",
	ENCR_AES_CCM_16: "ENCR_AES_CCM_16", ENCR_AES_GCM_8: "ENCR_AES_GCM_8", ENCR_AES_GCM_12: "ENCR_AES_GCM_12",
	ENCR_AES_GCM_16: "ENCR_AES_GCM_16", ENCR_NULL_AUTH_AES_GMAC: "ENCR_NULL_AUTH_AES_GMAC",
	ENCR_CAMELLIA_CBC: "ENCR_CAMELLIA_CBC", ENCR_CAMELLIA_CTR: "ENCR_CAMELLIA_CTR",
	ENCR_CAMELLIA_CCM_8: "ENCR_CAMELLIA_CCM_8", ENCR_CAMELLIA_CCM_12: "ENCR_CAMELLIA_CCM_12",
	ENCR_CAMELLIA_CCM_16: "ENCR_CAMELLIA_CCM_16", ENCR_CHACHA20_POLY1305: "ENCR_CHACHA20_POLY1305",
	ENCR_KUZNYECHIK_MGM_KTREE: "ENCR_KUZNYECHIK_MGM_KTREE", ENCR_MAGMA_MGM_KTREE: "ENCR_MAGMA_MGM_KTREE",
}

func (e EncrID) String() string { return name(encrNames, e, "ENCR") }

// IsAEAD reports whether e is a combined-mode cipher that needs no INTEG transform (RFC 5282, RFC 7634).
func (e EncrID) IsAEAD() bool {
	switch e {
	case ENCR_AES_CCM_8, ENCR_AES_CCM_12, ENCR_AES_CCM_16, ENCR_AES_GCM_8, ENCR_AES_GCM_12, ENCR_AES_GCM_16,
		ENCR_CAMELLIA_CCM_8, ENCR_CAMELLIA_CCM_12, ENCR_CAMELLIA_CCM_16, ENCR_CHACHA20_POLY1305,
		ENCR_KUZNYECHIK_MGM_KTREE, ENCR_MAGMA_MGM_KTREE:
		return true
	}
	return false
}

// PRFID is a Transform Type 2 (pseudorandom function) ID.
type PRFID uint16

// Pseudorandom function transform IDs.
const (
	PRF_HMAC_MD5          PRFID = 1
	PRF_HMAC_SHA1         PRFID = 2
	PRF_HMAC_TIGER        PRFID = 3
	PRF_AES128_XCBC       PRFID = 4
	PRF_HMAC_SHA2_256     PRFID = 5
	PRF_HMAC_SHA2_384     PRFID = 6
	PRF_HMAC_SHA2_512     PRFID = 7
	PRF_AES128_CMAC       PRFID = 8
	PRF_HMAC_STREEBOG_512 PRFID = 9
)

var prfNames = map[PRFID]string{
	PRF_HMAC_MD5: "PRF_HMAC_MD5", PRF_HMAC_SHA1: "PRF_HMAC_SHA1", PRF_HMAC_TIGER: "PRF_HMAC_TIGER",
	PRF_AES128_XCBC: "PRF_AES128_XCBC", PRF_HMAC_SHA2_256: "PRF_HMAC_SHA2_256",
	PRF_HMAC_SHA2_384: "PRF_HMAC_SHA2_384", PRF_HMAC_SHA2_512: "PRF_HMAC_SHA2_512",
	PRF_AES128_CMAC: "PRF_AES128_CMAC", PRF_HMAC_STREEBOG_512: "PRF_HMAC_STREEBOG_512",
}

func (p PRFID) String() string { return name(prfNames, p, "PRF") }

// IntegID is a Transform Type 3 (integrity algorithm) ID.
type IntegID uint16

// Integrity algorithm transform IDs.
const (
	AUTH_NONE              IntegID = 0
	AUTH_HMAC_MD5_96       IntegID = 1
	AUTH_HMAC_SHA1_96      IntegID = 2
	AUTH_DES_MAC           IntegID = 3
	AUTH_KPDK_MD5          IntegID = 4
	AUTH_AES_XCBC_96       IntegID = 5
	AUTH_HMAC_MD5_128      IntegID = 6
	AUTH_HMAC_SHA1_160     IntegID = 7
	AUTH_AES_CMAC_96       IntegID = 8
	AUTH_AES_128_GMAC      IntegID = 9
	AUTH_AES_192_GMAC      IntegID = 10
	AUTH_AES_256_GMAC      IntegID = 11
	AUTH_HMAC_SHA2_256_128 IntegID = 12
	AUTH_HMAC_SHA2_384_192 IntegID = 13
	AUTH_HMAC_SHA2_512_256 IntegID = 14
)

var integNames = map[IntegID]string{
	AUTH_NONE: "NONE", AUTH_HMAC_MD5_96: "AUTH_HMAC_MD5_96", AUTH_HMAC_SHA1_96: "AUTH_HMAC_SHA1_96",
	AUTH_DES_MAC: "AUTH_DES_MAC", AUTH_KPDK_MD5: "AUTH_KPDK_MD5", AUTH_AES_XCBC_96: "AUTH_AES_XCBC_96",
	AUTH_HMAC_MD5_128: "AUTH_HMAC_MD5_128", AUTH_HMAC_SHA1_160: "AUTH_HMAC_SHA1_160",
	AUTH_AES_CMAC_96: "AUTH_AES_CMAC_96", AUTH_AES_128_GMAC: "AUTH_AES_128_GMAC",
	AUTH_AES_192_GMAC: "AUTH_AES_192_GMAC", AUTH_AES_256_GMAC: "AUTH_AES_256_GMAC",
	AUTH_HMAC_SHA2_256_128: "AUTH_HMAC_SHA2_256_128", AUTH_HMAC_SHA2_384_192: "AUTH_HMAC_SHA2_384_192",
	AUTH_HMAC_SHA2_512_256: "AUTH_HMAC_SHA2_512_256",
}

func (i IntegID) String() string { return name(integNames, i, "AUTH") }

// KEMethod is a Transform Type 4 (and ADDKE1..7) ID: a Diffie-Hellman group or KEM (IANA "Transform Type 4").
type KEMethod uint16

// Key exchange methods.
const (
	KE_NONE           KEMethod = 0
	MODP_768          KEMethod = 1
	MODP_1024         KEMethod = 2
	MODP_1536         KEMethod = 5
	MODP_2048         KEMethod = 14
	MODP_3072         KEMethod = 15
	MODP_4096         KEMethod = 16
	MODP_6144         KEMethod = 17
	MODP_8192         KEMethod = 18
	ECP_256           KEMethod = 19
	ECP_384           KEMethod = 20
	ECP_521           KEMethod = 21
	MODP_1024_160     KEMethod = 22
	MODP_2048_224     KEMethod = 23
	MODP_2048_256     KEMethod = 24
	ECP_192           KEMethod = 25
	ECP_224           KEMethod = 26
	ECP_224_BP        KEMethod = 27
	ECP_256_BP        KEMethod = 28
	ECP_384_BP        KEMethod = 29
	ECP_512_BP        KEMethod = 30
	CURVE25519        KEMethod = 31
	CURVE448          KEMethod = 32
	GOST3410_2012_256 KEMethod = 33
	GOST3410_2012_512 KEMethod = 34
	ML_KEM_512        KEMethod = 35
	ML_KEM_768        KEMethod = 36
	ML_KEM_1024       KEMethod = 37
)

var keNames = map[KEMethod]string{
	KE_NONE: "NONE", MODP_768: "MODP_768", MODP_1024: "MODP_1024", MODP_1536: "MODP_1536",
	MODP_2048: "MODP_2048", MODP_3072: "MODP_3072", MODP_4096: "MODP_4096", MODP_6144: "MODP_6144",
	MODP_8192: "MODP_8192", ECP_256: "ECP_256", ECP_384: "ECP_384", ECP_521: "ECP_521",
	MODP_1024_160: "MODP_1024_160", MODP_2048_224: "MODP_2048_224", MODP_2048_256: "MODP_2048_256",
	ECP_192: "ECP_192", ECP_224: "ECP_224", ECP_224_BP: "ECP_224_BP", ECP_256_BP: "ECP_256_BP",
	ECP_384_BP: "ECP_384_BP", ECP_512_BP: "ECP_512_BP", CURVE25519: "CURVE_25519", CURVE448: "CURVE_448",
	GOST3410_2012_256: "GOST3410_2012_256", GOST3410_2012_512: "GOST3410_2012_512",
	ML_KEM_512: "ML_KEM_512", ML_KEM_768: "ML_KEM_768", ML_KEM_1024: "ML_KEM_1024",
}

func (k KEMethod) String() string { return name(keNames, k, "KE") }

// ESNID is a Transform Type 5 (extended sequence numbers) ID.
type ESNID uint16

// Extended sequence number transform IDs.
const (
	NO_ESN ESNID = 0
	ESN    ESNID = 1
)

func (e ESNID) String() string {
	return name(map[ESNID]string{NO_ESN: "NO_ESN", ESN: "ESN"}, e, "ESN")
}

// Transform attribute types (IANA "IKEv2 Transform Attribute Types").
const (
	AttributeKeyLength uint16 = 14 // Key Length in bits, always TV
)

// IDType is the type of an Identification payload (IANA "IKEv2 Identification Payload ID Types").
type IDType uint8

// Identification types.
const (
	ID_IPV4_ADDR   IDType = 1
	ID_FQDN        IDType = 2
	ID_RFC822_ADDR IDType = 3
	ID_IPV6_ADDR   IDType = 5
	ID_DER_ASN1_DN IDType = 9
	ID_DER_ASN1_GN IDType = 10
	ID_KEY_ID      IDType = 11
	ID_FC_NAME     IDType = 12
	ID_NULL        IDType = 13
)

var idNames = map[IDType]string{
	ID_IPV4_ADDR: "ID_IPV4_ADDR", ID_FQDN: "ID_FQDN", ID_RFC822_ADDR: "ID_RFC822_ADDR",
	ID_IPV6_ADDR: "ID_IPV6_ADDR", ID_DER_ASN1_DN: "ID_DER_ASN1_DN", ID_DER_ASN1_GN: "ID_DER_ASN1_GN",
	ID_KEY_ID: "ID_KEY_ID", ID_FC_NAME: "ID_FC_NAME", ID_NULL: "ID_NULL",
}

func (t IDType) String() string { return name(idNames, t, "ID") }

// AuthMethod is the method of an AUTH payload (IANA "IKEv2 Authentication Method").
type AuthMethod uint8

// Authentication methods.
const (
	AuthRSASignature          AuthMethod = 1  // RSA Digital Signature (PKCS#1 v1.5 with SHA-1)
	AuthSharedKey             AuthMethod = 2  // Shared Key Message Integrity Code
	AuthDSSSignature          AuthMethod = 3  // DSS Digital Signature
	AuthECDSASHA256P256       AuthMethod = 9  // RFC 4754
	AuthECDSASHA384P384       AuthMethod = 10 // RFC 4754
	AuthECDSASHA512P521       AuthMethod = 11 // RFC 4754
	AuthGenericSecurePassword AuthMethod = 12 // RFC 6467
	AuthNull                  AuthMethod = 13 // RFC 7619
	AuthDigitalSignature      AuthMethod = 14 // RFC 7427
)

var authNames = map[AuthMethod]string{
	AuthRSASignature: "RSA_DIGITAL_SIGNATURE", AuthSharedKey: "SHARED_KEY_MESSAGE_INTEGRITY_CODE",
	AuthDSSSignature: "DSS_DIGITAL_SIGNATURE", AuthECDSASHA256P256: "ECDSA_SHA256_P256",
	AuthECDSASHA384P384: "ECDSA_SHA384_P384", AuthECDSASHA512P521: "ECDSA_SHA512_P521",
	AuthGenericSecurePassword: "GENERIC_SECURE_PASSWORD_AUTHENTICATION_METHOD",
	AuthNull:                  "NULL_AUTHENTICATION", AuthDigitalSignature: "DIGITAL_SIGNATURE",
}

func (a AuthMethod) String() string { return name(authNames, a, "AUTH_METHOD") }

// CertEncoding is the encoding of a CERT or CERTREQ payload (IANA "IKEv2 Certificate Encodings").
type CertEncoding uint8

// Certificate encodings.
const (
	CertPKCS7WrappedX509  CertEncoding = 1
	CertPGP               CertEncoding = 2
	CertDNSSignedKey      CertEncoding = 3
	CertX509Signature     CertEncoding = 4
	CertKerberosToken     CertEncoding = 6
	CertCRL               CertEncoding = 7
	CertARL               CertEncoding = 8
	CertSPKI              CertEncoding = 9
	CertX509Attribute     CertEncoding = 10
	CertRawRSAKey         CertEncoding = 11
	CertHashURLX509       CertEncoding = 12
	CertHashURLX509Bundle CertEncoding = 13
	CertOCSPContent       CertEncoding = 14 // RFC 4806
	CertRawPublicKey      CertEncoding = 15 // RFC 7670
)

var certNames = map[CertEncoding]string{
	CertPKCS7WrappedX509: "PKCS7_WRAPPED_X509_CERTIFICATE", CertPGP: "PGP_CERTIFICATE",
	CertDNSSignedKey: "DNS_SIGNED_KEY", CertX509Signature: "X509_CERTIFICATE_SIGNATURE",
	CertKerberosToken: "KERBEROS_TOKEN", CertCRL: "CERTIFICATE_REVOCATION_LIST",
	CertARL: "AUTHORITY_REVOCATION_LIST", CertSPKI: "SPKI_CERTIFICATE",
	CertX509Attribute: "X509_CERTIFICATE_ATTRIBUTE", CertRawRSAKey: "RAW_RSA_KEY",
	CertHashURLX509: "HASH_AND_URL_X509_CERTIFICATE", CertHashURLX509Bundle: "HASH_AND_URL_X509_BUNDLE",
	CertOCSPContent: "OCSP_CONTENT", CertRawPublicKey: "RAW_PUBLIC_KEY",
}

func (c CertEncoding) String() string { return name(certNames, c, "CERT_ENCODING") }

// TSType is a traffic selector type (IANA "IKEv2 Traffic Selector Types").
type TSType uint8

// Traffic selector types.
const (
	TS_IPV4_ADDR_RANGE TSType = 7
	TS_IPV6_ADDR_RANGE TSType = 8
	TS_FC_ADDR_RANGE   TSType = 9  // RFC 4595
	TS_SECLABEL        TSType = 10 // RFC 9478
)

var tsNames = map[TSType]string{
	TS_IPV4_ADDR_RANGE: "TS_IPV4_ADDR_RANGE", TS_IPV6_ADDR_RANGE: "TS_IPV6_ADDR_RANGE",
	TS_FC_ADDR_RANGE: "TS_FC_ADDR_RANGE", TS_SECLABEL: "TS_SECLABEL",
}

func (t TSType) String() string { return name(tsNames, t, "TS") }

// CFGType is the type of a Configuration payload (RFC 7296 3.15).
type CFGType uint8

// Configuration payload types.
const (
	CFG_REQUEST CFGType = 1
	CFG_REPLY   CFGType = 2
	CFG_SET     CFGType = 3
	CFG_ACK     CFGType = 4
)

func (c CFGType) String() string {
	return name(map[CFGType]string{CFG_REQUEST: "CFG_REQUEST", CFG_REPLY: "CFG_REPLY", CFG_SET: "CFG_SET", CFG_ACK: "CFG_ACK"}, c, "CFG")
}

// CFGAttrType is a configuration attribute type (IANA "IKEv2 Configuration Payload Attribute Types").
type CFGAttrType uint16

// Configuration attribute types.
const (
	INTERNAL_IP4_ADDRESS              CFGAttrType = 1
	INTERNAL_IP4_NETMASK              CFGAttrType = 2
	INTERNAL_IP4_DNS                  CFGAttrType = 3
	INTERNAL_IP4_NBNS                 CFGAttrType = 4
	INTERNAL_IP4_DHCP                 CFGAttrType = 6
	APPLICATION_VERSION               CFGAttrType = 7
	INTERNAL_IP6_ADDRESS              CFGAttrType = 8
	INTERNAL_IP6_DNS                  CFGAttrType = 10
	INTERNAL_IP6_DHCP                 CFGAttrType = 12
	INTERNAL_IP4_SUBNET               CFGAttrType = 13
	SUPPORTED_ATTRIBUTES              CFGAttrType = 14
	INTERNAL_IP6_SUBNET               CFGAttrType = 15
	MIP6_HOME_PREFIX                  CFGAttrType = 16
	INTERNAL_IP6_LINK                 CFGAttrType = 17
	INTERNAL_IP6_PREFIX               CFGAttrType = 18
	HOME_AGENT_ADDRESS                CFGAttrType = 19
	P_CSCF_IP4_ADDRESS                CFGAttrType = 20
	P_CSCF_IP6_ADDRESS                CFGAttrType = 21
	FTT_KAT                           CFGAttrType = 22
	EXTERNAL_SOURCE_IP4_NAT_INFO      CFGAttrType = 23
	TIMEOUT_PERIOD_FOR_LIVENESS_CHECK CFGAttrType = 24
	INTERNAL_DNS_DOMAIN               CFGAttrType = 25
	INTERNAL_DNSSEC_TA                CFGAttrType = 26
)

var cfgAttrNames = map[CFGAttrType]string{
	INTERNAL_IP4_ADDRESS: "INTERNAL_IP4_ADDRESS", INTERNAL_IP4_NETMASK: "INTERNAL_IP4_NETMASK",
	INTERNAL_IP4_DNS: "INTERNAL_IP4_DNS", INTERNAL_IP4_NBNS: "INTERNAL_IP4_NBNS",
	INTERNAL_IP4_DHCP: "INTERNAL_IP4_DHCP", APPLICATION_VERSION: "APPLICATION_VERSION",
	INTERNAL_IP6_ADDRESS: "INTERNAL_IP6_ADDRESS", INTERNAL_IP6_DNS: "INTERNAL_IP6_DNS",
	INTERNAL_IP6_DHCP: "INTERNAL_IP6_DHCP", INTERNAL_IP4_SUBNET: "INTERNAL_IP4_SUBNET",
	SUPPORTED_ATTRIBUTES: "SUPPORTED_ATTRIBUTES", INTERNAL_IP6_SUBNET: "INTERNAL_IP6_SUBNET",
	MIP6_HOME_PREFIX: "MIP6_HOME_PREFIX", INTERNAL_IP6_LINK: "INTERNAL_IP6_LINK",
	INTERNAL_IP6_PREFIX: "INTERNAL_IP6_PREFIX", HOME_AGENT_ADDRESS: "HOME_AGENT_ADDRESS",
	P_CSCF_IP4_ADDRESS: "P_CSCF_IP4_ADDRESS", P_CSCF_IP6_ADDRESS: "P_CSCF_IP6_ADDRESS",
	FTT_KAT: "FTT_KAT", EXTERNAL_SOURCE_IP4_NAT_INFO: "EXTERNAL_SOURCE_IP4_NAT_INFO",
	TIMEOUT_PERIOD_FOR_LIVENESS_CHECK: "TIMEOUT_PERIOD_FOR_LIVENESS_CHECK",
	INTERNAL_DNS_DOMAIN:               "INTERNAL_DNS_DOMAIN", INTERNAL_DNSSEC_TA: "INTERNAL_DNSSEC_TA",
}

func (c CFGAttrType) String() string { return name(cfgAttrNames, c, "CFG_ATTR") }

// EAP codes (RFC 3748 4).
const (
	EAPRequest  uint8 = 1
	EAPResponse uint8 = 2
	EAPSuccess  uint8 = 3
	EAPFailure  uint8 = 4
)

func name[K ~uint8 | ~uint16](m map[K]string, k K, prefix string) string {
	if s, ok := m[k]; ok {
		return s
	}
	return prefix + "(" + strconv.FormatUint(uint64(k), 10) + ")"
}
