"""The HTTP surface (issue 16): HEAD, OPTIONS and CORS, gzip, the ETag of
/swagger, and unknown query parameters refused on every route. The test
stack allows one CORS origin, https://dashboard.example (none by default)."""
import gzip

import pytest
import requests

from rawhttp import raw

ORIGIN = "https://dashboard.example"


def test_head_is_get_without_a_body(base_url, admin_key):
    status, headers, body = raw(base_url, b"HEAD /v1/events?limit=1 HTTP/1.1\r\nHost: x\r\n"
                                b"Connection: close\r\nX-Api-Key: " + admin_key.encode() + b"\r\n\r\n")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert body == b""
    r = requests.head(base_url + "/v1/health", timeout=10)
    assert r.status_code == 200 and r.content == b""


def test_allow_lists_head_and_options(api):
    r = api("PUT", "/v1/events")
    assert r.status_code == 405
    allow = [m.strip() for m in r.headers["Allow"].split(",")]
    assert {"GET", "HEAD", "POST", "OPTIONS"} <= set(allow), allow
    assert "PUT" not in allow


def test_options_answers_without_credentials(api):
    r = api("OPTIONS", "/v1/events")
    assert r.status_code == 204
    assert {"GET", "HEAD", "POST", "OPTIONS"} <= {m.strip() for m in r.headers["Allow"].split(",")}
    assert "Access-Control-Allow-Origin" not in r.headers   # no Origin sent
    assert api("OPTIONS", "/v1/nothing").status_code == 404


def test_cors_preflight_and_response_for_a_configured_origin(api, admin_key):
    r = api("OPTIONS", "/v1/events", headers={"Origin": ORIGIN,
                                             "Access-Control-Request-Method": "GET",
                                             "Access-Control-Request-Headers": "x-api-key"})
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "GET" in r.headers["Access-Control-Allow-Methods"]
    assert "X-Api-Key" in r.headers["Access-Control-Allow-Headers"]
    assert "Origin" in r.headers["Vary"]
    r = api("GET", "/v1/events?limit=1", key=admin_key, headers={"Origin": ORIGIN})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "X-Request-ID" in r.headers["Access-Control-Expose-Headers"]


def test_cors_ignores_other_origins(api, admin_key):
    for origin in ("https://evil.example", "https://dashboard.example.evil", "null"):
        r = api("OPTIONS", "/v1/events", headers={"Origin": origin})
        assert r.status_code == 204 and "Access-Control-Allow-Origin" not in r.headers
        r = api("GET", "/v1/events?limit=1", key=admin_key, headers={"Origin": origin})
        assert "Access-Control-Allow-Origin" not in r.headers


def test_large_json_is_gzipped_small_is_not(base_url, admin_key):
    r = requests.get(base_url + "/swagger", headers={"Accept-Encoding": "gzip"}, timeout=10, stream=True)
    assert r.headers.get("Content-Encoding") == "gzip"
    assert gzip.decompress(r.raw.read()).startswith(b"openapi")
    r = requests.get(base_url + "/v1/health", headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert "Content-Encoding" not in r.headers
    r = requests.get(base_url + "/swagger", headers={"Accept-Encoding": "identity"}, timeout=10)
    assert "Content-Encoding" not in r.headers


def test_swagger_etag_and_if_none_match(base_url):
    r = requests.get(base_url + "/swagger", timeout=10)
    etag = r.headers["ETag"]
    assert r.status_code == 200 and etag
    r2 = requests.get(base_url + "/swagger", headers={"If-None-Match": etag}, timeout=10)
    assert r2.status_code == 304 and r2.content == b""
    # nginx marks the ETag of a gzipped answer weak (W/"..."); the tag is the same.
    assert r2.headers["ETag"].removeprefix("W/") == etag.removeprefix("W/")
    r3 = requests.get(base_url + "/swagger", headers={"If-None-Match": '"other"'}, timeout=10)
    assert r3.status_code == 200 and r3.content == r.content


@pytest.mark.parametrize("path", [
    "/v1/health", "/swagger", "/metrics", "/v1/auth/whoami", "/v1/databases/db_000000000000000000000000",
    "/v1/databases/db_000000000000000000000000/status", "/v1/events/evt_x",
    "/api/v1/public/audit-activity/rec_x",
])
def test_unknown_query_parameters_are_400(api, admin_key, path):
    r = api("GET", path + "?bogus=1", key=admin_key)
    assert r.status_code == 400, (path, r.status_code, r.text)
    assert r.json()["error"]["code"] == "invalid_parameter"
    assert "bogus" in r.json()["error"]["message"]
