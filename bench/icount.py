"""Instructions per request, counted by valgrind: a load-independent in-process measure.

    python bench/icount.py --db DATASET [--tree NAME=PATH ...] [--only GET] [--n 200]

On a busy shared machine CPU time moves with the other jobs (caches, frequency, the
sibling hyperthread); the number of instructions executed does not. For each tree
(PATH put first on PYTHONPATH; empty: this tree) one run of `bench/inproc.py --bare`
under `valgrind --tool=callgrind --dump-before=getppid` calls each endpoint N times
after a warm-up, between two `os.getppid()` markers, with no background threads and the
clocks stopped (so nothing depends on how slowly valgrind runs: two runs agree to a few
hundred instructions in 12 billion). Valgrind runs Python ~50× slower: a run takes a few
minutes. Prints thousands of instructions per request per tree, and the change against
the first tree.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

ENDPOINTS = (
    "GET /v1/status",
    "GET /v1/agents/{id}",
    "GET /v1/agents?capability=",
    "GET /v1/tasks?status=open",
    "GET /v1/wallet",
    "GET /v1/memory?tag=",
    "POST /v1/tasks",
    "PUT accept+complete",
)


def run(tree: str, db: Path, names: list[str], n: int) -> list[float]:
    """Instructions per call of each endpoint in `names`, in order."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if tree:
        env["PYTHONPATH"] = os.pathsep.join([tree, *filter(None, [env.get("PYTHONPATH")])])
    with tempfile.TemporaryDirectory(prefix="aipod-icount-") as tmp:
        out = Path(tmp) / "cg.out"
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--dump-before=getppid",
                f"--callgrind-out-file={out}",
                sys.executable,
                str(HERE / "inproc.py"),
                "--db",
                str(db),
                "--only",
                ",".join(names),
                "--exact",
                "--bare",
                "--n",
                str(n),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise SystemExit(f"valgrind run failed:\n{proc.stdout[-1000:]}\n{proc.stderr[-2000:]}")
        totals: dict[int, int] = {}
        for dump in Path(tmp).glob("cg.out.*"):
            m = re.search(r"^totals:\s+(\d+)", dump.read_text(), re.M)
            if m:
                totals[int(dump.suffix[1:])] = int(m.group(1))
    # Dump k holds what ran between markers k-1 and k: 2, 4, ... are the measured calls.
    per = [totals[2 * (i + 1)] / n for i in range(len(names))]
    return per


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--tree", action="append", default=None, help="NAME=PATH (PATH empty: here)")
    p.add_argument("--only", help="comma-separated substrings of endpoint names")
    p.add_argument("--n", type=int, default=200, help="measured calls per endpoint")
    args = p.parse_args()
    trees = [t.split("=", 1) for t in (args.tree or ["now="])]
    wanted = args.only.split(",") if args.only else None
    names = [e for e in ENDPOINTS if wanted is None or any(w in e for w in wanted)]
    results = [run(path, args.db, names, args.n) for _name, path in trees]
    print(f"{'k instructions / request':30}" + "".join(f" {name:>14}" for name, _ in trees))
    for i, endpoint in enumerate(names):
        base = results[0][i]
        cells = [f"{base / 1e3:14.1f}"] + [
            f"{r[i] / 1e3:8.1f} {100 * (r[i] / base - 1):+4.0f}%" for r in results[1:]
        ]
        print(f"{endpoint:30} " + " ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
