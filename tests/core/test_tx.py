"""`core.db.Tx`, the one transaction lifecycle of requests, the sweep and background work."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text

from aipod_api.core.db import (
    TX_INFO,
    WRITE_FLAG,
    ReadConnections,
    Tx,
    after_commit,
    make_engine,
    transaction,
    write_gate,
)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    with eng.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS tx_probe"))
        conn.execute(text("CREATE TABLE tx_probe (n INTEGER NOT NULL)"))
    yield eng
    with eng.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS tx_probe"))
    eng.dispose()


def _rows(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT n FROM tx_probe ORDER BY n"))]


def test_commit_keeps_the_effects_then_runs_the_callbacks(engine: Engine) -> None:
    seen: list[list[int]] = []
    tx = Tx(engine, write=True)
    assert not tx.is_open
    conn = tx.connection()
    assert tx.connection() is conn and conn.info[WRITE_FLAG] is True
    conn.execute(text("INSERT INTO tx_probe (n) VALUES (1)"))
    tx.after_commit(lambda: seen.append(_rows(engine)))  # sees the committed row
    assert seen == []
    tx.commit()
    assert seen == [[1]] and not tx.is_open and conn.closed


def test_rollback_drops_the_effects_and_the_callbacks(engine: Engine) -> None:
    seen: list[int] = []
    tx = Tx(engine, write=True)
    tx.connection().execute(text("INSERT INTO tx_probe (n) VALUES (2)"))
    tx.after_commit(lambda: seen.append(1))
    tx.rollback()
    tx.commit()  # nothing open any more: no effect, no callback
    assert _rows(engine) == [] and seen == []


def test_discard_lets_the_next_use_open_a_fresh_transaction(engine: Engine) -> None:
    tx = Tx(engine, write=True)
    first = tx.connection()
    first.execute(text("INSERT INTO tx_probe (n) VALUES (3)"))
    tx.discard()
    second = tx.connection()
    second.execute(text("INSERT INTO tx_probe (n) VALUES (4)"))
    tx.commit()
    assert _rows(engine) == [4]


def test_as_a_block_commits_or_rolls_back(engine: Engine) -> None:
    with Tx(engine, write=True) as tx:
        tx.connection().execute(text("INSERT INTO tx_probe (n) VALUES (5)"))
    with pytest.raises(ZeroDivisionError), transaction(engine, write=True) as conn:
        conn.execute(text("INSERT INTO tx_probe (n) VALUES (6)"))
        raise ZeroDivisionError
    assert _rows(engine) == [5]


def test_a_sqlite_writer_holds_the_write_gate_until_it_ends(engine: Engine) -> None:
    gate = write_gate(engine)
    if gate is None:
        pytest.skip("PostgreSQL has no in-process write gate")
    tx = Tx(engine, write=True)
    assert not gate.locked()  # not taken before first use
    tx.connection()
    assert gate.locked()
    tx.rollback()
    assert not gate.locked()
    reader = Tx(engine, write=False)
    reader.connection()
    assert not gate.locked()  # a reader never takes it
    reader.release()


def test_a_read_on_kept_connections_returns_them_unless_it_failed(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("kept read connections are SQLite's")
    readers = ReadConnections(engine)
    tx = Tx(engine, write=False, readers=readers)
    conn = tx.connection()
    assert conn.info[WRITE_FLAG] is False
    tx.commit()
    assert readers.idle == [conn]
    again = Tx(engine, write=False, readers=readers)
    assert again.connection() is conn
    again.release()  # a refusal (4xx): the connection is still good
    assert readers.idle == [conn]
    failed = Tx(engine, write=False, readers=readers)
    assert failed.connection() is conn
    failed.rollback()  # a failure: never reused
    assert readers.idle == [] and conn.closed
    # a writing transaction never uses kept read connections
    assert Tx(engine, write=True, readers=readers).readers is None


def test_a_service_registers_after_commit_on_its_connection(engine: Engine) -> None:
    """`core.db.after_commit(conn, ...)`: what a service holding only the connection uses
    (the key cache's eviction); the Tx is bound to its connection only while it runs."""
    seen: list[str] = []

    def service(conn: Connection, label: str) -> None:
        conn.execute(text("INSERT INTO tx_probe (n) VALUES (7)"))
        after_commit(conn, lambda: seen.append(label))

    with transaction(engine, write=True) as conn:
        service(conn, "committed")
        assert seen == []
    assert seen == ["committed"]
    with pytest.raises(ZeroDivisionError), transaction(engine, write=True) as conn:
        service(conn, "rolled back")
        _ = 1 / 0
    assert seen == ["committed"] and _rows(engine) == [7]
    # a kept read connection (SQLite) is bound per Tx too, and unbound when it goes back
    readers = ReadConnections(engine) if engine.dialect.name == "sqlite" else None
    for ending in ("commit", "release", "rollback"):
        tx = Tx(engine, write=False, readers=readers)
        conn = tx.connection()
        after_commit(conn, lambda ending=ending: seen.append(ending))  # type: ignore[misc]
        getattr(tx, ending)()
        if conn.closed:  # a connection that saw a rollback is never reused
            continue
        assert TX_INFO not in conn.info
        with pytest.raises(RuntimeError, match="not serving a Tx"):
            after_commit(conn, lambda: None)
    assert seen == ["committed", "commit"]
