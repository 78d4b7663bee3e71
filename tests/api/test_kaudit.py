"""The kAudit surface (/api/v1/public/audit-activity, the kaudit seeds):
the seed's examples reproduced field by field, every parameter with its
400s, tenants, the summary, and 503 when the store is unreachable."""
import os
import re
import signal
import time

import pytest
import requests

from conftest import assert_error
from evutil import Client, event, new_key, new_tenant

pytestmark = pytest.mark.app

BASE = "/api/v1/public/audit-activity"
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

# The seed's list example, field by field, and the event that produces it.
SEED_ITEM = {
    "eventTime": "2026-05-03T14:23:01Z",
    "actionId": "SL",
    "succeeded": True,
    "serverInstanceName": "Production SQL 01",
    "databaseName": "customers_db",
    "schemaName": "dbo",
    "objectName": "Orders",
    "serverPrincipalName": "app_service_account",
    "databasePrincipalName": "dbo",
    "applicationName": "MyApp",
    "hostName": "app-server-01",
    "clientIp": "10.0.1.50",
    "sourceType": "SqlAudit",
}
SEED_STATEMENT = "SELECT TOP 100 * FROM dbo.Orders WHERE OrderDate > '2026-01-01'"
SEED_LIST_KEYS = ["recordId", "tenantId", "eventTime", "actionId", "succeeded",
                  "serverInstanceName", "databaseName", "schemaName", "objectName",
                  "serverPrincipalName", "databasePrincipalName", "applicationName", "hostName",
                  "clientIp", "sourceType", "statementPreview"]
SEED_GET_KEYS = ["recordId", "tenantId", "eventTime", "actionId", "succeeded",
                 "serverInstanceName", "databaseName", "schemaName", "objectName",
                 "serverPrincipalName", "databasePrincipalName", "applicationName", "hostName",
                 "clientIp", "statement"]
META_KEYS = ["totalCount", "page", "pageSize", "totalPages", "hasPreviousPage", "hasNextPage",
             "timestamp", "apiVersion"]


def seed_event(**over):
    e = event("database.query", SEED_ITEM["eventTime"], database_name="customers_db", details={
        "action_id": "SL", "succeeded": True, "server_instance_name": "Production SQL 01",
        "schema_name": "dbo", "object_name": "Orders", "user": "app_service_account",
        "database_principal_name": "dbo", "client_application": "MyApp",
        "host_name": "app-server-01", "source_ip": "10.0.1.50", "source_type": "SqlAudit",
        "query": SEED_STATEMENT})
    e.update(over)
    return e


@pytest.fixture
def tenant(base_url, admin_bin):
    t = new_tenant("ka")
    writer = Client(base_url, new_key(admin_bin, t, "write:events"))
    reader = Client(base_url, new_key(admin_bin, t, "read:audit-activity"))
    yield t, writer, reader
    writer.close()
    reader.close()


def kget(c, path="", **params):
    r = c.get(BASE + path, params=params)
    return r


def test_seed_list_example_field_by_field(tenant):
    t, w, r = tenant
    ids = w.post(seed_event()).json()["ids"]
    w.post(event("user.login_success", details={"user": "someone"}))  # filtered out below
    resp = kget(r, actionId="SL", databaseName="customers_db", pageSize=10)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert list(body) == ["data", "meta"]
    assert len(body["data"]) == 1
    item = body["data"][0]
    assert list(item) == SEED_LIST_KEYS
    assert item["recordId"] == ids[0] and item["tenantId"] == t
    for k, v in SEED_ITEM.items():
        assert item[k] == v, k
    assert item["statementPreview"] == SEED_STATEMENT  # under 200 characters: all of it
    meta = body["meta"]
    assert list(meta) == META_KEYS
    assert meta["totalCount"] == 1 and meta["page"] == 1 and meta["pageSize"] == 10
    assert meta["totalPages"] == 1 and meta["hasPreviousPage"] is False and meta["hasNextPage"] is False
    assert TS_RE.match(meta["timestamp"]) and meta["apiVersion"] == "1.0"


