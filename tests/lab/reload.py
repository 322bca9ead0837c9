#!/usr/bin/python3
"""reload.py - ftpalgd re-reads its configuration (SIGHUP) without dropping a session.

On lab.py's topology, with ftpalgd intercepting the LAN's port 21 and one inbound
mapping A on the router's LAN address (192.168.1.1:2101, relayed) in front of the
WAN vsftpd:

  * two slow 64 MiB downloads run the whole time: T1 active mode through the
    interception (kernel pinhole), T2 passive through mapping A (userspace relay);
    one ftplib session has its PORT answered (pinhole pending) before reload 1 and
    sends RETR only after it;
  * reload 1: a policy change (pasv-policy, max-sessions-per-client) and one more
    control port (the intercept chain is updated, the table is not recreated);
  * a broken file and a file changing nft-table and user are refused: one log line
    naming the file and line / the keys, `ftpalgd -n` says the same, nothing drops;
    a mapping on a port another program holds fails the reload, which is undone;
  * reload 2: a new mapping B (192.168.1.1:2102, pinholes); a download through it;
  * reload 3: mapping A removed; new connections to it are refused while T2,
    which came in through it, goes on;
  * reload 4: public-address moves (192.168.1.1 -> .254): the public:2103 mapping's
    listener moves with it, a download through the new address works;
  * every transfer completes with the right sha256; `ftpalg status` shows the
    reload count and the time of the last reload.

Writes build/results/reload.txt ("passed=N failed=M") and build/results/reload.log
(the daemon's log lines around the reloads).  Needs root; about 25 s.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lab as L                                    # noqa: E402
import privsec as P                                # noqa: E402  (the unit's confinement)

CLI = os.path.join(L.REPO, "build", "ftpalg")
OUT = os.path.join(L.REPO, "build", "results")
SRV = L.SERVERS["vsftpd"]["4"]
MAP_A = "mapping = %s:2101 -> %s:21 relay\n" % (L.RLAN4, SRV)
MAP_B = "mapping = %s:2102 -> %s:21\n" % (L.RLAN4, SRV)
# A mapping on the router's "public" address (here: its LAN side), which reload 4 moves.
PUB2 = "192.168.1.254"
MAP_P = "mapping = public:2103 -> %s:21 relay\n" % SRV
PUB_1 = "public-address = %s\n" % L.RLAN4
PUB_2 = "public-address = %s\n" % PUB2
RATE = "3M"          # 64 MiB at 3 MiB/s: ~21 s, across every reload

# The ftplib session that sends PORT before reload 1 and RETR after it.
PORT_CLIENT = r"""
import ftplib, hashlib, os, sys, time
host, name, go = sys.argv[1:4]
ftp = ftplib.FTP(timeout=30)
ftp.connect(host, 21)
ftp.login("anonymous", "lab@")
ftp.voidcmd("TYPE I")
sock = ftp.makeport()                  # PORT answered: the pinhole is open
print("ported", flush=True)
end = time.time() + 60
while not os.path.exists(go):
    if time.time() > end:
        sys.exit("no go-ahead")
    time.sleep(0.05)
resp = ftp.sendcmd("RETR " + name)
if resp[0] not in "12":
    sys.exit("RETR: " + resp)
conn, _ = sock.accept()
h = hashlib.sha256()
while True:
    b = conn.recv(1 << 16)
    if not b:
        break
    h.update(b)
conn.close()
ftp.voidresp()
ftp.quit()
print("sha256 " + h.hexdigest(), flush=True)
"""


class NotifyDaemon(L.Daemon):
    """The lab's daemon with NOTIFY_SOCKET set, as systemd starts it (Type=notify)."""

    def __init__(self, lab, notify_path, extra_conf=""):
        super().__init__(lab, extra_conf=extra_conf)
        self.notify_path = notify_path

    def start(self, timeout=5.0):
        spawn = self.lab.spawn

        def with_env(name, ns, argv, logfile):
            return spawn(name, ns, ["env", "NOTIFY_SOCKET=" + self.notify_path] + list(argv),
                         logfile)
        self.lab.spawn = with_env
        try:
            return super().start(timeout)
        finally:
            self.lab.spawn = spawn


