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


Summary = Callable[[int, str], str]
"""The line that reports a window's suppressed messages, given their count and the window's span
("minute", "10 minutes", "45 s")."""


def _suppressed_warnings(kind: str) -> Summary:
    return lambda count, span: f"{count} more {kind} warning(s) suppressed in the last {span}"


def _span(seconds: float) -> str:
    """`seconds` as the summary names a window: "minute", "10 minutes", "45 s"."""
    if seconds == 60:
        return "minute"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} s"


@dataclass
class _Window:
    logger: logging.Logger
    level: int
    summary: Summary
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
        self.log(logger, logging.WARNING, kind, message, *args)

    def log(
        self,
        logger: logging.Logger,
        level: int,
        kind: str,
        message: str,
        *args: object,
        summary: Summary | None = None,
    ) -> bool:
        """`logger.log(level, message, *args)` unless `kind` has had its share in the current
        window; True if logged. `summary`: the line, at `level`, that reports the messages of
        the window suppressed (by default "N more KIND warning(s) suppressed in the last
        minute"); the first message of a window chooses it."""
        with self._lock:
            now = self.clock()
            self._close_ended(now)
            current = self._windows.get(kind)
            if current is None:
                current = _Window(logger, level, summary or _suppressed_warnings(kind), now)
                self._windows[kind] = current
            if current.logged >= self.per_window:
                current.suppressed += 1
                return False
            current.logged += 1
        logger.log(level, message, *args)
        return True

    def logged_late(self, kind: str) -> None:
        """The last suppressed message of `kind` was logged after all, in other words: its
        window's summary does not count it."""
        with self._lock:
            current = self._windows.get(kind)
            if current is not None and current.suppressed:
                current.suppressed -= 1

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
                span = f"{lasted:.0f} s" if lasted < self.window else _span(self.window)
                ended.logger.log(ended.level, "%s", ended.summary(ended.suppressed, span))