def test_seed_get_example_field_by_field(tenant):
    t, w, r = tenant
    rid = w.post(seed_event()).json()["ids"][0]
    resp = kget(r, "/" + rid)
    assert resp.status_code == 200
    body = resp.json()
    assert list(body) == ["data", "meta"] and list(body["meta"]) == ["timestamp", "apiVersion"]
    assert TS_RE.match(body["meta"]["timestamp"]) and body["meta"]["apiVersion"] == "1.0"
    d = body["data"]
    assert list(d) == SEED_GET_KEYS
    assert d["recordId"] == rid and d["tenantId"] == t
    for k, v in SEED_ITEM.items():
        if k != "sourceType":
            assert d[k] == v, k
    assert d["statement"] == SEED_STATEMENT


def test_seed_summary_example_shape(tenant):
    t, w, r = tenant
    posted = w.post({"events": [
        seed_event(timestamp="2026-05-01T10:00:00Z"),
        seed_event(timestamp="2026-05-03T14:23:01Z", database_name="billing"),
        event("user.login_failed", "2026-05-02T00:00:00Z", details={"user": "mallory"}),
        event("database.query", "2026-05-02T01:00:00Z",
              details={"user": "app_service_account", "succeeded": False}),
        event("database.query", "2026-04-01T00:00:00Z", details={"user": "old"}),
    ]})
    assert posted.status_code == 201, posted.text
    resp = kget(r, "/summary", startTime="2026-05-01T00:00:00Z")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert list(body["data"]) == ["totalCount", "successfulCount", "failedCount",
                                  "distinctDatabases", "distinctPrincipals", "latestEventTime"]
    assert body["data"] == {"totalCount": 4, "successfulCount": 2, "failedCount": 2,
                            "distinctDatabases": 2, "distinctPrincipals": 2,
                            "latestEventTime": "2026-05-03T14:23:01Z"}
    assert list(body["meta"]) == ["timestamp", "apiVersion"]
    everything = kget(r, "/summary").json()["data"]
    assert everything["totalCount"] == 5 and everything["distinctPrincipals"] == 3
    window = kget(r, "/summary", startTime="2026-05-02", endTime="2026-05-02").json()["data"]
    assert window["totalCount"] == 2 and window["latestEventTime"] == "2026-05-02T01:00:00Z"


def test_summary_of_nothing(tenant):
    _, _, r = tenant
    d = kget(r, "/summary").json()["data"]
    assert d == {"totalCount": 0, "successfulCount": 0, "failedCount": 0,
                 "distinctDatabases": 0, "distinctPrincipals": 0, "latestEventTime": None}


def test_summary_covers_all_the_callers_tenants(base_url, admin_bin):
    a, b = new_tenant("sa"), new_tenant("sb")
    w = Client(base_url, new_key(admin_bin, f"{a},{b}", "write:events"))
    w.post({"events": [event(tenant_id=a, details={"user": "x"}), event(tenant_id=b, details={"user": "y"})]})
    both = Client(base_url, new_key(admin_bin, f"{a},{b}", "read:audit-activity"))
    one = Client(base_url, new_key(admin_bin, a, "read:audit-activity"))
    assert kget(both, "/summary").json()["data"]["totalCount"] == 2
    assert kget(both, "/summary").json()["data"]["distinctPrincipals"] == 2
    assert kget(one, "/summary").json()["data"]["totalCount"] == 1
    for c in (w, both, one):
        c.close()


