#!/usr/bin/python3
"""ftpcli.py - the lab's Python ftplib client, with every data-channel command.

    ftpcli.py --host H [--port 21] --user U --password P --dmode PASV|EPSV|PORT|EPRT
              [--timeout 20] [--count N] OP...

OPs, run in order in one control session:
    get:REMOTE:LOCAL    RETR into a local file
    put:LOCAL:REMOTE    STOR from a local file
    list                MLSD if the server offers it, else LIST (printed to stdout)
    nlst                NLST (printed to stdout)
    small:REMOTE        RETR into memory, N times (--count): the control-path bench

Unlike plain ftplib, which picks PASV/PORT for IPv4 and EPSV/EPRT for IPv6, this
client sends exactly the command asked for and never falls back to another one.
Every data-channel command sent is printed to stderr as "> CMD ...", so the lab
can check which command really went over the wire.  Exit status 0 only if every
operation succeeded.
"""
import argparse
import ftplib
import socket
import sys
import time


class LabFTP(ftplib.FTP):
    dmode = "PASV"
    last_cmd = ""           # for the error line: what the client waited on
    last_t = 0.0
    waiting = "reply"

    def putcmd(self, line):
        self.last_cmd = line.split(" ", 1)[0] if line.upper().startswith("PASS") else line
        self.last_t = time.monotonic()
        self.waiting = "reply"
        super().putcmd(line)

    last_resp = ""

    def getresp(self):
        self.last_resp = ""
        r = super().getresp()
        self.last_resp = r.split("\n", 1)[0][:60]
        return r

    def ntransfercmd(self, cmd, rest=None):
        conn, size = super().ntransfercmd(cmd, rest)
        self.waiting = "data"
        return conn, size

    def _note(self, cmd):
        print("> " + cmd, file=sys.stderr, flush=True)

    def makepasv(self):
        peer = self.sock.getpeername()[0]
        if self.dmode == "EPSV":
            self._note("EPSV")
            _, port = ftplib.parse229(self.sendcmd("EPSV"), peer)
        else:
            self._note("PASV")
            untrusted, port = ftplib.parse227(self.sendcmd("PASV"))
            # Like curl >= 7.74 and Python >= 3.9.3: connect to the control peer.
        return peer, port

    def makeport(self):
        local = self.sock.getsockname()[0]
        sock = socket.create_server((local, 0), family=self.af, backlog=1)
        port = sock.getsockname()[1]
        if self.dmode == "PORT":
            self._note("PORT")
            self.sendport(local, port)
        else:
            self._note("EPRT")
            self.sendeprt(local, port)
        if self.timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
            sock.settimeout(self.timeout)
        return sock


FTP_ = None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, default=21)
    ap.add_argument("--user", default="anonymous")
    ap.add_argument("--password", default="lab@")
    ap.add_argument("--dmode", choices=("PASV", "EPSV", "PORT", "EPRT"), default="PASV")
    ap.add_argument("--timeout", type=float, default=20)
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("ops", nargs="+")
    a = ap.parse_args()

    global FTP_
    ftp = FTP_ = LabFTP(timeout=a.timeout)
    ftp.dmode = a.dmode
    ftp.set_pasv(a.dmode in ("PASV", "EPSV"))
    ftp.connect(a.host, a.port)
    ftp.login(a.user, a.password)
    feats = ""
    try:
        feats = ftp.sendcmd("FEAT")
    except ftplib.all_errors:
        pass
    for op in a.ops:
        kind, _, rest = op.partition(":")
        if kind == "get":
            remote, local = rest.split(":", 1)
            with open(local, "wb") as f:
                ftp.retrbinary("RETR " + remote, f.write, blocksize=1 << 16)
        elif kind == "put":
            local, remote = rest.split(":", 1)
            with open(local, "rb") as f:
                ftp.storbinary("STOR " + remote, f, blocksize=1 << 16)
        elif kind == "list":
            if "MLSD" in feats.upper():
                for name, facts in ftp.mlsd():
                    print(name, facts.get("type", ""), facts.get("size", ""))
            else:
                ftp.retrlines("LIST", print)
        elif kind == "nlst":
            for name in ftp.nlst():
                print(name)
        elif kind == "small":
            t0 = time.monotonic()
            n = 0
            for _ in range(a.count):
                buf = []
                ftp.retrbinary("RETR " + rest, buf.append)
                n += 1
            print("small: %d transfers in %.3f s" % (n, time.monotonic() - t0))
        else:
            print("unknown op " + op, file=sys.stderr)
            return 2
    try:
        ftp.quit()
    except ftplib.all_errors:
        ftp.close()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ftplib.all_errors + (EOFError,) as e:
        f = FTP_
        where = ""
        if f is not None and f.last_cmd:
            # active mode: accept() waits for the server's connection inside transfercmd
            what = ("data" if f.waiting == "data" else
                    "server's data connection, reply %r came" % f.last_resp if f.last_resp
                    else "reply")
            where = " (after %r, %.1f s ago, waiting for the %s)" % (
                f.last_cmd, time.monotonic() - f.last_t, what)
        print("ftpcli: %s: %s%s" % (type(e).__name__, e, where), file=sys.stderr)
        sys.exit(1)
