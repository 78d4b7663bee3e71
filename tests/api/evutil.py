"""Helpers shared by the events tests (test_events, test_cursor, test_kaudit)."""
import json
import subprocess
import time
import uuid

import requests


def new_tenant(prefix="t"):
    """A tenant id no other test uses, so counts and sets are exact."""
    return prefix + uuid.uuid4().hex[:12]


def new_key(admin_bin, tenants, scopes="all", plan="enterprise"):
    """Creates an API key with dbaudit-admin and returns the token."""
    out = subprocess.run(admin_bin + ["key", "create", "--tenant", tenants, "--scopes", scopes,
                                      "--plan", plan, "--name", "events-test"],
                         capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.strip()


def event(type_="database.query", ts="2025-01-15T14:32:18Z", **kw):
    e = {"type": type_, "timestamp": ts}
    e.update(kw)
    return e


class Client:
    """A tiny client bound to one key (one requests.Session per instance)."""

    def __init__(self, base_url, key):
        self.base = base_url
        self.key = key
        self.s = requests.Session()

    def _retrying(self, send, idempotent):
        """As a real client does: a 503 with Retry-After is tried again (at
        most 4 times) when the request is idempotent. FerretDB, the MongoDB
        stand-in, scans every document per query and times out now and then
        late in the suite; tests of the 503 itself use plain requests."""
        r = send()
        for _ in range(4):
            if r.status_code != 503 or not idempotent or "Retry-After" not in r.headers:
                break
            time.sleep(min(float(r.headers["Retry-After"]), 5.0))
            r = send()
        return r

    def post(self, body, **kw):
        headers = {"X-Api-Key": self.key}
        # Events with an external_id are stored once however often they are sent.
        if isinstance(body, bytes):
            idempotent = b"external_id" in body
        else:
            idempotent = "external_id" in (body if isinstance(body, str) else json.dumps(body))
        if isinstance(body, (bytes, str)):
            headers["Content-Type"] = kw.pop("content_type", "application/x-ndjson")
            return self._retrying(lambda: self.s.post(self.base + "/v1/events", data=body,
                                                      headers=headers, timeout=60, **kw), idempotent)
        return self._retrying(lambda: self.s.post(self.base + "/v1/events", json=body,
                                                  headers=headers, timeout=60, **kw), idempotent)

    def get(self, path, params=None, retry=True, **kw):
        return self._retrying(lambda: self.s.get(self.base + path, params=params,
                                                 headers={"X-Api-Key": self.key}, timeout=60, **kw),
                              retry)

    def list(self, **params):
        return self.get("/v1/events", params=params)

    def close(self):
        self.s.close()