def test_defaults_sort_and_paging(tenant):
    _, w, r = tenant
    ids = w.post({"events": [event(ts=f"2026-05-{d:02d}T00:00:00Z", details={"user": f"u{d:02d}"})
                             for d in range(1, 26)]}).json()["ids"]
    body = kget(r).json()
    assert body["meta"]["pageSize"] == 20 and body["meta"]["page"] == 1
    assert body["meta"]["totalCount"] == 25 and body["meta"]["totalPages"] == 2
    assert body["meta"]["hasNextPage"] is True and body["meta"]["hasPreviousPage"] is False
    assert [d["recordId"] for d in body["data"]] == ids[::-1][:20]  # newest first
    p2 = kget(r, page=2).json()
    assert [d["recordId"] for d in p2["data"]] == ids[::-1][20:]
    assert p2["meta"]["hasNextPage"] is False and p2["meta"]["hasPreviousPage"] is True
    asc = kget(r, sortDirection="asc", pageSize=3).json()["data"]
    assert [d["recordId"] for d in asc] == ids[:3]
    by_user = kget(r, sortBy="serverPrincipalName", sortDirection="desc", pageSize=2).json()["data"]
    assert [d["serverPrincipalName"] for d in by_user] == ["u25", "u24"]
    assert kget(r, sortBy="Timestamp").status_code == 200  # the seed's own example
    assert kget(r, sortBy="eventtime", sortDirection="ASC").status_code == 200
    empty = kget(r, page=99).json()
    assert empty["data"] == [] and empty["meta"]["hasPreviousPage"] is True


@pytest.mark.parametrize("params,message", [
    ({"pageSize": "0"}, "pageSize must be between 1 and 100"),
    ({"pageSize": "101"}, "pageSize must be between 1 and 100"),
    ({"pageSize": "abc"}, "pageSize must be between 1 and 100"),
    ({"pageSize": "-5"}, "pageSize must be between 1 and 100"),
    ({"page": "0"}, "page"),
    ({"page": "x"}, "page"),
    ({"sortBy": "password"}, "sortBy"),
    ({"sortBy": "$where"}, "sortBy"),
    ({"sortBy": "details.user"}, "sortBy"),
    ({"sortDirection": "up"}, "sortDirection"),
    ({"actionId": "S L"}, "actionId"),
    ({"actionId": "{\"$ne\":1}"}, "actionId"),
    ({"actionId": "TOOLONGID"}, "actionId"),
    ({"startTime": "yesterday"}, "startTime"),
    ({"endTime": "2026-02-30T00:00:00Z"}, "endTime"),
    ({"startTime": "2026-05-02T00:00:00Z", "endTime": "2026-05-01T00:00:00Z"}, "startTime"),
    ({"databaseName": ""}, "databaseName"),
    ({"principalName": ""}, "principalName"),
    ({"search": "x" * 201}, "search"),
    ({"tenantId": "other"}, "tenantId"),
    ({"principalName[$ne]": "x"}, "principalName[$ne]"),
])
def test_bad_list_parameters_are_400(tenant, params, message):
    _, _, r = tenant
    resp = kget(r, **params)
    msg = assert_error(resp, 400, "invalid_parameter")
    assert message in msg


def test_page_size_message_is_exactly_the_seeds(tenant):
    _, _, r = tenant
    assert kget(r, pageSize=500).json() == {
        "error": {"code": "invalid_parameter", "message": "pageSize must be between 1 and 100"}}


@pytest.mark.parametrize("params,message", [
    ({"startTime": "nope"}, "startTime"), ({"endTime": "nope"}, "endTime"),
    ({"page": "1"}, "page"), ({"startTime": "2999-01-01T00:00:00Z"}, "startTime"),
])
def test_bad_summary_parameters_are_400(tenant, params, message):
    _, _, r = tenant
    resp = kget(r, "/summary", **params)
    assert message in assert_error(resp, 400)


