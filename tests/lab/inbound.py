#!/usr/bin/python3
"""inbound.py - the inbound lab: FTP servers INSIDE the LAN, published through the
router's port mappings, reached by clients outside (and by one LAN client through
the public address: hairpin).  `make check` runs it via run-inbound.sh.

    WAN client ns               router ns                        LAN (bridge in its own ns)
    203.0.113.2/24   --veth--   203.0.113.1 | 192.168.1.1  --veth-- switch --+-- servers ns
    2001:db8::2/64              2001:db8::1 |                               |   192.168.1.10 vsftpd :21
                                masquerade on WAN                           |   192.168.1.11 pyftpdlib :21
                                forward policy drop                         +-- LAN client ns
                                                                                192.168.1.2 (hairpin)

The servers are IPv4-only and announce their private addresses (vsftpd without
pasv_address, pyftpdlib without masquerade_address), both at their strict defaults
(vsftpd port_promiscuous=NO and pasv_promiscuous=NO; pyftpdlib refusing foreign
addresses).  Published: public port 21 -> vsftpd, public port 2121 -> pyftpdlib.

Modes, side by side, on the same rows:
    dnat     the classic port forward: DNAT of 21/2121 (of the public address, so
             LAN clients hit it too), forward `ct status dnat accept`, nothing else
    helper   the same plus the kernel FTP helper attached (nf_conntrack_ftp + nf_nat_ftp)
    ftpalgd  ftpalgd listening on public:21 and public:2121, kernel pinholes (with SNAT)
    relay    the same mappings configured `relay`: data through ftpalgd (splice), no nftables

Then, with ftpalgd: the relay does not buffer without bound (RSS while a slow client
and a fast one download 1 GiB), the router's WAN address changes during the run
(public-interface followed through rtnetlink; no restart; ftpalgd running as nobody),
a fixed public-address, and a mapping fed by the admin's own DNAT.

Writes build/results/inbound.txt ("passed=N failed=M") and build/lab/inbound.log.
Options: --modes dnat,helper,ftpalgd,relay  --quick  -v
"""
import argparse
import os
import re
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lab as L  # noqa: E402

OUT = os.path.join(L.REPO, "build", "results")
LABOUT = os.path.join(L.REPO, "build", "lab")

PUB4, PUB6 = "203.0.113.1", "2001:db8::1"
PUB4_NEW = "203.0.113.9"          # the WAN address after the change
RLAN4 = "192.168.1.1"
HAIRPIN4 = "192.168.1.2"
WAN4, WAN6 = "203.0.113.2", "2001:db8::2"
DATA_PORTS = "40000-40999"

SRV = {
    "vsftpd": {"addr": "192.168.1.10", "pub": 21, "user": "anonymous", "password": "lab@",
               "pasv": "50000-50099"},
    "pyftpdlib": {"addr": "192.168.1.11", "pub": 2121, "user": "lab", "password": "lab",
                  "pasv": "50100-50199"},
}
MODES = ("dnat", "helper", "ftpalgd", "relay")
CLIENTS = ("curl", "lftp", "ftplib")
PASSIVE = ("PASV", "EPSV")
OPNAME = {"get": "RETR 1M", "get64": "RETR 64M", "put": "STOR 1M", "list": "LIST/MLSD",
          "session": "5 in 1 sess"}


