#!/usr/bin/python3
"""bench-relay.py - `make bench`, inbound part: the userspace relay's throughput as a
ratio to the kernel path, measured in the same run, on the inbound lab (inbound.py).

One router, one ftpalgd, three ways to the same intranet vsftpd, measured in turns
(interleaved, so that drift hits all of them alike):
    pinhole  public:21   -> vsftpd, kernel pinholes (DNAT+SNAT): the kernel path
    relay    public:2100 -> vsftpd, `relay`: splice(2) through ftpalgd
    helper   public:2121 -> vsftpd by the admin's DNAT + the kernel FTP helper (reference)
    ftp-proxy public:2200 -> vsftpd through Debian's ftp-proxy (SuSE proxy-suite), the
             userspace relay a user would otherwise install (installed here if missing;
             the row is left out, with a note, when it cannot be)
Each: curl RETR of a sparse --gib GiB file from a WAN client, passive (EPSV) and active
(PORT), median MB/s of --reps runs, and ftpalgd's CPU time per GiB.  Reports, never
asserts timing; exit status non-zero only when a measurement could not be made.
Options: --gib N (default 1), --reps N (default 3)
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lab as L  # noqa: E402
import inbound as I  # noqa: E402

PATHS = (("pinhole", 21), ("relay", 2100), ("helper", 2121), ("ftp-proxy", 2200))
FTP_PROXY = "/usr/sbin/ftp-proxy"
FTP_PROXY_PASV = (41000, 41999)     # its own data ports toward the client
DMODES = ("EPSV", "PORT")


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
    def write_conf(self):
        vs = I.SRV["vsftpd"]["addr"]
        with open(self.conf, "w") as f:
            f.write("""# ftpalgd for the relay bench
public-interface = %s
mapping = public:21 -> %s:21
mapping = public:2100 -> %s:21 relay
data-ports = %s
pinhole-mark = 0x%08x
relay-buffer = 1m
log-level = info
control-socket = %s
pidfile = %s
""" % (self.lab.if_rw, vs, vs, I.DATA_PORTS, L.PINHOLE_MARK, self.sock, self.pidfile))

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


def curl_speed(lab, port, dmode, size, timeout):
    s = I.SRV["vsftpd"]
    opts = {"EPSV": ["--ftp-pasv"], "PORT": ["-P", "-", "--disable-eprt"]}[dmode]
    r = lab.run("w", ["curl", "-sS", "--max-time", str(timeout), "-u", "%s:%s" % (
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    L.require_root("make bench")
    size = a.gib << 30
    timeout = max(60, 30 * a.gib)
    speeds = {(p, d): [] for p, _ in PATHS for d in DMODES}
    cpu = {(p, d): [] for p, _ in PATHS for d in DMODES}
    errors = []
    lab = BenchLab()
    L.install_signal_handlers(lab)
    rc = 0
    try:
        print("bench-relay: inbound lab %s, %d GiB, %d reps" % (lab.prefix, a.gib, a.reps),
              flush=True)
        lab.create()
        lab.make_files(big=False, huge_gib=a.gib)
        lab.start_inbound_servers()
        lab.set_mode("bench")
        d = BenchDaemon(lab)
        lab.daemon = d
        if not d.start():
            raise L.LabError(d.error)
        paths = list(PATHS)
        why = lab.start_ftp_proxy()
        if why:
            errors.append("ftp-proxy: not measured: " + why)
            paths = [p for p in paths if p[0] != "ftp-proxy"]
        for rep in range(a.reps):
            for dmode in DMODES:
                for name, port in paths:
                    c0 = d.cpu_s() if name != "ftp-proxy" else None
                    v, why = curl_speed(lab, port, dmode, size, timeout)
                    c1 = d.cpu_s() if name != "ftp-proxy" else None
                    if v is None:
                        errors.append("%s %s: %s" % (name, dmode, why))
                        continue
                    speeds[(name, dmode)].append(v)
                    if c0 is not None and c1 is not None:
                        cpu[(name, dmode)].append((c1 - c0) / a.gib)
            print("  rep %d/%d done" % (rep + 1, a.reps), flush=True)
        d.stop()
        lab.daemon = None
    except BaseException as e:
        errors.append("%s: %s" % (type(e).__name__, e))
        rc = 1
    finally:
        lab.destroy()

    def med(xs):
        return statistics.median(xs) if xs else None

    print()
    print("ftpalg inbound data path, %d GiB RETR from an intranet vsftpd, median of %d "
          "(MB/s; ratio to the kernel path = ftpalgd pinholes)" % (a.gib, a.reps))
    print("%-8s %-34s %10s %10s %10s %14s" % ("cmd", "path", "MB/s", "min", "max",
                                             "ratio/kernel"))
    ratios = {}
    for dmode in DMODES:
        kern = med(speeds[("pinhole", dmode)])
        for name, port in PATHS:
            xs = speeds[(name, dmode)]
            m = med(xs)
            ratio = m / kern if m and kern else None
            if name == "relay":
                ratios[dmode] = ratio
            if name == "ftp-proxy" and m and med(speeds[("relay", dmode)]):
                ratios[dmode + " relay/ftp-proxy"] = med(speeds[("relay", dmode)]) / m
            label = {"pinhole": "ftpalgd, kernel pinhole (port 21)",
                     "relay": "ftpalgd, userspace relay (2100)",
                     "helper": "DNAT + kernel helper (2121)",
                     "ftp-proxy": "Debian ftp-proxy relay (2200)"}[name]
            c = med(cpu[(name, dmode)])
            print("%-8s %-34s %10s %10s %10s %14s%s" % (
                dmode, label, "%.0f" % m if m else "-", "%.0f" % min(xs) if xs else "-",
                "%.0f" % max(xs) if xs else "-", "%.2f" % ratio if ratio else "-",
                "   ftpalgd CPU %.2f s/GiB" % c if c is not None else ""))
    if ratios:
        print()
        for dmode, r in ratios.items():
            if "/" in dmode:
                print("bench-relay: %s throughput ratio = %s" % (dmode, "%.2f" % r))
                continue
            print("bench-relay: relay/kernel throughput ratio %s = %s" % (
                dmode, "%.2f" % r if r else "n/a"))
    if errors:
        print("\nmeasurements that could not be made:")
        for e in errors:
            print("  " + e)
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
