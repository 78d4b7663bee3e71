"""GET /v1/events/stream (CONTRACT §5 "Stream", docs/events.md "The stream"):
live delivery, resume with Last-Event-ID from the ring and from the store,
filters, tenants, the per-principal limit, disconnects, reloads, and exactly
once beside cursor pollers of both surfaces while four writers ingest.

scripts/test runs the stack with stream_heartbeat_ms=1000 (a closed client is
noticed within a second) and stream_buffer_events=200 (a gap of more than 200
events is caught up from the store, not from the ring)."""
import json
import random
import subprocess
import threading
import time

import pytest
import requests

from conftest import assert_error
from evutil import Client, event, new_key, new_tenant
from sse import NodeStream, RawStream

pytestmark = pytest.mark.app

STREAM_LIMIT = 10


@pytest.fixture
def client(base_url, admin_bin):
    c = Client(base_url, new_key(admin_bin, new_tenant("str"),
                                       "read:events,write:events,read:audit-activity,write:databases"))
    yield c
    c.close()


def post_ids(c, events):
    r = c.post({"events": events})
    assert r.status_code == 201, r.text
    return r.json()["ids"]


def open_stream(c, **kw):
    s = RawStream(c.base, c.key, **kw)
    assert s.status == 200, s.resp.text
    first = s.next()
    assert first.get("retry") is not None and int(first["retry"]) > 0
    return s


def test_live_delivery_frames_match_get(client):
    s = open_stream(client)
    try:
        assert s.resp.headers["Content-Type"].startswith("text/event-stream")
        assert s.resp.headers["Cache-Control"] == "no-cache"
        t0 = time.time()
        ids = post_ids(client, [event("user.login_failed", details={"user": "ann", "session_id": "s1"}),
                                event("database.query", details={"user": "ann", "session_id": "s1"})])
        got = s.events(2)
        lag = time.time() - t0
        assert [g["id"] for g in got] == ids
        assert [g["event"] for g in got] == ["user.login_failed", "database.query"]
        for g in got:
            assert json.loads(g["data"]) == client.get(f"/v1/events/{g['id']}").json()
        assert lag < 5, lag
    finally:
        s.close()


def test_heartbeat_comment_while_idle(client):
    s = open_stream(client)
    try:
        item = s.next(timeout=20)
        assert item == {"comment": "heartbeat"}
    finally:
        s.close()


def test_resume_from_the_ring_and_from_the_store(client):
    """Resume right after Last-Event-ID: a short gap comes from the ring, a gap
    of more than a page (and more than the ring) from the store; then live,
    with nothing missed or repeated at the seam."""
    first = post_ids(client, [event(external_id="r0")])[0]
    short = post_ids(client, [event(external_id=f"s{i}") for i in range(5)])
    long_ = []
    for b in range(3):  # 750 events: more than a catch-up page and the test ring (200)
        long_ += post_ids(client, [event(external_id=f"l{b}-{i}") for i in range(250)])
    after = short + long_
    for header in (True, False):
        kw = {"headers": {"Last-Event-ID": first}} if header else {"params": {"last_event_id": first}}
        s = open_stream(client, **kw)
        try:
            got = [g["id"] for g in s.events(len(after), timeout=60)]
            assert got == after
            live = post_ids(client, [event(external_id=f"live{header}")])
            assert [g["id"] for g in s.events(1)] == live
            assert s.quiet(1.5) == []
            after += live
        finally:
            s.close()
    # the header wins over the query (a reconnecting client sends the newer id there)
    s = open_stream(client, headers={"Last-Event-ID": long_[-2]}, params={"last_event_id": first})
    try:
        assert [g["id"] for g in s.events(1)] == [long_[-1]]
    finally:
        s.close()


def test_unknown_foreign_or_malformed_last_event_id_is_400(client, base_url, admin_bin):
    other = Client(base_url, new_key(admin_bin, new_tenant("oth"), "read:events,write:events"))
    try:
        foreign = post_ids(other, [event()])[0]
    finally:
        other.close()
    for bad in (foreign, "evt_000000000000000000000000", "nope", "evt_ZZ"):
        s = RawStream(base_url, client.key, headers={"Last-Event-ID": bad})
        assert_error(s.resp, 400, "invalid_parameter", bad)
        s.close()


