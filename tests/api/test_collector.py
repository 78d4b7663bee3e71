"""End-to-end tests of dbaudit-collector (docs/collector.md).

They start a throwaway PostgreSQL 15 with pgAudit preloaded and a throwaway
MariaDB with the server_audit plugin, each on its own port and directory
(never the machine's own servers), run real traffic with psql and the
mariadb client, run the collector against the stack under test, and check
through GET /v1/events that every statement arrived exactly once with the
right fields: after a kill -9 of the collector mid-batch, log rotations, an
API outage and a database restart too.

Each test registers its own databases in a tenant of its own; statements
carry a marker unique to the test, so counts are exact although the servers
(and their logs) are shared by the tests of this module.
"""
import hashlib
import http.server
import json
import os
import pathlib
import pwd
import shutil
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
import uuid

import pytest
import requests

from evutil import new_key, new_tenant

PG_BIN = pathlib.Path("/usr/lib/postgresql/15/bin")
PGAUDIT = pathlib.Path("/usr/lib/postgresql/15/lib/pgaudit.so")
SERVER_AUDIT = pathlib.Path("/usr/lib/mysql/plugin/server_audit.so")
PORTS = range(36500, 36600)


def free_port(start=36500):
    for port in range(start, PORTS.stop):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port in 36500-36599")


