#!/usr/bin/python3
"""make-inline-corpus.py - writes the seed corpus of fuzz_inline
(tests/fuzz/corpus/fuzz_inline/): operation sequences in the target's input
format (see fuzz_inline.c) driving whole FTP control connections through
the inline engine: handshakes, logins, PORT/EPRT/227/229 rewrites, closes,
reordering, a late packet after retirement, a repeated SYN-ACK, RST, a
restart that resumes from the labels, tuple reuse, limits, timeouts."""
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_inline")

# the target's dictionary (fz_dict), by name
D = {name: i for i, name in enumerate([
    "220", "USER", "331", "PASS", "230", "PORT", "200PORT", "EPRT1", "EPRT2", "PASV", "227",
    "EPSV", "229", "LIST", "150", "226", "QUIT", "221", "AUTH", "234", "BOUNCE", "500",
    "200-", "200end", "RETR", "STOR", "NOOP", "200NOOP", "PORTPART", "CRLF", "421",
    "EPRTLOW", "227PRIV", "LPRT", "LPSV", "228", "REST", "350", "PORTBAD", "EPRTMAX",
    "229ZERO", "530", "125", "425", "200TYPE", "TYPE"])}

ACK, PSH, SYN, FIN, RST, RSTACK, FINPSH = range(7)
C, S = 0, 1


