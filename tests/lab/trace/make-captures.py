#!/usr/bin/env python3
"""make-captures.py - crafted captures for the classes of real-world capture
the pcap doctor must get right (issue 12), with the standard library only.

    make-captures.py OUTDIR

Each capture is a classic pcap file (Ethernet, IPv4, TCP) of complete,
consistent TCP conversations: handshakes, sequence and acknowledgement
numbers, one segment per line (long lines cut at the MSS), FIN at the end.
They stand for what the lab cannot make on demand: a capture filtered to
port 21, servers refusing commands, a client that forgets PASV, an EPRT of
the wrong family, a 128 KiB reply line, a session with 1000 PASVs, FTPS with
CCC, Kerberized FTP (RFC 2228), data connections without their control
session, and the links of DSL routers (PPPoE in a VLAN, PPP).  Ethernet but
for the last two.  tests/lab/trace/crafted.sh runs `ftpalg trace` on each and checks
the findings (tests/lab/trace/check.py).
"""
import os
import random
import struct
import sys

MSS = 1448
CLIENT, SERVER, ROUTER = "192.168.1.2", "203.0.113.2", "203.0.113.1"


LINKTYPE = {"eth": 1, "pppoe": 1, "ppp": 9}


class Pcap:
    """link: eth (Ethernet), pppoe (Ethernet, VLAN 7, a PPPoE session: a DSL
    router's WAN port) or ppp (DLT_PPP: its ppp0)."""

    def __init__(self, path, link="eth"):
        self.f = open(path, "wb")
        self.link = link
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, LINKTYPE[link]))
        self.ts = 1764580000 * 1000000

    def frame(self, src, dst, sport, dport, seq, ack, flags, payload=b""):
        tcp = struct.pack(">HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                          0x50, flags, 65535, 0, 0) + payload
        s = bytes(int(x) for x in src.split("."))
        d = bytes(int(x) for x in dst.split("."))
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0,
                         s, d) + tcp
        macs = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02"
        if self.link == "pppoe":
            fr = (macs + struct.pack(">HHH", 0x8100, 7, 0x8864) +
                  struct.pack(">BBHHH", 0x11, 0, 0x1234, len(ip) + 2, 0x0021) + ip)
        elif self.link == "ppp":
            fr = b"\xff\x03\x00\x21" + ip
        else:
            fr = macs + b"\x08\x00" + ip
        self.f.write(struct.pack("<IIII", self.ts // 1000000, self.ts % 1000000, len(fr),
                                 len(fr)))
        self.f.write(fr)

    def tick(self, us=1000):
        self.ts += us

    def close(self):
        self.f.close()


FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


class Conn:
    """One TCP connection; side 0 is the opener."""

    def __init__(self, cap, a, ap, b, bp):
        self.cap, self.ep = cap, [(a, ap), (b, bp)]
        self.seq = [random.randrange(1 << 32), random.randrange(1 << 32)]

    def pkt(self, side, flags, payload=b""):
        (s, sp), (d, dp) = self.ep[side], self.ep[1 - side]
        self.cap.frame(s, d, sp, dp, self.seq[side], self.seq[1 - side] if flags & ACK else 0,
                       flags, payload)
        self.seq[side] += len(payload) + (1 if flags & (SYN | FIN) else 0)
        self.cap.tick(200)

    def open(self):
        self.pkt(0, SYN)
        self.pkt(1, SYN | ACK)
        self.pkt(0, ACK)

    def send(self, side, data):
        if isinstance(data, str):
            data = data.encode()
        for i in range(0, len(data), MSS):
            self.pkt(side, PSH | ACK, data[i:i + MSS])
        self.pkt(1 - side, ACK)
        self.cap.tick(2000)

    def close(self):
        self.pkt(0, FIN | ACK)
        self.pkt(1, FIN | ACK)
        self.pkt(0, ACK)


class Ftp(Conn):
    def __init__(self, cap, client=CLIENT, cport=40000, server=SERVER, sport=21):
        super().__init__(cap, client, cport, server, sport)
        self.open()

    def c(self, line):
        self.send(0, line + "\r\n")

    def s(self, line):
        self.send(1, line + "\r\n")

    def login(self):
        self.s("220 crafted server ready")
        self.c("USER lab")
        self.s("331 Password required")
        self.c("PASS lab")
        self.s("230 Logged in")


