"""Fixtures for the API tests (tests/api).

scripts/test starts a throwaway stack and runs pytest with:
  DBAUDIT_TEST_URL         base URL of nginx, e.g. http://127.0.0.1:18080
  DBAUDIT_TEST_VAR         the stack's state dir (config, admin.key, logs)
  DBAUDIT_TEST_BUILD       build dir holding src/dbaudit-admin etc.
  DBAUDIT_TEST_HTTP_PORT   / DBAUDIT_TEST_STORE_PORT / DBAUDIT_TEST_NGINX_RATE
  DBAUDIT_REPO             repository root
Without them the tests target the default local stack (scripts/stack up).

Marker `app`: the test checks behaviour of the C application (not only of
nginx and the scripts).
"""
import os
import pathlib

import pytest
import requests

import schemacheck

REPO = pathlib.Path(os.environ.get("DBAUDIT_REPO") or pathlib.Path(__file__).resolve().parents[2])
TIMEOUT = 10

# Every response of every requests.Session (requests.get and friends make
# one per call) is checked against docs/openapi.yaml (schemacheck.py); the
# test that received a violating response fails at its teardown.
_checker = schemacheck.Checker(REPO / "docs" / "openapi.yaml")
_session_init = requests.Session.__init__


def _checked_session_init(self, *args, **kwargs):
    _session_init(self, *args, **kwargs)
    self.hooks["response"].append(lambda r, *a, **kw: _checker.check(r))


requests.Session.__init__ = _checked_session_init


@pytest.fixture(autouse=True)
def responses_match_the_openapi_schemas():
    schemacheck.take()
    yield
    bad = schemacheck.take()
    assert not bad, "responses that do not match docs/openapi.yaml:\n" + "\n".join(bad[:20])


def assert_error(resp, status, code=None, context=None):
    """Asserts resp is exactly `status` in the error envelope.

    The body is JSON and nothing but {"error": {"code", "message"}}, with a
    non-empty message and, when code is given, that code. Returns the
    message, for tests that look into it. context goes into the failure
    text (the case of a loop, say). The one copy of this check: test
    modules import it (`from conftest import assert_error`).
    """
    where = f"{context!r}: " if context is not None else ""
    assert resp.status_code == status, f"{where}{resp.status_code} {resp.text[:300]}"
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.startswith("application/json"), f"{where}Content-Type {ctype!r}"
    body = resp.json()
    assert isinstance(body, dict) and set(body) == {"error"}, f"{where}{body}"
    err = body["error"]
    assert isinstance(err, dict) and set(err) == {"code", "message"}, f"{where}{body}"
    assert isinstance(err["message"], str) and err["message"], f"{where}{body}"
    if code is not None:
        assert err["code"] == code, f"{where}{body}"
    return err["message"]


def pytest_configure(config):
    config.addinivalue_line("markers", "app: depends on the C application's behaviour")


@pytest.fixture(scope="session")
def repo_dir():
    return REPO


@pytest.fixture(scope="session")
def base_url():
    return os.environ.get("DBAUDIT_TEST_URL", "http://127.0.0.1:8080").rstrip("/")


@pytest.fixture(scope="session")
def var_dir():
    return pathlib.Path(os.environ.get("DBAUDIT_TEST_VAR") or REPO / "var")


@pytest.fixture(scope="session")
def build_dir():
    return pathlib.Path(os.environ.get("DBAUDIT_TEST_BUILD") or REPO / "_build" / "release")


@pytest.fixture(scope="session")
def admin_key(var_dir):
    path = var_dir / "admin.key"
    assert path.is_file() and path.read_text().strip(), f"no admin key in {path}"
    return path.read_text().strip()


@pytest.fixture(scope="session")
def admin_bin(build_dir, var_dir):
    """argv prefix for dbaudit-admin: admin_bin + ["key", "list", ...]."""
    return [str(build_dir / "src" / "dbaudit-admin"), "--config", str(var_dir / "dbaudit.conf")]


@pytest.fixture(scope="session")
def stack_env(var_dir, build_dir):
    """Environment for running scripts/stack against the stack under test."""
    env = dict(os.environ)
    mapping = {
        "DBAUDIT_TEST_VAR": "DBAUDIT_VAR",
        "DBAUDIT_TEST_BUILD": "DBAUDIT_BUILD_DIR",
        "DBAUDIT_TEST_HTTP_PORT": "DBAUDIT_HTTP_PORT",
        "DBAUDIT_TEST_STORE_PORT": "DBAUDIT_STORE_PORT",
        "DBAUDIT_TEST_NGINX_RATE": "DBAUDIT_NGINX_RATE",
        "DBAUDIT_TEST_ENGINE": "DBAUDIT_STORE",
    }
    for src, dst in mapping.items():
        if os.environ.get(src):
            env[dst] = os.environ[src]
    return env


@pytest.fixture
def api(base_url):
    """api(method, path, key=None, token=None, **kw) -> requests.Response.

    key is sent as X-API-Key, token as "Authorization: Bearer <token>";
    other keyword arguments go to requests (json=, data=, params=, headers=).
    """
    session = requests.Session()

    def call(method, path, key=None, token=None, **kw):
        headers = dict(kw.pop("headers", None) or {})
        if key is not None:
            headers["X-API-Key"] = key
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        kw.setdefault("timeout", TIMEOUT)
        return session.request(method, base_url + path, headers=headers, **kw)

    yield call
    session.close()



@pytest.fixture(scope="session")
def engine(var_dir):
    """The storage engine of the stack under test: "sqlite" or "mongodb"."""
    from storeutil import engine_of, read_conf
    return engine_of(read_conf(var_dir))


@pytest.fixture
def http_layer_test(engine):
    """For tests of the HTTP layer whose outcome rests on timing windows
    (rate limits, nginx's front, metrics, reloads, stream slots): they run
    once, on the default engine. The store engine plays no part in what they
    check, and on FerretDB (the MongoDB stand-in, which scans every document
    per query) their windows do not hold late in the suite."""
    if engine != "sqlite":
        pytest.skip("HTTP-layer timing test: runs on the sqlite engine only")


@pytest.fixture
def store_pid(engine, var_dir):
    """pid of the store server, for tests that stop it (the mongodb engine only)."""
    if engine != "mongodb":
        pytest.skip("stops the store server process; the SQLite engine has none "
                    "(its outages: test_sqlite_bad_days.py)")
    return int((var_dir / "run" / "store.pid").read_text())
