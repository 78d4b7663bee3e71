"""API tests of the databases API (/v1/databases): registration, validation,
tenant isolation, encrypted credentials, stats and heartbeats, and real
connection tests against the PostgreSQL and MariaDB servers of this machine
and the stack's own document store (MongoDB type). Failure cases use a
closed port, a wrong password and a local listener that never answers.
Every connection goes to 127.0.0.1 (the stack runs with probe_allow_loopback).

Every password this file sends is recorded; responses are checked as they
arrive, and the last tests check the logs and the store's files for them.
"""
import datetime
import json
import pathlib
import re
import secrets
import socket
import ssl as ssl_mod
import struct
import subprocess
import threading
import time
import uuid

import pytest

from conftest import assert_error
from storeutil import engine_of, open_store, read_conf

pytestmark = pytest.mark.app

PG = ("127.0.0.1", 5432)
MARIADB = ("127.0.0.1", 3306)
SNAKEOIL = pathlib.Path("/etc/ssl/certs/ssl-cert-snakeoil.pem")

# A throwaway self-signed certificate that signed nothing the servers present.
OTHER_CA = """-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgIUWOi3HWWb//TZ0hDCqkzmBBolYIowCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMZGJhdWRpdC10ZXN0MCAXDTI2MTEyMjA1MDAzMFoYDzIxMjYx
MDI5MDUwMDMwWjAXMRUwEwYDVQQDDAxkYmF1ZGl0LXRlc3QwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAAScZvUhj3bS5I69+m5lwrfJgP3byOrpue1tB5UkdbRGgLx3
ECz4mofOK0xATpStMgLkPqvalel1kz1RJgviGbxWo1MwUTAdBgNVHQ4EFgQUi5uf
HUSdEBISkrL8xc79lEOUy4wwHwYDVR0jBBgwFoAUi5ufHUSdEBISkrL8xc79lEOU
y4wwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiBc3VXR34W63AU+
Kgu/XDWQhBfqqBi+clymCo7ZDNbsZQIhAP3bgnN+ZXD5uokJ3LRCXvumqxqhKuTY
eg3GjBwxScCC
-----END CERTIFICATE-----
"""

# Every secret sent to the API: none may ever come back or reach a log.
SENT = []


def secret(tag):
    s = f"pw-{tag}-{secrets.token_hex(8)}"
    SENT.append(s)
    return s


def port_open(addr):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(addr) == 0


def ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def uniq():
    return uuid.uuid4().hex[:10]


# --------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def conf(var_dir):
    return read_conf(var_dir)


@pytest.fixture(scope="module")
def store(conf):
    if engine_of(conf) == "mongodb":
        pytest.importorskip("pymongo")
    db, close = open_store(conf)
    yield db
    close()


@pytest.fixture(scope="module")
def store_port(conf):
    if engine_of(conf) != "mongodb":
        pytest.skip("needs the stack's MongoDB-wire store to probe: runs on the mongodb engine")
    m = re.match(r"mongodb://127\.0\.0\.1:(\d+)/?$", conf["mongodb_uri"])
    if not m:
        pytest.skip("the store is not a local server on 127.0.0.1")
    return int(m.group(1))


