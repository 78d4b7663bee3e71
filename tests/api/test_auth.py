"""Authentication, scopes and tenant isolation over HTTP (CONTRACT §2, §3).

Data-driven where it can be: the per-scope tests walk every operation of the
served /swagger document that carries `x-required-scope`, so a route added
later is covered as soon as it is documented. Tenant isolation is a table
(TENANT_RESOURCES) that resource owners extend: one entry per resource, used
only when its routes are in /swagger.
"""
import base64
import hashlib
import hmac
import json
import re
import subprocess
import time
import uuid

import pytest
import requests
import yaml

from conftest import assert_error

pytestmark = pytest.mark.app

SCOPES = [
    "read:databases", "write:databases", "read:events", "write:events",
    "read:policies", "write:policies", "read:alerts", "write:alerts",
    "read:webhooks", "write:webhooks", "read:audit-activity",
]
METHODS = {"get", "post", "put", "patch", "delete"}
WHOAMI = "/v1/auth/whoami"


# ------------------------------------------------------------------ helpers

def assert_401(resp):
    assert_error(resp, 401, "unauthorized")
    assert resp.headers.get("WWW-Authenticate", "").startswith("Bearer"), resp.headers


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_hs256(secret, claims, header=None, raw_header=None, raw_claims=None):
    """An HS256 JWS; raw_* let a test send JSON text (duplicate keys...)."""
    h = raw_header if raw_header is not None else json.dumps(header or {"alg": "HS256", "typ": "JWT"})
    c = raw_claims if raw_claims is not None else json.dumps(claims)
    signing_input = f"{b64url(h)}.{b64url(c)}"
    sig = hmac.new(secret if isinstance(secret, bytes) else secret.encode(),
                   signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(sig)}"


def std_claims(**over):
    now = int(time.time())
    claims = {"iss": "dbaudit-local", "aud": "dbaudit", "sub": "api-test",
              "exp": now + 600, "iat": now, "tenant_id": "default",
              "scope": " ".join(SCOPES)}
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def run_admin(admin_bin, *args, check=True):
    proc = subprocess.run(admin_bin + list(args), capture_output=True, text=True, timeout=30)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def fill_path(path):
    return re.sub(r"\{[^}]+\}", "nonexistent0000000000000000", path)


def call(base_url, method, path, headers, json_body=None):
    """One request that never hangs on a stream route: headers only."""
    kw = {"headers": headers, "timeout": 10, "stream": True}
    if json_body is not None:
        kw["json"] = json_body
    resp = requests.request(method, base_url + path, **kw)
    resp.close()
    return resp


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="session")
def swagger(base_url):
    resp = requests.get(base_url + "/swagger", timeout=10)
    assert resp.status_code == 200
    return yaml.safe_load(resp.text)


@pytest.fixture(scope="session")
def scoped_ops(swagger):
    ops = []
    for path, item in swagger["paths"].items():
        for method, op in item.items():
            if method in METHODS and isinstance(op, dict) and "x-required-scope" in op:
                ops.append((method.upper(), path, op["x-required-scope"]))
    return ops


@pytest.fixture(scope="session")
def jwt_secret(var_dir):
    path = var_dir / "jwt.secret"
    if not path.is_file():
        pytest.fail(f"no {path}")
    return path.read_bytes().rstrip(b"\r\n")


class KeyMaker:
    """Creates API keys with dbaudit-admin, memoised per (tenants, scopes)."""

    def __init__(self, admin_bin):
        self.admin_bin = admin_bin
        self.cache = {}

    def __call__(self, tenants="default", scopes="all", expires_in=None, fresh=False):
        k = (tenants, scopes, expires_in)
        if fresh or k not in self.cache:
            args = ["key", "create", "--tenant", tenants, "--scopes", scopes,
                    "--name", "api-test", "--plan", "enterprise"]
            if expires_in:
                args += ["--expires-in", expires_in]
            out = run_admin(self.admin_bin, *args).stdout
            key = out.strip()
            assert re.fullmatch(r"dba_[0-9a-f]{16}_[0-9a-f]{64}", key), out
            if fresh:
                return key
            self.cache[k] = key
        return self.cache[k]


