"""The dashboard: `python app.py [--results DIR ...] [--port 8050] [--workers N] [--debug]`.

Serves linked views of one or more results stores (default: the shipped
data/published and data/demo) with a production WSGI server: gunicorn with N worker
processes of `--threads` threads each (default: one worker per CPU core, up to
MAX_WORKERS), or waitress in this one process with `--workers 1`; `--debug` runs
Dash's development server instead. The workers share what they render through one
view cache on disk (`--cache DIR`, components/view_cache.py). Everything is served by
the server itself: no CDN, no external fonts or scripts. Binds 127.0.0.1 unless told
otherwise.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from dash import Dash, html
from threadpoolctl import threadpool_limits

import components
from components import jobs, navigation, request_guard
from components.data import Datasets
from components.view_cache import ViewCache
from compute.errors import InputError
from compute.jobs import JobBoard
from compute.store import ResultsStore

ROOT = Path(__file__).resolve().parent
DEFAULT_STORES = [ROOT / "data" / "published", ROOT / "data" / "demo"]
# the Enformer test-set genes (Sasse et al.'s list), for the test-set subset of any store
TEST_SET_LIST = ROOT / "data" / "published" / "source" / "enformer_test_set_genes.txt"
TITLE = "Personal expression explorer"
SERVER_THREADS = 8  # per process: callbacks are numpy-bound and short, a few threads per core
MAX_WORKERS = 4  # by default; each worker holds its own copy of the stores' gene tables
CACHE_MB = 1024
JOB_RUNNER = [sys.executable, "-m", "compute", "jobs", "run"]  # a job's process (compute/run/jobs.py)


def default_store_paths() -> list[Path]:
    return [p for p in DEFAULT_STORES if (p / "manifest.json").is_file()]


def build_layout() -> html.Div:
    v = components
    return html.Div(
        className="app",
        children=[
            *navigation.layout(),
            html.Header(
                className="topbar",
                children=[
                    html.Div(
                        [
                            html.H1(TITLE),
                            html.P("Does a sequence model explain why people differ?", className="subtitle"),
                        ]
                    ),
                    v.search.layout(),
                    navigation.dataset_switcher(),
                ],
            ),
            navigation.message_banner(),
            jobs.layout(),
            v.gene_filter.layout(),
            html.Main(
                className="grid",
                children=[
                    html.Div(className="row row-top", children=[v.gene_card.layout(), v.volcano.layout()]),
                    html.Div(className="row", children=[v.expression.layout(), v.ism_eqtl.layout()]),
                    html.Div(className="row row-wide", children=[v.locus.layout()]),
                    html.Div(className="row", children=[v.ism_logo.layout(), v.sensitivity.layout()]),
                    html.Div(className="row", children=[v.tss_hist.layout(), v.genotype.layout()]),
                    html.Div(className="row", children=[v.models.layout()]),
                ],
            ),
            html.Footer(
                "Sasse et al. 2023, Nat Genet 55:2060–2064. Published results: GPL-3.0, see data/published.",
                className="footer",
            ),
        ],
    )


def default_jobs_dir() -> Path:
    """Where jobs are recorded between server runs: the user's cache directory."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "personal-expression-explorer" / "jobs"


def default_workers() -> int:
    """One server process per CPU core this process may use, at most MAX_WORKERS: most of a gene
    switch is Python holding the GIL (Dash, the HTTP server, building figures), so one process
    uses about one core; on two cores two workers served eight sessions 1.5x the gene switches a
    second of one process (docs/benchmarks.md), for about twice the memory."""
    return max(1, min(len(os.sched_getaffinity(0)), MAX_WORKERS))