# ---------------------------------------------------------------------- topology
class InboundLab(L.Lab):
    """Lab's machinery (run, spawn, cleanup) on a topology of its own."""

    def __init__(self, verbose=False):
        super().__init__(verbose=verbose)
        p = "fin%d" % self.pid
        self.prefix = p
        self.ns = {"c": p + "c", "r": p + "r", "s": p + "s", "w": p + "w", "b": p + "b"}
        self.if_c, self.if_rl, self.if_rw, self.if_s = p + "c0", p + "rl", p + "rw", p + "s0"
        self.if_w, self.if_bc, self.if_bs, self.if_br = p + "w0", p + "bc", p + "bs", p + "br"
        self.pub4 = PUB4

    def create(self):
        os.makedirs(self.logdir, exist_ok=True)
        os.makedirs(self.cli, exist_ok=True)
        self.cmdlog = open(os.path.join(self.logdir, "commands.log"), "a")
        for key in ("c", "r", "s", "w", "b"):
            name = self.ns[key]
            if name in self.netns_list():
                raise L.LabError("namespace %s exists already" % name)
            self.run(None, ["ip", "netns", "add", name])
            self.created.append(name)
            for sysctl in ("net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
                           "net.ipv6.conf.all.accept_ra=0", "net.ipv6.conf.default.accept_ra=0"):
                self.run(key, ["sysctl", "-qw", sysctl])
            self.run(key, ["ip", "link", "set", "lo", "up"])
        ns = self.ns
        pairs = [(self.if_c, "c", self.if_bc, "b"), (self.if_s, "s", self.if_bs, "b"),
                 (self.if_rl, "r", self.if_br, "b"), (self.if_rw, "r", self.if_w, "w")]
        for a, na, b, nb in pairs:
            self.run(None, ["ip", "link", "add", a, "netns", ns[na], "type", "veth",
                            "peer", "name", b, "netns", ns[nb]])
        # The switch: a bridge in a namespace of its own, with no netfilter on it.
        for sysctl in ("net.bridge.bridge-nf-call-iptables=0",
                       "net.bridge.bridge-nf-call-ip6tables=0",
                       "net.bridge.bridge-nf-call-arptables=0"):
            self.run("b", ["sysctl", "-qw", sysctl], check=False)
        cmds = [("b", ["ip", "link", "add", "br0", "type", "bridge"]),
                ("b", ["ip", "link", "set", "br0", "up"])]
        for port in (self.if_bc, self.if_bs, self.if_br):
            cmds += [("b", ["ip", "link", "set", port, "master", "br0"]),
                     ("b", ["ip", "link", "set", port, "up"])]
        cmds += [
            ("r", ["sysctl", "-qw", "net.ipv4.ip_forward=1"]),
            ("r", ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]),
            # a secondary WAN address becomes primary when the old one goes (the change test)
            ("r", ["sysctl", "-qw", "net.ipv4.conf.all.promote_secondaries=1"]),
            ("r", ["sysctl", "-qw", "net.ipv4.conf.default.promote_secondaries=1"]),
            ("r", ["ip", "addr", "add", RLAN4 + "/24", "dev", self.if_rl]),
            ("r", ["ip", "addr", "add", PUB4 + "/24", "dev", self.if_rw]),
            ("r", ["ip", "addr", "add", PUB6 + "/64", "dev", self.if_rw, "nodad"]),
            ("r", ["ip", "link", "set", self.if_rl, "up"]),
            ("r", ["ip", "link", "set", self.if_rw, "up"]),
            ("s", ["ip", "addr", "add", SRV["vsftpd"]["addr"] + "/24", "dev", self.if_s]),
            ("s", ["ip", "addr", "add", SRV["pyftpdlib"]["addr"] + "/24", "dev", self.if_s]),
            ("s", ["ip", "link", "set", self.if_s, "up"]),
            ("s", ["ip", "route", "add", "default", "via", RLAN4]),
            ("c", ["ip", "addr", "add", HAIRPIN4 + "/24", "dev", self.if_c]),
            ("c", ["ip", "link", "set", self.if_c, "up"]),
            ("c", ["ip", "route", "add", "default", "via", RLAN4]),
            ("w", ["ip", "addr", "add", WAN4 + "/24", "dev", self.if_w]),
            ("w", ["ip", "addr", "add", WAN6 + "/64", "dev", self.if_w, "nodad"]),
            ("w", ["ip", "link", "set", self.if_w, "up"]),
        ]
        for n, argv in cmds:
            self.run(n, argv)
        self.set_mode("dnat")

    def leftovers(self):
        left = [n for n in self.netns_list() if n in self.ns.values()]
        if os.path.exists(self.tmp):
            left.append("dir " + self.tmp)
        return left

    # ------------------------------------------------------------------ firewall
    def admin_ruleset(self, mode):
        """The router admin's own firewall for each mode (what docs/publishing.md says)."""
        lan, wan = self.if_rl, self.if_rw
        v, p = SRV["vsftpd"], SRV["pyftpdlib"]
        inp = fwd = nat = extra = ""
        if mode in ("dnat", "helper"):
            # The classic port forward, on the public address (LAN clients hit it too).
            nat = """
        ip daddr %s tcp dport 21 dnat ip to %s:21
        ip daddr %s tcp dport 2121 dnat ip to %s:21""" % (self.pub4, v["addr"], self.pub4, p["addr"])
            fwd = """
        ct status dnat accept"""
        if mode == "helper":
            extra = """
    ct helper ftp-standard {
        type "ftp" protocol tcp
        l3proto inet
    }
    chain helpers {
        type filter hook prerouting priority filter; policy accept;
        tcp dport 21 ct helper set "ftp-standard"     # after the DNAT: both mappings
    }
"""
        if mode in ("ftpalgd", "relay"):
            inp = """
        tcp dport { 21, 2121 } accept         # ftpalgd's public listeners
        ct mark & 0x%08x == 0x%08x accept      # ftpalgd's relays (exact, one-shot)""" % (
                L.PINHOLE_MARK, L.PINHOLE_MARK)
            fwd = """
        ct mark & 0x%08x == 0x%08x accept      # ftpalgd's pinholes""" % (
                L.PINHOLE_MARK, L.PINHOLE_MARK)
        if mode == "relay":
            inp += """
        tcp dport %s accept     # ftpalgd's relay listeners (exact peer checked by ftpalgd)""" % (
                DATA_PORTS)
        return """# the router admin's own firewall, inbound mode %(mode)s
table inet admin
delete table inet admin
table inet admin {
    chain input {
        type filter hook input priority filter; policy drop;
        iif "lo" accept
        ct state established,related accept
        ct state invalid drop
        meta l4proto { icmp, ipv6-icmp } accept
        iifname "%(lan)s" accept%(inp)s
        meta l4proto tcp reject with tcp reset
    }
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        ct state invalid drop
        iifname "%(lan)s" oifname "%(wan)s" accept%(fwd)s
    }
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;%(nat)s
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "%(wan)s" masquerade
    }
%(extra)s}
""" % dict(mode=mode, lan=lan, wan=wan, inp=inp, fwd=fwd, nat=nat, extra=extra)

    # ------------------------------------------------------------------ servers
    def vsftpd_conf_inbound(self):
        s = SRV["vsftpd"]
        lo, hi = s["pasv"].split("-")
        empty = os.path.join(self.tmp, "vsftpd-empty")
        os.makedirs(empty, exist_ok=True)
        os.chmod(empty, 0o755)
        conf = os.path.join(self.tmp, "vsftpd-inbound.conf")
        with open(conf, "w") as f:
            # No pasv_address: it announces 192.168.1.10, as intranet servers do.
            # port_promiscuous and pasv_promiscuous at their default NO (strict).
            f.write("""listen=YES
listen_ipv6=NO
listen_address=%(addr)s
listen_port=21
background=NO
anonymous_enable=YES
local_enable=NO
no_anon_password=YES
anon_root=%(root)s
write_enable=YES
anon_upload_enable=YES
anon_mkdir_write_enable=NO
anon_other_write_enable=NO
anon_umask=022
pasv_enable=YES
pasv_min_port=%(lo)s
pasv_max_port=%(hi)s
port_enable=YES
connect_from_port_20=YES
accept_timeout=10
connect_timeout=5
data_connection_timeout=60
idle_session_timeout=120
max_clients=0
max_per_ip=0
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
secure_chroot_dir=%(empty)s
xferlog_enable=YES
vsftpd_log_file=%(log)s
log_ftp_protocol=YES
dual_log_enable=NO
syslog_enable=NO
use_localtime=NO
ftpd_banner=lab vsftpd (intranet) ready
""" % dict(addr=s["addr"], root=self.srv, lo=lo, hi=hi, empty=empty,
                     log=os.path.join(self.logdir, "vsftpd.log")))
        return conf

    def start_inbound_servers(self):
        self.spawn("vsftpd", "s", ["vsftpd", self.vsftpd_conf_inbound()],
                   os.path.join(self.logdir, "vsftpd.out"))
        p = SRV["pyftpdlib"]
        self.spawn("pyftpdlib", "s",
                   [L.PY, os.path.join(L.HERE, "pyftpd.py"), "--addr", p["addr"], "--port", "21",
                    "--root", self.srv, "--user", p["user"], "--password", p["password"],
                    "--pasv", p["pasv"], "--active-timeout", "3", "--strict",
                    "--log", os.path.join(self.logdir, "pyftpdlib.log")],
                   os.path.join(self.logdir, "pyftpdlib.out"))
        for name in SRV:
            if not self.wait_listen("s", 21, SRV[name]["addr"], timeout=10):
                raise L.LabError("%s did not start listening; see %s" % (name, self.logdir))
        # Warm the bridge and the neighbour tables: fresh veths lose the first packets.
        probe = """
import socket, sys, time
for a in sys.argv[2:]:
    host, port = a.rsplit(":", 1)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    end = time.monotonic() + 10
    while True:
        try:
            s = socket.socket(fam, socket.SOCK_STREAM); s.settimeout(0.3)
            s.connect((host.strip("[]"), int(port)))
            if sys.argv[1] == "banner":
                s.recv(100)
            s.close(); break
        except ConnectionRefusedError:
            break               # the router answered: the path works
        except OSError as e:
            if time.monotonic() > end:
                sys.exit("cannot reach %s: %s" % (a, e))
"""
        self.run("c", [L.PY, "-c", probe, "banner", SRV["vsftpd"]["addr"] + ":21",
                       SRV["pyftpdlib"]["addr"] + ":21"], timeout=30)
        self.run("w", [L.PY, "-c", probe, "any", PUB4 + ":22", "[%s]:22" % PUB6], timeout=30)
        self.run("c", [L.PY, "-c", probe, "any", PUB4 + ":22"], timeout=30)


