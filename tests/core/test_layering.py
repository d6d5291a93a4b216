"""The shape of the code: framework-free services, routes that declare their writes, one
clock.

- Every domain service and schema module, the lifecycle table, the app state and every
  `core` module import without Flask: a fresh interpreter imports them all and finds no
  `flask`, `werkzeug` or `flask_openapi3` in `sys.modules` (the HTTP edge is
  `aipod_api/http`).
- Every route declares whether it writes (`@reads` / `@writes`), and its transaction
  follows the declaration, never the HTTP method.
- The app's clock is the one clock: moving it moves every time the API records.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from flask import Flask, jsonify
from helpers import Api

from aipod_api.core.db import WRITE_FLAG
from aipod_api.http.context import db, declared_routes, reads, writes

FRAMEWORKS = ("flask", "werkzeug", "flask_openapi3")

_PROBE = """
import importlib, json, pkgutil, sys
import aipod_api
names = sorted(m.name for m in pkgutil.walk_packages(aipod_api.__path__, "aipod_api."))
picked = [
    n for n in names
    if n.endswith((".service", ".schemas"))
    or n.startswith("aipod_api.core.")
    or n in ("aipod_api.state", "aipod_api.settings", "aipod_api.tasks.flows",
             "aipod_api.tasks.sweep", "aipod_api.wallet.ledger", "aipod_api.trust.scores",
             "aipod_api.auth.keycache", "aipod_api.memory.search")
]
found = {}
for name in picked:
    importlib.import_module(name)
    leaked = sorted({m.split(".")[0] for m in sys.modules} & set(FRAMEWORKS))
    if leaked:
        found[name] = leaked
        break
