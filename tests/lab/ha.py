#!/usr/bin/python3
"""ha.py - two routers, one gateway: FTP across a VRRP failover (keepalived + conntrackd).

    client ns (c)       LAN bridge ns (l)      routers a (r1), b (r2)     WAN bridge ns (w)    server ns (s)
    192.168.1.2/16  --                    -- a: lan 192.168.1.11   wan 203.0.113.11 --    -- 203.0.113.2 vsftpd
    192.168.100.100     br0 (c, a, b)        b: lan 192.168.1.12   wan 203.0.113.12      br0 (a, b, s)
                                             VRRP VIPs: lan 192.168.1.1/16, wan 203.0.113.1/24
                                             sync link a <-> b: 10.0.99.1/30 - 10.0.99.2/30

Each router runs keepalived (VRRP instances LAN and WAN in one sync group, a has the
higher priority and preempts) and conntrackd in FTFW mode over UDP on the sync link,
with the external cache and the documented primary-backup script (primary: -c -f -R -B;
backup: -t -n; fault: -t), all with their own config, pid, lock and socket files in the
lab's temp dir.  The firewall: forward policy drop, established/related accepted, new
LAN->WAN accepted, SNAT of everything leaving on the WAN (the router's own connections
too, as usual with VRRP) to the WAN VIP, VRRP and the sync link accepted.

Gateways, side by side, each through the same four transitions:
    kernel   the kernel FTP helper (ct helper set), conntrackd with ExpectationSync
    inline   build/ftpalgd engine = inline on both routers (NFQUEUE in FORWARD)
    proxy    build/ftpalgd proxy (intercept-interface lan, listen 2121) on both routers
Transitions: graceful (keepalived stopped on the master a), failback (keepalived started
again on a, which preempts), crash (a's links taken down), failback (links up again), and
for the inline engine restart (ftpalgd stopped and started again on the master).

During each transition these sessions run (client -> vsftpd through the VIPs):
    xfer-pasv     a 16 MiB EPSV download in flight, then LIST in the same session
    xfer-port     a 16 MiB PORT download in flight (its PORT changed length), then PASV
                  and PORT LISTs in the same session
    ctl-len       a session whose PORT changed the line's length, idle at the transition;
                  then NOOP, PASV LIST, PORT LIST
    ctl-same      a session whose EPRT kept its length; then NOOP, PASV LIST, EPRT LIST
    pin-pasv      PASV announced before, the data connection made after the transition
    pin-eprt      EPRT announced before, the server's connection made after
and after it: a new session (passive), timed from the trigger, and a new active one.
The lab also checks that the backup opens nothing: no pinhole element, no marked
connection, no kernel expectation on the router that is not master.

Checks that must hold today are counted (passed/failed); what is measured is the
survival table in build/lab/ha.log and build/lab/ha-table.md.  Writes
build/results/ha.txt ("passed=N failed=M").
Options: --engines kernel,inline,proxy  --transitions graceful,failback,crash,failback-crash  -v
         --pcap (captures in the client and server namespaces, kept in build/lab/ha-logs)
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lab as L  # noqa: E402

OUT = os.path.join(L.REPO, "build", "results")
LABOUT = os.path.join(L.REPO, "build", "lab")
HACLI = os.path.join(L.HERE, "hacli.py")

VIP_LAN, VIP_WAN = "192.168.1.1", "203.0.113.1"
CLIENT_SAME, CLIENT_LEN = "192.168.1.2", "192.168.100.100"
SERVER = L.SERVERS["vsftpd"]["4"]
ROUTERS = {
    # Small data-port ranges, on purpose: a gateway port that a router used in the
    # last two minutes lingers in conntrack (TIME_WAIT, or ESTABLISHED when the
    # close did not reach it before a failover), carried by conntrackd with that
    # data connection's DNAT.  A server's SYN from port 20 to the same port would
    # be taken for that old connection; the inline engine must draw another port
    # (engine/inline.c, inl_alloc_port).  With 100 ports a router draws a held
    # one in most runs, so the lab fails if that check goes.
    "a": dict(name="r1", lan="192.168.1.11", wan="203.0.113.11", sync="10.0.99.1",
              peer="10.0.99.2", prio=150, ports="40000-40099"),
    "b": dict(name="r2", lan="192.168.1.12", wan="203.0.113.12", sync="10.0.99.2",
              peer="10.0.99.1", prio=100, ports="40100-40199"),
}
ENGINES = ("kernel", "inline", "proxy", "proxy-nosnat")
# proxy-nosnat: the proxy with the router's own traffic not SNATed (only forwarded
# traffic is): its control connections leave from the router's own WAN address.
ONLY_GRACEFUL = ("proxy-nosnat",)
TRANSITIONS = ("graceful", "failback", "crash", "failback-crash", "restart")
ONLY_INLINE = ("restart",)   # ftpalgd restarted on the master, no failover
BIGFILE, BIGSIZE = "f16m.bin", 16 << 20
RATE = 5 << 19            # bytes/s the in-flight downloads read (2.5 MiB/s): 6.4 s each
QUEUE = 0
DEADLINE_S = 420          # the whole run, at most

SESSIONS = [
    # name, source, steps before the transition (the last touches READY), steps after
    ("xfer-pasv", CLIENT_SAME, ["get:%s:EPSV:%d:READY" % (BIGFILE, RATE)],
     ["wait:GO", "list:EPSV"]),
    ("xfer-port", CLIENT_LEN, ["get:%s:PORT:%d:READY" % (BIGFILE, RATE)],
     ["wait:GO", "list:PASV", "list:PORT"]),
    ("ctl-len", CLIENT_LEN, ["list:PORT", "touch:READY", "wait:GO"],
     ["noop", "list:PASV", "list:PORT"]),
    ("ctl-same", CLIENT_SAME, ["list:EPRT", "touch:READY", "wait:GO"],
     ["noop", "list:PASV", "list:EPRT"]),
    ("pin-pasv", CLIENT_SAME, ["announce:PASV", "touch:READY", "wait:GO"], ["use"]),
    ("pin-eprt", CLIENT_SAME, ["announce:EPRT", "touch:READY", "wait:GO"], ["use"]),
]

# What must survive today (counted as checks); the rest of the table is measured and
# reported.  "new" = a new passive session after the transition, "new-act" = active.
MUST = {
    "kernel": {"xfer-pasv", "xfer-port/data", "new", "new-act"},
    # the inline engine resumes connections from their conntrack labels: everything
    "inline": {"xfer-pasv/data", "xfer-pasv", "xfer-port/data", "xfer-port", "ctl-len",
               "ctl-same", "pin-pasv", "pin-eprt", "new", "new-act", "ctl-twice"},
    "proxy": {"new", "new-act"},
    "proxy-nosnat": {"new", "new-act"},
}


class HALab(L.Lab):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        p = self.prefix
        self.ns = {k: p + k for k in ("c", "l", "a", "b", "w", "s")}
        self.links = []             # (ns, name) of every veth end, for leftovers()
        self.master = None
        self.engine = None
        self.daemons = {}           # router -> Popen of ftpalgd

    # ------------------------------------------------------------------ topology
    def veth(self, ns1, n1, ns2, n2, rename1=None, rename2=None):
        a, b = self.prefix + n1, self.prefix + n2
        self.run(None, ["ip", "link", "add", a, "netns", self.ns[ns1], "type", "veth",
                        "peer", "name", b, "netns", self.ns[ns2]])
        if rename1:
            self.run(ns1, ["ip", "link", "set", a, "name", rename1])
            a = rename1
        if rename2:
            self.run(ns2, ["ip", "link", "set", b, "name", rename2])
            b = rename2
        self.links += [(ns1, a), (ns2, b)]
        return a, b

    def create(self):
        os.makedirs(self.logdir, exist_ok=True)
        os.makedirs(self.cli, exist_ok=True)
        self.cmdlog = open(os.path.join(self.logdir, "commands.log"), "a")
        for key in ("c", "l", "a", "b", "w", "s"):
            name = self.ns[key]
            if name in self.netns_list():
                raise L.LabError("namespace %s exists already" % name)
            self.run(None, ["ip", "netns", "add", name])
            self.created.append(name)
            self.run(key, ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])
            self.run(key, ["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"])
            self.run(key, ["ip", "link", "set", "lo", "up"])
        for br in ("l", "w"):
            self.run(br, ["ip", "link", "add", "br0", "type", "bridge", "stp_state", "0",
                          "forward_delay", "0", "mcast_snooping", "0"])
            self.run(br, ["ip", "link", "set", "br0", "up"])
        ports = [self.veth("c", "c", "l", "lc", rename1="lan")[1]]
        for r in ("a", "b"):
            ports.append(self.veth(r, r + "l", "l", "l" + r, rename1="lan")[1])
        for lp in ports:
            self.run("l", ["ip", "link", "set", lp, "master", "br0", "up"])
        ports = [self.veth("s", "s", "w", "ws", rename1="wan")[1]]
        for r in ("a", "b"):
            ports.append(self.veth(r, r + "w", "w", "w" + r, rename1="wan")[1])
        for wp in ports:
            self.run("w", ["ip", "link", "set", wp, "master", "br0", "up"])
        self.veth("a", "ay", "b", "by", rename1="sync", rename2="sync")
        cmds = [
            ("c", ["ip", "addr", "add", CLIENT_SAME + "/16", "dev", "lan"]),
            ("c", ["ip", "addr", "add", CLIENT_LEN + "/16", "dev", "lan"]),
            ("c", ["ip", "link", "set", "lan", "up"]),
            ("c", ["ip", "route", "add", "default", "via", VIP_LAN]),
            ("s", ["ip", "addr", "add", SERVER + "/24", "dev", "wan"]),
            ("s", ["ip", "link", "set", "wan", "up"]),
        ]
        for r, d in ROUTERS.items():
            cmds += [
                (r, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]),
                (r, ["ip", "addr", "add", d["lan"] + "/16", "dev", "lan"]),
                (r, ["ip", "addr", "add", d["wan"] + "/24", "dev", "wan"]),
                (r, ["ip", "addr", "add", d["sync"] + "/30", "dev", "sync"]),
                (r, ["ip", "link", "set", "lan", "up"]),
                (r, ["ip", "link", "set", "wan", "up"]),
                (r, ["ip", "link", "set", "sync", "up"]),
                # No pickup of mid-stream packets: on a new master, a packet that
                # arrives before conntrackd has committed the connection is dropped
                # (and retransmitted) instead of starting a new, un-NATed entry.
                (r, ["sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_loose=0"]),
            ]
        for ns, argv in cmds:
            self.run(ns, argv)
        for r in ("a", "b"):
            os.makedirs(self.rdir(r), exist_ok=True)
            self.set_firewall(r, "kernel")
            self.start_conntrackd(r)
            self.start_keepalived(r)

    def rdir(self, r):
        return os.path.join(self.tmp, ROUTERS[r]["name"])

    def leftovers(self):
        left = [n for n in self.netns_list() if n in self.ns.values()]
        r = subprocess.run(["ip", "-o", "link", "show"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        for l in r.stdout.splitlines():
            name = l.split(":")[1].strip().split("@")[0] if ":" in l else ""
            if name.startswith(self.prefix):
                left.append("link " + name)
        if os.path.exists(self.tmp):
            left.append("dir " + self.tmp)
        return left

    # ------------------------------------------------------------------ firewall
    def ruleset(self, r, engine, snat_local=True):
        helper = input_extra = forward_extra = ""
        if engine == "kernel":
            helper = """
    ct helper ftp-standard {
        type "ftp" protocol tcp
        l3proto inet
    }
    chain helpers {
        type filter hook prerouting priority filter; policy accept;
        iifname "lan" tcp dport 21 ct helper set "ftp-standard"
    }"""
        else:
            forward_extra = """
        ct mark & 0x%08x == 0x%08x accept""" % (L.PINHOLE_MARK, L.PINHOLE_MARK)
            if engine == "proxy":
                input_extra = """
        ct status dnat accept"""
        snat = ('oifname "wan" ip protocol != vrrp snat ip to %s' % VIP_WAN if snat_local
                else 'iifname "lan" oifname "wan" snat ip to %s' % VIP_WAN)
        return """table inet admin
