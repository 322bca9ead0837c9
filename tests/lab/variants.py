#!/usr/bin/python3
"""variants.py - deployments the main matrix does not cover, in the same lab:

  tproxy    ftpalgd with `mode = tproxy`: an nft tproxy rule and policy routing
            deliver port 21 to it (docs/deployment.md, "TPROXY instead of redirect")
  iptables  the router's whole firewall in iptables-nft (no nft admin table), with
            exactly the rules docs/deployment.md gives for iptables-nft
  strict    a firewall that lets only FTP control (tcp/21) out of the LAN: passive
            transfers need a pinhole too; compared with no gateway and the kernel helper
  routed6   IPv6 routed without NAT, as most IPv6 networks are (IPv4 still masqueraded),
            behind the same default-drop forward chain: the server sees the client's own
            address; no gateway (EPRT blocked), the kernel helper, the proxy and the
            inline engine (NFQUEUE rules as docs/inline.md gives them)

Each cell: a real transfer (curl against vsftpd) with sha256, and the expected
outcome.  Writes build/results/variants.txt `passed=N failed=M`.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lab as L                                    # noqa: E402
import inline as I                                 # noqa: E402
from clients import Job, run_job                   # noqa: E402

OUT = os.path.join(L.REPO, "build", "results")
MARK = L.PINHOLE_MARK
JOBS = [("4", "EPSV"), ("4", "PORT"), ("6", "EPSV"), ("6", "EPRT")]


class VariantDaemon(L.Daemon):
    """ftpalgd with a configuration of the variant's own (no intercept-interface)."""

    def __init__(self, lab, body):
        super().__init__(lab)
        self.body = body

    def write_conf(self):
        with open(self.conf, "w") as f:
            f.write("listen = %d\ncontrol-ports = 21\ndata-ports = %s\npinhole-mark = 0x%08x\n"
                    "log-level = debug\ncontrol-socket = %s\npidfile = %s\n%s"
                    % (L.DAEMON_PORT, L.DATA_PORTS, MARK, self.sock, self.pidfile, self.body))


def nft_admin(lab, forward_new, extra_forward="", extra="", helper=False, masq=""):
    """The admin's nft firewall with a configurable rule for new LAN->WAN traffic
    (masq: a match that limits the masquerade, e.g. to IPv4)."""
    lan, wan = lab.if_rl, lab.if_rw
    helpers = ""
    if helper:
        helpers = """
    ct helper ftp-standard {
        type "ftp" protocol tcp
        l3proto inet
    }
    chain helpers {
        type filter hook prerouting priority filter; policy accept;
        iifname "%s" tcp dport 21 ct helper set "ftp-standard"
    }""" % lan
    lab.nft("""table inet admin
delete table inet admin
table inet admin {
    chain input {
        type filter hook input priority filter; policy drop;
        iif "lo" accept
        ct state established,related accept
        meta l4proto { icmp, ipv6-icmp } accept
        iifname "%(lan)s" accept
    }
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        iifname "%(lan)s" oifname "%(wan)s" %(new)s accept%(extra_forward)s
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "%(wan)s" %(masq)smasquerade
    }%(helpers)s
}
%(extra)s""" % dict(lan=lan, wan=wan, new=forward_new, extra_forward=extra_forward,
                    helpers=helpers, extra=extra, masq=masq + " " if masq else ""))
    lab.flush_conntrack()


PINHOLE_ACCEPT = "\n        ct mark & 0x%08x == 0x%08x accept" % (MARK, MARK)


def setup_tproxy(lab):
    nft_admin(lab, "", PINHOLE_ACCEPT, extra="""
table inet ftp_tproxy
delete table inet ftp_tproxy
table inet ftp_tproxy {
    chain prerouting {
        type filter hook prerouting priority mangle; policy accept;
        meta nfproto ipv4 iifname "%(lan)s" tcp dport 21 tproxy ip to :%(port)d meta mark set 0x1 accept
        meta nfproto ipv6 iifname "%(lan)s" tcp dport 21 tproxy ip6 to :%(port)d meta mark set 0x1 accept
    }
}""" % dict(lan=lab.if_rl, port=L.DAEMON_PORT))
    for fam, dst in (("-4", "0.0.0.0/0"), ("-6", "::/0")):
        lab.run("r", ["ip", fam, "rule", "add", "fwmark", "0x1", "lookup", "100"])
        lab.run("r", ["ip", fam, "route", "add", "local", dst, "dev", "lo", "table", "100"])
    return "mode = tproxy\n"


