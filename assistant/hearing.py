"""Spoken notices of the assistant's ears: a user who cannot look at a screen hears when the
assistant stops hearing them (the board unplugged or silent, the microphone lost) and when it
hears them again (`speech.notices`)."""

from __future__ import annotations

import time
from collections.abc import Callable

DEAF_GRACE_SECONDS = 7.0
"""How long the assistant must have been unable to hear before it says so: a board that resets
or is being flashed is back sooner, and `source: auto` has switched to its fallback by then."""
NOTICE_INTERVAL_SECONDS = 60.0
"""The least time between two "cannot hear" notices: a board that comes and goes says it once a
minute at most (what it said last stays true until "I can hear you again")."""
BACK = "I can hear you again"


def deaf_notice(problem: str) -> str:
    """What is said when the assistant cannot hear, and why."""
    return f"I cannot hear you: {problem}"


class HearingNotices:
    """Turns what keeps the assistant from hearing (looked at regularly) into the sentences to
    say: "I cannot hear you: WHY" once that has lasted `grace` seconds (and `interval` seconds
    have passed since the last such notice), then "I can hear you again" once it hears, only
    after a "cannot hear" was said."""

    def __init__(
        self,
        grace: float = DEAF_GRACE_SECONDS,
        interval: float = NOTICE_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.grace = grace
        self.interval = interval
        self.clock = clock
        self._deaf_since: float | None = None
        self._said_deaf = False
        self._last_notice: float | None = None

    def update(self, problem: str | None) -> str | None:
        """`problem`: why the assistant cannot hear now (None: it hears). The sentence to say
        now, or None."""
        now = self.clock()
        if problem is None:
            self._deaf_since = None
            if self._said_deaf:
                self._said_deaf = False
                return BACK
            return None
        if self._deaf_since is None:
            self._deaf_since = now
        if self._said_deaf or now - self._deaf_since < self.grace:
            return None
        if self._last_notice is not None and now - self._last_notice < self.interval:
            return None
        self._said_deaf = True
        self._last_notice = now
        return deaf_notice(problem)
