#!/usr/bin/python3
"""inline.py - the inline engine (engine = inline) in the namespace lab, beside the kernel helper.

Same lab as matrix.py (tests/lab/lab.py): client -- NAT router -- servers, the
router's forward policy drop, masquerade on the WAN.  In mode "inline" the
router has the NFQUEUE rules of docs/inline.md,
    iptables  -I FORWARD -p tcp -m multiport --ports 21 -j NFQUEUE --queue-num Q --queue-bypass
    ip6tables -I FORWARD -p tcp -m multiport --ports 21 -j NFQUEUE --queue-num Q --queue-bypass
and build/ftpalgd runs with engine = inline (no listener, no redirect).

Sections (--only a,b,...):
    matrix     the whole matrix of matrix.py (servers x clients x families x data
               commands x ops, sha256 checked), modes kernel and inline side by side
    bytewise   a client writing PORT/EPRT and RETR one byte per segment (TCP_NODELAY),
               and a server writing every reply in 3-byte segments (a 227 naming a
               private address that must be rewritten): inline and kernel helper in
               the same test; inline must pass, the kernel helper must not
    netem      loss and reordering of control segments on every link during sessions
               whose commands change length, IPv4 and IPv6 (this kernel has no
               sch_netem: nftables drops and an htb class delays, see InlineLab.chaos)
    long       250 transfers in one control connection (PORT, EPRT): offsets stay right
    recovery   fail-open (queue-bypass): the daemon stopped, control packets pass
               untouched; back again, earlier sessions are passed through, new ones
               handled.  fail-closed: the daemon killed, control packets wait; back
               again, the waiting session goes on
A test is one check whose outcome matched its expectation.  Writes
build/results/inline.txt ("passed=N failed=M") and build/lab/inline.log.
Options: --only SECTIONS  --quick  -v
"""
import argparse
import json
import os
import re
import shutil
import signal
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lab as L  # noqa: E402
import matrix as M  # noqa: E402
from clients import Job, run_job  # noqa: E402

OUT = os.path.join(L.REPO, "build", "results")
LABOUT = os.path.join(L.REPO, "build", "lab")
SECTIONS = ("matrix", "bytewise", "netem", "long", "recovery")
QUEUE = 0
SPLIT4, SPLIT6 = "203.0.113.4", "2001:db8::4"     # splitftpd's addresses
DEADLINE_S = 1500                                  # the whole run, at most


class InlineLab(L.Lab):
    """The lab with one more router mode: "inline" (NFQUEUE rules + ftpalgd engine = inline)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.bypass = True

    def admin_ruleset(self, mode):
        if mode == "inline":
            # The same admin firewall as for ftpalgd: pinholes accepted by their mark.
            return super().admin_ruleset("ftpalgd").replace("mode ftpalgd", "mode inline")
        return super().admin_ruleset(mode)

    def queue_rules(self, on, bypass=True):
        for ipt in ("iptables", "ip6tables"):
            self.run("r", [ipt, "-w", "-F", "FORWARD"], check=False)
            if on:
                argv = [ipt, "-w", "-I", "FORWARD", "-p", "tcp", "-m", "multiport", "--ports", "21",
                        "-j", "NFQUEUE", "--queue-num", str(QUEUE)]
                self.run("r", argv + (["--queue-bypass"] if bypass else []))
        self.bypass = bypass

    def set_mode(self, mode, bypass=True):
        if mode == "inline":
            super().set_mode("ftpalgd")
            self.nft(self.admin_ruleset("inline"))
            self.queue_rules(True, bypass)
            self.mode = "inline"
        else:
            self.queue_rules(False)
            super().set_mode(mode)

    def start_inline(self, fail_open=True, log_level="debug"):
        self.daemon = InlineDaemon(self, fail_open, log_level)
        return self.daemon.start()

    def chaos(self, on, loss_pct=4, slow_of=3):
        """Loss and reordering of control segments on every link (netem's job; this
        kernel has no sch_netem).  In each namespace, on egress: nftables drops
        loss_pct % of the packets to or from port 21 and sends one in slow_of to a
        20 kbit/s htb class, so later segments overtake it."""
        devs = {"c": [self.if_c], "r": [self.if_rl, self.if_rw], "s": [self.if_s]}
        for ns, ifs in devs.items():
            self.run(ns, ["nft", "delete", "table", "inet", "chaos"], check=False)
            for dev in ifs:
                self.run(ns, ["tc", "qdisc", "del", "dev", dev, "root"], check=False)
            if not on:
                continue
            for dev in ifs:
                self.run(ns, ["tc", "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb",
                              "default", "10"])
                self.run(ns, ["tc", "class", "add", "dev", dev, "parent", "1:", "classid", "1:10",
                              "htb", "rate", "10gbit"])
                self.run(ns, ["tc", "class", "add", "dev", dev, "parent", "1:", "classid", "1:20",
                              "htb", "rate", "20kbit", "ceil", "20kbit", "burst", "100",
                              "cburst", "100"])
            slow = ", ".join("%d : 1:%d" % (k, 20 if k == 0 else 10) for k in range(slow_of))
            rules = "".join("""
        tcp %(p)s 21 numgen random mod 100 < %(loss)d drop
        tcp %(p)s 21 meta priority set numgen random mod %(n)d map { %(slow)s }""" % dict(
                p=p, loss=loss_pct, n=slow_of, slow=slow) for p in ("dport", "sport"))
            self.run(ns, ["nft", "-f", "-"], stdin_data="""table inet chaos {
    chain post {
        type filter hook postrouting priority 300; policy accept;%s
    }
}
""" % rules)


class InlineDaemon(L.Daemon):
    """build/ftpalgd with engine = inline in the router namespace."""

    def __init__(self, lab, fail_open=True, log_level="debug"):
        super().__init__(lab, "", log_level)
        self.fail_open = fail_open

    def write_conf(self):
        with open(self.conf, "w") as f:
            f.write("""# ftpalgd, inline engine, for the lab
