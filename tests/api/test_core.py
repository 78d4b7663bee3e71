"""The FastCGI core (issue 2): routing, strict request parsing, limits,
store outages and graceful worker shutdown, against the real stack."""
import http.client
import json
import os
import signal
import urllib.parse
import subprocess
import threading
import time

import pytest
import requests

from conftest import assert_error


class RawResponse:
    """Just enough of requests.Response for assert_error()."""

    def __init__(self, resp):
        self.status_code = resp.status
        self.headers = resp.headers
        self.text = resp.read().decode("utf-8", "replace")

    def json(self):
        return json.loads(self.text)


def raw_get(base_url, target):
    """GET with the request target sent byte for byte (requests would re-encode it)."""
    u = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.putrequest("GET", target, skip_accept_encoding=True)
        conn.endheaders()
        return RawResponse(conn.getresponse())
    finally:
        conn.close()


def test_404_and_405_are_told_apart(api):
    r = api("GET", "/v1/no-such-thing")
    assert_error(r, 404, "not_found")
    r = api("DELETE", "/v1/health")
    assert_error(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "GET, HEAD, OPTIONS"   # HEAD where GET is (issue 16)
    r = api("POST", "/swagger")
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_trailing_slash_and_empty_segments_are_404(api):
    assert api("GET", "/v1/health/").status_code == 404
    assert api("GET", "//v1/health").status_code == 404


@pytest.mark.parametrize("query", ["x=%zz", "x=%", "x=%4", "x=%ff", "x=%C0%AF", "x=%00", "%zz=1"])
def test_bad_percent_encoding_in_query_is_400(base_url, query):
    r = raw_get(base_url, "/v1/health?" + query)
    assert_error(r, 400, "invalid_parameter")
    assert "percent-encoding" in r.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/v1/%ff", "/v1/health%C3"])
def test_invalid_utf8_in_path_is_400(base_url, path):
    r = raw_get(base_url, path)
    assert_error(r, 400, "invalid_parameter")


def test_malformed_percent_in_path_is_400(base_url):
    # nginx refuses this one itself, before any location (so no JSON body).
    assert raw_get(base_url, "/v1/%zz").status_code == 400


def test_body_over_5_mib_is_413_from_the_app(api):
    # Above the app's 5 MiB limit but under nginx's 6 MiB cap: the app answers,
    # from Content-Length alone.
    body = b"x" * (5 * 1024 * 1024 + 1)
    r = api("POST", "/v1/health", data=body, headers={"Content-Type": "application/json"})
    assert_error(r, 413, "payload_too_large")


def test_wrong_content_type_is_415(api, admin_key):
    r = api("POST", "/v1/events", key=admin_key, data="type=x",
            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(r, 415, "unsupported_media_type")
    r = api("POST", "/v1/events", key=admin_key, data="{}")  # no Content-Type at all
    assert r.status_code == 415


def test_swagger_is_the_openapi_document(api):
    r = api("GET", "/swagger")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/yaml")
    assert r.text.startswith("openapi: 3")
    assert "/v1/health:" in r.text


def test_request_id_is_echoed_and_logged(api, var_dir):
    r = api("GET", "/v1/health")
    rid = r.headers["X-Request-ID"]
    assert len(rid) == 32
    deadline = time.time() + 5
    while time.time() < deadline:
        if rid in (var_dir / "log" / "api.log").read_text():
            return
        time.sleep(0.1)
    pytest.fail("request id not found in the api log")


def pool_workers(var_dir, name="api"):
    sup = int((var_dir / "run" / f"{name}.pid").read_text())
    out = subprocess.run(["pgrep", "-P", str(sup)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def current_syscall(pid):
    try:
        return int(open(f"/proc/{pid}/syscall").read().split()[0])
    except (OSError, ValueError, IndexError):
        return -1


def test_sigterm_mid_request_still_answers(base_url, var_dir):
    """A worker told to stop while serving finishes that request, then exits."""
    result = {}

    def slow():
        result["resp"] = requests.get(base_url + "/v1/_debug/sleep?ms=2000", timeout=15)

    t = threading.Thread(target=slow)
    t.start()
    busy = None
    deadline = time.time() + 5
    while busy is None and time.time() < deadline:
        for pid in pool_workers(var_dir):
            if current_syscall(pid) in (35, 230):  # nanosleep, clock_nanosleep
                busy = pid
        time.sleep(0.05)
    assert busy is not None, "no worker is serving the slow request"
    os.kill(busy, signal.SIGTERM)
    t.join(20)
    r = result["resp"]
    assert r.status_code == 200 and r.json() == {"slept_ms": 2000}
    deadline = time.time() + 5
    while time.time() < deadline and os.path.exists(f"/proc/{busy}"):
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{busy}"), "the worker did not exit after its request"


def wait_health(base_url, want, within):
    """Polls /v1/health until it answers `want`; returns the elapsed seconds."""
    start = time.time()
    while True:
        try:
            code = requests.get(base_url + "/v1/health", timeout=5).status_code
        except requests.RequestException:
            code = None
        if code == want:
            return time.time() - start
        if time.time() - start > within:
            pytest.fail(f"/v1/health did not answer {want} within {within}s (last {code})")
        time.sleep(0.1)


def assert_health_503_fast(base_url):
    """Six health checks in a row, each a 503 service_unavailable within 3 s."""
    for _ in range(6):
        t0 = time.time()
        r = requests.get(base_url + "/v1/health", timeout=10)
        assert_error(r, 503, "service_unavailable")
        assert r.headers.get("Retry-After") == "1"   # CONTRACT §4: every 503
        assert time.time() - t0 < 3.0


def test_store_hung_then_back(base_url, store_pid):
    """SIGSTOP the store: every request gets 503 within 3 s; SIGCONT: recovery."""
    store = store_pid
    wait_health(base_url, 200, 10)
    os.kill(store, signal.SIGSTOP)
    try:
        time.sleep(1)  # past the health cache
        assert_health_503_fast(base_url)
    finally:
        os.kill(store, signal.SIGCONT)
    wait_health(base_url, 200, 15)


def test_store_down_then_restarted(base_url, store_pid, repo_dir, stack_env):
    """Kill the store: 503 within 3 s; `stack up` restarts it and service recovers by itself."""
    store = store_pid
    wait_health(base_url, 200, 10)
    os.kill(store, signal.SIGTERM)
    deadline = time.time() + 10
    while os.path.exists(f"/proc/{store}") and time.time() < deadline:
        time.sleep(0.05)
    try:
        time.sleep(0.6)
        assert_health_503_fast(base_url)
    finally:
        subprocess.run([str(repo_dir / "scripts" / "stack"), "up"], env=stack_env,
                       check=True, capture_output=True, timeout=120)
    wait_health(base_url, 200, 15)