delete table inet admin
table inet admin {
    chain input {
        type filter hook input priority filter; policy drop;
        iif "lo" accept
        ct state established,related accept
        ct state invalid drop
        meta l4proto icmp accept
        ip protocol vrrp accept
        iifname "sync" accept
        iifname "lan" accept%s
    }
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        ct state invalid drop
        iifname "lan" oifname "wan" accept%s
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        %s
    }%s
}
""" % (input_extra, forward_extra, snat, helper)

    def set_firewall(self, r, engine, snat_local=True):
        self.run(r, ["nft", "-f", "-"], stdin_data=self.ruleset(r, engine, snat_local))
        self.run(r, ["iptables", "-w", "-F", "FORWARD"], check=False)
        if engine == "inline":
            self.run(r, ["iptables", "-w", "-I", "FORWARD", "-p", "tcp", "-m", "multiport",
                         "--ports", "21", "-j", "NFQUEUE", "--queue-num", str(QUEUE),
                         "--queue-bypass"])

    # ------------------------------------------------------------------ conntrackd
    def ctd_paths(self, r):
        d = self.rdir(r)
        return dict(conf=os.path.join(d, "conntrackd.conf"), lock=os.path.join(d, "ctd.lock"),
                    sock=os.path.join(d, "ctd.ctl"), log=os.path.join(self.logdir,
                                                                      "conntrackd-%s.log" % r))

    def start_conntrackd(self, r):
        d, p = ROUTERS[r], self.ctd_paths(r)
        ignore = "".join("\n                IPv4_address %s" % a for a in (
            "127.0.0.1", ROUTERS["a"]["lan"], ROUTERS["a"]["wan"],
            ROUTERS["b"]["lan"], ROUTERS["b"]["wan"], "10.0.99.0/30"))
        with open(p["conf"], "w") as f:
            f.write("""# conntrackd on %(name)s (lab): FTFW over UDP on the sync link
