"""An action that anyone may ask for as often as they like, run at most once an interval: the
requests that come within the interval after a run are answered together by one run when it
ends, so the last of a burst is never lost."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable

log = logging.getLogger("assistant.rooms")

TICK = 0.1
"""Longest wait, in seconds, between two looks at the clock while a run is put off: a wait is
measured on the monotonic clock, which stops while the machine sleeps, and the clock given may
be another (a test's)."""


class Coalesced:
    """Runs `action(requests)` for requests made through `request()`, at most once every
    `interval` seconds of `clock`: at once if the interval since the last run has passed (with
    `requests` 1), else when it has, on a thread of its own, for all the requests made
    meanwhile (`requests` says how many). `name` names that thread."""

    def __init__(
        self,
        action: Callable[[int], None],
        interval: float,
        clock: Callable[[], float],
        name: str,
    ):
        self.interval = interval
        self.clock = clock
        self._action = action
        self._name = name
        self._last_run = -math.inf
        self._put_off = 0
        """Requests waiting for the next run."""
        self._waiter: threading.Thread | None = None
        self._changed = threading.Condition()
        self._stopping = False

    def request(self) -> None:
        """Ask for a run: now, on the caller's thread, or put off to the interval's end."""
        with self._changed:
            if self._stopping:
                return
            now = self.clock()
            if now - self._last_run >= self.interval and not self._put_off:
                self._last_run = now
            else:
                self._put_off += 1
                if self._waiter is None:
                    self._waiter = threading.Thread(
                        target=self._run_put_off, name=self._name, daemon=True
                    )
                    self._waiter.start()
                return
        self._action(1)

    def stop(self) -> None:
        """Drop the requests put off, and run none from now on."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
            waiter = self._waiter
        if waiter is not None:
            waiter.join()

    def _run_put_off(self) -> None:
        """The waiter: a run for the requests put off, each once the interval has passed."""
        while True:
            with self._changed:
                while self._put_off and not self._stopping:
                    left = self._last_run + self.interval - self.clock()
                    if left <= 0:
                        break
                    self._changed.wait(min(left, TICK))
                if self._stopping or not self._put_off:
                    self._waiter = None
                    return
                self._last_run = self.clock()
                requests, self._put_off = self._put_off, 0
            try:
                self._action(requests)
            except Exception:  # the waiter goes on: later requests still need it
                log.exception("%s failed", self._name)
