package wire

import (
	"strconv"

	"github.com/cygnet-ipsec/cygnet/iana"
)

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

// Transform IDs. The numbers live in package iana, the one table shared with
// ike/crypto and the data plane's transform package; these names keep the
// wire format's vocabulary (wire.ENCR_AES_CBC) for the IKE packages.

// EncrID is a Transform Type 1 (encryption algorithm) ID (see package iana).
type EncrID = iana.EncrID

// EncrID values.
const (
	ENCR_DES_IV64             = iana.ENCR_DES_IV64
	ENCR_DES                  = iana.ENCR_DES
	ENCR_3DES                 = iana.ENCR_3DES
	ENCR_RC5                  = iana.ENCR_RC5
	ENCR_IDEA                 = iana.ENCR_IDEA
	ENCR_CAST                 = iana.ENCR_CAST
	ENCR_BLOWFISH             = iana.ENCR_BLOWFISH
	ENCR_3IDEA                = iana.ENCR_3IDEA
	ENCR_DES_IV32             = iana.ENCR_DES_IV32
	ENCR_NULL                 = iana.ENCR_NULL
	ENCR_AES_CBC              = iana.ENCR_AES_CBC
	ENCR_AES_CTR              = iana.ENCR_AES_CTR
	ENCR_AES_CCM_8            = iana.ENCR_AES_CCM_8
	ENCR_AES_CCM_12           = iana.ENCR_AES_CCM_12
	ENCR_AES_CCM_16           = iana.ENCR_AES_CCM_16
	ENCR_AES_GCM_8            = iana.ENCR_AES_GCM_8
	ENCR_AES_GCM_12           = iana.ENCR_AES_GCM_12
	ENCR_AES_GCM_16           = iana.ENCR_AES_GCM_16
	ENCR_NULL_AUTH_AES_GMAC   = iana.ENCR_NULL_AUTH_AES_GMAC
	ENCR_CAMELLIA_CBC         = iana.ENCR_CAMELLIA_CBC
	ENCR_CAMELLIA_CTR         = iana.ENCR_CAMELLIA_CTR
	ENCR_CAMELLIA_CCM_8       = iana.ENCR_CAMELLIA_CCM_8
	ENCR_CAMELLIA_CCM_12      = iana.ENCR_CAMELLIA_CCM_12
	ENCR_CAMELLIA_CCM_16      = iana.ENCR_CAMELLIA_CCM_16
	ENCR_CHACHA20_POLY1305    = iana.ENCR_CHACHA20_POLY1305
	ENCR_KUZNYECHIK_MGM_KTREE = iana.ENCR_KUZNYECHIK_MGM_KTREE
	ENCR_MAGMA_MGM_KTREE      = iana.ENCR_MAGMA_MGM_KTREE
)

// PRFID is a Transform Type 2 (pseudorandom function) ID (see package iana).
type PRFID = iana.PRFID

// PRFID values.
const (
	PRF_HMAC_MD5          = iana.PRF_HMAC_MD5
	PRF_HMAC_SHA1         = iana.PRF_HMAC_SHA1
	PRF_HMAC_TIGER        = iana.PRF_HMAC_TIGER
	PRF_AES128_XCBC       = iana.PRF_AES128_XCBC
	PRF_HMAC_SHA2_256     = iana.PRF_HMAC_SHA2_256
	PRF_HMAC_SHA2_384     = iana.PRF_HMAC_SHA2_384
	PRF_HMAC_SHA2_512     = iana.PRF_HMAC_SHA2_512
	PRF_AES128_CMAC       = iana.PRF_AES128_CMAC
	PRF_HMAC_STREEBOG_512 = iana.PRF_HMAC_STREEBOG_512
)

// IntegID is a Transform Type 3 (integrity algorithm) ID (see package iana).
type IntegID = iana.IntegID

// IntegID values.
const (
	AUTH_NONE              = iana.AUTH_NONE
	AUTH_HMAC_MD5_96       = iana.AUTH_HMAC_MD5_96
	AUTH_HMAC_SHA1_96      = iana.AUTH_HMAC_SHA1_96
	AUTH_DES_MAC           = iana.AUTH_DES_MAC
	AUTH_KPDK_MD5          = iana.AUTH_KPDK_MD5
	AUTH_AES_XCBC_96       = iana.AUTH_AES_XCBC_96
	AUTH_HMAC_MD5_128      = iana.AUTH_HMAC_MD5_128
	AUTH_HMAC_SHA1_160     = iana.AUTH_HMAC_SHA1_160
	AUTH_AES_CMAC_96       = iana.AUTH_AES_CMAC_96
	AUTH_AES_128_GMAC      = iana.AUTH_AES_128_GMAC
	AUTH_AES_192_GMAC      = iana.AUTH_AES_192_GMAC
	AUTH_AES_256_GMAC      = iana.AUTH_AES_256_GMAC
	AUTH_HMAC_SHA2_256_128 = iana.AUTH_HMAC_SHA2_256_128
	AUTH_HMAC_SHA2_384_192 = iana.AUTH_HMAC_SHA2_384_192
	AUTH_HMAC_SHA2_512_256 = iana.AUTH_HMAC_SHA2_512_256
)

// KEMethod is a Transform Type 4 (and ADDKE1..7) ID: a Diffie-Hellman group or KEM (see package iana).
type KEMethod = iana.KEMethod

// KEMethod values.
const (
	KE_NONE           = iana.KE_NONE
	MODP_768          = iana.MODP_768
	MODP_1024         = iana.MODP_1024
	MODP_1536         = iana.MODP_1536
	MODP_2048         = iana.MODP_2048
	MODP_3072         = iana.MODP_3072
	MODP_4096         = iana.MODP_4096
	MODP_6144         = iana.MODP_6144
	MODP_8192         = iana.MODP_8192
	ECP_256           = iana.ECP_256
	ECP_384           = iana.ECP_384
	ECP_521           = iana.ECP_521
	MODP_1024_160     = iana.MODP_1024_160
	MODP_2048_224     = iana.MODP_2048_224
	MODP_2048_256     = iana.MODP_2048_256
	ECP_192           = iana.ECP_192
	ECP_224           = iana.ECP_224
	ECP_224_BP        = iana.ECP_224_BP
	ECP_256_BP        = iana.ECP_256_BP
	ECP_384_BP        = iana.ECP_384_BP
	ECP_512_BP        = iana.ECP_512_BP
	CURVE25519        = iana.CURVE25519
	CURVE448          = iana.CURVE448
	GOST3410_2012_256 = iana.GOST3410_2012_256
	GOST3410_2012_512 = iana.GOST3410_2012_512
	ML_KEM_512        = iana.ML_KEM_512
	ML_KEM_768        = iana.ML_KEM_768
	ML_KEM_1024       = iana.ML_KEM_1024
)

// ESNID is a Transform Type 5 (extended sequence numbers) ID (see package iana).
type ESNID = iana.ESNID

// ESNID values.
const (
	NO_ESN = iana.NO_ESN
	ESN    = iana.ESN
)

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