@pytest.fixture(scope="module")
def make_key(admin_bin):
    def make(tenants, scopes):
        r = subprocess.run(admin_bin + ["key", "create", "--tenant", tenants, "--scopes", scopes,
                                        "--name", "test_databases"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()
    return make


@pytest.fixture(scope="module")
def tenant_a():
    return "dbt-a-" + uniq()


@pytest.fixture(scope="module")
def key_a(make_key, tenant_a, base_url):
    key = make_key(tenant_a, "all")
    # Tests that stop the store (test_core) may run just before: a worker
    # that saw the store fail waits a few seconds before it tries again.
    # Start once several requests in a row (spread over the workers) succeed.
    import requests
    ok, deadline = 0, time.monotonic() + 20
    while ok < 12 and time.monotonic() < deadline:
        r = requests.get(base_url + "/v1/databases", headers={"X-API-Key": key}, timeout=10)
        ok = ok + 1 if r.status_code == 200 else 0
        if r.status_code != 200:
            time.sleep(0.5)
    return key


@pytest.fixture(scope="module")
def key_b(make_key):
    return make_key("dbt-b-" + uniq(), "all")


@pytest.fixture
def call(api):
    """Like api(), but fails on any response that carries a secret we sent."""
    def c(method, path, key=None, **kw):
        r = api(method, path, key=key, **kw)
        for s in SENT:
            assert s not in r.text, f"{method} {path} returned a password"
            for h, v in r.headers.items():
                assert s not in v
        return r
    return c


@pytest.fixture
def dbs(call, key_a):
    """dbs(key=key_a, **fields) -> created record; all deleted after the test."""
    created = []

    def make(key=None, expect=201, **fields):
        key = key or key_a
        body = {"name": "db " + uniq(), "type": "postgresql", "host": "127.0.0.1",
                "port": 5432, "database": "test", "username": "postgres",
                "password": secret("x"), "ssl_mode": "require"}
        body.update(fields)
        for k in [k for k, v in body.items() if v is ...]:
            del body[k]
        r = call("POST", "/v1/databases", key, json=body)
        assert r.status_code == expect, r.text
        if r.status_code == 201:
            created.append((key, r.json()["id"]))
        return r.json()
    yield make
    for key, id_ in created:
        call("DELETE", f"/v1/databases/{id_}", key)


def other_db(n=None):
    """A database name nobody else registers, to stay clear of 409."""
    return f"other_{n or uniq()}"


# ------------------------------------------------------------ create, read

def test_create_returns_pending_and_location(call, key_a, tenant_a, dbs):
    pw = secret("create")
    r = call("POST", "/v1/databases", key_a, json={
        "name": "Production PostgreSQL", "type": "postgresql", "host": "DB.Example.com",
        "port": 5432, "database": other_db(), "username": "dbaudit_reader", "password": pw,
        "ssl_mode": "verify-full", "tags": ["production", "critical"],
        "audit_options": {"capture_queries": True, "capture_results": False,
                          "mask_sensitive_data": True}})
    assert r.status_code == 201, r.text
    body = r.json()
    try:
        assert re.fullmatch(r"db_[0-9a-f]{24}", body["id"])
        assert r.headers["Location"] == f"/v1/databases/{body['id']}"
        assert body["status"] == "pending"
        assert body["audit_status"] == "initializing"
        assert body["name"] == "Production PostgreSQL"
        assert body["type"] == "postgresql"
        assert body["host"] == "db.example.com"          # host names are case-insensitive
        assert body["tenant_id"] == tenant_a
        assert body["tags"] == ["production", "critical"]
        assert body["stored_secrets"] == ["password"]
        assert body["last_event_at"] is None
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", body["created_at"])
        assert "password" not in body and "secrets" not in body
    finally:
        call("DELETE", f"/v1/databases/{body['id']}", key_a)


def test_create_defaults_and_detail(call, key_a, dbs):
    d = dbs(database=other_db(), ssl_mode=..., tags=...)
    r = call("GET", f"/v1/databases/{d['id']}", key_a)
    assert r.status_code == 200
    body = r.json()
    assert body["ssl_mode"] == "require"
    assert body["tags"] == []
    assert body["audit_options"] == {"capture_queries": True, "capture_results": False,
                                     "mask_sensitive_data": True}
    assert body["stats"] == {"events_today": 0, "events_this_week": 0, "alerts_pending": 0,
                             "policies_active": 5}   # the built-in detectors
    assert body["health"]["last_heartbeat"] is None
    assert "heartbeat" in body["health"]["message"]
    assert body["last_test"] is None
    for k in ("id", "name", "type", "host", "port", "database", "username", "ssl_mode",
              "status", "audit_status", "created_at", "updated_at"):
        assert k in body


def test_oracle_sqlserver_mongodb_mariadb_mysql_types(dbs):
    for t, port in (("oracle", 1521), ("sqlserver", 1433), ("mongodb", 27017),
                    ("mariadb", 3306), ("mysql", 3306)):
        d = dbs(type=t, port=port, database=other_db())
        assert d["type"] == t


def test_mongodb_may_have_no_username_others_not(dbs):
    dbs(type="mongodb", username="", password="", database=other_db())
    r = dbs(type="postgresql", username="", database=other_db(), expect=400)
    assert "username" in r["error"]["message"]


def test_list_pagination_and_filters(call, make_key, dbs):
    key = make_key("dbt-list-" + uniq(), "all")
    made = [dbs(key=key, database=other_db(i), type=t, tags=tags, port=p)
            for i, (t, tags, p) in enumerate([
                ("postgresql", ["prod", "pci"], 5432), ("mysql", ["prod"], 3306),
                ("mongodb", ["dev"], 27017), ("oracle", [], 1521), ("postgresql", ["dev"], 5432)])]
    r = call("GET", "/v1/databases", key)
    assert r.status_code == 200
    body = r.json()
    assert body["pagination"] == {"total": 5, "page": 1, "per_page": 20}
    ids = [d["id"] for d in body["data"]]
    assert ids == [d["id"] for d in reversed(made)]           # newest first
    for item in body["data"]:
        assert "password" not in item and "secrets" not in item
        assert item["last_event_at"] is None
    # paging
    pages = []
    for page in (1, 2, 3):
        r = call("GET", "/v1/databases", key, params={"per_page": 2, "page": page})
        assert r.json()["pagination"] == {"total": 5, "page": page, "per_page": 2}
        pages += [d["id"] for d in r.json()["data"]]
    assert pages == ids
    assert call("GET", "/v1/databases", key, params={"page": 9}).json()["data"] == []
    # filters
    r = call("GET", "/v1/databases", key, params={"type": "postgresql"})
    assert r.json()["pagination"]["total"] == 2
    assert {d["type"] for d in r.json()["data"]} == {"postgresql"}
    r = call("GET", "/v1/databases", key, params={"tags": "pci,dev"})     # any of them
    assert r.json()["pagination"]["total"] == 3
    r = call("GET", "/v1/databases", key, params={"tags": "prod", "type": "mysql"})
    assert [d["id"] for d in r.json()["data"]] == [made[1]["id"]]
    r = call("GET", "/v1/databases", key, params={"status": "pending"})
    assert r.json()["pagination"]["total"] == 5
    r = call("GET", "/v1/databases", key, params={"status": "connected"})
    assert r.json()["pagination"]["total"] == 0
    # invalid filters: 400, never clamped
    for params in ({"per_page": 0}, {"per_page": 101}, {"per_page": "x"}, {"page": 0},
                   {"page": -1}, {"status": "up"}, {"type": "db2"}, {"tags": "Prod"},
                   {"tags": "a,,b"}, {"limit": 5}, {"per_page": ["1", "2"]}):
        assert_error(call("GET", "/v1/databases", key, params=params), 400, "invalid_parameter")


# ------------------------------------------------------------- validation

VALID = {"name": "n", "type": "postgresql", "host": "127.0.0.1", "port": 5432,
         "database": "valid_db", "username": "u", "password": "p"}

INVALID = [
    ({"name": None}, "name"), ({"type": None}, "type"), ({"host": None}, "host"),
    ({"port": None}, "port"), ({"database": None}, "database"),
    ({"username": None}, "username"), ({"password": None}, "password"),
    ({"name": ""}, "name"), ({"name": "x" * 201}, "name"), ({"name": 5}, "name"),
    ({"type": "db2"}, "type"), ({"type": "PostgreSQL"}, "type"),
    ({"host": ""}, "host"), ({"host": "a b"}, "host"), ({"host": "x" * 256}, "host"),
    ({"host": "db.example.com:5432"}, "host"), ({"host": "-db"}, "host"),
    ({"host": "a\u0001b"}, "host"),
    ({"port": 0}, "port"), ({"port": 65536}, "port"), ({"port": "5432"}, "port"),
    ({"port": 5432.5}, "port"), ({"port": True}, "port"),
    ({"database": ""}, "database"), ({"database": "d" * 129}, "database"),
    ({"username": "u" * 129}, "username"), ({"username": ["u"]}, "username"),
    ({"password": 1234}, "password"), ({"password": "p" * 1025}, "password"),
    ({"ssl_mode": "prefer"}, "ssl_mode"), ({"ssl_mode": None}, "ssl_mode"),
    ({"ssl_ca": "-----BEGIN CERTIFICATE-----..."}, "ssl_ca"), ({"ssl_ca": 1}, "ssl_ca"),
    ({"ssl_key": "x"}, "ssl_"), ({"tags": "prod"}, "tags"), ({"tags": ["Prod"]}, "tags"),
    ({"tags": ["a b"]}, "tags"), ({"tags": [""]}, "tags"), ({"tags": ["a", "a"]}, "tags"),
    ({"tags": [str(i) for i in range(21)]}, "tags"), ({"tags": [1]}, "tags"),
    ({"tags": ["x" * 65]}, "tags"),
    ({"audit_options": []}, "audit_options"),
    ({"audit_options": {"capture_queries": "yes"}}, "capture_queries"),
    ({"audit_options": {"retention_days": 0}}, "retention_days"),
    ({"audit_options": {"retention_days": 3651}}, "retention_days"),
    ({"audit_options": {"retention_days": 9.5}}, "retention_days"),
    ({"audit_options": {"sample_rate": 1}}, "sample_rate"),
    ({"unknown_field": 1}, "unknown_field"), ({"audit_status": "paused"}, "audit_status"),
    ({"id": "db_000000000000000000000000"}, "id"),
]


@pytest.mark.parametrize("change,field", INVALID, ids=[f"{f}-{i}" for i, (c, f) in enumerate(INVALID)])
def test_create_invalid_field_400(call, key_a, change, field):
    body = dict(VALID, database="valid_" + uniq())
    for k, v in change.items():
        if v is None and k in VALID and k != "ssl_mode":
            del body[k]
        else:
            body[k] = v
    r = call("POST", "/v1/databases", key_a, json=body)
    msg = assert_error(r, 400, "invalid_parameter")
    assert field in msg, msg
    assert "p" * 20 not in msg


def test_bad_bodies(call, key_a, dbs):
    d = dbs(database=other_db())
    before = call("GET", "/v1/databases", key_a).json()["pagination"]["total"]
    for path, method in (("/v1/databases", "POST"), (f"/v1/databases/{d['id']}", "PATCH"),
                         (f"/v1/databases/{d['id']}/heartbeat", "POST")):
        json_ct = {"Content-Type": "application/json"}
        assert_error(call(method, path, key_a, data=b"{not json", headers=json_ct), 400, "invalid_parameter")
        assert_error(call(method, path, key_a, data=b"", headers=json_ct), 400, "invalid_parameter")
        assert_error(call(method, path, key_a, data=b"[]", headers=json_ct), 400, "invalid_parameter")
        assert_error(call(method, path, key_a, data=b'{"name": "a", "name": "b"}', headers=json_ct),
            400, "invalid_parameter")
        assert_error(call(method, path, key_a, data=b'{"name": "\xff\xfe"}', headers=json_ct),
            400, "invalid_parameter")
        assert_error(call(method, path, key_a, data=b'{"name": "x"}', headers={"Content-Type": "text/plain"}),
            415, "unsupported_media_type")
    assert call("GET", "/v1/databases", key_a).json()["pagination"]["total"] == before
    # the test route takes no parameters
    assert_error(call("POST", f"/v1/databases/{d['id']}/test", key_a, json={"ssl_mode": "disable"}),
        400, "invalid_parameter")


def test_conflict_409(call, key_a, key_b, dbs):
    name = other_db()
    first = dbs(host="db.example.com", database=name)
    r = call("POST", "/v1/databases", key_a, json=dict(VALID, host="DB.EXAMPLE.COM", database=name))
    assert "already" in assert_error(r, 409, "conflict")
    # another port, another database, another tenant: fine
    dbs(host="db.example.com", port=5433, database=name)
    dbs(host="db.example.com", database=name + "_2")
    dbs(key=key_b, host="db.example.com", database=name)
    # an update that collides
    second = dbs(host="db.example.com", database=name + "_3")
    r = call("PATCH", f"/v1/databases/{second['id']}", key_a, json={"database": name})
    assert_error(r, 409, "conflict")
    assert call("GET", f"/v1/databases/{second['id']}", key_a).json()["database"] == name + "_3"
    assert call("GET", f"/v1/databases/{first['id']}", key_a).status_code == 200


# --------------------------------------------------------- auth and tenants

ROUTES = [("GET", "/v1/databases", None), ("POST", "/v1/databases", {}),
          ("GET", "/v1/databases/{id}", None), ("PATCH", "/v1/databases/{id}", {"name": "x"}),
          ("DELETE", "/v1/databases/{id}", None), ("GET", "/v1/databases/{id}/status", None),
          ("POST", "/v1/databases/{id}/test", None),
          ("POST", "/v1/databases/{id}/heartbeat",
           {"collector": {"version": "1", "uptime_seconds": 1, "events_per_second": 1}})]


def test_unauthenticated_401(call, dbs):
    d = dbs(database=other_db())
    for method, path, body in ROUTES:
        r = call(method, path.format(id=d["id"]), json=body)
        assert_error(r, 401, "unauthorized")
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        r = call(method, path.format(id=d["id"]), key="dba_" + "0" * 16 + "_" + "0" * 64, json=body)
        assert_error(r, 401, "unauthorized")


def test_scopes_403(call, make_key, tenant_a, dbs):
    d = dbs(database=other_db())
    readonly = make_key(tenant_a, "read:databases")
    writeonly = make_key(tenant_a, "write:databases")
    collector = make_key(tenant_a, "write:events")
    need = {"GET": "read:databases", "POST": "write:databases", "PATCH": "write:databases",
            "DELETE": "write:databases"}
    for method, path, body in ROUTES:
        path = path.format(id=d["id"])
        scope = "write:events" if path.endswith("heartbeat") else need[method]
        for key, held in ((readonly, "read:databases"), (writeonly, "write:databases"),
                          (collector, "write:events")):
            if held == scope:
                continue
            r = call(method, path, key, json=body)
            assert scope in assert_error(r, 403, "forbidden")
    # each scope is enough for its own routes
    assert call("GET", f"/v1/databases/{d['id']}", readonly).status_code == 200
    hb = {"collector": {"version": "1", "uptime_seconds": 1, "events_per_second": 1}}
    assert call("POST", f"/v1/databases/{d['id']}/heartbeat", collector, json=hb).status_code == 200
    assert call("PATCH", f"/v1/databases/{d['id']}", writeonly, json={"name": "w"}).status_code == 200


def test_tenant_isolation(call, key_a, key_b, dbs):
    d = dbs(database=other_db(), tags=["iso"])
    hb = {"collector": {"version": "1", "uptime_seconds": 1, "events_per_second": 1}}
    for method, path, body in ROUTES[2:]:
        r = call(method, path.format(id=d["id"]), key_b, json=hb if "heartbeat" in path else body)
        assert_error(r, 404, "not_found")
    assert d["id"] not in [x["id"] for x in call("GET", "/v1/databases", key_b).json()["data"]]
    assert call("GET", "/v1/databases", key_b, params={"tags": "iso"}).json()["data"] == []
    # untouched by the attempts
    after = call("GET", f"/v1/databases/{d['id']}", key_a).json()
    assert after["name"] == d["name"] and after["status"] == "pending"
    assert after["health"]["last_heartbeat"] is None and after["last_test"] is None
    # ids that do not exist or are malformed: the same 404
    for id_ in ("db_000000000000000000000000", "db_abc123", "xyz", "db_" + "G" * 24):
        assert_error(call("GET", f"/v1/databases/{id_}", key_a), 404, "not_found")
        assert_error(call("DELETE", f"/v1/databases/{id_}", key_a), 404, "not_found")


def test_multi_tenant_key_names_its_tenant(call, make_key, dbs):
    t1, t2 = "dbt-m1-" + uniq(), "dbt-m2-" + uniq()
    key = make_key(f"{t1},{t2}", "all")
    assert_error(call("POST", "/v1/databases", key, json=dict(VALID, database=other_db())),
        400, "invalid_parameter")
    assert_error(call("POST", "/v1/databases", key, json=dict(VALID, database=other_db(), tenant_id="dbt-x")),
        403, "forbidden")
    d = dbs(key=key, database=other_db(), tenant_id=t2)
    assert d["tenant_id"] == t2
    assert call("GET", f"/v1/databases/{d['id']}", key).status_code == 200
    assert_error(call("PATCH", f"/v1/databases/{d['id']}", key, json={"tenant_id": t1}), 400,
        "invalid_parameter")


# ------------------------------------------------------------ update, delete

def test_patch(call, key_a, store, dbs):
    d = dbs(database=other_db(), tags=["a"], audit_options={"capture_results": True})
    old = store.databases.find_one({"_id": d["id"]})
    time.sleep(0.01)
    r = call("PATCH", f"/v1/databases/{d['id']}", key_a, json={
        "name": "Production PostgreSQL (Primary)", "tags": ["production", "pci-dss"],
        "audit_options": {"retention_days": 90, "mask_sensitive_data": False}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "Production PostgreSQL (Primary)"
    assert body["tags"] == ["production", "pci-dss"]
    # options merge: the ones not given stay
    assert body["audit_options"] == {"capture_queries": True, "capture_results": True,
                                     "mask_sensitive_data": False, "retention_days": 90}
    assert ts(body["updated_at"]) > ts(body["created_at"])
    assert body["stats"]["events_today"] == 0
    new = store.databases.find_one({"_id": d["id"]})
    assert new["secrets"] == old["secrets"]                 # no password given: kept
    # a new password is sealed again
    r = call("PATCH", f"/v1/databases/{d['id']}", key_a, json={"password": secret("patch")})
    assert r.status_code == 200
    assert store.databases.find_one({"_id": d["id"]})["secrets"]["password"]["ct"] != \
        old["secrets"]["password"]["ct"]
    # optional PEM secrets set and removed
    if SNAKEOIL.is_file():
        r = call("PATCH", f"/v1/databases/{d['id']}", key_a, json={"ssl_ca": SNAKEOIL.read_text()})
        assert r.json()["stored_secrets"] == ["password", "ssl_ca"]
        r = call("PATCH", f"/v1/databases/{d['id']}", key_a, json={"ssl_ca": None})
        assert r.json()["stored_secrets"] == ["password"]
    # pause and resume auditing
    assert call("PATCH", f"/v1/databases/{d['id']}", key_a,
                json={"audit_status": "paused"}).json()["audit_status"] == "paused"
    assert call("PATCH", f"/v1/databases/{d['id']}", key_a,
                json={"audit_status": "active"}).json()["audit_status"] == "initializing"
    # rejected changes change nothing
    for bad in ({}, {"port": 0}, {"name": None}, {"password": None}, {"tenant_id": "x"},
                {"ssl_cert": None}, {"nope": 1}):
        assert_error(call("PATCH", f"/v1/databases/{d['id']}", key_a, json=bad), 400, "invalid_parameter")
    assert_error(call("PATCH", "/v1/databases/db_000000000000000000000000", key_a, json={"name": "x"}),
        404, "not_found")
    assert call("GET", f"/v1/databases/{d['id']}", key_a).json()["name"] == \
        "Production PostgreSQL (Primary)"


def test_patch_retarget_requires_password(call, key_a, store, dbs):
    """Issue 9, defect 1: a PATCH that points the record at another server
    (type, host, port or username) must send the password again, or the
    stored one could be relayed to a server of the caller's choosing."""
    d = dbs(database=other_db())
    before = store.databases.find_one({"_id": d["id"]})
    for change in ({"host": "203.0.113.7"}, {"port": 6543}, {"type": "mysql"},
                   {"username": "someone_else"}, {"host": "203.0.113.7", "name": "moved"}):
        msg = assert_error(call("PATCH", f"/v1/databases/{d['id']}", key_a, json=change), 400,
                  "invalid_parameter")
        assert "password" in msg, msg
    after = store.databases.find_one({"_id": d["id"]})
    assert (after["host"], after["port"], after["type"], after["username"], after["name"]) == \
        (before["host"], before["port"], before["type"], before["username"], before["name"])
    # the same values again, or fields that do not move the connection: no password needed
    assert call("PATCH", f"/v1/databases/{d['id']}", key_a,
                json={"host": "127.0.0.1", "port": 5432, "ssl_mode": "disable"}).status_code == 200
    # with the password, the move is allowed
    r = call("PATCH", f"/v1/databases/{d['id']}", key_a,
             json={"host": "203.0.113.7", "port": 6543, "password": secret("moved")})
    assert r.status_code == 200, r.text
    assert (r.json()["host"], r.json()["port"]) == ("203.0.113.7", 6543)


def test_delete_keeps_events_and_disables_its_policies(call, key_a, tenant_a, store, dbs):
    d = dbs(database=other_db())
    other = dbs(database=other_db())
    now = datetime.datetime.now(datetime.timezone.utc)
    ev = "evt_" + secrets.token_hex(12)
    store.events.insert_one({"_id": ev, "tenant_id": tenant_a, "type": "query",
                             "severity": "info", "database_id": d["id"], "timestamp": now})
    pols = {
        "only": {"database_ids": [d["id"]], "enabled": True},
        "both": {"database_ids": [d["id"], other["id"]], "enabled": True},
        "all": {"database_ids": [], "enabled": True},
        "other": {"database_ids": [other["id"]], "enabled": True},
    }
    ids = {}
    for name, p in pols.items():
        ids[name] = "pol_" + secrets.token_hex(12)
        store.policies.insert_one(dict(p, _id=ids[name], tenant_id=tenant_a, name=name))
    try:
        r = call("DELETE", f"/v1/databases/{d['id']}", key_a)
        assert r.status_code == 204 and r.content == b""
        assert_error(call("GET", f"/v1/databases/{d['id']}", key_a), 404, "not_found")
        assert_error(call("DELETE", f"/v1/databases/{d['id']}", key_a), 404, "not_found")
        assert store.events.find_one({"_id": ev}) is not None
        enabled = {n: store.policies.find_one({"_id": i})["enabled"] for n, i in ids.items()}
        assert enabled == {"only": False, "both": True, "all": True, "other": True}
    finally:
        store.events.delete_one({"_id": ev})
        store.policies.delete_many({"_id": {"$in": list(ids.values())}})


def test_list_costs_a_bounded_number_of_store_calls(call, make_key, dbs):
    """Issue 9: the list reads the page's last events in one store call,
    not one per database. The test stack reports each request's store calls
    (X-Store-Calls, debug routes only); one record and 40 cost the same."""
    key = make_key("dbt-calls-" + uniq(), "all")

    def cost():
        # The fewest over several requests: a worker that has not cached
        # the key yet adds its lookup (auth, not the list).
        calls = []
        for _ in range(8):
            r = call("GET", "/v1/databases?per_page=100", key)
            assert r.status_code == 200, r.text
            if "X-Store-Calls" not in r.headers:
                pytest.skip("the stack does not report store calls (debug routes are off)")
            calls.append(int(r.headers["X-Store-Calls"]))
        return min(calls), len(r.json()["data"])

    dbs(key=key, database=other_db())
    one, n1 = cost()
    for i in range(39):
        dbs(key=key, database=other_db(f"c{i}_{uniq()}"))
    many, n40 = cost()
    assert (n1, n40) == (1, 40)
    assert many == one <= 2


# ------------------------------------------------------ stats and heartbeat

def test_stats_and_last_event(call, key_a, tenant_a, store, dbs, conf):
    d = dbs(database=other_db())
    other = dbs(database=other_db())
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    today = now.replace(hour=0, minute=0, second=0)
    monday = today - datetime.timedelta(days=today.weekday())
    stamps = [now, now - datetime.timedelta(seconds=5), today,
              monday, monday - datetime.timedelta(seconds=1), monday - datetime.timedelta(days=30)]
    in_today = sum(1 for s in stamps if s >= today)
    in_week = sum(1 for s in stamps if s >= monday)
    evs = []
    for i, ts in enumerate(stamps):
        evs.append({"_id": "evt_" + secrets.token_hex(12), "tenant_id": tenant_a,
                    "type": "query" if i else "login.failed", "severity": "info",
                    "database_id": d["id"], "timestamp": ts,
                    "details": {"user": "app_user" if i else "mallory"}})
    # noise: another database, another tenant, a tombstone
    evs.append({"_id": "evt_" + secrets.token_hex(12), "tenant_id": tenant_a, "type": "query",
                "database_id": other["id"], "timestamp": now + datetime.timedelta(seconds=1)})
    evs.append({"_id": "evt_" + secrets.token_hex(12), "tenant_id": "dbt-elsewhere", "type": "query",
                "database_id": d["id"], "timestamp": now + datetime.timedelta(seconds=2)})
    alerts = [{"_id": "alt_" + secrets.token_hex(12), "tenant_id": tenant_a, "database_id": d["id"],
               "status": s} for s in ("open", "open", "acknowledged", "resolved")]
    alerts.append({"_id": "alt_" + secrets.token_hex(12), "tenant_id": tenant_a,
                   "database_id": other["id"], "status": "open"})
    pols = [{"database_ids": [], "enabled": True}, {"database_ids": [d["id"]], "enabled": True},
            {"database_ids": [other["id"], d["id"]], "enabled": True},
            {"database_ids": [d["id"]], "enabled": False}, {"database_ids": [other["id"]], "enabled": True}]
    pols = [dict(p, _id="pol_" + secrets.token_hex(12), tenant_id=tenant_a) for p in pols]
    store.events.insert_many(evs)
    store.alerts.insert_many(alerts)
    store.policies.insert_many(pols)
    if engine_of(conf) == "mongodb":
        # The MongoDB engine keeps last_event_at at ingest (for the list);
        # these events were written around it.
        store.databases.update_one({"_id": d["id"]}, {"$set": {"last_event_at": now}})
    try:
        body = call("GET", f"/v1/databases/{d['id']}", key_a).json()
        assert body["stats"] == {"events_today": in_today, "events_this_week": in_week,
                                 "alerts_pending": 3, "policies_active": 3 + 5}  # 5 built-ins
        assert body["last_event_at"] == now.strftime("%Y-%m-%dT%H:%M:%SZ")
        st = call("GET", f"/v1/databases/{d['id']}/status", key_a).json()
        assert st["last_event"] == {"timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                    "type": "login.failed", "severity": "info", "user": "mallory"}
        listed = {x["id"]: x for x in call("GET", "/v1/databases", key_a).json()["data"]}
        assert listed[d["id"]]["last_event_at"] == body["last_event_at"]
    finally:
        store.events.delete_many({"_id": {"$in": [e["_id"] for e in evs]}})
        store.alerts.delete_many({"_id": {"$in": [a["_id"] for a in alerts]}})
        store.policies.delete_many({"_id": {"$in": [p["_id"] for p in pols]}})


HB = {"collector": {"version": "2.4.1", "uptime_seconds": 864000, "events_per_second": 42.5},
      "health_checks": {"connectivity": "healthy", "permissions": "healthy", "latency": "healthy",
                        "disk_space": "warning"},
      "latency_ms": 12}


def test_heartbeat_and_status(call, key_a, dbs):
    d = dbs(database=other_db())
    st = call("GET", f"/v1/databases/{d['id']}/status", key_a).json()
    assert st["collector"] is None and st["health_checks"] is None and st["last_event"] is None
    assert "heartbeat" in st["message"]
    assert st["connection_status"] == "pending" and st["audit_status"] == "initializing"
    r = call("POST", f"/v1/databases/{d['id']}/heartbeat", key_a, json=HB)
    assert r.status_code == 200, r.text
    assert r.json()["connection_status"] == "connected" and r.json()["audit_status"] == "active"
    st = call("GET", f"/v1/databases/{d['id']}/status", key_a).json()
    assert st["id"] == d["id"]
    assert st["connection_status"] == "connected"
    assert st["audit_status"] == "active"
    assert st["collector"] == HB["collector"]
    assert st["health_checks"] == HB["health_checks"]
    assert st["latency_ms"] == 12
    assert "message" not in st
    detail = call("GET", f"/v1/databases/{d['id']}", key_a).json()
    assert detail["health"]["latency_ms"] == 12
    assert detail["health"]["last_heartbeat"] == st["last_heartbeat"]
    assert detail["status"] == "connected"
    # connectivity critical: error
    bad = dict(HB, health_checks={"connectivity": "critical"})
    assert call("POST", f"/v1/databases/{d['id']}/heartbeat", key_a,
                json=bad).json()["connection_status"] == "error"
    # a paused database stays paused
    call("PATCH", f"/v1/databases/{d['id']}", key_a, json={"audit_status": "paused"})
    assert call("POST", f"/v1/databases/{d['id']}/heartbeat", key_a,
                json=HB).json()["audit_status"] == "paused"
    assert call("PATCH", f"/v1/databases/{d['id']}", key_a,
                json={"audit_status": "active"}).json()["audit_status"] == "active"


@pytest.mark.parametrize("body", [
    {}, {"collector": None}, {"collector": {"version": "1", "uptime_seconds": 1}},
    {"collector": {"version": "", "uptime_seconds": 1, "events_per_second": 1}},
    {"collector": {"version": "1", "uptime_seconds": -1, "events_per_second": 1}},
    {"collector": {"version": "1", "uptime_seconds": "1", "events_per_second": 1}},
    {"collector": {"version": "1", "uptime_seconds": 1, "events_per_second": -1}},
    {"collector": {"version": "1", "uptime_seconds": 1, "events_per_second": 1, "pid": 5}},
    dict(HB, health_checks={"connectivity": "ok"}), dict(HB, health_checks={"cpu": "healthy"}),
    dict(HB, health_checks=[]), dict(HB, latency_ms=-1), dict(HB, latency_ms="12"), dict(HB, extra=1),
])
def test_heartbeat_invalid_400(call, key_a, dbs, body):
    d = dbs(database=other_db())
    assert_error(call("POST", f"/v1/databases/{d['id']}/heartbeat", key_a, json=body), 400, "invalid_parameter")
    assert call("GET", f"/v1/databases/{d['id']}/status", key_a).json()["collector"] is None


# -------------------------------------------------------------- encryption

def test_credentials_encrypted_at_rest(call, key_a, store, dbs):
    pw = secret("rest")
    d = dbs(database=other_db(), password=pw)
    doc = store.databases.find_one({"_id": d["id"]})
    assert pw not in json.dumps(doc, default=str)
    sealed = doc["secrets"]["password"]
    assert set(sealed) == {"alg", "kid", "nonce", "ct"}
    assert sealed["alg"] == "A256GCM" and sealed["kid"]
    import base64
    assert len(base64.b64decode(sealed["nonce"])) == 12
    assert len(base64.b64decode(sealed["ct"])) == len(pw) + 16
    # the same password twice: different nonces and ciphertexts
    d2 = dbs(database=other_db(), password=pw)
    s2 = store.databases.find_one({"_id": d2["id"]})["secrets"]["password"]
    assert s2["nonce"] != sealed["nonce"] and s2["ct"] != sealed["ct"]


def test_ciphertext_moved_to_another_record_does_not_open(call, key_a, store, dbs):
    """The record id is the associated data: a sealed password copied into
    another record must not decrypt there (the test then fails with 500)."""
    a = dbs(database=other_db(), ssl_mode="disable")
    b = dbs(database=other_db(), ssl_mode="disable")
    sealed = store.databases.find_one({"_id": a["id"]})["secrets"]
    store.databases.update_one({"_id": b["id"]}, {"$set": {"secrets": sealed}})
    r = call("POST", f"/v1/databases/{b['id']}/test", key_a)
    assert_error(r, 500, "internal_error")


# -------------------------------------------------------- connection tests

# The connection tests talk to real servers this machine provides; nothing
# here starts or reconfigures them. What they need, exactly (a test without
# it is skipped, the reason naming what is missing):
PG_NEEDS = ("PostgreSQL 15 on 127.0.0.1:5432 with TLS on, a database `test`, and "
            "user postgres reaching it from 127.0.0.1 without a password (psql)")
MARIA_NEEDS = ("MariaDB on 127.0.0.1:3306 with a database `test` and user root "
               "reaching it from 127.0.0.1 without a password (mysql client)")


def _missing(addr, argv, want):
    """Why the server is not as the tests need it, or None when it is."""
    if not port_open(addr):
        return f"nothing listens on {addr[0]}:{addr[1]}"
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{argv[0]}: {e}"
    if out.returncode != 0:
        return f"{argv[0]} failed: {out.stderr.strip()[:200]}"
    if not out.stdout.strip().startswith(want):
        return f"{argv[0]} answered {out.stdout.strip()[:80]!r}, not {want!r}..."
    return None


PG_MISSING = _missing(PG, ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-w",
                           "-qAtc", "SELECT current_setting('ssl') || ' ' || version()"],
                      "on PostgreSQL 15")
MARIA_MISSING = _missing(MARIADB, ["mysql", "-h", "127.0.0.1", "-uroot", "-N", "-e",
                                   "SELECT 'ok' FROM information_schema.schemata "
                                   "WHERE schema_name = 'test'"], "ok")
needs_pg = pytest.mark.skipif(PG_MISSING is not None, reason=f"needs {PG_NEEDS}: {PG_MISSING}")
needs_maria = pytest.mark.skipif(MARIA_MISSING is not None,
                                 reason=f"needs {MARIA_NEEDS}: {MARIA_MISSING}")


def run_sql_pg(sql):
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-v", "ON_ERROR_STOP=1",
                    "-qAtc", sql], check=True, capture_output=True, timeout=30)


def run_sql_maria(sql):
    subprocess.run(["mysql", "-h", "127.0.0.1", "-uroot", "-e", sql], check=True,
                   capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def maria_user():
    """A MariaDB user with a password and SELECT on test (no PROCESS)."""
    if MARIA_MISSING is not None:
        pytest.skip(f"needs {MARIA_NEEDS}: {MARIA_MISSING}")
    name, pw = "dbaudit_t_" + uniq(), secret("maria")
    run_sql_maria(f"CREATE USER '{name}'@'127.0.0.1' IDENTIFIED BY '{pw}'; "
                  f"GRANT SELECT ON `test`.* TO '{name}'@'127.0.0.1'")
    yield name, pw
    run_sql_maria(f"DROP USER IF EXISTS '{name}'@'127.0.0.1'")


def test_connection_test_postgresql(call, key_a, dbs):
    if PG_MISSING is not None:
        pytest.skip(f"needs {PG_NEEDS}: {PG_MISSING}")
    d = dbs(database="test", ssl_mode="require")
    r = call("POST", f"/v1/databases/{d['id']}/test", key_a)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"success", "latency_ms", "version", "permissions", "warnings"}
    assert body["success"] is True
    assert body["version"].startswith("PostgreSQL 15")
    assert body["permissions"]["pg_read_all_stats"] is True
    assert body["permissions"]["pg_monitor"] is True
    assert body["permissions"]["select"] is True
    assert isinstance(body["latency_ms"], int) and 0 <= body["latency_ms"] < 5000
    assert body["warnings"] == []
    detail = call("GET", f"/v1/databases/{d['id']}", key_a).json()
    assert detail["status"] == "connected"
    assert detail["last_test"]["success"] is True
    assert detail["health"]["latency_ms"] == body["latency_ms"]


@needs_pg
def test_connection_test_postgresql_tls_verification(call, key_a, dbs):
    if not SNAKEOIL.is_file():
        pytest.skip("no snakeoil certificate")
    ca = SNAKEOIL.read_text()     # the server's own self-signed certificate (CN=localhost)
    d = dbs(database="test", ssl_mode="verify-ca", ssl_ca=ca)
    assert call("POST", f"/v1/databases/{d['id']}/test", key_a).status_code == 200
    # verify-full: the certificate names localhost, not 127.0.0.1
    call("PATCH", f"/v1/databases/{d['id']}", key_a, json={"ssl_mode": "verify-full"})
    r = call("POST", f"/v1/databases/{d['id']}/test", key_a)
    assert "TLS failed" in assert_error(r, 422, "unprocessable_entity")
    assert call("GET", f"/v1/databases/{d['id']}", key_a).json()["last_test"]["error"] == "tls_failed"
    # ... and verifies under its own name
    assert call("PATCH", f"/v1/databases/{d['id']}", key_a,
                json={"host": "localhost", "password": secret("tls")}).status_code == 200
    assert call("POST", f"/v1/databases/{d['id']}/test", key_a).status_code == 200
    # verify-ca against a CA that did not sign the server's certificate
    call("PATCH", f"/v1/databases/{d['id']}", key_a, json={"ssl_mode": "verify-ca",
                                                           "ssl_ca": OTHER_CA})
    r = call("POST", f"/v1/databases/{d['id']}/test", key_a)
    assert "TLS failed" in assert_error(r, 422, "unprocessable_entity")


@needs_pg
def test_connection_test_postgresql_missing_privilege(call, key_a, dbs):
    role = "dbaudit_np_" + uniq()
    run_sql_pg(f"CREATE ROLE {role} LOGIN")
    try:
        d = dbs(database="test", username=role, ssl_mode="disable")
        r = call("POST", f"/v1/databases/{d['id']}/test", key_a)
        msg = assert_error(r, 422, "unprocessable_entity")
        assert "pg_read_all_stats" in msg and "GRANT" in msg
        detail = call("GET", f"/v1/databases/{d['id']}", key_a).json()
        assert detail["status"] == "error"
        assert detail["last_test"]["error"] == "missing_privilege"
        run_sql_pg(f"GRANT pg_monitor TO {role}")
        r = call("POST", f"/v1/databases/{d['id']}/test", key_a)
        assert r.status_code == 200, r.text
        assert r.json()["permissions"]["pg_monitor"] is True
        assert any("not encrypted" in w for w in r.json()["warnings"])
        assert call("GET", f"/v1/databases/{d['id']}", key_a).json()["status"] == "connected"
    finally:
        run_sql_pg(f"DROP ROLE IF EXISTS {role}")


@needs_pg
def test_connection_test_postgresql_unknown_database(call, key_a, dbs):
    d = dbs(database="no_such_db_" + uniq())
    msg = assert_error(call("POST", f"/v1/databases/{d['id']}/test", key_a), 422, "unprocessable_entity")
    assert "does not exist" in msg


def test_connection_test_mariadb(call, key_a, dbs, maria_user):
    name, pw = maria_user
    d = dbs(type="mariadb", port=3306, database="test", username=name, password=pw,
            ssl_mode="disable")
    r = call("POST", f"/v1/databases/{d['id']}/test", key_a)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True
    assert body["version"].startswith("MariaDB 10.11")
    assert body["permissions"] == {"select": True, "process": False}
    assert any("PROCESS" in w for w in body["warnings"])
    assert any("not encrypted" in w for w in body["warnings"])
    assert call("GET", f"/v1/databases/{d['id']}", key_a).json()["status"] == "connected"
    # registered as mysql: it works, with a warning that says what the server is
    d2 = dbs(type="mysql", port=3306, database="test", username=name, password=pw,
             ssl_mode="disable", host="localhost")
    r = call("POST", f"/v1/databases/{d2['id']}/test", key_a)
    assert r.status_code == 200, r.text
    assert any("MariaDB" in w for w in r.json()["warnings"])


def test_connection_test_mariadb_wrong_password(call, key_a, dbs, maria_user):
    """PostgreSQL here trusts every local connection (pg_hba: trust), so a
    wrong password can only be refused by MariaDB."""
    name, _ = maria_user
    d = dbs(type="mariadb", port=3306, database="test", username=name,
            password=secret("wrong"), ssl_mode="disable")
    r = call("POST", f"/v1/databases/{d['id']}/test", key_a)
    msg = assert_error(r, 422, "unprocessable_entity")
    assert msg.startswith("Authentication failed")
    assert name not in msg                      # no driver text (it names the user)
    detail = call("GET", f"/v1/databases/{d['id']}", key_a).json()
    assert detail["status"] == "error"
    assert detail["last_test"]["error"] == "authentication_failed"
    assert detail["last_test"]["success"] is False


def test_connection_test_mariadb_tls_required(call, key_a, dbs, maria_user):
    """This MariaDB has TLS disabled: ssl_mode require must fail, not downgrade."""
    name, pw = maria_user
    d = dbs(type="mariadb", port=3306, database="test", username=name, password=pw,
            ssl_mode="require")
    r = call("POST", f"/v1/databases/{d['id']}/test", key_a)
    assert "TLS failed" in assert_error(r, 422, "unprocessable_entity")


def test_connection_test_mariadb_missing_privilege(call, key_a, dbs):
    if MARIA_MISSING is not None:
        pytest.skip(f"needs {MARIA_NEEDS}: {MARIA_MISSING}")
    name, pw = "dbaudit_np_" + uniq(), secret("mnp")
    run_sql_maria(f"CREATE USER '{name}'@'127.0.0.1' IDENTIFIED BY '{pw}'; "
                  f"GRANT INSERT ON `test`.* TO '{name}'@'127.0.0.1'")
    try:
        d = dbs(type="mariadb", port=3306, database="test", username=name, password=pw,
                ssl_mode="disable")
        msg = assert_error(call("POST", f"/v1/databases/{d['id']}/test", key_a), 422, "unprocessable_entity")
        assert "SELECT" in msg and "GRANT" in msg
        d2 = dbs(type="mariadb", port=3306, database="mysql", username=name, password=pw,
                 ssl_mode="disable")
        msg = assert_error(call("POST", f"/v1/databases/{d2['id']}/test", key_a), 422, "unprocessable_entity")
        assert "does not exist" in msg or "may not use it" in msg
    finally:
        run_sql_maria(f"DROP USER IF EXISTS '{name}'@'127.0.0.1'")


def test_connection_test_mongodb_dev_store(call, key_a, dbs, store_port):
    d = dbs(type="mongodb", port=store_port, database="dbaudit", username="", password="",
            ssl_mode="disable")
    r = call("POST", f"/v1/databases/{d['id']}/test", key_a)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"].startswith(("FerretDB", "MongoDB"))
    assert body["permissions"]["read"] is True
    assert isinstance(body["permissions"]["roles"], list)
    assert call("GET", f"/v1/databases/{d['id']}", key_a).json()["status"] == "connected"


def test_connection_test_mongodb_credentials_refused(call, key_a, dbs, store_port):
    """FerretDB's SQLite backend has no SCRAM: credentials are refused, and said so."""
    d = dbs(type="mongodb", port=store_port, database="dbaudit", username="auditor",
            password=secret("mongo"), ssl_mode="disable")
    r = call("POST", f"/v1/databases/{d['id']}/test", key_a)
    if r.status_code == 200:
        pytest.skip("this store authenticates (not FerretDB/SQLite)")
    assert assert_error(r, 422, "unprocessable_entity").startswith("Authentication failed")


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def hung_listener():
    """A server on 127.0.0.1 that accepts connections and never says anything."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held, stop = [], threading.Event()

    def loop():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                pass
    t = threading.Thread(target=loop, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    for c in held:
        c.close()
    srv.close()


TYPES = ("postgresql", "mariadb", "mysql", "mongodb", "sqlserver")


def test_connection_test_refused(call, key_a, dbs):
    port = closed_port()
    for t in TYPES + ("oracle",):
        d = dbs(type=t, port=port, database=other_db(), ssl_mode="disable")
        start = time.monotonic()
        r = call("POST", f"/v1/databases/{d['id']}/test", key_a)
        msg = assert_error(r, 422, "unprocessable_entity")
        assert msg.startswith("Connection refused by 127.0.0.1:%d" % port), (t, msg)
        assert time.monotonic() - start < 2
        detail = call("GET", f"/v1/databases/{d['id']}", key_a).json()
        assert detail["status"] == "error"
        assert detail["last_test"]["error"] == "connection_refused"


def test_connection_test_timeout(call, key_a, dbs, hung_listener):
    made = [dbs(type=t, port=hung_listener, database=other_db(), ssl_mode="disable") for t in TYPES]
    results = {}

    def run(d):
        start = time.monotonic()
        r = call("POST", f"/v1/databases/{d['id']}/test", key_a, timeout=30)
        results[d["type"]] = (r, time.monotonic() - start)
    # two at a time: the stack has few workers and other clients
    for pair in (made[0:2], made[2:4], made[4:]):
        threads = [threading.Thread(target=run, args=(d,)) for d in pair]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for t, (r, elapsed) in results.items():
        msg = assert_error(r, 422, "unprocessable_entity")
        assert msg.startswith("No answer from 127.0.0.1:%d" % hung_listener), (t, msg)
        assert 4.0 <= elapsed <= 7.5, (t, elapsed)
    for d in made:
        assert call("GET", f"/v1/databases/{d['id']}", key_a).json()["last_test"]["error"] == "timeout"


def test_connection_test_oracle_reachability(call, key_a, dbs, hung_listener):
    d = dbs(type="oracle", port=hung_listener, database="ORCLPDB1", ssl_mode="disable")
    r = call("POST", f"/v1/databases/{d['id']}/test", key_a)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True and body["version"] is None
    assert len(body["warnings"]) == 1
    assert "No Oracle client library" in body["warnings"][0]
    assert "not verified" in body["warnings"][0]


def test_connection_test_blocked_addresses(call, key_a, dbs):
    """Link-local (cloud metadata) and unspecified addresses are never probed."""
    for host in ("169.254.169.254", "0.0.0.0", "fe80::1"):
        d = dbs(host=host, database=other_db(), ssl_mode="disable")
        start = time.monotonic()
        msg = assert_error(call("POST", f"/v1/databases/{d['id']}/test", key_a), 422, "unprocessable_entity")
        assert "not allowed" in msg
        assert time.monotonic() - start < 1


def test_connection_test_not_found(call, key_a, key_b, dbs):
    assert_error(call("POST", "/v1/databases/db_000000000000000000000000/test", key_a), 404, "not_found")
    d = dbs(database=other_db())
    assert_error(call("POST", f"/v1/databases/{d['id']}/test", key_b), 404, "not_found")


# ------------------------------------- issue 9: what the probes never do

def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


class FakeServer:
    """A server of the test's own on 127.0.0.1 that asks the client for its
    password in clear text and records every byte the client sends."""

    def __init__(self, talk):
        self.talk = talk                # talk(sock, record) -> None
        self.received = b""
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.port = self.srv.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def record(self, data):
        self.received += data

    def loop(self):
        self.srv.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.srv.accept()
            except OSError:
                continue
            conn.settimeout(8)
            try:
                self.talk(conn, self.record)
                while True:             # whatever the client still sends
                    data = conn.recv(4096)
                    if not data:
                        break
                    self.record(data)
            except (OSError, ConnectionError, ssl_mod.SSLError):
                pass
            finally:
                conn.close()

    def close(self):
        self.stop.set()
        self.thread.join()
        self.srv.close()


def pg_message(kind, body):
    return kind + struct.pack(">I", 4 + len(body)) + body


PG_SASL = pg_message(b"R", struct.pack(">I", 10) + b"SCRAM-SHA-256\0\0")
PG_CLEAR = pg_message(b"R", struct.pack(">I", 3))


def fake_postgres(script, ctx=None):
    """script: "clear" (AuthenticationCleartextPassword at once), "sasl+clear"
    (a SCRAM request and the cleartext one in one write) or "sasl-then-clear"
    (the cleartext request after the client's SCRAM first message)."""
    def talk(sock, record):
        while True:
            n, code = struct.unpack(">II", recv_exact(sock, 8))
            if code == 80877103 and ctx is not None:        # SSLRequest
                sock.sendall(b"S")
                sock = ctx.wrap_socket(sock, server_side=True)
            elif code in (80877103, 80877104):               # SSL/GSSENCRequest
                sock.sendall(b"N")
            else:
                record(recv_exact(sock, n - 8))             # the startup message
                break
        if script == "clear":
            sock.sendall(PG_CLEAR)
        elif script == "sasl+clear":
            sock.sendall(PG_SASL + PG_CLEAR)
        else:
            sock.sendall(PG_SASL)
            record(sock.recv(4096))                          # SASLInitialResponse
            sock.sendall(PG_CLEAR)
        while True:
            data = sock.recv(4096)
            if not data:
                return
            record(data)
    return FakeServer(talk)


@pytest.fixture(scope="module")
def fake_cert(tmp_path_factory):
    """A self-signed certificate for localhost (and its key) made for the test."""
    d = tmp_path_factory.mktemp("fakecert")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost", "-keyout", str(d / "key.pem"),
                        "-out", str(d / "cert.pem")], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    ctx = ssl_mod.SSLContext(ssl_mod.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "cert.pem", d / "key.pem")
    return ctx, (d / "cert.pem").read_text()


@pytest.mark.parametrize("script", ["clear", "sasl+clear", "sasl-then-clear"])
@pytest.mark.parametrize("mode", ["disable", "require", "verify-ca"])
def test_postgresql_cleartext_password_never_sent(call, key_a, dbs, fake_cert, mode, script):
    """Issue 9, defect 1: a server that asks for the password in clear text
    over a connection not verified against the host name never gets it."""
    ctx, cert = fake_cert
    srv = fake_postgres(script, ctx if mode != "disable" else None)
    pw = secret("relay")
    try:
        extra = {"ssl_ca": cert} if mode == "verify-ca" else {}
        d = dbs(port=srv.port, database=other_db(), password=pw, ssl_mode=mode, **extra)
        msg = assert_error(call("POST", f"/v1/databases/{d['id']}/test", key_a), 422, "unprocessable_entity")
        assert "clear text" in msg and "did not send it" in msg, msg
        assert call("GET", f"/v1/databases/{d['id']}",
                    key_a).json()["last_test"]["error"] == "insecure_authentication"
    finally:
        srv.close()
    assert srv.received, "the fake server saw no client"
    assert pw.encode() not in srv.received


def test_postgresql_cleartext_password_sent_under_verify_full(call, key_a, dbs, fake_cert):
    """The control of the test above: verify-full to the name on the
    certificate is the one mode where the cleartext request is answered, so
    the fake server does receive what it asks for."""
    ctx, cert = fake_cert
    srv = fake_postgres("clear", ctx)
    pw = secret("verified")
    try:
        d = dbs(host="localhost", port=srv.port, database=other_db(), password=pw,
                ssl_mode="verify-full", ssl_ca=cert)
        assert call("POST", f"/v1/databases/{d['id']}/test", key_a).status_code == 422
    finally:
        srv.close()
    assert pw.encode() in srv.received


def mysql_packet(seq, payload):
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def fake_mysql_clear_password():
    """Greets as MySQL (mysql_native_password), then switches the client to
    mysql_clear_password, which would send the password itself."""
    caps = 0x1 | 0x8 | 0x200 | 0x8000 | 0x80000
    greeting = (b"\x0a" + b"8.0.99-fake\0" + struct.pack("<I", 7) + b"abcdefgh\0" +
                struct.pack("<H", caps & 0xFFFF) + b"\x21" + struct.pack("<H", 2) +
                struct.pack("<H", caps >> 16) + bytes([21]) + b"\0" * 10 + b"ijklmnopqrst\0" +
                b"mysql_native_password\0")

    def talk(sock, record):
        sock.sendall(mysql_packet(0, greeting))
        head = recv_exact(sock, 4)
        record(head + recv_exact(sock, int.from_bytes(head[:3], "little")))
        sock.sendall(mysql_packet(head[3] + 1, b"\xfe" + b"mysql_clear_password\0"))
    return FakeServer(talk)


def test_mysql_cleartext_password_never_sent(call, key_a, dbs):
    """Connector/C only runs the plugins that never send the password itself
    (MARIADB_OPT_RESTRICTED_AUTH): a switch to mysql_clear_password is refused."""
    srv = fake_mysql_clear_password()
    pw = secret("mysqlclear")
    try:
        d = dbs(type="mysql", port=srv.port, database=other_db(), username="auditor",
                password=pw, ssl_mode="disable")
        msg = assert_error(call("POST", f"/v1/databases/{d['id']}/test", key_a), 422, "unprocessable_entity")
        assert "clear text" in msg, msg
    finally:
        srv.close()
    assert srv.received, "the fake server saw no client"
    assert pw.encode() not in srv.received


@pytest.mark.parametrize("type_", ["mysql", "mariadb", "mongodb", "sqlserver"])
def test_verify_full_refused_where_the_name_cannot_be_checked(call, key_a, store, dbs, type_):
    """Issue 9, defect 9: these drivers check the certificate against the host
    they connect to, so they cannot connect to the checked address and verify
    the name: verify-full is 400 for them (and a stored one is not probed)."""
    msg = assert_error(call("POST", "/v1/databases", key_a, json={
        "name": "vf", "type": type_, "host": "db.example", "port": 3306, "database": other_db(),
        "username": "u", "password": secret("vf"), "ssl_mode": "verify-full"}), 400, "invalid_parameter")
    assert "verify-full" in msg and type_ in msg
    d = dbs(type=type_, port=closed_port(), database=other_db(), ssl_mode="verify-ca")
    assert "verify-full" in assert_error(call("PATCH", f"/v1/databases/{d['id']}", key_a,
                                     json={"ssl_mode": "verify-full"}), 400, "invalid_parameter")
    pg = dbs(database=other_db(), ssl_mode="verify-full")
    assert "verify-full" in assert_error(call("PATCH", f"/v1/databases/{pg['id']}", key_a,
                                     json={"type": type_, "password": secret("vf")}), 400,
                                "invalid_parameter")
    # a record stored before this rule is refused by the probe, without connecting
    store.databases.update_one({"_id": d["id"]}, {"$set": {"ssl_mode": "verify-full"}})
    msg = assert_error(call("POST", f"/v1/databases/{d['id']}/test", key_a), 422, "unprocessable_entity")
    assert "verify-full is not supported" in msg


def log_lines_about(var_dir, text):
    out = []
    for f in (var_dir / "log").glob("*.log"):
        out += [line for line in f.read_text(errors="replace").splitlines() if text in line]
    return out


def test_log_has_no_masked_driver_message(call, key_a, dbs, var_dir, hung_listener):
    """Issue 9, defect 7: with the password "p", masking every "p" of the
    driver's message revealed it ("***ort 5432 failed: timeout ex***ired").
    The log now has a fixed reason and the driver's codes, never its text."""
    made = [dbs(type=t, port=port, database=other_db(), username="u", password="p",
                ssl_mode="disable")
            for t, port in (("postgresql", hung_listener), ("mariadb", hung_listener))]
    for d in made:
        assert_error(call("POST", f"/v1/databases/{d['id']}/test", key_a, timeout=30), 422,
            "unprocessable_entity")
    time.sleep(0.5)
    for d in made:
        lines = [line for line in log_lines_about(var_dir, d["id"]) if "connection test" in line]
        assert lines, d["type"]
        for line in lines:
            assert "***" not in line, line
            assert "driver said" not in line, line


def test_connection_tests_capped_and_api_answers(call, make_key, tenant_a, dbs, hung_listener,
                                                 base_url):
    """Issue 9, defect 4: eight parallel tests against a server that never
    answers: at most two per principal run (the others 429 with Retry-After,
    at once), and /v1/health and the list answer promptly meanwhile."""
    import requests
    key = make_key(tenant_a, "all")
    # The list of a tenant without databases: its cost is the worker's, not the store's.
    reader = make_key("dbt-empty-" + uniq(), "all")
    made = [dbs(port=hung_listener, database=other_db(), ssl_mode="disable") for _ in range(8)]
    results = []
    lock = threading.Lock()

    def timed_reads():
        out = []
        for path in ("/v1/health", "/v1/databases"):
            for _ in range(3):
                start = time.monotonic()
                r = requests.get(base_url + path, headers={"X-API-Key": reader}, timeout=10)
                out.append((path, r.status_code, round(time.monotonic() - start, 3)))
        return out
    baseline = max(took for _, _, took in timed_reads())

    def run(d):
        start = time.monotonic()
        r = requests.post(f"{base_url}/v1/databases/{d['id']}/test", headers={"X-API-Key": key},
                          timeout=30)
        with lock:
            results.append((r, time.monotonic() - start))
    threads = [threading.Thread(target=run, args=(d,)) for d in made]
    for t in threads:
        t.start()
    time.sleep(1.0)
    during = timed_reads()
    for t in threads:
        t.join()
    # held workers would make these wait for a test's 5 s
    assert all(code == 200 and took < baseline + 1.0 for _, code, took in during), (baseline, during)
    statuses = sorted(r.status_code for r, _ in results)
    assert statuses == [422, 422] + [429] * 6, statuses
    for r, took in results:
        if r.status_code == 429:
            assert r.json()["error"]["code"] == "rate_limited"
            assert int(r.headers["Retry-After"]) >= 1
            assert took < 2.0, took
        else:
            assert r.json()["error"]["message"].startswith("No answer")
    # the slots are free again
    assert call("POST", f"/v1/databases/{made[0]['id']}/test", key, timeout=30).status_code == 422


def test_connection_test_slots_survive_kill_9(call, make_key, tenant_a, dbs, hung_listener,
                                              var_dir, base_url):
    """A worker killed with SIGKILL in the middle of a test frees its slot
    (the kernel drops its flock): the principal is not locked out."""
    import requests
    key = make_key(tenant_a, "all")
    made = [dbs(port=hung_listener, database=other_db(), ssl_mode="disable") for _ in range(2)]
    threads = [threading.Thread(target=lambda d=d: requests.post(
        f"{base_url}/v1/databases/{d['id']}/test", headers={"X-API-Key": key}, timeout=30))
        for d in made]
    for t in threads:
        t.start()
    time.sleep(1.0)
    # both slots are held now
    r = call("POST", f"/v1/databases/{made[0]['id']}/test", key)
    assert r.status_code == 429, r.text
    mw = (var_dir / "run" / "probe.pid").read_text().strip()
    for pid in subprocess.run(["pgrep", "-P", mw], capture_output=True, text=True).stdout.split():
        subprocess.run(["kill", "-KILL", pid])
    for t in threads:
        t.join()
    deadline = time.monotonic() + 10
    while True:                           # multiwatch forks new workers
        r = call("POST", f"/v1/databases/{made[0]['id']}/test", key, timeout=30)
        if r.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"].startswith("No answer")


# ----------------------------------------------------------- key rotation

def test_crypto_rotate_and_back(call, key_a, admin_bin, var_dir, store, dbs, tmp_path):
    d = dbs(database=other_db())
    conf_path = var_dir / "dbaudit.conf"
    original = conf_path.read_text()
    m = re.search(r"^crypto_key_file *= *(.+)$", original, re.M)
    if not m:
        pytest.skip("the stack's config has no crypto_key_file")
    old_key = m.group(1).strip()
    kid_m = re.search(r"^crypto_key_id *= *(.+)$", original, re.M)
    old_kid = kid_m.group(1).strip() if kid_m else "k1"
    gen = subprocess.run(admin_bin + ["crypto", "generate-key"], capture_output=True, text=True,
                         timeout=30)
    assert gen.returncode == 0 and re.fullmatch(r"[0-9a-f]{64}\n", gen.stdout)
    new_key = tmp_path / "new.key"
    new_key.write_text(gen.stdout)
    new_kid = "rot" + uniq()

    def conf_with(key_file, kid, old):
        text = re.sub(r"^crypto_key_file *=.*$", f"crypto_key_file = {key_file}", original, flags=re.M)
        text = re.sub(r"^crypto_key_id *=.*\n", "", text, flags=re.M)
        text += f"\ncrypto_key_id = {kid}\ncrypto_old_keys = {old}\n"
        p = tmp_path / f"{kid}-{len(list(tmp_path.iterdir()))}.conf"
        p.write_text(text)
        return p

    def admin(conf, *args):
        argv = [admin_bin[0], "--config", str(conf)] + list(args)
        return subprocess.run(argv, capture_output=True, text=True, timeout=120)

    rotated = conf_with(new_key, new_kid, f"{old_kid}={old_key}")
    back = conf_with(old_key, old_kid, f"{new_kid}={new_key}")
    only_new = conf_with(new_key, new_kid, "")
    try:
        r = admin(rotated, "crypto", "rotate")
        assert r.returncode == 0, r.stderr
        n = int(re.match(r"re-encrypted (\d+) secret", r.stdout).group(1))
        assert n >= 1
        assert store.databases.find_one({"_id": d["id"]})["secrets"]["password"]["kid"] == new_kid
        # idempotent
        r = admin(rotated, "crypto", "rotate")
        assert r.returncode == 0 and r.stdout.startswith("re-encrypted 0 secret"), r.stdout
        # everything opens with the new key alone
        r = admin(only_new, "crypto", "check")
        assert r.returncode == 0, r.stderr
        # the running workers only know the old key: the record cannot be opened there
        assert_error(call("POST", f"/v1/databases/{d['id']}/test", key_a), 500, "internal_error")
    finally:
        r = admin(back, "crypto", "rotate")
        assert r.returncode == 0, r.stderr
    assert store.databases.find_one({"_id": d["id"]})["secrets"]["password"]["kid"] == old_kid
    r = admin(conf_path, "crypto", "check")
    assert r.returncode == 0, r.stderr
    # no key material or password on the admin's output
    for text in (r.stdout, r.stderr):
        assert gen.stdout.strip() not in text


# ------------------------------------------------------ nothing leaked at all

def test_no_password_in_logs(var_dir):
    logs = list((var_dir / "log").glob("*"))
    assert logs
    for f in logs:
        data = f.read_bytes()
        for s in SENT:
            assert s.encode() not in data, f"a password reached {f.name}"


def test_no_password_in_store_files(var_dir, conf):
    store_dir = var_dir / "store"
    if not conf["mongodb_uri"].startswith("mongodb://127.0.0.1") or not store_dir.is_dir():
        pytest.skip("no local store files")
    files = [p for p in store_dir.rglob("*") if p.is_file()]
    assert files
    for f in files:
        data = f.read_bytes()
        for s in SENT:
            assert s.encode() not in data, f"a password is stored in clear in {f.name}"


def test_stale_heartbeat_becomes_disconnected(call, key_a, store, dbs):
    """The background worker (every 30 s) marks connected databases whose
    last heartbeat is older than heartbeat_stale_s (300 s) disconnected."""
    d = dbs(database=other_db())
    assert call("POST", f"/v1/databases/{d['id']}/heartbeat", key_a,
                json=HB).json()["connection_status"] == "connected"
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    store.databases.update_one({"_id": d["id"]}, {"$set": {"heartbeat.received_at": old}})
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        st = call("GET", f"/v1/databases/{d['id']}/status", key_a).json()
        if st["connection_status"] != "connected":
            break
        time.sleep(1)
    assert st["connection_status"] == "disconnected"
    # a fresh heartbeat connects it again
    assert call("POST", f"/v1/databases/{d['id']}/heartbeat", key_a,
                json=HB).json()["connection_status"] == "connected"
