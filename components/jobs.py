"""The compute strip: a store's precompute as it runs (genes done / failed / left, rate, ETA,
device, when and by which command), a gene of the cohort computed on demand ("Compute this
gene"), the jobs of this store with their progress and a cancel button, and, for a server
started with --allow-compute, start / stop of a whole precompute.

The page never names a file: jobs act on the store of a dataset given on the server's command
line, with the inputs its manifest records (compute/jobs, compute/run/jobs.py). The strip polls
every POLL_MS; when the store changed, `jobs-version` changes and the views over all genes
redraw (a gene that landed shows up in search, volcano and histograms within seconds).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update

from components import auth
from components.data import Datasets
from components.selection import Selection, dataset_name
from compute.jobs import Job, JobBoard
from compute.store.inputs import input_problems
from compute.store.priority import ask_first
from compute.store.progress import read_progress, run_active

log = logging.getLogger(__name__)
VIEW = "jobs"
POLL_MS = 1000  # a poll costs well under a millisecond of server time when nothing changed
SHOWN_JOBS = 5
ACTION_OUTPUT = f"{VIEW}-feedback.children"  # the callback that starts and stops jobs: the compute role's


@dataclass
class ComputeSettings:
    """What the server allows: jobs at all (a board), whole precomputes, and on which device."""

    board: JobBoard | None
    allow_precompute: bool = False
    device: str = "auto"


def layout() -> html.Section:
    return html.Section(
        id=VIEW,
        className="jobs-strip",
        children=[
            dcc.Interval(id=f"{VIEW}-poll", interval=POLL_MS),
            dcc.Store(id=f"{VIEW}-version"),
            html.Div(id=f"{VIEW}-run", className="jobs-run"),
            html.Div(
                id=f"{VIEW}-pending",
                className="jobs-pending hidden",
                children=[
                    html.Span(id=f"{VIEW}-pending-text"),
                    html.Button("Compute this gene", id=f"{VIEW}-compute", n_clicks=0),
                ],
            ),
            html.Div(id=f"{VIEW}-feedback", className="jobs-feedback", role="status"),
            html.Div(id=f"{VIEW}-list", className="jobs-list"),
            html.Div(
                id=f"{VIEW}-controls",
                className="jobs-controls hidden",
                children=[
                    html.Button("Start / resume precompute", id=f"{VIEW}-start", n_clicks=0),
                    html.Button("Stop precompute", id=f"{VIEW}-stop", n_clicks=0),
                ],
            ),
        ],
    )


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def run_summary(datasets: Datasets, dataset: str) -> list:
    """The store's last precompute (from its progress record), failed genes and provisional note."""
    store = datasets.store(dataset)
    parts: list = []
    run = read_progress(store.path)
    if run:
        state = run.get("state", "")
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(run.get("started") or 0)))
        text = (f"Precompute {state}: {run.get('done', 0):,} of {run.get('planned', 0):,} genes done, "
                f"{run.get('failed', 0):,} failed, {run.get('left', 0):,} left")  # fmt: skip
        if state == "running":
            rate = run.get("rate_per_hour")
            text += f" · {rate:,.0f} genes/h · ETA {_minutes(run.get('eta_s'))}" if rate else " · starting"
        text += f" · device {run.get('device')} · started {started} by {str(run.get('command'))[:160]}"
        parts.append(html.Div(text, id=f"{VIEW}-run-text", className=f"jobs-run-text state-{state}"))
        if run.get("planned"):
            parts.append(html.Progress(value=str(run.get("done", 0)), max=str(run["planned"])))
    failed = datasets.failures(dataset)
    if failed:
        items = [html.Li(f"{gene}: {error[:300]}") for gene, error in list(failed.items())[:20]]
        parts.append(html.Details([html.Summary(f"{len(failed):,} genes failed"), html.Ul(items)]))
    if datasets.provisional(dataset):
        n = len(datasets.genes(dataset))
        parts.append(html.Div(
            f"q (BH) and significance are provisional: over the {n:,} genes done so far; final once "
            "the store is finalized (a precompute with nothing left to compute does that).",
            id=f"{VIEW}-provisional", className="jobs-provisional",
        ))  # fmt: skip
    return parts


def job_row(job: Job, may_cancel: bool = True) -> html.Div:
    progress = job.progress or {}
    what = f"compute {', '.join(job.genes)}" if job.kind == "gene" else "precompute of the cohort"
    stage = str(progress.get("stage", ""))
    text = f"{what}: {job.state}" + (f" · {stage}" if stage and stage != job.state else "")
    if job.state == "running" and progress.get("eta_s") is not None:
        text += f" · ETA {_minutes(progress['eta_s'])}"
    if job.error:
        text += f" · {job.error[:400]}"
    children = [html.Span(text, className="jobs-job-text")]
    if job.active:
        children.append(html.Progress(value=f"{float(progress.get('fraction') or 0):.3f}", max="1"))
    if job.active and may_cancel:
        children.append(html.Button("Cancel", id={"type": f"{VIEW}-cancel", "index": job.id}, n_clicks=0,
                                    className="small"))  # fmt: skip
    return html.Div(children, className=f"jobs-job state-{job.state}", id=f"{VIEW}-job-{job.id}")


