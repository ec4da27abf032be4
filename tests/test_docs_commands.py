"""Every Python command that README.md and docs/*.md show runs as written from the repository root.

Each documented command line (in a ```bash block or an inline code span) is cut to its program and
leading words, run with `--help`, and every `--flag` it names must appear in that help: a renamed
script, subcommand or option breaks this test instead of a reader's copy-paste.

Each call runs in a process of its own, as `python ... --help` does, but forked from one helper
interpreter that has imported the heavy libraries (torch, dash, pandas) once: 53 interpreters that
each import torch or dash took most of a minute of the suite.
"""

from __future__ import annotations

import json
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


# The helper: reads one JSON list of arguments a line (as after `python`), forks, and the child runs
# them as the interpreter would (`-m` a module or a script as __main__, sys.path[0] as Python sets
# it) with its output to files, at most TIMEOUT_S seconds; the helper answers with one JSON line.
HELPER = r"""
import contextlib, json, os, runpy, signal, sys, tempfile, traceback
for name in ("torch", "dash", "pandas", "plotly.graph_objects", "scipy.stats"):
    with contextlib.suppress(ImportError):
        __import__(name)
timeout = int(sys.argv[1])
for line in sys.stdin:
    args = json.loads(line)
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        signal.alarm(timeout)
        code = 0
        try:
            if args[0] == "-m":
                sys.argv, sys.path[0] = ["-m", *args[2:]], os.getcwd()
                runpy.run_module(args[1], run_name="__main__", alter_sys=True)
            else:
                sys.argv, sys.path[0] = list(args), os.path.dirname(os.path.realpath(args[0]))
                runpy.run_path(args[0], run_name="__main__")
        except SystemExit as stop:
            if isinstance(stop.code, int) or stop.code is None:
                code = stop.code or 0
            else:
                print(stop.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    texts = []
    for f in (out, err):
        f.seek(0)
        texts.append(f.read().decode(errors="replace"))
        f.close()
    print(json.dumps([os.waitstatus_to_exitcode(status), *texts]), flush=True)
"""
TIMEOUT_S = 120


class HelpRunner:
    """`python ARGS` in a process forked from the helper: (exit code, stdout, stderr)."""

    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-c", HELPER, str(TIMEOUT_S)], cwd=ROOT, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip

    def run(self, args: list[str]) -> tuple[int, str, str]:
        self.process.stdin.write(json.dumps(args) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        assert answer, f"the help runner ended (exit {self.process.poll()})"
        code, out, err = json.loads(answer)
        return code, out, err

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def help_runner():
    runner = HelpRunner()
    yield runner
    runner.close()


def test_the_help_runner_runs_as_python_does(help_runner, tmp_path):
    """What the forked runs stand in for: exit codes, both outputs, argv, sys.path[0], and a
    failing import, as `python` gives them."""
    script = tmp_path / "probe.py"
    script.write_text(
        "import sys\nprint(sys.argv, sys.path[0])\nprint('to stderr', file=sys.stderr)\n"
        "if '--fail' in sys.argv: import no_such_module\nsys.exit(int(sys.argv[-1]))\n"
    )
    for args in ([str(script), "a", "3"], [str(script), "0"], [str(script), "--fail", "0"]):
        plain = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)
        code, out, err = help_runner.run(args)
        assert (code, out) == (plain.returncode, plain.stdout)
        assert err.splitlines()[0] == plain.stderr.splitlines()[0] == "to stderr"
    failed = help_runner.run([str(script), "--fail", "0"])[2]
    assert failed.rstrip().endswith("ModuleNotFoundError: No module named 'no_such_module'")
    plain = subprocess.run([sys.executable, "-m", "compute", "tracks", "--help"], cwd=ROOT,
                           capture_output=True, text=True)  # fmt: skip
    assert help_runner.run(["-m", "compute", "tracks", "--help"]) == (0, plain.stdout, plain.stderr)


@pytest.mark.parametrize("lead", sorted(CALLS), ids=" ".join)
def test_documented_command_runs_as_written(lead, help_runner):
    flags = CALLS[lead] - {"--help"}
    code, out, err = help_runner.run([*lead, "--help"])
    assert code == 0, f"python {' '.join(lead)} --help\n{err[-2000:]}"
    missing = sorted(f for f in flags if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", out))
    assert not missing, f"python {' '.join(lead)} has no option {missing}"
