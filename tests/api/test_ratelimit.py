"""Rate limits (issue 16, CONTRACT §7): plan and route limits per principal,
shared by every worker, the X-RateLimit-* headers and the 429, against the
real stack. The shared-memory details, the kill -9 recovery and the Redis
backend are unit-tested in tests/unit/test_ratelimit.c."""
import math
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from evutil import new_key, new_tenant

WINDOW = 60


def fire(base_url, path, key, n, threads=8):
    """Sends n GETs of path over several connections (so over several
    workers); returns the responses and the seconds it took."""
    sessions = [requests.Session() for _ in range(threads)]

    def one(i):
        return sessions[i % threads].get(base_url + path, headers={"X-Api-Key": key}, timeout=30)

    t0 = time.time()
    with ThreadPoolExecutor(threads) as pool:
        out = list(pool.map(one, range(n)))
    elapsed = time.time() - t0
    for s in sessions:
        s.close()
    return out, elapsed


def assert_limit_held(resps, elapsed, limit):
    """Exactly the limit passes, plus what GCRA refilled meanwhile."""
    ok = [r for r in resps if r.status_code == 200]
    refused = [r for r in resps if r.status_code == 429]
    assert len(ok) + len(refused) == len(resps), sorted({r.status_code for r in resps})
    refill = math.ceil(elapsed * limit / WINDOW) + 1
    assert limit <= len(ok) <= limit + refill, (len(ok), limit, refill)
    assert refused, "nothing was refused"
    return ok, refused


def assert_429(resp, limit):
    assert resp.status_code == 429
    assert resp.json()["error"]["code"] == "rate_limited"
    assert int(resp.headers["Retry-After"]) >= 1
    assert resp.headers["X-RateLimit-Limit"] == str(limit)
    assert resp.headers["X-RateLimit-Remaining"] == "0"
    assert int(resp.headers["X-RateLimit-Reset"]) >= int(time.time())


@pytest.mark.app
@pytest.mark.usefixtures("http_layer_test")
def test_kaudit_surface_allows_60_gets_a_minute(base_url, admin_bin):
    key = new_key(admin_bin, new_tenant(), scopes="read:audit-activity", plan="free")
    first = requests.get(base_url + "/api/v1/public/audit-activity/summary",
                         headers={"X-Api-Key": key}, timeout=10)
    assert first.status_code == 200
    assert first.headers["X-RateLimit-Limit"] == "60"
    assert first.headers["X-RateLimit-Remaining"] == "59"
    now = int(time.time())
    assert now < int(first.headers["X-RateLimit-Reset"]) <= now + WINDOW + 1
    resps, elapsed = fire(base_url, "/api/v1/public/audit-activity", key, 80)
    ok, refused = assert_limit_held([first] + resps, elapsed, 60)
    assert_429(refused[-1], 60)
    # The kAudit limit is the route's: the plan still has room elsewhere.
    r = requests.get(base_url + "/v1/auth/whoami", headers={"X-Api-Key": key}, timeout=10)
    assert r.status_code == 200
    assert r.headers["X-RateLimit-Limit"] == "1000"


@pytest.mark.app
def test_free_plan_holds_across_workers(base_url, admin_bin):
    """1,000 a minute however nginx spreads the requests over the workers."""
    key = new_key(admin_bin, new_tenant(), scopes="read:databases", plan="free")
    resps, elapsed = fire(base_url, "/v1/auth/whoami", key, 1150)
    ok, refused = assert_limit_held(resps, elapsed, 1000)
    assert_429(refused[-1], 1000)
    remaining = sorted(int(r.headers["X-RateLimit-Remaining"]) for r in ok)
    assert remaining[0] == 0 and remaining[-1] == 999


@pytest.mark.app
def test_route_limits_and_plans_in_the_headers(base_url, admin_bin, admin_key):
    tenant = new_tenant()
    pro = new_key(admin_bin, tenant, scopes="all", plan="pro")
    hdr = {"X-Api-Key": pro}
    r = requests.get(base_url + "/v1/databases", headers=hdr, timeout=10)
    assert r.status_code == 200 and r.headers["X-RateLimit-Limit"] == "10000"
    r = requests.get(base_url + "/v1/events", headers=hdr, timeout=10)
    assert r.status_code == 200 and r.headers["X-RateLimit-Limit"] == "1000"
    assert r.headers["X-RateLimit-Remaining"] == "999"
    r = requests.get(base_url + "/v1/events/evt_nothere", headers=hdr, timeout=10)
    # An error of a limited route is a limited response too.
    assert r.status_code == 404 and r.headers["X-RateLimit-Limit"] == "2000"
    # enterprise: unlimited, so no counter and no headers.
    r = requests.get(base_url + "/v1/events", headers={"X-Api-Key": admin_key}, timeout=10)
    assert r.status_code == 200
    assert "X-RateLimit-Limit" not in r.headers
    # Public routes are nobody's: no headers either.
    assert "X-RateLimit-Limit" not in requests.get(base_url + "/v1/health", timeout=10).headers
