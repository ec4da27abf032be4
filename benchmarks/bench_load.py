"""The dashboard under concurrent sessions: gene switches replayed against the real server.

    .venv/bin/python benchmarks/bench_load.py --store DIR [--sessions 1 8] [--switches 20]
                                              [--workers N ...] [--threads 8] [--soak-minutes 0]

Starts `python app.py --results DIR --no-jobs` on 127.0.0.1 in its own process (gunicorn with
`--workers N`, waitress with `--workers 1`; a fresh, empty view cache each time) and replays what
a browser tab sends. The first page load: the page, the layout, the dependencies, the URL
callback, every callback the selection triggers and those of the dataset (filter bar, jobs
strip). A gene switch: the URL callback (with the dataset links), then every server callback that
follows the selection (the card; the SNV views; the people views and the logo; the volcano,
sensitivity and histograms; the models; the pending-gene banner) at once over six connections, as
a browser does, each with the
state the previous answers left (so the volcano, sensitivity and histogram panels answer with
Patches). Each tab also polls the jobs strip every second. Sessions run in parallel, once every
server process has started (its CPU use quiet). Prints, for each worker count and session
count: p50, p95 and max of a full gene switch and the throughput; for one session the same
genes again (then served from the view cache) and the median time and size of each callback;
the server's CPU time per switch (a figure the machine's load does not inflate as much as
wall time); the resident memory of all server processes after warm-up and after
`--soak-minutes` of eight sessions switching (goal: within 1.2x). Only 127.0.0.1 is
contacted; every loop is bounded.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from docs.screenshots import free_port  # noqa: E402

SELECTION = {"id": "app-selection", "property": "data"}
URL = {"id": "url", "property": "pathname"}
DATASET = {"id": "app-dataset", "property": "data"}
POLL = {"id": "jobs-poll", "property": "n_intervals"}
BROWSER_CONNECTIONS = 6  # what a browser opens to one host (HTTP/1.1)
POLL_SECONDS = 1.0  # components/jobs.py POLL_MS
GOAL_SOAK_RATIO = 1.2


def outputs_of(key: str) -> list[dict] | dict:
    """The `outputs` of a callback request, from its callback_map key ('..a.b...c.d..' or 'a.b')."""
    parts = key.strip(".").split("...") if key.startswith("..") else [key]
    specs = []
    for part in parts:
        ident, prop = part.rsplit(".", 1)
        specs.append({"id": json.loads(ident) if ident.startswith("{") else ident, "property": prop})
    return specs if key.startswith("..") else specs[0]


def url_callback(callbacks: dict) -> str:
    """The output key of the callback that reads the URL into the selection."""
    return next(key for key, callback in callbacks.items() if URL in callback["inputs"])


def switch_callbacks(callbacks: dict) -> list[tuple[str, dict]]:
    """The server callbacks a selection change runs (not the exports, which need a click; not the
    views of a whole dataset, which a gene switch within it leaves alone)."""
    url = url_callback(callbacks)
    return [
        (key, callback)
        for key, callback in callbacks.items()
        if key != url and "download" not in key and any(i == SELECTION for i in callback["inputs"])
    ]


def server_callbacks(port: int) -> dict:
    """output key -> {inputs, state} of every server callback, from /_dash-dependencies."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", "/_dash-dependencies")
    found = json.loads(connection.getresponse().read())
    connection.close()
    return {d["output"]: d for d in found if not d.get("clientside_function")}