def test_filters(tenant):
    _, w, r = tenant
    ids = w.post({"events": [
        seed_event(),
        event("database.query", "2026-05-02T00:00:00Z", database_name="hr",
              details={"user": "alice", "query": "insert into t values (1)"}),
        event("user.login_failed", "2026-05-04T00:00:00Z", details={"user": "mallory"}),
        event("database.disconnect", "2026-05-05T00:00:00Z", details={"user": "alice"}),
        event("database.query", "2026-05-06T00:00:00Z",
              details={"user": "bob", "query": "  /* c */ Update t set a=1"}),
    ]}).json()["ids"]

    def got(**params):
        resp = kget(r, **params)
        assert resp.status_code == 200, resp.text
        return [d["recordId"] for d in resp.json()["data"]]

    assert got(actionId="SL") == [ids[0]]
    assert got(actionId="sl") == [ids[0]]
    assert got(actionId="IN") == [ids[1]]
    assert got(actionId="LGIF") == [ids[2]]
    assert got(actionId="LO") == [ids[3]]
    assert got(actionId="UP") == [ids[4]]
    assert got(databaseName="hr") == [ids[1]]
    assert got(databaseName="HR") == []
    assert got(principalName="alice") == [ids[3], ids[1]]
    assert got(startTime="2026-05-03T14:23:01Z", endTime="2026-05-05T00:00:00Z") == ids[2:4][::-1] + [ids[0]]
    fail = kget(r, actionId="LGIF").json()["data"][0]
    assert fail["succeeded"] is False and fail["sourceType"] == "SqlAudit"


def test_search_is_a_case_insensitive_literal_substring(tenant):
    _, w, r = tenant
    ids = w.post({"events": [
        seed_event(),
        event(details={"user": "Ünïcode_User", "query": "select (a+)+$ from t where x like '%.*%'"}),
        event(details={"host_name": "HOST-42.example", "client_application": "psql"}),
        event(database_name="Sales.EU", details={"schema_name": "public"}),
    ]}).json()["ids"]

    def got(term):
        t0 = time.time()
        resp = kget(r, search=term)
        assert resp.status_code == 200, resp.text
        assert time.time() - t0 < 5
        return sorted(d["recordId"] for d in resp.json()["data"])

    assert got("orders") == [ids[0]]                  # statement, object
    assert got("APP_SERVICE") == [ids[0]]             # principal
    assert got("10.0.1.5") == [ids[0]]                # client ip
    assert got("myapp") == [ids[0]]                   # application
    assert got("ünïcode") == [ids[1]]                 # unicode case folding
    assert got("(a+)+$") == [ids[1]]                  # regex metacharacters are literal
    assert got(".*") == [ids[1]]
    assert got("%.*%") == [ids[1]]
    assert got("host-42.EXAMPLE") == [ids[2]]
    assert got("sales.eu") == [ids[3]]
    assert got("PUBLIC") == [ids[3]]
    assert got("^select") == []
    assert got("a|b") == []
    assert got("[a-z]") == []
    assert got("\\") == []
    assert got("(((((((((((((((((((((a*)*)*)*)*)*)*)*)*)*)*)*)*)*)*)*)*)*)*)*)*)*b") == []
    assert got("x" * 200) == []
    assert sorted(d["recordId"] for d in kget(r, search="").json()["data"]) == sorted(ids)


def test_record_ids(tenant, base_url, admin_bin):
    _, w, r = tenant
    rid = w.post(seed_event()).json()["ids"][0]
    other = Client(base_url, new_key(admin_bin, new_tenant("ko"), "read:audit-activity"))
    resp = kget(other, "/" + rid)
    assert_error(resp, 404, "not_found")
    assert kget(r, "/evt_000000000000000000000000").status_code == 404
    for bad in ("abc123-def456", "evt_XYZ", "evt_" + "A" * 24, "tomb_5", "evt_" + "0" * 23):
        resp = kget(r, "/" + bad)
        assert_error(resp, 400, "invalid_parameter", bad)
    other.close()


def test_credentials_and_scope(tenant, api, base_url, admin_bin):
    _, w, _ = tenant
    for path in ("", "/summary", "/evt_000000000000000000000000"):
        assert api("GET", BASE + path).status_code == 401
        resp = w.get(BASE + path)  # write:events only
        assert_error(resp, 403, "forbidden")
    events_only = Client(base_url, new_key(admin_bin, new_tenant("kr"), "read:events"))
    assert events_only.get(BASE).status_code == 403
    events_only.close()
    resp = requests.get(base_url + BASE, headers={"X-Api-Key": "dba_nope"}, timeout=10)
    assert resp.status_code == 401


