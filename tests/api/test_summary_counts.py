"""The kAudit summary stays exact while writers race: on SQLite it is served
from counters kept in each batch's transaction (store_sqlite_summary.c), so
every count must agree with the events a list returns, whatever the
interleaving, the duplicates and the edges of the range asked for."""
import concurrent.futures

import pytest

from evutil import Client, event, new_key, new_tenant

pytestmark = pytest.mark.app

WRITERS = 6
BATCHES = 4
PER_BATCH = 25


def batch(w, b):
    """Events of writer w's batch b: minutes, hours and days apart, some failed,
    each external_id also sent by the next writer (stored once)."""
    out = []
    for i in range(PER_BATCH):
        n = (w * BATCHES + b) * PER_BATCH + i
        day, hour, minute, sec = 1 + n % 3, n % 24, (n * 7) % 60, (n * 13) % 60
        out.append(event("database.query", f"2026-03-0{day}T{hour:02d}:{minute:02d}:{sec:02d}Z",
                         external_id=f"x{(n % (WRITERS * BATCHES * PER_BATCH // 2))}",
                         details={"user": f"u{n % 7}", "succeeded": n % 5 != 0}))
    return out


def listed(reader, **params):
    """Every event of the tenant in the range, through the list."""
    seen, page = [], 1
    while True:
        r = reader.list(limit=100, page=page, **params)
        assert r.status_code == 200, r.text
        events = r.json()["events"]
        seen += events
        if len(events) < 100:
            return seen
        page += 1


def test_summary_is_exact_under_concurrent_ingest(base_url, admin_bin):
    t = new_tenant("sc")
    key = new_key(admin_bin, t, "write:events,read:events,read:audit-activity")
    clients = [Client(base_url, key) for _ in range(WRITERS)]

    def write(w):
        for b in range(BATCHES):
            r = clients[w].post({"events": batch(w, b)})
            assert r.status_code == 201, r.text

    with concurrent.futures.ThreadPoolExecutor(WRITERS) as ex:
        list(ex.map(write, range(WRITERS)))
    reader = clients[0]
    ranges = [{}, {"startTime": "2026-03-02T00:00:00Z"}, {"endTime": "2026-03-02T13:59:59Z"},
              {"startTime": "2026-03-01T05:07:30Z", "endTime": "2026-03-03T17:00:00Z"}]
    for rng in ranges:
        params = {"start_date": rng.get("startTime"), "end_date": rng.get("endTime")}
        events = listed(reader, **{k: v for k, v in params.items() if v})
        r = reader.get("/api/v1/public/audit-activity/summary", params=rng)
        assert r.status_code == 200, r.text
        d = r.json()["data"]
        assert d["totalCount"] == len(events), rng
        ok = sum(1 for e in events if e["details"]["succeeded"])
        assert (d["successfulCount"], d["failedCount"]) == (ok, len(events) - ok), rng
        assert d["distinctPrincipals"] == len({e["details"]["user"] for e in events}), rng
        assert d["latestEventTime"] == max(e["timestamp"] for e in events), rng
    assert len(listed(reader)) == WRITERS * BATCHES * PER_BATCH // 2  # duplicates stored once
    for c in clients:
        c.close()
