"""The README's two commands stay true: CI runs exactly the README's test command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    commands = []
    for block in blocks[:2]:
        lines = [ln for ln in block.splitlines() if ln.strip() and not ln.startswith("#")]
        commands.append(lines[0])
    return commands


def test_readme_opens_with_two_commands():
    start, test = readme_commands()
    assert "app.py" in start
    assert "pytest" in test


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert readme_commands()[1] in ci


def test_ruff_clean():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", str(ROOT)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def _tracked_text_files() -> list[Path]:
    import subprocess

    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    files = []
    for name in filter(None, names):
        path = ROOT / name
        if path.is_file() and path.stat().st_size < 2_000_000 and b"\0" not in path.read_bytes()[:8192]:
            files.append(path)
    return files


def _escapes(base: Path, relative: str) -> bool:
    import os

    return not Path(os.path.normpath(base / relative)).is_relative_to(ROOT)


def paths_above_root() -> list[str]:
    """Places where a tracked file names a path outside the checkout: a relative `../` path that
    climbs above the repository root from the file's folder, a `Path(__file__)` parent chain longer
    than the file's depth, the root's own parent, or a shared folder beside the checkout."""
    relative = re.compile(r"(?:(?<=^)|(?<=[\s'\"`(\[]))((?:\.\./)+[\w./-]*)", re.M)
    file_parents = re.compile(r"Path\(__file__\)\.resolve\(\)((?:\.parent)+|\.parents\[(\d+)\])")
    found = []
    for path in _tracked_text_files():
        if path == Path(__file__).resolve():
            continue  # this file names such paths to test the check
        text = path.read_text(errors="replace")
        name = path.relative_to(ROOT).as_posix()
        depth = len(path.relative_to(ROOT).parts) - 1
        for match in relative.finditer(text):
            if _escapes(path.parent, match.group(1)):
                found.append(f"{name}: {match.group(1)}")
        for match in file_parents.finditer(text):
            up = int(match.group(2)) + 1 if match.group(2) else match.group(1).count(".parent")
            if up - 1 > depth:
                found.append(f"{name}: {match.group(0)}")
        for match in re.finditer(r"ROOT\.parent\b|\bshared/published\b|/work/|/root/", text):
            found.append(f"{name}: {match.group(0)}")
    return found


def test_no_tracked_file_names_a_path_above_the_root():
    assert paths_above_root() == []


def test_the_path_check_finds_what_it_is_for():
    base = ROOT / "tests"
    assert _escapes(base, "../../shared/published")
    assert not _escapes(base, "../data/published/source")
    assert not _escapes(ROOT / "compute" / "demo", "../../data")


def test_the_suite_runs_every_test_in_one_of_two_phases_and_fails_on_either(tmp_path):
    """scripts/pytest.sh (the README's test command): the tests not marked serial, then the serial
    ones; its exit code is the first failing phase's, and exit 5 (nothing collected) only when
    neither phase collected a test. A stand-in for python records each phase's arguments."""
    import os
    import subprocess

    fake = tmp_path / "python"
    fake.write_text(
        '#!/usr/bin/env bash\necho "threads=${OMP_NUM_THREADS:-} $*" >> "$CALLS"\n'
        'case "$*" in *"not serial"*) exit "$FIRST" ;; *) exit "$SECOND" ;; esac\n'
    )
    fake.chmod(0o755)
    # phase 1's two workers get one math thread each; phase 2 runs with what the caller has
    environ = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    cases = {(0, 0): 0, (1, 0): 1, (0, 1): 1, (2, 1): 2, (5, 0): 0, (0, 5): 0, (5, 1): 1, (5, 5): 5}
    for (first, second), expected in cases.items():
        calls = tmp_path / f"calls-{first}-{second}"
        env = {**environ, "PYTHON": str(fake), "CALLS": str(calls), "FIRST": str(first),
               "SECOND": str(second)}  # fmt: skip
        result = subprocess.run(["bash", "scripts/pytest.sh", "-x"], cwd=ROOT, env=env)
        assert result.returncode == expected, (first, second)
        assert calls.read_text().splitlines() == [
            "threads=1 -m pytest -n 2 --dist loadfile --no-loadscope-reorder -m not serial -x",
            "threads= -m pytest -p no:xdist -m serial -x",
        ]
    calls = tmp_path / "calls"
    env = {**environ, "PYTHON": str(fake), "CALLS": str(calls), "FIRST": "0", "SECOND": "0"}
    assert subprocess.run(["bash", "scripts/pytest.sh"], cwd=ROOT, env=env).returncode == 0
    serial_phase = calls.read_text().splitlines()[1].split()[1:]
    assert serial_phase[:6] == ["-m", "pytest", "-p", "no:xdist", "-m", "serial"]
    assert {"tests/test_live_updates.py", "tests/test_ray_cluster.py"} <= set(serial_phase[6:])
    assert "scripts/pytest.sh" in readme_commands()[1]
