"""Bad days of the SQLite engine, through the real stack (nginx, workers).

- another process holds the write lock longer than the busy timeout:
  writes answer 503 with Retry-After, reads go on (WAL), and once the lock
  is gone the same retry is stored;
- the disk is full (a tmpfs of the test's own, a few MB): 507 with
  Retry-After, every acknowledged event is still there, and after the
  filesystem grows writes work again without a restart;
- the store file turns read-only (immutable): 503, then recovery.

The disk tests need root (mount, chattr); the disk-full one runs a second,
small stack whose store file lives on that tmpfs. They run on the sqlite engine only.
"""
import os
import pathlib
import socket
import sqlite3
import subprocess
import tempfile
import time
import uuid

import pytest
import requests

from evutil import event
from storeutil import read_conf, sqlite_path

pytestmark = pytest.mark.app


@pytest.fixture(scope="module", autouse=True)
def sqlite_only(engine):
    if engine != "sqlite":
        pytest.skip("SQLite engine outages (the MongoDB engine's are in test_core)")


def post(base, key, events):
    return requests.post(base + "/v1/events", headers={"X-Api-Key": key},
                         json={"events": events}, timeout=30)


def batch(tag, n, size=0):
    return [event(external_id=f"{tag}-{i}", details={"user": "bad-days", "query": "x" * size})
            for i in range(n)]


def assert_stored(base, key, ids):
    for i in ids:
        r = requests.get(f"{base}/v1/events/{i}", headers={"X-Api-Key": key}, timeout=10)
        assert r.status_code == 200, (i, r.text)


# ------------------------------------------------------------ the write lock

def test_write_lock_held_past_the_busy_timeout(base_url, admin_key, var_dir):
    conf = read_conf(var_dir)
    busy_s = int(conf.get("store_timeout_ms", "2000")) / 1000.0
    first = post(base_url, admin_key, batch("lock-" + uuid.uuid4().hex[:8], 3))
    assert first.status_code == 201, first.text
    tag = "lock-" + uuid.uuid4().hex[:8]
    db = sqlite3.connect(sqlite_path(conf), isolation_level=None, timeout=30)
    db.execute("BEGIN IMMEDIATE")
    try:
        t0 = time.time()
        r = post(base_url, admin_key, batch(tag, 5))
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "service_unavailable"
        assert r.headers.get("Retry-After") == "1"
        assert busy_s * 0.8 <= time.time() - t0 < busy_s + 5
        # readers are not blocked by a writer (WAL)
        assert requests.get(base_url + "/v1/events?limit=1", headers={"X-Api-Key": admin_key},
                            timeout=10).status_code == 200
    finally:
        db.execute("ROLLBACK")
        db.close()
    r = post(base_url, admin_key, batch(tag, 5))
    assert r.status_code == 201, r.text
    assert_stored(base_url, admin_key, first.json()["ids"] + r.json()["ids"])


# ------------------------------------------------------------ the disk

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def small_stack(repo_dir, build_dir):
    """A stack whose store file is on a 4 MB tmpfs: (base_url, admin key, mount point)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    var = tempfile.mkdtemp(prefix="dbaudit-baddays.")
    mnt = tempfile.mkdtemp(prefix="dbaudit-baddays-fs.")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", mnt], check=True)
    port = free_port()
    env = dict(os.environ, DBAUDIT_VAR=var, DBAUDIT_HTTP_PORT=str(port),
               DBAUDIT_STORE=f"sqlite:{mnt}/dbaudit.db", DBAUDIT_BUILD_DIR=str(build_dir),
               DBAUDIT_API_WORKERS="2", DBAUDIT_STREAM_WORKERS="1", DBAUDIT_NGINX_RATE="5000r/s")
    stack = [str(repo_dir / "scripts" / "stack")]
    try:
        r = subprocess.run(stack + ["up"], env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        key = (pathlib.Path(var) / "admin.key").read_text().strip()
        yield f"http://127.0.0.1:{port}", key, mnt
    finally:
        subprocess.run(stack + ["down"], env=env, capture_output=True, timeout=120)
        subprocess.run(["umount", mnt], check=False)
        subprocess.run(["rm", "-rf", var, mnt], check=False)


def remount(mnt, opts):
    subprocess.run(["mount", "-o", f"remount,{opts}", mnt], check=True)


def test_store_file_and_directory_modes(small_stack):
    _, _, mnt = small_stack
    assert os.stat(f"{mnt}/dbaudit.db").st_mode & 0o777 == 0o600


def test_disk_full_is_507_and_recovers(small_stack):
    base, key, mnt = small_stack
    acked, full = [], None
    for i in range(400):
        r = post(base, key, batch(f"full-{i}", 50, size=2000))
        if r.status_code == 201:
            acked += r.json()["ids"]
            continue
        full = r
        break
    assert full is not None, "the 4 MB filesystem never filled"
    assert full.status_code == 507, full.text
    assert full.json()["error"]["code"] == "insufficient_storage"
    assert full.headers.get("Retry-After")
    assert acked, "nothing was stored before the disk filled"
    assert_stored(base, key, acked[:20] + acked[-20:])
    remount(mnt, "size=64m")
    r = post(base, key, batch("full-after", 50, size=2000))
    assert r.status_code == 201, r.text
    assert_stored(base, key, acked[-5:] + r.json()["ids"])


def test_read_only_store_file_is_503_and_recovers(base_url, admin_key, var_dir):
    """The store file and its WAL made immutable (chattr +i: read-only even
    for root, open handles included): writes 503, then recovery."""
    path = sqlite_path(read_conf(var_dir))
    files = [path, path + "-wal"]
    before = post(base_url, admin_key, batch("ro-before-" + uuid.uuid4().hex[:6], 3))
    assert before.status_code == 201, before.text
    if subprocess.run(["chattr", "+i"] + files, capture_output=True).returncode != 0:
        subprocess.run(["chattr", "-i"] + files, capture_output=True)
        pytest.skip("the store's filesystem has no immutable attribute (chattr)")
    try:
        r = post(base_url, admin_key, batch("ro-" + uuid.uuid4().hex[:6], 3))
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "service_unavailable"
        assert r.headers.get("Retry-After") == "1"
    finally:
        subprocess.run(["chattr", "-i"] + files, check=True)
    deadline = time.time() + 10
    tag = "ro-after-" + uuid.uuid4().hex[:6]
    while True:
        r = post(base_url, admin_key, batch(tag, 3))
        if r.status_code == 201 or time.time() > deadline:
            break
        time.sleep(0.3)
    assert r.status_code == 201, r.text
    assert_stored(base_url, admin_key, before.json()["ids"] + r.json()["ids"])
