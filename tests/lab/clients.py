#!/usr/bin/python3
"""clients.py - runs one FTP job with a real client in the lab's client namespace
and checks it: exit status, sha256 of every file moved, the listing's content, and
that the data-channel command asked for (PASV/EPSV/PORT/EPRT) is the one that went
over the wire, with no fallback to another.

Clients: curl, lftp, ftplib (tests/lab/ftpcli.py).  Ops:
    get      RETR f1m.bin (1 MiB)          get64    RETR f64m.bin (64 MiB)
    put      STOR of a 1 MiB file          list     LIST (curl, lftp) / MLSD (ftplib)
    session  one control session, 5 data connections: RETR, STOR, LIST, RETR, RETR
"""
import os
import re

from lab import BIG, HERE, PY, SERVERS, sha256

CLIENTS = ("curl", "lftp", "ftplib")
# "lftp-pipe": lftp with ftp:sync-mode off, which sends TYPE/SIZE/MDTM/PORT/RETR
# in one write: the PORT does not start a TCP segment.
PASSIVE = ("PASV", "EPSV")
ACTIVE = ("PORT", "EPRT")


def supports(client, fam, dmode, op):
    """Whether a client can be made to send exactly dmode over IPv<fam> for op."""
    if fam == "6" and dmode in ("PASV", "PORT"):
        return False            # IPv4-only commands (RFC 2428)
    if client.startswith("lftp") and fam == "4" and dmode == "EPRT":
        return False            # lftp sends PORT on IPv4, no switch for EPRT
    if client == "curl" and op == "session":
        return False
    return True


def _url_host(fam, host):
    return "[%s]" % host if fam == "6" else host


def _seen_cmds(client, text):
    """Data-channel commands a client's trace shows it sent."""
    if client == "curl":
        pat = r"^> (PASV|EPSV|PORT|EPRT)\b"
    elif client.startswith("lftp"):
        pat = r"^---> (PASV|EPSV|PORT|EPRT)\b"
    else:
        pat = r"^> (PASV|EPSV|PORT|EPRT)\b"
    return re.findall(pat, text, re.M)


class Job:
    def __init__(self, server, client, fam, dmode, op):
        self.server, self.client, self.fam, self.dmode, self.op = server, client, fam, dmode, op

    @property
    def active(self):
        return self.dmode in ACTIVE

    def key(self):
        return (self.server, self.client, "IPv" + self.fam, self.dmode, self.op)


def _lftp_script(lab, job, host, s, steps):
    passive = "on" if job.dmode in PASSIVE else "off"
    epsv = "yes" if job.dmode == "EPSV" else "no"
    settings = [
        "set cmd:fail-exit yes", "set net:max-retries 1", "set net:timeout 5",
        "set net:reconnect-interval-base 1", "set net:persist-retries 0",
        "set ftp:ssl-allow no", "set ftp:auto-passive-mode no",
        "set ftp:passive-mode " + passive, "set ftp:prefer-epsv " + epsv,
        "set ftp:use-feat yes", "set xfer:clobber on",
        "set ftp:sync-mode " + ("off" if job.client == "lftp-pipe" else "on"),
        "debug -o %s 5" % os.path.join(lab.cli, "lftp-debug-%d.log" % os.getpid()),
        "open -u %s,%s ftp://%s" % (s["user"], s["password"], _url_host(job.fam, host)),
    ]
    return "; ".join(settings + steps + ["bye"])