class InboundDaemon(L.Daemon):
    """build/ftpalgd in the router, with the inbound mappings."""

    def __init__(self, lab, relay=False, extra_conf="", fixed=None):
        super().__init__(lab, extra_conf=extra_conf, log_level="debug")
        self.relay = relay
        self.fixed = fixed          # public addresses, or None: follow the WAN interface

    def write_conf(self):
        r = " relay" if self.relay else ""
        pub = ("\n".join("public-address = " + a for a in self.fixed) if self.fixed else
               "public-interface = " + self.lab.if_rw)
        with open(self.conf, "w") as f:
            f.write("""# ftpalgd configuration for the inbound lab
%s
mapping = public:21 -> %s:21%s
mapping = public:2121 -> %s:21%s
data-ports = %s
pinhole-timeout = 30
pinhole-mark = 0x%08x
log-level = %s
control-socket = %s
pidfile = %s
%s""" % (pub, SRV["vsftpd"]["addr"], r, SRV["pyftpdlib"]["addr"], r, DATA_PORTS,
                     L.PINHOLE_MARK, self.log_level, self.sock, self.pidfile, self.extra_conf))

    def start(self, timeout=8.0):
        if not os.access(L.DAEMON, os.X_OK):
            self.error = "build/ftpalgd does not exist (not built yet?)"
            return False
        self.write_conf()
        self.offset = os.path.getsize(self.logfile) if os.path.exists(self.logfile) else 0
        self.proc = self.lab.spawn("ftpalgd", "r", [L.DAEMON, "-d", "-f", self.conf], self.logfile)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.error = "ftpalgd exited with status %s at start" % self.proc.returncode
                return False
            tables, _ = self.lab.nft_tables()
            table_ok = ("ftpalg" not in tables) if self.relay else ("ftpalg" in tables)
            if (table_ok and self.lab.wait_listen("r", 21, self.lab.pub4, timeout=0.1) and
                    self.lab.wait_listen("r", 2121, self.lab.pub4, timeout=0.1) and
                    self.lab.wait_listen("r", 21, PUB6, timeout=0.1)):
                return True
            time.sleep(0.05)
        self.error = "ftpalgd did not listen on public:21/2121 (%s) within %.0fs" % (
            "no nftables table expected" if self.relay else "with table ftpalg", timeout)
        return False

    def rss_kib(self):
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except (OSError, AttributeError, ValueError):
            pass
        return None