Sync {
    Mode FTFW {
        ResendQueueSize 131072
        PurgeTimeout 60
        ACKWindowSize 300
        DisableExternalCache no
    }
    UDP {
        IPv4_address %(sync)s
        IPv4_Destination_Address %(peer)s
        Port 3780
        Interface sync
        SndSocketBuffer 1249280
        RcvSocketBuffer 1249280
        Checksum on
    }
    Options {
        TCPWindowTracking no
        ExpectationSync on
    }
}
General {
    Systemd no
    HashSize 8192
    HashLimit 65536
    LogFile %(log)s
    Syslog no
    LockFile %(lock)s
    UNIX {
        Path %(sock)s
    }
    NetlinkBufferSize 2097152
    NetlinkBufferSizeMaxGrowth 8388608
    NetlinkEventsReliable no
    Filter From Userspace {
        Protocol Accept {
            TCP
        }
        Address Ignore {%(ignore)s
        }
    }
}
""" % dict(d, log=p["log"], lock=p["lock"], sock=p["sock"], ignore=ignore))
        for path in (p["lock"], p["sock"]):
            if os.path.exists(path):
                os.unlink(path)
        self.spawn("conntrackd-" + r, r, ["conntrackd", "-C", p["conf"]],
                   os.path.join(self.logdir, "conntrackd-%s.out" % r))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.ctd(r, "-s", check=False).ok:
                return
            time.sleep(0.1)
        raise L.LabError("conntrackd on %s does not answer" % d["name"])

    def ctd(self, r, *args, check=True):
        return self.run(r, ["conntrackd", "-C", self.ctd_paths(r)["conf"]] + list(args),
                        timeout=10, check=check)

    # ------------------------------------------------------------------ keepalived
    def start_keepalived(self, r):
        d, dr = ROUTERS[r], self.rdir(r)
        script = os.path.join(dr, "primary-backup.sh")
        conf = self.ctd_paths(r)["conf"]
        with open(script, "w") as f:
            # conntrackd's documented primary-backup.sh, with this router's files
            f.write("""#!/bin/sh
