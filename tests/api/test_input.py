"""Hostile and careless input through the real stack (issue 9): the bounds of
one event (docs/limits.md), bodies that used to give 500/503, RFC 3339
timestamps over their whole range and every consumer of the parser, and
the modes of everything the stack keeps on disk."""
import json
import os
import pwd
import stat
import time

import pytest

from conftest import assert_error
from evutil import Client, event, new_key, new_tenant

pytestmark = pytest.mark.app

RFC3339_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$"


@pytest.fixture
def client(base_url, admin_bin):
    c = Client(base_url, new_key(admin_bin, new_tenant("in"), "read:events,write:events,read:audit-activity"))
    yield c
    c.close()


def assert_400(r, *words):
    msg = assert_error(r, 400, "invalid_parameter")
    for w in words:
        assert w in msg, msg


# ---------------------------------------------------------------- event bounds


def keys(n, prefix="k"):
    return {f"{prefix}{i}": 1 for i in range(n)}


def test_256_details_keys_are_accepted_257_refused(client):
    assert client.post(event(details=keys(256))).status_code == 201
    assert_400(client.post(event(details=keys(257))), "event 0", "256 keys")


def test_nested_keys_count_towards_the_limit(client):
    details = {f"n{i}": {"a": 1} for i in range(129)}   # 258 keys in all
    assert_400(client.post({"events": [event(), event(details=details)]}), "event 1", "256 keys")


def test_40000_details_keys_are_400_at_once(client):
    """Used to be a 503 after 4 s, repeated by every retry."""
    started = time.monotonic()
    r = client.post(event(details=keys(40000)))
    assert_400(r, "event 0", "65536")
    assert time.monotonic() - started < 3


def test_35000_keys_in_a_batch_are_400_naming_the_index(client):
    r = client.post({"events": [event(), event(), event(details=keys(35000))]})
    assert_400(r, "event 2", "65536")


def test_5_mib_body_with_one_large_array_is_400(client):
    """Used to be a 500 ("Document is 43452931 bytes")."""
    n = (5 * 1024 * 1024 - 200) // 2
    body = json.dumps(event(details={"a": [1] * n}), separators=(",", ":")).encode()
    assert len(body) <= 5 * 1024 * 1024
    r = client.post(body, content_type="application/json")
    assert_400(r, "event 0", "65536")


def test_string_longer_than_32_kib_is_400(client):
    assert client.post(event(details={"query": "x" * 32768})).status_code == 201
    assert_400(client.post(event(details={"query": "x" * 32769})), "event 0", "32768")


def test_event_over_64_kib_is_400_statement_included(client):
    ev = event(details={"query": "x" * 32000, "other": "y" * 32000, "more": "z" * 2000})
    assert_400(client.post(ev), "event 0", "65536")


def test_depth_is_bounded(client):
    deep = 1
    for _ in range(7):
        deep = {"a": deep}
    assert client.post(event(details=deep)).status_code == 201
    assert_400(client.post(event(details={"b": deep})), "event 0", "8 levels")


# Each body is something a careless or hostile client sends; none may be a 5xx.
HOSTILE = [
    ("deep JSON", b'{"type":"database.query","timestamp":"2025-01-15T14:32:18Z","details":'
     + b'{"a":' * 3000 + b"1" + b"}" * 3001, "application/json"),
    ("deep arrays", b"[" * 100000 + b"]" * 100000, "application/json"),
    ("huge integer", b'{"type":"database.query","timestamp":"2025-01-15T14:32:18Z","details":{"n":'
     + b"9" * 400 + b"}}", "application/json"),
    ("NaN", b'{"type":"database.query","timestamp":"2025-01-15T14:32:18Z","details":{"n":NaN}}',
     "application/json"),
    ("invalid UTF-8", b'{"type":"database.query","timestamp":"2025-01-15T14:32:18Z","details":{"u":"\xff"}}',
     "application/json"),
    ("NUL in a key", b'{"type":"database.query","timestamp":"2025-01-15T14:32:18Z","details":{"a\\u0000b":1}}',
     "application/json"),
    ("lone surrogate", b'{"type":"database.query","timestamp":"2025-01-15T14:32:18Z","details":{"u":"\\ud800"}}',
     "application/json"),
    ("1001 events in NDJSON", ("\n".join([json.dumps(event())] * 1001)).encode(), "application/x-ndjson"),
    ("one 4 MiB NDJSON line", json.dumps(event(details={"q": "x" * (4 * 1024 * 1024)})).encode(),
     "application/x-ndjson"),
    ("body over 5 MiB", b'{"events":[' + b" " * (5 * 1024 * 1024) + b"]}", "application/json"),
    ("100000 fraction digits", json.dumps(event(ts="2025-01-15T14:32:18." + "1" * 100000 + "Z",
                                                details=keys(3))).encode(), "application/json"),
    ("details a huge array of objects", json.dumps(event(details={"a": [{}] * 200000})).encode(),
     "application/json"),
]