# ---------------------------------------------------------------------- clients
def seen_cmds(client, text):
    pat = {"curl": r"^> (PASV|EPSV|PORT|EPRT)\b", "lftp": r"^---> (PASV|EPSV|PORT|EPRT)\b",
           "ftplib": r"^> (PASV|EPSV|PORT|EPRT)\b"}[client]
    return re.findall(pat, text, re.M)


def supports(client, fam, dmode, op):
    if fam == "6" and dmode in ("PASV", "PORT"):
        return False
    if client == "lftp" and fam == "4" and dmode == "EPRT":
        return False            # lftp sends PORT on IPv4
    if client == "curl" and op == "session":
        return False
    return True


class Job:
    def __init__(self, where, server, client, fam, dmode, op, host=None, port=None):
        self.where, self.server, self.client = where, server, client
        self.fam, self.dmode, self.op, self.host, self.port = fam, dmode, op, host, port

    def key(self):
        return "%s %s %s IPv%s %s %s" % ({"w": "WAN", "c": "LAN"}[self.where], self.server,
                                         self.client, self.fam, self.dmode, self.op)


def run_job(lab, job, tag, timeout=20):
    """Runs one job; returns (ok, secs, why, trace)."""
    s = SRV[job.server]
    host = job.host or (PUB6 if job.fam == "6" else lab.pub4)
    port = job.port or s["pub"]
    uhost = "[%s]" % host if ":" in host else host
    cli = lab.cli
    up_src = os.path.join(cli, "upload.bin")
    checks = []
    listing = False
    outs = [os.path.join(cli, "%s.%d" % (tag, i)) for i in range(3)]
    upname = tag + ".up"

    def want_file(local, name):
        checks.append(("sha256 of " + name,
                       lambda: os.path.exists(local) and L.sha256(local) == lab.hashes[name]))

    def want_upload(remote):
        path = os.path.join(lab.srv, "up", remote)
        checks.append(("sha256 of uploaded " + remote,
                       lambda: os.path.exists(path) and L.sha256(path) == lab.hashes["upload.bin"]))

    name = {"get": "f1m.bin", "get64": L.BIG}.get(job.op)
    dbg = None
    if job.client == "curl":
        argv = ["curl", "-sS", "-v", "-g", "--max-time", str(timeout), "--connect-timeout", "5",
                "-u", "%s:%s" % (s["user"], s["password"])]
        argv += {"PASV": ["--ftp-pasv", "--disable-epsv"], "EPSV": ["--ftp-pasv"],
                 "PORT": ["-P", "-", "--disable-eprt"], "EPRT": ["-P", "-"]}[job.dmode]
        url = "ftp://%s:%d/" % (uhost, port)
        if name:
            argv += ["-o", outs[0], url + name]
            want_file(outs[0], name)
        elif job.op == "put":
            argv += ["-T", up_src, url + "up/" + upname]
            want_upload(upname)
        else:
            argv += [url]
            listing = True
    elif job.client == "lftp":
        dbg = os.path.join(cli, "lftp-%s.log" % tag)
        steps = []
        if name:
            steps = ["get %s -o %s" % (name, outs[0])]
            want_file(outs[0], name)
        elif job.op == "put":
            steps = ["put %s -o up/%s" % (up_src, upname)]
            want_upload(upname)
        elif job.op == "list":
            steps = ["ls"]
            listing = True
        else:
            steps = ["get f1m.bin -o %s" % outs[0], "put %s -o up/%s" % (up_src, upname), "ls",
                     "get small.bin -o %s" % outs[1], "get f1m.bin -o %s" % outs[2]]
            want_file(outs[0], "f1m.bin")
            want_upload(upname)
            want_file(outs[1], "small.bin")
            want_file(outs[2], "f1m.bin")
            listing = True
        settings = [
            "set cmd:fail-exit yes", "set net:max-retries 1", "set net:timeout 5",
            "set net:reconnect-interval-base 1", "set net:persist-retries 0",
            "set ftp:ssl-allow no", "set ftp:auto-passive-mode no",
            "set ftp:passive-mode " + ("on" if job.dmode in PASSIVE else "off"),
            "set ftp:prefer-epsv " + ("yes" if job.dmode == "EPSV" else "no"),
            "set xfer:clobber on", "set ftp:sync-mode on",
            "debug -o %s 5" % dbg,
            "open -u %s,%s -p %d ftp://%s" % (s["user"], s["password"], port, uhost),
        ]
        argv = ["lftp", "--norc", "-c", "; ".join(settings + steps + ["bye"])]
    else:
        argv = [L.PY, os.path.join(L.HERE, "ftpcli.py"), "--host", host, "--port", str(port),
                "--user", s["user"], "--password", s["password"], "--dmode", job.dmode,
                "--timeout", str(timeout)]
        if name:
            argv += ["get:%s:%s" % (name, outs[0])]
            want_file(outs[0], name)
        elif job.op == "put":
            argv += ["put:%s:up/%s" % (up_src, upname)]
            want_upload(upname)
        elif job.op == "list":
            argv += ["list"]
            listing = True
        else:
            argv += ["get:f1m.bin:" + outs[0], "put:%s:up/%s" % (up_src, upname), "list",
                     "get:small.bin:" + outs[1], "get:f1m.bin:" + outs[2]]
            want_file(outs[0], "f1m.bin")
            want_upload(upname)
            want_file(outs[1], "small.bin")
            want_file(outs[2], "f1m.bin")
            listing = True
    r = lab.run(job.where, argv, timeout=timeout + 5, check=False)
    trace = r.err + "\n" + r.out
    if dbg and os.path.exists(dbg):
        with open(dbg, errors="replace") as f:
            trace += "\n" + f.read()
        os.unlink(dbg)

    def done(ok, why):
        for o in outs:
            if os.path.exists(o):
                os.unlink(o)
        return ok, r.secs, why, trace

    if not r.ok:
        why = r.why()
        if job.client == "curl" and not r.timed_out:
            replies = re.findall(r"^< ([45]\d\d .*)$", r.err, re.M)
            code = re.search(r"curl: \((\d+)\)", r.err)
            if replies:
                why = "%s (curl exit %s)" % (replies[-1].strip(), code.group(1) if code else r.rc)
        return done(False, why)
    if listing and "f1m.bin" not in r.out:
        return done(False, "listing lacks f1m.bin")
    for desc, fn in checks:
        if not fn():
            return done(False, desc + " wrong")
    seen = set(seen_cmds(job.client, trace))
    if seen != {job.dmode}:
        return done(False, "data commands sent: %s, wanted only %s" % (
            ",".join(sorted(seen)) or "none", job.dmode))
    return done(True, "")