engine = inline
queue-num = %d
fail-open = %s
data-ports = %s
pinhole-timeout = 30
pinhole-mark = 0x%08x
log-level = %s
control-socket = %s
pidfile = %s
""" % (QUEUE, "yes" if self.fail_open else "no", L.DATA_PORTS, L.PINHOLE_MARK,
                self.log_level, self.sock, self.pidfile))

    def queue_bound(self):
        r = self.lab.run("r", ["cat", "/proc/net/netfilter/nfnetlink_queue"], check=False)
        return any(l.split()[:1] == [str(QUEUE)] for l in r.out.splitlines())

    def start(self, timeout=5.0):
        if not os.access(L.DAEMON, os.X_OK):
            self.error = "%s does not exist (not built yet?)" % os.path.relpath(L.DAEMON, L.REPO)
            return False
        self.write_conf()
        self.offset = os.path.getsize(self.logfile) if os.path.exists(self.logfile) else 0
        self.proc = self.lab.spawn("ftpalgd", "r", [L.DAEMON, "-d", "-f", self.conf], self.logfile)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.error = "ftpalgd exited with status %s at start: %s" % (
                    self.proc.returncode, self.log_text()[-300:])
                return False
            tables, _ = self.lab.nft_tables()
            if "ftpalg" in tables and self.queue_bound():
                return True
            time.sleep(0.05)
        self.error = "ftpalgd did not bind queue %d within %.0fs" % (QUEUE, timeout)
        return False

    def kill(self):
        """SIGKILL: a crash.  The stale table stays; the next start replaces it."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=5)
            self.lab.procs.pop("ftpalgd", None)
            self.proc = None


class Report:
    def __init__(self, verbose):
        self.verbose = verbose
        self.passed = self.failed = 0
        self.lines = []
        self.failures = []

    def check(self, section, name, ok, detail="", expected=True):
        good = ok == expected
        if good:
            self.passed += 1
        else:
            self.failed += 1
            self.failures.append("%-9s %s: %s%s" % (section, name, "unexpectedly worked" if ok else
                                                   "failed: " + (detail or "?"),
                                                   "" if expected else " (expected to fail)"))
        word = ("ok" if ok else "FAIL") + ("" if good else "!!") + ("*" if not ok and not expected
                                                                    else "")
        line = "%-9s %-62s %s%s" % (section, name, word, "  " + detail if detail and not ok else "")
        self.lines.append(line)
        if self.verbose or not good:
            print("  " + line, flush=True)
        return good


