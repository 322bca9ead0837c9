#!/usr/bin/python3
"""make-ifaddr-corpus.py - writes tests/fuzz/corpus/fuzz_ifaddr/: rtnetlink
address messages as the kernel sends them (RTM_NEWADDR/RTM_DELADDR for IPv4
and IPv6, a PPPoE point-to-point address, a dump ending in NLMSG_DONE, an
error, and broken ones: truncated, bad lengths)."""
import os
import socket
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_ifaddr")
RTM_NEWADDR, RTM_DELADDR, NLMSG_DONE, NLMSG_ERROR = 20, 21, 3, 2
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_CACHEINFO, IFA_FLAGS = 1, 2, 3, 6, 8


def align(n):
    return (n + 3) & ~3


def rta(t, payload):
    ln = 4 + len(payload)
    return struct.pack("=HH", ln, t) + payload + b"\0" * (align(ln) - ln)


def msg(t, body, flags=0, seq=0):
    ln = 16 + len(body)
    return struct.pack("=IHHII", ln, t, flags, seq, 0) + body + b"\0" * (align(ln) - ln)


def ifaddr(t, fam, plen, flags, scope, index, attrs):
    return msg(t, struct.pack("=BBBBI", fam, plen, flags, scope, index) + b"".join(attrs))


def a4(s):
    return socket.inet_pton(socket.AF_INET, s)


def a6(s):
    return socket.inet_pton(socket.AF_INET6, s)


cases = {
    "new4": ifaddr(RTM_NEWADDR, 2, 24, 0x80, 0, 3,
                   [rta(IFA_ADDRESS, a4("203.0.113.1")), rta(IFA_LOCAL, a4("203.0.113.1")),
                    rta(IFA_LABEL, b"wan0\0"), rta(IFA_FLAGS, struct.pack("=I", 0x80))]),
    "new4_ppp": ifaddr(RTM_NEWADDR, 2, 32, 0x80, 0, 9,
                       [rta(IFA_ADDRESS, a4("100.64.0.1")), rta(IFA_LOCAL, a4("100.64.7.9"))]),
    "new4_secondary": ifaddr(RTM_NEWADDR, 2, 24, 0x01, 0, 3, [rta(IFA_LOCAL, a4("203.0.113.9"))]),
    "del4": ifaddr(RTM_DELADDR, 2, 24, 0, 0, 3, [rta(IFA_LOCAL, a4("203.0.113.1"))]),
    "new6": ifaddr(RTM_NEWADDR, 10, 64, 0, 0, 3,
                   [rta(IFA_ADDRESS, a6("2001:db8::1")),
                    rta(IFA_CACHEINFO, struct.pack("=IIII", 0xffffffff, 0xffffffff, 1, 1)),
                    rta(IFA_FLAGS, struct.pack("=I", 0x80))]),
    "new6_tentative": ifaddr(RTM_NEWADDR, 10, 64, 0x40, 0, 3, [rta(IFA_ADDRESS, a6("2001:db8::2"))]),
    "new6_linklocal": ifaddr(RTM_NEWADDR, 10, 64, 0x80, 253, 3, [rta(IFA_ADDRESS, a6("fe80::1"))]),
    "del6": ifaddr(RTM_DELADDR, 10, 64, 0, 0, 3, [rta(IFA_ADDRESS, a6("2001:db8::1"))]),
    "other_family": ifaddr(RTM_NEWADDR, 7, 0, 0, 0, 3, [rta(IFA_ADDRESS, b"\1\2")]),
    "error": msg(NLMSG_ERROR, struct.pack("=i", -105) + b"\0" * 16),
    "noaddr": ifaddr(RTM_NEWADDR, 2, 24, 0, 0, 3, [rta(IFA_LABEL, b"x\0")]),
    "short_addr": ifaddr(RTM_NEWADDR, 2, 24, 0, 0, 3, [rta(IFA_LOCAL, b"\1\2\3")]),
}
dump = b"".join(ifaddr(RTM_NEWADDR, 2 if i % 2 == 0 else 10, 24, 0, 0, 3,
                       [rta(IFA_LOCAL, a4("203.0.113.%d" % (i + 1)))] if i % 2 == 0 else
                       [rta(IFA_ADDRESS, a6("2001:db8::%x" % (i + 1)))]) for i in range(12))
cases["dump12_done"] = dump + msg(NLMSG_DONE, struct.pack("=i", 0), flags=2)
cases["truncated"] = cases["new4"][:-3]
cases["bad_nlmsg_len"] = struct.pack("=IHHII", 9999, RTM_NEWADDR, 0, 0, 0) + b"\0" * 8
cases["bad_rta_len"] = msg(RTM_NEWADDR, struct.pack("=BBBBI", 2, 24, 0, 0, 3) +
                           struct.pack("=HH", 200, IFA_LOCAL) + a4("1.2.3.4"))
cases["tiny_rta_len"] = msg(RTM_NEWADDR, struct.pack("=BBBBI", 2, 24, 0, 0, 3) +
                            struct.pack("=HH", 2, IFA_LOCAL) + a4("1.2.3.4"))
cases["short_ifaddrmsg"] = msg(RTM_NEWADDR, b"\2\0")
cases["trailing_bytes"] = cases["new6"] + b"\1\2\3\4\5"
cases["empty"] = b""

os.makedirs(OUT, exist_ok=True)
for name, data in cases.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print("%d files in %s" % (len(cases), OUT))