@pytest.fixture(scope="session")
def make_key(admin_bin):
    return KeyMaker(admin_bin)


def key_id(key):
    return "key_" + key[4:20]


# ------------------------------------------------------------------ both headers, both surfaces

def surface_op(scoped_ops, prefix):
    """A parameterless GET of the surface, or None when none is served yet."""
    for method, path, scope in scoped_ops:
        if method == "GET" and path.startswith(prefix) and "{" not in path and not path.endswith("/stream"):
            return path, scope
    return None


@pytest.mark.parametrize("surface", ["/v1/", "/api/v1/public/"])
def test_both_headers_on_both_surfaces(base_url, scoped_ops, admin_key, surface):
    found = surface_op(scoped_ops, surface)
    if found is None:
        if surface == "/v1/":
            found = (WHOAMI, None)
        else:
            pytest.fail(f"no authenticated GET under {surface} in /swagger")
    path = found[0]
    for headers in ({"Authorization": f"Bearer {admin_key}"}, {"X-Api-Key": admin_key},
                    {"authorization": f"bearer {admin_key}"}):
        resp = call(base_url, "GET", path, headers)
        assert resp.status_code == 200, (path, headers.keys(), resp.status_code)
    bad = admin_key[:-1] + ("0" if admin_key[-1] != "0" else "1")
    for headers in ({"Authorization": f"Bearer {bad}"}, {"X-Api-Key": bad}, {}):
        resp = requests.get(base_url + path, headers=headers, timeout=10)
        assert_401(resp)


def test_whoami_reports_principal(api, admin_key):
    resp = api("GET", WHOAMI, key=admin_key)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["principal"] == key_id(admin_key)
    assert body["kind"] == "api_key"
    assert body["tenants"] == ["default"]
    assert sorted(body["scopes"]) == sorted(SCOPES)
    assert_error(api("GET", WHOAMI, key=admin_key, params={"x": "1"}), 400, "invalid_parameter")


