"""Waiting in tests on a condition, never for a fixed time: `wait_until` polls the condition until it
holds or a deadline passes, and then fails with what it waited for and the last value it saw."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], what: str | None = None, *, timeout: float = 30.0,
               every: float = 0.1) -> T:  # fmt: skip
    """The first truthy value of `condition()`, called every `every` seconds for up to `timeout` seconds.

    The condition is called once more after the deadline has passed (a slow poll never fails a
    condition that holds by then); if it still does not hold: AssertionError naming `what` (by
    default the condition's source) and its last value.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            what = what or _source(condition)
            raise AssertionError(f"waited {timeout:g} s for {what}; last value: {value!r}")
        time.sleep(every)


def _source(condition: Callable) -> str:
    try:
        return " ".join(inspect.getsource(condition).split())
    except (OSError, TypeError):
        return repr(condition)


def text_of(driver, element_id: str) -> str | None:
    """Text of an element read in one script call (Dash may replace the node at any moment)."""
    return driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.innerText : null;", element_id
    )


def answers(url: str) -> bool:
    """Whether a server answers `url` with 200 (for waiting on a server started by a test)."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def search_option(driver, typed: str, shown: str):
    """Open the gene search of the page in `driver`, type `typed`, and wait for the option whose
    text holds `shown` (a browser test's search, step by step as a person does it)."""
    wait_until(lambda: driver.find_elements("id", "search-dropdown"))
    driver.find_element("id", "search-dropdown").click()
    box = wait_until(lambda: driver.find_elements("css selector", "input.dash-dropdown-search"))[0]
    box.send_keys(typed)
    options = wait_until(
        lambda: [o for o in driver.find_elements("css selector", "[role=option]") if shown in o.text]
    )
    return options[0]
