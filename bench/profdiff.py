"""Two cProfile dumps of the same endpoint side by side: calls and time per request.

    python bench/profdiff.py BEFORE.prof AFTER.prof [--n 3000] [--top 40] [--sort calls|time]

Made with `bench/inproc.py --profile NAME --profile-out DIR` on two trees (e.g. with
`PYTHONPATH=/path/to/old/tree`). Functions are matched by file name relative to the
package (so the same function in two trees is one row) and name. Call counts are exact
and do not depend on the machine's load, so on a busy machine they say where new work
per request comes from even when the times are noisy; the times are cProfile's
(inflated by the profiler, and by other jobs).
"""

from __future__ import annotations

import argparse
import pstats
import re
from typing import Any

_TREE = re.compile(r".*?/(aipod_api|site-packages|bench)/")


def _key(func: tuple[str, int, str]) -> str:
    path, _line, name = func
    return _TREE.sub(r"\1/", path) + ":" + name


def load(path: str) -> dict[str, tuple[int, float, float]]:
    stats: Any = pstats.Stats(path).stats  # type: ignore[attr-defined]
    out: dict[str, tuple[int, float, float]] = {}
    for func, (_cc, nc, tt, ct, _callers) in stats.items():
        k = _key(func)
        calls, tot, cum = out.get(k, (0, 0.0, 0.0))
        out[k] = (calls + nc, tot + tt, max(cum, ct))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--n", type=int, default=3000, help="requests profiled (inproc.py --n)")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--sort", choices=("calls", "time"), default="time")
    args = p.parse_args()
    a, b = load(args.before), load(args.after)
    n = args.n
    ta = sum(v[1] for v in a.values()) / n * 1e6
    tb = sum(v[1] for v in b.values()) / n * 1e6
    ca = sum(v[0] for v in a.values()) / n
    cb = sum(v[0] for v in b.values()) / n
    print(f"per request: calls {ca:.0f} -> {cb:.0f}; profiled µs {ta:.0f} -> {tb:.0f}")
    rows = []
    for k in a.keys() | b.keys():
        ca_, tta, cta = a.get(k, (0, 0.0, 0.0))
        cb_, ttb, ctb = b.get(k, (0, 0.0, 0.0))
        rows.append(
            (k, ca_ / n, cb_ / n, tta / n * 1e6, ttb / n * 1e6, cta / n * 1e6, ctb / n * 1e6)
        )
    if args.sort == "calls":
        rows.sort(key=lambda r: -abs(r[2] - r[1]))
    else:
        rows.sort(key=lambda r: -abs(r[4] - r[3]))
    print(f"{'function':70} {'calls':>11} {'own µs':>13} {'cum µs':>13}")
    for k, c1, c2, t1, t2, u1, u2 in rows[: args.top]:
        print(f"{k[-70:]:70} {c1:5.1f}>{c2:5.1f} {t1:6.1f}>{t2:6.1f} {u1:6.1f}>{u2:6.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
