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

# The two passes run at the same time (most of a test's time is spent waiting on servers,
# sockets and subprocesses, so two cores finish both in little more than the time of one);
# each writes its own log, printed whole when it ends. AIPOD_TEST_SERIAL=1 runs them one
# after the other instead, with live output.
if [ "${AIPOD_TEST_SERIAL:-0}" = 1 ]; then
  step "pytest on SQLite"
  AIPOD_TEST_BACKEND=sqlite .venv/bin/pytest "$@"
  step "pytest on PostgreSQL + Redis (their tests skip when they are not reachable)"
  AIPOD_TEST_BACKEND=postgresql .venv/bin/pytest "$@"
  step "done"
  exit 0
fi

logs=$(mktemp -d)
step "pytest on SQLite and on PostgreSQL + Redis, side by side (PostgreSQL + Redis tests skip when they are not reachable); logs in $logs"
AIPOD_TEST_BACKEND=sqlite .venv/bin/pytest -p no:cacheprovider "$@" >"$logs/sqlite.log" 2>&1 &
sqlite_pid=$!
AIPOD_TEST_BACKEND=postgresql .venv/bin/pytest -p no:cacheprovider "$@" >"$logs/postgresql.log" 2>&1 &
pg_pid=$!
status=0
sqlite_rc=0; wait "$sqlite_pid" || sqlite_rc=$?
step "pytest on SQLite ended (exit $sqlite_rc):"
cat "$logs/sqlite.log"
pg_rc=0; wait "$pg_pid" || pg_rc=$?
step "pytest on PostgreSQL + Redis ended (exit $pg_rc):"
cat "$logs/postgresql.log"
[ "$sqlite_rc" = 0 ] && [ "$pg_rc" = 0 ] || status=1
step "done: SQLite exit $sqlite_rc, PostgreSQL + Redis exit $pg_rc"
exit "$status"
