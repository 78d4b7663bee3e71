"""dbaudit-admin's storage commands against the stack's store.

backup FILE: an online, consistent copy of the SQLite store while writers
go on (SQLite engine; the MongoDB engine says to use mongodump).
export / import: a tenant moved SQLite -> MongoDB -> SQLite comes back the
same, record for record.
"""
import json
import os
import sqlite3
import subprocess
import threading
import time

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


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_export_import_round_trip_sqlite_mongodb_sqlite(engine, admin_bin, build_dir, base_url,
                                                         admin_key, tmp_path):
    """A tenant moves SQLite -> MongoDB (FerretDB) -> SQLite: the export of the
    last store is the export of the first, record for record (ids, commit
    sequences, sealed secrets, dates); importing twice changes nothing."""
    if engine != "sqlite":
        pytest.skip("starts from the stack's SQLite store")
    import shutil
    if shutil.which("ferretdb") is None:
        pytest.skip("no ferretdb binary (scripts/bootstrap installs it)")
    tenant = f"move-{os.getpid()}-{int(time.time())}"
    key = subprocess.run(admin_bin + ["key", "create", "--tenant", tenant, "--scopes", "all"],
                         capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    h = {"X-Api-Key": key}
    r = requests.post(base_url + "/v1/databases", headers=h, timeout=30, json={
        "name": "moving", "type": "postgresql", "host": "127.0.0.1", "port": 5432,
        "database": "moving", "username": "u", "password": "s3cret-moving", "ssl_mode": "require"})
    assert r.status_code == 201, r.text
    dbid = r.json()["id"]
    r = requests.post(base_url + "/v1/events", headers=h, timeout=30, json={"events": [
        event(external_id=f"m{i}", database_id=dbid, details={"user": f"u{i % 3}"}) for i in range(30)]})
    assert r.status_code == 201, r.text

    def admin(conf, *args, stdin=None):
        res = subprocess.run([admin_bin[0], "--config", str(conf), *args], input=stdin,
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        return res.stdout

    first = subprocess.run(admin_bin + ["export", "--tenant", tenant], capture_output=True,
                           text=True, timeout=120, check=True).stdout
    assert len(first.splitlines()) == 1 + 1 + 30
    assert "s3cret-moving" not in first
    port = free_port()
    fdir = tmp_path / "ferretdb"
    fdir.mkdir()
    fdb = subprocess.Popen(["ferretdb", "--handler=sqlite", f"--sqlite-url=file:{fdir}/",
                            f"--listen-addr=127.0.0.1:{port}", f"--state-dir={fdir}",
                            "--debug-addr=-", "--telemetry=disable", "--log-level=warn"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        mconf = tmp_path / "m.conf"
        mconf.write_text(f"store = mongodb://127.0.0.1:{port}/\nmongodb_database = moved\n"
                         "write_concern = 1\n")
        deadline = time.time() + 20
        while subprocess.run([admin_bin[0], "--config", str(mconf), "ping"],
                             capture_output=True).returncode != 0:
            assert time.time() < deadline, "ferretdb did not start"
            time.sleep(0.3)
        admin(mconf, "migrate")
        admin(mconf, "import", stdin=first)
        admin(mconf, "import", stdin=first)  # again: idempotent
        middle = admin(mconf, "export", "--tenant", tenant)
        assert len(middle.splitlines()) == len(first.splitlines())
    finally:
        fdb.terminate()
        fdb.wait(timeout=30)
    sconf = tmp_path / "s.conf"
    sconf.write_text(f"store = sqlite:{tmp_path}/back/dbaudit.db\n")
    admin(sconf, "migrate")
    admin(sconf, "import", stdin=middle)
    last = admin(sconf, "export", "--tenant", tenant)
    # the same records, field for field (MongoDB may order a document's fields differently)
    assert [json.loads(x) for x in last.splitlines()] == [json.loads(x) for x in first.splitlines()]
    # the commit order survived: sequences strictly increasing, as first exported
    seqs = [json.loads(x)["doc"]["seq"] for x in last.splitlines() if '"kind":"event"' in x]
    assert seqs == sorted(seqs) and len(set(seqs)) == 30