def wait_until(check, timeout, what, every=0.3):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def need_user(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pytest.skip(f"no system user {name}")


def owned_dir(user):
    d = pathlib.Path(tempfile.mkdtemp(prefix="dbaudit-coll-"))
    os.chmod(d, 0o755)
    shutil.chown(d, user, user)
    return d


# ---------------------------------------------------------------- servers

class Postgres:
    def __init__(self):
        if not (PG_BIN / "initdb").exists():
            pytest.skip("PostgreSQL 15 binaries missing (/usr/lib/postgresql/15/bin); scripts/bootstrap installs them")
        if not PGAUDIT.exists():
            pytest.skip("pgaudit missing (postgresql-15-pgaudit); scripts/bootstrap installs it")
        if os.geteuid() != 0:
            pytest.skip("the throwaway PostgreSQL runs as user postgres: needs root for runuser")
        need_user("postgres")
        self.dir = owned_dir("postgres")
        self.data = self.dir / "data"
        self.logdir = self.dir / "log"
        self.port = free_port(36510)
        self.run_pg("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(f"""
port = {self.port}
listen_addresses = '127.0.0.1'
unix_socket_directories = '{self.dir}'
shared_preload_libraries = 'pgaudit'
pgaudit.log = 'all, -misc_set'
pgaudit.log_relation = on
pgaudit.log_parameter = on
logging_collector = on
log_destination = 'jsonlog'
log_directory = '{self.logdir}'
log_filename = 'postgresql-%Y%m%d-%H%M%S.log'
log_file_mode = 0644
log_timezone = 'UTC'
log_connections = on
log_disconnections = on
""")
        (self.data / "pg_hba.conf").write_text(
            "local all postgres trust\n"
            "local all all scram-sha-256\n"
            "host all all 127.0.0.1/32 scram-sha-256\n")
        self.start()
        self.psql("create role alice login password 'alice-pw'")
        os.chmod(self.logdir, 0o755)

    def run_pg(self, prog, *args, check=True):
        return subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / prog), *args],
                              capture_output=True, text=True, timeout=120, check=check)

    def start(self):
        self.run_pg("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "pg_ctl.log"), "-w", "start")

    def restart(self):
        self.run_pg("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "pg_ctl.log"), "-w",
                    "-m", "fast", "restart")

    def stop(self):
        self.run_pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def psql(self, sql, user="postgres", password=None, db="postgres", tcp=False, check=True):
        env = dict(os.environ, PGAPPNAME="coll-test", PGCONNECT_TIMEOUT="10")
        if password is not None:
            env["PGPASSWORD"] = password
        host = "127.0.0.1" if tcp else str(self.dir)
        return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", host,
                               "-p", str(self.port), "-U", user, "-d", db, "-f", "-"],
                              input=sql, capture_output=True, text=True, timeout=300,
                              env=env, check=check)


class MariaDB:
    def __init__(self):
        for prog in ("mariadbd", "mariadb-install-db", "mariadb"):
            if shutil.which(prog) is None and not pathlib.Path("/usr/sbin/" + prog).exists():
                pytest.skip(f"{prog} missing (mariadb-server)")
        if not SERVER_AUDIT.exists():
            pytest.skip("server_audit.so missing (it ships with mariadb-server)")
        if os.geteuid() != 0:
            pytest.skip("the throwaway MariaDB runs as user mysql: needs root")
        need_user("mysql")
        self.dir = owned_dir("mysql")
        self.data = self.dir / "data"
        self.sock = self.dir / "mysqld.sock"
        self.audit = self.dir / "audit" / "server_audit.log"
        self.audit.parent.mkdir()
        shutil.chown(self.audit.parent, "mysql", "mysql")
        os.chmod(self.audit.parent, 0o755)
        self.port = free_port(36560)
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={self.data}", "--user=mysql",
                        "--auth-root-authentication-method=socket", "--skip-test-db"],
                       capture_output=True, text=True, timeout=180, check=True)
        self.proc = None
        self.start()
        self.sql("create database shop; create table shop.orders(id int primary key, note text);"
                 "create user 'bob'@'%' identified by 'bob-pw';"
                 "grant select, insert on shop.* to 'bob'@'%';")

    def start(self):
        mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        self.proc = subprocess.Popen([
            mariadbd, "--no-defaults", "--user=mysql", f"--datadir={self.data}",
            f"--socket={self.sock}", f"--port={self.port}", "--bind-address=127.0.0.1",
            "--skip-name-resolve", f"--pid-file={self.dir}/mysqld.pid",
            f"--log-error={self.dir}/error.log", "--plugin-load-add=server_audit",
            "--server-audit-logging=ON", "--server-audit-events=CONNECT,QUERY,TABLE",
            "--server-audit-output-type=file", f"--server-audit-file-path={self.audit}",
            "--server-audit-file-rotations=5", "--server-audit-file-rotate-size=1000000000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.sql("select 1", check=False).returncode == 0, 60, "mariadbd")
        os.chmod(self.audit, 0o644)

    def restart(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.start()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)

    def sql(self, sql, check=True):
        return subprocess.run(["mariadb", "--no-defaults", f"--socket={self.sock}", "-uroot",
                               "-e", sql], capture_output=True, timeout=120, check=check)

    def tcp(self, sql, user="bob", password="bob-pw", db="shop", check=True, charset=None):
        args = ["mariadb", "--no-defaults", "--comments", "-h127.0.0.1", f"-P{self.port}",
                f"-u{user}", f"-p{password}", db]
        if charset:
            args.append(f"--default-character-set={charset}")
        return subprocess.run(args + ["-e", sql], capture_output=True, timeout=120, check=check)


@pytest.fixture(scope="module")
def pg():
    server = Postgres()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def maria():
    server = MariaDB()
    yield server
    server.stop()


# ---------------------------------------------------------------- API side

@pytest.fixture(scope="module")
def tenant_key(admin_bin):
    tenant = new_tenant("coll")
    return new_key(admin_bin, tenant, plan="enterprise")


def register(base_url, key, dbtype, port, database):
    r = requests.post(base_url + "/v1/databases", headers={"X-Api-Key": key}, timeout=10, json={
        "name": f"collector test {database}", "type": dbtype, "host": "127.0.0.1", "port": port,
        "database": database, "username": "audit", "password": "", "ssl_mode": "disable",
        # These tests check that the collector carries every statement exactly
        # as the server ran it; masking (on by default) has test_masking.py.
        "audit_options": {"mask_sensitive_data": False}})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def events_of(base_url, key, dbid):
    """The events the collector sent for dbid: not those the built-in detectors
    and policies derived from them (external_id "policy:...", docs/policies.md).
    Read in commit order with the cursor, as a SIEM does: page numbers would
    shift under a collector still sending, and show an event twice."""
    out = []
    cursor = ""
    while True:
        r = requests.get(base_url + "/v1/events", headers={"X-Api-Key": key}, timeout=30,
                         params={"database_id": dbid, "limit": 1000, "cursor": cursor})
        if r.status_code == 503:
            # the development store (FerretDB) can time out under a busy machine: try again
            time.sleep(1)
            continue
        assert r.status_code == 200, r.text
        body = r.json()
        out.extend(e for e in body["events"] if not (e.get("external_id") or "").startswith("policy:"))
        cursor = body["pagination"]["next_cursor"]
        if not body["pagination"]["has_more"]:
            return out


def marked(events, mark):
    return [e for e in events if mark in (e["details"].get("query") or "")]


def wait_marked(base_url, key, dbid, mark, count, timeout=60):
    """Waits until `count` events carry the marker; returns all the database's events."""
    state = {}

    def enough():
        state["events"] = events_of(base_url, key, dbid)
        return len(marked(state["events"], mark)) >= count
    wait_until(enough, timeout, f"{count} events marked {mark}", every=1.0)
    return state["events"]


def assert_once_each(events, mark, statements):
    """Every statement (by its exact text; psql sends the final ';') stored exactly once,
    nothing else marked."""
    got = {}
    for e in marked(events, mark):
        q = e["details"]["query"].rstrip(";")
        got[q] = got.get(q, 0) + 1
    missing = [s for s in statements if s not in got]
    twice = {q: n for q, n in got.items() if n != 1}
    extra = [q for q in got if q not in statements]
    assert not missing and not twice and not extra, \
        f"missing {missing[:5]} ({len(missing)}), repeated {list(twice.items())[:5]}, unexpected {extra[:5]}"
    xids = [e["external_id"] for e in events]
    assert len(xids) == len(set(xids))


class Collector:
    """One dbaudit-collector process with a config and state dir of its own."""

    def __init__(self, build_dir, base_url, key, sources, tmp, **opts):
        self.bin = build_dir / "src" / "dbaudit-collector"
        if not self.bin.exists():
            pytest.skip(f"{self.bin} not built")
        self.tmp = tmp
        self.state = tmp / "state"
        self.state.mkdir(exist_ok=True)
        keyfile = tmp / "collector.key"
        keyfile.write_text(key + "\n")
        conf = [f"api_url = {opts.pop('api_url', base_url)}", f"api_key_file = {keyfile}",
                f"state_dir = {self.state}", "heartbeat_s = 1", "poll_ms = 50", "flush_ms = 100"]
        conf += [f"{k} = {v}" for k, v in opts.items()]
        for name, src in sources.items():
            conf.append(f"[source {name}]")
            conf += [f"{k} = {v}" for k, v in src.items()]
        self.conf = tmp / "collector.conf"
        self.conf.write_text("\n".join(conf) + "\n")
        self.log = tmp / "collector.log"
        self.proc = None

    def skip_existing(self, name, dbid, files):
        """Seeds the checkpoint of source `name` at the end of the logs as they are now
        (the format of docs/collector.md), so that this test sends only its own traffic
        and the shared store stays small."""
        entries = {}
        for f in files:
            data = pathlib.Path(f).read_bytes()
            nl = data.find(b"\n")
            if nl < 0:
                continue
            first = data[:nl + 1] if nl < 1024 else data[:1024]
            fp = hashlib.sha256(first).hexdigest()[:16]
            entries[fp] = data.rfind(b"\n") + 1
        (self.state / f"{name}.json").write_text(
            json.dumps({"version": 1, "database_id": dbid, "files": entries}))
        return self

    def start(self):
        self.proc = subprocess.Popen([str(self.bin), "--config", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=open(self.log, "a"))
        return self

    def once(self, timeout=120):
        return subprocess.run([str(self.bin), "--config", str(self.conf), "--once"],
                              capture_output=True, text=True, timeout=timeout)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            assert self.proc.returncode == 0, self.log.read_text()[-2000:]

    def logtext(self):
        return self.log.read_text() if self.log.exists() else ""


@pytest.fixture
def tmp(tmp_path):
    os.chmod(tmp_path, 0o755)
    return tmp_path


@pytest.fixture
def collectors():
    started = []
    yield started
    for c in started:
        if c.proc is not None and c.proc.poll() is None:
            c.proc.kill()
            c.proc.wait()


def pg_logs(pg):
    return sorted(pg.logdir.glob("*.json"))


def maria_logs(maria):
    return sorted(maria.audit.parent.glob(maria.audit.name + "*"))


def pg_source(pg, dbid):
    return {"database_id": dbid, "format": "jsonlog", "path": str(pg.logdir), "pattern": "*.json"}


def maria_source(maria, dbid):
    return {"database_id": dbid, "format": "mariadb_audit", "path": str(maria.audit),
            "timezone": "local"}


# ---------------------------------------------------------------- tests

def test_postgres_traffic_arrives_once_with_its_fields(pg, tenant_key, base_url, build_dir, tmp,
                                                       collectors):
    mark = uuid.uuid4().hex[:10]
    dbid = register(base_url, tenant_key, "postgresql", pg.port, "pg_" + mark)
    table = f"t_{mark}"
    ddl = f"create table public.{table} (id int, note text)"
    grant = f"grant select on public.{table} to alice"
    insert = f"insert into public.{table} values (1, 'm{mark}')"
    update = f"update public.{table} set note = 'multi\nline, \"q\" m{mark}' where id = 1"
    pg.psql(";\n".join([ddl, grant, insert, update]) + ";\n")
    inj = f"select * from public.{table} where note = '' or '1'='1' -- m{mark}"
    pg.psql(inj + ";\n", user="alice", password="alice-pw", tcp=True)
    failed = pg.psql("select 1;\n", user="alice", password="wrong", tcp=True, check=False)
    assert failed.returncode != 0
    huge = f"select '{'x' * 100000}' as m{mark}"
    pg.psql(huge + ";\n")

    c = Collector(build_dir, base_url, tenant_key, {"pg": pg_source(pg, dbid)}, tmp)
    collectors.append(c.start())
    wait_marked(base_url, tenant_key, dbid, mark, 5)
    wait_until(lambda: [e for e in events_of(base_url, tenant_key, dbid)
                        if e["type"] == "user.login_failed"], 30, "the failed login")
    events = events_of(base_url, tenant_key, dbid)
    assert_once_each(events, mark, [ddl, grant, insert, update, inj])

    by_query = {(e["details"].get("query") or "").rstrip(";"): e for e in events}
    e = by_query[ddl]
    assert e["type"] == "database.query"
    assert e["details"]["user"] == "postgres"
    assert e["database_name"] == "postgres"
    assert e["details"]["action_id"] == "CR"
    assert e["details"]["client_application"] == "coll-test"
    assert by_query[grant]["details"]["action_id"] == "G"
    assert by_query[insert]["details"]["action_id"] == "IN"
    # pgAudit names the relation of DML (pgaudit.log_relation), not of DDL
    assert by_query[insert]["details"]["object_name"] == table
    assert by_query[insert]["details"]["schema_name"] == "public"
    assert by_query[update]["details"]["action_id"] == "UP"
    e = by_query[inj]
    assert e["details"]["user"] == "alice"
    assert e["details"]["source_ip"] == "127.0.0.1"
    assert e["details"]["action_id"] == "SL"
    assert e["details"]["object_name"] == table
    assert e["external_id"].startswith(dbid + ":")

    fails = [e for e in events if e["type"] == "user.login_failed"]
    assert any(f["details"]["user"] == "alice" and f["details"]["source_ip"] == "127.0.0.1"
               and f["details"]["succeeded"] is False for f in fails)
    logins = [e for e in events if e["type"] == "user.login_success" and e["details"].get("user") == "alice"]
    assert logins and logins[0]["details"]["action_id"] == "LGIS"

    # a 100 kB statement arrives cut, marked, with the original's length and hash
    huge_ev = [e for e in events if e["details"].get("query_truncated")]
    assert len(huge_ev) == 1, [e["details"].get("query", "")[:50] for e in events]
    d = huge_ev[0]["details"]
    assert d["query_bytes"] == len(huge) + 1 and len(d["query_sha256"]) == 64
    assert huge.startswith(d["query"]) and 30000 < len(d["query"]) <= 32768

    # the heartbeat made the database connected, with the collector's numbers
    def live():
        r = requests.get(f"{base_url}/v1/databases/{dbid}/status",
                         headers={"X-Api-Key": tenant_key}, timeout=10)
        assert r.status_code == 200
        return r.json() if r.json().get("collector") else None
    st = wait_until(live, 15, "a heartbeat")
    assert st["connection_status"] == "connected"
    assert st["audit_status"] == "active"
    assert st["collector"]["version"]
    assert st["health_checks"]["connectivity"] == "healthy"
    c.stop()


def test_mariadb_traffic_arrives_once_with_its_fields(maria, tenant_key, base_url, build_dir, tmp,
                                                      collectors):
    mark = uuid.uuid4().hex[:10]
    dbid = register(base_url, tenant_key, "mariadb", maria.port, "my_" + mark)
    ddl = f"create table shop.t_{mark} (id int, note text)"
    grant = f"grant select on shop.t_{mark} to 'bob'@'%'"
    maria.sql(f"{ddl}; {grant};")
    insert = f"insert into orders values ({int(mark[:6], 16)}, 'it''s, m{mark}')"
    inj = f"select * from orders where note = '' or 1=1 /* m{mark} */"
    maria.tcp(f"{insert}; {inj}")
    assert maria.tcp("select 1", password="wrong", check=False).returncode != 0
    latin = f"select 'caf\xe9 m{mark}'".encode("latin1")
    subprocess.run(["mariadb", "--no-defaults", "--comments", "-h127.0.0.1", f"-P{maria.port}", "-ubob", "-pbob-pw",
                    "shop", "--default-character-set=latin1", "-e", latin], check=True,
                   capture_output=True, timeout=60)

    c = Collector(build_dir, base_url, tenant_key, {"my": maria_source(maria, dbid)}, tmp)
    assert c.once().returncode == 0, c.logtext()
    events = events_of(base_url, tenant_key, dbid)
    assert_once_each(events, mark, [ddl, grant, insert, inj, f"select 'caf\ufffd m{mark}'"])
    by_query = {e["details"].get("query"): e for e in events}
    e = by_query[ddl]
    assert e["details"]["user"] == "root" and e["details"]["action_id"] == "CR"
    assert e["details"]["schema_name"] == "shop" and e["details"]["object_name"] == f"t_{mark}"
    assert by_query[grant]["details"]["action_id"] == "G"
    e = by_query[inj]
    assert e["type"] == "database.query"
    assert e["details"]["user"] == "bob"
    assert e["details"]["source_ip"] == "127.0.0.1"
    assert e["database_name"] == "shop"
    assert e["details"]["action_id"] == "SL"
    assert e["details"]["object_name"] == "orders" and e["details"]["succeeded"] is True
    assert by_query[insert]["details"]["action_id"] == "IN"
    assert by_query[f"select 'caf\ufffd m{mark}'"]["details"]["query_invalid_utf8"] is True
    assert any(e["type"] == "user.login_failed" and e["details"].get("user") == "bob"
               and e["details"].get("source_ip") == "127.0.0.1" and e["details"]["error_code"] == "1045"
               for e in events)
    # run again: nothing new is sent, nothing repeated
    n = len(events)
    assert c.once().returncode == 0
    assert len(events_of(base_url, tenant_key, dbid)) == n


def test_kill9_mid_batch_then_restart_loses_and_repeats_nothing(pg, tenant_key, base_url,
                                                                build_dir, tmp, collectors, engine):
    mark = uuid.uuid4().hex[:10]
    dbid = register(base_url, tenant_key, "postgresql", pg.port, "pg9_" + mark)
    c = Collector(build_dir, base_url, tenant_key, {"pg": pg_source(pg, dbid)}, tmp,
                  batch_size=10, flush_ms=0).skip_existing("pg", dbid, pg_logs(pg))
    # Enough statements that the kill lands mid-way: on an idle machine the
    # collector sent 300 (30 batches) to SQLite between two polls of the
    # wait below. FerretDB is ten times slower, and every event it stores
    # slows every later test of the suite: 300 are enough there.
    stmts = [f"select {i} as m{mark}" for i in range(3000 if engine == "sqlite" else 300)]
    pg.psql(";\n".join(stmts) + ";\n")
    collectors.append(c.start())
    wait_until(lambda: len(marked(events_of(base_url, tenant_key, dbid), mark)) >= 30, 60,
               "the first batches", every=0.1)
    c.kill9()
    got = len(marked(events_of(base_url, tenant_key, dbid), mark))
    assert got < len(stmts), "the collector finished before it was killed: nothing was tested"
    collectors.append(c.start())
    events = wait_marked(base_url, tenant_key, dbid, mark, len(stmts), timeout=240)
    assert_once_each(events, mark, stmts)
    c.stop()


def test_rotation_by_rename_and_by_copy_truncate(maria, tenant_key, base_url, build_dir, tmp,
                                                 collectors):
    mark = uuid.uuid4().hex[:10]
    dbid = register(base_url, tenant_key, "mariadb", maria.port, "rot_" + mark)
    c = Collector(build_dir, base_url, tenant_key, {"my": maria_source(maria, dbid)}, tmp)
    collectors.append(c.skip_existing("my", dbid, maria_logs(maria)).start())
    first = [f"select {i} as a_{mark}" for i in range(20)]
    maria.tcp(";".join(first))
    wait_marked(base_url, tenant_key, dbid, mark, 20)
    # the plugin's own rotation: server_audit.log becomes server_audit.log.1
    second = [f"select {i} as b_{mark}" for i in range(20)]
    maria.tcp(";".join(second[:10]))
    maria.sql("set global server_audit_file_rotate_now = ON")
    maria.tcp(";".join(second[10:]))
    wait_marked(base_url, tenant_key, dbid, mark, 40)
    # copy-and-truncate, as logrotate's copytruncate does, with the collector stopped
    # in between so that part of the copied data is read from the copy only
    third = [f"select {i} as c_{mark}" for i in range(20)]
    c.stop()
    maria.tcp(";".join(third[:10]))
    shutil.copyfile(maria.audit, str(maria.audit) + "-copy")
    os.truncate(maria.audit, 0)
    maria.tcp(";".join(third[10:]))
    collectors.append(c.start())
    events = wait_marked(base_url, tenant_key, dbid, mark, 60)
    time.sleep(1.5)
    events = events_of(base_url, tenant_key, dbid)
    assert_once_each(events, mark, first + second + third)
    c.stop()


class FlakyProxy:
    """A reverse proxy in front of nginx that can answer 503 (with Retry-After) or be closed."""

    def __init__(self, target):
        self.target = target
        self.mode = "up"
        self.event_posts = {"up": 0, "503": 0}
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/v1/events":
                    proxy.event_posts[proxy.mode] = proxy.event_posts.get(proxy.mode, 0) + 1
                if proxy.mode == "503":
                    out = b'{"error":{"code":"service_unavailable","message":"down"}}'
                    self.send_response(503)
                    self.send_header("Retry-After", "2")
                else:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() in ("authorization", "content-type", "x-api-key")}
                    r = requests.post(proxy.target + self.path, data=body, headers=headers, timeout=30)
                    out = r.content
                    self.send_response(r.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.handler = Handler
        self.port = free_port(36590)
        self.server = None
        self.open()

    def open(self):
        socketserver.TCPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"


def test_api_outage_backs_off_and_then_delivers_everything(pg, tenant_key, base_url, build_dir,
                                                           tmp, collectors):
    mark = uuid.uuid4().hex[:10]
    dbid = register(base_url, tenant_key, "postgresql", pg.port, "pgout_" + mark)
    proxy = FlakyProxy(base_url)
    try:
        c = Collector(build_dir, base_url, tenant_key, {"pg": pg_source(pg, dbid)}, tmp,
                      api_url=proxy.url, batch_size=50)
        collectors.append(c.skip_existing("pg", dbid, pg_logs(pg)).start())
        before = [f"select {i} as a_{mark}" for i in range(30)]
        pg.psql(";\n".join(before) + ";\n")
        wait_marked(base_url, tenant_key, dbid, mark, 30)

        # 503 with Retry-After: 2 for 6 s: the collector waits as told
        proxy.mode = "503"
        during = [f"select {i} as b_{mark}" for i in range(30)]
        pg.psql(";\n".join(during) + ";\n")
        time.sleep(6)
        assert 1 <= proxy.event_posts["503"] <= 4, proxy.event_posts
        assert len(marked(events_of(base_url, tenant_key, dbid), mark)) == 30

        # the port closed altogether, then open again
        proxy.close()
        closed = [f"select {i} as c_{mark}" for i in range(30)]
        pg.psql(";\n".join(closed) + ";\n")
        time.sleep(3)
        proxy.mode = "up"
        proxy.open()
        events = wait_marked(base_url, tenant_key, dbid, mark, 90, timeout=90)
        assert_once_each(events, mark, before + during + closed)
        assert "retrying" in c.logtext()
        c.stop()
    finally:
        try:
            proxy.close()
        except Exception:
            pass


def test_database_restart_loses_and_repeats_nothing(pg, maria, tenant_key, base_url, build_dir,
                                                    tmp, collectors):
    mark = uuid.uuid4().hex[:10]
    pgid = register(base_url, tenant_key, "postgresql", pg.port, "pgre_" + mark)
    myid = register(base_url, tenant_key, "mariadb", maria.port, "myre_" + mark)
    c = Collector(build_dir, base_url, tenant_key,
                  {"pg": pg_source(pg, pgid), "my": maria_source(maria, myid)}, tmp)
    c.skip_existing("pg", pgid, pg_logs(pg)).skip_existing("my", myid, maria_logs(maria))
    collectors.append(c.start())
    pg_before = [f"select {i} as a_{mark}" for i in range(30)]
    my_before = [f"select {i} as a_{mark}" for i in range(30)]
    pg.psql(";\n".join(pg_before) + ";\n")
    maria.tcp(";".join(my_before))
    pg.restart()
    maria.restart()
    pg_after = [f"select {i} as b_{mark}" for i in range(30)]
    my_after = [f"select {i} as b_{mark}" for i in range(30)]
    pg.psql(";\n".join(pg_after) + ";\n")
    maria.tcp(";".join(my_after))
    pg_events = wait_marked(base_url, tenant_key, pgid, mark, 60)
    my_events = wait_marked(base_url, tenant_key, myid, mark, 60)
    time.sleep(1.5)
    assert_once_each(events_of(base_url, tenant_key, pgid), mark, pg_before + pg_after)
    assert_once_each(events_of(base_url, tenant_key, myid), mark, my_before + my_after)
    assert pg_events and my_events
    c.stop()


def test_bad_configuration_is_refused_with_its_reason(build_dir, tmp):
    binary = build_dir / "src" / "dbaudit-collector"
    conf = tmp / "bad.conf"
    conf.write_text("api_url = http://127.0.0.1:1\napi_key_file = /nonexistent\n[source x]\nformat = xml\n")
    r = subprocess.run([str(binary), "--config", str(conf)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    assert "format must be" in r.stderr and ":4:" in r.stderr
