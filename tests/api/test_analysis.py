"""Statement analysis at ingest (issue 14, docs/detection.md): the kAudit
fields a collector leaves out are filled from the statement itself, and
what it sends wins."""
import pytest

from evutil import Client, event, new_key, new_tenant

pytestmark = pytest.mark.app

BASE = "/api/v1/public/audit-activity"


@pytest.fixture
def tenant(base_url, admin_bin):
    t = new_tenant("an")
    writer = Client(base_url, new_key(admin_bin, t, "write:events"))
    reader = Client(base_url, new_key(admin_bin, t, "read:audit-activity,read:events"))
    yield t, writer, reader
    writer.close()
    reader.close()


def record(reader, rid):
    r = reader.get(BASE + "/" + rid)
    assert r.status_code == 200, r.text
    return r.json()["data"]


@pytest.mark.parametrize("query,action,schema,obj", [
    # PostgreSQL through libpg_query: the real kind of a CTE, the first relation
    ("WITH old AS (SELECT id FROM sales.orders WHERE d < now()) "
     "DELETE FROM sales.orders WHERE id IN (SELECT id FROM old)", "DL", "sales", "orders"),
    ("GRANT SELECT ON hr.people TO analyst", "G", "hr", "people"),
    # MySQL through the tokenizer (libpg_query refuses backquotes)
    ("UPDATE `shop`.`Carts` SET `n` = 1 WHERE id = 7", "UP", "shop", "carts"),
    # an unquoted name is folded to lower case, as PostgreSQL does
    ("INSERT INTO dbo.Orders (Id) VALUES (1)", "IN", "dbo", "orders"),
])
def test_ingest_fills_kaudit_fields(tenant, query, action, schema, obj):
    _, w, r = tenant
    resp = w.post(event("database.query", details={"query": query}))
    assert resp.status_code == 201, resp.text
    d = record(r, resp.json()["ids"][0])
    assert d["actionId"] == action
    assert d["schemaName"] == schema
    assert d["objectName"] == obj
    assert d["statement"] == query      # stored as sent: no database, no audit_options


def test_collector_fields_win(tenant):
    _, w, r = tenant
    resp = w.post(event("database.query", details={
        "query": "SELECT * FROM a.b", "schema_name": "dbo", "object_name": "Orders"}))
    assert resp.status_code == 201, resp.text
    d = record(r, resp.json()["ids"][0])
    assert (d["actionId"], d["schemaName"], d["objectName"]) == ("SL", "dbo", "Orders")


def test_session_events_not_analysed(tenant):
    _, w, r = tenant
    resp = w.post(event("user.login_failed", details={"query": "SELECT * FROM a.b"}))
    assert resp.status_code == 201, resp.text
    d = record(r, resp.json()["ids"][0])
    assert d["actionId"] == "LGIF" and d["objectName"] is None
