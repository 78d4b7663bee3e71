"""audit_options take effect at ingest (CONTRACT §6, issue 14): with
mask_sensitive_data (the default) every literal of a stored statement is a
placeholder on /v1 and kAudit alike, and the store's own files hold no
masked literal; capture_queries false stores no statement; events without a
database_id are stored as sent (test_analysis.py)."""
import json
import os
import uuid

import pytest

from evutil import Client, event, new_key, new_tenant
from storeutil import engine_of, read_conf, sqlite_path

pytestmark = pytest.mark.app

KAUDIT = "/api/v1/public/audit-activity"
DB = {"host": "127.0.0.1", "port": 5432, "username": "u", "password": "p"}


@pytest.fixture
def tenant(base_url, admin_bin):
    t = new_tenant("mk")
    c = Client(base_url, new_key(admin_bin, t, "all"))
    yield c
    c.close()


def database(c, db_type, **audit_options):
    body = dict(DB, name="mask-" + db_type, type=db_type, database="d" + uuid.uuid4().hex[:10])
    if audit_options:
        body["audit_options"] = audit_options
    r = c.s.post(c.base + "/v1/databases", json=body, headers={"X-Api-Key": c.key}, timeout=60)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def ingest(c, *events):
    r = c.post({"events": list(events)})
    assert r.status_code == 201, r.text
    return r.json()["ids"]


def stored(c, eid):
    """details.query of the event on /v1 and its kAudit statement."""
    r = c.get("/v1/events/" + eid)
    assert r.status_code == 200, r.text
    k = c.get(KAUDIT + "/" + eid)
    assert k.status_code == 200, k.text
    return r.json()["details"].get("query"), k.json()["data"]["statement"]


def secret():
    return "sk_" + uuid.uuid4().hex


def test_default_masks_every_literal(tenant):
    db = database(tenant, "postgresql")     # audit_options absent: mask by default
    s, pin = secret(), "31337" + str(uuid.uuid4().int)[:9]
    q = f"SELECT * FROM app.users WHERE login = '{s}' AND pin = {pin}"
    eid, = ingest(tenant, event(database_id=db, details={"query": q, "user": "app"}))
    assert stored(tenant, eid) == ("SELECT * FROM app.users WHERE login = $1 AND pin = $2",) * 2
    # what the analysis found is kept: the kAudit fields come from the original
    k = tenant.get(KAUDIT + "/" + eid).json()["data"]
    assert (k["actionId"], k["schemaName"], k["objectName"]) == ("SL", "app", "users")


@pytest.mark.parametrize("db_type,query,masked", [
    # a MySQL "..." is a string (PostgreSQL's grammar would take it for a name)
    ("mysql", 'SELECT id FROM users WHERE name = "{s}" AND n = 42',
     "SELECT id FROM users WHERE name = $1 AND n = $2"),
    ("sqlserver", "SELECT TOP 5 * FROM [dbo].[users] WHERE name = N'{s}'",
     "SELECT TOP $1 * FROM [dbo].[users] WHERE name = $2"),
    # utility statements the normaliser leaves alone are masked too
    ("postgresql", "ALTER ROLE app PASSWORD '{s}'", "ALTER ROLE app PASSWORD $1"),
    # text libpg_query refuses (an injection's cut-off rest) goes through the tokenizer
    ("postgresql", "SELECT * FROM t WHERE a = '{s}'' OR 1=1 --",
     "SELECT * FROM t WHERE a = $1"),
])
def test_masks_in_the_database_dialect(tenant, db_type, query, masked):
    db = database(tenant, db_type, mask_sensitive_data=True)
    s = secret()
    eid, = ingest(tenant, event(database_id=db, details={"query": query.format(s=s)}))
    q, statement = stored(tenant, eid)
    assert s not in q and s not in statement
    assert q == statement == masked


def test_mask_off_and_capture_off(tenant):
    plain = database(tenant, "postgresql", mask_sensitive_data=False)
    none = database(tenant, "postgresql", capture_queries=False)
    s = secret()
    q = f"UPDATE accounts SET note = '{s}' WHERE id = 7"
    e_plain, e_none, e_free = ingest(
        tenant,
        event(database_id=plain, details={"query": q}),
        event(database_id=none, details={"query": q, "user": "bob"}),
        event(details={"query": q}))
    assert stored(tenant, e_plain) == (q, q)
    assert stored(tenant, e_none) == (None, None)
    assert stored(tenant, e_free) == (q, q)    # no database_id: stored as sent
    # the analysis still ran on the original before the statement was dropped
    k = tenant.get(KAUDIT + "/" + e_none).json()["data"]
    assert (k["actionId"], k["objectName"], k["serverPrincipalName"]) == ("UP", "accounts", "bob")


def test_patched_options_apply_to_the_next_batch(tenant):
    db = database(tenant, "postgresql")
    s1, s2 = secret(), secret()
    e1, = ingest(tenant, event(database_id=db, details={"query": f"SELECT '{s1}'"}))
    r = tenant.s.patch(tenant.base + "/v1/databases/" + db, headers={"X-Api-Key": tenant.key},
                       json={"audit_options": {"mask_sensitive_data": False}}, timeout=60)
    assert r.status_code == 200, r.text
    e2, = ingest(tenant, event(database_id=db, details={"query": f"SELECT '{s2}'"}))
    assert stored(tenant, e1)[0] == "SELECT $1"
    assert stored(tenant, e2)[0] == f"SELECT '{s2}'"


def store_files(var_dir):
    """Every file the stack's store keeps its data in: the SQLite engine's
    database and WAL, or FerretDB's own backing files under the state dir."""
    conf = read_conf(var_dir)
    if engine_of(conf) == "sqlite":
        path = sqlite_path(conf)
        files = [path, path + "-wal"]
    else:
        files = [str(p) for p in (var_dir / "store").rglob("*") if p.is_file()]
    return [f for f in files if os.path.exists(f)]


def test_store_files_never_hold_a_masked_literal(tenant, var_dir):
    masked_db = database(tenant, "postgresql")
    mysql_db = database(tenant, "mariadb")
    dropped_db = database(tenant, "postgresql", capture_queries=False)
    control_db = database(tenant, "postgresql", mask_sensitive_data=False)
    hidden = [secret() for _ in range(4)]
    control = secret()
    events = [
        event(database_id=masked_db, details={"query": f"INSERT INTO t (a) VALUES ('{hidden[0]}')"}),
        event(database_id=masked_db,
              details={"query": f"SELECT * FROM t WHERE a = '{hidden[1]}' OR 'x'='x' -- '"}),
        event(database_id=mysql_db, details={"query": f'SELECT `a` FROM t WHERE b = "{hidden[2]}"'}),
        event(database_id=dropped_db, details={"query": f"SELECT '{hidden[3]}'"}),
        event(database_id=control_db, details={"query": f"SELECT '{control}'"}),
    ]
    ingest(tenant, *events[:3])
    # NDJSON takes the same path
    r = tenant.post("\n".join(json.dumps(e) for e in events[3:]) + "\n")
    assert r.status_code == 201, r.text
    files = store_files(var_dir)
    assert files
    data = b"".join(open(f, "rb").read() for f in files)
    # the control proves these files hold what the API stores
    assert control.encode() in data
    for h in hidden:
        assert h.encode() not in data, f"{h} reached the store"
