from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tasks.market import Market


@pytest.fixture
def market(make_app: Callable[..., Any]) -> Market:
    return Market(make_app())
