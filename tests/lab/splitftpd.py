#!/usr/bin/python3
"""splitftpd.py - a small FTP server that writes every reply in pieces.

    splitftpd.py --addr A [--port 21] --root DIR [--chunk 3] [--delay 0.005]
                 [--pasv-addr 10.0.0.5] [--log FILE]

Each reply line goes out in chunks of --chunk bytes, TCP_NODELAY, with a pause
in between: a reply split across segments.  Its 227 names --pasv-addr (by
default a private address, as a server behind its own NAT announces), so a
gateway must rewrite it for a client that trusts the address.  Anonymous login,
TYPE, PASV, EPSV, PORT, EPRT, RETR, NOOP, QUIT; one thread per session.
"""
import argparse
import os
import socket
import threading
import time


def serve(conn, peer, a):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.settimeout(60)
    fam = conn.family
    me = conn.getsockname()[0]
    pasv = None
    active = None
    log = open(a.log, "a") if a.log else None

    def say(text):
        data = (text + "\r\n").encode()
        if log:
            log.write("%s < %s\n" % (peer[0], text))
            log.flush()
        for i in range(0, len(data), a.chunk):
            conn.sendall(data[i:i + a.chunk])
            time.sleep(a.delay)

    buf = b""
    say("220 splitftpd ready")
    try:
        while True:
            while b"\n" not in buf:
                b = conn.recv(4096)
                if not b:
                    return
                buf += b
            line, buf = buf.split(b"\n", 1)
            line = line.decode(errors="replace").rstrip("\r")
            if log:
                log.write("%s > %s\n" % (peer[0], line))
                log.flush()
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb == "USER":
                say("331 any password")
            elif verb == "PASS":
                say("230 logged in")
            elif verb in ("TYPE", "MODE", "STRU"):
                say("200 ok")
            elif verb == "NOOP":
                say("200 NOOP ok")
            elif verb == "PASV" and fam == socket.AF_INET:
                pasv = socket.create_server((me, 0), backlog=1)
                p = pasv.getsockname()[1]
                say("227 Entering Passive Mode (%s,%d,%d)." % (a.pasv_addr.replace(".", ","),
                                                               p >> 8, p & 255))
            elif verb == "EPSV":
                pasv = socket.create_server((me, 0), family=fam, backlog=1)
                say("229 Entering Extended Passive Mode (|||%d|)" % pasv.getsockname()[1])
            elif verb == "PORT":
                n = [int(x) for x in arg.split(",")]
                active = (".".join(map(str, n[:4])), n[4] * 256 + n[5])
                say("200 PORT ok")
            elif verb == "EPRT":
                d = arg[0]
                _, af, host, port, _ = arg.split(d)
                active = (host, int(port))
                say("200 EPRT ok")
            elif verb == "RETR":
                path = os.path.join(a.root, os.path.basename(arg))
                if not os.path.isfile(path) or (pasv is None and active is None):
                    say("550 no such file or no data connection")
                    continue
                say("150 sending")
                if pasv is not None:
                    pasv.settimeout(10)
                    d, _ = pasv.accept()
                    pasv.close()
                    pasv = None
                else:
                    # From the control connection's own address, like real servers:
                    # the gateway's pinhole is exact.
                    d = socket.create_connection(active, timeout=10, source_address=(me, 0))
                    active = None
                with open(path, "rb") as f:
                    while True:
                        chunk = f.read(1 << 16)
                        if not chunk:
                            break
                        d.sendall(chunk)
                d.close()
                say("226 done")
            elif verb == "QUIT":
                say("221 bye")
                return
            else:
                say("502 not implemented")
    except OSError:
        return
    finally:
        conn.close()
        if log:
            log.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--port", type=int, default=21)
    ap.add_argument("--root", required=True)
    ap.add_argument("--chunk", type=int, default=3)
    ap.add_argument("--delay", type=float, default=0.005)
    ap.add_argument("--pasv-addr", default="10.0.0.5")
    ap.add_argument("--log")
    a = ap.parse_args()
    fam = socket.AF_INET6 if ":" in a.addr else socket.AF_INET
    srv = socket.create_server((a.addr, a.port), family=fam, backlog=16, reuse_port=False)
    while True:
        conn, peer = srv.accept()
        threading.Thread(target=serve, args=(conn, peer, a), daemon=True).start()


if __name__ == "__main__":
    main()