def test_basic_scheme_and_garbage_are_401(api, admin_key):
    assert_401(api("GET", WHOAMI, headers={"Authorization": "Basic dXNlcjpwYXNz"}))
    assert_401(api("GET", WHOAMI, headers={"Authorization": "Bearer"}))
    assert_401(api("GET", WHOAMI, headers={"Authorization": "Bearer dba_zz"}))
    assert_401(api("GET", WHOAMI, headers={"X-Api-Key": "not-a-key"}))
    # X-Api-Key carries API keys only, never a JWT
    assert_401(api("GET", WHOAMI, headers={"X-Api-Key": "eyJhbGciOiJIUzI1NiJ9.e30.AAAA"}))
    # a proxy's Basic auth does not hide a valid X-Api-Key
    resp = api("GET", WHOAMI, key=admin_key, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert resp.status_code == 200, resp.text


def test_oversized_credentials_refused(base_url):
    big = "dba_" + "a" * 9000
    for headers in ({"Authorization": f"Bearer {big}"}, {"X-Api-Key": big}):
        resp = requests.get(base_url + WHOAMI, headers=headers, timeout=10)
        # nginx refuses a header line beyond its 8 KiB buffers (400) before we would (401)
        assert resp.status_code == 400, resp.status_code


# ------------------------------------------------------------------ per scope, from /swagger

def test_every_scoped_route_without_credentials_is_401(base_url, scoped_ops):
    failures = []
    for method, path, _ in scoped_ops:
        resp = call(base_url, method, fill_path(path), {})
        if resp.status_code != 401 or not resp.headers.get("WWW-Authenticate", "").startswith("Bearer"):
            failures.append((method, path, resp.status_code))
    assert not failures, failures


def test_every_scope_is_known(scoped_ops):
    unknown = [(m, p, s) for m, p, s in scoped_ops if s not in SCOPES]
    assert not unknown, unknown


def test_every_scoped_route_needs_exactly_its_scope(base_url, scoped_ops, make_key):
    if not scoped_ops:
        pytest.fail("no operation with x-required-scope in /swagger")
    failures = []
    for method, path, scope in scoped_ops:
        others = ",".join(s for s in SCOPES if s != scope)
        without = make_key(scopes=others)
        only = make_key(scopes=scope)
        resp = call(base_url, method, fill_path(path), {"X-Api-Key": without})
        if resp.status_code != 403:
            failures.append(("all but", scope, method, path, resp.status_code))
        resp = call(base_url, method, fill_path(path), {"Authorization": f"Bearer {only}"})
        # past the scope check the handler answers for the placeholder path
        # and empty body (404, 400, ...): anything but a refusal or a 5xx
        if resp.status_code in (401, 403) or resp.status_code >= 500:
            failures.append(("only", scope, method, path, resp.status_code))
    assert not failures, failures


def test_scope_403_body(base_url, make_key):
    # whoami needs no scope; any scoped route refuses a key without its scope
    key = make_key(scopes="read:audit-activity")
    resp = requests.get(base_url + WHOAMI, headers={"X-Api-Key": key}, timeout=10)
    assert resp.status_code == 200
    assert resp.json()["scopes"] == ["read:audit-activity"]


# ------------------------------------------------------------------ JWT over HTTP

def test_jwt_hs256_accepted(api, jwt_secret):
    token = mint_hs256(jwt_secret, std_claims(tenants=["default", "other-t"], scope=None,
                                               scp=["read:events", "profile"]))
    resp = api("GET", WHOAMI, token=token)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["principal"] == "jwt:api-test"
    assert body["kind"] == "jwt"
    assert body["tenants"] == ["default", "other-t"]
    assert body["scopes"] == ["read:events"]


def forgeries(secret):
    now = int(time.time())
    good = std_claims()
    rsa_like = b"-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----\n"
    yield "alg none", f"{b64url(json.dumps({'alg': 'none'}))}.{b64url(json.dumps(good))}."
    yield "alg none signed", mint_hs256(secret, good, header={"alg": "none"})
    yield "HS512", mint_hs256(secret, good, header={"alg": "HS512"})
    yield "RS256 header, HMAC body", mint_hs256(secret, good, header={"alg": "RS256"})
    yield "HS256 with a PEM as secret", mint_hs256(rsa_like, good)
    yield "wrong secret", mint_hs256(b"x" * 64, good)
    yield "duplicate alg", mint_hs256(secret, good, raw_header='{"alg":"HS256","alg":"none"}')
    yield "duplicate claim", mint_hs256(secret, None, raw_claims=json.dumps(good)[:-1] + ',"tenant_id":"evil"}')
    yield "expired", mint_hs256(secret, std_claims(exp=now - 3600))
    yield "not yet valid", mint_hs256(secret, std_claims(nbf=now + 3600))
    yield "issued 31 years ahead", mint_hs256(secret, std_claims(iat=now + 31 * 365 * 86400))
    yield "issued beyond the leeway", mint_hs256(secret, std_claims(iat=now + 120))
    yield "wrong issuer", mint_hs256(secret, std_claims(iss="someone-else"))
    yield "no issuer", mint_hs256(secret, std_claims(iss=None))
    yield "wrong audience", mint_hs256(secret, std_claims(aud="other-api"))
    yield "non-integer exp", mint_hs256(secret, std_claims(exp=float(now + 600) + 0.5))
    yield "string exp", mint_hs256(secret, std_claims(exp=str(now + 600)))
    yield "no exp", mint_hs256(secret, std_claims(exp=None))
    yield "no sub", mint_hs256(secret, std_claims(sub=None))
    tok = mint_hs256(secret, good)
    h, p, s = tok.split(".")
    yield "tampered signature", f"{h}.{p}.{s[:-2]}{'AA' if s[-2:] != 'AA' else 'BA'}"
    evil = b64url(json.dumps(std_claims(tenant_id="someone-else")))
    yield "tampered payload", f"{h}.{evil}.{s}"
    yield "unknown kid", mint_hs256(secret, good, header={"alg": "HS256", "kid": "nope"})


@pytest.mark.parametrize("name", [n for n, _ in forgeries(b"0" * 32)])
def test_jwt_forgery_is_401(api, jwt_secret, name):
    token = dict(forgeries(jwt_secret))[name]
    assert_401(api("GET", WHOAMI, token=token))


def test_jwt_without_tenant_is_403(api, jwt_secret):
    token = mint_hs256(jwt_secret, std_claims(tenant_id=None))
    assert_error(api("GET", WHOAMI, token=token), 403, "forbidden")


def test_jwt_oversized_refused(api, jwt_secret):
    token = mint_hs256(jwt_secret, std_claims(pad="x" * 9000))
    resp = api("GET", WHOAMI, token=token)
    assert resp.status_code == 400, resp.status_code  # nginx's header buffers


def test_jwt_scopes_enforced(base_url, scoped_ops, jwt_secret):
    if not scoped_ops:
        pytest.fail("no operation with x-required-scope in /swagger")
    method, path, scope = scoped_ops[0]
    others = " ".join(s for s in SCOPES if s != scope)
    token = mint_hs256(jwt_secret, std_claims(scope=others))
    assert call(base_url, method, fill_path(path), {"Authorization": f"Bearer {token}"}).status_code == 403
    token = mint_hs256(jwt_secret, std_claims(scope=scope))
    status = call(base_url, method, fill_path(path), {"Authorization": f"Bearer {token}"}).status_code
    assert status not in (401, 403) and status < 500, status


# ------------------------------------------------------------------ admin CLI

def test_key_create_prints_only_the_key_and_list_never_the_secret(admin_bin, make_key):
    key = make_key(tenants="cli-t1,cli-t2", scopes="read:events,write:events", fresh=True)
    secret = key.split("_")[2]
    out = run_admin(admin_bin, "key", "list").stdout
    assert secret not in out
    assert key not in out
    line = next(l for l in out.splitlines() if l.startswith(key_id(key) + "\t"))
    assert "tenants=cli-t1,cli-t2" in line
    assert "scopes=read:events,write:events" in line
    assert "state=active" in line
    out = run_admin(admin_bin, "key", "list", "--tenant", "cli-t2").stdout
    assert key_id(key) in out and secret not in out
    assert all("cli-t2" in l for l in out.splitlines())


def test_key_create_errors(admin_bin):
    for args in (["--tenant", "a b", "--scopes", "all"], ["--tenant", "t", "--scopes", "read:nothing"],
                 ["--tenant", "t", "--scopes", "all", "--plan", "gold"], ["--scopes", "all"],
                 ["--tenant", "t", "--scopes", "all", "--expires-in", "0"],
                 ["--tenant", "t", "--scopes", "all", "--bogus", "1"]):
        proc = run_admin(admin_bin, "key", "create", *args, check=False)
        assert proc.returncode != 0, args
        assert proc.stdout == "", args
        assert proc.stderr.count("\n") == 1, proc.stderr
    proc = run_admin(admin_bin, "key", "revoke", "key_0000000000000000", check=False)
    assert proc.returncode != 0 and "no key" in proc.stderr


def test_revoked_key_refused_within_60s_on_every_worker(base_url, admin_bin, make_key):
    key = make_key(tenants="rev-t", fresh=True)
    headers = {"X-Api-Key": key}
    # warm the cache of (very likely) every worker
    for _ in range(12):
        assert requests.get(base_url + WHOAMI, headers=headers, timeout=10).status_code == 200
    run_admin(admin_bin, "key", "revoke", key_id(key))
    revoked_at = time.monotonic()
    while True:
        codes = [requests.get(base_url + WHOAMI, headers=headers, timeout=10).status_code for _ in range(12)]
        if set(codes) == {401}:
            break
        assert time.monotonic() - revoked_at < 60, codes
        time.sleep(1)
    out = run_admin(admin_bin, "key", "list", "--tenant", "rev-t").stdout
    assert "state=revoked" in out


def test_expired_key_refused(base_url, admin_bin, make_key):
    key = make_key(tenants="exp-t", expires_in="3s", fresh=True)
    assert requests.get(base_url + WHOAMI, headers={"X-Api-Key": key}, timeout=10).status_code == 200
    time.sleep(3.5)
    assert_401(requests.get(base_url + WHOAMI, headers={"X-Api-Key": key}, timeout=10))
    assert "state=expired" in run_admin(admin_bin, "key", "list", "--tenant", "exp-t").stdout


def test_last_used_is_recorded(base_url, admin_bin, make_key):
    key = make_key(tenants="lu-t", fresh=True)
    line = run_admin(admin_bin, "key", "list", "--tenant", "lu-t").stdout
    assert "last_used=never" in line
    assert requests.get(base_url + WHOAMI, headers={"X-Api-Key": key}, timeout=10).status_code == 200
    # a key never written before is written after its first use
    deadline = time.monotonic() + 10
    while "last_used=never" in run_admin(admin_bin, "key", "list", "--tenant", "lu-t").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.5)


