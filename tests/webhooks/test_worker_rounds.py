"""The coordinator's rounds under a stream of commits: every writing request wakes it,
and a burst of wakes is served by one round per `MIN_ROUND_S`, not one round each."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from aipod_api.webhooks import worker as worker_module


def test_a_burst_of_wakes_costs_few_rounds_and_an_isolated_wake_one(
    make_app: Callable[..., Any],
) -> None:
    st = make_app(webhook_poll_s=30.0).extensions["aipod"]
    w = worker_module.WebhookWorker(st)
    rounds: list[float] = []
    first_round = threading.Event()

    def tick() -> float:
        rounds.append(time.monotonic())
        first_round.set()
        return 30.0  # nothing due: sleep until woken

    w.tick = tick  # type: ignore[method-assign]
    thread = threading.Thread(target=w._run, daemon=True)
    thread.start()
    try:
        assert first_round.wait(10)  # the round at start
        # An isolated wake after a quiet spell is served by exactly one round.
        time.sleep(worker_module.MIN_ROUND_S * 3)
        before = len(rounds)
        w.nudge()
        deadline = time.monotonic() + 10
        while len(rounds) == before and time.monotonic() < deadline:
            time.sleep(0.001)
        assert len(rounds) == before + 1
        # 400 commits' wakes, 0.25 ms apart (~100 ms): each would have been a round.
        before = len(rounds)
        started = time.monotonic()
        for _ in range(400):
            w.nudge()
            time.sleep(0.00025)
        elapsed = time.monotonic() - started
        time.sleep(worker_module.MIN_ROUND_S * 3)
        burst = len(rounds) - before
        assert 1 <= burst <= elapsed / worker_module.MIN_ROUND_S + 2, (burst, elapsed)
        # Consecutive rounds of the burst start at least MIN_ROUND_S apart.
        gaps = [b - a for a, b in zip(rounds[before:], rounds[before + 1 :], strict=False)]
        assert all(g >= worker_module.MIN_ROUND_S * 0.9 for g in gaps), gaps
    finally:
        w.stop()
        thread.join(10)
    assert not thread.is_alive()
