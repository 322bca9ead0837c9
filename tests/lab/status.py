#!/usr/bin/python3
"""status.py - `ftpalg status|sessions|pinholes|stats|metrics` against a running ftpalgd
in the lab, during real transfers.

A client downloads a file slowly (curl --limit-rate) in active mode, so that
the session, its mode, its transfer and its pinhole can be seen while they
exist; the answers are checked both as JSON and as the human tables.  After
the session ends, the daemon must list no session and no pinhole, and the
counters must show what happened.  Before that, an active session held open
after its PORT shows its announced pinhole exactly as the kernel holds it, and
the kernel holds nothing of it once that session ends; a consumed pinhole is
neither listed nor in the kernel.  Writes build/results/status.txt.
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lab as L                                    # noqa: E402

CLI = os.path.join(L.REPO, "build", "ftpalg")

# An active session held open after its PORT was answered and before any data
# command: its pinhole is announced, unconsumed, and must show as the kernel holds it.
HOLD = r"""
import ftplib, socket, sys
f = ftplib.FTP(sys.argv[1], timeout=10)
f.login()
ls = socket.socket()
ls.bind((sys.argv[2], 0))
ls.listen(1)
port = ls.getsockname()[1]
f.sendcmd("PORT %s,%d,%d" % (sys.argv[2].replace(".", ","), port >> 8, port & 255))
print(port, flush=True)
sys.stdin.readline()
f.quit()
"""


kernel_elements = L.kernel_elements
OUT = os.path.join(L.REPO, "build", "results")


def main():
    L.require_root("make check")
    os.makedirs(OUT, exist_ok=True)
    lab = L.Lab()
    L.install_signal_handlers(lab)
    checks = []

    def check(name, ok, detail=""):
        checks.append((name, bool(ok), detail))

    def cli(*args, as_json=True):
        argv = [CLI, "-s", lab.daemon.sock] + (["--json"] if as_json else []) + list(args)
        r = lab.run("r", argv, timeout=10, check=False)
        if as_json:
            try:
                return json.loads(r.out)
            except ValueError:
                return {"_error": "rc=%s out=%r err=%r" % (r.rc, r.out[-300:], r.err[-300:])}
        return r.out + r.err

    t0 = time.monotonic()
    try:
        lab.create()
        lab.make_files(big=True)
        lab.start_servers(which=("vsftpd",), families=("4",))
        lab.set_mode("ftpalgd")
        # besides the transparent listener: a relay mapping on the router's LAN
        # address in front of the WAN server, to see `ftpalg relays` at work
        relay_conf = "mapping = %s:2100 -> %s:21 relay\n" % (L.RLAN4, L.SERVERS["vsftpd"]["4"])
        check("ftpalgd starts", lab.start_daemon(extra_conf=relay_conf), lab.daemon.error or "")
        st = cli("status")
        check("status: version, pid, listener", st.get("version") and st.get("pid")
              and any(":%d" % L.DAEMON_PORT in a for a in st.get("listen", [])), st)
        check("status: idle daemon has no session", st.get("sessions") == 0, st)

        # an announced, unused active pinhole: listed exactly as the kernel holds it,
        # and removed from the kernel when its session ends (issue 11, item 2)
        h = subprocess.Popen(["ip", "netns", "exec", lab.ns["c"], L.PY, "-c", HOLD,
                              L.SERVERS["vsftpd"]["4"], L.CLIENT4],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            hport = int(h.stdout.readline().strip() or "0")
            pins = cli("pinholes").get("pinholes", [])
            kern = kernel_elements(lab) or {}
            check("pinholes: an announced active pinhole, exact and unused",
                  hport > 0 and len(pins) == 1 and pins[0]["kind"] == "active" and
                  not pins[0]["used"] and pins[0]["peer"] == L.SERVERS["vsftpd"]["4"] and
                  pins[0]["dst"].startswith(L.RWAN4 + ":") and
                  pins[0]["to"] == "%s:%d" % (L.CLIENT4, hport) and
                  pins[0]["left_ms"] <= 30000, (hport, pins))
            check("pinholes: the listing agrees with the kernel (one pin4 element)",
                  kern.get("pin4") == 1 and kern.get("dnat4") == 1, kern)
            table = cli("pinholes", as_json=False)
            check("pinholes: human table", L.SERVERS["vsftpd"]["4"] in table and
                  "%s:%d" % (L.CLIENT4, hport) in table, table[-400:])
            h.stdin.write("\n")
            h.stdin.flush()
            h.wait(timeout=10)
        except (ValueError, OSError, subprocess.TimeoutExpired) as e:
            check("pinholes: held active session", False, repr(e))
        finally:
            if h.poll() is None:
                h.kill()
                h.wait()
        time.sleep(0.3)
        kern = kernel_elements(lab) or {}
        check("pinholes: the unused pinhole leaves the kernel when its session ends",
              cli("pinholes").get("pinholes") == [] and kern.get("pin4") == 0 and
              kern.get("dnat4") == 0, kern)

        # a slow active download: 64 MiB at 8 MiB/s, long enough to look at
        out = os.path.join(lab.cli, "slow.bin")
        argv = ["curl", "-s", "-S", "--max-time", "30", "--limit-rate", "8M", "-P", "-",
                "--disable-eprt", "-o", out, "ftp://%s/%s" % (L.SERVERS["vsftpd"]["4"], L.BIG)]
        p = subprocess.Popen(["ip", "netns", "exec", lab.ns["c"]] + argv,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        sess = pins = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            s = cli("sessions").get("sessions", [])
            if s and s[0].get("transferring"):
                sess = s[0]
                pins = cli("pinholes").get("pinholes", [])
                break
            time.sleep(0.1)
        check("sessions: the transfer is listed", sess is not None, "no transferring session seen")
        if sess:
            check("sessions: client, server, mode, state",
                  sess["client"].startswith(L.CLIENT4 + ":") and
                  sess["server"] == "%s:21" % L.SERVERS["vsftpd"]["4"] and
                  sess["mode"] == "PORT" and sess["state"] == "ready" and not sess["tls"], sess)
            # the daemon sees the kernel's consumption at the 150 or within a second after
            end = time.monotonic() + 2.5
            while pins and time.monotonic() < end:
                time.sleep(0.2)
                pins = cli("pinholes").get("pinholes", [])
            kern = kernel_elements(lab) or {}
            check("pinholes: consumed by the data connection: none listed, none in the kernel",
                  pins == [] and kern.get("pin4") == 0, (pins, kern))
            table = cli("sessions", as_json=False)
            check("sessions: human table", L.CLIENT4 in table and "PORT" in table, table[-400:])
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = -1
        check("the slow transfer completes, sha256 ok",
              rc == 0 and os.path.exists(out) and L.sha256(out) == lab.hashes[L.BIG],
              p.stderr.read().decode(errors="replace")[-300:])
        time.sleep(0.3)
        check("sessions: none after QUIT", cli("sessions").get("sessions") == [], "")
        check("pinholes: none after the transfer", cli("pinholes").get("pinholes") == [], "")
        stats = cli("stats")
        check("stats: counts the session, the PORT rewrite, the pinhole",
              stats.get("sessions_total", 0) >= 1 and stats.get("rewrites", {}).get("PORT", 0) >= 1
              and stats.get("pinholes", {}).get("opened", 0) >= 1
              and stats.get("pinholes", {}).get("used", 0) >= 1, stats)
        text = cli("stats", as_json=False)
        check("stats: human output", "PORT" in text, text[-300:])
        # the same counters for Prometheus, linted by promtool
        m = lab.run("r", [CLI, "-s", lab.daemon.sock, "metrics"], timeout=10, check=False)
        lint = lab.run(None, ["promtool", "check", "metrics"], timeout=20, check=False,
                       stdin_data=m.out)
        check("metrics: ftpalg metrics | promtool check metrics passes",
              m.rc == 0 and m.out.startswith("# HELP") and lint.rc == 0,
              "metrics rc=%s err=%r promtool rc=%s %r" % (m.rc, m.err[-200:], lint.rc,
                                                         (lint.out + lint.err)[-300:]))
        samples = {}
        for line in m.out.splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                samples[k] = float(v)
        check("metrics: the live counters match stats (PORT rewrites, pinholes opened)",
              samples.get('ftpalg_rewrites_total{engine="proxy",kind="PORT"}') ==
              stats.get("rewrites", {}).get("PORT") and
              samples.get('ftpalg_pinholes_total{event="opened"}') ==
              stats.get("pinholes", {}).get("opened") and
              samples.get("ftpalg_sessions_active{engine=\"proxy\"}") == 0,
              {k: v for k, v in samples.items() if "rewrites" in k or "pinholes_total" in k})
        # a slow passive download through the relay mapping
        out2 = os.path.join(lab.cli, "relayed.bin")
        argv = ["curl", "-s", "-S", "--max-time", "30", "--limit-rate", "8M", "-o", out2,
                "ftp://%s:2100/%s" % (L.RLAN4, L.BIG)]
        p = subprocess.Popen(["ip", "netns", "exec", lab.ns["c"]] + argv,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        rel = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = [x for x in cli("relays").get("relays", []) if x.get("state") == "carrying"]
            if r and (r[0].get("bytes_in", 0) + r[0].get("bytes_out", 0)) > 0:
                rel = r[0]
                break
            time.sleep(0.1)
        check("relays: the passive data connection is carried by ftpalgd",
              rel is not None and rel["kind"] == "passive" and
              rel["peer"] == L.CLIENT4 and rel["dst"].startswith(L.RLAN4 + ":") and
              rel["to"].startswith(L.SERVERS["vsftpd"]["4"] + ":"), rel)
        table = cli("relays", as_json=False)
        check("relays: human table", "carrying" in table and L.CLIENT4 in table, table[-400:])
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = -1
        check("the relayed transfer completes, sha256 ok",
              rc == 0 and os.path.exists(out2) and L.sha256(out2) == lab.hashes[L.BIG],
              p.stderr.read().decode(errors="replace")[-300:])
        clean, detail = lab.daemon.stop()
        check("ftpalgd stops cleanly", clean, detail)
        r = lab.run("r", [CLI, "-s", lab.daemon.sock, "status"], timeout=10, check=False)
        check("status: a clear error when the daemon is gone",
              r.rc != 0 and "ftpalgd" in (r.out + r.err), r.out + r.err)
    except L.LabError as e:
        check("lab", False, str(e))
    finally:
        lab.destroy()
    passed = sum(1 for c in checks if c[1])
    failed = len(checks) - passed
    print("status: ftpalg against a running ftpalgd")
    for name, ok, detail in checks:
        print("  %-6s %s%s" % ("ok" if ok else "FAIL!!", name, "" if ok else ": %s" % (detail,)))
    print("status: passed=%d failed=%d (%.0fs)" % (passed, failed, time.monotonic() - t0))
    with open(os.path.join(OUT, "status.txt"), "w") as f:
        f.write("passed=%d failed=%d\n" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