@pytest.mark.parametrize("name,body,ctype", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_bodies_are_4xx(client, name, body, ctype):
    r = client.post(body, content_type=ctype)
    assert r.status_code in (400, 413), (name, r.status_code, r.text[:300])
    code = "invalid_parameter" if r.status_code == 400 else "payload_too_large"
    assert len(assert_error(r, r.status_code, code, name)) > 10


HOSTILE_QUERIES = [
    ("/v1/events", "limit=99999999999999999999999999"),
    ("/v1/events", "limit=-0x10"),
    ("/v1/events", "page=1e3"),
    ("/v1/events", "limit=%00"),
    ("/v1/events", "user=%FF%FE"),
    ("/v1/events", "user[$ne]=x"),
    ("/v1/events", "&".join(f"p{i}=1" for i in range(65))),
    ("/v1/events", "start_date=" + "2025-01-15T14:32:18." + "1" * 5000 + "Z&end_date=2025-01-14"),
    ("/v1/events", "start_date=%2B2025-01-15T14:32:18Z"),
    ("/v1/events", "type=" + "*" * 600),
    ("/v1/events", "type=" + ",".join(["*"] * 200)),
    ("/v1/events", "cursor=c1.////////////"),
    ("/v1/events", "cursor=" + "A" * 5000),
    ("/v1/events", "source_ip=" + "1" * 3000),
    ("/api/v1/public/audit-activity", "search=" + "a" * 201),
    ("/api/v1/public/audit-activity", "pageSize=0"),
    ("/api/v1/public/audit-activity", "sortBy=%24where"),
    ("/api/v1/public/audit-activity", "startTime=9999-12-31T23:59:59-23:59"),
    ("/api/v1/public/audit-activity/summary", "startTime=0000-01-01T00:00:00Z"),
]


@pytest.mark.parametrize("path,query", HOSTILE_QUERIES, ids=[f"{p}?{q[:40]}" for p, q in HOSTILE_QUERIES])
def test_hostile_queries_are_400(client, path, query):
    r = client.s.get(f"{client.base}{path}?{query}", headers={"X-Api-Key": client.key}, timeout=30)
    assert_400(r)


def test_hostile_paths_are_4xx(client):
    for path in ("/v1/events/" + "a" * 3000, "/v1/events/%ZZ", "/v1/events/%C0%AF",
                 "/v1/events/evt_" + "0" * 24 + "%00"):
        r = client.s.get(client.base + path, headers={"X-Api-Key": client.key}, timeout=30)
        assert r.status_code in (400, 404, 414), (path[:40], r.status_code, r.text[:200])


def test_a_valid_event_right_after_hostile_ones_is_stored(client):
    """The workers survived all of the above."""
    assert client.post(event(details={"after": True})).status_code == 201


# ---------------------------------------------------------------- timestamps


VALID_TIMES = [
    ("2025-01-15t14:32:18z", "2025-01-15T14:32:18Z"),
    ("2025-01-15T14:32:18.123456789012Z", "2025-01-15T14:32:18.123Z"),
    ("2025-01-15T16:32:18.5+02:00", "2025-01-15T14:32:18.500Z"),
    ("2025-01-15T14:32:18-00:00", "2025-01-15T14:32:18Z"),
    ("1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z"),
    ("1900-06-01T00:00:00Z", "1900-06-01T00:00:00Z"),
    ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
    ("0001-01-01T01:00:00+01:00", "0001-01-01T00:00:00Z"),
    ("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"),
    ("9999-12-31T23:59:59+23:59", "9999-12-31T00:00:59Z"),
    ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999Z"),
    ("2017-01-01T00:59:60.25+01:00", "2016-12-31T23:59:59.999Z"),
]


@pytest.mark.parametrize("given,stored", VALID_TIMES, ids=[v[0] for v in VALID_TIMES])
def test_every_rfc3339_form_is_accepted_and_returned_in_utc(client, given, stored):
    r = client.post(event(ts=given))
    assert r.status_code == 201, r.text
    eid = r.json()["ids"][0]
    got = client.get(f"/v1/events/{eid}")
    assert got.status_code == 200, got.text
    assert got.json()["timestamp"] == stored
    rec = client.get(f"/api/v1/public/audit-activity/{eid}")
    assert rec.status_code == 200, rec.text
    assert rec.json()["data"]["eventTime"] == stored


BAD_TIMES = [
    "9999-12-31T23:59:59-23:59",   # year 10000 in UTC
    "9999-12-31T23:59:59-00:01",
    "0001-01-01T00:00:00+00:01",   # year 0 in UTC
    "0000-06-01T00:00:00Z",
    "2016-12-31T23:59:60+01:00",   # not the last second of a UTC day
    "2025-01-15T14:32:60Z",
    "2025-01-15T14:32:18+24:00",
    "2025-01-15T14:32:18.Z",
    "10000-01-01T00:00:00Z",
]


@pytest.mark.parametrize("ts", BAD_TIMES)
def test_out_of_range_or_malformed_timestamps_are_400(client, ts):
    assert_400(client.post(event(ts=ts)), "event 0", "timestamp", "9999")


def test_date_filters_accept_every_form_and_the_whole_range(client):
    ids = {}
    for ts in ("1950-03-01T12:00:00Z", "2025-01-15T14:32:18Z", "9999-12-31T23:59:59.999Z"):
        r = client.post(event(ts=ts))
        assert r.status_code == 201, r.text
        ids[ts] = r.json()["ids"][0]

    def listed(**params):
        r = client.list(**params)
        assert r.status_code == 200, r.text
        return {e["id"] for e in r.json()["events"]}

    assert listed(start_date="0001-01-01", end_date="1969-12-31") == {ids["1950-03-01T12:00:00Z"]}
    assert listed(start_date="1950-03-01t12:00:00.0019999z",
                  end_date="2025-01-15T16:32:18+02:00") == {ids["2025-01-15T14:32:18Z"]}
    assert listed(start_date="9999-12-31") == {ids["9999-12-31T23:59:59.999Z"]}
    assert listed(end_date="9999-12-31T23:59:59.999Z") == set(ids.values())
    assert listed(end_date="1950-03-01T11:00:00-00:59") == set()   # 11:59 UTC
    for bad in ("9999-12-31T23:59:59-23:59", "0000-12-31", "2025-01-15T14:32:18.Z"):
        assert_400(client.list(start_date=bad), "start_date", "RFC 3339")
        assert_400(client.list(end_date=bad), "end_date")


def test_kaudit_time_parameters_use_the_same_parser(client):
    r = client.post(event(ts="1960-01-01T00:00:00Z", details={"user": "old"}))
    assert r.status_code == 201
    eid = r.json()["ids"][0]
    r = client.get("/api/v1/public/audit-activity",
                   params={"startTime": "1959-12-31t23:00:00-01:00", "endTime": "1960-01-01T00:00:00.000000Z"})
    assert r.status_code == 200, r.text
    assert [d["recordId"] for d in r.json()["data"]] == [eid]
    r = client.get("/api/v1/public/audit-activity/summary",
                   params={"startTime": "0001-01-01T00:00:00Z", "endTime": "1969-12-31T23:59:59.999Z"})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["totalCount"] == 1
    assert r.json()["data"]["latestEventTime"] == "1960-01-01T00:00:00Z"
    bad = client.get("/api/v1/public/audit-activity", params={"startTime": "9999-12-31T23:59:59-23:59"})
    assert bad.status_code == 400, bad.text


# ---------------------------------------------------------------- file modes


def test_state_dir_is_the_owners_alone(var_dir):
    """After scripts/stack up: no file readable and no directory enterable by
    others; only the sockets (0660) and the directories nginx traverses (g+x)
    are open to the www-data group, and only when the stack runs as root."""
    root = os.geteuid() == 0
    www = pwd.getpwnam("www-data").pw_gid if root else None
    group_ok = {var_dir, var_dir / "run", var_dir / "nginx"}
    seen = 0
    for dirpath, dirnames, filenames in os.walk(var_dir):
        for name in [*dirnames, *filenames]:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            mode = stat.S_IMODE(st.st_mode)
            seen += 1
            if stat.S_ISLNK(st.st_mode):
                continue
            assert mode & 0o007 == 0, f"{p} is {oct(mode)}: open to others"
            if stat.S_ISSOCK(st.st_mode):
                assert mode == 0o660, f"{p} is {oct(mode)}"
                if root:
                    assert st.st_gid == www, f"{p} is not group www-data"
            elif stat.S_ISDIR(st.st_mode):
                if mode & 0o070:
                    assert root and os.path.realpath(p) in {os.path.realpath(g) for g in group_ok} \
                        and mode & 0o070 == 0o010, f"{p} is {oct(mode)}"
            else:
                assert mode & 0o077 == 0, f"{p} is {oct(mode)}: not 0600"
    for d in (var_dir,):
        mode = stat.S_IMODE(os.stat(d).st_mode)
        assert mode & 0o067 == 0, f"{d} is {oct(mode)}"
    assert seen > 10
    assert (var_dir / "log").is_dir() and any((var_dir / "log").iterdir())
    assert any((var_dir / "store").iterdir())
