#!/usr/bin/python3
"""bench-rate.py - `make bench`: FTP sessions per second through the NAT router, in one
lab, one run, side by side: no ALG (passive only), the kernel FTP helper, ftpalgd's proxy
and its inline engine.

A session is what a busy office's clients do back to back: connect, USER/PASS, PASV (or
PORT), RETR of one small file, QUIT.  --workers concurrent clients (threads of
tests/lab/ftpload.c) run sessions for --secs seconds, --reps times per row.  The server
is tests/lab/ftpfast.c (one thread per session): vsftpd forks twice per session and
would measure itself instead of the gateway.  The client and server namespaces keep
few TIME_WAIT sockets (tcp_max_tw_buckets), see RateLab.
Per row: sessions/s (median run), ratio to the kernel helper, errors (all runs), p50 and
p99 session latency (median run), ftpalgd's CPU seconds per 1000 sessions, the
generator's own CPU share (it must not be the bottleneck).
--soak S: instead, one mode (--soak-mode, default proxy) passive for S seconds, printing
errors and ftpalgd's RSS every 10 s.
Figures are reported, never asserted; exit status non-zero only when a measurement could
not be made.  Needs root.
Options: --workers N --secs T --reps R --modes none,kernel,proxy,inline --dmodes pasv,port
         --families 4[,6] --size BYTES --soak SECS --soak-mode MODE
"""
import argparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lab as L  # noqa: E402
import inline as I  # noqa: E402

BUILD = os.path.join(L.REPO, "build", "lab")
LOAD = os.path.join(BUILD, "ftpload")
FAST = os.path.join(BUILD, "ftpfast")
MODES = ("none", "kernel", "proxy", "inline")


def build_tools():
    os.makedirs(BUILD, exist_ok=True)
    for name in ("ftpload", "ftpfast"):
        src = os.path.join(L.HERE, name + ".c")
        out = os.path.join(BUILD, name)
        if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
            subprocess.run([os.environ.get("CC", "cc"), "-O2", "-Wall", "-Wextra", "-pthread",
                            "-o", out, src], check=True)


class RateLab(I.InlineLab):
    def start_fast_servers(self, families):
        root = self.srv
        # The servers close every data connection first and so hold its TIME_WAIT:
        # tens of thousands a minute, and the kernel's search for a free passive
        # port (and the clients' for a free 4-tuple) slows to a crawl, measured at
        # 1600 -> 120 sessions/s within 25 s without a gateway at all.  The lab's
        # hosts keep only a few (the router, where the gateway runs, is untouched).
        for ns in ("c", "s"):
            self.run(ns, ["sysctl", "-qw", "net.ipv4.tcp_max_tw_buckets=1024"])
        for fam in families:
            self.spawn("ftpfast" + fam, "s", HOSTS_CPU + [FAST, "-a", L.SERVERS["vsftpd"][fam],
                                                         "-r", root],
                       os.path.join(self.logdir, "ftpfast%s.out" % fam))
        for fam in families:
            if not self.wait_listen("s", 21, L.SERVERS["vsftpd"][fam], timeout=10):
                raise L.LabError("ftpfast IPv%s did not listen" % fam)


# --split: the router's work on core 0, the hosts' (generator, server) on core 1, as on
# a real router, whose CPU carries neither the clients nor the servers.  Empty: shared.
HOSTS_CPU = []


def split_cores(lab):
    """Steers each namespace's packet processing to its core (RPS on every receive queue:
    with veth, a packet is otherwise processed on the sender's CPU)."""
    for ns, mask in (("r", "1"), ("c", "2"), ("s", "2")):
        r = lab.run(ns, ["sh", "-c", "for q in /sys/class/net/*/queues/rx-*/rps_cpus; do "
                         "echo %s > $q || exit 1; done" % mask], check=False)
        if not r.ok:
            raise L.LabError("rps_cpus in %s: %s" % (ns, r.why()))


