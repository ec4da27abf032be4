"""Every Python command that README.md and docs/*.md show runs as written from the repository root.

Each documented command line (in a ```bash block or an inline code span) is cut to its program and
leading words, run with `--help`, and every `--flag` it names must appear in that help: a renamed
script, subcommand or option breaks this test instead of a reader's copy-paste.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PYTHON = re.compile(r"^(?:taskset -c \S+ )?(?:\.venv/bin/)?python3? ")
FLAG = re.compile(r"(?<![\w-])--[a-z][\w-]*")


def _bash_lines(text: str) -> list[str]:
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        block = re.sub(r"\\\n\s*", " ", block)  # join continued lines
        for line in block.splitlines():
            line = line.split(" # ")[0].strip()
            if line and not line.startswith("#"):
                lines.extend(part.strip() for part in line.split("&&"))
    return lines


def _inline_spans(text: str) -> list[str]:
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    return [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]


def documented_commands() -> dict[str, list[str]]:
    """Each documented `python ...` line, normalised, with the documents that show it."""
    found: dict[str, list[str]] = {}
    for doc in DOCS:
        text = doc.read_text()
        for line in _bash_lines(text) + _inline_spans(text):
            if PYTHON.match(line):
                found.setdefault(PYTHON.sub("", line), []).append(doc.relative_to(ROOT).as_posix())
    return found


def help_call(command: str) -> tuple[tuple[str, ...], set[str]]:
    """The program and leading words of a documented command (stopping at its first option or
    placeholder), and the flags the command names."""
    words = shlex.split(command.replace("[", " [ "))
    lead, rest = (words[:2], words[2:]) if words[0] == "-m" else (words[:1], words[1:])
    for word in rest:
        if word.startswith(("-", "[")) or word == "...":
            break
        lead.append(word)
    return tuple(lead), set(FLAG.findall(command))


def _calls() -> dict[tuple[str, ...], set[str]]:
    calls: dict[tuple[str, ...], set[str]] = {}
    for command in documented_commands():
        lead, flags = help_call(command)
        calls.setdefault(lead, set()).update(flags)
    return calls


CALLS = _calls()


def test_the_docs_show_commands():
    print(f"\n{len(documented_commands())} documented python commands, {len(CALLS)} distinct calls")
    assert len(CALLS) >= 20
    assert ("benchmarks/bench_stats.py",) in CALLS
    assert ("-m", "compute", "precompute") in CALLS


@pytest.mark.slow
@pytest.mark.parametrize("lead", sorted(CALLS), ids=" ".join)
def test_documented_command_runs_as_written(lead):
    flags = CALLS[lead] - {"--help"}
    result = subprocess.run(
        [sys.executable, *lead, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"python {' '.join(lead)} --help\n{result.stderr[-2000:]}"
    missing = sorted(f for f in flags if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", result.stdout))
    assert not missing, f"python {' '.join(lead)} has no option {missing}"