class Seq:
    def __init__(self, setup=0):
        self.b = bytearray([setup])

    def write(self, flow, d, *items):
        items = [D[i] if isinstance(i, str) else i for i in items]
        while items:
            chunk, items = items[:4], items[4:]
            self.b += bytes([0, flow | d << 2 | (len(chunk) - 1) << 3]) + bytes(chunk)
        return self

    def pkt(self, flow, d, fl, sb=0, lb=0xFF, kb=0, ob=0, extra=b""):
        self.b += bytes([1, flow | d << 2 | fl << 3, sb, lb, kb, ob]) + extra
        return self

    def ack(self, flow, d, kb=0):
        return self.pkt(flow, d, ACK, lb=0, kb=kb)

    def time(self, k):
        self.b += bytes([2, k])
        return self

    def tick(self, at_due=True):
        self.b += bytes([3, 1 if at_due else 0])
        return self

    def ct(self, mode):
        self.b += bytes([5, mode])
        return self

    def restart(self):
        self.b += bytes([6])
        return self

    def misc(self, k):
        self.b += bytes([7, k])
        return self

    def raw(self, data):
        if len(data) % 2:
            data += b"\0"
        self.b += bytes([4, len(data) // 2]) + data
        return self

    # whole steps
    def handshake(self, f):
        return self.pkt(f, C, SYN).pkt(f, S, SYN).ack(f, C)

    def say(self, f, d, *items):
        return self.write(f, d, *items).pkt(f, d, PSH).ack(f, 1 - d)

    def login(self, f):
        return (self.say(f, S, "220").say(f, C, "USER").say(f, S, "331")
                .say(f, C, "PASS").say(f, S, "230"))

    def close(self, f):
        return (self.say(f, C, "QUIT").say(f, S, "221").pkt(f, C, FIN, lb=0)
                .pkt(f, S, FIN, lb=0).ack(f, C))


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    seeds["port_v4"] = (Seq().handshake(0).login(0).say(0, C, "PORT").say(0, S, "200PORT")
                        .say(0, C, "LIST").say(0, S, "150", "226").close(0).time(7).tick())
    seeds["eprt_v6"] = (Seq().handshake(1).login(1).say(1, C, "EPRT2").say(1, S, "200PORT")
                        .say(1, C, "RETR").say(1, S, "150", "226").close(1).misc(1).tick())
    seeds["pasv_227"] = (Seq().handshake(0).login(0).say(0, C, "PASV").say(0, S, "227PRIV")
                         .say(0, C, "PASV").say(0, S, "227").say(0, C, "EPSV").say(0, S, "229")
                         .say(0, C, "LPSV").say(0, S, "228").close(0))
    # the PORT line's tail before its head, then the head: held, released
    seeds["reorder"] = (Seq().handshake(0).login(0).write(0, C, "PORT")
                        .pkt(0, C, PSH, sb=0x81).pkt(0, C, PSH, sb=22, lb=8).ack(0, S)
                        .say(0, S, "200PORT").close(0))
    # retired, then the server's FIN again >500 ms later, acking beyond anything
    seeds["late_retired"] = (Seq().handshake(0).login(0).say(0, C, "PORT").say(0, S, "200PORT")
                             .close(0).time(3).pkt(0, S, FIN, sb=1, lb=0, kb=0xC0)
                             .pkt(0, C, ACK, lb=0, kb=0x90).time(6).tick())
    seeds["synack_again"] = (Seq().handshake(0).pkt(0, S, SYN).ack(0, C).login(0)
                             .say(0, C, "EPRT1").say(0, S, "200PORT").close(0))
    seeds["rst"] = (Seq().handshake(2).login(2).say(2, C, "PORT").pkt(2, S, RSTACK, lb=0)
                    .ack(2, C).time(4).tick().ack(2, C))
    # PORT and LIST in one segment: the core holds LIST until the 200
    seeds["pipelined"] = (Seq().handshake(0).login(0).write(0, C, "PORT", "LIST")
                          .pkt(0, C, PSH).ack(0, S).say(0, S, "200PORT").pkt(0, C, PSH, sb=6)
                          .say(0, S, "150", "226").close(0))
    # a bounce PORT: answered locally (NOOP to the server, its 200 replaced)
    seeds["bounce"] = (Seq(0x00).handshake(0).login(0).say(0, C, "BOUNCE").say(0, S, "200NOOP")
                       .say(0, C, "QUIT").say(0, S, "221").close(0))
    # followed, then a restart: the next packets resume it from its labels
    seeds["restart_resume"] = (Seq().handshake(0).login(0).say(0, C, "PORT").say(0, S, "200PORT")
                               .time(4).restart().say(0, C, "LIST").say(0, S, "150", "226")
                               .close(0))
    # the tuple used again: a SYN with another ISN after the close
    seeds["tuple_reuse"] = (Seq().handshake(0).login(0).close(0).time(2)
                            .pkt(0, C, SYN, sb=6).pkt(0, S, SYN).ack(0, C).login(0).close(0))
    # max-sessions 1: the second flow is refused, the third passes mid-stream
    seeds["limits"] = (Seq(0x00).handshake(0).pkt(2, C, SYN).handshake(1).ack(3, C)
                       .login(0).misc(2).close(0).handshake(2).close(2))
    # short idle timeout, conntrack gone: the flow is forgotten at its tick
    seeds["idle"] = (Seq(0x10).handshake(0).login(0).ct(1).time(5).time(5).tick().tick()
                     .ct(0).say(0, C, "PORT"))
    seeds["tls"] = (Seq().handshake(1).login(1).say(1, C, "AUTH").say(1, S, "234")
                    .write(1, C, 0xF8, 40, *range(40)).pkt(1, C, PSH).ack(1, S).close(1))
    # a lost segment retransmitted, a SACK for the one after it
    seeds["sack_retrans"] = (Seq().handshake(0).login(0).write(0, C, "EPRT1", "LIST")
                             .pkt(0, C, PSH, lb=10).pkt(0, C, PSH, sb=0x80).pkt(0, S, ACK, lb=0, ob=2, extra=bytes([0, 1, 2]))
                             .pkt(0, C, PSH, sb=0xFF, lb=0xFF, extra=b"\0\0\0\0")
                             .pkt(0, C, PSH, sb=40, lb=40).ack(0, S).say(0, S, "200PORT")
                             .time(5).tick().close(0))
    seeds["garbage"] = (Seq().handshake(0).raw(bytes([0x45, 0, 0, 40]) + bytes(36))
                        .pkt(0, C, PSH, ob=8, extra=bytes([33, 0xFF])).login(0)
                        .pkt(0, C, PSH, ob=16, extra=bytes([7])).close(0))
    seeds["wrap_v6_two"] = (Seq(0x0B).handshake(1).handshake(3).login(1).login(3)
                            .say(1, C, "EPRT2").say(3, C, "EPSV").say(1, S, "200PORT")
                            .say(3, S, "229").close(3).close(1).time(7).tick())
    # max-sessions 1: sessions one after the other, each from the next client
    # port, until the closed ones overflow (16 x max-sessions kept)
    s = Seq(0x00)
    for _ in range(18):
        s.pkt(0, C, SYN, sb=1).pkt(0, S, SYN).ack(0, C).say(0, S, "220").close(0)
    seeds["many_closed"] = s.time(7).tick()
    # labels of someone else's making: a pinhole announced, offsets +3/-2
    seeds["foreign_labels"] = Seq().ct(8 | 64)
    seeds["foreign_labels"].b += bytes([0xF7, 0x05, 0, 3, 0xFF, 0xFE, 0, 0, 0xC3, 0x50, 0x9C, 0x41])
    seeds["foreign_labels"].ack(0, C).say(0, C, "LIST").say(0, S, "150", "226").close(0)
    # the SYN passed unseen (queue full): followed from its SYN-ACK
    seeds["synack_unseen"] = (Seq().pkt(0, S, SYN).ack(0, C).login(0).say(0, C, "PORT")
                              .say(0, S, "200PORT").close(0))
    for name, s in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(bytes(s.b))
    print("%d seeds in %s" % (len(seeds), OUT))


if __name__ == "__main__":
    main()
