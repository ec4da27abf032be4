#!/usr/bin/env bash
# The test suite in two pytest phases (README: the test command; .ci/run runs it):
#   1. every test not marked `serial`, in two processes (pytest-xdist, one test file per process at
#      a time, so that a module's fixtures are built once);
#   2. the tests marked `serial`, alone: timing bounds, Ray clusters.
# Every test is in exactly one phase. Arguments go to both phases (a file, -k, -x; not -m). The exit
# code is the first failing phase's; a phase that collects nothing (exit 5) fails the run only when
# the other collected nothing too.
#   bash scripts/pytest.sh [PYTEST ARGS]     PYTEST_WORKERS=1: phase 1 in one process
set -uo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
workers=${PYTEST_WORKERS:-2}
threads=()
if [ "$workers" -gt 1 ]; then
  parallel=(-n "$workers" --dist loadfile --no-loadscope-reorder)  # in the order of tests/conftest.py
  # one math thread per worker (torch, and the processes the tests start): two workers with torch's
  # two threads each oversubscribe two cores, where OpenMP's waiting threads spin (phase 1 took
  # 800 CPU s and 551 s wall so, 548 and 401 with one thread each)
  threads=(env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1)
else
  parallel=(-p no:xdist)
fi
# with no arguments phase 2 collects only the files that name pytest.mark.serial (mark tests so, in
# their file): collecting every file again costs seconds
serial_files=()
[ $# -eq 0 ] && mapfile -t serial_files < <(grep -l "pytest.mark.serial" tests/test_*.py)
"${threads[@]}" "$python" -m pytest "${parallel[@]}" -m "not serial" "$@"
first=$?
"$python" -m pytest -p no:xdist -m serial "$@" "${serial_files[@]}"
second=$?
for rc in $first $second; do
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then exit "$rc"; fi
done
if [ "$first" -eq 5 ] && [ "$second" -eq 5 ]; then exit 5; fi
exit 0
