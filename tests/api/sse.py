"""SSE clients for the stream tests: a raw one (a socket through requests,
parsing the text/event-stream format itself) and the npm `eventsource`
package driven through sse_client.mjs."""
import json
import os
import pathlib
import queue
import subprocess
import threading
import time

import requests

HERE = pathlib.Path(__file__).resolve().parent


class RawStream:
    """GET /v1/events/stream; a thread parses frames into a queue of dicts
    {"id", "event", "data"} (comments as {"comment": text}, retry as {"retry": n})."""

    def __init__(self, base_url, key, params=None, headers=None):
        h = {"X-Api-Key": key, "Accept": "text/event-stream"}
        h.update(headers or {})
        self.session = requests.Session()
        self.resp = self.session.get(base_url + "/v1/events/stream", params=params, headers=h,
                                     stream=True, timeout=(5, 30))
        self.status = self.resp.status_code
        self.items = queue.Queue()
        self.ended = threading.Event()
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        frame = {}
        try:
            for raw in self.resp.iter_lines(chunk_size=1, decode_unicode=False):
                line = raw.decode()
                if line == "":
                    if frame:
                        self.items.put(frame)
                    frame = {}
                elif line.startswith(":"):
                    self.items.put({"comment": line[1:].strip()})
                else:
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    frame[name] = value
        except Exception:  # noqa: BLE001 - the connection closed under us
            pass
        self.ended.set()

    def next(self, timeout=10):
        return self.items.get(timeout=timeout)

    def events(self, n, timeout=20):
        """The next n event frames (comments skipped); fails on timeout."""
        got, deadline = [], time.time() + timeout
        while len(got) < n:
            left = deadline - time.time()
            assert left > 0, f"only {len(got)} of {n} events arrived"
            try:
                item = self.items.get(timeout=left)
            except queue.Empty:
                continue
            if "id" in item:
                got.append(item)
        return got

    def quiet(self, secs):
        """Event frames that arrive within secs (comments skipped)."""
        got, deadline = [], time.time() + secs
        while time.time() < deadline:
            try:
                item = self.items.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                break
            if "id" in item:
                got.append(item)
        return got

    def close(self):
        self.resp.close()
        self.session.close()


class NodeStream:
    """The npm `eventsource` client in a Node process; lines() yields its reports."""

    def __init__(self, base_url, key, params=""):
        url = base_url + "/v1/events/stream" + (("?" + params) if params else "")
        env = dict(os.environ, NODE_PATH=str(HERE.parent / "node_modules"))
        self.proc = subprocess.Popen(["node", str(HERE / "sse_client.mjs"), url, key],
                                     cwd=str(HERE.parent), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.items = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.items.put(json.loads(line))

    def wait_open(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                item = self.items.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                break
            if item.get("open"):
                return
        raise AssertionError("the eventsource client did not connect: "
                             + (self.proc.stderr.read() if self.proc.poll() is not None else ""))

    def drain(self, secs):
        """Everything reported within secs."""
        got, deadline = [], time.time() + secs
        while time.time() < deadline:
            try:
                got.append(self.items.get(timeout=max(0.01, deadline - time.time())))
            except queue.Empty:
                break
        return got

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