# ---------------------------------------------------------------------- rows
class Row:
    def __init__(self, job, expect=None, group=""):
        self.job = job
        self.expect = expect or {}      # mode -> reason it is expected to FAIL
        self.group = group
        self.cells = {}

    def expect_ok(self, mode):
        return mode not in self.expect


def expectations(job):
    """Which baseline modes cannot carry this job, and why (what the table's * means)."""
    e = {}
    if job.fam == "6":
        why = "no IPv6 path to an IPv4-only server"
        e["dnat"] = e["helper"] = why
        return e
    if job.where == "c":
        why = "hairpin: the server answers the LAN client directly, not via the router"
        e["dnat"] = e["helper"] = why
        return e
    passive = job.dmode in PASSIVE or job.op == "session" and job.dmode in PASSIVE
    if passive:
        e["dnat"] = "the server's passive port is not forwarded (227 names its private address)"
    return e


def build_rows(quick=False):
    rows = []
    ops = ("get", "put", "list")
    k = 0
    # WAN clients, IPv4, both mappings (21: vsftpd, 2121: pyftpdlib), every data command.
    for si, server in enumerate(("vsftpd", "pyftpdlib")):
        for dmode in ("PASV", "EPSV", "PORT", "EPRT"):
            for oi, op in enumerate(ops):
                if quick and oi > 0:
                    continue
                for j in range(len(CLIENTS)):
                    client = CLIENTS[(k + j) % len(CLIENTS)]
                    if supports(client, "4", dmode, op):
                        break
                k += 1
                job = Job("w", server, client, "4", dmode, op)
                rows.append(Row(job, expectations(job), "WAN v4"))
    # Several transfers in one control session.
    for server, dmode, client in (("vsftpd", "PASV", "ftplib"), ("pyftpdlib", "PORT", "lftp"),
                                  ("vsftpd", "EPRT", "ftplib"), ("pyftpdlib", "EPSV", "lftp")):
        if quick and dmode in ("EPRT", "EPSV"):
            continue
        job = Job("w", server, client, "4", dmode, "session")
        rows.append(Row(job, expectations(job), "session"))
    # 64 MiB.
    for server, dmode in (("vsftpd", "EPSV"), ("pyftpdlib", "PORT")):
        job = Job("w", server, "curl", "4", dmode, "get64")
        rows.append(Row(job, expectations(job), "64 MiB"))
    # Hairpin: a LAN client using the public address.
    hp = [("vsftpd", "curl", "PASV", "get"), ("vsftpd", "ftplib", "EPSV", "put"),
          ("vsftpd", "lftp", "PORT", "get"), ("pyftpdlib", "ftplib", "EPRT", "get"),
          ("pyftpdlib", "lftp", "PASV", "list"), ("pyftpdlib", "curl", "EPSV", "get")]
    for server, client, dmode, op in (hp[:3] if quick else hp):
        job = Job("c", server, client, "4", dmode, op)
        rows.append(Row(job, expectations(job), "hairpin"))
    # IPv6-only client, IPv4-only server: EPSV/EPRT translated to PASV/PORT (RFC 6384).
    v6 = [("vsftpd", "curl", "EPSV", "get"), ("vsftpd", "lftp", "EPSV", "put"),
          ("vsftpd", "ftplib", "EPSV", "list"), ("vsftpd", "ftplib", "EPRT", "get"),
          ("vsftpd", "curl", "EPRT", "put"), ("vsftpd", "lftp", "EPRT", "list"),
          ("pyftpdlib", "ftplib", "EPSV", "get"), ("pyftpdlib", "curl", "EPRT", "get")]
    for server, client, dmode, op in (v6[:4] if quick else v6):
        job = Job("w", server, client, "6", dmode, op)
        rows.append(Row(job, expectations(job), "v6->v4"))
    return rows


def cell_text(cell):
    if cell is None:
        return "-"
    ok, secs, why, exp = cell
    mark = "" if ok == exp else "!!"
    if not ok and not exp:
        mark = "*"
    return "%-6s %5.2fs" % (("ok" if ok else "FAIL") + mark, secs)


