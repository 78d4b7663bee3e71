"""The route table (src/route_table.c) against the served OpenAPI document.

One walk, no hand-kept list of routes: every route of the table is
documented with its scope, every documented operation is routed, and every
status an operation can answer is listed in its responses. The statuses
come from two places: what the table implies (app.c answers them before any
handler: 401/403/503 where credentials are checked, 400/413/415 where a body
is taken, 404 where the path has a parameter) and what the server really
answers to a set of harmless probes (no credentials, a key without the
scope, an unknown query parameter, ids that do not exist, bodies that are
not JSON). Debug routes (ROUTE_DEBUG, test stacks only) are not documented.
"""
import re
import subprocess
import uuid

import pytest
import requests

from conftest import REPO

pytestmark = pytest.mark.app

METHODS = ("get", "post", "put", "patch", "delete")
BODY_METHODS = ("POST", "PUT", "PATCH")
ROW = re.compile(r'\{\s*"([A-Z]+)",\s*"([^"]+)",\s*(\w+),\s*(NULL|"[^"]*"),\s*([^}]*?)\s*\}')
# Answered by nginx for any location, not by an operation: not listed per operation.
GLOBAL_STATUSES = {429, 500}


def template(path):
    """Path with every {param} named alike, to compare table and document."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def route_table():
    """(method, pattern, scope or None, flags) for each row of route_table.c."""
    text = (REPO / "src" / "route_table.c").read_text()
    body = text[text.index("route_table[] = {"):]
    body = body[:body.index("};")]
    rows = []
    for method, pattern, _handler, scope, flags in ROW.findall(body):
        rows.append((method, pattern, None if scope == "NULL" else scope.strip('"'),
                     set(re.findall(r"ROUTE_\w+", flags))))
    assert rows, "no rows parsed from src/route_table.c"
    return rows


@pytest.fixture(scope="module")
def routes():
    return [r for r in route_table() if "ROUTE_DEBUG" not in r[3]]


@pytest.fixture(scope="module")
def document(base_url):
    yaml = pytest.importorskip("yaml")
    r = requests.get(base_url + "/swagger", timeout=10)
    assert r.status_code == 200, r.text[:300]
    return yaml.safe_load(r.text)


@pytest.fixture(scope="module")
def operations(document):
    doc = document
    ops = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                ops[(method.upper(), template(path))] = (path, op)
    return ops


def test_every_route_is_documented_and_every_operation_routed(routes, operations):
    table = {(m, template(p)): s for m, p, s, _ in routes}
    undocumented = sorted(set(table) - set(operations))
    unrouted = sorted(set(operations) - set(table))
    assert not undocumented, f"routes missing from docs/openapi.yaml: {undocumented}"
    assert not unrouted, f"documented operations no route serves: {unrouted}"
    wrong_scope = [(k, table[k], op.get("x-required-scope"))
                   for k, (_, op) in operations.items() if op.get("x-required-scope") != table[k]]
    assert not wrong_scope, f"(operation, scope in route_table.c, x-required-scope): {wrong_scope}"


def test_every_ref_resolves(document):
    def refs(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref":
                    yield v
                else:
                    yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)

    for ref in refs(document):
        target = document
        for part in ref.lstrip("#/").split("/"):
            assert isinstance(target, dict) and part in target, f"unresolved $ref {ref}"
            target = target[part]


def implied_statuses(method, pattern, scope, flags):
    """What app.c and the store answer for this row before or around any handler."""
    want = set()
    if scope is not None or "ROUTE_AUTH" in flags:
        want |= {401, 403, 503}   # no/bad credentials, no scope or tenant, key store down
    if "{" in pattern:
        want.add(404)
    if method in BODY_METHODS:
        want |= {400, 413, 415}   # malformed body, over max_body_bytes, wrong Content-Type
    return want


def test_every_implied_status_is_listed(routes, operations):
    missing = []
    for method, pattern, scope, flags in routes:
        path, op = operations[(method, template(pattern))]
        listed = {int(s) for s in op.get("responses", {}) if s.isdigit()}
        for status in sorted(implied_statuses(method, pattern, scope, flags) - listed):
            missing.append(f"{method} {path}: {status}")
    assert not missing, "statuses the route table implies but docs/openapi.yaml does not list: " \
        + ", ".join(missing)


@pytest.fixture(scope="module")
def narrow_keys(admin_bin):
    """Two keys of one scope each, so every scoped route has a key without its scope."""
    tenant = f"openapi-{uuid.uuid4().hex[:8]}"
    keys = {}
    for scope in ("read:events", "read:audit-activity"):
        out = subprocess.run(admin_bin + ["key", "create", "--tenant", tenant, "--scopes", scope,
                                          "--name", "openapi-walk"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        keys[scope] = out.stdout.strip()
    return keys


def probes(method, scope, admin_key, narrow_keys):
    """(what, headers, params, body) of the harmless requests made to a route."""
    yield "no credentials", {}, None, None
    if scope is not None:
        other = next(k for s, k in narrow_keys.items() if s != scope)
        yield "key without the scope", {"X-Api-Key": other}, None, None
    auth = {"X-Api-Key": admin_key}
    yield "unknown query parameter", auth, {"openapi_probe": "1"}, None
    yield "plain", auth, None, None
    if method in BODY_METHODS:
        yield "body not JSON", {**auth, "Content-Type": "application/json"}, None, b"{not json"
        yield "body of another media type", {**auth, "Content-Type": "text/plain"}, None, b"x"


def test_every_answered_status_is_listed(base_url, routes, operations, admin_key, narrow_keys):
    """Harmless probes only: bodies are invalid and ids do not exist, so
    nothing is created, changed or deleted."""
    missing = []
    with requests.Session() as s:
        for method, pattern, scope, _ in routes:
            path, op = operations[(method, template(pattern))]
            listed = {int(x) for x in op.get("responses", {}) if x.isdigit()}
            url = base_url + re.sub(r"\{[^}]+\}", "openapi_probe_nonexistent", pattern)
            for what, headers, params, body in probes(method, scope, admin_key, narrow_keys):
                # stream=True: a 200 of the SSE route never ends, so its body
                # is never read (the head is all this test needs).
                with s.request(method, url, headers=headers, params=params, data=body,
                               timeout=30, stream=True) as r:
                    sse = r.headers.get("Content-Type", "").startswith("text/event-stream")
                    text = "(event stream)" if sse else r.text
                if r.status_code not in listed and r.status_code not in GLOBAL_STATUSES:
                    missing.append(f"{method} {path} ({what}): {r.status_code} {text[:120]}")
                assert r.status_code < 500, f"{method} {path} ({what}): {r.status_code} {text[:300]}"
    assert not missing, "statuses answered but not listed in docs/openapi.yaml: " + "; ".join(missing)


def test_served_document_passes_redocly_lint(base_url, tmp_path):
    """The document /swagger serves passes a real OpenAPI validator,
    @redocly/cli (pinned in tests/package.json, installed by
    scripts/bootstrap), with its recommended rules: zero errors. Warnings
    (operationId, license) are reported, not failed."""
    cli = REPO / "tests" / "node_modules" / ".bin" / "redocly"
    assert cli.exists(), "redocly missing: run scripts/bootstrap (npm ci in tests/)"
    r = requests.get(base_url + "/swagger", timeout=10)
    assert r.status_code == 200
    doc = tmp_path / "openapi.yaml"
    doc.write_bytes(r.content)
    out = subprocess.run([str(cli), "lint", "--format=stylish", str(doc)], cwd=REPO / "tests",
                         capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                              "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"})
    errors = [line for line in out.stdout.splitlines() if " error " in line]
    assert out.returncode == 0 and not errors, out.stdout[-3000:] + out.stderr[-2000:]
