"""Rewrite README.md's error-code table from aipod_api/core/errors.py ERROR_CODES.

Usage: .venv/bin/python scripts/error_table.py   (tests/core/test_error_codes.py checks it)
"""

from __future__ import annotations

import re
from pathlib import Path

from aipod_api.core.errors import ERROR_CODES

README = Path(__file__).resolve().parents[1] / "README.md"
HEADER = "| error | status | meaning |\n|---|---|---|\n"


def main() -> None:
    text = README.read_text(encoding="utf-8")
    rows = "".join(f"| `{c}` | {s} | {d} |\n" for c, (s, d) in ERROR_CODES.items())
    pattern = re.compile(re.escape(HEADER) + r"(?:\|[^\n]*\n)*")
    new, n = pattern.subn(lambda _m: HEADER + rows, text, count=1)
    if n != 1:
        raise SystemExit("README.md has no error-code table")
    README.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    main()
