"""What the log says of a board unplugged and found again: both at once when it happens now and
then, a summary when it keeps happening (a loose cable or connector), which would otherwise
write two lines a second for as long as it lasts."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from assistant.clocks import local_time
from assistant.ratelimit import WarningLimiter

log = logging.getLogger("assistant.link")

REPLUGS_LOGGED = 3
"""Replugs logged one by one in a REPLUG_WINDOW (a board being flashed goes and comes back
twice)."""
REPLUG_WINDOW = 600.0
"""Seconds, from the first replug logged, whose further replugs are summed up in one line."""
STILL_GONE_SECONDS = 10.0
"""How long a board whose unplugging was not logged may stay away before it is logged after all."""


class ReplugLog:
    """Logs a board going (`gone`) and coming back (`back`) as a pair, limited per window."""

    def __init__(
        self,
        logged: int = REPLUGS_LOGGED,
        window: float = REPLUG_WINDOW,
        still_gone: float = STILL_GONE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.limiter = WarningLimiter(per_window=logged, window=window, clock=clock)
        self.still_gone = still_gone
        self.clock = clock
        self._gone_at: float | None = None
        """When the board went (`clock`), while it is away."""
        self._said = True
        """The board's going was logged (so is its coming back)."""

    def gone(self, path: str, error: Exception) -> None:
        """The board on `path` went with `error`."""
        self._gone_at = self.clock()
        self._said = self.limiter.log(
            log,
            logging.WARNING,
            "replug",
            "board on %s is gone (%s); reconnecting",
            path,
            error,
            summary=lambda count, span: (
                f"board on {path} unplugged and found again {count} more time(s) in the last "
                f"{span}, not logged one by one: a loose cable or connector? (`assistant "
                "status` counts the reconnects)"
            ),
        )

    def away(self, path: str) -> None:
        """Called while the board is away, between attempts to open `path`: logs a summary due,
        and a going not logged once it has lasted `still_gone` seconds."""
        self.limiter.flush()
        if self._said or self._gone_at is None:
            return
        away = self.clock() - self._gone_at
        if away >= self.still_gone:
            self._said = True
            self.limiter.logged_late("replug")
            log.warning(
                "board on %s is gone, for %.0f s now (since %s); reconnecting",
                path,
                away,
                local_time(time.time() - away),
            )

    def back(self, path: str) -> bool:
        """The board is back on `path`: logged if its going was. True if so (or if it never went:
        the first connection), the connection to be logged as new."""
        if self._gone_at is None:
            log.info("board connected on %s", path)
            return True
        away, self._gone_at = self.clock() - self._gone_at, None
        if self._said:
            log.info("board back on %s after %.1f s", path, away)
        return self._said

    def flush(self, everything: bool = False) -> None:
        """Log a summary due (called regularly); with `everything` (at stop), any pending."""
        self.limiter.flush(everything)
