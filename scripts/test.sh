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

# The two passes run at the same time, and each runs its tests in several processes
# (pytest-xdist; AIPOD_TEST_WORKERS per pass, 0 = all in one process): most of a test's
# time is spent waiting on servers, sockets, subprocesses and PostgreSQL, so two cores
# finish much sooner. Each test process has its own Redis database (AIPOD_TEST_REDIS_DB,
# default 1, plus the worker's number) and picks server ports no other one holds
# (tests/conftest.py, tests/helpers.py). Each pass writes its own log, printed whole when
# it ends. AIPOD_TEST_SERIAL=1 runs the passes one after the other instead, with live output.
workers=${AIPOD_TEST_WORKERS:-3}
xdist=(-n "$workers" --dist loadgroup)
if [ "${AIPOD_TEST_SERIAL:-0}" = 1 ]; then
  step "pytest on SQLite ($workers test processes)"
  AIPOD_TEST_BACKEND=sqlite .venv/bin/pytest "${xdist[@]}" "$@"
  step "pytest on PostgreSQL + Redis ($workers test processes; their tests skip when they are not reachable)"
  AIPOD_TEST_BACKEND=postgresql .venv/bin/pytest "${xdist[@]}" "$@"
  step "done"
  exit 0
fi

logs=$(mktemp -d)
# Each pass's CPU seconds (its test processes and the servers, browsers and node processes
# they start; not PostgreSQL's or Redis's own) are printed after its log, with GNU time.
timed=()
[ -x /usr/bin/time ] && timed=(/usr/bin/time -f "CPU: %U s user + %S s system; wall: %e s")
step "pytest on SQLite and on PostgreSQL + Redis, side by side, $workers test processes each (PostgreSQL + Redis tests skip when they are not reachable); logs in $logs"
AIPOD_TEST_BACKEND=sqlite "${timed[@]}" .venv/bin/pytest -p no:cacheprovider "${xdist[@]}" "$@" >"$logs/sqlite.log" 2>&1 &
sqlite_pid=$!
AIPOD_TEST_BACKEND=postgresql "${timed[@]}" .venv/bin/pytest -p no:cacheprovider "${xdist[@]}" "$@" >"$logs/postgresql.log" 2>&1 &
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
