"""nginx in front (issue 16): a second nginx of the test's own includes the
shipped snippets in its own server block, next to unrelated locations,
with a low per-address ceiling, and talks to the stack's worker pools.
Checks that the coarse limit cannot be escaped by varying headers, that
the site's own locations keep working, and that 8 clients with one
enterprise key never see a 429 through the stack's own nginx."""
import json
import os
import random
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse

import pytest
import requests

from rawhttp import raw


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def own_nginx(repo_dir, var_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("own-nginx")
    port = free_port()
    http = (repo_dir / "nginx" / "dbaudit-http.conf.in").read_text()
    (d / "dbaudit-http.conf").write_text(http.replace("@VAR@", str(var_dir)).replace("@RATE@", "2r/s"))
    for name in ("dbaudit-locations.conf", "dbaudit-fastcgi.conf"):
        shutil.copy(repo_dir / "nginx" / name, d / name)
    (d / "tmp").mkdir()
    user = ""
    if os.geteuid() == 0:
        user = "user www-data www-data;"
        shutil.chown(d / "tmp", "www-data", "www-data")
        os.chmod(d, 0o755)
    (d / "nginx.conf").write_text(f"""
{user}
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {d}/tmp;
    fastcgi_temp_path {d}/tmp;
    access_log off;
    include {d}/dbaudit-http.conf;
    server {{
        listen 127.0.0.1:{port};
        location = / {{ return 200 "the site\\n"; }}
        location /static/ {{ return 200 "static of the site\\n"; }}
        include {d}/dbaudit-locations.conf;
    }}
}}
""")
    args = ["nginx", "-p", str(d), "-c", str(d / "nginx.conf"), "-e", str(d / "error.log")]
    subprocess.run(args + ["-t", "-q"], check=True, capture_output=True)
    subprocess.run(args, check=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(50):
        try:
            requests.get(url + "/", timeout=1)
            break
        except requests.RequestException:
            time.sleep(0.1)
    yield url
    subprocess.run(args + ["-s", "stop"], check=False)


def test_snippet_serves_the_api_next_to_the_site(own_nginx, admin_key):
    r = requests.get(own_nginx + "/", timeout=10)
    assert r.status_code == 200 and r.text == "the site\n"
    r = requests.get(own_nginx + "/static/x.css", timeout=10)
    assert r.status_code == 200 and r.text == "static of the site\n"
    r = requests.get(own_nginx + "/v1/health", timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "ok"
    r = requests.get(own_nginx + "/v1/auth/whoami", headers={"X-Api-Key": admin_key}, timeout=10)
    assert r.status_code == 200


def count_refused(url, headers_of, n=600, threads=8):
    codes = []
    lock = threading.Lock()

    def run(k):
        s = requests.Session()
        for i in range(k, n, threads):
            c = s.get(url + "/v1/auth/whoami", headers=headers_of(i), timeout=30).status_code
            with lock:
                codes.append(c)
        s.close()

    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert set(codes) <= {200, 429}, sorted(set(codes))
    return codes.count(429)


def test_varying_headers_do_not_escape_the_coarse_limit(own_nginx, admin_key):
    """2 r/s with a burst of 400 per address: of 600 requests sent at once,
    about 200 are refused however the credential headers vary."""
    def varied(i):
        return {"Authorization": "Bearer" + " " * random.randint(1, 6) + admin_key,
                "X-Api-Key": "dba_%016x_%s" % (random.getrandbits(64), "0" * 64)}

    refused = count_refused(own_nginx, varied)
    assert refused >= 100, refused
    r = requests.get(own_nginx + "/v1/auth/whoami", headers=varied(0), timeout=10)
    if r.status_code == 429:
        assert r.json()["error"]["code"] == "rate_limited"
        assert r.headers["Retry-After"]


@pytest.mark.usefixtures("http_layer_test")
def test_eight_clients_with_an_enterprise_key_are_never_refused(base_url, admin_key):
    """The stack's own nginx (its default ceiling) and the application:
    an enterprise key is unlimited, so 8 busy clients only ever see 200."""
    paths = ["/v1/auth/whoami", "/v1/events?limit=5", "/v1/databases",
             "/api/v1/public/audit-activity/summary", "/v1/health"]
    codes = []
    lock = threading.Lock()
    stop = time.time() + 8

    def run(k):
        s = requests.Session()
        i = k
        while time.time() < stop:
            c = s.get(base_url + paths[i % len(paths)], headers={"X-Api-Key": admin_key},
                      timeout=30).status_code
            i += 1
            with lock:
                codes.append(c)
        s.close()

    ts = [threading.Thread(target=run, args=(k,)) for k in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(codes) > 200
    bad = {c: codes.count(c) for c in set(codes) if c != 200}
    assert not bad, f"{sum(bad.values())} of {len(codes)} not 200: {bad}"


HOST = b"Host: localhost\r\nConnection: close\r\n"
BEFORE_ANY_LOCATION = [
    ("percent_zz", b"GET /v1/%zz HTTP/1.1\r\n" + HOST + b"\r\n", 400, "invalid_parameter"),
    ("percent_00", b"GET /v1/a%00b HTTP/1.1\r\n" + HOST + b"\r\n", 400, "invalid_parameter"),
    ("lower_case_method", b"get /v1/health HTTP/1.1\r\n" + HOST + b"\r\n", 400, "invalid_parameter"),
    ("duplicate_authorization", b"GET /v1/health HTTP/1.1\r\n" + HOST +
     b"Authorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n", 400, "invalid_parameter"),
    ("header_over_8k", b"GET /v1/health HTTP/1.1\r\n" + HOST + b"X-Big: " + b"a" * 9000 + b"\r\n\r\n",
     400, "invalid_parameter"),
    ("uri_over_8k", b"GET /v1/" + b"a" * 9000 + b" HTTP/1.1\r\n" + HOST + b"\r\n", 400, "invalid_parameter"),
    ("trace", b"TRACE /v1/health HTTP/1.1\r\n" + HOST + b"\r\n", 405, "method_not_allowed"),
    ("bad_request_line", b"GARBAGE\r\n\r\n", 400, "invalid_parameter"),
    ("unknown_version", b"GET /v1/health HTTP/9.1\r\n" + HOST + b"\r\n", 400, "invalid_parameter"),
]


@pytest.mark.parametrize("name,data,status,code", BEFORE_ANY_LOCATION,
                         ids=[c[0] for c in BEFORE_ANY_LOCATION])
def test_errors_nginx_makes_before_any_location_are_json(base_url, name, data, status, code):
    got, headers, body = raw(base_url, data)
    assert got == status, (got, body[:200])
    assert headers.get("content-type") == "application/json", headers
    assert json.loads(body)["error"]["code"] == code
    assert re.fullmatch(r"[0-9a-f]{32}", headers.get("x-request-id", "")), headers
    if status == 405:
        assert "GET" in headers.get("allow", "")


def test_error_pages_are_not_reachable_directly(api):
    r = api("GET", "/_dbaudit_error/503")
    assert r.status_code == 404


@pytest.mark.parametrize("rid", ["abc", "my-trace.id_42", "x" * 64])
def test_a_clients_request_id_is_kept(api, rid):
    assert api("GET", "/v1/health", headers={"X-Request-ID": rid}).headers["X-Request-ID"] == rid
    # ... on the application's errors and on nginx's own error pages too.
    assert api("GET", "/v1/nothing", headers={"X-Request-ID": rid}).headers["X-Request-ID"] == rid
    r = api("POST", "/v1/events", data=b"x" * (7 * 1024 * 1024), headers={"X-Request-ID": rid})
    assert r.status_code == 413 and r.headers["X-Request-ID"] == rid


@pytest.mark.parametrize("rid", ["x" * 65, "has space", "semi;colon", "ünï"])
def test_an_invalid_request_id_is_replaced(api, rid):
    got = api("GET", "/v1/health", headers={"X-Request-ID": rid.encode()}).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", got), got