print(json.dumps({"picked": picked, "found": found}))
"""


def test_services_schemas_and_core_import_no_web_framework() -> None:
    code = f"FRAMEWORKS = {FRAMEWORKS!r}\n{_PROBE}"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    result = json.loads(out.stdout)
    picked = result["picked"]
    # the probe really imported what it should (a wrong filter would pass vacuously)
    services = [n for n in picked if n.endswith(".service")]
    assert {"aipod_api.tasks.service", "aipod_api.memory.service", "aipod_api.auth.service"} <= set(
        services
    )
    assert len(services) >= 7 and "aipod_api.core.errors" in picked
    assert "aipod_api.core.i18n" in picked and "aipod_api.core.db" in picked
    assert result["found"] == {}, f"imports a web framework: {result['found']}"


def test_the_probe_sees_a_framework_import() -> None:
    """The same check fails on a module that does import Flask (the edge)."""
    code = (
        "import json, sys\nimport aipod_api.http.context\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(FRAMEWORKS)!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "flask" in json.loads(out.stdout)


def test_every_route_declares_whether_it_writes(make_app: Any) -> None:
    from aipod_api.app import FRAMEWORK_READS

    app = make_app()
    routes = app.extensions["aipod"].route_writes
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints == set(routes)
    for endpoint in endpoints - FRAMEWORK_READS:
        view = app.view_functions[endpoint]
        assert isinstance(getattr(view, "aipod_writes", None), bool), endpoint
    # a sample of what the views declare
    assert routes["tasks.accept_task"] is True and routes["tasks.list_tasks"] is False
    assert routes["auth.revoke_key"] is True and routes["agents.get_agent"] is False


def test_an_undeclared_route_refuses_to_build() -> None:
    app = Flask(__name__)

    @app.get("/declared")
    @reads
    def declared() -> str:
        return "ok"

    @app.post("/undeclared")
    def undeclared() -> str:
        return "ok"

    with pytest.raises(RuntimeError, match="undeclared"):
        declared_routes(app)
    assert declared_routes(app, framework_reads={"undeclared", "static"}) == {
        "declared": False,
        "undeclared": False,
        "static": False,
    }


def test_the_transaction_follows_the_declaration_not_the_method(make_app: Any) -> None:
    from aipod_api.app import FRAMEWORK_READS

    app = make_app()

    @app.post("/v1/probe-read")
    @reads
    def probe_read() -> Any:
        return jsonify(write=db().info.get(WRITE_FLAG))

    @app.get("/v1/probe-write")
    @writes
    def probe_write() -> Any:
        return jsonify(write=db().info.get(WRITE_FLAG))

    st = app.extensions["aipod"]
    st.route_writes = declared_routes(app, framework_reads=FRAMEWORK_READS)
    api = Api(test_client=app.test_client())
    key = api.register("probe")
    assert api.post("/v1/probe-read", key=key).body == {"write": False}
    assert api.get("/v1/probe-write", key=key).body == {"write": True}


FIXED = 1_950_000_000  # 2031-10-23: after the wall clock, so it shows if anything ignores it


def _iso(ts: int) -> str:
    from aipod_api.core.types import iso

    return iso(ts)


def test_moving_the_app_clock_moves_every_recorded_time(make_app: Any) -> None:
    app = make_app()
    st = app.extensions["aipod"]
    st.clock.set(FIXED)
    api = Api(test_client=app.test_client())
    key = api.register("clocked")
    me = api.get("/v1/agents/me", key=key).data
    assert me["created_at"] == _iso(FIXED)
    st.clock.advance(100)
    updated = api.put(f"/v1/agents/{me['agent_id']}", key=key, json={"nickname": "c"})
    assert updated.status == 200, updated.body
    assert updated.data["updated_at"] == _iso(FIXED + 100)
    st.clock.advance(100)
    made = api.post("/v1/auth/keys", key=key, json={"label": "second"})
    assert made.status == 201, made.body
    # the guard records key use on the same clock (at most once a minute: the clock
    # moved 100 s between requests, so the last request's time); a refresh after the
    # first use is written by the background thread's next tick: write it now
    st.key_cache.flush_touches()
    keys = {k["key_id"]: k for k in api.get("/v1/auth/keys", key=key).data["items"]}
    assert keys[made.data["key_id"]]["created_at"] == _iso(FIXED + 200)
    assert sorted(k["last_used_at"] or "" for k in keys.values()) == ["", _iso(FIXED + 200)]
    st.clock.advance(100)
    memory = api.post("/v1/memory", key=key, json={"content": "clocked", "visibility": "public"})
    assert memory.status == 201, memory.body
    assert memory.data["created_at"] == _iso(FIXED + 300)
    task = api.post("/v1/tasks", key=key, json={"title": "t", "budget": 1})
    assert task.status == 201, task.body
    assert task.data["created_at"] == _iso(FIXED + 300)
    st.clock.follow(None)
    assert abs(st.clock.now() - FIXED) > 1000


def test_core_imports_no_domain_and_no_edge() -> None:
    """`core` is the bottom layer: its modules import only each other, `settings` and
    libraries (demo data, bootstrap and the demo reset compose the domains above it)."""
    import ast
    from pathlib import Path

    import aipod_api

    core = Path(aipod_api.__file__).parent / "core"
    allowed = ("aipod_api.core", "aipod_api.settings")
    offenders: list[str] = []
    modules = sorted(core.glob("*.py"))
    assert len(modules) > 15
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
                if node.module == "aipod_api":
                    names = [f"aipod_api.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name.startswith("aipod_api") and not name.startswith(allowed):
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []


def test_the_readme_layout_matches_the_tree() -> None:
    """Every path the README's "Project layout" names exists, every top-level module and
    package of aipod_api is named, and every module of core/ and http/ is in its line."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Project layout", 1)[1].split("```", 2)[1]
    package = root / "aipod_api"
    named: set[str] = set()
    sections: dict[str, str] = {}
    current = ""
    for line in block.splitlines():
        m = re.match(r"^  ((?:[a-z0-9_]+(?:/[a-z0-9_]+)*(?:/|\.py) ?)+)(?:\s{2,}(.*))?$", line)
        if m:
            entries = m.group(1).split()
            named.update(entries)
            current = entries[0]
            sections[current] = m.group(2) or ""
        elif line.startswith("    ") and current:
            sections[current] += " " + line.strip()
    for entry in named:
        assert (package / entry.rstrip("/")).exists(), f"README names {entry}, not in the tree"
    tops = {p.name for p in package.glob("*.py") if p.name != "__init__.py"}
    tops |= {p.name + "/" for p in package.iterdir() if (p / "__init__.py").exists()}
    assert tops - named == set(), "README layout misses these"
    for layer in ("core/", "http/"):
        words = set(re.findall(r"[a-z0-9_]+", sections[layer]))
        modules = {p.stem for p in (package / layer).glob("*.py") if p.stem != "__init__"}
        assert modules - words == set(), f"README layout line {layer} misses these"
    # The domain packages: the line naming them says what service.py, views.py and
    # schemas.py are, so each has all three; every other module of a package is named as
    # `pkg/module.py`, or in the package's own line (`events/  outbox.py (...)`).
    [domain_line] = [line for line in block.splitlines() if line.startswith("  auth/ ")]
    domain_packages = domain_line.split()
    assert len(domain_packages) >= 10 and all(p.endswith("/") for p in domain_packages)
    generic = {"__init__", "service", "views", "schemas"}
    for pkg in domain_packages:
        modules = {p.stem for p in (package / pkg).glob("*.py")}
        assert generic - {"__init__"} <= modules, f"{pkg} lacks service/views/schemas"
        own = set(re.findall(r"[a-z0-9_]+\.py", sections.get(pkg, "")))
        for module in sorted(modules - generic):
            assert f"{pkg}{module}.py" in named or f"{module}.py" in own, (
                f"README layout misses {pkg}{module}.py"
            )
