"""Canary for the two places that use libraries' private internals (fenced by exact pins in
pyproject.toml). A failure here means an upgrade changed what they rely on: review the
module named in the message, then move the pin and the recorded digests.

- aipod_api/core/prepared.py reads SQLAlchemy's `SQLCompiler._bind_processors`,
  `SQLCompiler._result_columns` and `TypeEngine._cached_result_processor`;
- aipod_api/http/fastpath.py replaces flask-openapi3's `request._validate_query` with a
  copy that caches the schema lookup and the field-by-field decisions of its
  `_get_list_value` / `_get_value` (reproduced, so their digests are checked too).
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


def test_fastpath_validates_queries_exactly_as_upstream() -> None:
    """Every query model of the API, and models with an alias (with and without
    `populate_by_name`), given the same query strings: the same model, or the same
    errors, from the replacement as from flask-openapi3's own function."""
    from flask import Flask
    from pydantic import BaseModel, ConfigDict, Field, ValidationError

    from aipod_api.agents.schemas import AgentListQuery
    from aipod_api.auth.schemas import KeyListQuery
    from aipod_api.events.schemas import EventsQuery, StreamQuery
    from aipod_api.http import fastpath
    from aipod_api.memory.schemas import MemoryListQuery
    from aipod_api.tasks.schemas import TaskListQuery
    from aipod_api.trust.schemas import TrustQuery
    from aipod_api.wallet.schemas import TransactionsQuery
    from aipod_api.webhooks.schemas import DeliveriesQuery

    class Aliased(BaseModel):
        page_size: int | None = Field(default=None, alias="pageSize")
        tags: list[str] = Field(default_factory=list, alias="tag")

    class AliasedByName(Aliased):
        model_config = ConfigDict(populate_by_name=True)

    models: list[type[BaseModel]] = [
        AgentListQuery, KeyListQuery, EventsQuery, StreamQuery, MemoryListQuery,
        TaskListQuery, TrustQuery, TransactionsQuery, DeliveriesQuery, Aliased, AliasedByName,
    ]  # fmt: skip
    queries = [
        "", "page=2&page_size=5", "page=0", "page_size=abc", "capability=a&capability=b",
        "capability=", "status=open&unknown=1", "min_trust=0.5", "tag=x&tag=&q=y",
        "pageSize=3&page_size=4", "pageSize=&page_size=4", "tags=a&tag=b", "after=evt_1",
        "publisher=A&assignee=&eligible=true", "types=task.accepted&types=x",
    ]  # fmt: skip

    def outcome(func: object, model: type[BaseModel], qs: str) -> object:
        app = Flask(__name__)
        with app.test_request_context("/?" + qs):
            kwargs: dict[str, object] = {}
            try:
                func(model, kwargs)  # type: ignore[operator]
            except ValidationError as exc:
                return ("error", exc.errors(include_url=False))
            return ("ok", kwargs["query"].model_dump())  # type: ignore[attr-defined]

    for model in models:
        for qs in queries:
            assert outcome(fastpath._validate_query, model, qs) == outcome(
                fastpath.UPSTREAM_VALIDATE_QUERY, model, qs
            ), (model.__name__, qs)
