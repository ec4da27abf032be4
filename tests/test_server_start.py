"""A server that is ready when it answers: the page's scripts are served by a process that has not
answered any request yet, however many requests race its first one, and `python app.py` with two
workers opens its port only once it can serve a full page."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from app import DEFAULT_STORES, create_app
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
DEMO = DEFAULT_STORES[1]


def page_scripts(html: str) -> list[str]:
    return re.findall(r'<script src="(/_dash-component-suites/[^"]+)"', html)


def test_the_first_requests_of_a_new_process_all_get_the_page_scripts():
    """A browser asks for the page's scripts at once; Dash marked its set-up done before it had
    listed them, so the racing requests got 404 (a blank page) until the app set itself up before
    serving (app.py set_up_before_serving)."""
    scripts = page_scripts(create_app([DEMO]).server.test_client().get("/").get_data(as_text=True))
    assert len(scripts) >= 5
    for _ in range(3):  # fresh apps, no request before these
        assert race(create_app([DEMO]), scripts * 2) == [200] * len(scripts) * 2


def race(app, paths: list[str]) -> list[int]:
    """The status of each path, all asked for at once, each from its own thread."""
    start = threading.Barrier(len(paths))
    codes: list[int] = []

    def fetch(path: str) -> None:
        client = app.server.test_client()
        start.wait()
        codes.append(client.get(path).status_code)

    threads = [threading.Thread(target=fetch, args=(p,)) for p in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


def test_two_workers_answer_only_once_they_can_serve_a_full_page(tmp_path):
    """From its first answer, each of the server's first requests (page, layout, dependencies,
    every script) gets 200, whichever worker takes it."""
    from docs.screenshots import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--results", str(DEMO),
               "--no-jobs", "--workers", "2", "--jobs", str(tmp_path / "jobs")]  # fmt: skip
    with open(tmp_path / "server.log", "wb") as log:
        server = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        page = wait_until(lambda: fetch(url + "/"), timeout=120)
        paths = ["/_dash-layout", "/_dash-dependencies", *page_scripts(page)] * 4
        codes: list[int] = []
        threads = [threading.Thread(target=lambda p=p: codes.append(status(url + p))) for p in paths]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert codes == [200] * len(paths)
    finally:
        server.terminate()
        server.wait(timeout=30)


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return None


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