def run_job(lab, job, tag, timeout=20):
    """Runs job, returns (ok, seconds, why)."""
    s = SERVERS[job.server]
    host = s[job.fam]
    cli = lab.cli
    up_src = os.path.join(cli, "upload.bin")
    checks = []            # (description, callable -> bool)
    listing_needed = False

    def expect_file(local, name):
        checks.append(("sha256 of %s" % os.path.basename(local),
                       lambda: os.path.exists(local) and sha256(local) == lab.hashes[name]))

    def expect_upload(remote_name):
        path = os.path.join(lab.srv, "up", remote_name)
        checks.append(("sha256 of uploaded %s" % remote_name,
                       lambda: os.path.exists(path) and sha256(path) == lab.hashes["upload.bin"]))

    out1 = os.path.join(cli, tag + ".a")
    out2 = os.path.join(cli, tag + ".b")
    out3 = os.path.join(cli, tag + ".c")
    upname = tag + ".up"
    argv = None
    debug_file = None

    if job.client == "curl":
        base = ["curl", "-sS", "-v", "-g", "--max-time", str(timeout), "--connect-timeout", "5",
                "-u", "%s:%s" % (s["user"], s["password"])]
        base += {"PASV": ["--ftp-pasv", "--disable-epsv"], "EPSV": ["--ftp-pasv"],
                 "PORT": ["-P", "-", "--disable-eprt"], "EPRT": ["-P", "-"]}[job.dmode]
        url = "ftp://%s/" % _url_host(job.fam, host)
        if job.op in ("get", "get64"):
            name = "f1m.bin" if job.op == "get" else BIG
            argv = base + ["-o", out1, url + name]
            expect_file(out1, name)
        elif job.op == "put":
            argv = base + ["-T", up_src, url + "up/" + upname]
            expect_upload(upname)
        elif job.op == "list":
            argv = base + [url]
            listing_needed = True
    elif job.client.startswith("lftp"):
        debug_file = os.path.join(cli, "lftp-debug-%d.log" % os.getpid())
        if os.path.exists(debug_file):
            os.unlink(debug_file)
        steps = []
        if job.op in ("get", "get64"):
            name = "f1m.bin" if job.op == "get" else BIG
            steps = ["get %s -o %s" % (name, out1)]
            expect_file(out1, name)
        elif job.op == "put":
            steps = ["put %s -o up/%s" % (up_src, upname)]
            expect_upload(upname)
        elif job.op == "list":
            steps = ["ls"]
            listing_needed = True
        elif job.op == "session":
            steps = ["get f1m.bin -o %s" % out1, "put %s -o up/%s" % (up_src, upname), "ls",
                     "get small.bin -o %s" % out2, "get f1m.bin -o %s" % out3]
            expect_file(out1, "f1m.bin")
            expect_upload(upname)
            listing_needed = True
            expect_file(out2, "small.bin")
            expect_file(out3, "f1m.bin")
        argv = ["lftp", "--norc", "-c", _lftp_script(lab, job, host, s, steps)]
    elif job.client == "ftplib":
        base = [PY, os.path.join(HERE, "ftpcli.py"), "--host", host, "--user", s["user"],
                "--password", s["password"], "--dmode", job.dmode, "--timeout", str(timeout)]
        if job.op in ("get", "get64"):
            name = "f1m.bin" if job.op == "get" else BIG
            argv = base + ["get:%s:%s" % (name, out1)]
            expect_file(out1, name)
        elif job.op == "put":
            argv = base + ["put:%s:up/%s" % (up_src, upname)]
            expect_upload(upname)
        elif job.op == "list":
            argv = base + ["list"]
            listing_needed = True
        elif job.op == "session":
            argv = base + ["get:f1m.bin:" + out1, "put:%s:up/%s" % (up_src, upname), "list",
                           "get:small.bin:" + out2, "get:f1m.bin:" + out3]
            expect_file(out1, "f1m.bin")
            expect_upload(upname)
            listing_needed = True
            expect_file(out2, "small.bin")
            expect_file(out3, "f1m.bin")
    if argv is None:
        return False, 0.0, "client %s cannot do %s" % (job.client, job.op)

    r = lab.run("c", argv, timeout=timeout + 5, check=False)
    trace = r.err + "\n" + r.out
    if debug_file and os.path.exists(debug_file):
        with open(debug_file, errors="replace") as f:
            trace += "\n" + f.read()
        os.unlink(debug_file)
    if not r.ok:
        _cleanup(out1, out2, out3)
        why = r.why()
        if job.client == "curl" and not r.timed_out:
            # curl's own message can be stale; the server's refusal says more
            replies = re.findall(r"^< ([45]\d\d .*)$", r.err, re.M)
            code = re.search(r"curl: \((\d+)\)", r.err)
            if replies:
                why = "%s (curl exit %s)" % (replies[-1].strip(), code.group(1) if code else r.rc)
        return False, r.secs, why
    if listing_needed and "f1m.bin" not in r.out:
        _cleanup(out1, out2, out3)
        return False, r.secs, "listing lacks f1m.bin"
    for desc, fn in checks:
        if not fn():
            _cleanup(out1, out2, out3)
            return False, r.secs, desc + " wrong"
    seen = set(_seen_cmds(job.client, trace))
    if seen != {job.dmode}:
        _cleanup(out1, out2, out3)
        return False, r.secs, "data commands sent: %s, wanted only %s" % (
            ",".join(sorted(seen)) or "none", job.dmode)
    _cleanup(out1, out2, out3)
    return True, r.secs, ""


def _cleanup(*paths):
    for p in paths:
        try:
            os.unlink(p)
        except OSError:
            pass
