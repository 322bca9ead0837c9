#!/usr/bin/env python3
"""make-corpus.py - the seed corpus of tests/fuzz/fuzz_trace.c.

    make-corpus.py OUTDIR [LAB_CAPTURE_DIR]

Writes small capture files into OUTDIR:
  * synthetic ones (stdlib only) covering what the lab cannot easily make:
    IPv6 over raw IP, VLAN tags, Linux cooked v1/v2 with the duplicate
    copies of "-i any", ICMP errors, reordered/overlapping/missing segments,
    snap-length cuts, TLS, a multi-line 227, a file cut mid-packet;
  * shrunk lab captures (tests/lab/trace/run.sh leaves them in
    build/results/trace/): every packet cut to 160 bytes with editcap, one
    also as pcapng, one also cut short.  Each seed stays a few KB;
  * PAIR inputs (two captures at once, see tests/fuzz/fuzz_trace.c) from the
    router's two sides in the lab, for the NAT pairing: pair-*.bin;
  * the crafted captures of tests/lab/trace/make-captures.py (but the
    1000-PASV one, too big for a seed): crafted-*.pcap.
"""
import os
import shutil
import struct
import subprocess
import sys

LINK_EN10MB, LINK_RAW, LINK_SLL, LINK_SLL2 = 1, 101, 113, 276