def test_filters_and_tenants(client, base_url, admin_bin, api):
    db = client.s.post(base_url + "/v1/databases", headers={"X-Api-Key": client.key}, timeout=30,
                       json={"name": "n", "type": "postgresql", "host": "127.0.0.1", "port": 5432,
                             "database": "stream_db", "username": "u", "password": "p"})
    assert db.status_code == 201, db.text
    db_id = db.json()["id"]
    other = Client(base_url, new_key(admin_bin, new_tenant("oth"), "read:events,write:events"))
    streams = {
        "type": open_stream(client, params={"type": "security.*,user.login_*"}),
        "severity": open_stream(client, params={"severity": "critical"}),
        "database_id": open_stream(client, params={"database_id": db_id}),
        "all": open_stream(client),
    }
    try:
        ids = post_ids(client, [event("security.anomaly"), event("database.query", database_id=db_id),
                                event("user.login_success"), event("security.threat_detected"),
                                event("database.query", severity="critical")])
        post_ids(other, [event("security.anomaly"), event("database.query", severity="critical")])
        assert [g["id"] for g in streams["all"].events(5)] == ids
        assert [g["id"] for g in streams["type"].events(3)] == [ids[0], ids[2], ids[3]]
        assert [g["id"] for g in streams["severity"].events(2)] == [ids[3], ids[4]]
        assert [g["id"] for g in streams["database_id"].events(1)] == [ids[1]]
        for s in streams.values():  # nothing else, in particular nothing of the other tenant
            assert s.quiet(1.0) == []
    finally:
        for s in streams.values():
            s.close()
        other.close()


@pytest.mark.parametrize("query", ["type=nosuch.*", "severity=bad", "database_id=a%20b", "limit=5",
                                   "start_date=yesterday"])
def test_bad_parameters_are_400(client, query):
    r = client.get("/v1/events/stream?" + query)
    assert_error(r, 400, "invalid_parameter", query)


def test_auth_runs_first(base_url, admin_bin):
    r = requests.get(base_url + "/v1/events/stream", timeout=10)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    key = new_key(admin_bin, new_tenant("ns"), "write:events")
    r = requests.get(base_url + "/v1/events/stream", headers={"X-Api-Key": key}, timeout=10)
    assert_error(r, 403, "forbidden")


def wait_for_slots(c, n, secs=15):
    """Opens n streams, retrying while the server has not yet noticed closed
    ones. The streams already open are kept: closing them to start over would
    leave more closed streams for the server to notice."""
    deadline = time.time() + secs
    opened = []
    while len(opened) < n and time.time() < deadline:
        s = RawStream(c.base, c.key)
        if s.status == 200:
            opened.append(s)
            continue
        s.close()
        time.sleep(0.5)
    return opened


@pytest.mark.usefixtures("http_layer_test")
def test_eleventh_stream_is_429_and_slots_come_back(client):
    streams = [open_stream(client) for _ in range(STREAM_LIMIT)]
    try:
        r = RawStream(client.base, client.key)
        assert_error(r.resp, 429, "rate_limited")
        assert int(r.resp.headers["Retry-After"]) >= 1
        r.close()
        # a client that leaves frees its slot at the next write (heartbeat)
        streams.pop().close()
        again = wait_for_slots(client, 1)
        assert len(again) == 1
        streams += again
    finally:
        for s in streams:
            s.close()
    # all ten leave: all ten slots come back
    back = wait_for_slots(client, STREAM_LIMIT)
    try:
        assert len(back) == STREAM_LIMIT
    finally:
        for s in back:
            s.close()


def test_streams_survive_a_reload(client, repo_dir, stack_env):
    """Streams open across scripts/stack reload end cleanly; the eventsource
    client reconnects with Last-Event-ID and misses nothing, repeats nothing."""
    node = NodeStream(client.base, client.key)
    raw = open_stream(client)
    posted, stop = [], threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            posted.extend(post_ids(client, [event(external_id=f"rl{i}")]))
            i += 1
            time.sleep(0.05)

    try:
        node.wait_open()
        t = threading.Thread(target=writer)
        t.start()
        try:
            out = subprocess.run([str(repo_dir / "scripts" / "stack"), "reload"], env=stack_env,
                                 capture_output=True, text=True, timeout=300)
        finally:
            time.sleep(1)
            stop.set()
            t.join()
        assert out.returncode == 0, out.stdout + out.stderr
        assert raw.ended.wait(10), "the raw stream was not ended by the reload"
        reports = node.drain(8)
        events = [r["id"] for r in reports if "id" in r]
        assert sum(1 for r in reports if r.get("open")) >= 1  # it reconnected
        assert len(events) == len(set(events))
        assert events == posted
    finally:
        node.close()
        raw.close()


