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

`Prepared(select(...), pack_rows=True)` is for wide list pages on SQLite: the columns are
fetched as one `json_array(...)` value per row and decoded with orjson, instead of one
Python object per column made by the sqlite3 module (a task list page: 21 rows of 26
columns; bench/RESULTS.md has the measurement). Only columns whose values JSON carries
exactly are packed — integers (SQLite's are 64-bit, as are JSON's in orjson), text and
booleans; a REAL (printed with 15 digits), a BLOB or any other type is fetched as its own
column beside the packed one. Other dialects run the statement as written.
"""

from __future__ import annotations

import contextlib
import threading
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, Select, func, types
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.base import Executable

Processor = Callable[[Any], Any]


class _Compiled:
    __slots__ = (
        "bind_processors",
        "defaults",
        "loose",
        "names",
        "positional",
        "processors_known",
        "result_processors",
        "result_types",
        "returns_rows",
        "row",
        "sql",
    )

    def __init__(self, statement: Any, dialect: Dialect, *, pack_rows: bool = False) -> None:
        compiled = statement.compile(dialect=dialect)
        columns = compiled._result_columns  # (keyname, name, objects, type) per column
        # With packed rows: ((position in the row, position in the fetched row), ...) of
        # the columns fetched on their own, after the packed one; None: not packed. The
        # row's names and types stay the statement's own.
        self.loose: tuple[tuple[int, int], ...] | None = None
        packed = _packed(statement) if pack_rows and dialect.name == "sqlite" else None
        if packed is not None:
            compiled = packed[0].compile(dialect=dialect)
            self.loose = packed[1]
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
        if self.loose is not None:  # SQLite's type codes are all None
            description = [(None, None)] * len(self.result_types)
        procs = [
            t._cached_result_processor(dialect, d[1])
            for t, d in zip(self.result_types, description, strict=True)
        ]
        # Only the columns with a processor are touched per row: a task row has one (its
        # Boolean) in 26, and converting every value cost a third of the list's rows.
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


def _unpack(fetched: Any, loose: tuple[tuple[int, int], ...]) -> list[Any]:
    values: list[Any] = orjson.loads(fetched[0])
    for at, j in loose:
        values.insert(at, fetched[j])
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


def _exact_in_json(t: Any) -> bool:
    return isinstance(t, types.Integer | types.String | types.Boolean)


def _json_array_works() -> bool:
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(":memory:")) as probe:
            return bool(probe.execute("SELECT json_array(1) = '[1]'").fetchone()[0])
    except sqlite3.Error:  # pragma: no cover - SQLite built without JSON (before 3.38)
        return False


def _packed(statement: Any) -> tuple[Any, tuple[tuple[int, int], ...]] | None:
    """`statement` with its exactly-representable columns folded into one json_array(),
    and where the others go; None when there is nothing worth packing."""
    if not isinstance(statement, Select):
        raise TypeError("pack_rows is for SELECT statements")
    cols = list(statement.selected_columns)
    exact = [c for c in cols if _exact_in_json(c.type)]
    if len(exact) < 2 or not _json_array_works():
        return None
    loose = [i for i, c in enumerate(cols) if not _exact_in_json(c.type)]
    packed = statement.with_only_columns(
        func.json_array(*exact), *(cols[i] for i in loose), maintain_column_froms=True
    )
    return packed, tuple((i, 1 + k) for k, i in enumerate(loose))


class Prepared:
    """A Core statement compiled once per dialect and executed on the DB-API cursor."""

    __slots__ = ("_by_dialect", "_lock", "pack_rows", "statement")

    def __init__(self, statement: Executable, *, pack_rows: bool = False) -> None:
        self.statement = statement
        self.pack_rows = pack_rows
        self._by_dialect: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            with self._lock:
                found = self._by_dialect.get(dialect.name)
                if found is None:
                    found = _Compiled(self.statement, dialect, pack_rows=self.pack_rows)
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
                loose = c.loose
                if loose is not None:
                    raw = [_unpack(r, loose) for r in raw]
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
