"""The dashboard's compute strip in headless Chromium, on a copy of the shipped demo store (whose
recipe leaves three cohort genes uncomputed): a gene computed on demand from the page with its
progress and then shown; a cancel that leaves no partial gene; a request refused when the
store's inputs changed; a whole precompute started from the page, the strip advancing as genes
land, the server and the job killed mid-run and the job resumed by the restarted server.

The server runs as `python app.py` in its own process (so it can be killed), on 127.0.0.1 and a
free port, with its own jobs directory.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from compute.jobs import JobBoard
from compute.store import ResultsStore
from compute.store.progress import pid_alive, read_progress
from tests.waiting import answers, search_option, text_of, wait_until

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "demo"
JOB_SECONDS = 240  # one demo gene takes ~15 s on 2 idle cores; margin for a loaded CI machine


class Server:
    """`python app.py` over the given stores with a jobs directory; start, kill, start again."""

    def __init__(self, stores: list[Path], jobs: Path, log: Path):
        from docs.screenshots import free_port

        self.port, self.stores, self.jobs, self.log = free_port(), stores, jobs, log
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # the default server, as `python app.py` starts it: gunicorn, two workers on two cores (fixed
        # here, so that a machine with one core or many runs the same)
        command = [sys.executable, str(ROOT / "app.py"), "--port", str(self.port), "--jobs", str(self.jobs),
                   "--allow-compute", "--device", "cpu", "--workers", "2"]  # fmt: skip
        for store in self.stores:
            command += ["--results", str(store)]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: answers(self.url + "/"), timeout=60)

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
            self.process = None


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    base = tmp_path_factory.mktemp("jobs")
    demo, changed = base / "demo", base / "changed"
    shutil.copytree(DEMO, demo)
    shutil.copytree(DEMO, changed)
    with open(changed / "inputs" / "expression.tsv", "a") as handle:  # the cohort changed since
        handle.write("\n")
    return demo, changed


@pytest.fixture(scope="module")
def site(stores, tmp_path_factory):
    from docs.screenshots import chromium

    jobs = tmp_path_factory.mktemp("board")
    server = Server(list(stores), jobs, jobs / "server.log")
    server.start()
    try:
        with chromium() as driver:
            driver.set_page_load_timeout(60)
            yield {"server": server, "driver": driver, "board": JobBoard(jobs), "demo": stores[0]}
    finally:
        server.kill()
        for job in JobBoard(jobs).jobs():  # nothing left running after the tests
            if job.pid and pid_alive(job.pid):
                os.killpg(job.pid, signal.SIGKILL)


def click(driver, element_id):
    wait_until(lambda: driver.execute_script(
        "const e = document.getElementById(arguments[0]);"
        "if (!e || e.offsetParent === null) return false; e.click(); return true;", element_id,
    ))  # fmt: skip


def held_back(store: Path) -> dict[str, str]:
    """gene name -> gene id of the genes the demo store leaves uncomputed."""
    import pandas as pd

    manifest = json.loads((store / "manifest.json").read_text())
    cohort = pd.read_csv(store / manifest["inputs"]["genes"]["path"], sep="\t", dtype=str)
    rows = cohort.set_index("gene_id").loc[manifest["held_back"]]
    return dict(zip(rows["gene_name"], rows.index, strict=True))


def no_partial_parts(store: Path, gene_id: str) -> bool:
    return not [p for p in (store / "parts").iterdir() if p.name.startswith(f".{gene_id}.")]


@pytest.mark.slow
def test_a_gene_computed_on_demand_from_the_page(site):
    driver, demo = site["driver"], site["demo"]
    genes = held_back(demo)
    gene_id = genes["MIR1286"]
    driver.get(f"{site['server'].url}/gene/MIR1286?dataset=demo")
    wait_until(lambda: "not computed yet" in (text_of(driver, "jobs-pending-text") or ""))
    assert "not computed yet" in text_of(driver, "app-message")
    # the search offers it, greyed and marked
    started = time.monotonic()
    click(driver, "jobs-compute")
    stages = set()

    def landed():
        stages.add(text_of(driver, "jobs-list") or "")
        return text_of(driver, "card-gene-name") == "MIR1286"

    wait_until(landed, timeout=JOB_SECONDS, every=0.3)
    seconds = time.monotonic() - started
    print(f"\nMIR1286 computed on demand and shown in {seconds:.1f} s")
    seen = " ".join(stages)
    assert "running" in seen and any(s in seen for s in ("forwards", "ISM", "haplotypes", "loading"))
    # the job ends by finalizing the store: its tables hold the gene, no column is provisional
    wait_until(lambda: "done" in (text_of(driver, "jobs-list") or ""), timeout=JOB_SECONDS)
    store = ResultsStore(demo)
    assert gene_id in set(store.genes()["gene_id"]) and not store.live() and not store.provisional
    assert gene_id in set(pd.read_parquet(demo / "genes.parquet", columns=["gene_id"])["gene_id"])
    assert "r (predicted vs observed)" in text_of(driver, "card-content")
    assert no_partial_parts(demo, gene_id)


def test_search_marks_genes_not_computed(site):
    driver = site["driver"]
    driver.get(f"{site['server'].url}/?dataset=demo")
    option = search_option(driver, "SCARF", "SCARF2")
    assert "not computed" in option.text
    assert driver.execute_script("return arguments[0].querySelector('.not-computed') !== null", option)


@pytest.mark.slow
def test_cancel_leaves_no_partial_gene(site):
    driver, demo, board = site["driver"], site["demo"], site["board"]
    gene_id = held_back(demo)["SCARF2"]
    driver.get(f"{site['server'].url}/gene/SCARF2?dataset=demo")
    click(driver, "jobs-compute")
    job = wait_until(lambda: next((j for j in board.jobs(demo) if j.genes == [gene_id]), None))
    wait_until(lambda: board.get(job.id).progress.get("stage") in ("forwards", "ISM"), timeout=JOB_SECONDS)
    pid = board.get(job.id).pid
    cancel = f'{{"index":"{job.id}","type":"jobs-cancel"}}'
    click(driver, cancel)
    wait_until(lambda: board.get(job.id).state == "cancelled")
    wait_until(lambda: not pid_alive(pid), timeout=30)
    assert not (demo / "parts" / gene_id).exists() and no_partial_parts(demo, gene_id)
    wait_until(lambda: "cancelled" in (text_of(driver, "jobs-list") or ""))
    assert "not computed yet" in text_of(driver, "jobs-pending-text")


def test_changed_inputs_are_refused_with_a_clear_message(site):
    driver = site["driver"]
    driver.get(f"{site['server'].url}/gene/SMPD4P1?dataset=changed")
    click(driver, "jobs-compute")
    message = wait_until(lambda: text_of(driver, "jobs-feedback"))
    assert "Cannot compute here" in message and "expression" in message and "changed" in message
    assert not [j for j in site["board"].jobs(site["demo"].parent / "changed")]


@pytest.mark.slow
def test_precompute_from_the_page_survives_a_server_restart(site):
    driver, demo, board, server = site["driver"], site["demo"], site["board"], site["server"]
    driver.get(f"{server.url}/gene/DGCR8?dataset=demo")
    wait_until(lambda: text_of(driver, "card-gene-name") == "DGCR8")
    click(driver, "jobs-start")
    job = wait_until(lambda: next((j for j in board.jobs(demo) if j.kind == "precompute"), None))
    # the strip follows the run: 23 genes were there, one more lands
    wait_until(lambda: (read_progress(demo) or {}).get("done", 0) >= 24, timeout=JOB_SECONDS)
    wait_until(lambda: "Precompute running: 24 of 25 genes done" in (text_of(driver, "jobs-run") or ""))
    # the server and the job die together (a machine restart); the new server resumes the job
    running = board.get(job.id)
    server.kill()
    os.killpg(running.pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(running.pid), timeout=30)
    assert running.state == "running" and read_progress(demo)["state"] == "stopped"
    server.start()
    wait_until(lambda: board.get(job.id).state == "done", timeout=JOB_SECONDS)
    assert board.get(job.id).attempts == 2
    store = ResultsStore(demo)
    assert store.manifest["finalized"] and not store.provisional and len(store.genes()) == 25
    driver.get(f"{server.url}/gene/SMPD4P1?dataset=demo")
    wait_until(lambda: text_of(driver, "card-gene-name") == "SMPD4P1", timeout=30)
    wait_until(lambda: "Precompute finished: 25 of 25" in (text_of(driver, "jobs-run") or ""))
    assert "provisional" not in text_of(driver, "jobs-run")
