"""SQLite durability (issue 11 item 15): commits are fsynced before they are answered."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from aipod_api.core.db import make_engine
from aipod_api.settings import Settings

sqlite_only = pytest.mark.skipif(
    os.environ.get("AIPOD_TEST_BACKEND", "sqlite").lower() != "sqlite",
    reason="SQLite's synchronous setting",
)
FULL, NORMAL = 2, 1  # PRAGMA synchronous values


def _synchronous(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())


@sqlite_only
def test_the_app_commits_with_synchronous_full_by_default(make_app: Callable[..., Any]) -> None:
    assert Settings().sqlite_synchronous == "FULL"
    engine = make_app().extensions["aipod"].engine
    assert _synchronous(engine) == FULL
    # Every pooled connection, including a second one opened while the first is out.
    with engine.connect() as first, engine.connect() as second:
        for conn in (first, second):
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == FULL


@sqlite_only
def test_normal_is_a_setting(make_app: Callable[..., Any]) -> None:
    engine = make_app(sqlite_synchronous="NORMAL").extensions["aipod"].engine
    assert _synchronous(engine) == NORMAL


def test_other_values_are_refused(tmp_path: Any) -> None:
    with pytest.raises(ValidationError):
        Settings(sqlite_synchronous="OFF")
    with pytest.raises(ValueError, match="synchronous"):
        make_engine(f"sqlite:///{tmp_path / 'x.db'}", synchronous="OFF")
