#!/usr/bin/python3
"""attack.py - hostile peers against the router, for real, in the namespace lab (issue 11).

Same lab as matrix.py (tests/lab/lab.py): client (LAN) -- NAT router -- WAN, forward
policy drop.  On the WAN side a hostile server (203.0.113.5, ports 21 and 2121); on
the LAN a victim service on the client host itself (192.168.1.2:3306) and a
"browser" that a web page makes send an HTTP request to the hostile server
(tests/lab/attack_peers.py has all three).

NAT slipstreaming: the browser sends `POST / HTTP/1.1` + headers, then a body
`USER a` / `PASS b` / `PORT 192,168,1,2,12,234` (or EPRT); the hostile server
answers 331/230/200 and connects to whatever endpoint it was told.  The attack
works if the victim gets a connection from the WAN.  Variants: the request in one
segment, PORT at a segment start, the request sent before the server's greeting,
EPRT; on port 21 and 2121; router modes:
    kernel   the kernel helper (port 21): measured, the baseline of docs/security.md
    proxy    ftpalgd, engine = proxy (control-ports 21,2121)
    inline   ftpalgd, engine = inline (NFQUEUE on 21,2121)
For ftpalgd each attack must fail: no pinhole in `inet ftpalg`, the victim never
reached, one "not FTP" log line naming the request line.  After each attack a
legitimate active-mode session (ftplib or curl against vsftpd, sha256 checked)
must work, so pinholes still open for real FTP.

Real clients stay FTP (no "not FTP" line, transfers work): wget passive and
active, lftp with ftp:sync-mode off (it sends FEAT before the greeting), and the
command sequences of FileZilla (AUTH TLS first, FEAT, OPTS UTF8 ON, CLNT) and
WinSCP (HOST, XSHA256...) with an ABOR sent as Telnet IAC IP/DM urgent data.

Bounce and low ports: a LAN FTP client logged in to the hostile server sends
PORT naming another host (the router's LAN address) or its own port 22 (the
victim also listens there); the hostile server dials what it got.  ftpalgd must
answer 501 itself and nothing may reach the victim; the kernel helper is measured.

Unsolicited 227: the hostile server answers a NOOP with "227 (192,168,1,7,12,234)"
(a LAN host).  Through ftpalgd the client must not get that address.

IPv6 (a dual-stack router; the lab masquerades IPv6 too): the hostile server
also listens on 2001:db8::5, the victim on [fd00:1::2]:3306 and :22 and on
another LAN address, [fd00:1::7]:3306 (deprecated, so never a source address).
  slipstreaming with EPRT |2|fd00:1::2|3306| in the body, one segment, EPRT
    at a segment start, and the request before the greeting, on 21 (and 2121 for
    ftpalgd);
  bounce EPRT |2|fd00:1::7|3306| and low port EPRT |2|fd00:1::2|22|;
  unsolicited 227 naming 192.168.1.7 and unsolicited 229 (|||3306|), answering
    NOOP on an IPv6 control connection.
ftpalgd must refuse them as it does over IPv4 (no pinhole, victim never reached,
a log line); the legitimate session after each is IPv6 (EPRT).  The kernel
helper is measured and printed only: its check asserts that the attack was
carried out (the hostile server got the data command and dialled), not an
outcome.

A test is one check whose outcome matched its expectation.  Writes
build/results/attack.txt ("passed=N failed=M") and build/lab/attack.log.
Options: --modes kernel,proxy,inline  -v
"""
import argparse
import json
import os
import shutil
import signal
import sys
import time
import traceback
from urllib.parse import quote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lab as L  # noqa: E402
import inline as I  # noqa: E402
import attack_peers as AP  # noqa: E402
from clients import Job, run_job  # noqa: E402

OUT = os.path.join(L.REPO, "build", "results")
LABOUT = os.path.join(L.REPO, "build", "lab")
PEERS = os.path.join(L.HERE, "attack_peers.py")
HOSTILE4, HOSTILE6 = "203.0.113.5", "2001:db8::5"
OTHER6 = "fd00:1::7"    # another LAN host (a bounce target), on the client's link
VICTIM_PORT = 3306
LOW_PORT = 22
MODES = ("kernel", "proxy", "inline")
VARIANTS = ("one-segment", "segment-start", "before-greeting", "eprt")
VARIANTS6 = ("one-segment", "segment-start", "before-greeting")  # the data command: EPRT |2|...|
UNSOLICITED_LAN = "192,168,1,7"
DEADLINE_S = 300
PORTS = "21,2121"


