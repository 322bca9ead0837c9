#!/usr/bin/python3
"""make-tcpstream-corpus.py - writes the seed corpus of fuzz_tcpstream
(tests/fuzz/corpus/fuzz_tcpstream/): operation sequences in the target's
input format (see fuzz_tcpstream.c) and real IPv4/IPv6 TCP packets."""
import os
import random
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_tcpstream")


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def tcp(fam, seq, ack, flags, opts=b"", pay=b""):
    src4, dst4 = bytes([192, 168, 1, 2]), bytes([203, 0, 113, 2])
    src6 = bytes([0xfd, 0, 0, 1] + [0] * 11 + [2])
    dst6 = bytes([0x20, 0x01, 0x0d, 0xb8] + [0] * 11 + [2])
    th = struct.pack("!HHIIBBHHH", 40000, 21, seq, ack, ((20 + len(opts)) // 4) << 4, flags,
                     65535, 0, 0) + opts
    seg = th + pay
    if fam == 4:
        ph = src4 + dst4 + struct.pack("!BBH", 0, 6, len(seg))
    else:
        ph = src6 + dst6 + struct.pack("!IxxxB", len(seg), 6)
    c = csum(ph + seg)
    seg = seg[:16] + struct.pack("!H", c) + seg[18:]
    if fam == 4:
        ih = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), 0, 0x4000, 64, 6, 0, src4, dst4)
        ih = ih[:10] + struct.pack("!H", csum(ih)) + ih[12:]
        return ih + seg
    return struct.pack("!IHBB", 0x60000000, len(seg), 6, 64) + src6 + dst6 + seg


def op_packet(pkt):
    # length byte counts pairs of bytes; pad to even
    if len(pkt) % 2:
        pkt += b"\0"
    return bytes([4, len(pkt) // 2]) + pkt


def main():
    os.makedirs(OUT, exist_ok=True)
    rnd = random.Random(5)
    seeds = {}
    sack = bytes([1, 1, 5, 18]) + struct.pack("!IIII", 100, 200, 300, 400)
    seeds["pkt4"] = b"\x00" + op_packet(tcp(4, 1000, 2000, 0x18, b"", b"PORT 192,168,1,2,4,1\r\n"))
    seeds["pkt6_sack"] = b"\x00" + op_packet(tcp(6, 1000, 2000, 0x10, sack))
    seeds["syn_mss"] = b"\x00" + op_packet(tcp(4, 1, 0, 0x02, bytes([2, 4, 5, 180])))
    # push a kept line, a rewritten one, emit old and new, ack
    ops = b""
    ops += bytes([0, 20, 20, 1])                      # ident push of 21 bytes
    ops += bytes([0, 22, 25, 0]) + b"PORT 203,0,113,1,1,2\r\n   "[:25]
    ops += bytes([1, 0, 0, 20, 255])                  # emit all
    ops += bytes([2, 0])                              # receiver acks all it has
    ops += bytes([1, 3, 0, 5, 3])                     # emit a cut retransmission
    seeds["push_emit_ack"] = b"\x01" + ops
    # many small pushes and random ops
    for k in range(6):
        b = bytes([rnd.randrange(256)])
        for _ in range(rnd.randrange(20, 80)):
            o = rnd.randrange(6)
            if o == 0:
                b += bytes([0, rnd.randrange(64), rnd.randrange(96), rnd.randrange(2)])
                b += bytes(rnd.randrange(256) for _ in range(96))
            elif o == 1:
                b += bytes([1] + [rnd.randrange(256) for _ in range(4)])
            elif o == 2:
                b += bytes([2, rnd.randrange(256)])
            elif o == 3:
                b += bytes([3, rnd.randrange(256), rnd.randrange(256)])
            elif o == 5:
                b += bytes([5] + [rnd.randrange(256) for _ in range(4)])
        seeds["random%d" % k] = b
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(seeds), OUT))


if __name__ == "__main__":
    main()
