"""dbaudit-admin's storage commands against the stack's store.

backup FILE: an online, consistent copy of the SQLite store while writers
go on (SQLite engine; the MongoDB engine says to use mongodump).
"""
import os
import sqlite3
import subprocess
import threading

import pytest
import requests

from evutil import event

pytestmark = pytest.mark.app


def test_backup_is_consistent_while_writers_go_on(engine, admin_bin, base_url, admin_key, tmp_path):
    out = tmp_path / "backup.db"
    if engine != "sqlite":
        r = subprocess.run(admin_bin + ["backup", str(out)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and "mongodump" in r.stderr
        return
    s = requests.Session()
    acked = []

    def post(tag, n=50):
        r = s.post(base_url + "/v1/events", headers={"X-Api-Key": admin_key}, timeout=30,
                   json={"events": [event(external_id=f"{tag}-{i}") for i in range(n)]})
        assert r.status_code == 201, r.text
        return r.json()["ids"]

    for i in range(4):
        acked += post(f"bk-before-{os.getpid()}-{i}")
    stop = threading.Event()

    def writer():
        with requests.Session() as w:
            i = 0
            while not stop.is_set():
                w.post(base_url + "/v1/events", headers={"X-Api-Key": admin_key}, timeout=30,
                       json={"events": [event(external_id=f"bk-during-{os.getpid()}-{i}-{j}")
                                        for j in range(100)]})
                i += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        r = subprocess.run(admin_bin + ["backup", str(out)], capture_output=True, text=True, timeout=120)
    finally:
        stop.set()
        t.join()
    assert r.returncode == 0, r.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    db = sqlite3.connect(out)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {row[0] for row in db.execute("SELECT id FROM events")}
    assert set(acked) <= stored
    # no half transaction: every event has its search row
    n_fts = db.execute("SELECT count(*) FROM events_fts").fetchone()[0]
    assert n_fts == db.execute("SELECT count(*) FROM events").fetchone()[0]
    db.close()
    again = subprocess.run(admin_bin + ["backup", str(out)], capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "exists" in again.stderr
