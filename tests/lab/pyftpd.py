#!/usr/bin/python3
"""pyftpd.py - the lab's pyftpdlib server: one address, one user with write access.

Run with /usr/bin/python3 (Debian's interpreter, which sees python3-pyftpdlib):

    pyftpd.py --addr 203.0.113.3 --port 21 --root DIR --user lab --password lab \
              --pasv 50100-50199 [--active-timeout 3]

Accepts PORT/EPRT to any address (permit_foreign_addresses): a data connection
to an untranslated LAN address then fails on the router's firewall, not on a
server-side check, so the lab's "active fails without a gateway" is real.
With --strict, pyftpdlib's own defaults instead: PORT/EPRT must name the control
connection's peer and a passive data connection must come from it (the inbound
lab, tests/lab/inbound.py, runs it like that, as a real intranet server would).
"""
import argparse
import logging
import signal
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import ActiveDTP, FTPHandler
from pyftpdlib.servers import FTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--port", type=int, default=21)
    ap.add_argument("--root", required=True)
    ap.add_argument("--user", default="lab")
    ap.add_argument("--password", default="lab")
    ap.add_argument("--pasv", default="50100-50199")
    ap.add_argument("--active-timeout", type=int, default=3)
    ap.add_argument("--log", default=None)
    ap.add_argument("--strict", action="store_true",
                    help="refuse foreign addresses (pyftpdlib's default)")
    a = ap.parse_args()

    logging.basicConfig(filename=a.log, level=logging.INFO,
                        format="%(asctime)s pyftpd[%(process)d] %(message)s")

    auth = DummyAuthorizer()
    auth.add_user(a.user, a.password, a.root, perm="elradfmwMT")

    lo, hi = (int(x) for x in a.pasv.split("-"))
    ActiveDTP.timeout = a.active_timeout  # fail fast when the firewall drops us

    class Handler(FTPHandler):
        pass

    Handler.authorizer = auth
    Handler.passive_ports = range(lo, hi + 1)
    Handler.permit_foreign_addresses = not a.strict
    Handler.banner = "lab pyftpdlib ready"
    Handler.timeout = 120

    server = FTPServer((a.addr, a.port), Handler)
    server.max_cons = 256
    server.max_cons_per_ip = 0

    def stop(*_):
        server.close_all()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever(handle_exit=False)


if __name__ == "__main__":
    main()
