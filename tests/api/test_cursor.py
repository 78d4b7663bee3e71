"""Cursor polling (CONTRACT §5): a poller that follows next_cursor sees every
acknowledged event exactly once while many writers ingest at the same time.
docs/events.md explains the commit sequence and the watermark."""
import random
import threading
import time
from urllib.parse import urljoin

import pytest
import requests

from conftest import assert_error
from evutil import Client, event, new_key, new_tenant

pytestmark = pytest.mark.app

WRITERS = 6
BATCHES = 12


@pytest.fixture
def client(base_url, admin_bin):
    c = Client(base_url, new_key(admin_bin, new_tenant("cur"), "read:events,write:events"))
    yield c
    c.close()


def poll_page(c, cursor, limit):
    for attempt in range(10):  # a poller retries a 503 with the same cursor
        r = c.list(cursor=cursor, limit=limit)
        if r.status_code != 503:
            break
        time.sleep(0.5)
    assert r.status_code == 200, r.text
    body = r.json()
    page = body["pagination"]
    assert set(page) == {"per_page", "next_cursor", "has_more"}
    assert page["next_cursor"] and isinstance(page["has_more"], bool)
    link = r.headers.get("Link", "")
    assert link.startswith("</v1/events?cursor=" + page["next_cursor"]), link
    assert link.endswith('rel="next"')
    return [e["id"] for e in body["events"]], page["next_cursor"], page["has_more"]


def test_exactly_once_under_concurrent_writers(client, base_url):
    """>= 4 writers through nginx, a poller following cursors meanwhile;
    at the end the poller drains and the sets are equal, with no duplicate."""
    acked, failures = set(), []
    lock = threading.Lock()
    writers_done = threading.Event()
    seen, cursors = [], []

    def writer(w):
        c = Client(base_url, client.key)
        rnd = random.Random(w)
        sent = []
        try:
            for b in range(BATCHES):
                batch = [event(external_id=f"w{w}-b{b}-{i}",
                               details={"user": f"u{w}", "seq_hint": i})
                         for i in range(rnd.randint(1, 60))]
                if sent and rnd.random() < 0.3:
                    batch += rnd.sample(sent, min(3, len(sent)))  # retried events
                for attempt in range(10):  # a collector retries 503s with backoff
                    r = c.post({"events": batch})
                    if r.status_code == 201:
                        break
                    if r.status_code != 503:
                        failures.append((r.status_code, r.text))
                        return
                    time.sleep(min(0.2 * 2 ** attempt, 3))
                else:
                    failures.append(("gave up", r.text))
                    return
                body = r.json()
                assert len(body["ids"]) == len(batch)
                with lock:
                    acked.update(body["ids"])
                sent += batch[:5]
        finally:
            c.close()

    def poller():
        c = Client(base_url, client.key)
        cursor = ""
        rnd = random.Random(99)
        try:
            while not writers_done.is_set():
                ids, cursor, more = poll_page(c, cursor, rnd.choice([1, 7, 50, 200]))
                seen.extend(ids)
                cursors.append(cursor)
                if not more:
                    time.sleep(0.1)
        finally:
            c.close()
        cursors.append(cursor)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    p = threading.Thread(target=poller)
    p.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    writers_done.set()
    p.join(timeout=60)
    assert not failures, failures
    assert len(acked) > WRITERS * BATCHES
    assert seen, "the poller saw nothing while the writers ran"
    print(f"{len(acked)} events acknowledged; {len(seen)} polled during the writes, "
          f"{len(cursors)} polls")

    # Drain: follow the cursor until nothing is left and every ack is seen.
    cursor = cursors[-1]
    deadline = time.time() + 30
    while True:
        ids, cursor, more = poll_page(client, cursor, 1000)
        seen.extend(ids)
        if not more and set(seen) >= acked:
            break
        assert time.time() < deadline, f"{len(acked - set(seen))} acknowledged events never polled"
        if not more:
            time.sleep(0.2)
    assert len(seen) == len(set(seen)), "an event was polled twice"
    assert set(seen) == acked

    # A poller starting from scratch now gets the same set, in the same order.
    again, cursor, more = [], "", True
    while more:
        ids, cursor, more = poll_page(client, cursor, 333)
        again.extend(ids)
    assert again == seen


def test_empty_page_still_returns_the_cursor(client):
    ids, cursor, more = poll_page(client, "", 10)
    assert ids == [] and more is False
    ids2, cursor2, more2 = poll_page(client, cursor, 10)
    assert ids2 == [] and more2 is False and cursor2 >= cursor


def test_cursor_pages_follow_commit_order_not_timestamps(client):
    # Timestamps go backwards; commit order is what the cursor follows.
    for i, ts in enumerate(["2025-03-01T00:00:00Z", "2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z"]):
        assert client.post(event(ts=ts, external_id=f"o{i}")).status_code == 201
    got, cursor, more = [], "", True
    while more:
        ids, cursor, more = poll_page(client, cursor, 1)
        got.extend(ids)
    r = client.list(limit=10)
    newest_first = [e["id"] for e in r.json()["events"]]
    assert got == [newest_first[0], newest_first[2], newest_first[1]]
    # nothing new: the same cursor comes back, with no event
    assert poll_page(client, cursor, 5) == ([], cursor, False)
    # a new event shows up after the cursor, and only it
    r = client.post(event(external_id="o3"))
    ids, cursor2, more = poll_page(client, cursor, 5)
    assert ids == r.json()["ids"] and not more


