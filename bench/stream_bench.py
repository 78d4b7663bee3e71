#!/usr/bin/env python3
"""bench/stream_bench.py: N concurrent SSE subscribers of GET /v1/events/stream
while one client ingests single events at a steady rate. Prints one JSON
object: delivery latency (from the ingest's 201 to receipt, every
subscriber x event) p50/p99/max, events missed, and the CPU seconds and RSS
of the stream processes and of the store process over the measured window
(STORE_PID 0: the SQLite engine, no store process), and the stream readers'
store reads over it (dbaudit_stream_store_reads_total of GET /metrics).

usage: stream_bench.py BASE_URL KEY SUBSCRIBERS RATE SECONDS STREAM_PIDS STORE_PID
(STREAM_PIDS comma-separated). Driven by bench/run-stream."""
import asyncio
import json
import os
import sys
import threading
import time
import urllib.parse

import requests

base, key, nsub, rate, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
stream_pids = [int(p) for p in sys.argv[6].split(",") if p]
store_pid = int(sys.argv[7])
CLK = os.sysconf("SC_CLK_TCK")

acked = {}          # id -> monotonic time of the 201
received = []       # (id, monotonic time of receipt)
connected = 0


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / CLK


def store_reads():
    text = requests.get(base + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith("dbaudit_stream_store_reads_total "):
            return int(float(line.split()[1]))
    return 0


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def subscriber(host, port, path, stop):
    global connected
    reader, writer = await asyncio.open_connection(host, port)
    writer.write((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nX-Api-Key: {key}\r\n"
                  "Accept: text/event-stream\r\n\r\n").encode())
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(status.decode().strip())
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    connected += 1
    buf = b""
    while not stop.is_set():
        size_line = await reader.readline()
        if not size_line:
            break
        size = int(size_line.strip() or b"0", 16)
        data = await reader.readexactly(size + 2)
        now = time.monotonic()
        buf += data[:-2]
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.startswith(b"id: "):
                received.append((line[4:].decode(), now))
    writer.close()


def ingest(stop_at):
    s = requests.Session()
    n, t0 = 0, time.monotonic()
    while time.monotonic() < stop_at:
        body = {"type": "database.query", "timestamp": "2025-01-15T14:32:18Z",
                "details": {"user": "bench", "query": "select 1"}}
        r = s.post(base + "/v1/events", json=body, headers={"X-Api-Key": key}, timeout=30)
        t = time.monotonic()
        if r.status_code == 201:
            acked[r.json()["ids"][0]] = t
        n += 1
        delay = t0 + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def measure(wait_for_ingest):
    """Runs the ingest for secs; the CPU, RSS and store reads over it."""
    pids = stream_pids + ([store_pid] if store_pid else [])
    cpu0 = {p: cpu_s(p) for p in pids}
    reads0 = store_reads()
    t0 = time.monotonic()
    th = threading.Thread(target=ingest, args=(t0 + secs,))
    th.start()
    wait_for_ingest(th)
    wall = time.monotonic() - t0
    cpu1 = {p: cpu_s(p) for p in pids}
    reads1 = store_reads()
    rss = {p: rss_mb(p) for p in stream_pids}
    return {
        "seconds": round(wall, 1),
        "stream_cpu_s": round(sum(cpu1[p] - cpu0[p] for p in stream_pids), 2),
        "stream_rss_mb": [round(rss[p], 1) for p in stream_pids],
        "store_cpu_s": round(cpu1[store_pid] - cpu0[store_pid], 2) if store_pid else None,
        "stream_store_reads": reads1 - reads0,
    }


def report(connected_n, m, client):
    lat = sorted((t - acked[i]) * 1000 for i, t in received if i in acked)
    expected = len(acked) * nsub
    pct = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 1) if lat else None
    print(json.dumps({
        "subscribers": nsub, "client": client, "connected": connected_n, "rate_per_s": rate,
        "events_acked": len(acked), "deliveries": len(lat), "missed": expected - len(lat),
        "latency_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0)}, **m,
    }))


async def main_python():
    """The subscribers as asyncio tasks of this process."""
    u = urllib.parse.urlparse(base)
    stop = asyncio.Event()
    tasks = []
    for i in range(nsub):
        tasks.append(asyncio.create_task(subscriber(u.hostname, u.port, "/v1/events/stream", stop)))
        if i % 50 == 49:
            await asyncio.sleep(0.05)
    deadline = time.time() + 60
    while connected < nsub and time.time() < deadline:
        await asyncio.sleep(0.2)
    for t in tasks:
        if t.done() and t.exception():
            raise t.exception()
    await asyncio.sleep(1)

    # measure() waits in a thread of its own: this loop keeps reading the streams
    m = await asyncio.get_running_loop().run_in_executor(
        None, measure, lambda th: (th.join(), time.sleep(2)))
    stop.set()
    report(connected, m, "python")
    for t in tasks:
        t.cancel()
    os._exit(0)


def main_c(client):
    """The subscribers in bench/sse_clients (one epoll loop in C)."""
    import signal
    import subprocess
    import tempfile
    u = urllib.parse.urlparse(base)
    out = tempfile.NamedTemporaryFile(prefix="sse-receipts.", delete=False).name
    proc = subprocess.Popen([client, u.hostname, str(u.port), "/v1/events/stream", key,
                             str(nsub), str(secs + 30), out], stdout=subprocess.PIPE, text=True)
    if not proc.stdout.readline().startswith("connected"):
        proc.kill()
        raise SystemExit("sse_clients: the streams did not all connect")
    time.sleep(1)
    m = measure(lambda th: (th.join(), time.sleep(2)))
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    with open(out) as f:
        for line in f:
            i, t = line.split()
            received.append((i, float(t)))
    os.unlink(out)
    report(nsub, m, "c")


if os.environ.get("BENCH_SSE_CLIENT"):
    main_c(os.environ["BENCH_SSE_CLIENT"])
else:
    asyncio.run(main_python())