class Session:
    """One browser tab: its connections and the state its figures hold."""

    def __init__(self, port: int, callbacks: dict):
        self.port = port
        self.callbacks = callbacks
        self.switching = switch_callbacks(callbacks)
        self.pool = ThreadPoolExecutor(BROWSER_CONNECTIONS)
        self.connections: queue.Queue = queue.Queue()
        for _ in range(BROWSER_CONNECTIONS):
            self.connections.put(http.client.HTTPConnection("127.0.0.1", port, timeout=120))
        self.state: dict[str, object] = {"filter-subset.value": "all"}  # "id.property" -> value
        self.lock = threading.Lock()
        self.timings: dict[str, list[tuple[float, int]]] = {}  # callback -> (seconds, bytes)
        self.bytes = 0

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        while not self.connections.empty():
            self.connections.get().close()

    def request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        connection = self.connections.get()
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            try:
                connection.request(method, path, body, headers)
                response = connection.getresponse()
            except (http.client.HTTPException, ConnectionError):  # the server closed a kept-alive one
                connection.close()
                connection.request(method, path, body, headers)
                response = connection.getresponse()
            data = response.read()
            if response.status != 200:
                raise RuntimeError(f"{path}: HTTP {response.status} {data[:200]!r}")
            return data
        finally:
            self.connections.put(connection)

    def value(self, spec: dict) -> object:
        return self.state.get(f"{spec['id']}.{spec['property']}")

    def post(self, key: str, changed: dict, values: dict | None = None) -> None:
        """One callback request with the tab's current state; its answer becomes the state."""
        callback = self.callbacks[key]
        values = values or {}
        with self.lock:
            def filled(spec: dict) -> dict:
                name = f"{spec['id']}.{spec['property']}"
                return {**spec, "value": values[name] if name in values else self.state.get(name)}

            inputs = [filled(i) for i in callback["inputs"]]
            state = [filled(s) for s in callback.get("state", [])]
        body = {"output": key, "outputs": outputs_of(key), "inputs": inputs, "state": state,
                "changedPropIds": [f"{changed['id']}.{changed['property']}"]}  # fmt: skip
        start = time.perf_counter()
        data = self.request("POST", "/_dash-update-component", json.dumps(body).encode())
        seconds = time.perf_counter() - start
        answer = json.loads(data).get("response", {})
        with self.lock:
            self.timings.setdefault(key, []).append((seconds, len(data)))
            self.bytes += len(data)
            for ident, props in answer.items():
                for prop, value in props.items():
                    if prop != "figure":  # a Patch is not the figure; the stores are what matter
                        self.state[f"{ident}.{prop}"] = value

    def switch(self, gene: str, dataset: str) -> None:
        """What one gene switch sends: the URL callback, then everything the selection triggers."""
        url = {"url.pathname": f"/gene/{gene}", "url.search": f"?dataset={dataset}"}
        self.post(url_callback(self.callbacks), URL, url)
        with self.lock:
            self.state.update(url)
        futures = [self.pool.submit(self.post, key, SELECTION) for key, _ in self.switching]
        for future in futures:
            future.result()

    def first_visit(self, gene: str, dataset: str) -> None:
        for path in (f"/gene/{gene}?dataset={dataset}", "/_dash-layout", "/_dash-dependencies"):
            self.request("GET", path)
        self.switch(gene, dataset)
        dataset_views = [key for key, c in self.callbacks.items() if DATASET in c["inputs"]]
        for future in [self.pool.submit(self.post, key, DATASET) for key in dataset_views]:
            future.result()  # the filter bar and the compute strip, once a page

    def poll(self) -> None:
        key = next((k for k, c in self.callbacks.items() if POLL in c["inputs"]), None)
        if key is not None:
            self.post(key, POLL, {"jobs-poll.n_intervals": int(time.time())})


