#!/usr/bin/python3
"""demo.py - `make demo`: ftpalgd on a NAT router, active and passive FTP across it.

    LAN client 192.168.1.2 / fd00:1::2  ->  router (masquerade, forward policy drop)
    ->  FTP server 203.0.113.2 / 2001:db8::2 (vsftpd)

1. with ftpalgd on the router: passive (EPSV) and active (PORT / EPRT) transfers,
   IPv4 and IPv6, each checked with sha256;
2. the daemon's log lines about rewrites and pinholes;
3. the same active transfer without the gateway (mode none): it fails;
4. teardown, and a check that nothing is left behind.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lab as L  # noqa: E402
from clients import Job, run_job  # noqa: E402

C_OK = C_FAIL = C_B = C_0 = ""
if sys.stdout.isatty() and os.environ.get("TERM", "dumb") != "dumb":
    C_OK, C_FAIL, C_B, C_0 = "\033[32m", "\033[31;1m", "\033[1m", "\033[0m"


def section(title):
    print("\n%s== %s ==%s" % (C_B, title, C_0), flush=True)


def verdict(ok):
    return (C_OK + "ok  " + C_0) if ok else (C_FAIL + "FAIL" + C_0)


def show(desc, res, expect_ok=True):
    ok, secs, why = res
    good = ok == expect_ok
    extra = "" if ok else "  (%s)" % why
    if not ok and not expect_ok:
        extra += "  <- as expected"
    print("  [%s] %-58s %5.2fs%s" % (verdict(good), desc, secs, extra), flush=True)
    return good


def main():
    L.require_root("make demo")
    results = []
    lab = L.Lab()
    L.install_signal_handlers(lab)
    daemon_log = ""
    try:
        section("lab")
        print("  client ns %s: 192.168.1.2, fd00:1::2      (LAN)" % lab.ns["c"])
        print("  router ns %s: %s | %s      (masquerade on %s)" % (
            lab.ns["r"], lab.if_rl, lab.if_rw, lab.if_rw))
        print("  server ns %s: vsftpd on 203.0.113.2, 2001:db8::2; pyftpdlib on .3, ::3 (WAN)"
              % lab.ns["s"])
        lab.create()
        lab.make_files(big=False)
        lab.start_servers()
        print("  up; test file f1m.bin sha256 %s..." % lab.hashes["f1m.bin"][:16])

        section("ftpalgd on the router")
        lab.set_mode("ftpalgd")
        started = lab.start_daemon()
        d = lab.daemon
        if not started:
            print("  [%s] ftpalgd did not start: %s" % (verdict(False), d.error))
            txt = d.log_text()
            if txt:
                print("  ftpalgd said:")
                for l in txt.splitlines()[-30:]:
                    print("    | " + l)
            results.append(False)
        else:
            print("  [%s] build/ftpalgd -d -f %s  (pid %d, listens :%d, redirects port 21 "
                  "from %s)" % (verdict(True), os.path.basename(d.conf), d.proc.pid,
                               L.DAEMON_PORT, lab.if_rl))
            print("  tables in the router: %s" % ", ".join(lab.nft_tables()[0]))

            section("transfers across the NAT, through ftpalgd")
            cases = [
                ("IPv4 passive EPSV  RETR 1 MiB (curl)", Job("vsftpd", "curl", "4", "EPSV", "get")),
                ("IPv4 active  PORT  RETR 1 MiB (curl)", Job("vsftpd", "curl", "4", "PORT", "get")),
                ("IPv4 active  PORT  STOR 1 MiB (ftplib)", Job("vsftpd", "ftplib", "4", "PORT", "put")),
                ("IPv6 passive EPSV  RETR 1 MiB (curl)", Job("vsftpd", "curl", "6", "EPSV", "get")),
                ("IPv6 active  EPRT  RETR 1 MiB (curl)", Job("vsftpd", "curl", "6", "EPRT", "get")),
                ("IPv4 active  PORT  5 transfers in one session (lftp)",
                 Job("vsftpd", "lftp", "4", "PORT", "session")),
            ]
            for i, (desc, job) in enumerate(cases):
                results.append(show(desc + ", sha256 checked", run_job(lab, job, "demo%d" % i)))

            section("what ftpalgd logged (rewrites and pinholes)")
            daemon_log = d.log_text()
            keys = ("rewrit", "pinhole", "session", "error", "warn")
            lines = [l for l in daemon_log.splitlines() if any(k in l.lower() for k in keys)]
            if not lines:
                lines = daemon_log.splitlines()[-25:]
            for l in lines[:40]:
                print("  | " + re.sub(r"^\d{4}-\d\d-\d\d ", "", l))
            if len(lines) > 40:
                print("  | ... %d more lines in the full log" % (len(lines) - 40))

            clean, detail = d.stop()
            lab.daemon = None
            section("ftpalgd stop (SIGTERM)")
            print("  [%s] %s" % (verdict(clean), detail))
            results.append(clean)

        section("the same active transfers WITHOUT the gateway (firewall only)")
        lab.set_mode("none")
        results.append(show("IPv4 passive EPSV  RETR (curl): still works",
                            run_job(lab, Job("vsftpd", "curl", "4", "EPSV", "get"), "demo-n1")))
        results.append(show("IPv4 active  PORT  RETR (curl, vsftpd): fails",
                            run_job(lab, Job("vsftpd", "curl", "4", "PORT", "get"), "demo-n2",
                                    timeout=6), expect_ok=False))
        print("         vsftpd refuses a PORT naming 192.168.1.2: it sees the control "
              "connection come from 203.0.113.1")
        results.append(show("IPv4 active  PORT  RETR (ftplib, pyftpdlib): fails",
                            run_job(lab, Job("pyftpdlib", "ftplib", "4", "PORT", "get"),
                                    "demo-n3", timeout=6), expect_ok=False))
        results.append(show("IPv6 active  EPRT  RETR (ftplib, pyftpdlib): fails",
                            run_job(lab, Job("pyftpdlib", "ftplib", "6", "EPRT", "get"),
                                    "demo-n4", timeout=6), expect_ok=False))
        print("         pyftpdlib accepts any address and connects to the client; the "
              "router drops it\n         (forward policy drop: nothing relates that "
              "connection to the FTP session)")
    finally:
        section("teardown")
        lab.destroy()
        left = lab.leftovers()
        print("  [%s] namespaces, processes and temp dir removed%s" % (
            verdict(not left), "" if not left else ": LEFT " + ", ".join(left)))
        results.append(not left)

    bad = results.count(False)
    section("result")
    if bad:
        print("  %s%d of %d steps FAILED%s" % (C_FAIL, bad, len(results), C_0))
        if daemon_log:
            print("  full ftpalgd log:")
            for l in daemon_log.splitlines()[-60:]:
                print("    | " + l)
        return 1
    print("  %sall %d steps ok%s: ftpalgd carries active and passive FTP, IPv4 and IPv6, "
          "across NAT" % (C_OK, len(results), C_0))
    return 0


if __name__ == "__main__":
    t0 = time.monotonic()
    rc = main()
    print("  (%.0fs)" % (time.monotonic() - t0))
    sys.exit(rc)