def wait_for(pred, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


# ---------------------------------------------------------------- sections

def section_matrix(lab, rep, quick):
    rows = M.build_rows(quick)
    modes = ("kernel", "inline")
    seq = 0
    for mode in modes:
        t0 = time.monotonic()
        lab.set_mode(mode)
        skip = None
        if mode == "inline":
            ok = lab.start_inline()
            rep.check("matrix", "inline: ftpalgd starts, binds queue %d" % QUEUE, ok,
                      lab.daemon.error or "")
            if not ok:
                skip = lab.daemon.error
        bad = 0
        for r in rows:
            seq += 1
            exp = r.expect_ok("kernel") if mode == "kernel" else True
            if skip:
                ok, secs, why = False, 0.0, skip
            else:
                timeout = 30 if r.job.op in ("get64", "session") else 20
                if not exp:
                    timeout = 8
                try:
                    ok, secs, why = run_job(lab, r.job, "m%d" % seq, timeout=timeout)
                except L.LabError as e:
                    ok, secs, why = False, 0.0, str(e)
            r.cells[mode] = (ok, secs, why, exp)
            if not rep.check("matrix", "%-6s %s" % (mode, " ".join(r.job.key())), ok, why, exp):
                bad += 1
        if mode == "inline" and lab.daemon is not None and not skip:
            st = lab.daemon.ask("stats") or {}
            rep.check("matrix", "inline: engine reports no errors, rewrites counted",
                      st.get("errors") == 0 and st.get("rewrites", {}).get("PORT", 0) > 0,
                      "stats: %s" % json.dumps(st)[:300])
            clean, detail = lab.daemon.stop()
            rep.check("matrix", "inline: SIGTERM, table removed", clean, detail)
            lab.daemon = None
        print("inline-lab: matrix mode %-7s %d rows, %d not as expected (%.0fs)"
              % (mode, len(rows), bad, time.monotonic() - t0), flush=True)
    return M.render(rows, list(modes), [])


def bytewise_cases():
    s = L.SERVERS["vsftpd"]
    p = L.SERVERS["pyftpdlib"]
    # (name, host, user, password, dmode, split, extra, kernel_expected_ok)
    return [
        ("PORT byte by byte, vsftpd IPv4", s["4"], s, "PORT", "data", [], False),
        ("EPRT byte by byte, vsftpd IPv6", s["6"], s, "EPRT", "data", [], False),
        ("PORT byte by byte, pyftpdlib IPv4", p["4"], p, "PORT", "data", [], False),
        ("EPRT byte by byte, pyftpdlib IPv6", p["6"], p, "EPRT", "data", [], False),
        ("all commands byte by byte, PORT, vsftpd IPv4", s["4"], s, "PORT", "all", [], False),
        # A server writing replies in 3-byte segments; its 227 names 10.0.0.5.
        ("split 227 naming 10.0.0.5, client trusts it, IPv4", SPLIT4, None, "PASV", "none",
         ["--trust-pasv"], False),
        ("split replies + PORT byte by byte, IPv4", SPLIT4, None, "PORT", "data", [], False),
        ("split replies + EPRT byte by byte, IPv6", SPLIT6, None, "EPRT", "data", [], False),
        # Nothing to rewrite here; the kernel helper still drops a segment that
        # holds a partial "229 " and the reply never arrives whole.
        ("split 229 (nothing to rewrite), IPv6", SPLIT6, None, "EPSV", "none", [], False),
        ("split 229 (nothing to rewrite), IPv4", SPLIT4, None, "EPSV", "none", [], False),
    ]


def run_bytewise(lab, host, srv, dmode, split, extra, tag, timeout=30):
    out = os.path.join(lab.cli, tag)
    name = "f1m.bin"
    argv = [L.PY, os.path.join(L.HERE, "bytewise.py"), "--host", host, "--dmode", dmode,
            "--split", split, "--timeout", "10"] + extra
    if srv is not None:
        argv += ["--user", srv["user"], "--password", srv["password"]]
    argv.append("get:%s:%s" % (name, out))
    r = lab.run("c", argv, timeout=timeout, check=False)
    ok = r.ok and os.path.exists(out) and L.sha256(out) == lab.hashes[name]
    why = "" if ok else (r.why() if not r.ok else "sha256 of %s wrong" % name)
    if os.path.exists(out):
        os.unlink(out)
    return ok, r.secs, why


def section_bytewise(lab, rep):
    table = []
    cases = bytewise_cases()
    res = {}
    for mode in ("kernel", "inline"):
        lab.set_mode(mode)
        if mode == "inline" and not rep.check("bytewise", "inline: ftpalgd starts",
                                              lab.start_inline(), lab.daemon.error or ""):
            continue
        for i, (name, host, srv, dmode, split, extra, kexp) in enumerate(cases):
            ok, secs, why = run_bytewise(lab, host, srv, dmode, split, extra, "b%s%d" % (mode, i))
            exp = kexp if mode == "kernel" else True
            res[(mode, i)] = (ok, secs, why, exp)
            rep.check("bytewise", "%-6s %s" % (mode, name), ok, why, exp)
        if mode == "inline":
            st = lab.daemon.ask("stats") or {}
            rep.check("bytewise", "inline: engine reports no errors", st.get("errors") == 0,
                      json.dumps(st)[:200])
            lab.daemon.stop()
            lab.daemon = None
    table.append("%-52s | %-16s | %-16s" % ("case (same run, same servers)", "kernel helper",
                                            "inline"))
    table.append("-" * 90)
    for i, c in enumerate(cases):
        table.append("%-52s | %-16s | %-16s" % (c[0], M.cell_text(res.get(("kernel", i))),
                                                M.cell_text(res.get(("inline", i)))))
    return "\n".join(table)


CHAOS = ("4% of the control segments dropped and one in 3 delayed behind a 20 kbit/s htb "
         "class (reordering), on egress in the client, the router (both links) and the server")


def invalid_drops(lab):
    """Packets the admin's forward chain dropped as ct state invalid (None: unreadable)."""
    r = lab.run("r", ["nft", "list", "chain", "inet", "admin", "forward"], check=False)
    m = re.search(r"ct state invalid counter packets (\d+)", r.out)
    return int(m.group(1)) if m else None


def netem_diag(lab):
    """What the router held when a netem session stalled: drops of the admin's firewall,
    the control connections in conntrack, ftpalgd's view (printed for the log)."""
    print("  netem diagnosis:", flush=True)
    for argv in (["nft", "list", "chain", "inet", "admin", "forward"],
                 ["conntrack", "-L", "-p", "tcp", "--dport", "21", "-o", "labels"]):
        r = lab.run("r", argv, check=False)
        for l in (r.out + r.err).splitlines():
            if "counter" in l or "dport=21" in l:
                print("    %s | %s" % (argv[0], l.strip()[:300]), flush=True)
    for what in ("sessions", "stats"):
        print("    ftpalgd %s | %s" % (what, json.dumps(lab.daemon.ask(what))[:1500]), flush=True)


def lost_synack(lab, rep):
    """The server's first SYN-ACK lost on the way to the client: the client sends its SYN
    again, the server its SYN-ACK again, and conntrack resyncs the connection from that
    SYN, forgetting the liberal flag ftpalgd set.  Then an EPRT that changes the line's
    length (fd00:1::2 -> 2001:db8::1): every later client segment used to be invalid and
    dropped, and the session hung (the rare netem failure).  It must work."""
    before = (lab.daemon.ask("stats") or {}).get("liberal_again", 0)
    lab.run("r", ["nft", "-f", "-"], stdin_data="""table inet synack {
    chain post {
        type filter hook postrouting priority 300; policy accept;
        oifname "%s" tcp sport 21 tcp flags & (syn | ack) == (syn | ack) numgen inc mod 1000000 == 0 counter drop
    }
}
""" % lab.if_rl)
    try:
        s = L.SERVERS["vsftpd"]
        r = lab.run("c", [L.PY, os.path.join(L.HERE, "ftpcli.py"), "--host", s["6"], "--user",
                          s["user"], "--password", s["password"], "--dmode", "EPRT",
                          "--timeout", "15", "--count", "3", "small:small.bin"],
                    timeout=60, check=False)
        cnt = lab.run("r", ["nft", "list", "chain", "inet", "synack", "post"], check=False)
    finally:
        lab.run("r", ["nft", "delete", "table", "inet", "synack"], check=False)
    m = re.search(r"counter packets (\d+)", cnt.out)
    dropped = int(m.group(1)) if m else -1
    ok = r.ok and "small: 3 transfers" in r.out
    again = (lab.daemon.ask("stats") or {}).get("liberal_again", 0) - before
    rep.check("netem", "first SYN-ACK lost, then EPRT changing the length: 3 RETR work", ok and
              dropped == 1, "%s; SYN-ACKs dropped %d" % (r.why() if not ok else "ok", dropped))
    rep.check("netem", "the repeated SYN-ACK made the connection liberal again", again >= 1,
              "liberal_again +%s" % again)


def section_netem(lab, rep, quick):
    """Reordering and loss on both router links, then sessions whose commands change length."""
    lab.set_mode("inline")
    if not rep.check("netem", "inline: ftpalgd starts", lab.start_inline(),
                     lab.daemon.error or ""):
        return ""
    before = lab.daemon.ask("stats") or {}
    # Late segments of the sections before (conntrack was flushed under them) may be
    # invalid: count only what this section's sessions cause.
    time.sleep(1)
    invalid0 = invalid_drops(lab)
    if os.environ.get("LAB_PCAP"):     # diagnosis: the router's control segments, both links
        lab.spawn("tcpdump", "r", ["tcpdump", "-i", "any", "-s", "200", "-U", "-w",
                                   os.path.join(lab.logdir, "netem.pcap"), "tcp port 21"],
                  os.path.join(lab.logdir, "tcpdump.out"))
        time.sleep(1)
    lab.chaos(True)
    n = 15 if quick else 40
    s, p = L.SERVERS["vsftpd"], L.SERVERS["pyftpdlib"]
    try:
        for fam, srv, dmode in (("4", s, "PORT"), ("6", s, "EPRT"), ("4", p, "PORT"),
                                ("6", p, "EPRT"), ("4", s, "PASV")):
            r = lab.run("c", [L.PY, os.path.join(L.HERE, "ftpcli.py"), "--host", srv[fam],
                              "--user", srv["user"], "--password", srv["password"], "--dmode", dmode,
                              "--timeout", "20", "--count", str(n), "small:small.bin"],
                        timeout=240, check=False)
            m = re.search(r"small: (\d+) transfers in ([0-9.]+) s", r.out)
            ok = r.ok and m is not None and int(m.group(1)) == n
            if not ok:
                netem_diag(lab)
            rep.check("netem", "%d x RETR in one session, %s IPv%s %s" % (n, srv["user"] == "lab"
                      and "pyftpdlib" or "vsftpd", fam, dmode), ok,
                      r.why() if not ok else "%ss" % (m.group(2) if m else "?"))
        for job in (Job("vsftpd", "lftp", "4", "PORT", "session"),
                    Job("pyftpdlib", "ftplib", "6", "EPRT", "session"),
                    Job("vsftpd", "lftp-pipe", "4", "PORT", "get"),
                    Job("vsftpd", "curl", "6", "EPRT", "put")):
            ok, secs, why = run_job(lab, job, "n%s%s%s" % (job.client, job.fam, job.op), timeout=90)
            if not ok:
                netem_diag(lab)
            rep.check("netem", " ".join(job.key()), ok, why)
    finally:
        lab.chaos(False)
    lost_synack(lab, rep)
    after = lab.daemon.ask("stats") or {}
    d = {k: after.get(k, 0) - before.get(k, 0) for k in ("retransmits", "held", "released",
                                                         "truncated", "packets",
                                                         "liberal_again")}
    inv = invalid_drops(lab)
    d["firewall_invalid_drops"] = inv - invalid0 if inv is not None and invalid0 is not None \
        else None
    # Reported, not asserted: under 4 % loss a few segments can be invalid for conntrack
    # for reasons of their own (0-3 seen per run, every session working); the hang
    # they once caused is checked exactly by lost_synack().
    rep.check("netem", "inline: reordering and retransmissions seen by the engine, no errors",
              after.get("errors") == 0 and d["retransmits"] > 0 and d["held"] > 0,
              "during netem: %s, errors %s" % (d, after.get("errors")))
    lab.daemon.stop()
    lab.daemon = None
    return "loss and reordering: %s\nengine counters meanwhile: %s" % (CHAOS, d)


def section_long(lab, rep, quick):
    lab.set_mode("inline")
    if not rep.check("long", "inline: ftpalgd starts", lab.start_inline(log_level="info"),
                     lab.daemon.error or ""):
        return ""
    n = 250
    s = L.SERVERS["vsftpd"]
    notes = []
    for fam, dmode in (("4", "PORT"), ("6", "EPRT"), ("4", "EPSV")):
        before = lab.daemon.ask("stats") or {}
        r = lab.run("c", [L.PY, os.path.join(L.HERE, "ftpcli.py"), "--host", s[fam], "--user",
                          s["user"], "--password", s["password"], "--dmode", dmode, "--timeout",
                          "15", "--count", str(n), "small:small.bin"], timeout=300, check=False)
        m = re.search(r"small: (\d+) transfers in ([0-9.]+) s", r.out)
        ok = r.ok and m is not None and int(m.group(1)) == n
        after = lab.daemon.ask("stats") or {}
        kind = dmode if dmode != "EPSV" else None
        nrw = (after.get("rewrites", {}).get(kind, 0) - before.get("rewrites", {}).get(kind, 0)
               if kind else 0)
        sess = lab.daemon.ask("sessions") or {}
        offs = [(x.get("offset_up"), x.get("offset_down")) for x in sess.get("sessions", [])
                if x.get("server", "").startswith(s[fam] if fam == "4" else "[" + s[fam])]
        rep.check("long", "%d transfers in one session, vsftpd IPv%s %s%s" % (
            n, fam, dmode, ", %d rewrites" % nrw if kind else ""),
            ok and (nrw >= n if kind else True),
            (r.why() if not ok else "rewrites %d" % nrw))
        # newest first: this session is the first of its server
        notes.append("IPv%s %s: %s transfers in %ss, %d rewrites, final offsets (up, down) "
                     "of the session: %s" % (fam, dmode, m.group(1) if m else "?",
                                             m.group(2) if m else "?", nrw,
                                             offs[0] if offs else "?"))
    lab.daemon.stop()
    lab.daemon = None
    return "\n".join(notes)


def steps_client(lab, name, fam, steps):
    s = L.SERVERS["vsftpd"]
    log = os.path.join(lab.logdir, name + ".out")
    p = lab.spawn(name, "c", [L.PY, os.path.join(L.HERE, "ftpsteps.py"), "--host", s[fam],
                              "--user", s["user"], "--password", s["password"], "--timeout", "40"]
                  + steps, log)
    return p, log


def step_done(log, n):
    """(ok, time) of step n once the client has printed it, else None."""
    try:
        with open(log) as f:
            for line in f:
                m = re.match(r"step (\d+) \S+ (ok|FAIL)(?: ([0-9.]+))?", line)
                if m and int(m.group(1)) == n:
                    return (m.group(2) == "ok", float(m.group(3)) if m.group(3) else 0.0)
    except OSError:
        pass
    return None


def section_recovery(lab, rep):
    sess = {}

    def flag(n):
        return os.path.join(lab.tmp, "go%d" % n)

    # ---- fail-open: --queue-bypass on the rule, fail-open = yes
    lab.set_mode("inline", bypass=True)
    if not rep.check("recovery", "fail-open: ftpalgd starts", lab.start_inline(fail_open=True),
                     lab.daemon.error or ""):
        return
    for fam in ("4", "6"):
        a, log = steps_client(lab, "sessA" + fam, fam, ["list", "wait:" + flag(1), "list",
                                                       "wait:" + flag(2), "list", "noop"])
        rep.check("recovery", "fail-open IPv%s: session A started with the daemon running" % fam,
                  bool(wait_for(lambda: step_done(log, 1), 20)), open(log).read()[-200:])
        sess[fam] = (a, log)
    clean, detail = lab.daemon.stop()
    lab.daemon = None
    rep.check("recovery", "fail-open: daemon stopped (SIGTERM)", clean, detail)
    open(flag(1), "w").close()
    for fam in ("4", "6"):
        a, log = sess[fam]
        st = wait_for(lambda: step_done(log, 3), 20)
        rep.check("recovery", "fail-open IPv%s: daemon down, session A's LIST passes untouched" % fam,
                  bool(st and st[0]), open(log).read()[-200:])
    ok, secs, why = run_job(lab, Job("vsftpd", "curl", "4", "EPSV", "get"), "rcv1", timeout=15)
    rep.check("recovery", "fail-open: daemon down, new passive session works", ok, why)
    c, logc = steps_client(lab, "sessC", "4", ["list", "wait:" + flag(2), "list", "noop"])
    rep.check("recovery", "fail-open: daemon down, session C starts (untouched)",
              bool(wait_for(lambda: step_done(logc, 1), 20)), open(logc).read()[-200:])
    ok, secs, why = run_job(lab, Job("vsftpd", "curl", "4", "PORT", "get"), "rcv2", timeout=8)
    rep.check("recovery", "fail-open: daemon down, new active session has no ALG", ok, why,
              expected=False)
    rep.check("recovery", "fail-open: ftpalgd back", lab.start_inline(fail_open=True),
              lab.daemon.error if lab.daemon else "")
    open(flag(2), "w").close()
    for fam in ("4", "6"):
        a, log = sess[fam]
        st = wait_for(lambda: a.poll() is not None, 30)
        rep.check("recovery", "fail-open IPv%s: daemon back, session A passed through, not broken"
                  % fam, a.poll() == 0 and "done" in open(log).read(), open(log).read()[-200:])
    wait_for(lambda: c.poll() is not None, 30)
    rep.check("recovery", "fail-open: daemon back, session C (started while it was down) "
              "passed through, not broken", c.poll() == 0 and "done" in open(logc).read(),
              open(logc).read()[-200:])
    text = lab.daemon.log_text()
    # Sessions A (followed before the stop) are resumed from their conntrack
    # labels; session C started while no ftpalgd ran: no labels, passed through.
    rep.check("recovery", "fail-open: the daemon resumed sessions A from their conntrack "
              "labels and passed session C through",
              text.count("from its conntrack labels") >= 2 and
              text.count("started before ftpalgd") >= 1, text[-300:])
    for fam, dmode in (("4", "PORT"), ("6", "EPRT")):
        ok, secs, why = run_job(lab, Job("vsftpd", "curl", fam, dmode, "get"), "rcv3" + fam,
                                timeout=15)
        rep.check("recovery", "fail-open: daemon back, new active session IPv%s %s works"
                  % (fam, dmode), ok, why)
    lab.daemon.stop()
    lab.daemon = None

    # ---- fail-closed: no --queue-bypass, fail-open = no; the daemon crashes (SIGKILL)
    lab.set_mode("inline", bypass=False)
    if not rep.check("recovery", "fail-closed: ftpalgd starts", lab.start_inline(fail_open=False),
                     lab.daemon.error or ""):
        return
    b, log = steps_client(lab, "sessB", "4", ["list", "wait:" + flag(3), "list", "list"])
    rep.check("recovery", "fail-closed: session B started with the daemon running",
              bool(wait_for(lambda: step_done(log, 1), 20)), open(log).read()[-200:])
    lab.daemon.kill()
    t_down = time.time()
    open(flag(3), "w").close()
    time.sleep(3)
    rep.check("recovery", "fail-closed: daemon killed, session B's LIST waits (not answered)",
              step_done(log, 3) is None, open(log).read()[-200:])
    ok, secs, why = run_job(lab, Job("vsftpd", "curl", "4", "EPSV", "get"), "rcv4", timeout=4)
    rep.check("recovery", "fail-closed: daemon down, a new control connection is held", ok, why,
              expected=False)
    t_up = time.time()
    rep.check("recovery", "fail-closed: ftpalgd back (stale table replaced)",
              lab.start_inline(fail_open=False), lab.daemon.error if lab.daemon else "")
    st = wait_for(lambda: step_done(log, 3), 30)
    rep.check("recovery", "fail-closed: daemon back, the waiting LIST completes (after %.1fs down)"
              % (t_up - t_down), bool(st and st[0] and st[1] >= t_up - 0.5),
              open(log).read()[-200:])
    wait_for(lambda: b.poll() is not None, 30)
    rep.check("recovery", "fail-closed: session B goes on and ends cleanly", b.poll() == 0,
              open(log).read()[-200:])
    ok, secs, why = run_job(lab, Job("vsftpd", "curl", "4", "PORT", "get"), "rcv5", timeout=15)
    rep.check("recovery", "fail-closed: daemon back, new active session works", ok, why)
    lab.daemon.stop()
    lab.daemon = None
    lab.set_mode("none")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default=",".join(SECTIONS))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    only = [x for x in a.only.split(",") if x]
    for x in only:
        if x not in SECTIONS:
            ap.error("unknown section " + x)
    L.require_root("make check")
    for tool in ("iptables", "ip6tables", "tc"):
        if shutil.which(tool) is None:
            print("inline-lab: %s missing" % tool, file=sys.stderr)
            return 2
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(LABOUT, exist_ok=True)
    shutil.rmtree(os.path.join(LABOUT, "inline-logs"), ignore_errors=True)
    rep = Report(a.verbose)
    tables = []
    lab = InlineLab(verbose=a.verbose)
    L.install_signal_handlers(lab)
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(SystemExit("deadline")))
    signal.alarm(DEADLINE_S)
    crashed = None
    t0 = time.monotonic()
    try:
        print("inline-lab: namespaces %s, temp %s; sections %s" % (
            ", ".join(lab.ns.values()), lab.tmp, ",".join(only)), flush=True)
        lab.create()
        # splitftpd gets addresses of its own on the server side
        lab.run("s", ["ip", "addr", "add", SPLIT4 + "/24", "dev", lab.if_s])
        lab.run("s", ["ip", "addr", "add", SPLIT6 + "/64", "dev", lab.if_s, "nodad"])
        lab.make_files(big="matrix" in only)
        lab.start_servers()
        for addr in (SPLIT4, SPLIT6):
            lab.spawn("split" + addr, "s", [L.PY, os.path.join(L.HERE, "splitftpd.py"), "--addr",
                                            addr, "--root", lab.srv, "--log",
                                            os.path.join(lab.logdir, "splitftpd.log")],
                      os.path.join(lab.logdir, "splitftpd.out"))
            if not lab.wait_listen("s", 21, addr, timeout=10):
                raise L.LabError("splitftpd on %s did not start" % addr)
        for sec in only:
            ts = time.monotonic()
            print("inline-lab: == %s" % sec, flush=True)
            if sec == "matrix":
                tables.append(("matrix (modes side by side)", section_matrix(lab, rep, a.quick)))
            elif sec == "bytewise":
                tables.append(("commands byte by byte, replies split (same run)",
                               section_bytewise(lab, rep)))
            elif sec == "netem":
                tables.append(("netem", section_netem(lab, rep, a.quick)))
            elif sec == "long":
                tables.append(("long sessions", section_long(lab, rep, a.quick)))
            elif sec == "recovery":
                section_recovery(lab, rep)
            print("inline-lab: %s done (%.0fs)" % (sec, time.monotonic() - ts), flush=True)
    except BaseException as e:          # KeyboardInterrupt, SystemExit from signals too
        crashed = e
        if not isinstance(e, (KeyboardInterrupt, SystemExit)):
            traceback.print_exc()
    finally:
        signal.alarm(0)
        if lab.daemon is not None and (rep.failed or crashed):
            tail = lab.daemon.log_text()[-4000:]
            print("\nftpalgd log (tail):\n" + "\n".join("  | " + l for l in tail.splitlines()))
        try:
            lab.queue_rules(False)
        except Exception:
            pass
        keep = os.path.join(LABOUT, "inline-logs") if (rep.failed or crashed) else None
        lab.destroy(keep_logs_to=keep)
        left = lab.leftovers() + [n for n in L.Lab.netns_list() if n.startswith(lab.prefix)]
        rep.check("cleanup", "namespaces, links and temp dir removed", not left, ", ".join(left))
    if crashed is not None:
        rep.failed += 1
        rep.failures.append("run aborted: %s %s" % (type(crashed).__name__, crashed))
    out = []
    for title, text in tables:
        if text:
            out.append("== " + title)
            out.append(text)
            out.append("")
    out.append("== checks")
    out.extend(rep.lines)
    if rep.failures:
        out.append("\nnot as expected:")
        out.extend("  " + f for f in rep.failures)
    summary = "passed=%d failed=%d" % (rep.passed, rep.failed)
    out.append("\ninline-lab: %s (%.0fs)" % (summary, time.monotonic() - t0))
    print("\n".join(out))
    with open(os.path.join(OUT, "inline.txt"), "w") as f:
        f.write(summary + "\n")
    with open(os.path.join(LABOUT, "inline.log"), "w") as f:
        f.write("\n".join(out) + "\n")
    if isinstance(crashed, KeyboardInterrupt):
        return 130
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