def render(rows, modes, extra):
    head = "%3s  %-7s %-4s %-9s %-6s %-4s %-4s %-11s" % ("#", "group", "from", "server", "client",
                                                     "fam", "cmd", "op")
    lines = [head + "".join(" | %-13s" % m for m in modes)]
    lines.append("-" * len(lines[0]))
    for i, r in enumerate(rows, 1):
        j = r.job
        line = "%3d  %-7s %-4s %-9s %-6s %-4s %-4s %-11s" % (
            i, r.group, {"w": "WAN", "c": "LAN"}[j.where], "%s:%d" % (
                "vsf" if j.server == "vsftpd" else "pyf", SRV[j.server]["pub"]),
            j.client, "v" + j.fam, j.dmode, OPNAME[j.op])
        line += "".join(" | %-13s" % cell_text(r.cells.get(m)) for m in modes)
        lines.append(line)
    width = len(head)
    for name, cells in extra:
        lines.append(("     " + name)[:width].ljust(width) +
                     "".join(" | %-13s" % cells.get(m, "-") for m in modes))
    lines.append("-" * len(lines[0]))
    lines.append("vsf:21 = public port 21 -> vsftpd 192.168.1.10:21; pyf:2121 = public port 2121 "
                 "-> pyftpdlib 192.168.1.11:21; WAN = client outside, LAN = client inside "
                 "dialling the public address")
    lines.append("ok = transfer checked (sha256 / listing / the data command sent); FAIL* = failed "
                 "as expected for that mode (reasons below); !! = NOT as expected")
    return "\n".join(lines)


# ---------------------------------------------------------------------- extra checks
def pasv_reply(trace):
    m = re.findall(r"^< (227 .*)$", trace, re.M)
    return m[-1].strip() if m else None


