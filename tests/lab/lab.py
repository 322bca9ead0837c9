#!/usr/bin/python3
"""lab.py - ftpalg's integration lab: a NAT router between a LAN client and FTP servers,
built from network namespaces, with real servers, real clients and three gateway modes.

    client ns  (LAN)            router ns                       server ns  (WAN)
    192.168.1.2/24   --veth--  192.168.1.1 | 203.0.113.1  --veth--  203.0.113.2 vsftpd
    fd00:1::2/64               fd00:1::1   | 2001:db8::1            203.0.113.3 pyftpdlib
                               masquerade on WAN                   2001:db8::2 vsftpd
                                                                   2001:db8::3 pyftpdlib

Gateway modes (router firewall: forward policy drop, established/related accepted,
new LAN->WAN accepted, masquerade on WAN for IPv4 and IPv6):
    none     the firewall only: passive FTP works, active (PORT/EPRT) fails
    kernel   plus the kernel's FTP helper (ct helper "ftp-standard", ct helper set)
    ftpalgd  plus our daemon build/ftpalgd, which redirects port 21 itself

Used as a module by matrix.py (make check), demo.py (make demo) and bench.py
(make bench).  Must run as root, with /usr/bin/python3.  Test traffic stays inside
the namespaces created here; everything (namespaces, processes, temp dir) is
removed by Lab.destroy(), which install_signal_handlers()/atexit make sure runs.
"""
import atexit
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
PY = "/usr/bin/python3"
DAEMON = os.environ.get("LAB_FTPALGD") or os.path.join(REPO, "build", "ftpalgd")

CLIENT4, CLIENT6 = "192.168.1.2", "fd00:1::2"
RLAN4, RLAN6 = "192.168.1.1", "fd00:1::1"
RWAN4, RWAN6 = "203.0.113.1", "2001:db8::1"

SERVERS = {
    "vsftpd": {"4": "203.0.113.2", "6": "2001:db8::2",
               "user": "anonymous", "password": "lab@", "pasv": "50000-50099"},
    "pyftpdlib": {"4": "203.0.113.3", "6": "2001:db8::3",
                  "user": "lab", "password": "lab", "pasv": "50100-50199"},
}

MODES = ("none", "kernel", "ftpalgd")
PINHOLE_MARK = 0x20000000
DAEMON_PORT = 2121
DATA_PORTS = "40000-40999"

FILES = {"f1m.bin": 1 << 20, "small.bin": 4096}
BIG = "f64m.bin"
BIG_SIZE = 64 << 20


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def is_root():
    return os.geteuid() == 0


class LabError(Exception):
    pass


class Result:
    """Outcome of one command run in a namespace."""

    def __init__(self, rc, out, err, secs, timed_out=False):
        self.rc, self.out, self.err, self.secs, self.timed_out = rc, out, err, secs, timed_out

    @property
    def ok(self):
        return self.rc == 0 and not self.timed_out

    def why(self):
        if self.timed_out:
            return "timeout after %.0fs" % self.secs
        lines = [l.strip() for l in (self.err + "\n" + self.out).splitlines() if l.strip()
                 and not l.startswith(("> ", "< ", "* ", "---", "<---", "+ "))]
        return (lines[-1] if lines else "exit %d" % self.rc)[:160]


