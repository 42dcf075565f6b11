#!/usr/bin/env python3
"""send_corpus.py -- one timed load of the end-to-end benchmark (e2e.sh).

Sends mail to an SMTP server on 127.0.0.1 and, with --sink-log, waits until
smtp-sink (run with -c, its counter output in that file) has received every
accepted message, then prints one line of key=value results:

  sent=N accepted=N failed=N delivered=N seconds=S rate=R

seconds runs from the first connection to the last delivery seen at the sink;
rate = delivered / seconds. The load is either real messages (--list FILE:
one path per line, sent in that order, cycled if --count is larger) over
--sessions concurrent SMTP sessions, one message per session as an MTA sees
from the Internet (--per-session to change that), as fast as the sessions
go or paced at --rate messages/s (for latency at a load the server sustains), MAIL FROM taken from each
message's Return-Path or From, or an external command
(--command ARGV...: e.g. smtp-source), whose message count is --count.

Bounded: stops sending at --count messages or --timeout seconds, and stops
waiting for the sink --drain seconds after its count last moved.
Benchmark tool: standard library only, no DNS (explicit HELO name).
"""
import argparse
import os
import re
import socket
import subprocess
import sys
import threading
import time

HELO = b"client.bench.test"


ADDR_RE = re.compile(rb"<?([A-Za-z0-9._%+=/-]+@[A-Za-z0-9.-]+)>?")


def envelope_sender(lines, default):
    """The message's own sender (Return-Path, else From), as MAIL FROM.

    Real mail comes from many senders: one fixed envelope sender would let
    spamsift's auto-whitelist answer for every message after a few."""
    found = {}
    for line in lines:
        if line == b"":
            break
        low = line[:12].lower()
        for name in (b"return-path:", b"from:"):
            if low.startswith(name) and name not in found:
                m = ADDR_RE.search(line[len(name):])
                if m:
                    found[name] = m.group(1)
    for name in (b"return-path:", b"from:"):
        # Postfix refuses a local part that starts with "-" (option-like).
        if name in found and not found[name].startswith(b"-"):
            return found[name]
    return default


def load_message(path, default_sender):
    """(envelope sender, the message as SMTP DATA bytes: CRLF lines,
    dot-stuffed, terminated)."""
    with open(path, "rb") as f:
        data = f.read()
    # An mbox "From " separator line is not a header: drop it.
    if data.startswith(b"From "):
        nl = data.find(b"\n")
        data = data[nl + 1:] if nl >= 0 else b""
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = []
    for line in lines:
        out.append(b"." + line if line.startswith(b".") else line)
    return (envelope_sender(lines, default_sender),
            b"\r\n".join(out) + b"\r\n.\r\n")


class Session:
    """A minimal SMTP client over one socket (no pipelining, like smtp-source)."""

    def __init__(self, port, timeout):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout)
        self.rfile = self.sock.makefile("rb")
        self.expect(2)
        self.cmd(b"EHLO " + HELO, 2)

    def reply(self):
        code = None
        while True:
            line = self.rfile.readline()
            if not line:
                raise OSError("connection closed")
            code = int(line[:3])
            if line[3:4] != b"-":
                return code

    def expect(self, klass):
        code = self.reply()
        if code // 100 != klass:
            raise SmtpError(code)
        return code

    def cmd(self, line, klass):
        self.sock.sendall(line + b"\r\n")
        return self.expect(klass)

    def send(self, sender, rcpt, data):
        self.cmd(b"MAIL FROM:<" + sender + b">", 2)
        self.cmd(b"RCPT TO:<" + rcpt + b">", 2)
        self.cmd(b"DATA", 3)
        self.sock.sendall(data)
        self.expect(2)

    def close(self):
        try:
            self.sock.sendall(b"QUIT\r\n")
            self.reply()
        except (OSError, ValueError):
            pass
        self.sock.close()


class SmtpError(Exception):
    def __init__(self, code):
        super().__init__("SMTP reply %d" % code)
        self.code = code