def cpu_busy():
    """Busy and total jiffies of cpu0 and cpu1 (from /proc/stat)."""
    out = {}
    with open("/proc/stat") as f:
        for l in f:
            w = l.split()
            if w[0] in ("cpu0", "cpu1"):
                v = [int(x) for x in w[1:]]
                idle = v[3] + v[4]
                out[w[0]] = (sum(v) - idle, sum(v))
    return out


def pin_daemon(lab):
    pid = daemon_pid(lab)
    if pid:
        subprocess.run(["taskset", "-a", "-p", "-c", "0", str(pid)], stdout=subprocess.DEVNULL,
                       check=False)


def proc_cpu(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def proc_rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for l in f:
                if l.startswith("VmRSS:"):
                    return int(l.split()[1])
    except (OSError, ValueError):
        pass
    return None


def daemon_pid(lab):
    d = lab.daemon
    return d.proc.pid if d is not None and d.proc is not None else None


def load_argv(lab, fam, dmode, workers, secs, size, interval=0):
    argv = ["ip", "netns", "exec", lab.ns["c"]] + HOSTS_CPU + [
            LOAD, "-h", L.SERVERS["vsftpd"][fam], "-m", dmode,
            "-c", str(workers), "-t", str(secs), "-f", "small.bin", "-s", str(size)]
    if interval:
        argv += ["-i", str(interval)]
    return argv


RESULT = re.compile(r"result sessions=(\d+) errors=(\d+) secs=([0-9.]+) rate=([0-9.]+) "
                    r"p50_ms=([0-9.]+) p99_ms=([0-9.]+) cpu_s=([0-9.]+)")


def run_load(lab, fam, dmode, workers, secs, size):
    pid = daemon_pid(lab)
    c0 = proc_cpu(pid) if pid else None
    b0 = cpu_busy()
    r = lab.run(None, load_argv(lab, fam, dmode, workers, secs, size), timeout=secs + 60,
                check=False)
    b1 = cpu_busy()
    c1 = proc_cpu(pid) if pid else None
    busy = {k: 100.0 * (b1[k][0] - b0[k][0]) / max(1, b1[k][1] - b0[k][1]) for k in b1 if k in b0}
    m = RESULT.search(r.out)
    if not m:
        return None, r.why()
    ok, err, el, rate, p50, p99, gcpu = m.groups()
    errs = [l[6:] for l in r.out.splitlines() if l.startswith("error ")]
    return dict(ok=int(ok), err=int(err), secs=float(el), rate=float(rate), p50=float(p50),
                p99=float(p99), gen_cpu=float(gcpu) / float(el), busy=busy,
                cpu=(c1 - c0) if c0 is not None and c1 is not None else None, errs=errs), ""


def engine_counts(lab):
    """The inline engine's packet counters (what one session costs it), or None."""
    st = lab.daemon.ask("stats") if lab.daemon is not None else None
    if not st:
        return None
    out = {k: st.get(k, 0) for k in ("packets", "held", "released", "retransmits",
                                      "carried_by_ack", "local_answers")}
    v = st.get("verdicts") or {}
    out["rewritten"] = v.get("rewritten", 0)
    out["unchanged"] = v.get("unchanged", 0)
    return out


def start_mode(lab, mode):
    lab.set_mode({"proxy": "ftpalgd"}.get(mode, mode))
    # generous start timeouts: the machine may be busy
    if mode == "proxy":
        lab.daemon = L.Daemon(lab, "", "info")
        ok = lab.daemon.start(timeout=30)
    elif mode == "inline":
        lab.daemon = I.InlineDaemon(lab, True, "info")
        ok = lab.daemon.start(timeout=30)
    else:
        return True, ""
    if ok and HOSTS_CPU:
        pin_daemon(lab)
    return ok, mode


def stop_mode(lab, notes):
    if lab.daemon is not None:
        clean, detail = lab.daemon.stop()
        if not clean:
            notes.append("ftpalgd stop: " + detail)
        lab.daemon = None


def soak(lab, a, notes):
    mode = a.soak_mode
    ok, _ = start_mode(lab, mode)
    if not ok:
        notes.append("%s: not measured: %s" % (mode, lab.daemon.error))
        return
    pid = daemon_pid(lab)
    print("soak: %s, passive, %d workers, %d s; every 10 s: sessions, errors, ftpalgd RSS"
          % (mode, a.workers, a.soak), flush=True)
    p = subprocess.Popen(load_argv(lab, "4", "pasv", a.workers, a.soak, a.size, interval=10),
                         stdout=subprocess.PIPE, text=True, start_new_session=True)
    lab.children.add(p)
    rss = []
    try:
        for line in p.stdout:
            line = line.strip()
            if line.startswith("interval"):
                kib = proc_rss_kib(pid) if pid else None
                rss.append(kib)
                print("  %s rss_kib=%s" % (line[9:], kib), flush=True)
            elif line.startswith(("result", "error")):
                print("  " + line, flush=True)
        p.wait(timeout=60)
    finally:
        lab.children.discard(p)
    if lab.daemon is not None:
        st = lab.daemon.ask("stats")
        if st:
            print("  ftpalgd stats after the soak: pinholes open %s" % st.get("pinholes"))
    r = lab.run("r", ["nft", "list", "table", "inet", "ftpalg"], check=False)
    elems = r.out.count("elements")
    print("  nft table after the soak: %d sets with elements" % elems)
    good = [x for x in rss if x]
    if good:
        print("soak: ftpalgd RSS first %d KiB, last %d KiB, max %d KiB" % (good[0], good[-1],
                                                                           max(good)))
    stop_mode(lab, notes)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=50)
    ap.add_argument("--secs", type=float, default=30)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--dmodes", default="pasv,port")
    ap.add_argument("--families", default="4")
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--soak", type=int, default=0)
    ap.add_argument("--soak-mode", default="proxy")
    ap.add_argument("--split", action="store_true",
                    help="router (forwarding, ftpalgd) on core 0, generator and server on core 1")
    a = ap.parse_args()
    if a.split:
        if os.cpu_count() < 2:
            print("bench-rate: --split needs two cores", file=sys.stderr)
            return 2
        HOSTS_CPU[:] = ["taskset", "-c", "1"]
    L.require_root("make bench")
    modes = [m for m in a.modes.split(",") if m in MODES]
    dmodes = [d for d in a.dmodes.split(",") if d in ("pasv", "port")]
    fams = [f for f in a.families.split(",") if f in ("4", "6")]
    build_tools()
    # The generator and the server raise their own limits; ftpalgd gets the usual
    # 1024 and must raise its own (that is part of what is measured).
    notes = []
    res = {}
    lab = RateLab()
    L.install_signal_handlers(lab)
    t0 = time.monotonic()
    try:
        lab.create()
        if a.split:
            split_cores(lab)
        os.makedirs(lab.srv, exist_ok=True)
        os.chmod(lab.srv, 0o755)
        with open(os.path.join(lab.srv, "small.bin"), "wb") as f:
            f.write(os.urandom(a.size))
        lab.start_fast_servers(fams)
        print("bench-rate: lab %s up; %d workers, %gs x %d per row; server ftpfast; file %d "
              "bytes" % (lab.prefix, a.workers, a.secs, a.reps, a.size), flush=True)
        if a.soak:
            soak(lab, a, notes)
            return 1 if notes else 0
        for mode in modes:
            ok, _ = start_mode(lab, mode)
            if not ok:
                notes.append("%s: not measured: %s" % (mode, lab.daemon.error))
                lab.daemon = None
                continue
            for fam in fams:
                for dmode in dmodes:
                    if mode == "none" and dmode == "port":
                        continue
                    runs = []
                    st0 = engine_counts(lab) if mode == "inline" else None
                    for _ in range(a.reps):
                        v, why = run_load(lab, fam, dmode, a.workers, a.secs, a.size)
                        if v is None:
                            notes.append("%s IPv%s %s: %s" % (mode, fam, dmode, why))
                            break
                        runs.append(v)
                        lab.flush_conntrack()
                    if runs:
                        res[(mode, fam, dmode)] = runs
                    print("  %-7s IPv%s %-4s %s" % (mode, fam, dmode, " ".join(
                        "%.0f/s(%d err)" % (r["rate"], r["err"]) for r in runs) or "FAILED"),
                        flush=True)
                    if st0 is not None and runs:
                        st1 = engine_counts(lab)
                        ses = sum(r["ok"] + r["err"] for r in runs)
                        if st1 is not None and ses:
                            print("          per session: " + ", ".join(
                                "%s %.2f" % (k, (st1[k] - st0[k]) / ses) for k in sorted(st1)),
                                flush=True)
                    for r in runs:
                        for e in r["errs"][:4]:
                            print("      error %s" % e, flush=True)
            stop_mode(lab, notes)
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
    print("session rate: %d workers, %gs x %d runs per row; connect, login, PASV|PORT, RETR %d "
          "bytes, QUIT" % (a.workers, a.secs, a.reps, a.size))
    if a.split:
        print("router on core 0 (forwarding, conntrack, ftpalgd), generator and server on core 1")
    print("%-7s %-9s %10s %8s %7s %8s %8s %14s %8s %6s %6s" % (
        "mode", "cmd", "sessions/s", "/kernel", "errors", "p50 ms", "p99 ms",
        "CPU s/1000 ses", "gen CPU", "cpu0", "cpu1"))
    for fam in fams:
        for dmode in dmodes:
            kern = res.get(("kernel", fam, dmode))
            # the same run the kernel row prints (the middle one; with an even count, the upper)
            krate = sorted(r["rate"] for r in kern)[len(kern) // 2] if kern else None
            for mode in modes:
                runs = res.get((mode, fam, dmode))
                if not runs:
                    continue
                med = sorted(runs, key=lambda r: r["rate"])[len(runs) // 2]
                errs = sum(r["err"] for r in runs)
                oks = sum(r["ok"] for r in runs)
                cpus = [r["cpu"] for r in runs if r["cpu"] is not None]
                cpu = "%.2f" % (1000 * sum(cpus) / oks) if cpus and oks else "-"
                b = med.get("busy", {})
                print("%-7s %-9s %10.0f %8s %7d %8.2f %8.2f %14s %7.0f%% %5.0f%% %5.0f%%" % (
                    mode, "IPv%s %s" % (fam, dmode.upper()), med["rate"],
                    "%.2f" % (med["rate"] / krate) if krate else "-", errs, med["p50"],
                    med["p99"], cpu, 100 * med["gen_cpu"], b.get("cpu0", -1), b.get("cpu1", -1)))
    if not a.split:
        # With the cores shared and full, the rate is the machine's CPU over what a
        # session costs everyone: the kernel row's cost over a mode's bounds its ratio.
        print("machine CPU per session (both cores' busy time / sessions, middle run), and "
              "the ratio that cost allows with the cores full:")
        for fam in fams:
            for dmode in dmodes:
                def ms(mode):
                    runs = res.get((mode, fam, dmode))
                    if not runs:
                        return None
                    med = sorted(runs, key=lambda r: r["rate"])[len(runs) // 2]
                    b = med.get("busy", {})
                    busy = sum(v for v in b.values() if v >= 0) / 100.0
                    return 1000.0 * busy / med["rate"] if med["rate"] else None
                k = ms("kernel")
                parts = []
                for mode in modes:
                    m = ms(mode)
                    if m is None:
                        continue
                    parts.append("%s %.2f ms%s" % (mode, m, " (%.2fx)" % (k / m)
                                                   if k and mode not in ("kernel", "none") else ""))
                if parts:
                    print("  IPv%s %-4s %s" % (fam, dmode.upper(), ", ".join(parts)))
    if a.split:
        print("(cpu0/cpu1: how busy each core was; the router's core at 100% means the gateway "
              "set the rate, the hosts' core at 100% means the hosts did)")
    else:
        print("(gen CPU: the load generator's CPU time per second of run, in one core's terms; "
              "the machine's cores are shared by generator, server, router and ftpalgd; "
              "cpu0/cpu1: how busy each core was)")
    print("bench-rate: %.0fs; figures are noisy, compare ratios within one run" %
          (time.monotonic() - t0))
    if notes:
        print("bench-rate: not everything could be measured:")
        for n in notes:
            print("  " + n)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