class Lab:
    def __init__(self, verbose=False, tmp_parent=None):
        self.verbose = verbose
        self.pid = os.getpid()
        p = "fal%d" % self.pid
        self.prefix = p
        self.ns = {"c": p + "c", "r": p + "r", "s": p + "s"}
        # veth names, <= 15 chars, unique per run (created inside our namespaces)
        self.if_c, self.if_rl = p + "cl", p + "rl"
        self.if_rw, self.if_s = p + "rw", p + "sw"
        if tmp_parent is None and os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
            tmp_parent = "/dev/shm"
        self.tmp = tempfile.mkdtemp(prefix="ftpalg-lab-%d-" % self.pid, dir=tmp_parent)
        os.chmod(self.tmp, 0o755)
        self.srv = os.path.join(self.tmp, "srv")        # served by every server
        self.cli = os.path.join(self.tmp, "cli")        # client-side files
        self.logdir = os.path.join(self.tmp, "log")
        self.procs = {}          # name -> Popen, long-running (servers, daemon)
        self.children = set()    # short-lived Popen objects still running
        self.created = []        # namespaces created
        self.mode = None
        self.daemon = None
        self.hashes = {}
        self._destroyed = False
        self.cmdlog = None

    # ------------------------------------------------------------------ helpers
    def log(self, msg):
        if self.cmdlog:
            self.cmdlog.write("%.3f %s\n" % (time.time(), msg))
            self.cmdlog.flush()
        if self.verbose:
            print("  [lab] " + msg, flush=True)

    def run(self, ns, argv, timeout=30, check=True, stdin_data=None, env=None):
        """Runs argv in namespace ns ('c', 'r', 's' or None for the host)."""
        full = list(argv)
        if ns is not None:
            full = ["ip", "netns", "exec", self.ns[ns]] + full
        self.log("run[%s] %s" % (ns or "-", " ".join(argv)))
        t0 = time.monotonic()
        p = subprocess.Popen(full, stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True, env=env)
        self.children.add(p)
        timed_out = False
        try:
            out, err = p.communicate(stdin_data.encode() if stdin_data is not None else None,
                                     timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            self._kill(p)
            out, err = p.communicate()
        finally:
            if p.poll() is None:
                self._kill(p)
            self.children.discard(p)
        r = Result(p.returncode, out.decode(errors="replace"), err.decode(errors="replace"),
                   time.monotonic() - t0, timed_out)
        if check and not r.ok:
            raise LabError("%s failed (%s): %s" % (" ".join(argv), r.rc, r.why()))
        return r

    def spawn(self, name, ns, argv, logfile):
        """Starts a long-running process in namespace ns, output to logfile."""
        full = ["ip", "netns", "exec", self.ns[ns]] + list(argv)
        self.log("spawn[%s] %s: %s" % (ns, name, " ".join(argv)))
        f = open(logfile, "ab")
        p = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                             start_new_session=True)
        f.close()
        self.procs[name] = p
        return p

    def _kill(self, p, grace=3.0):
        """Ends a process we started (and its process group), by its id."""
        if p.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            except PermissionError:
                try:
                    p.send_signal(sig)
                except ProcessLookupError:
                    pass
            try:
                p.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def stop(self, name, grace=3.0):
        p = self.procs.pop(name, None)
        if p is not None:
            self._kill(p, grace)

    def nft(self, ruleset):
        self.run("r", ["nft", "-f", "-"], stdin_data=ruleset)

    def wait_listen(self, ns, port, addr=None, timeout=5.0):
        """Waits until something listens on tcp port (optionally on addr) in ns."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.run(ns, ["ss", "-Hltn", "sport = :%d" % port], check=False)
            if r.ok and r.out.strip():
                if addr is None or addr in r.out:
                    return True
            time.sleep(0.05)
        return False

    # ------------------------------------------------------------------ topology
    def create(self):
        os.makedirs(self.logdir, exist_ok=True)
        os.makedirs(self.cli, exist_ok=True)
        self.cmdlog = open(os.path.join(self.logdir, "commands.log"), "a")
        for key in ("c", "r", "s"):
            name = self.ns[key]
            if name in self.netns_list():
                raise LabError("namespace %s exists already" % name)
            self.run(None, ["ip", "netns", "add", name])
            self.created.append(name)
            for sysctl in ("net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
                           "net.ipv6.conf.all.accept_ra=0", "net.ipv6.conf.default.accept_ra=0"):
                self.run(key, ["sysctl", "-qw", sysctl])
            self.run(key, ["ip", "link", "set", "lo", "up"])
        c, r, s = self.ns["c"], self.ns["r"], self.ns["s"]
        self.run(None, ["ip", "link", "add", self.if_c, "netns", c, "type", "veth",
                        "peer", "name", self.if_rl, "netns", r])
        self.run(None, ["ip", "link", "add", self.if_rw, "netns", r, "type", "veth",
                        "peer", "name", self.if_s, "netns", s])
        cmds = [
            ("c", ["ip", "addr", "add", CLIENT4 + "/24", "dev", self.if_c]),
            ("c", ["ip", "addr", "add", CLIENT6 + "/64", "dev", self.if_c, "nodad"]),
            ("c", ["ip", "link", "set", self.if_c, "up"]),
            ("c", ["ip", "route", "add", "default", "via", RLAN4]),
            ("c", ["ip", "-6", "route", "add", "default", "via", RLAN6]),
            ("r", ["sysctl", "-qw", "net.ipv4.ip_forward=1"]),
            ("r", ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]),
            ("r", ["ip", "addr", "add", RLAN4 + "/24", "dev", self.if_rl]),
            ("r", ["ip", "addr", "add", RLAN6 + "/64", "dev", self.if_rl, "nodad"]),
            ("r", ["ip", "addr", "add", RWAN4 + "/24", "dev", self.if_rw]),
            ("r", ["ip", "addr", "add", RWAN6 + "/64", "dev", self.if_rw, "nodad"]),
            ("r", ["ip", "link", "set", self.if_rl, "up"]),
            ("r", ["ip", "link", "set", self.if_rw, "up"]),
            ("s", ["ip", "addr", "add", SERVERS["vsftpd"]["4"] + "/24", "dev", self.if_s]),
            ("s", ["ip", "addr", "add", SERVERS["pyftpdlib"]["4"] + "/24", "dev", self.if_s]),
            ("s", ["ip", "addr", "add", SERVERS["vsftpd"]["6"] + "/64", "dev", self.if_s, "nodad"]),
            ("s", ["ip", "addr", "add", SERVERS["pyftpdlib"]["6"] + "/64", "dev", self.if_s, "nodad"]),
            ("s", ["ip", "link", "set", self.if_s, "up"]),
            ("s", ["ip", "route", "add", "default", "via", RWAN4]),
            ("s", ["ip", "-6", "route", "add", "default", "via", RWAN6]),
        ]
        for ns, argv in cmds:
            self.run(ns, argv)
        self.set_mode("none")

    # ------------------------------------------------------------------ firewall
    def admin_ruleset(self, mode):
        lan, wan = self.if_rl, self.if_rw
        extra_input = extra_forward = extra = ""
        if mode == "kernel":
            extra = """
    ct helper ftp-standard {
        type "ftp" protocol tcp
        l3proto inet
    }
    chain helpers {
        type filter hook prerouting priority filter; policy accept;
        iifname "%s" tcp dport 21 ct helper set "ftp-standard"
    }