def check_relay_memory(lab, d, log):
    """A slow client downloads a 1 GiB file through the relay; ftpalgd's RSS must stay flat."""
    import threading
    s = SRV["vsftpd"]
    base = d.rss_kib()
    peak = [base or 0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            v = d.rss_kib()
            if v:
                peak[0] = max(peak[0], v)
            time.sleep(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    # 40 MB/s for ~4 s: the server could send at GB/s; the relay must hold it back.
    r = lab.run("w", ["curl", "-sS", "-g", "--max-time", "4", "--limit-rate", "40M",
                      "-u", "%s:%s" % (s["user"], s["password"]), "--ftp-pasv", "-o", "/dev/null",
                      "-w", "%{size_download}", "ftp://%s:21/huge.bin" % lab.pub4],
                timeout=15, check=False)
    got_slow = r.out.strip()
    # ...and 1 GiB at full speed.
    r2 = lab.run("w", ["curl", "-sS", "-g", "--max-time", "60", "-u",
                       "%s:%s" % (s["user"], s["password"]), "--ftp-pasv", "-o", "/dev/null",
                       "-w", "%{size_download} %{speed_download}",
                       "ftp://%s:21/huge.bin" % lab.pub4], timeout=70, check=False)
    stop.set()
    t.join()
    try:
        got = int(float(r2.out.split()[0]))
        speed = float(r2.out.split()[1]) / 1e6
    except (ValueError, IndexError):
        got, speed = 0, 0.0
    grow = (peak[0] - (base or 0)) / 1024.0
    ok = base is not None and got == 1 << 30 and grow < 8.0 and int(float(got_slow or 0)) > 0
    detail = ("RSS %.1f MiB before, peak %.1f MiB (+%.1f MiB) while a 40 MB/s client read %s B "
              "for 4 s and a full-speed client read %d B (%.0f MB/s)" % (
                  (base or 0) / 1024.0, peak[0] / 1024.0, grow, got_slow or "?", got, speed))
    log.append("relay memory: " + detail)
    return ok, detail


def check_address_change(lab, log, verbose):
    """The WAN address changes under a running ftpalgd: it follows, without a restart."""
    results = []             # (name, ok, detail)
    # As an unprivileged user: re-binding port 21 then needs the capability kept for it.
    d = InboundDaemon(lab, extra_conf="user = nobody\n")
    lab.daemon = d
    if not d.start():
        return [("address change: ftpalgd start", False, d.error)]
    # a session on the old address first
    job = Job("w", "vsftpd", "curl", "4", "PASV", "get")
    ok, secs, why, trace = run_job(lab, job, "dyn0", timeout=20)
    results.append(("before the change: WAN curl PASV RETR via %s" % PUB4, ok,
                    why or pasv_reply(trace) or ""))
    pid_before = d.proc.pid
    # the change: new address (secondary at first), then the old one goes
    lab.run("r", ["ip", "addr", "add", PUB4_NEW + "/24", "dev", lab.if_rw])
    lab.run("r", ["ip", "addr", "del", PUB4 + "/24", "dev", lab.if_rw])
    lab.pub4 = PUB4_NEW
    t0 = time.monotonic()
    rebound = (lab.wait_listen("r", 21, PUB4_NEW, timeout=5.0) and
               lab.wait_listen("r", 2121, PUB4_NEW, timeout=2.0))
    results.append(("listeners re-bound on %s (%.1fs), same process, user nobody" % (
        PUB4_NEW, time.monotonic() - t0), rebound and d.alive() and d.proc.pid == pid_before,
        "" if rebound else "no listener on the new address"))
    # new sessions use the new address; the 227 names it (lftp follows the 227 address)
    for i, (server, client, dmode, op, where) in enumerate((
            ("vsftpd", "curl", "PASV", "get", "w"), ("vsftpd", "lftp", "PASV", "get", "w"),
            ("pyftpdlib", "ftplib", "PORT", "put", "w"), ("pyftpdlib", "curl", "EPSV", "get", "w"),
            ("vsftpd", "curl", "PASV", "get", "c"))):
        job = Job(where, server, client, "4", dmode, op)
        ok, secs, why, trace = run_job(lab, job, "dyn%d" % (i + 1), timeout=20)
        reply = pasv_reply(trace) if client == "curl" and dmode == "PASV" else None
        if reply is not None and "(203,0,113,9," not in reply:
            ok, why = False, "227 does not name the new address: " + reply
        results.append(("after: %s" % job.key(), ok, why or reply or ""))
    # the old address is gone: nothing answers there any more
    r = lab.run("w", ["curl", "-sS", "--connect-timeout", "3", "--max-time", "5",
                      "ftp://%s:21/" % PUB4], timeout=10, check=False)
    results.append(("old address %s no longer served" % PUB4, not r.ok, r.why()))
    text = d.log_text()
    m = re.search(r"running as nobody with CAP_NET_ADMIN and CAP_NET_BIND_SERVICE only", text)
    results.append(("ftpalgd dropped to user nobody, keeping CAP_NET_BIND_SERVICE", m is not None,
                    "" if m else "no 'running as nobody' line in the log"))
    m = re.search(r"public interface \S+: IPv4 address changed from (\S+) to (\S+)", text)
    results.append(("ftpalgd logged the change (rtnetlink)", m is not None,
                    m.group(0) if m else "no 'address changed' line in the log"))
    clean, detail = d.stop()
    lab.daemon = None
    results.append(("ftpalgd stop after the change", clean, detail))
    # back to the old address for anything that follows
    lab.run("r", ["ip", "addr", "add", PUB4 + "/24", "dev", lab.if_rw], check=False)
    lab.run("r", ["ip", "addr", "del", PUB4_NEW + "/24", "dev", lab.if_rw], check=False)
    lab.pub4 = PUB4
    # A fixed public address instead of the interface: the same service.  Plus a
    # mapping that the admin's own DNAT feeds (public port 2100 -> ftpalgd on the
    # LAN address): the 227 still names the address the client dialled.
    lab.run("r", ["nft", "add", "rule", "inet", "admin", "prerouting", "ip", "daddr", PUB4,
                  "tcp", "dport", "2100", "dnat", "ip", "to", RLAN4 + ":2100"])
    lab.run("r", ["nft", "insert", "rule", "inet", "admin", "input", "ct", "status", "dnat",
                  "accept"])
    d = InboundDaemon(lab, fixed=(PUB4, PUB6),
                      extra_conf="mapping = %s:2100 -> %s:21\n" % (RLAN4, SRV["vsftpd"]["addr"]))
    lab.daemon = d
    started = d.start()
    results.append(("fixed public-address %s and %s: ftpalgd start" % (PUB4, PUB6), started,
                    d.error or ""))
    if started:
        for i, (server, client, dmode, op, where, fam) in enumerate((
                ("vsftpd", "curl", "PASV", "get", "w", "4"),
                ("pyftpdlib", "ftplib", "EPRT", "put", "c", "4"),
                ("vsftpd", "ftplib", "EPSV", "get", "w", "6"))):
            job = Job(where, server, client, fam, dmode, op)
            ok, secs, why, trace = run_job(lab, job, "fix%d" % i, timeout=20)
            results.append(("fixed address: %s" % job.key(), ok, why))
        for i, (client, dmode, op) in enumerate((("curl", "PASV", "get"), ("lftp", "PASV", "put"),
                                                 ("ftplib", "PORT", "get"))):
            job = Job("w", "vsftpd", client, "4", dmode, op, port=2100)
            ok, secs, why, trace = run_job(lab, job, "dn%d" % i, timeout=20)
            reply = pasv_reply(trace)
            if reply is not None and "(203,0,113,1," not in reply:
                ok, why = False, "227 does not name the dialled address: " + reply
            results.append(("DNATed to ftpalgd (public 2100 -> %s:2100): %s" % (
                RLAN4, job.key()), ok, why or reply or ""))
        clean, detail = d.stop()
        results.append(("ftpalgd stop (fixed address)", clean, detail))
    lab.daemon = None
    for name, ok, detail in results:
        log.append("address change: %-70s %s %s" % (name, "ok" if ok else "FAIL", detail))
    return results


# ---------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    modes = [m for m in a.modes.split(",") if m]
    for m in modes:
        if m not in MODES:
            ap.error("unknown mode " + m)
    L.require_root("make check")
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(LABOUT, exist_ok=True)
    t_start = time.monotonic()
    rows = build_rows(a.quick)
    passed = failed = 0
    extra, failures, notes, daemon_logs = [], [], [], []
    replies = {}             # mode -> the 227 the client got (vsftpd PASV curl row)
    lab = InboundLab(verbose=a.verbose)
    L.install_signal_handlers(lab)
    crashed = None

    def count(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            failures.append(what)

    try:
        print("inbound: namespaces %s, temp %s" % (", ".join(lab.ns.values()), lab.tmp), flush=True)
        lab.create()
        lab.make_files(big=True, huge_gib=1)
        lab.start_inbound_servers()
        print("inbound: vsftpd 192.168.1.10 and pyftpdlib 192.168.1.11 up in the LAN; "
              "%d rows x %d modes" % (len(rows), len(modes)), flush=True)
        seq = 0
        for mode in modes:
            t_mode = time.monotonic()
            lab.set_mode(mode)
            skip = None
            if mode in ("ftpalgd", "relay"):
                d = InboundDaemon(lab, relay=(mode == "relay"))
                lab.daemon = d
                started = d.start()
                extra.append(("ftpalgd start (%s)" % ("relay, no nftables table" if mode == "relay"
                                                      else "pinholes, table ftpalg"),
                              {mode: "ok" if started else "FAIL!!"}))
                count(started, "%s: ftpalgd start: %s" % (mode, d.error))
                if not started:
                    skip = d.error
            n_ok = n_bad = 0
            for r in rows:
                seq += 1
                exp = r.expect_ok(mode)
                if skip:
                    cell = (False, 0.0, skip, exp)
                else:
                    timeout = 40 if r.job.op in ("get64", "session") else 20
                    if not exp:
                        timeout = 8
                    try:
                        ok, secs, why, trace = run_job(lab, r.job, "i%d" % seq, timeout=timeout)
                    except L.LabError as e:
                        ok, secs, why, trace = False, 0.0, str(e), ""
                    if (r.job.client == "curl" and r.job.dmode == "PASV" and r.job.where == "w"
                            and mode not in replies):
                        replies[mode] = pasv_reply(trace) or "(no 227: %s)" % why
                    cell = (ok, secs, why, exp)
                r.cells[mode] = cell
                if cell[0] == exp:
                    passed += 1
                    n_ok += 1
                else:
                    failed += 1
                    n_bad += 1
                    failures.append("%-8s %s: %s%s" % (
                        mode, r.job.key(), "unexpectedly worked" if cell[0] else
                        "failed: " + cell[2], "" if exp else " (expected to fail)"))
                if a.verbose or cell[0] != exp:
                    print("  %-8s %-50s %s %s" % (mode, r.job.key(), cell_text(cell),
                                                  "" if cell[0] == exp else cell[2]), flush=True)
            if mode == "relay" and not skip:
                ok, detail = check_relay_memory(lab, lab.daemon, notes)
                extra.append(("relay memory bounded (1 GiB, slow reader)",
                              {mode: "ok" if ok else "FAIL!!"}))
                count(ok, "relay: memory: " + detail)
                print("  relay memory: %s %s" % ("ok" if ok else "FAIL", detail), flush=True)
            if lab.daemon is not None and lab.daemon.proc is not None:
                d = lab.daemon
                clean, detail = d.stop()
                extra.append(("ftpalgd stop: SIGTERM, nothing left in nftables",
                              {mode: "ok" if clean else "FAIL!!"}))
                count(clean, "%s: ftpalgd stop: %s" % (mode, detail))
                if n_bad or not clean:
                    daemon_logs.append((mode, d.log_text()))
                lab.daemon = None
            print("inbound: mode %-8s %3d as expected, %d not (%.0fs)"
                  % (mode, n_ok, n_bad, time.monotonic() - t_mode), flush=True)
        if "ftpalgd" in modes:
            lab.set_mode("ftpalgd")
            t0 = time.monotonic()
            res = check_address_change(lab, notes, a.verbose)
            for name, ok, detail in res:
                count(ok, "address change: %s: %s" % (name, detail))
            n_bad = sum(1 for _, ok, _ in res if not ok)
            extra.append(("public address: change, fixed, DNAT: %d checks" % len(res),
                          {"ftpalgd": "ok" if not n_bad else "FAIL!! %d" % n_bad}))
            print("inbound: WAN address change: %d checks, %d failed (%.0fs)"
                  % (len(res), n_bad, time.monotonic() - t0), flush=True)
            if n_bad:
                daemon_logs.append(("address change", open(os.path.join(
                    lab.logdir, "ftpalgd.log"), errors="replace").read()))
    except BaseException as e:
        crashed = e
        if not isinstance(e, (KeyboardInterrupt, SystemExit)):
            traceback.print_exc()
    finally:
        keep = os.path.join(LABOUT, "inbound-logs") if (failed or crashed) else None
        lab.destroy(keep_logs_to=keep)
        left = lab.leftovers()
        clean = not left
        extra.append(("cleanup: nothing left behind", {modes[-1]: "ok" if clean else "FAIL!!"}))
        count(clean, "cleanup: left behind: %s" % ", ".join(left))
    if crashed is not None:
        failed += 1
        failures.append("inbound run aborted: %s %s" % (type(crashed).__name__, crashed))

    table = render(rows, modes, extra)
    reasons = sorted({(m, why) for r in rows for m, why in r.expect.items() if m in modes})
    text = ["ftpalg inbound lab: intranet servers behind the router's port mappings "
            "(modes side by side)", table, "", "expected failures (*):"]
    text += ["  %-7s %s" % (m, why) for m, why in reasons]
    if replies:
        text += ["", "what a WAN client is told in reply to PASV (vsftpd announces 192.168.1.10):"]
        text += ["  %-8s %s" % (m, replies[m]) for m in modes if m in replies]
    if notes:
        text += [""] + notes
    if failures:
        text += ["", "not as expected:"] + ["  " + f for f in failures]
    summary = "passed=%d failed=%d" % (passed, failed)
    print()
    print("\n".join(text))
    for mode, log in daemon_logs:
        tail = log.splitlines()[-60:]
        print("\nftpalgd log, %s (last %d lines):" % (mode, len(tail)))
        for line in tail:
            print("  | " + line)
    with open(os.path.join(OUT, "inbound.txt"), "w") as f:
        f.write(summary + "\n")
    with open(os.path.join(LABOUT, "inbound.log"), "w") as f:
        f.write("\n".join(text) + "\n" + summary + "\n")
    print("\ninbound: %s (%.0fs)" % (summary, time.monotonic() - t_start))
    if isinstance(crashed, KeyboardInterrupt):
        return 130
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
