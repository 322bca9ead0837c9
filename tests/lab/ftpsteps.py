#!/usr/bin/python3
"""ftpsteps.py - one FTP control session that runs steps as the lab tells it to.

    ftpsteps.py --host H --user U --password P [--timeout 30] STEP...

STEPs, in one control connection:
    list           EPSV + LIST (passive: nothing for a gateway to rewrite)
    noop           NOOP
    wait:PATH      wait until PATH exists (at most 120 s): the lab's go-ahead
Each step prints "step N NAME ok T" (T: time.time() when it completed) or
"step N NAME FAIL reason" to stdout, flushed, so the lab can follow.  Exit 0
only if every step succeeded.
"""
import argparse
import ftplib
import os
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--user", default="anonymous")
    ap.add_argument("--password", default="lab@")
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("steps", nargs="+")
    a = ap.parse_args()
    ftp = ftplib.FTP(timeout=a.timeout)
    ftp.connect(a.host, 21)
    ftp.login(a.user, a.password)
    ftp.set_pasv(True)
    print("step 0 login ok %.3f" % time.time(), flush=True)
    for i, step in enumerate(a.steps, 1):
        kind, _, arg = step.partition(":")
        try:
            if kind == "list":
                # EPSV whatever the family: the reply carries no address.
                ftp.voidcmd("TYPE A")
                peer = ftp.sock.getpeername()
                _, port = ftplib.parse229(ftp.sendcmd("EPSV"), peer)
                conn = socket.create_connection((peer[0], port), timeout=a.timeout)
                resp = ftp.sendcmd("LIST")
                if resp[0] not in "12":
                    conn.close()
                    raise ftplib.error_reply(resp)
                with conn:
                    lines = conn.makefile("r", encoding="latin-1").read().splitlines()
                ftp.voidresp()
                if not any("f1m.bin" in l for l in lines):
                    raise RuntimeError("listing lacks f1m.bin")
            elif kind == "noop":
                ftp.voidcmd("NOOP")
            elif kind == "wait":
                end = time.time() + 120
                while not os.path.exists(arg):
                    if time.time() > end:
                        raise RuntimeError("no go-ahead " + arg)
                    time.sleep(0.05)
            else:
                raise RuntimeError("unknown step " + step)
            print("step %d %s ok %.3f" % (i, kind, time.time()), flush=True)
        except (ftplib.all_errors + (RuntimeError, EOFError)) as e:
            print("step %d %s FAIL %s: %s" % (i, kind, type(e).__name__, e), flush=True)
            return 1
    try:
        ftp.quit()
    except ftplib.all_errors:
        ftp.close()
    print("done %.3f" % time.time(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
