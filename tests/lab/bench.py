#!/usr/bin/python3
"""bench.py - `make bench`: ftpalgd against the kernel FTP helper, in one lab, one run.

Data path: RETR of a 1 GiB file (sparse, in tmpfs) by curl from vsftpd across the NAT
router, in MB/s, median of --reps runs, passive and active, IPv4 and IPv6, in modes
    none     plain forwarding (passive only: active cannot work there)
    kernel   the kernel helper (the baseline)
    ftpalgd  our daemon
Control path: --count consecutive small RETRs in one control session (each needs its
own PASV/EPSV or PORT/EPRT, i.e. with ftpalgd a rewrite and a pinhole), in seconds.
Ratios are to the kernel helper.  Figures are reported, never asserted; the exit
status is non-zero only when a measurement could not be made.
Options: --gib N (file size), --reps N, --count N, --modes none,kernel,ftpalgd
"""
import argparse
import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lab as L  # noqa: E402

DATA_ROWS = [("4", "EPSV"), ("4", "PORT"), ("6", "EPSV"), ("6", "EPRT")]
CTRL_ROWS = [("4", "PASV"), ("4", "PORT"), ("6", "EPSV"), ("6", "EPRT")]


def curl_speed(lab, fam, dmode, size, timeout):
    s = L.SERVERS["vsftpd"]
    host = "[%s]" % s[fam] if fam == "6" else s[fam]
    opts = {"PASV": ["--ftp-pasv", "--disable-epsv"], "EPSV": ["--ftp-pasv"],
            "PORT": ["-P", "-", "--disable-eprt"], "EPRT": ["-P", "-"]}[dmode]
    r = lab.run("c", ["curl", "-sS", "-g", "--max-time", str(timeout), "-u", "anonymous:bench@",
                      "-o", "/dev/null", "-w", "%{size_download} %{speed_download}"] + opts +
                ["ftp://%s/huge.bin" % host], timeout=timeout + 5, check=False)
    if not r.ok:
        return None, r.why()
    try:
        got, speed = r.out.split()
        if int(float(got)) != size:
            return None, "got %s of %d bytes" % (got, size)
        return float(speed) / 1e6, ""
    except ValueError:
        return None, "unexpected curl output %r" % r.out[:80]


def ctrl_time(lab, fam, dmode, count, timeout):
    s = L.SERVERS["vsftpd"]
    r = lab.run("c", [L.PY, os.path.join(L.HERE, "ftpcli.py"), "--host", s[fam], "--user",
                      s["user"], "--password", s["password"], "--dmode", dmode, "--timeout", "10",
                      "--count", str(count), "small:small.bin"], timeout=timeout, check=False)
    m = re.search(r"small: (\d+) transfers in ([0-9.]+) s", r.out)
    if not r.ok or not m or int(m.group(1)) != count:
        return None, r.why()
    return float(m.group(2)), ""


def fmt(v, spec):
    return spec % v if v is not None else "-"


def ratio(a, b):
    return "%.2f" % (a / b) if a is not None and b else "-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--modes", default="none,kernel,ftpalgd")
    a = ap.parse_args()
    modes = [m for m in a.modes.split(",") if m in L.MODES]
    L.require_root("make bench")
    size = a.gib << 30
    data = {}      # (fam, dmode, mode) -> MB/s median
    ctrl = {}      # (fam, dmode, mode) -> seconds
    notes = []
    lab = L.Lab()
    L.install_signal_handlers(lab)
    t0 = time.monotonic()
    try:
        lab.create()
        lab.make_files(big=False, huge_gib=a.gib)
        lab.start_servers(which=("vsftpd",))
        print("bench: lab %s up; %d GiB sparse file in tmpfs; %d reps; %d small transfers"
              % (lab.prefix, a.gib, a.reps, a.count), flush=True)
        for mode in modes:
            lab.set_mode(mode)
            if mode == "ftpalgd":
                # measure the gateway, not its debug logging
                if not lab.start_daemon(log_level="info"):
                    notes.append("ftpalgd: not measured: " + lab.daemon.error)
                    print("bench: ftpalgd: %s" % lab.daemon.error, flush=True)
                    continue
            for fam, dmode in DATA_ROWS:
                if mode == "none" and dmode in ("PORT", "EPRT"):
                    continue
                speeds = []
                for _ in range(a.reps):
                    v, why = curl_speed(lab, fam, dmode, size, timeout=120)
                    if v is None:
                        notes.append("%s IPv%s %s data: %s" % (mode, fam, dmode, why))
                        break
                    speeds.append(v)
                if speeds:
                    data[(fam, dmode, mode)] = statistics.median(speeds)
                print("  %-8s data  IPv%s %-4s %s MB/s" % (mode, fam, dmode,
                      " ".join("%.0f" % x for x in speeds) or "FAILED"), flush=True)
            for fam, dmode in CTRL_ROWS:
                if mode == "none" and dmode in ("PORT", "EPRT"):
                    continue
                v, why = ctrl_time(lab, fam, dmode, a.count, timeout=max(60, a.count))
                if v is None:
                    notes.append("%s IPv%s %s control: %s" % (mode, fam, dmode, why))
                else:
                    ctrl[(fam, dmode, mode)] = v
                print("  %-8s ctrl  IPv%s %-4s %s" % (mode, fam, dmode,
                      "%.2f s" % v if v is not None else "FAILED"), flush=True)
            if mode == "ftpalgd" and lab.daemon is not None:
                clean, detail = lab.daemon.stop()
                if not clean:
                    notes.append("ftpalgd stop: " + detail)
                lab.daemon = None
    finally:
        lab.destroy()
        left = lab.leftovers()
        if left:
            notes.append("cleanup left: " + ", ".join(left))

    print()
    print("data path: RETR %d GiB, curl <- vsftpd across the NAT router, MB/s (median of %d)"
          % (a.gib, a.reps))
    print("  %-12s %9s %9s %9s   %s" % ("", "none", "kernel", "ftpalgd", "ftpalgd/kernel"))
    for fam, dmode in DATA_ROWS:
        v = [data.get((fam, dmode, m)) for m in ("none", "kernel", "ftpalgd")]
        print("  IPv%s %-7s %9s %9s %9s   %s" % (fam, dmode, fmt(v[0], "%.0f"), fmt(v[1], "%.0f"),
                                             fmt(v[2], "%.0f"), ratio(v[2], v[1])))
    print()
    print("control path: %d small RETRs in one session (ftplib), each with its own data "
          "command; seconds (ms per transfer)" % a.count)
    print("  %-12s %14s %14s %14s   %s" % ("", "none", "kernel", "ftpalgd", "ftpalgd/kernel"))
    for fam, dmode in CTRL_ROWS:
        v = [ctrl.get((fam, dmode, m)) for m in ("none", "kernel", "ftpalgd")]
        cells = ["%.2f (%.1f)" % (x, 1000 * x / a.count) if x is not None else "-" for x in v]
        # time ratio: > 1 means ftpalgd is slower than the kernel helper
        print("  IPv%s %-7s %14s %14s %14s   %s" % (fam, dmode, cells[0], cells[1], cells[2],
                                                 ratio(v[2], v[1])))
    print("  (control ratio = time with ftpalgd / time with the kernel helper: above 1 is slower)")
    print()
    print("bench: %.0fs; figures are noisy, compare ratios within one run" %
          (time.monotonic() - t0))
    if notes:
        print("bench: not everything could be measured:")
        for n in notes:
            print("  " + n)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
