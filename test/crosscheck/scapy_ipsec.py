#!/usr/bin/python3
"""Peer for cygnet's ESP/AH cross-checks: scapy's IPsec layer behind JSON lines.

Reads one JSON request per line on stdin and writes one JSON response per
line on stdout, so one interpreter serves a whole Go test. Keys, packets and
IVs travel as hex strings; sequence numbers as full 64-bit integers (the low
32 bits go into the header, the high 32 bits are scapy's "esn").

Requests (all carry the SA fields below):
  {"op": "esp_encrypt", "pkt": inner, "seq": n, "iv": hex-or-null}
      -> {"ok": true, "out": outer}
  {"op": "esp_decrypt", "pkt": outer, "seq": n, "again": bool}
      -> {"ok": true, "inner": inner, "again": outer}
     "again" re-encrypts the decrypted inner packet with the received IV,
     sequence number, outer header fields and UDP ports, so the caller can
     compare the two packets byte for byte.
  {"op": "ah_sign", "pkt": inner, "seq": n} -> {"ok": true, "out": outer}
  {"op": "ah_verify", "pkt": outer, "seq": n, "again": bool}
      -> {"ok": true, "inner": inner, "again": outer}
  {"op": "probe"} -> {"ok": true, "version": scapy version}
Failures: {"ok": false, "err": "ExceptionClass: message"}.

SA fields: "spi", "crypt" (scapy name) and "ckey" (salt appended), "auth"
(scapy name or "") and "akey", "esn" (bool), "tunnel" (null for transport,
else {"src", "dst"}), "natt" (null or {"sport", "dport"}), "esn_fix" and
"natt_fix" (bools, below).

"esn_fix" works around scapy 2.5 leaving the high sequence number bits out of
the ESP HMAC input: _encrypt_esp and _decrypt_esp call AuthAlgo.sign/verify
without the ESN, although RFC 4303 section 2.2.1 appends them to the ICV
input (AEADs are fine: scapy puts them in the AAD). With esn_fix the HMAC is
computed by scapy's own AuthAlgo over the ESP packet followed by the 4
high-order octets, which is all RFC 4303 asks; the cipher stays scapy's.
(Fixed upstream by secdev/scapy pull request 3908.)

"natt_fix" works around scapy 2.5 writing UDP length 8 into the RFC 3948
header of the packets it encrypts: _encrypt_esp serializes the IP and UDP
headers before the ESP payload is attached. With natt_fix the length field
is set to the real UDP length; nothing else changes. (Fixed upstream by
secdev/scapy pull request 4125.)
"""

import json
import struct
import sys
import traceback

from scapy import VERSION
from scapy.compat import raw
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.ipsec import AH, AUTH_ALGOS, ESP, IPSecIntegrityError, \
    SecurityAssociation


class ESNAuth(object):
    """Scapy AuthAlgo with the ESN high bits appended for ESP (RFC 4303 2.2.1)."""

    def __init__(self, base, hi):
        self.base = base
        self.hi = hi
        self.name = base.name
        self.icv_size = base.icv_size
        self.key_size = base.key_size

    def check_key(self, key):
        self.base.check_key(key)

    def _mac(self, key, data):
        mac = self.base.new_mac(key)
        mac.update(data + struct.pack('!L', self.hi))
        return mac.finalize()[:self.icv_size]

    def sign(self, pkt, key, esn_en=False, esn=0):
        pkt[ESP].data += self._mac(key, raw(pkt[ESP]))
        return pkt

    def verify(self, pkt, key, esn_en=False, esn=0):
        n = self.icv_size
        icv = pkt.data[len(pkt.data) - n:]
        clone = pkt.copy()
        clone.data = clone.data[:len(clone.data) - n]
        if icv != self._mac(key, raw(clone)):
            raise IPSecIntegrityError('ESN-corrected ICV mismatch')


def parse_ip(b):
    if not b:
        raise ValueError('empty packet')
    return IPv6(b) if b[0] >> 4 == 6 else IP(b)


def tunnel_header(tun, like=None):
    """The outer header scapy puts in front: the configured endpoints, or
    (like) every field of a received outer header that scapy would otherwise
    default, so a re-encryption reproduces it."""
    if tun is None:
        return None
    if like is None:
        if ':' in tun['src']:
            return IPv6(src=tun['src'], dst=tun['dst'])
        return IP(src=tun['src'], dst=tun['dst'])
    if like.version == 6:
        return IPv6(src=like.src, dst=like.dst, tc=like.tc, fl=like.fl,
                    hlim=like.hlim)
    return IP(src=like.src, dst=like.dst, tos=like.tos, id=like.id,
              flags=like.flags, frag=like.frag, ttl=like.ttl)


