#!/bin/sh
# Regenerates the interop fixtures of auth's tests with strongSwan's pki
# (5.9.8) and OpenSSL (3.0). Throwaway test keys, never used anywhere else.
#   cd auth/testdata/interop && ./gen.sh
set -eu
P="pki"
q() { "$@" 2>/dev/null; }
q $P --gen --type rsa --size 2048 --outform pem > rsa.key
q $P --gen --type ecdsa --size 256 --outform pem > ec256.key
q $P --gen --type ecdsa --size 384 --outform pem > ec384.key
q $P --gen --type ecdsa --size 521 --outform pem > ec521.key
q $P --gen --type ed25519 --outform pem > ed25519.key

# Self-signed certificates: strongSwan writes its signature AlgorithmIdentifier
# (the same signature_params_build as in RFC 7427 AUTH payloads) and signs
# the TBSCertificate.
for d in sha256 sha384 sha512; do
	q $P --self --ca --in rsa.key --type rsa --dn "C=CH, O=cygnet, CN=rsa-$d" --digest $d --rsa-padding pkcs1 --outform pem > rsa-$d.crt
	q $P --self --ca --in rsa.key --type rsa --dn "C=CH, O=cygnet, CN=pss-$d" --digest $d --rsa-padding pss --outform pem > pss-$d.crt
done
q $P --self --ca --in ec256.key --type ecdsa --dn "C=CH, O=cygnet, CN=ec256" --digest sha256 --outform pem > ec256-sha256.crt
q $P --self --ca --in ec384.key --type ecdsa --dn "C=CH, O=cygnet, CN=ec384" --digest sha384 --outform pem > ec384-sha384.crt
q $P --self --ca --in ec521.key --type ecdsa --dn "C=CH, O=cygnet, CN=ec521" --digest sha512 --outform pem > ec521-sha512.crt
q $P --self --ca --in ed25519.key --type ed25519 --dn "C=CH, O=cygnet, CN=ed25519" --outform pem > ed25519.crt
for c in rsa-sha256 ec384-sha384 ed25519; do
	q $P --keyid --in $c.crt --type x509 | tr -d ' :\n' | sed 's/.*subjectPublicKeyInfo)//' > $c.keyid
done

# OpenSSL signatures over fixed octets.
printf 'cygnet RFC 7427 interop octets: initiator message, nonce, prf(SK_p, ID)' > octets.bin
for d in sha256 sha384 sha512; do
	openssl dgst -$d -sign rsa.key -out rsa-pkcs1-$d.sig octets.bin
	openssl dgst -$d -sign rsa.key -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest -sigopt rsa_mgf1_md:$d -out rsa-pss-$d.sig octets.bin
done
openssl dgst -sha1 -sign rsa.key -out rsa-pkcs1-sha1.sig octets.bin
openssl dgst -sha256 -sign ec256.key -out ec256-sha256.sig octets.bin
openssl dgst -sha384 -sign ec384.key -out ec384-sha384.sig octets.bin
openssl dgst -sha512 -sign ec521.key -out ec521-sha512.sig octets.bin
openssl pkeyutl -sign -rawin -inkey ed25519.key -in octets.bin -out ed25519.sig