C="conntrackd -C %(conf)s"
echo "$(date +%%s.%%N) $1" >> %(log)s
case "$1" in
primary)
    $C -c || echo "conntrackd -c failed" >> %(log)s   # commit the external cache
    $C -c expect                            # and the expectations (1.4.7: not by -c)
    $C -f                                   # flush the internal and external caches
    $C -R                                   # resync the internal cache with the kernel
    $C -B                                   # bulk update to the backup
    ;;
backup)
    $C -s >/dev/null || echo "conntrackd not running" >> %(log)s
    $C -t                                   # shorten the kernel timers (zombie entries)
    $C -n                                   # ask the master for a resync
    ;;
fault)
    $C -t
    ;;
esac
exit 0
""" % dict(conf=conf, log=os.path.join(self.logdir, "transitions-%s.log" % r)))
        os.chmod(script, 0o755)
        kconf = os.path.join(dr, "keepalived.conf")
        vips = {"LAN": ("lan", 51, VIP_LAN + "/16"), "WAN": ("wan", 52, VIP_WAN + "/24")}
        inst = "".join("""
vrrp_instance %s {
    state BACKUP
    interface %s
    virtual_router_id %d
    priority %d
    advert_int 0.5
    virtual_ipaddress {
        %s dev %s
    }
}
""" % (name, dev, vrid, d["prio"], vip, dev) for name, (dev, vrid, vip) in vips.items())
        with open(kconf, "w") as f:
            f.write("""# keepalived on %(name)s (lab)
global_defs {
    router_id %(name)s
    vrrp_version 3
    script_user root
    enable_script_security
    vrrp_garp_master_delay 1
    vrrp_garp_master_repeat 3
    vrrp_garp_lower_prio_repeat 1
}
vrrp_sync_group G1 {
    group {
        LAN
        WAN
    }
    notify_master "%(script)s primary"
    notify_backup "%(script)s backup"
    notify_fault "%(script)s fault"
}
%(inst)s""" % dict(name=d["name"], script=script, inst=inst))
        self.spawn("keepalived-" + r, r,
                   ["keepalived", "-n", "-l", "-D", "-P", "-f", kconf,
                    "-p", os.path.join(dr, "keepalived.pid"),
                    "-r", os.path.join(dr, "vrrp.pid"), "-c", os.path.join(dr, "checkers.pid")],
                   os.path.join(self.logdir, "keepalived-%s.log" % r))

    def has_vip(self, r):
        res = self.run(r, ["ip", "-4", "-o", "addr", "show"], check=False)
        return (" %s/" % VIP_WAN) in res.out and (" %s/" % VIP_LAN) in res.out

    def has_any_vip(self, r):
        res = self.run(r, ["ip", "-4", "-o", "addr", "show"], check=False)
        return (" %s/" % VIP_WAN) in res.out or (" %s/" % VIP_LAN) in res.out

    def wait_master(self, r, timeout=20.0):
        """Seconds until r holds both VIPs and the other router none, or None."""
        other = "b" if r == "a" else "a"
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.has_vip(r) and not self.has_any_vip(other):
                self.master = r
                return time.monotonic() - t0
            time.sleep(0.05)
        return None

    # ------------------------------------------------------------------ ftpalgd
    def start_ftpalgd(self, r, engine):
        dr = self.rdir(r)
        conf = os.path.join(dr, "ftpalgd.conf")
        common = """data-ports = %s
