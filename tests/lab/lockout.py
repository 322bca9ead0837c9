#!/usr/bin/python3
"""lockout.py - per-client limits count an IPv6 client by its prefix (issue 11, item 4).

The attack: one LAN host owns a /64 and picks a new address of it for every
control connection (privacy addresses make that normal), so counting addresses,
max-sessions-per-client never bounds it.  In the namespace lab, with
max-sessions-per-client = 4:

  - 6 control connections from 6 addresses of fd00:1::/64, held open at once:
    the first 4 get the server's 220, the 5th and 6th ftpalgd's 421;
  - a connection from another /64 (fd00:2::/64, another client) still gets 220;
  - two more from one IPv4 address: the IPv4 client is counted on its own;
  - after all that, a legitimate session (login, NOOP, passive listing) works;
  - with client-prefix6 = 128 the same 6 addresses are 6 clients: all get 220;
  - the kernel helper, for comparison: it has no per-client bound at all (all 6 pass).

Writes build/results/lockout.txt.
"""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lab as L                                    # noqa: E402

OUT = os.path.join(L.REPO, "build", "results")
LIMIT = 4
SAME64 = ["fd00:1::%x" % (0x100 + i) for i in range(6)]
OTHER64 = "fd00:2::5"

# In the client namespace: one control connection per source address, all held
# open; prints the first reply line of each, in order, as JSON.
HOLD = r"""
import json, socket, sys
server, port = sys.argv[1], int(sys.argv[2])
socks, first = [], []
for src in sys.argv[3:]:
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.bind((src, 0))
        s.connect((server, port))
        line = s.makefile("rb").readline(200).decode(errors="replace").strip()
    except OSError as e:
        line = "error: %s" % e
    first.append(line)
    socks.append(s)
print(json.dumps(first), flush=True)
for s in socks:
    s.close()
"""


def hold(lab, server, srcs):
    r = lab.run("c", [L.PY, "-c", HOLD, server, "21"] + srcs, timeout=60, check=False)
    try:
        return json.loads(r.out)
    except ValueError:
        return ["script failed: " + r.why()]


def codes(lines):
    return [l[:3] for l in lines]


def main():
    L.require_root("make check")
    os.makedirs(OUT, exist_ok=True)
    lab = L.Lab()
    L.install_signal_handlers(lab)
    checks = []
    t0 = time.monotonic()

    def check(name, ok, detail=""):
        checks.append((name, bool(ok), detail))

    try:
        lab.create()
        lab.make_files(big=False)
        lab.start_servers(which=("vsftpd",), families=("4", "6"))
        for a in SAME64:
            lab.run("c", ["ip", "addr", "add", a + "/64", "dev", lab.if_c, "nodad"])
        lab.run("r", ["ip", "addr", "add", "fd00:2::1/64", "dev", lab.if_rl, "nodad"])
        lab.run("c", ["ip", "addr", "add", OTHER64 + "/64", "dev", lab.if_c, "nodad"])
        v6, v4 = L.SERVERS["vsftpd"]["6"], L.SERVERS["vsftpd"]["4"]

        lab.set_mode("ftpalgd")
        conf = "max-sessions-per-client = %d\n" % LIMIT
        check("ftpalgd starts (max-sessions-per-client = %d)" % LIMIT,
              lab.start_daemon(extra_conf=conf), lab.daemon.error or "")
        got = hold(lab, v6, SAME64 + [OTHER64])
        check("6 addresses of one /64 are one client: 4 x 220, then 421",
              codes(got[:6]) == ["220"] * LIMIT + ["421"] * (6 - LIMIT), got)
        check("421 says why", all("too many sessions" in l for l in got[LIMIT:6]), got)
        check("another /64 is another client: 220", codes(got[6:]) == ["220"], got)
        log = lab.daemon.log_text()
        check("the log names the client's prefix",
              "fd00:1::/64" in log and "max-sessions-per-client" in log, log[-500:])
        got4 = hold(lab, v4, [L.CLIENT4, L.CLIENT4])
        check("an IPv4 client counts on its own (2 x 220)", codes(got4) == ["220", "220"], got4)
        v = L.SERVERS["vsftpd"]
        r = lab.run("c", [L.PY, os.path.join(HERE, "ftpcli.py"), "--host", v6, "--user",
                          v["user"], "--password", v["password"], "--dmode", "EPSV", "list"],
                    timeout=30, check=False)
        check("afterwards a legitimate session works (EPSV listing)",
              r.ok and "small.bin" in r.out, r.why())
        lab.daemon.stop()

        check("ftpalgd starts (client-prefix6 = 128)",
              lab.start_daemon(extra_conf=conf + "client-prefix6 = 128\n"), lab.daemon.error or "")
        got = hold(lab, v6, SAME64)
        check("client-prefix6 = 128: 6 addresses are 6 clients (6 x 220)",
              codes(got) == ["220"] * 6, got)
        lab.daemon.stop()

        lab.set_mode("kernel")
        got = hold(lab, v6, SAME64)
        check("kernel helper (measured): no per-client bound, 6 x 220",
              codes(got) == ["220"] * 6, got)
    except L.LabError as e:
        check("lab", False, str(e))
    finally:
        lab.destroy()
    passed = sum(1 for c in checks if c[1])
    failed = len(checks) - passed
    print("lockout: per-client limits by IPv6 prefix")
    for name, ok, detail in checks:
        print("  %-6s %s%s" % ("ok" if ok else "FAIL!!", name, "" if ok else ": %s" % (detail,)))
    print("lockout: passed=%d failed=%d (%.0fs)" % (passed, failed, time.monotonic() - t0))
    with open(os.path.join(OUT, "lockout.txt"), "w") as f:
        f.write("passed=%d failed=%d\n" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
