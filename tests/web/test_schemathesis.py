"""schemathesis against a real server over every operation of /v1/openapi.json.

Checks: not_a_server_error, status_code_conformance, response_schema_conformance,
content_type_conformance. Bounded: `AIPOD_ST_MAX_EXAMPLES` (default 30) examples per
operation and phase; `AIPOD_ST_SEED` (default 20260327) makes the run reproducible.

Two runs: `DELETE /v1/auth/keys/{key_id}` goes last and alone, so that revoking a key
(schemathesis creates keys with `POST /v1/auth/keys`) cannot log the rest of the run out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import DEMO_KEY, LiveServer

CHECKS = (
    "not_a_server_error,status_code_conformance,response_schema_conformance,"
    "content_type_conformance"
)
MAX_EXAMPLES = os.environ.get("AIPOD_ST_MAX_EXAMPLES", "30")
SEED = os.environ.get("AIPOD_ST_SEED", "20260327")
LAST_ALONE = "revoke_key"  # operationId of DELETE /v1/auth/keys/{key_id}


def _run(server: LiveServer, tmp_path: Path, name: str, selection: list[str]) -> int:
    report = tmp_path / f"{name}.xml"
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{server.base_url}/v1/openapi.json",
        "--url",
        server.base_url,
        "--header",
        f"Authorization: Bearer {DEMO_KEY}",
        "--checks",
        CHECKS,
        "--max-examples",
        MAX_EXAMPLES,
        "--seed",
        SEED,
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
        *selection,
    ]
    # A guard against a hang, not a time limit: a few minutes when the cores are shared
    # with the other test processes (scripts/test.sh runs several per pass).
    done = subprocess.run(
        cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    out = done.stdout + done.stderr
    print(out[-4000:])
    generated = re.search(r"(\d+) generated", out)
    assert generated, f"no summary from schemathesis (exit {done.returncode}):\n{out[-4000:]}"
    suites = ET.parse(report).getroot()
    failures = sum(
        int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites.iter("testsuite")
    )
    assert failures == 0, f"schemathesis found {failures} failures:\n{out[-8000:]}"
    assert done.returncode == 0, out[-8000:]
    assert "Tested: 0" not in out
    return int(generated.group(1))


@pytest.mark.slow
@pytest.mark.timeout(1500)  # two runs of up to 600 s each, and the server
def test_schemathesis_finds_no_failures(
    start_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    # High limits: no 429 noise. Event streams end after half a second (else each one
    # would last until schemathesis's request timeout); their messages are still checked.
    server = start_server(demo=True, env={"AIPOD_EVENT_STREAM_MAX_S": "0.5"})
    cases = _run(server, tmp_path, "all", ["--exclude-operation-id", LAST_ALONE])
    cases += _run(server, tmp_path, "revoke", ["--include-operation-id", LAST_ALONE])
    assert cases > 500
    print(f"schemathesis: {cases} generated cases, 0 failures")
    # The server is still healthy and the demo key still works.
    assert server.api.get("/v1/agents/me", key=DEMO_KEY).status == 200
    log = server.log()
    assert "Traceback" not in log, log[-4000:]