def pasv_reply(port, addr=SERVER):
    a = addr.replace(".", ",")
    return f"227 Entering Passive Mode ({a},{port >> 8},{port & 255})."


def data_ok(cap, a, ap, b, bp, nbytes=3000):
    d = Conn(cap, a, ap, b, bp)
    d.open()
    if nbytes:
        d.send(0 if ap != 20 else 0, bytes(random.randrange(256) for _ in range(nbytes)))
    d.close()


def control_only(out):
    """A capture filtered to port 21: three transfers that worked."""
    cap = Pcap(os.path.join(out, "control-only.pcap"))
    f = Ftp(cap)
    f.login()
    for i, (cmd, arg) in enumerate([("LIST", ""), ("RETR", " a.bin"), ("RETR", " b.bin")]):
        if i == 2:
            f.c("EPSV")
            f.s(f"229 Entering Extended Passive Mode (|||{50102}|)")
        else:
            f.c("PASV")
            f.s(pasv_reply(50100 + i))
        f.c(cmd + arg)
        f.s("150 Here comes the data")
        f.s("226 Transfer complete" if i != 1 else "250 Requested file action okay")
    f.c("QUIT")
    f.s("221 Goodbye")
    f.close()
    cap.close()


def refused(out):
    """The server says no: 550, 452, 451; and 530 before login."""
    cap = Pcap(os.path.join(out, "refused.pcap"))
    f = Ftp(cap)
    f.login()
    f.c("PASV")
    f.s(pasv_reply(50110))
    f.c("RETR missing.bin")
    f.s("550 missing.bin: No such file or directory")
    f.c("PORT 192,168,1,2,156,64")
    f.s("200 PORT command successful")
    f.c("STOR big.iso")
    f.s("452 Insufficient storage space")
    f.c("PASV")
    f.s(pasv_reply(50111))
    f.c("LIST")
    f.s("451 Requested action aborted: local error in processing")
    f.c("QUIT")
    f.s("221 Goodbye")
    f.close()
    g = Ftp(cap, cport=40001)
    g.s("220 crafted server ready")
    g.c("PASV")
    g.s("530 Please login with USER and PASS.")
    g.c("LIST")
    g.s("530 Please login with USER and PASS.")
    g.close()
    cap.close()


def no_port(out):
    """vsftpd's answer to a client that forgets PASV/PORT."""
    cap = Pcap(os.path.join(out, "no-port.pcap"))
    f = Ftp(cap)
    f.login()
    f.c("TYPE I")
    f.s("200 Switching to Binary mode.")
    f.c("LIST")
    f.s("425 Use PORT or PASV first.")
    f.c("QUIT")
    f.s("221 Goodbye.")
    f.close()
    cap.close()


def eprt_family(out):
    """EPRT |2| on an IPv4 control connection."""
    cap = Pcap(os.path.join(out, "eprt-family.pcap"))
    f = Ftp(cap)
    f.login()
    f.c("EPRT |2|2001:db8::5|50000|")
    f.s("522 Network protocol not supported, use (1)")
    f.c("QUIT")
    f.s("221 Goodbye")
    f.close()
    cap.close()


def long_line(out):
    """A 128 KiB 227, then a normal PASV and LIST that must pair right."""
    cap = Pcap(os.path.join(out, "long-line.pcap"))
    f = Ftp(cap)
    f.login()
    f.c("PASV")
    f.s("227 Entering Passive Mode " + "=" * (128 * 1024) + " (203,0,113,2,195,80).")
    f.c("PASV")
    f.s(pasv_reply(50001))
    data_ok(cap, CLIENT, 41000, SERVER, 50001)
    f.c("LIST")
    f.s("150 Here comes the directory listing.")
    f.s("226 Directory send OK.")
    f.c("QUIT")
    f.s("221 Goodbye")
    f.close()
    cap.close()


def many_pasv(out, n=1000):
    """A session with more lines than the report keeps: 1000 transfers."""
    cap = Pcap(os.path.join(out, "many-pasv.pcap"))
    f = Ftp(cap)
    f.login()
    for i in range(n):
        f.c("PASV")
        f.s(pasv_reply(20000 + i))
        f.c(f"RETR f{i}")
        f.s("150 Opening BINARY mode data connection")
        f.s("226 Transfer complete")
    f.c("QUIT")
    f.s("221 Goodbye")
    f.close()
    cap.close()


