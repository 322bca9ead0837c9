#!/usr/bin/python3
"""bench_inline.py - the inline engine against the kernel FTP helper, in one lab, one run.

Data path: RETR of a --gib GiB file (sparse, in tmpfs) by curl from vsftpd across the
NAT router, MB/s, median of --reps, passive and active, IPv4 and IPv6.  The data
connections never reach the queue, so inline should match the kernel helper.
Control path, per mode:
    NOOP round trip   --noops NOOPs in one control session, mean round trip in us
                      (median of 3 sessions);
                      inline minus kernel is what two verdicts (one each way) add
    transfers         --count small RETRs in one session, each with its own
                      PORT/EPRT/PASV/EPSV (with inline: a rewrite and a pinhole)
    verdict cost      from the daemon's own counters: time spent per queued packet
                      and the packets per second one core could take at that cost
Modes: none (plain forwarding; passive only), kernel, inline.  Ratios are inline to
kernel.  Figures are reported, never asserted; exit status non-zero only when a
measurement could not be made.
Options: --gib N  --reps N  --count N  --noops N  --modes none,kernel,inline
"""
import argparse
import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lab as L  # noqa: E402
import inline as I  # noqa: E402
from bench import curl_speed, ctrl_time  # noqa: E402

DATA_ROWS = [("4", "EPSV"), ("4", "PORT"), ("6", "EPSV"), ("6", "EPRT")]
CTRL_ROWS = [("4", "PASV"), ("4", "PORT"), ("6", "EPSV"), ("6", "EPRT")]
MODES = ("none", "kernel", "inline")

NOOP_CLIENT = r"""
import socket, sys, time
host, n = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.create_connection((host, 21), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
f = s.makefile("rb")
def reply():
    while True:
        l = f.readline()
        if not l:
            raise SystemExit("closed")
        if len(l) >= 4 and l[:3].isdigit() and l[3:4] == b" ":
            return l
reply()
s.sendall(b"USER anonymous\r\n"); reply()
s.sendall(b"PASS bench@\r\n"); reply()
for _ in range(50):
    s.sendall(b"NOOP\r\n"); reply()
t0 = time.perf_counter()
for _ in range(n):
    s.sendall(b"NOOP\r\n"); reply()
dt = time.perf_counter() - t0
s.sendall(b"QUIT\r\n"); reply()
print("noop: %d in %.6f s" % (n, dt))
"""


def noop_rtt(lab, fam, n, reps=3):
    """Mean NOOP round trip in us, the median of reps sessions."""
    host = L.SERVERS["vsftpd"][fam]
    vals = []
    for _ in range(reps):
        r = lab.run("c", [L.PY, "-c", NOOP_CLIENT, host, str(n)], timeout=120, check=False)
        m = re.search(r"noop: (\d+) in ([0-9.]+) s", r.out)
        if not r.ok or not m:
            return None, r.why()
        vals.append(1e6 * float(m.group(2)) / int(m.group(1)))
    return statistics.median(vals), ""


def fmt(v, spec):
    return spec % v if v is not None else "-"