pinhole-timeout = 30
pinhole-mark = 0x%08x
log-level = debug
control-socket = %s
pidfile = %s
""" % (ROUTERS[r]["ports"], L.PINHOLE_MARK, os.path.join(dr, "ftpalgd.sock"),
            os.path.join(dr, "ftpalgd.pid"))
        with open(conf, "w") as f:
            if engine == "inline":
                f.write("engine = inline\nqueue-num = %d\nfail-open = yes\n" % QUEUE + common)
            else:
                f.write("listen = %d\nintercept-interface = lan\ncontrol-ports = 21\n"
                        % L.DAEMON_PORT + common)
        p = self.spawn("ftpalgd-" + r, r, [L.DAEMON, "-d", "-f", conf],
                       os.path.join(self.logdir, "ftpalgd-%s.log" % r))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if p.poll() is not None:
                raise L.LabError("ftpalgd on %s exited (%s)" % (r, p.returncode))
            tables = self.run(r, ["nft", "list", "tables"], check=False).out
            if "ftpalg" in tables:
                if engine == "proxy" and not self.wait_listen(r, L.DAEMON_PORT, timeout=0.1):
                    continue
                return
            time.sleep(0.05)
        raise L.LabError("ftpalgd on %s did not start" % r)

    def stop_ftpalgd(self, r):
        self.stop("ftpalgd-" + r, 3.0)
        self.run(r, ["nft", "delete", "table", "inet", "ftpalg"], check=False)

    def set_engine(self, engine):
        for r in ("a", "b"):
            self.stop_ftpalgd(r)
            if engine == "proxy-nosnat":
                self.set_firewall(r, "proxy", snat_local=False)
            else:
                self.set_firewall(r, engine)
            self.run(r, ["conntrack", "-F"], check=False)
            self.run(r, ["conntrack", "-F", "expect"], check=False)
            self.ctd(r, "-f", check=False)
        for r in ("a", "b"):
            if engine != "kernel":
                self.start_ftpalgd(r, "inline" if engine == "inline" else "proxy")
        self.engine = engine

    def count_log(self, pattern):
        """Lines matching pattern in both routers' ftpalgd logs, so far."""
        import re
        rx, n = re.compile(pattern), 0
        for r in ("a", "b"):
            try:
                with open(os.path.join(self.logdir, "ftpalgd-%s.log" % r), errors="replace") as f:
                    n += sum(1 for line in f if rx.search(line))
            except OSError:
                pass
        return n

    def dump(self, r, tag):
        """The new master's conntrack tables, for the logs."""
        with open(os.path.join(self.logdir, "ct-%s-%s.txt" % (tag, r)), "w") as f:
            for argv in (["conntrack", "-L"], ["conntrack", "-L", "expect"]):
                f.write("# %s\n%s\n" % (" ".join(argv), self.run(r, argv, check=False).out))

    # ------------------------------------------------------------------ the backup opens nothing
    def opened(self, r):
        """What router r lets through for FTP data: pinhole elements, marked
        connections, kernel expectations, as a set of keys."""
        import re
        keys = set()
        tup = re.compile(r"src=\S+ dst=\S+ sport=\d+ dport=\d+")
        if self.engine != "kernel":
            for kind, s in (("set", "pin4"), ("map", "dnat4")):
                res = self.run(r, ["nft", "list", kind, "inet", "ftpalg", s], check=False)
                for m in re.finditer(r"(\d+\.\d+\.\d+\.\d+ \. \d+\.\d+\.\d+\.\d+ \. \d+)",
                                     res.out):
                    keys.add("%s %s" % (s, m.group(1)))
        res = self.run(r, ["conntrack", "-L", "-m", "0x%x/0x%x" % (L.PINHOLE_MARK, L.PINHOLE_MARK)],
                       check=False)
        for line in res.out.splitlines():
            m = tup.search(line)
            if m:
                keys.add("marked " + m.group(0))
        res = self.run(r, ["conntrack", "-L", "expect"], check=False)
        for line in res.out.splitlines():
            m = tup.search(line)
            if m:
                keys.add("expect " + m.group(0))
        return keys


def parse_session(path):
    """(exit status known?, steps: list of (idx, name, ok, detail))."""
    steps = []
    done = False
    try:
        with open(path, errors="replace") as f:
            for line in f:
                parts = line.split(None, 4)
                if parts and parts[0] == "done":
                    done = True
                if len(parts) >= 4 and parts[0] == "step":
                    ok = parts[3] == "ok"
                    detail = parts[4].strip() if len(parts) > 4 else ""
                    steps.append((int(parts[1]), parts[2], ok, detail))
    except OSError:
        pass
    return done, steps