def run_sessions(port: int, callbacks: dict, plans: list[list[str]], dataset: str, first: bool = True):
    """Sessions in parallel, each switching through its plan of genes (after a first visit of its
    first gene, not timed, when `first`); returns the switch times, the wall time, the sessions."""
    times: list[float] = []
    errors: list[str] = []
    sessions = [Session(port, callbacks) for _ in plans]
    done = threading.Event()

    def one(session: Session, plan: list[str]) -> None:
        try:
            if first:
                session.first_visit(plan[0], dataset)
            for gene in plan[1:] if first else plan:
                start = time.perf_counter()
                session.switch(gene, dataset)
                times.append(time.perf_counter() - start)
        except Exception as err:  # reported, not hidden
            errors.append(repr(err))

    def polls(session: Session) -> None:
        while not done.wait(POLL_SECONDS):
            try:
                session.poll()
            except Exception as err:
                errors.append(repr(err))

    workers = [threading.Thread(target=one, args=(s, p)) for s, p in zip(sessions, plans, strict=True)]
    pollers = [threading.Thread(target=polls, args=(s,), daemon=True) for s in sessions]
    start = time.perf_counter()
    for t in workers + pollers:
        t.start()
    for t in workers:
        t.join(timeout=1800)
    wall = time.perf_counter() - start
    done.set()
    for t in pollers:
        t.join(timeout=30)
    for session in sessions:
        session.close()
    if errors:
        raise RuntimeError(errors[0])
    return times, wall, sessions


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants (the gunicorn master and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += children.get(p, [])
    return tree


def memory_mb(pid: int) -> tuple[float, int]:
    """Resident memory of the server (all its processes, MB) and how many processes that is."""
    total, count = 0.0, 0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
                    count += 1
        except OSError:
            continue
    return total, count


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the server's processes so far."""
    total = 0.0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            continue
    return total


class Server:
    """`python app.py` over one store, in its own process, with a fresh view cache."""

    def __init__(self, store: Path, workers: int, threads: int, cache: Path):
        self.port = free_port()
        command = [
            sys.executable, str(ROOT / "app.py"), "--results", str(store), "--port", str(self.port),
            "--workers", str(workers), "--threads", str(threads), "--no-jobs", "--cache", str(cache),
        ]  # fmt: skip
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.log.seek(0)
                raise RuntimeError(f"the server did not start: {self.log.read()[-2000:]!r}")
            time.sleep(0.2)
        self._settle(deadline)

    def _settle(self, deadline: float) -> None:
        """Wait until every worker has started: the first to answer does not wait for the others,
        which would otherwise still be reading their stores during the first page load."""
        last = cpu_seconds(self.process.pid)
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = cpu_seconds(self.process.pid)
            if now - last < 0.05:
                return
            last = now

    def _answers(self) -> bool:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            connection.request("GET", "/_dash-dependencies")
            ok = connection.getresponse().status == 200
            connection.close()
            return ok
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
        self.log.close()


def report_callbacks(sessions: list[Session], skip: int) -> None:
    """Median time and size of each callback of the timed switches of one session."""
    rows = []
    for key, values in sessions[0].timings.items():
        values = values[skip:] if len(values) > skip else values
        name = key.strip(".").split("...")[0].split(".")[0]
        rows.append((statistics.median(v[0] for v in values), statistics.median(v[1] for v in values), name))
    for seconds, size, name in sorted(rows, reverse=True):
        print(f"      {name:24s} {1e3 * seconds:7.1f} ms {size / 1024:8.1f} KB")


def measure(args: argparse.Namespace, workers: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        start = time.perf_counter()
        server = Server(args.store, workers, args.threads, Path(tmp) / "views")
        startup = time.perf_counter() - start
        try:
            run(args, server, workers, startup)
        finally:
            server.stop()


def run(args: argparse.Namespace, server: Server, workers: int, startup: float) -> None:
    callbacks = server_callbacks(server.port)
    from compute.store import ResultsStore

    genes = [str(g) for g in ResultsStore(args.store).genes()["gene_name"].head(2000)]
    dataset = args.store.resolve().name
    kind = "waitress, 1 process" if workers == 1 else f"gunicorn, {workers} worker processes"
    count = len(switch_callbacks(callbacks)) + 1
    print(f"\nserver: {kind} x {args.threads} threads; store {args.store.name}; "
          f"{count} callbacks a gene switch; up in {startup:.1f} s")  # fmt: skip
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    first, _ = str(rng.choice(genes)), rng.choice(genes)  # (two draws: the same plans as before)
    run_sessions(server.port, callbacks, [[first]], dataset)  # the first visit alone
    print(f"  first page load, server side (one session)     {1e3 * (time.perf_counter() - start):7.0f} ms "
          "(page, layout, dependencies, URL and every callback of the selection)")  # fmt: skip
    single = None
    for n in args.sessions:
        plans = [[str(g) for g in rng.choice(genes, size=args.switches + 1)] for _ in range(n)]
        cpu = cpu_seconds(server.process.pid)
        times, wall, sessions = run_sessions(server.port, callbacks, plans, dataset)
        cpu = cpu_seconds(server.process.pid) - cpu
        p50 = statistics.median(times)
        single = single or p50
        p95, worst, rate = np.percentile(times, 95), max(times), len(times) / wall
        sent = sum(s.bytes for s in sessions) / (len(times) + n)
        print(
            f"  {n:2d} session(s): gene switch p50 {1e3 * p50:6.0f} ms, p95 {1e3 * p95:6.0f} ms, max "
            f"{1e3 * worst:6.0f} ms; {rate:5.1f} switches/s; p50 / one session {p50 / single:4.1f}; "
            f"server CPU {1e3 * cpu / (len(times) + n):4.0f} ms a switch; {sent / 1024:4.0f} KB a switch"
        )  # fmt: skip
        if n == 1:
            print("    per callback, median (client side, callbacks sent at once):")
            report_callbacks(sessions, skip=1)
            again, _, _ = run_sessions(server.port, callbacks, plans, dataset, first=False)
            p50, p95 = statistics.median(again), np.percentile(again, 95)
            print(f"    the same genes again (from the view cache): gene switch p50 {1e3 * p50:6.0f} ms, "
                  f"p95 {1e3 * p95:6.0f} ms")  # fmt: skip
    warm, processes = memory_mb(server.process.pid)
    print(f"  memory after warm-up: {warm:6.0f} MB resident, {processes} server process(es) together")
    if args.soak_minutes > 0:
        end = time.monotonic() + 60 * args.soak_minutes
        rounds = switches = 0
        while time.monotonic() < end:
            plans = [[str(g) for g in rng.choice(genes, size=args.switches + 1)] for _ in range(8)]
            times, _, _ = run_sessions(server.port, callbacks, plans, dataset)
            rounds, switches = rounds + 1, switches + len(times)
        soaked, processes = memory_mb(server.process.pid)
        ratio = soaked / warm
        verdict = "met" if ratio <= GOAL_SOAK_RATIO else "NOT met"
        print(f"  memory after a {args.soak_minutes:g}-minute soak ({switches:,} switches of 8 sessions): "
              f"{soaked:6.0f} MB, {processes} process(es); {ratio:.2f}x warm-up (goal <= {GOAL_SOAK_RATIO}x: "
              f"{verdict})")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--store", type=Path, required=True, help="a results store (e.g. one bench_genotypes.py built)"
    )
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--switches", type=int, default=20, help="gene switches per session")
    parser.add_argument(
        "--workers", type=int, nargs="+", help="server processes, one run each (default: app.py's default)"
    )
    parser.add_argument("--threads", type=int, default=8, help="threads of each server process")
    parser.add_argument("--soak-minutes", type=float, default=0.0, help="eight sessions switching this long")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # a stopped benchmark stops its server too
    from app import default_workers

    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; "
          f"{len(os.sched_getaffinity(0))} CPU cores")  # fmt: skip
    for workers in args.workers or [default_workers()]:
        measure(args, workers)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
