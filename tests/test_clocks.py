"""ClockWatch tells a suspend from a step of the wall clock, and neither from NTP's slewing."""

from __future__ import annotations

import inspect
import time

from manual_clock import Clock
from pytest import approx
from waiting import wait_until

from assistant.clocks import ClockWatch, elapsed
from assistant.focus import Focus
from assistant.rooms.hub import Hub
from assistant.rooms.satellite import Satellite
from assistant.sources import DeviceSession


def test_a_suspend_and_a_step_are_told_apart_and_slewing_is_neither() -> None:
    wall, boot, awake = Clock(), Clock(), Clock()
    seen: list[tuple[str, float]] = []
    watch = ClockWatch(
        lambda slept: seen.append(("woke", slept)),
        lambda by: seen.append(("stepped", by)),
        tick=0.01,
        wall=wall,
        boot=boot,
        awake=awake,
    )
    watch.start()
    try:
        for _ in range(20):  # awake, the wall clock slewed by half a millisecond a second
            awake.now += 1
            boot.now += 1
            wall.now += 1.0005
            time.sleep(0.005)
        wall.now += 7200  # a suspend: the monotonic clock stands still
        boot.now += 7200
        assert wait_until(lambda: seen == [("woke", approx(7200))])
        wall.now -= 3600  # set back an hour
        assert wait_until(lambda: seen == [("woke", approx(7200)), ("stepped", approx(-3600))])
    finally:
        watch.stop()


def test_what_meets_a_commands_received_time_counts_time_slept() -> None:
    """Focus, cooldowns and mqtt.max_delay measure how long ago a command was heard on the
    boot clock, which goes on while a laptop sleeps: a "lights off" heard before a night's
    suspend is not run on waking as if just heard."""
    assert time.clock_gettime(time.CLOCK_BOOTTIME) <= elapsed()
    assert elapsed() <= time.clock_gettime(time.CLOCK_BOOTTIME)
    assert Focus(30).clock is elapsed
    assert DeviceSession("board", "default", lambda event: None).clock is elapsed
    for timed in (Satellite, Hub):
        assert inspect.signature(timed).parameters["clock"].default is elapsed