def pcap(path, link, frames, copies=1):
    """copies > 1: frames come in groups of that many copies of one packet,
    20 us apart (one per interface of an "-i any" capture)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, link))
        for i, fr in enumerate(frames):
            ts = 1700000000 * 1000000 + (i // copies) * 100000 + (i % copies) * 20
            f.write(struct.pack("<IIII", ts // 1000000, ts % 1000000, len(fr), len(fr)))
            f.write(fr)


def ip4(src, dst):
    return bytes(int(x) for x in src.split(".")), bytes(int(x) for x in dst.split("."))


def tcp(sport, dport, seq, ack, flags, payload=b""):
    return struct.pack(">HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 65535, 0, 0) + payload


def ipv4(src, dst, l4, proto=6):
    s, d = ip4(src, dst)
    return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0, s, d) + l4


def ipv6(src, dst, l4, nh=6):
    import ipaddress
    return (struct.pack(">IHBB", 0x60000000, len(l4), nh, 64) +
            ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed + l4)


def eth(pkt, v6=False, vlan=None):
    hdr = b"\x02" * 6 + b"\x04" * 6
    if vlan is not None:
        hdr += struct.pack(">HH", 0x8100, vlan)
    return hdr + struct.pack(">H", 0x86DD if v6 else 0x0800) + pkt


def sll(pkt, pkttype):
    return struct.pack(">HHH8sH", pkttype, 1, 6, b"\x02" * 8, 0x0800) + pkt


def sll2(pkt, ifindex, pkttype):
    return struct.pack(">HHIHBB8s", 0x0800, 0, ifindex, 1, pkttype, 6, b"\x02" * 8) + pkt


SYN, ACK, PSH, RST, FIN = 0x02, 0x10, 0x08, 0x04, 0x01


def session(c, s, cp, sp, lines, mk, data_conns=()):
    """Segments of a control session; lines are (side, bytes), side 0 = client.
    mk(src, dst, l4) wraps a TCP segment into a frame."""
    out = []
    cseq, sseq = 1000, 5000
    out.append(mk(c, s, tcp(cp, sp, cseq, 0, SYN)))
    out.append(mk(s, c, tcp(sp, cp, sseq, cseq + 1, SYN | ACK)))
    cseq += 1
    sseq += 1
    out.append(mk(c, s, tcp(cp, sp, cseq, sseq, ACK)))
    for side, text in lines:
        if side == 0:
            out.append(mk(c, s, tcp(cp, sp, cseq, sseq, ACK | PSH, text)))
            cseq += len(text)
        elif side == 1:
            out.append(mk(s, c, tcp(sp, cp, sseq, cseq, ACK | PSH, text)))
            sseq += len(text)
        else:  # ("data", src, sport, dst, dport, answer)
            _, a, ap, b, bp, how = side, *text
            out.append(mk(a, b, tcp(ap, bp, 77, 0, SYN)))
            if how == "ok":
                out.append(mk(b, a, tcp(bp, ap, 99, 78, SYN | ACK)))
            elif how == "rst":
                out.append(mk(b, a, tcp(bp, ap, 0, 78, RST | ACK)))
            else:
                out.append(mk(a, b, tcp(ap, bp, 77, 0, SYN)))
    out.append(mk(c, s, tcp(cp, sp, cseq, sseq, ACK | FIN)))
    return out


LOGIN = [(1, b"220 hi\r\n"), (0, b"USER a\r\n"), (1, b"331 pw\r\n"), (0, b"PASS b\r\n"),
         (1, b"230 ok\r\n")]


def synthetic(out):
    v4 = lambda a, b, l4: eth(ipv4(a, b, l4))
    c, s = "192.168.1.2", "203.0.113.2"
    pcap(f"{out}/pasv-unanswered.pcap", LINK_EN10MB, session(c, s, 40000, 21, LOGIN + [
        (0, b"PASV\r\n"), (1, b"227 Entering Passive Mode (203,0,113,2,195,80).\r\n"),
        ("data", (c, 41000, s, 50000, "drop")), (0, b"LIST\r\n"),
        (1, b"425 Can't open data connection.\r\n")], v4))
    pcap(f"{out}/port-refused-vlan.pcap", LINK_EN10MB, session(c, s, 40000, 21, LOGIN + [
        (0, b"PORT 192,168,1,2,20,0\r\n"), (1, b"200 ok\r\n"), (0, b"RETR f\r\n"),
        ("data", (s, 20, c, 5120, "rst")), (1, b"425 no\r\n"),
        (0, b"EPRT |1|10.9.9.9|5000|\r\n"), (1, b"500 Illegal PORT command.\r\n")],
        lambda a, b, l4: eth(ipv4(a, b, l4), vlan=7)))
    c6, s6 = "2001:db8:1::2", "2001:db8:2::2"
    pcap(f"{out}/epsv-v6-raw.pcap", LINK_RAW, session(c6, s6, 40000, 21, LOGIN + [
        (0, b"EPSV\r\n"), (1, b"229 Entering Extended Passive Mode (|||50001|)\r\n"),
        ("data", (c6, 41000, s6, 50001, "ok")), (0, b"MLSD\r\n"), (1, b"150 ok\r\n"),
        (1, b"226 done\r\n"), (0, b"EPRT |2|2001:db8:1::2|5001|\r\n"), (1, b"200 ok\r\n")],
        lambda a, b, l4: ipv6(a, b, l4)))
    # "-i any": every frame twice, in and out (SLL v1 and v2).
    frames = session(c, s, 40000, 2121, LOGIN + [
        (0, b"PASV\r\n"), (1, b"227-multi\r\n227 (203,0,113,2,195,80)\r\n"),
        ("data", (c, 41000, s, 50000, "ok"))], lambda a, b, l4: ipv4(a, b, l4))
    pcap(f"{out}/any-sll.pcap", LINK_SLL, [sll(f, t) for f in frames for t in (0, 4)], 2)
    pcap(f"{out}/any-sll2.pcap", LINK_SLL2,
         [sll2(f, i, t) for f in frames for i, t in ((2, 0), (3, 4))], 2)
    # Reordered, overlapping, retransmitted and missing segments; a snap cut.
    m = lambda a, b, l4: eth(ipv4(a, b, l4))
    fr = session(c, s, 40000, 21, [(1, b"220 hi\r\n")], m)
    seq = 1001
    body = b"USER a\r\nPASS b\r\nPASV\r\nSYST\r\n"
    fr.insert(-1, m(c, s, tcp(40000, 21, seq + 16, 5009, ACK, body[16:])))
    fr.insert(-1, m(c, s, tcp(40000, 21, seq, 5009, ACK, body[:10])))
    fr.insert(-1, m(c, s, tcp(40000, 21, seq + 4, 5009, ACK, body[4:20])))
    fr.insert(-1, m(c, s, tcp(40000, 21, seq, 5009, ACK, body[:10])))
    fr.insert(-1, m(c, s, tcp(40000, 21, seq + 40, 5009, ACK, b"NOOP\r\n")))
    fr.insert(-1, m(s, c, tcp(21, 40000, 5009, seq + 28, ACK, b"331 x\r\n230 y\r\n227 (")[:60]))
    # ICMP administratively prohibited quoting a data SYN.
    quoted = ipv4(c, s, tcp(41000, 50000, 77, 0, SYN))[:28]
    fr.append(m(c, s, tcp(41000, 50000, 77, 0, SYN)))
    fr.append(eth(ipv4("192.168.1.1", c, struct.pack(">BBHI", 3, 13, 0, 0) + quoted, proto=1)))
    pcap(f"{out}/reorder-icmp.pcap", LINK_EN10MB, fr)
    # TLS after AUTH, then a data connection nobody answers.
    pcap(f"{out}/tls.pcap", LINK_EN10MB, session(c, s, 40000, 21, [
        (1, b"220 hi\r\n"), (0, b"AUTH TLS\r\n"), (1, b"234 go\r\n"),
        (0, b"\x16\x03\x01\x00\x05hello"), (1, b"\x16\x03\x03\x00\x02ok"),
        ("data", (c, 41000, s, 50000, "drop"))], v4))
    # Cut in the middle of a packet.
    with open(f"{out}/pasv-unanswered.pcap", "rb") as f:
        data = f.read()
    with open(f"{out}/cut.pcap", "wb") as f:
        f.write(data[:len(data) * 2 // 3])


def from_lab(out, lab):
    if not os.path.isdir(lab) or shutil.which("editcap") is None:
        return
    for name in sorted(os.listdir(lab)):
        if not name.endswith(".pcap"):
            continue
        dst = f"{out}/lab-{name}"
        subprocess.run(["editcap", "-F", "pcap", "-s", "160", f"{lab}/{name}", dst], check=True)
        if name == "pasv-lan.pcap":
            subprocess.run(["editcap", "-F", "pcapng", dst, f"{out}/lab-pasv-lan.pcapng"],
                           check=True)
        if name == "natport-wan.pcap":
            with open(dst, "rb") as f:
                data = f.read()
            with open(f"{out}/lab-natport-wan-cut.pcap", "wb") as f:
                f.write(data[:len(data) // 2 + 7])


def pairs(out, lab):
    """PAIR + 4-byte little-endian length of the first capture + both."""
    if not os.path.isdir(lab) or shutil.which("editcap") is None:
        return
    for name, a, b in (("natport", "natport-rl", "natport-rw"), ("drop", "drop-rl", "drop-rw"),
                       ("pasv", "pasv-lan", "pasv-wan")):
        views = []
        for v in (a, b):
            if not os.path.exists(f"{lab}/{v}.pcap"):
                break
            subprocess.run(["editcap", "-F", "pcap", "-s", "160", f"{lab}/{v}.pcap",
                            f"{out}/.cut.pcap"], check=True)
            with open(f"{out}/.cut.pcap", "rb") as f:
                views.append(f.read())
            os.unlink(f"{out}/.cut.pcap")
        if len(views) == 2:
            with open(f"{out}/pair-{name}.bin", "wb") as f:
                f.write(b"PAIR" + struct.pack("<I", len(views[0])) + views[0] + views[1])


def crafted(out):
    import tempfile
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, f"{here}/make-captures.py", tmp], check=True)
        for name in sorted(os.listdir(tmp)):
            if name.endswith(".pcap") and name != "many-pasv.pcap":
                shutil.copy(f"{tmp}/{name}", f"{out}/crafted-{name}")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    synthetic(out)
    crafted(out)
    if len(sys.argv) > 2:
        from_lab(out, sys.argv[2])
        pairs(out, sys.argv[2])


if __name__ == "__main__":
    main()