class AttackLab(I.InlineLab):
    def queue_rules(self, on, bypass=True):
        for ipt in ("iptables", "ip6tables"):
            self.run("r", [ipt, "-w", "-F", "FORWARD"], check=False)
            if on:
                self.run("r", [ipt, "-w", "-I", "FORWARD", "-p", "tcp", "-m", "multiport",
                               "--ports", PORTS, "-j", "NFQUEUE", "--queue-num", str(I.QUEUE)]
                         + (["--queue-bypass"] if bypass else []))
        self.bypass = bypass


class ProxyDaemon(L.Daemon):
    """ftpalgd, proxy engine, intercepting 21 and 2121."""

    def write_conf(self):
        super().write_conf()
        with open(self.conf) as f:
            text = f.read()
        with open(self.conf, "w") as f:
            f.write(text.replace("control-ports = 21\n", "control-ports = %s\n" % PORTS))


class Report:
    def __init__(self, verbose):
        self.verbose = verbose
        self.passed = self.failed = 0
        self.lines, self.failures = [], []

    def check(self, name, what, ok, why=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            self.failures.append("%s: %s%s" % (name, what, (" (" + why + ")") if why else ""))
        line = "  %-4s %-34s %s%s" % ("ok" if ok else "FAIL", name, what,
                                      "" if ok or not why else "  [" + why + "]")
        self.lines.append(line)
        print(line, flush=True)


def tail_lines(path, offset):
    try:
        with open(path) as f:
            f.seek(offset)
            return [json.loads(l) for l in f.read().splitlines() if l.strip()]
    except (OSError, ValueError):
        return []


def fsize(path):
    return os.path.getsize(path) if os.path.exists(path) else 0


def pinholes(lab):
    """Elements of ftpalgd's pending-pinhole sets (empty when none)."""
    out = []
    for s in ("pin4", "pin6"):
        r = lab.run("r", ["nft", "list", "set", "inet", "ftpalg", s], check=False)
        if "elements" in r.out:
            out.append(r.out[r.out.index("elements"):].split("}")[0] + "}")
    return out


def expectations(lab, mode):
    r = lab.run("r", ["conntrack", "-L", "expect"], check=False)
    return [l for l in (r.out + r.err).splitlines() if "proto=6" in l or "tcp" in l]


class Attack:
    def __init__(self, lab, rep, files):
        self.lab, self.rep = lab, rep
        self.hostile_log, self.victim_log, self.mode_file = files
        self.legit_n = 0

    def set_hostile(self, mode):
        with open(self.mode_file, "w") as f:
            f.write(mode + "\n")

    def legit(self, name, fam="4"):
        """A real FTP session right after: active mode, so a pinhole is needed; in the
        attack's family (over IPv6 only EPRT exists)."""
        self.legit_n += 1
        client = ("ftplib", "curl")[self.legit_n % 2]
        dmode = "EPRT" if fam == "6" else ("PORT", "EPRT")[(self.legit_n // 2) % 2]
        ok, secs, why = run_job(self.lab, Job("vsftpd", client, fam, dmode, "get"),
                                "attack-legit-%d" % self.legit_n)
        self.rep.check(name + " then", "%s %s%s RETR 1M works (%.2fs)" % (
            client, dmode, " IPv6" if fam == "6" else "", secs), ok, why)

    def slipstream(self, mode, port, variant, fam="4"):
        lab = self.lab
        name = "%s:%s%s %s" % (mode, port, " v6" if fam == "6" else "", variant)
        addr = HOSTILE6 if fam == "6" else HOSTILE4
        self.set_hostile("greet-after" if variant == "before-greeting" else "greet-first")
        hoff, voff = fsize(self.hostile_log), fsize(self.victim_log)
        doff = fsize(lab.daemon.logfile) if lab.daemon is not None else 0
        lab.flush_conntrack()
        r = lab.run("c", [L.PY, PEERS, "browser", "--addr", addr, "--port", str(port),
                          "--variant", variant, "--victim-port", str(VICTIM_PORT)],
                    timeout=20, check=False)
        recs = []
        end = time.monotonic() + 10
        while time.monotonic() < end and not recs:
            recs = tail_lines(self.hostile_log, hoff)
            time.sleep(0.1)
        time.sleep(0.2)     # a late connection to the victim still counts
        hits = tail_lines(self.victim_log, voff)
        rec = recs[0] if recs else {}
        tried = rec.get("connects", [])
        reached = [c["target"] for c in tried if c.get("connected")]
        # The attack was carried out: the hostile server saw the data command and dialled.
        performed = bool(tried) and r.ok
        dlog = ""
        if lab.daemon is not None:
            with open(lab.daemon.logfile, errors="replace") as f:
                f.seek(doff)
                dlog = f.read()
        if mode == "kernel" and fam == "6":
            # Measured and printed, not judged: what the server got and whether it
            # reached the victim's [fd00:1::2]:3306 through the router.
            exp = expectations(lab, mode)
            seen = [l for l in rec.get("lines", []) if l.upper().startswith(("PORT", "EPRT"))]
            self.rep.check(name, "kernel helper: %s (victim %s; server got %s; %s)" % (
                "attack WORKS" if hits else "attack fails", "reached from " + hits[0]["peer"]
                if hits else "not reached", seen, "expectation seen" if exp else
                "no expectation"), performed, "server dialled %s" % (tried or r.why()))
        elif mode == "kernel":
            # Measured baseline: the helper acts on a PORT/EPRT that starts a segment.
            vulnerable = variant == "segment-start"
            exp = expectations(lab, mode)
            ok = performed and bool(hits) == vulnerable
            self.rep.check(name, "kernel helper: %s (victim %s; %s)" % (
                "attack WORKS" if hits else "attack fails", "reached from " + hits[0]["peer"]
                if hits else "not reached", "expectation seen" if exp else "no expectation"),
                ok, "expected %s; server dialled %s" % (
                    "vulnerable" if vulnerable else "not vulnerable", tried or r.why()))
        else:
            ph = pinholes(lab)
            ok = performed and not hits and not reached and not ph
            self.rep.check(name, "attack fails: victim not reached, no pinhole", ok,
                           "performed=%s victim=%s server reached %s pinholes=%s browser=%s" % (
                               performed, hits, reached, ph, r.why() if not r.ok else "ok"))
            want = 'client sent "POST / HTTP/1.1" %s: not FTP' % (
                "before the server's greeting" if variant == "before-greeting" else "before login")
            notes = [l for l in dlog.splitlines() if "not FTP" in l]
            self.rep.check(name + " log", "one line: " + want, len(notes) == 1 and want in notes[0]
                           and "pinhole open" not in dlog,
                           "; ".join(notes) or "no not-FTP line")
        self.legit(name, fam)

    def active_abuse(self, mode, what, fam="4"):
        """PORT/EPRT naming another host (bounce) or a port below 1024, from an FTP client.
        Over IPv6 the other host is OTHER6, where the victim listens too."""
        lab = self.lab
        name = "%s:21%s %s" % (mode, " v6" if fam == "6" else "", what)
        self.set_hostile("greet-first")
        if fam == "6":
            verb = "EPRT"
            cmd = ("EPRT |2|%s|%d|" % (OTHER6, VICTIM_PORT) if what == "bounce" else
                   "EPRT |2|%s|%d|" % (L.CLIENT6, LOW_PORT))
        else:
            verb = "PORT"
            cmd = ("PORT 192,168,1,1,12,234" if what == "bounce" else
                   "PORT %s,0,%d" % (L.CLIENT4.replace(".", ","), LOW_PORT))
        hoff, voff = fsize(self.hostile_log), fsize(self.victim_log)
        lab.flush_conntrack()
        r = lab.run("c", [L.PY, PEERS, "noop", "--addr", HOSTILE6 if fam == "6" else HOSTILE4,
                          "--port", "21", "--cmd", cmd], timeout=20, check=False)
        try:
            got = json.loads(r.out).get(verb, "").strip()
        except ValueError:
            got = ""
        end = time.monotonic() + 6
        recs = []
        while time.monotonic() < end and not recs:
            recs = tail_lines(self.hostile_log, hoff)
            time.sleep(0.1)
        time.sleep(0.2)
        hits = tail_lines(self.victim_log, voff)
        seen = [l for l in (recs[0]["lines"] if recs else [])
                if l.upper().startswith(("PORT", "EPRT"))]
        if mode == "kernel" and fam == "6":
            # measured and printed: a session that ran is all that is asserted
            self.rep.check(name, "kernel helper: %s -> client got %r; server saw %s; victim %s" % (
                cmd, got[:30], seen or "no EPRT", "REACHED at [%s]:%d" % (
                    hits[0].get("addr"), hits[0]["port"]) if hits else "not reached"),
                r.ok, r.why())
        elif mode == "kernel":
            self.rep.check(name, "kernel helper: client got %r; server saw %s; victim %s" % (
                got[:30], seen or "no PORT", "REACHED on port %d" % hits[0]["port"] if hits
                else "not reached"), r.ok and bool(seen), r.why())
        else:
            self.rep.check(name, "refused by ftpalgd: %r, server saw no %s, victim not "
                           "reached" % (got[:60], verb), r.ok and got.startswith("501 ftpalg:")
                           and not seen and not hits and not pinholes(lab),
                           "seen=%s hits=%s pinholes=%s %s" % (seen, hits, pinholes(lab), r.why()))
        self.legit(name, fam)
        return hits

    def unsolicited(self, mode, port, fam="4", code=227):
        lab = self.lab
        name = "%s:%s%s unsolicited %d" % (mode, port, " v6" if fam == "6" else "", code)
        self.set_hostile("unsolicited" if code == 227 else "unsolicited229")
        doff = fsize(lab.daemon.logfile) if lab.daemon is not None else 0
        r = lab.run("c", [L.PY, PEERS, "noop", "--addr", HOSTILE6 if fam == "6" else HOSTILE4,
                          "--port", str(port)], timeout=20, check=False)
        try:
            got = json.loads(r.out).get("NOOP", "").strip()
        except ValueError:
            got = ""
        dlog = ""
        if lab.daemon is not None:
            with open(lab.daemon.logfile, errors="replace") as f:
                f.seek(doff)
                dlog = f.read()
        notes = [l for l in dlog.splitlines() if "note (unsolicited)" in l]
        if fam == "6" and mode == "kernel":
            self.rep.check(name, "kernel helper: client got %r (%s)" % (
                got, "LAN address forwarded" if UNSOLICITED_LAN in got else "as sent"
                if code == 229 else "LAN address not forwarded"),
                r.ok and got.startswith(str(code)), r.why())
        elif fam == "6" and code == 227:
            # a 227 on an IPv6 control connection: the LAN IPv4 address must not reach
            # the client, no pinhole, one log line naming it
            self.rep.check(name, "LAN address not forwarded; client got %r" % got,
                           r.ok and got.startswith("227") and UNSOLICITED_LAN not in got
                           and not pinholes(lab), r.why())
            self.rep.check(name + " log", "logged: " + (notes[0].split("note (unsolicited): ")[-1]
                           if notes else "nothing"), len(notes) == 1 and
                           "unsolicited 227 named private address 192.168.1.7" in notes[0]
                           # the log says what the client got: a 227 cannot name an
                           # IPv6 peer, so no address at all
                           and "removed" in notes[0] and "rewritten" not in notes[0],
                           "; ".join(notes) or "no unsolicited note")
        elif fam == "6":
            # a 229 names no host: the client can only go to its control peer
            self.rep.check(name, "forwarded as is, no pinhole; client got %r" % got,
                           r.ok and got == AP.UNSOLICITED229 and not pinholes(lab), r.why())
            self.rep.check(name + " log", "logged: " + (notes[0].split("note (unsolicited): ")[-1]
                           if notes else "nothing"), len(notes) == 1 and "229" in notes[0],
                           "; ".join(notes) or "no unsolicited note")
        elif mode == "kernel":
            self.rep.check(name, "kernel helper forwards it as is: %r" % got,
                           r.ok and UNSOLICITED_LAN in got, r.why())
        else:
            hoststr = HOSTILE4.replace(".", ",")
            self.rep.check(name, "LAN address not forwarded; client got %r" % got,
                           r.ok and got.startswith("227") and UNSOLICITED_LAN not in got
                           and hoststr in got and not pinholes(lab), r.why())
            self.rep.check(name + " log", "logged as unsolicited, rewritten",
                           "unsolicited 227 named private address 192.168.1.7" in dlog,
                           dlog.strip().splitlines()[-1] if dlog.strip() else "empty log")
        self.legit(name, fam)


def real_clients(lab, rep, mode):
    """Clients that must keep working through ftpalgd, and never be called "not FTP"."""
    s = L.SERVERS["vsftpd"]
    doff = fsize(lab.daemon.logfile)
    out = os.path.join(lab.cli, "wget.out")
    for flags, what in (([], "passive"), (["--no-passive-ftp"], "active")):
        if os.path.exists(out):
            os.unlink(out)
        r = lab.run("c", ["wget", "-q", "-T", "10", "-t", "1"] + flags + ["-O", out,
                          "ftp://%s:%s@%s/f1m.bin" % (s["user"], quote(s["password"], safe=""), s["4"])],
                    timeout=20, check=False)
        ok = r.ok and os.path.exists(out) and L.sha256(out) == lab.hashes["f1m.bin"]
        rep.check("%s real wget %s" % (mode, what), "RETR 1M, sha256 ok", ok, r.why())
    ok, secs, why = run_job(lab, Job("vsftpd", "lftp-pipe", "4", "PORT", "get"), "attack-lftp")
    rep.check("%s real lftp sync-mode off" % mode, "PORT RETR 1M (%.2fs)" % secs, ok, why)
    for cl in ("fz", "winscp"):
        r = lab.run("c", [L.PY, PEERS, "seq", "--addr", s["4"], "--user", s["user"],
                          "--password", s["password"], "--file", "small.bin", "--size",
                          str(L.FILES["small.bin"]), "--client", cl], timeout=30, check=False)
        rep.check("%s real %s sequence" % (mode, {"fz": "FileZilla", "winscp": "WinSCP"}[cl]),
                  "commands, PASV+PORT RETR, IAC ABOR", r.ok, (r.out + r.err).strip()[-200:])
    with open(lab.daemon.logfile, errors="replace") as f:
        f.seek(doff)
        notes = [l for l in f.read().splitlines() if "not FTP" in l]
    rep.check("%s real clients" % mode, "none of them called not FTP", not notes, "; ".join(notes))


def run_mode(lab, rep, att, mode):
    if mode == "kernel":
        lab.set_mode("kernel")
    elif mode == "proxy":
        lab.set_mode("ftpalgd")
        lab.daemon = ProxyDaemon(lab, "", "info")
        ok = lab.daemon.start()
        rep.check("proxy start", "ftpalgd proxy engine, control ports " + PORTS, ok,
                  lab.daemon.error or "")
        if not ok:
            return
    else:
        lab.set_mode("inline")
        ok = lab.start_inline(log_level="info")
        rep.check("inline start", "ftpalgd inline engine, NFQUEUE on " + PORTS, ok,
                  lab.daemon.error or "")
        if not ok:
            return
    ports = (21,) if mode == "kernel" else (21, 2121)
    for port in ports:
        for v in VARIANTS:
            att.slipstream(mode, port, v)
    att.unsolicited(mode, 21)
    for what in ("bounce", "low-port"):
        att.active_abuse(mode, what)
    # IPv6: what a dual-stack attacker does instead
    for port in ports:
        for v in VARIANTS6:
            att.slipstream(mode, port, v, "6")
    for code in (227, 229):
        att.unsolicited(mode, 21, "6", code)
    for what in ("bounce", "low-port"):
        att.active_abuse(mode, what, "6")
    if mode != "kernel":
        real_clients(lab, rep, mode)
        st = I.InlineDaemon.ask(lab.daemon, "stats") or {}
        ref = st.get("refusals", {})
        n = len(ports) * (len(VARIANTS) + len(VARIANTS6))
        rep.check(mode + " stats", "refusals: not-ftp %s (want %d), unsolicited %s (want 3)" % (
            ref.get("not-ftp"), n, ref.get("unsolicited")),
            ref.get("not-ftp") == n and ref.get("unsolicited") == 3, json.dumps(st)[:300])
    if lab.daemon is not None:
        clean, detail = lab.daemon.stop()
        lab.daemon = None
        rep.check(mode + " stop", detail, clean)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    modes = [m for m in a.modes.split(",") if m]
    for m in modes:
        if m not in MODES:
            ap.error("unknown mode " + m)
    L.require_root("make check")
    for tool in ("iptables", "ip6tables", "conntrack", "vsftpd", "curl", "lftp", "wget"):
        if shutil.which(tool) is None:
            print("attack-lab: %s missing (scripts/install-deps.sh)" % tool, file=sys.stderr)
            return 2
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(LABOUT, exist_ok=True)
    shutil.rmtree(os.path.join(LABOUT, "attack-logs"), ignore_errors=True)
    rep = Report(a.verbose)
    lab = AttackLab(verbose=a.verbose)
    L.install_signal_handlers(lab)
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(SystemExit("deadline")))
    signal.alarm(DEADLINE_S)
    crashed = None
    t0 = time.monotonic()
    try:
        print("attack-lab: namespaces %s, temp %s; modes %s" % (
            ", ".join(lab.ns.values()), lab.tmp, ",".join(modes)), flush=True)
        lab.create()
        lab.run("s", ["ip", "addr", "add", HOSTILE4 + "/24", "dev", lab.if_s])
        lab.run("s", ["ip", "addr", "add", HOSTILE6 + "/64", "dev", lab.if_s, "nodad"])
        # another LAN host on the client's link; deprecated, so that the client
        # never picks it as a source address
        lab.run("c", ["ip", "addr", "add", OTHER6 + "/64", "dev", lab.if_c, "nodad",
                      "preferred_lft", "0"])
        lab.make_files(big=False)
        lab.start_servers(which=("vsftpd",), families=("4", "6"))
        files = (os.path.join(lab.logdir, "hostile.jsonl"), os.path.join(lab.logdir, "victim.jsonl"),
                 os.path.join(lab.tmp, "hostile.mode"))
        att = Attack(lab, rep, files)
        att.set_hostile("greet-first")
        lab.spawn("hostile", "s", [L.PY, PEERS, "hostile", "--addr", HOSTILE4 + "," + HOSTILE6,
                                   "--ports", PORTS,
                                   "--mode-file", files[2], "--log", files[0]],
                  os.path.join(lab.logdir, "hostile.out"))
        lab.spawn("victim", "c", [L.PY, PEERS, "victim", "--addr", L.CLIENT4 + "," + L.CLIENT6,
                                  "--port", "%d,%d" % (VICTIM_PORT, LOW_PORT),
                                  "--extra", "[%s]:%d" % (OTHER6, VICTIM_PORT), "--log", files[1]],
                  os.path.join(lab.logdir, "victim.out"))
        for port in (21, 2121):
            for a in (HOSTILE4, HOSTILE6):
                if not lab.wait_listen("s", port, a, timeout=10):
                    raise L.LabError("hostile server did not listen on %s %d" % (a, port))
        for a in (L.CLIENT4, L.CLIENT6, OTHER6):
            if not lab.wait_listen("c", VICTIM_PORT, a, timeout=10):
                raise L.LabError("victim did not listen on %s" % a)
        for m in modes:
            ts = time.monotonic()
            print("attack-lab: == %s" % m, flush=True)
            run_mode(lab, rep, att, m)
            print("attack-lab: %s done (%.0fs)" % (m, time.monotonic() - ts), flush=True)
    except BaseException as e:          # KeyboardInterrupt, SystemExit from signals too
        crashed = e
        if not isinstance(e, (KeyboardInterrupt, SystemExit)):
            traceback.print_exc()
    finally:
        signal.alarm(0)
        if lab.daemon is not None and (rep.failed or crashed):
            tail = lab.daemon.log_text()[-3000:]
            print("\nftpalgd log (tail):\n" + "\n".join("  | " + l for l in tail.splitlines()))
        try:
            lab.queue_rules(False)
        except Exception:
            pass
        keep = os.path.join(LABOUT, "attack-logs") if (rep.failed or crashed) else None
        lab.destroy(keep_logs_to=keep)
        left = lab.leftovers() + [n for n in L.Lab.netns_list() if n.startswith(lab.prefix)]
        rep.check("cleanup", "namespaces, links and temp dir removed", not left, ", ".join(left))
    if crashed is not None:
        rep.failed += 1
        rep.failures.append("run aborted: %s %s" % (type(crashed).__name__, crashed))
    out = ["== checks"] + rep.lines
    if rep.failures:
        out.append("\nnot as expected:")
        out.extend("  " + f for f in rep.failures)
    summary = "passed=%d failed=%d" % (rep.passed, rep.failed)
    out.append("\nattack-lab: %s (%.0fs)" % (summary, time.monotonic() - t0))
    print("\n".join(out[len(rep.lines) + 1:]))
    with open(os.path.join(OUT, "attack.txt"), "w") as f:
        f.write(summary + "\n")
    with open(os.path.join(LABOUT, "attack.log"), "w") as f:
        f.write("\n".join(out) + "\n")
    if isinstance(crashed, KeyboardInterrupt):
        return 130
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