def make_sa(req, seq, like=None):
    hi, lo = seq >> 32, seq & 0xffffffff
    proto = ESP if req['op'].startswith('esp') else AH
    kw = dict(spi=req['spi'], seq_num=lo, esn_en=bool(req.get('esn')), esn=hi,
              tunnel_header=tunnel_header(req.get('tunnel'), like))
    if req.get('auth'):
        kw['auth_algo'] = req['auth']
        kw['auth_key'] = bytes.fromhex(req['akey'])
    if proto is ESP:
        kw['crypt_algo'] = req['crypt']
        kw['crypt_key'] = bytes.fromhex(req.get('ckey', '')) or None
        natt = req.get('natt')
        if natt:
            ports = (natt['sport'], natt['dport'])
            if like is not None and like.haslayer(UDP):
                ports = (like[UDP].sport, like[UDP].dport)
            kw['nat_t_header'] = UDP(sport=ports[0], dport=ports[1])
    sa = SecurityAssociation(proto, **kw)
    if proto is ESP and req.get('esn_fix') and req.get('esn') and req.get('auth'):
        sa.auth_algo = ESNAuth(AUTH_ALGOS[req['auth']], hi)
    return sa, hi, lo


def esp_encrypt(req, inner, seq, iv, like=None):
    sa, hi, lo = make_sa(req, seq, like)
    out = sa.encrypt(parse_ip(inner), seq_num=lo, iv=iv, esn=hi)
    b = bytearray(raw(out))
    if req.get('natt') and req.get('natt_fix'):
        # The UDP header was serialized before ESP was added: its length
        # says 8. Put the real one (the checksum is 0, nothing to fix).
        at = len(b) - len(raw(out[UDP]))
        struct.pack_into('!H', b, at + 4, len(b) - at)
    return bytes(b)


def do_esp_encrypt(req):
    iv = bytes.fromhex(req['iv']) if req.get('iv') is not None else None
    return {'out': esp_encrypt(req, bytes.fromhex(req['pkt']), req['seq'], iv).hex()}


def do_esp_decrypt(req):
    outer = bytes.fromhex(req['pkt'])
    seq = req['seq']
    sa, hi, lo = make_sa(req, seq)
    pkt = parse_ip(outer)
    if not pkt.haslayer(ESP):
        raise ValueError('no ESP layer in %s' % pkt.summary())
    iv = bytes(pkt[ESP].data[:sa.crypt_algo.iv_size])
    inner = raw(sa.decrypt(pkt, esn=hi))
    resp = {'inner': inner.hex()}
    if req.get('again'):
        like = parse_ip(outer)
        resp['again'] = esp_encrypt(req, inner, seq, iv, like).hex()
    return resp


def ah_sign(req, inner, seq, like=None):
    sa, hi, lo = make_sa(req, seq, like)
    return raw(sa.encrypt(parse_ip(inner), seq_num=lo, esn=hi))


def do_ah_sign(req):
    return {'out': ah_sign(req, bytes.fromhex(req['pkt']), req['seq']).hex()}


def do_ah_verify(req):
    outer = bytes.fromhex(req['pkt'])
    seq = req['seq']
    sa, hi, lo = make_sa(req, seq)
    pkt = parse_ip(outer)
    if not pkt.haslayer(AH):
        raise ValueError('no AH layer in %s' % pkt.summary())
    inner = raw(sa.decrypt(pkt, esn=hi))
    resp = {'inner': inner.hex()}
    if req.get('again'):
        resp['again'] = ah_sign(req, inner, seq, parse_ip(outer)).hex()
    return resp


OPS = {
    'probe': lambda req: {'version': VERSION},
    'esp_encrypt': do_esp_encrypt,
    'esp_decrypt': do_esp_decrypt,
    'ah_sign': do_ah_sign,
    'ah_verify': do_ah_verify,
}


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            resp = OPS[req['op']](req)
            resp['ok'] = True
        except IPSecIntegrityError as e:
            resp = {'ok': False, 'err': 'IPSecIntegrityError: %s' % e}
        except Exception as e:  # reported to the Go side, which decides
            resp = {'ok': False, 'err': '%s: %s' % (type(e).__name__, e),
                    'trace': traceback.format_exc()}
        sys.stdout.write(json.dumps(resp) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
