#!/usr/bin/python3
"""bench-relay.py - `make bench`, inbound part: the userspace relay's throughput as a
ratio to the kernel path, measured in the same run, on the inbound lab (inbound.py).

One router, one ftpalgd, ways to the same intranet vsftpd:
    pinhole  public:21   -> vsftpd, kernel pinholes (DNAT+SNAT): the kernel path
    relay    public:2100 -> vsftpd, `relay`: splice(2) through ftpalgd
    helper   public:2121 -> vsftpd by the admin's DNAT + the kernel FTP helper (reference)
    ftp-proxy public:2200 -> vsftpd through Debian's ftp-proxy (SuSE proxy-suite), the
             userspace relay a user would otherwise install (installed here if missing;
             the row is left out, with a note, when it cannot be)
    relay-b  (--daemon-b / --relay-buffer-b) a second ftpalgd build or setting on 2100,
             the daemons taking turns: two builds compared in one sitting
Each: curl RETR of a sparse --gib GiB file (a tmpfs hole: no disk, no page cache to warm)
from a WAN client, passive (EPSV) and active (PORT).

What makes the figures comparable on a shared 2-core machine:
  - one warm-up transfer per row, then --reps reps; in each rep every row once, the order
    rotated from rep to rep (no row always first or always after the same one), the data
    modes alternating which goes first;
  - ratios are per rep (two rows measured seconds apart), reported as median and min-max,
    with how often the relay was ahead;
  - --pin (default): the router on cpu 1 (ftpalgd, ftp-proxy, and by RPS the receive
    processing of every packet that reaches the router), client and server on cpu 0, as a
    router and its hosts would be; otherwise the kernel path's forwarding runs in the
    sender's context and the scheduler's placement decides a run (seen: 425-1331 MB/s);
  - the router's core's CPU seconds per GiB: what a path costs a router, whoever the
    bottleneck is; the busy share of each core says who it was;
  - before each rep, up to --quiet-wait seconds for other work to calm down (printed), and
    the lab's processes at --nice.
Reports, never asserts timing; exit status non-zero only when a measurement could not be
made.  Options: --help.
"""
import argparse
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lab as L  # noqa: E402
import inbound as I  # noqa: E402

PATHS = (("pinhole", 21), ("relay", 2100), ("helper", 2121), ("ftp-proxy", 2200))
FTP_PROXY = "/usr/sbin/ftp-proxy"
FTP_PROXY_PASV = (41000, 41999)     # its own data ports toward the client
DMODES = ("EPSV", "PORT")
PIN_CLIENT = []         # taskset prefix for the client (--pin)
HOST_CPU, ROUTER_CPU = 0, 1     # --pin: the ends (client, server) and the router


