"""The response check of schemacheck.py can fail: fed responses by hand (no
stack), it passes bodies that match docs/openapi.yaml and records those
that do not, by route template, method and status."""
import json

import requests

import schemacheck
from conftest import REPO

checker = schemacheck.Checker(REPO / "docs" / "openapi.yaml")

WHOAMI = {"principal": "key_0123456789abcdef", "kind": "api_key", "tenants": ["t1"],
          "scopes": ["read:events"], "plan": "pro"}


def response(method, path, status, body, ctype="application/json"):
    r = requests.Response()
    r.status_code = status
    r.headers["Content-Type"] = ctype
    r._content = json.dumps(body).encode()
    r.request = requests.Request(method, "http://127.0.0.1" + path).prepare()
    return r


def violations_of(*responses):
    schemacheck.take()
    for r in responses:
        checker.check(r)
    return schemacheck.take()


def test_matching_bodies_pass():
    assert violations_of(
        response("GET", "/v1/auth/whoami", 200, WHOAMI),
        response("GET", "/v1/events/evt_0123456789abcdef01234567", 404,
                 {"error": {"code": "not_found", "message": "no such event"}}),
    ) == []


def test_a_wrong_type_an_unknown_enum_and_a_missing_field_are_recorded():
    bad = violations_of(
        response("GET", "/v1/auth/whoami", 200, dict(WHOAMI, tenants="t1")),
        response("GET", "/v1/auth/whoami", 200, dict(WHOAMI, plan="platinum")),
        response("GET", "/v1/auth/whoami", 200, {k: v for k, v in WHOAMI.items() if k != "kind"}),
    )
    assert len(bad) == 3, bad
    assert all(v.startswith("GET /v1/auth/whoami 200: ") for v in bad), bad
    assert "at tenants:" in bad[0] and "at plan:" in bad[1] and "'kind'" in bad[2], bad


def test_templates_statuses_and_media_types():
    envelope_wrong = {"error": {"code": "no_such_code", "message": "x"}}
    bad = violations_of(
        # a templated path resolves to its template
        response("GET", "/v1/events/evt_0123456789abcdef01234567", 404, envelope_wrong),
        # not JSON, an undocumented path: not checked
        response("GET", "/v1/auth/whoami", 200, {"plan": 1}, ctype="text/plain"),
        response("GET", "/nowhere", 200, {"plan": 1}),
    )
    assert len(bad) == 1 and bad[0].startswith("GET /v1/events/{id} 404: at error/code:"), bad
