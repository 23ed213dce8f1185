"""The timers skill's scheduler: APScheduler's background scheduler, which looks at the clocks
before each round of its finds what is due."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler


class LookingScheduler(BackgroundScheduler):
    """Calls `before_round` as each round begins, before the round reads the wall clock (and
    outside the job stores' lock, which `before_round` may take): the timers skill looks at the
    clocks there, so that a step of the wall clock moves the timers before a round that sees
    the stepped clock takes them for due, or missed. A round is APScheduler's `_process_jobs`,
    not its API: test_a_round_of_the_scheduler_right_after_a_step_finds_the_timers_moved fails
    should it change."""

    def __init__(self, before_round: Callable[[], None], **options: Any):
        super().__init__(**options)
        self._before_round = before_round

    def _process_jobs(self) -> float | None:
        self._before_round()
        wait: float | None = super()._process_jobs()  # seconds to the next round
        return wait
