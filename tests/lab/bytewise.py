#!/usr/bin/python3
"""bytewise.py - an FTP client that writes chosen commands one byte per TCP segment.

    bytewise.py --host H [--port 21] --user U --password P --dmode PORT|EPRT|PASV|EPSV
                [--split data|all|none] [--delay 0.02] [--trust-pasv] [--timeout 15]
                get:REMOTE:LOCAL...

With --split data (the default) the data-channel command and RETR are written
a byte at a time with TCP_NODELAY and a pause between bytes, so each byte is a
segment of its own: the case that makes the kernel's FTP helper drop packets.
--split all does it for every command.  --trust-pasv connects to the address a
227 names (like old clients) instead of the control peer.  Each data-channel
command sent is printed to stderr as "> CMD"; exit status 0 only if every
transfer completed.
"""
import argparse
import re
import socket
import sys
import time


class Client:
    def __init__(self, a):
        self.a = a
        fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
        self.s = socket.create_connection((a.host, a.port), timeout=a.timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.fam = fam
        self.buf = b""

    def send(self, line, split):
        data = (line + "\r\n").encode()
        if not split:
            self.s.sendall(data)
            return
        for i in range(len(data)):
            self.s.sendall(data[i:i + 1])
            time.sleep(self.a.delay)

    def reply(self):
        """One whole reply (multi-line aware); returns (code, text)."""
        lines = []
        code = None
        while True:
            while b"\n" not in self.buf:
                chunk = self.s.recv(4096)
                if not chunk:
                    raise EOFError("connection closed; got %r" % lines)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            line = line.decode(errors="replace").rstrip("\r")
            lines.append(line)
            if code is None:
                if len(line) >= 4 and line[:3].isdigit():
                    code = line[:3]
                    if line[3] == " ":
                        return int(code), "\n".join(lines)
                continue
            if line.startswith(code + " "):
                return int(code), "\n".join(lines)

    def cmd(self, line, split=False, expect=None):
        self.send(line, split)
        code, text = self.reply()
        if expect and str(code)[0] not in expect:
            raise RuntimeError("%s -> %s" % (line, text))
        return code, text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, default=21)
    ap.add_argument("--user", default="anonymous")
    ap.add_argument("--password", default="lab@")
    ap.add_argument("--dmode", choices=("PORT", "EPRT", "PASV", "EPSV"), default="PORT")
    ap.add_argument("--split", choices=("data", "all", "none"), default="data")
    ap.add_argument("--delay", type=float, default=0.02)
    ap.add_argument("--trust-pasv", action="store_true")
    ap.add_argument("--timeout", type=float, default=15)
    ap.add_argument("ops", nargs="+")
    a = ap.parse_args()
    c = Client(a)
    split_all = a.split == "all"
    split_data = a.split in ("data", "all")
    code, text = c.reply()
    if code != 220:
        raise RuntimeError("greeting: " + text)
    code, _ = c.cmd("USER " + a.user, split_all, "23")
    if code == 331:
        c.cmd("PASS " + a.password, split_all, "2")
    c.cmd("TYPE I", split_all, "2")
    for op in a.ops:
        kind, remote, local = op.split(":", 2)
        if kind != "get":
            raise SystemExit("unknown op " + op)
        lsock = None
        print("> " + a.dmode, file=sys.stderr, flush=True)
        if a.dmode in ("PORT", "EPRT"):
            me = c.s.getsockname()[0]
            lsock = socket.create_server((me, 0), family=c.fam, backlog=1)
            lsock.settimeout(a.timeout)
            port = lsock.getsockname()[1]
            if a.dmode == "PORT":
                arg = "PORT %s,%d,%d" % (me.replace(".", ","), port >> 8, port & 255)
            else:
                arg = "EPRT |%d|%s|%d|" % (2 if c.fam == socket.AF_INET6 else 1, me, port)
            c.cmd(arg, split_data, "2")
        elif a.dmode == "PASV":
            _, text = c.cmd("PASV", split_data, "2")
            m = re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", text)
            host = ".".join(m.group(i) for i in range(1, 5)) if a.trust_pasv else a.host
            dport = int(m.group(5)) * 256 + int(m.group(6))
        else:
            _, text = c.cmd("EPSV", split_data, "2")
            m = re.search(r"\((.)\1\1(\d+)\1\)", text)
            host, dport = a.host, int(m.group(2))
        if lsock is None:
            d = socket.create_connection((host, dport), timeout=a.timeout)
        c.send("RETR " + remote, split_data)
        code, text = c.reply()
        if code >= 400:
            raise RuntimeError("RETR: " + text)
        if lsock is not None:
            d, _ = lsock.accept()
            lsock.close()
        d.settimeout(a.timeout)
        with open(local, "wb") as f:
            while True:
                b = d.recv(1 << 16)
                if not b:
                    break
                f.write(b)
        d.close()
        if code < 200:
            code, text = c.reply()
        if code != 226:
            raise RuntimeError("after RETR: " + text)
    try:
        c.cmd("QUIT")
    except (OSError, EOFError):
        pass
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, EOFError, RuntimeError, AttributeError) as e:
        print("bytewise: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