# ------------------------------------------------------------------ tenant isolation

def _db_body():
    return {"name": "iso-db", "type": "postgresql", "host": "127.0.0.1", "port": 5432,
            "database": "iso", "username": "u", "password": "p"}


def _event_body():
    return {"type": "database.query", "timestamp": "2025-01-15T14:32:18Z",
            "details": {"user": "iso", "query": "SELECT 1"}}


def _first_id(body):
    if "id" in body:
        return body["id"]
    if "ids" in body:
        return body["ids"][0]
    raise AssertionError(f"no id in {body}")


# One entry per tenant-owned resource. create: (method, path, body factory);
# get: path of one resource; list: path listing them; patch: a valid PATCH
# body (another tenant's PATCH must be 404, not a 400 about the body).
# Resource owners: add yours.
TENANT_RESOURCES = [
    {"name": "database", "create": ("POST", "/v1/databases", _db_body),
     "get": "/v1/databases/{id}", "list": "/v1/databases", "patch": {"name": "renamed_by_b"}},
    {"name": "event", "create": ("POST", "/v1/events", _event_body),
     "get": "/v1/events/{id}", "list": "/v1/events"},
    {"name": "audit-activity", "create": ("POST", "/v1/events", _event_body),
     "get": "/api/v1/public/audit-activity/{id}", "list": "/api/v1/public/audit-activity"},
]


