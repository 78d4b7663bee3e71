"""The webhooks benchmark (bench/run-webhooks): deliveries per second with 1
and 50 webhooks to a receiver answering at once and one taking 200 ms, and
the latency from an ingest's 201 to receipt at a steady ingest rate.

usage: webhooks_bench.py BASE KEY EVENTS RATE SECONDS
"""
import http.server
import json
import sys
import threading
import time

import requests

BASE, KEY, EVENTS, RATE, SECS = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
    int(sys.argv[5])
H = {"X-API-Key": KEY}
S = requests.Session()


class Receiver:
    def __init__(self, delay):
        self.got = {}          # event id -> receipt time (monotonic)
        self.n = 0
        self.lock = threading.Lock()
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                now = time.monotonic()
                with rec.lock:
                    rec.n += 1
                    rec.got.setdefault(json.loads(body)["id"], now)
                if delay:
                    time.sleep(delay)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 256
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def hooks(n, url, etype):
    ids = []
    for _ in range(n):
        r = S.post(BASE + "/v1/webhooks", headers=H, timeout=30,
                   json={"url": url, "events": [etype], "secret": "bench-secret-0123456789"})
        r.raise_for_status()
        ids.append(r.json()["id"])
    return ids


def drop(ids):
    for i in ids:
        S.delete(BASE + f"/v1/webhooks/{i}", headers=H, timeout=30)


def ingest(n, etype):
    sent = 0
    while sent < n:
        k = min(500, n - sent)
        r = S.post(BASE + "/v1/events", headers=H, timeout=60,
                   json={"events": [{"type": etype, "timestamp": "2025-01-15T14:32:18Z"}] * k})
        r.raise_for_status()
        sent += k


def throughput(nhooks, delay, etype):
    rec = Receiver(delay)
    ids = hooks(nhooks, rec.url, etype)
    total = EVENTS if delay == 0 else max(20, EVENTS // 10)
    per_hook = max(1 if delay == 0 else 4, total // nhooks)
    t0 = time.monotonic()
    ingest(per_hook, etype)
    want = per_hook * nhooks
    deadline = t0 + 600
    while rec.n < want and time.monotonic() < deadline:
        time.sleep(0.05)
    dt = time.monotonic() - t0
    print(f"  {nhooks:>2} webhook(s), receiver {int(delay * 1000):>3} ms: {rec.n}/{want} deliveries"
          f" in {dt:.1f} s = {rec.n / dt:.0f}/s")
    drop(ids)
    rec.close()


def latency():
    rec = Receiver(0)
    ids = hooks(1, rec.url, "data.export")
    sent = {}
    interval = 0.1                     # batches of RATE/10 events, 10 times a second
    per = max(1, RATE // 10)
    t_end = time.monotonic() + SECS
    nxt = time.monotonic()
    marks = 0
    while time.monotonic() < t_end:
        # one marked event per batch: its 201 time is the start of its latency
        r = S.post(BASE + "/v1/events", headers=H, timeout=60,
                   json={"events": [{"type": "data.export", "timestamp": "2025-01-15T14:32:18Z"}]
                         + [{"type": "database.query", "timestamp": "2025-01-15T14:32:18Z"}]
                         * (per - 1)})
        t = time.monotonic()
        r.raise_for_status()
        sent[r.json()["ids"][0]] = t
        marks += 1
        nxt += interval
        time.sleep(max(0, nxt - time.monotonic()))
    deadline = time.monotonic() + 60
    while len(rec.got) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.05)
    lat = sorted((rec.got[i] - t) * 1000 for i, t in sent.items() if i in rec.got)
    if not lat:
        print("  latency: nothing received")
        return
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    print(f"  latency at {per * 10} events/s ingest: {len(lat)}/{len(sent)} received,"
          f" p50 {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms, max {lat[-1]:.0f} ms")
    drop(ids)
    rec.close()


def baseline():
    """What one sequential client gets from the fast receiver: the ceiling of
    in-order delivery to one receiver on this machine, measured in the same run."""
    rec = Receiver(0)
    s = requests.Session()
    n = 300
    t0 = time.monotonic()
    for i in range(n):
        s.post(rec.url, data=json.dumps({"id": f"b{i}"}), timeout=10)
    dt = time.monotonic() - t0
    print(f"  baseline: one Python client posting in sequence to the fast receiver: {n / dt:.0f}/s")
    rec.close()


print("throughput (deliveries/s):")
baseline()
for nh, delay, et in [(1, 0, "security.anomaly"), (50, 0, "user.login_failed"),
                      (1, 0.2, "data.sensitive_access"), (50, 0.2, "security.privilege_escalation")]:
    throughput(nh, delay, et)
latency()
