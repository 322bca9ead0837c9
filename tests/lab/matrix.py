#!/usr/bin/python3
"""matrix.py - the lab's test matrix (make check / make lab-check, via run-lab.sh).

One lab (three namespaces), every row run in each gateway mode:
    none     firewall only: passive must work, active must FAIL (the firewall is real)
    kernel   kernel FTP helper: everything works, except the rows marked as a known
             limitation (a PORT that does not start a TCP segment)
    ftpalgd  our daemon: everything works

A test is one matrix cell whose outcome matched its expectation, plus the ftpalgd
start/stop checks and the final leftover check.  Writes build/results/lab.txt as
"passed=N failed=M" and the table to build/lab/matrix.log; on failure the lab's
logs (servers, daemon, commands) are kept in build/lab/logs/.

Options: --modes none,kernel,ftpalgd  --quick (fewer rows)  -v (show commands)
"""
import argparse
import os
import shutil
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lab as L  # noqa: E402
from clients import CLIENTS, Job, run_job, supports  # noqa: E402

OUT = os.path.join(L.REPO, "build", "results")
LABOUT = os.path.join(L.REPO, "build", "lab")

FAMILY_DMODES = [("4", "PASV"), ("4", "EPSV"), ("4", "PORT"), ("4", "EPRT"),
                 ("6", "EPSV"), ("6", "EPRT")]


class Row:
    def __init__(self, job, kernel_fails=None, note=""):
        self.job = job
        self.kernel_fails = kernel_fails   # reason the kernel helper is known to fail
        self.note = note
        self.cells = {}                    # mode -> (ok, secs, why, expected_ok)

    def expect_ok(self, mode):
        if mode == "none":
            return not self.job.active
        if mode == "kernel":
            return not self.kernel_fails
        return True


def build_rows(quick=False):
    rows = []
    servers = ("vsftpd", "pyftpdlib")
    ops = ("get", "put", "list")
    # Every server x family x data command x op, one client per cell, rotating.
    for si, server in enumerate(servers):
        for fi, (fam, dmode) in enumerate(FAMILY_DMODES):
            for oi, op in enumerate(ops):
                if quick and oi > 0 and si > 0:
                    continue
                start = (si + fi + oi) % len(CLIENTS)
                for k in range(len(CLIENTS)):
                    client = CLIENTS[(start + k) % len(CLIENTS)]
                    if supports(client, fam, dmode, op):
                        break
                rows.append(Row(Job(server, client, fam, dmode, op)))
    # Several transfers (RETR, STOR, LIST, RETR, RETR) in one control session.
    sess = [("vsftpd", "4", "PASV", "ftplib"), ("vsftpd", "4", "PORT", "lftp"),
            ("vsftpd", "6", "EPSV", "lftp"), ("vsftpd", "6", "EPRT", "ftplib"),
            ("pyftpdlib", "4", "EPSV", "ftplib"), ("pyftpdlib", "4", "EPRT", "ftplib"),
            ("pyftpdlib", "4", "PORT", "lftp"), ("pyftpdlib", "6", "EPRT", "lftp")]
    for server, fam, dmode, client in (sess[:4] if quick else sess):
        rows.append(Row(Job(server, client, fam, dmode, "session")))
    # 64 MiB downloads.
    big = [("vsftpd", "4", "EPSV"), ("vsftpd", "4", "PORT"),
           ("pyftpdlib", "6", "EPSV"), ("pyftpdlib", "6", "EPRT")]
    for server, fam, dmode in (big[:2] if quick else big):
        rows.append(Row(Job(server, "curl", fam, dmode, "get64")))
    # lftp without sync mode pipelines TYPE/SIZE/MDTM/PORT/RETR into one segment.
    why = "kernel helper only parses a command at the start of a segment"
    rows.append(Row(Job("vsftpd", "lftp-pipe", "4", "PORT", "get"), kernel_fails=why))
    if not quick:
        rows.append(Row(Job("pyftpdlib", "lftp-pipe", "6", "EPRT", "get"), kernel_fails=why))
    return rows


