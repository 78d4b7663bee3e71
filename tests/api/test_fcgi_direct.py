"""Requests nginx would never send, straight to an api worker's socket, and
one worker under valgrind serving a mix of requests."""
import os
import pathlib
import shutil
import signal
import subprocess
import time

import pytest

import fcgi_client as fc


@pytest.fixture(scope="module")
def api_sock(var_dir):
    return str(var_dir / "run" / "api.sock")


def test_body_shorter_than_content_length_is_400(api_sock):
    env = fc.env_for("POST", "/v1/events", content_type="application/json")
    env["CONTENT_LENGTH"] = "100"
    status, _, body = fc.request(api_sock, env, body=b'{"a":1}')
    assert status == 400
    assert b"shorter than Content-Length" in body


def test_missing_request_uri_is_400(api_sock):
    status, _, body = fc.request(api_sock, {"REQUEST_METHOD": "GET"})
    assert status == 400
    assert b"invalid_parameter" in body


def test_content_length_not_a_number_is_400(api_sock):
    env = fc.env_for("GET", "/v1/health")
    env["CONTENT_LENGTH"] = "12abc"
    status, _, _ = fc.request(api_sock, env)
    assert status == 400


def test_worker_survives_garbage_params(api_sock):
    env = fc.env_for("GET", "/v1/health")
    env["HTTP_AUTHORIZATION"] = "Bearer " + "A" * 20000
    env["REQUEST_ID"] = "\xff" * 100
    status, _, _ = fc.request(api_sock, env)
    assert status == 200   # /v1/health is public: the Authorization header is not read
    status, _, _ = fc.request(api_sock, fc.env_for("GET", "/v1/health"))
    assert status == 200


VALGRIND_REQUESTS = [
    ("GET", "/v1/health", b"", None, False),
    ("GET", "/swagger", b"", None, False),
    ("GET", "/v1/nope", b"", None, False),
    ("DELETE", "/v1/health", b"", None, False),
    ("GET", "/v1/health?x=%ff", b"", None, False),
    ("GET", "/v1/events", b"", None, False),
    ("GET", "/v1/events", b"", None, True),
    ("GET", "/v1/events?limit=0", b"", None, True),
    ("GET", "/v1/events?type=security.*&severity=critical&limit=5", b"", None, True),
    ("GET", "/v1/events?cursor=", b"", None, True),
    ("POST", "/v1/events", b'{"type":"database.query","timestamp":"2025-01-15T14:32:18Z",'
                           b'"details":{"user":"u","query":"SELECT 1","a.b":1,"$x":2}}',
     "application/json", True),
    ("POST", "/v1/events", b'{"events":[{"type":"nope"}]}', "application/json", True),
    ("POST", "/v1/events", b'{"type": "database.query", "timestamp": ', "application/json", True),
    ("GET", "/api/v1/public/audit-activity?pageSize=5&search=select", b"", None, True),
    ("GET", "/api/v1/public/audit-activity/summary", b"", None, True),
    ("GET", "/api/v1/public/audit-activity/evt_000000000000000000000000", b"", None, True),
    ("GET", "/v1/databases?per_page=5", b"", None, True),
    ("POST", "/v1/databases", b'{"name":"x","type":"postgresql","host":"127.0.0.1","port":1,'
                              b'"database":"d","username":"u","password":"p"}', "application/json", True),
    ("GET", "/v1/auth/whoami", b"", None, True),
]


@pytest.mark.skipif(not shutil.which("valgrind"), reason="valgrind not installed")
def test_request_path_is_valgrind_clean(var_dir, admin_key, repo_dir, tmp_path):
    """One worker of a plain (unsanitised) build under valgrind serves a mix of
    requests; at exit valgrind must report no errors and nothing definitely lost."""
    plain = os.environ.get("DBAUDIT_TEST_PLAIN_BUILD")
    if not plain:
        pytest.skip("DBAUDIT_TEST_PLAIN_BUILD (an unsanitised build) not given")
    sock = str(tmp_path / "vg.sock")
    log = tmp_path / "valgrind.log"
    env = dict(os.environ, DBAUDIT_CONFIG=str(var_dir / "dbaudit.conf"))
    env.pop("ASAN_OPTIONS", None)
    proc = subprocess.Popen(
        ["spawn-fcgi", "-n", "-s", sock, "-M", "0600", "--",
         "/usr/bin/valgrind", "--error-exitcode=99", "--leak-check=full",
         "--errors-for-leak-kinds=definite", f"--log-file={log}",
         str(pathlib.Path(plain) / "src" / "dbaudit-fcgi"), "--role", "api"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while not os.path.exists(sock) and time.time() < deadline:
            time.sleep(0.1)
        statuses = []
        for method, uri, body, ctype, auth in VALGRIND_REQUESTS:
            headers = {"Authorization": "Bearer " + admin_key} if auth else {}
            status, _, _ = fc.request(sock, fc.env_for(method, uri, body, ctype, headers), body, timeout=60)
            statuses.append(status)
        assert all(s < 500 for s in statuses), statuses
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
    text = log.read_text()
    assert "ERROR SUMMARY: 0 errors" in text, text[-4000:]
    assert rc == 0, text[-4000:]