""" % lan
        elif mode == "ftpalgd":
            extra_input = """
        # ftpalgd: control connections redirected to its listener (port %d)
        ct status dnat accept
        iifname "%s" tcp dport %d accept""" % (DAEMON_PORT, lan, DAEMON_PORT)
            extra_forward = """
        # ftpalgd: pinholes are marked by the daemon's own table
        ct mark & 0x%08x == 0x%08x accept
        ct status dnat accept""" % (PINHOLE_MARK, PINHOLE_MARK)
        elif mode != "none":
            raise LabError("unknown mode " + mode)
        return """# the router admin's own firewall, mode %(mode)s
table inet admin
delete table inet admin
table inet admin {
    chain input {
        type filter hook input priority filter; policy drop;
        iif "lo" accept
        ct state established,related accept
        ct state invalid drop
        meta l4proto { icmp, ipv6-icmp } accept
        iifname "%(lan)s" accept%(extra_input)s
    }
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        ct state invalid counter drop
        iifname "%(lan)s" oifname "%(wan)s" accept%(extra_forward)s
    }
    chain output {
        type filter hook output priority filter; policy accept;
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "%(wan)s" masquerade
    }
%(extra)s}
""" % dict(mode=mode, lan=lan, wan=wan, extra_input=extra_input,
           extra_forward=extra_forward, extra=extra)

    def set_mode(self, mode):
        """Switches the router to a gateway mode (stops the daemon if it runs)."""
        if self.daemon is not None:
            self.daemon.stop()
        self.nft(self.admin_ruleset(mode))
        self.flush_conntrack()
        self.mode = mode

    def flush_conntrack(self):
        self.run("r", ["conntrack", "-F"], check=False)
        self.run("r", ["conntrack", "-F", "expect"], check=False)

    def nft_tables(self):
        r = self.run("r", ["nft", "list", "tables"], check=False)
        return [l.split()[-1] for l in r.out.splitlines() if l.startswith("table ")], r.out

    # ------------------------------------------------------------------ files
    def make_files(self, big=True, huge_gib=0):
        os.makedirs(os.path.join(self.srv, "up"), exist_ok=True)
        os.chmod(self.srv, 0o755)
        up = os.path.join(self.srv, "up")
        try:
            import pwd
            ftp = pwd.getpwnam("ftp")
            os.chown(up, ftp.pw_uid, ftp.pw_gid)
        except KeyError:
            os.chmod(up, 0o777)
        os.chmod(up, 0o755 if os.stat(up).st_uid != 0 else 0o777)
        files = dict(FILES)
        if big:
            files[BIG] = BIG_SIZE
        for name, size in files.items():
            path = os.path.join(self.srv, name)
            with open(path, "wb") as f:
                left = size
                while left:
                    n = min(left, 1 << 20)
                    f.write(os.urandom(n))
                    left -= n
            os.chmod(path, 0o644)
            self.hashes[name] = sha256(path)
        if huge_gib:
            path = os.path.join(self.srv, "huge.bin")
            with open(path, "wb") as f:     # sparse: reads as zeros, costs no memory
                f.truncate(huge_gib << 30)
            os.chmod(path, 0o644)
        src = os.path.join(self.cli, "upload.bin")
        with open(src, "wb") as f:
            f.write(os.urandom(1 << 20))
        self.hashes["upload.bin"] = sha256(src)
        with open(os.path.join(self.srv, "readme.txt"), "w") as f:
            f.write("ftpalg lab server\n")
        os.chmod(os.path.join(self.srv, "readme.txt"), 0o644)

    # ------------------------------------------------------------------ servers
    def vsftpd_conf(self, family):
        s = SERVERS["vsftpd"]
        lo, hi = s["pasv"].split("-")
        empty = os.path.join(self.tmp, "vsftpd-empty")
        os.makedirs(empty, exist_ok=True)
        os.chmod(empty, 0o755)
        listen = ("listen=YES\nlisten_ipv6=NO\nlisten_address=%s\n" % s["4"] if family == "4"
                  else "listen=NO\nlisten_ipv6=YES\nlisten_address6=%s\n" % s["6"])
        conf = os.path.join(self.tmp, "vsftpd%s.conf" % family)
        with open(conf, "w") as f:
            f.write(listen + """listen_port=21
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
port_promiscuous=NO
pasv_promiscuous=NO
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
ftpd_banner=lab vsftpd ready
""" % dict(root=self.srv, lo=lo, hi=hi, empty=empty,
                     log=os.path.join(self.logdir, "vsftpd%s.log" % family)))
        return conf

    def start_servers(self, which=("vsftpd", "pyftpdlib"), families=("4", "6")):
        for fam in families:
            if "vsftpd" in which:
                self.spawn("vsftpd" + fam, "s", ["vsftpd", self.vsftpd_conf(fam)],
                           os.path.join(self.logdir, "vsftpd%s.out" % fam))
            if "pyftpdlib" in which:
                s = SERVERS["pyftpdlib"]
                self.spawn("pyftpdlib" + fam, "s",
                           [PY, os.path.join(HERE, "pyftpd.py"), "--addr", s[fam], "--port", "21",
                            "--root", self.srv, "--user", s["user"], "--password", s["password"],
                            "--pasv", s["pasv"], "--active-timeout", "3",
                            "--log", os.path.join(self.logdir, "pyftpdlib%s.log" % fam)],
                           os.path.join(self.logdir, "pyftpdlib%s.out" % fam))
        for fam in families:
            for name in which:
                if not self.wait_listen("s", 21, SERVERS[name][fam], timeout=10):
                    p = self.procs.get(name + fam)
                    raise LabError("%s (IPv%s) did not start listening (exit %s); see %s"
                                   % (name, fam, p.poll() if p else "?", self.logdir))
        # Reach every server once from the client through the router: fresh veths lose
        # the very first packets for a moment (a 1-3 s SYN retransmit otherwise lands
        # in the first test), and this proves the topology before any test runs.
        addrs = [SERVERS[n][f] for n in which for f in families]
        probe = """
