import sys, os
from scapy.all import rdpcap, UDP
names = {34:'ike_sa_init',35:'ike_auth',36:'create_child_sa',37:'informational'}
for cap in sys.argv[2:]:
    base = os.path.basename(cap)[:-5]
    n = 0
    for p in rdpcap(cap):
        if UDP not in p: continue
        d = bytes(p[UDP].payload)
        if p[UDP].dport == 4500 or p[UDP].sport == 4500:
            if len(d) < 4 or d[:4] != b'\0\0\0\0': continue
            d = d[4:]
        if len(d) < 28: continue
        n += 1
        ex = names.get(d[18], str(d[18]))
        resp = 'resp' if d[19] & 0x20 else 'req'
        fn = '%s/%s-%02d-%s-%s.bin' % (sys.argv[1], base, n, ex, resp)
        open(fn,'wb').write(d)
        print(fn, len(d))
