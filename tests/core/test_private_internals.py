"""Canary for the two places that use libraries' private internals (fenced by exact pins in
pyproject.toml). A failure here means an upgrade changed what they rely on: review the
module named in the message, then move the pin and the recorded digests.

- aipod_api/core/prepared.py reads SQLAlchemy's `SQLCompiler._bind_processors`,
  `SQLCompiler._result_columns` and `TypeEngine._cached_result_processor`;
- aipod_api/http/fastpath.py replaces flask-openapi3's `request._validate_query` with a
  copy that caches the schema lookup, calling its `_get_list_value` / `_get_value`.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import tomllib
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    MetaData,
    Numeric,
    String,
    Table,
    bindparam,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

from aipod_api.core.prepared import _Compiled

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

# sha256 of the upstream source of each private flask-openapi3 function fastpath.py uses
# or replaces, at the pinned version.
FLASK_OPENAPI3_SOURCES = {
    "_validate_query": "46763d147680ec49",
    "_get_list_value": "e6386bd92782c025",
    "_get_value": "48c010e75a5d6da3",
}


def _pins() -> dict[str, str]:
    deps = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["dependencies"]
    pins = {}
    for dep in deps:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([0-9.]+)", dep)
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return pins


@pytest.mark.parametrize(
    ("package", "module"),
    [
        ("sqlalchemy", "aipod_api/core/prepared.py"),
        ("flask-openapi3", "aipod_api/http/fastpath.py"),
    ],
)
def test_the_installed_version_is_the_reviewed_pin(package: str, module: str) -> None:
    pins = _pins()
    assert package in pins, f"{package} must be pinned exactly in pyproject.toml ({module})"
    assert version(package) == pins[package], (
        f"{package} {version(package)} is installed but {module} was reviewed against "
        f"{pins[package]}: review its use of private internals, then move the pin"
    )


_meta = MetaData()
_probe = Table(
    "probe",
    _meta,
    Column("id", String(32), primary_key=True),
    Column("cents", BigInteger, nullable=False),
    Column("rate", Numeric(12, 4)),
    Column("at", DateTime),
)


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.psycopg.dialect()])
def test_sqlalchemy_compiled_internals_are_as_prepared_reads_them(dialect: Dialect) -> None:
    stmt = select(_probe.c.id, _probe.c.rate, _probe.c.at).where(
        _probe.c.id == bindparam("id"), _probe.c.rate > bindparam("rate", type_=Numeric(12, 4))
    )
    compiled = stmt.compile(dialect=dialect)
    binds = compiled._bind_processors
    assert isinstance(binds, dict) and set(binds) <= set(compiled.binds)
    columns = compiled._result_columns
    assert [len(c) for c in columns] == [4, 4, 4]
    keys = [c[0] for c in columns]
    assert keys == ["id", "rate", "at"]
    # driver type codes as a cursor description gives them (PostgreSQL OIDs: text,
    # numeric, timestamp; SQLite gives none)
    coltypes = [25, 1700, 1114] if dialect.name == "postgresql" else [None, None, None]
    for column, coltype in zip(columns, coltypes, strict=True):
        assert isinstance(column[3], TypeEngine)
        # the private cached lookup answers what the public API would
        cached = column[3]._cached_result_processor(dialect, coltype)
        public = column[3].dialect_impl(dialect).result_processor(dialect, coltype)
        assert (cached is None) == (public is None)
    # the bind processors are exactly the public per-type ones that exist
    for name, proc in binds.items():
        param = compiled.binds[name]
        public = param.type.dialect_impl(dialect).bind_processor(dialect)
        assert (proc is None) == (public is None), name
    # what prepared.py builds from them
    prepared = _Compiled(stmt, dialect)
    assert prepared.returns_rows and prepared.row._fields == ("id", "rate", "at")
    params = prepared.params({"id": "a", "rate": Decimal("1.5")})
    assert "a" in (params.values() if isinstance(params, dict) else params)
    write = _Compiled(insert(_probe).values(id=bindparam("id"), cents=bindparam("c")), dialect)
    assert not write.returns_rows and write.processors_known


def test_flask_openapi3_private_functions_are_unchanged() -> None:
    from flask_openapi3 import request as oa_request

    from aipod_api.http import fastpath

    upstream = {
        "_validate_query": fastpath.UPSTREAM_VALIDATE_QUERY,
        "_get_list_value": oa_request._get_list_value,
        "_get_value": oa_request._get_value,
    }
    for name, func in upstream.items():
        assert func is not None, f"flask_openapi3.request.{name} is gone: review fastpath.py"
        digest = hashlib.sha256(inspect.getsource(func).encode()).hexdigest()[:16]
        assert digest == FLASK_OPENAPI3_SOURCES[name], (
            f"flask_openapi3.request.{name} changed upstream: review aipod_api/http/fastpath.py"
        )
    params = list(inspect.signature(fastpath.UPSTREAM_VALIDATE_QUERY).parameters)
    assert params == ["query", "func_kwargs"]
    fastpath.install()
    assert oa_request._validate_query is fastpath._validate_query
