#!/usr/bin/env python3
"""bench/cursor_lag.py: the lag from an ingest's 201 to the event's
visibility to a cursor poller (GET /v1/events?cursor=, commit order). One
thread ingests single events at a steady rate; one poller follows
next_cursor, polling again at once after a full page and after POLL_MS
(10 ms) after an empty one. Prints one JSON object: lag p50/p99/max
(first sight minus the 201), events missed and seen twice.

usage: cursor_lag.py BASE_URL KEY RATE SECONDS [POLL_MS]. Driven by bench/run-stream."""
import json
import sys
import threading
import time

import requests

base, key, rate, secs = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
poll_s = (float(sys.argv[5]) if len(sys.argv) > 5 else 10.0) / 1000
hdr = {"X-Api-Key": key}
acked, seen, dups = {}, {}, 0


def ingest(stop_at):
    s = requests.Session()
    n, t0 = 0, time.monotonic()
    while time.monotonic() < stop_at:
        body = {"type": "database.query", "timestamp": "2025-01-15T14:32:18Z",
                "details": {"user": "lag", "query": "select 1"}}
        r = s.post(base + "/v1/events", json=body, headers=hdr, timeout=30)
        if r.status_code == 201:
            acked[r.json()["ids"][0]] = time.monotonic()
        n += 1
        delay = t0 + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def poll(stop_at):
    global dups
    s = requests.Session()
    # start from now: the newest cursor of an empty read at the end of the log
    cursor = ""
    while True:
        r = s.get(base + "/v1/events", params={"cursor": cursor, "limit": 100}, headers=hdr, timeout=30)
        if r.status_code != 200:
            raise SystemExit(f"cursor poll: {r.status_code} {r.text}")
        body = r.json()
        if not body["pagination"]["has_more"]:
            cursor = body["pagination"]["next_cursor"]
            break
        cursor = body["pagination"]["next_cursor"]
    while time.monotonic() < stop_at:
        r = s.get(base + "/v1/events", params={"cursor": cursor, "limit": 100}, headers=hdr, timeout=30)
        if r.status_code != 200:
            time.sleep(poll_s)
            continue
        now = time.monotonic()
        body = r.json()
        for e in body["events"]:
            if e["id"] in seen:
                dups += 1
            seen[e["id"]] = now
        cursor = body["pagination"]["next_cursor"]
        if not body["pagination"]["has_more"]:
            time.sleep(poll_s)


t0 = time.monotonic()
p = threading.Thread(target=poll, args=(t0 + secs + 3,))
p.start()
time.sleep(1)
ingest(time.monotonic() + secs)
p.join()
lag = sorted((seen[i] - t) * 1000 for i, t in acked.items() if i in seen)
pct = lambda q: round(lag[min(len(lag) - 1, int(q * len(lag)))], 1) if lag else None
print(json.dumps({"cursor_poller": True, "rate_per_s": rate, "poll_ms": poll_s * 1000,
                  "events_acked": len(acked), "missed": sum(1 for i in acked if i not in seen),
                  "seen_twice": dups,
                  "lag_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0)}}))
