"""Every JSON response the API tests receive, checked against the schema that
docs/openapi.yaml (the document /swagger serves) gives its route and status.

conftest installs a response hook on every requests.Session (the module
functions make one per call), so the check follows every test without the
tests asking for it. A response is checked when its request path matches a
documented path (templates like /v1/policies/{id}), its method is documented
there, its status has a response with an application/json schema, and its
body is JSON. Debug routes, nginx's own answers to undocumented paths and
statuses the document lists without a schema are not checked. OpenAPI 3.0's
`nullable` becomes a JSON Schema type union. A violation is recorded with
the method, path, status and the failing location in the body; conftest
fails the test that received it."""
import json
import re
import threading
import urllib.parse

import jsonschema
import yaml

_lock = threading.Lock()
violations = []


def _convert(node):
    """OpenAPI 3.0 schema objects into JSON Schema (draft 4-ish) in place."""
    if isinstance(node, dict):
        for v in node.values():
            _convert(v)
        if node.get("nullable") is True:
            t = node.get("type")
            if "allOf" in node or "$ref" in node or "oneOf" in node:
                inner = {k: node.pop(k) for k in ("allOf", "$ref", "oneOf", "type") if k in node}
                node["anyOf"] = [inner, {"type": "null"}]
            elif isinstance(t, str):
                node["type"] = [t, "null"]
                if "enum" in node and None not in node["enum"]:
                    node["enum"] = list(node["enum"]) + [None]
        for k in ("nullable", "example", "writeOnly", "readOnly", "x-required-scope"):
            node.pop(k, None)
    elif isinstance(node, list):
        for v in node:
            _convert(v)


class Checker:
    def __init__(self, path):
        doc = yaml.safe_load(open(path))
        _convert(doc.get("components", {}))
        _convert(doc.get("paths", {}))
        self.doc = doc
        self.resolver = jsonschema.RefResolver("", doc)
        self.routes = []
        for tmpl, item in doc["paths"].items():
            rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(tmpl)) + "$"
            # literal segments first: /v1/events/stream before /v1/events/{id}
            self.routes.append((tmpl.count("{"), re.compile(rx), tmpl, item))
        self.routes.sort(key=lambda r: r[0])

    def _deref(self, obj):
        while isinstance(obj, dict) and "$ref" in obj:
            _, obj = self.resolver.resolve(obj["$ref"])
        return obj

    def schema_for(self, method, path, status):
        for _, rx, tmpl, item in self.routes:
            if rx.match(path):
                op = item.get(method.lower())
                if op is None:
                    return tmpl, None
                resp = op.get("responses", {}).get(str(status))
                resp = self._deref(resp) if resp is not None else None
                if not resp:
                    return tmpl, None
                content = resp.get("content", {}).get("application/json")
                return tmpl, (content or {}).get("schema")
        return None, None

    def check(self, r):
        req = r.request
        if req is None or "json" not in r.headers.get("Content-Type", ""):
            return
        path = urllib.parse.urlsplit(req.url).path
        tmpl, schema = self.schema_for(req.method, path, r.status_code)
        if schema is None:
            return
        try:
            body = json.loads(r.content)
        except ValueError:
            return
        v = jsonschema.Draft4Validator(schema, resolver=self.resolver)
        err = jsonschema.exceptions.best_match(v.iter_errors(body))
        if err is not None:
            where = "/".join(str(p) for p in err.absolute_path) or "(body)"
            with _lock:
                violations.append(f"{req.method} {tmpl} {r.status_code}: at {where}: "
                                  f"{err.message[:300]}")


def take():
    """The violations recorded since the last call."""
    with _lock:
        out = list(violations)
        violations.clear()
    return out