class BenchLab(I.InboundLab):
    def admin_ruleset(self, mode):
        """ftpalgd's rules (mark in input and forward) plus the classic DNAT + helper on 2121."""
        lan, wan = self.if_rl, self.if_rw
        m = "0x%08x" % L.PINHOLE_MARK
        return """table inet admin
delete table inet admin
table inet admin {
    ct helper ftp-standard {
        type "ftp" protocol tcp
        l3proto inet
    }
    chain helpers {
        type filter hook prerouting priority filter; policy accept;
        ip daddr %(vs)s tcp dport 21 ct helper set "ftp-standard"
    }
    chain input {
        type filter hook input priority filter; policy drop;
        iif "lo" accept
        ct state established,related accept
        ct state invalid drop
        meta l4proto { icmp, ipv6-icmp } accept
        iifname "%(lan)s" accept
        tcp dport { 21, 2100, 2200, %(fpl)d-%(fph)d } accept
        ct mark & %(m)s == %(m)s accept
        meta l4proto tcp reject with tcp reset
    }
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        ct state invalid drop
        iifname "%(lan)s" oifname "%(wan)s" accept
        ct mark & %(m)s == %(m)s accept
        ct status dnat accept
    }
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        ip daddr %(pub)s tcp dport 2121 dnat ip to %(vs)s:21
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "%(wan)s" masquerade
    }
}
""" % dict(lan=lan, wan=wan, m=m, pub=I.PUB4, vs=I.SRV["vsftpd"]["addr"],
           fpl=FTP_PROXY_PASV[0], fph=FTP_PROXY_PASV[1])

    def place_cpus(self):
        """The router on a core of its own, the two ends on the other (see --pin)."""
        os.sched_setaffinity(self.procs["vsftpd"].pid, {HOST_CPU})   # children inherit it
        PIN_CLIENT[:] = ["taskset", "-c", str(HOST_CPU)]
        # Receive processing follows the device (RPS): a packet that reaches the router is
        # handled on the router's core, one that reaches an end on the ends' core, whoever
        # sent it.  Without this, the kernel path's forwarding runs in the sender's context.
        for ns, dev, cpu in (("r", self.if_rl, ROUTER_CPU), ("r", self.if_rw, ROUTER_CPU),
                             ("w", self.if_w, HOST_CPU), ("s", self.if_s, HOST_CPU),
                             ("b", self.if_bs, HOST_CPU), ("b", self.if_br, HOST_CPU)):
            self.run(ns, ["sh", "-c", "for q in /sys/class/net/%s/queues/rx-*; do "
                          "echo %x > $q/rps_cpus; done" % (dev, 1 << cpu)])

    def start_ftp_proxy(self):
        """Debian's ftp-proxy in the router, public:2200 -> vsftpd; None or why not."""
        if not os.access(FTP_PROXY, os.X_OK):
            r = self.run(None, ["apt-get", "install", "-y", "-q", "ftp-proxy"], timeout=300,
                         check=False, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
            # the package's init script must not leave a service behind
            self.run(None, ["systemctl", "disable", "--now", "ftp-proxy"], check=False)
            if not os.access(FTP_PROXY, os.X_OK):
                return "ftp-proxy not installed (apt-get install ftp-proxy: %s)" % r.why()
        conf = os.path.join(self.tmp, "ftp-proxy.conf")
        with open(conf, "w") as f:
            f.write("""[-Global-]
ServerType standalone
Listen %s
Port 2200
DestinationAddress %s
DestinationPort 21
DestinationTransferMode client
PassiveMinDataPort %d
PassiveMaxDataPort %d
MaxClients 64
User nobody
Group nogroup
PidFile %s
""" % (I.PUB4, I.SRV["vsftpd"]["addr"], FTP_PROXY_PASV[0], FTP_PROXY_PASV[1],
                os.path.join(self.tmp, "ftp-proxy.pid")))
        self.spawn("ftp-proxy", "r", [FTP_PROXY, "-d", "-n", "-f", conf],
                   os.path.join(self.logdir, "ftp-proxy.out"))
        if not self.wait_listen("r", 2200, I.PUB4, timeout=5):
            return "ftp-proxy did not listen on public:2200"
        return None


class BenchDaemon(I.InboundDaemon):
    relay_buffer = None     # ftpalgd's default unless --relay-buffer

    def write_conf(self):
        vs = I.SRV["vsftpd"]["addr"]
        with open(self.conf, "w") as f:
            f.write("""# ftpalgd for the relay bench
public-interface = %s
mapping = public:21 -> %s:21
mapping = public:2100 -> %s:21 relay
data-ports = %s
pinhole-mark = 0x%08x
%slog-level = info
control-socket = %s
pidfile = %s
""" % (self.lab.if_rw, vs, vs, I.DATA_PORTS, L.PINHOLE_MARK,
       "relay-buffer = %s\n" % self.relay_buffer if self.relay_buffer else "",
       self.sock, self.pidfile))

    def start(self, timeout=8.0):
        self.write_conf()
        self.offset = 0
        self.proc = self.lab.spawn("ftpalgd", "r", [L.DAEMON, "-d", "-f", self.conf], self.logfile)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.error = "ftpalgd exited with status %s" % self.proc.returncode
                return False
            if (self.lab.wait_listen("r", 21, I.PUB4, timeout=0.1) and
                    self.lab.wait_listen("r", 2100, I.PUB4, timeout=0.1)):
                return True
            time.sleep(0.05)
        self.error = "ftpalgd did not listen on public:21 and public:2100"
        return False

    def cpu_s(self):
        try:
            with open("/proc/%d/stat" % self.proc.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None


class MemSampler:
    """Peak kernel memory of the router's TCP sockets on the relay's data legs (ss skmem:
    receive queue r + send queue w), sampled a few times a second during a transfer."""

    def __init__(self, lab, ports):
        self.lab, self.ports, self.peak, self.stop = lab, ports, {}, False

    def sample(self):
        r = self.lab.run("r", ["ss", "-Htmn", "state", "established"], check=False)
        legs, cur = [], None
        for line in r.out.splitlines():
            if "skmem:(" in line and cur is not None:
                m = dict((k[0], int(k[1:])) for k in
                         line.split("skmem:(")[1].split(")")[0].split(",")
                         if k[:1] in "rw" and k[1:].isdigit())
                legs.append((cur, m.get("r", 0), m.get("w", 0)))
                cur = None
            elif line.split():
                f = line.split()
                # data legs only: not the control connections (port 21 of the server,
                # the public control ports)
                cur = f if not any(x.endswith(":21") or x.endswith(":2100") for x in f[2:4]) \
                    else None
        return legs

    def run(self):
        while not self.stop:
            legs = self.sample()
            tot = sum(r + w for _, r, w in legs)
            if tot > self.peak.get("total", 0):
                self.peak = {"total": tot, "rq": max([r for _, r, _ in legs] or [0]),
                             "wq": max([w for _, _, w in legs] or [0])}
            time.sleep(0.2)


def curl_speed(lab, port, dmode, size, timeout):
    s = I.SRV["vsftpd"]
    opts = {"EPSV": ["--ftp-pasv"], "PORT": ["-P", "-", "--disable-eprt"]}[dmode]
    r = lab.run("w", PIN_CLIENT + ["curl", "-sS", "--max-time", str(timeout), "-u", "%s:%s" % (
        s["user"], s["password"]), "-o", "/dev/null", "-w", "%{size_download} %{speed_download}"]
        + opts + ["ftp://%s:%d/huge.bin" % (I.PUB4, port)], timeout=timeout + 5, check=False)
    if not r.ok:
        return None, r.why()
    try:
        got, speed = r.out.split()
        if int(float(got)) != size:
            return None, "got %s of %d bytes" % (got, size)
        return float(speed) / 1e6, ""
    except ValueError:
        return None, "unexpected curl output %r" % r.out[:80]


def cpu_jiffies():
    """{"cpu": (busy, total), "cpu0": ..., ...} jiffies (/proc/stat is not per netns)."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu"):
                break
            k, *v = line.split()
            v = [int(x) for x in v]
            idle = v[3] + v[4]                      # idle + iowait
            total = sum(v[:8])                      # guest time is inside user already
            out[k] = (total - idle, total)
    return out


def busy_share(j0, j1, key):
    b = j1[key][0] - j0[key][0]
    t = j1[key][1] - j0[key][1]
    return b / t if t > 0 else 0.0


def proc_cpu_s(pid, children=False):
    """utime+stime (and the reaped children's, for a forking server) of pid, in seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        n = int(fields[11]) + int(fields[12])
        if children:
            n += int(fields[13]) + int(fields[14])
        return n / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def proc_children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return f.read().split()
    except OSError:
        return []


def background_busy(seconds=0.5):
    """How busy the machine is without us (other work on a shared box), in cores."""
    j0 = cpu_jiffies()
    time.sleep(seconds)
    return busy_share(j0, cpu_jiffies(), "cpu") * (os.cpu_count() or 1)


def med(xs):
    return statistics.median(xs) if xs else None


def fmt(v, f="%.0f"):
    return f % v if v is not None else "-"


def main():
    allpaths = list(PATHS)
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=int, default=1)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--paths", default=",".join(p for p, _ in allpaths),
                    help="comma-separated subset of " + ",".join(p for p, _ in allpaths))
    ap.add_argument("--dmodes", default=",".join(DMODES))
    ap.add_argument("--quiet", type=float, default=0.3,
                    help="before a rep, wait until other work keeps at most this many cores busy")
    ap.add_argument("--quiet-wait", type=float, default=10.0, help="... for at most this long")
    ap.add_argument("--nice", type=int, default=-5,
                    help="niceness of the lab's processes (inherited: servers, ftpalgd, "
                    "ftp-proxy, curl), so that other work on a shared machine perturbs less")
    ap.add_argument("--relay-buffer", default=None,
                    help="ftpalgd's relay-buffer (default: its shipped default)")
    ap.add_argument("--pin", type=int, default=1,
                    help="1: the router (its packets, ftpalgd, ftp-proxy) on cpu 1, "
                    "client and server on cpu 0; 0: wherever the scheduler puts them")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every transfer")
    ap.add_argument("--router-sysctl", action="append", default=[],
                    help="KEY=VALUE set in the router's namespace (experiments), repeatable")
    ap.add_argument("--daemon", default=L.DAEMON, help="the ftpalgd binary to measure")
    ap.add_argument("--daemon-b", default=None,
                    help="a second ftpalgd build, measured as row relay-b in the same reps")
    ap.add_argument("--relay-buffer-b", default=None, help="relay-buffer for --daemon-b")
    ap.add_argument("--mem", type=int, default=0,
                    help="1: sample the relay's socket memory (ss) during its transfers")
    a = ap.parse_args()
    L.DAEMON = a.daemon
    L.require_root("make bench")
    try:
        os.setpriority(os.PRIO_PROCESS, 0, a.nice)
    except OSError:
        pass
    size = a.gib << 30
    timeout = max(60, 30 * a.gib)
    want = a.paths.split(",")
    if a.daemon_b or a.relay_buffer_b:
        a.daemon_b = a.daemon_b or a.daemon
        allpaths[2:2] = [("relay-b", 2100)]
        if "relay" in want:
            want.append("relay-b")
    dmodes = [m for m in DMODES if m in a.dmodes.split(",")]
    bad = [p for p in want if p not in dict(allpaths)]
    if bad or not dmodes:
        ap.error("unknown path or data mode: %s" % ",".join(bad or [a.dmodes]))
    keys = [(p, d) for p, _ in allpaths for d in dmodes]
    speeds = {k: {} for k in keys}          # (path, dmode) -> {rep: MB/s}
    dcpu = {k: [] for k in keys}            # ftpalgd (or ftp-proxy) CPU s/GiB
    mcpu = {k: [] for k in keys}            # the whole machine's CPU s/GiB (includes others)
    mem = {k: [] for k in keys}             # --mem: peak socket memory of the relay, MiB
    idle = {k: [] for k in keys}            # (router core busy, ends core busy) shares
    bg = []
    errors = []
    lab = BenchLab()
    L.install_signal_handlers(lab)
    rc = 0
    pinned = a.pin and (os.cpu_count() or 1) >= 2
    try:
        print("bench-relay: inbound lab %s, %d GiB, %d reps, order rotated every rep"
              % (lab.prefix, a.gib, a.reps), flush=True)
        lab.create()
        lab.make_files(big=False, huge_gib=a.gib)
        lab.start_inbound_servers()
        if pinned:
            lab.place_cpus()
        lab.set_mode("bench")
        for kv in a.router_sysctl:
            lab.run("r", ["sysctl", "-qw", kv])
        # --daemon-b: a second build, its own row "relay-b" on the same port; the daemons
        # take turns (restarted between rows) so both builds are compared in one sitting.
        builds = {"a": (a.daemon, a.relay_buffer),
                  "b": (a.daemon_b, a.relay_buffer_b or a.relay_buffer)}
        cur = {}

        def use(which):
            if cur.get("which") == which:
                return cur["d"]
            if cur.get("d") is not None:
                cur["d"].stop()
            dd = BenchDaemon(lab)
            L.DAEMON, dd.relay_buffer = builds[which]
            lab.daemon = dd
            if not dd.start():
                raise L.LabError(dd.error)
            if pinned:
                os.sched_setaffinity(dd.proc.pid, {ROUTER_CPU})
            cur.update(which=which, d=dd)
            return dd

        use("a")
        paths = [p for p in allpaths if p[0] in want]
        fp = None
        if "ftp-proxy" in want:
            why = lab.start_ftp_proxy()
            if why:
                errors.append("ftp-proxy: not measured: " + why)
                paths = [p for p in paths if p[0] != "ftp-proxy"]
            else:
                fp = lab.procs["ftp-proxy"].pid
                if pinned:
                    os.sched_setaffinity(fp, {ROUTER_CPU})   # its children inherit it

        hz = os.sysconf("SC_CLK_TCK")

        def cpu_of(name):
            if name == "ftp-proxy":
                # it forks per client: wait until the child is reaped into cutime
                for _ in range(50):
                    if not proc_children(fp):
                        break
                    time.sleep(0.02)
                return proc_cpu_s(fp, children=True)
            return cur["d"].cpu_s()

        # Warm-up, not measured: first connections, ARP, the server's first fork, ftp-proxy's.
        for dmode in dmodes:
            for name, port in paths:
                if name in ("pinhole", "relay", "relay-b"):
                    use("b" if name == "relay-b" else "a")
                curl_speed(lab, port, dmode, size, timeout)
        for rep in range(a.reps):
            # A shared machine: wait (10 s at most) for a quieter moment, and say how busy
            # it was.  Our own processes are idle between transfers.
            quiet_by = time.monotonic() + a.quiet_wait
            busy = background_busy()
            while busy > a.quiet and time.monotonic() < quiet_by:
                busy = background_busy()
            bg.append(busy)
            # Rotate the order every rep: no path is always first (or always after the
            # same one), and the two data modes alternate which goes first.
            k = rep % len(paths)
            order = paths[k:] + paths[:k]
            for dmode in (dmodes if rep % 2 == 0 else dmodes[::-1]):
                for name, port in order:
                    if name in ("pinhole", "relay", "relay-b"):
                        use("b" if name == "relay-b" else "a")
                    c0 = cpu_of(name)
                    ms = None
                    if a.mem and name in ("relay", "relay-b"):
                        ms = MemSampler(lab, port)
                        th = threading.Thread(target=ms.run, daemon=True)
                        th.start()
                    j0 = cpu_jiffies()
                    v, why = curl_speed(lab, port, dmode, size, timeout)
                    j1 = cpu_jiffies()
                    if ms is not None:
                        ms.stop = True
                        th.join()
                        if ms.peak:
                            mem[(name, dmode)].append((ms.peak["total"] / 2**20,
                                                       ms.peak["rq"] / 2**20,
                                                       ms.peak["wq"] / 2**20))
                    c1 = cpu_of(name)
                    # the router's core, or the machine when nothing is pinned
                    rkey = "cpu%d" % ROUTER_CPU if pinned else "cpu"
                    ekey = "cpu%d" % HOST_CPU if pinned else "cpu"
                    wall = (j1["cpu"][1] - j0["cpu"][1]) / (os.cpu_count() or 1) / hz
                    if v is None:
                        errors.append("%s %s rep %d: %s" % (name, dmode, rep + 1, why))
                        continue
                    speeds[(name, dmode)][rep] = v
                    rb = busy_share(j0, j1, rkey)
                    if a.verbose:
                        print("    rep %d %-9s %s %6.0f MB/s  busy: router %3.0f%% ends %3.0f%%"
                              "  proc CPU %s"
                              % (rep + 1, name, dmode, v, 100 * rb, 100 * busy_share(j0, j1, ekey),
                                 fmt(None if c0 is None or c1 is None else (c1 - c0) / a.gib,
                                     "%.2f s/GiB")), flush=True)
                    mcpu[(name, dmode)].append(rb * wall * (1 if pinned else
                                                            os.cpu_count() or 1) / a.gib)
                    idle[(name, dmode)].append((rb, busy_share(j0, j1, ekey)))
                    if c0 is not None and c1 is not None:
                        dcpu[(name, dmode)].append((c1 - c0) / a.gib)
            print("  rep %d/%d done (other work on the machine before it: %.2f cores busy)"
                  % (rep + 1, a.reps, bg[-1]), flush=True)
        cur["d"].stop()
        lab.daemon = None
    except BaseException as e:
        errors.append("%s: %s" % (type(e).__name__, e))
        rc = 1
    finally:
        lab.destroy()

    def paired(num, den, dmode):
        """Ratios of two paths measured in the same rep (minutes apart at most)."""
        n, dd = speeds.get((num, dmode), {}), speeds.get((den, dmode), {})
        return [n[r] / dd[r] for r in sorted(n) if r in dd and dd[r]]

    label = {"pinhole": "ftpalgd, kernel pinhole (port 21)",
             "relay": "ftpalgd, userspace relay (2100)",
             "relay-b": "relay, --daemon-b build (2100)",
             "helper": "DNAT + kernel helper (2121)",
             "ftp-proxy": "Debian ftp-proxy relay (2200)"}
    where = ("router on cpu %d (its packets by RPS, ftpalgd, ftp-proxy), client and server on "
             "cpu %d" % (ROUTER_CPU, HOST_CPU) if pinned else "nothing pinned")
    print()
    print("ftpalg inbound data path, %d GiB RETR from an intranet vsftpd, %d reps interleaved, "
          "%s." % (a.gib, a.reps, where))
    print("MB/s: median and min-max.  ratio: median (min-max) of the per-rep ratios to the "
          "kernel path (ftpalgd pinholes).")
    print("relay CPU: the relaying process (ftpalgd, ftp-proxy), s/GiB.  %s: s/GiB of %s, other "
          "work included.  busy: %s" % (
              "router CPU" if pinned else "machine CPU",
              "the router's core" if pinned else "all cores",
              "router's core / ends' core" if pinned else "the machine"))
    print("%-5s %-34s %6s %10s %5s %10s %6s %6s %9s" % (
        "cmd", "path", "MB/s", "min-max", "ratio", "min-max", "relay", "router" if pinned
        else "mach.", "busy"))
    for dmode in dmodes:
        for name, port in allpaths:
            if name not in want:
                continue
            xs = list(speeds[(name, dmode)].values())
            rs = paired(name, "pinhole", dmode) if "pinhole" in want else []
            c = med(dcpu[(name, dmode)]) if name in ("relay", "relay-b", "ftp-proxy") else None
            bz = idle[(name, dmode)]
            busy = ("%.0f/%.0f%%" % (100 * med([x[0] for x in bz]), 100 * med([x[1] for x in bz]))
                    if bz and pinned else "%.0f%%" % (100 * med([x[0] for x in bz])) if bz
                    else "-")
            print("%-5s %-34s %6s %10s %5s %10s %6s %6s %9s" % (
                dmode, label[name], fmt(med(xs)),
                "%.0f-%.0f" % (min(xs), max(xs)) if xs else "-",
                fmt(med(rs), "%.2f"), "%.2f-%.2f" % (min(rs), max(rs)) if rs else "-",
                fmt(c, "%.2f"), fmt(med(mcpu[(name, dmode)]), "%.2f"), busy))
    for dmode in dmodes:
        bz = idle[("pinhole", dmode)]
        if pinned and bz and med([x[1] for x in bz]) >= 0.95:
            print("bench-relay: note: %s kernel path: the ends' core was %.0f%% busy, so its MB/s "
                  "is the client's and server's limit; what the path costs the router shows in "
                  "router CPU" % (dmode, 100 * med([x[1] for x in bz])))
    for k in keys:
        if mem[k]:
            tot = [x[0] for x in mem[k]]
            print("bench-relay: %s %s: peak memory of the relay's sockets (ss skmem r+w, both "
                  "legs) median %.1f MiB, max %.1f MiB (largest receive queue %.1f, send queue "
                  "%.1f MiB); its pipes hold up to 2 x relay-buffer more" % (
                      k[0], k[1], med(tot), max(tot), max(x[1] for x in mem[k]),
                      max(x[2] for x in mem[k])))
    print()
    if bg:
        print("bench-relay: other work on the machine between reps: median %.2f, max %.2f "
              "of %d cores busy" % (med(bg), max(bg), os.cpu_count() or 1))
    for dmode in dmodes:
        for num, den in (("relay", "pinhole"), ("relay", "ftp-proxy"), ("relay-b", "pinhole"),
                         ("relay-b", "ftp-proxy"),
                         ("relay-b", "relay")):
            rs = paired(num, den, dmode)
            if not rs:
                continue
            print("bench-relay: %s/%s %s = %.2f (median of %d paired reps, min %.2f, max %.2f,"
                  " %s ahead in %d of %d)" % (
                      num, "kernel" if den == "pinhole" else den, dmode, med(rs), len(rs),
                      min(rs), max(rs), num, sum(1 for r in rs if r > 1), len(rs)))
    if errors:
        print("\nmeasurements that could not be made:")
        for e in errors:
            print("  " + e)
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