def test_start_date_starts_from_a_time(client):
    for i, ts in enumerate(["2024-01-01T00:00:00Z", "2025-06-01T00:00:00Z", "2024-02-01T00:00:00Z",
                            "2025-07-01T00:00:00Z"]):
        assert client.post(event(ts=ts, external_id=f"s{i}")).status_code == 201
    r = client.list(cursor="", start_date="2025-01-01T00:00:00Z", limit=10)
    assert r.status_code == 200
    assert [e["timestamp"] for e in r.json()["events"]] == ["2025-06-01T00:00:00Z", "2025-07-01T00:00:00Z"]
    assert "start_date=2025-01-01T00%3A00%3A00Z" in r.headers["Link"]


def test_filters_apply_in_cursor_mode(client):
    client.post({"events": [event("security.anomaly", external_id="f1"),
                            event("database.query", external_id="f2"),
                            event("security.threat_detected", external_id="f3")]})
    r = client.list(cursor="", type="security.*")
    assert [e["type"] for e in r.json()["events"]] == ["security.anomaly", "security.threat_detected"]
    assert "type=security.%2A" in r.headers["Link"]


@pytest.mark.parametrize("cursor", ["x", "c1.", "c1.AAAAAAAAAA", "c1.AAAAAAAAAAB", "c2.AAAAAAAAAAA",
                                    "c1.AAAAAAAAAA=", "c1.//////////8", "1", "c1.gAAAAAAAAAA",
                                    "{\"$gt\":0}"])
def test_malformed_cursor_is_400(client, cursor):
    r = client.list(cursor=cursor)
    assert_error(r, 400, "invalid_parameter")


def test_cursor_ahead_of_the_stream_is_400(client):
    r = client.list(cursor="c1.f_________w")  # 2^63 - 1
    assert r.status_code == 400


def test_cursor_and_page_exclude_each_other(client):
    assert client.list(cursor="", page=2).status_code == 400


def test_cursor_given_twice_is_400(client):
    r = client.get("/v1/events?cursor=&cursor=")
    assert r.status_code == 400


def test_abandoned_sequences_are_claimed_after_the_lease(client, api, admin_key, engine):
    """A writer that allocated sequences and died holds the watermark back
    only until the lease runs out; then later events become visible."""
    if engine != "mongodb":
        pytest.skip("the MongoDB engine's lease: SQLite assigns sequences inside the write "
                    "transaction, so no writer can die holding one")
    r = api("POST", "/v1/_debug/events/allocate?n=3", key=admin_key)
    if r.status_code == 404:
        pytest.skip("debug routes are off in this stack")
    lease = r.json()["lease_ms"] / 1000.0
    if lease > 15:
        pytest.skip(f"cursor_gap_lease_ms is {lease}s; run with DBAUDIT_CURSOR_GAP_LEASE_MS<=15000")
    _, start, _ = poll_page(client, "", 1000)
    posted = client.post(event(external_id="after-gap")).json()["ids"]
    ids, cursor, _ = poll_page(client, start, 1000)
    assert ids == []  # held back by the undecided sequences before it
    deadline = time.time() + lease + 10
    while time.time() < deadline:
        ids, cursor, _ = poll_page(client, cursor, 1000)
        if ids:
            break
        time.sleep(0.5)
    assert ids == posted


def test_a_poller_can_follow_the_link_header_alone(client):
    """Sentinel-style: request the URL of rel="next" as it is."""
    ids = client.post({"events": [event(external_id=f"l{i}", details={"user": "x"}) for i in range(5)]}).json()["ids"]
    r = client.list(cursor="", limit=2, user="x")
    got = []
    while True:
        assert r.status_code == 200
        got += [e["id"] for e in r.json()["events"]]
        if not r.json()["pagination"]["has_more"]:
            break
        url = r.headers["Link"].split(">")[0].lstrip("<")
        assert "user=x" in url and "limit=2" in url
        r = client.s.get(urljoin(client.base + "/v1/events", url), headers={"X-Api-Key": client.key},
                         timeout=30)
    assert got == ids


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8443"])
def test_link_is_never_built_from_the_host_header(client, host):
    """The Link target is a relative reference (or public_base_url), so a
    forged Host cannot point a poller elsewhere."""
    r = client.s.get(client.base + "/v1/events", params={"cursor": ""}, timeout=30,
                     headers={"X-Api-Key": client.key, "Host": host})
    assert r.status_code == 200
    assert r.headers["Link"].startswith("</v1/events?cursor="), r.headers["Link"]
    assert "evil" not in r.headers["Link"]
