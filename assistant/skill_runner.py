"""A skill's runner: one thread per skill that runs its calls (constructor, start, actions,
status, stop) in order from a queue, so a skill's code never runs on two threads at once; the
timeout after which a call is abandoned (`SkillRunner.check`, called by the host's watchdog),
the refusals while an abandoned call has not returned, and each call's cancellation.

The exceptions a call's future can hold are here too; assistant/host.py uses the runner and
says what each outcome means to the user."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("assistant.host")
"""The host's logger: the runner's lines are the host's to the user, and named as before."""


class Abandoned(TimeoutError):
    """The host gave up on a call that ran longer than the skill timeout."""


class SkillNotRunning(LookupError):
    """An action the host cannot run: its skill is not running (not configured, or it failed
    to start), or the skill has no such action."""


class SkillBusy(SkillNotRunning):
    """An action refused because the skill is still running a call the host abandoned."""


class Cancelled(Exception):
    """An action whose cancellation was set when it returned (its skill is being stopped: a reload
    or shutdown): it was cut short, so it counts as not done, whatever it returned."""


@dataclass
class Call:
    """One call for a skill's thread: what runs, and the future its outcome goes to."""

    label: str
    function: Callable[[], Any]
    future: Future = field(default_factory=Future)
    cancelled: threading.Event = field(default_factory=threading.Event)
    """Set when the call is abandoned or its skill is being stopped; each call has its own."""
    site: str | None = None
    """The site of the command an action runs for (None: not an action)."""
    lifecycle: bool = False
    """The constructor, start() or stop(): never refused, see SkillRunner."""


class SkillRunner:
    """Runs one skill's calls in order on its own thread, so a skill's code never runs on two
    threads at once.

    The watchdog abandons a call that runs longer than `timeout`: its future fails with
    `Abandoned` and its cancellation is set, but the thread can only wait for it to return.
    Until it does, actions (queued or new) are refused with `SkillBusy`, while lifecycle calls
    (constructor, start, stop: what a reload or shutdown needs) are queued as usual and run, in
    order, once it returns; each is timed from when it begins. So a reload during an overrun
    stops the old instance and starts the new one late rather than never.

    An action (any call but a lifecycle one) that returns after its cancellation was set (by
    `cancel`: its skill is being stopped) fails with `Cancelled`. A lifecycle call's outcome
    stands: the host itself sees whether the skill it builds or starts is still wanted."""

    def __init__(self, skill_name: str, timeout: float):
        self.skill_name = skill_name
        self.timeout = timeout
        self._queue: queue.SimpleQueue[Call | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running: tuple[float, Call] | None = None
        self._abandoned: Call | None = None
        self._thread = threading.Thread(target=self._work, name=f"skill-{skill_name}", daemon=True)
        self._thread.start()

    def submit(
        self,
        label: str,
        function: Callable[[], Any],
        site: str | None = None,
        lifecycle: bool = False,
    ) -> Future:
        call = Call(label, function, site=site, lifecycle=lifecycle)
        with self._lock:
            abandoned = self._abandoned
            if abandoned is None or lifecycle:
                self._queue.put(call)
                return call.future
        call.future.set_exception(self._busy(abandoned))
        return call.future

    def current(self) -> Call | None:
        """The call running on the calling thread (None outside the skill's thread, which runs
        nothing but calls)."""
        if threading.current_thread() is not self._thread:
            return None
        return self.running()

    def running(self) -> Call | None:
        """The call running now (None: none), whichever thread asks."""
        running = self._running
        return running[1] if running else None

    def cancel(self) -> None:
        """Set the cancellation of the running call, if any (its skill is being stopped)."""
        with self._lock:
            if self._running:
                self._running[1].cancelled.set()

    def _busy(self, abandoned: Call) -> SkillBusy:
        return SkillBusy(
            f"skill {self.skill_name} is still busy with the abandoned {abandoned.label}"
        )

    def _work(self) -> None:
        while (call := self._queue.get()) is not None:
            started = time.monotonic()
            with self._lock:
                self._running = (started, call)
            try:
                result, error = call.function(), None
            except BaseException as raised:
                result, error = None, raised
            with self._lock:
                self._running = None
                was_abandoned, self._abandoned = self._abandoned is call, None
            if was_abandoned:  # its future already holds Abandoned
                log.warning(
                    "skill %s: the abandoned %s %s after %.1f s",
                    self.skill_name,
                    call.label,
                    "returned" if error is None else f"raised {type(error).__name__}",
                    time.monotonic() - started,
                )
            elif error is None and call.cancelled.is_set() and not call.lifecycle:
                call.future.set_exception(Cancelled(f"{call.label} cancelled (reload or shutdown)"))
            elif error is None:
                call.future.set_result(result)
            else:
                call.future.set_exception(error)

    def check(self, now: float) -> None:
        """Abandon the running call if it has run too long (called by the host's watchdog), and
        refuse the actions queued behind it."""
        with self._lock:
            running = self._running
            if self._abandoned or not running or now - running[0] <= self.timeout:
                return
            call = self._abandoned = running[1]
            call.cancelled.set()
            queued = []
            while not self._queue.empty():
                queued.append(self._queue.get())
            refused = [waiting for waiting in queued if waiting and not waiting.lifecycle]
            for waiting in queued:
                if waiting is None or waiting.lifecycle:  # they, and closing, wait for it
                    self._queue.put(waiting)
        consequence = (
            "the skill is not running"
            if call.label in ("constructor", "start")
            else "its actions are refused until it returns"
        )
        log.error(
            "skill %s: %s did not finish within %.1f s; abandoned it, %s",
            self.skill_name,
            call.label,
            self.timeout,
            consequence,
        )
        call.future.set_exception(Abandoned(f"{call.label} timed out"))
        for waiting in refused:
            waiting.future.set_exception(self._busy(call))

    def close(self) -> None:
        self._queue.put(None)
