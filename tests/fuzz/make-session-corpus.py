#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_session: real-looking FTP sessions in the
target's input format (byte 0 policy bits, byte 1 failure bits, then chunks
of header + bytes; header bit 7 = from the server, bits 0..6 = length - 1)."""
import os
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_session")

LOGIN = [("s", "220 FTP ready\r\n"), ("c", "USER anonymous\r\n"),
         ("s", "331 Please specify the password.\r\n"), ("c", "PASS x@\r\n"),
         ("s", "230 Login successful.\r\n")]

SESSIONS = {
    "port": (0, 0, LOGIN + [("c", "PORT 192,168,1,2,156,65\r\n"), ("s", "200 PORT ok\r\n"),
                            ("c", "RETR f\r\n"), ("s", "150 Opening\r\n"), ("s", "226 Done\r\n"),
                            ("c", "QUIT\r\n"), ("s", "221 Bye\r\n")]),
    "eprt6": (0x80, 4, LOGIN + [("c", "EPRT |2|2001:db8:1::2|40001|\r\n"), ("s", "200 ok\r\n"),
                                ("c", "LIST\r\n"), ("s", "150 x\r\n226 y\r\n")]),
    "pasv": (0, 0, LOGIN + [("c", "PASV\r\n"), ("s", "227 Entering Passive Mode (203,0,113,2,195,80).\r\n"),
                            ("c", "STOR x\r\n"), ("s", "150 ok\r\n"), ("s", "226 ok\r\n")]),
    "pasv_private": (0, 0, LOGIN + [("c", "PASV\r\n"), ("s", "227 Entering Passive Mode (10,0,0,5,195,80)\r\n")]),
    "pasv_relaxed": (1, 0, LOGIN + [("c", "PASV\r\n"), ("s", "227 =198,51,100,7,195,80\r\n")]),
    "pasv_multiline": (0, 0, LOGIN + [("c", "PASV\r\n"),
                                      ("s", "227-Entering passive mode\r\n227 (0,0,0,0,195,80)\r\n")]),
    "pasv_via_gw": (64, 0, LOGIN + [("c", "PASV\r\n"), ("s", "227 Entering passive mode. 192,168,1,10,195,80\r\n"),
                                    ("c", "EPSV\r\n"), ("s", "229 Entering Extended Passive Mode (|||50001|).\r\n")]),
    "epsv": (0, 0, LOGIN + [("c", "EPSV\r\n"), ("s", "229 Entering Extended Passive Mode (|||50000|)\r\n"),
                            ("c", "MLSD\r\n"), ("s", "150 x\r\n"), ("s", "226 x\r\n")]),
    "epsv_227": (0, 0, LOGIN + [("c", "EPSV\r\n"), ("s", "227 Entering Passive Mode (203,0,113,2,195,80)\r\n")]),
    "epsv_all": (0, 0, LOGIN + [("c", "EPSV ALL\r\n"), ("s", "200 EPSV ALL ok\r\n"),
                                ("c", "PORT 192,168,1,2,156,65\r\n"), ("c", "PASV\r\n")]),
    "long": (0, 0, LOGIN + [("c", "LPRT 4,4,192,168,1,2,2,156,65\r\n"), ("s", "200 ok\r\n"),
                            ("c", "LPSV\r\n"), ("s", "228 Entering Long Passive Mode (4,4,203,0,113,2,2,195,80)\r\n")]),
    "bounce": (0, 0, LOGIN + [("c", "PORT 10,9,9,9,156,65\r\n"), ("c", "PORT 192,168,1,2,0,21\r\n"),
                              ("c", "PORT 192,168,1,2,300,1\r\n"), ("c", "EPRT |3|x|1|\r\n")]),
    "tls": (0, 0, [("s", "220 hi\r\n"), ("c", "AUTH TLS\r\n"), ("s", "234 go\r\n"),
                   ("c", "\x16\x03\x01\x00\x05hello"), ("s", "\x16\x03\x03\x00\x02ok")]),
    "implicit_tls": (0, 0, [("c", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")]),
    "pipelined": (0, 0, [("s", "220 hi\r\n"), ("c", "USER a\r\nPASS b\r\nTYPE I\r\nPASV\r\nRETR f\r\n"),
                         ("s", "331 p\r\n230 ok\r\n200 type\r\n"),
                         ("s", "227 (203,0,113,2,195,80)\r\n150 go\r\n226 done\r\n")]),
    "iac": (0, 0, LOGIN + [("c", "\xff\xf4\xff\xf2ABOR\r\n"), ("s", "226 \xff\xff ok\r\n"),
                           ("c", "PO\xff\xffRT 1\r\n")]),
    "split": (0, 0, LOGIN + [("c", c) for c in "PORT 192,168,1,2,156,65\r\n"] + [("s", "200 ok\r\n")]),
    "rein": (0, 0, LOGIN + [("c", "REIN\r\n"), ("s", "220 again\r\n"), ("c", "PASV\r\n")]),
    "unsolicited": (0, 0, LOGIN + [("s", "227 (10,0,0,1,1,1)\r\n"), ("s", "421 timeout\r\n")]),
    "mixed_family": (0x80, 0, LOGIN + [("c", "PASV\r\n"), ("s", "229 (|||50000|)\r\n"),
                                       ("c", "PORT 192,168,1,2,156,65\r\n"), ("s", "200 ok\r\n")]),
    "fail_map": (0, 2, LOGIN + [("c", "PASV\r\n"), ("s", "227 (203,0,113,2,195,80)\r\n"),
                                ("c", "PORT 192,168,1,2,156,65\r\n"), ("s", "200 ok\r\n")]),
    "overlong": (0, 0, LOGIN + [("c", "A" * 127)] * 10),
    # RFC 6384 translation, inbound: an IPv6 client, an IPv4 server (EPSV->PASV, EPRT->PORT)
    "translate_v6_v4": (0x40, 4, LOGIN + [("c", "EPSV\r\n"), ("s", "227 Entering Passive Mode (203,0,113,2,195,80).\r\n"),
                                          ("c", "RETR f\r\n"), ("s", "150 go\r\n226 done\r\n"),
                                          ("c", "EPRT |2|2001:db8:0:1::2|40001|\r\n"), ("s", "200 PORT ok\r\n"),
                                          ("c", "EPSV ALL\r\n"), ("c", "PORT 192,168,1,2,156,65\r\n"),
                                          ("c", "EPSV 2\r\n"), ("s", "227 (0,0,0,0,195,81)\r\n")]),
    # NAT slipstreaming (issue 11): a browser's POST whose body is FTP, the
    # hostile server answering; after the greeting, before it, a custom
    # method, EPRT, and junk after login
    "slip_http": (0, 0, [("s", "220 hi\r\n"),
                         ("c", "POST / HTTP/1.1\r\nHost: 203.0.113.2:2121\r\nContent-Length: 40\r\n\r\n"),
                         ("c", "USER a\r\nPASS b\r\nPORT 192,168,1,2,12,234\r\n"),
                         ("s", "331 ok\r\n230 ok\r\n200 ok\r\n")]),
    "slip_before_greeting": (0, 0, [("c", "POST / HTTP/1.1\r\nHost: x\r\n\r\nUSER a\r\nPASS b\r\n"),
                                    ("c", "EPRT |1|192.168.1.2|3306|\r\n"),
                                    ("s", "220 hi\r\n331 ok\r\n230 ok\r\n200 ok\r\n")]),
    "slip_custom_method": (0, 0, [("s", "220 hi\r\n"), ("c", "USER / HTTP/1.1\r\n"),
                                  ("s", "230 ok\r\n"), ("c", "Host: x\r\n\r\nPORT 192,168,1,2,12,234\r\n"),
                                  ("s", "200 ok\r\n")]),
    "slip_after_login": (0, 0, LOGIN + [("c", "PORT 192,168,1,2,156,65\r\n"), ("s", "200 ok\r\n"),
                                        ("c", "GET / HTTP/1.0\r\n\x01\x02\r\nPASV x\r\n"),
                                        ("s", "227 (10,0,0,1,1,1)\r\n")]),
    "slip_partial": (0, 0, [("s", "220 hi\r\n200-part"), ("c", "GET / HTTP/1.1\r\nHo"), ("s", "ial\r\n"),
                            ("c", "st: x\r\n\r\nPORT 192,168,1,2,12,234\r\n"), ("s", "200 ok\r\n")]),
    "pipelined_before_greeting": (0, 0, [("c", "FEAT\r\nUSER a\r\nPASS b\r\nPORT 192,168,1,2,156,65\r\n"),
                                         ("s", "220 hi\r\n211 f\r\n331 p\r\n230 ok\r\n200 ok\r\n")]),
    # what FileZilla and WinSCP send: stays FTP
    "real_filezilla": (0, 0, [("s", "220-hi\r\n220 there\r\n"), ("c", "AUTH TLS\r\n"), ("s", "500 no\r\n"),
                              ("c", "AUTH SSL\r\n"), ("s", "500 no\r\n"), ("c", "USER a\r\n"),
                              ("s", "331 p\r\n"), ("c", "PASS b\r\n"), ("s", "230 ok\r\n"),
                              ("c", "SYST\r\nFEAT\r\n"), ("s", "215 UNIX\r\n211-f\r\n MLST\r\n211 e\r\n"),
                              ("c", "OPTS UTF8 ON\r\nCLNT FileZilla\r\nPWD\r\nTYPE I\r\n"),
                              ("s", "200 a\r\n200 b\r\n257 \"/\"\r\n200 c\r\n"),
                              ("c", "PASV\r\n"), ("s", "227 (203,0,113,2,195,80)\r\n"),
                              ("c", "MLSD\r\n"), ("s", "150 x\r\n226 y\r\n")]),
    "real_winscp": (0, 0, [("s", "220 hi\r\n"), ("c", "HOST ftp.example.com\r\n"), ("s", "220 host\r\n"),
                           ("c", "USER a\r\nPASS b\r\n"), ("s", "331 p\r\n230 ok\r\n"),
                           ("c", "OPTS UTF8 ON\r\nXSHA256 f\r\nMFMT 20240101000000 f\r\n"),
                           ("s", "200 a\r\n213 h\r\n213 m\r\n"),
                           ("c", "PORT 192,168,1,2,156,65\r\n"), ("s", "200 ok\r\n"),
                           ("c", "STOR f\r\n"), ("s", "150 x\r\n226 y\r\n")]),
    # unsolicited 227 (issue 11): answering a NOOP, multi-line, inbound
    "unsolicited_noop": (0, 0, LOGIN + [("c", "NOOP\r\n"),
                                        ("s", "227-x (203,0,113,1,0,21)\r\n text\r\n227 (192,168,1,3,12,234)\r\n"),
                                        ("s", "228 (4,4,10,0,0,1,2,1,1)\r\n229 (|||5000|)\r\n")]),
    "unsolicited_via_gw": (64, 0, LOGIN + [("s", "227 (192,168,1,10,195,80)\r\n"), ("c", "PASV\r\n"),
                                           ("s", "227 (192,168,1,10,195,81)\r\n")]),
    # the reverse: an IPv4 client, an IPv6 server (PASV->EPSV, PORT->EPRT)
    "translate_v4_v6": (0xC0, 0, LOGIN + [("c", "PASV\r\n"), ("s", "229 (|||50000|)\r\n"),
                                          ("c", "PORT 192,168,1,2,156,65\r\n"), ("s", "200 ok\r\n"),
                                          ("c", "EPSV 1\r\n"), ("s", "229 (|||50001|)\r\n")]),
}


def encode(pol, fail, chunks):
    out = bytearray([pol, fail])
    for side, text in chunks:
        data = text.encode("latin-1")
        for i in range(0, len(data), 128):
            part = data[i:i + 128]
            out.append((0x80 if side == "s" else 0) | (len(part) - 1))
            out += part
    return bytes(out)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, (pol, fail, chunks) in SESSIONS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(encode(pol, fail, chunks))
    print(f"wrote {len(SESSIONS)} seeds to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