class Runner:
    def __init__(self, lab, args):
        self.lab = lab
        self.args = args
        self.passed = self.failed = 0
        self.lines = []
        self.table = {}        # (engine, transition) -> {session: (ok, why)}
        self.times = {}        # (engine, transition) -> dict
        self.t_start = time.monotonic()
        self.twice = {}        # engine -> (proc, out, go2): the session across two transitions

    def note(self, msg):
        self.lines.append(msg)
        if self.args.verbose:
            print(msg, flush=True)

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        msg = "%s %s%s" % ("PASS" if ok else "FAIL", what, (": " + detail) if detail else "")
        self.note(msg)
        if not ok and not self.args.verbose:
            print(msg, flush=True)      # a failure is always shown (run-labs.sh repeats it)
        return ok

    def hacli(self, source, steps, timeout=10):
        return [L.PY, HACLI, "--host", SERVER, "--source", source, "--timeout", str(timeout),
                "--size", str(BIGSIZE)] + steps

    def kept_lines(self, r):
        """The ftpalgd log's lines on gateway ports kept at start-up for resumed pinholes."""
        try:
            with open(os.path.join(self.lab.logdir, "ftpalgd-%s.log" % r), errors="replace") as f:
                return [ln for ln in f if "kept for pinholes announced" in ln]
        except OSError:
            return []

    def new_session(self, dmode, source, timeout=3):
        r = self.lab.run("c", self.hacli(source, ["list:" + dmode], timeout=timeout),
                         timeout=timeout * 4 + 5, check=False)
        return r.ok, r.out.strip().splitlines()[-1:] if r.out.strip() else r.why()

    def transition(self, engine, kind):
        lab = self.lab
        frm, to = (("a", "b") if kind in ("graceful", "crash") else
                   ("a", "a") if kind == "restart" else ("b", "a"))
        tag = "%s-%s" % (engine, kind)
        d = os.path.join(lab.cli, tag)
        os.makedirs(d, exist_ok=True)
        go = os.path.join(d, "GO")
        if lab.wait_master(frm, 15) is None:
            self.check(False, "%s: %s is master before the transition" % (tag, ROUTERS[frm]["name"]))
            return
        time.sleep(1.0)         # the backup's conntrackd has settled after the last change
        before = lab.opened(to)     # what the backup still holds from its own time as master
        procs = {}
        for name, src, pre, post in SESSIONS:
            ready = os.path.join(d, name + ".ready")
            steps = [s.replace("READY", ready).replace("GO", go) for s in pre + post]
            out = os.path.join(d, name + ".out")
            procs[name] = (lab.spawn("cli-%s-%s" % (tag, name), "c", self.hacli(src, steps), out),
                           ready, out, len(pre))
        if kind in ("graceful", "crash"):
            # One more session lives through this failover and the failback after it,
            # with a length-changing PORT on each router: the old master, master again,
            # must not go on from its own (older) state.
            go2 = os.path.join(d, "GO2")
            ready = os.path.join(d, "ctl-twice.ready")
            out = os.path.join(d, "ctl-twice.out")
            steps = ["list:PORT", "touch:" + ready, "wait:" + go, "list:PORT", "noop",
                     "wait:" + go2, "noop", "list:PORT", "list:PASV"]
            p = lab.spawn("cli-%s-twice" % tag, "c", self.hacli(CLIENT_LEN, steps, timeout=10), out)
            self.twice[engine] = (p, out, go2, "cli-%s-twice" % tag)
            procs["ctl-twice"] = (p, ready, out, None)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if all(os.path.exists(p[1]) or p[0].poll() is not None for p in procs.values()):
                break
            time.sleep(0.05)
        not_ready = [n for n, p in procs.items() if not os.path.exists(p[1])]
        # Only what this gateway must carry across is a failure.  The kernel helper's
        # own sessions after a failback meet conntrack entries conntrackd committed
        # for its old data connections (ha.md: "Gateway ports that conntrack still
        # holds"), and one of them may fail before the transition: noted, as measured.
        must = [n for n in not_ready if n in MUST[engine]]
        self.check(not must, "%s: sessions reached their point before the transition" % tag,
                   ", ".join(must))
        for n in not_ready:
            if n not in must:
                self.note("     %s: %s did not reach its point before the transition "
                          "(not required of %s)" % (tag, n, engine))
        time.sleep(0.5)          # conntrackd has sent the state of what just happened
        # pinholes and marks exist on the master only
        if frm != to:
            new = sorted(lab.opened(to) - before)
            master_has = lab.opened(frm)
            self.check(not new, "%s: the backup %s opened nothing while the master did "
                       "(master: %d)" % (tag, ROUTERS[to]["name"], len(master_has)),
                       "; ".join(new[:3]))
        t0 = time.monotonic()
        kept_before = len(self.kept_lines("a"))
        if kind == "restart":
            # ftpalgd stopped and started again on the master: no failover at all
            lab.stop_ftpalgd("a")
            lab.start_ftpalgd("a", "inline")
        elif kind == "graceful":
            lab.stop("keepalived-a", 5.0)
        elif kind == "failback":
            lab.start_keepalived("a")
        elif kind == "crash":
            for dev in ("lan", "wan", "sync"):
                lab.run("a", ["ip", "link", "set", dev, "down"])
        else:
            for dev in ("lan", "wan", "sync"):
                lab.run("a", ["ip", "link", "set", dev, "up"])
        t_vip = lab.wait_master(to, 20)
        wall_vip = time.time()
        time.sleep(0.3)
        lab.dump(to, tag)
        self.check(t_vip is not None, "%s: %s takes both VIPs" % (tag, ROUTERS[to]["name"]))
        # new sessions, passive and active, each retried until it works (bounded)
        t_new = {}
        why = {}
        while time.monotonic() - t0 < 15 and len(t_new) < 2:
            for key, dmode, src in (("new", "EPSV", CLIENT_SAME), ("new-act", "PORT", CLIENT_LEN)):
                if key not in t_new:
                    ok, why[key] = self.new_session(dmode, src)
                    if ok:
                        t_new[key] = time.monotonic() - t0
            time.sleep(0.1)
        open(go, "w").close()
        res = {k: (k in t_new, "" if k in t_new else str(why.get(k))) for k in ("new", "new-act")}
        # the sessions that ran across the transition
        deadline = time.monotonic() + 45
        twice = None
        if kind.startswith("failback") and engine in self.twice:
            p, out, go2, pname = self.twice.pop(engine)
            open(go2, "w").close()
            twice = (p, out, pname)
        for name, (p, ready, out, npre) in list(procs.items()) + (
                [("ctl-twice", (twice[0], None, twice[1], twice[2]))] if twice else []):
            if name == "ctl-twice" and npre is None:
                continue         # reported after the failback that follows
            if name == "ctl-twice":
                # the session is reported here, after both transitions
                tagname = npre
            else:
                tagname = "cli-%s-%s" % (tag, name)
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            lab.stop(tagname, 1.0)
            done, steps = parse_session(out)
            bad = [s for s in steps if not s[2]]
            ok = done and not bad
            why = ""
            if bad:
                why = "%s: %s" % (bad[0][1], bad[0][3])
            elif not done:
                why = "hung after step %d" % (steps[-1][0] if steps else 0)
            for s in steps:
                if s[1] == "get" and s[2] and float(s[3].split()[0]) < wall_vip:
                    self.check(False, "%s: %s ended before the VIPs moved: it did not "
                               "span the transition" % (tag, name))
                if s[1] == "get" and s[2]:
                    f = dict(kv.split("=", 1) for kv in s[3].split() if "=" in kv)
                    if f.get("sha256") != lab.hashes[BIGFILE]:
                        ok, why = False, "download corrupt (%s bytes)" % f.get("bytes")
                    else:
                        why = (why + " " if why else "") + "stall %ss" % f.get("stall")
            res[name] = (ok, why)
            if name.startswith("xfer"):
                got = [st for st in steps if st[1] == "get"]
                stall = why[why.find("stall"):] if "stall" in why else why
                res[name + "/data"] = (bool(got) and got[0][2] and "corrupt" not in why, stall)
        if kind == "restart":
            # pin-eprt's port is kept from new sessions until it is opened again: drawn
            # for new-act meanwhile, both servers would be sent to one client (a 425)
            kept = self.kept_lines("a")[kept_before:]
            n = int(kept[-1].split("inline: ")[1].split()[0]) if kept else 0
            self.check(n >= 1, "%s: the restarted ftpalgd kept the gateway port of the "
                       "EPRT announced before it" % tag, kept[-1] if kept else "no such line")
        self.table[(engine, kind)] = res
        self.times[(engine, kind)] = dict(vip=t_vip, new=t_new.get("new"),
                                           new_act=t_new.get("new-act"))
        for name, (ok, why) in sorted(res.items()):
            if name in MUST[engine]:
                self.check(ok, "%s: %s works" % (tag, name), why)
            else:
                self.note("     %s: %s %s%s" % (tag, name, "survived" if ok else "lost",
                                                 (" (" + why + ")") if why else ""))
        self.note("     %s: VIPs moved in %s s, a new session worked after %s s" % (
            tag, "%.1f" % t_vip if t_vip is not None else "-",
            "%.1f" % t_new["new"] if "new" in t_new else "-"))

    def run(self):
        lab = self.lab
        lab.create()
        lab.make_files(big=False)
        path = os.path.join(lab.srv, BIGFILE)
        with open(path, "wb") as f:
            for _ in range(BIGSIZE >> 20):
                f.write(os.urandom(1 << 20))
        os.chmod(path, 0o644)
        lab.hashes[BIGFILE] = L.sha256(path)
        t = lab.wait_master("a", 20)
        self.check(t is not None, "r1 becomes master at start")
        lab.start_servers(which=("vsftpd",), families=("4",))
        if self.args.pcap:
            # diagnosis: the server's and the client's view of every connection
            for ns in ("s", "c"):
                lab.spawn("tcpdump-" + ns, ns, ["tcpdump", "-U", "-s", "128", "-w",
                                                os.path.join(lab.logdir, "%s.pcap" % ns), "-i", "any", "tcp"],
                          os.path.join(lab.logdir, "tcpdump-%s.log" % ns))
        redrawn = 0
        for engine in self.args.engines:
            lab.set_engine(engine)
            for kind in self.args.transitions:
                if engine in ONLY_GRACEFUL and kind != "graceful":
                    continue
                if kind in ONLY_INLINE and engine != "inline":
                    continue
                if time.monotonic() - self.t_start > DEADLINE_S:
                    self.check(False, "run deadline of %d s reached before %s %s" % (
                        DEADLINE_S, engine, kind))
                    return
                self.transition(engine, kind)
            # how often an engine had to pass over a gateway port that conntrack
            # still held (gw_alloc_port_ct): the case the small port ranges provoke
            n = lab.count_log("gateway port .* drawing another") - redrawn
            redrawn += n
            if engine != "kernel":
                self.note("     %s: %d gateway ports drawn again (conntrack still held them)"
                          % (engine, n))
            # the next engine starts with r1 master and its links up
            if not lab.has_vip("a"):
                for dev in ("lan", "wan", "sync"):
                    lab.run("a", ["ip", "link", "set", dev, "up"], check=False)
                if "keepalived-a" not in lab.procs:
                    lab.start_keepalived("a")
                lab.wait_master("a", 15)

    COLUMNS = [("xfer-pasv/data", "EPSV download"), ("xfer-pasv", "its session"),
               ("xfer-port/data", "PORT download"), ("xfer-port", "its session"),
               ("ctl-len", "idle session, length changed"), ("ctl-same", "idle session, same length"),
               ("pin-pasv", "PASV announced, unused"), ("pin-eprt", "EPRT announced, unused"),
               ("ctl-twice", "across failover and failback")]

    def write_table(self):
        """Survived (yes) or lost (no) per engine x transition; times from the trigger."""
        out = ["| engine | transition | VIPs moved | new passive | new active | " +
               " | ".join(t for _, t in self.COLUMNS) + " |",
               "|---|---|---|---|---|" + "---|" * len(self.COLUMNS)]

        def secs(v):
            return "%.1f s" % v if v is not None else "never"
        for (engine, kind), res in self.table.items():
            t = self.times[(engine, kind)]
            cells = [("yes" if res[n][0] else "no") if n in res else "-" for n, _ in self.COLUMNS]
            out.append("| %s | %s | %s | %s | %s | %s |" % (
                engine, kind, secs(t["vip"]), secs(t["new"]), secs(t["new_act"]),
                " | ".join(cells)))
        return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--transitions", default=",".join(TRANSITIONS))
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--pcap", action="store_true", help="capture in the client and server "
                    "namespaces (build/lab/ha-logs/*.pcap), for diagnosis")
    a = ap.parse_args()
    a.engines = [e for e in a.engines.split(",") if e]
    a.transitions = [t for t in a.transitions.split(",") if t]
    L.require_root("make check")
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(LABOUT, exist_ok=True)
    result = os.path.join(OUT, "ha.txt")
    with open(result, "w") as f:
        f.write("passed=0 failed=1\n")       # until the run says otherwise
    for tool in ("keepalived", "conntrackd", "conntrack", "vsftpd", "nft", "iptables"):
        if shutil.which(tool) is None:
            print("ha: %s missing: run scripts/install-deps.sh" % tool, file=sys.stderr)
            return 2
    lab = HALab(verbose=False)
    L.install_signal_handlers(lab)
    runner = Runner(lab, a)
    keep = os.path.join(LABOUT, "ha-logs")
    interrupted = None
    try:
        runner.run()
    except Exception as e:      # a broken lab is a failure, with the reason
        runner.check(False, "lab", "%s: %s" % (type(e).__name__, e))
        runner.note(traceback.format_exc())
    except (KeyboardInterrupt, SystemExit) as e:
        # Ctrl-C, SIGTERM, SIGHUP: a failed run, torn down like any other
        interrupted = 130 if isinstance(e, KeyboardInterrupt) else e.code
        runner.check(False, "lab", "interrupted (%s)" % (
            "SIGINT" if isinstance(e, KeyboardInterrupt) else "signal, status %s" % e.code))
    finally:
        lab.destroy(keep_logs_to=keep)
    left = lab.leftovers()
    runner.check(not left, "nothing left behind", ", ".join(left))
    table = runner.write_table()
    with open(os.path.join(LABOUT, "ha-table.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(LABOUT, "ha.log"), "w") as f:
        f.write("\n".join(runner.lines) + "\n\n" + table + "\n")
    with open(result, "w") as f:
        f.write("passed=%d failed=%d\n" % (runner.passed, runner.failed))
    print(table)
    print("ha: passed=%d failed=%d (%.0f s; log build/lab/ha.log, daemons' logs %s)" % (
        runner.passed, runner.failed, time.monotonic() - runner.t_start, keep))
    if interrupted is not None:
        return interrupted
    return 0 if runner.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
