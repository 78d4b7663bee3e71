"""POST /v1/events (ingest) and GET /v1/events, /v1/events/{id} (CONTRACT §5,
the events seed): validation, all-or-nothing batches, idempotency under
racing retries, every filter with its 400s, injection attempts."""
import json
import re
import threading
import time

import pytest

from conftest import assert_error
from evutil import Client, event, new_key, new_tenant

pytestmark = pytest.mark.app

ID_RE = re.compile(r"^evt_[0-9a-f]{24}$")

SEED_TYPES = {
    "database.query": "info", "database.connection": "info", "database.disconnect": "info",
    "security.threat_detected": "critical", "security.anomaly": "warning",
    "security.privilege_escalation": "critical", "policy.violation": "warning",
    "policy.match": "info", "data.sensitive_access": "warning", "data.export": "warning",
    "user.login_failed": "warning", "user.login_success": "info",
}


@pytest.fixture
def client(base_url, admin_bin):
    c = Client(base_url, new_key(admin_bin, new_tenant("ev"), "read:events,write:events"))
    yield c
    c.close()


def total(c, **params):
    r = c.list(**params)
    assert r.status_code == 200, r.text
    return r.json()["pagination"]["total"]


# ---------------------------------------------------------------- ingest


def test_single_event_is_stored_and_listed(client):
    r = client.post(event("security.threat_detected", details={"user": "app_user"}))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["accepted"] == 1 and body["duplicates"] == 0 and len(body["ids"]) == 1
    assert ID_RE.match(body["ids"][0])
    listed = client.list().json()
    assert [e["id"] for e in listed["events"]] == body["ids"]
    e = listed["events"][0]
    assert e["type"] == "security.threat_detected" and e["severity"] == "critical"
    assert e["timestamp"] == "2025-01-15T14:32:18Z" and e["details"] == {"user": "app_user"}
    assert e["database_id"] is None


def test_batch_ids_come_back_in_request_order(client):
    batch = [event(ts=f"2025-01-{d:02d}T00:00:00Z", details={"n": d}) for d in range(1, 21)]
    r = client.post({"events": batch})
    assert r.status_code == 201 and r.json()["accepted"] == 20
    ids = r.json()["ids"]
    assert len(set(ids)) == 20 and all(ID_RE.match(i) for i in ids)
    for i in (0, 7, 19):
        got = client.get(f"/v1/events/{ids[i]}").json()
        assert got["details"] == {"n": i + 1}


def test_batch_of_1000_is_accepted_and_1001_refused(client):
    assert client.post({"events": [event()] * 1000}).json()["accepted"] == 1000
    r = client.post({"events": [event()] * 1001})
    assert "1000" in assert_error(r, 400)


def test_ndjson(client):
    lines = [json.dumps(event(details={"i": i})) for i in range(5)]
    r = client.post(("\n".join(lines[:2]) + "\n\n  \n" + "\n".join(lines[2:]) + "\n").encode())
    assert r.status_code == 201 and r.json()["accepted"] == 5
    r = client.post(b'{"type":"database.query","timestamp":"2025-01-15T14:32:18Z"}\n{"type":\n')
    assert "line 2" in assert_error(r, 400)
    r = client.post(("\n".join([json.dumps(event())] * 1001)).encode())
    assert r.status_code == 400
    assert client.post(b"\n\n").status_code == 400


@pytest.mark.parametrize("body", [
    b"", b"[]", b"42", b'"x"', b'{"events": []}', b'{"events": {}}', b'{"events": "x"}',
    b'{"events": [], "tenant_id": "x"}', b'{"events": [1]}', b'{"type": "database.query", "type": 1}',
    b'{"type": "database.query", "timestamp": "2025-01-15T14:32:18Z", "details": {"a": "\\u0000"}}',
    b"{not json",
])
def test_malformed_bodies_are_400(client, body):
    r = client.post(body, content_type="application/json")
    assert_error(r, 400, "invalid_parameter")


