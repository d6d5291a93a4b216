#!/usr/bin/env bash
# Install everything the project needs into .venv and run the whole test suite:
# lint, types, the tests on SQLite, then the same tests on PostgreSQL + Redis.
# Usage: bash scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
step() { echo "== [$((SECONDS - started)) s] $*"; }

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  step "creating .venv"
  "$PYTHON" -m venv .venv
fi
step "pip: upgrading pip"
.venv/bin/python -m pip install -q --upgrade pip
step "pip: installing the project and its dev tools into .venv (about a minute the first time)"
.venv/bin/python -m pip install --progress-bar on -e ".[dev]"

# The browser test drives Debian's Chromium (never a downloaded browser); a Chinese font
# makes its screenshots legible. Installed here, visibly, rather than inside pytest.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  if ! command -v fc-list >/dev/null || [ -z "$(fc-list :lang=zh 2>/dev/null)" ]; then
    missing+=(fonts-wqy-microhei)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    step "apt-get: installing ${missing[*]} for the browser test"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}" \
      || echo "   (could not install ${missing[*]}: the browser test will skip or fail)"
  fi
fi

step "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
step "mypy (strict)"
.venv/bin/mypy

step "pytest on SQLite"
AIPOD_TEST_BACKEND=sqlite .venv/bin/pytest "$@"

step "pytest on PostgreSQL + Redis (their tests skip when they are not reachable)"
AIPOD_TEST_BACKEND=postgresql .venv/bin/pytest "$@"
step "done"