import socket, sys, time
for a in sys.argv[1:]:
    fam = socket.AF_INET6 if ":" in a else socket.AF_INET
    end = time.monotonic() + 10
    while True:
        try:
            s = socket.socket(fam, socket.SOCK_STREAM); s.settimeout(0.3)
            s.connect((a, 21)); s.recv(100); s.close(); break
        except OSError as e:
            if time.monotonic() > end:
                sys.exit("cannot reach %s:21 from the client: %s" % (a, e))
"""
        self.run("c", [PY, "-c", probe] + addrs, timeout=60)

    # ------------------------------------------------------------------ daemon
    def start_daemon(self, extra_conf="", log_level="debug"):
        self.daemon = Daemon(self, extra_conf, log_level)
        return self.daemon.start()

    # ------------------------------------------------------------------ cleanup
    @staticmethod
    def netns_list():
        r = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        return [l.split()[0] for l in r.stdout.splitlines() if l.strip()]

    def leftovers(self):
        """Namespaces or links of this run still present (should be empty)."""
        left = [n for n in self.netns_list() if n in self.ns.values()]
        r = subprocess.run(["ip", "-o", "link", "show"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        for l in r.stdout.splitlines():
            name = l.split(":")[1].strip().split("@")[0] if ":" in l else ""
            if name in (self.if_c, self.if_rl, self.if_rw, self.if_s):
                left.append("link " + name)
        if os.path.exists(self.tmp):
            left.append("dir " + self.tmp)
        return left

    def destroy(self, keep_logs_to=None):
        """Removes everything this lab made.  Idempotent; safe from atexit/signals."""
        if self._destroyed:
            return
        self._destroyed = True
        old = {}
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            try:
                old[sig] = signal.signal(sig, signal.SIG_IGN)
            except (ValueError, OSError):
                pass
        try:
            if self.daemon is not None:
                try:
                    self.daemon.stop()
                except Exception:
                    pass
            for p in list(self.children):
                self._kill(p, 1.0)
            for name in list(self.procs):
                self.stop(name, 2.0)
            # anything else still running in our namespaces was started by us
            for name in self.created:
                r = subprocess.run(["ip", "netns", "pids", name], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)
                for pid in r.stdout.split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
            for name in reversed(self.created):
                subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL)
            if self.cmdlog:
                self.cmdlog.close()
                self.cmdlog = None
            if keep_logs_to and os.path.isdir(self.logdir):
                shutil.rmtree(keep_logs_to, ignore_errors=True)
                shutil.copytree(self.logdir, keep_logs_to)
            shutil.rmtree(self.tmp, ignore_errors=True)
        finally:
            for sig, h in old.items():
                try:
                    signal.signal(sig, h)
                except (ValueError, OSError):
                    pass


def ask(sock, what):
    """ftpalgd's JSON answer on its control socket (a file: reachable from any namespace),
    or None."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect(sock)
        s.sendall((what + "\n").encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        return json.loads(data.decode())
    except (OSError, ValueError):
        return None
    finally:
        s.close()


def kernel_elements(lab):
    """Elements in ftpalgd's sets and maps (pin4/dnat4/snat4 and the v6 ones), by name,
    as `nft list table` shows them; None when unreadable."""
    r = lab.run("r", ["nft", "-j", "list", "table", "inet", "ftpalg"], check=False)
    n = {}
    try:
        for o in json.loads(r.out)["nftables"]:
            for kind in ("set", "map"):
                if kind in o:
                    n[o[kind]["name"]] = len(o[kind].get("elem", []))
    except (ValueError, KeyError):
        return None
    return n


class Daemon:
    """build/ftpalgd in the router namespace, per the lab contract."""

    def __init__(self, lab, extra_conf="", log_level="debug"):
        self.lab = lab
        self.log_level = log_level
        self.conf = os.path.join(lab.tmp, "ftpalgd.conf")
        self.logfile = os.path.join(lab.logdir, "ftpalgd.log")
        self.sock = os.path.join(lab.tmp, "ftpalgd.sock")
        self.pidfile = os.path.join(lab.tmp, "ftpalgd.pid")
        self.extra_conf = extra_conf
        self.proc = None
        self.error = None

    def write_conf(self):
        with open(self.conf, "w") as f:
            f.write("""# ftpalgd configuration for the lab
listen = %d
intercept-interface = %s
control-ports = 21
data-ports = %s
pinhole-timeout = 30
pinhole-mark = 0x%08x
log-level = %s
control-socket = %s
pidfile = %s
%s""" % (DAEMON_PORT, self.lab.if_rl, DATA_PORTS, PINHOLE_MARK, self.log_level, self.sock,
                     self.pidfile, self.extra_conf))

    def start(self, timeout=5.0):
        """True once the daemon listens and its table exists; else self.error says why."""
        if not os.access(DAEMON, os.X_OK):
            self.error = "%s does not exist (not built yet?)" % os.path.relpath(DAEMON, REPO)
            return False
        self.write_conf()
        self.offset = os.path.getsize(self.logfile) if os.path.exists(self.logfile) else 0
        self.proc = self.lab.spawn("ftpalgd", "r", [DAEMON, "-d", "-f", self.conf], self.logfile)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.error = "ftpalgd exited with status %s at start" % self.proc.returncode
                return False
            tables, _ = self.lab.nft_tables()
            if "ftpalg" in tables and self.lab.wait_listen("r", DAEMON_PORT, timeout=0.1):
                return True
            time.sleep(0.05)
        self.error = "ftpalgd did not listen on %d with table ftpalg within %.0fs" % (
            DAEMON_PORT, timeout)
        return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=5.0):
        """SIGTERM; returns (clean, detail): clean = exited 0 in time and table gone."""
        if self.proc is None:
            return False, self.error or "not started"
        p, self.proc = self.proc, None
        self.lab.procs.pop("ftpalgd", None)
        detail = []
        clean = True
        if p.poll() is not None:
            clean = False
            detail.append("had exited already (status %s)" % p.returncode)
        else:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=timeout)
                if p.returncode != 0:
                    clean = False
                    detail.append("exit status %s after SIGTERM" % p.returncode)
            except subprocess.TimeoutExpired:
                clean = False
                detail.append("still running %.0fs after SIGTERM, killed" % timeout)
                self.lab._kill(p, 0.5)
        tables, _ = self.lab.nft_tables()
        if "ftpalg" in tables:
            clean = False
            detail.append("table ftpalg left behind")
            for fam in ("inet", "ip", "ip6"):
                self.lab.run("r", ["nft", "delete", "table", fam, "ftpalg"], check=False)
        return clean, "; ".join(detail) or "stopped cleanly, no ftpalg table left"

    def ask(self, what):
        """The control socket's JSON answer, or None."""
        return ask(self.sock, what)

    def log_text(self, since_start=True):
        try:
            with open(self.logfile, "r", errors="replace") as f:
                if since_start:
                    f.seek(getattr(self, "offset", 0))
                return f.read()
        except OSError:
            return ""


_active_labs = []


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


def install_signal_handlers(lab):
    """Ctrl-C (KeyboardInterrupt), SIGTERM and SIGHUP unwind through finally blocks;
    atexit removes the lab in any case."""
    _active_labs.append(lab)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    atexit.register(lab.destroy)


def stale_labs():
    """Namespaces named like ours (fal<pid>c|r|s) whose run is gone, e.g. after SIGKILL.
    Only reported, never removed: another session's lab is not ours to touch."""
    import re
    stale = []
    for name in Lab.netns_list():
        m = re.match(r"^fal(\d+)[crs]$", name)
        if m and not os.path.exists("/proc/%s" % m.group(1)):
            stale.append(name)
    return stale


def require_root(what):
    if not is_root():
        print("%s: must run as root (network namespaces, nftables); try: sudo make %s"
              % (what, what.split()[-1]), file=sys.stderr)
        sys.exit(2)