def _served(swagger, method, path):
    templ = re.sub(r"\{[^}]+\}", "{x}", path)
    for p, item in swagger["paths"].items():
        if re.sub(r"\{[^}]+\}", "{x}", p) == templ and method.lower() in item:
            return p
    return None


@pytest.mark.parametrize("res", TENANT_RESOURCES, ids=[r["name"] for r in TENANT_RESOURCES])
def test_tenant_isolation(base_url, swagger, make_key, jwt_secret, res):
    method, cpath, body = res["create"]
    if not (_served(swagger, method, cpath) and _served(swagger, "GET", res["get"])):
        pytest.fail(f"{res['name']}: routes not in /swagger")
    tag = uuid.uuid4().hex[:8]
    key_a = make_key(tenants=f"iso-a-{tag}", fresh=True)
    key_b = make_key(tenants=f"iso-b-{tag}", fresh=True)
    resp = requests.request(method, base_url + cpath, headers={"X-Api-Key": key_a}, json=body(), timeout=30)
    assert resp.status_code == 201, resp.text
    rid = _first_id(resp.json())
    get = res["get"].replace("{id}", rid)
    assert requests.get(base_url + get, headers={"X-Api-Key": key_a}, timeout=10).status_code == 200
    token_b = mint_hs256(jwt_secret, std_claims(tenant_id=f"iso-b-{tag}"))
    for headers in ({"X-Api-Key": key_b}, {"Authorization": f"Bearer {token_b}"}):
        assert_error(requests.get(base_url + get, headers=headers, timeout=10), 404, "not_found")
        if res.get("list") and _served(swagger, "GET", res["list"]):
            lst = requests.get(base_url + res["list"], headers=headers, timeout=10)
            assert lst.status_code == 200, lst.text
            assert rid not in lst.text
        spec_path = _served(swagger, "GET", res["get"])
        for m in ("patch", "delete"):
            if m in swagger["paths"][spec_path]:
                body = res.get("patch", {}) if m == "patch" else None
                r = requests.request(m.upper(), base_url + get, headers=headers, json=body, timeout=10)
                assert_error(r, 404, "not_found", m)
    # and the owner still sees it (nothing above changed it)
    assert requests.get(base_url + get, headers={"X-Api-Key": key_a}, timeout=10).status_code == 200
