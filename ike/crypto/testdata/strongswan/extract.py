#!/usr/bin/env python3
"""Extract key-schedule values from two strongSwan charon logs (level 4) into JSON.

Usage: extract.py NAME A.log B.log IKE-PROPOSAL ESP-PROPOSAL > NAME.json
A is the initiator, B the responder; each message is taken from the log of
its receiver (raw packet and decrypted payloads)."""
import json, re, sys

HDR = re.compile(r'^\S+ (\d+)\[(\w+)\] (.*?) => (\d+) bytes @')
DUMP = re.compile(r'^\S+ (\d+)\[(\w+)\] +(\d+): ((?:[0-9A-F]{2} )+)')

def dumps(path):
    lines = open(path, errors='replace').read().splitlines()
    out = []
    for i, l in enumerate(lines):
        m = HDR.match(l)
        if not m:
            continue
        th, n, label = m.group(1), int(m.group(4)), m.group(3).strip()
        data = bytearray()
        j = i + 1
        while len(data) < n and j < len(lines):
            d = DUMP.match(lines[j])
            if d and d.group(1) == th and int(d.group(3)) == len(data):
                data += bytes.fromhex(d.group(4).replace(' ', ''))
            j += 1
        out.append((label, bytes(data[:n])))
    return out

def find(ds, label, k=0):
    hits = [d for l, d in ds if l == label]
    return hits[k]

def payloads(first, data):
    """walk a generic payload chain, return list of (type, body)"""
    res, t, off = [], first, 0
    while t != 0 and off + 4 <= len(data):
        nxt, ln = data[off], int.from_bytes(data[off+2:off+4], 'big')
        res.append((t, data[off+4:off+ln]))
        t, off = nxt, off + ln
    return res

def received_messages(ds):
    """pair every received packet with the plaintext decrypted from it"""
    msgs, pending = [], None
    for i, (l, d) in enumerate(ds):
        if l == 'received packet':
            if d[:4] == b'\0\0\0\0':
                d = d[4:]
            pending = d
            if d[16] != 46:  # not an SK payload first: unencrypted
                msgs.append({'raw': d, 'plain': None})
                pending = None
        elif l == 'plain' and pending is not None and i > 0 and ds[i-1][0] != 'IV':
            msgs.append({'raw': pending, 'plain': d})
            pending = None
    return msgs

def ike_keys(ds, k, integ):
    names = ['Sk_d secret', 'Sk_ai secret', 'Sk_ar secret', 'Sk_ei secret', 'Sk_er secret', 'Sk_pi secret', 'Sk_pr secret']
    out = {'g_ir': find(ds, 'shared Diffie Hellman secret', k).hex(), 'skeyseed': find(ds, 'SKEYSEED', k).hex()}
    for n in names:
        key = n.split()[0].lower()
        out[key] = find(ds, n, k).hex() if (integ or 'a' not in key[3:]) else ''
    return out

def main():
    name, alog, blog = sys.argv[1:4]
    a, b = dumps(alog), dumps(blog)
    integ = any(l == 'Sk_ai secret' for l, _ in a)
    ma, mb = received_messages(a), received_messages(b)
    init_req = mb[0]['raw']; init_resp = ma[0]['raw']
    first = lambda m: m[16]
    pi = payloads(first(init_req), init_req[28:]); pr = payloads(first(init_resp), init_resp[28:])
    ni = [p for t, p in pi if t == 40][0]; nr = [p for t, p in pr if t == 40][0]
    case = {'name': name, 'ike_proposal': sys.argv[4], 'esp_proposal': sys.argv[5], 'spi_i': init_resp[0:8].hex(), 'spi_r': init_resp[8:16].hex(),
            'ni': ni.hex(), 'nr': nr.hex(),
            'ike_sa_init_request': init_req.hex(), 'ike_sa_init_response': init_resp.hex()}
    case.update(ike_keys(a, 0, integ))
    # B's log must agree
    assert ike_keys(b, 0, integ) == ike_keys(a, 0, integ)
    # AUTH (PSK): A's log has its own AUTH (k=0) and the one it expects from B (k=1)
    case['auth'] = []
    for k in (0, 1):
        case['auth'].append({'id_prime': find(a, "IDx'", k).hex(), 'octets': find(a, "octets = message + nonce + prf(Sk_px, IDx')", k).hex(),
                             'secret': find(a, 'secret', k).hex(), 'auth': find(a, 'AUTH = prf(prf(secret, keypad), octets)', k).hex()})
    case['natd'] = [{'chunk': c.hex(), 'hash': h.hex()} for c, h in zip([d for l, d in a if l == 'natd_chunk'], [d for l, d in a if l == 'natd_hash'])][:2]
    # encrypted messages: responses from A's log, requests from B's log (raw bytes as received + strongSwan's plaintext)
    enc = []
    for who, ms in (('responder', ma), ('initiator', mb)):
        for m in ms:
            if m['plain'] is not None:
                enc.append({'sender': who, 'raw': m['raw'].hex(), 'plain': m['plain'].hex()})
    case['messages'] = enc
    # child SA KEYMAT
    ch = []
    for k in (0, 1):
        c = {'seed': find(a, 'seed', k).hex(), 'encr_i': find(a, 'encryption initiator key', k).hex(), 'encr_r': find(a, 'encryption responder key', k).hex()}
        if any(l == 'integrity initiator key' for l, _ in a):
            c['integ_i'] = find(a, 'integrity initiator key', k).hex(); c['integ_r'] = find(a, 'integrity responder key', k).hex()
        ch.append(c)
    case['child'] = ch[0]; case['child_rekey'] = ch[1]
    case['child_rekey']['g_ir'] = find(a, 'DH secret', 0).hex()
    # IKE rekey: the CREATE_CHILD_SA exchange that carries an IKE proposal (first request with SA+No+KE and no TSi)
    for m, resp in zip([x for x in mb if x['plain'] is not None], [x for x in ma if x['plain'] is not None]):
        pass
    def chain(m):
        raw = m['raw']; return payloads(raw[28], m['plain'])
    reqs = [x for x in mb if x['plain'] is not None and x['raw'][18] == 36 and x['raw'][19] & 0x20 == 0]
    resps = [x for x in ma if x['plain'] is not None and x['raw'][18] == 36]
    def is_ike_rekey(m):
        ts = [t for t, _ in chain(m)]
        return 33 in ts and 44 not in ts
    rq = [x for x in reqs if is_ike_rekey(x)][0]; rs = [x for x in resps if is_ike_rekey(x)][0]
    def spi(m):
        sa = [p for t, p in chain(m) if t == 33][0]
        size = sa[6]; return sa[8:8+size]
    def nonce(m): return [p for t, p in chain(m) if t == 40][0]
    rk = {'spi_i': spi(rq).hex(), 'spi_r': spi(rs).hex(), 'ni': nonce(rq).hex(), 'nr': nonce(rs).hex()}
    rk.update(ike_keys(a, 1, integ))
    case['ike_rekey'] = rk
    json.dump(case, sys.stdout, indent=1)
    print()

main()
