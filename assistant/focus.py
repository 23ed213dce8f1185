"""Which skill has focus: the one used last, for a while, or one that holds it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Focus:
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self._skill: str | None = None
        self._until = 0.0
        self._lock = threading.Lock()

    def give(self, skill: str, seconds: float | None = None) -> None:
        """`skill` has focus for `seconds` (default: the configured focus time) from now."""
        with self._lock:
            self._skill = skill
            self._until = self.clock() + (self.seconds if seconds is None else seconds)

    def release(self, skill: str) -> None:
        with self._lock:
            if self._skill == skill:
                self._skill = None

    def current(self) -> str | None:
        with self._lock:
            if self._skill is not None and self.clock() < self._until:
                return self._skill
            return None