def test_other_content_types_are_415(client):
    r = client.post(b"type=database.query", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415


def test_body_over_5_mib_is_413(client):
    big = json.dumps(event(details={"query": "x" * (5 * 1024 * 1024)})).encode()
    r = client.post(big, content_type="application/json")
    assert r.status_code == 413


INVALID = [
    ({"timestamp": "2025-01-15T14:32:18Z"}, "type"),
    (event("database.select"), "type"),
    (event(type_=7), "type"),
    ({"type": "database.query"}, "timestamp"),
    (event(ts="yesterday"), "timestamp"),
    (event(ts="2025-13-01T00:00:00Z"), "timestamp"),
    (event(ts="2025-02-30T00:00:00Z"), "timestamp"),
    (event(ts="2025-01-15T14:32:18"), "timestamp"),
    (event(severity="high"), "severity"),
    (event(severity="INFO"), "severity"),
    (event(database_id="db 1"), "database_id"),
    (event(database_id="db/../x"), "database_id"),
    (event(database_id="d" * 65), "database_id"),
    (event(database_name=""), "database_name"),
    (event(database_name="x" * 257), "database_name"),
    (event(database_name="a\nb"), "database_name"),
    (event(details=[1]), "details"),
    (event(details="x"), "details"),
    (event(details={"a": [[1]]}), "arrays"),
    (event(details={"user": 5}), "details.user"),
    (event(details={"query": {"$ne": 1}}), "details.query"),
    (event(details={"succeeded": "yes"}), "details.succeeded"),
    (event(details={"source_ip": "10.0.0.300"}), "details.source_ip"),
    (event(details={"source_ip": "' OR 1=1"}), "details.source_ip"),
    (event(details={"action_id": "S-L"}), "details.action_id"),
    (event(details={"a.b": 1, "a_b": 2}), "collides"),
    (event(details={"": 1}), "empty"),
    (event(details={"k" * 257: 1}), "longer"),
    (event(details={"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}), "deeper"),
    (event(external_id=""), "external_id"),
    (event(external_id="x" * 129), "external_id"),
    (event(external_id="a\tb"), "external_id"),
    (event(id="evt_000000000000000000000000"), "unknown field"),
    (event(tenant_id="bad tenant"), "tenant_id"),
]


@pytest.mark.parametrize("ev,word", INVALID)
def test_invalid_event_is_400_naming_the_field(client, ev, word):
    r = client.post(ev)
    msg = assert_error(r, 400, "invalid_parameter")
    assert word in msg and "event 0" in msg


def test_external_id_of_128_characters_is_fine(client):
    assert client.post(event(external_id="é" * 128)).status_code == 201


def test_batch_is_all_or_nothing_and_names_the_first_invalid_indexes(client):
    batch = [event(external_id=f"ok{i}") for i in range(10)]
    batch[3] = event(ts="nope")
    batch[7] = event("bogus.type")
    r = client.post({"events": batch})
    msg = assert_error(r, 400)
    assert "indexes 3, 7" in msg and "event 3" in msg
    assert total(client) == 0
    # the valid part, sent alone, goes in
    r = client.post({"events": [batch[0]]})
    assert r.status_code == 201 and total(client) == 1


def test_tenant_not_held_is_403(client):
    r = client.post(event(tenant_id="someone-else"))
    assert "event 0" in assert_error(r, 403)


@pytest.mark.parametrize("type_,severity", sorted(SEED_TYPES.items()))
def test_severity_defaults_from_the_seed_table(client, type_, severity):
    ids = client.post(event(type_)).json()["ids"]
    assert client.get(f"/v1/events/{ids[0]}").json()["severity"] == severity
    ids = client.post(event(type_, severity="critical")).json()["ids"]
    assert client.get(f"/v1/events/{ids[0]}").json()["severity"] == "critical"


def test_details_keys_are_sanitised_and_values_round_trip(client):
    details = {"a.b": 1, "$where": "x", "n": {"c.d": {"$e": [1, {"f.g": True}]}},
               "big": 9007199254740993, "neg": -12, "pi": 3.25, "none": None,
               "text": "ünïcødé ✓ 日本", "ok": False, "list": ["a", 1, None]}
    ids = client.post(event(details=details)).json()["ids"]
    got = client.get(f"/v1/events/{ids[0]}").json()["details"]
    assert got == {"a_b": 1, "_where": "x", "n": {"c_d": {"_e": [1, {"f_g": True}]}},
                   "big": 9007199254740993, "neg": -12, "pi": 3.25, "none": None,
                   "text": "ünïcødé ✓ 日本", "ok": False, "list": ["a", 1, None]}


def test_external_id_is_idempotent(client):
    first = client.post(event(external_id="abc-1")).json()
    again = client.post({"events": [event(external_id="abc-1"), event(external_id="abc-2")]}).json()
    assert again["ids"][0] == first["ids"][0]
    assert again["accepted"] == 1 and again["duplicates"] == 1
    assert total(client) == 2


def test_duplicate_external_id_within_a_batch(client):
    r = client.post({"events": [event(external_id="same"), event(external_id="same")]}).json()
    assert r["ids"][0] == r["ids"][1] and r["accepted"] == 1 and r["duplicates"] == 1
    assert total(client) == 1


def test_external_ids_are_per_tenant(base_url, admin_bin, client):
    other = Client(base_url, new_key(admin_bin, new_tenant("ev"), "read:events,write:events"))
    a = client.post(event(external_id="shared")).json()["ids"][0]
    b = other.post(event(external_id="shared")).json()
    assert b["accepted"] == 1 and b["ids"][0] != a
    other.close()


def test_racing_retries_store_each_event_once(client, base_url):
    """Eight clients send the same batch at the same moment."""
    batch = [event(external_id=f"race-{i}", details={"i": i}) for i in range(50)]
    barrier = threading.Barrier(8)
    results = []

    def send():
        c = Client(base_url, client.key)
        barrier.wait()
        for _ in range(10):
            r = c.post({"events": batch})
            if r.status_code != 503:
                break
            time.sleep(0.5)
        results.append((r.status_code, r.json()))
        c.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 8 and all(code == 201 for code, _ in results), results
    ids = results[0][1]["ids"]
    assert all(body["ids"] == ids for _, body in results)
    assert sum(body["accepted"] for _, body in results) == 50
    assert total(client) == 50
    polled, cursor, more = [], "", True
    while more:
        r = client.list(cursor=cursor, limit=1000).json()
        polled += [e["id"] for e in r["events"]]
        cursor, more = r["pagination"]["next_cursor"], r["pagination"]["has_more"]
    assert sorted(polled) == sorted(ids)


def test_several_tenants_must_name_one(base_url, admin_bin):
    a, b = new_tenant("ma"), new_tenant("mb")
    both = Client(base_url, new_key(admin_bin, f"{a},{b}", "read:events,write:events"))
    only_b = Client(base_url, new_key(admin_bin, b, "read:events"))
    r = both.post(event())
    assert "tenant_id" in assert_error(r, 400)
    r = both.post({"events": [event(tenant_id=a), event(tenant_id=b), event(tenant_id=a)]})
    assert r.status_code == 201
    assert both.list().json()["pagination"]["total"] == 3
    assert only_b.list().json()["pagination"]["total"] == 1
    ida = r.json()["ids"][0]
    assert only_b.get(f"/v1/events/{ida}").status_code == 404
    both.close()
    only_b.close()


def test_unknown_database_is_422(client):
    r = client.post({"events": [event(), event(database_id="db_doesnotexist")]})
    assert "event 1" in assert_error(r, 422)
    assert total(client) == 0


def test_known_database_names_the_event(client, api, admin_key, base_url, admin_bin):
    tenant = new_tenant("dbn")
    key = new_key(admin_bin, tenant, "all")
    r = api("POST", "/v1/databases", key=key, json={
        "name": "production_users", "type": "postgresql", "host": "127.0.0.1", "port": 5432,
        "database": "users", "username": "u", "password": "p"})
    assert r.status_code == 201, r.text
    db = r.json()["id"]
    c = Client(base_url, key)
    ids = c.post(event(database_id=db)).json()["ids"]
    got = c.get(f"/v1/events/{ids[0]}").json()
    assert got["database_id"] == db and got["database_name"] == "production_users"
    c.close()


def test_credentials_and_scopes(base_url, admin_bin, api):
    assert api("POST", "/v1/events", json=event()).status_code == 401
    assert api("GET", "/v1/events").status_code == 401
    reader = new_key(admin_bin, new_tenant("sc"), "read:events")
    writer = new_key(admin_bin, new_tenant("sc"), "write:events")
    assert api("POST", "/v1/events", key=reader, json=event()).status_code == 403
    assert api("GET", "/v1/events", key=writer).status_code == 403
    assert api("GET", "/v1/events/evt_000000000000000000000000", key=writer).status_code == 403
    assert api("POST", "/v1/events", key=writer, json=event()).status_code == 201


# ---------------------------------------------------------------- query


@pytest.fixture
def seeded(client):
    """A tenant with a small known set of events."""
    evs = [
        event("security.threat_detected", "2025-01-15T14:32:18Z", database_id=None,
              details={"user": "app_user", "source_ip": "192.168.1.100", "session_id": "s1"}),
        event("security.anomaly", "2025-01-16T00:00:00Z",
              details={"user": "bob", "source_ip": "10.0.0.1", "session_id": "s1"}),
        event("database.query", "2025-01-17T00:00:00Z",
              details={"user": "app_user", "source_ip": "2001:db8::1", "query": "SELECT 1"}),
        event("user.login_failed", "2025-01-31T23:59:59Z", severity="critical",
              details={"user": "mallory", "source_ip": "10.0.0.1"}),
        event("policy.violation", "2025-02-01T00:00:00Z", details={"user": ".*"}),
    ]
    ids = client.post({"events": evs}).json()["ids"]
    return client, ids


def listed(c, **params):
    r = c.list(**params)
    assert r.status_code == 200, r.text
    return [e["id"] for e in r.json()["events"]]


def test_newest_first_and_pagination(seeded):
    c, ids = seeded
    assert listed(c) == ids[::-1]
    r = c.list(limit=2, page=2).json()
    assert [e["id"] for e in r["events"]] == [ids[2], ids[1]]
    assert r["pagination"] == {"total": 5, "page": 2, "per_page": 2}
    assert c.list(limit=2, page=9).json()["events"] == []
    assert c.list().json()["pagination"]["per_page"] == 50


@pytest.mark.parametrize("params,want", [
    ({"type": "security.*"}, [1, 0]),
    ({"type": "security.threat_detected"}, [0]),
    ({"type": "*.login_*"}, [3]),
    ({"type": "user.*,policy.violation"}, [4, 3]),
    ({"type": "*"}, [4, 3, 2, 1, 0]),
    ({"severity": "critical"}, [3, 0]),
    ({"type": "security.*", "severity": "critical"}, [0]),
    ({"user": "app_user"}, [2, 0]),
    ({"user": ".*"}, [4]),
    ({"source_ip": "10.0.0.1"}, [3, 1]),
    ({"source_ip": "2001:db8::1"}, [2]),
    ({"start_date": "2025-01-16T00:00:00Z"}, [4, 3, 2, 1]),
    ({"end_date": "2025-01-16T00:00:00Z"}, [1, 0]),
    ({"start_date": "2025-01-16", "end_date": "2025-01-31"}, [3, 2, 1]),
    ({"start_date": "2025-01-15T15:32:18+01:00", "end_date": "2025-01-15T14:32:18Z"}, [0]),
    ({"user": "app_user", "source_ip": "192.168.1.100"}, [0]),
])
def test_filters(seeded, params, want):
    c, ids = seeded
    assert listed(c, **params) == [ids[i] for i in want]


@pytest.mark.parametrize("params", [
    {"limit": "0"}, {"limit": "1001"}, {"limit": "-1"}, {"limit": "abc"}, {"limit": "1.5"},
    {"limit": ""}, {"page": "0"}, {"page": "x"}, {"page": "1000001"},
    {"type": "nope"}, {"type": "security"}, {"type": ".*"}, {"type": "security.(a+)+$"},
    {"type": ""}, {"type": "SECURITY.*"},
    {"severity": "high"}, {"severity": ""},
    {"database_id": "db 1"}, {"database_id": "{\"$ne\":null}"}, {"database_id": ""},
    {"start_date": "yesterday"}, {"end_date": "2025-01-32"}, {"start_date": ""},
    {"start_date": "2025-02-01T00:00:00Z", "end_date": "2025-01-01T00:00:00Z"},
    {"user": ""}, {"user": "x" * 257},
    {"source_ip": ".*"}, {"source_ip": "10.0.0"}, {"source_ip": "{\"$gt\":\"\"}"},
    {"user[$ne]": ""}, {"user[$regex]": ".*"}, {"$where": "1"}, {"limit[$gt]": "0"},
    {"sort": "timestamp"},
])
def test_bad_parameters_are_400(seeded, params):
    c, _ = seeded
    r = c.list(**params)
    assert_error(r, 400, "invalid_parameter")


def test_repeated_parameter_is_400(seeded):
    c, _ = seeded
    assert c.get("/v1/events?user=a&user=b").status_code == 400
    assert c.get("/v1/events?limit=1&limit=2").status_code == 400


@pytest.mark.parametrize("value", ['{"$ne": null}', '{"$gt": ""}', "app_user' || '1'=='1",
                                   "^app", "app_.*", "(a+)+$", "a" * 200 + "!"])
def test_injection_attempts_match_nothing(seeded, value):
    c, _ = seeded
    t0 = time.time()
    assert listed(c, user=value) == []
    assert time.time() - t0 < 5


def test_get_one_event_with_context(seeded):
    c, ids = seeded
    r = c.get(f"/v1/events/{ids[0]}")
    assert r.status_code == 200
    e = r.json()
    assert list(e) == ["id", "type", "severity", "database_id", "database_name", "timestamp",
                       "processed_at", "details", "context", "related_events"]
    assert e["id"] == ids[0] and e["database_name"] is None and e["context"] is None
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$", e["processed_at"])
    assert e["related_events"] == [ids[1]]  # same session_id
    assert c.get(f"/v1/events/{ids[2]}").json()["related_events"] == []


@pytest.mark.parametrize("eid", ["evt_000000000000000000000000", "evt_xyz", "EVT_" + "0" * 24,
                                 "tomb_1", "blk_0", "%7B%22%24ne%22%3A1%7D", "evt_" + "a" * 25])
def test_unknown_or_malformed_ids_are_404(seeded, eid):
    c, _ = seeded
    r = c.get(f"/v1/events/{eid}")
    assert_error(r, 404, "not_found")


def test_events_of_other_tenants_are_invisible(seeded, base_url, admin_bin):
    c, ids = seeded
    other = Client(base_url, new_key(admin_bin, new_tenant("ot"), "read:events"))
    assert other.get(f"/v1/events/{ids[0]}").status_code == 404
    assert other.list().json()["pagination"]["total"] == 0
    assert other.list(cursor="").json()["events"] == []
    other.close()


def test_get_refuses_query_parameters(seeded):
    c, ids = seeded
    assert c.get(f"/v1/events/{ids[0]}?expand=all").status_code == 400