def create_app(
    store_paths: Sequence[str | Path],
    compute: jobs.ComputeSettings | None = None,
    view_cache: ViewCache | None = None,
) -> Dash:
    """A Dash app over the given results stores (the first is shown first); `compute`: the job
    board and what it may run (None: the page only watches stores, it starts nothing);
    `view_cache`: where rendered views are kept (default: this process's memory only)."""
    datasets = Datasets(list(store_paths), view_cache, test_set_list=TEST_SET_LIST)
    app = Dash(
        __name__,
        title=TITLE,
        update_title=None,
        serve_locally=True,
        external_stylesheets=[],
        external_scripts=[],
        assets_folder=str(ROOT / "assets"),
        suppress_callback_exceptions=False,
    )
    app.layout = build_layout()
    request_guard.install(app)
    navigation.register(app, datasets)
    jobs.register(app, datasets, compute)
    for view in components.ALL_VIEWS:
        view.register(app, datasets)
    if compute is not None and compute.board is not None:
        compute.board.tick()  # jobs a stopped server left behind resume now
    app.datasets = datasets  # for tests and benchmarks
    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=f"{TITLE}: a dashboard over results stores.")
    parser.add_argument(
        "--results",
        action="append",
        metavar="DIR",
        help="a results store directory (repeat for several; default: data/published, data/demo)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument(
        "--debug", action="store_true", help="Dash's development server in debug mode (reloader, dev tools)"
    )
    parser.add_argument(
        "--workers", type=int, default=default_workers(),
        help=f"server processes (default: one per CPU core, at most {MAX_WORKERS}: {default_workers()} "
        "here); 1 serves from this process (waitress), more run gunicorn",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=int, default=SERVER_THREADS,
        help=f"threads of each server process (default {SERVER_THREADS})",
    )  # fmt: skip
    parser.add_argument(
        "--cache", metavar="DIR", help="the view cache the server processes share (default: views/ in the "
        "jobs directory); entries of a store that changed are never served",
    )  # fmt: skip
    parser.add_argument(
        "--cache-mb", type=int, default=CACHE_MB, help=f"size limit of the view cache (default {CACHE_MB} MB)"
    )
    parser.add_argument(
        "--jobs", metavar="DIR", help="where background jobs are recorded (default: ~/.cache/personal-"
        "expression-explorer/jobs); they outlive the server",
    )  # fmt: skip
    parser.add_argument("--no-jobs", action="store_true", help="start no computation from the page")
    parser.add_argument(
        "--allow-compute", action="store_true",
        help="let the page start, resume and stop a whole precompute of a dataset's cohort",
    )  # fmt: skip
    parser.add_argument("--device", default="auto", help="device of the jobs: auto, cpu, cuda, cuda:N")
    args = parser.parse_args(argv)
    paths = [Path(p) for p in args.results] if args.results else default_store_paths()
    if not paths:
        print("error: no results store found; build data/published or pass --results DIR", file=sys.stderr)
        return 2
    if args.workers < 1 or args.threads < 1 or args.cache_mb < 1:
        print("error: --workers, --threads and --cache-mb must be at least 1", file=sys.stderr)
        return 2
    jobs_dir = Path(args.jobs) if args.jobs else default_jobs_dir()
    cache_dir = Path(args.cache) if args.cache else jobs_dir / "views"

    def make_app() -> Dash:  # in each server process: its own stores' handles, caches and job board
        # the views' linear algebra is one small matrix-vector product at a time: BLAS worker threads
        # would only spin between calls, taking CPU from the requests
        threadpool_limits(limits=1, user_api="blas")
        compute = None
        if not args.no_jobs:
            board = JobBoard(jobs_dir, runner=JOB_RUNNER)
            compute = jobs.ComputeSettings(board, allow_precompute=args.allow_compute, device=args.device)
        views = ViewCache(cache_dir, size_limit=args.cache_mb << 20, shared=args.workers > 1)
        app = create_app(paths, compute, views)
        app.datasets.warm()  # the tables every first page reads, before the first request
        return app

    try:
        for path in paths:  # a wrong path is one line here, not a worker failing to boot
            ResultsStore(path)
        app = None if args.workers > 1 and not args.debug else make_app()
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    names = ", ".join(app.datasets.names) if app else ", ".join(p.name for p in paths)
    server = f"{args.threads} threads"
    if args.debug:
        server = "Dash development server"
    elif app is None:
        server = f"{args.workers} worker processes x {args.threads} threads"
    print(f"{TITLE}: http://{args.host}:{args.port}/  datasets: {names}  ({server})", flush=True)
    if args.debug:
        app.run(host=args.host, port=args.port, debug=True)
    elif app is None:
        serve_workers(make_app, args.host, args.port, args.workers, args.threads)
    else:
        serve(app, args.host, args.port, args.threads)
    return 0


def serve(app: Dash, host: str, port: int, threads: int = 8) -> None:
    """The production server in this process (waitress): a fixed thread pool, timeouts on idle
    and half-sent requests, bounded request sizes; no debugger, no reloader."""
    from waitress import serve as waitress_serve

    # waitress warns on every request that has to wait for a thread: under load (a class, a talk)
    # that is a line per request, and the logging alone took ~5% of the server's time
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    waitress_serve(
        app.server, host=host, port=port, threads=max(threads, 1), channel_timeout=60,
        max_request_body_size=request_guard.MAX_BODY, max_request_header_size=64 * 1024,
        connection_limit=200, ident="personal-expression-explorer",
    )  # fmt: skip


def serve_workers(make_app: Callable[[], Dash], host: str, port: int, workers: int, threads: int) -> None:
    """The production server over several processes (gunicorn, threaded workers): each worker
    builds its own app (nothing is forked half-initialised); a worker that hangs past the timeout
    is replaced, and each is replaced after a bounded number of requests (memory stays flat)."""
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):
        def load_config(self) -> None:
            settings = {
                "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                "workers": workers, "worker_class": "gthread", "threads": threads,
                "timeout": 60, "graceful_timeout": 20, "keepalive": 5,
                "max_requests": 50_000, "max_requests_jitter": 5_000,
                "limit_request_line": 8190, "limit_request_fields": 100, "limit_request_field_size": 16_384,
                "worker_connections": 200, "preload_app": False, "accesslog": None, "loglevel": "warning",
                "proc_name": "personal-expression-explorer", "control_socket_disable": True,
                "post_fork": die_with_master,
            }  # fmt: skip
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self):
            return make_app().server

    Server().run()


def die_with_master(_server, _worker) -> None:
    """gunicorn's post_fork hook: a worker is killed as soon as its master dies, even by SIGKILL
    (otherwise orphaned workers keep the port for seconds and a restarted server cannot bind it).
    The job processes a worker starts are not affected: a forked child does not inherit this."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass  # elsewhere gunicorn's own check stops orphans within a few seconds


if __name__ == "__main__":
    sys.exit(main())
