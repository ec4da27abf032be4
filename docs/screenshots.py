"""Screenshots of every dashboard view, taken in headless Chromium.

    .venv/bin/python docs/screenshots.py [--results DIR ...] [--gene DDX11] [--out docs/screenshots]
    .venv/bin/python docs/screenshots.py --models RTN4R demo     # the models view on the demo stores

Also the browser tests' toolbox: `serve(app)` runs the app on 127.0.0.1 and a
free port in a thread, `chromium(download_dir)` starts Debian's chromium via
chromedriver with a fresh profile and nothing reaching the network.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PANELS = [
    "card", "volcano", "expression", "ism_eqtl", "locus", "tss_hist", "genotype", "ism_logo", "sensitivity",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(app) -> Iterator[str]:
    """Serve a Dash app on 127.0.0.1 in a background thread; yields its base URL."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = make_server("127.0.0.1", free_port(), app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@contextlib.contextmanager
def chromium(download_dir: Path | None = None, width: int = 1440, height: int = 1000):
    """Headless Chromium via chromedriver, fresh profile, browser console logs readable."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        for flag in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-unsafe-swiftshader",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
        ]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        if download_dir is not None:
            options.add_experimental_option(
                "prefs",
                {"download.default_directory": str(download_dir), "download.prompt_for_download": False},
            )
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            if download_dir is not None:  # headless mode needs downloads allowed explicitly
                driver.execute_cdp_cmd(
                    "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)}
                )
            yield driver
        finally:
            driver.quit()


def wait_for_figures(driver, timeout: float = 30) -> None:
    """Wait until Dash has no callback in flight and every graph has drawn."""
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d):
        return d.execute_script(
            "const busy = document.querySelector('[data-dash-is-loading=\"true\"]');"
            "const graphs = document.querySelectorAll('.dash-graph');"
            "const drawn = document.querySelectorAll('.dash-graph .main-svg');"
            "return !busy && graphs.length > 0 && drawn.length >= graphs.length;"
        )

    WebDriverWait(driver, timeout, poll_frequency=0.1).until(ready)


def wait_for_paint(driver) -> None:
    """Until the browser has painted twice more: what was drawn (WebGL traces, a scroll) is on screen."""
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "requestAnimationFrame(() => requestAnimationFrame(() => done(true)));"
    )


def take_screenshots(
    driver, base_url: str, gene: str, out_dir: Path, dataset: str | None = None
) -> list[Path]:
    """Open the gene's page and save one PNG of the whole page and one per panel."""
    out_dir.mkdir(parents=True, exist_ok=True)
    query = f"?dataset={dataset}" if dataset else ""
    driver.get(f"{base_url}/gene/{gene}{query}")
    wait_for_figures(driver)
    wait_for_paint(driver)
    saved = []
    page = out_dir / "dashboard.png"
    driver.save_screenshot(str(page))
    saved.append(page)
    for panel in PANELS:
        element = driver.find_element("id", f"{panel}-panel")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
        wait_for_paint(driver)
        path = out_dir / f"{panel}.png"
        element.screenshot(str(path))
        saved.append(path)
    return saved


def take_models_screenshot(driver, base_url: str, gene: str, out_dir: Path, dataset: str) -> Path:
    """Open the gene's page of `dataset` and save the models view (it compares the dataset with the
    first other store of its cohort) as models.png."""
    out_dir.mkdir(parents=True, exist_ok=True)
    driver.set_window_size(1440, 1400)  # the panel is tall: room for it below the sticky top bar
    driver.get(f"{base_url}/gene/{gene}?dataset={dataset}")
    wait_for_figures(driver)
    element = driver.find_element("id", "models-panel")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    wait_for_paint(driver)
    path = out_dir / "models.png"
    element.screenshot(str(path))
    return path


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    from app import create_app, default_store_paths

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", action="append", metavar="DIR")
    parser.add_argument("--gene", default="DDX11")
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument(
        "--models", nargs=2, metavar=("GENE", "DATASET"),
        help="the models view of GENE in DATASET instead (docs/screenshots/models.png: RTN4R demo)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    app = create_app(args.results or default_store_paths())
    with serve(app) as url, chromium() as driver:
        if args.models:
            paths = [take_models_screenshot(driver, url, *args.models, Path(args.out))]
        else:
            paths = take_screenshots(driver, url, args.gene, Path(args.out), args.dataset)
        for path in paths:
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
