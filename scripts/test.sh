#!/usr/bin/env bash
# Install everything the project needs into .venv and run the whole test suite:
# lint, types, the tests on SQLite, then the same tests on PostgreSQL + Redis.
# Usage: bash scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[dev]"

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy (strict)"
.venv/bin/mypy

echo "== pytest on SQLite"
AIPOD_TEST_BACKEND=sqlite .venv/bin/pytest "$@"

echo "== pytest on PostgreSQL + Redis"
AIPOD_TEST_BACKEND=postgresql .venv/bin/pytest "$@"
