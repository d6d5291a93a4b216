"""Node.js for the tests of the JavaScript client (clients/js) and the examples.

`node_or_skip()` skips a test, with the reason, on a machine without Node >= 18;
`npm_ci(directory)` installs a package's locked dependencies once (when node_modules is
missing or does not match package.json), under a lock so concurrent runs don't collide.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
JS_CLIENT = REPO / "clients" / "js"
EXAMPLES = REPO / "examples"
MIN_NODE = 18


def node_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the JavaScript client's tests need Node.js >= 18")
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    match = re.match(r"v(\d+)\.", out.stdout.strip())
    if match is None or int(match.group(1)) < MIN_NODE:
        pytest.skip(f"node {out.stdout.strip()} is too old: the JavaScript client needs >= 18")
    return node


def _installed(directory: Path) -> bool:
    manifest = json.loads((directory / "package.json").read_text(encoding="utf-8"))
    wanted = {**manifest.get("dependencies", {}), **manifest.get("devDependencies", {})}
    for name, spec in wanted.items():
        installed = directory / "node_modules" / name / "package.json"
        if not installed.exists():
            return False
        version = json.loads(installed.read_text(encoding="utf-8")).get("version")
        if re.fullmatch(r"\d+\.\d+\.\d+", spec) and version != spec:
            return False
    return True


def npm_ci(directory: Path) -> None:
    """`npm ci` in `directory` unless its node_modules already matches package.json."""
    node_or_skip()
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the JavaScript client's tests need it")
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"aipod-npm-{digest}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed(directory):
            return
        result = subprocess.run(
            [npm, "ci", "--prefer-offline", "--no-audit", "--no-fund"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            pytest.fail(f"npm ci in {directory} failed:\n{result.stdout}\n{result.stderr}")


def run_node(
    args: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 240,
) -> subprocess.CompletedProcess[str]:
    """Run `node ARGS` in `cwd` and capture its output (text)."""
    node = node_or_skip()
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [node, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def tap_summary(output: str) -> dict[str, int]:
    """The closing counts of node's TAP reporter (`# tests 7`, `# pass 7`, ...)."""
    return {m[1]: int(m[2]) for m in re.finditer(r"^# (\w+) (\d+)$", output, re.MULTILINE)}
