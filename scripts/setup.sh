#!/usr/bin/env bash
# Set up the project on a fresh Debian machine with Python 3.11.
#   bash scripts/setup.sh          runtime: .venv with requirements.txt
#   bash scripts/setup.sh --test   also Debian test tools (bcftools, tabix, chromium),
#                                  requirements-dev.txt and the Debian example data
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

debian_packages=(python3-venv)
[ $want_test = 1 ] && debian_packages+=(bcftools tabix chromium chromium-driver)
missing=()
for p in "${debian_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
requirements=requirements.txt
[ $want_test = 1 ] && requirements=requirements-dev.txt
.venv/bin/python -m pip install -q --disable-pip-version-check -r "$requirements"

[ $want_test = 1 ] && bash data/fetch_debian_data.sh
exit 0