def tls_record(ctype, n):
    return struct.pack(">BHH", ctype, 0x0303, n) + bytes(random.randrange(256) for _ in range(n))


def ccc(out):
    """AUTH TLS, an encrypted login, CCC: close_notify, then clear text."""
    cap = Pcap(os.path.join(out, "ccc.pcap"))
    f = Ftp(cap)
    f.s("220 crafted server ready")
    f.c("AUTH TLS")
    f.s("234 AUTH TLS successful")
    f.send(0, struct.pack(">BHH", 22, 0x0301, 300) + bytes(300))         # ClientHello
    f.send(1, tls_record(22, 1200) + tls_record(20, 1) + tls_record(22, 40))
    f.send(0, tls_record(20, 1) + tls_record(22, 40))
    for n in (30, 40, 30, 40, 30, 40):      # USER, PASS, PBSZ, PROT C, CCC ...
        f.send(0, tls_record(23, n))
        f.send(1, tls_record(23, n + 10))
    f.send(1, tls_record(21, 26))           # close_notify (encrypted alert)
    f.send(0, tls_record(21, 26))
    f.c("PASV")
    f.s(pasv_reply(50020))
    data_ok(cap, CLIENT, 41020, SERVER, 50020)
    f.c("RETR f.bin")
    f.s("150 Opening BINARY mode data connection")
    f.s("226 Transfer complete")
    f.c("QUIT")
    f.s("221 Goodbye")
    f.close()
    cap.close()


def gssapi(out):
    """Kerberized FTP: AUTH GSSAPI, ADAT, then ENC/MIC commands (RFC 2228)."""
    cap = Pcap(os.path.join(out, "gssapi.pcap"))
    f = Ftp(cap)
    f.s("220 crafted server ready")
    f.c("AUTH GSSAPI")
    f.s("334 Using authentication type GSSAPI; ADAT must follow")
    f.c("ADAT YIIChwYJKoZIhvcSAQICAQBuggJ2MIICcqADAgEFoQMCAQ6iBwMFACAAAACjggF9YYIBeTCC")
    f.s("235 ADAT=YGwGCSqGSIb3EgECAgIAb10wW6ADAgEFoQMCAQ+iTzBNoAMCARCiRgRE")
    for v in ("ENC", "ENC", "MIC", "ENC", "CONF"):
        f.c(f"{v} YDMGCSqGSIb3EgECAgIBAAD/////6sHO+jeZJUE1LyGR0ZSq9Pu7")
        f.s("633 YDMGCSqGSIb3EgECAgIBAAD/////TkSLMUyJCqgLKbnx2KL7W3Bz")
    f.close()
    cap.close()


def orphan(out):
    """Data connections from port 20 and no control session: one reset by
    the client at once, one reset in the middle of the transfer."""
    cap = Pcap(os.path.join(out, "orphan.pcap"))
    d = Conn(cap, SERVER, 20, CLIENT, 40001)
    d.pkt(0, SYN)
    d.pkt(1, RST | ACK)
    e = Conn(cap, SERVER, 20, CLIENT, 40002)
    e.open()
    e.send(0, bytes(4000))
    e.pkt(1, RST | ACK)
    cap.close()


def dsl(out, link):
    """A passive and an active transfer over a DSL link (pppoe or ppp)."""
    cap = Pcap(os.path.join(out, link + ".pcap"), link)
    f = Ftp(cap)
    f.login()
    f.c("PASV")
    f.s(pasv_reply(50120))
    f.c("RETR a.bin")
    data_ok(cap, CLIENT, 41000, SERVER, 50120)
    f.s("150 Here comes the data")
    f.s("226 Transfer complete")
    f.c("PORT 192,168,1,2,160,1")
    f.s("200 PORT command successful")
    f.c("RETR b.bin")
    data_ok(cap, SERVER, 20, CLIENT, 40961)
    f.s("150 Here comes the data")
    f.s("226 Transfer complete")
    f.c("QUIT")
    f.s("221 Goodbye")
    f.close()
    cap.close()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    random.seed(12)
    for fn in (control_only, refused, no_port, eprt_family, long_line, many_pasv, ccc,
               gssapi, orphan):
        fn(out)
    for link in ("pppoe", "ppp"):
        dsl(out, link)
    return 0


if __name__ == "__main__":
    sys.exit(main())