def test_store_unreachable_is_503(tenant, store_pid, base_url):
    _, _, r = tenant
    assert kget(r).status_code == 200  # the key is now cached by the workers
    store = store_pid
    os.kill(store, signal.SIGSTOP)
    try:
        time.sleep(0.3)
        for path in ("", "/summary", "/evt_000000000000000000000000"):
            t0 = time.time()
            resp = r.get(BASE + path, retry=False)  # the 503 itself, not a client's retry
            assert_error(resp, 503, "service_unavailable")
            assert time.time() - t0 < 6
    finally:
        os.kill(store, signal.SIGCONT)
    deadline = time.time() + 20
    while kget(r).status_code != 200:
        assert time.time() < deadline
        time.sleep(0.2)


# ---------------------------------------------------------------- cursor mode

@pytest.fixture
def kclient(base_url, admin_bin):
    c = Client(base_url, new_key(admin_bin, new_tenant("kc"), "read:audit-activity,write:events"))
    yield c
    c.close()


def kpage(c, cursor, **params):
    r = c.get(BASE, params=dict(params, cursor=cursor))
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body["meta"]) == ["pageSize", "nextCursor", "hasMore", "timestamp", "apiVersion"]
    meta = body["meta"]
    assert meta["nextCursor"] and isinstance(meta["hasMore"], bool)
    link = r.headers["Link"]
    assert link.startswith(f"<{BASE}?cursor={meta['nextCursor']}&pageSize="), link
    assert link.endswith('rel="next"')
    return [d["recordId"] for d in body["data"]], meta["nextCursor"], meta["hasMore"], r


def test_cursor_mode_pages_in_commit_order_exactly_once(kclient):
    """Events whose eventTime goes back in time still come in commit order,
    which a poller checkpointing on eventTime would miss."""
    ids = []
    for i, ts in enumerate(["2025-03-01T00:00:00Z", "2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z"] * 3):
        ids += kclient.post(event(ts=ts, external_id=f"k{i}")).json()["ids"]
    got, cursor, more = [], "", True
    while more:
        page, cursor, more, _ = kpage(kclient, cursor, pageSize=4)
        got += page
    assert got == ids
    # nothing new: an empty page with the same cursor
    assert kpage(kclient, cursor)[:3] == ([], cursor, False)
    new = kclient.post(event(external_id="k-new")).json()["ids"]
    assert kpage(kclient, cursor)[:3][0] == new


def test_cursor_mode_keeps_the_filters(kclient):
    kclient.post({"events": [event(details={"query": "select 1", "user": "a"}, external_id="f1"),
                             event(details={"query": "delete from t", "user": "a"}, external_id="f2"),
                             event(details={"query": "select 2", "user": "b"}, external_id="f3")]})
    page, _, _, r = kpage(kclient, "", actionId="sl", principalName="a")
    assert len(page) == 1
    assert r.json()["data"][0]["statementPreview"] == "select 1"
    assert "actionId=sl" in r.headers["Link"] and "principalName=a" in r.headers["Link"]


@pytest.mark.parametrize("extra", [{"page": "1"}, {"sortBy": "eventTime"}, {"sortDirection": "asc"}])
def test_cursor_mode_refuses_page_and_sorting(kclient, extra):
    r = kclient.get(BASE, params=dict(extra, cursor=""))
    assert_error(r, 400, "invalid_parameter")


@pytest.mark.parametrize("params", [{"cursor": "x"}, {"cursor": "c1.AAAAAAAAAAB"},
                                    {"cursor": "", "pageSize": "101"}])
def test_cursor_mode_bad_values_are_400(kclient, params):
    r = kclient.get(BASE, params=params)
    assert_error(r, 400, "invalid_parameter")
