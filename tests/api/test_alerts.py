"""/v1/alerts (CONTRACT §6): alerts opened by alert policies at ingest, their
lifecycle (open -> acknowledged -> resolved, who and when, invalid
transitions 409), dedup by policy + database + user, filters and paging,
tenant isolation, scopes, and the counts of the databases API."""
import re
import uuid

import pytest

from conftest import assert_error
from evutil import Client, event, new_key, new_tenant

pytestmark = pytest.mark.app

ALT_RE = re.compile(r"^alt_[0-9a-f]{24}$")


class AClient(Client):
    def req(self, method, path, **kw):
        headers = dict(kw.pop("headers", None) or {}, **{"X-Api-Key": self.key})
        return self.s.request(method, self.base + path, headers=headers, timeout=60, **kw)

    def policy(self, **body):
        body.setdefault("name", "p-" + uuid.uuid4().hex[:6])
        r = self.req("POST", "/v1/policies", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    def ingest(self, *events):
        r = self.post({"events": list(events)})
        assert r.status_code == 201, r.text
        return r.json()["ids"]

    def alerts(self, **params):
        r = self.req("GET", "/v1/alerts", params=params)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
def ac(base_url, admin_bin):
    c = AClient(base_url, new_key(admin_bin, new_tenant("alt"), "all"))
    yield c
    c.close()


def user_rule(user):
    return [{"field": "details.user", "op": "eq", "value": user}]


def test_alert_is_opened_with_its_fields(ac):
    p = ac.policy(name="root logins", severity="critical", rules=user_rule("root"))
    src = ac.ingest(event(details={"user": "root"}))[0]
    body = ac.alerts()
    assert body["pagination"] == {"total": 1, "page": 1, "per_page": 20}
    a = body["data"][0]
    assert ALT_RE.match(a["id"]) and a["status"] == "open" and a["severity"] == "critical"
    assert a["title"] == "root logins" and a["policy_id"] == p["id"] and a["rule_id"] == p["rule_id"]
    assert a["source_event_id"] == src and a["database_id"] is None and a["count"] == 1
    assert a["first_seen_at"] == a["last_seen_at"] and a["created_at"]
    assert a["acknowledged_at"] is None and a["resolved_by"] is None
    v = ac.get(f"/v1/events/{a['event_id']}").json()
    assert v["type"] == "policy.violation" and v["related_events"][0] == src
    assert ac.req("GET", f"/v1/alerts/{a['id']}").json() == a


def test_log_policy_opens_no_alert(ac):
    ac.policy(action="log", rules=user_rule("bob"))
    ac.ingest(event(details={"user": "bob"}))
    assert ac.alerts()["data"] == []


def test_lifecycle_and_invalid_transitions(ac):
    ac.policy(rules=user_rule("u"))
    ac.ingest(event(details={"user": "u"}))
    a = ac.alerts()["data"][0]
    path = f"/v1/alerts/{a['id']}"
    assert_error(ac.req("PATCH", path, json={"status": "open"}), 409, "conflict")
    r = ac.req("PATCH", path, json={"status": "acknowledged", "note": "looking"})
    assert r.status_code == 200, r.text
    k = r.json()
    assert k["status"] == "acknowledged" and k["note"] == "looking"
    assert k["acknowledged_by"].startswith("key_") and k["acknowledged_at"]
    assert_error(ac.req("PATCH", path, json={"status": "acknowledged"}), 409, "conflict")
    assert_error(ac.req("PATCH", path, json={"status": "open"}), 409, "conflict")
    r = ac.req("PATCH", path, json={"status": "resolved"})
    assert r.status_code == 200
    res = r.json()
    assert res["status"] == "resolved" and res["resolved_by"] == k["acknowledged_by"]
    assert res["note"] == "looking" and res["acknowledged_at"] == k["acknowledged_at"]
    for to in ("open", "acknowledged", "resolved"):
        assert_error(ac.req("PATCH", path, json={"status": to}), 409, "conflict")
    assert ac.req("GET", path).json() == res


def test_open_straight_to_resolved(ac):
    ac.policy(rules=user_rule("v"))
    ac.ingest(event(details={"user": "v"}))
    a = ac.alerts()["data"][0]
    r = ac.req("PATCH", f"/v1/alerts/{a['id']}", json={"status": "resolved"})
    assert r.status_code == 200 and r.json()["acknowledged_at"] is None


def test_patch_validation(ac):
    ac.policy(rules=user_rule("w"))
    ac.ingest(event(details={"user": "w"}))
    path = f"/v1/alerts/{ac.alerts()['data'][0]['id']}"
    for body in [{}, {"status": "closed"}, {"status": "resolved", "note": 5},
                 {"status": "resolved", "colour": 1}, {"status": "resolved", "note": "x" * 2001}]:
        assert_error(ac.req("PATCH", path, json=body), 400, "invalid_parameter", context=body)
    assert_error(ac.req("PATCH", path, data=b"[", headers={"Content-Type": "application/json"}), 400)
    assert_error(ac.req("PATCH", "/v1/alerts/alt_" + "0" * 24, json={"status": "resolved"}), 404)
    assert_error(ac.req("GET", "/v1/alerts/nope"), 404)
    assert ac.alerts()["data"][0]["status"] == "open"


def test_dedup_absorbs_matches_until_resolved(ac):
    ac.policy(rules=[{"field": "details.query", "op": "contains", "value": "DROP"}])
    ids = []
    for _ in range(3):
        ids += ac.ingest(event(details={"user": "a", "query": "DROP TABLE t"}))
    ac.ingest(event(details={"user": "b", "query": "DROP TABLE t"}))
    body = ac.alerts()
    by_user = {}
    for a in body["data"]:
        src = ac.get(f"/v1/events/{a['source_event_id']}").json()
        by_user[src["details"]["user"]] = a
    assert set(by_user) == {"a", "b"} and body["pagination"]["total"] == 2
    a = by_user["a"]
    assert a["count"] == 3 and a["source_event_id"] == ids[0]
    assert a["last_seen_at"] >= a["first_seen_at"]
    # acknowledged still absorbs
    ac.req("PATCH", f"/v1/alerts/{a['id']}", json={"status": "acknowledged"})
    ac.ingest(event(details={"user": "a", "query": "DROP TABLE t"}))
    assert ac.req("GET", f"/v1/alerts/{a['id']}").json()["count"] == 4
    # resolved does not: the next match opens a new alert
    ac.req("PATCH", f"/v1/alerts/{a['id']}", json={"status": "resolved"})
    ac.ingest(event(details={"user": "a", "query": "DROP TABLE t"}))
    assert ac.alerts()["pagination"]["total"] == 3
    assert ac.req("GET", f"/v1/alerts/{a['id']}").json()["count"] == 4


def test_filters_and_paging(ac):
    p1 = ac.policy(severity="critical", rules=user_rule("x"))
    p2 = ac.policy(severity="info", rules=user_rule("y"))
    for i in range(5):
        ac.ingest(event(details={"user": "x", "session_id": str(i)}))
    ac.ingest(event(details={"user": "y"}))
    ac.ingest(event(details={"user": "x"}))   # absorbed by the open alert of p1 and user x
    assert ac.alerts()["pagination"]["total"] == 2
    assert [a["policy_id"] for a in ac.alerts(policy_id=p2["id"])["data"]] == [p2["id"]]
    assert [a["severity"] for a in ac.alerts(severity="critical")["data"]] == ["critical"]
    first = ac.alerts(policy_id=p1["id"])["data"][0]
    ac.req("PATCH", f"/v1/alerts/{first['id']}", json={"status": "resolved"})
    ac.ingest(event(details={"user": "x"}))
    assert ac.alerts(status="open")["pagination"]["total"] == 2
    assert [a["id"] for a in ac.alerts(status="resolved")["data"]] == [first["id"]]
    all_ = ac.alerts()["data"]
    assert len(all_) == 3
    assert [a["created_at"] for a in all_] == sorted((a["created_at"] for a in all_), reverse=True)
    page = ac.alerts(per_page=2, page=2)
    assert page["pagination"] == {"total": 3, "page": 2, "per_page": 2}
    assert [a["id"] for a in page["data"]] == [all_[2]["id"]]
    for bad in [{"status": "closed"}, {"severity": "high"}, {"per_page": 0}, {"per_page": 101},
                {"page": 0}, {"colour": "red"}, {"policy_id": ""}]:
        assert_error(ac.req("GET", "/v1/alerts", params=bad), 400, "invalid_parameter", context=bad)


def test_tenant_isolation_and_scopes(ac, base_url, admin_bin):
    ac.policy(rules=user_rule("z"))
    ac.ingest(event(details={"user": "z"}))
    a = ac.alerts()["data"][0]
    other = AClient(base_url, new_key(admin_bin, new_tenant(), "all"))
    assert other.alerts()["data"] == []
    assert_error(other.req("GET", f"/v1/alerts/{a['id']}"), 404, "not_found")
    assert_error(other.req("PATCH", f"/v1/alerts/{a['id']}", json={"status": "resolved"}), 404)
    ro = AClient(base_url, new_key(admin_bin, new_tenant(), "read:alerts"))
    none = AClient(base_url, new_key(admin_bin, new_tenant(), "read:events"))
    anon = AClient(base_url, "dba_nope")
    for method, path in [("GET", "/v1/alerts"), ("GET", f"/v1/alerts/{a['id']}"),
                         ("PATCH", f"/v1/alerts/{a['id']}")]:
        assert_error(anon.req(method, path, json={}), 401, "unauthorized")
        assert_error(none.req(method, path, json={}), 403, "forbidden")
    assert ro.req("GET", "/v1/alerts").status_code == 200
    assert_error(ro.req("PATCH", f"/v1/alerts/{a['id']}", json={"status": "resolved"}), 403)
    assert ac.req("GET", f"/v1/alerts/{a['id']}").json()["status"] == "open"
    for c in (other, ro, none, anon):
        c.close()


def test_databases_api_counts_alerts_and_policies(ac):
    r = ac.req("POST", "/v1/databases", json={
        "name": "prod", "type": "postgresql", "host": "127.0.0.1", "port": 5432,
        "database": "d" + uuid.uuid4().hex[:8], "username": "u", "password": "p"})
    assert r.status_code == 201, r.text
    db = r.json()["id"]

    def stats():
        return ac.req("GET", f"/v1/databases/{db}").json()["stats"]

    before = stats()["policies_active"]
    ac.policy(rules=user_rule("c"), database_ids=[db])
    ac.policy(rules=user_rule("d"))
    ac.policy(rules=user_rule("e"), enabled=False)
    ac.policy(rules=user_rule("f"), database_ids=["db_other"])
    assert stats()["policies_active"] == before + 2
    ac.ingest(event(database_id=db, details={"user": "c"}), event(database_id=db, details={"user": "d"}))
    assert stats()["alerts_pending"] == 2
    a = ac.alerts()["data"]
    ac.req("PATCH", f"/v1/alerts/{a[0]['id']}", json={"status": "acknowledged"})
    assert stats()["alerts_pending"] == 2
    ac.req("PATCH", f"/v1/alerts/{a[1]['id']}", json={"status": "resolved"})
    assert stats()["alerts_pending"] == 1