OPNAME = {"get": "RETR 1M", "get64": "RETR 64M", "put": "STOR 1M", "list": "LIST/MLSD",
          "session": "5 in 1 sess"}


def cell_text(cell):
    if cell is None:
        return "-"
    ok, secs, why, exp = cell
    word = "ok" if ok else "FAIL"
    mark = "" if ok == exp else "!!"
    if not ok and exp is False:
        mark = "*"
    return "%-6s %5.2fs" % (word + mark, secs)


def render(rows, modes, extra):
    lines = []
    hdr = "%3s  %-9s %-9s %-4s %-4s %-11s" % ("#", "server", "client", "fam", "cmd", "op")
    lines.append(hdr + "".join(" | %-13s" % m for m in modes))
    lines.append("-" * len(lines[0]))
    for i, r in enumerate(rows, 1):
        j = r.job
        line = "%3d  %-9s %-9s %-4s %-4s %-11s" % (i, j.server, j.client, "v" + j.fam, j.dmode,
                                                   OPNAME[j.op])
        line += "".join(" | %-13s" % cell_text(r.cells.get(m)) for m in modes)
        lines.append(line)
    width = len("%3d  %-9s %-9s %-4s %-4s %-11s" % (0, "", "", "", "", ""))
    for name, cells in extra:
        line = ("     " + name)[:width].ljust(width)
        line += "".join(" | %-13s" % cells.get(m, "-") for m in modes)
        lines.append(line)
    lines.append("-" * len(lines[0]))
    lines.append("ok = transfer worked and checked (sha256, listing, the data command sent); "
                 "FAIL = it did not")
    lines.append("FAIL* = failed as expected (none: no gateway for active FTP; kernel: known "
                 "limitation); !! = NOT as expected")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modes", default="none,kernel,ftpalgd")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    modes = [m for m in a.modes.split(",") if m]
    for m in modes:
        if m not in L.MODES:
            ap.error("unknown mode " + m)
    L.require_root("make check")

    os.makedirs(OUT, exist_ok=True)
    os.makedirs(LABOUT, exist_ok=True)
    shutil.rmtree(os.path.join(LABOUT, "logs"), ignore_errors=True)
    stale = L.stale_labs()
    if stale:
        print("lab: note: namespaces of earlier lab runs that no longer run: %s "
              "(remove with: ip netns del NAME)" % " ".join(stale), flush=True)
    t_start = time.monotonic()
    rows = build_rows(a.quick)
    passed = failed = 0
    extra = []                 # (name, {mode: text}) rows for non-transfer checks
    failures = []              # text lines
    daemon_logs = []
    lab = L.Lab(verbose=a.verbose)
    L.install_signal_handlers(lab)
    crashed = None
    try:
        print("lab: namespaces %s, temp %s" % (", ".join(lab.ns.values()), lab.tmp), flush=True)
        lab.create()
        lab.make_files(big=True)
        lab.start_servers()
        print("lab: vsftpd and pyftpdlib up on IPv4 and IPv6; %d rows x %d modes"
              % (len(rows), len(modes)), flush=True)
        seq = 0
        for mode in modes:
            t_mode = time.monotonic()
            lab.set_mode(mode)
            skip_reason = None
            if mode == "ftpalgd":
                started = lab.start_daemon()
                d = lab.daemon
                extra.append(("ftpalgd start: :%d + table ftpalg" % L.DAEMON_PORT,
                              {"ftpalgd": "ok" if started else "FAIL!!"}))
                if started:
                    passed += 1
                else:
                    failed += 1
                    failures.append("ftpalgd: start: " + d.error)
                    skip_reason = d.error
            n_ok = n_bad = 0
            for r in rows:
                seq += 1
                exp = r.expect_ok(mode)
                if skip_reason:
                    cell = (False, 0.0, skip_reason, exp)
                else:
                    timeout = 30 if r.job.op in ("get64", "session") else 20
                    if not exp:
                        timeout = 8       # expected to fail: do not wait long
                    try:
                        ok, secs, why = run_job(lab, r.job, "r%d" % seq, timeout=timeout)
                    except L.LabError as e:
                        ok, secs, why = False, 0.0, str(e)
                    cell = (ok, secs, why, exp)
                r.cells[mode] = cell
                if cell[0] == exp:
                    passed += 1
                    n_ok += 1
                else:
                    failed += 1
                    n_bad += 1
                    if skip_reason:
                        continue
                    failures.append("%-8s %s: %s%s" % (
                        mode, " ".join(r.job.key()),
                        "unexpectedly worked" if cell[0] else "failed: " + cell[2],
                        "" if exp else " (expected to fail)"))
                if a.verbose or cell[0] != exp:
                    print("  %-8s %-55s %s %s" % (mode, " ".join(r.job.key()), cell_text(cell),
                                                  "" if cell[0] == exp else cell[2]), flush=True)
            if skip_reason:
                failures.append("%-8s all %d cells FAILED: %s" % (mode, len(rows), skip_reason))
            if mode == "ftpalgd" and lab.daemon is not None and lab.daemon.proc is not None:
                d = lab.daemon
                clean, detail = d.stop()
                extra.append(("ftpalgd stop: SIGTERM, table removed",
                              {"ftpalgd": "ok" if clean else "FAIL!!"}))
                if clean:
                    passed += 1
                else:
                    failed += 1
                    failures.append("ftpalgd: stop: " + detail)
                if n_bad or not clean:
                    daemon_logs.append(d.log_text())
                lab.daemon = None
            print("lab: mode %-8s %3d as expected, %d not (%.0fs)"
                  % (mode, n_ok, n_bad, time.monotonic() - t_mode), flush=True)
    except BaseException as e:           # KeyboardInterrupt, SystemExit from signals too
        crashed = e
        if not isinstance(e, (KeyboardInterrupt, SystemExit)):
            traceback.print_exc()
    finally:
        keep = os.path.join(LABOUT, "logs") if (failed or crashed) else None
        lab.destroy(keep_logs_to=keep)
        left = lab.leftovers()
        ours = [n for n in L.Lab.netns_list() if n.startswith(lab.prefix)]
        clean = not left and not ours
        extra.append(("cleanup: nothing left behind",
                      {modes[-1]: "ok" if clean else "FAIL!!"}))
        if clean:
            passed += 1
        else:
            failed += 1
            failures.append("cleanup: left behind: %s" % ", ".join(left + ours))

    if crashed is not None:
        failed += 1
        failures.append("lab run aborted: %s" % (type(crashed).__name__ + " " + str(crashed)))

    table = render(rows, modes, extra)
    elapsed = time.monotonic() - t_start
    print()
    print("ftpalg lab matrix (server x client x family x data command x op; modes side by side)")
    print(table)
    if failures:
        print("\nnot as expected:")
        for f in failures:
            print("  " + f)
    for text in daemon_logs:
        tail = text.splitlines()[-80:]
        print("\nftpalgd log (last %d lines):" % len(tail))
        for l in tail:
            print("  | " + l)
    if failed and os.path.isdir(os.path.join(LABOUT, "logs")):
        print("\nlab logs kept in %s" % os.path.relpath(os.path.join(LABOUT, "logs"), L.REPO))
    summary = "passed=%d failed=%d" % (passed, failed)
    with open(os.path.join(OUT, "lab.txt"), "w") as f:
        f.write(summary + "\n")
    with open(os.path.join(LABOUT, "matrix.log"), "w") as f:
        f.write(table + "\n" + "\n".join(failures) + "\n" + summary + "\n")
    print("\nlab: %s (%.0fs)" % (summary, elapsed))
    if isinstance(crashed, KeyboardInterrupt):
        return 130
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
