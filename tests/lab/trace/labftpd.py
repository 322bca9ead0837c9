#!/usr/bin/python3
"""labftpd.py - the pcap doctor lab's FTP server (pyftpdlib), plain or FTPS.

    labftpd.py --addr A --port P --root DIR [--pasv 50100-50199]
               [--tls CERTFILE] [--active-timeout 3]

One user lab/lab with write access.  PORT/EPRT to any address is accepted
(permit_foreign_addresses), so that a PORT naming an untranslated LAN address
fails at the router's firewall, where the lab wants it to fail.  With --tls
the server offers AUTH TLS (explicit FTPS) with the given certificate+key PEM.
Run with /usr/bin/python3: Debian's interpreter sees python3-pyftpdlib.
"""
import argparse
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
    ap.add_argument("--pasv", default="50100-50199")
    ap.add_argument("--tls", default=None)
    ap.add_argument("--active-timeout", type=int, default=3)
    a = ap.parse_args()

    auth = DummyAuthorizer()
    auth.add_user("lab", "lab", a.root, perm="elradfmwMT")
    lo, hi = (int(x) for x in a.pasv.split("-"))
    ActiveDTP.timeout = a.active_timeout  # fail fast when a firewall drops us

    if a.tls:
        from pyftpdlib.handlers import TLS_FTPHandler

        class Handler(TLS_FTPHandler):
            pass

        Handler.certfile = a.tls
        Handler.tls_control_required = True
        Handler.tls_data_required = True
    else:
        class Handler(FTPHandler):
            pass

    Handler.authorizer = auth
    Handler.passive_ports = range(lo, hi + 1)
    Handler.permit_foreign_addresses = True
    Handler.banner = "ftpalg trace lab ready"
    Handler.timeout = 60

    server = FTPServer((a.addr, a.port), Handler)

    def stop(*_):
        server.close_all()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever(handle_exit=False)


if __name__ == "__main__":
    main()