def main():
    L.require_root("make check")
    os.makedirs(OUT, exist_ok=True)
    lab = L.Lab()
    L.install_signal_handlers(lab)
    checks = []
    procs = []
    t0 = time.monotonic()

    def check(name, ok, detail=""):
        checks.append((name, bool(ok), detail))
        return bool(ok)

    def cli(*args, as_json=True):
        argv = [CLI, "-s", lab.daemon.sock] + (["--json"] if as_json else []) + list(args)
        r = lab.run("r", argv, timeout=10, check=False)
        if as_json:
            try:
                return json.loads(r.out)
            except ValueError:
                return {"_error": "rc=%s out=%r err=%r" % (r.rc, r.out[-300:], r.err[-300:])}
        return r.out + r.err

    def popen_client(argv):
        p = subprocess.Popen(["ip", "netns", "exec", lab.ns["c"]] + argv,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
        procs.append(p)
        lab.children.add(p)
        return p

    def curl(url, out, rate=None, active=False, max_time=60):
        argv = ["curl", "-sS", "--max-time", str(max_time), "--connect-timeout", "5",
                "-o", out, url]
        if rate:
            argv[1:1] = ["--limit-rate", rate]
        if active:
            argv[1:1] = ["-P", "-", "--disable-eprt"]
        return argv

    def finish(p, timeout):
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            lab._kill(p)
        lab.children.discard(p)
        return p.returncode, p.stdout.read().decode(errors="replace"), \
            p.stderr.read().decode(errors="replace")

    def log_since(off):
        text = lab.daemon.log_text(since_start=False)
        return text[off:], len(text)

    def conf(*extra):
        """The lab's daemon configuration plus extra lines; a control-ports line
        in extra replaces the lab's own."""
        extra = "".join(extra)
        lab.daemon.extra_conf = extra
        lab.daemon.write_conf()
        if "control-ports" in extra:
            with open(lab.daemon.conf) as f:
                text = f.read().replace("control-ports = 21\n", "", 1)
            with open(lab.daemon.conf, "w") as f:
                f.write(text)

    def reload_and_wait(what, timeout=8.0):
        """SIGHUP; returns the log lines the daemon wrote for this reload."""
        _, off = log_since(0)
        pid = int(open(lab.daemon.pidfile).read().strip())
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            drain_notify()
            text, _ = log_since(off)
            if re.search(r"reload (#\d+ .*applied|refused|failed|: configuration unchanged)",
                         text):
                time.sleep(0.2)          # the lines that follow it
                text, _ = log_since(off)
                reload_log.append("---- %s\n%s" % (what, text))
                return text
            time.sleep(0.05)
        text, _ = log_since(off)
        reload_log.append("---- %s (no reload line within %.0fs)\n%s" % (what, timeout, text))
        return text

    notified = []
    notify = None

    def drain_notify():
        """Reads what the daemon told the service manager, as systemd would."""
        while notify is not None:
            try:
                notified.append(notify.recv(4096).decode(errors="replace"))
            except BlockingIOError:
                break

    def running(*ps):
        return all(p.poll() is None for p in ps)

    def table_handle():
        r = lab.run("r", ["nft", "-a", "list", "table", "inet", "ftpalg"], check=False)
        m = re.search(r"table inet ftpalg \{ # handle (\d+)", r.out)
        return m.group(1) if m else None

    def connect_refused(port, addr=L.RLAN4):
        probe = ("import socket,sys\ns=socket.socket();s.settimeout(3)\n"
                 "try:\n s.connect((sys.argv[1],int(sys.argv[2])));print('connected')\n"
                 "except ConnectionRefusedError:\n print('refused')\n"
                 "except OSError as e:\n print('error',e)\n")
        r = lab.run("c", [L.PY, "-c", probe, addr, str(port)], timeout=10, check=False)
        return r.out.strip()

    def auth_tls():
        """A new control session through the interception: the reply to AUTH TLS."""
        probe = ("import socket,sys\ns=socket.create_connection((sys.argv[1],21),timeout=5)\n"
                 "f=s.makefile('rb')\nl=f.readline()\n"
                 "while l[3:4]==b'-': l=f.readline()\n"
                 "s.sendall(b'AUTH TLS\\r\\n')\nprint(f.readline().decode().strip())\n")
        r = lab.run("c", [L.PY, "-c", probe, SRV], timeout=15, check=False)
        return (r.out.strip() or r.err.strip()[-200:])

    reload_log = []
    try:
        lab.create()
        lab.make_files(big=True)
        lab.start_servers(which=("vsftpd",), families=("4",))
        lab.set_mode("ftpalgd")
        # the service manager's end of sd_notify: what systemd would be told
        notify_path = os.path.join(lab.tmp, "notify.sock")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        notify.setblocking(False)
        lab.run("r", ["ip", "addr", "add", PUB2 + "/24", "dev", lab.if_rl])
        lab.daemon = NotifyDaemon(lab, notify_path, extra_conf=MAP_A + MAP_P + PUB_1)
        if not check("ftpalgd starts with mapping A", lab.daemon.start(),
                     lab.daemon.error or ""):
            raise L.LabError("no daemon")
        if not lab.wait_listen("r", 2101, L.RLAN4, timeout=5):
            raise L.LabError("mapping A does not listen")
        handle0 = table_handle()
        reply = auth_tls()
        check("before reload 1: AUTH TLS reaches the server (tls = pass)",
              reply[:3].isdigit() and not reply.startswith("534"), reply)
        st = cli("status")
        check("status: no reload yet", st.get("reloads") == 0 and st.get("last_reload") is None,
              st)

        # The long transfers and the parked PORT session.
        out1 = os.path.join(lab.cli, "t1.bin")
        out2 = os.path.join(lab.cli, "t2.bin")
        go = os.path.join(lab.tmp, "go-retr")
        t1 = popen_client(curl("ftp://%s/%s" % (SRV, L.BIG), out1, rate=RATE, active=True))
        t2 = popen_client(curl("ftp://%s:2101/%s" % (L.RLAN4, L.BIG), out2, rate=RATE))
        tp = popen_client([L.PY, "-c", PORT_CLIENT, SRV, "f1m.bin", go])
        ported = tp.stdout.readline().decode().strip() == "ported"
        check("ftplib session: PORT answered before the reload", ported)
        busy = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            busy = [s for s in cli("sessions").get("sessions", []) if s.get("transferring")]
            if len(busy) >= 2:
                break
            time.sleep(0.1)
        check("T1 (active, pinhole) and T2 (mapping A, relay) are transferring",
              len(busy) >= 2, busy)
        pins = cli("pinholes").get("pinholes", [])
        check("the parked PORT's pinhole is pending", any(not p.get("used") for p in pins), pins)

        # Reload 1: policy and one more control port.
        policy = "pasv-policy = relaxed\ntls = refuse\nmax-sessions-per-client = 32\n"
        conf(MAP_A, MAP_P, PUB_1, policy, "control-ports = 21, 2021\n")
        text = reload_and_wait("reload 1: policy, control-ports")
        check("reload 1 applied", re.search(r"reload #1 .*applied", text), text)
        check("reload 1: the log says new policy values apply to new sessions",
              any("sessions opened from now on" in l and "tls" in l and "pasv-policy" in l and
                  "max-sessions-per-client" in l for l in text.splitlines()), text)
        reply = auth_tls()
        check("reload 1: a new session gets the new policy (AUTH TLS: 534 from ftpalg)",
              reply.startswith("534") and "ftpalg" in reply, reply)
        r = lab.run("r", ["nft", "list", "chain", "inet", "ftpalg", "intercept"], check=False)
        check("reload 1: intercept chain updated (port 2021 redirected)",
              "tcp dport 2021 redirect to :%d" % L.DAEMON_PORT in r.out and
              "tcp dport 21 redirect" in r.out, r.out)
        check("reload 1: the table is the same (not recreated)",
              handle0 is not None and table_handle() == handle0, (handle0, table_handle()))
        check("reload 1: the transfers go on", running(t1, t2, tp))
        open(go, "w").close()            # RETR through the pinhole opened before the reload
        rc, o, e = finish(tp, 30)
        check("ftplib: RETR through the pinhole opened before the reload, sha256 ok",
              rc == 0 and ("sha256 " + lab.hashes["f1m.bin"]) in o, (rc, o[-200:], e[-300:]))

        # A broken file: refused, naming the file and line.
        with open(lab.daemon.conf) as f:
            good = f.read()
        broken = good + "# a typo\nmax-sessions = lots\n"
        bad_line = broken.count("\n")
        with open(lab.daemon.conf, "w") as f:
            f.write(broken)
        r = lab.run("r", [L.DAEMON, "-n", "-f", lab.daemon.conf], check=False)
        where = "%s:%d:" % (lab.daemon.conf, bad_line)
        check("ftpalgd -n refuses the broken file, naming file:line",
              r.rc != 0 and where in r.err, r.out + r.err)
        text = reload_and_wait("broken file")
        refusal = [l for l in text.splitlines() if "reload refused" in l]
        check("broken file: one log line naming file:line, old configuration stays",
              len(refusal) == 1 and where in refusal[0] and "max-sessions" in refusal[0] and
              "running configuration stays" in refusal[0], text)
        check("broken file: the transfers go on", running(t1, t2))

        # Keys that cannot change at run time: named in the refusal.
        with open(lab.daemon.conf, "w") as f:
            f.write(good + "nft-table = other\nuser = nobody\n")
        text = reload_and_wait("restart-only keys")
        refusal = [l for l in text.splitlines() if "reload refused" in l]
        check("nft-table and user: refused, both named",
              len(refusal) == 1 and "nft-table" in refusal[0] and "user" in refusal[0] and
              "restart" in refusal[0], text)
        check("restart-only keys: the table is still inet ftpalg, transfers go on",
              table_handle() == handle0 and running(t1, t2), table_handle())

        # A mapping on a port something else holds: the reload fails whole, undone.
        hog = subprocess.Popen(["ip", "netns", "exec", lab.ns["r"], L.PY, "-c",
                                "import socket,time\ns=socket.socket()\n"
                                "s.bind(('%s',2104));s.listen(1);print('up',flush=True)\n"
                                "time.sleep(60)" % L.RLAN4],
                               stdout=subprocess.PIPE, start_new_session=True)
        procs.append(hog)
        lab.children.add(hog)
        hog.stdout.readline()
        conf(MAP_A, MAP_B, "mapping = %s:2104 -> %s:21\n" % (L.RLAN4, SRV), MAP_P, PUB_1,
             policy, "control-ports = 21, 2021\n")
        text = reload_and_wait("a port held by another program")
        failed_l = [l for l in text.splitlines() if "reload failed" in l]
        check("port taken: the reload fails with the reason, undone (B not opened)",
              len(failed_l) == 1 and "listen on %s:2104" % L.RLAN4 in failed_l[0] and
              "running configuration stays" in failed_l[0] and
              connect_refused(2102) == "refused" and connect_refused(2101) == "connected",
              text)
        lab._kill(hog)
        lab.children.discard(hog)

        # Reload 2: a new mapping B.
        conf(MAP_A, MAP_B, MAP_P, PUB_1, policy, "control-ports = 21, 2021\n")
        text = reload_and_wait("reload 2: new mapping B")
        check("reload 2 applied, mapping B listed",
              re.search(r"reload #2 .*applied", text) and "+%s:2102" % L.RLAN4 in text, text)
        check("reload 2: B listens", lab.wait_listen("r", 2102, L.RLAN4, timeout=3))
        out3 = os.path.join(lab.cli, "b.bin")
        rb = lab.run("c", curl("ftp://%s:2102/f1m.bin" % L.RLAN4, out3, max_time=20),
                     timeout=30, check=False)
        check("reload 2: a download through the new mapping B, sha256 ok",
              rb.ok and os.path.exists(out3) and L.sha256(out3) == lab.hashes["f1m.bin"],
              rb.why())
        check("reload 2: the transfers go on", running(t1, t2))

        # Reload 3: mapping A removed while T2, which came in through it, runs.
        t2_alive = running(t2)
        conf(MAP_B, MAP_P, PUB_1, policy, "control-ports = 21, 2021\n")
        text = reload_and_wait("reload 3: mapping A removed")
        check("reload 3 applied, mapping A removed",
              re.search(r"reload #3 .*applied", text) and "-%s:2101" % L.RLAN4 in text, text)
        check("reload 3: A's live session is said to go on", re.search(
            r"2101.*(stops accepting|no longer accepted).*1 live session", text), text)
        check("reload 3: T2 was still running when its listener went", t2_alive and running(t2))
        res = connect_refused(2101)
        check("reload 3: a new connection to mapping A is refused", res == "refused", res)
        check("reload 3: mapping B still serves", connect_refused(2102) == "connected")

        # Reload 4: the public address moves; the public:PORT mapping follows it.
        check("before reload 4: public:2103 on %s" % L.RLAN4, connect_refused(2103) == "connected")
        conf(MAP_B, MAP_P, PUB_2, policy, "control-ports = 21, 2021\n")
        text = reload_and_wait("reload 4: public-address moved")
        check("reload 4 applied, the new public address logged",
              re.search(r"reload #4 .*applied: changed public-address", text) and
              "public address %s from now on" % PUB2 in text, text)
        check("reload 4: public:2103 moved (old address refused, new one accepts)",
              connect_refused(2103) == "refused" and
              connect_refused(2103, PUB2) == "connected", (connect_refused(2103),
                                                           connect_refused(2103, PUB2)))
        out4 = os.path.join(lab.cli, "p.bin")
        rp = lab.run("c", curl("ftp://%s:2103/f1m.bin" % PUB2, out4, max_time=20),
                     timeout=30, check=False)
        check("reload 4: a download through the moved public mapping, sha256 ok",
              rp.ok and os.path.exists(out4) and L.sha256(out4) == lab.hashes["f1m.bin"],
              rp.why())
        check("reload 4: the long transfers go on", running(t1, t2))

        rc1, _, e1 = finish(t1, 60)
        check("T1 (active, across 3 reloads) completes, sha256 ok",
              rc1 == 0 and L.sha256(out1) == lab.hashes[L.BIG], e1[-300:])
        rc2, _, e2 = finish(t2, 60)
        check("T2 (through the removed mapping A) completes, sha256 ok",
              rc2 == 0 and L.sha256(out2) == lab.hashes[L.BIG], e2[-300:])

        st = cli("status")
        ok_time = False
        try:
            ok_time = abs(time.time() - float(st.get("last_reload_unix", 0))) < 120 and \
                re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", st.get("last_reload", ""))
        except (TypeError, ValueError):
            pass
        check("status: 4 reloads, 3 refused, the time of the last one",
              st.get("reloads") == 4 and st.get("reloads_refused") == 3 and ok_time and
              st.get("last_reload_ok") is True, st)
        human = cli("status", as_json=False)
        check("status: the human output shows the reloads",
              re.search(r"reloads:\s+4\b.*last", human), human[-500:])
        check("no session left after the transfers", cli("sessions").get("sessions") == [])
        clean, detail = lab.daemon.stop()
        check("ftpalgd stops cleanly", clean, detail)
        drain_notify()
        msgs = notified
        firsts = [m.split("\n")[0] for m in msgs]
        pairs = " ".join(firsts)
        check("sd_notify: READY=1, then RELOADING=1 ... READY=1 for each of the 7 reloads, "
              "STOPPING=1", firsts[:1] == ["READY=1"] and firsts[-1:] == ["STOPPING=1"] and
              pairs.count("RELOADING=1 READY=1") == 7 and firsts.count("RELOADING=1") == 7 and
              all("MONOTONIC_USEC=" in m for m in msgs if m.startswith("RELOADING=1")), msgs)

        # As the systemd unit runs it: unprivileged (nobody), CAP_NET_ADMIN only,
        # no_new_privs, the unit's seccomp filter (privsec.py's wrapping): a reload
        # still opens a mapping and replaces the intercept chain.
        settings = P.unit_settings(P.UNIT)
        allow, errnum, fams = P.unit_filter(settings)
        flt = os.path.join(lab.tmp, "syscalls.txt")
        with open(flt, "w") as f:
            f.write("\n".join(sorted(allow)) + "\n")
        rundir = os.path.join(lab.tmp, "run")
        os.makedirs(rundir)
        os.chown(rundir, 65534, 65534)
        setpriv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                   "--bounding-set=" + P.caps_arg(settings, "CapabilityBoundingSet"),
                   "--inh-caps=" + P.caps_arg(settings, "AmbientCapabilities"),
                   "--ambient-caps=" + P.caps_arg(settings, "AmbientCapabilities"),
                   "--no-new-privs"]
        seccomp = [P.SECCOMP_EXEC, "-e", str(errnum)] + \
            sum([["-f", str(x)] for x in fams], []) + [flt, "--"]
        ok = P.start_wrapped(lab, setpriv + seccomp, "control-group = nogroup\n", rundir)
        check("unit-like: ftpalgd starts as nobody under the unit's filter", ok,
              (lab.daemon.error or "") + lab.daemon.log_text()[-400:])
        if ok:
            conf("control-group = nogroup\n", MAP_B, "pasv-policy = relaxed\n",
                 "control-ports = 21, 2021\n")
            text = reload_and_wait("unit-like: a mapping, control ports, a policy")
            check("unit-like: reload applied (mapping opened, intercept chain replaced)",
                  re.search(r"reload #1 .*applied", text) and
                  "intercept chain replaced" in text and "2102" in text, text)
            r = lab.run("r", ["nft", "list", "chain", "inet", "ftpalg", "intercept"],
                        check=False)
            check("unit-like: the chain has the new port", "tcp dport 2021 redirect" in r.out,
                  r.out)
            out5 = os.path.join(lab.cli, "u.bin")
            ru = lab.run("c", curl("ftp://%s:2102/f1m.bin" % L.RLAN4, out5, max_time=20),
                         timeout=30, check=False)
            check("unit-like: a download through the mapping the reload added, sha256 ok",
                  ru.ok and L.sha256(out5) == lab.hashes["f1m.bin"], ru.why())
            clean, detail = lab.daemon.stop()
            check("unit-like: ftpalgd stops cleanly", clean, detail)
    except L.LabError as e:
        check("lab", False, str(e))
    finally:
        for p in procs:
            if p.poll() is None:
                lab._kill(p)
        logs = lab.daemon.log_text(since_start=False) if lab.daemon else ""
        lab.destroy()
    with open(os.path.join(OUT, "reload.log"), "w") as f:
        f.write("".join(reload_log))
        f.write("==== the whole daemon log\n" + logs[-60000:])
    passed = sum(1 for c in checks if c[1])
    failed = len(checks) - passed
    print("reload: SIGHUP under live transfers")
    for name, ok, detail in checks:
        print("  %-6s %s%s" % ("ok" if ok else "FAIL!!", name, "" if ok else ": %s" % (detail,)))
    print("reload: passed=%d failed=%d (%.0fs)" % (passed, failed, time.monotonic() - t0))
    with open(os.path.join(OUT, "reload.txt"), "w") as f:
        f.write("passed=%d failed=%d\n" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
