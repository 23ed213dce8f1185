"""The clocks of a machine that sleeps: time.monotonic() stops while a laptop is suspended (on
Linux, CLOCK_MONOTONIC), so a wait measured on it ends late by the time slept; CLOCK_BOOTTIME
goes on; the wall clock goes on too but can be stepped (NTP, a manual change). A time zone or
daylight-saving change moves no clock: it only changes how the wall clock is shown."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

STEP_SECONDS = 1.0
"""A change this large between two looks is a suspend or a step; NTP's slewing (at most half
a millisecond a second) never comes near it."""


_BOOTTIME = getattr(time, "CLOCK_BOOTTIME", None)
"""Linux only."""

TIME_OF_DAY = "%H:%M:%S"
"""A moment shown on its own day (`assistant status`, the log on a terminal)."""
DAY_AND_TIME = "%Y-%m-%d %H:%M:%S"
"""A moment shown on another day, or to be read another day (the log in a file)."""


def localtime(at: float) -> time.struct_time:
    """time.localtime(at) in the time zone the machine is set to now. The C library reads the
    zone once, when a process first asks, so a daemon running while its user travels (the zone
    changed with `timedatectl set-timezone`, which replaces /etc/localtime) would go on showing
    the zone it started in: tzset() reads it again (one stat of the file when it is unchanged)."""
    time.tzset()
    return time.localtime(at)


def local_datetime(when: datetime) -> datetime:
    """An aware datetime on the local clock, in the time zone the machine is set to now (as
    `localtime`)."""
    time.tzset()
    return when.astimezone()


def local_time(at: float, now: float | None = None) -> str:
    """A time.time() as `assistant status` shows it, on the local clock to the second:
    `14:05:30` on the day of `now` (time.time() by default), `2026-11-24 14:05:30` on another.
    Call it when the moment is shown, not when it happens: a daemon runs for days."""
    moment = localtime(at)
    today = time.localtime(time.time() if now is None else now)
    same_day = moment[:3] == today[:3]
    return time.strftime(TIME_OF_DAY if same_day else DAY_AND_TIME, moment)


def elapsed() -> float:
    """Seconds on a clock that goes on while the machine sleeps (CLOCK_BOOTTIME), for how
    long ago something happened; time.monotonic() where there is no such clock."""
    return time.monotonic() if _BOOTTIME is None else time.clock_gettime(_BOOTTIME)


class ClockWatch:
    """Looks at the clocks every `tick` seconds from `start()`, on its own thread, and at each
    `look()`: `woke(slept)` is called after a suspend (the boot clock went on while the
    monotonic one stood still), `stepped(by)` after the wall clock was stepped (it moved unlike
    the boot clock), each with seconds; the first look compares with the clocks when it was made."""

    def __init__(
        self,
        woke: Callable[[float], None],
        stepped: Callable[[float], None],
        tick: float = 1.0,
        wall: Callable[[], float] = time.time,
        boot: Callable[[], float] = elapsed,
        awake: Callable[[], float] = time.monotonic,
    ):
        self.woke = woke
        self.stepped = stepped
        self.tick = tick
        self.clocks = (wall, boot, awake)
        self._lock = threading.RLock()
        self._last = self._offsets()
        """The offsets at the last look (or at the start): what a change is measured from."""
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="clock watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    @property
    def offset(self) -> float:
        """The wall clock minus the boot clock, in seconds, as at the last look (or the watch's
        making): what the next step told to `stepped` is measured from (API 1.4). Kept with a
        moment set on the wall clock after a look, plus each step told since, it is the offset
        that moment is on: a new watch's `offset` at a later start in the same boot, minus it,
        is the step made while no watch looked (the timers skill anchors its timers so)."""
        return self._last[0]

    def _offsets(self) -> tuple[float, float]:
        """(wall - boot, boot - awake): each changes only with a step, a suspend."""
        wall, boot, awake = (clock() for clock in self.clocks)
        return wall - boot, boot - awake

    def look(self) -> None:
        """Look at the clocks now, as the watch does every `tick`: call `woke` or `stepped` for
        a suspend or a step since the last look. Code about to act on the wall clock (setting a
        moment by it, finding what is due by it) looks first (API 1.3), so that a step within
        the tick is accounted for before it acts, not after. Each change is told once, by the
        look that sees it first, whichever thread it is on; the callback runs with the watch's
        lock held, so a look on another thread returns only once it is done."""
        # Two steps cannot be applied against each other. Both within one tick, or between two
        # looks: this look sees their sum, and one move by the sum is the two moves (a step moves
        # by addition). Each seen by a look of its own, on two threads: the lock is held from
        # reading the clocks to the callback's end, so the second look reads them, and calls
        # back, only once the first callback has moved everything; its change is measured from
        # the offsets the first one recorded, so nothing is counted twice or lost. Nested on one
        # thread (the lock is re-entrant) only if a callback looked itself: the timers skill's
        # do not (moving a job wakes the scheduler's thread, whose round looks, and waits).
        with self._lock:
            (step_before, sleep_before), (step, sleep) = self._last, self._offsets()
            self._last = step, sleep
            if abs(step - step_before) >= STEP_SECONDS:
                self.stepped(step - step_before)
            if sleep - sleep_before >= STEP_SECONDS:
                self.woke(sleep - sleep_before)

    def _watch(self) -> None:
        while not self._stopping.wait(self.tick):
            self.look()
