"""Warnings that can repeat many times a second, limited per kind and summed up."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

WARNINGS_PER_MINUTE = 10
"""The default share of each kind of warning in a minute (`device.max_line_errors`)."""


def counted(total: int, by_kind: Mapping[str, int]) -> str:
    """A count with its parts by kind, as `assistant status` shows it: `3 (a 1, b 2)`, or `0`.
    `by_kind` is copied first: another thread may add a kind meanwhile."""
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(dict(by_kind).items()))
    return f"{total} ({kinds})" if kinds else str(total)


@dataclass
class _Window:
    logger: logging.Logger
    started: float
    logged: int = 0
    suppressed: int = 0


class WarningLimiter:
    """Logs at most `per_window` warnings of each kind in a `window` of seconds that starts with
    the kind's first warning; the rest are counted and reported in one line when the window ends
    (at the next `warning` or `flush` after its end, which the owner calls regularly)."""

    def __init__(
        self,
        per_window: int = WARNINGS_PER_MINUTE,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.per_window = per_window
        self.window = window
        self.clock = clock
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def warning(self, logger: logging.Logger, kind: str, message: str, *args: object) -> None:
        """`logger.warning(message, *args)` unless `kind` (such as "lost-line") has had its
        share in the current window."""
        with self._lock:
            now = self.clock()
            self._close_ended(now)
            current = self._windows.setdefault(kind, _Window(logger, now))
            if current.logged >= self.per_window:
                current.suppressed += 1
                return
            current.logged += 1
        logger.warning(message, *args)

    def flush(self, everything: bool = False) -> None:
        """Report the windows that have ended; with `everything` (at stop), all of them."""
        with self._lock:
            self._close_ended(self.clock(), everything)

    def _close_ended(self, now: float, everything: bool = False) -> None:
        for kind, ended in list(self._windows.items()):
            lasted = now - ended.started
            if lasted < self.window and not everything:
                continue
            del self._windows[kind]
            if ended.suppressed:
                if lasted < self.window:
                    span = f"{lasted:.0f} s"
                else:
                    span = "minute" if self.window == 60 else f"{self.window:g} s"
                ended.logger.warning(
                    "%d more %s warning(s) suppressed in the last %s",
                    ended.suppressed,
                    kind,
                    span,
                )
