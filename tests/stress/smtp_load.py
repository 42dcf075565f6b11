#!/usr/bin/env python3
"""smtp_load.py -- the SMTP side of tests/stress/load.sh and valgrind-milter.sh.

Sends --count messages (paths from --list, cycled) over --sessions concurrent
SMTP sessions to 127.0.0.1:--port, --per-session messages per session;
message i goes to recipient i % len(--rcpts). Every final reply is counted
per recipient and class (2xx, 4xx, 5xx, error) and printed as one JSON
object, so the caller can account for every message. Standard library only,
no DNS (explicit HELO name).
"""
import argparse
import json
import smtplib
import sys
import threading


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(b"From "):           # an mbox separator is not a header
        data = data.split(b"\n", 1)[1] if b"\n" in data else b""
    return data


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--list", required=True)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--sessions", type=int, default=100)
    p.add_argument("--per-session", type=int, default=5)
    p.add_argument("--rcpts", required=True, help="comma-separated recipients")
    p.add_argument("--timeout", type=float, default=120.0)
    a = p.parse_args()
    paths = [l.strip() for l in open(a.list) if l.strip()]
    msgs = [load(x) for x in paths]
    rcpts = a.rcpts.split(",")
    lock = threading.Lock()
    nxt = [0]
    counts = {r: {"2xx": 0, "4xx": 0, "5xx": 0, "error": 0} for r in rcpts}
    errors = []

    def take(n):
        with lock:
            start = nxt[0]
            end = min(start + n, a.count)
            nxt[0] = end
            return range(start, end)

    def note(r, cls, why=None):
        with lock:
            counts[r][cls] += 1
            if why and len(errors) < 20:
                errors.append(why)

    def worker():
        while True:
            batch = take(a.per_session)
            if not batch:
                return
            try:
                s = smtplib.SMTP("127.0.0.1", a.port, local_hostname="load.spamsift.test",
                                 timeout=a.timeout)
            except Exception as e:         # counted against every message of the batch
                for i in batch:
                    note(rcpts[i % len(rcpts)], "error", "connect: %r" % e)
                continue
            broken = False
            for i in batch:
                r = rcpts[i % len(rcpts)]
                if broken:              # the session died: the rest are errors
                    note(r, "error", "session lost")
                    continue
                try:
                    s.sendmail("load%d@sender.example" % i, [r], msgs[i % len(msgs)])
                    note(r, "2xx")
                except smtplib.SMTPResponseException as e:
                    note(r, "%dxx" % (e.smtp_code // 100) if e.smtp_code // 100 in (4, 5) else "error",
                         "%d %s" % (e.smtp_code, e.smtp_error[:80]))
                    try:
                        s.rset()
                    except Exception:
                        broken = True
                except smtplib.SMTPRecipientsRefused as e:
                    code = list(e.recipients.values())[0][0]
                    note(r, "%dxx" % (code // 100) if code // 100 in (4, 5) else "error", "rcpt %d" % code)
                except Exception as e:
                    note(r, "error", repr(e))
                    broken = True
            try:
                s.quit()
            except Exception:
                pass

    ts = [threading.Thread(target=worker) for _ in range(a.sessions)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    json.dump({"sent": nxt[0], "per_rcpt": counts, "errors": errors}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