def corpus_load(args, msgs):
    """Send args.count messages over args.sessions threads; (accepted, failed)."""
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "fail": 0}
    deadline = time.monotonic() + args.timeout
    rcpt = args.rcpt.encode()

    t_start = time.monotonic()

    def take():
        with lock:
            i = state["next"]
            if i >= args.count or time.monotonic() > deadline:
                return None
            state["next"] = i + 1
        if args.rate:
            # Paced: message i starts no earlier than i / rate seconds in.
            delay = t_start + i / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        return msgs[i % len(msgs)]

    def worker():
        while True:
            item = take()
            if item is None:
                return
            sess = None
            ok = 0
            fail = 0
            try:
                sess = Session(args.port, 60)
                while item is not None:
                    try:
                        sess.send(item[0], rcpt, item[1])
                        ok += 1
                    except SmtpError:
                        fail += 1
                        sess.cmd(b"RSET", 2)
                    if ok + fail >= args.per_session:
                        break
                    item = take()
            except (OSError, ValueError, SmtpError):
                fail += 1
            finally:
                if sess is not None:
                    sess.close()
                with lock:
                    state["ok"] += ok
                    state["fail"] += fail

    threads = [threading.Thread(target=worker) for _ in range(args.sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return state["ok"], state["fail"]


SINK_RE = re.compile(rb"mesg=(\d+)")


def sink_count(path):
    """The last mesg= counter smtp-sink -c wrote to path (0 if none yet)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 128))
            tail = f.read()
    except OSError:
        return 0
    found = SINK_RE.findall(tail)
    return int(found[-1]) if found else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--per-session", type=int, default=1)
    p.add_argument("--rate", type=float, default=0.0,
                   help="offer at most this many messages/s (0: as fast as "
                        "the sessions go)")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="stop sending after this many seconds")
    p.add_argument("--drain", type=float, default=15.0,
                   help="stop waiting when the sink count has not moved for this long")
    p.add_argument("--sender", default="bench@client.bench.test",
                   help="MAIL FROM when a message names no sender")
    p.add_argument("--rcpt", default="user@example.org")
    p.add_argument("--list", help="file with one message path per line")
    p.add_argument("--sink-log", help="smtp-sink -c output file to wait on")
    p.add_argument("--command", nargs=argparse.REMAINDER,
                   help="run this load instead (rest of the line)")
    args = p.parse_args()

    if args.command:
        msgs = None
    else:
        if not args.list:
            p.error("--list or --command is required")
        with open(args.list) as f:
            paths = [line.strip() for line in f if line.strip()]
        if not paths:
            p.error("empty --list")
        n = min(len(paths), args.count)
        msgs = [load_message(path, args.sender.encode()) for path in paths[:n]]

    base = sink_count(args.sink_log) if args.sink_log else 0
    t0 = time.monotonic()
    if msgs is None:
        try:
            rc = subprocess.run(args.command, stdout=subprocess.DEVNULL,
                                timeout=args.timeout).returncode
        except subprocess.TimeoutExpired:
            rc = -1
        accepted = args.count
        failed = 0 if rc == 0 else -1
    else:
        accepted, failed = corpus_load(args, msgs)
    t_sent = time.monotonic()

    delivered = 0
    t_last = t_sent
    if args.sink_log:
        seen = -1
        moved = time.monotonic()
        end = t_sent + args.timeout
        while True:
            delivered = sink_count(args.sink_log) - base
            now = time.monotonic()
            if delivered != seen:
                seen = delivered
                moved = now
                t_last = now
            if delivered >= accepted or now - moved > args.drain or now > end:
                break
            time.sleep(0.01)
    else:
        delivered = accepted
    secs = max(t_last - t0, 1e-6)
    print("sent=%d accepted=%d failed=%d delivered=%d send_seconds=%.3f "
          "seconds=%.3f rate=%.1f" % (accepted + max(failed, 0), accepted,
                                      failed, delivered, t_sent - t0, secs,
                                      delivered / secs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