def setup_iptables(lab):
    lan, wan, port = lab.if_rl, lab.if_rw, str(L.DAEMON_PORT)
    lab.run("r", ["nft", "delete", "table", "inet", "admin"], check=False)
    for ipt in ("iptables", "ip6tables"):
        for argv in (
            ["-P", "INPUT", "DROP"], ["-P", "FORWARD", "DROP"],
            ["-A", "INPUT", "-i", "lo", "-j", "ACCEPT"],
            ["-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
            ["-A", "INPUT", "-p", "ipv6-icmp" if ipt == "ip6tables" else "icmp", "-j", "ACCEPT"],
            # docs/deployment.md, iptables-nft: 1. redirect, 2. input, 3. pinholes
            ["-t", "nat", "-A", "PREROUTING", "-i", lan, "-p", "tcp", "--dport", "21",
             "-j", "REDIRECT", "--to-ports", port],
            ["-A", "INPUT", "-i", lan, "-p", "tcp", "--dport", port, "-j", "ACCEPT"],
            ["-A", "FORWARD", "-m", "connmark", "--mark", "0x%08x/0x%08x" % (MARK, MARK),
             "-j", "ACCEPT"],
            ["-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
            ["-A", "FORWARD", "-i", lan, "-o", wan, "-j", "ACCEPT"],
            ["-t", "nat", "-A", "POSTROUTING", "-o", wan, "-j", "MASQUERADE"],
        ):
            lab.run("r", [ipt] + argv)
    lab.flush_conntrack()
    return ""


def teardown_iptables(lab):
    for ipt in ("iptables", "ip6tables"):
        for argv in (["-t", "nat", "-F"], ["-F"], ["-P", "INPUT", "ACCEPT"],
                     ["-P", "FORWARD", "ACCEPT"]):
            lab.run("r", [ipt] + argv, check=False)


def setup_strict(lab, mode):
    """Only FTP control may leave the LAN; everything else needs the gateway."""
    if mode == "none":
        nft_admin(lab, "tcp dport 21")
    elif mode == "kernel":
        nft_admin(lab, "tcp dport 21", helper=True)
    else:
        nft_admin(lab, "tcp dport 21", PINHOLE_ACCEPT + "\n        ct status dnat accept")
    return "intercept-interface = %s\n" % lab.if_rl


def setup_routed6(lab, mode):
    """IPv6 without NAT: the server routes the client's prefix back via the router."""
    if not getattr(lab, "routed6", False):
        lab.run("s", ["ip", "-6", "route", "add", L.CLIENT6.rsplit(":", 1)[0] + ":/64",
                      "via", L.RWAN6])
        lab.routed6 = True
    nft_admin(lab, "", helper=mode == "kernel", masq="meta nfproto ipv4",
              extra_forward=PINHOLE_ACCEPT + "\n        ct status dnat accept"
              if mode in ("ftpalgd", "inline") else "")
    if mode == "inline":
        for ipt in ("iptables", "ip6tables"):
            lab.run("r", [ipt, "-w", "-I", "FORWARD", "-p", "tcp", "-m", "multiport", "--ports",
                          "21", "-j", "NFQUEUE", "--queue-num", str(I.QUEUE), "--queue-bypass"])
    return "intercept-interface = %s\n" % lab.if_rl


def teardown_queue(lab):
    for ipt in ("iptables", "ip6tables"):
        lab.run("r", [ipt, "-w", "-F", "FORWARD"], check=False)


def crash_recovery(lab, lines):
    """kill -9 leaves the table (pinholes expire on their own); the next start
    replaces it in one batch and works; a clean stop removes it."""
    import signal
    nft_admin(lab, "", PINHOLE_ACCEPT)
    conf = "intercept-interface = %s\npinhole-timeout = 2\n" % lab.if_rl
    results = []
    d = VariantDaemon(lab, conf)
    lab.daemon = d
    if not d.start():
        return [("crash: first start", False, d.error)]
    # leave an unused pinhole behind: a client that asked PASV and stays connected
    code = ("import ftplib,time,sys; f=ftplib.FTP(); f.connect('%s',21,timeout=5); f.login(); "
            "print(f.sendcmd('PASV'), flush=True); time.sleep(10)" % L.SERVERS["vsftpd"]["4"])
    outf = os.path.join(lab.logdir, "crash-client.log")
    cli = lab.spawn("crash-client", "c", [L.PY, "-c", code], outf)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "227" not in open(outf, errors="replace").read():
        time.sleep(0.05)
    results.append(("crash: PASV before the kill", "227" in open(outf, errors="replace").read(),
                    open(outf, errors="replace").read()[-200:]))
    os.killpg(d.proc.pid, signal.SIGKILL)
    d.proc.wait()
    d.proc = None
    lab.procs.pop("ftpalgd", None)
    tables, _ = lab.nft_tables()
    results.append(("crash: table left by kill -9", "ftpalg" in tables, "tables: %s" % tables))
    pin = lab.run("r", ["nft", "list", "set", "inet", "ftpalg", "pin4"], check=False).out
    had = "elements" in pin
    time.sleep(3)
    pin = lab.run("r", ["nft", "list", "set", "inet", "ftpalg", "pin4"], check=False).out
    results.append(("crash: its unused pinhole expires by itself (2s)", had and "elements" not in pin,
                    "before: %s, after: %s" % (had, pin.strip()[-120:])))
    lab.stop("crash-client")
    d2 = VariantDaemon(lab, conf)
    lab.daemon = d2
    results.append(("crash: restart replaces the stale table", d2.start(), d2.error or ""))
    ok, secs, why = run_job(lab, Job("vsftpd", "curl", "4", "PORT", "get"), "crash", timeout=20)
    results.append(("crash: active transfer after restart", ok, why))
    clean, detail = d2.stop()
    lab.daemon = None
    results.append(("crash: clean stop removes the table", clean, detail))
    return results


def expected(variant, mode, fam, dmode):
    if variant == "strict" and mode == "none":
        return False        # nothing but port 21 gets out, and active cannot get in
    if variant == "routed6" and mode == "none" and dmode in ("PORT", "EPRT"):
        return False        # the server's connection in is dropped by the forward chain
    return True


def main():
    L.require_root("make check")
    os.makedirs(OUT, exist_ok=True)
    lab = L.Lab()
    L.install_signal_handlers(lab)
    passed = failed = 0
    lines = []
    t0 = time.monotonic()
    plan = [("tproxy", "ftpalgd"), ("strict", "none"), ("strict", "kernel"),
            ("strict", "ftpalgd"), ("iptables", "ftpalgd"), ("routed6", "none"),
            ("routed6", "kernel"), ("routed6", "ftpalgd"), ("routed6", "inline")]
    try:
        lab.create()
        lab.make_files(big=False)
        lab.start_servers(which=("vsftpd", "pyftpdlib"))
        for variant, mode in plan:
            if variant == "tproxy":
                conf = setup_tproxy(lab)
            elif variant == "iptables":
                conf = setup_iptables(lab)
            elif variant == "routed6":
                conf = setup_routed6(lab, mode)
            else:
                conf = setup_strict(lab, mode)
            d = None
            if mode in ("ftpalgd", "inline"):
                d = VariantDaemon(lab, conf) if mode == "ftpalgd" else I.InlineDaemon(lab)
                lab.daemon = d
                ok = d.start()
                tag = "%-8s %-8s ftpalgd start" % (variant, mode)
                if ok:
                    passed += 1
                    lines.append("  ok      %s" % tag)
                else:
                    failed += 1
                    lines.append("  FAIL!!  %s: %s" % (tag, d.error))
                    lines.append(d.log_text()[-2000:])
                    continue
            jobs = [(fam, dm, srv, cl) for fam, dm in JOBS for srv, cl in
                    ([("vsftpd", "curl"), ("pyftpdlib", "ftplib")] if variant == "routed6" and
                     fam == "6" else [("vsftpd", "curl")])]
            for fam, dmode, server, client in jobs:
                exp = expected(variant, mode, fam, dmode)
                job = Job(server, client, fam, dmode, "get")
                ok, secs, why = run_job(lab, job, "v%s%s%s%s" % (variant, mode, fam, dmode),
                                        timeout=20 if exp else 6)
                good = ok == exp
                passed += good
                failed += not good
                state = ("ok" if ok else "FAIL*") if good else ("FAIL!!" if exp else "ok!!")
                lines.append("  %-7s %-8s %-8s IPv%s %s RETR 1M %-6s<- %-9s %5.2fs %s" % (
                    state, variant, mode, fam, dmode, client, server, secs, why if not ok else ""))
            if d is not None:
                clean, detail = d.stop()
                lab.daemon = None
                passed += clean
                failed += not clean
                lines.append("  %-7s %-8s %-8s ftpalgd stop: %s" % (
                    "ok" if clean else "FAIL!!", variant, mode, detail))
                if not all(l.startswith("  ok") or "FAIL*" in l for l in lines[-5:]):
                    lines.append(d.log_text()[-3000:])
            if variant == "iptables":
                teardown_iptables(lab)
            if variant == "routed6" and mode == "inline":
                teardown_queue(lab)
        for name, ok, why in crash_recovery(lab, lines):
            passed += ok
            failed += not ok
            lines.append("  %-7s %s%s" % ("ok" if ok else "FAIL!!", name, "" if ok else ": " + why))
    except L.LabError as e:
        failed += 1
        lines.append("  FAIL!!  lab error: %s" % e)
    finally:
        lab.destroy()
    print("variants: deployments beyond the matrix (real transfers, sha256 checked)")
    print("  (FAIL* = fails as expected: the strict firewall without any gateway)")
    for l in lines:
        print(l)
    print("variants: passed=%d failed=%d (%.0fs)" % (passed, failed, time.monotonic() - t0))
    with open(os.path.join(OUT, "variants.txt"), "w") as f:
        f.write("passed=%d failed=%d\n" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