def request_gene(settings: ComputeSettings, datasets: Datasets, dataset: str, gene_id: str) -> str:
    """Compute a gene of the cohort: taken next by a precompute running on the store, else a job."""
    store = datasets.store(dataset)
    problems = input_problems(store, full=False)
    if problems:
        return "Cannot compute here: " + "; ".join(problems)
    if run_active(store.path):
        ask_first(store.path, gene_id)
        auth.record("job-priority", kind="gene", dataset=dataset, genes=[gene_id])
        return f"{gene_id} goes next in the precompute running on this store."
    job = settings.board.submit("gene", store.path, [gene_id], device=settings.device)
    auth.record("job-start", job=job.id, kind="gene", dataset=dataset, genes=[gene_id])
    return f"{gene_id}: job {job.id} {job.state}."


def register(app: Dash, datasets: Datasets, settings: ComputeSettings | None = None) -> None:
    settings = settings or ComputeSettings(board=None)
    board = settings.board

    @app.callback(
        Output(f"{VIEW}-version", "data"),
        Output(f"{VIEW}-run", "children"),
        Output(f"{VIEW}-list", "children"),
        Output(f"{VIEW}-controls", "className"),
        Input(f"{VIEW}-poll", "n_intervals"),
        Input("app-dataset", "data"),
        State(f"{VIEW}-version", "data"),
    )
    def poll(_n, dataset, version):
        dataset = dataset_name(dataset, datasets)
        if dataset is None:
            return no_update, no_update, no_update, no_update
        if board is not None:
            board.tick()
        tag = datasets.version_tag(dataset, look=True)  # a page learns of a change from its poll
        jobs = board.jobs(datasets.store(dataset).path)[-SHOWN_JOBS:] if board is not None else []
        allowed = board is not None and settings.allow_precompute and auth.may("compute")
        controls = "jobs-controls" if allowed else "jobs-controls hidden"
        return (
            tag if tag != version else no_update,
            run_summary(datasets, dataset),
            [job_row(job, auth.may("compute")) for job in reversed(jobs)],
            controls,
        )

    @app.callback(
        Output(f"{VIEW}-pending", "className"),
        Output(f"{VIEW}-pending-text", "children"),
        Input("app-selection", "data"),
    )
    def pending(selection):
        sel = Selection.from_dict(selection, datasets)
        if sel is None or sel.pending is None:
            return "jobs-pending hidden", ""
        if board is None or not auth.may("compute"):  # no button for those who may not press it
            return "jobs-pending no-jobs", f"{sel.pending} is in the cohort but not computed yet."
        return "jobs-pending", f"{sel.pending} is in the cohort but not computed yet."

    @app.callback(
        Output(f"{VIEW}-feedback", "children"),
        Input(f"{VIEW}-compute", "n_clicks"),
        Input(f"{VIEW}-start", "n_clicks"),
        Input(f"{VIEW}-stop", "n_clicks"),
        Input({"type": f"{VIEW}-cancel", "index": ALL}, "n_clicks"),
        State("app-selection", "data"),
        prevent_initial_call=True,
    )
    def act(_compute, _start, _stop, _cancels, selection):
        sel = Selection.from_dict(selection, datasets)
        trigger = ctx.triggered_id
        if sel is None or trigger is None or not ctx.triggered[0]["value"]:
            return no_update  # buttons appearing, not clicked
        if board is None:
            return "This server runs no jobs."
        if not auth.may("compute"):  # also refused before the callback runs (components/auth.py)
            return "Your role does not start or stop jobs."
        store = datasets.store(sel.dataset)
        if trigger == f"{VIEW}-compute":
            if sel.pending is None:
                return no_update
            return request_gene(settings, datasets, sel.dataset, sel.pending)
        if isinstance(trigger, dict):
            job = board.get(str(trigger.get("index", ""))[:32])
            if job is None or Path(job.store) != Path(store.path).resolve():
                return no_update  # only jobs of the dataset shown
            board.cancel(job.id)
            auth.record("job-cancel", job=job.id, kind=job.kind, dataset=sel.dataset)
            return f"Job {job.id} cancelled."
        if not settings.allow_precompute:
            return "Start the server with --allow-compute to run whole precomputes from the page."
        if trigger == f"{VIEW}-start":
            problems = input_problems(store, full=False)
            if problems:
                return "Cannot start: " + "; ".join(problems)
            if run_active(store.path):
                return "A precompute is running on this store already."
            job = board.submit("precompute", store.path, device=settings.device)
            auth.record("job-start", job=job.id, kind="precompute", dataset=sel.dataset)
            return f"Precompute job {job.id} {job.state}."
        stopped = [j for j in board.jobs(store.path) if j.kind == "precompute" and j.active]
        for job in stopped:
            board.cancel(job.id)
            auth.record("job-cancel", job=job.id, kind=job.kind, dataset=sel.dataset)
        return f"Stopped {len(stopped)} precompute job(s)." if stopped else "No precompute job runs here."
