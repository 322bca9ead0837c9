#!/usr/bin/python3
"""hacli.py - one FTP control session for the HA lab (tests/lab/ha.py), driven step by step.

    hacli.py --host H [--source ADDR] [--user U] [--password P] [--timeout 20] STEP...

STEPs, in order, in one control connection (DMODE is PASV, EPSV, PORT or EPRT):
    get:NAME:DMODE[:RATE[:MARK]]   RETR NAME, read at most RATE bytes/s (0: no limit);
                                   touch MARK once an eighth has arrived; prints the
                                   byte count, sha256 and the longest stall
    list:DMODE                     LIST, must name f1m.bin
    announce:DMODE                 send PASV/EPSV/PORT/EPRT and keep what it announced
    use                            LIST over the data channel announced last
    noop                           NOOP
    wait:PATH                      wait until PATH exists (at most 120 s)
    touch:PATH                     create PATH (tell the lab a point was reached)
Each step prints "step N NAME ok T [detail]" (T: time.time()) or "step N NAME FAIL why",
flushed.  Exit 0 only if every step succeeded.  --source binds the control connection
(and so the PORT/EPRT address) to one of the client's addresses.
"""
import argparse
import ftplib
import hashlib
import os
import socket
import sys
import time


class Session:
    def __init__(self, a):
        self.a = a
        self.ftp = ftplib.FTP(timeout=a.timeout,
                              source_address=(a.source, 0) if a.source else None)
        self.announced = None    # ("passive", (host, port)) or ("active", listening socket)

    def login(self):
        self.ftp.connect(self.a.host, 21)
        self.ftp.login(self.a.user, self.a.password)

    def announce(self, dmode):
        ftp = self.ftp
        ftp.voidcmd("TYPE I")
        peer = ftp.sock.getpeername()[0]
        if dmode == "EPSV":
            _, port = ftplib.parse229(ftp.sendcmd("EPSV"), peer)
            self.announced = ("passive", (peer, port))
        elif dmode == "PASV":
            _, port = ftplib.parse227(ftp.sendcmd("PASV"))
            self.announced = ("passive", (peer, port))
        else:
            local = ftp.sock.getsockname()[0]
            sock = socket.create_server((local, 0), backlog=1)
            sock.settimeout(self.a.timeout)
            port = sock.getsockname()[1]
            try:
                if dmode == "PORT":
                    ftp.sendport(local, port)
                else:
                    ftp.sendeprt(local, port)
            except ftplib.all_errors:
                sock.close()
                raise
            self.announced = ("active", sock)

    def open_data(self, cmd):
        """Sends cmd over the announced channel; returns the data socket."""
        if self.announced is None:
            raise RuntimeError("nothing announced")
        kind, what = self.announced
        self.announced = None
        if kind == "passive":
            conn = socket.create_connection(what, timeout=self.a.timeout)
            resp = self.ftp.sendcmd(cmd)
            if resp[0] not in "12":
                conn.close()
                raise ftplib.error_reply(resp)
            return conn
        try:
            resp = self.ftp.sendcmd(cmd)
            if resp[0] not in "12":
                raise ftplib.error_reply(resp)
            conn, _ = what.accept()
            conn.settimeout(self.a.timeout)
            return conn
        finally:
            what.close()

    def do_list(self):
        conn = self.open_data("LIST")
        with conn:
            data = b""
            while len(data) < 1 << 20:
                b = conn.recv(65536)
                if not b:
                    break
                data += b
        self.ftp.voidresp()
        if b"f1m.bin" not in data:
            raise RuntimeError("listing lacks f1m.bin")
        return "%d bytes" % len(data)

    def do_get(self, name, rate, mark, size_hint):
        conn = self.open_data("RETR " + name)
        h = hashlib.sha256()
        n = 0
        t0 = last = time.monotonic()
        stall = 0.0
        marked = False
        with conn:
            while True:
                b = conn.recv(32768)
                if not b:
                    break
                now = time.monotonic()
                stall = max(stall, now - last)
                last = now
                h.update(b)
                n += len(b)
                if mark and not marked and n >= size_hint // 8:
                    open(mark, "w").close()
                    marked = True
                if rate:
                    ahead = n / rate - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(min(ahead, 0.5))
        self.ftp.voidresp()
        return "bytes=%d sha256=%s stall=%.2f" % (n, h.hexdigest(), stall)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--source")
    ap.add_argument("--user", default="anonymous")
    ap.add_argument("--password", default="lab@")
    ap.add_argument("--timeout", type=float, default=20)
    ap.add_argument("--size", type=int, default=16 << 20, help="size of the file get reads")
    ap.add_argument("steps", nargs="+")
    a = ap.parse_args()
    s = Session(a)
    try:
        s.login()
    except (ftplib.all_errors + (EOFError,)) as e:
        print("step 0 login FAIL %s: %s" % (type(e).__name__, e), flush=True)
        return 1
    print("step 0 login ok %.3f" % time.time(), flush=True)
    for i, step in enumerate(a.steps, 1):
        parts = step.split(":")
        kind = parts[0]
        detail = ""
        try:
            if kind == "get":
                s.announce(parts[2])
                rate = int(parts[3]) if len(parts) > 3 else 0
                mark = parts[4] if len(parts) > 4 else None
                detail = s.do_get(parts[1], rate, mark, a.size)
            elif kind == "list":
                s.announce(parts[1])
                detail = s.do_list()
            elif kind == "announce":
                s.announce(parts[1])
            elif kind == "use":
                detail = s.do_list()
            elif kind == "noop":
                s.ftp.voidcmd("NOOP")
            elif kind == "wait":
                end = time.time() + 120
                while not os.path.exists(parts[1]):
                    if time.time() > end:
                        raise RuntimeError("no go-ahead " + parts[1])
                    time.sleep(0.05)
            elif kind == "touch":
                open(parts[1], "w").close()
            else:
                raise RuntimeError("unknown step " + step)
            print("step %d %s ok %.3f %s" % (i, kind, time.time(), detail), flush=True)
        except (ftplib.all_errors + (RuntimeError, EOFError)) as e:
            print("step %d %s FAIL %s: %s" % (i, kind, type(e).__name__, str(e)[:200]), flush=True)
            return 1
    try:
        s.ftp.quit()
    except ftplib.all_errors:
        s.ftp.close()
    print("done %.3f" % time.time(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
