"""Direct access to the stack's store from tests, whichever the engine.

open_store(conf) returns an object whose attributes are collections
(store.events, store.databases, store.policies, store.alerts) with the few
pymongo calls the tests use: find_one, insert_one, insert_many, update_one
({"$set": ...}), delete_one, delete_many, on filters {"_id": x} and
{"_id": {"$in": [...]}}. On MongoDB it is pymongo itself; on SQLite a thin
adapter that writes rows the way the engine does (store_sqlite*.c).
"""
import datetime
import json
import os
import pathlib
import sqlite3


def read_conf(var_dir):
    """The stack's dbaudit.conf as a dict."""
    out = {}
    for line in (pathlib.Path(var_dir) / "dbaudit.conf").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def engine_of(conf):
    """"sqlite" or "mongodb": the engine of the stack whose config is conf."""
    if os.environ.get("DBAUDIT_TEST_ENGINE"):
        return os.environ["DBAUDIT_TEST_ENGINE"]
    store = conf.get("store", "")
    return "sqlite" if store.startswith("sqlite:") else "mongodb"


def sqlite_path(conf):
    store = conf.get("store", "")
    assert store.startswith("sqlite:"), f"not a SQLite store: {store!r}"
    return store[len("sqlite:"):]


def _rfc3339(v):
    if isinstance(v, datetime.datetime):
        v = v.astimezone(datetime.timezone.utc)
        return v.strftime("%Y-%m-%dT%H:%M:%S") + (f".{v.microsecond // 1000:03d}Z" if v.microsecond else "Z")
    return v


def _ms(v):
    return int(v.timestamp() * 1000) if isinstance(v, datetime.datetime) else 0


def _plain(doc):
    return {k: (_plain(v) if isinstance(v, dict) else _rfc3339(v)) for k, v in doc.items()}


def _ids(flt):
    v = flt["_id"]
    assert set(flt) == {"_id"}, f"the SQLite adapter filters on _id only: {flt}"
    return v["$in"] if isinstance(v, dict) else [v]


class _Table:
    def __init__(self, db, name):
        self.db, self.name = db, name

    def _row(self, d):
        d = _plain(d)
        doc = json.dumps(d)
        if self.name == "events":
            det = d.get("details") or {}
            return ("INSERT INTO events (id, tenant, type, severity, database_id, database_name,"
                    " user, source_ip, session_id, aid, ok, ts, doc)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (d["_id"], d["tenant_id"], d.get("type", ""), d.get("severity", ""),
                     d.get("database_id"), d.get("database_name"), det.get("user"),
                     det.get("source_ip"), det.get("session_id"), d.get("aid"),
                     0 if d.get("ok") is False else 1, self._ts, doc))
        if self.name == "alerts":
            # open_key: the dedup key of an open alert; its own id releases it
            return ("INSERT INTO alerts (id, tenant, database_id, status, open_key, created, doc)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (d["_id"], d["tenant_id"], d.get("database_id"), d.get("status"),
                     d.get("open_key", d["_id"]), d.get("created_at", ""), doc))
        if self.name == "policies":
            ids = d.get("database_ids")
            return ("INSERT INTO policies (id, tenant, enabled, database_ids, doc) VALUES (?, ?, ?, ?, ?)",
                    (d["_id"], d["tenant_id"], 1 if d.get("enabled") else 0,
                     None if ids is None else json.dumps(ids, separators=(",", ":")), doc))
        raise AssertionError(f"no SQLite insert for {self.name}")

    def insert_one(self, d):
        self._ts = _ms(d.get("timestamp"))
        sql, args = self._row(d)
        with self.db:
            self.db.execute(sql, args)

    def insert_many(self, docs):
        for d in docs:
            self.insert_one(d)

    def find_one(self, flt):
        (i,) = _ids(flt)
        row = self.db.execute(f"SELECT doc FROM {self.name} WHERE id = ?", (i,)).fetchone()
        if row is None:
            return None
        doc = json.loads(row[0])
        if self.name == "policies":
            doc["enabled"] = bool(self.db.execute("SELECT enabled FROM policies WHERE id = ?",
                                                  (i,)).fetchone()[0])
        return doc

    def update_one(self, flt, update):
        (i,) = _ids(flt)
        assert set(update) == {"$set"}
        doc = self.find_one(flt)
        for path, v in update["$set"].items():
            *parents, last = path.split(".")
            at = doc
            for p in parents:
                at = at.setdefault(p, {})
            at[last] = _plain(v) if isinstance(v, dict) else _rfc3339(v)
        with self.db:
            self.db.execute(f"UPDATE {self.name} SET doc = ? WHERE id = ?", (json.dumps(doc), i))
            if self.name == "databases":  # the column the stale check reads
                hb = (doc.get("heartbeat") or {}).get("received_at")
                hb_ms = _ms(datetime.datetime.fromisoformat(hb.replace("Z", "+00:00"))) if hb else None
                self.db.execute("UPDATE databases SET hb_at = ? WHERE id = ?", (hb_ms, i))

    def delete_many(self, flt):
        ids = _ids(flt)
        with self.db:
            self.db.executemany(f"DELETE FROM {self.name} WHERE id = ?", [(i,) for i in ids])

    delete_one = delete_many


class SqliteStore:
    def __init__(self, path):
        self.db = sqlite3.connect(path, timeout=10, isolation_level=None)
        self.db.execute("PRAGMA busy_timeout = 10000")

    def __getattr__(self, name):
        return _Table(self.db, name)

    def close(self):
        self.db.close()


def open_store(conf):
    """(store, close): the stack's store for direct reads and writes."""
    if engine_of(conf) == "sqlite":
        s = SqliteStore(sqlite_path(conf))
        return s, s.close
    import pymongo
    client = pymongo.MongoClient(conf["mongodb_uri"], serverSelectionTimeoutMS=3000,
                                 directConnection=True)
    return client[conf.get("mongodb_database", "dbaudit")], client.close
