"""Prepared statements: SQLAlchemy Core statements compiled once, run on the DB-API cursor.

`conn.execute(stmt)` spends more time in SQLAlchemy (cache-key generation for a freshly
built statement, the execution context, the `Result` machinery) than SQLite spends
answering a primary-key lookup. The hot statements are therefore built once, at import,
with `bindparam()`s for every value, compiled once per dialect, and executed directly on
the connection's DB-API cursor:

    _GET = Prepared(select(agents.c.nickname).where(agents.c.agent_id == bindparam("id")))
    row = _GET.execute(conn, {"id": "ai_analyst_001"}).first()

What stays SQLAlchemy's: the statement (tables, dialect-specific SQL), the connection, its
pool and its transaction (`BEGIN IMMEDIATE`, commit, rollback — a connection not yet in a
transaction is begun first, exactly like SQLAlchemy's autobegin), the type processors
(bind and result processors of the dialect are applied when a type has one), and the
errors (DB-API errors are wrapped in `sqlalchemy.exc.DBAPIError` subclasses, so callers
catch `IntegrityError` as before). Statements that need per-execution compilation
(expanding `IN` parameters, `literal_execute`) are refused when prepared.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.base import Executable

Processor = Callable[[Any], Any]


class _Compiled:
    __slots__ = (
        "bind_processors",
        "defaults",
        "names",
        "positional",
        "processors_known",
        "result_processors",
        "result_types",
        "returns_rows",
        "row",
        "sql",
    )

    def __init__(self, statement: Any, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        sql = compiled.string
        if "POSTCOMPILE" in sql or "__[" in sql:
            raise ValueError("statement needs per-execution compilation; do not prepare it")
        self.sql: str = sql
        self.positional: bool = bool(compiled.positional)
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self.defaults: dict[str, Any] = dict(compiled.construct_params(_check=False))
        self.bind_processors: dict[str, Processor] = {
            k: v for k, v in compiled._bind_processors.items() if v is not None
        }
        columns = compiled._result_columns  # (keyname, name, objects, type) per column
        self.returns_rows: bool = bool(columns)
        self.row: Any = None
        # (column index, processor) for the columns that have one; None: no column has.
        self.result_processors: tuple[tuple[int, Processor], ...] | None = None
        self.result_types = [c[3] for c in columns]
        self.processors_known = not self.returns_rows
        if self.returns_rows:
            self.row = namedtuple("Row", [c[0] for c in columns], rename=True)  # type: ignore[misc]

    def learn_processors(self, dialect: Dialect, description: Any) -> None:
        """Result processors may depend on the driver's type codes (PostgreSQL's numeric
        kinds), so they are looked up from the first execution's cursor description."""
        procs = [
            t._cached_result_processor(dialect, d[1])
            for t, d in zip(self.result_types, description, strict=True)
        ]
        # Only the columns with a processor are touched per row: a task row has one (its
        # Boolean) in 26, and converting every value of every row cost a tenth of a task
        # list page (bench/RESULTS.md).
        sparse = tuple((i, p) for i, p in enumerate(procs) if p is not None)
        self.result_processors = sparse or None
        self.processors_known = True

    def params(self, given: Mapping[str, Any] | None) -> Sequence[Any] | dict[str, Any]:
        values = self.defaults if not given else {**self.defaults, **given}
        if self.bind_processors:
            values = dict(values)
            for name, proc in self.bind_processors.items():
                if name in values and values[name] is not None:
                    values[name] = proc(values[name])
        if self.positional:
            return [values[name] for name in self.names]
        return values


class Result:
    """What a prepared statement returned: its rows (read eagerly) and its row count."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows)

    def all(self) -> list[Any]:
        return self.rows

    def first(self) -> Any:
        return self.rows[0] if self.rows else None

    def one(self) -> Any:
        if len(self.rows) != 1:
            raise LookupError(f"expected one row, got {len(self.rows)}")
        return self.rows[0]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalars(self) -> list[Any]:
        return [r[0] for r in self.rows]


class Prepared:
    """A Core statement compiled once per dialect and executed on the DB-API cursor."""

    __slots__ = ("_by_dialect", "_lock", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            with self._lock:
                found = self._by_dialect.get(dialect.name)
                if found is None:
                    found = _Compiled(self.statement, dialect)
                    self._by_dialect[dialect.name] = found
        return found

    def execute(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Result:
        dialect = conn.dialect
        c = self.compiled(dialect)
        if not conn.in_transaction():
            conn.begin()  # SQLAlchemy's autobegin, which a raw cursor would bypass
        dbapi_conn = conn.connection.dbapi_connection
        assert dbapi_conn is not None
        args = c.params(params)
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(c.sql, args)
            rows: list[Any] = []
            if c.returns_rows:
                if not c.processors_known:
                    c.learn_processors(dialect, cursor.description)
                raw = cursor.fetchall()
                make = c.row._make
                procs = c.result_processors
                if procs is None:
                    rows = [make(r) for r in raw]
                else:
                    for r in raw:
                        values = list(r)
                        for i, p in procs:
                            values[i] = p(values[i])
                        rows.append(make(values))
            return Result(rows, cursor.rowcount)
        except dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(
                c.sql, args, exc, dialect.loaded_dbapi.Error, dialect=dialect
            ) from exc
        finally:
            cursor.close()
