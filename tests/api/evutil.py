"""Helpers shared by the events tests (test_events, test_cursor, test_kaudit)."""
import subprocess
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

    def post(self, body, **kw):
        headers = {"X-Api-Key": self.key}
        if isinstance(body, (bytes, str)):
            headers["Content-Type"] = kw.pop("content_type", "application/x-ndjson")
            return self.s.post(self.base + "/v1/events", data=body, headers=headers, timeout=60, **kw)
        return self.s.post(self.base + "/v1/events", json=body, headers=headers, timeout=60, **kw)

    def get(self, path, params=None, **kw):
        return self.s.get(self.base + path, params=params, headers={"X-Api-Key": self.key},
                          timeout=60, **kw)

    def list(self, **params):
        return self.get("/v1/events", params=params)

    def close(self):
        self.s.close()