def test_every_surface_sees_every_event_exactly_once(client, base_url):
    """Four writers; meanwhile an eventsource client, a /v1/events cursor
    poller and a kAudit cursor poller run. Each sees the acknowledged set
    exactly once, in the same (commit) order."""
    node = NodeStream(base_url, client.key)
    node.wait_open()
    acked, lock, writers_done = [], threading.Lock(), threading.Event()
    polled = {"v1": [], "kaudit": []}
    errors = []

    def writer(w):
        c = Client(base_url, client.key)
        rnd = random.Random(w)
        try:
            for b in range(10):
                ids = post_ids(c, [event(external_id=f"w{w}-{b}-{i}") for i in range(rnd.randint(1, 40))])
                with lock:
                    acked.extend(ids)
        finally:
            c.close()

    def poll(surface):
        c = Client(base_url, client.key)
        cursor, idle = "", 0
        try:
            while idle < 3:
                if surface == "v1":
                    r = c.list(cursor=cursor, limit=50)
                else:
                    r = c.get("/api/v1/public/audit-activity", params={"cursor": cursor, "pageSize": 37})
                if r.status_code in (429, 503):  # a poller retries these with the same cursor
                    errors.append(r.status_code)
                    time.sleep(float(r.headers.get("Retry-After", "1")))
                    continue
                assert r.status_code == 200, r.text
                body = r.json()
                if surface == "v1":
                    ids = [e["id"] for e in body.get("events", [])]
                    cursor, more = body["pagination"]["next_cursor"], body["pagination"]["has_more"]
                else:
                    ids = [e["recordId"] for e in body.get("data", [])]
                    cursor, more = body["meta"]["nextCursor"], body["meta"]["hasMore"]
                polled[surface] += ids
                if not ids and not more:
                    idle = idle + 1 if writers_done.is_set() else 0
                    time.sleep(0.3)
        finally:
            c.close()

    pollers = [threading.Thread(target=poll, args=(s,)) for s in polled]
    for p in pollers:
        p.start()
    writers = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    writers_done.set()
    for p in pollers:
        p.join(timeout=120)
    # The stream may trail the pollers a little (its reader reads a page at
    # a time from the store): wait until it has as many events, then a bit.
    streamed, deadline = [], time.time() + 90
    while len(streamed) < len(acked) and time.time() < deadline:
        streamed += [r["id"] for r in node.drain(1) if "id" in r]
    streamed += [r["id"] for r in node.drain(1) if "id" in r]
    node.close()
    assert len(acked) == len(set(acked))
    for name, got in (("stream", streamed), ("v1", polled["v1"]), ("kaudit", polled["kaudit"])):
        assert len(got) == len(set(got)), f"{name} saw duplicates"
        assert set(got) == set(acked), f"{name}: {len(set(acked) - set(got))} missed"
    assert streamed == polled["v1"] == polled["kaudit"]


def metric(base_url, name):
    r = requests.get(base_url + "/metrics", timeout=10)
    assert r.status_code == 200
    for line in r.text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def settled_subscribers(base_url):
    """The gauge once streams closed by earlier tests were noticed (heartbeat 1 s)."""
    last = metric(base_url, "dbaudit_stream_subscribers")
    for _ in range(20):
        time.sleep(1.5)
        now = metric(base_url, "dbaudit_stream_subscribers")
        if now == last:
            return now
        last = now
    raise AssertionError("dbaudit_stream_subscribers never settled")


@pytest.mark.usefixtures("http_layer_test")
def test_metrics_count_subscribers_and_reader_store_reads(client, base_url):
    base = settled_subscribers(base_url)
    reads0 = metric(base_url, "dbaudit_stream_store_reads_total")
    streams = [open_stream(client) for _ in range(3)]
    try:
        assert metric(base_url, "dbaudit_stream_subscribers") == base + 3
        ids = post_ids(client, [event()])
        for s in streams:
            assert [g["id"] for g in s.events(1)] == ids
        # the reader went to the store for the watermark and the new event
        assert metric(base_url, "dbaudit_stream_store_reads_total") > reads0
    finally:
        for s in streams:
            s.close()
    assert settled_subscribers(base_url) == base