def ratio(a, b):
    return "%.2f" % (a / b) if a is not None and b else "-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--noops", type=int, default=2000)
    ap.add_argument("--modes", default=",".join(MODES))
    a = ap.parse_args()
    modes = [m for m in a.modes.split(",") if m in MODES]
    L.require_root("make bench")
    size = a.gib << 30
    data, ctrl, rtt, cost = {}, {}, {}, {}
    notes = []
    lab = I.InlineLab()
    L.install_signal_handlers(lab)
    t0 = time.monotonic()
    try:
        lab.create()
        lab.make_files(big=False, huge_gib=a.gib)
        lab.start_servers(which=("vsftpd",))
        print("bench-inline: lab %s up; %d GiB sparse file; %d reps; %d small transfers; "
              "%d NOOPs" % (lab.prefix, a.gib, a.reps, a.count, a.noops), flush=True)
        for mode in modes:
            lab.set_mode(mode)
            if mode == "inline" and not lab.start_inline(log_level="info"):
                notes.append("inline: not measured: " + lab.daemon.error)
                continue
            for fam, dmode in DATA_ROWS:
                if mode == "none" and dmode in ("PORT", "EPRT"):
                    continue
                speeds = []
                for _ in range(a.reps):
                    v, why = curl_speed(lab, fam, dmode, size, timeout=180)
                    if v is None:
                        notes.append("%s IPv%s %s data: %s" % (mode, fam, dmode, why))
                        break
                    speeds.append(v)
                if speeds:
                    data[(fam, dmode, mode)] = statistics.median(speeds)
                print("  %-7s data  IPv%s %-4s %s MB/s" % (mode, fam, dmode,
                      " ".join("%.0f" % x for x in speeds) or "FAILED"), flush=True)
            before = lab.daemon.ask("stats") if mode == "inline" else None
            for fam in ("4", "6"):
                v, why = noop_rtt(lab, fam, a.noops)
                if v is None:
                    notes.append("%s IPv%s NOOP: %s" % (mode, fam, why))
                else:
                    rtt[(fam, mode)] = v
                print("  %-7s NOOP  IPv%s      %s" % (mode, fam, "%.1f us" % v if v else "FAILED"),
                      flush=True)
            for fam, dmode in CTRL_ROWS:
                if mode == "none" and dmode in ("PORT", "EPRT"):
                    continue
                v, why = ctrl_time(lab, fam, dmode, a.count, timeout=max(60, a.count))
                if v is None:
                    notes.append("%s IPv%s %s control: %s" % (mode, fam, dmode, why))
                else:
                    ctrl[(fam, dmode, mode)] = v
                print("  %-7s ctrl  IPv%s %-4s %s" % (mode, fam, dmode,
                      "%.2f s" % v if v is not None else "FAILED"), flush=True)
            if mode == "inline":
                after = lab.daemon.ask("stats") or {}
                before = before or {}
                pk = after.get("packets", 0) - before.get("packets", 0)
                ns = after.get("busy_ns", 0) - before.get("busy_ns", 0)
                if pk > 0:
                    cost["packets"] = pk
                    cost["ns"] = ns / pk
                    cost["rewritten"] = (after.get("verdicts", {}).get("rewritten", 0) -
                                         before.get("verdicts", {}).get("rewritten", 0))
                    cost["errors"] = after.get("errors")
                else:
                    notes.append("inline: no queued packets counted")
                clean, detail = lab.daemon.stop()
                if not clean:
                    notes.append("inline stop: " + detail)
                lab.daemon = None
    finally:
        try:
            lab.queue_rules(False)
        except Exception:
            pass
        lab.destroy()
        left = lab.leftovers()
        if left:
            notes.append("cleanup left: " + ", ".join(left))

    print()
    print("data path: RETR %d GiB, curl <- vsftpd across the NAT router, MB/s (median of %d)"
          % (a.gib, a.reps))
    print("  %-12s %9s %9s %9s   %s" % ("", "none", "kernel", "inline", "inline/kernel"))
    for fam, dmode in DATA_ROWS:
        v = [data.get((fam, dmode, m)) for m in MODES]
        print("  IPv%s %-7s %9s %9s %9s   %s" % (fam, dmode, fmt(v[0], "%.0f"), fmt(v[1], "%.0f"),
                                             fmt(v[2], "%.0f"), ratio(v[2], v[1])))
    print()
    print("control path: NOOP round trip in one session (%d NOOPs), microseconds" % a.noops)
    print("  %-12s %9s %9s %9s   %s   %s" % ("", "none", "kernel", "inline", "inline/kernel",
                                            "added by inline"))
    for fam in ("4", "6"):
        v = [rtt.get((fam, m)) for m in MODES]
        add = "%+.1f us" % (v[2] - v[1]) if v[2] is not None and v[1] is not None else "-"
        print("  IPv%s %-7s %9s %9s %9s   %13s   %s" % (fam, "NOOP", fmt(v[0], "%.1f"),
                                                     fmt(v[1], "%.1f"), fmt(v[2], "%.1f"),
                                                     ratio(v[2], v[1]), add))
    print()
    print("control path: %d small RETRs in one session, each with its own data command; "
          "seconds (ms per transfer)" % a.count)
    print("  %-12s %14s %14s %14s   %s" % ("", "none", "kernel", "inline", "inline/kernel"))
    for fam, dmode in CTRL_ROWS:
        v = [ctrl.get((fam, dmode, m)) for m in MODES]
        cells = ["%.2f (%.1f)" % (x, 1000 * x / a.count) if x is not None else "-" for x in v]
        print("  IPv%s %-7s %14s %14s %14s   %s" % (fam, dmode, cells[0], cells[1], cells[2],
                                                 ratio(v[2], v[1])))
    print()
    if cost:
        print("verdict cost (inline daemon's own counters over the control-path runs): %d queued "
              "packets, %d of them rewritten; %.1f us per packet, i.e. about %.0f control "
              "packets/s on one core; engine errors: %s" % (
                  cost["packets"], cost["rewritten"], cost["ns"] / 1000.0,
                  1e9 / cost["ns"] if cost["ns"] else 0, cost["errors"]))
    print("  (the per-packet time covers reading the queue, the FTP core, the rewrite and the "
          "verdict; the kernel's side of NFQUEUE is in the NOOP round trip)")
    print()
    print("bench-inline: %.0fs; figures are noisy, compare ratios within one run" %
          (time.monotonic() - t0))
    if notes:
        print("bench-inline: not everything could be measured:")
        for n in notes:
            print("  " + n)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
