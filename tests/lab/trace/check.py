#!/usr/bin/env python3
"""check.py - assertions on `ftpalg trace --json` output, and on a screenshot.

    check.py LABEL REPORT.json COND...
    check.py LABEL --png SHOT.png

Conditions on the report (one "ok"/"FAIL" line each):
    sessions=N           exactly N FTP sessions (in all the captures given)
    sessions>=N          at least N
    code=NAME            some session has the finding NAME
    nocode=NAME          no session has it
    allworst=NAME        every session's main finding is NAME
    outcome=NAME         some announcement's data connection ended as NAME
    found_by=NAME        some session was found by NAME (port, content)
    tls                  some session is encrypted
    ann=N                the sessions announce N data connections in all
    pair=VERB:CODE       every VERB command is paired with a CODE reply
    partial              the capture's report says "partial": true
    ccode=NAME           the capture (not a session) has the finding NAME
    orphans=N            N data connections without a control session
    paired=N             N sessions shown with their other NAT view
    nat=CLIENT/SEEN      a pair shows client CLIENT seen by the server as SEEN
                         (addresses only)
    noword=WORD          no finding (text or fix) mentions WORD
    text=FILE            the terminal report FILE says the same as the JSON:
                         every finding, with its severity, and no other

--png: the screenshot exists and is not blank (share of non-white pixels).
Exit status 0 when every condition holds.
"""
import json
import struct
import sys
import zlib


def png_nonwhite(path):
    """Share of pixels that are not (near) white, with a tiny PNG decoder
    (8-bit RGB/RGBA, not interlaced: what Chromium writes)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, w = 8, b"", 0
    while pos + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise ValueError("unsupported PNG format")
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    nonwhite = total = 0
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
        for x in range(0, stride, bpp):
            total += 1
            if line[x] < 235 or line[x + 1] < 235 or line[x + 2] < 235:
                nonwhite += 1
        prev = line
    return nonwhite / max(total, 1), w, h


def norm(text):
    return " ".join(text.split())


def same_as_text(path, rep):
    """Every finding of the JSON report is in the terminal report, with its
    severity word, and the terminal report has no finding more."""
    try:
        with open(path) as f:
            raw = f.read()
    except OSError as e:
        print(f"  (cannot read {path}: {e})")
        return False
    text = norm(raw)
    word = {"error": "ERROR", "warning": "WARNING", "info": "info"}
    n = 0
    for cap in rep["captures"]:
        diags = list(cap.get("diagnoses", []))
        for s in cap["sessions"]:
            diags += s["diagnoses"]
        for d in diags:
            n += 1
            want = norm(word[d["severity"]] + " " + d["text"])
            if want not in text:
                print(f"  (not in the text report: {want[:100]!r})")
                return False
    heads = sum(1 for line in raw.splitlines()
                if line.startswith("    ") and line[4:].split(" ", 1)[0] in
                ("ERROR", "WARNING", "info"))
    if heads != n:
        print(f"  ({heads} findings in the text report, {n} in the JSON)")
        return False
    return True


def main():
    label = sys.argv[1]
    if sys.argv[2] == "--png":
        try:
            share, w, h = png_nonwhite(sys.argv[3])
        except (OSError, ValueError, zlib.error) as e:
            print(f"FAIL - {label}: screenshot: {e}")
            return 1
        good = share > 0.02
        print(f"{'ok  ' if good else 'FAIL'} - {label}: screenshot {w}x{h}, "
              f"{share * 100:.1f}% non-white pixels")
        return 0 if good else 1

    try:
        with open(sys.argv[2]) as f:
            rep = json.load(f)
        cap = rep["captures"][0]
        # several captures (the two sides of a NAT): their sessions together
        sessions = [s for c in rep["captures"] for s in c["sessions"]]
    except (OSError, ValueError, KeyError, IndexError) as e:
        print(f"FAIL - {label}: report unreadable: {e}")
        return 1
    codes = [{d["code"] for d in s["diagnoses"]} for s in sessions]
    cdiags = cap.get("diagnoses", [])
    alldiags = cdiags + [d for s in sessions for d in s["diagnoses"]]
    rc = 0
    for cond in sys.argv[3:]:
        if cond.startswith("sessions>="):
            good = len(sessions) >= int(cond[10:])
        elif cond.startswith("sessions="):
            good = len(sessions) == int(cond[9:])
        elif cond.startswith("code="):
            good = any(cond[5:] in c for c in codes)
        elif cond.startswith("nocode="):
            good = not any(cond[7:] in c for c in codes)
        elif cond.startswith("allworst="):
            good = bool(sessions) and all(s["diagnosis"] == cond[9:] for s in sessions)
        elif cond.startswith("outcome="):
            good = any(a["outcome"] == cond[8:] for s in sessions
                       for a in s["announcements"])
        elif cond.startswith("found_by="):
            good = any(s["found_by"] == cond[9:] for s in sessions)
        elif cond == "tls":
            good = any(s["tls"] for s in sessions)
        elif cond.startswith("ann="):
            good = sum(len(s["announcements"]) for s in sessions) == int(cond[4:])
        elif cond.startswith("pair="):
            verb, code = cond[5:].split(":")
            good, n = True, 0
            for s in sessions:
                evs = {e["i"]: e for e in s["events"]}
                for e in s["events"]:
                    if e["kind"] == "command" and e.get("verb") == verb:
                        if "pair" not in e and s.get("hidden_lines", 0) > 0:
                            continue    # its reply is past the listed lines
                        n += 1
                        r = evs.get(e.get("pair", -1))
                        good = good and r is not None and r.get("code") == int(code)
            good = good and n > 0
        elif cond == "partial":
            good = cap.get("partial") is True
        elif cond.startswith("ccode="):
            good = any(d["code"] == cond[6:] for d in cdiags)
        elif cond.startswith("orphans="):
            good = len(cap.get("orphans", [])) == int(cond[8:])
        elif cond.startswith("paired="):
            good = sum(1 for s in sessions if s.get("nat", {}).get("view") ==
                       "client-side") == int(cond[7:])
        elif cond.startswith("nat="):
            want = cond[4:].split("/")
            good = any(s.get("nat", {}).get("view") == "client-side" and
                       s["nat"]["client"].rsplit(":", 1)[0] == want[0] and
                       s["nat"]["client_seen_by_server_as"].rsplit(":", 1)[0] == want[1]
                       for s in sessions)
        elif cond.startswith("noword="):
            w = cond[7:].lower()
            hit = [d["code"] for d in alldiags if w in (d["text"] + d["fix"]).lower()]
            good = not hit
            if hit:
                print(f"  ({w!r} in {','.join(hit)})")
        elif cond.startswith("text="):
            good = same_as_text(cond[5:], rep)
        else:
            print(f"FAIL - {label}: unknown condition {cond}")
            rc = 1
            continue
        if not good:
            rc = 1
            seen = "; ".join(f"session {s['id']}: " + ",".join(sorted(c))
                             for s, c in zip(sessions, codes)) or "no session"
            print(f"FAIL - {label}: {cond} (found: {seen})")
        else:
            print(f"ok   - {label}: {cond}")
    return rc


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:     # a broken report must fail, not vanish
        print(f"FAIL - {sys.argv[1] if len(sys.argv) > 1 else '?'}: check.py: "
              f"{type(e).__name__}: {e}")
        sys.exit(1)
